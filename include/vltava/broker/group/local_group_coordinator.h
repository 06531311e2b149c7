// The group coordinator as the single-node broker runs it: with its store, real timers and the topic registry's
// view of which partitions exist, stopped in the right order (timers before the coordinator they call into).
// Groups and committed offsets are kept in the compacted __consumer_offsets topic (consumer_offsets_store), so they
// survive restarts; the topic is created by the first write.
#pragma once

#include "vltava/broker/broker_config.h"
#include "vltava/broker/group/consumer_offsets_store.h"
#include "vltava/broker/group/group_coordinator.h"
#include "vltava/broker/group/group_timers.h"
#include "vltava/broker/topic_registry.h"

namespace vltava::broker::group {

coordinator_settings coordinator_settings_from(const broker_config& config);
// OffsetCommit/OffsetDelete's existence check against the broker's topics.
partition_exists_function partition_exists_in(const topic_registry& topics);

class local_group_coordinator {
 public:
  // Loads every coordinator partition (in the background) and starts the retention check.
  local_group_coordinator(const broker_config& config, topic_registry& topics, storage::group_commit_flusher& flusher);
  ~local_group_coordinator();

  group_coordinator& coordinator() noexcept { return coordinator_; }

 private:
  consumer_offsets_store store_;
  asio_group_timers timers_;
  group_coordinator coordinator_;
};

}  // namespace vltava::broker::group
