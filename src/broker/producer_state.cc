// Producer ids and per-partition producer state for idempotent produce (see producer_state.h for Kafka's rules).
#include "vltava/broker/producer_state.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <iterator>
#include <limits>
#include <string_view>

#include "vltava/broker/topic_registry.h"
#include "vltava/protocol/crc32c.h"
#include "vltava/storage/file.h"
#include "vltava/storage/log_segment.h"
#include "vltava/storage/storage_error.h"

namespace vltava::broker {

namespace {

namespace fs = std::filesystem;

constexpr std::string_view snapshot_extension = ".snapshot";
constexpr std::string_view id_block_file_name = "producer-id-block";
constexpr std::int16_t snapshot_version = 1;
// version i16, crc u32, end offset i64, producer count i32
constexpr std::size_t snapshot_header_size = 2 + 4 + 8 + 4;
constexpr std::size_t snapshot_producer_size = 8 + 2 + 8 + 4;
constexpr std::size_t snapshot_batch_size = 4 + 4 + 8 + 8 + 8;
// How much of the log one read of the load-time scan takes.
constexpr std::uint64_t scan_chunk_bytes = 4 * 1024 * 1024;

std::error_code invalid() { return make_error_code(storage::storage_errc::invalid_argument); }

// The offset in a "<20 digits>.snapshot" file name, or -1.
std::int64_t snapshot_offset(const std::string& name) {
  if (name.size() != 20 + snapshot_extension.size() || name.substr(20) != snapshot_extension) return -1;
  std::int64_t value = -1;
  auto [end, ec] = std::from_chars(name.data(), name.data() + 20, value);
  if (ec != std::errc() || end != name.data() + 20) return -1;
  return value;
}

// Snapshot offsets in dir, newest first.
std::vector<std::int64_t> list_snapshots(const fs::path& dir) {
  std::vector<std::int64_t> offsets;
  std::error_code ignored;
  for (const auto& entry : fs::directory_iterator(dir, ignored)) {
    const std::int64_t offset = snapshot_offset(entry.path().filename().string());
    if (offset >= 0) offsets.push_back(offset);
  }
  std::sort(offsets.rbegin(), offsets.rend());
  return offsets;
}

void remove_quietly(const fs::path& path) {
  std::error_code ignored;
  fs::remove(path, ignored);
}

[[nodiscard]] std::error_code read_whole_file(const fs::path& path, std::vector<std::uint8_t>& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error_code(storage::storage_errc::not_found);
  out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  if (in.bad()) return make_error_code(storage::storage_errc::io_error);
  return {};
}

// Replaces path with data durably: a temporary file written and fsynced, renamed over path, the directory fsynced.
[[nodiscard]] std::error_code write_file_atomically(const fs::path& path, std::span<const std::uint8_t> data,
                                                    const std::shared_ptr<storage::io_fault_injector>& faults) {
  fs::path temporary = path;
  temporary += ".tmp";
  remove_quietly(temporary);
  std::shared_ptr<storage::file> out;
  if (auto ec = storage::file::open(temporary, storage::open_mode::create_new, faults, out)) return ec;
  std::error_code ec = out->append(data);
  if (!ec) ec = out->sync();
  if (!ec) ec = out->rename(path);
  if (ec) {
    remove_quietly(temporary);
    return ec;
  }
  return storage::sync_directory(path.parent_path());
}

}  // namespace

// ---- sequence rules ----

batch_producer_info batch_producer_info::from(const protocol::record_batch_header& header) noexcept {
  batch_producer_info info;
  info.producer_id = header.producer_id;
  info.producer_epoch = header.producer_epoch;
  info.first_sequence = header.base_sequence;
  info.last_offset_delta = header.last_offset_delta;
  info.max_timestamp = header.max_timestamp;
  return info;
}

std::int32_t batch_producer_info::last_sequence() const noexcept {
  // Kafka's DefaultRecordBatch.incrementSequence: wraps past INT32_MAX to 0.
  constexpr std::int32_t max = std::numeric_limits<std::int32_t>::max();
  if (last_offset_delta < 0) return first_sequence;
  if (first_sequence > max - last_offset_delta) return last_offset_delta - (max - first_sequence) - 1;
  return first_sequence + last_offset_delta;
}

bool in_sequence(std::int32_t last, std::int32_t next) noexcept {
  return static_cast<std::int64_t>(next) == static_cast<std::int64_t>(last) + 1 ||
         (next == 0 && last == std::numeric_limits<std::int32_t>::max());
}

sequence_check check_producer_batch(const producer_entry* entry, const batch_producer_info& batch) {
  sequence_check out;
  if (entry == nullptr || entry->epoch < 0) return out;  // unknown producer: any sequence (KIP-360)
  const std::int32_t last_sequence = batch.last_sequence();
  if (batch.producer_epoch == entry->epoch) {
    for (const auto& retained : entry->batches) {
      if (retained.first_sequence == batch.first_sequence && retained.last_sequence == last_sequence) {
        out.duplicate = retained;
        return out;
      }
    }
  }
  if (batch.producer_epoch < entry->epoch) {
    out.error = protocol::error_code::invalid_producer_epoch;
    out.message = "Epoch of producer " + std::to_string(batch.producer_id) + " is " +
                  std::to_string(batch.producer_epoch) + ", which is smaller than the last seen epoch " +
                  std::to_string(entry->epoch);
    return out;
  }
  if (batch.producer_epoch != entry->epoch) {
    if (batch.first_sequence != 0) {
      out.error = protocol::error_code::out_of_order_sequence_number;
      out.message = "Invalid sequence number for new epoch " + std::to_string(batch.producer_epoch) + " of producer " +
                    std::to_string(batch.producer_id) + ": " + std::to_string(batch.first_sequence) + " (expected 0)";
    }
    return out;
  }
  if (!in_sequence(entry->last_sequence(), batch.first_sequence)) {
    out.error = protocol::error_code::out_of_order_sequence_number;
    out.message = "Out of order sequence number for producer " + std::to_string(batch.producer_id) + ": " +
                  std::to_string(batch.first_sequence) + " (incoming seq. number), " +
                  std::to_string(entry->last_sequence()) + " (current end sequence number)";
  }
  return out;
}

void record_producer_batch(producer_entry& entry, const batch_producer_info& batch, std::int64_t first_offset,
                           std::int64_t update_ms) {
  if (batch.producer_epoch != entry.epoch) {
    entry.epoch = batch.producer_epoch;
    entry.batches.clear();
  }
  producer_batch recorded;
  recorded.first_sequence = batch.first_sequence;
  recorded.last_sequence = batch.last_sequence();
  recorded.first_offset = first_offset;
  recorded.last_offset = first_offset + batch.last_offset_delta;
  recorded.max_timestamp = batch.max_timestamp;
  entry.batches.push_back(recorded);
  while (entry.batches.size() > producer_batches_retained) entry.batches.pop_front();
  entry.last_update_ms = update_ms;
}

// ---- snapshot format ----

fs::path producer_snapshot_path(const fs::path& dir, std::int64_t offset) {
  return dir / (storage::segment_file_stem(offset) + std::string(snapshot_extension));
}

std::vector<std::uint8_t> encode_producer_snapshot(std::int64_t end_offset,
                                                   const std::map<std::int64_t, producer_entry>& producers) {
  std::vector<std::uint8_t> out;
  protocol::writer w(out);
  w.write_int16(snapshot_version);
  w.write_uint32(0);  // CRC-32C of everything after it, patched below
  w.write_int64(end_offset);
  w.write_int32(static_cast<std::int32_t>(producers.size()));
  for (const auto& [id, entry] : producers) {
    w.write_int64(id);
    w.write_int16(entry.epoch);
    w.write_int64(entry.last_update_ms);
    w.write_int32(static_cast<std::int32_t>(entry.batches.size()));
    for (const auto& batch : entry.batches) {
      w.write_int32(batch.first_sequence);
      w.write_int32(batch.last_sequence);
      w.write_int64(batch.first_offset);
      w.write_int64(batch.last_offset);
      w.write_int64(batch.max_timestamp);
    }
  }
  const std::uint32_t crc = protocol::crc32c(protocol::byte_span(out).subspan(6));
  protocol::store_be(out.data() + 2, crc);
  return out;
}

std::error_code decode_producer_snapshot(std::span<const std::uint8_t> data, std::int64_t& end_offset,
                                         std::map<std::int64_t, producer_entry>& producers) {
  if (data.size() < snapshot_header_size) return invalid();
  protocol::reader r(data);
  if (r.read_int16() != snapshot_version) return invalid();
  const std::uint32_t crc = r.read_uint32();
  if (crc != protocol::crc32c(data.subspan(6))) return invalid();
  const std::int64_t offset = r.read_int64();
  const std::int32_t count = r.read_int32();
  if (offset < 0 || count < 0 || static_cast<std::size_t>(count) > r.remaining() / snapshot_producer_size) {
    return invalid();
  }
  std::map<std::int64_t, producer_entry> loaded;
  for (std::int32_t i = 0; i < count && r.ok(); ++i) {
    const std::int64_t id = r.read_int64();
    producer_entry entry;
    entry.epoch = r.read_int16();
    entry.last_update_ms = r.read_int64();
    const std::int32_t batches = r.read_int32();
    if (batches < 0 || static_cast<std::size_t>(batches) > producer_batches_retained) return invalid();
    for (std::int32_t b = 0; b < batches && r.ok(); ++b) {
      producer_batch batch;
      batch.first_sequence = r.read_int32();
      batch.last_sequence = r.read_int32();
      batch.first_offset = r.read_int64();
      batch.last_offset = r.read_int64();
      batch.max_timestamp = r.read_int64();
      entry.batches.push_back(batch);
    }
    if (id < 0 || !loaded.emplace(id, std::move(entry)).second) return invalid();
  }
  if (!r.ok() || !r.at_end()) return invalid();
  end_offset = offset;
  producers = std::move(loaded);
  return {};
}

// ---- one partition ----

bool partition_producer_state::expired(const producer_entry& entry, std::int64_t now) const noexcept {
  // Kafka's isProducerExpired: currentTimeMs - lastTimestamp >= producerIdExpirationMs.
  std::int64_t idle = 0;
  if (__builtin_sub_overflow(now, entry.last_update_ms, &idle)) return false;
  return idle >= expiration_ms_;
}

const producer_entry* partition_producer_state::live_entry_locked(std::int64_t producer_id, std::int64_t now,
                                                                  std::int64_t log_start_offset) {
  auto it = producers_.find(producer_id);
  if (it == producers_.end()) return nullptr;
  // Expired, or all its batches gone to retention or DeleteRecords (Kafka's evictUnretainedProducers).
  const auto& batches = it->second.batches;
  if (expired(it->second, now) || (!batches.empty() && batches.back().last_offset < log_start_offset)) {
    producers_.erase(it);
    return nullptr;
  }
  return &it->second;
}

producer_append_result partition_producer_state::append(storage::partition_log& log, std::span<std::uint8_t> batches,
                                                        std::span<const batch_producer_info> infos) {
  producer_append_result out;
  std::lock_guard lock(mutex_);
  if (!loaded_) {
    if (auto ec = load_locked(log)) {
      out.storage_error = ec;
      out.error = storage::to_kafka_error(ec);
      out.message = "could not load the partition's producer state: " + ec.message();
      return out;
    }
  }
  const std::int64_t now = clock_->now_ms();
  if (last_expiry_check_ms_ < 0 || now - last_expiry_check_ms_ >= producer_expiration_check_interval_ms) {
    std::erase_if(producers_, [&](const auto& item) { return expired(item.second, now); });
    last_expiry_check_ms_ = now;
  }

  // Check every batch, as if those before it in this append were already written (a request may carry several).
  const std::int64_t log_start_offset = log.log_start_offset();
  std::map<std::int64_t, producer_entry> staged;
  for (const auto& info : infos) {
    if (!info.idempotent()) continue;
    const producer_entry* entry = nullptr;
    if (auto it = staged.find(info.producer_id); it != staged.end()) {
      entry = &it->second;
    } else {
      entry = live_entry_locked(info.producer_id, now, log_start_offset);
    }
    sequence_check check = check_producer_batch(entry, info);
    if (check.duplicate) {
      // Kafka answers the whole append with the duplicate's offsets (clients send one batch per partition).
      out.duplicate = true;
      out.appended.base_offset = check.duplicate->first_offset;
      out.appended.last_offset = check.duplicate->last_offset;
      out.appended.log_append_time = -1;
      out.appended.log_start_offset = log.log_start_offset();
      return out;
    }
    if (check.error != protocol::error_code::none) {
      out.error = check.error;
      out.message = std::move(check.message);
      return out;
    }
    producer_entry next = entry != nullptr ? *entry : producer_entry{};
    record_producer_batch(next, info, 0, now);  // offsets are not known yet; only sequences matter here
    staged.insert_or_assign(info.producer_id, std::move(next));
  }

  if (auto ec = log.append(batches, out.appended)) {
    out.storage_error = ec;
    out.error = storage::to_kafka_error(ec);
    out.message = ec.message();
    return out;
  }
  std::int64_t offset = out.appended.base_offset;
  for (const auto& info : infos) {
    if (info.idempotent()) record_producer_batch(producers_[info.producer_id], info, offset, now);
    offset += static_cast<std::int64_t>(info.last_offset_delta) + 1;
  }
  end_offset_ = out.appended.last_offset + 1;
  return out;
}

std::error_code partition_producer_state::ensure_loaded() {
  auto log = log_.lock();
  if (!log) return make_error_code(storage::storage_errc::log_closed);
  std::lock_guard lock(mutex_);
  if (loaded_) return {};
  return load_locked(*log);
}

std::error_code partition_producer_state::load_locked(storage::partition_log& log) {
  const fs::path& dir = log.directory();
  const std::int64_t log_end = log.log_end_offset();
  std::map<std::int64_t, producer_entry> producers;
  std::int64_t scan_from = 0;
  for (const std::int64_t offset : list_snapshots(dir)) {
    const fs::path path = producer_snapshot_path(dir, offset);
    if (offset > log_end) {
      // The log lost its tail after this snapshot was taken (recovery truncated it): the snapshot describes batches
      // that are gone, and would be taken for real if the log grew past it again.
      spdlog::info("broker: {} removing producer snapshot {} beyond the log end offset {}", dir.filename().string(),
                   offset, log_end);
      remove_quietly(path);
      continue;
    }
    std::vector<std::uint8_t> data;
    std::int64_t end_offset = 0;
    std::error_code ec = read_whole_file(path, data);
    if (!ec) ec = decode_producer_snapshot(data, end_offset, producers);
    if (!ec && end_offset != offset) ec = invalid();
    if (ec) {
      spdlog::warn("broker: {} ignoring unreadable producer snapshot {}: {}", dir.filename().string(),
                   path.filename().string(), ec.message());
      producers.clear();
      remove_quietly(path);
      continue;
    }
    scan_from = offset;
    break;
  }
  producers_ = std::move(producers);
  end_offset_ = scan_from;
  if (auto ec = scan_locked(log, std::max(scan_from, log.log_start_offset()))) {
    producers_.clear();
    return ec;
  }
  end_offset_ = std::max(end_offset_, log_end);
  loaded_ = true;
  const std::int64_t now = clock_->now_ms();
  std::erase_if(producers_, [&](const auto& item) { return expired(item.second, now); });
  return {};
}

std::error_code partition_producer_state::scan_locked(storage::partition_log& log, std::int64_t from) {
  std::vector<std::uint8_t> buffer;
  std::int64_t offset = from;
  for (;;) {
    const std::int64_t log_end = log.log_end_offset();
    if (offset >= log_end) return {};
    storage::read_result read;
    if (auto ec = log.read(offset, scan_chunk_bytes, log_end, true, read)) {
      // Retention may have moved the log start past a snapshot meanwhile; start over from there.
      if (ec == storage::storage_errc::offset_out_of_range && offset < log.log_start_offset()) {
        offset = log.log_start_offset();
        continue;
      }
      return ec;
    }
    if (read.records.empty()) return {};
    buffer.clear();
    if (auto ec = read.records.read_into(buffer)) return ec;
    protocol::record_batch_splitter splitter(buffer, protocol::truncated_tail::allow);
    protocol::record_batch_view batch;
    std::int64_t next = offset;
    while (splitter.next(batch)) {
      const auto& header = batch.header();
      next = std::max(next, header.last_offset() + 1);
      // Batches before the snapshot's offset are in it already; control batches (transaction markers) carry no
      // sequences.
      if (header.base_offset < end_offset_ || header.attributes.control()) continue;
      const auto info = batch_producer_info::from(header);
      if (!info.idempotent()) continue;
      producer_entry& entry = producers_[info.producer_id];
      if (info.producer_epoch < entry.epoch) continue;  // as a replica does: never move an epoch back
      // Kafka takes the batch's timestamp as the producer's last activity when rebuilding from the log.
      record_producer_batch(entry, info, header.base_offset,
                            header.max_timestamp >= 0 ? header.max_timestamp : clock_->now_ms());
    }
    if (splitter.error()) return make_error_code(storage::storage_errc::corrupt_batch);
    if (next <= offset) return {};  // no whole batch: nothing more to learn
    offset = next;
  }
}

std::error_code partition_producer_state::save() {
  auto log = log_.lock();
  if (!log) return {};
  std::vector<std::uint8_t> data;
  std::int64_t offset = 0;
  {
    std::lock_guard lock(mutex_);
    if (!loaded_) return {};
    const std::int64_t now = clock_->now_ms();
    std::erase_if(producers_, [&](const auto& item) { return expired(item.second, now); });
    // Every idempotent batch below the log end went through append() under this lock, so the state covers it.
    offset = log->log_end_offset();
    data = encode_producer_snapshot(offset, producers_);
  }
  const fs::path& dir = log->directory();
  if (!fs::exists(dir)) return {};  // the topic was deleted
  if (auto ec = write_file_atomically(producer_snapshot_path(dir, offset), data, log->context().faults)) return ec;
  for (const std::int64_t older : list_snapshots(dir)) {
    if (older != offset) remove_quietly(producer_snapshot_path(dir, older));
  }
  return {};
}

void partition_producer_state::remove_expired() {
  std::lock_guard lock(mutex_);
  const std::int64_t now = clock_->now_ms();
  std::erase_if(producers_, [&](const auto& item) { return expired(item.second, now); });
}

std::optional<producer_entry> partition_producer_state::find(std::int64_t producer_id) const {
  std::lock_guard lock(mutex_);
  auto it = producers_.find(producer_id);
  if (it == producers_.end() || expired(it->second, clock_->now_ms())) return std::nullopt;
  return it->second;
}

std::size_t partition_producer_state::producer_count() const {
  std::lock_guard lock(mutex_);
  return producers_.size();
}

std::int64_t partition_producer_state::end_offset() const {
  std::lock_guard lock(mutex_);
  return end_offset_;
}

// ---- the manager ----

producer_state_manager::producer_state_manager(options opts, storage::storage_context context)
    : options_(std::move(opts)), context_(std::move(context)), id_block_directory_(options_.id_block_directory) {}

std::error_code producer_state_manager::read_id_block_locked() {
  if (id_block_read_) return {};
  if (id_block_directory_.empty()) {
    spdlog::error("broker: no directory for the producer id block; cannot hand out producer ids");
    return invalid();
  }
  const fs::path path = id_block_directory_ / id_block_file_name;
  std::vector<std::uint8_t> data;
  if (auto ec = read_whole_file(path, data)) {
    std::error_code exists_error;
    if (fs::exists(path, exists_error) || exists_error) return make_error_code(storage::storage_errc::io_error);
    next_id_ = block_end_ = 0;  // a new broker: ids start at 0, as Kafka's first block does
    id_block_read_ = true;
    return {};
  }
  // "next.producer.id=<n>" on its own line: the first id not reserved by an earlier run.
  const std::string text(data.begin(), data.end());
  constexpr std::string_view key = "next.producer.id=";
  const auto at = text.find(key);
  std::int64_t value = -1;
  if (at != std::string::npos) {
    const char* begin = text.data() + at + key.size();
    const char* end = text.data() + text.size();
    auto [stop, ec] = std::from_chars(begin, end, value);
    if (ec != std::errc() || (stop != end && *stop != '\n')) value = -1;
  }
  if (value < 0) {
    spdlog::error("broker: {} is unreadable; refusing to hand out producer ids that might repeat", path.string());
    return invalid();
  }
  next_id_ = block_end_ = value;
  id_block_read_ = true;
  return {};
}

std::error_code producer_state_manager::allocate_producer_id(std::int64_t& id) {
  std::lock_guard lock(id_mutex_);
  if (auto ec = read_id_block_locked()) return ec;
  if (next_id_ >= block_end_) {
    const std::int64_t end = next_id_ + std::max<std::int64_t>(options_.id_block_size, 1);
    const std::string text =
        "# Vltava: producer ids below this were handed out; the next run starts here\n"
        "next.producer.id=" +
        std::to_string(end) + "\n";
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(text.data());
    if (auto ec = write_file_atomically(id_block_directory_ / id_block_file_name,
                                        std::span<const std::uint8_t>(bytes, text.size()), context_.faults)) {
      spdlog::error("broker: could not reserve producer ids {}..{}: {}", next_id_, end - 1, ec.message());
      return ec;
    }
    block_end_ = end;
  }
  id = next_id_++;
  return {};
}

std::shared_ptr<partition_producer_state> producer_state_manager::for_partition(
    const std::shared_ptr<storage::partition_log>& log) {
  std::lock_guard lock(mutex_);
  auto& slot = partitions_[log->id()];
  if (!slot || slot->log() != log) {
    slot = std::make_shared<partition_producer_state>(log, options_.expiration_ms, context_.time);
  }
  return slot;
}

std::error_code producer_state_manager::load(const fs::path& id_block_directory, const topic_registry& topics) {
  {
    std::lock_guard lock(id_mutex_);
    if (id_block_directory_.empty()) id_block_directory_ = id_block_directory;
  }
  return load(topics);
}

std::error_code producer_state_manager::load(const topic_registry& topics) {
  {
    std::lock_guard lock(id_mutex_);
    if (auto ec = read_id_block_locked()) return ec;
  }
  std::error_code first;
  for (const auto& topic : topics.all()) {
    for (const auto& partition : topic->partitions) {
      if (!partition.log) continue;
      if (auto ec = for_partition(partition.log)->ensure_loaded()) {
        spdlog::error("broker: {} could not load producer state: {}", partition.log->id().directory_name(),
                      ec.message());
        if (!first) first = ec;
      }
    }
  }
  return first;
}

std::error_code producer_state_manager::save() {
  std::vector<std::shared_ptr<partition_producer_state>> states;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [tp, state] : partitions_) states.push_back(state);
  }
  std::error_code first;
  for (const auto& state : states) {
    if (auto ec = state->save()) {
      auto log = state->log();
      spdlog::error("broker: {} could not save producer state: {}", log ? log->id().directory_name() : "?",
                    ec.message());
      if (!first) first = ec;
    }
  }
  return first;
}

std::error_code producer_state_manager::save(const fs::path& id_block_directory, const topic_registry& topics) {
  (void)id_block_directory;
  (void)topics;
  return save();
}

void producer_state_manager::remove_expired() {
  std::vector<std::shared_ptr<partition_producer_state>> states;
  {
    std::lock_guard lock(mutex_);
    std::erase_if(partitions_, [](const auto& item) { return item.second->log() == nullptr; });
    for (const auto& [tp, state] : partitions_) states.push_back(state);
  }
  for (const auto& state : states) state->remove_expired();
}

void producer_state_manager::forget(const storage::topic_partition& tp) {
  std::lock_guard lock(mutex_);
  partitions_.erase(tp);
}

}  // namespace vltava::broker
