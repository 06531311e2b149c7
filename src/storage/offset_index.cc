// The sparse offset index of a segment: Kafka's .index format, mirrored in memory for binary-search lookups.
#include "vltava/storage/offset_index.h"

#include <algorithm>
#include <array>
#include <iterator>
#include <limits>

#include "index_file.h"
#include "vltava/protocol/wire.h"
#include "vltava/storage/storage_error.h"

namespace vltava::storage {

offset_index::offset_index(std::unique_ptr<index_file::store> file, std::int64_t base_offset,
                           std::size_t max_bytes) noexcept
    : file_(std::move(file)), base_offset_(base_offset), max_bytes_(max_bytes) {}

offset_index::~offset_index() = default;

const std::filesystem::path& offset_index::path() const noexcept { return file_->path(); }

namespace {

// Offsets and positions both strictly grow.
bool in_order(const offset_position& previous, const offset_position& next) noexcept {
  return previous.offset < next.offset && previous.position < next.position;
}

}  // namespace

std::error_code offset_index::open(const std::filesystem::path& path, std::int64_t base_offset, std::size_t max_bytes,
                                   std::shared_ptr<io_fault_injector> faults, std::unique_ptr<offset_index>& out) {
  std::unique_ptr<index_file::store> store;
  std::vector<std::uint8_t> contents;
  if (auto ec = index_file::store::open(path, std::move(faults), store, contents)) return ec;
  std::unique_ptr<offset_index> index(new offset_index(std::move(store), base_offset, max_bytes));
  const auto decode = [base_offset](const std::uint8_t* p) {
    return offset_position{base_offset + protocol::load_be<std::uint32_t>(p), protocol::load_be<std::uint32_t>(p + 4)};
  };
  index_file::load(std::span<const std::uint8_t>(contents), entry_size, decode, in_order, index->entries_,
                   index->written_, index->loaded_well_formed_);
  out = std::move(index);
  return {};
}

std::error_code offset_index::append(std::int64_t offset, std::uint32_t position) {
  if (offset < base_offset_ || offset - base_offset_ > std::int64_t{std::numeric_limits<std::uint32_t>::max()}) {
    return storage_errc::invalid_argument;
  }
  if (!entries_.empty() && !in_order(entries_.back(), {offset, position})) return storage_errc::invalid_argument;
  entries_.push_back({offset, position});
  return {};
}

offset_position offset_index::lookup(std::int64_t offset) const noexcept {
  auto it = std::upper_bound(entries_.begin(), entries_.end(), offset,
                             [](std::int64_t target, const offset_position& e) { return target < e.offset; });
  if (it == entries_.begin()) return {base_offset_, 0};
  return *std::prev(it);
}

std::error_code offset_index::truncate_to(std::int64_t offset) {
  return index_file::truncate_to(*file_, entry_size, entries_, written_, offset);
}

std::error_code offset_index::reset() { return index_file::reset(*file_, entries_, written_, loaded_well_formed_); }

std::error_code offset_index::sanity_check(std::uint64_t log_size) const {
  const auto in_range = [&](const offset_position& e) { return e.offset >= base_offset_ && e.position < log_size; };
  return index_file::sanity_check(*file_, entry_size, entries_, written_, loaded_well_formed_, in_range, in_order);
}

std::error_code offset_index::write() {
  const auto encode = [base = base_offset_](const offset_position& e, std::uint8_t* p) {
    protocol::store_be(p, static_cast<std::uint32_t>(e.offset - base));
    protocol::store_be(p + 4, e.position);
  };
  return index_file::write_pending(*file_, entry_size, entries_, written_, encode);
}

std::error_code offset_index::sync() { return file_->sync(); }

std::error_code offset_index::flush() {
  if (auto ec = write()) return ec;
  return sync();
}

std::error_code offset_index::remove() { return file_->remove(); }

std::error_code offset_index::rename(const std::filesystem::path& to) { return file_->rename(to); }

}  // namespace vltava::storage
