// What a request handler sees: the decoded header, the body still to decode, the frame that owns the bytes, and
// the broker's services. Handlers are coroutines on the connection's executor; they answer by filling `response`
// with one whole frame (encode_response_frame), or leave it empty for a request that gets no answer (acks=0).
//
// Zero-copy answers: where the connection sends file bytes itself (send_files, plain TCP with sendfile), a handler
// may put records_from_file(slice) in a records field and answer with respond_with_files. `response` then holds
// the frame without those bytes, and file_parts says where each slice goes; the size prefix counts them.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "vltava/protocol/framing.h"
#include "vltava/protocol/messages.h"
#include "vltava/protocol/wire.h"
#include "vltava/storage/file.h"

namespace vltava::broker {

class broker_services;

// A file slice of a response: its bytes go on the wire before the response buffer's byte at `at`.
struct response_file_part {
  std::size_t at = 0;
  storage::file_slice slice;
};

// Records that stay in their file until the connection sends them: an external shared_bytes (only its length is in
// memory) whose owner is a copy of the slice, which keeps the file open.
inline protocol::shared_bytes records_from_file(const storage::file_slice& slice) {
  if (slice.empty()) return {};
  return protocol::shared_bytes::external(std::make_shared<const storage::file_slice>(slice), slice.length);
}

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
  // Set by the connection when it sends file slices itself (plain TCP: sendfile), so a handler may answer with
  // respond_with_files. False elsewhere (handler tests, a TLS listener): record bytes are copied into the response.
  bool send_files = false;
  // Filled by respond_with_files, in frame order.
  std::vector<response_file_part> file_parts;
  // Set by the connection: lets it read and start the next request while this one waits (its answer still goes
  // out first). A handler calls allow_next_request() once the rest of its work no longer depends on request order
  // (Produce: after its appends, before waiting for the fsync), so pipelined requests share a group commit.
  std::function<void()> release;

  void allow_next_request() {
    if (release) std::exchange(release, nullptr)();
  }

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

  // Like respond, for an answer whose records fields may come from records_from_file (only with send_files): their
  // bytes are left out of response and listed in file_parts.
  template <class Response>
  bool respond_with_files(const Response& answer, std::vector<std::uint8_t>& response) {
    std::vector<protocol::encoding_gap> gaps;
    if (protocol::encode_response_frame(response, gaps, header.correlation_id, api_version, answer)) return false;
    file_parts.clear();
    file_parts.reserve(gaps.size());
    for (const auto& gap : gaps) {
      // Every external records value is made by records_from_file, so its owner is a file_slice.
      file_parts.push_back({gap.at, *std::static_pointer_cast<const storage::file_slice>(gap.bytes.owner())});
    }
    return true;
  }
};

// One API's handler: decodes ctx.body itself (the version is ctx.api_version, within the handler's range).
using handler_function = boost::asio::awaitable<void> (*)(request_context& ctx, std::vector<std::uint8_t>& response);

struct api_handler {
  protocol::api_key key;
  std::int16_t min_version;
  std::int16_t max_version;
  handler_function handle;
  // The handler creates or removes files and waits for fsyncs: it runs on the background pool, not an I/O thread
  // (handler_dispatch.h).
  bool background = false;
};

}  // namespace vltava::broker
