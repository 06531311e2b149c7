// JoinGroup: a member joins or rejoins a consumer group; the answer waits for the rebalance (up to the
// rebalance timeout) without holding up other connections.
// The rules are the group coordinator's (src/broker/group/); this file decodes, waits and encodes.
#include <spdlog/spdlog.h>

#include "vltava/broker/broker_services.h"
#include "vltava/broker/group/await_completion.h"
#include "vltava/broker/handlers.h"

namespace vltava::broker {

boost::asio::awaitable<void> handle_join_group(request_context& ctx, std::vector<std::uint8_t>& response) {
  protocol::join_group_request request;
  if (auto ec = request.decode(ctx.body, ctx.api_version)) {
    spdlog::warn("join_group: closing connection from {}: cannot decode JoinGroup v{}: {}", ctx.peer, ctx.api_version,
                 ec.message());
    ctx.close_connection = true;
    co_return;
  }
  const std::int16_t version = ctx.api_version;
  group::client_info client{ctx.header.client_id.value_or(""), ctx.peer};
  // The host without the port, as Kafka reports it ("/" + address).
  if (auto colon = client.client_host.rfind(':'); colon != std::string::npos) client.client_host.resize(colon);
  client.client_host = "/" + client.client_host;
  auto answer = co_await group::await_completion<protocol::join_group_response>(
      [&ctx, version, &client, &request](auto done) mutable {
        ctx.services.groups().join_group(std::move(request), version, std::move(client), std::move(done));
      });
  if (!ctx.respond(answer, response)) {
    spdlog::error("join_group: cannot encode the JoinGroup v{} response for {}", ctx.api_version, ctx.peer);
    ctx.close_connection = true;
  }
}

}  // namespace vltava::broker
