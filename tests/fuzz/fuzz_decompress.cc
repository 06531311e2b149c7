// The first byte picks the codec (and the LZ4 legacy-checksum option); the rest is decompressed under a small bound.
// Checks that output never exceeds the bound and that failures leave the output untouched.
#include <cstddef>
#include <cstdint>

#include "vltava/protocol/compression.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace vltava::protocol;
  if (size == 0) return 0;
  const auto codec = static_cast<compression_codec>(data[0] % 5);
  decompression_options options;
  options.lz4_legacy_header_checksum = (data[0] & 0x80) != 0;
  constexpr std::size_t bound = 256 * 1024;
  bytes out = {0xAB};
  const auto ec = decompress(codec, byte_span(data + 1, size - 1), out, bound, options);
  if (ec) {
    if (out.size() != 1 || out[0] != 0xAB) __builtin_trap();
  } else if (out.size() > bound + 1 || out[0] != 0xAB) {
    __builtin_trap();
  }
  return 0;
}
