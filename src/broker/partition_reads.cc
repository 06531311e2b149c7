#include "vltava/broker/partition_reads.h"

#include <algorithm>
#include <utility>

#include "vltava/storage/storage_error.h"

namespace vltava::broker {

namespace {

using protocol::error_code;

// A log closed under a reader is one DeleteTopics removed (or one the broker is closing on its way down): to the
// client the partition is gone, and it refreshes its metadata, rather than a storage failure.
error_code kafka_error_of(std::error_code error) noexcept {
  if (error == storage::storage_errc::log_closed) return error_code::unknown_topic_or_partition;
  return storage::to_kafka_error(error);
}

// What consumers may read up to. Without transactions the last stable offset is the high watermark.
std::int64_t consumer_bound(const storage::read_result& read, isolation_level isolation) {
  (void)isolation;
  return read.high_watermark;
}

}  // namespace

std::uint64_t read_partitions(std::span<const partition_read_request> requests, std::int32_t response_max_bytes,
                              isolation_level isolation, std::vector<partition_read_result>& results) {
  results.clear();
  results.reserve(requests.size());
  std::uint64_t budget = static_cast<std::uint64_t>(std::max<std::int32_t>(response_max_bytes, 0));
  std::uint64_t total = 0;
  bool min_one_batch = true;  // until a partition returns data
  for (const auto& request : requests) {
    auto& result = results.emplace_back();
    if (!request.log) {
      result.error = request.lookup_error;
      continue;
    }
    const std::uint64_t partition_limit = static_cast<std::uint64_t>(std::max<std::int32_t>(request.max_bytes, 0));
    // The high watermark taken just before the read bounds it: it only grows, so nothing uncommitted is returned,
    // while the offsets reported are the read's own (perhaps a little further on).
    storage::read_result read;
    const std::int64_t bound = request.log->high_watermark();
    auto error = request.log->read(request.fetch_offset, std::min(partition_limit, budget), bound, min_one_batch, read);
    result.high_watermark = read.high_watermark;
    result.last_stable_offset = consumer_bound(read, isolation);
    result.log_start_offset = read.log_start_offset;
    if (error) {
      result.error = kafka_error_of(error);
      continue;
    }
    result.records = std::move(read.records);
    if (!result.records.empty()) {
      min_one_batch = false;
      total += result.records.length;
      budget -= std::min(budget, result.records.length);
    }
  }
  return total;
}

std::error_code read_records(const storage::file_slice& slice, protocol::shared_bytes& out) {
  out = {};
  if (slice.empty()) return {};
  protocol::bytes data;
  data.reserve(slice.length);
  if (auto error = slice.read_into(data)) return error;
  out = protocol::shared_bytes::adopt(std::move(data));
  return {};
}

bool list_offsets_timestamp_supported(std::int64_t timestamp, std::int16_t version) noexcept {
  switch (timestamp) {
    case latest_timestamp:
    case earliest_timestamp: return version >= 1;
    case max_timestamp: return version >= 7;
    case earliest_local_timestamp: return version >= 8;
    case latest_tiered_timestamp: return version >= 9;
    case earliest_pending_upload_timestamp: return version >= 11;
    default: return timestamp >= 0;
  }
}

offset_lookup lookup_offset(const storage::partition_log& log, std::int64_t timestamp,
                            std::optional<isolation_level> isolation) {
  offset_lookup out;
  // Without transactions read_committed and read_uncommitted consumers both see up to the high watermark.
  const std::int64_t visible_end = isolation ? log.high_watermark() : log.log_end_offset();
  switch (timestamp) {
    case latest_timestamp: out.offset = visible_end; return out;
    case earliest_timestamp:
    case earliest_local_timestamp: out.offset = log.log_start_offset(); return out;
    case latest_tiered_timestamp:
    case earliest_pending_upload_timestamp: return out;
    case max_timestamp: {
      std::int64_t offset = -1;
      std::int64_t record_timestamp = -1;
      log.max_timestamp_offset(offset, record_timestamp);
      if (offset >= 0 && offset < visible_end) {
        out.offset = offset;
        out.timestamp = record_timestamp;
      }
      return out;
    }
    default: break;
  }
  std::int64_t offset = -1;
  std::int64_t record_timestamp = -1;
  bool found = false;
  if (auto error = log.offset_for_timestamp(timestamp, offset, record_timestamp, found)) {
    out.error = kafka_error_of(error);
    return out;
  }
  if (found && offset < visible_end) {
    out.offset = offset;
    out.timestamp = record_timestamp;
  }
  return out;
}

}  // namespace vltava::broker
