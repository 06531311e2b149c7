// The services request handlers share: settings, the topics and their logs, the group-commit flusher, producer
// state for idempotence. Owned by the broker; handlers get a reference through request_context.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>

#include "vltava/broker/fetch_sessions.h"
#include "vltava/broker/topic_registry.h"
#include "vltava/protocol/api_registry.h"
#include "vltava/storage/log_manager.h"

namespace vltava::broker {

class producer_state_manager;
namespace group {
class group_coordinator;
}

// The settings handlers need, taken from broker_config (Kafka key names in comments).
struct broker_settings {
  std::int32_t node_id = 1;                   // node.id
  std::string advertised_host = "localhost";  // advertised.listeners
  std::int32_t advertised_port = 9092;
  std::string cluster_id;                               // generated once, kept in meta.properties
  bool auto_create_topics = true;                       // auto.create.topics.enable
  std::int32_t num_partitions = 1;                      // num.partitions
  std::int16_t default_replication_factor = 1;          // default.replication.factor
  std::int32_t message_max_bytes = 1048588;             // message.max.bytes
  std::int64_t timestamp_before_max_ms = INT64_MAX;     // log.message.timestamp.before.max.ms
  std::int64_t timestamp_after_max_ms = INT64_MAX;      // log.message.timestamp.after.max.ms
  bool flush_on_acks_all = true;                        // log.flush.on.acks.all
  bool delete_topic_enable = true;                      // delete.topic.enable
  std::int64_t producer_id_expiration_ms = 86'400'000;  // producer.id.expiration.ms
  // max.incremental.fetch.session.cache.slots (Fetch sessions, KIP-227)
  std::int32_t max_incremental_fetch_session_cache_slots = 1000;
};

class broker_services {
 public:
  broker_services(broker_settings settings, storage::log_manager& logs, topic_registry& topics,
                  producer_state_manager& producers, const protocol::api_registry& apis)
      : settings_(std::move(settings)),
        logs_(logs),
        topics_(topics),
        producers_(producers),
        apis_(apis),
        fetch_sessions_(fetch_session_limits{
            static_cast<std::size_t>(std::max(settings_.max_incremental_fetch_session_cache_slots, 0))}) {}

  const broker_settings& settings() const noexcept { return settings_; }
  // Once the listeners are bound (port 0 becomes a real port), before the first connection is served.
  void set_advertised_address(std::string host, std::int32_t port) {
    settings_.advertised_host = std::move(host);
    settings_.advertised_port = port;
  }
  storage::log_manager& logs() noexcept { return logs_; }
  topic_registry& topics() noexcept { return topics_; }
  producer_state_manager& producers() noexcept { return producers_; }
  const protocol::api_registry& apis() const noexcept { return apis_; }
  fetch_session_cache& fetch_sessions() noexcept { return fetch_sessions_; }
  // The consumer-group coordinator, owned by whoever builds the broker (main.cc), attached before serving.
  void attach_groups(group::group_coordinator& groups) noexcept { groups_ = &groups; }
  group::group_coordinator& groups() noexcept { return *groups_; }

  // Metadata's auto-creation (and Produce's): the topic if it exists, else creates it when auto.create.topics.enable
  // allows, with num.partitions and default settings. Null with error set otherwise.
  std::shared_ptr<const topic> find_or_create_topic(const std::string& name, protocol::error_code& error);

 private:
  broker_settings settings_;
  storage::log_manager& logs_;
  topic_registry& topics_;
  producer_state_manager& producers_;
  const protocol::api_registry& apis_;
  fetch_session_cache fetch_sessions_;  // Fetch's incremental sessions (KIP-227)
  group::group_coordinator* groups_ = nullptr;
};

}  // namespace vltava::broker
