// DeleteTopics: by name (v0-5 topic_names; v6 topics with a name) or by topic id (v6), with the checks and messages
// of Kafka's ControllerApis.deleteTopics. Answers come in request order (Kafka shuffles them; clients match them by
// name or id).
#include <map>
#include <set>
#include <string>

#include <spdlog/spdlog.h>

#include "vltava/broker/broker_services.h"
#include "vltava/broker/handlers.h"
#include "vltava/broker/producer_state.h"

namespace vltava::broker {
namespace {

using protocol::error_code;
using result_topic = protocol::delete_topics_response::deletable_topic_result;

// Kafka's default messages for these codes.
constexpr std::string_view unknown_topic_message = "This server does not host this topic-partition.";
constexpr std::string_view unknown_topic_id_message = "This server does not host this topic ID.";

result_topic make_result(std::optional<std::string> name, const protocol::uuid& id, error_code error,
                         std::optional<std::string> message) {
  result_topic out;
  out.name = std::move(name);
  out.topic_id = id;
  out.error_code = static_cast<std::int16_t>(error);
  out.error_message = std::move(message);
  return out;
}

// One entry of the request: a name, or (v6) an id.
struct deletion {
  std::optional<std::string> name;
  protocol::uuid id;
};

}  // namespace

boost::asio::awaitable<void> handle_delete_topics(request_context& ctx, std::vector<std::uint8_t>& response) {
  const std::int16_t version = ctx.api_version;
  protocol::delete_topics_request request;
  if (auto ec = request.decode(ctx.body, version)) {
    spdlog::warn("{}: malformed DeleteTopics v{} request: {}", ctx.peer, version, ec.message());
    ctx.close_connection = true;
    co_return;
  }
  std::vector<deletion> entries;
  if (version >= 6) {
    for (const auto& t : request.topics) entries.push_back({t.name, t.topic_id});
  } else {
    for (const auto& name : request.topic_names) entries.push_back({name, {}});
  }

  protocol::delete_topics_response answer;
  // The names answered must be non-null before v6: an entry given by id alone is answered with its resolved name,
  // or an empty one.
  const auto answer_name = [&](std::optional<std::string> name) {
    return name || version >= 6 ? std::move(name) : std::optional<std::string>("");
  };

  if (!ctx.services.settings().delete_topic_enable) {
    // Before v3 Kafka refuses with INVALID_REQUEST, the code those clients know.
    const auto error = version < 3 ? error_code::invalid_request : error_code::topic_deletion_disabled;
    for (const auto& e : entries) {
      answer.responses.push_back(make_result(answer_name(e.name), e.id, error, "Topic deletion is disabled."));
    }
    if (!ctx.respond(answer, response)) spdlog::error("{}: cannot encode the DeleteTopics response", ctx.peer);
    co_return;
  }

  // Duplicates are refused once each, without deleting anything for them.
  std::map<std::string, int> name_count;
  std::map<protocol::uuid, int> id_count;
  for (const auto& e : entries) {
    if (e.name && e.id.is_zero()) ++name_count[*e.name];
    if (!e.name && !e.id.is_zero()) ++id_count[e.id];
  }
  // What each valid entry resolves to, to catch a name and an id naming the same topic (Kafka refuses the pair).
  std::map<protocol::uuid, int> resolved_count;
  for (const auto& e : entries) {
    std::shared_ptr<const topic> t;
    if (e.name && e.id.is_zero() && name_count[*e.name] == 1) t = ctx.services.topics().find(*e.name);
    if (!e.name && !e.id.is_zero() && id_count[e.id] == 1) t = ctx.services.topics().find(e.id);
    if (t) ++resolved_count[t->id];
  }

  std::set<std::string> duplicate_names_answered;
  std::set<protocol::uuid> duplicate_ids_answered;
  for (const auto& e : entries) {
    if (!e.name && e.id.is_zero()) {
      answer.responses.push_back(make_result(answer_name(std::nullopt), e.id, error_code::invalid_request,
                                             "Neither topic name nor id were specified."));
      continue;
    }
    if (e.name && !e.id.is_zero()) {
      answer.responses.push_back(
          make_result(e.name, e.id, error_code::invalid_request, "You may not specify both topic name and topic id."));
      continue;
    }
    if (e.name && name_count[*e.name] > 1) {
      if (duplicate_names_answered.insert(*e.name).second) {
        answer.responses.push_back(make_result(e.name, {}, error_code::invalid_request, "Duplicate topic name."));
      }
      continue;
    }
    if (!e.name && id_count[e.id] > 1) {
      if (duplicate_ids_answered.insert(e.id).second) {
        answer.responses.push_back(
            make_result(answer_name(std::nullopt), e.id, error_code::invalid_request, "Duplicate topic id."));
      }
      continue;
    }

    const auto found = e.name ? ctx.services.topics().find(*e.name) : ctx.services.topics().find(e.id);
    if (!found) {
      if (e.name) {
        answer.responses.push_back(
            make_result(e.name, {}, error_code::unknown_topic_or_partition, std::string(unknown_topic_message)));
      } else {
        answer.responses.push_back(make_result(answer_name(std::nullopt), e.id, error_code::unknown_topic_id,
                                               std::string(unknown_topic_id_message)));
      }
      continue;
    }
    if (resolved_count[found->id] > 1) {
      // Kafka answers the pair once, on the entry given by name.
      if (e.name) {
        answer.responses.push_back(make_result(e.name, found->id, error_code::invalid_request,
                                               "The provided topic name maps to an ID that was already supplied."));
      }
      continue;
    }
    const auto error = ctx.services.topics().remove(found->name);
    if (error != error_code::unknown_topic_or_partition) {
      for (const auto& p : found->partitions) ctx.services.producers().forget({found->name, p.index});
    }
    std::optional<std::string> message;
    if (error == error_code::unknown_topic_or_partition) {
      message = std::string(unknown_topic_message);  // deleted by another request meanwhile
    } else if (error == error_code::kafka_storage_error) {
      message = "The topic was deleted, but some of its log files could not be removed.";
    }
    if (error == error_code::none) spdlog::info("{}: deleted topic {}", ctx.peer, found->name);
    answer.responses.push_back(make_result(found->name, found->id, error, std::move(message)));
  }
  if (!ctx.respond(answer, response)) {
    spdlog::error("{}: cannot encode the DeleteTopics v{} response", ctx.peer, version);
  }
  co_return;
}

}  // namespace vltava::broker
