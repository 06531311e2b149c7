// Auto-creation, shared by Metadata and Produce: Kafka's auto.create.topics.enable with num.partitions and
// default.replication.factor.
#include "vltava/broker/broker_services.h"

#include <spdlog/spdlog.h>

namespace vltava::broker {

std::shared_ptr<const topic> broker_services::find_or_create_topic(const std::string& name,
                                                                   protocol::error_code& error) {
  error = protocol::error_code::none;
  if (auto found = topics_.find(name)) return found;
  if (!invalid_topic_name_reason(name).empty()) {
    error = protocol::error_code::invalid_topic_exception;
    return nullptr;
  }
  // Internal topics are created by their owners (the group and transaction coordinators) with their own partition
  // counts; created here with num.partitions they would break the coordinators' partitioning for good.
  if (!settings_.auto_create_topics || is_internal_topic(name)) {
    error = protocol::error_code::unknown_topic_or_partition;
    return nullptr;
  }
  auto result = topics_.create(name, settings_.num_partitions, settings_.default_replication_factor, {}, false);
  if (result.error == protocol::error_code::none) return result.created;
  if (result.error == protocol::error_code::topic_already_exists) {
    // Another request created it first.
    if (auto found = topics_.find(name)) return found;
    error = protocol::error_code::leader_not_available;  // created and deleted again meanwhile: retriable
    return nullptr;
  }
  spdlog::warn("auto-creation of topic {} failed: {} ({})", name, protocol::error_name(result.error), result.message);
  error = result.error;
  return nullptr;
}

}  // namespace vltava::broker
