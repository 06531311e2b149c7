// Per-log (per-topic) settings, named after Kafka's topic-level configuration keys; the broker fills them from
// server.properties (log.* keys) and topic overrides. Defaults are Kafka's.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <system_error>

#include "vltava/protocol/record_batch.h"

namespace vltava::storage {

inline constexpr std::int64_t no_limit = std::numeric_limits<std::int64_t>::max();

struct cleanup_policy {
  bool delete_segments = true;  // "delete": retention by time and size
  bool compact = false;         // "compact": keep the newest record per key

  // "delete", "compact", "compact,delete" or "delete,compact"; invalid_argument for anything else.
  [[nodiscard]] static std::error_code parse(std::string_view text, cleanup_policy& out);
  std::string to_string() const;
  bool operator==(const cleanup_policy&) const = default;
};

struct log_config {
  std::int64_t segment_bytes = 1024 * 1024 * 1024;           // segment.bytes: roll when the next append won't fit
  std::int64_t segment_ms = 7LL * 24 * 60 * 60 * 1000;       // segment.ms: roll a segment this old
  std::int32_t segment_index_bytes = 10 * 1024 * 1024;       // segment.index.bytes: roll when an index is full
  std::int32_t index_interval_bytes = 4096;                  // index.interval.bytes
  std::int64_t retention_ms = 7LL * 24 * 60 * 60 * 1000;     // retention.ms; -1: keep forever
  std::int64_t retention_bytes = -1;                         // retention.bytes; -1: no size limit
  cleanup_policy cleanup;                                    // cleanup.policy
  std::int64_t delete_retention_ms = 24LL * 60 * 60 * 1000;  // delete.retention.ms: how long tombstones stay
  double min_cleanable_dirty_ratio = 0.5;                    // min.cleanable.dirty.ratio
  std::int64_t min_compaction_lag_ms = 0;                    // min.compaction.lag.ms
  std::int64_t max_compaction_lag_ms = no_limit;             // max.compaction.lag.ms
  std::int64_t flush_messages = no_limit;                    // flush.messages: fsync after this many unflushed
  std::int64_t flush_ms = no_limit;                          // flush.ms: fsync data older than this
  std::int64_t file_delete_delay_ms = 60'000;                // file.delete.delay.ms
  std::int32_t max_message_bytes = 1024 * 1024 + 12;         // max.message.bytes (largest batch)
  protocol::timestamp_type message_timestamp_type = protocol::timestamp_type::create_time;  // message.timestamp.type

  // Ranges Kafka enforces (segment.bytes >= 14, index.interval.bytes >= 0, ratios in [0, 1], ...); a message that
  // names the key and the value otherwise.
  std::string validate() const;
};

}  // namespace vltava::storage
