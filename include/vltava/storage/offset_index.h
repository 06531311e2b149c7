// The sparse offset index of one segment (<base offset>.index), Kafka's format: 8-byte entries of
// (offset - base offset as u32, file position as u32), both big-endian, in increasing order of both. An entry is
// added for the first batch after every index.interval.bytes of log, so a lookup lands within that many bytes of
// any batch. Entries are kept in memory; new ones reach the file when it is written (write() or flush()), and the
// file is opened only for the moment of each operation, so an index holds no descriptor.
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

struct offset_position {
  std::int64_t offset = 0;     // absolute offset of a batch's first record (its base offset)
  std::uint32_t position = 0;  // where that batch starts in the .log file
  bool operator==(const offset_position&) const = default;
};

class offset_index {
 public:
  ~offset_index();
  static constexpr std::size_t entry_size = 8;

  // Opens or creates the index file. Existing entries are loaded but not checked: call sanity_check().
  // max_bytes (segment.index.bytes) bounds the entries: is_full() says when the segment must roll.
  [[nodiscard]] static std::error_code open(const std::filesystem::path& path, std::int64_t base_offset,
                                            std::size_t max_bytes, std::shared_ptr<io_fault_injector> faults,
                                            std::unique_ptr<offset_index>& out);

  // Adds an entry in memory; offsets and positions must grow (invalid_argument otherwise, and the index is
  // unchanged). The file gets it at the next write() or flush().
  [[nodiscard]] std::error_code append(std::int64_t offset, std::uint32_t position);
  // The last entry at or before offset, or {base offset, 0} when there is none.
  offset_position lookup(std::int64_t offset) const noexcept;
  // Drops the entries for offsets >= offset (after a log truncation).
  [[nodiscard]] std::error_code truncate_to(std::int64_t offset);
  // Drops every entry (before a rebuild).
  [[nodiscard]] std::error_code reset();
  // The file's size is whole entries, offsets and positions strictly grow, entries stay within [base, ...) and
  // positions below log_size. corrupt_batch otherwise: the caller then rebuilds the index from the log.
  [[nodiscard]] std::error_code sanity_check(std::uint64_t log_size) const;
  // Appends the entries added since the last write to the file (no fsync). On failure the file is unchanged and
  // the entries stay pending, for the next write.
  [[nodiscard]] std::error_code write();
  [[nodiscard]] std::error_code sync();   // fdatasync of what was written; reads no entries
  [[nodiscard]] std::error_code flush();  // write() and sync()
  [[nodiscard]] std::error_code remove();
  [[nodiscard]] std::error_code rename(const std::filesystem::path& to);

  bool is_full() const noexcept { return (entries_.size() + 1) * entry_size > max_bytes_; }
  std::int64_t base_offset() const noexcept { return base_offset_; }
  const std::vector<offset_position>& entries() const noexcept { return entries_; }
  const std::filesystem::path& path() const noexcept;

 private:
  offset_index(std::unique_ptr<index_file::store> file, std::int64_t base_offset, std::size_t max_bytes) noexcept;

  std::unique_ptr<index_file::store> file_;
  std::int64_t base_offset_;
  std::size_t max_bytes_;
  std::vector<offset_position> entries_;
  std::size_t written_ = 0;         // entries_[0, written_) are in the file
  bool loaded_well_formed_ = true;  // the file held whole, ordered entries when it was opened
};

}  // namespace vltava::storage
