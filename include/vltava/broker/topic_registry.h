// The topics this broker serves: name, topic id, partitions (each a storage::partition_log) and topic-level
// settings. Loaded at start from the logs the storage layer found, each partition directory carrying Kafka's
// partition.metadata file (the topic id) and Vltava's topic.config file (the topic's config overrides).
//
// Topics are immutable snapshots (shared_ptr<const topic>): a produce or fetch takes one with a short shared lock
// and works on it without any lock; create and delete swap snapshots under the exclusive lock. Creations and
// deletions are serialized among themselves (a second mutex), and do their file I/O without holding the lock
// that find() takes.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "vltava/protocol/error_code.h"
#include "vltava/protocol/wire.h"
#include "vltava/storage/log_manager.h"

namespace vltava::broker {

class partition_waiters;

struct partition {
  std::int32_t index = 0;
  std::shared_ptr<storage::partition_log> log;
  std::shared_ptr<partition_waiters> waiters;  // fetches long-polling for new data
};

struct topic {
  std::string name;
  protocol::uuid id;
  std::vector<partition> partitions;                    // partitions[i].index == i, always
  std::map<std::string, std::string> config_overrides;  // topic-level keys given at creation
  bool internal = false;                                // __consumer_offsets and friends
};

// Kafka's rule: 1-249 characters of [a-zA-Z0-9._-], not "." or "..". Returns a message, empty when valid.
std::string invalid_topic_name_reason(std::string_view name);

// Kafka's internal topics (__consumer_offsets, __transaction_state, __share_group_state): flagged in Metadata and
// never auto-created with the defaults (their owners create them with their own partition counts).
bool is_internal_topic(std::string_view name);

// Kafka's text form of a topic id (Uuid.toString: URL-safe base64 without padding, 22 characters), as written in
// partition.metadata; parse accepts it with or without padding.
std::string topic_id_to_string(const protocol::uuid& id);
bool parse_topic_id(std::string_view text, protocol::uuid& out);

// Files in every partition directory: Kafka's, holding the topic id ("version: 0\ntopic_id: <id>"), and Vltava's,
// holding the topic's config overrides as key=value lines.
inline constexpr std::string_view partition_metadata_file_name = "partition.metadata";
inline constexpr std::string_view topic_config_file_name = "topic.config";

// A guard against a request creating millions of partition directories; Kafka itself sets no such limit.
inline constexpr std::int32_t max_partitions_per_topic = 10'000;

// What CreateTopics' -1 values mean (num.partitions, default.replication.factor).
struct topic_creation_defaults {
  std::int32_t num_partitions = 1;
  std::int16_t replication_factor = 1;
};

// Applies one topic-level configuration key (cleanup.policy, retention.ms, ...) to config. Returns a message for an
// unknown key or a bad value, empty when applied.
using topic_config_applier = std::string (*)(storage::log_config& config, std::string_view key, std::string_view value);

class topic_registry {
 public:
  topic_registry(storage::log_manager& logs, storage::log_config defaults, topic_config_applier apply_config,
                 topic_creation_defaults creation = {});

  // Builds the topics from the logs the log manager holds: "<topic>-<n>" logs grouped by topic, the id read from
  // partition.metadata (written where missing or unreadable; a topic with none gets a new id), the overrides in
  // topic.config applied to every partition's log. A topic is served with partitions 0..n-1 only: partitions after
  // a gap are left out with an error in the log (the partition index is the position in topic::partitions).
  // Fails only when a partition.metadata file cannot be written.
  [[nodiscard]] std::error_code load();

  std::shared_ptr<const topic> find(std::string_view name) const;
  std::shared_ptr<const topic> find(const protocol::uuid& id) const;
  std::vector<std::shared_ptr<const topic>> all() const;

  struct create_result {
    protocol::error_code error = protocol::error_code::none;
    std::string message;
    std::shared_ptr<const topic> created;  // also set when validate_only (not registered then)
  };
  // CreateTopics semantics, checked in Kafka's order (ReplicationControlManager): the name
  // (INVALID_TOPIC_EXCEPTION; INVALID_REQUEST for __cluster_metadata), TOPIC_ALREADY_EXISTS, a name colliding with
  // an existing one once '.' and '_' are unified (INVALID_TOPIC_EXCEPTION), INVALID_CONFIG, then
  // INVALID_REPLICATION_FACTOR (0 or below -1; above 1, as a single node holds one replica) and INVALID_PARTITIONS
  // (0 or below -1; above max_partitions_per_topic). -1 takes the creation defaults. Errors come with Kafka's
  // messages. A storage failure part way removes what was created: KAFKA_STORAGE_ERROR.
  create_result create(const std::string& name, std::int32_t partitions, std::int16_t replication_factor,
                       const std::map<std::string, std::string>& configs, bool validate_only);
  // UNKNOWN_TOPIC_OR_PARTITION if absent; KAFKA_STORAGE_ERROR if a log could not be deleted (the topic is gone
  // from the registry all the same).
  protocol::error_code remove(const std::string& name);

  // The first checks of create(), for callers that must order their own checks around them (CreateTopics):
  // the name (invalid, taken, colliding), and the configs applied to the defaults (a message, empty when valid).
  create_result check_new_name(std::string_view name) const;
  std::string check_configs(const std::map<std::string, std::string>& configs, storage::log_config& out) const;

  const storage::log_config& defaults() const noexcept { return defaults_; }
  const topic_creation_defaults& creation_defaults() const noexcept { return creation_; }

 private:
  void insert(std::shared_ptr<const topic> created);  // under the exclusive lock

  storage::log_manager& logs_;
  storage::log_config defaults_;
  topic_config_applier apply_config_;
  topic_creation_defaults creation_;
  std::mutex admin_mutex_;  // serializes create and remove (taken before mutex_)
  mutable std::shared_mutex mutex_;
  std::map<std::string, std::shared_ptr<const topic>, std::less<>> by_name_;
  std::map<protocol::uuid, std::shared_ptr<const topic>> by_id_;
};

}  // namespace vltava::broker
