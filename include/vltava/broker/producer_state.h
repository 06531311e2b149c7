// Idempotent producers (Kafka's ProducerStateManager, without transactions): producer ids for InitProducerId and, per
// partition, the epoch and last batches of every producer, so that a retried batch is acknowledged with its original
// offsets instead of being written twice, a batch that skips sequence numbers is refused, and an old epoch is fenced.
//
// Kafka's rules, as of 3.x (ProducerAppendInfo, ProducerStateEntry):
//  - a batch whose epoch and sequence range equal one of the producer's last 5 batches is a duplicate: nothing is
//    appended and the original offsets are returned;
//  - an epoch older than the producer's is INVALID_PRODUCER_EPOCH (Kafka >= 2.7 answers Produce with it, not
//    PRODUCER_FENCED);
//  - a newer epoch must start at sequence 0, the same epoch must continue at last sequence + 1 (wrapping from
//    INT32_MAX to 0), else OUT_OF_ORDER_SEQUENCE_NUMBER;
//  - a producer the partition does not know (never seen, expired, or its batches deleted) is accepted at any
//    sequence: since KIP-360 (Kafka 2.5) brokers no longer answer Produce with UNKNOWN_PRODUCER_ID.
//
// Durability: a partition's state is snapshotted into "<partition dir>/<offset>.snapshot" (Kafka's file name, Vltava's
// own format: version, CRC-32C, then the producers) by save(), at shutdown and periodically; the offset is the log end
// offset the state reflects. Loading takes the newest snapshot not beyond the log end and scans the batches after it
// (the whole log without one), so deduplication survives restarts and crashes alike.
#pragma once

#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "vltava/protocol/error_code.h"
#include "vltava/protocol/record_batch.h"
#include "vltava/storage/partition_log.h"
#include "vltava/storage/storage_context.h"

namespace vltava::broker {

class topic_registry;

// How often an append also forgets the partition's expired producers (Kafka's
// producer.id.expiration.check.interval.ms), so that state does not grow without a periodic remove_expired().
inline constexpr std::int64_t producer_expiration_check_interval_ms = 600'000;

// Kafka keeps the last 5 batches per producer: clients have at most 5 requests in flight per connection.
inline constexpr std::size_t producer_batches_retained = 5;

// One batch an idempotent producer wrote, as the deduplication window remembers it.
struct producer_batch {
  std::int32_t first_sequence = 0;
  std::int32_t last_sequence = 0;
  std::int64_t first_offset = 0;
  std::int64_t last_offset = 0;
  std::int64_t max_timestamp = -1;
  bool operator==(const producer_batch&) const = default;
};

// What a partition knows about one producer id.
struct producer_entry {
  std::int16_t epoch = -1;
  std::deque<producer_batch> batches;  // oldest first, at most producer_batches_retained
  std::int64_t last_update_ms = -1;    // when it last wrote (producer.id.expiration.ms counts from here)

  std::int32_t last_sequence() const noexcept { return batches.empty() ? -1 : batches.back().last_sequence; }
  bool operator==(const producer_entry&) const = default;
};

// What a batch header says about its producer.
struct batch_producer_info {
  std::int64_t producer_id = -1;
  std::int16_t producer_epoch = -1;
  std::int32_t first_sequence = -1;
  std::int32_t last_offset_delta = 0;
  std::int64_t max_timestamp = -1;

  static batch_producer_info from(const protocol::record_batch_header& header) noexcept;
  bool idempotent() const noexcept { return producer_id >= 0; }
  // The sequence of the batch's last record; sequences wrap from INT32_MAX to 0.
  std::int32_t last_sequence() const noexcept;
};

// Sequence n follows last (with Kafka's wrap-around).
bool in_sequence(std::int32_t last, std::int32_t next) noexcept;

// The outcome of checking one batch against what the partition knows about its producer (entry: null when unknown).
struct sequence_check {
  protocol::error_code error = protocol::error_code::none;
  std::string message;
  std::optional<producer_batch> duplicate;  // set: a retry of this batch, already in the log
};
sequence_check check_producer_batch(const producer_entry* entry, const batch_producer_info& batch);

// Records a batch (offsets assigned) in entry: a new epoch starts a new window, the window keeps the last 5.
void record_producer_batch(producer_entry& entry, const batch_producer_info& batch, std::int64_t first_offset,
                           std::int64_t update_ms);

struct producer_append_result {
  protocol::error_code error = protocol::error_code::none;
  std::string message;              // why, for the partition's error_message and the log
  std::error_code storage_error;    // the append's own error, when error is a storage one
  bool duplicate = false;           // a retry of batches already in the log: nothing was appended
  storage::append_result appended;  // the offsets written (the original ones for a duplicate)
};

// The producers of one partition. Appends of a partition go through append(), whose lock covers the checks, the
// log append and the state update, so that two retries of one batch racing each other cannot both be written.
class partition_producer_state {
 public:
  partition_producer_state(std::weak_ptr<storage::partition_log> log, std::int64_t expiration_ms,
                           std::shared_ptr<const storage::clock> clock)
      : log_(std::move(log)), expiration_ms_(expiration_ms), clock_(std::move(clock)) {}

  // Appends batches (validated magic-2 batches, infos describing each in order) unless a producer check fails
  // (nothing appended, error set) or one of them is a duplicate (nothing appended, the original offsets returned).
  producer_append_result append(storage::partition_log& log, std::span<std::uint8_t> batches,
                                std::span<const batch_producer_info> infos);

  // Loads the state from the newest usable snapshot and the log after it, unless already loaded.
  [[nodiscard]] std::error_code ensure_loaded();
  // Writes a snapshot at the log end offset (if loaded) and removes older snapshots.
  [[nodiscard]] std::error_code save();
  void remove_expired();

  // A copy of what is known about a producer (nullopt when unknown or expired).
  std::optional<producer_entry> find(std::int64_t producer_id) const;
  std::size_t producer_count() const;
  // The offset up to which the state reflects the log (the log end offset after its last append or load).
  std::int64_t end_offset() const;
  std::shared_ptr<storage::partition_log> log() const { return log_.lock(); }

 private:
  [[nodiscard]] std::error_code load_locked(storage::partition_log& log);
  [[nodiscard]] std::error_code scan_locked(storage::partition_log& log, std::int64_t from);
  const producer_entry* live_entry_locked(std::int64_t producer_id, std::int64_t now, std::int64_t log_start_offset);
  bool expired(const producer_entry& entry, std::int64_t now) const noexcept;

  const std::weak_ptr<storage::partition_log> log_;
  const std::int64_t expiration_ms_;
  const std::shared_ptr<const storage::clock> clock_;

  mutable std::mutex mutex_;
  bool loaded_ = false;
  std::int64_t last_expiry_check_ms_ = -1;
  std::int64_t end_offset_ = 0;
  std::map<std::int64_t, producer_entry> producers_;
};

// The snapshot file of a partition directory for an offset: "<dir>/<offset, 20 digits>.snapshot".
std::filesystem::path producer_snapshot_path(const std::filesystem::path& dir, std::int64_t offset);
// Snapshot files (whole file contents) in Vltava's format; read fails with invalid_argument on a bad file.
std::vector<std::uint8_t> encode_producer_snapshot(std::int64_t end_offset,
                                                   const std::map<std::int64_t, producer_entry>& producers);
[[nodiscard]] std::error_code decode_producer_snapshot(std::span<const std::uint8_t> data, std::int64_t& end_offset,
                                                       std::map<std::int64_t, producer_entry>& producers);

class producer_state_manager {
 public:
  struct options {
    // Where the "producer-id-block" file lives (the first log directory).
    std::filesystem::path id_block_directory;
    std::int64_t expiration_ms = 86'400'000;  // producer.id.expiration.ms
    // Producer ids are reserved this many at a time: the end of the block is persisted before any id of it is
    // handed out, so ids never repeat across restarts and the file is written once per block.
    std::int64_t id_block_size = 1000;
  };

  producer_state_manager(options opts, storage::storage_context context);
  // The broker's form: the id block directory comes with load().
  producer_state_manager(storage::storage_context context, std::int64_t expiration_ms)
      : producer_state_manager(options{{}, expiration_ms}, std::move(context)) {}
  producer_state_manager(const producer_state_manager&) = delete;
  producer_state_manager& operator=(const producer_state_manager&) = delete;

  // InitProducerId for an idempotent producer: an id never handed out before. Writes the block file (and fsyncs it)
  // when a new block starts; io_error and friends when that fails.
  [[nodiscard]] std::error_code allocate_producer_id(std::int64_t& id);

  // The producers of a partition; a log that replaced another under the same name (a recreated topic) gets a new
  // state. Loading (snapshot and scan) happens on first use if load() did not do it.
  std::shared_ptr<partition_producer_state> for_partition(const std::shared_ptr<storage::partition_log>& log);

  // At start: reads the producer id block (in id_block_directory, the first log directory, unless options named
  // one) and loads every partition of every topic, so that the first produce does not pay for the scan.
  [[nodiscard]] std::error_code load(const std::filesystem::path& id_block_directory, const topic_registry& topics);
  [[nodiscard]] std::error_code load(const topic_registry& topics);
  // Snapshots every loaded partition (at shutdown, and periodically to bound the scan after a crash). The first
  // error is returned; the other partitions are still saved. The arguments of the second form are not needed (ids
  // are persisted as they are handed out, and every partition with state is known here); it mirrors load().
  [[nodiscard]] std::error_code save();
  [[nodiscard]] std::error_code save(const std::filesystem::path& id_block_directory, const topic_registry& topics);
  // Forgets producers idle longer than producer.id.expiration.ms (Kafka checks every 10 minutes).
  void remove_expired();
  // DeleteTopics: forgets a partition's state.
  void forget(const storage::topic_partition& tp);

 private:
  [[nodiscard]] std::error_code read_id_block_locked();

  const options options_;
  const storage::storage_context context_;

  std::mutex id_mutex_;
  std::filesystem::path id_block_directory_;
  bool id_block_read_ = false;
  std::int64_t next_id_ = 0;
  std::int64_t block_end_ = 0;  // first id not yet reserved on disk

  mutable std::mutex mutex_;  // the map only
  std::map<storage::topic_partition, std::shared_ptr<partition_producer_state>> partitions_;
};

}  // namespace vltava::broker
