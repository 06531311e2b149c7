// The log of one partition: an ordered list of segments in <log dir>/<topic>-<partition>/, the last one active.
//
// Offsets: log start offset (first readable offset; DeleteRecords and retention move it up), high watermark (what
// consumers may read; the broker moves it), recovery point (everything below is fsynced), log end offset (next
// offset to assign).
//
// Thread safety: every method may be called from any thread. A mutex per partition (never a global one) guards the
// segment list and offsets for the short time an append, read lookup or segment swap takes; fsync, file deletion and
// compaction's copying run without it, so they never stall appends or reads.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "vltava/storage/file.h"
#include "vltava/storage/log_config.h"
#include "vltava/storage/log_segment.h"
#include "vltava/storage/storage_context.h"

namespace vltava::storage {

struct topic_partition {
  std::string topic;
  std::int32_t partition = 0;

  // "<topic>-<partition>"
  std::string directory_name() const;
  // The inverse (the partition is after the last '-'); invalid_argument if name is not such a directory.
  [[nodiscard]] static std::error_code parse_directory_name(std::string_view name, topic_partition& out);
  auto operator<=>(const topic_partition&) const = default;
};

struct append_result {
  std::int64_t base_offset = -1;      // offset of the first record appended
  std::int64_t last_offset = -1;      // offset of the last record appended
  std::int64_t log_append_time = -1;  // the time stamped on the batches with LogAppendTime, else -1
  std::int64_t log_start_offset = 0;
};

struct read_result {
  file_slice records;                    // whole batches, ready to send (empty: nothing at that offset yet)
  std::int64_t first_batch_offset = -1;  // base offset of the first batch in records (-1 when empty)
  std::int64_t log_start_offset = 0;
  std::int64_t log_end_offset = 0;
  std::int64_t high_watermark = 0;
};

// What recovery did to a log, for the startup log line.
struct log_recovery_report {
  std::int32_t segments_scanned = 0;
  std::int64_t bytes_truncated = 0;
  std::int32_t segments_deleted = 0;  // whole segments after a corrupt one
  std::int32_t indexes_rebuilt = 0;
  std::vector<std::string> notes;  // one line per truncation or repair
};

// Test hook for segment swaps: called before each step with its number (1: cleaned files complete, 2: renamed to
// .swap, 3: replaced indexes removed, 4: log renamed into place, 5: indexes written); returning false stops the swap
// there, as a crash would (the files stay as they are; reopen the log to recover).
using swap_crash_point = std::function<bool(int step)>;

class partition_log {
 public:
  struct open_options {
    // Offsets below this were fsynced before the last stop; only segments holding later offsets are scanned.
    std::int64_t recovery_point = 0;
    // The log start offset recorded at the last checkpoint (DeleteRecords may have moved it inside a segment).
    std::int64_t log_start_offset = 0;
    // The directory's clean-shutdown marker was present: trust everything, scan nothing.
    bool clean_shutdown = false;
  };

  // Opens the log in dir, creating the directory and a first segment if needed, recovering as open_options say.
  [[nodiscard]] static std::error_code open(const std::filesystem::path& dir, topic_partition tp, log_config config,
                                            storage_context context, const open_options& options,
                                            std::shared_ptr<partition_log>& out, log_recovery_report& report);

  // Appends batches as a leader does: batches (one or more magic-2 record batches the caller has validated) get
  // offsets from the log end offset on, written into the buffer in place; with message.timestamp.type
  // LogAppendTime their maxTimestamp and timestamp-type bit are set to now and the CRC recomputed. Rolls a new
  // segment first when segment.bytes, segment.ms or an index would be exceeded. Errors: corrupt_batch (not whole
  // batches), disk_full / io_error (nothing appended; retry later), log_offline.
  [[nodiscard]] std::error_code append(std::span<std::uint8_t> batches, append_result& out);

  // Reads whole batches from offset: up to max_bytes (but one whole batch at least when min_one_batch), only
  // batches entirely below max_offset (the high watermark for consumers, the log end offset for replicas).
  // offset_out_of_range below the log start offset or above the log end offset; at the log end an empty result.
  [[nodiscard]] std::error_code read(std::int64_t offset, std::uint64_t max_bytes, std::int64_t max_offset,
                                     bool min_one_batch, read_result& out) const;

  // ListOffsets. The first offset whose record timestamp is >= timestamp; found is false when all are older.
  [[nodiscard]] std::error_code offset_for_timestamp(std::int64_t timestamp, std::int64_t& offset,
                                                     std::int64_t& record_timestamp, bool& found) const;
  // The offset and timestamp of the record with the largest timestamp (the first such), or -1 / -1 when empty.
  void max_timestamp_offset(std::int64_t& offset, std::int64_t& timestamp) const;

  // Makes everything appended so far durable: fsyncs each segment holding unflushed data and moves the recovery
  // point. Runs without blocking appends or reads; concurrent calls share work. log_offline if an fsync failed.
  [[nodiscard]] std::error_code flush();

  // Retention (cleanup.policy with delete): removes whole non-active segments older than retention.ms (by their
  // largest timestamp) or beyond retention.bytes, and those wholly below the log start offset. Returns how many.
  [[nodiscard]] std::error_code apply_retention(std::int32_t& segments_deleted);
  // DeleteRecords: moves the log start offset up to offset (at most the high watermark) and deletes the segments
  // wholly below it. invalid_offset above the high watermark.
  [[nodiscard]] std::error_code delete_records_before(std::int64_t offset, std::int64_t& new_log_start_offset);
  // Removes everything at or after offset (a replica diverging from its leader). invalid_offset below log start.
  [[nodiscard]] std::error_code truncate_to(std::int64_t offset);

  void set_high_watermark(std::int64_t offset);  // clamped to [log start, log end]
  std::int64_t high_watermark() const;
  std::int64_t log_start_offset() const;
  std::int64_t log_end_offset() const;
  std::int64_t recovery_point() const;
  std::uint64_t size_bytes() const;  // all segments
  std::size_t segment_count() const;
  // Messages appended since the last flush (flush.messages) and when the oldest of them was appended (flush.ms).
  std::int64_t unflushed_messages() const;
  std::int64_t first_unflushed_append_ms() const;  // -1 when nothing is unflushed

  // Compaction support (log_cleaner). A copy of the segment list taken under the lock: the segments stay valid
  // (shared) even if retention deletes them meanwhile.
  std::vector<std::shared_ptr<log_segment>> segments() const;
  // Swaps cleaned segments in: replaces old_segments (consecutive, still the log's very segment objects, not the
  // active one) by replacement, whose files carry the suffix ".cleaned". Crash-safe order: rename to ".swap", drop
  // the old indexes, rename into place. invalid_argument (and nothing changes) if the log moved on meanwhile:
  // retention removed them, or truncation replaced them by new segments with the same base offsets.
  [[nodiscard]] std::error_code replace_segments(const std::vector<std::shared_ptr<log_segment>>& old_segments,
                                                 std::unique_ptr<log_segment> replacement,
                                                 const swap_crash_point& crash = {});

  // Flushes and closes the files; further calls fail with log_closed.
  [[nodiscard]] std::error_code close();
  // Deletes the log's directory (DeleteTopics). The log is closed first.
  [[nodiscard]] std::error_code remove();

  const topic_partition& id() const noexcept { return tp_; }
  const std::filesystem::path& directory() const noexcept { return dir_; }
  log_config config() const;
  void set_config(const log_config& config);  // topic config changes; applies from the next append or check
  const storage_context& context() const noexcept { return context_; }

  partition_log(std::filesystem::path dir, topic_partition tp, log_config config, storage_context context);

 private:
  [[nodiscard]] std::error_code load(const open_options& options, log_recovery_report& report);
  [[nodiscard]] std::error_code roll_if_needed(std::uint64_t incoming_bytes, std::int64_t incoming_last_offset);
  [[nodiscard]] std::error_code delete_segments(std::vector<std::shared_ptr<log_segment>> doomed);
  log_segment& active() const { return *segments_.rbegin()->second; }
  std::error_code check_open() const;

  const std::filesystem::path dir_;
  const topic_partition tp_;
  const storage_context context_;

  mutable std::mutex mutex_;
  log_config config_;
  std::map<std::int64_t, std::shared_ptr<log_segment>> segments_;  // by base offset
  std::int64_t log_start_offset_ = 0;
  std::int64_t high_watermark_ = 0;
  std::int64_t recovery_point_ = 0;
  std::int64_t unflushed_messages_ = 0;
  std::int64_t first_unflushed_append_ms_ = -1;
  bool offline_ = false;
  bool closed_ = false;
  bool directory_dirty_ = false;
  bool closed_for_flush_ = false;  // close() is flushing: include the active segment's indexes  // a segment was
                                   // created since the last flush: the directory needs an fsync too

  std::mutex flush_mutex_;  // one flush at a time per partition; appends continue meanwhile
};

}  // namespace vltava::storage
