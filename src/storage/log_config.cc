// Topic-level log settings: parsing cleanup.policy and checking values against the ranges Kafka accepts.
#include "vltava/storage/log_config.h"

#include <algorithm>
#include <cctype>

#include "vltava/storage/storage_error.h"

namespace vltava::storage {

std::error_code cleanup_policy::parse(std::string_view text, cleanup_policy& out) {
  cleanup_policy policy{false, false};
  bool any = false;
  while (!text.empty()) {
    const auto comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    while (!item.empty() && std::isspace(static_cast<unsigned char>(item.front()))) item.remove_prefix(1);
    while (!item.empty() && std::isspace(static_cast<unsigned char>(item.back()))) item.remove_suffix(1);
    if (item == "delete") {
      policy.delete_segments = true;
    } else if (item == "compact") {
      policy.compact = true;
    } else {
      return make_error_code(storage_errc::invalid_argument);
    }
    any = true;
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  if (!any) return make_error_code(storage_errc::invalid_argument);
  out = policy;
  return {};
}

std::string cleanup_policy::to_string() const {
  if (compact && delete_segments) return "compact,delete";
  return compact ? "compact" : "delete";
}

std::string log_config::validate() const {
  auto fail = [](std::string_view key, auto value, std::string_view rule) {
    return std::string(key) + "=" + std::to_string(value) + " is invalid: " + std::string(rule);
  };
  if (segment_bytes < 14) return fail("segment.bytes", segment_bytes, "must be at least 14");
  if (segment_bytes > std::numeric_limits<std::int32_t>::max()) {
    return fail("segment.bytes", segment_bytes, "must fit the 32-bit positions of the offset index");
  }
  if (segment_ms < 1) return fail("segment.ms", segment_ms, "must be at least 1");
  if (segment_index_bytes < 4) return fail("segment.index.bytes", segment_index_bytes, "must be at least 4");
  if (index_interval_bytes < 0) return fail("index.interval.bytes", index_interval_bytes, "must not be negative");
  if (retention_ms < -1) return fail("retention.ms", retention_ms, "must be -1 (forever) or more");
  if (retention_bytes < -1) return fail("retention.bytes", retention_bytes, "must be -1 (no limit) or more");
  if (delete_retention_ms < 0) return fail("delete.retention.ms", delete_retention_ms, "must not be negative");
  if (!(min_cleanable_dirty_ratio >= 0.0 && min_cleanable_dirty_ratio <= 1.0)) {
    return fail("min.cleanable.dirty.ratio", min_cleanable_dirty_ratio, "must be between 0 and 1");
  }
  if (min_compaction_lag_ms < 0) return fail("min.compaction.lag.ms", min_compaction_lag_ms, "must not be negative");
  if (max_compaction_lag_ms < 1) return fail("max.compaction.lag.ms", max_compaction_lag_ms, "must be at least 1");
  if (flush_messages < 1) return fail("flush.messages", flush_messages, "must be at least 1");
  if (flush_ms < 0) return fail("flush.ms", flush_ms, "must not be negative");
  if (file_delete_delay_ms < 0) return fail("file.delete.delay.ms", file_delete_delay_ms, "must not be negative");
  if (max_message_bytes < 0) return fail("max.message.bytes", max_message_bytes, "must not be negative");
  return {};
}

}  // namespace vltava::storage
