// FindCoordinator: which node coordinates a group. A single node coordinates every group whose partition it has
// loaded (or is loading: the group requests themselves then answer COORDINATOR_LOAD_IN_PROGRESS). Transactions are
// not supported yet, so a transactional id (key type 1) has no coordinator: COORDINATOR_NOT_AVAILABLE.
// v4 (KIP-699) looks up several keys at once and answers one entry per key.
#include <spdlog/spdlog.h>

#include "vltava/broker/broker_services.h"
#include "vltava/broker/group/group_coordinator.h"
#include "vltava/broker/handlers.h"

namespace vltava::broker {
namespace {

using protocol::error_code;

constexpr std::int8_t group_key = 0;
constexpr std::int8_t transaction_key = 1;

protocol::find_coordinator_response::coordinator locate(broker_services& services, const std::string& key,
                                                        std::int8_t key_type) {
  protocol::find_coordinator_response::coordinator out;
  out.key = key;
  out.node_id = -1;
  out.port = -1;
  error_code error = error_code::none;
  if (key_type == group_key) {
    error = services.groups().coordinator_status(key);
  } else if (key_type == transaction_key) {
    error = error_code::coordinator_not_available;
  } else {
    error = error_code::invalid_request;
  }
  out.error_code = static_cast<std::int16_t>(error);
  if (error == error_code::none) {
    out.node_id = services.settings().node_id;
    out.host = services.settings().advertised_host;
    out.port = services.settings().advertised_port;
  } else {
    out.error_message = std::string(protocol::error_name(error));
  }
  return out;
}

}  // namespace

boost::asio::awaitable<void> handle_find_coordinator(request_context& ctx, std::vector<std::uint8_t>& response) {
  protocol::find_coordinator_request request;
  if (auto ec = request.decode(ctx.body, ctx.api_version)) {
    spdlog::warn("find_coordinator: closing connection from {}: cannot decode FindCoordinator v{}: {}", ctx.peer,
                 ctx.api_version, ec.message());
    ctx.close_connection = true;
    co_return;
  }
  protocol::find_coordinator_response answer;
  if (ctx.api_version >= 4) {
    for (const auto& key : request.coordinator_keys) {
      answer.coordinators.push_back(locate(ctx.services, key, request.key_type));
    }
  } else {
    auto found = locate(ctx.services, request.key, ctx.api_version >= 1 ? request.key_type : group_key);
    answer.error_code = found.error_code;
    answer.error_message = found.error_message;
    answer.node_id = found.node_id;
    answer.host = found.host;
    answer.port = found.port;
  }
  if (!ctx.respond(answer, response)) {
    spdlog::error("find_coordinator: cannot encode the FindCoordinator v{} response for {}", ctx.api_version, ctx.peer);
    ctx.close_connection = true;
  }
}

}  // namespace vltava::broker
