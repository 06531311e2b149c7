// What a request handler sees: the decoded header, the body still to decode, the frame that owns the bytes, and
// the broker's services. Handlers are coroutines on the connection's executor; they answer by filling `response`
// with one whole frame (encode_response_frame), or leave it empty for a request that gets no answer (acks=0).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "vltava/protocol/framing.h"
#include "vltava/protocol/messages.h"
#include "vltava/protocol/wire.h"

namespace vltava::broker {

class broker_services;

struct request_context {
  protocol::request_header header;
  std::int16_t api_version = 0;
  std::shared_ptr<std::vector<std::uint8_t>> frame;  // the request's bytes after the size prefix
  protocol::reader body;                             // positioned after the header
  std::string peer;                                  // "address:port" of the client, for logs
  broker_services& services;
  // Set by a handler that cannot parse its request: the connection is closed (with a logged reason) instead of
  // answered, as Kafka does for a malformed request.
  bool close_connection = false;

  std::int32_t correlation_id() const noexcept { return header.correlation_id; }

  // The bytes of a slice decoded from this request's frame, writable in place (the broker assigns offsets inside
  // produced batches without copying them). Empty if the slice is not part of the frame.
  std::span<std::uint8_t> writable(const protocol::shared_bytes& slice) const noexcept {
    if (!frame || slice.size() == 0) return {};
    auto* begin = frame->data();
    if (slice.data() < begin || slice.data() + slice.size() > begin + frame->size()) return {};
    return {begin + (slice.data() - begin), slice.size()};
  }

  // Encodes a response body in the request's version into response; false (with a logged reason) on failure.
  template <class Response>
  bool respond(const Response& answer, std::vector<std::uint8_t>& response) const {
    return protocol::encode_response_frame(response, header.correlation_id, api_version, answer) == std::error_code();
  }
};

// One API's handler: decodes ctx.body itself (the version is ctx.api_version, within the handler's range).
using handler_function = boost::asio::awaitable<void> (*)(request_context& ctx, std::vector<std::uint8_t>& response);

struct api_handler {
  protocol::api_key key;
  std::int16_t min_version;
  std::int16_t max_version;
  handler_function handle;
};

}  // namespace vltava::broker
