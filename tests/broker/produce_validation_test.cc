// Tests of the checks produced records go through before they are appended, one rule each, with the Kafka error a
// client gets: framing, CRC, sizes, batch count and magic per Produce version, compression by version, control and
// sequence fields, keys on compacted topics, timestamps, and the conversion of legacy message sets.
#include "vltava/broker/produce_validation.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "vltava/protocol/legacy_message_set.h"
#include "vltava/protocol/record_batch.h"
#include "vltava/protocol/record_batch_builder.h"

namespace vltava::broker {
namespace {

using protocol::bytes;
using protocol::error_code;

constexpr std::int64_t now_ms = 1'700'000'000'000;

protocol::byte_span text(std::string_view s) { return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()}; }

struct batch_spec {
  int count = 3;
  std::int64_t timestamp = now_ms;
  bool null_keys = false;
  protocol::record_batch_builder_options options;
};

bytes make_batch(const batch_spec& spec = {}) {
  protocol::record_batch_builder builder(spec.options);
  for (int i = 0; i < spec.count; ++i) {
    const std::string key = "k" + std::to_string(i);
    builder.append(spec.timestamp + i, spec.null_keys ? std::nullopt : std::optional(text(key)), text("value"));
  }
  bytes out;
  EXPECT_FALSE(builder.build(out));
  return out;
}

bytes concat(const bytes& a, const bytes& b) {
  bytes out = a;
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

void recompute_crc(bytes& batch) {
  protocol::store_be(batch.data() + protocol::record_batch_crc_offset, protocol::compute_record_batch_crc(batch));
}

produce_validation_context context_for(std::int16_t version = 9) {
  produce_validation_context context;
  context.api_version = version;
  context.now_ms = now_ms;
  context.partition = "orders-0";
  return context;
}

produce_partition_error validate(bytes& records, const storage::log_config& config = {},
                                 const produce_validation_context& context = context_for()) {
  validated_records out;
  return validate_produce_records(records, config, context, out);
}

TEST(produce_validation, AcceptsOneBatchInPlace) {
  batch_spec spec;
  spec.options.producer_id = 5;
  spec.options.producer_epoch = 1;
  spec.options.base_sequence = 10;
  bytes records = make_batch(spec);
  validated_records out;
  const auto error = validate_produce_records(records, {}, context_for(), out);
  ASSERT_FALSE(error.failed()) << error.message;
  EXPECT_FALSE(out.converted());
  EXPECT_EQ(out.batches().data(), records.data()) << "appended from the request's own bytes";
  EXPECT_EQ(out.batches().size(), records.size());
  EXPECT_EQ(out.record_count(), 3);
  ASSERT_EQ(out.producers().size(), 1u);
  EXPECT_EQ(out.producers()[0].producer_id, 5);
  EXPECT_EQ(out.producers()[0].producer_epoch, 1);
  EXPECT_EQ(out.producers()[0].first_sequence, 10);
  EXPECT_EQ(out.producers()[0].last_sequence(), 12);
}

// Sarama 1.22 sends -1 as a batch's maxTimestamp: the broker sets it from the records (and fixes the CRC), as Kafka
// does, whatever the codec; a batch that carries the right value is left byte for byte as it came.
TEST(produce_validation, CreateTimeBatchesGetTheirMaxTimestampFromTheRecords) {
  for (auto codec :
       {protocol::compression_codec::none, protocol::compression_codec::gzip, protocol::compression_codec::lz4}) {
    SCOPED_TRACE(protocol::to_string(codec));
    batch_spec spec;
    spec.options.codec = codec;
    spec.count = 4;
    const bytes correct = make_batch(spec);
    protocol::record_batch_view view;
    ASSERT_FALSE(protocol::record_batch_view::parse(correct, view));
    ASSERT_EQ(view.header().max_timestamp, now_ms + 3);

    bytes unchanged = correct;
    ASSERT_FALSE(validate(unchanged).failed());
    EXPECT_EQ(unchanged, correct);

    for (std::int64_t sent : {std::int64_t{-1}, now_ms, now_ms + 100}) {
      bytes records = correct;
      protocol::store_be(records.data() + 35, sent);
      recompute_crc(records);
      const auto error = validate(records);
      ASSERT_FALSE(error.failed()) << error.message;
      EXPECT_EQ(records, correct) << "maxTimestamp " << sent << " is set from the records, the CRC with it";
    }
  }

  // A LogAppendTime topic stamps the batch on append instead: validation leaves it alone.
  storage::log_config append_time;
  append_time.message_timestamp_type = protocol::timestamp_type::log_append_time;
  bytes records = make_batch();
  protocol::store_be(records.data() + 35, std::int64_t{-1});
  recompute_crc(records);
  const bytes sent = records;
  ASSERT_FALSE(validate(records, append_time).failed());
  EXPECT_EQ(records, sent);
}

TEST(produce_validation, NoRecordsIsInvalidRecord) {
  bytes empty;
  EXPECT_EQ(validate(empty).error, error_code::invalid_record);
}

TEST(produce_validation, CrcMismatchIsCorruptMessage) {
  bytes records = make_batch();
  records.back() ^= 0x01;
  const auto error = validate(records);
  EXPECT_EQ(error.error, error_code::corrupt_message);
  EXPECT_NE(error.message.find("CRC"), std::string::npos);
}

TEST(produce_validation, TruncatedBatchIsCorruptMessage) {
  bytes records = make_batch();
  records.pop_back();
  EXPECT_EQ(validate(records).error, error_code::corrupt_message);
  bytes tiny(10, 0);
  EXPECT_EQ(validate(tiny).error, error_code::corrupt_message);
}

TEST(produce_validation, BatchLargerThanMaxMessageBytesIsMessageTooLarge) {
  bytes records = make_batch();
  storage::log_config config;
  config.max_message_bytes = static_cast<std::int32_t>(records.size());
  EXPECT_FALSE(validate(records, config).failed()) << "exactly max.message.bytes is allowed";
  config.max_message_bytes = static_cast<std::int32_t>(records.size()) - 1;
  EXPECT_EQ(validate(records, config).error, error_code::message_too_large);
}

TEST(produce_validation, RecordsLargerThanASegmentAreRecordListTooLarge) {
  bytes records = make_batch();
  storage::log_config config;
  config.segment_bytes = static_cast<std::int64_t>(records.size()) - 1;
  EXPECT_EQ(validate(records, config).error, error_code::record_list_too_large);
}

TEST(produce_validation, VersionThreeAndLaterTakeExactlyOneBatch) {
  bytes two = concat(make_batch(), make_batch());
  const auto error = validate(two, {}, context_for(3));
  EXPECT_EQ(error.error, error_code::invalid_record);
  EXPECT_NE(error.message.find("exactly one record batch"), std::string::npos);
  bytes again = concat(make_batch(), make_batch());
  validated_records out;
  ASSERT_FALSE(validate_produce_records(again, {}, context_for(2), out).failed()) << "older versions took several";
  EXPECT_EQ(out.producers().size(), 2u);
  EXPECT_EQ(out.record_count(), 6);
}

TEST(produce_validation, ZstdNeedsVersionSeven) {
  batch_spec spec;
  spec.options.codec = protocol::compression_codec::zstd;
  bytes records = make_batch(spec);
  EXPECT_EQ(validate(records, {}, context_for(6)).error, error_code::unsupported_compression_type);
  bytes again = make_batch(spec);
  EXPECT_FALSE(validate(again, {}, context_for(7)).failed());
}

TEST(produce_validation, CompressedBatchesAreReadThrough) {
  for (auto codec :
       {protocol::compression_codec::gzip, protocol::compression_codec::snappy, protocol::compression_codec::lz4}) {
    batch_spec spec;
    spec.options.codec = codec;
    spec.null_keys = true;
    bytes records = make_batch(spec);
    storage::log_config compacted;
    compacted.cleanup.compact = true;
    const auto error = validate(records, compacted);
    EXPECT_EQ(error.error, error_code::invalid_record) << protocol::to_string(codec);
    EXPECT_EQ(error.record_errors.size(), 3u) << protocol::to_string(codec);
  }
}

TEST(produce_validation, ControlBatchesFromClientsAreInvalidRecord) {
  batch_spec spec;
  spec.options.control = true;
  bytes records = make_batch(spec);
  const auto error = validate(records);
  EXPECT_EQ(error.error, error_code::invalid_record);
  EXPECT_NE(error.message.find("control"), std::string::npos);
}

TEST(produce_validation, IdempotentBatchWithoutSequenceIsInvalidRecord) {
  batch_spec spec;
  spec.options.producer_id = 5;
  spec.options.producer_epoch = 0;
  spec.options.base_sequence = -1;
  bytes records = make_batch(spec);
  EXPECT_EQ(validate(records).error, error_code::invalid_record);
}

TEST(produce_validation, MalformedRecordBehindAGoodCrcIsInvalidRecord) {
  bytes records = make_batch();
  // The first record's length varint (zig-zag): claim far more bytes than the batch holds.
  records[protocol::record_batch_header_size] = 0x7e;
  recompute_crc(records);
  EXPECT_EQ(validate(records).error, error_code::invalid_record);
}

TEST(produce_validation, RecordCountMustMatchOffsetsBehindAGoodCrc) {
  bytes records = make_batch();
  protocol::store_be<std::int32_t>(records.data() + 57, 2);  // recordsCount 2, lastOffsetDelta still 2
  recompute_crc(records);
  EXPECT_EQ(validate(records).error, error_code::invalid_record);
}

TEST(produce_validation, CompactedTopicRejectsNullKeysWithRecordErrors) {
  storage::log_config compacted;
  compacted.cleanup.compact = true;
  batch_spec spec;
  spec.null_keys = true;
  bytes records = make_batch(spec);
  const auto error = validate(records, compacted);
  EXPECT_EQ(error.error, error_code::invalid_record);
  ASSERT_EQ(error.record_errors.size(), 3u);
  EXPECT_EQ(error.record_errors[0].batch_index, 0);
  EXPECT_EQ(error.record_errors[2].batch_index, 2);
  EXPECT_NE(error.record_errors[0].message.find("without key"), std::string::npos);
  bytes keyed = make_batch();
  EXPECT_FALSE(validate(keyed, compacted).failed());
  bytes null_keys = make_batch(spec);
  EXPECT_FALSE(validate(null_keys).failed()) << "only compacted topics need keys";
}

TEST(produce_validation, TimestampsOutsideTheAllowedRangeAreInvalidTimestamp) {
  auto context = context_for();
  context.timestamp_before_max_ms = 1000;
  context.timestamp_after_max_ms = 500;

  batch_spec old_spec;
  old_spec.timestamp = now_ms - 1001;  // records at -1001, -1000, -999: only the first is too old
  bytes old_records = make_batch(old_spec);
  auto error = validate(old_records, {}, context);
  EXPECT_EQ(error.error, error_code::invalid_timestamp);
  ASSERT_EQ(error.record_errors.size(), 1u);
  EXPECT_EQ(error.record_errors[0].batch_index, 0);
  EXPECT_NE(error.record_errors[0].message.find("out of range"), std::string::npos);

  batch_spec future;
  future.timestamp = now_ms + 499;  // +499, +500, +501: the last is too new
  bytes future_records = make_batch(future);
  error = validate(future_records, {}, context);
  EXPECT_EQ(error.error, error_code::invalid_timestamp);
  ASSERT_EQ(error.record_errors.size(), 1u);
  EXPECT_EQ(error.record_errors[0].batch_index, 2);

  batch_spec none;
  none.timestamp = -1;
  none.count = 1;
  bytes no_timestamp = make_batch(none);
  EXPECT_FALSE(validate(no_timestamp, {}, context).failed()) << "records without a timestamp are let through";

  storage::log_config append_time;
  append_time.message_timestamp_type = protocol::timestamp_type::log_append_time;
  bytes ignored = make_batch(old_spec);
  EXPECT_FALSE(validate(ignored, append_time, context).failed()) << "LogAppendTime topics replace timestamps";

  bytes unbounded = make_batch(old_spec);
  EXPECT_FALSE(validate(unbounded).failed()) << "no bound by default";
}

TEST(produce_validation, ProducerMustNotClaimLogAppendTime) {
  batch_spec spec;
  spec.options.timestamps = protocol::timestamp_type::log_append_time;
  bytes records = make_batch(spec);
  const auto error = validate(records);
  EXPECT_EQ(error.error, error_code::invalid_timestamp);
  EXPECT_EQ(error.record_errors.size(), 3u);
}

TEST(produce_validation, RecordErrorsAreCapped) {
  storage::log_config compacted;
  compacted.cleanup.compact = true;
  batch_spec spec;
  spec.null_keys = true;
  spec.count = 500;
  bytes records = make_batch(spec);
  EXPECT_EQ(validate(records, compacted).record_errors.size(), max_record_errors);
}

bytes legacy_set(std::int8_t magic, protocol::compression_codec codec, int count, std::size_t value_size = 5) {
  protocol::legacy_message_set_writer writer(magic, codec);
  const std::string value(value_size, 'x');
  for (int i = 0; i < count; ++i) writer.append(0, now_ms + i, text("k" + std::to_string(i)), text(value));
  bytes out;
  EXPECT_FALSE(writer.finish(out));
  return out;
}

TEST(produce_validation, LegacyMessageSetsAreConvertedForOldVersions) {
  for (std::int8_t magic : {0, 1}) {
    for (auto codec : {protocol::compression_codec::none, protocol::compression_codec::gzip}) {
      bytes records = legacy_set(magic, codec, 4);
      validated_records out;
      const auto error = validate_produce_records(records, {}, context_for(2), out);
      ASSERT_FALSE(error.failed()) << error.message;
      EXPECT_TRUE(out.converted());
      EXPECT_EQ(out.record_count(), 4);
      std::vector<protocol::record_batch_view> views;
      ASSERT_FALSE(protocol::split_record_batches(out.batches(), views));
      ASSERT_EQ(views.size(), 1u);
      EXPECT_EQ(views[0].header().magic, 2);
      EXPECT_FALSE(views[0].validate());
      EXPECT_EQ(views[0].header().attributes.codec(), codec);
    }
  }
}

TEST(produce_validation, LegacyMessageSetsNeedAnOldVersion) {
  bytes records = legacy_set(1, protocol::compression_codec::none, 2);
  const auto error = validate(records, {}, context_for(3));
  EXPECT_EQ(error.error, error_code::invalid_record);
  EXPECT_NE(error.message.find("magic version 2"), std::string::npos);
}

TEST(produce_validation, LegacyChecksPerMessage) {
  bytes corrupt = legacy_set(1, protocol::compression_codec::none, 2);
  corrupt.back() ^= 0x01;
  EXPECT_EQ(validate(corrupt, {}, context_for(1)).error, error_code::corrupt_message);

  // Sizes count per top-level message, as Kafka checks them, even though conversion makes one batch of them all.
  bytes many = legacy_set(1, protocol::compression_codec::none, 10, 100);
  storage::log_config config;
  config.max_message_bytes = 200;
  EXPECT_FALSE(validate(many, config, context_for(1)).failed());
  bytes big = legacy_set(1, protocol::compression_codec::none, 1, 300);
  EXPECT_EQ(validate(big, config, context_for(1)).error, error_code::message_too_large);
}

TEST(produce_validation, LegacyTimestampsAreChecked) {
  auto context = context_for(2);
  context.timestamp_after_max_ms = 0;
  bytes records = legacy_set(1, protocol::compression_codec::none, 3);
  const auto error = validate(records, {}, context);
  EXPECT_EQ(error.error, error_code::invalid_timestamp);
  EXPECT_EQ(error.record_errors.size(), 2u);
  bytes magic0 = legacy_set(0, protocol::compression_codec::none, 3);
  EXPECT_FALSE(validate(magic0, {}, context).failed()) << "magic 0 has no timestamps";
}

TEST(produce_validation, FindsTransactionalBatches) {
  batch_spec spec;
  spec.options.producer_id = 1;
  spec.options.producer_epoch = 0;
  spec.options.base_sequence = 0;
  const bytes idempotent = make_batch(spec);
  EXPECT_FALSE(has_transactional_batch(idempotent));
  spec.options.transactional = true;
  EXPECT_TRUE(has_transactional_batch(concat(make_batch(), make_batch(spec))));
  EXPECT_FALSE(has_transactional_batch(legacy_set(1, protocol::compression_codec::none, 1)));
  EXPECT_FALSE(has_transactional_batch({}));
}

}  // namespace
}  // namespace vltava::broker
