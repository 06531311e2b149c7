// Fuzzes request decoding as the broker will do it: header, then the body of whatever API and version the header
// names. Property: whatever decodes must re-encode, and those bytes must decode and re-encode to the same bytes
// (compared as bytes, not values: a float64 field may hold NaN, which never equals itself).
// Responses are fuzzed the same way (a client-side view, and the follower fetcher later decodes Fetch responses).
#include <cstdint>
#include <cstdlib>

#include "vltava/protocol/framing.h"
#include "vltava/protocol/messages.h"

namespace {

using namespace vltava::protocol;

template <class T>
void check(reader& r, std::int16_t version) {
  T value;
  if (value.decode(r, version)) return;
  bytes encoded;
  writer w(encoded);
  if (value.encode(w, version)) std::abort();  // decoded values must always be encodable
  if (encoded.size() != value.encoded_size(version)) std::abort();
  T again;
  reader r2(encoded);
  if (again.decode(r2, version) || !r2.at_end()) std::abort();
  bytes reencoded;
  writer w2(reencoded);
  if (again.encode(w2, version) || reencoded != encoded) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  reader r(byte_span(data, size));
  request_header_view view;
  if (decode_request_header(r, view) || !view.defined) return 0;
  const auto version = view.header.request_api_version;
  reader body = r;
  visit_api(view.header.request_api_key, [&](auto request_tag, auto response_tag) {
    reader request_reader = body;
    check<typename decltype(request_tag)::type>(request_reader, version);
    reader response_reader = body;
    check<typename decltype(response_tag)::type>(response_reader, version);
  });
  return 0;
}
