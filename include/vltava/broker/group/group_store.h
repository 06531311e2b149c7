// The durable side of the group coordinator: committed offsets and group metadata as versioned key/value records in
// the compacted internal topic __consumer_offsets (records defined in src/protocol/messages/
// group_coordinator_records.msg). The coordinator keeps the live state in memory and writes every change through
// this interface; on start (or when it becomes coordinator for a partition) it loads the partition back.
//
// One coordinator partition holds the groups with abs(Java String.hashCode(group)) % offsets.topic.num.partitions
// equal to its index (coordinator_partition_for). Completion callbacks may run on any thread (the flusher's); the
// coordinator re-dispatches to its own executor.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "vltava/protocol/error_code.h"
#include "vltava/protocol/wire.h"

namespace vltava::broker::group {

inline constexpr const char* consumer_offsets_topic = "__consumer_offsets";

// abs(Java String.hashCode(group_id)) % partitions, with Java's abs(Integer.MIN_VALUE) quirk handled as Kafka does
// (Utils.abs: value & 0x7fffffff). The hash is over the UTF-16 code units of the id.
std::int32_t coordinator_partition_for(const std::string& group_id, std::int32_t partitions);

struct topic_partition {
  std::string topic;
  std::int32_t partition = 0;
  auto operator<=>(const topic_partition&) const = default;
};

struct committed_offset {
  std::int64_t offset = -1;
  std::int32_t leader_epoch = -1;
  std::string metadata;
  std::int64_t commit_timestamp_ms = 0;
  std::int64_t expire_timestamp_ms = -1;  // only from OffsetCommit v2-v4 retention_time_ms; -1 = none
};

struct member_record {
  std::string member_id;
  std::optional<std::string> group_instance_id;
  std::string client_id;
  std::string client_host;
  std::int32_t rebalance_timeout_ms = 0;
  std::int32_t session_timeout_ms = 0;
  protocol::bytes subscription;  // the metadata of the protocol the group chose
  protocol::bytes assignment;
};

struct group_record {
  std::string group_id;
  std::string protocol_type;  // "consumer" for the consumer protocol; empty for a group that only commits offsets
  std::int32_t generation = 0;
  std::optional<std::string> protocol_name;
  std::optional<std::string> leader;
  std::int64_t current_state_timestamp_ms = -1;
  std::vector<member_record> members;
};

// What load() found for one coordinator partition: the latest value per key, tombstones applied.
struct loaded_group {
  std::optional<group_record> metadata;  // absent for groups that only hold offsets (simple consumers)
  std::map<topic_partition, committed_offset> offsets;
};
struct loaded_partition {
  std::map<std::string, loaded_group> groups;
};

using store_callback = std::function<void(protocol::error_code)>;

class group_store {
 public:
  virtual ~group_store() = default;

  // The number of coordinator partitions (offsets.topic.num.partitions, fixed once the topic exists).
  virtual std::int32_t partition_count() const = 0;

  // Each write appends one batch to the group's coordinator partition and calls done once it is durable
  // (as acks=all) with NONE, or with the Kafka error to return to the client (e.g. COORDINATOR_NOT_AVAILABLE,
  // NOT_COORDINATOR, KAFKA_STORAGE_ERROR, RECORD_LIST_TOO_LARGE).
  virtual void store_offsets(const std::string& group_id,
                             const std::vector<std::pair<topic_partition, committed_offset>>& offsets,
                             store_callback done) = 0;
  virtual void store_group(const group_record& group, store_callback done) = 0;
  // Tombstones: the given offsets (OffsetDelete, expiry), or the group's metadata and all of its offsets listed
  // in `offsets` (DeleteGroups).
  virtual void delete_offsets(const std::string& group_id, const std::vector<topic_partition>& offsets,
                              store_callback done) = 0;
  virtual void delete_group(const std::string& group_id, const std::vector<topic_partition>& offsets,
                            store_callback done) = 0;

  // Reads a coordinator partition from its log start to its end (blocking; called off the I/O threads).
  virtual loaded_partition load(std::int32_t partition) = 0;
};

}  // namespace vltava::broker::group
