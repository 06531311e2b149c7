// The in-memory group store: the latest value per key, tombstones applied at once.
#include "vltava/broker/group/memory_group_store.h"

namespace vltava::broker::group {

void memory_group_store::store_offsets(const std::string& group_id,
                                       const std::vector<std::pair<topic_partition, committed_offset>>& offsets,
                                       store_callback done) {
  {
    std::lock_guard lock(mutex_);
    auto& group = groups_[group_id];
    for (const auto& [tp, offset] : offsets) group.offsets[tp] = offset;
  }
  done(protocol::error_code::none);
}

void memory_group_store::store_group(const group_record& group, store_callback done) {
  {
    std::lock_guard lock(mutex_);
    groups_[group.group_id].metadata = group;
  }
  done(protocol::error_code::none);
}

void memory_group_store::delete_offsets(const std::string& group_id, const std::vector<topic_partition>& offsets,
                                        store_callback done) {
  {
    std::lock_guard lock(mutex_);
    if (auto it = groups_.find(group_id); it != groups_.end()) {
      for (const auto& tp : offsets) it->second.offsets.erase(tp);
      if (!it->second.metadata && it->second.offsets.empty()) groups_.erase(it);
    }
  }
  done(protocol::error_code::none);
}

void memory_group_store::delete_group(const std::string& group_id, const std::vector<topic_partition>& offsets,
                                      store_callback done) {
  {
    std::lock_guard lock(mutex_);
    if (auto it = groups_.find(group_id); it != groups_.end()) {
      it->second.metadata.reset();
      for (const auto& tp : offsets) it->second.offsets.erase(tp);
      if (it->second.offsets.empty()) groups_.erase(it);
    }
  }
  done(protocol::error_code::none);
}

loaded_partition memory_group_store::load(std::int32_t partition) {
  loaded_partition out;
  std::lock_guard lock(mutex_);
  for (const auto& [id, group] : groups_) {
    if (coordinator_partition_for(id, partitions_) == partition) out.groups.emplace(id, group);
  }
  return out;
}

}  // namespace vltava::broker::group
