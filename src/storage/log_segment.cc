// A segment's files and the batch-level operations on them: append with sparse indexing, lookup by offset and by
// timestamp, and the recovery scan that validates every batch and cuts a torn or corrupt tail.
#include "vltava/storage/log_segment.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <limits>
#include <vector>

#include <spdlog/spdlog.h>

#include "vltava/protocol/record_batch.h"
#include "vltava/storage/storage_error.h"

namespace vltava::storage {
namespace {

// No writer produces a batch longer than this, whatever max.message.bytes says: a longer length field in a
// segment is garbage, not a batch to read into memory.
constexpr std::uint64_t max_plausible_batch_bytes = 100 * 1024 * 1024;

std::filesystem::path segment_path(const std::filesystem::path& dir, std::int64_t base_offset, std::string_view kind,
                                   std::string_view suffix) {
  std::string name = segment_file_stem(base_offset);
  name += kind;
  name += suffix;
  return dir / name;
}

}  // namespace

std::string segment_file_stem(std::int64_t base_offset) {
  std::array<char, 32> text{};
  std::snprintf(text.data(), text.size(), "%020lld", static_cast<long long>(base_offset));
  return text.data();
}

std::filesystem::path segment_log_path(const std::filesystem::path& dir, std::int64_t base_offset,
                                       std::string_view suffix) {
  return segment_path(dir, base_offset, ".log", suffix);
}
std::filesystem::path segment_offset_index_path(const std::filesystem::path& dir, std::int64_t base_offset,
                                                std::string_view suffix) {
  return segment_path(dir, base_offset, ".index", suffix);
}
std::filesystem::path segment_time_index_path(const std::filesystem::path& dir, std::int64_t base_offset,
                                              std::string_view suffix) {
  return segment_path(dir, base_offset, ".timeindex", suffix);
}

log_segment::options log_segment::options::from(const log_config& config, std::shared_ptr<io_fault_injector> faults) {
  options opts;
  opts.index_interval_bytes = config.index_interval_bytes;
  opts.segment_index_bytes = config.segment_index_bytes;
  opts.max_message_bytes = config.max_message_bytes;
  opts.faults = std::move(faults);
  return opts;
}

log_segment::log_segment(std::filesystem::path dir, std::int64_t base_offset, options opts,
                         std::int64_t created_ms) noexcept
    : dir_(std::move(dir)),
      base_offset_(base_offset),
      options_(std::move(opts)),
      created_ms_(created_ms),
      next_offset_(base_offset),
      offset_of_max_timestamp_(base_offset) {}

std::error_code log_segment::create(const std::filesystem::path& dir, std::int64_t base_offset, const options& opts,
                                    std::int64_t created_ms, std::unique_ptr<log_segment>& out,
                                    std::string_view suffix) {
  std::unique_ptr<log_segment> segment(new log_segment(dir, base_offset, opts, created_ms));
  const auto index_bytes = static_cast<std::size_t>(opts.segment_index_bytes);
  if (auto ec =
          file::open(segment_log_path(dir, base_offset, suffix), open_mode::create_new, opts.faults, segment->log_)) {
    return ec;
  }
  // A half-created segment (the disk filled between files) must not block the next attempt with already_exists.
  struct undo_on_failure {
    file* created;
    ~undo_on_failure() {
      if (created) (void)created->remove();
    }
  } undo{segment->log_.get()};
  if (auto ec = offset_index::open(segment_offset_index_path(dir, base_offset, suffix), base_offset, index_bytes,
                                   opts.faults, segment->offset_index_)) {
    return ec;
  }
  if (auto ec = time_index::open(segment_time_index_path(dir, base_offset, suffix), base_offset, index_bytes,
                                 opts.faults, segment->time_index_)) {
    return ec;
  }
  // Index files left behind by an earlier life of this offset describe some other log: start them empty.
  if (auto ec = segment->offset_index_->reset()) return ec;
  if (auto ec = segment->time_index_->reset()) return ec;
  undo.created = nullptr;
  out = std::move(segment);
  return {};
}

std::error_code log_segment::open(const std::filesystem::path& dir, std::int64_t base_offset, const options& opts,
                                  std::int64_t created_ms, std::unique_ptr<log_segment>& out) {
  std::unique_ptr<log_segment> segment(new log_segment(dir, base_offset, opts, created_ms));
  const auto index_bytes = static_cast<std::size_t>(opts.segment_index_bytes);
  if (auto ec = file::open(segment_log_path(dir, base_offset), open_mode::open_existing, opts.faults, segment->log_)) {
    return ec;
  }
  const bool indexes_present = std::filesystem::exists(segment_offset_index_path(dir, base_offset)) &&
                               std::filesystem::exists(segment_time_index_path(dir, base_offset));
  if (auto ec = offset_index::open(segment_offset_index_path(dir, base_offset), base_offset, index_bytes, opts.faults,
                                   segment->offset_index_)) {
    return ec;
  }
  if (auto ec = time_index::open(segment_time_index_path(dir, base_offset), base_offset, index_bytes, opts.faults,
                                 segment->time_index_)) {
    return ec;
  }
  bool rebuild = !indexes_present && segment->log_->size() > 0;
  if (!rebuild && segment->offset_index_->sanity_check(segment->log_->size())) rebuild = true;
  if (!rebuild) {
    const auto loaded = segment->load_tail();
    if (loaded && loaded != make_error_code(storage_errc::corrupt_batch)) return loaded;
    if (loaded || segment->time_index_->sanity_check(segment->next_offset_)) rebuild = true;
  }
  // Nothing is truncated here: the caller runs recover(), which reports what it cuts.
  segment->needs_recovery_ = rebuild;
  out = std::move(segment);
  return {};
}

std::error_code log_segment::read_batch_position(std::uint64_t position, batch_position& out, bool& found) const {
  found = false;
  const std::uint64_t size = log_->size();
  if (position >= size) return {};
  std::array<std::uint8_t, protocol::record_batch_header_size> header{};
  if (size - position < header.size()) return make_error_code(storage_errc::corrupt_batch);
  if (auto ec = log_->read_exact(position, header)) return ec;
  const auto base = protocol::load_be<std::int64_t>(header.data());
  const auto length = protocol::load_be<std::int32_t>(header.data() + 8);
  const auto magic = static_cast<std::int8_t>(header[16]);
  const auto last_delta = protocol::load_be<std::int32_t>(header.data() + 23);
  if (magic != protocol::record_batch_magic || length < 0 ||
      static_cast<std::uint64_t>(length) + protocol::log_entry_prefix_size < header.size() || last_delta < 0) {
    return make_error_code(storage_errc::corrupt_batch);
  }
  const std::uint64_t batch_size = protocol::log_entry_prefix_size + static_cast<std::uint64_t>(length);
  if (batch_size > size - position) return make_error_code(storage_errc::corrupt_batch);
  out.base_offset = base;
  // Wrapping arithmetic: these bytes may be damaged, and a damaged header must not overflow.
  out.last_offset =
      static_cast<std::int64_t>(static_cast<std::uint64_t>(base) + static_cast<std::uint64_t>(last_delta));
  out.max_timestamp = protocol::load_be<std::int64_t>(header.data() + 35);
  out.position = position;
  out.size = static_cast<std::uint32_t>(batch_size);
  found = true;
  return {};
}

std::error_code log_segment::find_batch(std::int64_t offset, batch_position& out, bool& found) const {
  std::uint64_t position = offset_index_->lookup(offset).position;
  while (true) {
    if (auto ec = read_batch_position(position, out, found)) return ec;
    if (!found || out.last_offset >= offset) return {};
    position += out.size;
  }
}

void log_segment::index_batch(const batch_position& batch) {
  if (batch.max_timestamp > max_timestamp_) {
    max_timestamp_ = batch.max_timestamp;
    offset_of_max_timestamp_ = batch.base_offset;
  }
  if (bytes_since_index_entry_ > static_cast<std::uint64_t>(options_.index_interval_bytes)) {
    // The indexes are sparse and rebuilt from the log when in doubt: an entry that cannot be added is skipped,
    // never a reason to fail an append whose batch is already in the log. Entries reach the files at flush().
    std::error_code failed;
    if (!offset_index_->is_full())
      failed = offset_index_->append(batch.base_offset, static_cast<std::uint32_t>(batch.position));
    if (!failed && !time_index_->is_full())
      failed = time_index_->maybe_append(max_timestamp_, offset_of_max_timestamp_);
    if (failed)
      spdlog::warn("storage: skipped an index entry of segment {} in {}: {}", segment_file_stem(base_offset_),
                   dir_.string(), failed.message());
    bytes_since_index_entry_ = 0;
  }
  bytes_since_index_entry_ += batch.size;
  next_offset_ = batch.last_offset + 1;
}

std::error_code log_segment::append(std::span<const std::uint8_t> batches, std::int64_t first_offset,
                                    std::int64_t last_offset, std::int64_t max_timestamp,
                                    std::int64_t offset_of_max_timestamp) {
  (void)first_offset;
  (void)max_timestamp;
  (void)offset_of_max_timestamp;
  const std::uint64_t start = log_->size();
  if (auto ec = log_->append(batches)) return ec;
  // The bytes are ours and already checked by the caller; index each batch from its header in memory.
  std::size_t at = 0;
  while (at + protocol::record_batch_header_size <= batches.size()) {
    const std::uint8_t* header = batches.data() + at;
    batch_position batch;
    batch.base_offset = protocol::load_be<std::int64_t>(header);
    batch.last_offset = batch.base_offset + protocol::load_be<std::int32_t>(header + 23);
    batch.max_timestamp = protocol::load_be<std::int64_t>(header + 35);
    batch.position = start + at;
    batch.size = static_cast<std::uint32_t>(protocol::log_entry_prefix_size +
                                            static_cast<std::uint32_t>(protocol::load_be<std::int32_t>(header + 8)));
    index_batch(batch);
    at += batch.size;
  }
  next_offset_ = std::max(next_offset_, last_offset + 1);
  return {};
}

std::error_code log_segment::read(std::int64_t start_offset, std::uint64_t max_bytes, std::int64_t max_offset,
                                  bool min_one_batch, file_slice& out, std::int64_t& first_batch_offset) const {
  out = {};
  first_batch_offset = -1;
  batch_position first;
  bool found = false;
  if (auto ec = find_batch(start_offset, first, found)) return ec;
  if (!found || first.last_offset >= max_offset) return {};
  if (first.size > max_bytes && !min_one_batch) return {};
  std::uint64_t total = first.size;
  std::uint64_t position = first.position + first.size;
  // Jump over whole batches with the offset index instead of reading each header: the last indexed batch that
  // starts within max_bytes and below max_offset ends everything before it in bounds too.
  const auto& entries = offset_index_->entries();
  const std::uint64_t limit = first.position + std::min<std::uint64_t>(max_bytes, log_->size());
  auto past = std::upper_bound(entries.begin(), entries.end(), limit,
                               [](std::uint64_t at, const offset_position& entry) { return at < entry.position; });
  while (past != entries.begin()) {
    const auto& candidate = *std::prev(past);
    if (candidate.position <= position) break;
    if (candidate.offset < max_offset) {
      total = candidate.position - first.position;
      position = candidate.position;
      break;
    }
    --past;
  }
  while (total < max_bytes) {
    batch_position next;
    if (auto ec = read_batch_position(position, next, found)) return ec;
    if (!found || next.last_offset >= max_offset || total + next.size > max_bytes) break;
    total += next.size;
    position += next.size;
  }
  out = file_slice{log_, first.position, total};
  first_batch_offset = first.base_offset;
  return {};
}

std::error_code log_segment::find_offset_by_timestamp(std::int64_t target, std::int64_t min_offset,
                                                      std::int64_t& offset, std::int64_t& timestamp,
                                                      bool& found) const {
  found = false;
  const auto start_entry = time_index_->lookup(target);
  std::uint64_t position = offset_index_->lookup(std::max(start_entry.offset, min_offset)).position;
  std::vector<std::uint8_t> buffer;
  protocol::record_reader reader;
  while (true) {
    batch_position batch;
    bool present = false;
    if (auto ec = read_batch_position(position, batch, present)) return ec;
    if (!present) return {};
    position += batch.size;
    if (batch.max_timestamp < target || batch.last_offset < min_offset) continue;
    buffer.resize(batch.size);
    if (auto ec = log_->read_exact(batch.position, buffer)) return ec;
    protocol::record_batch_view view;
    if (protocol::record_batch_view::parse(buffer, view)) return make_error_code(storage_errc::corrupt_batch);
    if (reader.open(view)) return make_error_code(storage_errc::corrupt_batch);
    protocol::record_view record;
    while (reader.next(record)) {
      const std::int64_t record_offset = view.offset_of(record);
      const std::int64_t record_timestamp = view.timestamp_of(record);
      if (record_offset >= min_offset && record_timestamp >= target) {
        offset = record_offset;
        timestamp = record_timestamp;
        found = true;
        return {};
      }
    }
    if (reader.error()) return make_error_code(storage_errc::corrupt_batch);
  }
}

std::error_code log_segment::load_tail() {
  // Everything up to the last time index entry is summarised by it; batches after it are read header by header.
  const auto last_time = time_index_->last_entry();
  max_timestamp_ = last_time.timestamp;
  offset_of_max_timestamp_ = last_time.offset;
  next_offset_ = base_offset_;
  const auto& entries = offset_index_->entries();
  const std::uint64_t last_entry_position = entries.empty() ? 0 : entries.back().position;
  const std::int64_t scan_from = entries.empty() ? base_offset_ : std::min(entries.back().offset, last_time.offset);
  std::uint64_t position = offset_index_->lookup(scan_from).position;
  bytes_since_index_entry_ = 0;
  while (true) {
    batch_position batch;
    bool found = false;
    if (auto ec = read_batch_position(position, batch, found)) return ec;
    if (!found) break;
    if (batch.max_timestamp > max_timestamp_) {
      max_timestamp_ = batch.max_timestamp;
      offset_of_max_timestamp_ = batch.base_offset;
    }
    next_offset_ = batch.last_offset + 1;
    if (batch.position >= last_entry_position) bytes_since_index_entry_ += batch.size;
    position += batch.size;
  }
  if (max_timestamp_ < 0) offset_of_max_timestamp_ = base_offset_;
  return {};
}

std::error_code log_segment::recover(segment_recovery& report) {
  report = {};
  needs_recovery_ = false;
  if (auto ec = offset_index_->reset()) return ec;
  if (auto ec = time_index_->reset()) return ec;
  next_offset_ = base_offset_;
  max_timestamp_ = -1;
  offset_of_max_timestamp_ = base_offset_;
  bytes_since_index_entry_ = 0;
  const std::uint64_t size = log_->size();
  const std::uint64_t max_batch =
      std::max<std::uint64_t>(max_plausible_batch_bytes, static_cast<std::uint64_t>(options_.max_message_bytes));
  std::vector<std::uint8_t> buffer;
  std::uint64_t position = 0;
  while (position < size) {
    const std::uint64_t left = size - position;
    std::array<std::uint8_t, protocol::log_entry_prefix_size> prefix{};
    if (left < prefix.size()) {
      report.reason = "torn batch header at position " + std::to_string(position);
      break;
    }
    if (auto ec = log_->read_exact(position, prefix)) return ec;
    const auto length = protocol::load_be<std::int32_t>(prefix.data() + 8);
    const std::uint64_t batch_size = prefix.size() + static_cast<std::uint64_t>(std::max(length, 0));
    if (length < 0 || batch_size < protocol::record_batch_header_size || batch_size > max_batch) {
      report.reason = "impossible batch length " + std::to_string(length) + " at position " + std::to_string(position);
      break;
    }
    if (batch_size > left) {
      report.reason = "torn batch at position " + std::to_string(position) + " (" + std::to_string(batch_size) +
                      " bytes announced, " + std::to_string(left) + " present)";
      break;
    }
    buffer.resize(batch_size);
    if (auto ec = log_->read_exact(position, buffer)) return ec;
    protocol::record_batch_view view;
    if (auto ec = protocol::record_batch_view::parse(buffer, view)) {
      report.reason = "unreadable batch at position " + std::to_string(position) + ": " + ec.message();
      break;
    }
    if (auto ec = view.validate()) {
      report.reason = "invalid batch at position " + std::to_string(position) + ": " + ec.message();
      break;
    }
    const auto& header = view.header();
    if (header.base_offset < next_offset_) {
      report.reason = "batch at position " + std::to_string(position) + " goes back to offset " +
                      std::to_string(header.base_offset) + " after " + std::to_string(next_offset_ - 1);
      break;
    }
    if (header.last_offset_delta < 0 ||
        header.base_offset - base_offset_ >
            std::int64_t{std::numeric_limits<std::int32_t>::max()} - header.last_offset_delta) {
      report.reason = "batch at position " + std::to_string(position) + " holds offsets beyond what segment " +
                      segment_file_stem(base_offset_) + " can index";
      break;
    }
    batch_position batch{header.base_offset, header.last_offset(), header.max_timestamp, position,
                         static_cast<std::uint32_t>(batch_size)};
    index_batch(batch);
    ++report.valid_batches;
    position += batch_size;
  }
  report.valid_bytes = position;
  report.truncated_bytes = size - position;
  if (position < size) {
    if (auto ec = log_->truncate(position)) return ec;
  }
  return {};
}

std::error_code log_segment::truncate_to(std::int64_t offset, std::uint64_t& removed) {
  removed = 0;
  batch_position batch;
  bool found = false;
  if (auto ec = find_batch(offset, batch, found)) return ec;
  if (!found) return {};
  const std::uint64_t size = log_->size();
  if (auto ec = offset_index_->truncate_to(batch.base_offset)) return ec;
  if (auto ec = time_index_->truncate_to(batch.base_offset)) return ec;
  if (auto ec = log_->truncate(batch.position)) return ec;
  removed = size - batch.position;
  return load_tail();
}

std::error_code log_segment::flush() {
  write_indexes();
  return sync(true);
}

std::error_code log_segment::sync(bool include_indexes) {
  if (auto ec = log_->sync()) return ec;
  if (!include_indexes) return {};
  if (auto ec = offset_index_->sync()) return ec;
  return time_index_->sync();
}

void log_segment::write_indexes() {
  // Failing costs only a longer scan when the segment is next opened: the entries stay pending for the next write.
  for (auto ec : {offset_index_->write(), time_index_->write()}) {
    if (ec)
      spdlog::warn("storage: could not write the index entries of segment {} in {}: {}",
                   segment_file_stem(base_offset_), dir_.string(), ec.message());
  }
}

std::error_code log_segment::seal() {
  if (max_timestamp_ >= 0) {
    if (auto ec = time_index_->maybe_append(max_timestamp_, offset_of_max_timestamp_)) return ec;
  }
  // A sealed segment is flushed only if it holds data past the recovery point: write its entries now, so that the
  // files are whole even when no later flush includes it.
  write_indexes();
  return {};
}

std::error_code log_segment::rename_log_file(std::string_view suffix) {
  return log_->rename(segment_log_path(dir_, base_offset_, suffix));
}

std::error_code log_segment::rename_index_files(std::string_view suffix) {
  if (auto ec = offset_index_->rename(segment_offset_index_path(dir_, base_offset_, suffix))) return ec;
  return time_index_->rename(segment_time_index_path(dir_, base_offset_, suffix));
}

std::error_code log_segment::rename_files(std::string_view suffix) {
  if (auto ec = rename_log_file(suffix)) return ec;
  return rename_index_files(suffix);
}

std::error_code log_segment::remove_files() {
  // The log first: an index without its log is an orphan that loading deletes, the reverse would be a segment.
  if (auto ec = log_->remove()) return ec;
  if (auto ec = offset_index_->remove()) return ec;
  return time_index_->remove();
}

bool log_segment::can_hold(std::uint64_t bytes, std::int64_t last_offset) const noexcept {
  if (log_->size() > std::numeric_limits<std::uint32_t>::max() - std::min<std::uint64_t>(bytes, 0xffffffffULL)) {
    return false;
  }
  if (last_offset - base_offset_ > std::numeric_limits<std::int32_t>::max()) return false;
  return !offset_index_->is_full() && !time_index_->is_full();
}

}  // namespace vltava::storage
