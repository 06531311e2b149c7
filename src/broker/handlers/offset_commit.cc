// OffsetCommit: commits consumed positions, answered once they are stored.
// The rules are the group coordinator's (src/broker/group/); this file decodes, waits and encodes.
#include <spdlog/spdlog.h>

#include "vltava/broker/broker_services.h"
#include "vltava/broker/group/await_completion.h"
#include "vltava/broker/handlers.h"

namespace vltava::broker {

boost::asio::awaitable<void> handle_offset_commit(request_context& ctx, std::vector<std::uint8_t>& response) {
  protocol::offset_commit_request request;
  if (auto ec = request.decode(ctx.body, ctx.api_version)) {
    spdlog::warn("offset_commit: closing connection from {}: cannot decode OffsetCommit v{}: {}", ctx.peer,
                 ctx.api_version, ec.message());
    ctx.close_connection = true;
    co_return;
  }
  const std::int16_t version = ctx.api_version;
  auto answer =
      co_await group::await_completion<protocol::offset_commit_response>([&ctx, version, &request](auto done) mutable {
        ctx.services.groups().commit_offsets(request, version, std::move(done));
      });
  if (!ctx.respond(answer, response)) {
    spdlog::error("offset_commit: cannot encode the OffsetCommit v{} response for {}", ctx.api_version, ctx.peer);
    ctx.close_connection = true;
  }
}

}  // namespace vltava::broker
