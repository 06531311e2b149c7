#include "vltava/protocol/compression.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <string_view>

namespace vltava::protocol {
namespace {

constexpr std::string_view fixture_text =
    "Vltava compression fixture. Vltava compression fixture. Vltava compression fixture!\n";

// Produced at test-writing time by the reference command-line tools from fixture_text:
//   gzip -9 -n
constexpr std::uint8_t gzip_fixture[] = {
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0x0b, 0xcb, 0x29, 0x49, 0x2c, 0x4b, 0x54, 0x48,
    0xce, 0xcf, 0x2d, 0x28, 0x4a, 0x2d, 0x2e, 0xce, 0xcc, 0xcf, 0x53, 0x48, 0xcb, 0xac, 0x28, 0x29, 0x2d, 0x4a,
    0xd5, 0x53, 0x08, 0x23, 0x4b, 0x4e, 0x91, 0x0b, 0x00, 0x43, 0xce, 0x6d, 0x0f, 0x54, 0x00, 0x00, 0x00};
//   lz4 (1.9.4, defaults: independent blocks, content checksum)
constexpr std::uint8_t lz4_fixture[] = {0x04, 0x22, 0x4d, 0x18, 0x64, 0x40, 0xa7, 0x27, 0x00, 0x00, 0x00, 0xff,
                                        0x0d, 0x56, 0x6c, 0x74, 0x61, 0x76, 0x61, 0x20, 0x63, 0x6f, 0x6d, 0x70,
                                        0x72, 0x65, 0x73, 0x73, 0x69, 0x6f, 0x6e, 0x20, 0x66, 0x69, 0x78, 0x74,
                                        0x75, 0x72, 0x65, 0x2e, 0x20, 0x1c, 0x00, 0x20, 0x50, 0x75, 0x72, 0x65,
                                        0x21, 0x0a, 0x00, 0x00, 0x00, 0x00, 0xaa, 0x99, 0xc1, 0x51};
//   lz4 --content-size (the descriptor grows to 14 bytes, so its checksum covers more than 16 bytes)
constexpr std::uint8_t lz4_content_size_fixture[] = {
    0x04, 0x22, 0x4d, 0x18, 0x6c, 0x40, 0x54, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x9f, 0x27, 0x00,
    0x00, 0x00, 0xff, 0x0d, 0x56, 0x6c, 0x74, 0x61, 0x76, 0x61, 0x20, 0x63, 0x6f, 0x6d, 0x70, 0x72, 0x65,
    0x73, 0x73, 0x69, 0x6f, 0x6e, 0x20, 0x66, 0x69, 0x78, 0x74, 0x75, 0x72, 0x65, 0x2e, 0x20, 0x1c, 0x00,
    0x20, 0x50, 0x75, 0x72, 0x65, 0x21, 0x0a, 0x00, 0x00, 0x00, 0x00, 0xaa, 0x99, 0xc1, 0x51};
// The descriptor checksums these frames would carry if written by a magic 0 Kafka producer: XXH32 over the magic
// number and descriptor (computed with an independent XXH32 implementation at test-writing time).
constexpr std::size_t lz4_fixture_checksum_at = 6;
constexpr std::uint8_t lz4_fixture_legacy_checksum = 0x0c;
constexpr std::size_t lz4_content_size_fixture_checksum_at = 14;
constexpr std::uint8_t lz4_content_size_fixture_legacy_checksum = 0x85;
//   zstd -19 file (the frame states its content size)
constexpr std::uint8_t zstd_fixture[] = {0x28, 0xb5, 0x2f, 0xfd, 0x24, 0x54, 0x2d, 0x01, 0x00, 0xf0, 0x56, 0x6c, 0x74,
                                         0x61, 0x76, 0x61, 0x20, 0x63, 0x6f, 0x6d, 0x70, 0x72, 0x65, 0x73, 0x73, 0x69,
                                         0x6f, 0x6e, 0x20, 0x66, 0x69, 0x78, 0x74, 0x75, 0x72, 0x65, 0x2e, 0x20, 0x21,
                                         0x0a, 0x01, 0x00, 0xec, 0xcf, 0xe9, 0x04, 0xfe, 0xae, 0x9c, 0x1b};
//   cat file | zstd (streamed: no content size, as the Java client writes)
constexpr std::uint8_t zstd_stream_fixture[] = {
    0x28, 0xb5, 0x2f, 0xfd, 0x04, 0x58, 0x2d, 0x01, 0x00, 0xf0, 0x56, 0x6c, 0x74, 0x61, 0x76, 0x61, 0x20,
    0x63, 0x6f, 0x6d, 0x70, 0x72, 0x65, 0x73, 0x73, 0x69, 0x6f, 0x6e, 0x20, 0x66, 0x69, 0x78, 0x74, 0x75,
    0x72, 0x65, 0x2e, 0x20, 0x21, 0x0a, 0x01, 0x00, 0xec, 0xcf, 0xe9, 0x04, 0xfe, 0xae, 0x9c, 0x1b};

// Raw snappy written by hand from the format description: varint length 12, a 4-byte literal "abcd", then a
// copy of 8 bytes from offset 4 (tag 0x11 = copy with 1-byte offset, length 8).
constexpr std::uint8_t snappy_raw_fixture[] = {0x0c, 0x0c, 'a', 'b', 'c', 'd', 0x11, 0x04};
// The xerial framing as snappy-java writes it: magic, version 1, compatible version 1, then two blocks
// (the one above and a literal "hello").
constexpr std::uint8_t snappy_xerial_fixture[] = {0x82, 'S',  'N', 'A', 'P', 'P', 'Y',  0,    0,    0,   0,   1,   0,
                                                  0,    0,    1,   0,   0,   0,   8,    0x0c, 0x0c, 'a', 'b', 'c', 'd',
                                                  0x11, 0x04, 0,   0,   0,   7,   0x05, 0x10, 'h',  'e', 'l', 'l', 'o'};

constexpr compression_codec all_codecs[] = {compression_codec::none, compression_codec::gzip, compression_codec::snappy,
                                            compression_codec::lz4, compression_codec::zstd};

std::string as_string(const bytes& b) { return {b.begin(), b.end()}; }

// Random words from a small vocabulary: compresses well, but not trivially.
bytes compressible_data(std::size_t n, std::uint32_t seed) {
  static constexpr std::string_view words[] = {"topic",    "partition", "offset", "leader", "replica", "broker",
                                               "consumer", "group",     "commit", "fetch",  "produce", "batch"};
  std::mt19937 rng(seed);
  bytes out;
  out.reserve(n + 16);
  while (out.size() < n) {
    auto word = words[rng() % std::size(words)];
    out.insert(out.end(), word.begin(), word.end());
    out.push_back(' ');
  }
  out.resize(n);
  return out;
}

bytes random_data(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  bytes out(n);
  for (auto& b : out) b = static_cast<std::uint8_t>(rng());
  return out;
}

std::error_code unpack(compression_codec codec, byte_span input, bytes& out, std::size_t bound = 1 << 20,
                       decompression_options options = {}) {
  return decompress(codec, input, out, bound, options);
}

TEST(Compression, DecodesReferenceToolOutput) {
  struct fixture {
    compression_codec codec;
    byte_span data;
  };
  for (const auto& f :
       {fixture{compression_codec::gzip, gzip_fixture}, fixture{compression_codec::lz4, lz4_fixture},
        fixture{compression_codec::lz4, lz4_content_size_fixture}, fixture{compression_codec::zstd, zstd_fixture},
        fixture{compression_codec::zstd, zstd_stream_fixture}}) {
    bytes out;
    ASSERT_FALSE(unpack(f.codec, f.data, out)) << to_string(f.codec);
    EXPECT_EQ(as_string(out), fixture_text) << to_string(f.codec);
  }
}

TEST(Compression, DecodesRawAndXerialSnappy) {
  bytes out;
  ASSERT_FALSE(unpack(compression_codec::snappy, snappy_raw_fixture, out));
  EXPECT_EQ(as_string(out), "abcdabcdabcd");
  out.clear();
  ASSERT_FALSE(unpack(compression_codec::snappy, snappy_xerial_fixture, out));
  EXPECT_EQ(as_string(out), "abcdabcdabcdhello");
}

TEST(Compression, XerialHeaderWithoutBlocksIsEmpty) {
  bytes out;
  ASSERT_FALSE(unpack(compression_codec::snappy, byte_span(snappy_xerial_fixture).first(16), out));
  EXPECT_TRUE(out.empty());
}

TEST(Compression, RejectsBrokenXerialFraming) {
  const byte_span xerial(snappy_xerial_fixture);
  bytes framed(xerial.begin(), xerial.end());
  bytes out;
  // Every cut inside the header or a block is an error, never a partial success.
  for (std::size_t cut = 8; cut < framed.size(); ++cut) {
    if (cut == 16 || cut == 28) continue;  // exactly after the header or after the first block: valid
    EXPECT_TRUE(unpack(compression_codec::snappy, xerial.first(cut), out)) << cut;
    EXPECT_TRUE(out.empty()) << cut;
  }
  store_be<std::int32_t>(framed.data() + 16, 1000);  // block length beyond the input
  EXPECT_EQ(unpack(compression_codec::snappy, framed, out), codec_errc::decompression_failed);
  store_be<std::int32_t>(framed.data() + 16, -1);
  EXPECT_EQ(unpack(compression_codec::snappy, framed, out), codec_errc::decompression_failed);
}

TEST(Compression, WritesXerialSnappyByDefaultAndRawOnRequest) {
  const bytes data = compressible_data(100000, 5);
  bytes xerial;
  ASSERT_FALSE(compress(compression_codec::snappy, data, xerial));
  ASSERT_GE(xerial.size(), 16u);
  EXPECT_TRUE(std::equal(snappy_xerial_fixture, snappy_xerial_fixture + 16, xerial.begin()));
  // 32 KiB blocks, as snappy-java writes: 100000 bytes make four.
  std::size_t blocks = 0;
  for (std::size_t at = 16; at < xerial.size(); at += 4 + static_cast<std::size_t>(load_be<std::int32_t>(&xerial[at])))
    ++blocks;
  EXPECT_EQ(blocks, 4u);

  compression_options raw_options;
  raw_options.snappy = snappy_framing::raw;
  bytes raw;
  ASSERT_FALSE(compress(compression_codec::snappy, data, raw, raw_options));
  EXPECT_NE(raw[0], 0x82);
  for (const bytes* encoded : {&xerial, &raw}) {
    bytes out;
    ASSERT_FALSE(unpack(compression_codec::snappy, *encoded, out));
    EXPECT_EQ(out, data);
  }
}

TEST(Compression, RoundTripsEveryCodecAndSize) {
  for (auto codec : all_codecs) {
    for (std::size_t size : {0ul, 1ul, 100ul, 65536ul, 65537ul, 300000ul}) {
      for (bool compressible : {true, false}) {
        const bytes data = compressible ? compressible_data(size, 7) : random_data(size, 8);
        bytes packed;
        ASSERT_FALSE(compress(codec, data, packed)) << to_string(codec) << " " << size;
        bytes out = {9, 9};  // decompression appends
        ASSERT_FALSE(unpack(codec, packed, out, 1 << 20)) << to_string(codec) << " " << size;
        ASSERT_EQ(out.size(), data.size() + 2);
        EXPECT_TRUE(std::equal(data.begin(), data.end(), out.begin() + 2)) << to_string(codec) << " " << size;
        if (codec != compression_codec::none && compressible && size == 300000) {
          EXPECT_LT(packed.size(), size / 2) << to_string(codec);
        }
      }
    }
  }
}

TEST(Compression, HonoursLevels) {
  const bytes data = compressible_data(200000, 9);
  for (auto codec : {compression_codec::gzip, compression_codec::lz4, compression_codec::zstd}) {
    compression_options fast, strong;
    fast.level = 1;
    strong.level = codec == compression_codec::zstd ? 19 : 9;
    bytes a, b;
    ASSERT_FALSE(compress(codec, data, a, fast));
    ASSERT_FALSE(compress(codec, data, b, strong));
    EXPECT_LE(b.size(), a.size()) << to_string(codec);
    bytes out;
    ASSERT_FALSE(unpack(codec, b, out));
    EXPECT_EQ(out, data);
  }
}

TEST(Compression, Lz4FramesAreWhatKafkaReadersAccept) {
  const bytes data = compressible_data(200000, 10);
  bytes packed;
  ASSERT_FALSE(compress(compression_codec::lz4, data, packed));
  ASSERT_GE(packed.size(), 7u);
  EXPECT_EQ(load_be<std::uint32_t>(packed.data()), 0x04224D18u);  // little-endian 0x184D2204
  const std::uint8_t flags = packed[4];
  EXPECT_EQ(flags >> 6, 1);    // version 01
  EXPECT_TRUE(flags & 0x20);   // independent blocks: Java's reader requires them
  EXPECT_FALSE(flags & 0x08);  // no content size
  EXPECT_FALSE(flags & 0x10);  // no block checksums
  EXPECT_EQ(packed[5], 0x40);  // 64 KiB blocks
}

TEST(Compression, Lz4LegacyHeaderChecksum) {
  struct fixture {
    const std::uint8_t* data;
    std::size_t size;
    std::size_t checksum_at;
    std::uint8_t legacy;
  };
  for (const auto& f : {fixture{lz4_fixture, sizeof(lz4_fixture), lz4_fixture_checksum_at, lz4_fixture_legacy_checksum},
                        fixture{lz4_content_size_fixture, sizeof(lz4_content_size_fixture),
                                lz4_content_size_fixture_checksum_at, lz4_content_size_fixture_legacy_checksum}}) {
    bytes legacy(f.data, f.data + f.size);
    legacy[f.checksum_at] = f.legacy;
    decompression_options accept_legacy;
    accept_legacy.lz4_legacy_header_checksum = true;
    bytes out;
    EXPECT_EQ(unpack(compression_codec::lz4, legacy, out), codec_errc::decompression_failed);
    ASSERT_FALSE(unpack(compression_codec::lz4, legacy, out, 1 << 20, accept_legacy));
    EXPECT_EQ(as_string(out), fixture_text);
    // The proper checksum is still accepted with the option; anything else is not.
    out.clear();
    ASSERT_FALSE(unpack(compression_codec::lz4, byte_span(f.data, f.size), out, 1 << 20, accept_legacy));
    EXPECT_EQ(as_string(out), fixture_text);
    legacy[f.checksum_at] = static_cast<std::uint8_t>(f.legacy + 1);
    if (legacy[f.checksum_at] != f.data[f.checksum_at]) {
      EXPECT_EQ(unpack(compression_codec::lz4, legacy, out, 1 << 20, accept_legacy), codec_errc::decompression_failed);
    }
  }
}

TEST(Compression, WritesLegacyLz4HeaderChecksumOnRequest) {
  const bytes data = compressible_data(5000, 11);
  compression_options legacy;
  legacy.lz4_legacy_header_checksum = true;
  bytes proper, broken;
  ASSERT_FALSE(compress(compression_codec::lz4, data, proper));
  ASSERT_FALSE(compress(compression_codec::lz4, data, broken, legacy));
  ASSERT_EQ(proper.size(), broken.size());
  EXPECT_NE(proper[6], broken[6]);
  EXPECT_TRUE(std::equal(proper.begin() + 7, proper.end(), broken.begin() + 7));
  bytes out;
  EXPECT_TRUE(unpack(compression_codec::lz4, broken, out));
  decompression_options accept_legacy;
  accept_legacy.lz4_legacy_header_checksum = true;
  ASSERT_FALSE(unpack(compression_codec::lz4, broken, out, 1 << 20, accept_legacy));
  EXPECT_EQ(out, data);
}

TEST(Compression, ConcatenatedFramesAndMembers) {
  for (auto codec : {compression_codec::gzip, compression_codec::lz4, compression_codec::zstd}) {
    const bytes a = compressible_data(70000, 12), b = compressible_data(1000, 13);
    bytes packed;
    ASSERT_FALSE(compress(codec, a, packed));
    ASSERT_FALSE(compress(codec, b, packed));
    bytes out;
    ASSERT_FALSE(unpack(codec, packed, out)) << to_string(codec);
    bytes expected = a;
    expected.insert(expected.end(), b.begin(), b.end());
    EXPECT_EQ(out, expected) << to_string(codec);
  }
  // Streamed zstd frames (no content size) concatenated, as a sequence of the reference tool's output.
  bytes two(zstd_stream_fixture, zstd_stream_fixture + sizeof(zstd_stream_fixture));
  two.insert(two.end(), zstd_fixture, zstd_fixture + sizeof(zstd_fixture));
  bytes out;
  ASSERT_FALSE(unpack(compression_codec::zstd, two, out));
  EXPECT_EQ(as_string(out), std::string(fixture_text) + std::string(fixture_text));
}

TEST(Compression, EnforcesTheOutputBoundExactly) {
  const bytes data = compressible_data(100000, 14);
  for (auto codec : all_codecs) {
    bytes packed;
    ASSERT_FALSE(compress(codec, data, packed));
    bytes out = {1, 2, 3};
    EXPECT_FALSE(unpack(codec, packed, out, data.size())) << to_string(codec);  // exactly at the bound: fine
    out = {1, 2, 3};
    EXPECT_EQ(unpack(codec, packed, out, data.size() - 1), codec_errc::too_large) << to_string(codec);
    EXPECT_EQ(out, (bytes{1, 2, 3})) << to_string(codec);  // untouched on failure
    EXPECT_EQ(unpack(codec, packed, out, 0), codec_errc::too_large) << to_string(codec);
  }
}

TEST(Compression, DecompressionBombsStopAtTheBound) {
  // 64 MiB of zeros compress to a few hundred KiB at most; with a 1 MiB bound the decoder must stop early.
  const bytes zeros(16 << 20, 0);
  for (auto codec :
       {compression_codec::gzip, compression_codec::snappy, compression_codec::lz4, compression_codec::zstd}) {
    bytes bomb;
    for (int i = 0; i < 4; ++i) ASSERT_FALSE(compress(codec, zeros, bomb));
    bytes out;
    EXPECT_EQ(unpack(codec, bomb, out, 1 << 20), codec_errc::too_large) << to_string(codec);
    EXPECT_TRUE(out.empty());
    EXPECT_LE(out.capacity(), (4u << 20)) << to_string(codec);  // never grew far past the bound
  }
}

TEST(Compression, ZstdFrameClaimingAHugeContentSizeIsRejectedBeforeAllocating) {
  // A frame header that claims 2^40 bytes of content: must fail fast on the bound.
  bytes frame = {0x28, 0xb5, 0x2f, 0xfd, 0xe0};  // single segment, 8-byte content size
  for (int i = 0; i < 8; ++i) frame.push_back(i == 5 ? 1 : 0);
  bytes out;
  EXPECT_TRUE(unpack(compression_codec::zstd, frame, out, 1 << 20));
  EXPECT_TRUE(out.empty());
}

TEST(Compression, SnappyLengthBeyondAnyPossibleExpansionIsCorrupt) {
  // A varint claiming 1 MiB, then a single copy: no 8-byte block can expand that far (at most 64 / 3 per byte).
  const bytes claim = {0x80, 0x80, 0x40, 0x02, 0x00, 0x00, 0x00, 0x00};
  bytes out;
  EXPECT_EQ(unpack(compression_codec::snappy, claim, out, 64 << 20), codec_errc::decompression_failed);
  EXPECT_EQ(out.capacity(), 0u);  // refused before allocating
}

TEST(Compression, TruncatedInputFailsForEveryCodec) {
  const bytes data = compressible_data(50000, 15);
  for (auto codec :
       {compression_codec::gzip, compression_codec::snappy, compression_codec::lz4, compression_codec::zstd}) {
    bytes packed;
    ASSERT_FALSE(compress(codec, data, packed));
    for (std::size_t cut : {std::size_t{0}, std::size_t{1}, std::size_t{10}, packed.size() / 2, packed.size() - 1}) {
      bytes out;
      const auto ec = unpack(codec, byte_span(packed).first(cut), out);
      // xerial snappy ending exactly at a block boundary is a valid shorter stream; nothing else is.
      if (!ec && codec == compression_codec::snappy) continue;
      EXPECT_EQ(ec, codec_errc::decompression_failed) << to_string(codec) << " cut " << cut;
      EXPECT_TRUE(out.empty());
    }
  }
}

TEST(Compression, CorruptInputFailsCleanly) {
  const bytes data = compressible_data(20000, 16);
  std::mt19937 rng(17);
  for (auto codec :
       {compression_codec::gzip, compression_codec::snappy, compression_codec::lz4, compression_codec::zstd}) {
    bytes packed;
    ASSERT_FALSE(compress(codec, data, packed));
    int detected = 0;
    for (int i = 0; i < 200; ++i) {
      bytes corrupt = packed;
      // gzip's header (mtime, flags for the OS) is not checksummed; everything after it is.
      const std::size_t skip = codec == compression_codec::gzip ? 10 : 0;
      corrupt[skip + rng() % (corrupt.size() - skip)] ^= static_cast<std::uint8_t>(1 + rng() % 255);
      bytes out;
      if (unpack(codec, corrupt, out, data.size() * 2)) {
        ++detected;
        EXPECT_TRUE(out.empty());
      }
    }
    // gzip checksums its content; the others (zstd without its optional checksum) at least never crash.
    if (codec == compression_codec::gzip) {
      EXPECT_EQ(detected, 200);
    }
  }
}

TEST(Compression, GzipRejectsTrailingGarbage) {
  bytes packed(gzip_fixture, gzip_fixture + sizeof(gzip_fixture));
  packed.push_back(0x00);
  bytes out;
  EXPECT_EQ(unpack(compression_codec::gzip, packed, out), codec_errc::decompression_failed);
}

TEST(Compression, UnknownCodec) {
  bytes out;
  const bytes data = {1, 2, 3};
  EXPECT_EQ(unpack(static_cast<compression_codec>(5), data, out), codec_errc::unsupported_compression);
  EXPECT_EQ(compress(static_cast<compression_codec>(7), data, out), codec_errc::unsupported_compression);
  EXPECT_TRUE(out.empty());
  EXPECT_TRUE(is_known_compression_codec(4));
  EXPECT_FALSE(is_known_compression_codec(5));
}

}  // namespace
}  // namespace vltava::protocol
