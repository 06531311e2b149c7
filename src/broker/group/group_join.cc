// JoinGroup: checks, then one of three paths: a new member (with the MEMBER_ID_REQUIRED round trip from v4, a new
// id for a static member), a static member coming back under a new id, or a known member rejoining.
#include <spdlog/spdlog.h>

#include "deferred_actions.h"
#include "vltava/broker/group/group_coordinator.h"
#include "vltava/broker/group/store_errors.h"

namespace vltava::broker::group {

using protocol::error_code;

namespace {

std::vector<member_protocol> protocols_of(const protocol::join_group_request& request) {
  std::vector<member_protocol> out;
  for (const auto& p : request.protocols) out.push_back({p.name, p.metadata});
  return out;
}

group_member member_from(const protocol::join_group_request& request, const std::string& member_id,
                         const client_info& client) {
  group_member m;
  m.member_id = member_id;
  m.group_instance_id = request.group_instance_id;
  m.client_id = client.client_id;
  m.client_host = client.client_host;
  m.session_timeout_ms = request.session_timeout_ms;
  m.rebalance_timeout_ms = request.rebalance_timeout_ms;
  m.protocols = protocols_of(request);
  return m;
}

void update_member(group_member& m, const protocol::join_group_request& request, const client_info& client) {
  m.client_id = client.client_id;
  m.client_host = client.client_host;
  m.session_timeout_ms = request.session_timeout_ms;
  m.rebalance_timeout_ms = request.rebalance_timeout_ms;
  m.protocols = protocols_of(request);
}

// group.max.size: a new member is refused once the group (or, during a rebalance, the set of members that have
// rejoined) is full; members already in the group may always rejoin.
bool accepts_member(const group& g, const std::string& member_id, std::int32_t max_size) {
  if (g.is(group_state::empty) || g.is(group_state::dead) || g.has_member(member_id)) return true;
  const std::size_t limit = static_cast<std::size_t>(std::max(max_size, 0));
  if (g.is(group_state::preparing_rebalance)) return g.awaiting_join_count() < limit;
  return g.members.size() < limit;
}

}  // namespace

void group_coordinator::join_group(protocol::join_group_request request, std::int16_t version, client_info client,
                                   join_completion done) {
  deferred_actions fx;
  const auto fail = [&](error_code error) {
    protocol::join_group_response answer;
    answer.error_code = static_cast<std::int16_t>(error);
    answer.member_id = request.member_id;
    fx.add([done, answer] { done(answer); });
  };
  if (version < 1) request.rebalance_timeout_ms = request.session_timeout_ms;
  if (version < 5) request.group_instance_id.reset();
  if (request.group_id.empty()) return fail(error_code::invalid_group_id);
  if (request.session_timeout_ms < settings_.min_session_timeout_ms ||
      request.session_timeout_ms > settings_.max_session_timeout_ms) {
    return fail(error_code::invalid_session_timeout);
  }
  const bool unknown_member = request.member_id.empty();
  auto [lookup_error, g] = find_group(request.group_id, unknown_member);
  if (lookup_error != error_code::none) return fail(lookup_error);
  if (!g) return fail(error_code::unknown_member_id);

  std::lock_guard lock(g->mutex);
  if (g->is(group_state::dead)) return fail(error_code::coordinator_not_available);
  if (!accepts_member(*g, request.member_id, settings_.max_size)) return fail(error_code::group_max_size_reached);
  const auto protocols = protocols_of(request);
  // A known member rejoining is compared with the others only (its own old protocols do not vote).
  if (!g->supports(request.protocol_type, protocols)) {
    const bool sole_member = g->members.size() == 1 && g->has_member(request.member_id) &&
                             g->protocol_type == request.protocol_type && !protocols.empty();
    if (!sole_member) return fail(error_code::inconsistent_group_protocol);
  }
  if (unknown_member) {
    join_new_member(g, request, version, client, done, fx);
  } else {
    join_known_member(g, request, client, done, fx);
  }
}

void group_coordinator::join_new_member(const std::shared_ptr<group>& g, protocol::join_group_request& request,
                                        std::int16_t version, const client_info& client, join_completion& done,
                                        deferred_actions& fx) {
  if (request.group_instance_id) {
    if (g->static_members.contains(*request.group_instance_id)) {
      join_static_replacement(g, request, client, done, fx);
      return;
    }
    auto m = member_from(request, new_member_id(*request.group_instance_id), client);
    m.awaiting_join = std::move(done);
    if (g->members.empty()) g->protocol_type = request.protocol_type;
    add_member_and_rebalance(g, std::move(m), fx);
    return;
  }
  const std::string member_id = new_member_id(client.client_id);
  if (version >= 4) {
    // KIP-394: the member learns its id first and joins with it, so a client that times out and retries cannot
    // leave orphan members behind. The id is pending for one session timeout.
    schedule_pending_member(g, member_id, request.session_timeout_ms);
    protocol::join_group_response answer;
    answer.error_code = static_cast<std::int16_t>(error_code::member_id_required);
    answer.member_id = member_id;
    fx.add([done, answer] { done(answer); });
    return;
  }
  auto m = member_from(request, member_id, client);
  m.awaiting_join = std::move(done);
  if (g->members.empty()) g->protocol_type = request.protocol_type;
  add_member_and_rebalance(g, std::move(m), fx);
}

void group_coordinator::join_static_replacement(const std::shared_ptr<group>& g, protocol::join_group_request& request,
                                                const client_info& client, join_completion& done,
                                                deferred_actions& fx) {
  const std::string& instance_id = *request.group_instance_id;
  const std::string old_id = g->static_members.at(instance_id);
  const std::string new_id = new_member_id(instance_id);
  auto node = g->members.extract(old_id);
  group_member m = std::move(node.mapped());
  // The old incarnation's waiting requests are answered: it has been replaced.
  if (m.awaiting_join) {
    protocol::join_group_response answer;
    answer.error_code = static_cast<std::int16_t>(error_code::fenced_instance_id);
    answer.member_id = old_id;
    fx.add([old = std::exchange(m.awaiting_join, nullptr), answer] { old(answer); });
  }
  if (m.awaiting_sync) {
    protocol::sync_group_response answer;
    answer.error_code = static_cast<std::int16_t>(error_code::fenced_instance_id);
    fx.add([old = std::exchange(m.awaiting_sync, nullptr), answer] { old(answer); });
  }
  timers_.cancel(m.session_timer);
  const bool protocols_changed = m.protocols != protocols_of(request);
  m.member_id = new_id;
  update_member(m, request, client);
  g->static_members[instance_id] = new_id;
  if (g->leader == old_id) g->leader = new_id;
  auto& placed = g->members.insert_or_assign(new_id, std::move(m)).first->second;
  spdlog::info("group {}: static member {} rejoined as {} (was {})", g->id(), instance_id, new_id, old_id);

  if (g->is(group_state::stable) && !protocols_changed) {
    // KIP-345: same subscription, so no rebalance: the member gets the current generation and its old assignment
    // (through SyncGroup), once the new member id is stored.
    schedule_session(g, placed);
    auto answer = join_result(*g, new_id, g->leader == new_id);
    fx.add([this, record = g->to_record(), answer, done = std::move(done)]() mutable {
      store_.store_group(record, [answer, done = std::move(done)](error_code error) mutable {
        if (error != error_code::none) {
          protocol::join_group_response failed;
          failed.error_code = static_cast<std::int16_t>(group_error_from_store(error));
          failed.member_id = answer.member_id;
          done(failed);
          return;
        }
        done(answer);
      });
    });
    return;
  }
  placed.awaiting_join = std::move(done);
  schedule_session(g, placed);
  if (g->is(group_state::preparing_rebalance)) {
    try_complete_join(g, fx);
  } else {
    prepare_rebalance(g, fx);
  }
}

void group_coordinator::join_known_member(const std::shared_ptr<group>& g, protocol::join_group_request& request,
                                          const client_info& client, join_completion& done, deferred_actions& fx) {
  const auto fail = [&](error_code error) {
    protocol::join_group_response answer;
    answer.error_code = static_cast<std::int16_t>(error);
    answer.member_id = request.member_id;
    fx.add([done, answer] { done(answer); });
  };
  const std::string& member_id = request.member_id;
  if (g->is_fenced(request.group_instance_id, member_id)) return fail(error_code::fenced_instance_id);
  if (auto pending = g->pending_members.find(member_id); pending != g->pending_members.end()) {
    timers_.cancel(pending->second.timer);
    g->pending_members.erase(pending);
    auto m = member_from(request, member_id, client);
    m.awaiting_join = std::move(done);
    if (g->members.empty()) g->protocol_type = request.protocol_type;
    add_member_and_rebalance(g, std::move(m), fx);
    return;
  }
  if (!g->has_member(member_id)) return fail(error_code::unknown_member_id);
  auto& m = g->members.at(member_id);
  const bool same_protocols = m.protocols == protocols_of(request);
  switch (g->state) {
    case group_state::empty:
    case group_state::dead: return fail(error_code::unknown_member_id);
    case group_state::preparing_rebalance:
      update_member(m, request, client);
      if (m.awaiting_join) {
        // The same member's earlier JoinGroup (on another connection) is superseded by this one.
        fx.add([old = std::exchange(m.awaiting_join, nullptr), r = join_result(*g, member_id, false)]() mutable {
          r.error_code = static_cast<std::int16_t>(error_code::rebalance_in_progress);
          old(r);
        });
      }
      m.awaiting_join = std::move(done);
      try_complete_join(g, fx);
      return;
    case group_state::completing_rebalance:
      if (same_protocols) {
        // The answer to its first JoinGroup was lost: the same answer again.
        fx.add([done, r = join_result(*g, member_id, g->leader == member_id)] { done(r); });
        return;
      }
      break;
    case group_state::stable:
      if (same_protocols && g->leader != member_id) {
        fx.add([done, r = join_result(*g, member_id, false)] { done(r); });
        return;
      }
      break;
  }
  // New protocols (or the leader asking for a rebalance): a new generation.
  update_member(m, request, client);
  m.awaiting_join = std::move(done);
  prepare_rebalance(g, fx);
}

}  // namespace vltava::broker::group
