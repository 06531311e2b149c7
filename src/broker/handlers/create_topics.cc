// CreateTopics: each topic checked in the order Kafka's controller checks it (ControllerApis, then
// ReplicationControlManager), with its error codes and messages. The timeout is not waited on: a single node has
// created the topic (or failed) before it answers.
#include <algorithm>
#include <map>
#include <set>
#include <string>

#include <spdlog/spdlog.h>

#include "vltava/broker/broker_services.h"
#include "vltava/broker/handlers.h"
#include "vltava/broker/topic_config.h"

namespace vltava::broker {
namespace {

using protocol::error_code;
using request_topic = protocol::create_topics_request::creatable_topic;
using result_topic = protocol::create_topics_response::creatable_topic_result;
using result_config = protocol::create_topics_response::creatable_topic_configs;

// Kafka's ConfigSource ids in CreateTopics and DescribeConfigs answers.
constexpr std::int8_t dynamic_topic_config = 1;
constexpr std::int8_t default_config = 5;

struct checked_error {
  error_code error = error_code::none;
  std::string message;
};

// The topic-level settings of a new topic (v5+ answers them), sorted by name: every key Vltava models, from the
// effective settings, plus any other override given (keys Kafka defines that have no effect here).
std::vector<result_config> effective_configs(const topic_settings& settings,
                                             const std::map<std::string, std::string>& overrides) {
  std::map<std::string, result_config> merged;
  for (auto& [name, value] : topic_config_entries(settings)) {
    result_config entry;
    entry.name = name;
    entry.value = std::move(value);
    entry.config_source = default_config;
    merged.emplace(std::move(name), std::move(entry));
  }
  for (const auto& [name, value] : overrides) {
    auto& entry = merged[name];
    entry.name = name;
    if (!entry.value) entry.value = value;  // a key without an entry: its value as given
    entry.config_source = dynamic_topic_config;
  }
  std::vector<result_config> out;
  out.reserve(merged.size());
  for (auto& [name, entry] : merged) out.push_back(std::move(entry));
  return out;
}

// Manual assignments (num_partitions and replication_factor -1): each partition's replicas must be exactly this
// node. Sets the partition count; Kafka's messages.
checked_error check_assignments(const request_topic& requested, std::int32_t node_id, std::int32_t& partitions) {
  if (requested.replication_factor != -1) {
    return {error_code::invalid_request,
            "A manual partition assignment was specified, but replication factor was not set to -1."};
  }
  if (requested.num_partitions != -1) {
    return {error_code::invalid_request,
            "A manual partition assignment was specified, but numPartitions was not set to -1."};
  }
  std::set<std::int32_t> indexes;
  for (const auto& assignment : requested.assignments) {
    if (!indexes.insert(assignment.partition_index).second) {
      return {error_code::invalid_replica_assignment, "Found multiple manual partition assignments for partition " +
                                                          std::to_string(assignment.partition_index)};
    }
    if (assignment.broker_ids.empty()) {
      return {error_code::invalid_replica_assignment,
              "The manual partition assignment includes an empty replica list."};
    }
    std::vector<std::int32_t> brokers = assignment.broker_ids;
    std::sort(brokers.begin(), brokers.end());
    for (std::size_t i = 0; i < brokers.size(); ++i) {
      if (brokers[i] != node_id) {
        return {error_code::invalid_replica_assignment, "The manual partition assignment includes broker " +
                                                            std::to_string(brokers[i]) +
                                                            ", but no such broker is registered."};
      }
      if (i > 0) {
        return {error_code::invalid_replica_assignment, "The manual partition assignment includes the broker " +
                                                            std::to_string(brokers[i]) + " more than once."};
      }
    }
  }
  const auto count = static_cast<std::int32_t>(indexes.size());
  if (*indexes.begin() != 0 || *indexes.rbegin() != count - 1) {
    return {error_code::invalid_replica_assignment, "partitions should be a consecutive 0-based integer sequence"};
  }
  partitions = count;
  return {};
}

result_topic create_one(request_context& ctx, const request_topic& requested, bool validate_only) {
  auto& topics = ctx.services.topics();
  result_topic result;
  result.name = requested.name;
  const auto fail = [&](error_code error, std::string message) {
    result.error_code = static_cast<std::int16_t>(error);
    result.error_message = std::move(message);
    result.configs = std::vector<result_config>{};
    return result;
  };

  if (auto checked = topics.check_new_name(requested.name); checked.error != error_code::none) {
    return fail(checked.error, std::move(checked.message));
  }
  std::map<std::string, std::string> configs;
  std::string null_configs;
  for (const auto& config : requested.configs) {
    if (!config.value) {
      null_configs += (null_configs.empty() ? "" : ",") + config.name;
    } else {
      configs.insert_or_assign(config.name, *config.value);  // the last of repeated keys wins, as in Kafka
    }
  }
  if (!null_configs.empty()) {
    return fail(error_code::invalid_config, "Null value not supported for topic configs: " + null_configs);
  }
  topic_settings settings;
  if (auto problem = topics.check_configs(configs, settings.log); !problem.empty()) {
    return fail(error_code::invalid_config, std::move(problem));
  }
  // The checks across keys (min.compaction.lag.ms <= max.compaction.lag.ms, ...), and the non-storage keys'
  // effective values for the answer.
  for (const auto& [key, value] : configs) {
    std::string message;
    if (auto ec = apply_topic_config(settings, key, value, message)) {
      return fail(error_code::invalid_config, message.empty() ? ec.message() : message);
    }
  }
  if (std::string message; validate_topic_settings(settings, message)) {
    return fail(error_code::invalid_config, std::move(message));
  }

  // -1 takes num.partitions and default.replication.factor (KIP-464); the registry checks the values asked for.
  const auto& broker = ctx.services.settings();
  std::int32_t partitions = requested.num_partitions == -1 ? broker.num_partitions : requested.num_partitions;
  std::int16_t replication_factor =
      requested.replication_factor == -1 ? broker.default_replication_factor : requested.replication_factor;
  if (!requested.assignments.empty()) {
    if (auto checked = check_assignments(requested, ctx.services.settings().node_id, partitions);
        checked.error != error_code::none) {
      return fail(checked.error, std::move(checked.message));
    }
    replication_factor = 1;
  }

  auto created = topics.create(requested.name, partitions, replication_factor, configs, validate_only);
  if (created.error != error_code::none) return fail(created.error, std::move(created.message));
  result.topic_id = created.created->id;
  result.num_partitions = static_cast<std::int32_t>(created.created->partitions.size());
  result.replication_factor = 1;
  result.configs = effective_configs(settings, configs);
  return result;
}

}  // namespace

boost::asio::awaitable<void> handle_create_topics(request_context& ctx, std::vector<std::uint8_t>& response) {
  const std::int16_t version = ctx.api_version;
  protocol::create_topics_request request;
  if (auto ec = request.decode(ctx.body, version)) {
    spdlog::warn("{}: malformed CreateTopics v{} request: {}", ctx.peer, version, ec.message());
    ctx.close_connection = true;
    co_return;
  }

  // A name given twice is refused (once) without looking at either entry, as Kafka's ControllerApis does.
  std::map<std::string, int> occurrences;
  for (const auto& t : request.topics) ++occurrences[t.name];

  protocol::create_topics_response answer;
  std::set<std::string> duplicates_answered;
  for (const auto& requested : request.topics) {
    if (occurrences[requested.name] > 1) {
      if (!duplicates_answered.insert(requested.name).second) continue;
      result_topic duplicate;
      duplicate.name = requested.name;
      duplicate.error_code = static_cast<std::int16_t>(error_code::invalid_request);
      duplicate.error_message = "Duplicate topic name.";
      duplicate.configs = std::vector<result_config>{};
      answer.topics.push_back(std::move(duplicate));
      continue;
    }
    auto result = create_one(ctx, requested, request.validate_only);
    if (result.error_code != 0) {
      spdlog::info("{}: CreateTopics {}{}: {} ({})", ctx.peer, requested.name,
                   request.validate_only ? " (validate only)" : "",
                   protocol::error_name(static_cast<error_code>(result.error_code)), result.error_message.value_or(""));
    }
    answer.topics.push_back(std::move(result));
  }
  if (!ctx.respond(answer, response)) {
    spdlog::error("{}: cannot encode the CreateTopics v{} response", ctx.peer, version);
  }
  co_return;
}

}  // namespace vltava::broker
