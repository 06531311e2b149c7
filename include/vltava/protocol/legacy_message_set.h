// Legacy message sets (magic 0 and 1), which old clients still produce and fetch.
//
// Entry layout (big-endian): offset i64 | messageSize i32 | crc u32 (CRC-32 IEEE of magic to the end) | magic i8 |
// attributes i8 (bits 0-2 codec; bit 3 timestamp type, magic 1) | timestamp i64 (magic 1 only) |
// key (i32 length, -1 null) | value (i32 length, -1 null).
// A compressed "wrapper" message holds a whole inner message set, compressed, as its value. With magic 1 the inner
// offsets are relative (0, 1, ...) and the wrapper carries the absolute offset of the last inner message; with
// magic 0 inner offsets are absolute. Only one level of nesting exists.
#pragma once

#include <cstdint>
#include <optional>
#include <system_error>

#include "vltava/protocol/compression.h"
#include "vltava/protocol/record_batch.h"
#include "vltava/protocol/wire.h"

namespace vltava::protocol {

inline constexpr std::size_t legacy_message_overhead_v0 = 14;  // crc, magic, attributes, key and value lengths
inline constexpr std::size_t legacy_message_overhead_v1 = 22;  // plus the timestamp

struct legacy_message_view {
  std::int64_t offset = 0;
  std::uint32_t crc = 0;
  std::int8_t magic = 0;
  std::int8_t attributes = 0;
  std::int64_t timestamp = -1;  // magic 0 has none
  std::optional<byte_span> key;
  std::optional<byte_span> value;
  byte_span encoded;  // the whole entry, offset and size included

  int codec_bits() const noexcept { return attributes & 0x07; }
  compression_codec codec() const noexcept { return static_cast<compression_codec>(codec_bits()); }
  // Magic 0 has no timestamp type; it reads as create time, as Kafka converts it.
  timestamp_type timestamps() const noexcept {
    return (magic >= 1 && (attributes & 0x08)) ? timestamp_type::log_append_time : timestamp_type::create_time;
  }
};

// Iterates the top-level messages of a set (no decompression), checking each one's size, magic and CRC.
// Errors: truncated, corrupt_message (CRC, sizes), unsupported_version (magic other than 0 or 1).
class legacy_message_reader {
 public:
  explicit legacy_message_reader(byte_span set, truncated_tail tail = truncated_tail::reject) noexcept
      : rest_(set), tail_(tail) {}

  bool next(legacy_message_view& out) noexcept;
  std::error_code error() const noexcept {
    return error_ == codec_errc::ok ? std::error_code() : make_error_code(error_);
  }
  std::size_t skipped_tail_bytes() const noexcept { return skipped_; }

 private:
  bool stop(codec_errc e) noexcept;

  byte_span rest_;
  truncated_tail tail_;
  std::size_t skipped_ = 0;
  codec_errc error_ = codec_errc::ok;
};

struct legacy_conversion_options {
  // Shared by all wrapper messages of the set.
  std::size_t max_decompressed_bytes = 64 * 1024 * 1024;
  // true: keep the messages' offsets (fetched or replicated data), which must then increase. false: offsets are
  // ignored and records numbered 0, 1, 2, ... across the set (produce requests, where the broker assigns offsets
  // and old clients write 0 or anything).
  bool preserve_offsets = true;
  truncated_tail tail = truncated_tail::reject;
  // The codec of the converted batches; by default each keeps the codec of its wrapper message.
  std::optional<compression_codec> output_codec;
};

// Appends the messages of a legacy set to out as record batches (magic 2): one batch per wrapper message, and one per
// run of uncompressed messages with the same magic and timestamp type. Magic 0 timestamps become -1; with a magic 1
// log-append-time wrapper, every inner message takes the wrapper's timestamp. Besides the reader's errors:
// corrupt_message (a nested compressed message, a magic mismatch between wrapper and inner messages, an empty or
// null wrapper, offsets out of order), decompression errors, too_large. out is unchanged on error.
[[nodiscard]] std::error_code convert_legacy_message_set(byte_span set, bytes& out,
                                                         const legacy_conversion_options& options = {});

// Writes a legacy message set; used to answer fetch and produce versions older than record batches.
class legacy_message_set_writer {
 public:
  // magic 0 or 1. With a codec other than none, finish() wraps all messages in one compressed wrapper message.
  explicit legacy_message_set_writer(std::int8_t magic, compression_codec codec = compression_codec::none,
                                     timestamp_type timestamps = timestamp_type::create_time) noexcept
      : magic_(magic), codec_(codec), timestamps_(timestamps) {}

  // Offsets must increase. timestamp is ignored for magic 0.
  void append(std::int64_t offset, std::int64_t timestamp, std::optional<byte_span> key,
              std::optional<byte_span> value);

  // Appends the set to out and empties the writer. An empty writer appends nothing.
  [[nodiscard]] std::error_code finish(bytes& out);

 private:
  std::int8_t magic_;
  compression_codec codec_;
  timestamp_type timestamps_;
  bytes messages_;
  std::int64_t first_offset_ = 0;
  std::int64_t last_offset_ = 0;
  std::int64_t max_timestamp_ = -1;
  std::size_t count_ = 0;
};

// Rewrites one record batch as a legacy message set of the given magic, keeping its codec (magic 0 LZ4 with the
// legacy descriptor checksum, which readers of that era expect). Headers are dropped, as they cannot be expressed;
// control batches produce nothing, since old clients cannot interpret them. The batch should be validated first.
[[nodiscard]] std::error_code down_convert_record_batch(const record_batch_view& batch, std::int8_t magic, bytes& out,
                                                        const record_reader_options& options = {});

}  // namespace vltava::protocol
