// A partition's log: segment list, offsets, offset assignment on append, reads, retention, truncation, flushing,
// and loading with crash recovery (including leftovers of interrupted compaction swaps).
#include "vltava/storage/partition_log.h"

#include <algorithm>
#include <charconv>
#include <limits>
#include <set>

#include <spdlog/spdlog.h>

#include "vltava/protocol/crc32c.h"
#include "vltava/protocol/record_batch.h"
#include "vltava/storage/storage_error.h"

namespace vltava::storage {
namespace {

constexpr std::string_view log_extension = ".log";
constexpr std::string_view swap_suffix = ".swap";
constexpr std::string_view cleaned_suffix = ".cleaned";
constexpr std::string_view deleted_suffix = ".deleted";

// The base offset named by a segment file ("00000000000000000042.log" and its .index/.timeindex siblings, with
// an optional suffix), or -1.
std::int64_t parse_base_offset(std::string_view name) {
  if (name.size() < 21 || name[20] != '.') return -1;
  std::int64_t value = -1;
  auto [end, ec] = std::from_chars(name.data(), name.data() + 20, value);
  if (ec != std::errc() || end != name.data() + 20) return -1;
  return value;
}

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

void remove_quietly(const std::filesystem::path& path) {
  std::error_code ignored;
  std::filesystem::remove(path, ignored);
}

// The offset one past the last batch of a log file, read header by header; base when it holds no whole batch.
std::int64_t scan_next_offset(const std::filesystem::path& path, std::int64_t base) {
  std::shared_ptr<file> f;
  if (file::open(path, open_mode::open_existing, nullptr, f)) return base;
  std::int64_t next = base;
  std::uint64_t position = 0;
  std::array<std::uint8_t, 27> header{};
  while (position + header.size() <= f->size()) {
    if (f->read_exact(position, header)) break;
    const auto length = protocol::load_be<std::int32_t>(header.data() + 8);
    if (length <= 0) break;
    next = protocol::load_be<std::int64_t>(header.data()) + protocol::load_be<std::int32_t>(header.data() + 23) + 1;
    position += protocol::log_entry_prefix_size + static_cast<std::uint64_t>(length);
  }
  return next;
}

}  // namespace

std::string topic_partition::directory_name() const { return topic + "-" + std::to_string(partition); }

std::error_code topic_partition::parse_directory_name(std::string_view name, topic_partition& out) {
  const auto dash = name.rfind('-');
  if (dash == std::string_view::npos || dash == 0 || dash + 1 == name.size()) {
    return make_error_code(storage_errc::invalid_argument);
  }
  std::int32_t partition = -1;
  const auto digits = name.substr(dash + 1);
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), partition);
  if (ec != std::errc() || end != digits.data() + digits.size() || partition < 0) {
    return make_error_code(storage_errc::invalid_argument);
  }
  out.topic = std::string(name.substr(0, dash));
  out.partition = partition;
  return {};
}

partition_log::partition_log(std::filesystem::path dir, topic_partition tp, log_config config, storage_context context)
    : dir_(std::move(dir)), tp_(std::move(tp)), context_(std::move(context)), config_(std::move(config)) {}

std::error_code partition_log::open(const std::filesystem::path& dir, topic_partition tp, log_config config,
                                    storage_context context, const open_options& options,
                                    std::shared_ptr<partition_log>& out, log_recovery_report& report) {
  report = {};
  if (!config.validate().empty()) return make_error_code(storage_errc::invalid_argument);
  std::error_code fs_error;
  std::filesystem::create_directories(dir, fs_error);
  if (fs_error) {
    spdlog::error("storage: cannot create log directory {}: {}", dir.string(), fs_error.message());
    return from_errno(fs_error.value());
  }
  auto log = std::make_shared<partition_log>(dir, std::move(tp), std::move(config), std::move(context));
  if (auto ec = log->load(options, report)) return ec;
  out = std::move(log);
  return {};
}

std::error_code partition_log::load(const open_options& options, log_recovery_report& report) {
  std::lock_guard lock(mutex_);
  const auto now = context_.time->now_ms();
  const auto segment_options = log_segment::options::from(config_, context_.faults);

  // Leftovers first. ".cleaned" files are an unfinished compaction (the originals are intact); ".deleted" files
  // were on their way out. A ".log.swap" is a finished compaction whose swap was interrupted: it replaces every
  // segment in its offset range.
  std::set<std::int64_t> log_bases;
  std::vector<std::int64_t> swap_bases;
  std::vector<std::filesystem::path> index_files;
  std::error_code fs_error;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, fs_error)) {
    const std::string name = entry.path().filename().string();
    const std::int64_t base = parse_base_offset(name);
    if (base < 0) continue;
    if (ends_with(name, cleaned_suffix) || ends_with(name, deleted_suffix)) {
      remove_quietly(entry.path());
      report.notes.push_back("removed leftover " + name);
    } else if (ends_with(name, std::string(log_extension) + std::string(swap_suffix))) {
      swap_bases.push_back(base);
    } else if (ends_with(name, swap_suffix)) {
      remove_quietly(entry.path());  // index files of a swap: rebuilt from the log instead
    } else if (ends_with(name, log_extension)) {
      log_bases.insert(base);
    } else if (ends_with(name, ".index") || ends_with(name, ".timeindex")) {
      index_files.push_back(entry.path());
    }  // other files named by an offset (producer-state .snapshot files) belong to the layers above
  }
  if (fs_error) return from_errno(fs_error.value());
  for (const std::int64_t base : swap_bases) {
    const std::int64_t end = scan_next_offset(segment_log_path(dir_, base, swap_suffix), base);
    for (auto it = log_bases.lower_bound(base); it != log_bases.end() && (*it == base || *it < end);) {
      remove_quietly(segment_log_path(dir_, *it));
      remove_quietly(segment_offset_index_path(dir_, *it));
      remove_quietly(segment_time_index_path(dir_, *it));
      it = log_bases.erase(it);
    }
    std::filesystem::rename(segment_log_path(dir_, base, swap_suffix), segment_log_path(dir_, base), fs_error);
    if (fs_error) return from_errno(fs_error.value());
    log_bases.insert(base);
    ++report.indexes_rebuilt;
    report.notes.push_back("completed the interrupted compaction swap of segment " + segment_file_stem(base));
  }
  for (const auto& index : index_files) {
    if (!log_bases.contains(parse_base_offset(index.filename().string()))) remove_quietly(index);
  }

  bool drop_rest = false;
  std::vector<std::int64_t> scanned;
  for (const std::int64_t base : log_bases) {
    if (drop_rest) {
      remove_quietly(segment_log_path(dir_, base));
      remove_quietly(segment_offset_index_path(dir_, base));
      remove_quietly(segment_time_index_path(dir_, base));
      ++report.segments_deleted;
      report.notes.push_back("deleted segment " + segment_file_stem(base) + " after a corrupt one");
      continue;
    }
    std::unique_ptr<log_segment> segment;
    if (auto ec = log_segment::open(dir_, base, segment_options, now, segment)) return ec;
    // Missing or broken indexes, or a tail that does not parse, mean a scan even after a clean shutdown.
    const bool scan = segment->needs_recovery() ||
                      (!options.clean_shutdown && segment->next_offset() > options.recovery_point) ||
                      (!options.clean_shutdown && base >= options.recovery_point);
    if (segment->needs_recovery()) ++report.indexes_rebuilt;
    if (scan) {
      scanned.push_back(base);
      segment_recovery recovered;
      if (auto ec = segment->recover(recovered)) return ec;
      ++report.segments_scanned;
      if (recovered.truncated_bytes > 0) {
        report.bytes_truncated += static_cast<std::int64_t>(recovered.truncated_bytes);
        report.notes.push_back("segment " + segment_file_stem(base) + ": kept " +
                               std::to_string(recovered.valid_batches) + " batches (" +
                               std::to_string(recovered.valid_bytes) + " bytes), truncated " +
                               std::to_string(recovered.truncated_bytes) + " bytes: " + recovered.reason);
        drop_rest = true;
      }
    }
    segments_.emplace(base, std::move(segment));
  }

  if (segments_.empty()) {
    const std::int64_t start = std::max<std::int64_t>(options.log_start_offset, 0);
    std::unique_ptr<log_segment> segment;
    if (auto ec = log_segment::create(dir_, start, segment_options, now, segment)) return ec;
    segments_.emplace(start, std::move(segment));
  }
  // The last segment may have lost everything to truncation; offsets then restart at its base.
  const std::int64_t end = active().next_offset();
  log_start_offset_ = std::clamp(options.log_start_offset, segments_.begin()->first, end);
  // A single node: everything in the log was acknowledged (or could have been), so consumers may read it all.
  high_watermark_ = end;
  recovery_point_ = options.clean_shutdown ? end : std::min(options.recovery_point, end);
  // Whatever recovery rewrote (truncated logs, rebuilt indexes, deleted segments) is made durable before the log
  // takes new appends: a second crash must not bring back deleted segments beside new data.
  if (!options.clean_shutdown || report.segments_scanned > 0 || !report.notes.empty()) {
    for (const std::int64_t base : scanned) {
      if (auto it = segments_.find(base); it != segments_.end()) {
        if (auto ec = it->second->flush()) return ec;
      }
    }
    if (auto ec = sync_directory(dir_)) return ec;
    recovery_point_ = end;
  }
  if (!report.notes.empty()) {
    for (const auto& note : report.notes) spdlog::warn("storage: recovery of {}: {}", tp_.directory_name(), note);
  }
  return {};
}

std::error_code partition_log::check_open() const {
  if (closed_) return make_error_code(storage_errc::log_closed);
  if (offline_) return make_error_code(storage_errc::log_offline);
  return {};
}

std::error_code partition_log::roll_if_needed(std::uint64_t incoming_bytes, std::int64_t incoming_last_offset) {
  auto& current = active();
  const auto now = context_.time->now_ms();
  const bool full = current.size() + incoming_bytes > static_cast<std::uint64_t>(config_.segment_bytes);
  const bool old = now - current.created_ms() >= config_.segment_ms;
  const bool unindexable = !current.can_hold(incoming_bytes, incoming_last_offset);
  if (current.empty() || !(full || old || unindexable)) return {};
  const std::int64_t base = current.next_offset();
  if (auto ec = current.seal()) return ec;
  std::unique_ptr<log_segment> next;
  if (auto ec = log_segment::create(dir_, base, log_segment::options::from(config_, context_.faults), now, next)) {
    return ec;
  }
  spdlog::debug("storage: {} rolled segment {} ({} bytes)", tp_.directory_name(), segment_file_stem(base),
                current.size());
  segments_.emplace(base, std::move(next));
  directory_dirty_ = true;
  return {};
}

std::error_code partition_log::append(std::span<std::uint8_t> batches, append_result& out) {
  std::lock_guard lock(mutex_);
  if (auto ec = check_open()) return ec;
  const auto now = context_.time->now_ms();
  const bool append_time = config_.message_timestamp_type == protocol::timestamp_type::log_append_time;

  // Assign offsets (and LogAppendTime) in place; the CRC does not cover the base offset, so only a changed
  // timestamp needs a new CRC.
  std::int64_t next = active().next_offset();
  const std::int64_t first = next;
  std::int64_t max_timestamp = -1;
  std::int64_t offset_of_max_timestamp = first;
  std::int64_t records = 0;
  std::size_t at = 0;
  while (at < batches.size()) {
    protocol::record_batch_view view;
    if (protocol::record_batch_view::parse(std::span<const std::uint8_t>(batches.subspan(at)), view)) {
      return make_error_code(storage_errc::corrupt_batch);
    }
    const auto size = view.size_in_bytes();
    auto batch = batches.subspan(at, size);
    (void)protocol::set_base_offset(batch, next);
    std::int64_t batch_max_timestamp = view.header().max_timestamp;
    if (append_time) {
      protocol::batch_attributes attributes{protocol::load_be<std::int16_t>(batch.data() + 21)};
      attributes.set_timestamps(protocol::timestamp_type::log_append_time);
      protocol::store_be(batch.data() + 21, attributes.bits);
      protocol::store_be(batch.data() + 35, now);
      protocol::store_be(batch.data() + protocol::record_batch_crc_offset, protocol::compute_record_batch_crc(batch));
      batch_max_timestamp = now;
    }
    if (batch_max_timestamp > max_timestamp) {
      max_timestamp = batch_max_timestamp;
      offset_of_max_timestamp = next;
    }
    if (next > std::numeric_limits<std::int64_t>::max() - view.header().last_offset_delta - 1) {
      return make_error_code(storage_errc::invalid_offset);  // offsets are 63-bit; this log is out of them
    }
    records += view.header().records_count;
    next += static_cast<std::int64_t>(view.header().last_offset_delta) + 1;
    at += size;
  }
  if (at == 0) return make_error_code(storage_errc::corrupt_batch);
  const std::int64_t last = next - 1;

  if (auto ec = roll_if_needed(batches.size(), last)) return ec;
  if (auto ec = active().append(batches, first, last, max_timestamp, offset_of_max_timestamp)) return ec;
  unflushed_messages_ += records;
  if (first_unflushed_append_ms_ < 0) first_unflushed_append_ms_ = now;
  out.base_offset = first;
  out.last_offset = last;
  out.log_append_time = append_time ? now : -1;
  out.log_start_offset = log_start_offset_;
  return {};
}

std::error_code partition_log::read(std::int64_t offset, std::uint64_t max_bytes, std::int64_t max_offset,
                                    bool min_one_batch, read_result& out) const {
  std::lock_guard lock(mutex_);
  if (closed_) return make_error_code(storage_errc::log_closed);
  out = {};
  out.log_start_offset = log_start_offset_;
  out.log_end_offset = active().next_offset();
  out.high_watermark = high_watermark_;
  if (offset < log_start_offset_ || offset > out.log_end_offset) {
    return make_error_code(storage_errc::offset_out_of_range);
  }
  const std::int64_t bound = std::min(max_offset, out.log_end_offset);
  if (offset >= bound) return {};
  auto it = segments_.upper_bound(offset);
  if (it != segments_.begin()) --it;
  for (; it != segments_.end(); ++it) {
    // Offsets past a segment's end but before the next one's base are a gap compaction left: read on.
    // Segments compaction emptied hold nothing at all.
    if (it->second->empty() || offset >= it->second->next_offset()) continue;
    return it->second->read(offset, max_bytes, bound, min_one_batch, out.records, out.first_batch_offset);
  }
  return {};
}

std::error_code partition_log::offset_for_timestamp(std::int64_t timestamp, std::int64_t& offset,
                                                    std::int64_t& record_timestamp, bool& found) const {
  std::lock_guard lock(mutex_);
  if (closed_) return make_error_code(storage_errc::log_closed);
  found = false;
  for (const auto& [base, segment] : segments_) {
    if (segment->next_offset() <= log_start_offset_ || segment->max_timestamp() < timestamp) continue;
    if (auto ec = segment->find_offset_by_timestamp(timestamp, log_start_offset_, offset, record_timestamp, found)) {
      return ec;
    }
    if (found) return {};
  }
  return {};
}

void partition_log::max_timestamp_offset(std::int64_t& offset, std::int64_t& timestamp) const {
  std::lock_guard lock(mutex_);
  offset = -1;
  timestamp = -1;
  const log_segment* holder = nullptr;
  for (const auto& [base, segment] : segments_) {
    if (segment->next_offset() <= log_start_offset_) continue;
    if (segment->max_timestamp() > timestamp) {
      timestamp = segment->max_timestamp();
      holder = segment.get();
    }
  }
  if (holder == nullptr) return;
  // The segment knows the batch; the record inside it that carries the timestamp is the first one reaching it.
  std::int64_t record_timestamp = -1;
  bool found = false;
  const std::int64_t from = std::max(holder->offset_of_max_timestamp(), log_start_offset_);
  if (!holder->find_offset_by_timestamp(timestamp, from, offset, record_timestamp, found) && found) return;
  offset = holder->offset_of_max_timestamp();
}

std::error_code partition_log::flush() {
  std::lock_guard flushing(flush_mutex_);
  std::vector<std::shared_ptr<log_segment>> dirty;
  std::shared_ptr<log_segment> current;
  std::int64_t target = 0;
  std::int64_t messages = 0;
  bool sync_dir = false;
  {
    std::lock_guard lock(mutex_);
    if (auto ec = check_open()) return ec;
    target = active().next_offset();
    if (target <= recovery_point_ && !directory_dirty_) return {};
    for (const auto& [base, segment] : segments_) {
      if (segment->next_offset() > recovery_point_ || segment.get() == &active()) dirty.push_back(segment);
    }
    current = segments_.rbegin()->second;
    if (closed_for_flush_) current.reset();  // closing: the sealed active segment's indexes are synced too
    // Index entries change only under this lock (appends, truncation): write them to their files here, in the page
    // cache, so that the fsyncs below, outside the lock, need not read them while appends go on.
    for (const auto& segment : dirty) segment->write_indexes();
    messages = unflushed_messages_;
    sync_dir = directory_dirty_;
    directory_dirty_ = false;
  }
  std::error_code failure;
  for (const auto& segment : dirty) {
    if ((failure = segment->sync(segment != current))) break;
  }
  if (!failure && sync_dir) failure = sync_directory(dir_);
  std::lock_guard lock(mutex_);
  if (failure) {
    // After a failed fsync the kernel may have dropped the dirty pages: what is on disk is unknown, so the log
    // stops taking writes until it is reopened and recovered.
    offline_ = true;
    spdlog::error("storage: {} is offline: flush failed: {}", tp_.directory_name(), failure.message());
    return make_error_code(storage_errc::log_offline);
  }
  recovery_point_ = std::max(recovery_point_, target);
  unflushed_messages_ = std::max<std::int64_t>(0, unflushed_messages_ - messages);
  first_unflushed_append_ms_ = unflushed_messages_ > 0 ? context_.time->now_ms() : -1;
  return {};
}

std::error_code partition_log::delete_segments(std::vector<std::shared_ptr<log_segment>> doomed) {
  std::error_code first_error;
  for (const auto& segment : doomed) {
    // Readers holding slices of these files keep their descriptors; unlinking only removes the names.
    if (auto ec = segment->remove_files(); ec && !first_error) first_error = ec;
    spdlog::info("storage: {} deleted segment {}", tp_.directory_name(), segment_file_stem(segment->base_offset()));
  }
  return first_error;
}

std::error_code partition_log::apply_retention(std::int32_t& segments_deleted) {
  segments_deleted = 0;
  std::vector<std::shared_ptr<log_segment>> doomed;
  {
    std::lock_guard lock(mutex_);
    if (auto ec = check_open()) return ec;
    const auto now = context_.time->now_ms();
    std::uint64_t total = 0;
    for (const auto& [base, segment] : segments_) total += segment->size();
    std::int64_t excess = config_.retention_bytes >= 0 ? static_cast<std::int64_t>(total) - config_.retention_bytes : 0;
    while (segments_.size() > 1) {
      auto& oldest = segments_.begin()->second;
      const bool below_start = oldest->next_offset() <= log_start_offset_;
      bool expired = false;
      bool oversize = false;
      if (config_.cleanup.delete_segments) {
        const std::int64_t newest = oldest->max_timestamp() >= 0 ? oldest->max_timestamp() : oldest->created_ms();
        expired = config_.retention_ms >= 0 && now - newest > config_.retention_ms;
        oversize = config_.retention_bytes >= 0 && excess - static_cast<std::int64_t>(oldest->size()) >= 0;
      }
      if (!below_start && !expired && !oversize) break;
      excess -= static_cast<std::int64_t>(oldest->size());
      doomed.push_back(oldest);
      segments_.erase(segments_.begin());
    }
    if (doomed.empty()) return {};
    log_start_offset_ = std::max(log_start_offset_, segments_.begin()->first);
    high_watermark_ = std::max(high_watermark_, log_start_offset_);
    recovery_point_ = std::max(recovery_point_, log_start_offset_);
  }
  segments_deleted = static_cast<std::int32_t>(doomed.size());
  return delete_segments(std::move(doomed));
}

std::error_code partition_log::delete_records_before(std::int64_t offset, std::int64_t& new_log_start_offset) {
  std::vector<std::shared_ptr<log_segment>> doomed;
  {
    std::lock_guard lock(mutex_);
    if (auto ec = check_open()) return ec;
    if (offset > high_watermark_ || offset < 0) return make_error_code(storage_errc::invalid_offset);
    log_start_offset_ = std::max(log_start_offset_, offset);
    while (segments_.size() > 1 && segments_.begin()->second->next_offset() <= log_start_offset_) {
      doomed.push_back(segments_.begin()->second);
      segments_.erase(segments_.begin());
    }
    new_log_start_offset = log_start_offset_;
  }
  return delete_segments(std::move(doomed));
}

std::error_code partition_log::truncate_to(std::int64_t offset) {
  std::vector<std::shared_ptr<log_segment>> doomed;
  {
    std::lock_guard lock(mutex_);
    if (auto ec = check_open()) return ec;
    if (offset < log_start_offset_) return make_error_code(storage_errc::invalid_offset);
    if (offset >= active().next_offset()) return {};
    while (segments_.size() > 1 && segments_.rbegin()->first >= offset) {
      doomed.push_back(segments_.rbegin()->second);
      segments_.erase(std::prev(segments_.end()));
    }
    std::uint64_t removed = 0;
    if (auto ec = active().truncate_to(offset, removed)) return ec;
    const std::int64_t end = active().next_offset();
    high_watermark_ = std::min(high_watermark_, end);
    recovery_point_ = std::min(recovery_point_, end);
    log_start_offset_ = std::min(log_start_offset_, end);
  }
  return delete_segments(std::move(doomed));
}

std::error_code partition_log::replace_segments(const std::vector<std::shared_ptr<log_segment>>& old_segments,
                                                std::unique_ptr<log_segment> replacement,
                                                const swap_crash_point& crash) {
  auto step = [&](int number) { return !crash || crash(number); };
  const auto interrupted = make_error_code(storage_errc::log_closed);
  std::lock_guard lock(mutex_);
  if (auto ec = check_open()) return ec;
  if (old_segments.empty() || !replacement || !old_segments.front() ||
      replacement->base_offset() != old_segments.front()->base_offset()) {
    return make_error_code(storage_errc::invalid_argument);
  }
  // The segments must still be there, consecutive and inactive: retention or truncation may have moved on.
  auto first = segments_.find(old_segments.front()->base_offset());
  const auto& old = old_segments;
  auto it = first;
  for (const auto& segment : old_segments) {
    if (it == segments_.end() || it->second != segment || std::next(it) == segments_.end()) {
      return make_error_code(storage_errc::invalid_argument);
    }
    ++it;
  }

  if (!step(1)) return interrupted;
  if (auto ec = replacement->flush()) return ec;
  if (auto ec = replacement->rename_files(swap_suffix)) return ec;
  if (auto ec = sync_directory(dir_)) return ec;
  // From here on the swap is committed: recovery completes it from the .log.swap file.
  if (!step(2)) return interrupted;
  if (!step(3)) return interrupted;
  for (const auto& segment : old) {
    remove_quietly(segment_offset_index_path(dir_, segment->base_offset()));
    remove_quietly(segment_time_index_path(dir_, segment->base_offset()));
    if (segment->base_offset() != replacement->base_offset())
      remove_quietly(segment_log_path(dir_, segment->base_offset()));
  }
  if (!step(4)) return interrupted;
  if (auto ec = replacement->rename_log_file("")) return ec;
  if (!step(5)) return interrupted;
  if (auto ec = replacement->rename_index_files("")) return ec;
  if (auto ec = sync_directory(dir_)) return ec;

  segments_.erase(first, it);
  const std::int64_t base = replacement->base_offset();
  segments_.emplace(base, std::move(replacement));
  return {};
}

std::vector<std::shared_ptr<log_segment>> partition_log::segments() const {
  std::lock_guard lock(mutex_);
  std::vector<std::shared_ptr<log_segment>> out;
  out.reserve(segments_.size());
  for (const auto& [base, segment] : segments_) out.push_back(segment);
  return out;
}

void partition_log::set_high_watermark(std::int64_t offset) {
  std::lock_guard lock(mutex_);
  high_watermark_ = std::clamp(offset, log_start_offset_, active().next_offset());
}
std::int64_t partition_log::high_watermark() const {
  std::lock_guard lock(mutex_);
  return high_watermark_;
}
std::int64_t partition_log::log_start_offset() const {
  std::lock_guard lock(mutex_);
  return log_start_offset_;
}
std::int64_t partition_log::log_end_offset() const {
  std::lock_guard lock(mutex_);
  return active().next_offset();
}
std::int64_t partition_log::recovery_point() const {
  std::lock_guard lock(mutex_);
  return recovery_point_;
}
std::uint64_t partition_log::size_bytes() const {
  std::lock_guard lock(mutex_);
  std::uint64_t total = 0;
  for (const auto& [base, segment] : segments_) total += segment->size();
  return total;
}
std::size_t partition_log::segment_count() const {
  std::lock_guard lock(mutex_);
  return segments_.size();
}
std::int64_t partition_log::unflushed_messages() const {
  std::lock_guard lock(mutex_);
  return unflushed_messages_;
}
std::int64_t partition_log::first_unflushed_append_ms() const {
  std::lock_guard lock(mutex_);
  return first_unflushed_append_ms_;
}
log_config partition_log::config() const {
  std::lock_guard lock(mutex_);
  return config_;
}
void partition_log::set_config(const log_config& config) {
  std::lock_guard lock(mutex_);
  config_ = config;
}

std::error_code partition_log::close() {
  {
    std::lock_guard lock(mutex_);
    if (closed_) return {};
    if (!offline_) {
      if (auto ec = active().seal()) return ec;
      directory_dirty_ = true;  // make the flush below run even with nothing new: the seal wrote the time index
      closed_for_flush_ = true;
    }
  }
  const std::error_code flushed = flush();
  std::lock_guard lock(mutex_);
  closed_ = true;
  return flushed;
}

std::error_code partition_log::remove() {
  (void)close();
  std::error_code fs_error;
  std::filesystem::remove_all(dir_, fs_error);
  if (fs_error) return from_errno(fs_error.value());
  return {};
}

}  // namespace vltava::storage
