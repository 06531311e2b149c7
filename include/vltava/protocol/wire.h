// Primitive Kafka wire types: big-endian integers, varints, strings, bytes and shared byte slices.
//
// All byte-order and varint handling in the project lives here. The reader never throws and never reads out of
// bounds: the first failure is remembered ("sticky"), every later read returns a zero value, and remaining()
// becomes 0 so that any loop driven by the input ends. Callers check ok()/error() once, after a whole value.
#pragma once

#include <array>
#include <bit>
#include <compare>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "vltava/protocol/codec_error.h"

namespace vltava::protocol {

using bytes = std::vector<std::uint8_t>;
using byte_span = std::span<const std::uint8_t>;

// A 128-bit UUID as Kafka sends it (topic ids, directory ids): 16 raw bytes, all-zero meaning "none".
struct uuid {
  std::array<std::uint8_t, 16> value{};
  bool is_zero() const noexcept {
    for (auto b : value)
      if (b != 0) return false;
    return true;
  }
  auto operator<=>(const uuid&) const = default;
};

// An immutable slice of bytes whose storage is shared (reference counted). Decoded record data points into the
// request frame this way instead of being copied; the frame lives as long as any slice of it.
class shared_bytes {
 public:
  shared_bytes() = default;
  shared_bytes(std::shared_ptr<const void> owner, byte_span view) : owner_(std::move(owner)), view_(view) {}

  static shared_bytes copy_of(byte_span data) {
    auto storage = std::make_shared<bytes>(data.begin(), data.end());
    byte_span view(storage->data(), storage->size());
    return {std::move(storage), view};
  }
  static shared_bytes adopt(bytes&& data) {
    auto storage = std::make_shared<bytes>(std::move(data));
    byte_span view(storage->data(), storage->size());
    return {std::move(storage), view};
  }
  // Bytes that are not in memory: `length` bytes that the transport sends itself (the broker's file slices, sent
  // with sendfile). Only their length is known here; `source` says to the sender what they are. Encoding writes
  // the length prefix of a records field holding them and leaves a gap in the output (writer's gap list), which
  // the sender fills. data() is null and span() empty; only size() and owner() mean anything.
  static shared_bytes external(std::shared_ptr<const void> source, std::size_t length) {
    shared_bytes out;
    out.owner_ = std::move(source);
    out.external_size_ = length;
    return out;
  }

  byte_span span() const noexcept { return view_; }
  const std::uint8_t* data() const noexcept { return view_.data(); }
  std::size_t size() const noexcept { return is_external() ? external_size_ : view_.size(); }
  bool empty() const noexcept { return size() == 0; }
  bool is_external() const noexcept { return external_size_ != 0; }
  const std::shared_ptr<const void>& owner() const noexcept { return owner_; }

  // A sub-slice sharing the same storage. The caller guarantees offset + length <= size(); not for external bytes.
  shared_bytes slice(std::size_t offset, std::size_t length) const { return {owner_, view_.subspan(offset, length)}; }

  // External bytes are equal when they are the same source.
  friend bool operator==(const shared_bytes& a, const shared_bytes& b) noexcept {
    if (a.is_external() || b.is_external()) return a.size() == b.size() && a.owner_ == b.owner_;
    return a.size() == b.size() && (a.size() == 0 || std::memcmp(a.data(), b.data(), a.size()) == 0);
  }

 private:
  std::shared_ptr<const void> owner_;
  byte_span view_;
  std::size_t external_size_ = 0;
};

// Where an encoding left external bytes out: `at` is the output position they belong at (the bytes before it were
// written; the ones written next follow them on the wire).
struct encoding_gap {
  std::size_t at = 0;
  shared_bytes bytes;
};

// A tagged field the generated code does not know; kept so that re-encoding writes it back unchanged.
struct tagged_field {
  std::uint32_t tag = 0;
  bytes data;
  bool operator==(const tagged_field&) const = default;
};
using tagged_fields = std::vector<tagged_field>;

// ---- big-endian helpers on raw memory ----

template <typename T>
constexpr T byteswap_int(T v) noexcept {
  using U = std::make_unsigned_t<T>;
  U u = static_cast<U>(v);
  if constexpr (sizeof(T) == 2) u = static_cast<U>(__builtin_bswap16(u));
  if constexpr (sizeof(T) == 4) u = static_cast<U>(__builtin_bswap32(u));
  if constexpr (sizeof(T) == 8) u = static_cast<U>(__builtin_bswap64(u));
  return static_cast<T>(u);
}

template <typename T>
inline T load_be(const std::uint8_t* p) noexcept {
  static_assert(std::is_integral_v<T>);
  T v;
  std::memcpy(&v, p, sizeof(T));
  if constexpr (std::endian::native == std::endian::little && sizeof(T) > 1) v = byteswap_int(v);
  return v;
}

template <typename T>
inline void store_be(std::uint8_t* p, T v) noexcept {
  static_assert(std::is_integral_v<T>);
  if constexpr (std::endian::native == std::endian::little && sizeof(T) > 1) v = byteswap_int(v);
  std::memcpy(p, &v, sizeof(T));
}

// ---- varint sizes ----

constexpr std::size_t uvarint_size(std::uint64_t v) noexcept {
  std::size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}
constexpr std::uint32_t zigzag32(std::int32_t v) noexcept {
  return (static_cast<std::uint32_t>(v) << 1) ^ static_cast<std::uint32_t>(v >> 31);
}
constexpr std::uint64_t zigzag64(std::int64_t v) noexcept {
  return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}
constexpr std::int32_t unzigzag32(std::uint32_t v) noexcept {
  return static_cast<std::int32_t>((v >> 1) ^ (~(v & 1) + 1));
}
constexpr std::int64_t unzigzag64(std::uint64_t v) noexcept {
  return static_cast<std::int64_t>((v >> 1) ^ (~(v & 1) + 1));
}
constexpr std::size_t varint_size(std::int32_t v) noexcept { return uvarint_size(zigzag32(v)); }
constexpr std::size_t varlong_size(std::int64_t v) noexcept { return uvarint_size(zigzag64(v)); }

// ---- reader ----

class reader {
 public:
  explicit reader(byte_span data, std::shared_ptr<const void> owner = {}) noexcept
      : data_(data), owner_(std::move(owner)) {}

  bool ok() const noexcept { return error_ == codec_errc::ok; }
  std::error_code error() const noexcept { return make_error_code(error_); }
  codec_errc errc() const noexcept { return error_; }
  std::size_t remaining() const noexcept { return data_.size() - pos_; }
  std::size_t position() const noexcept { return pos_; }
  bool at_end() const noexcept { return pos_ == data_.size(); }
  const std::shared_ptr<const void>& owner() const noexcept { return owner_; }

  // Records the first failure; afterwards every read yields zero and remaining() is 0.
  void fail(codec_errc e) noexcept {
    if (error_ == codec_errc::ok) error_ = e;
    pos_ = data_.size();
  }

  std::int8_t read_int8() noexcept { return static_cast<std::int8_t>(read_fixed<std::uint8_t>()); }
  std::int16_t read_int16() noexcept { return read_fixed<std::int16_t>(); }
  std::int32_t read_int32() noexcept { return read_fixed<std::int32_t>(); }
  std::int64_t read_int64() noexcept { return read_fixed<std::int64_t>(); }
  std::uint16_t read_uint16() noexcept { return read_fixed<std::uint16_t>(); }
  std::uint32_t read_uint32() noexcept { return read_fixed<std::uint32_t>(); }
  std::uint8_t read_uint8() noexcept { return read_fixed<std::uint8_t>(); }
  double read_float64() noexcept { return std::bit_cast<double>(read_fixed<std::uint64_t>()); }

  bool read_bool() noexcept {
    auto b = read_fixed<std::uint8_t>();
    if (b > 1) fail(codec_errc::invalid_value);
    return b == 1;
  }

  uuid read_uuid() noexcept {
    uuid u;
    auto s = read_span(16);
    if (s.size() == 16) std::memcpy(u.value.data(), s.data(), 16);
    return u;
  }

  // Unsigned LEB128, at most 5 bytes for 32 bits.
  std::uint32_t read_uvarint() noexcept {
    std::uint32_t result = 0;
    for (int shift = 0; shift < 35; shift += 7) {
      if (pos_ >= data_.size()) {
        fail(codec_errc::truncated);
        return 0;
      }
      std::uint8_t b = data_[pos_++];
      if (shift == 28 && (b & 0xf0) != 0) {
        fail(codec_errc::invalid_varint);
        return 0;
      }
      result |= static_cast<std::uint32_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return result;
    }
    fail(codec_errc::invalid_varint);
    return 0;
  }

  // Unsigned LEB128, at most 10 bytes for 64 bits.
  std::uint64_t read_uvarlong() noexcept {
    std::uint64_t result = 0;
    for (int shift = 0; shift < 70; shift += 7) {
      if (pos_ >= data_.size()) {
        fail(codec_errc::truncated);
        return 0;
      }
      std::uint8_t b = data_[pos_++];
      if (shift == 63 && (b & 0xfe) != 0) {
        fail(codec_errc::invalid_varint);
        return 0;
      }
      result |= static_cast<std::uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return result;
    }
    fail(codec_errc::invalid_varint);
    return 0;
  }

  std::int32_t read_varint() noexcept { return unzigzag32(read_uvarint()); }
  std::int64_t read_varlong() noexcept { return unzigzag64(read_uvarlong()); }

  // Exactly n bytes, or an empty span and a truncation failure.
  byte_span read_span(std::size_t n) noexcept {
    if (n > remaining()) {
      fail(codec_errc::truncated);
      return {};
    }
    auto s = data_.subspan(pos_, n);
    pos_ += n;
    return s;
  }

  // Like read_span, but the result shares ownership of the underlying buffer when the reader has an owner,
  // and is copied otherwise.
  shared_bytes read_shared(std::size_t n) {
    auto s = read_span(n);
    if (!ok()) return {};
    if (owner_) return shared_bytes(owner_, s);
    return shared_bytes::copy_of(s);
  }

  // Takes `declared_length` bytes (already read, in whatever encoding), -1 meaning null; false when malformed.
  bool read_nullable_span(std::int64_t declared_length, std::optional<byte_span>& out) noexcept {
    const std::int64_t length = checked_length(declared_length, true);
    if (length == -2) return false;
    if (length == -1) {
      out.reset();
    } else {
      out = read_span(static_cast<std::size_t>(length));
    }
    return ok();
  }

  // Reads a length that must fit the remaining input. Returns -1 for null (when allowed) and -2 on failure.
  // A declared length beyond the input is rejected before anything is allocated.
  std::int64_t checked_length(std::int64_t length, bool nullable, std::size_t min_element_size = 1) noexcept {
    if (!ok()) return -2;
    if (length == -1) {
      if (nullable) return -1;
      fail(codec_errc::null_not_allowed);
      return -2;
    }
    if (length < -1) {
      fail(codec_errc::negative_length);
      return -2;
    }
    if (static_cast<std::uint64_t>(length) > remaining() / (min_element_size ? min_element_size : 1)) {
      fail(codec_errc::length_out_of_range);
      return -2;
    }
    return length;
  }

 private:
  template <typename T>
  T read_fixed() noexcept {
    if (remaining() < sizeof(T)) {
      fail(codec_errc::truncated);
      return 0;
    }
    T v = load_be<T>(data_.data() + pos_);
    pos_ += sizeof(T);
    return v;
  }

  byte_span data_;
  std::size_t pos_ = 0;
  codec_errc error_ = codec_errc::ok;
  std::shared_ptr<const void> owner_;
};

// ---- writer ----

class writer {
 public:
  explicit writer(bytes& out) noexcept : out_(out) {}
  // A writer that accepts external bytes (shared_bytes::external): each leaves a gap, listed in gaps.
  writer(bytes& out, std::vector<encoding_gap>& gaps) noexcept : out_(out), gaps_(&gaps) {}

  std::size_t position() const noexcept { return out_.size(); }
  bytes& buffer() noexcept { return out_; }

  void write_int8(std::int8_t v) { out_.push_back(static_cast<std::uint8_t>(v)); }
  void write_uint8(std::uint8_t v) { out_.push_back(v); }
  void write_int16(std::int16_t v) { write_fixed(v); }
  void write_int32(std::int32_t v) { write_fixed(v); }
  void write_int64(std::int64_t v) { write_fixed(v); }
  void write_uint16(std::uint16_t v) { write_fixed(v); }
  void write_uint32(std::uint32_t v) { write_fixed(v); }
  void write_float64(double v) { write_fixed(std::bit_cast<std::uint64_t>(v)); }
  void write_bool(bool v) { out_.push_back(v ? 1 : 0); }
  void write_uuid(const uuid& u) { write_raw(byte_span(u.value.data(), u.value.size())); }

  void write_uvarint(std::uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<std::uint8_t>(v | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<std::uint8_t>(v));
  }
  void write_varint(std::int32_t v) { write_uvarint(zigzag32(v)); }
  void write_varlong(std::int64_t v) { write_uvarint(zigzag64(v)); }

  void write_raw(byte_span s) { out_.insert(out_.end(), s.begin(), s.end()); }
  void write_raw(std::string_view s) {
    auto p = reinterpret_cast<const std::uint8_t*>(s.data());
    out_.insert(out_.end(), p, p + s.size());
  }

  // Writes b's bytes; external bytes leave a gap instead. False (nothing written) for external bytes when this
  // writer keeps no gap list.
  [[nodiscard]] bool write_shared(const shared_bytes& b) {
    if (!b.is_external()) {
      write_raw(b.span());
      return true;
    }
    if (!gaps_) return false;
    gaps_->push_back({out_.size(), b});
    return true;
  }

  // Patches a big-endian int32 at an earlier position (frame sizes, batch lengths).
  void patch_int32(std::size_t at, std::int32_t v) noexcept { store_be(out_.data() + at, v); }

 private:
  template <typename T>
  void write_fixed(T v) {
    std::size_t at = out_.size();
    out_.resize(at + sizeof(T));
    store_be(out_.data() + at, v);
  }

  bytes& out_;
  std::vector<encoding_gap>* gaps_ = nullptr;
};

}  // namespace vltava::protocol
