// CRC-32C: a slicing-by-8 table implementation that runs anywhere, and an SSE4.2 implementation chosen at run time.
//
// The hardware instruction has a latency of about three cycles but can start one per cycle, so a single dependency
// chain wastes two thirds of it. The hardware path therefore checksums three adjacent blocks as independent chains
// and merges them afterwards: appending n zero bytes multiplies the CRC register by x^(8n) modulo the polynomial, a
// linear map that is precomputed (at compile time) as four 256-entry tables per block size.
#include "vltava/protocol/crc32c.h"

#include <zlib.h>

#include <array>
#include <bit>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#define VLTAVA_CRC32C_X86 1
#else
#define VLTAVA_CRC32C_X86 0
#endif

namespace vltava::protocol {
namespace {

// The Castagnoli polynomial 0x1EDC6F41, bit-reflected: CRC-32C consumes the least significant bit first, so bit 31
// of a register holds the coefficient of x^0.
constexpr std::uint32_t castagnoli_reflected = 0x82F63B78u;

using crc_table = std::array<std::uint32_t, 256>;

// table[0] is the byte-at-a-time table; table[k][b] is the effect of byte b followed by k more bytes.
constexpr std::array<crc_table, 8> make_slicing_tables() {
  std::array<crc_table, 8> tables{};
  for (std::uint32_t b = 0; b < 256; ++b) {
    std::uint32_t reg = b;
    for (int bit = 0; bit < 8; ++bit) reg = (reg & 1) ? (reg >> 1) ^ castagnoli_reflected : reg >> 1;
    tables[0][b] = reg;
  }
  for (std::size_t k = 1; k < tables.size(); ++k)
    for (std::size_t b = 0; b < 256; ++b) tables[k][b] = (tables[k - 1][b] >> 8) ^ tables[0][tables[k - 1][b] & 0xff];
  return tables;
}
constexpr auto slicing_tables = make_slicing_tables();

std::uint64_t load_le64(const std::uint8_t* p) noexcept {
  std::uint64_t word;
  std::memcpy(&word, p, sizeof(word));
  if constexpr (std::endian::native == std::endian::big) word = byteswap_int(word);
  return word;
}

// Works on the raw register (no pre/post inversion), like the hardware instruction.
std::uint32_t portable_update(const std::uint8_t* p, std::size_t n, std::uint32_t reg) noexcept {
  const auto& t = slicing_tables;
  for (; n >= 8; p += 8, n -= 8) {
    std::uint64_t word = load_le64(p) ^ reg;
    reg = t[7][word & 0xff] ^ t[6][(word >> 8) & 0xff] ^ t[5][(word >> 16) & 0xff] ^ t[4][(word >> 24) & 0xff] ^
          t[3][(word >> 32) & 0xff] ^ t[2][(word >> 40) & 0xff] ^ t[1][(word >> 48) & 0xff] ^ t[0][word >> 56];
  }
  for (; n > 0; ++p, --n) reg = (reg >> 8) ^ t[0][(reg ^ *p) & 0xff];
  return reg;
}

#if VLTAVA_CRC32C_X86

// a * b modulo the polynomial, both in the reflected representation.
constexpr std::uint32_t multiply_modulo(std::uint32_t a, std::uint32_t b) {
  std::uint32_t product = 0;
  for (std::uint32_t coefficient = 0x80000000u; coefficient != 0; coefficient >>= 1) {
    if (a & coefficient) product ^= b;
    b = (b & 1) ? (b >> 1) ^ castagnoli_reflected : b >> 1;  // b *= x
  }
  return product;
}

// x^(8 * byte_count) modulo the polynomial, by square-and-multiply.
constexpr std::uint32_t zero_bytes_operator(std::size_t byte_count) {
  std::uint32_t result = 0x80000000u;      // x^0
  std::uint32_t power = 0x80000000u >> 8;  // x^8
  for (; byte_count != 0; byte_count >>= 1) {
    if (byte_count & 1) result = multiply_modulo(result, power);
    power = multiply_modulo(power, power);
  }
  return result;
}

using shift_tables = std::array<crc_table, 4>;

constexpr shift_tables make_shift_tables(std::size_t byte_count) {
  const std::uint32_t op = zero_bytes_operator(byte_count);
  shift_tables tables{};
  for (std::size_t k = 0; k < tables.size(); ++k)
    for (std::uint32_t b = 0; b < 256; ++b) tables[k][b] = multiply_modulo(b << (8 * k), op);
  return tables;
}

// The register after byte_count zero bytes, for the byte_count the tables were made for.
inline std::uint32_t shift(const shift_tables& t, std::uint32_t reg) noexcept {
  return t[0][reg & 0xff] ^ t[1][(reg >> 8) & 0xff] ^ t[2][(reg >> 16) & 0xff] ^ t[3][reg >> 24];
}

// Long blocks keep the merge cost negligible on big buffers; short blocks still give mid-sized ones the parallelism.
constexpr std::size_t long_block = 4096;
constexpr std::size_t short_block = 256;
constexpr auto long_block_shift = make_shift_tables(long_block);
constexpr auto short_block_shift = make_shift_tables(short_block);

template <std::size_t block>
__attribute__((target("sse4.2"))) inline std::uint64_t three_streams(const std::uint8_t*& p, std::size_t& n,
                                                                     std::uint64_t reg, const shift_tables& tables) {
  while (n >= 3 * block) {
    std::uint64_t reg1 = 0;
    std::uint64_t reg2 = 0;
    const std::uint8_t* end = p + block;
    do {
      reg = _mm_crc32_u64(reg, load_le64(p));
      reg1 = _mm_crc32_u64(reg1, load_le64(p + block));
      reg2 = _mm_crc32_u64(reg2, load_le64(p + 2 * block));
      p += 8;
    } while (p != end);
    // Registers are linear in their input: the checksum of A|B|C is shift(shift(a) ^ b) ^ c.
    reg = shift(tables, static_cast<std::uint32_t>(reg)) ^ reg1;
    reg = shift(tables, static_cast<std::uint32_t>(reg)) ^ reg2;
    p += 2 * block;
    n -= 3 * block;
  }
  return reg;
}

__attribute__((target("sse4.2"))) std::uint32_t hardware_update(const std::uint8_t* p, std::size_t n,
                                                                std::uint32_t reg32) noexcept {
  std::uint64_t reg = reg32;
  for (; n > 0 && (reinterpret_cast<std::uintptr_t>(p) & 7) != 0; ++p, --n)
    reg = _mm_crc32_u8(static_cast<std::uint32_t>(reg), *p);
  reg = three_streams<long_block>(p, n, reg, long_block_shift);
  reg = three_streams<short_block>(p, n, reg, short_block_shift);
  for (; n >= 8; p += 8, n -= 8) reg = _mm_crc32_u64(reg, load_le64(p));
  for (; n > 0; ++p, --n) reg = _mm_crc32_u8(static_cast<std::uint32_t>(reg), *p);
  return static_cast<std::uint32_t>(reg);
}

#endif  // VLTAVA_CRC32C_X86

using update_function = std::uint32_t (*)(const std::uint8_t*, std::size_t, std::uint32_t) noexcept;

update_function select_update() noexcept {
#if VLTAVA_CRC32C_X86
  if (__builtin_cpu_supports("sse4.2")) return hardware_update;
#endif
  return portable_update;
}

}  // namespace

std::uint32_t crc32c(byte_span data, std::uint32_t crc) noexcept {
  static const update_function update = select_update();
  return ~update(data.data(), data.size(), ~crc);
}

std::uint32_t crc32c_portable(byte_span data, std::uint32_t crc) noexcept {
  return ~portable_update(data.data(), data.size(), ~crc);
}

bool crc32c_hardware_available() noexcept { return select_update() != portable_update; }

std::uint32_t crc32_ieee(byte_span data, std::uint32_t crc) noexcept {
  // zlib treats a null buffer as a request for the initial value, which would drop crc.
  if (data.empty()) return crc;
  return static_cast<std::uint32_t>(::crc32_z(crc, data.data(), data.size()));
}

}  // namespace vltava::protocol
