// The compression codecs of Kafka record batches and legacy message sets.
//
// Decompression is bounded: the caller states how many bytes it accepts, and input that would expand beyond that
// fails with codec_errc::too_large after at most that much output has been produced, so a small hostile input can
// never exhaust memory. Both directions append to the output buffer; on failure the buffer is left as it was.
#pragma once

#include <cstdint>
#include <string_view>
#include <system_error>

#include "vltava/protocol/wire.h"

namespace vltava::protocol {

// The values are the codec bits of the batch and message attributes.
enum class compression_codec : std::int8_t { none = 0, gzip = 1, snappy = 2, lz4 = 3, zstd = 4 };

constexpr bool is_known_compression_codec(int bits) noexcept { return bits >= 0 && bits <= 4; }
std::string_view to_string(compression_codec codec) noexcept;

enum class snappy_framing : std::uint8_t {
  // snappy-java's stream format (magic header, then length-prefixed blocks). The default, because every Kafka
  // client reads it: the Java client's decoder requires it, and librdkafka and the others detect it.
  xerial,
  // A single raw snappy block, as librdkafka sends.
  raw,
};

struct compression_options {
  int level = 0;  // 0: the codec's default level
  snappy_framing snappy = snappy_framing::xerial;
  // Write the LZ4 frame-descriptor checksum the way Kafka's magic 0 did (over the magic number too); only for
  // legacy magic 0 message sets read by clients of that era.
  bool lz4_legacy_header_checksum = false;
};

struct decompression_options {
  // Accept LZ4 frames whose descriptor checksum was computed over the magic number too, as magic 0 producers did.
  // Correct checksums are accepted either way.
  bool lz4_legacy_header_checksum = false;
};

// Appends the compressed form of input to output. compression_codec::none copies.
[[nodiscard]] std::error_code compress(compression_codec codec, byte_span input, bytes& output,
                                       const compression_options& options = {});

// Appends the decompressed form of input to output, producing at most max_output_bytes (else too_large).
// Errors: unsupported_compression, decompression_failed (corrupt or truncated input), too_large.
[[nodiscard]] std::error_code decompress(compression_codec codec, byte_span input, bytes& output,
                                         std::size_t max_output_bytes, const decompression_options& options = {});

}  // namespace vltava::protocol
