// Parsing, validation and record iteration for record batches (magic 2).
#include "vltava/protocol/record_batch.h"

#include "vltava/protocol/crc32c.h"

namespace vltava::protocol {
namespace {

constexpr std::size_t magic_offset = 16;
constexpr std::int32_t min_batch_length = static_cast<std::int32_t>(record_batch_header_size - log_entry_prefix_size);

std::error_code fail(codec_errc e) noexcept { return make_error_code(e); }

}  // namespace

std::optional<std::int8_t> peek_magic(byte_span data) noexcept {
  if (data.size() <= magic_offset) return std::nullopt;
  return static_cast<std::int8_t>(data[magic_offset]);
}

void batch_attributes::set_codec(compression_codec codec) noexcept {
  bits = static_cast<std::int16_t>((bits & ~codec_mask) | (static_cast<std::int16_t>(codec) & codec_mask));
}

// ---------------------------------------------------------------------------------------------- record_batch_view

std::error_code record_batch_view::parse(byte_span data, record_batch_view& out) noexcept {
  if (data.size() < log_entry_prefix_size) return fail(codec_errc::truncated);
  // The magic decides the layout, so it is checked before anything that depends on the layout.
  if (auto magic = peek_magic(data); magic && *magic != record_batch_magic)
    return fail(codec_errc::unsupported_version);
  reader r(data);
  record_batch_header h;
  h.base_offset = r.read_int64();
  h.batch_length = r.read_int32();
  if (h.batch_length < min_batch_length) return fail(codec_errc::corrupt_message);
  if (static_cast<std::size_t>(h.batch_length) > r.remaining()) return fail(codec_errc::truncated);
  h.partition_leader_epoch = r.read_int32();
  h.magic = r.read_int8();
  h.crc = r.read_uint32();
  h.attributes.bits = r.read_int16();
  h.last_offset_delta = r.read_int32();
  h.base_timestamp = r.read_int64();
  h.max_timestamp = r.read_int64();
  h.producer_id = r.read_int64();
  h.producer_epoch = r.read_int16();
  h.base_sequence = r.read_int32();
  h.records_count = r.read_int32();
  if (!r.ok()) return r.error();  // cannot happen after the length check; kept so a layout slip cannot read junk
  out.header_ = h;
  out.data_ = data.first(log_entry_prefix_size + static_cast<std::size_t>(h.batch_length));
  return {};
}

bool record_batch_view::crc_matches() const noexcept { return compute_record_batch_crc(data_) == header_.crc; }

std::error_code record_batch_view::validate() const noexcept {
  if (!crc_matches()) return fail(codec_errc::corrupt_message);
  if (!is_known_compression_codec(header_.attributes.codec_bits())) return fail(codec_errc::unsupported_compression);
  if (header_.records_count < 0) return fail(codec_errc::negative_length);
  // Offset deltas strictly increase from 0, so the last one is at least count - 1.
  if (header_.last_offset_delta < 0 || header_.last_offset_delta < header_.records_count - 1)
    return fail(codec_errc::corrupt_message);
  if (header_.attributes.codec() == compression_codec::none &&
      static_cast<std::size_t>(header_.records_count) > records_data().size() / min_record_size)
    return fail(codec_errc::length_out_of_range);
  return {};
}

std::int64_t record_batch_view::timestamp_of(const record_view& record) const noexcept {
  if (header_.attributes.timestamps() == timestamp_type::log_append_time) return header_.max_timestamp;
  // Wrapping addition, as the Java client computes it; hostile deltas must not be undefined behaviour.
  return static_cast<std::int64_t>(static_cast<std::uint64_t>(header_.base_timestamp) +
                                   static_cast<std::uint64_t>(record.timestamp_delta));
}

std::uint32_t compute_record_batch_crc(byte_span batch) noexcept {
  if (batch.size() < record_batch_attributes_offset) return 0;
  return crc32c(batch.subspan(record_batch_attributes_offset));
}

std::error_code set_base_offset(std::span<std::uint8_t> batch, std::int64_t base_offset) noexcept {
  if (batch.size() < record_batch_header_size) return fail(codec_errc::truncated);
  store_be(batch.data(), base_offset);
  return {};
}

std::error_code set_partition_leader_epoch(std::span<std::uint8_t> batch, std::int32_t epoch) noexcept {
  if (batch.size() < record_batch_header_size) return fail(codec_errc::truncated);
  store_be(batch.data() + 12, epoch);
  return {};
}

std::error_code set_max_timestamp(std::span<std::uint8_t> batch, std::int64_t max_timestamp) noexcept {
  if (batch.size() < record_batch_header_size) return fail(codec_errc::truncated);
  store_be(batch.data() + 35, max_timestamp);
  store_be(batch.data() + record_batch_crc_offset, compute_record_batch_crc(batch));
  return {};
}

// ---------------------------------------------------------------------------------------------------- headers

void record_headers::iterator::read() noexcept {
  if (left_ <= 0) {
    done_ = true;
    return;
  }
  reader r(rest_);
  const std::int64_t key_length = r.checked_length(r.read_varint(), false);
  const byte_span key = key_length >= 0 ? r.read_span(static_cast<std::size_t>(key_length)) : byte_span{};
  std::optional<byte_span> value;
  if (!r.ok() || !r.read_nullable_span(r.read_varint(), value)) {
    done_ = true;  // validated when the record was read, so only a misuse of the class gets here
    return;
  }
  current_.key = std::string_view(reinterpret_cast<const char*>(key.data()), key.size());
  current_.value = value;
  rest_ = rest_.subspan(r.position());
  --left_;
  done_ = false;
}

// ----------------------------------------------------------------------------------------------- record_reader

std::error_code record_reader::open(const record_batch_view& batch, const record_reader_options& options) {
  const record_batch_header& h = batch.header();
  records_ = {};
  position_ = 0;
  read_ = 0;
  previous_offset_delta_ = -1;
  expected_ = h.records_count;
  last_offset_delta_ = h.last_offset_delta;
  contiguous_ = options.require_contiguous_offsets;
  error_ = codec_errc::ok;
  if (expected_ < 0) return fail_open(codec_errc::negative_length);
  if (contiguous_ && expected_ > 0 && last_offset_delta_ != expected_ - 1)
    return fail_open(codec_errc::corrupt_message);
  if (!is_known_compression_codec(h.attributes.codec_bits())) return fail_open(codec_errc::unsupported_compression);

  if (h.attributes.codec() == compression_codec::none) {
    records_ = batch.records_data();
    return {};
  }
  decompressed_.clear();
  if (auto ec = decompress(h.attributes.codec(), batch.records_data(), decompressed_, options.max_decompressed_bytes))
    return fail_open(static_cast<codec_errc>(ec.value()));
  records_ = decompressed_;
  return {};
}

std::error_code record_reader::fail_open(codec_errc e) noexcept {
  stop(e);
  return error();
}

bool record_reader::stop(codec_errc e) noexcept {
  if (error_ == codec_errc::ok) error_ = e;
  position_ = records_.size();
  return false;
}

bool record_reader::next(record_view& out) noexcept {
  if (error_ != codec_errc::ok) return false;
  if (position_ == records_.size()) return read_ == expected_ ? false : stop(codec_errc::corrupt_message);
  if (read_ == expected_) return stop(codec_errc::trailing_bytes);  // more records than recordsCount

  reader r(records_.subspan(position_));
  const std::int32_t length = r.read_varint();
  if (!r.ok()) return stop(r.errc());
  if (length < 0) return stop(codec_errc::negative_length);
  const std::size_t prefix = r.position();
  const byte_span body = r.read_span(static_cast<std::size_t>(length));
  if (!r.ok()) return stop(codec_errc::truncated);

  reader b(body);
  out.length = length;
  out.attributes = b.read_int8();
  out.timestamp_delta = b.read_varlong();
  out.offset_delta = b.read_varint();
  if (!b.read_nullable_span(b.read_varint(), out.key) || !b.read_nullable_span(b.read_varint(), out.value))
    return stop(b.errc());
  out.header_count = b.read_varint();
  if (!b.ok()) return stop(b.errc());
  if (out.header_count < 0) return stop(codec_errc::negative_length);
  if (static_cast<std::size_t>(out.header_count) > b.remaining() / 2) return stop(codec_errc::length_out_of_range);
  const std::size_t headers_start = b.position();
  for (std::int32_t i = 0; i < out.header_count; ++i) {
    // Header keys are strings and may not be null; values may.
    const std::int64_t key_length = b.checked_length(b.read_varint(), false);
    if (key_length < 0) return stop(b.errc());
    b.read_span(static_cast<std::size_t>(key_length));
    std::optional<byte_span> value;
    if (!b.read_nullable_span(b.read_varint(), value)) return stop(b.errc());
  }
  if (!b.at_end()) return stop(codec_errc::trailing_bytes);  // the record length claims more than its fields
  out.encoded_headers = body.subspan(headers_start);
  out.encoded = records_.subspan(position_, prefix + body.size());

  if (contiguous_ ? out.offset_delta != read_
                  : (out.offset_delta <= previous_offset_delta_ || out.offset_delta > last_offset_delta_))
    return stop(codec_errc::corrupt_message);
  previous_offset_delta_ = out.offset_delta;
  ++read_;
  position_ += out.encoded.size();
  return true;
}

// ------------------------------------------------------------------------------------------------------ splitter

bool record_batch_splitter::next(record_batch_view& out) noexcept {
  if (error_ != codec_errc::ok || rest_.empty()) return false;
  if (auto ec = record_batch_view::parse(rest_, out)) {
    if (ec == codec_errc::truncated && tail_ == truncated_tail::allow) {
      skipped_ = rest_.size();
      rest_ = {};
      return false;
    }
    error_ = static_cast<codec_errc>(ec.value());
    rest_ = {};
    return false;
  }
  rest_ = rest_.subspan(out.size_in_bytes());
  return true;
}

std::error_code split_record_batches(byte_span records, std::vector<record_batch_view>& out, truncated_tail tail) {
  record_batch_splitter splitter(records, tail);
  record_batch_view batch;
  while (splitter.next(batch)) out.push_back(batch);
  return splitter.error();
}

}  // namespace vltava::protocol
