// Metadata: this broker, the cluster id, and the topics asked for (or all of them), each partition led by this
// node with a replica set of one.
//
// Differences from Kafka, both deliberate: a topic auto-created by this request is answered with its partitions
// at once (Kafka creates it asynchronously and answers LEADER_NOT_AVAILABLE until its leaders are elected; a single
// node creates it synchronously, so the client can skip the retry), and internal topics are never auto-created here
// (see broker_services::find_or_create_topic).
#include <set>
#include <string>

#include <spdlog/spdlog.h>

#include "vltava/broker/broker_services.h"
#include "vltava/broker/handlers.h"

namespace vltava::broker {
namespace {

using protocol::error_code;
using response_topic = protocol::metadata_response::metadata_response_topic;

// The operations an absent authorizer allows, as Kafka's bit fields (AclOperation codes): READ, WRITE, CREATE,
// DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS on a topic; CREATE, ALTER, DESCRIBE, CLUSTER_ACTION,
// DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE on the cluster.
constexpr std::int32_t bit(int operation) { return std::int32_t{1} << operation; }
constexpr std::int32_t topic_operations = bit(3) | bit(4) | bit(5) | bit(6) | bit(7) | bit(8) | bit(10) | bit(11);
constexpr std::int32_t cluster_operations = bit(5) | bit(7) | bit(8) | bit(9) | bit(10) | bit(11) | bit(12);

response_topic describe_topic(const topic& t, std::int32_t node_id) {
  response_topic out;
  out.name = t.name;
  out.topic_id = t.id;
  out.is_internal = t.internal;
  out.partitions.reserve(t.partitions.size());
  for (const auto& p : t.partitions) {
    protocol::metadata_response::metadata_response_partition partition;
    partition.partition_index = p.index;
    partition.leader_id = node_id;
    partition.leader_epoch = 0;
    partition.replica_nodes = {node_id};
    partition.isr_nodes = {node_id};
    out.partitions.push_back(std::move(partition));
  }
  return out;
}

response_topic topic_error(std::optional<std::string> name, error_code error) {
  response_topic out;
  out.is_internal = name && is_internal_topic(*name);
  out.name = std::move(name);
  out.error_code = static_cast<std::int16_t>(error);
  return out;
}

// A topic asked for by name: found, auto-created, or an error (an invalid name is INVALID_TOPIC_EXCEPTION whether
// or not auto-creation is allowed, as in Kafka).
response_topic resolve_by_name(request_context& ctx, const std::string& name, bool allow_auto_create) {
  auto& services = ctx.services;
  if (auto found = services.topics().find(name)) return describe_topic(*found, services.settings().node_id);
  if (!invalid_topic_name_reason(name).empty()) return topic_error(name, error_code::invalid_topic_exception);
  if (!allow_auto_create) return topic_error(name, error_code::unknown_topic_or_partition);
  error_code error = error_code::none;
  if (auto created = services.find_or_create_topic(name, error)) {
    return describe_topic(*created, services.settings().node_id);
  }
  return topic_error(name, error);
}

}  // namespace

boost::asio::awaitable<void> handle_metadata(request_context& ctx, std::vector<std::uint8_t>& response) {
  const std::int16_t version = ctx.api_version;
  protocol::metadata_request request;
  if (auto ec = request.decode(ctx.body, version)) {
    spdlog::warn("{}: malformed Metadata v{} request: {}", ctx.peer, version, ec.message());
    ctx.close_connection = true;
    co_return;
  }
  const auto& settings = ctx.services.settings();

  protocol::metadata_response answer;
  protocol::metadata_response::metadata_response_broker self;
  self.node_id = settings.node_id;
  self.host = settings.advertised_host;
  self.port = settings.advertised_port;
  answer.brokers.push_back(std::move(self));
  if (!settings.cluster_id.empty()) answer.cluster_id = settings.cluster_id;
  answer.controller_id = settings.node_id;

  // v0: an empty list means every topic; v1+: null means every topic and an empty list none.
  const bool all_topics = !request.topics || (version == 0 && request.topics->empty());
  if (all_topics) {
    for (const auto& t : ctx.services.topics().all()) answer.topics.push_back(describe_topic(*t, settings.node_id));
  } else {
    // allow_auto_topic_creation exists from v4; earlier versions always allowed it.
    const bool allow_auto_create = settings.auto_create_topics && (version < 4 || request.allow_auto_topic_creation);
    std::set<std::string> names_seen;
    std::set<protocol::uuid> ids_seen;
    for (const auto& requested : *request.topics) {
      if (requested.name) {
        if (!names_seen.insert(*requested.name).second) continue;  // Kafka answers each topic once
        answer.topics.push_back(resolve_by_name(ctx, *requested.name, allow_auto_create));
        continue;
      }
      // By id (v10+, name null).
      if (!ids_seen.insert(requested.topic_id).second) continue;
      if (auto found = ctx.services.topics().find(requested.topic_id)) {
        answer.topics.push_back(describe_topic(*found, settings.node_id));
      } else {
        // The name is nullable from v12; before, an unknown id is answered with an empty name.
        auto unknown =
            topic_error(version >= 12 ? std::nullopt : std::optional<std::string>(""), error_code::unknown_topic_id);
        unknown.topic_id = requested.topic_id;
        answer.topics.push_back(std::move(unknown));
      }
    }
  }

  if (version >= 8) {
    for (auto& t : answer.topics) {
      if (request.include_topic_authorized_operations) t.topic_authorized_operations = topic_operations;
    }
    if (version <= 10 && request.include_cluster_authorized_operations) {
      answer.cluster_authorized_operations = cluster_operations;
    }
  }
  if (!ctx.respond(answer, response)) spdlog::error("{}: cannot encode the Metadata v{} response", ctx.peer, version);
  co_return;
}

}  // namespace vltava::broker
