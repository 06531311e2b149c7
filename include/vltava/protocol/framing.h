// Request and response framing: the int32 size prefix, header versions, and the ApiVersions fallback rule.
//
// Header rules (Kafka protocol guide, KIP-482, KIP-511):
//  - a request uses header v2 when its API version is flexible, v1 otherwise;
//  - a response uses header v1 when flexible, v0 otherwise, except ApiVersions, which always answers with v0 so
//    that a client can read the answer whatever version it asked for;
//  - client_id keeps its int16 length in every header version, so the start of any request header can be read
//    before knowing whether the API or version is one we define.
#pragma once

#include <cstdint>
#include <optional>
#include <system_error>
#include <vector>

#include "vltava/protocol/messages.h"
#include "vltava/protocol/wire.h"

namespace vltava::protocol {

inline constexpr std::size_t frame_size_prefix = 4;

// The definition of an API key, or nullptr when none exists.
const api_definition* find_api_definition(std::int16_t key) noexcept;

// Header versions for a request/response of this API version. For an API or version without a definition the
// non-flexible header is assumed (enough to read the correlation id and answer with an error).
std::int16_t request_header_version(std::int16_t key, std::int16_t version) noexcept;
std::int16_t response_header_version(std::int16_t key, std::int16_t version) noexcept;

// A request header as read from the start of a frame, and where the body starts.
struct request_header_view {
  request_header header;
  std::int16_t header_version = 1;
  // False when the API key or version has no definition: the body was not and cannot be parsed.
  bool defined = false;
};

// Reads the request header from a frame body (the bytes after the size prefix). Fails only when the header
// itself is malformed; an undefined API or version is reported through `defined`, with the header fields that
// every version shares (key, version, correlation id, client id) filled in, so the caller can answer with an error.
std::error_code decode_request_header(reader& r, request_header_view& out);

namespace detail {

template <class Response>
std::error_code encode_response_frame(writer& w, bytes& out, std::vector<encoding_gap>* gaps,
                                      std::int32_t correlation_id, std::int16_t version, const Response& body) {
  const std::size_t start = out.size();
  const std::size_t first_gap = gaps ? gaps->size() : 0;
  auto undo = [&] {
    out.resize(start);
    if (gaps) gaps->resize(first_gap);
  };
  w.write_int32(0);  // size, patched below
  response_header header;
  header.correlation_id = correlation_id;
  if (auto ec = header.encode(w, response_header_version(static_cast<std::int16_t>(Response::api), version))) {
    undo();
    return ec;
  }
  if (auto ec = body.encode(w, version)) {
    undo();
    return ec;
  }
  std::size_t size = out.size() - start - frame_size_prefix;
  if (gaps) {
    for (std::size_t i = first_gap; i < gaps->size(); ++i) size += (*gaps)[i].bytes.size();
  }
  if (size > static_cast<std::size_t>(INT32_MAX)) {
    undo();
    return make_error_code(codec_errc::too_large);
  }
  w.patch_int32(start, static_cast<std::int32_t>(size));
  return {};
}

}  // namespace detail

// Encodes one whole response frame: size prefix, response header (version by the rules above), body.
template <class Response>
std::error_code encode_response_frame(bytes& out, std::int32_t correlation_id, std::int16_t version,
                                      const Response& body) {
  writer w(out);
  return detail::encode_response_frame(w, out, nullptr, correlation_id, version, body);
}

// The same, for a body whose records fields may hold external bytes (shared_bytes::external): they are left out
// of out and listed in gaps (appended, positions in out), and the size prefix counts them. The frame on the wire is
// out with each gap's bytes inserted at its position.
template <class Response>
std::error_code encode_response_frame(bytes& out, std::vector<encoding_gap>& gaps, std::int32_t correlation_id,
                                      std::int16_t version, const Response& body) {
  writer w(out, gaps);
  return detail::encode_response_frame(w, out, &gaps, correlation_id, version, body);
}

// Encodes one whole request frame (used by tests, tools and, later, follower fetchers).
template <class Request>
std::error_code encode_request_frame(bytes& out, std::int32_t correlation_id, std::int16_t version,
                                     std::optional<std::string> client_id, const Request& body) {
  const std::size_t start = out.size();
  writer w(out);
  w.write_int32(0);
  request_header header;
  header.request_api_key = static_cast<std::int16_t>(Request::api);
  header.request_api_version = version;
  header.correlation_id = correlation_id;
  header.client_id = std::move(client_id);
  if (auto ec = header.encode(w, request_header_version(header.request_api_key, version))) {
    out.resize(start);
    return ec;
  }
  if (auto ec = body.encode(w, version)) {
    out.resize(start);
    return ec;
  }
  w.patch_int32(start, static_cast<std::int32_t>(out.size() - start - frame_size_prefix));
  return {};
}

}  // namespace vltava::protocol
