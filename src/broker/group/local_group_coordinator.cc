// Wiring of the coordinator for the broker process: settings from broker_config, topics from the registry.
#include "vltava/broker/group/local_group_coordinator.h"

namespace vltava::broker::group {

coordinator_settings coordinator_settings_from(const broker_config& config) {
  coordinator_settings s;
  s.initial_rebalance_delay_ms = config.group_initial_rebalance_delay_ms;
  s.min_session_timeout_ms = config.group_min_session_timeout_ms;
  s.max_session_timeout_ms = config.group_max_session_timeout_ms;
  s.max_size = config.group_max_size;
  s.offset_metadata_max_bytes = config.offset_metadata_max_bytes;
  s.offsets_retention_ms = static_cast<std::int64_t>(config.offsets_retention_minutes) * 60'000;
  s.retention_check_interval_ms = config.offsets_retention_check_interval_ms;
  return s;
}

partition_exists_function partition_exists_in(const topic_registry& topics) {
  return [&topics](const std::string& topic, std::int32_t partition) {
    auto found = topics.find(topic);
    return found && partition >= 0 && static_cast<std::size_t>(partition) < found->partitions.size();
  };
}

namespace {

consumer_offsets_options store_options_from(const broker_config& config) {
  consumer_offsets_options options;
  options.num_partitions = config.offsets_topic_num_partitions;
  options.segment_bytes = config.offsets_topic_segment_bytes;
  options.flush_on_acks_all = config.log_flush_on_acks_all;
  return options;
}

}  // namespace

local_group_coordinator::local_group_coordinator(const broker_config& config, topic_registry& topics,
                                                 storage::group_commit_flusher& flusher)
    : store_(topics, flusher, store_options_from(config)),
      coordinator_(coordinator_settings_from(config), store_, timers_, partition_exists_in(topics)) {
  coordinator_.start();
}

local_group_coordinator::~local_group_coordinator() {
  coordinator_.shutdown();
  timers_.stop();
}

}  // namespace vltava::broker::group
