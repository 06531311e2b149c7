// Hands out distinctive field values for the cross-check frames and records each one (path, type, encoded bytes)
// for compare.py. Every integer of 16 bits or more and every string/bytes value is unique within a message, so a
// value found in Wireshark's dissection identifies the field it came from.
#pragma once

#include <bit>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "vltava/protocol/legacy_message_set.h"
#include "vltava/protocol/record_batch_builder.h"
#include "vltava/protocol/wire.h"

namespace vltava::crosscheck {

using vltava::protocol::byte_span;
using vltava::protocol::bytes;
using vltava::protocol::shared_bytes;
using vltava::protocol::uuid;

template <class T>
T& ensure(std::optional<T>& value) {
  if (!value) value.emplace();
  return *value;
}
template <class T>
T& ensure(T& value) {
  return value;
}

// What the record fields of this message carry: 0/1 legacy message sets, 2 record batches.
enum class record_format { magic0, magic1, magic2 };

class filler {
 public:
  struct entry {
    std::string path;
    std::string type;
    std::string hex;  // the value's bytes as the protocol writes them (strings: the characters only);
                      // type "shown": the text the dissector is expected to show (a value computed from deltas)
    bool tagged;      // the field or one of its parents is a tagged field in this version
  };

  // overrides: "Message:path.without.indices" -> value (for repeated fields, "a,b,..." handed out in turn).
  // empty: arrays ("Message:path") left empty.
  // Which fields that may be null are left null (the generated code asks null_here()).
  enum class null_mode { none, all_but_records, records_only };

  filler(std::string message, record_format records, std::map<std::string, std::string> overrides = {},
         std::set<std::string> empty = {}, null_mode nulls = null_mode::none)
      : message_(std::move(message)),
        format_(records),
        overrides_(std::move(overrides)),
        empty_(std::move(empty)),
        nulls_(nulls) {}

  bool null_here(bool records_field) const noexcept {
    return records_field ? nulls_ == null_mode::records_only : nulls_ == null_mode::all_but_records;
  }
  // Records that the current field was left null (compare.py expects nothing for it but a dissection that stays
  // in step with the fields around it).
  void null_value() {
    add("null", "");
    ++null_count_;
  }
  int null_count() const noexcept { return null_count_; }

  const std::vector<entry>& entries() const noexcept { return entries_; }

  // tagged: the field is a tagged field in this version (tag: its tag number).
  void enter(const char* name, bool tagged, int tag) {
    frames_.push_back({name, tagged || in_tagged(), tagged ? tag : -1});
  }
  void index(std::size_t i) {
    auto& top = frames_.back();
    const auto at = top.name.find('[');
    if (at != std::string::npos) top.name.resize(at);
    top.name += "[" + std::to_string(i) + "]";
  }
  void leave() { frames_.pop_back(); }

  std::size_t count() const { return empty_.count(override_key()) ? 0 : 2; }

  bool boolean(bool default_value) {
    const bool v = !default_value;
    add("bool", v ? "01" : "00");
    return v;
  }
  std::int8_t int8() {
    auto v = static_cast<std::int8_t>(10 + next() % 100);
    if (auto o = override_value()) v = static_cast<std::int8_t>(std::stoi(*o));
    add("int8", be(static_cast<std::uint64_t>(static_cast<std::uint8_t>(v)), 1));
    return v;
  }
  std::int16_t int16() {
    auto v = static_cast<std::int16_t>(1000 + next());
    if (auto o = override_value()) v = static_cast<std::int16_t>(std::stoi(*o));
    add("int16", be(static_cast<std::uint16_t>(v), 2));
    return v;
  }
  std::uint16_t uint16() {
    auto v = static_cast<std::uint16_t>(2000 + next());
    add("uint16", be(v, 2));
    return v;
  }
  std::int32_t int32() {
    auto v = static_cast<std::int32_t>(100000 + next());
    if (auto o = override_value()) v = static_cast<std::int32_t>(std::stol(*o));
    add("int32", be(static_cast<std::uint32_t>(v), 4));
    return v;
  }
  std::uint32_t uint32() {
    auto v = static_cast<std::uint32_t>(3000000000u + next());
    add("uint32", be(v, 4));
    return v;
  }
  std::int64_t int64() {
    auto v = static_cast<std::int64_t>(10000000000LL + next());
    if (auto o = override_value()) v = std::stoll(*o);
    add("int64", be(static_cast<std::uint64_t>(v), 8));
    return v;
  }
  double float64() {
    const double v = static_cast<double>(next()) + 0.5;
    add("float64", be(std::bit_cast<std::uint64_t>(v), 8));
    return v;
  }
  uuid id() {
    uuid u;
    const int n = next();
    for (std::size_t i = 0; i < u.value.size(); ++i) u.value[i] = static_cast<std::uint8_t>(0xC0 + i);
    u.value[15] = static_cast<std::uint8_t>(n);
    u.value[14] = static_cast<std::uint8_t>(n >> 8);
    add("uuid", hex(byte_span(u.value.data(), u.value.size())));
    return u;
  }
  std::string str() {
    std::string v = leaf() + "-" + std::to_string(next());
    if (auto o = override_value()) v = *o;
    add("string", hex(as_span(v)));
    return v;
  }
  bytes blob() {
    std::string text = "blob-" + leaf() + "-" + std::to_string(next());
    if (auto o = override_value()) text = *o;
    bytes v(text.begin(), text.end());
    add("bytes", hex(byte_span(v)));
    return v;
  }
  shared_bytes records();

  // A path with the array indices dropped, "Message:a.b.c", as overrides are keyed.
  std::string override_key() const {
    std::string key = message_ + ":";
    for (std::size_t i = 0; i < frames_.size(); ++i) {
      if (i) key += ".";
      const auto& n = frames_[i].name;
      key += n.substr(0, n.find('['));
    }
    return key;
  }

 private:
  struct frame {
    std::string name;  // with "[i]" while inside an array element
    bool tagged;       // this field or a parent is tagged
    int tag;           // this field's tag, -1 when it is not tagged
  };

  int next() { return ++counter_; }
  bool in_tagged() const { return !frames_.empty() && frames_.back().tagged; }
  std::string leaf() const {
    std::string n = frames_.empty() ? "value" : frames_.back().name.substr(0, frames_.back().name.find('['));
    for (auto& c : n)
      if (c == '_') c = '-';
    return n;
  }
  std::string path(const std::string& suffix = {}) const {
    std::string p;
    for (std::size_t i = 0; i < frames_.size(); ++i) {
      if (i) p += ".";
      const auto& n = frames_[i].name;
      if (frames_[i].tag < 0) {
        p += n;
      } else {  // "name<tag 3>[1]"
        const auto at = n.find('[');
        p += n.substr(0, at) + "<tag " + std::to_string(frames_[i].tag) + ">" +
             (at == std::string::npos ? std::string() : n.substr(at));
      }
    }
    return suffix.empty() ? p : p + "." + suffix;
  }
  std::optional<std::string> override_value() {
    const auto key = override_key();
    auto it = overrides_.find(key);
    if (it == overrides_.end()) return std::nullopt;
    std::vector<std::string> values;
    std::size_t from = 0;
    for (auto comma = it->second.find(','); comma != std::string::npos; comma = it->second.find(',', from)) {
      values.push_back(it->second.substr(from, comma - from));
      from = comma + 1;
    }
    values.push_back(it->second.substr(from));
    return values[override_uses_[key]++ % values.size()];
  }
  void add(const std::string& type, std::string hex_value, const std::string& suffix = {}) {
    entries_.push_back({path(suffix), type, std::move(hex_value), in_tagged()});
  }
  static byte_span as_span(const std::string& s) {
    return byte_span(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
  }
  static std::string hex(byte_span b) {
    static const char digits[] = "0123456789abcdef";
    std::string out;
    for (auto c : b) {
      out += digits[c >> 4];
      out += digits[c & 15];
    }
    return out;
  }
  static std::string be(std::uint64_t v, int size) {
    std::string out;
    for (int i = size - 1; i >= 0; --i) {
      char buf[3];
      std::snprintf(buf, sizeof buf, "%02x", static_cast<unsigned>((v >> (8 * i)) & 0xFF));
      out += buf;
    }
    return out;
  }

  std::string message_;
  record_format format_;
  std::map<std::string, std::string> overrides_;
  std::set<std::string> empty_;
  null_mode nulls_ = null_mode::none;
  int null_count_ = 0;
  std::map<std::string, std::size_t> override_uses_;
  std::vector<frame> frames_;
  std::vector<entry> entries_;
  int counter_ = 0;
};

// Two records with keys, values and (magic 2) one header each; every batch/message field distinctive.
inline shared_bytes filler::records() {
  using namespace vltava::protocol;
  bytes out;
  const int n = next();
  const std::string key1 = "key-" + std::to_string(n) + "a", value1 = "value-" + std::to_string(n) + "a";
  const std::string key2 = "key-" + std::to_string(n) + "b", value2 = "value-" + std::to_string(n) + "b";
  const std::int64_t base_offset = 20000000000LL + n * 1000;
  const std::int64_t timestamp = 1700000000000LL + n * 1000;  // 2023-11-14, plausible for a dissector
  if (format_ == record_format::magic2) {
    record_batch_builder_options options;
    options.base_offset = base_offset;
    options.partition_leader_epoch = 400000 + n;
    options.producer_id = 30000000000LL + n;
    options.producer_epoch = static_cast<std::int16_t>(4000 + n);
    options.base_sequence = 500000 + n;
    record_batch_builder builder(options);
    const std::string hkey = "hkey-" + std::to_string(n), hval = "hval-" + std::to_string(n);
    const record_header_view header{hkey, as_span(hval)};
    builder.append(timestamp, as_span(key1), as_span(value1), std::span(&header, 1));
    builder.append(timestamp + 7, as_span(key2), as_span(value2));
    if (builder.build(out)) throw std::runtime_error("record batch build failed");
    add("int64", be(static_cast<std::uint64_t>(base_offset), 8), "batch.base_offset");
    add("int32", be(static_cast<std::uint32_t>(options.partition_leader_epoch), 4), "batch.partition_leader_epoch");
    add("int64", be(static_cast<std::uint64_t>(timestamp), 8), "batch.first_timestamp");
    add("int64", be(static_cast<std::uint64_t>(timestamp + 7), 8), "batch.max_timestamp");
    add("int64", be(static_cast<std::uint64_t>(options.producer_id), 8), "batch.producer_id");
    add("int16", be(static_cast<std::uint16_t>(options.producer_epoch), 2), "batch.producer_epoch");
    add("int32", be(static_cast<std::uint32_t>(options.base_sequence), 4), "batch.base_sequence");
    // Records carry offset and timestamp deltas; the dissector shows the offsets they add up to.
    add("shown", std::to_string(base_offset), "record[0].offset");
    add("shown", std::to_string(base_offset + 1), "record[1].offset");
    add("bytes", hex(as_span(key1)), "record[0].key");
    add("bytes", hex(as_span(value1)), "record[0].value");
    add("string", hex(as_span(hkey)), "record[0].header[0].key");
    add("bytes", hex(as_span(hval)), "record[0].header[0].value");
    add("bytes", hex(as_span(key2)), "record[1].key");
    add("bytes", hex(as_span(value2)), "record[1].value");
  } else {
    const std::int8_t magic = format_ == record_format::magic0 ? 0 : 1;
    legacy_message_set_writer writer(magic);
    writer.append(base_offset, timestamp, as_span(key1), as_span(value1));
    writer.append(base_offset + 1, timestamp + 7, as_span(key2), as_span(value2));
    if (writer.finish(out)) throw std::runtime_error("message set build failed");
    add("int64", be(static_cast<std::uint64_t>(base_offset), 8), "message[0].offset");
    if (magic == 1) add("int64", be(static_cast<std::uint64_t>(timestamp), 8), "message[0].timestamp");
    add("bytes", hex(as_span(key1)), "message[0].key");
    add("bytes", hex(as_span(value1)), "message[0].value");
    add("int64", be(static_cast<std::uint64_t>(base_offset + 1), 8), "message[1].offset");
    if (magic == 1) add("int64", be(static_cast<std::uint64_t>(timestamp + 7), 8), "message[1].timestamp");
    add("bytes", hex(as_span(key2)), "message[1].key");
    add("bytes", hex(as_span(value2)), "message[1].value");
  }
  add("records", hex(byte_span(out)));
  return shared_bytes::adopt(std::move(out));
}

}  // namespace vltava::crosscheck
