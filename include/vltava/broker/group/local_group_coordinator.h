// The group coordinator as the single-node broker runs it: with its store, real timers and the topic registry's
// view of which partitions exist, stopped in the right order (timers before the coordinator they call into).
// Until the __consumer_offsets store is wired the store is memory_group_store: groups and offsets last as long as
// the process.
#pragma once

#include "vltava/broker/broker_config.h"
#include "vltava/broker/group/group_coordinator.h"
#include "vltava/broker/group/group_timers.h"
#include "vltava/broker/group/memory_group_store.h"
#include "vltava/broker/topic_registry.h"

namespace vltava::broker::group {

coordinator_settings coordinator_settings_from(const broker_config& config);
// OffsetCommit/OffsetDelete's existence check against the broker's topics.
partition_exists_function partition_exists_in(const topic_registry& topics);

class local_group_coordinator {
 public:
  // Loads every coordinator partition (in the background) and starts the retention check.
  local_group_coordinator(const broker_config& config, const topic_registry& topics);
  ~local_group_coordinator();

  group_coordinator& coordinator() noexcept { return coordinator_; }

 private:
  memory_group_store store_;
  asio_group_timers timers_;
  group_coordinator coordinator_;
};

}  // namespace vltava::broker::group
