// ListOffsets: the offset for a timestamp, versions 1 and up (v0 answers with a list of segment offsets, an older
// format no client we serve needs). Special timestamps: -1 latest, -2 earliest, -3 the record with the largest
// timestamp (v7+), -4 earliest local (v8+), -5 latest tiered (v9+), -6 earliest pending upload (v11+); the lookups
// themselves are in partition_reads.h. As Kafka: a partition named twice gets INVALID_REQUEST each time, a special
// timestamp the version does not know UNSUPPORTED_VERSION. Leader epochs are unknown (-1): this broker keeps no
// leader-epoch cache, and -1 tells a client not to validate its position with OffsetsForLeaderEpoch.
#include <spdlog/spdlog.h>

#include <map>
#include <optional>
#include <string>
#include <utility>

#include "vltava/broker/broker_services.h"
#include "vltava/broker/handlers.h"
#include "vltava/broker/partition_reads.h"

namespace vltava::broker {
namespace {

using protocol::error_code;

constexpr std::int32_t consumer_replica_id = -1;

const partition* find_partition(const topic& t, std::int32_t index) {
  if (index >= 0 && static_cast<std::size_t>(index) < t.partitions.size() && t.partitions[index].index == index) {
    return &t.partitions[index];
  }
  for (const auto& p : t.partitions) {
    if (p.index == index) return &p;
  }
  return nullptr;
}

std::map<std::pair<std::string, std::int32_t>, int> partition_counts(const protocol::list_offsets_request& request) {
  std::map<std::pair<std::string, std::int32_t>, int> counts;
  for (const auto& t : request.topics) {
    for (const auto& p : t.partitions) ++counts[{t.name, p.partition_index}];
  }
  return counts;
}

}  // namespace

boost::asio::awaitable<void> handle_list_offsets(request_context& ctx, std::vector<std::uint8_t>& response) {
  protocol::list_offsets_request request;
  if (auto ec = request.decode(ctx.body, ctx.api_version)) {
    spdlog::warn("closing connection from {}: malformed ListOffsets v{} request: {}", ctx.peer, ctx.api_version,
                 ec.message());
    ctx.close_connection = true;
    co_return;
  }
  // Consumers see what is committed; replicas (and the debugging id) see up to the log end.
  std::optional<isolation_level> isolation;
  if (request.replica_id == consumer_replica_id) isolation = isolation_from_wire(request.isolation_level);
  const auto counts = partition_counts(request);

  protocol::list_offsets_response answer;
  for (const auto& t : request.topics) {
    auto& topic_answer = answer.topics.emplace_back();
    topic_answer.name = t.name;
    const auto found = ctx.services.topics().find(t.name);
    for (const auto& p : t.partitions) {
      auto& partition_answer = topic_answer.partitions.emplace_back();
      partition_answer.partition_index = p.partition_index;
      partition_answer.timestamp = -1;
      partition_answer.offset = -1;
      partition_answer.leader_epoch = -1;
      const partition* located = found ? find_partition(*found, p.partition_index) : nullptr;
      error_code error = error_code::none;
      if (counts.at({t.name, p.partition_index}) > 1) {
        error = error_code::invalid_request;
      } else if (!list_offsets_timestamp_supported(p.timestamp, ctx.api_version)) {
        error = error_code::unsupported_version;
      } else if (!located || !located->log) {
        error = error_code::unknown_topic_or_partition;
      } else {
        const auto lookup = lookup_offset(*located->log, p.timestamp, isolation);
        error = lookup.error;
        if (error == error_code::none) {
          partition_answer.offset = lookup.offset;
          partition_answer.timestamp = lookup.timestamp;
        }
      }
      partition_answer.error_code = static_cast<std::int16_t>(error);
    }
  }
  if (!ctx.respond(answer, response)) {
    spdlog::error("closing connection from {}: cannot encode a ListOffsets v{} response", ctx.peer, ctx.api_version);
    ctx.close_connection = true;
  }
}

}  // namespace vltava::broker
