// The time index of a segment: Kafka's .timeindex format, mirrored in memory for binary-search lookups.
#include "vltava/storage/time_index.h"

#include <algorithm>
#include <array>
#include <iterator>
#include <limits>

#include "vltava/protocol/wire.h"
#include "vltava/storage/storage_error.h"

namespace vltava::storage {

std::error_code time_index::open(const std::filesystem::path& path, std::int64_t base_offset, std::size_t max_bytes,
                                 std::shared_ptr<io_fault_injector> faults, std::unique_ptr<time_index>& out) {
  std::shared_ptr<file> f;
  if (auto ec = file::open(path, open_mode::open_or_create, std::move(faults), f)) return ec;

  const std::uint64_t file_size = f->size();
  const auto whole_entries = static_cast<std::size_t>(file_size / entry_size);
  std::vector<std::uint8_t> raw(whole_entries * entry_size);
  if (!raw.empty()) {
    if (auto ec = f->read_exact(0, raw)) return ec;
  }

  std::unique_ptr<time_index> index(new time_index(std::move(f), base_offset, max_bytes));
  index->loaded_well_formed_ = file_size % entry_size == 0;
  index->entries_.reserve(whole_entries);
  for (std::size_t i = 0; i < whole_entries; ++i) {
    const std::uint8_t* p = raw.data() + i * entry_size;
    const timestamp_offset entry{protocol::load_be<std::int64_t>(p),
                                 base_offset + protocol::load_be<std::uint32_t>(p + 8)};
    // Only the ordered prefix is kept, so lookups' binary search always sees sorted entries; sanity_check() reports
    // the rest and the caller rebuilds.
    if (!index->entries_.empty() &&
        (entry.timestamp <= index->entries_.back().timestamp || entry.offset <= index->entries_.back().offset)) {
      index->loaded_well_formed_ = false;
      break;
    }
    index->entries_.push_back(entry);
  }
  out = std::move(index);
  return {};
}

std::error_code time_index::maybe_append(std::int64_t timestamp, std::int64_t offset) {
  // Comparing with last_entry() rather than only a real entry keeps batches without a timestamp (-1) out, as Kafka.
  const timestamp_offset last = last_entry();
  if (timestamp <= last.timestamp) return {};
  if (offset < base_offset_ || offset - base_offset_ > std::int64_t{std::numeric_limits<std::uint32_t>::max()}) {
    return storage_errc::invalid_argument;
  }
  if (!entries_.empty() && offset <= last.offset) return storage_errc::invalid_argument;
  std::array<std::uint8_t, entry_size> raw;
  protocol::store_be(raw.data(), timestamp);
  protocol::store_be(raw.data() + 8, static_cast<std::uint32_t>(offset - base_offset_));
  // The file undoes a failed write itself; the entry is added only once it is on disk so memory never runs ahead.
  if (auto ec = file_->append(raw)) return ec;
  entries_.push_back({timestamp, offset});
  return {};
}

timestamp_offset time_index::lookup(std::int64_t target) const noexcept {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), target,
                             [](const timestamp_offset& e, std::int64_t t) { return e.timestamp < t; });
  if (it == entries_.begin()) return {-1, base_offset_};
  return *std::prev(it);
}

timestamp_offset time_index::last_entry() const noexcept {
  if (entries_.empty()) return {-1, base_offset_};
  return entries_.back();
}

std::error_code time_index::truncate_to(std::int64_t offset) {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), offset,
                             [](const timestamp_offset& e, std::int64_t target) { return e.offset < target; });
  const auto keep = static_cast<std::size_t>(it - entries_.begin());
  // Truncating the file even when no entry goes also drops any torn or unordered tail the open did not load.
  if (file_->size() != keep * entry_size) {
    if (auto ec = file_->truncate(keep * entry_size)) return ec;
  }
  entries_.resize(keep);
  return {};
}

std::error_code time_index::reset() {
  if (auto ec = file_->truncate(0)) return ec;
  entries_.clear();
  // An empty file is well formed: the index rebuilt into it must pass sanity_check() again.
  loaded_well_formed_ = true;
  return {};
}

std::error_code time_index::sanity_check(std::int64_t next_offset) const {
  if (!loaded_well_formed_ || file_->size() != entries_.size() * entry_size) return storage_errc::corrupt_batch;
  const timestamp_offset* previous = nullptr;
  for (const auto& e : entries_) {
    if (e.offset < base_offset_ || e.offset >= next_offset) return storage_errc::corrupt_batch;
    if (previous != nullptr && (e.timestamp <= previous->timestamp || e.offset <= previous->offset)) {
      return storage_errc::corrupt_batch;
    }
    previous = &e;
  }
  return {};
}

std::error_code time_index::flush() { return file_->sync(); }

std::error_code time_index::remove() { return file_->remove(); }

std::error_code time_index::rename(const std::filesystem::path& to) { return file_->rename(to); }

}  // namespace vltava::storage
