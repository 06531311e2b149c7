// What consumers read from partition logs: Fetch's reads under the response's byte budget, and ListOffsets'
// lookups (earliest, latest, by timestamp, max timestamp). Pure functions of the logs, so that they are tested
// against real logs without a network.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <system_error>
#include <vector>

#include "vltava/protocol/error_code.h"
#include "vltava/protocol/wire.h"
#include "vltava/storage/partition_log.h"

namespace vltava::broker {

enum class isolation_level : std::int8_t { read_uncommitted = 0, read_committed = 1 };

// Fetch and ListOffsets carry it as an int8; anything but 1 reads uncommitted data, as Kafka's default.
inline isolation_level isolation_from_wire(std::int8_t value) noexcept {
  return value == 1 ? isolation_level::read_committed : isolation_level::read_uncommitted;
}

// ---- Fetch ----

struct partition_read_request {
  std::shared_ptr<storage::partition_log> log;  // null: the topic or partition was not found
  protocol::error_code lookup_error = protocol::error_code::unknown_topic_or_partition;  // when log is null
  std::int64_t fetch_offset = 0;
  std::int32_t max_bytes = 0;  // the partition's partition_max_bytes
};

struct partition_read_result {
  protocol::error_code error = protocol::error_code::none;
  // -1 when the partition was not found; filled from the log otherwise, even with OFFSET_OUT_OF_RANGE, so that the
  // client sees where the log is.
  std::int64_t high_watermark = -1;
  std::int64_t last_stable_offset = -1;
  std::int64_t log_start_offset = -1;
  storage::file_slice records;  // whole batches
};

// Reads each partition in order from its fetch offset: at most its max_bytes and what is left of
// response_max_bytes, only what consumers may see (below the high watermark; with no transactions the last stable
// offset equals it, so both isolation levels read the same), and, Kafka's rule so that a consumer never stalls on a
// batch larger than its limits, one whole batch at least in the first partition that has data. A partition after
// the budget is spent still reports its offsets. Returns the bytes read in all.
std::uint64_t read_partitions(std::span<const partition_read_request> requests, std::int32_t response_max_bytes,
                              isolation_level isolation, std::vector<partition_read_result>& results);

// The bytes of a read copied into memory, for a response on a connection that cannot send files itself (a TLS
// listener, handler tests). Plain TCP connections send the slices with sendfile instead (records_from_file in
// request_context.h).
[[nodiscard]] std::error_code read_records(const storage::file_slice& slice, protocol::shared_bytes& out);

// ---- ListOffsets ----

// The special timestamps of ListOffsets.
inline constexpr std::int64_t latest_timestamp = -1;
inline constexpr std::int64_t earliest_timestamp = -2;
inline constexpr std::int64_t max_timestamp = -3;                      // KIP-734, v7+
inline constexpr std::int64_t earliest_local_timestamp = -4;           // KIP-405, v8+
inline constexpr std::int64_t latest_tiered_timestamp = -5;            // KIP-1005, v9+
inline constexpr std::int64_t earliest_pending_upload_timestamp = -6;  // v11+

// Whether a ListOffsets request of this version may ask for this timestamp (any >= 0; the special ones from the
// version that introduced them). Kafka answers UNSUPPORTED_VERSION for the partition otherwise.
bool list_offsets_timestamp_supported(std::int64_t timestamp, std::int16_t version) noexcept;

struct offset_lookup {
  protocol::error_code error = protocol::error_code::none;
  std::int64_t offset = -1;     // -1 when no offset answers (no record that recent, or no tiered storage)
  std::int64_t timestamp = -1;  // the record's timestamp for a timestamp or max-timestamp lookup, else -1
};

// Kafka's answer for one partition. isolation is empty for a request from a replica (replica_id >= 0 or the
// debugging id), which may see up to the log end offset; consumers see up to the high watermark (read_uncommitted)
// or the last stable offset (read_committed; the same here, with no transactions). Latest is that bound; a
// timestamp or max-timestamp answer at or beyond it is no answer (-1). There is no tiered storage: earliest local is
// earliest, latest tiered and earliest pending upload are -1.
offset_lookup lookup_offset(const storage::partition_log& log, std::int64_t timestamp,
                            std::optional<isolation_level> isolation);

}  // namespace vltava::broker
