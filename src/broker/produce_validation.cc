// Validation of produced records (see produce_validation.h for the rules and their Kafka errors).
#include "vltava/broker/produce_validation.h"

#include <algorithm>
#include <limits>

#include "vltava/protocol/legacy_message_set.h"
#include "vltava/protocol/record_batch.h"

namespace vltava::broker {

namespace {

using protocol::codec_errc;
using protocol::error_code;

produce_partition_error fail(error_code error, std::string message) {
  produce_partition_error out;
  out.error = error;
  out.message = std::move(message);
  return out;
}

// Errors in the framing of batches or legacy messages: bytes lost or changed on the way, which a retry may fix.
error_code framing_error(std::error_code ec) noexcept {
  if (ec == codec_errc::unsupported_version) return error_code::invalid_record;  // a magic this version forbids
  if (ec == codec_errc::too_large) return error_code::message_too_large;
  return error_code::corrupt_message;
}

// Errors inside a batch whose CRC matched: the producer wrote them so, and a retry would send the same.
error_code content_error(std::error_code ec) noexcept {
  if (ec == codec_errc::too_large) return error_code::message_too_large;
  return error_code::invalid_record;
}

// now - max_ms and now + max_ms, clamped to the int64 range (the defaults are "no bound": INT64_MAX).
std::int64_t saturating_sub(std::int64_t a, std::int64_t b) noexcept {
  std::int64_t out = 0;
  return __builtin_sub_overflow(a, b, &out) ? std::numeric_limits<std::int64_t>::min() : out;
}
std::int64_t saturating_add(std::int64_t a, std::int64_t b) noexcept {
  std::int64_t out = 0;
  return __builtin_add_overflow(a, b, &out) ? std::numeric_limits<std::int64_t>::max() : out;
}

// Checks the records of one batch (CRC already verified) against the topic: keys for compaction, timestamps for
// CreateTime. Adds record errors; a malformed record fails the whole partition instead. max_timestamp: the
// largest record timestamp (-1 when every record has -1).
produce_partition_error check_records(const protocol::record_batch_view& batch, const storage::log_config& config,
                                      const produce_validation_context& context, protocol::record_reader& reader,
                                      std::int32_t& record_index, std::vector<produce_record_error>& record_errors,
                                      bool& timestamp_errors, std::int64_t& max_timestamp) {
  max_timestamp = -1;
  protocol::record_reader_options options;
  options.require_contiguous_offsets = true;
  if (auto ec = reader.open(batch, options)) {
    return fail(content_error(ec), "Invalid records in " + context.partition + ": " + ec.message());
  }
  const bool create_time = config.message_timestamp_type == protocol::timestamp_type::create_time;
  const bool claims_append_time = batch.header().attributes.timestamps() == protocol::timestamp_type::log_append_time;
  const std::int64_t earliest = saturating_sub(context.now_ms, context.timestamp_before_max_ms);
  const std::int64_t latest = saturating_add(context.now_ms, context.timestamp_after_max_ms);
  auto add = [&](std::string message) {
    if (record_errors.size() < max_record_errors) record_errors.push_back({record_index, std::move(message)});
  };
  protocol::record_view record;
  while (reader.next(record)) {
    max_timestamp = std::max(max_timestamp, batch.timestamp_of(record));
    if (config.cleanup.compact && !record.key) {
      add("Compacted topic cannot accept message without key in topic partition " + context.partition + ".");
    }
    if (create_time) {
      const std::int64_t timestamp = batch.timestamp_of(record);
      if (claims_append_time) {
        timestamp_errors = true;
        add("Invalid timestamp type in message at index " + std::to_string(record_index) +
            ". Producer should not set timestamp type to LogAppendTime.");
      } else if (timestamp != -1 && (timestamp < earliest || timestamp > latest)) {
        timestamp_errors = true;
        add("Timestamp " + std::to_string(timestamp) + " of message with offset " +
            std::to_string(batch.offset_of(record)) + " is out of range. The timestamp should be within [" +
            std::to_string(earliest) + ", " + std::to_string(latest) + "]");
      }
    }
    ++record_index;
  }
  if (auto ec = reader.error()) {
    return fail(content_error(ec), "Invalid record at index " + std::to_string(record_index) + " in " +
                                       context.partition + ": " + ec.message());
  }
  return {};
}

// A legacy message set (Produce v0-2): sizes per top-level message as Kafka checks them, then converted to batches.
produce_partition_error convert_legacy(std::span<std::uint8_t> records, const storage::log_config& config,
                                       const produce_validation_context& context, protocol::bytes& converted) {
  protocol::legacy_message_reader reader(records);
  protocol::legacy_message_view message;
  while (reader.next(message)) {
    if (message.encoded.size() > static_cast<std::size_t>(std::max(config.max_message_bytes, 0))) {
      return fail(error_code::message_too_large, "The message is " + std::to_string(message.encoded.size()) +
                                                     " bytes, larger than " + context.partition +
                                                     " accepts (max.message.bytes " +
                                                     std::to_string(config.max_message_bytes) + ")");
    }
  }
  if (auto ec = reader.error()) {
    return fail(framing_error(ec), "Invalid message set for " + context.partition + ": " + ec.message());
  }
  protocol::legacy_conversion_options options;
  options.preserve_offsets = false;  // old clients write 0 or anything; the broker numbers them
  if (auto ec = protocol::convert_legacy_message_set(records, converted, options)) {
    return fail(framing_error(ec), "Invalid message set for " + context.partition + ": " + ec.message());
  }
  return {};
}

}  // namespace

produce_partition_error validate_produce_records(std::span<std::uint8_t> records, const storage::log_config& config,
                                                 const produce_validation_context& context, validated_records& out) {
  out = validated_records{};
  const std::string version = std::to_string(context.api_version);
  if (records.empty()) {
    return fail(error_code::invalid_record,
                "Produce requests with version " + version + " must have at least one record batch per partition");
  }
  if (records.size() > static_cast<std::uint64_t>(std::max<std::int64_t>(config.segment_bytes, 0))) {
    return fail(error_code::record_list_too_large, "Message batch size is " + std::to_string(records.size()) +
                                                       " bytes in append to partition " + context.partition +
                                                       " which exceeds the maximum configured segment size of " +
                                                       std::to_string(config.segment_bytes) + ".");
  }
  const auto magic = protocol::peek_magic(records);
  if (!magic) return fail(error_code::corrupt_message, "Records too short for a batch in " + context.partition);

  std::span<std::uint8_t> batches = records;
  bool checked_sizes = false;
  if (*magic < protocol::record_batch_magic) {
    if (context.api_version >= 3) {
      return fail(error_code::invalid_record, "Produce requests with version " + version +
                                                  " are only allowed to contain record batches with magic version 2");
    }
    if (auto error = convert_legacy(records, config, context, out.converted_); error.failed()) return error;
    if (out.converted_.empty()) return fail(error_code::invalid_record, "Empty message set for " + context.partition);
    batches = out.converted_;
    checked_sizes = true;
  }

  // Frame the batches (headers only) before looking inside any, so that the per-request rules come first.
  std::vector<protocol::record_batch_view> views;
  if (auto ec = protocol::split_record_batches(batches, views, protocol::truncated_tail::reject)) {
    return fail(framing_error(ec), "Invalid record batches for " + context.partition + ": " + ec.message());
  }
  if (views.empty()) return fail(error_code::invalid_record, "No record batch for " + context.partition);
  if (context.api_version >= 3 && !out.converted() && views.size() != 1) {
    return fail(error_code::invalid_record, "Produce requests with version " + version +
                                                " are only allowed to contain exactly one record batch per partition");
  }

  produce_partition_error result;
  bool timestamp_errors = false;
  std::int32_t record_index = 0;
  protocol::record_reader reader;
  for (const auto& batch : views) {
    const auto& header = batch.header();
    if (context.api_version < 7 &&
        batch.header().attributes.codec_bits() == static_cast<int>(protocol::compression_codec::zstd)) {
      return fail(error_code::unsupported_compression_type,
                  "Produce requests with version " + version + " are not allowed to use ZStandard compression");
    }
    if (!checked_sizes && batch.size_in_bytes() > static_cast<std::size_t>(std::max(config.max_message_bytes, 0))) {
      return fail(error_code::message_too_large,
                  "The batch is " + std::to_string(batch.size_in_bytes()) + " bytes, larger than " + context.partition +
                      " accepts (max.message.bytes " + std::to_string(config.max_message_bytes) + ")");
    }
    if (!batch.crc_matches()) {
      return fail(error_code::corrupt_message, "Record batch for " + context.partition +
                                                   " is corrupt (CRC-32C mismatch: the data changed on the way)");
    }
    if (auto ec = batch.validate()) {
      return fail(content_error(ec), "Invalid record batch for " + context.partition + ": " + ec.message());
    }
    if (header.records_count <= 0 || header.last_offset_delta != header.records_count - 1) {
      return fail(error_code::invalid_record,
                  "Record batch for " + context.partition + " has " + std::to_string(header.records_count) +
                      " records but a last offset delta of " + std::to_string(header.last_offset_delta));
    }
    if (header.attributes.control()) {
      return fail(error_code::invalid_record, "Clients are not allowed to write control records");
    }
    const auto info = batch_producer_info::from(header);
    if (info.idempotent() && info.first_sequence < 0) {
      return fail(error_code::invalid_record, "Invalid sequence number " + std::to_string(info.first_sequence) +
                                                  " from producer " + std::to_string(info.producer_id));
    }
    std::int64_t max_timestamp = -1;
    if (auto error = check_records(batch, config, context, reader, record_index, result.record_errors, timestamp_errors,
                                   max_timestamp);
        error.failed()) {
      return error;
    }
    // As Kafka's broker does, a CreateTime batch carries the largest timestamp of its records: some clients send
    // -1 there (Sarama 1.22 does), and the time index, time retention and ListOffsets by timestamp rely on it.
    if (config.message_timestamp_type == protocol::timestamp_type::create_time &&
        header.attributes.timestamps() == protocol::timestamp_type::create_time &&
        header.max_timestamp != max_timestamp) {
      const auto at = static_cast<std::size_t>(batch.data().data() - batches.data());
      (void)protocol::set_max_timestamp(batches.subspan(at, batch.size_in_bytes()), max_timestamp);
    }
    out.infos_.push_back(info);
    out.record_count_ += header.records_count;
  }
  if (!result.record_errors.empty()) {
    // Kafka's processRecordErrors: timestamps win, else a generic INVALID_RECORD naming the first errors.
    if (timestamp_errors) {
      result.error = error_code::invalid_timestamp;
      result.message = "One or more records have been rejected due to invalid timestamp";
    } else {
      result.error = error_code::invalid_record;
      result.message = "One or more records have been rejected: " + result.record_errors.front().message;
    }
    return result;
  }
  if (!out.converted()) out.in_place_ = records;
  return {};
}

bool has_transactional_batch(protocol::byte_span records) noexcept {
  const auto magic = protocol::peek_magic(records);
  if (!magic || *magic != protocol::record_batch_magic) return false;
  protocol::record_batch_splitter splitter(records, protocol::truncated_tail::allow);
  protocol::record_batch_view batch;
  while (splitter.next(batch)) {
    if (batch.header().attributes.transactional()) return true;
  }
  return false;
}

}  // namespace vltava::broker
