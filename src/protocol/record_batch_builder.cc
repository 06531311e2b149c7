// Encodes records and assembles them into a record batch (magic 2).
#include "vltava/protocol/record_batch_builder.h"

#include <algorithm>
#include <limits>

#include "vltava/protocol/crc32c.h"

namespace vltava::protocol {
namespace {

std::size_t nullable_bytes_size(const std::optional<byte_span>& data) noexcept {
  if (!data) return varint_size(-1);
  return varint_size(static_cast<std::int32_t>(data->size())) + data->size();
}

void write_nullable_bytes(writer& w, const std::optional<byte_span>& data) {
  if (!data) {
    w.write_varint(-1);
    return;
  }
  w.write_varint(static_cast<std::int32_t>(data->size()));
  w.write_raw(*data);
}

// Timestamps are opaque to the format; wrap rather than overflow on absurd values, as the Java client does.
std::int64_t wrapping_difference(std::int64_t a, std::int64_t b) noexcept {
  return static_cast<std::int64_t>(static_cast<std::uint64_t>(a) - static_cast<std::uint64_t>(b));
}

}  // namespace

void record_batch_builder::append(std::int64_t timestamp, std::optional<byte_span> key, std::optional<byte_span> value,
                                  std::span<const record_header_view> headers) {
  encode(last_offset_delta_ + 1, timestamp, key, value, headers);
}

std::error_code record_batch_builder::append_at(std::int32_t offset_delta, std::int64_t timestamp,
                                                std::optional<byte_span> key, std::optional<byte_span> value,
                                                std::span<const record_header_view> headers) {
  if (offset_delta <= last_offset_delta_) return make_error_code(codec_errc::invalid_value);
  encode(offset_delta, timestamp, key, value, headers);
  return {};
}

void record_batch_builder::encode(std::int32_t offset_delta, std::int64_t timestamp, std::optional<byte_span> key,
                                  std::optional<byte_span> value, std::span<const record_header_view> headers) {
  if (count_ == 0) {
    base_timestamp_ = timestamp;
    max_timestamp_ = timestamp;
  }
  max_timestamp_ = std::max(max_timestamp_, timestamp);
  const std::int64_t timestamp_delta = wrapping_difference(timestamp, base_timestamp_);

  // The length prefix comes first, so the body size is computed before anything is written.
  std::size_t body = 1 + varlong_size(timestamp_delta) + varint_size(offset_delta) + nullable_bytes_size(key) +
                     nullable_bytes_size(value) + varint_size(static_cast<std::int32_t>(headers.size()));
  for (const auto& header : headers)
    body += varint_size(static_cast<std::int32_t>(header.key.size())) + header.key.size() +
            nullable_bytes_size(header.value);

  writer w(records_);
  w.write_varint(static_cast<std::int32_t>(body));
  w.write_int8(0);  // record attributes: none defined
  w.write_varlong(timestamp_delta);
  w.write_varint(offset_delta);
  write_nullable_bytes(w, key);
  write_nullable_bytes(w, value);
  w.write_varint(static_cast<std::int32_t>(headers.size()));
  for (const auto& header : headers) {
    w.write_varint(static_cast<std::int32_t>(header.key.size()));
    w.write_raw(header.key);
    write_nullable_bytes(w, header.value);
  }
  ++count_;
  last_offset_delta_ = offset_delta;
}

std::error_code record_batch_builder::build(bytes& out) {
  if (count_ == 0) return make_error_code(codec_errc::invalid_value);
  const std::size_t start = out.size();
  batch_attributes attributes;
  attributes.set_codec(options_.codec);
  attributes.set_timestamps(options_.timestamps);
  attributes.set_transactional(options_.transactional);
  attributes.set_control(options_.control);

  writer w(out);
  w.write_int64(options_.base_offset);
  w.write_int32(0);  // batchLength, patched below
  w.write_int32(options_.partition_leader_epoch);
  w.write_int8(record_batch_magic);
  w.write_uint32(0);  // crc, patched below
  w.write_int16(attributes.bits);
  w.write_int32(last_offset_delta_);
  w.write_int64(base_timestamp_);
  w.write_int64(max_timestamp_);
  w.write_int64(options_.producer_id);
  w.write_int16(options_.producer_epoch);
  w.write_int32(options_.base_sequence);
  w.write_int32(count_);
  if (options_.codec == compression_codec::none) {
    w.write_raw(byte_span(records_));
  } else if (auto ec = compress(options_.codec, records_, out, options_.compression)) {
    out.resize(start);
    return ec;
  }

  const std::size_t batch_length = out.size() - start - log_entry_prefix_size;
  if (batch_length > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
    out.resize(start);
    return make_error_code(codec_errc::too_large);
  }
  w.patch_int32(start + 8, static_cast<std::int32_t>(batch_length));
  store_be(out.data() + start + record_batch_crc_offset, compute_record_batch_crc(byte_span(out).subspan(start)));
  clear();
  return {};
}

void record_batch_builder::clear() noexcept {
  records_.clear();
  count_ = 0;
  last_offset_delta_ = -1;
  base_timestamp_ = -1;
  max_timestamp_ = -1;
}

}  // namespace vltava::protocol
