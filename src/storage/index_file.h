// Internal to the storage library: the file handling the offset index (.index) and the time index (.timeindex)
// share. Both are files of fixed-size entries mirrored in a vector, in strictly growing order, each entry carrying
// the absolute offset it indexes; each index decodes its own entries and says what "in order" means for them.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <system_error>
#include <vector>

#include "vltava/storage/file.h"
#include "vltava/storage/storage_error.h"

namespace vltava::storage::index_file {

// Loads the whole entries of f: decode(p) reads the entry_size bytes at p. Only the ordered prefix
// (in_order(previous, next) for each pair) is kept, so lookups' binary search always sees sorted entries; well_formed
// says whether the file held whole, ordered entries. If not, sanity_check() reports it and the caller rebuilds.
template <typename Entry, typename Decode, typename InOrder>
std::error_code load(const file& f, std::size_t entry_size, Decode decode, InOrder in_order,
                     std::vector<Entry>& entries, bool& well_formed) {
  const std::uint64_t file_size = f.size();
  const auto whole_entries = static_cast<std::size_t>(file_size / entry_size);
  std::vector<std::uint8_t> raw(whole_entries * entry_size);
  if (!raw.empty()) {
    if (auto ec = f.read_exact(0, raw)) return ec;
  }
  well_formed = file_size % entry_size == 0;
  entries.clear();
  entries.reserve(whole_entries);
  for (std::size_t i = 0; i < whole_entries; ++i) {
    const Entry entry = decode(raw.data() + i * entry_size);
    if (!entries.empty() && !in_order(entries.back(), entry)) {
      well_formed = false;
      break;
    }
    entries.push_back(entry);
  }
  return {};
}

// Drops the entries for offsets >= offset, from the file and from entries.
template <typename Entry>
std::error_code truncate_to(file& f, std::size_t entry_size, std::vector<Entry>& entries, std::int64_t offset) {
  auto it = std::lower_bound(entries.begin(), entries.end(), offset,
                             [](const Entry& e, std::int64_t target) { return e.offset < target; });
  const auto keep = static_cast<std::size_t>(it - entries.begin());
  // Truncating the file even when no entry goes also drops any torn or unordered tail the open did not load.
  if (f.size() != keep * entry_size) {
    if (auto ec = f.truncate(keep * entry_size)) return ec;
  }
  entries.resize(keep);
  return {};
}

// Drops every entry (before a rebuild).
template <typename Entry>
std::error_code reset(file& f, std::vector<Entry>& entries, bool& well_formed) {
  if (auto ec = f.truncate(0)) return ec;
  entries.clear();
  // An empty file is well formed: the index rebuilt into it must pass sanity_check() again.
  well_formed = true;
  return {};
}

// corrupt_batch unless the file was loaded well formed and holds exactly entries, every entry is in_range and
// each follows the one before in_order.
template <typename Entry, typename InRange, typename InOrder>
std::error_code sanity_check(const file& f, std::size_t entry_size, const std::vector<Entry>& entries, bool well_formed,
                             InRange in_range, InOrder in_order) {
  if (!well_formed || f.size() != entries.size() * entry_size) return storage_errc::corrupt_batch;
  const Entry* previous = nullptr;
  for (const auto& e : entries) {
    if (!in_range(e) || (previous != nullptr && !in_order(*previous, e))) return storage_errc::corrupt_batch;
    previous = &e;
  }
  return {};
}

}  // namespace vltava::storage::index_file
