// The checks a produce request's records for one partition go through before they are appended (Kafka's
// ProduceRequest.validateRecords and LogValidator, for a leader appending a client's data), and the conversion of
// legacy message sets (magic 0 and 1, from old clients) into record batches. Pure functions of the bytes, the topic's
// settings and the time: no log, no network, so each rule has a unit test.
//
// Errors, as Kafka answers them:
//  - no records, a magic other than 2 in Produce v3+, more than one batch per partition in v3+, a control batch, an
//    idempotent batch without a sequence, records malformed inside a batch whose CRC matches, a null key on a
//    compacted topic: INVALID_RECORD;
//  - bytes that do not frame into whole batches, a CRC mismatch (the data changed on the way: retriable):
//    CORRUPT_MESSAGE;
//  - a batch (a top-level legacy message) larger than max.message.bytes: MESSAGE_TOO_LARGE; all of a partition's
//    records larger than segment.bytes: RECORD_LIST_TOO_LARGE;
//  - ZStandard before Produce v7: UNSUPPORTED_COMPRESSION_TYPE;
//  - with message.timestamp.type CreateTime, a record older than log.message.timestamp.before.max.ms or newer than
//    log.message.timestamp.after.max.ms, or a batch claiming LogAppendTime: INVALID_TIMESTAMP.
// Record-level failures (timestamps, keys) list the offending records as record errors (Produce v8+).
#pragma once

#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "vltava/broker/producer_state.h"
#include "vltava/protocol/error_code.h"
#include "vltava/protocol/wire.h"
#include "vltava/storage/log_config.h"

namespace vltava::broker {

// A response lists at most this many record errors; a client fails the whole batch either way.
inline constexpr std::size_t max_record_errors = 100;

struct produce_record_error {
  std::int32_t batch_index = 0;  // the record's position among the partition's records
  std::string message;
};

struct produce_partition_error {
  protocol::error_code error = protocol::error_code::none;
  std::string message;  // error_message (v8+) and the log line
  std::vector<produce_record_error> record_errors;

  bool failed() const noexcept { return error != protocol::error_code::none; }
};

struct produce_validation_context {
  std::int16_t api_version = 9;
  std::int64_t now_ms = 0;
  std::int64_t timestamp_before_max_ms = std::numeric_limits<std::int64_t>::max();  // broker defaults: no bound
  std::int64_t timestamp_after_max_ms = std::numeric_limits<std::int64_t>::max();
  std::string partition;  // "<topic>-<index>", for messages
};

// Records ready to append: magic-2 batches (in the request's own buffer, or converted from a legacy set) and what
// each batch header says about its producer.
class validated_records {
 public:
  std::span<std::uint8_t> batches() noexcept { return converted_.empty() ? in_place_ : std::span(converted_); }
  std::span<const batch_producer_info> producers() const noexcept { return infos_; }
  std::int64_t record_count() const noexcept { return record_count_; }
  bool converted() const noexcept { return !converted_.empty(); }

 private:
  friend produce_partition_error validate_produce_records(std::span<std::uint8_t> records,
                                                          const storage::log_config& config,
                                                          const produce_validation_context& context,
                                                          validated_records& out);
  std::span<std::uint8_t> in_place_;
  protocol::bytes converted_;
  std::vector<batch_producer_info> infos_;
  std::int64_t record_count_ = 0;
};

// Validates one partition's records (the request's "records" field, which the broker may rewrite in place: offsets
// are assigned there on append). On success out holds the batches to append.
produce_partition_error validate_produce_records(std::span<std::uint8_t> records, const storage::log_config& config,
                                                 const produce_validation_context& context, validated_records& out);

// Whether a partition's records (not yet validated) hold a transactional batch. Kafka checks the request's
// transactional id for these before anything else.
bool has_transactional_batch(protocol::byte_span records) noexcept;

}  // namespace vltava::broker
