// The group coordinator's state machine with a fake clock and a recording store: every state transition and the
// error codes of JoinGroup, SyncGroup, Heartbeat and LeaveGroup, the initial rebalance delay, session and rebalance
// timeouts, MEMBER_ID_REQUIRED, protocol selection, group.max.size and static membership.
#include <gtest/gtest.h>

#include "group_coordinator_fixture.h"

namespace vltava::broker::group::testing {
namespace {

using protocol::error_code;

TEST_F(group_coordinator_test, FirstJoinWaitsForTheInitialDelayThenCompletes) {
  auto a = join("g", "", 3);
  timers.advance(2999);
  EXPECT_FALSE(a->has_value());
  EXPECT_EQ(state_of("g"), "PreparingRebalance");
  timers.advance(1);
  ASSERT_TRUE(a->has_value());
  EXPECT_EQ(err(**a), error_code::none);
  EXPECT_EQ((*a)->generation_id, 1);
  EXPECT_EQ((*a)->leader, (*a)->member_id);
  EXPECT_EQ((*a)->protocol_name, "range");
  ASSERT_EQ((*a)->members.size(), 1u);
  EXPECT_EQ(state_of("g"), "CompletingRebalance");
}

TEST_F(group_coordinator_test, InitialDelayIsExtendedWhileMembersArriveUpToTheRebalanceTimeout) {
  auto a = join("g", "", 3);  // rebalance timeout 10 s, delay 3 s: at most 3 + 3 + 3 + 1
  timers.advance(2000);
  auto b = join("g", "", 3);
  timers.advance(1000);  // t=3000: B arrived during the delay, so the delay goes on
  EXPECT_FALSE(a->has_value());
  timers.advance(2000);
  auto c = join("g", "", 3);
  timers.advance(1000);  // t=6000: extended again
  EXPECT_FALSE(a->has_value());
  timers.advance(2999);  // t=8999
  EXPECT_FALSE(a->has_value());
  timers.advance(1);  // t=9000: nobody new during the last delay
  ASSERT_TRUE(a->has_value() && b->has_value() && c->has_value());
  EXPECT_EQ((*a)->generation_id, 1);
  EXPECT_EQ((*b)->generation_id, 1);
  EXPECT_EQ((*c)->generation_id, 1);
  // The first member leads and alone receives the members.
  EXPECT_EQ((*a)->members.size(), 3u);
  EXPECT_TRUE((*b)->members.empty());
  EXPECT_EQ((*b)->leader, (*a)->member_id);
}

TEST_F(group_coordinator_test, InitialDelayNeverExceedsTheRebalanceTimeout) {
  auto a = join("g", "", 3);
  for (int i = 0; i < 10; ++i) {
    timers.advance(1000);
    join("g", "", 3);
  }
  EXPECT_TRUE(a->has_value());
  EXPECT_LE(timers.now_ms() - start_ms, 10'000);
}

TEST_F(group_coordinator_test, MemberIdRequiredRoundTripFromVersion4) {
  auto first = join("g", "", 4);
  ASSERT_TRUE(first->has_value());
  EXPECT_EQ(err(**first), error_code::member_id_required);
  const std::string id = (*first)->member_id;
  EXPECT_FALSE(id.empty());
  EXPECT_EQ(state_of("g"), "Empty");  // a pending id is no member yet
  auto second = join("g", id, 4);
  timers.advance(3000);
  ASSERT_TRUE(second->has_value());
  EXPECT_EQ(err(**second), error_code::none);
  EXPECT_EQ((*second)->member_id, id);
}

TEST_F(group_coordinator_test, UnknownMemberIdOnJoinAndForUnknownGroups) {
  EXPECT_EQ(err(**join("nogroup", "ghost", 4)), error_code::unknown_member_id);
  auto a = stable_group("g", 1);
  EXPECT_EQ(err(**join("g", "ghost", 4)), error_code::unknown_member_id);
}

TEST_F(group_coordinator_test, JoinChecksGroupIdAndSessionTimeout) {
  EXPECT_EQ(err(**join("", "", 4)), error_code::invalid_group_id);
  EXPECT_EQ(err(**join("g", "", 4, std::nullopt, {{"range", {1}}}, 5999)), error_code::invalid_session_timeout);
  EXPECT_EQ(err(**join("g", "", 4, std::nullopt, {{"range", {1}}}, 300'001)), error_code::invalid_session_timeout);
}

TEST_F(group_coordinator_test, ProtocolSelectionByMembersVotesAmongCommonProtocols) {
  auto a = join("g", "", 3, std::nullopt, {{"range", {1}}, {"roundrobin", {2}}, {"sticky", {3}}});
  auto b = join("g", "", 3, std::nullopt, {{"roundrobin", {2}}, {"range", {1}}});
  auto c = join("g", "", 3, std::nullopt, {{"sticky", {3}}, {"roundrobin", {2}}});
  timers.advance(10'000);
  ASSERT_TRUE(a->has_value());
  // Common: range? no (C lacks it); roundrobin: yes; sticky: no (B lacks it). So roundrobin.
  EXPECT_EQ((*a)->protocol_name, "roundrobin");
  // Everyone's metadata for the chosen protocol goes to the leader.
  for (const auto& m : (*a)->members) EXPECT_EQ(m.metadata, protocol::bytes{2});
}

TEST_F(group_coordinator_test, VotesDecideBetweenCommonProtocols) {
  auto a = join("g", "", 3, std::nullopt, {{"range", {1}}, {"roundrobin", {2}}});
  auto b = join("g", "", 3, std::nullopt, {{"roundrobin", {2}}, {"range", {1}}});
  auto c = join("g", "", 3, std::nullopt, {{"roundrobin", {2}}, {"range", {1}}});
  timers.advance(10'000);
  EXPECT_EQ((*a)->protocol_name, "roundrobin");
}

TEST_F(group_coordinator_test, InconsistentGroupProtocol) {
  auto a = stable_group("g", 1);
  EXPECT_EQ(err(**join("g", "", 3, std::nullopt, {{"sticky", {3}}})), error_code::inconsistent_group_protocol);
  EXPECT_EQ(err(**join("g", "", 3, std::nullopt, {{"range", {1}}}, 10'000, "connect")),
            error_code::inconsistent_group_protocol);
  EXPECT_EQ(err(**join("h", "", 3, std::nullopt, {})), error_code::inconsistent_group_protocol);
}

TEST_F(group_coordinator_test, GroupMaxSizeReached) {
  settings.max_size = 2;
  rebuild();
  auto a = join("g", "", 3);
  auto b = join("g", "", 3);
  auto c = join("g", "", 3);
  ASSERT_TRUE(c->has_value());
  EXPECT_EQ(err(**c), error_code::group_max_size_reached);
  timers.advance(10'000);
  EXPECT_EQ((*a)->members.size(), 2u);
  EXPECT_EQ(err(**join("g", "", 3)), error_code::group_max_size_reached);
}

TEST_F(group_coordinator_test, SyncDistributesTheLeadersAssignmentAndFollowersWaitForIt) {
  auto a = join("g", "", 3);
  auto b = join("g", "", 3);
  timers.advance(10'000);
  const auto leader = (*a)->member_id, follower = (*b)->member_id;
  auto fs = sync("g", 1, follower, {});
  EXPECT_FALSE(fs->has_value());
  EXPECT_EQ(store.count("group"), 0u);
  auto ls = sync("g", 1, leader, {{leader, {0xA}}, {follower, {0xB}}});
  ASSERT_TRUE(fs->has_value() && ls->has_value());
  EXPECT_EQ((*ls)->assignment, protocol::bytes{0xA});
  EXPECT_EQ((*fs)->assignment, protocol::bytes{0xB});
  EXPECT_EQ(state_of("g"), "Stable");
  ASSERT_EQ(store.count("group"), 1u);
  const auto& record = *store.calls.back().group;
  EXPECT_EQ(record.generation, 1);
  EXPECT_EQ(record.members.size(), 2u);
  // A late SyncGroup in Stable gets the member's assignment at once.
  auto again = sync("g", 1, follower, {});
  ASSERT_TRUE(again->has_value());
  EXPECT_EQ((*again)->assignment, protocol::bytes{0xB});
}

TEST_F(group_coordinator_test, SyncAnswersOnlyAfterTheStoreAndFailsOnStoreErrors) {
  auto a = join("g", "", 3);
  timers.advance(3000);
  store.hold = true;
  auto s = sync("g", 1, (*a)->member_id, {{(*a)->member_id, {1}}});
  EXPECT_FALSE(s->has_value());
  EXPECT_EQ(state_of("g"), "CompletingRebalance");
  store.release();
  ASSERT_TRUE(s->has_value());
  EXPECT_EQ(err(**s), error_code::none);

  // A failed store: the waiting SyncGroups get its error and the group rebalances.
  auto r = join("g", (*a)->member_id, 3);  // the leader rejoins: new generation
  ASSERT_TRUE(r->has_value());
  store.hold = false;
  store.fail_with = error_code::not_coordinator;
  auto s2 = sync("g", 2, (*a)->member_id, {{(*a)->member_id, {1}}});
  ASSERT_TRUE(s2->has_value());
  EXPECT_EQ(err(**s2), error_code::not_coordinator);
  EXPECT_EQ(state_of("g"), "PreparingRebalance");
}

TEST_F(group_coordinator_test, SyncErrors) {
  auto [leader, follower] = stable_pair("g");
  EXPECT_EQ(err(**sync("", 1, leader, {})), error_code::invalid_group_id);
  EXPECT_EQ(err(**sync("nogroup", 1, leader, {})), error_code::unknown_member_id);
  EXPECT_EQ(err(**sync("g", 1, "ghost", {})), error_code::unknown_member_id);
  EXPECT_EQ(err(**sync("g", 7, leader, {})), error_code::illegal_generation);
  EXPECT_EQ(err(**sync("g", 1, leader, {}, 5, "connect")), error_code::inconsistent_group_protocol);
  EXPECT_EQ(err(**sync("g", 1, leader, {}, 5, "consumer", "roundrobin")), error_code::inconsistent_group_protocol);
  EXPECT_EQ(err(**sync("g", 1, leader, {}, 5, "consumer", "range")), error_code::none);
  auto rejoin = join("g", leader, 3);  // leader rejoins: PreparingRebalance
  EXPECT_EQ(err(**sync("g", 1, follower, {})), error_code::rebalance_in_progress);
}

TEST_F(group_coordinator_test, HeartbeatErrorsByState) {
  auto a = join("g", "", 3);
  auto b = join("g", "", 3);
  timers.advance(10'000);
  const auto leader = (*a)->member_id, follower = (*b)->member_id;
  EXPECT_EQ(heartbeat("g", 1, follower), error_code::none);  // CompletingRebalance
  sync("g", 1, follower, {});
  sync("g", 1, leader, {{leader, {1}}, {follower, {2}}});
  EXPECT_EQ(heartbeat("g", 1, follower), error_code::none);  // Stable
  EXPECT_EQ(heartbeat("g", 2, follower), error_code::illegal_generation);
  EXPECT_EQ(heartbeat("g", 1, "ghost"), error_code::unknown_member_id);
  EXPECT_EQ(heartbeat("nogroup", 1, follower), error_code::unknown_member_id);
  EXPECT_EQ(heartbeat("", 1, follower), error_code::invalid_group_id);
  auto rejoin = join("g", leader, 3);
  EXPECT_EQ(heartbeat("g", 1, follower), error_code::rebalance_in_progress);  // PreparingRebalance
}

TEST_F(group_coordinator_test, SessionTimeoutRemovesASilentMemberAndRebalances) {
  auto [leader, follower] = stable_pair("g");
  // The leader heartbeats, the follower stays silent (its session: 10 s from its SyncGroup).
  for (int i = 0; i < 3; ++i) {
    timers.advance(3000);
    EXPECT_EQ(heartbeat("g", 1, leader), error_code::none);
  }
  timers.advance(2000);
  // The follower is gone; the leader learns of the rebalance from its heartbeat.
  EXPECT_EQ(heartbeat("g", 1, leader), error_code::rebalance_in_progress);
  EXPECT_EQ(heartbeat("g", 1, follower), error_code::unknown_member_id);
  auto r = join("g", leader, 3);
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ((*r)->generation_id, 2);
  EXPECT_EQ((*r)->members.size(), 1u);
}

TEST_F(group_coordinator_test, HeartbeatsKeepAMemberForever) {
  auto [leader, follower] = stable_pair("g");
  for (int i = 0; i < 100; ++i) {
    timers.advance(5000);
    ASSERT_EQ(heartbeat("g", 1, leader), error_code::none);
    ASSERT_EQ(heartbeat("g", 1, follower), error_code::none);
  }
  EXPECT_EQ(state_of("g"), "Stable");
}

TEST_F(group_coordinator_test, RebalanceTimeoutRemovesMembersThatDoNotRejoin) {
  auto [leader, follower] = stable_pair("g");
  auto r = join("g", leader, 3);  // rebalance timeout 10 s; the follower keeps heartbeating but never rejoins
  for (int i = 0; i < 3; ++i) {
    timers.advance(3000);
    EXPECT_EQ(heartbeat("g", 1, follower), error_code::rebalance_in_progress);
  }
  EXPECT_FALSE(r->has_value());
  timers.advance(1000);  // t=10s
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ((*r)->generation_id, 2);
  EXPECT_EQ((*r)->members.size(), 1u);
  EXPECT_EQ(heartbeat("g", 2, follower), error_code::unknown_member_id);
}

TEST_F(group_coordinator_test, JoinCompletesAsSoonAsEveryMemberRejoined) {
  auto [leader, follower] = stable_pair("g");
  auto r1 = join("g", leader, 3);
  EXPECT_FALSE(r1->has_value());
  auto r2 = join("g", follower, 3);
  ASSERT_TRUE(r1->has_value() && r2->has_value());
  EXPECT_EQ((*r1)->generation_id, 2);
  EXPECT_EQ((*r2)->generation_id, 2);
}

TEST_F(group_coordinator_test, PendingMemberIdDelaysTheJoinUntilItJoinsOrExpires) {
  auto [leader, follower] = stable_pair("g");
  auto r1 = join("g", leader, 4);
  auto pending = join("g", "", 4, std::nullopt, {{"range", {1}}}, 6000);
  EXPECT_EQ(err(**pending), error_code::member_id_required);
  auto r2 = join("g", follower, 4);
  EXPECT_FALSE(r1->has_value());  // waits for the pending member (session 6 s; the rebalance timeout is 10 s)
  timers.advance(5999);
  EXPECT_FALSE(r1->has_value());
  timers.advance(1);
  ASSERT_TRUE(r1->has_value());
  EXPECT_EQ((*r1)->members.size(), 2u);
  EXPECT_EQ(err(**join("g", (*pending)->member_id, 4)), error_code::unknown_member_id);
}

TEST_F(group_coordinator_test, JoinDuringCompletingRebalanceFailsTheWaitingSyncs) {
  auto a = join("g", "", 3);
  auto b = join("g", "", 3);
  timers.advance(10'000);
  auto fs = sync("g", 1, (*b)->member_id, {});
  auto c = join("g", "", 3);  // new member: rebalance
  ASSERT_TRUE(fs->has_value());
  EXPECT_EQ(err(**fs), error_code::rebalance_in_progress);
  EXPECT_EQ(state_of("g"), "PreparingRebalance");
  join("g", (*a)->member_id, 3);
  join("g", (*b)->member_id, 3);
  ASSERT_TRUE(c->has_value());
  EXPECT_EQ((*c)->generation_id, 2);
}

TEST_F(group_coordinator_test, KnownMemberRejoinWithSameProtocolsInStableGetsTheCurrentGeneration) {
  auto [leader, follower] = stable_pair("g");
  auto r = join("g", follower, 3);
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ((*r)->generation_id, 1);
  EXPECT_EQ(state_of("g"), "Stable");
  auto changed = join("g", follower, 3, std::nullopt, {{"range", {9}}});  // new subscription: rebalance
  EXPECT_FALSE(changed->has_value());
  EXPECT_EQ(state_of("g"), "PreparingRebalance");
}

TEST_F(group_coordinator_test, LeaveRebalancesAndTheLastLeaveEmptiesTheGroup) {
  auto [leader, follower] = stable_pair("g");
  EXPECT_EQ(leave_v0("g", follower), error_code::none);
  EXPECT_EQ(state_of("g"), "PreparingRebalance");
  EXPECT_EQ(leave_v0("g", follower), error_code::unknown_member_id);
  auto r = join("g", leader, 3);
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ((*r)->generation_id, 2);
  EXPECT_EQ((*r)->leader, leader);
  sync("g", 2, leader, {{leader, {1}}});
  EXPECT_EQ(leave_v0("g", leader), error_code::none);
  EXPECT_EQ(state_of("g"), "Empty");
  ASSERT_FALSE(store.calls.empty());
  EXPECT_EQ(store.calls.back().kind, "group");
  EXPECT_TRUE(store.calls.back().group->members.empty());
  EXPECT_EQ(store.calls.back().group->generation, 3);
}

TEST_F(group_coordinator_test, BatchedLeaveAnswersPerMember) {
  auto [leader, follower] = stable_pair("g");
  protocol::leave_group_request request;
  request.group_id = "g";
  request.members.emplace_back().member_id = leader;
  request.members.emplace_back().member_id = "ghost";
  auto& by_instance = request.members.emplace_back();
  by_instance.group_instance_id = "unknown-instance";
  auto answer =
      run<protocol::leave_group_response>([&](auto done) { coordinator->leave_group(request, 4, std::move(done)); });
  EXPECT_EQ(answer.error_code, 0);
  ASSERT_EQ(answer.members.size(), 3u);
  EXPECT_EQ(answer.members[0].error_code, 0);
  EXPECT_EQ(answer.members[1].error_code, static_cast<std::int16_t>(error_code::unknown_member_id));
  EXPECT_EQ(answer.members[2].error_code, static_cast<std::int16_t>(error_code::unknown_member_id));
  EXPECT_EQ(leave_v0("nogroup", leader), error_code::unknown_member_id);
  EXPECT_EQ(leave_v0("", leader), error_code::invalid_group_id);
}

TEST_F(group_coordinator_test, LeaveOfAWaitingMemberCompletesTheJoin) {
  auto [leader, follower] = stable_pair("g");
  auto r = join("g", leader, 3);
  EXPECT_FALSE(r->has_value());
  EXPECT_EQ(leave_v0("g", follower), error_code::none);
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ((*r)->members.size(), 1u);
}

TEST_F(group_coordinator_test, LeaderLeavingHandsLeadershipToARejoinedMember) {
  auto [leader, follower] = stable_pair("g");
  EXPECT_EQ(leave_v0("g", leader), error_code::none);
  auto r = join("g", follower, 3);
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ((*r)->leader, follower);
  EXPECT_EQ((*r)->members.size(), 1u);
}

// ---- static membership ----

TEST_F(group_coordinator_test, StaticMemberRejoinGetsItsAssignmentBackWithoutRebalance) {
  auto a = join("g", "", 5, "instance-a");
  auto b = join("g", "", 5, "instance-b");
  timers.advance(10'000);
  const auto a_id = (*a)->member_id, b_id = (*b)->member_id;
  EXPECT_EQ(a_id.rfind("instance-a-", 0), 0u);
  sync("g", 1, b_id, {});
  sync("g", 1, a_id, {{a_id, {0xA}}, {b_id, {0xB}}});
  ASSERT_EQ(state_of("g"), "Stable");
  const auto stored = store.count("group");

  auto again = join("g", "", 5, "instance-b");  // b restarts: same instance id, no member id
  ASSERT_TRUE(again->has_value());
  EXPECT_EQ(err(**again), error_code::none);
  EXPECT_NE((*again)->member_id, b_id);
  EXPECT_EQ((*again)->generation_id, 1);
  EXPECT_EQ(state_of("g"), "Stable");
  EXPECT_EQ(store.count("group"), stored + 1);  // the new member id is stored
  auto s = sync("g", 1, (*again)->member_id, {});
  EXPECT_EQ((*s)->assignment, protocol::bytes{0xB});
  EXPECT_EQ(heartbeat("g", 1, a_id), error_code::none);  // no rebalance for the other member
  // The old incarnation is fenced.
  EXPECT_EQ(heartbeat("g", 1, b_id, "instance-b"), error_code::fenced_instance_id);
  EXPECT_EQ(err(**sync("g", 1, b_id, {}, 3, std::nullopt, std::nullopt, "instance-b")), error_code::fenced_instance_id);
  EXPECT_EQ(err(**join("g", b_id, 5, "instance-b")), error_code::fenced_instance_id);
  EXPECT_EQ(commit("g", 1, b_id, "t", 0, 5, 7, "instance-b"), error_code::fenced_instance_id);
}

TEST_F(group_coordinator_test, StaticMemberRejoinWithNewProtocolsRebalances) {
  auto a = join("g", "", 5, "instance-a");
  auto b = join("g", "", 5, "instance-b");
  timers.advance(10'000);
  sync("g", 1, (*b)->member_id, {});
  sync("g", 1, (*a)->member_id, {});
  auto again = join("g", "", 5, "instance-b", {{"range", {7}}});
  EXPECT_FALSE(again->has_value());
  EXPECT_EQ(state_of("g"), "PreparingRebalance");
  join("g", (*a)->member_id, 5, "instance-a");
  ASSERT_TRUE(again->has_value());
  EXPECT_EQ((*again)->generation_id, 2);
}

TEST_F(group_coordinator_test, StaticMemberReplacedWhileWaitingIsFenced) {
  auto a = join("g", "", 5, "instance-a");
  auto b = join("g", "", 5, "instance-b");
  timers.advance(10'000);
  const auto a_id = (*a)->member_id, b_id = (*b)->member_id;
  sync("g", 1, b_id, {});
  sync("g", 1, a_id, {});
  auto waiting = join("g", b_id, 5, "instance-b", {{"range", {5}}});  // new protocols: rebalance, waits for a
  EXPECT_FALSE(waiting->has_value());
  auto replacement = join("g", "", 5, "instance-b", {{"range", {5}}});  // a duplicate instance takes over
  ASSERT_TRUE(waiting->has_value());
  EXPECT_EQ(err(**waiting), error_code::fenced_instance_id);
  EXPECT_FALSE(replacement->has_value());
  auto ra = join("g", a_id, 5, "instance-a");
  ASSERT_TRUE(replacement->has_value() && ra->has_value());
  EXPECT_EQ(err(**replacement), error_code::none);
  EXPECT_EQ((*replacement)->generation_id, 2);
  EXPECT_EQ((*ra)->members.size(), 2u);  // the replaced incarnation is gone, not a third member
}

TEST_F(group_coordinator_test, StaticMemberThatDoesNotRejoinKeepsItsPlaceUntilItsSessionEnds) {
  auto a = join("g", "", 5, "instance-a");
  auto b = join("g", "", 5, "instance-b", {{"range", {1}}}, 30'000);
  timers.advance(10'000);
  const auto a_id = (*a)->member_id, b_id = (*b)->member_id;
  sync("g", 1, b_id, {});
  sync("g", 1, a_id, {});
  auto r = join("g", a_id, 5, "instance-a");  // the leader asks for a rebalance; b is silent (restarting)
  timers.advance(10'000);                     // the rebalance timeout: b is static, so it stays
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ((*r)->generation_id, 2);
  EXPECT_EQ((*r)->members.size(), 2u);
  sync("g", 2, a_id, {{a_id, {1}}, {b_id, {2}}});
  EXPECT_EQ(state_of("g"), "Stable");
  timers.advance(9000);
  EXPECT_EQ(heartbeat("g", 2, a_id), error_code::none);
  timers.advance(9000);
  EXPECT_EQ(heartbeat("g", 2, a_id), error_code::none);
  timers.advance(2001);  // b's 30 s session (from its SyncGroup) has ended
  EXPECT_EQ(heartbeat("g", 2, a_id), error_code::rebalance_in_progress);
}

// ---- shutdown and partitions ----

TEST_F(group_coordinator_test, ShutdownAnswersWaitingJoins) {
  auto a = join("g", "", 3);
  coordinator->shutdown();
  ASSERT_TRUE(a->has_value());
  EXPECT_EQ(err(**a), error_code::coordinator_not_available);
}

TEST_F(group_coordinator_test, LoadingAndUnloadingPartitions) {
  const auto p = coordinator->partition_for("g");
  auto [leader, follower] = stable_pair("g");
  EXPECT_EQ(commit("g", 1, leader, "t", 0, 42), error_code::none);
  auto r = join("g", leader, 3);  // waiting when the partition goes away
  coordinator->unload_partition(p);
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ(err(**r), error_code::not_coordinator);
  EXPECT_EQ(heartbeat("g", 1, leader), error_code::not_coordinator);
  EXPECT_EQ(coordinator->coordinator_status("g"), error_code::coordinator_not_available);

  coordinator->begin_loading(p);
  EXPECT_EQ(heartbeat("g", 1, leader), error_code::coordinator_load_in_progress);
  EXPECT_EQ(err(**join("g", "", 4)), error_code::coordinator_load_in_progress);
  EXPECT_EQ(commit("g", -1, "", "t", 0, 1), error_code::coordinator_load_in_progress);
  EXPECT_EQ(coordinator->coordinator_status("g"), error_code::none);

  coordinator->load_partition(p, store.load(p));
  // The stored generation 1 (both members, Stable) and the offset are back; sessions restart now.
  EXPECT_EQ(state_of("g"), "Stable");
  EXPECT_EQ(heartbeat("g", 1, leader), error_code::none);
  EXPECT_EQ(fetched("g", "t", 0), 42);
  timers.advance(10'001);  // nobody heartbeats any more: both sessions end
  EXPECT_EQ(state_of("g"), "Empty");
}

}  // namespace
}  // namespace vltava::broker::group::testing
