// A group_store that keeps everything in memory: what was stored is what load() returns, until the process ends.
// Tests use it as a working store (the broker uses consumer_offsets_store). Thread-safe; every callback runs inline,
// before the call returns.
#pragma once

#include <mutex>

#include "vltava/broker/group/group_store.h"

namespace vltava::broker::group {

class memory_group_store final : public group_store {
 public:
  explicit memory_group_store(std::int32_t partitions) : partitions_(partitions > 0 ? partitions : 1) {}

  std::int32_t partition_count() const override { return partitions_; }
  void store_offsets(const std::string& group_id,
                     const std::vector<std::pair<topic_partition, committed_offset>>& offsets,
                     store_callback done) override;
  void store_group(const group_record& group, store_callback done) override;
  void delete_offsets(const std::string& group_id, const std::vector<topic_partition>& offsets,
                      store_callback done) override;
  void delete_group(const std::string& group_id, const std::vector<topic_partition>& offsets,
                    store_callback done) override;
  loaded_partition load(std::int32_t partition) override;

 private:
  const std::int32_t partitions_;
  std::mutex mutex_;
  std::map<std::string, loaded_group> groups_;  // every partition's groups; load() picks one partition's
};

}  // namespace vltava::broker::group
