// Internal to the storage library: the file handling the offset index (.index) and the time index (.timeindex)
// share. Both are files of fixed-size entries mirrored in a vector, in strictly growing order, each entry carrying
// the absolute offset it indexes; each index decodes its own entries and says what "in order" means for them.
//
// An index keeps no descriptor open: its file is opened for the moment of each operation (store below), and new
// entries live in memory until write_pending() appends them, which a segment does when it is flushed. A broker with
// ten thousand partitions then holds one descriptor per partition (the active segment's .log) instead of three, as
// Kafka does by closing an index file once it has mapped it, and appending to the log costs no index write. An
// index file may therefore lag behind its segment after a crash: that is safe, because a segment is always read
// from its last index entry on when it is opened (see log_segment::load_tail) and a lookup only ever lands earlier.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <system_error>
#include <vector>

#include "vltava/storage/file.h"
#include "vltava/storage/storage_error.h"

namespace vltava::storage::index_file {

// The file behind one index, by path. Every operation opens it, does its work through storage::file (so faults are
// injected and failed appends cut back exactly as for a log) and closes it again.
class store {
 public:
  // Opens the file at path (creating it empty when missing) and reads all of it into contents.
  [[nodiscard]] static std::error_code open(const std::filesystem::path& path,
                                            std::shared_ptr<io_fault_injector> faults, std::unique_ptr<store>& out,
                                            std::vector<std::uint8_t>& contents);

  // Writes data at the end of the file; on failure the file is as it was before the call.
  [[nodiscard]] std::error_code append(std::span<const std::uint8_t> data);
  [[nodiscard]] std::error_code truncate(std::uint64_t size);
  [[nodiscard]] std::error_code sync();  // fdatasync
  [[nodiscard]] std::error_code rename(const std::filesystem::path& to);
  [[nodiscard]] std::error_code remove();

  std::uint64_t size() const noexcept { return size_; }  // the file's size, as the last operation left it
  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  store(std::filesystem::path path, std::shared_ptr<io_fault_injector> faults, std::uint64_t size) noexcept
      : path_(std::move(path)), faults_(std::move(faults)), size_(size) {}
  [[nodiscard]] std::error_code open_file(std::shared_ptr<file>& f);

  std::filesystem::path path_;
  std::shared_ptr<io_fault_injector> faults_;
  std::uint64_t size_;
};

// Decodes the whole entries of contents (a file just read): decode(p) reads the entry_size bytes at p. Only the
// ordered prefix (in_order(previous, next) for each pair) is kept, so lookups' binary search always sees sorted
// entries; well_formed says whether the file held whole, ordered entries. If not, sanity_check() reports it and the
// caller rebuilds. written is the number of entries the file holds (all of those loaded).
template <typename Entry, typename Decode, typename InOrder>
void load(std::span<const std::uint8_t> contents, std::size_t entry_size, Decode decode, InOrder in_order,
          std::vector<Entry>& entries, std::size_t& written, bool& well_formed) {
  const std::size_t whole_entries = contents.size() / entry_size;
  well_formed = contents.size() % entry_size == 0;
  entries.clear();
  entries.reserve(whole_entries);
  for (std::size_t i = 0; i < whole_entries; ++i) {
    const Entry entry = decode(contents.data() + i * entry_size);
    if (!entries.empty() && !in_order(entries.back(), entry)) {
      well_formed = false;
      break;
    }
    entries.push_back(entry);
  }
  written = entries.size();
}

// Appends the entries the file does not hold yet (entries[written...]); encode(entry, p) writes entry_size bytes
// at p. Any torn or unordered tail the load skipped goes first. On failure the file and written are unchanged, so
// the same entries are written by the next call.
template <typename Entry, typename Encode>
std::error_code write_pending(store& s, std::size_t entry_size, const std::vector<Entry>& entries, std::size_t& written,
                              Encode encode) {
  if (s.size() != written * entry_size) {
    if (auto ec = s.truncate(written * entry_size)) return ec;
  }
  if (written == entries.size()) return {};
  std::vector<std::uint8_t> raw((entries.size() - written) * entry_size);
  for (std::size_t i = written; i < entries.size(); ++i) encode(entries[i], raw.data() + (i - written) * entry_size);
  if (auto ec = s.append(raw)) return ec;
  written = entries.size();
  return {};
}

// Drops the entries for offsets >= offset, from memory and from the file.
template <typename Entry>
std::error_code truncate_to(store& s, std::size_t entry_size, std::vector<Entry>& entries, std::size_t& written,
                            std::int64_t offset) {
  auto it = std::lower_bound(entries.begin(), entries.end(), offset,
                             [](const Entry& e, std::int64_t target) { return e.offset < target; });
  const auto keep = static_cast<std::size_t>(it - entries.begin());
  const std::size_t keep_written = std::min(written, keep);
  // Truncating the file even when no entry goes also drops any torn or unordered tail the open did not load.
  if (s.size() != keep_written * entry_size) {
    if (auto ec = s.truncate(keep_written * entry_size)) return ec;
  }
  entries.resize(keep);
  written = keep_written;
  return {};
}

// Drops every entry (before a rebuild).
template <typename Entry>
std::error_code reset(store& s, std::vector<Entry>& entries, std::size_t& written, bool& well_formed) {
  if (auto ec = s.truncate(0)) return ec;
  entries.clear();
  written = 0;
  // An empty file is well formed: the index rebuilt into it must pass sanity_check() again.
  well_formed = true;
  return {};
}

// corrupt_batch unless the file was loaded well formed and holds exactly the entries written to it, every entry is
// in_range and each follows the one before in_order.
template <typename Entry, typename InRange, typename InOrder>
std::error_code sanity_check(const store& s, std::size_t entry_size, const std::vector<Entry>& entries,
                             std::size_t written, bool well_formed, InRange in_range, InOrder in_order) {
  if (!well_formed || s.size() != written * entry_size) return storage_errc::corrupt_batch;
  const Entry* previous = nullptr;
  for (const auto& e : entries) {
    if (!in_range(e) || (previous != nullptr && !in_order(*previous, e))) return storage_errc::corrupt_batch;
    previous = &e;
  }
  return {};
}

}  // namespace vltava::storage::index_file
