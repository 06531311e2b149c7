// DescribeGroups: state, protocol and members of groups.
// The rules are the group coordinator's (src/broker/group/); this file decodes, waits and encodes.
#include <spdlog/spdlog.h>

#include "vltava/broker/broker_services.h"
#include "vltava/broker/group/await_completion.h"
#include "vltava/broker/handlers.h"

namespace vltava::broker {

boost::asio::awaitable<void> handle_describe_groups(request_context& ctx, std::vector<std::uint8_t>& response) {
  protocol::describe_groups_request request;
  if (auto ec = request.decode(ctx.body, ctx.api_version)) {
    spdlog::warn("describe_groups: closing connection from {}: cannot decode DescribeGroups v{}: {}", ctx.peer,
                 ctx.api_version, ec.message());
    ctx.close_connection = true;
    co_return;
  }
  const std::int16_t version = ctx.api_version;
  auto answer = co_await group::await_completion<protocol::describe_groups_response>(
      [&ctx, version, &request](auto done) mutable {
        ctx.services.groups().describe_groups(request, version, std::move(done));
      });
  if (!ctx.respond(answer, response)) {
    spdlog::error("describe_groups: cannot encode the DescribeGroups v{} response for {}", ctx.api_version, ctx.peer);
    ctx.close_connection = true;
  }
}

}  // namespace vltava::broker
