#include "vltava/protocol/record_batch.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "vltava/protocol/crc32c.h"
#include "vltava/protocol/record_batch_builder.h"

namespace vltava::protocol {
namespace {

// A batch written byte by byte from the format description, its CRC-32C computed by an independent bit-at-a-time
// implementation when the test was written: baseOffset 100, partitionLeaderEpoch 5, attributes 0,
// lastOffsetDelta 1, baseTimestamp 1700000000000, maxTimestamp 1700000000005, producerId 7, producerEpoch 1,
// baseSequence 10, two records:
//   {timestampDelta 0, offsetDelta 0, key "k1", value "v1", headers [h: x]}
//   {timestampDelta 5, offsetDelta 1, key null, value "value", no headers}
constexpr std::uint8_t hand_built_batch[] = {
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x64,  // baseOffset 100
    0x00, 0x00, 0x00, 0x4c,                          // batchLength 76
    0x00, 0x00, 0x00, 0x05,                          // partitionLeaderEpoch 5
    0x02,                                            // magic
    0xc0, 0xc5, 0x51, 0x66,                          // crc
    0x00, 0x00,                                      // attributes
    0x00, 0x00, 0x00, 0x01,                          // lastOffsetDelta
    0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00,  // baseTimestamp
    0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x05,  // maxTimestamp
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07,  // producerId
    0x00, 0x01,                                      // producerEpoch
    0x00, 0x00, 0x00, 0x0a,                          // baseSequence
    0x00, 0x00, 0x00, 0x02,                          // recordsCount
    // record 0: length 14, attributes, timestampDelta 0, offsetDelta 0, key, value, 1 header
    0x1c, 0x00, 0x00, 0x00, 0x04, 'k', '1', 0x04, 'v', '1', 0x02, 0x02, 'h', 0x02, 'x',
    // record 1: length 11, attributes, timestampDelta 5, offsetDelta 1, null key, value, no headers
    0x16, 0x00, 0x0a, 0x02, 0x01, 0x0a, 'v', 'a', 'l', 'u', 'e', 0x00};

constexpr compression_codec all_codecs[] = {compression_codec::none, compression_codec::gzip, compression_codec::snappy,
                                            compression_codec::lz4, compression_codec::zstd};

byte_span span_of(std::string_view s) { return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()}; }
std::string str(byte_span b) { return {b.begin(), b.end()}; }
std::optional<std::string> str(const std::optional<byte_span>& b) {
  if (!b) return std::nullopt;
  return str(*b);
}

record_batch_view parse_ok(byte_span data) {
  record_batch_view batch;
  EXPECT_FALSE(record_batch_view::parse(data, batch));
  return batch;
}

struct decoded_record {
  std::int64_t offset;
  std::int64_t timestamp;
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::vector<std::pair<std::string, std::optional<std::string>>> headers;
  bool operator==(const decoded_record&) const = default;
};

std::error_code read_all(const record_batch_view& batch, std::vector<decoded_record>& out,
                         const record_reader_options& options = {}) {
  record_reader reader;
  if (auto ec = reader.open(batch, options)) return ec;
  record_view r;
  while (reader.next(r)) {
    decoded_record d{batch.offset_of(r), batch.timestamp_of(r), str(r.key), str(r.value), {}};
    for (const auto& h : r.headers()) d.headers.emplace_back(std::string(h.key), str(h.value));
    EXPECT_EQ(static_cast<std::size_t>(r.header_count), d.headers.size());
    out.push_back(std::move(d));
  }
  return reader.error();
}

// A batch around raw record bytes, written here independently of the builder, with a correct CRC: for tests of
// what the reader does with malformed records.
bytes batch_around(byte_span records, std::int32_t count, std::int32_t last_offset_delta,
                   compression_codec codec = compression_codec::none) {
  bytes out;
  writer w(out);
  w.write_int64(0);
  w.write_int32(0);
  w.write_int32(-1);
  w.write_int8(2);
  w.write_uint32(0);
  w.write_int16(static_cast<std::int16_t>(codec));
  w.write_int32(last_offset_delta);
  w.write_int64(1000);
  w.write_int64(1000);
  w.write_int64(-1);
  w.write_int16(-1);
  w.write_int32(-1);
  w.write_int32(count);
  EXPECT_FALSE(compress(codec, records, out));
  w.patch_int32(8, static_cast<std::int32_t>(out.size() - 12));
  store_be(out.data() + 17, compute_record_batch_crc(out));
  return out;
}

// One record from its fields, varints encoded here by hand-rolled zig-zag through the writer.
bytes raw_record(std::int32_t offset_delta, std::int32_t key_length, std::string_view key, std::int32_t value_length,
                 std::string_view value, std::int32_t header_count = 0, bytes header_bytes = {}) {
  bytes body;
  writer b(body);
  b.write_int8(0);
  b.write_varlong(0);
  b.write_varint(offset_delta);
  b.write_varint(key_length);
  b.write_raw(key);
  b.write_varint(value_length);
  b.write_raw(value);
  b.write_varint(header_count);
  b.write_raw(byte_span(header_bytes));
  bytes out;
  writer w(out);
  w.write_varint(static_cast<std::int32_t>(body.size()));
  w.write_raw(byte_span(body));
  return out;
}

bytes concat(std::initializer_list<bytes> parts) {
  bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

TEST(RecordBatch, ParsesHandBuiltBatch) {
  const record_batch_view batch = parse_ok(hand_built_batch);
  const auto& h = batch.header();
  EXPECT_EQ(h.base_offset, 100);
  EXPECT_EQ(h.batch_length, 76);
  EXPECT_EQ(h.partition_leader_epoch, 5);
  EXPECT_EQ(h.magic, 2);
  EXPECT_EQ(h.crc, 0xc0c55166u);
  EXPECT_EQ(h.attributes.bits, 0);
  EXPECT_EQ(h.last_offset_delta, 1);
  EXPECT_EQ(h.last_offset(), 101);
  EXPECT_EQ(h.base_timestamp, 1700000000000);
  EXPECT_EQ(h.max_timestamp, 1700000000005);
  EXPECT_EQ(h.producer_id, 7);
  EXPECT_EQ(h.producer_epoch, 1);
  EXPECT_EQ(h.base_sequence, 10);
  EXPECT_EQ(h.records_count, 2);
  EXPECT_EQ(batch.size_in_bytes(), sizeof(hand_built_batch));
  EXPECT_EQ(h.size_in_bytes(), sizeof(hand_built_batch));
  EXPECT_TRUE(batch.crc_matches());
  EXPECT_FALSE(batch.validate());

  record_reader reader;
  ASSERT_FALSE(reader.open(batch));
  record_view r;
  ASSERT_TRUE(reader.next(r));
  EXPECT_EQ(r.length, 14);
  EXPECT_EQ(r.attributes, 0);
  EXPECT_EQ(r.timestamp_delta, 0);
  EXPECT_EQ(r.offset_delta, 0);
  EXPECT_EQ(str(r.key), "k1");
  EXPECT_EQ(str(r.value), "v1");
  ASSERT_EQ(r.header_count, 1);
  EXPECT_EQ(r.encoded.size(), 15u);
  EXPECT_EQ(r.encoded.data(), hand_built_batch + 61);  // a view into the batch, not a copy
  auto headers = r.headers();
  auto it = headers.begin();
  ASSERT_NE(it, headers.end());
  EXPECT_EQ(it->key, "h");
  EXPECT_EQ(str(it->value), "x");
  ++it;
  EXPECT_EQ(it, headers.end());

  ASSERT_TRUE(reader.next(r));
  EXPECT_EQ(r.length, 11);
  EXPECT_EQ(r.timestamp_delta, 5);
  EXPECT_EQ(r.offset_delta, 1);
  EXPECT_FALSE(r.key.has_value());
  EXPECT_EQ(str(r.value), "value");
  EXPECT_EQ(r.header_count, 0);
  EXPECT_TRUE(r.headers().empty());
  EXPECT_EQ(batch.offset_of(r), 101);
  EXPECT_EQ(batch.timestamp_of(r), 1700000000005);
  EXPECT_FALSE(reader.next(r));
  EXPECT_FALSE(reader.error());
  EXPECT_EQ(reader.records_read(), 2);
}

TEST(RecordBatch, BuilderReproducesHandBuiltBatchExactly) {
  record_batch_builder_options options;
  options.base_offset = 100;
  options.partition_leader_epoch = 5;
  options.producer_id = 7;
  options.producer_epoch = 1;
  options.base_sequence = 10;
  record_batch_builder builder(options);
  const record_header_view headers[] = {{"h", span_of("x")}};
  builder.append(1700000000000, span_of("k1"), span_of("v1"), headers);
  builder.append(1700000000005, std::nullopt, span_of("value"));
  EXPECT_EQ(builder.record_count(), 2);
  bytes out;
  ASSERT_FALSE(builder.build(out));
  EXPECT_EQ(out, bytes(std::begin(hand_built_batch), std::end(hand_built_batch)));
  EXPECT_EQ(builder.record_count(), 0);  // ready for the next batch
}

TEST(RecordBatch, AttributeBits) {
  batch_attributes a;
  a.set_codec(compression_codec::zstd);
  EXPECT_EQ(a.bits, 0x04);
  a.set_timestamps(timestamp_type::log_append_time);
  a.set_transactional(true);
  a.set_control(true);
  a.set_delete_horizon(true);
  EXPECT_EQ(a.bits, 0x7c);
  EXPECT_EQ(a.codec(), compression_codec::zstd);
  EXPECT_EQ(a.timestamps(), timestamp_type::log_append_time);
  EXPECT_TRUE(a.transactional() && a.control() && a.has_delete_horizon());
  a.set_codec(compression_codec::snappy);
  a.set_control(false);
  a.set_delete_horizon(false);
  EXPECT_EQ(a.bits, 0x1a);
  EXPECT_EQ(a.codec_bits(), 2);
  EXPECT_FALSE(a.control());
  EXPECT_FALSE(a.has_delete_horizon());
  EXPECT_TRUE(a.transactional());
  EXPECT_EQ((batch_attributes{0x05}).codec_bits(), 5);
}

TEST(RecordBatch, EveryByteCoveredByTheCrcIsChecked) {
  bytes data(std::begin(hand_built_batch), std::end(hand_built_batch));
  for (std::size_t i = 0; i < data.size(); ++i) {
    data[i] ^= 0x01;
    record_batch_view batch;
    const auto parsed = record_batch_view::parse(data, batch);
    if (i < 8) {
      EXPECT_FALSE(parsed) << i;
      EXPECT_FALSE(batch.validate()) << "baseOffset is outside the CRC, byte " << i;
    } else if (i < 12) {
      EXPECT_TRUE(parsed) << "batchLength is checked against the buffer, byte " << i;
    } else if (i < 16) {
      EXPECT_FALSE(parsed) << i;
      EXPECT_FALSE(batch.validate()) << "partitionLeaderEpoch is outside the CRC, byte " << i;
    } else if (i == 16) {
      EXPECT_EQ(parsed, codec_errc::unsupported_version);
    } else {
      ASSERT_FALSE(parsed) << i;
      EXPECT_EQ(batch.validate(), codec_errc::corrupt_message) << i;
    }
    data[i] ^= 0x01;
  }
}

TEST(RecordBatch, EveryTruncationIsRejectedCleanly) {
  const byte_span full(hand_built_batch);
  for (std::size_t cut = 0; cut < full.size(); ++cut) {
    const byte_span part = full.first(cut);
    record_batch_view batch;
    EXPECT_EQ(record_batch_view::parse(part, batch), codec_errc::truncated) << cut;

    std::vector<record_batch_view> batches;
    EXPECT_EQ(split_record_batches(part, batches),
              cut == 0 ? std::error_code() : make_error_code(codec_errc::truncated))
        << cut;
    EXPECT_TRUE(batches.empty());

    // A fetch response may end inside a batch: skipped, not an error.
    record_batch_splitter splitter(part, truncated_tail::allow);
    EXPECT_FALSE(splitter.next(batch)) << cut;
    EXPECT_FALSE(splitter.error()) << cut;
    EXPECT_EQ(splitter.skipped_tail_bytes(), cut);
  }
}

TEST(RecordBatch, RejectsWrongMagicAndImpossibleLength) {
  bytes data(std::begin(hand_built_batch), std::end(hand_built_batch));
  record_batch_view batch;
  for (std::int8_t magic : {0, 1, 3, -1}) {
    data[16] = static_cast<std::uint8_t>(magic);
    EXPECT_EQ(record_batch_view::parse(data, batch), codec_errc::unsupported_version);
  }
  data[16] = 2;
  for (std::int32_t length : {48, 0, -1, std::numeric_limits<std::int32_t>::min()}) {
    store_be(data.data() + 8, length);
    EXPECT_EQ(record_batch_view::parse(data, batch), codec_errc::corrupt_message) << length;
  }
  store_be(data.data() + 8, std::numeric_limits<std::int32_t>::max());
  EXPECT_EQ(record_batch_view::parse(data, batch), codec_errc::truncated);
}

TEST(RecordBatch, ParseStopsAtTheBatchEnd) {
  bytes data(std::begin(hand_built_batch), std::end(hand_built_batch));
  data.insert(data.end(), {1, 2, 3});
  const record_batch_view batch = parse_ok(data);
  EXPECT_EQ(batch.size_in_bytes(), sizeof(hand_built_batch));
  EXPECT_FALSE(batch.validate());
}

TEST(RecordBatch, PeekMagic) {
  EXPECT_EQ(peek_magic(hand_built_batch), 2);
  EXPECT_FALSE(peek_magic(byte_span(hand_built_batch).first(16)).has_value());
  EXPECT_EQ(peek_magic(byte_span(hand_built_batch).first(17)), 2);
}

TEST(RecordBatch, RewritesBaseOffsetAndLeaderEpochWithoutTouchingTheCrc) {
  bytes data(std::begin(hand_built_batch), std::end(hand_built_batch));
  ASSERT_FALSE(set_base_offset(data, 123456789012345));
  ASSERT_FALSE(set_partition_leader_epoch(data, 42));
  const record_batch_view batch = parse_ok(data);
  EXPECT_EQ(batch.header().base_offset, 123456789012345);
  EXPECT_EQ(batch.header().partition_leader_epoch, 42);
  EXPECT_EQ(batch.header().crc, 0xc0c55166u);
  EXPECT_FALSE(batch.validate());
  std::vector<decoded_record> records;
  ASSERT_FALSE(read_all(batch, records));
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[1].offset, 123456789012346);
  EXPECT_TRUE(std::equal(data.begin() + 16, data.end(), hand_built_batch + 16));

  bytes tiny(60);
  EXPECT_EQ(set_base_offset(tiny, 1), codec_errc::truncated);
  EXPECT_EQ(set_partition_leader_epoch(tiny, 1), codec_errc::truncated);
  EXPECT_EQ(tiny, bytes(60));
}

TEST(RecordBatch, BuilderToParserRoundTripForEveryCodec) {
  for (auto codec : all_codecs) {
    record_batch_builder_options options;
    options.codec = codec;
    options.base_offset = 5000;
    options.partition_leader_epoch = 3;
    options.producer_id = 123456789;
    options.producer_epoch = 7;
    options.base_sequence = 99;
    options.transactional = true;
    record_batch_builder builder(options);
    std::vector<decoded_record> expected;
    std::mt19937 rng(static_cast<std::uint32_t>(codec) + 1);
    for (int i = 0; i < 500; ++i) {
      const std::int64_t timestamp = 1700000000000 + (i % 7) * 1000 - 3000;  // deltas of both signs
      std::optional<std::string> key, value;
      if (i % 5 != 0) key = "key-" + std::to_string(i);
      if (i % 7 != 0) value = std::string(rng() % 300, static_cast<char>('a' + i % 26));
      std::vector<std::pair<std::string, std::optional<std::string>>> headers;
      for (int j = 0; j < i % 4; ++j)
        headers.emplace_back("h" + std::to_string(j),
                             j == 1 ? std::nullopt : std::optional<std::string>("v" + std::to_string(i)));
      if (i % 11 == 0) headers.emplace_back("", std::string());  // empty key and empty value are not null
      std::vector<record_header_view> header_views;
      for (const auto& [k, v] : headers)
        header_views.push_back({k, v ? std::optional<byte_span>(span_of(*v)) : std::nullopt});
      builder.append(timestamp, key ? std::optional<byte_span>(span_of(*key)) : std::nullopt,
                     value ? std::optional<byte_span>(span_of(*value)) : std::nullopt, header_views);
      expected.push_back({5000 + i, timestamp, key, value, headers});
    }
    bytes out;
    ASSERT_FALSE(builder.build(out)) << to_string(codec);
    const record_batch_view batch = parse_ok(out);
    ASSERT_FALSE(batch.validate()) << to_string(codec);
    const auto& h = batch.header();
    EXPECT_EQ(h.attributes.codec(), codec);
    EXPECT_TRUE(h.attributes.transactional());
    EXPECT_FALSE(h.attributes.control());
    EXPECT_EQ(h.attributes.timestamps(), timestamp_type::create_time);
    EXPECT_EQ(h.base_offset, 5000);
    EXPECT_EQ(h.partition_leader_epoch, 3);
    EXPECT_EQ(h.producer_id, 123456789);
    EXPECT_EQ(h.producer_epoch, 7);
    EXPECT_EQ(h.base_sequence, 99);
    EXPECT_EQ(h.records_count, 500);
    EXPECT_EQ(h.last_offset_delta, 499);
    EXPECT_EQ(h.base_timestamp, 1700000000000 - 3000);
    EXPECT_EQ(h.max_timestamp, 1700000000000 + 3000);
    std::vector<decoded_record> records;
    record_reader_options strict;
    strict.require_contiguous_offsets = true;
    ASSERT_FALSE(read_all(batch, records, strict)) << to_string(codec);
    EXPECT_EQ(records, expected) << to_string(codec);
  }
}

TEST(RecordBatch, CompressionMakesBatchesSmaller) {
  for (auto codec : all_codecs) {
    record_batch_builder_options options;
    options.codec = codec;
    record_batch_builder builder(options);
    const std::string value(1000, 'x');
    for (int i = 0; i < 100; ++i) builder.append(0, std::nullopt, span_of(value));
    const std::size_t uncompressed = builder.records_size();
    bytes out;
    ASSERT_FALSE(builder.build(out));
    if (codec == compression_codec::none) {
      EXPECT_EQ(out.size(), uncompressed + record_batch_header_size);
    } else {
      EXPECT_LT(out.size(), uncompressed / 10) << to_string(codec);
    }
  }
}

TEST(RecordBatch, ControlBatchAndLogAppendTime) {
  record_batch_builder_options options;
  options.control = true;
  options.transactional = true;
  options.timestamps = timestamp_type::log_append_time;
  options.producer_id = 9;
  options.producer_epoch = 2;
  record_batch_builder builder(options);
  // A COMMIT marker: key = version 0, type 1; value = version 0, coordinator epoch 5.
  const bytes key = {0, 0, 0, 1};
  const bytes value = {0, 0, 0, 0, 0, 5};
  builder.append(777, byte_span(key), byte_span(value));
  bytes out;
  ASSERT_FALSE(builder.build(out));
  const record_batch_view batch = parse_ok(out);
  ASSERT_FALSE(batch.validate());
  EXPECT_TRUE(batch.header().attributes.control());
  EXPECT_TRUE(batch.header().attributes.transactional());
  EXPECT_EQ(batch.header().attributes.timestamps(), timestamp_type::log_append_time);
  std::vector<decoded_record> records;
  ASSERT_FALSE(read_all(batch, records));
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].timestamp, 777);
  EXPECT_EQ(records[0].key, std::string("\0\0\0\1", 4));
}

TEST(RecordBatch, LogAppendTimeGivesEveryRecordTheMaxTimestamp) {
  record_batch_builder_options options;
  options.timestamps = timestamp_type::log_append_time;
  record_batch_builder builder(options);
  builder.append(10, std::nullopt, span_of("a"));
  builder.append(30, std::nullopt, span_of("b"));
  builder.append(20, std::nullopt, span_of("c"));
  bytes out;
  ASSERT_FALSE(builder.build(out));
  std::vector<decoded_record> records;
  ASSERT_FALSE(read_all(parse_ok(out), records));
  ASSERT_EQ(records.size(), 3u);
  for (const auto& r : records) EXPECT_EQ(r.timestamp, 30);
}

TEST(RecordBatch, BuilderRejectsEmptyBatchesAndBackwardOffsets) {
  record_batch_builder builder;
  bytes out;
  EXPECT_EQ(builder.build(out), codec_errc::invalid_value);
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(builder.append_at(3, 0, std::nullopt, std::nullopt));
  EXPECT_EQ(builder.append_at(3, 0, std::nullopt, std::nullopt), codec_errc::invalid_value);
  EXPECT_EQ(builder.append_at(1, 0, std::nullopt, std::nullopt), codec_errc::invalid_value);
  builder.append(0, std::nullopt, std::nullopt);  // offset delta 4
  ASSERT_FALSE(builder.build(out));
  const record_batch_view batch = parse_ok(out);
  ASSERT_FALSE(batch.validate());
  EXPECT_EQ(batch.header().last_offset_delta, 4);
  EXPECT_EQ(batch.header().records_count, 2);
  std::vector<decoded_record> records;
  ASSERT_FALSE(read_all(batch, records));
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].offset, 3);
  EXPECT_EQ(records[1].offset, 4);
  EXPECT_FALSE(records[1].key.has_value());
  EXPECT_FALSE(records[1].value.has_value());
  // Gaps are fine for stored batches, not for a produce request.
  record_reader_options strict;
  strict.require_contiguous_offsets = true;
  records.clear();
  EXPECT_EQ(read_all(batch, records, strict), codec_errc::corrupt_message);
}

TEST(RecordBatch, ValidateChecksHeaderConsistency) {
  const bytes one = raw_record(0, 1, "k", 1, "v");
  const bytes two = concat({one, raw_record(1, 1, "k", 1, "v")});
  EXPECT_FALSE(parse_ok(batch_around(two, 2, 1)).validate());
  EXPECT_FALSE(parse_ok(batch_around(two, 2, 9)).validate());  // gaps after compaction
  EXPECT_EQ(parse_ok(batch_around(two, 2, 0)).validate(), codec_errc::corrupt_message);
  EXPECT_EQ(parse_ok(batch_around(two, -1, 1)).validate(), codec_errc::negative_length);
  EXPECT_EQ(parse_ok(batch_around(two, 2, -1)).validate(), codec_errc::corrupt_message);
  EXPECT_EQ(parse_ok(batch_around(two, 1000, 2000)).validate(), codec_errc::length_out_of_range);
  bytes bad_codec = batch_around(two, 2, 1);
  bad_codec[22] = 0x05;
  store_be(bad_codec.data() + 17, compute_record_batch_crc(bad_codec));
  EXPECT_EQ(parse_ok(bad_codec).validate(), codec_errc::unsupported_compression);
  record_reader reader;
  EXPECT_EQ(reader.open(parse_ok(bad_codec)), codec_errc::unsupported_compression);
  record_view r;
  EXPECT_FALSE(reader.next(r));
  EXPECT_EQ(reader.error(), codec_errc::unsupported_compression);
}

TEST(RecordBatch, EmptyBatchLeftByCompaction) {
  const bytes empty = batch_around({}, 0, 41);
  const record_batch_view batch = parse_ok(empty);
  EXPECT_FALSE(batch.validate());
  EXPECT_EQ(batch.header().last_offset(), 41);
  std::vector<decoded_record> records;
  EXPECT_FALSE(read_all(batch, records));
  EXPECT_TRUE(records.empty());
}

struct malformed_case {
  const char* name;
  bytes records;
  std::int32_t count;
  std::int32_t last_offset_delta;
  codec_errc expected;
};

TEST(RecordBatch, MalformedRecordsAreRejected) {
  const bytes good0 = raw_record(0, 1, "k", 1, "v");
  const bytes good1 = raw_record(1, 1, "k", 1, "v");
  bytes long_length = good0;
  long_length[0] = static_cast<std::uint8_t>(zigzag32(static_cast<std::int32_t>(good0.size())));  // one byte too long
  bytes short_length = good0;
  // The body is good0.size() - 1 bytes; claim two fewer, so the value's length points past the record's end.
  short_length[0] = static_cast<std::uint8_t>(zigzag32(static_cast<std::int32_t>(good0.size() - 3)));
  bytes header_bytes;
  writer hw(header_bytes);
  hw.write_varint(-1);  // null header key
  hw.write_varint(-1);
  bytes bad_varint = {0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
  bytes negative_length;
  writer nw(negative_length);
  nw.write_varint(-5);

  const std::vector<malformed_case> cases = {
      {"fewer records than recordsCount", good0, 2, 1, codec_errc::corrupt_message},
      {"more records than recordsCount", concat({good0, good1}), 1, 1, codec_errc::trailing_bytes},
      {"record length beyond the batch", concat({good0, long_length}), 2, 1, codec_errc::truncated},
      {"record length shorter than its fields", short_length, 1, 0, codec_errc::length_out_of_range},
      {"fields shorter than the record length", raw_record(0, 1, "k", 1, "v", 0, {0x00}), 1, 0,
       codec_errc::trailing_bytes},  // one stray byte inside the record
      {"key length below -1", raw_record(0, -2, "", 1, "v"), 1, 0, codec_errc::negative_length},
      {"value length beyond the record", raw_record(0, 1, "k", 50, "v"), 1, 0, codec_errc::length_out_of_range},
      {"null header key", raw_record(0, 1, "k", 1, "v", 1, header_bytes), 1, 0, codec_errc::null_not_allowed},
      {"negative header count", raw_record(0, 1, "k", 1, "v", -1), 1, 0, codec_errc::negative_length},
      {"huge header count", raw_record(0, 1, "k", 1, "v", 1000000), 1, 0, codec_errc::length_out_of_range},
      {"overlong varint", bad_varint, 1, 0, codec_errc::invalid_varint},
      {"negative record length", negative_length, 1, 0, codec_errc::negative_length},
      {"repeated offset delta", concat({good0, good0}), 2, 1, codec_errc::corrupt_message},
      {"decreasing offset delta", concat({good1, good0}), 2, 1, codec_errc::corrupt_message},
      {"offset delta past lastOffsetDelta", concat({good0, raw_record(2, 1, "k", 1, "v")}), 2, 1,
       codec_errc::corrupt_message},
      {"negative offset delta", raw_record(-1, 1, "k", 1, "v"), 1, 0, codec_errc::corrupt_message},
  };
  for (auto codec : {compression_codec::none, compression_codec::zstd}) {
    for (const auto& c : cases) {
      const bytes data = batch_around(c.records, c.count, c.last_offset_delta, codec);
      const record_batch_view batch = parse_ok(data);
      std::vector<decoded_record> records;
      EXPECT_EQ(read_all(batch, records), c.expected) << c.name << " / " << to_string(codec);
    }
  }
}

TEST(RecordBatch, CompressedBatchesAreDecompressedWithinTheBound) {
  record_batch_builder_options options;
  options.codec = compression_codec::zstd;
  record_batch_builder builder(options);
  const std::string value(100000, 'z');
  for (int i = 0; i < 50; ++i) builder.append(0, std::nullopt, span_of(value));  // ~5 MB, compresses to little
  bytes out;
  ASSERT_FALSE(builder.build(out));
  EXPECT_LT(out.size(), 10000u);
  const record_batch_view batch = parse_ok(out);
  ASSERT_FALSE(batch.validate());
  record_reader_options small;
  small.max_decompressed_bytes = 1 << 20;
  std::vector<decoded_record> records;
  EXPECT_EQ(read_all(batch, records, small), codec_errc::too_large);
  EXPECT_TRUE(records.empty());
  EXPECT_FALSE(read_all(batch, records));
  EXPECT_EQ(records.size(), 50u);
}

TEST(RecordBatch, ReaderIsReusableAcrossBatches) {
  record_reader reader;
  for (auto codec : all_codecs) {
    record_batch_builder_options options;
    options.codec = codec;
    record_batch_builder builder(options);
    for (int i = 0; i <= static_cast<int>(codec); ++i) builder.append(i, span_of(std::to_string(i)), std::nullopt);
    bytes out;
    ASSERT_FALSE(builder.build(out));
    ASSERT_FALSE(reader.open(parse_ok(out)));
    record_view r;
    int n = 0;
    while (reader.next(r)) EXPECT_EQ(str(r.key), std::optional<std::string>(std::to_string(n++)));
    EXPECT_FALSE(reader.error());
    EXPECT_EQ(n, static_cast<int>(codec) + 1);
  }
}

TEST(RecordBatch, SplitsConcatenatedBatches) {
  bytes records;
  std::vector<std::size_t> sizes;
  for (int b = 0; b < 3; ++b) {
    record_batch_builder_options options;
    options.base_offset = b * 10;
    options.codec = b == 1 ? compression_codec::lz4 : compression_codec::none;
    record_batch_builder builder(options);
    for (int i = 0; i <= b; ++i) builder.append(0, std::nullopt, span_of("v"));
    const std::size_t before = records.size();
    ASSERT_FALSE(builder.build(records));
    sizes.push_back(records.size() - before);
  }
  std::vector<record_batch_view> batches;
  ASSERT_FALSE(split_record_batches(records, batches));
  ASSERT_EQ(batches.size(), 3u);
  for (std::size_t b = 0; b < 3; ++b) {
    EXPECT_EQ(batches[b].size_in_bytes(), sizes[b]);
    EXPECT_EQ(batches[b].header().base_offset, static_cast<std::int64_t>(b * 10));
    EXPECT_EQ(batches[b].header().records_count, static_cast<std::int32_t>(b + 1));
    EXPECT_FALSE(batches[b].validate());
  }
  EXPECT_EQ(batches[1].data().data(), records.data() + sizes[0]);  // views, not copies

  // A fetch response cut inside the third batch: two batches, the rest skipped; a produce request: an error.
  const byte_span cut = byte_span(records).first(sizes[0] + sizes[1] + 30);
  batches.clear();
  EXPECT_EQ(split_record_batches(cut, batches), codec_errc::truncated);
  EXPECT_EQ(batches.size(), 2u);
  batches.clear();
  EXPECT_FALSE(split_record_batches(cut, batches, truncated_tail::allow));
  EXPECT_EQ(batches.size(), 2u);
  record_batch_splitter splitter(cut, truncated_tail::allow);
  record_batch_view batch;
  while (splitter.next(batch)) {
  }
  EXPECT_EQ(splitter.skipped_tail_bytes(), 30u);

  // Garbage that is not a partial batch is an error even where a partial tail is allowed.
  bytes garbage = records;
  garbage.insert(garbage.end(), {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 2});
  batches.clear();
  EXPECT_EQ(split_record_batches(garbage, batches, truncated_tail::allow), codec_errc::corrupt_message);
  EXPECT_EQ(batches.size(), 3u);
  // So is a legacy message set where batches were expected.
  garbage = records;
  garbage.insert(garbage.end(), {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 14, 0, 0, 0, 0, 1});
  batches.clear();
  EXPECT_EQ(split_record_batches(garbage, batches, truncated_tail::allow), codec_errc::unsupported_version);
  batches.clear();
  EXPECT_FALSE(split_record_batches({}, batches));
  EXPECT_TRUE(batches.empty());
}

TEST(RecordBatch, RandomDamageNeverCrashes) {
  // Damage inside the records with a recomputed CRC: the reader must fail cleanly or yield well-formed views.
  record_batch_builder builder;
  const record_header_view headers[] = {{"trace", span_of("abc")}, {"n", std::nullopt}};
  for (int i = 0; i < 20; ++i) builder.append(i, span_of("key"), span_of("some value"), headers);
  bytes original;
  ASSERT_FALSE(builder.build(original));
  std::mt19937 rng(99);
  int failures = 0;
  for (int round = 0; round < 2000; ++round) {
    bytes data = original;
    for (int flips = 1 + static_cast<int>(rng() % 3); flips > 0; --flips)
      data[61 + rng() % (data.size() - 61)] = static_cast<std::uint8_t>(rng());
    store_be(data.data() + 17, compute_record_batch_crc(data));
    const record_batch_view batch = parse_ok(data);
    ASSERT_FALSE(batch.validate());
    record_reader reader;
    ASSERT_FALSE(reader.open(batch));
    record_view r;
    while (reader.next(r)) {
      ASSERT_GE(r.encoded.data(), data.data() + 61);
      ASSERT_LE(r.encoded.data() + r.encoded.size(), data.data() + data.size());
      for (const auto& h : r.headers()) ASSERT_LE(h.key.size(), data.size());
    }
    failures += reader.error() ? 1 : 0;
  }
  EXPECT_GT(failures, 500);
}

// Produce v7 requests captured from real clients (tests/protocol/golden/README.md): every codec as librdkafka,
// kafka-python and KafkaJS frame it. Each batch holds keys key-0..2, timestamps 1700000000000 + i, header h=v on the
// first record; values value-i, or value-i: followed by "golden" x 16 on the compressed topics.
TEST(RecordBatch, DecodesBatchesFromRealClients) {
#ifndef VLTAVA_GOLDEN_DIR
  GTEST_SKIP() << "no golden frames in this build";
#else
  struct capture {
    const char* file;
    compression_codec codec;
    bool idempotent;
  };
  const capture captures[] = {
      {"librdkafka/004_Produce_v7.bin", compression_codec::none, false},
      {"librdkafka/005_Produce_v7.bin", compression_codec::gzip, false},
      {"librdkafka/006_Produce_v7.bin", compression_codec::snappy, false},  // raw snappy
      {"librdkafka/007_Produce_v7.bin", compression_codec::lz4, false},
      {"librdkafka/008_Produce_v7.bin", compression_codec::zstd, false},
      {"librdkafka/010_Produce_v7.bin", compression_codec::none, true},
      {"kafka_python/004_Produce_v7.bin", compression_codec::none, false},
      {"kafka_python/005_Produce_v7.bin", compression_codec::gzip, false},
      {"kafka_python/006_Produce_v7.bin", compression_codec::snappy, false},  // xerial framing
      {"kafka_python/007_Produce_v7.bin", compression_codec::lz4, false},
      {"kafka_python/008_Produce_v7.bin", compression_codec::zstd, false},
      {"kafkajs/003_Produce_v7.bin", compression_codec::none, false},
      {"kafkajs/004_Produce_v7.bin", compression_codec::gzip, false},
      {"kafkajs/005_Produce_v7.bin", compression_codec::snappy, false},
      {"kafkajs/006_Produce_v7.bin", compression_codec::lz4, false},
      {"kafkajs/007_Produce_v7.bin", compression_codec::zstd, false},
  };
  std::string golden_value;
  for (int i = 0; i < 16; ++i) golden_value += "golden";
  for (const auto& c : captures) {
    std::ifstream in(std::string(VLTAVA_GOLDEN_DIR) + "/" + c.file, std::ios::binary);
    ASSERT_TRUE(in) << c.file;
    const bytes frame((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // Request header v1, then the Produce v7 body down to the first partition's records field.
    reader r(frame);
    r.read_int16();                                           // api key
    r.read_int16();                                           // api version
    r.read_int32();                                           // correlation id
    r.read_span(static_cast<std::uint16_t>(r.read_int16()));  // client id
    const std::int16_t transactional_id = r.read_int16();
    if (transactional_id > 0) r.read_span(static_cast<std::size_t>(transactional_id));
    r.read_int16();                // acks
    r.read_int32();                // timeout
    ASSERT_EQ(r.read_int32(), 1);  // topics
    r.read_span(static_cast<std::size_t>(r.read_int16()));
    ASSERT_EQ(r.read_int32(), 1);  // partitions
    r.read_int32();
    const byte_span records = r.read_span(static_cast<std::size_t>(r.read_int32()));
    ASSERT_TRUE(r.ok() && r.at_end()) << c.file;

    std::vector<record_batch_view> batches;
    ASSERT_FALSE(split_record_batches(records, batches)) << c.file;
    ASSERT_EQ(batches.size(), 1u) << c.file;
    const record_batch_view& batch = batches[0];
    ASSERT_FALSE(batch.validate()) << c.file;
    EXPECT_EQ(batch.header().attributes.codec(), c.codec) << c.file;
    EXPECT_EQ(batch.header().records_count, 3);
    EXPECT_EQ(batch.header().producer_id != -1, c.idempotent) << c.file;
    if (c.idempotent) {
      EXPECT_EQ(batch.header().producer_epoch, 0);
      EXPECT_EQ(batch.header().base_sequence, 0);
    }
    record_reader_options produce;
    produce.require_contiguous_offsets = true;
    std::vector<decoded_record> decoded;
    ASSERT_FALSE(read_all(batch, decoded, produce)) << c.file;
    ASSERT_EQ(decoded.size(), 3u);
    for (int i = 0; i < 3; ++i) {
      const auto& d = decoded[static_cast<std::size_t>(i)];
      const std::string n = std::to_string(i);
      EXPECT_EQ(d.offset, i);
      EXPECT_EQ(d.timestamp, 1700000000000 + i) << c.file;
      EXPECT_EQ(d.key, "key-" + n);
      EXPECT_EQ(d.value, c.codec == compression_codec::none ? "value-" + n : "value-" + n + ":" + golden_value)
          << c.file;
      std::vector<std::pair<std::string, std::optional<std::string>>> expected_headers;
      if (i == 0) expected_headers.emplace_back("h", "v");
      EXPECT_EQ(d.headers, expected_headers) << c.file;
    }
  }
#endif
}

}  // namespace
}  // namespace vltava::protocol
