// DescribeGroups, ListGroups and DeleteGroups: what an admin client sees of the groups, and their removal.
#include <algorithm>
#include <cctype>

#include <spdlog/spdlog.h>

#include "deferred_actions.h"
#include "vltava/broker/group/group_coordinator.h"
#include "vltava/broker/group/store_errors.h"

namespace vltava::broker::group {

using protocol::error_code;

namespace {

// Kafka's AclOperation bits a group supports (READ 3, DELETE 6, DESCRIBE 8): no ACLs here, so every one is allowed.
constexpr std::int32_t group_operations = (1 << 3) | (1 << 6) | (1 << 8);

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

void group_coordinator::describe_groups(const protocol::describe_groups_request& request, std::int16_t version,
                                        completion<protocol::describe_groups_response> done) {
  protocol::describe_groups_response answer;
  for (const auto& group_id : request.groups) {
    auto& described = answer.groups.emplace_back();
    described.group_id = group_id;
    if (version >= 3 && request.include_authorized_operations) described.authorized_operations = group_operations;
    auto [error, g] = find_group(group_id, false);
    if (error != error_code::none) {
      described.error_code = static_cast<std::int16_t>(error);
      continue;
    }
    if (!g) {
      described.group_state = std::string(state_name(group_state::dead));
      continue;
    }
    std::lock_guard lock(g->mutex);
    described.group_state = std::string(state_name(g->state));
    described.protocol_type = g->protocol_type;
    // Kafka shows the protocol and the members' metadata and assignments only for a Stable group.
    const bool stable = g->is(group_state::stable);
    if (stable && g->protocol_name) described.protocol_data = *g->protocol_name;
    for (const auto& [id, m] : g->members) {
      auto& member = described.members.emplace_back();
      member.member_id = id;
      member.group_instance_id = m.group_instance_id;
      member.client_id = m.client_id;
      member.client_host = m.client_host;
      if (stable && g->protocol_name) {
        if (const auto* metadata = m.metadata_for(*g->protocol_name)) member.member_metadata = *metadata;
        member.member_assignment = m.assignment;
      }
    }
  }
  done(std::move(answer));
}

void group_coordinator::list_groups(const protocol::list_groups_request& request, std::int16_t version,
                                    completion<protocol::list_groups_response> done) {
  protocol::list_groups_response answer;
  {
    std::lock_guard lock(partitions_mutex_);
    if (stopped_) {
      answer.error_code = static_cast<std::int16_t>(error_code::coordinator_not_available);
    } else if (std::any_of(partitions_.begin(), partitions_.end(), [](const auto& p) { return p.second.loading; })) {
      answer.error_code = static_cast<std::int16_t>(error_code::coordinator_load_in_progress);
    }
  }
  const auto& filter = request.states_filter;
  for (const auto& g : loaded_groups()) {
    std::lock_guard lock(g->mutex);
    if (g->is(group_state::dead)) continue;
    const auto state = state_name(g->state);
    if (version >= 4 && !filter.empty() && std::none_of(filter.begin(), filter.end(), [&](const std::string& s) {
          return equal_ignoring_case(s, state);
        })) {
      continue;
    }
    auto& listed = answer.groups.emplace_back();
    listed.group_id = g->id();
    listed.protocol_type = g->protocol_type;
    listed.group_state = std::string(state);
    listed.group_type = "classic";
  }
  std::sort(answer.groups.begin(), answer.groups.end(),
            [](const auto& a, const auto& b) { return a.group_id < b.group_id; });
  done(std::move(answer));
}

void group_coordinator::delete_groups(const protocol::delete_groups_request& request, std::int16_t /*version*/,
                                      completion<protocol::delete_groups_response> done) {
  // Answered once every deletion's tombstones are stored.
  struct gathering {
    std::mutex mutex;
    protocol::delete_groups_response answer;
    std::size_t outstanding = 0;
    completion<protocol::delete_groups_response> done;
  };
  auto shared = std::make_shared<gathering>();
  shared->done = std::move(done);
  shared->outstanding = request.groups_names.size() + 1;  // +1: released after the loop
  const auto finish_one = [shared](std::size_t index, error_code error) {
    std::unique_lock lock(shared->mutex);
    if (index < shared->answer.results.size()) {
      shared->answer.results[index].error_code = static_cast<std::int16_t>(error);
    }
    if (--shared->outstanding != 0) return;
    auto answer = std::move(shared->answer);
    lock.unlock();
    shared->done(std::move(answer));
  };
  for (const auto& group_id : request.groups_names) shared->answer.results.emplace_back().group_id = group_id;

  for (std::size_t i = 0; i < request.groups_names.size(); ++i) {
    const auto& group_id = request.groups_names[i];
    auto [error, g] = find_group(group_id, false);
    if (error != error_code::none || !g) {
      finish_one(i, error != error_code::none ? error : error_code::group_id_not_found);
      continue;
    }
    std::vector<topic_partition> offsets;
    {
      std::lock_guard lock(g->mutex);
      if (g->is(group_state::dead)) {
        error = error_code::group_id_not_found;
      } else if (!g->is(group_state::empty) || !g->pending_members.empty()) {
        error = error_code::non_empty_group;
      } else {
        for (const auto& [tp, offset] : g->offsets) offsets.push_back(tp);
        g->offsets.clear();
        g->transition(group_state::dead, timers_.now_ms());
      }
    }
    if (error != error_code::none) {
      finish_one(i, error);
      continue;
    }
    forget_group(g);
    spdlog::info("group {} deleted", group_id);
    store_.delete_group(group_id, offsets,
                        [finish_one, i](error_code stored) { finish_one(i, group_error_from_store(stored)); });
  }
  finish_one(request.groups_names.size(), error_code::none);
}

}  // namespace vltava::broker::group
