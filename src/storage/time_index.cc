// The time index of a segment: Kafka's .timeindex format, mirrored in memory for binary-search lookups.
#include "vltava/storage/time_index.h"

#include <algorithm>
#include <array>
#include <iterator>
#include <limits>

#include "index_file.h"
#include "vltava/protocol/wire.h"
#include "vltava/storage/storage_error.h"

namespace vltava::storage {

time_index::time_index(std::unique_ptr<index_file::store> file, std::int64_t base_offset,
                       std::size_t max_bytes) noexcept
    : file_(std::move(file)), base_offset_(base_offset), max_bytes_(max_bytes) {}

time_index::~time_index() = default;

const std::filesystem::path& time_index::path() const noexcept { return file_->path(); }

namespace {

// Timestamps and offsets both strictly grow.
bool in_order(const timestamp_offset& previous, const timestamp_offset& next) noexcept {
  return previous.timestamp < next.timestamp && previous.offset < next.offset;
}

}  // namespace

std::error_code time_index::open(const std::filesystem::path& path, std::int64_t base_offset, std::size_t max_bytes,
                                 std::shared_ptr<io_fault_injector> faults, std::unique_ptr<time_index>& out) {
  std::unique_ptr<index_file::store> store;
  std::vector<std::uint8_t> contents;
  if (auto ec = index_file::store::open(path, std::move(faults), store, contents)) return ec;
  std::unique_ptr<time_index> index(new time_index(std::move(store), base_offset, max_bytes));
  const auto decode = [base_offset](const std::uint8_t* p) {
    return timestamp_offset{protocol::load_be<std::int64_t>(p), base_offset + protocol::load_be<std::uint32_t>(p + 8)};
  };
  index_file::load(std::span<const std::uint8_t>(contents), entry_size, decode, in_order, index->entries_,
                   index->written_, index->loaded_well_formed_);
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
  return index_file::truncate_to(*file_, entry_size, entries_, written_, offset);
}

std::error_code time_index::reset() { return index_file::reset(*file_, entries_, written_, loaded_well_formed_); }

std::error_code time_index::sanity_check(std::int64_t next_offset) const {
  const auto in_range = [&](const timestamp_offset& e) { return e.offset >= base_offset_ && e.offset < next_offset; };
  return index_file::sanity_check(*file_, entry_size, entries_, written_, loaded_well_formed_, in_range, in_order);
}

std::error_code time_index::write() {
  const auto encode = [base = base_offset_](const timestamp_offset& e, std::uint8_t* p) {
    protocol::store_be(p, e.timestamp);
    protocol::store_be(p + 8, static_cast<std::uint32_t>(e.offset - base));
  };
  return index_file::write_pending(*file_, entry_size, entries_, written_, encode);
}

std::error_code time_index::sync() { return file_->sync(); }

std::error_code time_index::flush() {
  if (auto ec = write()) return ec;
  return sync();
}

std::error_code time_index::remove() { return file_->remove(); }

std::error_code time_index::rename(const std::filesystem::path& to) { return file_->rename(to); }

}  // namespace vltava::storage
