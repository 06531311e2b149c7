// Helpers shared by the generated message codecs (build/generated/vltava/protocol/messages/*.cc).
//
// Encoding is written once, as a template over the output: `writer` appends bytes, `size_counter` only counts them,
// so a message's encoded size is computed by the very code that encodes it and the two cannot disagree.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "vltava/protocol/wire.h"

namespace vltava::protocol {

// Counts the bytes a writer would produce, with the same interface.
class size_counter {
 public:
  std::size_t position() const noexcept { return size_; }
  std::size_t size() const noexcept { return size_; }

  void write_int8(std::int8_t) noexcept { size_ += 1; }
  void write_uint8(std::uint8_t) noexcept { size_ += 1; }
  void write_int16(std::int16_t) noexcept { size_ += 2; }
  void write_int32(std::int32_t) noexcept { size_ += 4; }
  void write_int64(std::int64_t) noexcept { size_ += 8; }
  void write_uint16(std::uint16_t) noexcept { size_ += 2; }
  void write_uint32(std::uint32_t) noexcept { size_ += 4; }
  void write_float64(double) noexcept { size_ += 8; }
  void write_bool(bool) noexcept { size_ += 1; }
  void write_uuid(const uuid&) noexcept { size_ += 16; }
  void write_uvarint(std::uint64_t v) noexcept { size_ += uvarint_size(v); }
  void write_varint(std::int32_t v) noexcept { size_ += varint_size(v); }
  void write_varlong(std::int64_t v) noexcept { size_ += varlong_size(v); }
  void write_raw(byte_span s) noexcept { size_ += s.size(); }
  void write_raw(std::string_view s) noexcept { size_ += s.size(); }
  // External bytes count as what they will be on the wire.
  bool write_shared(const shared_bytes& b) noexcept {
    size_ += b.size();
    return true;
  }

 private:
  std::size_t size_ = 0;
};

namespace detail {

// ---- lengths ----

// Writes a string/bytes/array length: int16 (strings) or int32, or compact (unsigned varint of length + 1).
template <class W>
void write_length(W& w, std::int64_t length, bool compact, bool int16_length) {
  if (compact) {
    w.write_uvarint(static_cast<std::uint64_t>(length + 1));
  } else if (int16_length) {
    w.write_int16(static_cast<std::int16_t>(length));
  } else {
    w.write_int32(static_cast<std::int32_t>(length));
  }
}

// Reads a length and checks it against the remaining input. Returns -1 for null (nullable only), -2 on failure.
inline std::int64_t read_length(reader& r, bool compact, bool int16_length, bool nullable,
                                std::size_t min_element_size = 1) {
  std::int64_t length;
  if (compact) {
    length = static_cast<std::int64_t>(r.read_uvarint()) - 1;
  } else if (int16_length) {
    length = r.read_int16();
  } else {
    length = r.read_int32();
  }
  return r.checked_length(length, nullable, min_element_size);
}

// ---- strings ----

template <class W>
void write_string(W& w, std::string_view s, bool compact, codec_errc& error) {
  if (!compact && s.size() > 32767) {
    error = codec_errc::too_large;
    return;
  }
  write_length(w, static_cast<std::int64_t>(s.size()), compact, true);
  w.write_raw(s);
}

template <class W>
void write_nullable_string(W& w, const std::optional<std::string>& s, bool compact, bool nullable, codec_errc& error) {
  if (!s) {
    if (!nullable) {
      error = codec_errc::null_not_allowed;
      return;
    }
    write_length(w, -1, compact, true);
    return;
  }
  write_string(w, *s, compact, error);
}

inline std::string read_string(reader& r, bool compact) {
  auto length = read_length(r, compact, true, false);
  if (length < 0) return {};
  auto s = r.read_span(static_cast<std::size_t>(length));
  return std::string(reinterpret_cast<const char*>(s.data()), s.size());
}

inline std::optional<std::string> read_nullable_string(reader& r, bool compact, bool nullable) {
  auto length = read_length(r, compact, true, nullable);
  if (length < 0) return std::nullopt;
  auto s = r.read_span(static_cast<std::size_t>(length));
  return std::string(reinterpret_cast<const char*>(s.data()), s.size());
}

// ---- bytes ----

template <class W>
void write_bytes(W& w, byte_span b, bool compact) {
  write_length(w, static_cast<std::int64_t>(b.size()), compact, false);
  w.write_raw(b);
}

template <class W, class B>
void write_nullable_bytes(W& w, const std::optional<B>& b, bool compact, bool nullable, codec_errc& error) {
  if (!b) {
    if (!nullable) {
      error = codec_errc::null_not_allowed;
      return;
    }
    write_length(w, -1, compact, false);
    return;
  }
  write_bytes(w, byte_span(b->data(), b->size()), compact);
}

// ---- records ----

// A records field: its length, then its bytes, or (external bytes, shared_bytes::external) a gap the sender fills.
template <class W>
void write_records(W& w, const shared_bytes& b, bool compact, codec_errc& error) {
  if (b.size() > static_cast<std::size_t>(INT32_MAX - 1)) {
    error = codec_errc::too_large;
    return;
  }
  write_length(w, static_cast<std::int64_t>(b.size()), compact, false);
  if (!w.write_shared(b)) error = codec_errc::invalid_value;  // external bytes, and no gap list to put them in
}

template <class W>
void write_nullable_records(W& w, const std::optional<shared_bytes>& b, bool compact, bool nullable,
                            codec_errc& error) {
  if (!b) {
    if (!nullable) {
      error = codec_errc::null_not_allowed;
      return;
    }
    write_length(w, -1, compact, false);
    return;
  }
  write_records(w, *b, compact, error);
}

inline bytes read_bytes(reader& r, bool compact) {
  auto length = read_length(r, compact, false, false);
  if (length < 0) return {};
  auto s = r.read_span(static_cast<std::size_t>(length));
  return bytes(s.begin(), s.end());
}

inline std::optional<bytes> read_nullable_bytes(reader& r, bool compact, bool nullable) {
  auto length = read_length(r, compact, false, nullable);
  if (length < 0) return std::nullopt;
  auto s = r.read_span(static_cast<std::size_t>(length));
  return bytes(s.begin(), s.end());
}

inline shared_bytes read_records(reader& r, bool compact) {
  auto length = read_length(r, compact, false, false);
  if (length < 0) return {};
  return r.read_shared(static_cast<std::size_t>(length));
}

inline std::optional<shared_bytes> read_nullable_records(reader& r, bool compact, bool nullable) {
  auto length = read_length(r, compact, false, nullable);
  if (length < 0) return std::nullopt;
  return r.read_shared(static_cast<std::size_t>(length));
}

// ---- tagged fields ----

// Writes unknown tagged fields in ascending order, interleaved with the known ones the generated code writes.
template <class W>
class tag_merger {
 public:
  tag_merger(W& w, const tagged_fields& unknown, codec_errc& error) : w_(w), unknown_(unknown), error_(error) {}

  // Called before writing known tag `tag`: flushes unknown tags below it; a duplicate tag is an error.
  void before(std::uint32_t tag) {
    flush_below(tag);
    if (next_ < unknown_.size() && unknown_[next_].tag == tag) fail();
  }
  void finish() { flush_below(UINT32_MAX); }

 private:
  void flush_below(std::uint32_t limit) {
    while (next_ < unknown_.size() && (unknown_[next_].tag < limit || limit == UINT32_MAX)) {
      const auto& field = unknown_[next_];
      if (next_ > 0 && unknown_[next_ - 1].tag >= field.tag) fail();
      w_.write_uvarint(field.tag);
      w_.write_uvarint(field.data.size());
      w_.write_raw(byte_span(field.data.data(), field.data.size()));
      ++next_;
    }
  }
  void fail() {
    if (error_ == codec_errc::ok) error_ = codec_errc::tags_out_of_order;
  }

  W& w_;
  const tagged_fields& unknown_;
  codec_errc& error_;
  std::size_t next_ = 0;
};

// Writes one known tagged field: tag, size, then the value produced by `write_value(W&)`.
template <class W, class F>
void write_tagged(W& w, std::uint32_t tag, F&& write_value) {
  size_counter counter;
  write_value(counter);
  w.write_uvarint(tag);
  w.write_uvarint(counter.size());
  write_value(w);
}

// Reads the header of one tagged field and returns a reader over exactly its bytes (empty and failed on error).
// Tags must be strictly ascending, so that decoding and re-encoding give identical bytes.
inline bool read_tag_header(reader& r, std::int64_t& last_tag, std::uint32_t& tag, byte_span& body) {
  tag = r.read_uvarint();
  std::uint32_t size = r.read_uvarint();
  if (!r.ok()) return false;
  if (static_cast<std::int64_t>(tag) <= last_tag) {
    r.fail(codec_errc::tags_out_of_order);
    return false;
  }
  last_tag = tag;
  if (size > r.remaining()) {
    r.fail(codec_errc::length_out_of_range);
    return false;
  }
  body = r.read_span(size);
  return r.ok();
}

// After decoding a known tagged field from its sub-reader: it must have used exactly its bytes.
inline void finish_tagged(reader& outer, const reader& sub) {
  if (!sub.ok()) {
    outer.fail(sub.errc());
  } else if (!sub.at_end()) {
    outer.fail(codec_errc::trailing_bytes);
  }
}

}  // namespace detail
}  // namespace vltava::protocol
