// ListGroups: the groups this node coordinates (v4+: filtered by state).
// The rules are the group coordinator's (src/broker/group/); this file decodes, waits and encodes.
#include <spdlog/spdlog.h>

#include "vltava/broker/broker_services.h"
#include "vltava/broker/group/await_completion.h"
#include "vltava/broker/handlers.h"

namespace vltava::broker {

boost::asio::awaitable<void> handle_list_groups(request_context& ctx, std::vector<std::uint8_t>& response) {
  protocol::list_groups_request request;
  if (auto ec = request.decode(ctx.body, ctx.api_version)) {
    spdlog::warn("list_groups: closing connection from {}: cannot decode ListGroups v{}: {}", ctx.peer, ctx.api_version,
                 ec.message());
    ctx.close_connection = true;
    co_return;
  }
  const std::int16_t version = ctx.api_version;
  auto answer =
      co_await group::await_completion<protocol::list_groups_response>([&ctx, version, &request](auto done) mutable {
        ctx.services.groups().list_groups(request, version, std::move(done));
      });
  if (!ctx.respond(answer, response)) {
    spdlog::error("list_groups: cannot encode the ListGroups v{} response for {}", ctx.api_version, ctx.peer);
    ctx.close_connection = true;
  }
}

}  // namespace vltava::broker
