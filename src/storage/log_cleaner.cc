// Log compaction: one pass finds the cleanable range, builds a key -> newest offset map over its dirty part and
// rewrites each cleanable segment into "<base>.log.cleaned" keeping only the newest record per key, then swaps the
// result in through partition_log::replace_segments. See log_cleaner.h for the rules.
#include "vltava/storage/log_cleaner.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "vltava/protocol/record_batch.h"
#include "vltava/protocol/record_batch_builder.h"
#include "vltava/storage/storage_error.h"

namespace vltava::storage {
namespace {

namespace proto = vltava::protocol;

using key_map = std::unordered_map<std::string, std::int64_t>;

constexpr std::size_t last_offset_delta_offset = 23;
constexpr std::size_t max_timestamp_offset = 35;
constexpr std::size_t read_chunk_bytes = 1024 * 1024;

// now - lag without overflow: a lag of no_limit (or anything larger than now) means "before every timestamp".
std::int64_t minus_lag(std::int64_t now, std::int64_t lag) noexcept {
  if (lag <= 0) return now;
  if (now < std::numeric_limits<std::int64_t>::min() + lag) return std::numeric_limits<std::int64_t>::min();
  return now - lag;
}

// What one pass may clean: segments[0, cleanable) lie wholly below bound; those from first_dirty on hold offsets at
// or after the checkpoint.
struct cleanable_range {
  std::vector<std::shared_ptr<log_segment>> segments;  // the whole log, active segment last
  std::size_t cleanable = 0;
  std::size_t first_dirty = 0;
  std::int64_t first_dirty_offset = 0;
  std::int64_t bound = 0;  // first offset this pass may not clean
  std::uint64_t clean_bytes = 0;
  std::uint64_t dirty_bytes = 0;
  bool max_lag_exceeded = false;

  double ratio() const noexcept {
    const std::uint64_t total = clean_bytes + dirty_bytes;
    return total == 0 ? 0.0 : static_cast<double>(dirty_bytes) / static_cast<double>(total);
  }
  bool worth_cleaning(const log_config& config) const noexcept {
    return dirty_bytes > 0 && (ratio() >= config.min_cleanable_dirty_ratio || max_lag_exceeded);
  }
};

cleanable_range find_cleanable(const partition_log& log, const log_config& config, std::int64_t first_dirty_offset) {
  cleanable_range range;
  range.segments = log.segments();
  const std::int64_t log_start = log.log_start_offset();
  // A checkpoint outside the log (the log was truncated below it, or retention passed it) says nothing about what
  // is clean now: start over from the log start, as Kafka does.
  if (first_dirty_offset < log_start || first_dirty_offset > log.log_end_offset()) first_dirty_offset = log_start;
  range.first_dirty_offset = first_dirty_offset;
  if (range.segments.empty()) return range;

  // Records above the high watermark may still be truncated away, and consumers cannot read them yet: like Kafka
  // (which stops at the last stable offset, itself at most the high watermark) only whole segments below it count.
  const std::int64_t high_watermark = log.high_watermark();
  const std::int64_t now = log.context().time->now_ms();
  const std::int64_t newest_compactable = minus_lag(now, config.min_compaction_lag_ms);
  const std::int64_t max_lag_horizon = minus_lag(now, config.max_compaction_lag_ms);
  const std::size_t inactive = range.segments.size() - 1;
  range.bound = range.segments.back()->base_offset();
  range.first_dirty = inactive;
  bool seen_dirty = false;
  for (std::size_t i = 0; i < inactive; ++i) {
    const log_segment& seg = *range.segments[i];
    const bool dirty = seg.next_offset() > first_dirty_offset || seg.base_offset() >= first_dirty_offset;
    const bool too_recent = config.min_compaction_lag_ms > 0 && seg.max_timestamp() > newest_compactable;
    // min.compaction.lag.ms protects only records not yet cleaned, as in Kafka: the clean part passed it before.
    if (seg.next_offset() > high_watermark || (dirty && too_recent)) {
      range.bound = seg.base_offset();
      break;
    }
    if (dirty && !seen_dirty) {
      seen_dirty = true;
      range.first_dirty = i;
    }
    if (dirty) {
      range.dirty_bytes += seg.size();
      if (config.max_compaction_lag_ms != no_limit && seg.max_timestamp() >= 0 && seg.max_timestamp() < max_lag_horizon)
        range.max_lag_exceeded = true;
    } else {
      range.clean_bytes += seg.size();
    }
    range.cleanable = i + 1;
  }
  if (!seen_dirty) range.first_dirty = range.cleanable;
  return range;
}

// Reads the whole batches of a segment's log file in order, through one buffer reused for every batch. A batch
// view handed out stays valid until the next call to next().
class segment_batch_reader {
 public:
  segment_batch_reader(std::shared_ptr<const file> source, std::uint64_t end) : source_(std::move(source)), end_(end) {}

  bool next(proto::record_batch_view& out) {
    const std::uint64_t position = buffer_position_ + cursor_;
    if (position >= end_ || error_) return false;
    if (end_ - position < proto::log_entry_prefix_size) return fail(position, "torn batch header");
    if (auto ec = ensure(proto::log_entry_prefix_size)) return fail(position, ec.message());
    const std::int32_t length = proto::load_be<std::int32_t>(buffer_.data() + cursor_ + 8);
    if (length < static_cast<std::int32_t>(proto::record_batch_header_size - proto::log_entry_prefix_size))
      return fail(position, "batch length " + std::to_string(length));
    const std::uint64_t size = proto::log_entry_prefix_size + static_cast<std::uint64_t>(length);
    if (size > end_ - position) return fail(position, "batch runs past the end of the segment");
    if (auto ec = ensure(static_cast<std::size_t>(size))) return fail(position, ec.message());
    const proto::byte_span bytes(buffer_.data() + cursor_, static_cast<std::size_t>(size));
    if (auto ec = proto::record_batch_view::parse(bytes, out)) return fail(position, ec.message());
    if (auto ec = out.validate()) return fail(position, ec.message());
    cursor_ += static_cast<std::size_t>(size);
    return true;
  }

  std::error_code error() const noexcept { return error_; }

 private:
  // Makes the buffer hold at least n bytes from the cursor on (the caller checked that the file has them).
  std::error_code ensure(std::size_t n) {
    if (buffer_.size() - cursor_ >= n) return {};
    buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(cursor_));
    buffer_position_ += cursor_;
    cursor_ = 0;
    const std::uint64_t left = end_ - buffer_position_;
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(std::max(n, read_chunk_bytes), left));
    const std::size_t have = buffer_.size();
    if (want <= have) return {};
    buffer_.resize(want);
    if (auto ec = source_->read_exact(buffer_position_ + have, std::span(buffer_).subspan(have))) {
      buffer_.resize(have);
      return ec;
    }
    return {};
  }

  bool fail(std::uint64_t position, const std::string& why) {
    // A non-active segment was validated when it was written or recovered; anything else is damage the cleaner
    // must not copy into a new segment.
    spdlog::error("log cleaner: {} at position {}: {}", source_->path().string(), position, why);
    error_ = make_error_code(storage_errc::corrupt_batch);
    return false;
  }

  std::shared_ptr<const file> source_;
  std::uint64_t end_;
  std::uint64_t buffer_position_ = 0;  // file position of buffer_[0]
  std::size_t cursor_ = 0;
  proto::bytes buffer_;
  std::error_code error_;
};

// Adds every keyed record of seg at or after first_dirty_offset to map, the newest offset winning. full is set (and
// the scan stops) when a new key would take the map beyond max_entries.
std::error_code add_to_key_map(const log_segment& seg, std::int64_t first_dirty_offset, std::size_t max_entries,
                               key_map& map, bool& full) {
  full = false;
  segment_batch_reader batches(seg.log_file(), seg.size());
  proto::record_batch_view batch;
  proto::record_reader reader;
  proto::record_view record;
  std::string key;
  while (batches.next(batch)) {
    if (batch.header().attributes.control() || batch.header().last_offset() < first_dirty_offset) continue;
    if (auto ec = reader.open(batch)) {
      spdlog::error("log cleaner: batch at offset {} in {}: {}", batch.header().base_offset,
                    seg.log_file()->path().string(), ec.message());
      return make_error_code(storage_errc::corrupt_batch);
    }
    while (reader.next(record)) {
      const std::int64_t offset = batch.offset_of(record);
      if (!record.key || offset < first_dirty_offset) continue;
      key.assign(reinterpret_cast<const char*>(record.key->data()), record.key->size());
      if (auto it = map.find(key); it != map.end()) {
        it->second = std::max(it->second, offset);
        continue;
      }
      if (map.size() >= max_entries) {
        full = true;
        return {};
      }
      map.emplace(key, offset);
    }
    if (reader.error()) {
      spdlog::error("log cleaner: batch at offset {} in {}: {}", batch.header().base_offset,
                    seg.log_file()->path().string(), reader.error().message());
      return make_error_code(storage_errc::corrupt_batch);
    }
  }
  return batches.error();
}

struct rewrite_counts {
  std::int64_t records_read = 0;
  std::int64_t records_removed = 0;
  std::int64_t tombstones_removed = 0;
};

// The records of batch that survive, re-encoded as a batch that keeps the original's base offset, producer fields,
// codec and lastOffsetDelta (so the batch still ends where it did: the producer state and sequence checks derive
// the next sequence from it, as Kafka's cleaner keeps it too).
std::error_code rebuild_batch(const proto::record_batch_view& batch, const std::vector<proto::record_view>& kept,
                              proto::bytes& out) {
  const proto::record_batch_header& h = batch.header();
  proto::record_batch_builder_options options;
  options.codec = h.attributes.codec();
  options.base_offset = h.base_offset;
  options.partition_leader_epoch = h.partition_leader_epoch;
  options.producer_id = h.producer_id;
  options.producer_epoch = h.producer_epoch;
  options.base_sequence = h.base_sequence;
  options.transactional = h.attributes.transactional();
  options.timestamps = h.attributes.timestamps();
  proto::record_batch_builder builder(options);
  std::vector<proto::record_header_view> headers;
  for (const proto::record_view& record : kept) {
    headers.clear();
    for (const proto::record_header_view& header : record.headers()) headers.push_back(header);
    // The create time the record carried, even for LogAppendTime batches (whose readers use maxTimestamp instead,
    // restored below), so timestamp deltas stay what the producer sent.
    const auto timestamp = static_cast<std::int64_t>(static_cast<std::uint64_t>(h.base_timestamp) +
                                                     static_cast<std::uint64_t>(record.timestamp_delta));
    if (auto ec = builder.append_at(record.offset_delta, timestamp, record.key, record.value, headers)) return ec;
  }
  const std::size_t start = out.size();
  if (auto ec = builder.build(out)) return ec;
  std::uint8_t* built = out.data() + start;
  proto::store_be(built + last_offset_delta_offset, h.last_offset_delta);
  if (h.attributes.timestamps() == proto::timestamp_type::log_append_time)
    proto::store_be(built + max_timestamp_offset, h.max_timestamp);
  proto::store_be(built + proto::record_batch_crc_offset,
                  proto::compute_record_batch_crc(proto::byte_span(built, out.size() - start)));
  return {};
}

// Collects output batches and appends them to the cleaned segment a chunk at a time (the segment indexes each
// batch in a chunk), rather than one write per batch.
class segment_writer {
 public:
  explicit segment_writer(log_segment& out) : out_(out) {}

  std::error_code add(proto::byte_span batch) {
    proto::record_batch_view view;
    if (proto::record_batch_view::parse(batch, view)) return make_error_code(storage_errc::corrupt_batch);
    const proto::record_batch_header& h = view.header();
    if (pending_.empty()) first_offset_ = h.base_offset;
    if (pending_.empty() || h.max_timestamp > max_timestamp_) {
      max_timestamp_ = h.max_timestamp;
      offset_of_max_timestamp_ = h.base_offset;
    }
    last_offset_ = h.last_offset();
    pending_.insert(pending_.end(), batch.begin(), batch.end());
    return pending_.size() >= read_chunk_bytes ? flush() : std::error_code();
  }

  std::error_code flush() {
    if (pending_.empty()) return {};
    auto ec = out_.append(pending_, first_offset_, last_offset_, max_timestamp_, offset_of_max_timestamp_);
    pending_.clear();
    return ec;
  }

 private:
  log_segment& out_;
  proto::bytes pending_;
  std::int64_t first_offset_ = 0;
  std::int64_t last_offset_ = 0;
  std::int64_t max_timestamp_ = -1;
  std::int64_t offset_of_max_timestamp_ = 0;
};

// Writes the surviving batches of old into out (created with the ".cleaned" suffix). changed is false when every
// batch was copied unchanged, so the caller can skip the swap.
std::error_code rewrite_segment(const log_segment& old, const key_map& map, std::int64_t tombstone_horizon,
                                log_segment& out, bool& changed, rewrite_counts& counts) {
  changed = false;
  segment_batch_reader batches(old.log_file(), old.size());
  proto::record_batch_view batch;
  proto::record_reader reader;
  proto::record_view record;
  std::vector<proto::record_view> kept;
  proto::bytes rebuilt;
  std::string key;
  segment_writer writer(out);
  while (batches.next(batch)) {
    // Transaction markers carry no keys to compact; they stay so readers can tell committed from aborted data.
    if (batch.header().attributes.control()) {
      if (auto ec = writer.add(batch.data())) return ec;
      continue;
    }
    if (auto ec = reader.open(batch)) {
      spdlog::error("log cleaner: batch at offset {} in {}: {}", batch.header().base_offset,
                    old.log_file()->path().string(), ec.message());
      return make_error_code(storage_errc::corrupt_batch);
    }
    kept.clear();
    std::int32_t removed = 0;
    while (reader.next(record)) {
      ++counts.records_read;
      bool keep = true;
      if (record.key) {
        const std::int64_t offset = batch.offset_of(record);
        key.assign(reinterpret_cast<const char*>(record.key->data()), record.key->size());
        // A key missing from the map occurs only in the part cleaned before, which holds one record per key.
        const auto it = map.find(key);
        const bool newest = it == map.end() || it->second <= offset;
        keep = newest;
        if (newest && !record.value && batch.timestamp_of(record) < tombstone_horizon) {
          keep = false;
          ++counts.tombstones_removed;
        }
      }
      if (keep) {
        kept.push_back(record);
      } else {
        ++removed;
      }
    }
    if (reader.error()) {
      spdlog::error("log cleaner: batch at offset {} in {}: {}", batch.header().base_offset,
                    old.log_file()->path().string(), reader.error().message());
      return make_error_code(storage_errc::corrupt_batch);
    }
    counts.records_removed += removed;
    if (removed == 0) {
      // Byte for byte: nothing to re-encode, and the CRC the producer computed stays.
      if (auto ec = writer.add(batch.data())) return ec;
      continue;
    }
    changed = true;
    if (kept.empty()) continue;  // nothing left: the batch goes, leaving a gap in the offsets
    rebuilt.clear();
    if (auto ec = rebuild_batch(batch, kept, rebuilt)) {
      spdlog::error("log cleaner: could not rebuild the batch at offset {} in {}: {}", batch.header().base_offset,
                    old.log_file()->path().string(), ec.message());
      return ec;
    }
    if (auto ec = writer.add(rebuilt)) return ec;
  }
  if (batches.error()) return batches.error();
  return writer.flush();
}

// The files of a cleaned segment that was not swapped in (best effort: recovery removes leftovers too).
void remove_cleaned_files(const std::filesystem::path& dir, std::int64_t base_offset) {
  std::error_code ignored;
  std::filesystem::remove(segment_log_path(dir, base_offset, ".cleaned"), ignored);
  std::filesystem::remove(segment_offset_index_path(dir, base_offset, ".cleaned"), ignored);
  std::filesystem::remove(segment_time_index_path(dir, base_offset, ".cleaned"), ignored);
}

}  // namespace

double log_cleaner::dirty_ratio(const partition_log& log, std::int64_t first_dirty_offset) {
  return find_cleanable(log, log.config(), first_dirty_offset).ratio();
}

std::error_code log_cleaner::clean(partition_log& log, std::int64_t first_dirty_offset, cleaning_stats& stats,
                                   const crash_point& crash) {
  stats = {};
  stats.first_dirty_offset = first_dirty_offset;
  stats.cleaned_up_to = first_dirty_offset;
  const log_config config = log.config();
  if (!config.cleanup.compact) return {};

  cleanable_range range = find_cleanable(log, config, first_dirty_offset);
  stats.first_dirty_offset = range.first_dirty_offset;
  stats.cleaned_up_to = range.first_dirty_offset;
  if (!range.worth_cleaning(config)) return {};

  // The key map over the dirty part. When it fills up, the pass ends at the segment where it did: keys the map
  // took from that segment are newer than anything below it, so removing older records for them is still right.
  key_map map;
  std::size_t end = range.cleanable;
  for (std::size_t i = range.first_dirty; i < range.cleanable; ++i) {
    bool full = false;
    if (auto ec = add_to_key_map(*range.segments[i], range.first_dirty_offset, max_key_map_entries_, map, full))
      return ec;
    if (full) {
      end = i;
      break;
    }
  }
  if (end <= range.first_dirty) {
    spdlog::warn("log cleaner: {}: the key map ({} entries) cannot hold the keys of one segment; not cleaning",
                 log.id().directory_name(), max_key_map_entries_);
    return {};
  }
  const std::int64_t bound = end < range.cleanable ? range.segments[end]->base_offset() : range.bound;

  const std::int64_t now = log.context().time->now_ms();
  const std::int64_t tombstone_horizon = minus_lag(now, config.delete_retention_ms);
  const log_segment::options segment_options = log_segment::options::from(config, log.context().faults);
  rewrite_counts counts;
  stats.cleaned = true;
  // Every segment below the bound is rewritten, the clean ones too: keys seen again in the dirty part obsolete
  // records there. Swaps go one segment at a time, in offset order, so the log is valid between any two.
  std::error_code result;
  std::size_t done = 0;
  for (; done < end; ++done) {
    const log_segment& old = *range.segments[done];
    const std::int64_t base = old.base_offset();
    remove_cleaned_files(log.directory(), base);  // leftovers of a pass that failed before cleaning up
    std::unique_ptr<log_segment> cleaned;
    if ((result = log_segment::create(log.directory(), base, segment_options, old.created_ms(), cleaned, ".cleaned")))
      break;
    bool changed = false;
    result = rewrite_segment(old, map, tombstone_horizon, *cleaned, changed, counts);
    // Sealed like any inactive segment, and durable before the swap makes it the only copy (replace_segments
    // syncs again under the partition's lock, cheaply once this is done).
    if (!result && changed) result = cleaned->seal();
    if (!result && changed) result = cleaned->flush();
    const std::uint64_t after = cleaned->size();
    if (result || !changed) {
      // An unchanged segment needs no swap: the copy is dropped.
      (void)cleaned->remove_files();
      cleaned.reset();
      remove_cleaned_files(log.directory(), base);
      if (result) break;
      stats.bytes_before += old.size();
      stats.bytes_after += after;
      continue;
    }
    result = log.replace_segments({range.segments[done]}, std::move(cleaned), crash);
    if (result == storage_errc::invalid_argument) {
      // The log changed under the pass (retention or truncation took the segment): what is swapped stays valid,
      // the rest waits for the next pass.
      remove_cleaned_files(log.directory(), base);
      spdlog::info("log cleaner: {}: segment {} changed during cleaning; pass stopped there", log.id().directory_name(),
                   base);
      result = {};
      break;
    }
    // Any other failure (a crash point included) leaves the files as they are for recovery to finish or undo.
    if (result) break;
    ++stats.segments_rewritten;
    stats.bytes_before += old.size();
    stats.bytes_after += after;
  }
  stats.records_read = counts.records_read;
  stats.records_removed = counts.records_removed;
  stats.tombstones_removed = counts.tombstones_removed;
  // Everything below the first segment not processed is clean now; a pass that stopped inside the part cleaned
  // before leaves the checkpoint where it was.
  stats.cleaned_up_to = done == end ? bound : std::max(range.first_dirty_offset, range.segments[done]->base_offset());
  if (stats.segments_rewritten > 0) {
    spdlog::info(
        "log cleaner: {}: cleaned offsets {} to {}: {} of {} records removed ({} tombstones), {} segments "
        "rewritten, {} -> {} bytes",
        log.id().directory_name(), range.segments.front()->base_offset(), stats.cleaned_up_to, stats.records_removed,
        stats.records_read, stats.tombstones_removed, stats.segments_rewritten, stats.bytes_before, stats.bytes_after);
  }
  return result;
}

}  // namespace vltava::storage
