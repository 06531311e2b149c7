#include "vltava/protocol/crc32c.h"

#include <gtest/gtest.h>

#include <random>
#include <string_view>

namespace vltava::protocol {
namespace {

byte_span as_bytes(std::string_view s) { return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()}; }

bytes random_bytes(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  bytes out(n);
  for (auto& b : out) b = static_cast<std::uint8_t>(rng());
  return out;
}

// Bit-at-a-time CRC-32C straight from the definition: the reference both fast paths are held to.
std::uint32_t crc32c_reference(byte_span data) {
  std::uint32_t crc = 0xFFFFFFFFu;
  for (auto b : data) {
    crc ^= b;
    for (int i = 0; i < 8; ++i) crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
  }
  return ~crc;
}

TEST(Crc32c, KnownVectors) {
  EXPECT_EQ(crc32c(as_bytes("123456789")), 0xE3069283u);
  EXPECT_EQ(crc32c_portable(as_bytes("123456789")), 0xE3069283u);
  EXPECT_EQ(crc32c({}), 0u);
  EXPECT_EQ(crc32c_portable({}), 0u);
  // RFC 3720 (iSCSI) B.4 test vectors.
  bytes zeros(32, 0x00), ones(32, 0xFF), ascending(32), descending(32);
  for (std::size_t i = 0; i < 32; ++i) {
    ascending[i] = static_cast<std::uint8_t>(i);
    descending[i] = static_cast<std::uint8_t>(31 - i);
  }
  for (auto f : {&crc32c, &crc32c_portable}) {
    EXPECT_EQ(f(zeros, 0), 0x8A9136AAu);
    EXPECT_EQ(f(ones, 0), 0x62A8AB43u);
    EXPECT_EQ(f(ascending, 0), 0x46DD794Eu);
    EXPECT_EQ(f(descending, 0), 0x113FDB5Cu);
  }
}

TEST(Crc32c, HardwareIsUsedWhereAvailable) {
#if defined(__x86_64__)
  EXPECT_EQ(crc32c_hardware_available(), static_cast<bool>(__builtin_cpu_supports("sse4.2")));
#else
  EXPECT_FALSE(crc32c_hardware_available());
#endif
}

TEST(Crc32c, MatchesReferenceOnRandomSizesAndAlignments) {
  // Sizes cross every path: the alignment prologue, the 3 x 256 and 3 x 4096 stream blocks, the 8-byte tail.
  const bytes data = random_bytes(3 * 4096 * 3 + 4096 + 3 * 256 + 64, 1);
  std::mt19937 rng(2);
  const std::size_t mixed = 3 * 4096 + 3 * 256 + 7, largest = data.size() - 8;
  std::vector<std::size_t> sizes = {0,   1,   7,   8,    9,     15,    16,    255,   256,
                                    767, 768, 769, 1024, 12287, 12288, 12289, mixed, largest};
  for (int i = 0; i < 200; ++i) sizes.push_back(rng() % (data.size() - 8));
  for (std::size_t size : sizes) {
    for (std::size_t align = 0; align < 8; ++align) {
      byte_span s(data.data() + align, size);
      const std::uint32_t expected = crc32c_reference(s);
      ASSERT_EQ(crc32c(s), expected) << "size " << size << " align " << align;
      ASSERT_EQ(crc32c_portable(s), expected) << "size " << size << " align " << align;
    }
  }
}

TEST(Crc32c, ExtendsIncrementally) {
  const bytes data = random_bytes(50000, 3);
  const std::uint32_t whole = crc32c(data);
  for (std::size_t split : {0ul, 1ul, 5ul, 4096ul, 12345ul, 49999ul, 50000ul}) {
    byte_span all(data);
    EXPECT_EQ(crc32c(all.subspan(split), crc32c(all.first(split))), whole) << split;
    EXPECT_EQ(crc32c_portable(all.subspan(split), crc32c_portable(all.first(split))), whole) << split;
  }
}

TEST(Crc32c, DetectsEverySingleBitFlip) {
  bytes data = random_bytes(300, 4);
  const std::uint32_t original = crc32c(data);
  for (std::size_t i = 0; i < data.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      data[i] ^= static_cast<std::uint8_t>(1 << bit);
      ASSERT_NE(crc32c(data), original);
      data[i] ^= static_cast<std::uint8_t>(1 << bit);
    }
  }
}

TEST(Crc32Ieee, KnownVectorAndExtension) {
  EXPECT_EQ(crc32_ieee(as_bytes("123456789")), 0xCBF43926u);
  EXPECT_EQ(crc32_ieee({}, 0x1234u), 0x1234u);
  EXPECT_EQ(crc32_ieee(as_bytes("56789"), crc32_ieee(as_bytes("1234"))), 0xCBF43926u);
}

}  // namespace
}  // namespace vltava::protocol
