// OffsetDelete: removes committed offsets of topics a group no longer uses.
// The rules are the group coordinator's (src/broker/group/); this file decodes, waits and encodes.
#include <spdlog/spdlog.h>

#include "vltava/broker/broker_services.h"
#include "vltava/broker/group/await_completion.h"
#include "vltava/broker/handlers.h"

namespace vltava::broker {

boost::asio::awaitable<void> handle_offset_delete(request_context& ctx, std::vector<std::uint8_t>& response) {
  protocol::offset_delete_request request;
  if (auto ec = request.decode(ctx.body, ctx.api_version)) {
    spdlog::warn("offset_delete: closing connection from {}: cannot decode OffsetDelete v{}: {}", ctx.peer,
                 ctx.api_version, ec.message());
    ctx.close_connection = true;
    co_return;
  }
  const std::int16_t version = ctx.api_version;
  auto answer =
      co_await group::await_completion<protocol::offset_delete_response>([&ctx, version, &request](auto done) mutable {
        ctx.services.groups().delete_offsets(request, version, std::move(done));
      });
  if (!ctx.respond(answer, response)) {
    spdlog::error("offset_delete: cannot encode the OffsetDelete v{} response for {}", ctx.api_version, ctx.peer);
    ctx.close_connection = true;
  }
}

}  // namespace vltava::broker
