// InitProducerId for idempotent producers (the Java producer's default since 3.0; librdkafka's with
// enable.idempotence): a producer id never handed out before, epoch 0.
//
// Kafka's rules (KafkaApis.handleInitProducerIdRequest, TransactionCoordinator.handleInitProducerId):
//  - producer_id and producer_epoch (v3+) are both -1 or both set, else INVALID_REQUEST;
//  - without a transactional id the request is always granted a new producer id; a given id and epoch are ignored
//    (the idempotent producer bumps its epoch itself since KIP-360 and asks for a new id only when it runs out);
//  - an empty transactional id is INVALID_REQUEST.
// Transactions are not supported: any other transactional id gets TRANSACTIONAL_ID_AUTHORIZATION_FAILED, which the
// Java client and librdkafka treat as fatal and report at once, instead of a retriable error they would retry until
// their timeout. If the id block file cannot be written the answer is COORDINATOR_LOAD_IN_PROGRESS, retriable, as
// Kafka answers while it cannot get a block of ids.
#include <spdlog/spdlog.h>

#include "vltava/broker/broker_services.h"
#include "vltava/broker/handlers.h"
#include "vltava/broker/producer_state.h"
#include "vltava/protocol/messages.h"

namespace vltava::broker {

boost::asio::awaitable<void> handle_init_producer_id(request_context& ctx, std::vector<std::uint8_t>& response) {
  protocol::init_producer_id_request request;
  if (auto ec = request.decode(ctx.body, ctx.api_version)) {
    spdlog::warn("init_producer_id: closing connection from {}: cannot decode InitProducerId v{}: {}", ctx.peer,
                 ctx.api_version, ec.message());
    ctx.close_connection = true;
    co_return;
  }

  protocol::init_producer_id_response body;
  body.producer_id = -1;
  body.producer_epoch = -1;
  protocol::error_code error = protocol::error_code::none;
  if ((request.producer_id == -1) != (request.producer_epoch == -1)) {
    error = protocol::error_code::invalid_request;
  } else if (request.transactional_id && request.transactional_id->empty()) {
    error = protocol::error_code::invalid_request;
  } else if (request.transactional_id) {
    spdlog::info("init_producer_id: {} asked for transactional id '{}'; transactions are not supported", ctx.peer,
                 *request.transactional_id);
    error = protocol::error_code::transactional_id_authorization_failed;
  } else {
    std::int64_t id = -1;
    if (auto ec = ctx.services.producers().allocate_producer_id(id)) {
      error = protocol::error_code::coordinator_load_in_progress;
    } else {
      body.producer_id = id;
      body.producer_epoch = 0;
    }
  }
  body.error_code = static_cast<std::int16_t>(error);
  if (!ctx.respond(body, response)) {
    spdlog::error("init_producer_id: cannot encode the InitProducerId v{} response for {}", ctx.api_version, ctx.peer);
    ctx.close_connection = true;
  }
}

}  // namespace vltava::broker
