// Which __consumer_offsets partition coordinates a group: abs(groupId.hashCode()) % partitions, exactly as a Java
// broker computes it, so that a group keeps its coordinator partition when a log directory moves between Kafka and
// Vltava, and so that clients and tools that compute it themselves agree.
//
// Java hashes a String as s[0]*31^(n-1) + ... + s[n-1] over its UTF-16 code units, in int32 arithmetic that wraps.
// The group id reached Java as UTF-8 bytes decoded with `new String(bytes, UTF_8)`, which replaces malformed input
// with U+FFFD instead of failing. To hash invalid UTF-8 as Java does, the decoder below follows the JDK's
// replacement behaviour (checked against JDK 17, see tests/broker/coordinator_partition_test.cc):
//  - a byte that cannot start a sequence (80..C1, F8..FF) is one U+FFFD;
//  - a 2-byte lead followed by a non-continuation byte is one U+FFFD, and decoding resumes at that byte;
//  - a complete-length 3- or 4-byte sequence that is malformed is one U+FFFD, and decoding resumes after the bytes
//    that could still have begun a valid sequence (1 to 3 of them), so the rest become U+FFFD or characters of
//    their own; an encoded surrogate (ED A0..BF xx) is one U+FFFD for all three bytes;
//  - a sequence cut off by the end of the id is one U+FFFD that ends the decoding, unless its second (or, for
//    4-byte sequences, third) byte already shows it malformed, in which case decoding resumes at that byte.
#include <cstddef>
#include <cstdint>
#include <string>

#include "vltava/broker/group/group_store.h"

namespace vltava::broker::group {
namespace {

constexpr std::uint32_t replacement_character = 0xFFFD;

bool is_continuation(std::uint8_t b) { return (b & 0xC0) == 0x80; }

// The running Java hash: h = 31 * h + unit, wrapping at 32 bits (done unsigned, where wrapping is defined).
class java_string_hash {
 public:
  void add_unit(std::uint32_t unit) { value_ = value_ * 31u + (unit & 0xFFFFu); }
  void add_code_point(std::uint32_t code_point) {
    if (code_point < 0x10000) {
      add_unit(code_point);
      return;
    }
    const std::uint32_t offset = code_point - 0x10000;
    add_unit(0xD800 + (offset >> 10));
    add_unit(0xDC00 + (offset & 0x3FF));
  }
  std::uint32_t value() const { return value_; }

 private:
  std::uint32_t value_ = 0;
};

// The three-byte sequence starting with b1, b2 cannot be valid (overlong E0 80..9F, or b2 not a continuation).
bool three_byte_second_invalid(std::uint8_t b1, std::uint8_t b2) {
  return (b1 == 0xE0 && (b2 & 0xE0) == 0x80) || !is_continuation(b2);
}

// The four-byte sequence starting with b1, b2 cannot be valid (overlong F0 80..8F, beyond U+10FFFF, or b2 not a
// continuation).
bool four_byte_second_invalid(std::uint8_t b1, std::uint8_t b2) {
  return b1 > 0xF4 || (b1 == 0xF0 && (b2 < 0x90 || b2 > 0xBF)) || (b1 == 0xF4 && (b2 & 0xF0) != 0x80) ||
         !is_continuation(b2);
}

std::uint32_t java_hash_code(const std::string& text) {
  const auto* data = reinterpret_cast<const std::uint8_t*>(text.data());
  const std::size_t size = text.size();
  java_string_hash hash;
  std::size_t at = 0;
  while (at < size) {
    const std::uint8_t b1 = data[at];
    const std::size_t left = size - at - 1;  // bytes after the lead
    if (b1 < 0x80) {
      hash.add_unit(b1);
      at += 1;
    } else if (b1 >= 0xC2 && b1 <= 0xDF) {
      if (left == 0) {
        hash.add_unit(replacement_character);
        break;
      }
      const std::uint8_t b2 = data[at + 1];
      if (!is_continuation(b2)) {
        hash.add_unit(replacement_character);
        at += 1;
        continue;
      }
      hash.add_unit(((b1 & 0x1Fu) << 6) | (b2 & 0x3Fu));
      at += 2;
    } else if (b1 >= 0xE0 && b1 <= 0xEF) {
      if (left < 2) {
        hash.add_unit(replacement_character);
        if (left == 1 && three_byte_second_invalid(b1, data[at + 1])) {
          at += 1;
          continue;
        }
        break;
      }
      const std::uint8_t b2 = data[at + 1];
      const std::uint8_t b3 = data[at + 2];
      if (three_byte_second_invalid(b1, b2) || !is_continuation(b3)) {
        hash.add_unit(replacement_character);
        at += three_byte_second_invalid(b1, b2) ? 1 : 2;
        continue;
      }
      const std::uint32_t unit = ((b1 & 0x0Fu) << 12) | ((b2 & 0x3Fu) << 6) | (b3 & 0x3Fu);
      const bool surrogate = unit >= 0xD800 && unit <= 0xDFFF;
      hash.add_unit(surrogate ? replacement_character : unit);
      at += 3;
    } else if (b1 >= 0xF0 && b1 <= 0xF7) {
      if (left < 3) {
        if (b1 > 0xF4 || (left >= 1 && four_byte_second_invalid(b1, data[at + 1]))) {
          hash.add_unit(replacement_character);
          at += 1;
          continue;
        }
        hash.add_unit(replacement_character);
        if (left == 2 && !is_continuation(data[at + 2])) {
          at += 2;
          continue;
        }
        break;
      }
      const std::uint8_t b2 = data[at + 1];
      const std::uint8_t b3 = data[at + 2];
      const std::uint8_t b4 = data[at + 3];
      const std::uint32_t code_point = ((b1 & 0x07u) << 18) | ((b2 & 0x3Fu) << 12) | ((b3 & 0x3Fu) << 6) | (b4 & 0x3Fu);
      if (!is_continuation(b2) || !is_continuation(b3) || !is_continuation(b4) || code_point < 0x10000 ||
          code_point > 0x10FFFF) {
        hash.add_unit(replacement_character);
        if (four_byte_second_invalid(b1, b2)) {
          at += 1;
        } else if (!is_continuation(b3)) {
          at += 2;
        } else {
          at += 3;
        }
        continue;
      }
      hash.add_code_point(code_point);
      at += 4;
    } else {
      // 80..BF (a continuation without a lead), C0 and C1 (always overlong), F8..FF (never UTF-8).
      hash.add_unit(replacement_character);
      at += 1;
    }
  }
  return hash.value();
}

}  // namespace

std::int32_t coordinator_partition_for(const std::string& group_id, std::int32_t partitions) {
  if (partitions <= 0) return 0;  // no partitions to route to; callers never ask (partition_count() >= 1)
  // Kafka's Utils.abs: clears the sign bit, so Integer.MIN_VALUE maps to 0 rather than staying negative.
  const auto positive = static_cast<std::int32_t>(java_hash_code(group_id) & 0x7FFFFFFFu);
  return positive % partitions;
}

}  // namespace vltava::broker::group
