// SyncGroup, Heartbeat and LeaveGroup: the requests of members already in a generation.
#include <spdlog/spdlog.h>

#include "deferred_actions.h"
#include "vltava/broker/group/group_coordinator.h"
#include "vltava/broker/group/store_errors.h"

namespace vltava::broker::group {

using protocol::error_code;

namespace {

// The checks SyncGroup and Heartbeat share, in Kafka's order. NONE when the member may proceed.
error_code check_member(const group& g, const std::string& member_id, const std::optional<std::string>& instance_id,
                        std::int32_t generation) {
  if (g.is(group_state::dead)) return error_code::coordinator_not_available;
  if (g.is_fenced(instance_id, member_id)) return error_code::fenced_instance_id;
  if (!g.has_member(member_id)) return error_code::unknown_member_id;
  if (generation != g.generation) return error_code::illegal_generation;
  return error_code::none;
}

}  // namespace

void group_coordinator::sync_group(protocol::sync_group_request request, std::int16_t version, sync_completion done) {
  deferred_actions fx;
  const auto fail = [&](error_code error) {
    protocol::sync_group_response answer;
    answer.error_code = static_cast<std::int16_t>(error);
    fx.add([done, answer] { done(answer); });
  };
  if (version < 3) request.group_instance_id.reset();
  if (request.group_id.empty()) return fail(error_code::invalid_group_id);
  auto [lookup_error, g] = find_group(request.group_id, false);
  if (lookup_error != error_code::none) return fail(lookup_error);
  if (!g) return fail(error_code::unknown_member_id);

  std::lock_guard lock(g->mutex);
  if (auto error = check_member(*g, request.member_id, request.group_instance_id, request.generation_id);
      error != error_code::none) {
    return fail(error);
  }
  if ((request.protocol_type && *request.protocol_type != g->protocol_type) ||
      (request.protocol_name && g->protocol_name != *request.protocol_name)) {
    return fail(error_code::inconsistent_group_protocol);
  }
  auto& m = g->members.at(request.member_id);
  switch (g->state) {
    case group_state::empty:
    case group_state::dead: return fail(error_code::unknown_member_id);
    case group_state::preparing_rebalance: return fail(error_code::rebalance_in_progress);
    case group_state::stable: {
      protocol::sync_group_response answer;
      answer.protocol_type = g->protocol_type;
      answer.protocol_name = g->protocol_name;
      answer.assignment = m.assignment;
      schedule_session(g, m);
      fx.add([done, answer] { done(answer); });
      return;
    }
    case group_state::completing_rebalance: break;
  }
  if (m.awaiting_sync) {
    protocol::sync_group_response superseded;
    superseded.error_code = static_cast<std::int16_t>(error_code::rebalance_in_progress);
    fx.add([old = std::exchange(m.awaiting_sync, nullptr), superseded] { old(superseded); });
  }
  m.awaiting_sync = std::move(done);
  schedule_session(g, m);
  if (g->leader != request.member_id) return;  // followers wait for the leader's assignment

  std::map<std::string, protocol::bytes> assignments;
  for (auto& a : request.assignments) {
    if (g->has_member(a.member_id)) assignments[a.member_id] = std::move(a.assignment);
  }
  auto record = g->to_record();
  for (auto& r : record.members) r.assignment = assignments[r.member_id];
  fx.add([this, g, record = std::move(record), generation = g->generation, assignments = std::move(assignments)] {
    store_.store_group(record, [this, g, generation, assignments](error_code error) {
      on_leader_sync_stored(g, generation, assignments, error);
    });
  });
}

void group_coordinator::on_leader_sync_stored(const std::shared_ptr<group>& g, std::int32_t generation,
                                              std::map<std::string, protocol::bytes> assignments, error_code error) {
  deferred_actions fx;
  std::lock_guard lock(g->mutex);
  // A member joined or left meanwhile: that rebalance already answered the waiting SyncGroups.
  if (!g->is(group_state::completing_rebalance) || g->generation != generation) return;
  if (error != error_code::none) {
    spdlog::warn("group {}: storing the assignment of generation {} failed: {}", g->id(), generation,
                 protocol::error_name(error));
    reset_and_fail_syncs(*g, group_error_from_store(error), fx);
    prepare_rebalance(g, fx);
    return;
  }
  for (auto& [id, m] : g->members) {
    auto it = assignments.find(id);
    m.assignment = it == assignments.end() ? protocol::bytes{} : std::move(it->second);
    if (!m.awaiting_sync) continue;
    protocol::sync_group_response answer;
    answer.protocol_type = g->protocol_type;
    answer.protocol_name = g->protocol_name;
    answer.assignment = m.assignment;
    fx.add([done = std::exchange(m.awaiting_sync, nullptr), answer] { done(answer); });
  }
  g->transition(group_state::stable, timers_.now_ms());
}

void group_coordinator::heartbeat(const protocol::heartbeat_request& request, std::int16_t version,
                                  completion<protocol::heartbeat_response> done) {
  deferred_actions fx;
  protocol::heartbeat_response answer;
  const auto reply = [&](error_code error) {
    answer.error_code = static_cast<std::int16_t>(error);
    fx.add([done, answer] { done(answer); });
  };
  const auto instance_id = version >= 3 ? request.group_instance_id : std::nullopt;
  if (request.group_id.empty()) return reply(error_code::invalid_group_id);
  auto [lookup_error, g] = find_group(request.group_id, false);
  if (lookup_error != error_code::none) return reply(lookup_error);
  if (!g) return reply(error_code::unknown_member_id);

  std::lock_guard lock(g->mutex);
  if (auto error = check_member(*g, request.member_id, instance_id, request.generation_id); error != error_code::none) {
    return reply(error);
  }
  auto& m = g->members.at(request.member_id);
  switch (g->state) {
    case group_state::empty:
    case group_state::dead: return reply(error_code::unknown_member_id);
    case group_state::preparing_rebalance: schedule_session(g, m); return reply(error_code::rebalance_in_progress);
    case group_state::completing_rebalance:
    case group_state::stable: schedule_session(g, m); return reply(error_code::none);
  }
}

void group_coordinator::leave_group(const protocol::leave_group_request& request, std::int16_t version,
                                    completion<protocol::leave_group_response> done) {
  deferred_actions fx;
  protocol::leave_group_response answer;
  const auto reply = [&] { fx.add([done, answer] { done(answer); }); };
  std::vector<protocol::leave_group_request::member_identity> leaving = request.members;
  if (version < 3) {
    leaving.clear();
    leaving.emplace_back().member_id = request.member_id;
  }
  const auto top_level = [&](error_code error) {
    answer.error_code = static_cast<std::int16_t>(error);
    reply();
  };
  if (request.group_id.empty()) return top_level(error_code::invalid_group_id);
  auto [lookup_error, g] = find_group(request.group_id, false);
  if (lookup_error != error_code::none) return top_level(lookup_error);

  std::unique_lock<std::mutex> lock;
  if (g) {
    lock = std::unique_lock(g->mutex);
    if (g->is(group_state::dead)) return top_level(error_code::coordinator_not_available);
  }
  for (const auto& identity : leaving) {
    auto& result = answer.members.emplace_back();
    result.member_id = identity.member_id;
    result.group_instance_id = identity.group_instance_id;
    error_code error = error_code::none;
    std::string member_id = identity.member_id;
    if (!g) {
      error = error_code::unknown_member_id;
    } else if (member_id.empty() && identity.group_instance_id) {
      // KIP-345: an admin removes a static member by its instance id alone.
      auto mapped = g->static_members.find(*identity.group_instance_id);
      if (mapped == g->static_members.end()) {
        error = error_code::unknown_member_id;
      } else {
        member_id = mapped->second;
      }
    } else if (g->is_fenced(identity.group_instance_id, member_id)) {
      error = error_code::fenced_instance_id;
    }
    if (error == error_code::none) {
      if (auto pending = g->pending_members.find(member_id); pending != g->pending_members.end()) {
        timers_.cancel(pending->second.timer);
        g->pending_members.erase(pending);
        try_complete_join(g, fx);
      } else if (!g->has_member(member_id)) {
        error = error_code::unknown_member_id;
      } else {
        spdlog::info("group {}: member {} left", g->id(), member_id);
        remove_member(g, member_id, fx);
      }
    }
    result.error_code = static_cast<std::int16_t>(error);
  }
  // Before v3 the one member's error is the answer's.
  if (version < 3) {
    answer.error_code = answer.members.front().error_code;
    answer.members.clear();
  }
  reply();
}

}  // namespace vltava::broker::group
