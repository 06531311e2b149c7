// Record batches (magic 2), the unit in which Kafka produces, stores and fetches records.
//
// Layout (all big-endian; PROTOCOL-NOTES.md, "Record batch v2"):
//   0 baseOffset i64 | 8 batchLength i32 (bytes after this field) | 12 partitionLeaderEpoch i32 | 16 magic i8
//   17 crc u32 (CRC-32C of byte 21 to the end) | 21 attributes i16 | 23 lastOffsetDelta i32 | 27 baseTimestamp i64
//   35 maxTimestamp i64 | 43 producerId i64 | 51 producerEpoch i16 | 53 baseSequence i32 | 57 recordsCount i32
//   61 records (compressed as a whole when the codec bits say so)
//
// Everything here is a view: parsing copies nothing, and iterating records hands out spans into the batch (or into
// the reader's decompression buffer), with no allocation per record. Views stay valid as long as the bytes they
// point into.
#pragma once

#include <cstdint>
#include <iterator>
#include <optional>
#include <span>
#include <string_view>
#include <system_error>
#include <vector>

#include "vltava/protocol/compression.h"
#include "vltava/protocol/wire.h"

namespace vltava::protocol {

inline constexpr std::int8_t record_batch_magic = 2;
inline constexpr std::size_t record_batch_header_size = 61;
// baseOffset and batchLength, the part of a batch (and of a legacy message) that batchLength does not count.
inline constexpr std::size_t log_entry_prefix_size = 12;
inline constexpr std::size_t record_batch_crc_offset = 17;
inline constexpr std::size_t record_batch_attributes_offset = 21;
// The smallest record: length, attributes, timestamp delta, offset delta, key and value lengths, header count.
inline constexpr std::size_t min_record_size = 7;

enum class timestamp_type : std::int8_t { create_time = 0, log_append_time = 1 };

// Where the magic byte sits in a batch and in a legacy message alike: lets a "records" field be routed before it is
// parsed. Empty when data is too short to tell.
std::optional<std::int8_t> peek_magic(byte_span data) noexcept;

struct batch_attributes {
  static constexpr std::int16_t codec_mask = 0x07;
  static constexpr std::int16_t timestamp_type_bit = 0x08;
  static constexpr std::int16_t transactional_bit = 0x10;
  static constexpr std::int16_t control_bit = 0x20;
  static constexpr std::int16_t delete_horizon_bit = 0x40;  // baseTimestamp is the compaction delete horizon

  std::int16_t bits = 0;

  int codec_bits() const noexcept { return bits & codec_mask; }
  // Meaningful when is_known_compression_codec(codec_bits()); validate() checks that.
  compression_codec codec() const noexcept { return static_cast<compression_codec>(codec_bits()); }
  timestamp_type timestamps() const noexcept {
    return (bits & timestamp_type_bit) ? timestamp_type::log_append_time : timestamp_type::create_time;
  }
  bool transactional() const noexcept { return (bits & transactional_bit) != 0; }
  bool control() const noexcept { return (bits & control_bit) != 0; }
  bool has_delete_horizon() const noexcept { return (bits & delete_horizon_bit) != 0; }

  void set_codec(compression_codec codec) noexcept;
  void set_timestamps(timestamp_type type) noexcept {
    set(timestamp_type_bit, type == timestamp_type::log_append_time);
  }
  void set_transactional(bool on) noexcept { set(transactional_bit, on); }
  void set_control(bool on) noexcept { set(control_bit, on); }
  void set_delete_horizon(bool on) noexcept { set(delete_horizon_bit, on); }

  bool operator==(const batch_attributes&) const = default;

 private:
  void set(std::int16_t bit, bool on) noexcept { bits = static_cast<std::int16_t>(on ? (bits | bit) : (bits & ~bit)); }
};

struct record_batch_header {
  std::int64_t base_offset = 0;
  std::int32_t batch_length = 0;
  std::int32_t partition_leader_epoch = -1;
  std::int8_t magic = record_batch_magic;
  std::uint32_t crc = 0;
  batch_attributes attributes;
  std::int32_t last_offset_delta = 0;
  std::int64_t base_timestamp = -1;
  std::int64_t max_timestamp = -1;
  std::int64_t producer_id = -1;
  std::int16_t producer_epoch = -1;
  std::int32_t base_sequence = -1;
  std::int32_t records_count = 0;

  // Wrapping, so that a hostile header cannot cause signed overflow.
  std::int64_t last_offset() const noexcept {
    return static_cast<std::int64_t>(static_cast<std::uint64_t>(base_offset) +
                                     static_cast<std::uint64_t>(last_offset_delta));
  }
  std::size_t size_in_bytes() const noexcept {
    return log_entry_prefix_size + static_cast<std::uint32_t>(batch_length);
  }
};

struct record_header_view {
  std::string_view key;
  std::optional<byte_span> value;
};

// The headers of one record, already validated when the record was read; iterating allocates nothing.
class record_headers {
 public:
  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = record_header_view;
    using difference_type = std::ptrdiff_t;

    iterator() = default;
    iterator(byte_span encoded, std::int32_t left) noexcept : rest_(encoded), left_(left) { read(); }
    const record_header_view& operator*() const noexcept { return current_; }
    const record_header_view* operator->() const noexcept { return &current_; }
    iterator& operator++() noexcept {
      read();
      return *this;
    }
    void operator++(int) noexcept { read(); }
    bool operator==(const iterator& other) const noexcept {
      return done_ == other.done_ && (done_ || left_ == other.left_);
    }

   private:
    void read() noexcept;
    byte_span rest_;
    std::int32_t left_ = 0;
    bool done_ = true;
    record_header_view current_;
  };

  record_headers() = default;
  record_headers(byte_span encoded, std::int32_t count) noexcept : encoded_(encoded), count_(count) {}
  iterator begin() const noexcept { return {encoded_, count_}; }
  iterator end() const noexcept { return {}; }
  std::int32_t size() const noexcept { return count_; }
  bool empty() const noexcept { return count_ == 0; }

 private:
  byte_span encoded_;
  std::int32_t count_ = 0;
};

struct record_view {
  std::int32_t length = 0;     // bytes after the length varint
  std::int8_t attributes = 0;  // unused by Kafka so far
  std::int64_t timestamp_delta = 0;
  std::int32_t offset_delta = 0;
  std::optional<byte_span> key;
  std::optional<byte_span> value;
  std::int32_t header_count = 0;
  byte_span encoded_headers;  // the header_count key/value pairs
  byte_span encoded;          // the whole record, length varint included

  record_headers headers() const noexcept { return {encoded_headers, header_count}; }
};

// One batch within a buffer. parse() checks the structure of the header only; validate() checks the rest.
class record_batch_view {
 public:
  record_batch_view() = default;

  // Reads the batch at the start of data (data may continue after it). Errors: truncated (data ends inside the
  // batch), corrupt_message (a batchLength too small for a header), unsupported_version (magic is not 2).
  [[nodiscard]] static std::error_code parse(byte_span data, record_batch_view& out) noexcept;

  // CRC-32C, codec, count and offset-delta consistency: corrupt_message, unsupported_compression,
  // negative_length, length_out_of_range. Records themselves are checked while iterating (record_reader).
  [[nodiscard]] std::error_code validate() const noexcept;
  bool crc_matches() const noexcept;

  const record_batch_header& header() const noexcept { return header_; }
  byte_span data() const noexcept { return data_; }                                            // the whole batch
  byte_span records_data() const noexcept { return data_.subspan(record_batch_header_size); }  // maybe compressed
  std::size_t size_in_bytes() const noexcept { return data_.size(); }

  // A record's absolute offset and timestamp. With log-append time every record carries maxTimestamp.
  std::int64_t offset_of(const record_view& record) const noexcept {
    return static_cast<std::int64_t>(static_cast<std::uint64_t>(header_.base_offset) +
                                     static_cast<std::uint64_t>(record.offset_delta));
  }
  std::int64_t timestamp_of(const record_view& record) const noexcept;

 private:
  record_batch_header header_;
  byte_span data_;
};

// The CRC-32C a batch should carry (over attributes to the end). batch must hold at least the header.
std::uint32_t compute_record_batch_crc(byte_span batch) noexcept;

// Rewrites fields that the CRC does not cover, in place: the broker assigns offsets and stamps the leader epoch
// on append. batch must hold at least a header (else truncated and nothing is written).
[[nodiscard]] std::error_code set_base_offset(std::span<std::uint8_t> batch, std::int64_t base_offset) noexcept;
[[nodiscard]] std::error_code set_partition_leader_epoch(std::span<std::uint8_t> batch, std::int32_t epoch) noexcept;
// Rewrites the batch's maxTimestamp in place and, since the CRC covers it, the CRC. batch must be the whole batch.
[[nodiscard]] std::error_code set_max_timestamp(std::span<std::uint8_t> batch, std::int64_t max_timestamp) noexcept;

struct record_reader_options {
  // Bound on a compressed batch's decompressed records; a batch expanding past it fails with too_large.
  std::size_t max_decompressed_bytes = 64 * 1024 * 1024;
  // Produce requests: offset deltas must be 0, 1, 2, ... and lastOffsetDelta must be recordsCount - 1. Stored
  // batches may have gaps (compaction), so the default only asks for increasing deltas within lastOffsetDelta.
  bool require_contiguous_offsets = false;
};

// Iterates the records of one batch with full bounds checks. Reusable: the decompression buffer is kept between
// batches, so a long-lived reader allocates only when a batch is bigger than any before.
//
//   record_reader reader;
//   if (auto ec = reader.open(batch)) ...;
//   record_view record;
//   while (reader.next(record)) use(record);
//   if (reader.error()) ...;  // malformed record, wrong count, bad offset delta
class record_reader {
 public:
  // Starts on batch (parsed; validate() it first to check the CRC). Decompresses if needed, failing with the
  // decompress() errors. The batch's bytes must outlive the iteration.
  [[nodiscard]] std::error_code open(const record_batch_view& batch, const record_reader_options& options = {});

  // The next record; false at the end or on the first error, which error() then reports.
  bool next(record_view& out) noexcept;
  std::error_code error() const noexcept {
    return error_ == codec_errc::ok ? std::error_code() : make_error_code(error_);
  }
  std::int32_t records_read() const noexcept { return read_; }

 private:
  bool stop(codec_errc e) noexcept;
  std::error_code fail_open(codec_errc e) noexcept;

  bytes decompressed_;
  byte_span records_;
  std::size_t position_ = 0;
  std::int32_t expected_ = 0;
  std::int32_t last_offset_delta_ = 0;
  std::int32_t read_ = 0;
  std::int32_t previous_offset_delta_ = -1;
  bool contiguous_ = false;
  codec_errc error_ = codec_errc::ok;
};

// How to treat bytes at the end of a "records" field that do not hold a whole batch. Fetch responses may end with a
// partial batch (the broker cut at max_bytes) which clients skip; a produce request must not.
enum class truncated_tail : bool { reject, allow };

// Walks the batches concatenated in a Produce or Fetch "records" field, parsing each header (not the CRC).
class record_batch_splitter {
 public:
  explicit record_batch_splitter(byte_span records, truncated_tail tail = truncated_tail::reject) noexcept
      : rest_(records), tail_(tail) {}

  // The next batch; false at the end or on error (error()).
  bool next(record_batch_view& out) noexcept;
  std::error_code error() const noexcept {
    return error_ == codec_errc::ok ? std::error_code() : make_error_code(error_);
  }
  // Bytes of a partial final batch that were skipped (truncated_tail::allow).
  std::size_t skipped_tail_bytes() const noexcept { return skipped_; }

 private:
  byte_span rest_;
  truncated_tail tail_;
  std::size_t skipped_ = 0;
  codec_errc error_ = codec_errc::ok;
};

// Convenience over record_batch_splitter: all batches, or the first error (out then holds those before it).
[[nodiscard]] std::error_code split_record_batches(byte_span records, std::vector<record_batch_view>& out,
                                                   truncated_tail tail = truncated_tail::reject);

}  // namespace vltava::protocol
