// The rebalance state machine: members added and removed, the join phase (with Kafka's initial delay for the first
// join to an empty group), its completion into a new generation, and member sessions. Every function here runs
// with the group's mutex held; answers and store writes are deferred until it is released.
#include <algorithm>

#include <spdlog/spdlog.h>

#include "deferred_actions.h"
#include "vltava/broker/group/group_coordinator.h"

namespace vltava::broker::group {

using protocol::error_code;

namespace {

protocol::join_group_response join_error(error_code error, const std::string& member_id) {
  protocol::join_group_response answer;
  answer.error_code = static_cast<std::int16_t>(error);
  answer.member_id = member_id;
  return answer;
}

}  // namespace

protocol::join_group_response group_coordinator::join_result(const group& g, const std::string& member_id,
                                                             bool with_members) const {
  protocol::join_group_response answer;
  answer.generation_id = g.generation;
  answer.protocol_type = g.protocol_type;
  answer.protocol_name = g.protocol_name.value_or("");
  answer.leader = g.leader.value_or("");
  answer.member_id = member_id;
  if (with_members && g.protocol_name) {
    for (const auto& [id, m] : g.members) {
      protocol::join_group_response::join_group_response_member entry;
      entry.member_id = id;
      entry.group_instance_id = m.group_instance_id;
      if (const auto* metadata = m.metadata_for(*g.protocol_name)) entry.metadata = *metadata;
      answer.members.push_back(std::move(entry));
    }
  }
  return answer;
}

void group_coordinator::add_member_and_rebalance(const std::shared_ptr<group>& g, group_member m,
                                                 deferred_actions& fx) {
  if (!g->leader || !g->members.contains(*g->leader)) g->leader = m.member_id;  // the first to join leads
  if (m.group_instance_id) g->static_members[*m.group_instance_id] = m.member_id;
  if (g->is(group_state::preparing_rebalance) && g->in_initial_delay) g->member_added_during_delay = true;
  const std::string id = m.member_id;
  auto& added = g->members.insert_or_assign(id, std::move(m)).first->second;
  schedule_session(g, added);
  if (g->is(group_state::preparing_rebalance)) {
    try_complete_join(g, fx);
  } else {
    prepare_rebalance(g, fx);
  }
}

void group_coordinator::schedule_join_timer(const std::shared_ptr<group>& g, std::int64_t delay_ms) {
  timers_.cancel(g->join_timer);
  const auto token = ++g->next_token;
  g->join_token = token;
  g->join_timer = timers_.schedule(delay_ms, [this, g, token] { on_join_timer(g, token); });
}

void group_coordinator::prepare_rebalance(const std::shared_ptr<group>& g, deferred_actions& fx) {
  if (g->is(group_state::completing_rebalance)) reset_and_fail_syncs(*g, error_code::rebalance_in_progress, fx);
  const bool first_join = g->is(group_state::empty);
  g->transition(group_state::preparing_rebalance, timers_.now_ms());
  const std::int64_t rebalance_timeout = g->rebalance_timeout_ms();
  if (first_join) {
    // Wait a little for more members before the first generation, so a group that starts all at once does not
    // rebalance once per member; each newcomer extends the wait, up to the rebalance timeout.
    const std::int64_t delay = settings_.initial_rebalance_delay_ms;
    g->in_initial_delay = true;
    g->member_added_during_delay = false;
    g->initial_delay_remaining_ms = std::max<std::int64_t>(rebalance_timeout - delay, 0);
    schedule_join_timer(g, delay);
    return;
  }
  g->in_initial_delay = false;
  schedule_join_timer(g, rebalance_timeout);
  try_complete_join(g, fx);
}

void group_coordinator::try_complete_join(const std::shared_ptr<group>& g, deferred_actions& fx) {
  if (g->is(group_state::preparing_rebalance) && !g->in_initial_delay && g->all_members_joined()) {
    complete_join(g, fx);
  }
}

void group_coordinator::on_join_timer(const std::shared_ptr<group>& g, std::uint64_t token) {
  if (stopped_) return;
  deferred_actions fx;
  std::lock_guard lock(g->mutex);
  if (g->join_token != token || !g->is(group_state::preparing_rebalance)) return;
  g->join_token = 0;
  g->join_timer = 0;
  if (g->in_initial_delay && g->member_added_during_delay && g->initial_delay_remaining_ms > 0) {
    const std::int64_t delay =
        std::min<std::int64_t>(settings_.initial_rebalance_delay_ms, g->initial_delay_remaining_ms);
    g->initial_delay_remaining_ms = std::max<std::int64_t>(g->initial_delay_remaining_ms - delay, 0);
    g->member_added_during_delay = false;
    schedule_join_timer(g, delay);
    return;
  }
  complete_join(g, fx);
}

void group_coordinator::complete_join(const std::shared_ptr<group>& g, deferred_actions& fx) {
  timers_.cancel(g->join_timer);
  g->join_timer = 0;
  g->join_token = 0;
  g->in_initial_delay = false;
  // Dynamic members that did not rejoin in time are gone; static ones stay (with their old subscription) until
  // their session times out, so a restarting static member keeps its partitions.
  for (auto it = g->members.begin(); it != g->members.end();) {
    if (!it->second.awaiting_join && !it->second.group_instance_id) {
      spdlog::info("group {}: member {} did not rejoin in time and was removed", g->id(), it->first);
      timers_.cancel(it->second.session_timer);
      it = g->members.erase(it);
    } else {
      ++it;
    }
  }
  const auto joined = [](const auto& entry) { return bool(entry.second.awaiting_join); };
  if (!g->leader || !g->members.contains(*g->leader) || !g->members.at(*g->leader).awaiting_join) {
    auto first = std::find_if(g->members.begin(), g->members.end(), joined);
    if (first != g->members.end()) {
      g->leader = first->first;
    } else if (!g->members.empty()) {
      // Only static members that have not rejoined: wait another rebalance timeout (their sessions end it).
      schedule_join_timer(g, g->rebalance_timeout_ms());
      return;
    } else {
      g->leader.reset();
    }
  }
  ++g->generation;
  const auto now = timers_.now_ms();
  if (g->members.empty()) {
    g->protocol_name.reset();
    g->transition(group_state::empty, now);
    store_group_metadata(g, fx);
    return;
  }
  g->protocol_name = g->select_protocol();
  if (!g->protocol_name) {
    // Cannot happen: every join is checked against the members' protocols. Fail the joins rather than loop.
    for (auto& [id, m] : g->members) {
      if (m.awaiting_join)
        fx.add([done = std::exchange(m.awaiting_join, nullptr),
                r = join_error(error_code::inconsistent_group_protocol, id)] { done(r); });
    }
    g->transition(group_state::completing_rebalance, now);
    return;
  }
  g->transition(group_state::completing_rebalance, now);
  for (auto& [id, m] : g->members) {
    m.assignment.clear();
    if (!m.awaiting_join) continue;
    fx.add([done = std::exchange(m.awaiting_join, nullptr), r = join_result(*g, id, id == *g->leader)] { done(r); });
    schedule_session(g, m);
  }
  spdlog::info("group {}: generation {} with {} members, protocol {}", g->id(), g->generation, g->members.size(),
               *g->protocol_name);
}

void group_coordinator::remove_member(const std::shared_ptr<group>& g, const std::string& member_id,
                                      deferred_actions& fx) {
  auto it = g->members.find(member_id);
  if (it == g->members.end()) return;
  auto& m = it->second;
  timers_.cancel(m.session_timer);
  if (m.awaiting_join) {
    fx.add([done = std::exchange(m.awaiting_join, nullptr), r = join_error(error_code::unknown_member_id, member_id)] {
      done(r);
    });
  }
  if (m.awaiting_sync) {
    protocol::sync_group_response r;
    r.error_code = static_cast<std::int16_t>(error_code::unknown_member_id);
    fx.add([done = std::exchange(m.awaiting_sync, nullptr), r] { done(r); });
  }
  if (m.group_instance_id) {
    auto mapped = g->static_members.find(*m.group_instance_id);
    if (mapped != g->static_members.end() && mapped->second == member_id) g->static_members.erase(mapped);
  }
  g->members.erase(it);
  if (g->leader == member_id) {
    g->leader.reset();
    if (!g->members.empty()) g->leader = g->members.begin()->first;
  }
  switch (g->state) {
    case group_state::stable:
    case group_state::completing_rebalance: prepare_rebalance(g, fx); break;
    case group_state::preparing_rebalance: try_complete_join(g, fx); break;
    case group_state::empty:
    case group_state::dead: break;
  }
}

void group_coordinator::schedule_session(const std::shared_ptr<group>& g, group_member& m) {
  timers_.cancel(m.session_timer);
  const auto token = ++g->next_token;
  m.session_token = token;
  m.session_timer =
      timers_.schedule(m.session_timeout_ms, [this, g, id = m.member_id, token] { on_session_timer(g, id, token); });
}

void group_coordinator::on_session_timer(const std::shared_ptr<group>& g, const std::string& member_id,
                                         std::uint64_t token) {
  if (stopped_) return;
  deferred_actions fx;
  std::lock_guard lock(g->mutex);
  auto it = g->members.find(member_id);
  if (it == g->members.end() || it->second.session_token != token || g->is(group_state::dead)) return;
  auto& m = it->second;
  m.session_timer = 0;
  // A member whose JoinGroup or SyncGroup is waiting on the group is alive: the wait is the group's, not its.
  if (m.awaiting_join || m.awaiting_sync) {
    schedule_session(g, m);
    return;
  }
  spdlog::info("group {}: member {} session timed out after {} ms", g->id(), member_id, m.session_timeout_ms);
  remove_member(g, member_id, fx);
}

void group_coordinator::schedule_pending_member(const std::shared_ptr<group>& g, const std::string& member_id,
                                                std::int32_t session_timeout_ms) {
  const auto token = ++g->next_token;
  auto& pending = g->pending_members[member_id];
  timers_.cancel(pending.timer);
  pending.token = token;
  pending.timer = timers_.schedule(session_timeout_ms,
                                   [this, g, member_id, token] { on_pending_member_timer(g, member_id, token); });
}

void group_coordinator::on_pending_member_timer(const std::shared_ptr<group>& g, const std::string& member_id,
                                                std::uint64_t token) {
  if (stopped_) return;
  deferred_actions fx;
  std::lock_guard lock(g->mutex);
  auto it = g->pending_members.find(member_id);
  if (it == g->pending_members.end() || it->second.token != token) return;
  g->pending_members.erase(it);
  try_complete_join(g, fx);
}

void group_coordinator::reset_and_fail_syncs(group& g, error_code error, deferred_actions& fx) {
  const bool completing = g.is(group_state::completing_rebalance);
  for (auto& [id, m] : g.members) {
    if (completing) m.assignment.clear();
    if (!m.awaiting_sync) continue;
    protocol::sync_group_response r;
    r.error_code = static_cast<std::int16_t>(error);
    fx.add([done = std::exchange(m.awaiting_sync, nullptr), r] { done(r); });
  }
}

void group_coordinator::store_group_metadata(const std::shared_ptr<group>& g, deferred_actions& fx) {
  fx.add([this, record = g->to_record()] {
    store_.store_group(record, [id = record.group_id, generation = record.generation](error_code error) {
      if (error != error_code::none) {
        spdlog::warn("group {}: storing generation {} failed: {}", id, generation, protocol::error_name(error));
      }
    });
  });
}

}  // namespace vltava::broker::group
