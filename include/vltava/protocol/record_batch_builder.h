// Builds record batches (magic 2): records in, one finished batch with lengths, counts and CRC-32C out.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <system_error>

#include "vltava/protocol/compression.h"
#include "vltava/protocol/record_batch.h"
#include "vltava/protocol/wire.h"

namespace vltava::protocol {

struct record_batch_builder_options {
  compression_codec codec = compression_codec::none;
  compression_options compression;  // level, snappy framing
  std::int64_t base_offset = 0;
  std::int32_t partition_leader_epoch = -1;
  std::int64_t producer_id = -1;  // -1 with epoch and sequence -1: not an idempotent producer
  std::int16_t producer_epoch = -1;
  std::int32_t base_sequence = -1;
  bool transactional = false;
  bool control = false;  // the records are control records (transaction markers); the caller encodes them
  timestamp_type timestamps = timestamp_type::create_time;
};

// Records are encoded as they are appended (the builder owns its buffer; keys, values and headers are copied in),
// so the caller's data need not outlive append(). build() compresses them as a whole, as the format requires.
class record_batch_builder {
 public:
  explicit record_batch_builder(const record_batch_builder_options& options = {}) : options_(options) {}

  // A record one offset after the previous one (the first at offset delta 0).
  void append(std::int64_t timestamp, std::optional<byte_span> key, std::optional<byte_span> value,
              std::span<const record_header_view> headers = {});

  // A record at an explicit offset delta, which must exceed the previous record's (invalid_value otherwise):
  // gaps as compaction leaves them.
  [[nodiscard]] std::error_code append_at(std::int32_t offset_delta, std::int64_t timestamp,
                                          std::optional<byte_span> key, std::optional<byte_span> value,
                                          std::span<const record_header_view> headers = {});

  std::int32_t record_count() const noexcept { return count_; }
  // Uncompressed size of the encoded records so far; the batch adds record_batch_header_size.
  std::size_t records_size() const noexcept { return records_.size(); }

  // Appends the batch to out and empties the builder (options kept). Errors: invalid_value (no records),
  // too_large (beyond what batchLength can express), compression errors. out is unchanged on error.
  [[nodiscard]] std::error_code build(bytes& out);

  void clear() noexcept;

 private:
  void encode(std::int32_t offset_delta, std::int64_t timestamp, std::optional<byte_span> key,
              std::optional<byte_span> value, std::span<const record_header_view> headers);

  record_batch_builder_options options_;
  bytes records_;
  std::int32_t count_ = 0;
  std::int32_t last_offset_delta_ = -1;
  std::int64_t base_timestamp_ = -1;
  std::int64_t max_timestamp_ = -1;
};

}  // namespace vltava::protocol
