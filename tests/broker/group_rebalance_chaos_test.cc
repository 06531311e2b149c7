// Concurrent joins, leaves and crashes against the coordinator, on the fake clock: simulated consumers follow the
// classic protocol (rejoin on REBALANCE_IN_PROGRESS, SyncGroup after JoinGroup, heartbeats) while members leave,
// go silent and arrive at random. Once the chaos stops, every live member must end up in one Stable generation,
// every request answered, and the leader's assignment must cover the six partitions exactly once.
#include <gtest/gtest.h>

#include <random>

#include "group_coordinator_fixture.h"

namespace vltava::broker::group::testing {
namespace {

using protocol::error_code;

struct simulated_member {
  std::string id;
  bool alive = true;
  bool stable = false;
  std::int32_t generation = -1;
  std::int64_t next_heartbeat = 0;
  answer_ptr<protocol::join_group_response> join;
  answer_ptr<protocol::sync_group_response> sync;
  protocol::bytes assignment;
};

class group_chaos_test : public group_coordinator_test, public ::testing::WithParamInterface<unsigned> {
 protected:
  void start_join(simulated_member& m) {
    m.stable = false;
    m.sync.reset();
    m.join = join("g", m.id, 4);
  }

  // One step of a member's protocol, reacting to its answers.
  void step(simulated_member& m) {
    if (!m.alive) return;
    if (m.join && m.join->has_value()) {
      auto answer = **m.join;
      m.join.reset();
      const auto error = err(answer);
      if (error == error_code::member_id_required) {
        m.id = answer.member_id;
        return start_join(m);
      }
      if (error != error_code::none) {
        if (error == error_code::unknown_member_id) m.id.clear();
        return start_join(m);
      }
      m.generation = answer.generation_id;
      std::vector<std::pair<std::string, protocol::bytes>> assignments;
      if (answer.leader == m.id) {
        for (const auto& member : answer.members) assignments.emplace_back(member.member_id, protocol::bytes{});
        for (std::uint8_t p = 0; p < 6; ++p) assignments[p % assignments.size()].second.push_back(p);
      }
      m.sync = sync("g", m.generation, m.id, assignments);
      return;
    }
    if (m.sync && m.sync->has_value()) {
      auto answer = **m.sync;
      m.sync.reset();
      if (err(answer) != error_code::none) {
        if (err(answer) == error_code::unknown_member_id) m.id.clear();
        return start_join(m);
      }
      m.assignment = answer.assignment;
      m.stable = true;
      m.next_heartbeat = timers.now_ms() + 1000;
      return;
    }
    if (m.stable && timers.now_ms() >= m.next_heartbeat) {
      m.next_heartbeat = timers.now_ms() + 1000;
      const auto error = heartbeat("g", m.generation, m.id);
      if (error == error_code::unknown_member_id || error == error_code::illegal_generation) m.id.clear();
      if (error != error_code::none) start_join(m);
    }
  }
};

TEST_P(group_chaos_test, EveryLiveMemberEndsInOneStableGenerationWithADisjointAssignment) {
  std::mt19937 random(GetParam());
  std::vector<simulated_member> members(4);
  for (auto& m : members) start_join(m);
  for (int tick = 0; tick < 400; ++tick) {  // 200 s of chaos, 500 ms a tick
    std::uniform_int_distribution<int> action(0, 39);
    const int a = action(random);
    auto& victim = members[std::uniform_int_distribution<std::size_t>(0, members.size() - 1)(random)];
    if (a == 0 && victim.alive && !victim.id.empty()) {  // leaves politely, comes back as a new member
      leave_v0("g", victim.id);
      victim = simulated_member{};
      start_join(victim);
    } else if (a == 1 && victim.alive) {  // crashes: silent; its requests are never looked at again
      victim.alive = false;
    } else if (a == 2 && !victim.alive) {  // restarts with no member id
      victim = simulated_member{};
      start_join(victim);
    } else if (a == 3 && members.size() < 8) {
      members.emplace_back();
      start_join(members.back());
    }
    for (auto& m : members) step(m);
    timers.advance(500);
  }
  // Calm: crashed members stay gone; the others settle.
  for (int tick = 0; tick < 240; ++tick) {
    for (auto& m : members) step(m);
    timers.advance(500);
  }
  std::vector<simulated_member*> live;
  for (auto& m : members) {
    if (m.alive) live.push_back(&m);
  }
  ASSERT_FALSE(live.empty());
  EXPECT_GT(live.front()->generation, 5) << "the chaos caused too few rebalances to prove anything";
  ASSERT_EQ(state_of("g"), "Stable");
  std::set<std::uint8_t> covered;
  for (auto* m : live) {
    EXPECT_TRUE(m->stable) << m->id << " is stuck";
    EXPECT_FALSE(m->join) << m->id << " has an unanswered JoinGroup";
    EXPECT_FALSE(m->sync) << m->id << " has an unanswered SyncGroup";
    EXPECT_EQ(m->generation, live.front()->generation);
    for (auto p : m->assignment) EXPECT_TRUE(covered.insert(p).second) << "partition " << int(p) << " twice";
  }
  EXPECT_EQ(covered.size(), 6u);
  protocol::describe_groups_request describe;
  describe.groups = {"g"};
  auto described = run<protocol::describe_groups_response>(
      [&](auto done) { coordinator->describe_groups(describe, 5, std::move(done)); });
  EXPECT_EQ(described.groups.at(0).members.size(), live.size());
}

INSTANTIATE_TEST_SUITE_P(Seeds, group_chaos_test, ::testing::Range(1u, 21u));

}  // namespace
}  // namespace vltava::broker::group::testing
