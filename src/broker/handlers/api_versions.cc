// ApiVersions: the served ranges from the handler table. A version above ours gets UNSUPPORTED_VERSION with the
// ApiVersions range in a v0 body (the connection layer routes those here without parsing the body).
#include "vltava/broker/broker_services.h"
#include "vltava/broker/handlers.h"

#include <spdlog/spdlog.h>

namespace vltava::broker {

boost::asio::awaitable<void> handle_api_versions(request_context& ctx, std::vector<std::uint8_t>& response) {
  const auto& apis = ctx.services.apis();
  protocol::api_versions_request request;
  // v3+ carries the client's software name and version; the body is read only to check it is well formed.
  if (auto ec = request.decode(ctx.body, ctx.api_version)) {
    // Kafka answers INVALID_REQUEST here rather than closing: the client must learn what we speak.
    auto answer = apis.api_versions_answer();
    answer.error_code = static_cast<std::int16_t>(protocol::error_code::invalid_request);
    ctx.respond(answer, response);
    co_return;
  }
  if (ctx.api_version >= 3) {
    spdlog::debug("client {} is {} {}", ctx.peer, request.client_software_name, request.client_software_version);
  }
  ctx.respond(apis.api_versions_answer(), response);
  co_return;
}

}  // namespace vltava::broker
