#include "vltava/protocol/legacy_message_set.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "vltava/protocol/crc32c.h"
#include "vltava/protocol/record_batch_builder.h"

namespace vltava::protocol {
namespace {

// Written at test-writing time with Python (struct, zlib.crc32, gzip.compress(mtime=0)), independently of the code
// under test.
// Magic 0, uncompressed: {offset 0, key "a", value "1"}, {offset 1, key null, value "2"}.
constexpr std::uint8_t legacy_v0_plain[] = {
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x56, 0xcf, 0x20, 0x5f, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x01, 0x61, 0x00, 0x00, 0x00, 0x01, 0x31, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
    0x00, 0x0f, 0xa3, 0xbd, 0x3a, 0x7c, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01, 0x32};
// Magic 1 gzip wrapper at offset 5, create time 1000, holding relative offsets 0..2:
// {ts 100, key "x", value "one"}, {ts 200, key null, value "two"}, {ts 300, key "z", value null}.
constexpr std::uint8_t legacy_v1_gzip[] = {
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x65, 0xa4, 0x7a, 0x6e, 0x70, 0x01, 0x01, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xe8, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x4f, 0x1f, 0x8b, 0x08, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0x63, 0x60, 0x80, 0x03, 0xa9, 0x3e, 0x59, 0xee, 0x66, 0x46, 0x18, 0x2f, 0x05,
    0x88, 0x19, 0x2b, 0x80, 0x04, 0x73, 0x7e, 0x5e, 0x2a, 0x54, 0x0c, 0x24, 0x29, 0xf9, 0xc0, 0x20, 0xaa, 0x08, 0xae,
    0xea, 0xc4, 0x7f, 0x20, 0x00, 0x29, 0x2a, 0x29, 0xcf, 0x87, 0x0a, 0x31, 0x01, 0xb1, 0xb8, 0x7d, 0x43, 0x5d, 0x23,
    0x4c, 0x11, 0xa3, 0x0e, 0x88, 0xa8, 0x02, 0xa9, 0x04, 0x00, 0x0a, 0x8e, 0xc6, 0x69, 0x6e, 0x00, 0x00, 0x00};
// The same wrapper with log-append time 9999 (attributes 0x09).
constexpr std::uint8_t legacy_v1_gzip_log_append[] = {
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x65, 0x69, 0x40, 0x2d, 0x08, 0x01, 0x09, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x27, 0x0f, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x4f, 0x1f, 0x8b, 0x08, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0x63, 0x60, 0x80, 0x03, 0xa9, 0x3e, 0x59, 0xee, 0x66, 0x46, 0x18, 0x2f, 0x05,
    0x88, 0x19, 0x2b, 0x80, 0x04, 0x73, 0x7e, 0x5e, 0x2a, 0x54, 0x0c, 0x24, 0x29, 0xf9, 0xc0, 0x20, 0xaa, 0x08, 0xae,
    0xea, 0xc4, 0x7f, 0x20, 0x00, 0x29, 0x2a, 0x29, 0xcf, 0x87, 0x0a, 0x31, 0x01, 0xb1, 0xb8, 0x7d, 0x43, 0x5d, 0x23,
    0x4c, 0x11, 0xa3, 0x0e, 0x88, 0xa8, 0x02, 0xa9, 0x04, 0x00, 0x0a, 0x8e, 0xc6, 0x69, 0x6e, 0x00, 0x00, 0x00};
// Magic 0 gzip wrapper at offset 11 holding absolute offsets {10, key "p", value "q"}, {11, key "r", value "s"}.
constexpr std::uint8_t legacy_v0_gzip[] = {
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0b, 0x00, 0x00, 0x00, 0x43, 0x03, 0x63, 0x4c, 0x24,
    0x00, 0x01, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x35, 0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x02, 0x03, 0x63, 0x60, 0x00, 0x03, 0x2e, 0x20, 0x16, 0x78, 0x31, 0x73, 0xc3, 0x47,
    0x30, 0x8f, 0xb1, 0x00, 0x44, 0x14, 0x42, 0xa4, 0x18, 0xb8, 0x41, 0x72, 0xde, 0xf1, 0x05, 0xd7,
    0x20, 0x72, 0x45, 0x20, 0xa2, 0x18, 0x00, 0x60, 0xb7, 0x80, 0x36, 0x38, 0x00, 0x00, 0x00};

byte_span span_of(std::string_view s) { return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()}; }
std::optional<std::string> str(const std::optional<byte_span>& b) {
  if (!b) return std::nullopt;
  return std::string(b->begin(), b->end());
}
std::optional<byte_span> opt(const std::optional<std::string>& s) {
  if (!s) return std::nullopt;
  return span_of(*s);
}

bytes concat(std::initializer_list<byte_span> parts) {
  bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// One legacy message written field by field, for shapes the writer refuses to produce.
bytes message(std::int64_t offset, std::int8_t magic, std::int8_t attributes, std::int64_t timestamp,
              std::optional<byte_span> key, std::optional<byte_span> value) {
  bytes body;
  writer b(body);
  b.write_int8(magic);
  b.write_int8(attributes);
  if (magic == 1) b.write_int64(timestamp);
  for (const auto& field : {key, value}) {
    b.write_int32(field ? static_cast<std::int32_t>(field->size()) : -1);
    if (field) b.write_raw(*field);
  }
  bytes out;
  writer w(out);
  w.write_int64(offset);
  w.write_int32(static_cast<std::int32_t>(body.size() + 4));
  w.write_uint32(crc32_ieee(body));
  w.write_raw(byte_span(body));
  return out;
}

bytes gzip_of(byte_span data) {
  bytes out;
  EXPECT_FALSE(compress(compression_codec::gzip, data, out));
  return out;
}

struct converted_record {
  std::int64_t offset;
  std::int64_t timestamp;
  std::optional<std::string> key;
  std::optional<std::string> value;
  bool operator==(const converted_record&) const = default;
};

struct converted_batch {
  compression_codec codec;
  timestamp_type timestamps;
  std::vector<converted_record> records;
};

// Converts and reads back every batch, checking each is a valid magic 2 batch.
std::vector<converted_batch> convert(byte_span set, const legacy_conversion_options& options = {}) {
  bytes out;
  EXPECT_FALSE(convert_legacy_message_set(set, out, options));
  std::vector<record_batch_view> views;
  EXPECT_FALSE(split_record_batches(out, views));
  std::vector<converted_batch> batches;
  for (const auto& view : views) {
    EXPECT_FALSE(view.validate());
    converted_batch batch{view.header().attributes.codec(), view.header().attributes.timestamps(), {}};
    record_reader reader;
    EXPECT_FALSE(reader.open(view));
    record_view r;
    while (reader.next(r)) batch.records.push_back({view.offset_of(r), view.timestamp_of(r), str(r.key), str(r.value)});
    EXPECT_FALSE(reader.error());
    EXPECT_EQ(view.header().producer_id, -1);
    EXPECT_EQ(view.header().base_sequence, -1);
    batches.push_back(std::move(batch));
  }
  return batches;
}

std::error_code convert_error(byte_span set, const legacy_conversion_options& options = {}) {
  bytes out = {7};
  auto ec = convert_legacy_message_set(set, out, options);
  EXPECT_EQ(out, bytes{7});  // untouched on failure
  return ec;
}

TEST(Legacy, ReadsMagic0Messages) {
  legacy_message_reader reader(legacy_v0_plain);
  legacy_message_view m;
  ASSERT_TRUE(reader.next(m));
  EXPECT_EQ(m.offset, 0);
  EXPECT_EQ(m.magic, 0);
  EXPECT_EQ(m.crc, 0x56cf205fu);
  EXPECT_EQ(m.codec(), compression_codec::none);
  EXPECT_EQ(m.timestamp, -1);
  EXPECT_EQ(str(m.key), "a");
  EXPECT_EQ(str(m.value), "1");
  EXPECT_EQ(m.encoded.size(), 28u);
  ASSERT_TRUE(reader.next(m));
  EXPECT_EQ(m.offset, 1);
  EXPECT_FALSE(m.key);
  EXPECT_EQ(str(m.value), "2");
  EXPECT_FALSE(reader.next(m));
  EXPECT_FALSE(reader.error());
}

TEST(Legacy, ReadsMagic1WrapperShallowly) {
  legacy_message_reader reader(legacy_v1_gzip);
  legacy_message_view m;
  ASSERT_TRUE(reader.next(m));
  EXPECT_EQ(m.offset, 5);
  EXPECT_EQ(m.magic, 1);
  EXPECT_EQ(m.codec(), compression_codec::gzip);
  EXPECT_EQ(m.timestamps(), timestamp_type::create_time);
  EXPECT_EQ(m.timestamp, 1000);
  EXPECT_FALSE(m.key);
  ASSERT_TRUE(m.value);
  EXPECT_FALSE(reader.next(m));
  EXPECT_FALSE(reader.error());
}

TEST(Legacy, ConvertsUncompressedMagic0) {
  const auto batches = convert(legacy_v0_plain);
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(batches[0].codec, compression_codec::none);
  EXPECT_EQ(batches[0].timestamps, timestamp_type::create_time);
  EXPECT_EQ(batches[0].records, (std::vector<converted_record>{{0, -1, "a", "1"}, {1, -1, std::nullopt, "2"}}));
}

TEST(Legacy, ConvertsMagic1GzipWrapperWithRelativeOffsets) {
  const auto batches = convert(legacy_v1_gzip);
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(batches[0].codec, compression_codec::gzip);
  EXPECT_EQ(batches[0].timestamps, timestamp_type::create_time);
  EXPECT_EQ(batches[0].records, (std::vector<converted_record>{
                                    {3, 100, "x", "one"}, {4, 200, std::nullopt, "two"}, {5, 300, "z", std::nullopt}}));
}

TEST(Legacy, LogAppendTimeWrapperStampsEveryRecord) {
  const auto batches = convert(legacy_v1_gzip_log_append);
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(batches[0].timestamps, timestamp_type::log_append_time);
  ASSERT_EQ(batches[0].records.size(), 3u);
  for (const auto& r : batches[0].records) EXPECT_EQ(r.timestamp, 9999);
}

TEST(Legacy, ConvertsMagic0GzipWrapperWithAbsoluteOffsets) {
  const auto batches = convert(legacy_v0_gzip);
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(batches[0].codec, compression_codec::gzip);
  EXPECT_EQ(batches[0].records, (std::vector<converted_record>{{10, -1, "p", "q"}, {11, -1, "r", "s"}}));
}

TEST(Legacy, MixedSetBecomesOneBatchPerRunAndWrapper) {
  const bytes v1_plain = message(12, 1, 0, 5000, span_of("m"), span_of("n"));
  const bytes v1_log_append = message(13, 1, 0x08, 6000, std::nullopt, span_of("o"));
  const bytes set = concat({legacy_v0_plain, legacy_v1_gzip, legacy_v0_gzip, v1_plain, v1_log_append});
  const auto batches = convert(set);
  ASSERT_EQ(batches.size(), 5u);
  EXPECT_EQ(batches[0].records.size(), 2u);
  EXPECT_EQ(batches[1].records.front().offset, 3);
  EXPECT_EQ(batches[2].records.front().offset, 10);
  EXPECT_EQ(batches[3].records, (std::vector<converted_record>{{12, 5000, "m", "n"}}));
  EXPECT_EQ(batches[4].timestamps, timestamp_type::log_append_time);
  EXPECT_EQ(batches[4].records, (std::vector<converted_record>{{13, 6000, std::nullopt, "o"}}));

  // Offsets that go backwards are corrupt when they are to be kept...
  const bytes backwards = concat({legacy_v1_gzip, legacy_v0_plain});
  EXPECT_EQ(convert_error(backwards), codec_errc::corrupt_message);
  // ...and ignored for a produce request, where records are numbered in order.
  legacy_conversion_options produce;
  produce.preserve_offsets = false;
  const auto renumbered = convert(backwards, produce);
  ASSERT_EQ(renumbered.size(), 2u);
  EXPECT_EQ(renumbered[0].records[0].offset, 0);
  EXPECT_EQ(renumbered[0].records[2].offset, 2);
  EXPECT_EQ(renumbered[1].records[0].offset, 3);
  EXPECT_EQ(renumbered[1].records[1].offset, 4);
}

TEST(Legacy, ProduceStyleSetWithAllOffsetsZero) {
  const bytes set =
      concat({message(0, 1, 0, 1, span_of("a"), span_of("b")), message(0, 1, 0, 2, span_of("c"), span_of("d"))});
  EXPECT_EQ(convert_error(set), codec_errc::corrupt_message);
  legacy_conversion_options produce;
  produce.preserve_offsets = false;
  const auto batches = convert(set, produce);
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(batches[0].records, (std::vector<converted_record>{{0, 1, "a", "b"}, {1, 2, "c", "d"}}));
}

TEST(Legacy, OutputCodecCanBeChosen) {
  legacy_conversion_options options;
  options.output_codec = compression_codec::zstd;
  const auto batches = convert(concat({legacy_v0_plain, legacy_v1_gzip}), options);
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches[0].codec, compression_codec::zstd);
  EXPECT_EQ(batches[1].codec, compression_codec::zstd);
  EXPECT_EQ(batches[1].records.size(), 3u);
}

TEST(Legacy, EveryCorruptByteIsDetected) {
  for (byte_span set : {byte_span(legacy_v0_plain), byte_span(legacy_v1_gzip)}) {
    bytes data(set.begin(), set.end());
    for (std::size_t i = 0; i < data.size(); ++i) {
      data[i] ^= 0x20;
      bytes out;
      const auto ec = convert_legacy_message_set(data, out);
      const bool in_offset = (i < 8) || (set.size() == sizeof(legacy_v0_plain) && i >= 28 && i < 36);
      if (in_offset) {
        // Offsets are outside the CRC; a changed offset may still convert (or go backwards).
        EXPECT_TRUE(!ec || ec == codec_errc::corrupt_message) << i;
      } else {
        EXPECT_TRUE(ec) << "byte " << i;
      }
      data[i] ^= 0x20;
    }
  }
}

TEST(Legacy, EveryTruncationIsRejectedOrSkipped) {
  const bytes set = concat({legacy_v0_plain, legacy_v1_gzip});
  for (std::size_t cut = 1; cut < set.size(); ++cut) {
    if (cut == 28 || cut == sizeof(legacy_v0_plain)) continue;  // message boundaries: a valid shorter set
    const byte_span part = byte_span(set).first(cut);
    EXPECT_EQ(convert_error(part), codec_errc::truncated) << cut;
    legacy_conversion_options fetch;
    fetch.tail = truncated_tail::allow;
    std::size_t expected_records = cut < 28 ? 0 : cut < sizeof(legacy_v0_plain) ? 1 : 2;
    std::size_t records = 0;
    for (const auto& batch : convert(part, fetch)) records += batch.records.size();
    EXPECT_EQ(records, expected_records) << cut;
  }
}

TEST(Legacy, RejectsMalformedWrappers) {
  const bytes inner_v1 =
      concat({message(0, 1, 0, 1, std::nullopt, span_of("a")), message(1, 1, 0, 2, std::nullopt, span_of("b"))});
  const bytes inner_v0 = message(0, 0, 0, 0, std::nullopt, span_of("a"));
  // A compressed message inside a wrapper: nesting goes one level deep only.
  const bytes nested_wrapper = message(0, 1, 1, 0, std::nullopt, gzip_of(inner_v1));
  EXPECT_EQ(convert_error(message(1, 1, 1, 0, std::nullopt, gzip_of(nested_wrapper))), codec_errc::corrupt_message);
  // Inner magic different from the wrapper's.
  EXPECT_EQ(convert_error(message(1, 1, 1, 0, std::nullopt, gzip_of(inner_v0))), codec_errc::corrupt_message);
  // A wrapper with no value, or with an empty inner set.
  EXPECT_EQ(convert_error(message(1, 1, 1, 0, std::nullopt, std::nullopt)), codec_errc::corrupt_message);
  EXPECT_EQ(convert_error(message(1, 1, 1, 0, std::nullopt, gzip_of({}))), codec_errc::corrupt_message);
  // A value that is not gzip at all.
  EXPECT_EQ(convert_error(message(1, 1, 1, 0, std::nullopt, span_of("not gzip"))), codec_errc::decompression_failed);
  // Codec bits 5-7, and zstd, which no legacy producer could use.
  EXPECT_EQ(convert_error(message(1, 1, 5, 0, std::nullopt, span_of("x"))), codec_errc::unsupported_compression);
  EXPECT_EQ(convert_error(message(1, 1, 4, 0, std::nullopt, span_of("x"))), codec_errc::unsupported_compression);
  // An inner set cut short.
  const bytes cut_inner(inner_v1.begin(), inner_v1.end() - 1);
  EXPECT_EQ(convert_error(message(1, 1, 1, 0, std::nullopt, gzip_of(cut_inner))), codec_errc::truncated);
  // Magic 2 where a legacy set was expected; a message size too small to be one.
  bytes magic2 = message(0, 1, 0, 0, std::nullopt, span_of("a"));
  magic2[16] = 2;
  EXPECT_EQ(convert_error(magic2), codec_errc::unsupported_version);
  bytes tiny = message(0, 0, 0, 0, std::nullopt, std::nullopt);
  store_be<std::int32_t>(tiny.data() + 8, 13);
  EXPECT_EQ(convert_error(tiny), codec_errc::corrupt_message);
}

TEST(Legacy, DecompressionIsBoundedAcrossTheSet) {
  const std::string big(400000, 'q');
  legacy_message_set_writer writer(1, compression_codec::gzip);
  writer.append(0, 1, std::nullopt, span_of(big));
  bytes wrapper;
  ASSERT_FALSE(writer.finish(wrapper));
  const std::size_t first = wrapper.size();
  writer.append(1, 1, std::nullopt, span_of(big));
  ASSERT_FALSE(writer.finish(wrapper));
  legacy_conversion_options options;
  options.max_decompressed_bytes = 600000;  // enough for each wrapper, not for both
  bytes out;
  EXPECT_FALSE(convert_legacy_message_set(byte_span(wrapper).first(first), out, options));
  EXPECT_EQ(convert_error(wrapper, options), codec_errc::too_large);
}

TEST(Legacy, WriterRoundTripsEveryMagicAndCodec) {
  for (std::int8_t magic : {0, 1}) {
    for (auto codec :
         {compression_codec::none, compression_codec::gzip, compression_codec::snappy, compression_codec::lz4}) {
      legacy_message_set_writer writer(magic, codec);
      std::vector<converted_record> expected;
      for (int i = 0; i < 5; ++i) {
        const std::int64_t offset = 1000 + i * 2;  // gaps survive
        std::optional<std::string> key = i % 2 ? std::optional<std::string>("k" + std::to_string(i)) : std::nullopt;
        std::optional<std::string> value = i == 3 ? std::nullopt : std::optional<std::string>(std::string(i * 10, 'v'));
        writer.append(offset, 500 + i, opt(key), opt(value));
        expected.push_back({offset, magic == 0 ? -1 : 500 + i, key, value});
      }
      bytes set;
      ASSERT_FALSE(writer.finish(set));
      // The raw structure: one wrapper holding everything when compressed, its offset the last inner one.
      legacy_message_reader reader(set);
      legacy_message_view m;
      std::size_t top_level = 0;
      while (reader.next(m)) {
        ++top_level;
        EXPECT_EQ(m.magic, magic);
        if (codec != compression_codec::none) {
          EXPECT_EQ(m.offset, 1008);
          EXPECT_EQ(m.codec(), codec);
          if (magic == 1) {
            EXPECT_EQ(m.timestamp, 504);
          }
        }
      }
      EXPECT_FALSE(reader.error());
      EXPECT_EQ(top_level, codec == compression_codec::none ? 5u : 1u);

      const auto batches = convert(set);
      ASSERT_EQ(batches.size(), 1u) << int(magic) << " " << to_string(codec);
      EXPECT_EQ(batches[0].codec, codec);
      EXPECT_EQ(batches[0].records, expected) << int(magic) << " " << to_string(codec);
    }
  }
}

TEST(Legacy, Magic0Lz4UsesTheLegacyDescriptorChecksum) {
  legacy_message_set_writer writer(0, compression_codec::lz4);
  writer.append(0, -1, std::nullopt, span_of("lz4 in the old days"));
  bytes set;
  ASSERT_FALSE(writer.finish(set));
  legacy_message_reader reader(set);
  legacy_message_view m;
  ASSERT_TRUE(reader.next(m));
  bytes out;
  EXPECT_EQ(decompress(compression_codec::lz4, *m.value, out, 1 << 20), codec_errc::decompression_failed);
  decompression_options legacy;
  legacy.lz4_legacy_header_checksum = true;
  EXPECT_FALSE(decompress(compression_codec::lz4, *m.value, out, 1 << 20, legacy));
  // Magic 1 writes the proper checksum.
  legacy_message_set_writer writer1(1, compression_codec::lz4);
  writer1.append(0, 1, std::nullopt, span_of("lz4 fixed"));
  bytes set1;
  ASSERT_FALSE(writer1.finish(set1));
  legacy_message_reader reader1(set1);
  ASSERT_TRUE(reader1.next(m));
  out.clear();
  EXPECT_FALSE(decompress(compression_codec::lz4, *m.value, out, 1 << 20));
}

TEST(Legacy, WriterRefusesWhatLegacyFormatsCannotHold) {
  bytes out;
  legacy_message_set_writer zstd(1, compression_codec::zstd);
  zstd.append(0, 0, std::nullopt, span_of("x"));
  EXPECT_EQ(zstd.finish(out), codec_errc::unsupported_compression);
  legacy_message_set_writer magic2(2);
  magic2.append(0, 0, std::nullopt, span_of("x"));
  EXPECT_EQ(magic2.finish(out), codec_errc::unsupported_version);
  EXPECT_TRUE(out.empty());
  legacy_message_set_writer empty(1, compression_codec::gzip);
  EXPECT_FALSE(empty.finish(out));
  EXPECT_TRUE(out.empty());
}

TEST(Legacy, DownConvertsRecordBatches) {
  record_batch_builder_options options;
  options.codec = compression_codec::snappy;
  options.base_offset = 70;
  record_batch_builder builder(options);
  const record_header_view headers[] = {{"dropped", span_of("h")}};
  builder.append(111, span_of("k"), span_of("v"), headers);
  builder.append(222, std::nullopt, std::nullopt);
  ASSERT_FALSE(builder.append_at(5, 333, span_of("k5"), span_of("v5")));
  bytes batch_bytes;
  ASSERT_FALSE(builder.build(batch_bytes));
  record_batch_view batch;
  ASSERT_FALSE(record_batch_view::parse(batch_bytes, batch));

  for (std::int8_t magic : {0, 1}) {
    bytes set;
    ASSERT_FALSE(down_convert_record_batch(batch, magic, set));
    const auto back = convert(set);
    ASSERT_EQ(back.size(), 1u);
    EXPECT_EQ(back[0].codec, compression_codec::snappy);
    const std::int64_t t = magic == 0 ? -1 : 0;
    EXPECT_EQ(back[0].records, (std::vector<converted_record>{{70, t ? t : 111, "k", "v"},
                                                              {71, t ? t : 222, std::nullopt, std::nullopt},
                                                              {75, t ? t : 333, "k5", "v5"}}))
        << int(magic);
  }

  // Control batches mean nothing to old clients; zstd cannot be expressed.
  record_batch_builder_options control_options;
  control_options.control = true;
  record_batch_builder control(control_options);
  control.append(0, span_of("\0\0\0\1"), span_of("\0\0\0\0\0\0"));
  bytes control_bytes;
  ASSERT_FALSE(control.build(control_bytes));
  ASSERT_FALSE(record_batch_view::parse(control_bytes, batch));
  bytes set;
  EXPECT_FALSE(down_convert_record_batch(batch, 1, set));
  EXPECT_TRUE(set.empty());

  record_batch_builder_options zstd_options;
  zstd_options.codec = compression_codec::zstd;
  record_batch_builder zstd(zstd_options);
  zstd.append(0, std::nullopt, span_of("z"));
  bytes zstd_bytes;
  ASSERT_FALSE(zstd.build(zstd_bytes));
  ASSERT_FALSE(record_batch_view::parse(zstd_bytes, batch));
  EXPECT_EQ(down_convert_record_batch(batch, 1, set), codec_errc::unsupported_compression);
  EXPECT_TRUE(set.empty());
}

}  // namespace
}  // namespace vltava::protocol
