// Heartbeat: keeps a member's session alive and tells it when a rebalance begins.
// The rules are the group coordinator's (src/broker/group/); this file decodes, waits and encodes.
#include <spdlog/spdlog.h>

#include "vltava/broker/broker_services.h"
#include "vltava/broker/group/await_completion.h"
#include "vltava/broker/handlers.h"

namespace vltava::broker {

boost::asio::awaitable<void> handle_heartbeat(request_context& ctx, std::vector<std::uint8_t>& response) {
  protocol::heartbeat_request request;
  if (auto ec = request.decode(ctx.body, ctx.api_version)) {
    spdlog::warn("heartbeat: closing connection from {}: cannot decode Heartbeat v{}: {}", ctx.peer, ctx.api_version,
                 ec.message());
    ctx.close_connection = true;
    co_return;
  }
  const std::int16_t version = ctx.api_version;
  auto answer =
      co_await group::await_completion<protocol::heartbeat_response>([&ctx, version, &request](auto done) mutable {
        ctx.services.groups().heartbeat(request, version, std::move(done));
      });
  if (!ctx.respond(answer, response)) {
    spdlog::error("heartbeat: cannot encode the Heartbeat v{} response for {}", ctx.api_version, ctx.peer);
    ctx.close_connection = true;
  }
}

}  // namespace vltava::broker
