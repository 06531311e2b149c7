// Reading, converting and writing legacy message sets (magic 0 and 1).
#include "vltava/protocol/legacy_message_set.h"

#include <algorithm>
#include <limits>
#include <vector>

#include "vltava/protocol/crc32c.h"
#include "vltava/protocol/record_batch_builder.h"

namespace vltava::protocol {
namespace {

constexpr std::size_t magic_offset = 16;
constexpr std::size_t crc_size = 4;
constexpr std::int8_t log_append_time_bit = 0x08;

std::error_code fail(codec_errc e) noexcept { return make_error_code(e); }

// Offsets come from the wire: arithmetic on them wraps instead of overflowing (undefined behaviour); orderings are
// checked separately.
std::int64_t wrapping_add(std::int64_t a, std::int64_t b) noexcept {
  return static_cast<std::int64_t>(static_cast<std::uint64_t>(a) + static_cast<std::uint64_t>(b));
}
std::int64_t wrapping_subtract(std::int64_t a, std::int64_t b) noexcept {
  return static_cast<std::int64_t>(static_cast<std::uint64_t>(a) - static_cast<std::uint64_t>(b));
}
// b - a for a <= b, exact even where the signed difference would overflow.
std::uint64_t distance(std::int64_t a, std::int64_t b) noexcept {
  return static_cast<std::uint64_t>(b) - static_cast<std::uint64_t>(a);
}
constexpr std::uint64_t max_offset_delta = std::numeric_limits<std::int32_t>::max();

void write_nullable_bytes(writer& w, const std::optional<byte_span>& data) {
  if (!data) {
    w.write_int32(-1);
    return;
  }
  w.write_int32(static_cast<std::int32_t>(data->size()));
  w.write_raw(*data);
}

void write_message(bytes& out, std::int64_t offset, std::int8_t magic, std::int8_t attributes, std::int64_t timestamp,
                   const std::optional<byte_span>& key, const std::optional<byte_span>& value) {
  writer w(out);
  w.write_int64(offset);
  const std::size_t size_at = w.position();
  w.write_int32(0);
  const std::size_t crc_at = w.position();
  w.write_uint32(0);
  w.write_int8(magic);
  w.write_int8(attributes);
  if (magic >= 1) w.write_int64(timestamp);
  write_nullable_bytes(w, key);
  write_nullable_bytes(w, value);
  w.patch_int32(size_at, static_cast<std::int32_t>(w.position() - crc_at));
  store_be(out.data() + crc_at, crc32_ieee(byte_span(out).subspan(crc_at + crc_size)));
}

// ------------------------------------------------------------------------------------------------------ conversion

// Turns a message set into record batches. Uncompressed messages accumulate in a run that becomes one batch;
// each wrapper message becomes a batch of its own.
class legacy_converter {
 public:
  legacy_converter(const legacy_conversion_options& options, bytes& out)
      : options_(options), out_(out), budget_(options.max_decompressed_bytes) {}

  std::error_code convert(byte_span set) {
    legacy_message_reader messages(set, options_.tail);
    legacy_message_view message;
    while (messages.next(message)) {
      auto ec = message.codec() == compression_codec::none ? add_to_run(message) : convert_wrapper(message);
      if (ec) return ec;
    }
    if (auto ec = messages.error()) return ec;
    return flush_run();
  }

 private:
  // The offset a record gets in the converted batches; checks the order when offsets are kept.
  std::error_code assign_offset(std::int64_t offset, std::int64_t& assigned) {
    if (!options_.preserve_offsets) {
      assigned = next_offset_++;
      return {};
    }
    if (have_previous_ && offset <= previous_offset_) return fail(codec_errc::corrupt_message);
    have_previous_ = true;
    previous_offset_ = offset;
    assigned = offset;
    return {};
  }

  std::error_code add_to_run(const legacy_message_view& m) {
    std::int64_t offset = 0;
    if (auto ec = assign_offset(m.offset, offset)) return ec;
    // A batch has one magic-derived timestamp layout and one timestamp type, and deltas are int32.
    if (run_ && (m.magic != run_magic_ || m.timestamps() != run_.value().options.timestamps ||
                 distance(run_base_, offset) > max_offset_delta)) {
      if (auto ec = flush_run()) return ec;
    }
    if (!run_) {
      run_.emplace();
      run_->options.base_offset = offset;
      run_->options.codec = options_.output_codec.value_or(compression_codec::none);
      run_->options.timestamps = m.timestamps();
      run_->builder = record_batch_builder(run_->options);
      run_magic_ = m.magic;
      run_base_ = offset;
    }
    return run_->builder.append_at(static_cast<std::int32_t>(distance(run_base_, offset)),
                                   m.magic == 0 ? -1 : m.timestamp, m.key, m.value);
  }

  std::error_code flush_run() {
    if (!run_) return {};
    auto ec = run_->builder.build(out_);
    run_.reset();
    return ec;
  }

  std::error_code convert_wrapper(const legacy_message_view& wrapper) {
    if (auto ec = flush_run()) return ec;
    if (!is_known_compression_codec(wrapper.codec_bits()) || wrapper.codec() == compression_codec::zstd)
      return fail(codec_errc::unsupported_compression);  // zstd arrived with magic 2
    if (!wrapper.value) return fail(codec_errc::corrupt_message);

    // Magic 0 producers computed the LZ4 descriptor checksum over the magic number too.
    decompression_options decompression;
    decompression.lz4_legacy_header_checksum = wrapper.magic == 0;
    inner_data_.clear();
    if (auto ec = decompress(wrapper.codec(), *wrapper.value, inner_data_, budget_, decompression)) return ec;
    budget_ -= inner_data_.size();

    // Only one level: the inner set is read as plain messages, and a compressed one among them is an error.
    inner_.clear();
    legacy_message_reader reader(inner_data_);
    legacy_message_view m;
    while (reader.next(m)) {
      if (m.magic != wrapper.magic || m.codec() != compression_codec::none) return fail(codec_errc::corrupt_message);
      inner_.push_back(m);
    }
    if (auto ec = reader.error()) return ec;
    if (inner_.empty()) return fail(codec_errc::corrupt_message);

    // Magic 1 inner offsets are relative; the wrapper holds the absolute offset of the last one.
    const std::int64_t relative_base = wrapper.magic >= 1 ? wrapping_subtract(wrapper.offset, inner_.back().offset) : 0;
    const bool log_append = wrapper.timestamps() == timestamp_type::log_append_time;
    record_batch_builder_options batch;
    batch.codec = options_.output_codec.value_or(wrapper.codec());
    batch.timestamps = wrapper.timestamps();
    record_batch_builder builder;
    for (std::size_t i = 0; i < inner_.size(); ++i) {
      const legacy_message_view& inner = inner_[i];
      std::int64_t offset = 0;
      if (auto ec = assign_offset(wrapping_add(relative_base, inner.offset), offset)) return ec;
      if (i == 0) {
        batch.base_offset = offset;
        builder = record_batch_builder(batch);
      }
      const std::uint64_t delta = distance(batch.base_offset, offset);
      if (delta > max_offset_delta) return fail(codec_errc::corrupt_message);
      const std::int64_t timestamp = wrapper.magic == 0 ? -1 : (log_append ? wrapper.timestamp : inner.timestamp);
      if (auto ec = builder.append_at(static_cast<std::int32_t>(delta), timestamp, inner.key, inner.value)) return ec;
    }
    return builder.build(out_);
  }

  struct run {
    record_batch_builder_options options;
    record_batch_builder builder;
  };

  const legacy_conversion_options& options_;
  bytes& out_;
  std::size_t budget_;
  std::optional<run> run_;
  std::int8_t run_magic_ = 0;
  std::int64_t run_base_ = 0;
  std::int64_t next_offset_ = 0;
  std::int64_t previous_offset_ = 0;
  bool have_previous_ = false;
  bytes inner_data_;
  std::vector<legacy_message_view> inner_;
};

}  // namespace

// ------------------------------------------------------------------------------------------------------- reader

bool legacy_message_reader::stop(codec_errc e) noexcept {
  if (error_ == codec_errc::ok) error_ = e;
  rest_ = {};
  return false;
}

bool legacy_message_reader::next(legacy_message_view& out) noexcept {
  if (error_ != codec_errc::ok || rest_.empty()) return false;
  auto partial = [this] {
    if (tail_ == truncated_tail::reject) return stop(codec_errc::truncated);
    skipped_ = rest_.size();
    rest_ = {};
    return false;
  };
  if (rest_.size() < log_entry_prefix_size) return partial();
  if (rest_.size() > magic_offset && rest_[magic_offset] > 1) return stop(codec_errc::unsupported_version);
  const std::int32_t size = load_be<std::int32_t>(rest_.data() + 8);
  if (size < static_cast<std::int32_t>(legacy_message_overhead_v0)) return stop(codec_errc::corrupt_message);
  if (static_cast<std::size_t>(size) > rest_.size() - log_entry_prefix_size) return partial();

  const byte_span message = rest_.subspan(log_entry_prefix_size, static_cast<std::size_t>(size));
  reader r(message);
  out.offset = load_be<std::int64_t>(rest_.data());
  out.crc = r.read_uint32();
  out.magic = r.read_int8();
  out.attributes = r.read_int8();
  out.timestamp = out.magic >= 1 ? r.read_int64() : -1;
  if (!r.read_nullable_span(r.read_int32(), out.key) || !r.read_nullable_span(r.read_int32(), out.value))
    return stop(r.errc());
  if (!r.at_end()) return stop(codec_errc::trailing_bytes);
  if (crc32_ieee(message.subspan(crc_size)) != out.crc) return stop(codec_errc::corrupt_message);
  out.encoded = rest_.first(log_entry_prefix_size + message.size());
  rest_ = rest_.subspan(out.encoded.size());
  return true;
}

std::error_code convert_legacy_message_set(byte_span set, bytes& out, const legacy_conversion_options& options) {
  const std::size_t start = out.size();
  legacy_converter converter(options, out);
  if (auto ec = converter.convert(set)) {
    out.resize(start);
    return ec;
  }
  return {};
}

// ------------------------------------------------------------------------------------------------------- writer

void legacy_message_set_writer::append(std::int64_t offset, std::int64_t timestamp, std::optional<byte_span> key,
                                       std::optional<byte_span> value) {
  if (count_ == 0) {
    first_offset_ = offset;
    max_timestamp_ = timestamp;
  }
  const bool wrapped = codec_ != compression_codec::none;
  // Inside a magic 1 wrapper offsets are relative to the first message; magic 0 keeps them absolute.
  const std::int64_t written_offset = wrapped && magic_ >= 1 ? offset - first_offset_ : offset;
  // The timestamp type lives on the wrapper when there is one.
  const std::int8_t attributes =
      !wrapped && magic_ >= 1 && timestamps_ == timestamp_type::log_append_time ? log_append_time_bit : 0;
  write_message(messages_, written_offset, magic_, attributes, timestamp, key, value);
  last_offset_ = offset;
  max_timestamp_ = std::max(max_timestamp_, timestamp);
  ++count_;
}

std::error_code legacy_message_set_writer::finish(bytes& out) {
  std::error_code result;
  if (count_ == 0) {
  } else if (magic_ < 0 || magic_ > 1) {
    result = fail(codec_errc::unsupported_version);
  } else if (codec_ == compression_codec::none) {
    out.insert(out.end(), messages_.begin(), messages_.end());
  } else if (codec_ == compression_codec::zstd) {
    result = fail(codec_errc::unsupported_compression);  // legacy formats predate zstd; no old client reads it
  } else {
    compression_options compression;
    compression.lz4_legacy_header_checksum = magic_ == 0;  // what readers of the magic 0 era verify
    bytes compressed;
    result = compress(codec_, messages_, compressed, compression);
    if (!result) {
      std::int8_t attributes = static_cast<std::int8_t>(codec_);
      if (magic_ >= 1 && timestamps_ == timestamp_type::log_append_time) attributes |= log_append_time_bit;
      write_message(out, last_offset_, magic_, attributes, max_timestamp_, std::nullopt, byte_span(compressed));
    }
  }
  messages_.clear();
  count_ = 0;
  max_timestamp_ = -1;
  return result;
}

std::error_code down_convert_record_batch(const record_batch_view& batch, std::int8_t magic, bytes& out,
                                          const record_reader_options& options) {
  if (batch.header().attributes.control()) return {};
  legacy_message_set_writer writer(magic, batch.header().attributes.codec(), batch.header().attributes.timestamps());
  record_reader records;
  if (auto ec = records.open(batch, options)) return ec;
  record_view record;
  while (records.next(record))
    writer.append(batch.offset_of(record), batch.timestamp_of(record), record.key, record.value);
  if (auto ec = records.error()) return ec;
  return writer.finish(out);
}

}  // namespace vltava::protocol
