// group_store on the broker's own storage: the compacted internal topic __consumer_offsets, in Kafka's record format,
// so that a log directory written by Kafka (up to 4.x) loads here and the other way round.
//
// Records (src/protocol/messages/group_coordinator_records.msg), each key and value prefixed by its int16 version:
//   offset commit   key v1 (group, topic, partition)   value v3 (offset, leader epoch, metadata, commit time), or
//                                                        v1 (... expire time) when the commit set an expiry
//   group metadata  key v2 (group)                      value v3 (protocol type, generation, protocol, leader,
//                                                        state time, members with group.instance.id)
//   deletion        the key with a null value (tombstone)
// Every write is one uncompressed batch (Kafka's offsets.topic.compression.codec default, none) appended to the
// group's coordinator partition, the high watermark moved as Produce does, and durable before `done` runs: the
// log manager's group-commit flusher fsyncs it, as for a produce with acks=all (unless log.flush.on.acks.all=false,
// where `done` runs once appended, as Produce answers then).
//
// Errors given to `done` (the coordinator maps them to what each API returns, store_errors.h, as Kafka does:
// KAFKA_STORAGE_ERROR -> NOT_COORDINATOR, RECORD_LIST_TOO_LARGE -> INVALID_COMMIT_OFFSET_SIZE for commits and
// UNKNOWN_SERVER_ERROR for group metadata, COORDINATOR_NOT_AVAILABLE as it is):
//   KAFKA_STORAGE_ERROR        the append or its fsync failed (full or failing disk, log offline or closed)
//   RECORD_LIST_TOO_LARGE      the batch exceeds the topic's max.message.bytes
//   COORDINATOR_NOT_AVAILABLE  __consumer_offsets does not exist and could not be created
//   UNKNOWN_SERVER_ERROR       a record could not be encoded (a string beyond 32767 bytes); cannot come from the wire
//
// Thread safety: every method may be called from any thread at once. Writes for one group must be issued in the
// order they are to be applied (the log keeps append order, and load() lets the last one win); `done` runs on a
// flusher thread, or on the caller's thread when the write failed before reaching the log or needs no fsync.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "vltava/broker/group/group_store.h"
#include "vltava/broker/topic_registry.h"
#include "vltava/storage/group_commit_flusher.h"

namespace vltava::broker::group {

// Kafka's broker settings for the topic, with their defaults.
struct consumer_offsets_options {
  std::int32_t num_partitions = 50;          // offsets.topic.num.partitions (used only when creating the topic)
  std::int32_t segment_bytes = 104'857'600;  // offsets.topic.segment.bytes (idem)
  bool flush_on_acks_all = true;             // log.flush.on.acks.all: fsync each write before `done`
};

class consumer_offsets_store final : public group_store {
 public:
  // topics and flusher (log_manager::flusher()) must outlive the store.
  consumer_offsets_store(topic_registry& topics, storage::group_commit_flusher& flusher,
                         consumer_offsets_options options = {});

  // Creates __consumer_offsets (compact, segment.bytes, compression.type=producer, internal) if it does not exist;
  // call once at startup after topic_registry::load(), before the coordinator routes groups, so that
  // partition_count() is final from then on. Writes and load() also create it on first use. Returns NONE, or the
  // error of topic_registry::create (KAFKA_STORAGE_ERROR, ...), logged.
  protocol::error_code start();

  // The existing topic's partition count (which wins over offsets.topic.num.partitions, as in Kafka), or
  // num_partitions while the topic does not exist yet.
  std::int32_t partition_count() const override;

  void store_offsets(const std::string& group_id,
                     const std::vector<std::pair<topic_partition, committed_offset>>& offsets,
                     store_callback done) override;
  void store_group(const group_record& group, store_callback done) override;
  void delete_offsets(const std::string& group_id, const std::vector<topic_partition>& offsets,
                      store_callback done) override;
  void delete_group(const std::string& group_id, const std::vector<topic_partition>& offsets,
                    store_callback done) override;

  // Reads the partition from its log start to its log end. Skipped, with a log line: records of other group types
  // (KIP-848 consumer/share/streams groups, key versions 3 and up; debug), and records, batches or values that do
  // not decode (warning). Transactional offset commits count once their COMMIT marker is read (ABORT drops them).
  // A partition out of range, a missing topic or a read failure yields what was read so far (an error is logged).
  loaded_partition load(std::int32_t partition) override;

 private:
  struct record {
    protocol::bytes key;
    std::optional<protocol::bytes> value;  // nullopt: tombstone
  };

  std::shared_ptr<const topic> find_or_create_topic(protocol::error_code& error);
  void append(const std::string& group_id, const std::vector<record>& records, store_callback done);

  topic_registry& topics_;
  storage::group_commit_flusher& flusher_;
  const consumer_offsets_options options_;
  std::mutex create_mutex_;  // one creation attempt at a time
};

}  // namespace vltava::broker::group
