// Topic-level configuration: Kafka's topic config names (cleanup.policy, retention.ms, segment.bytes, ...) as
// CreateTopics, AlterConfigs and DescribeConfigs use them. A topic starts from the broker's defaults
// (broker_config::default_topic_settings(), which maps log.retention.ms to retention.ms and so on) and applies its
// own overrides key by key:
//
//   topic_settings settings = config.default_topic_settings();
//   std::string message;
//   for (const auto& [key, value] : request_configs) {
//     if (auto ec = apply_topic_config(settings, key, value, message)) return {config_error_to_kafka(ec), message};
//   }
//   if (auto ec = validate_topic_settings(settings, message)) return {config_error_to_kafka(ec), message};
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "vltava/protocol/error_code.h"
#include "vltava/storage/log_config.h"

namespace vltava::broker {

// Configuration errors of the broker layer.
enum class config_errc {
  ok = 0,
  unknown_key = 1,    // not a topic configuration Kafka defines
  invalid_value = 2,  // wrong type, out of range, or in conflict with another key
};

const std::error_category& config_category() noexcept;
inline std::error_code make_error_code(config_errc e) noexcept { return {static_cast<int>(e), config_category()}; }

// The Kafka error a client sees for a config_errc: INVALID_CONFIG (Kafka answers an unknown topic config with
// INVALID_CONFIG too); NONE for no error.
protocol::error_code config_error_to_kafka(std::error_code error) noexcept;

struct topic_settings {
  storage::log_config log;                      // everything the storage layer applies
  std::string compression_type = "producer";    // compression.type: producer keeps the producer's codec
  std::int32_t min_insync_replicas = 1;         // min.insync.replicas
  bool unclean_leader_election_enable = false;  // unclean.leader.election.enable (no effect on one node)
  bool message_downconversion_enable = true;    // message.downconversion.enable
  // message.timestamp.difference.max.ms (deprecated in Kafka 3.6) and its successors; use the accessors below.
  std::int64_t message_timestamp_difference_max_ms = storage::no_limit;
  std::int64_t message_timestamp_before_max_ms = storage::no_limit;
  std::int64_t message_timestamp_after_max_ms = storage::no_limit;

  // Kafka's rule: before/after.max.ms when set to something other than their default (Long.MAX), else
  // difference.max.ms. A produce with CreateTime timestamps outside [now - before, now + after] is refused.
  std::int64_t timestamp_before_max_ms() const noexcept;
  std::int64_t timestamp_after_max_ms() const noexcept;
};

struct topic_config_key {
  std::string_view name;            // the topic-level key: retention.ms
  std::string_view broker_synonym;  // the server.properties key giving its default: log.retention.ms
};

// The topic-level keys topic_settings holds, in alphabetical order (the DescribeConfigs listing).
std::span<const topic_config_key> topic_config_keys();

// Applies one topic-level key. unknown_key for a name Kafka does not define, invalid_value for a bad value; message
// then says why, naming key and value ("retention.ms=-5 is invalid: must be at least -1"). Kafka topic keys Vltava
// does not implement (preallocate, segment.jitter.ms, message.format.version, compression.*.level, local.retention.*,
// remote.storage.enable=false, *.replication.throttled.replicas) are checked and accepted without effect.
[[nodiscard]] std::error_code apply_topic_config(topic_settings& settings, std::string_view key, std::string_view value,
                                                 std::string& message);

// The checks that involve several keys (min.compaction.lag.ms <= max.compaction.lag.ms, ...) and
// storage::log_config::validate; run once after all keys are applied.
[[nodiscard]] std::error_code validate_topic_settings(const topic_settings& settings, std::string& message);

// Every key of topic_config_keys() with its value as text, in that order.
std::vector<std::pair<std::string, std::string>> topic_config_entries(const topic_settings& settings);

// For callers that keep only the storage part (topic_registry's topic_config_applier): applies key to config when it
// is a storage key, checks and drops the others. Returns the message, empty when accepted.
std::string apply_topic_log_config(storage::log_config& config, std::string_view key, std::string_view value);

}  // namespace vltava::broker

template <>
struct std::is_error_code_enum<vltava::broker::config_errc> : std::true_type {};
