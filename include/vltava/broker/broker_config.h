// The broker's configuration, the Kafka way: a server.properties file with Kafka's key names, then
// `--override key=value` arguments as kafka-server-start.sh takes them, each checked with the same rules.
//
//   auto result = broker_config::load("config/server.properties", overrides);
//   for (const auto& line : result.notices) spdlog::info("{}", line);
//   for (const auto& line : result.warnings) spdlog::warn("{}", line);
//   if (!result.ok()) { for (const auto& line : result.errors) spdlog::error("{}", line); return 1; }
//   for (const auto& [key, value] : result.config.effective_entries()) spdlog::info("{} = {}", key, value);
//
// Every key, its default and its Kafka counterpart: docs/configuration.md. Defaults are Kafka's except where a
// single node needs otherwise (marked "single-node default" below and in the docs).
#pragma once

#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vltava/broker/topic_config.h"
#include "vltava/protocol/record_batch.h"
#include "vltava/storage/log_config.h"
#include "vltava/storage/log_manager.h"

namespace vltava::broker {

// One entry of listeners / advertised.listeners: NAME://host:port.
struct listener {
  std::string name;  // upper case, as Kafka normalises it: PLAINTEXT, or a name listener.security.protocol.map maps
  std::string host;  // empty: every interface; IPv6 addresses without brackets
  std::uint16_t port = 9092;  // 0: any free port (advertised: the port the listener actually bound)

  std::string to_string() const;  // NAME://host:port, IPv6 hosts in brackets
  bool operator==(const listener&) const = default;
};

struct broker_config_result;

struct broker_config {
  // Server and network
  std::int32_t node_id = 1;  // node.id (broker.id is the same setting)
  // listeners: the PLAINTEXT listeners served (controller listeners are dropped with a notice).
  std::vector<listener> listeners{{"PLAINTEXT", "localhost", 9092}};
  // advertised.listeners: what Metadata tells clients, one per served listener in the same order. Defaults to the
  // listener itself, with an empty, 0.0.0.0 or :: host advertised as "localhost".
  std::vector<listener> advertised_listeners{{"PLAINTEXT", "localhost", 9092}};
  std::int32_t num_network_threads = 0;                 // num.network.threads; 0: hardware concurrency
  std::int32_t num_io_threads = 0;                      // num.io.threads; 0: hardware concurrency
  std::int32_t background_threads = 10;                 // background.threads: handlers that wait for the disk
  std::int32_t socket_request_max_bytes = 104'857'600;  // socket.request.max.bytes
  std::int32_t socket_send_buffer_bytes = 102'400;      // socket.send.buffer.bytes; -1: OS default
  std::int32_t socket_receive_buffer_bytes = 102'400;   // socket.receive.buffer.bytes; -1: OS default
  std::int32_t socket_listen_backlog_size = 50;         // socket.listen.backlog.size
  std::int64_t connections_max_idle_ms = 600'000;       // connections.max.idle.ms; -1: never
  std::int32_t max_connections = 2'147'483'647;         // max.connections

  // Topics and produce
  bool auto_create_topics_enable = true;          // auto.create.topics.enable
  std::int32_t num_partitions = 1;                // num.partitions
  std::int16_t default_replication_factor = 1;    // default.replication.factor
  bool delete_topic_enable = true;                // delete.topic.enable
  std::int32_t message_max_bytes = 1'048'588;     // message.max.bytes
  std::string compression_type = "producer";      // compression.type
  std::int32_t min_insync_replicas = 1;           // min.insync.replicas
  bool unclean_leader_election_enable = false;    // unclean.leader.election.enable
  bool log_message_downconversion_enable = true;  // log.message.downconversion.enable
  protocol::timestamp_type log_message_timestamp_type = protocol::timestamp_type::create_time;
  // log.message.timestamp.difference.max.ms, .before.max.ms, .after.max.ms as configured; the bounds in force are
  // timestamp_before_max_ms() / timestamp_after_max_ms() (Kafka's precedence).
  std::int64_t log_message_timestamp_difference_max_ms = storage::no_limit;
  std::int64_t log_message_timestamp_before_max_ms = storage::no_limit;
  std::int64_t log_message_timestamp_after_max_ms = storage::no_limit;

  // Log storage
  std::vector<std::filesystem::path> log_dirs{"/tmp/vltava-logs"};  // log.dirs (or log.dir)
  std::int32_t log_segment_bytes = 1'073'741'824;                   // log.segment.bytes
  std::int64_t log_roll_ms = 168LL * 60 * 60 * 1000;                // log.roll.ms, else log.roll.hours
  std::int32_t log_index_interval_bytes = 4096;                     // log.index.interval.bytes
  std::int32_t log_index_size_max_bytes = 10'485'760;               // log.index.size.max.bytes
  std::int64_t log_segment_delete_delay_ms = 60'000;                // log.segment.delete.delay.ms

  // Retention and compaction
  std::int64_t log_retention_ms = 168LL * 60 * 60 * 1000;  // log.retention.ms, else .minutes, else .hours; -1: forever
  std::int64_t log_retention_bytes = -1;                   // log.retention.bytes; -1: no limit
  std::int64_t log_retention_check_interval_ms = 300'000;  // log.retention.check.interval.ms
  storage::cleanup_policy log_cleanup_policy;              // log.cleanup.policy
  bool log_cleaner_enable = true;                          // log.cleaner.enable
  std::int64_t log_cleaner_backoff_ms = 15'000;            // log.cleaner.backoff.ms
  std::int64_t log_cleaner_delete_retention_ms = 86'400'000;           // log.cleaner.delete.retention.ms
  double log_cleaner_min_cleanable_ratio = 0.5;                        // log.cleaner.min.cleanable.ratio
  std::int64_t log_cleaner_min_compaction_lag_ms = 0;                  // log.cleaner.min.compaction.lag.ms
  std::int64_t log_cleaner_max_compaction_lag_ms = storage::no_limit;  // log.cleaner.max.compaction.lag.ms

  // Durability (docs/durability.md)
  std::int64_t log_flush_interval_messages = storage::no_limit;   // log.flush.interval.messages
  std::int64_t log_flush_interval_ms = storage::no_limit;         // log.flush.interval.ms
  std::int64_t log_flush_scheduler_interval_ms = 1000;            // log.flush.scheduler.interval.ms (single-node)
  std::int64_t log_flush_offset_checkpoint_interval_ms = 60'000;  // log.flush.offset.checkpoint.interval.ms
  bool log_flush_on_acks_all = true;                              // log.flush.on.acks.all (Vltava)
  std::int32_t log_flush_threads = 2;                             // log.flush.threads (Vltava)

  // Consumer groups and committed offsets
  std::int32_t offsets_topic_num_partitions = 50;              // offsets.topic.num.partitions
  std::int16_t offsets_topic_replication_factor = 1;           // offsets.topic.replication.factor (single-node)
  std::int32_t offsets_topic_segment_bytes = 104'857'600;      // offsets.topic.segment.bytes
  std::int32_t offsets_retention_minutes = 10'080;             // offsets.retention.minutes
  std::int64_t offsets_retention_check_interval_ms = 600'000;  // offsets.retention.check.interval.ms
  std::int32_t group_initial_rebalance_delay_ms = 3000;        // group.initial.rebalance.delay.ms
  std::int32_t group_min_session_timeout_ms = 6000;            // group.min.session.timeout.ms
  std::int32_t group_max_session_timeout_ms = 1'800'000;       // group.max.session.timeout.ms
  std::int32_t group_max_size = 2'147'483'647;                 // group.max.size
  std::int32_t offset_metadata_max_bytes = 4096;               // offset.metadata.max.bytes

  // Producers
  std::int32_t producer_id_expiration_ms = 86'400'000;  // producer.id.expiration.ms

  // The keys the file or the overrides set (canonical names: node.id for broker.id, log.retention.ms for
  // log.retention.hours, ...); DescribeConfigs reports them as STATIC_BROKER_CONFIG, the others as DEFAULT_CONFIG.
  std::set<std::string, std::less<>> explicitly_set;

  // Reads server.properties text, then applies overrides ("key=value" each, as after --override), checking every
  // value. A key set twice keeps its last value; an override replaces the file's value before it is checked.
  static broker_config_result parse(std::string_view properties, const std::vector<std::string>& overrides = {});
  static broker_config_result parse(std::istream& properties, const std::vector<std::string>& overrides = {});
  // parse() of a file; an error naming the path when it cannot be read.
  static broker_config_result load(const std::filesystem::path& file, const std::vector<std::string>& overrides = {});

  // Kafka's precedence: before/after.max.ms when not Long.MAX, else difference.max.ms.
  std::int64_t timestamp_before_max_ms() const noexcept;
  std::int64_t timestamp_after_max_ms() const noexcept;
  // num.network.threads / num.io.threads with 0 resolved to the hardware concurrency (at least 1).
  std::size_t network_threads() const noexcept;
  std::size_t io_threads() const noexcept;

  // What a topic created without overrides gets (log.retention.ms -> retention.ms, and so on).
  topic_settings default_topic_settings() const;
  storage::log_config default_log_config() const;
  storage::log_manager_config to_log_manager_config() const;

  // Every key Vltava uses, canonical name -> value as text, grouped by area as in docs/configuration.md: for
  // logging at start and for DescribeConfigs. Reading these back with parse() gives the same configuration.
  std::vector<std::pair<std::string, std::string>> effective_entries() const;
};

struct broker_config_result {
  broker_config config;               // meaningful when ok()
  std::vector<std::string> errors;    // refused values: each names the key, the value and the rule, and where
  std::vector<std::string> warnings;  // unknown keys (with a "did you mean"), keys set twice
  std::vector<std::string> notices;   // Kafka keys with no meaning in Vltava, ignored; log them at info level
  bool ok() const noexcept { return errors.empty(); }
};

}  // namespace vltava::broker
