// Compaction for logs with cleanup.policy=compact (or compact,delete): keeps the newest record for every key,
// offsets unchanged, so a consumer reading from the start still sees the latest value of every key.
//
// One pass over a log:
//   1. The cleanable range runs from the log start to the first "dirty" offset bound: the active segment is never
//      cleaned, nor records newer than min.compaction.lag.ms. Nothing happens unless dirty bytes / cleanable bytes
//      reaches min.cleanable.dirty.ratio (or a record is older than max.compaction.lag.ms).
//   2. A key -> newest offset map is built over the dirty part (from the cleaner checkpoint to the bound).
//   3. Each cleanable segment is rewritten into "<base>.log.cleaned": a record survives if it is the newest for its
//      key, it has no key, or it is a control record; a tombstone (null value) that is the newest for its key
//      survives until its timestamp is delete.retention.ms old, so consumers that read the log within that time
//      still see the delete.
//      Batches keep their base offset, producer fields and codec; a batch left empty is dropped.
//   4. partition_log::replace_segments swaps each cleaned segment in (crash-safe rename order).
// The copying runs without the partition's lock; appends and reads continue throughout. A crash at any point
// leaves either the old or the new segment, and recovery finishes or discards the swap.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <system_error>

#include "vltava/storage/partition_log.h"

namespace vltava::storage {

struct cleaning_stats {
  bool cleaned = false;                 // false: below the dirty ratio or nothing cleanable
  std::int64_t first_dirty_offset = 0;  // where the pass started building the key map
  std::int64_t cleaned_up_to = 0;       // the new cleaner checkpoint (first offset not yet cleaned)
  std::int64_t records_read = 0;
  std::int64_t records_removed = 0;
  std::int64_t tombstones_removed = 0;
  std::uint64_t bytes_before = 0;
  std::uint64_t bytes_after = 0;
  std::int32_t segments_rewritten = 0;
};

class log_cleaner {
 public:
  using crash_point = swap_crash_point;

  explicit log_cleaner(std::size_t max_key_map_entries = 4 * 1024 * 1024) : max_key_map_entries_(max_key_map_entries) {}

  // One compaction pass over log. first_dirty_offset is the cleaner checkpoint for this log (0 when none);
  // stats.cleaned_up_to is the next one.
  [[nodiscard]] std::error_code clean(partition_log& log, std::int64_t first_dirty_offset, cleaning_stats& stats,
                                      const crash_point& crash = {});

  // The dirty ratio clean() would see, for choosing the dirtiest log first.
  static double dirty_ratio(const partition_log& log, std::int64_t first_dirty_offset);

 private:
  std::size_t max_key_map_entries_;
};

}  // namespace vltava::storage
