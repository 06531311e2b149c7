// One segment of a partition log: <base offset>.log with its .index and .timeindex, all named by the 20-digit,
// zero-padded offset of the segment's first batch. Batches are stored exactly as they will be served, offsets
// already assigned. Only the last (active) segment of a log is appended to; the others are immutable until
// retention deletes them or the cleaner replaces them whole.
//
// Not thread-safe: partition_log serialises access. The files are shared_ptrs so that reads in flight (file
// slices) survive the segment's deletion or replacement.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <system_error>

#include "vltava/storage/file.h"
#include "vltava/storage/log_config.h"
#include "vltava/storage/offset_index.h"
#include "vltava/storage/storage_context.h"
#include "vltava/storage/time_index.h"

namespace vltava::storage {

// "00000000000000000042" for 42.
std::string segment_file_stem(std::int64_t base_offset);
std::filesystem::path segment_log_path(const std::filesystem::path& dir, std::int64_t base_offset,
                                       std::string_view suffix = "");
std::filesystem::path segment_offset_index_path(const std::filesystem::path& dir, std::int64_t base_offset,
                                                std::string_view suffix = "");
std::filesystem::path segment_time_index_path(const std::filesystem::path& dir, std::int64_t base_offset,
                                              std::string_view suffix = "");

// What a batch's header says, enough to place it without reading its records.
struct batch_position {
  std::int64_t base_offset = 0;
  std::int64_t last_offset = 0;
  std::int64_t max_timestamp = -1;
  std::uint64_t position = 0;  // in the .log file
  std::uint32_t size = 0;      // whole batch, offset and length prefix included
};

// What recovering a segment found and did.
struct segment_recovery {
  std::int32_t valid_batches = 0;
  std::uint64_t valid_bytes = 0;
  std::uint64_t truncated_bytes = 0;  // bytes after the last valid batch that were cut off
  std::string reason;                 // why the tail was cut ("torn batch at 1234", "CRC mismatch at ...")
};

class log_segment {
 public:
  struct options {
    std::int32_t index_interval_bytes = 4096;
    std::int32_t segment_index_bytes = 10 * 1024 * 1024;
    std::int32_t max_message_bytes = 1024 * 1024 + 12;  // recovery rejects a batch longer than the larger of
                                                        // this and 100 MiB: a length no writer would produce
    std::shared_ptr<io_fault_injector> faults;
    static options from(const log_config& config, std::shared_ptr<io_fault_injector> faults);
  };

  // A new, empty segment (files must not exist). created_ms is when it started, for segment.ms. suffix is added to
  // every file name (".cleaned" for a segment the cleaner is writing).
  [[nodiscard]] static std::error_code create(const std::filesystem::path& dir, std::int64_t base_offset,
                                              const options& opts, std::int64_t created_ms,
                                              std::unique_ptr<log_segment>& out, std::string_view suffix = "");
  // An existing segment. The index files are loaded and sanity-checked; the log itself is read only from the last
  // index entry on (batch headers, to learn the next offset and largest timestamp). Missing or broken indexes, or a
  // tail that does not parse, set needs_recovery(): the caller must then recover() before using the segment.
  [[nodiscard]] static std::error_code open(const std::filesystem::path& dir, std::int64_t base_offset,
                                            const options& opts, std::int64_t created_ms,
                                            std::unique_ptr<log_segment>& out);

  // Appends batches (one or more, offsets assigned, in order, first at first_offset) whose largest timestamp is
  // max_timestamp, carried first by the batch starting at offset_of_max_timestamp. Adds index entries as
  // index.interval.bytes pass. On error nothing is appended (the file is cut back).
  [[nodiscard]] std::error_code append(std::span<const std::uint8_t> batches, std::int64_t first_offset,
                                       std::int64_t last_offset, std::int64_t max_timestamp,
                                       std::int64_t offset_of_max_timestamp);

  // The first batch that holds offset or, if none does (offset in a gap left by compaction), the first after it;
  // found is false when no batch in this segment ends at or after offset.
  [[nodiscard]] std::error_code find_batch(std::int64_t offset, batch_position& out, bool& found) const;
  // The batch header at position (end of file: found is false).
  [[nodiscard]] std::error_code read_batch_position(std::uint64_t position, batch_position& out, bool& found) const;

  // Whole batches starting with the one that holds start_offset (see find_batch), up to max_bytes, stopping before
  // any batch whose last offset is >= max_offset. With min_one_batch the first batch is returned even if it is
  // larger than max_bytes. Empty when nothing qualifies.
  [[nodiscard]] std::error_code read(std::int64_t start_offset, std::uint64_t max_bytes, std::int64_t max_offset,
                                     bool min_one_batch, file_slice& out, std::int64_t& first_batch_offset) const;

  // The first record at or after min_offset with a timestamp >= target (looking inside the batch that crosses
  // it), and that record's timestamp; found is false when every such record here is older.
  [[nodiscard]] std::error_code find_offset_by_timestamp(std::int64_t target, std::int64_t min_offset,
                                                         std::int64_t& offset, std::int64_t& timestamp,
                                                         bool& found) const;

  // Scans every batch from the start, checking lengths, magic, CRC-32C and offset order; truncates the file after
  // the last good batch and rebuilds both indexes.
  [[nodiscard]] std::error_code recover(segment_recovery& report);
  // Drops every batch holding an offset >= offset, the batch that straddles it too (as Kafka truncates), so the
  // next offset may end up below offset; returns bytes removed.
  [[nodiscard]] std::error_code truncate_to(std::int64_t offset, std::uint64_t& removed);

  // Writes the indexes' new entries, then fdatasyncs the log and both indexes: for a segment nobody else appends to
  // or reads meanwhile (while loading, or a compaction's replacement before the swap).
  [[nodiscard]] std::error_code flush();
  // fdatasync of the log and, if include_indexes, of both index files, as write_indexes() last left them. Reads no
  // index entries, so it may run while the segment takes appends. The active segment's syncs may skip the indexes:
  // those are checked at open, a segment is read from its last index entry on, and the indexes of a segment are
  // synced once it is no longer active.
  [[nodiscard]] std::error_code sync(bool include_indexes);
  // The indexes' new entries to their files, without fsync (best effort: a failure is logged and the entries stay
  // pending, costing only a longer scan when the segment is next opened). The entries change only under the owning
  // partition_log's lock, so callers hold it.
  void write_indexes();
  // Called when the segment stops being the active one: records the segment's largest timestamp in the time
  // index, so that reopening it later finds it there without scanning, and writes the indexes' new entries.
  [[nodiscard]] std::error_code seal();
  // The files, renamed to "<base>.log<suffix>" etc. (suffix "" for the plain names).
  [[nodiscard]] std::error_code rename_files(std::string_view suffix);
  [[nodiscard]] std::error_code rename_log_file(std::string_view suffix);
  [[nodiscard]] std::error_code rename_index_files(std::string_view suffix);
  [[nodiscard]] std::error_code remove_files();

  std::int64_t base_offset() const noexcept { return base_offset_; }
  // One past the last offset stored; base_offset() when empty.
  std::int64_t next_offset() const noexcept { return next_offset_; }
  std::uint64_t size() const noexcept { return log_->size(); }
  bool empty() const noexcept { return log_->size() == 0; }
  // Largest timestamp of any batch and the offset of the first batch carrying it; -1 / base offset when empty.
  std::int64_t max_timestamp() const noexcept { return max_timestamp_; }
  std::int64_t offset_of_max_timestamp() const noexcept { return offset_of_max_timestamp_; }
  std::int64_t created_ms() const noexcept { return created_ms_; }
  bool needs_recovery() const noexcept { return needs_recovery_; }
  // Whether appending a batch of size bytes spanning up to last_offset would overflow an index or the 32-bit
  // positions and relative offsets Kafka's index format holds.
  bool can_hold(std::uint64_t bytes, std::int64_t last_offset) const noexcept;

  std::shared_ptr<const file> log_file() const noexcept { return log_; }
  const offset_index& offsets() const noexcept { return *offset_index_; }
  const time_index& times() const noexcept { return *time_index_; }
  const std::filesystem::path& directory() const noexcept { return dir_; }

 private:
  log_segment(std::filesystem::path dir, std::int64_t base_offset, options opts, std::int64_t created_ms) noexcept;
  [[nodiscard]] std::error_code load_tail();  // next offset and largest timestamp from the indexes and last batches
  void index_batch(const batch_position& batch);

  std::filesystem::path dir_;
  std::int64_t base_offset_;
  options options_;
  std::int64_t created_ms_;
  std::shared_ptr<file> log_;
  std::unique_ptr<offset_index> offset_index_;
  std::unique_ptr<time_index> time_index_;
  std::int64_t next_offset_;
  std::int64_t max_timestamp_ = -1;
  std::int64_t offset_of_max_timestamp_;
  std::uint64_t bytes_since_index_entry_ = 0;
  bool needs_recovery_ = false;
};

}  // namespace vltava::storage
