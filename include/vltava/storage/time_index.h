// The time index of one segment (<base offset>.timeindex), Kafka's format: 12-byte entries of (timestamp as i64,
// offset - base offset as u32), big-endian. An entry records the largest timestamp seen so far in the segment and
// the offset of the batch that carried it; entries are added beside offset index entries whenever that largest
// timestamp grew, so timestamps and offsets both strictly grow. A lookup for "first record at or after T" starts
// scanning the log at the entry it returns: every batch before that entry's offset has only timestamps below T.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <system_error>
#include <vector>

#include "vltava/storage/file.h"

namespace vltava::storage {

namespace index_file {
class store;
}

struct timestamp_offset {
  std::int64_t timestamp = -1;
  std::int64_t offset = 0;  // absolute
  bool operator==(const timestamp_offset&) const = default;
};

class time_index {
 public:
  ~time_index();
  static constexpr std::size_t entry_size = 12;

  [[nodiscard]] static std::error_code open(const std::filesystem::path& path, std::int64_t base_offset,
                                            std::size_t max_bytes, std::shared_ptr<io_fault_injector> faults,
                                            std::unique_ptr<time_index>& out);

  // Adds an entry in memory if timestamp is above the last entry's (a no-op otherwise, not an error); offsets must
  // grow. The file gets it at the next write() or flush(), and is opened only for the moment of each operation.
  [[nodiscard]] std::error_code maybe_append(std::int64_t timestamp, std::int64_t offset);
  // The last entry with timestamp < target, or {-1, base offset} when there is none: where to start scanning for
  // the first record with a timestamp >= target.
  timestamp_offset lookup(std::int64_t target) const noexcept;
  // The entry with the largest timestamp, or {-1, base offset} when empty.
  timestamp_offset last_entry() const noexcept;
  [[nodiscard]] std::error_code truncate_to(std::int64_t offset);  // drops entries for offsets >= offset
  [[nodiscard]] std::error_code reset();
  // Whole entries, strictly growing timestamps and offsets, offsets within [base, next_offset).
  [[nodiscard]] std::error_code sanity_check(std::int64_t next_offset) const;
  // Appends the entries added since the last write to the file (no fsync); on failure they stay pending.
  [[nodiscard]] std::error_code write();
  [[nodiscard]] std::error_code sync();   // fdatasync of what was written; reads no entries
  [[nodiscard]] std::error_code flush();  // write() and sync()
  [[nodiscard]] std::error_code remove();
  [[nodiscard]] std::error_code rename(const std::filesystem::path& to);

  bool is_full() const noexcept { return (entries_.size() + 1) * entry_size > max_bytes_; }
  std::int64_t base_offset() const noexcept { return base_offset_; }
  const std::vector<timestamp_offset>& entries() const noexcept { return entries_; }
  const std::filesystem::path& path() const noexcept;

 private:
  time_index(std::unique_ptr<index_file::store> file, std::int64_t base_offset, std::size_t max_bytes) noexcept;

  std::unique_ptr<index_file::store> file_;
  std::int64_t base_offset_;
  std::size_t max_bytes_;
  std::vector<timestamp_offset> entries_;
  std::size_t written_ = 0;  // entries_[0, written_) are in the file
  bool loaded_well_formed_ = true;
};

}  // namespace vltava::storage
