// Committed offsets and the admin APIs of the group coordinator: OffsetCommit's checks (simple commits, generation
// and member checks, unknown partitions, the store's answer), OffsetFetch (all partitions, batched groups),
// OffsetDelete, expiry by offsets.retention.minutes, DescribeGroups, ListGroups and DeleteGroups.
#include <gtest/gtest.h>

#include "group_coordinator_fixture.h"

namespace vltava::broker::group::testing {
namespace {

using protocol::error_code;

TEST_F(group_coordinator_test, SimpleCommitCreatesAGroupAndMetadataRoundTrips) {
  EXPECT_EQ(commit("simple", -1, "", "t", 3, 100), error_code::none);
  EXPECT_EQ(state_of("simple"), "Empty");
  ASSERT_EQ(store.count("offsets"), 1u);
  EXPECT_EQ(store.calls.back().offsets.at(0).second.metadata, "meta");
  EXPECT_EQ(store.calls.back().offsets.at(0).second.commit_timestamp_ms, timers.now_ms());
  auto answer = fetch("simple", std::vector<std::string>{"t"});
  ASSERT_EQ(answer.topics.size(), 1u);
  ASSERT_EQ(answer.topics[0].partitions.size(), 6u);
  EXPECT_EQ(answer.topics[0].partitions[3].committed_offset, 100);
  EXPECT_EQ(answer.topics[0].partitions[3].metadata, "meta");
  EXPECT_EQ(answer.topics[0].partitions[0].committed_offset, -1);
  // v0 carries no generation: a simple commit too.
  EXPECT_EQ(commit("simple", 5, "ignored", "t", 4, 7, 0), error_code::none);
  EXPECT_EQ(fetched("simple", "t", 4), 7);
}

TEST_F(group_coordinator_test, CommitToUnknownTopicsOrPartitionsAndTooLargeMetadata) {
  EXPECT_EQ(commit("g", -1, "", "nope", 0, 1), error_code::unknown_topic_or_partition);
  EXPECT_EQ(commit("g", -1, "", "t", 6, 1), error_code::unknown_topic_or_partition);
  EXPECT_EQ(commit("g", -1, "", "t", -1, 1), error_code::unknown_topic_or_partition);
  auto big = commit_async("g", -1, "", "t", 0, 1, 7, std::nullopt, std::string(5000, 'x'));
  EXPECT_EQ((*big)->topics[0].partitions[0].error_code,
            static_cast<std::int16_t>(error_code::offset_metadata_too_large));
  EXPECT_EQ(store.count("offsets"), 0u);
}

TEST_F(group_coordinator_test, CommitChecksGenerationAndMember) {
  EXPECT_EQ(commit("nogroup", 3, "m", "t", 0, 1), error_code::illegal_generation);
  auto a = join("g", "", 3);
  auto b = join("g", "", 3);
  timers.advance(10'000);
  const auto leader = (*a)->member_id, follower = (*b)->member_id;
  EXPECT_EQ(commit("g", 1, follower, "t", 0, 1), error_code::rebalance_in_progress);  // CompletingRebalance
  sync("g", 1, follower, {});
  sync("g", 1, leader, {});
  EXPECT_EQ(commit("g", 1, follower, "t", 0, 5), error_code::none);
  EXPECT_EQ(commit("g", -1, "", "t", 0, 1), error_code::unknown_member_id);  // not simple: the group has members
  EXPECT_EQ(commit("g", 1, "ghost", "t", 0, 1), error_code::unknown_member_id);
  EXPECT_EQ(commit("g", 2, follower, "t", 0, 1), error_code::illegal_generation);
  auto rejoin = join("g", leader, 3);  // PreparingRebalance: a member of the current generation may still commit
  EXPECT_EQ(commit("g", 1, follower, "t", 1, 9), error_code::none);
  EXPECT_EQ(fetched("g", "t", 0), 5);
  EXPECT_EQ(fetched("g", "t", 1), 9);
}

TEST_F(group_coordinator_test, CommitAnswersAfterTheStoreWithItsError) {
  store.hold = true;
  auto answer = commit_async("g", -1, "", "t", 0, 10);
  EXPECT_FALSE(answer->has_value());
  EXPECT_EQ(fetched("g", "t", 0), -1);  // not visible before it is stored
  store.release();
  ASSERT_TRUE(answer->has_value());
  EXPECT_EQ((*answer)->topics[0].partitions[0].error_code, 0);
  EXPECT_EQ(fetched("g", "t", 0), 10);

  store.hold = false;
  // A failed write is NOT_COORDINATOR for the client (it looks the coordinator up again and retries), and a batch
  // too large for __consumer_offsets is INVALID_COMMIT_OFFSET_SIZE, as Kafka answers.
  store.fail_with = error_code::kafka_storage_error;
  EXPECT_EQ(commit("g", -1, "", "t", 0, 20), error_code::not_coordinator);
  store.fail_with = error_code::record_list_too_large;
  EXPECT_EQ(commit("g", -1, "", "t", 0, 20), error_code::invalid_commit_offset_size);
  EXPECT_EQ(fetched("g", "t", 0), 10);
}

TEST_F(group_coordinator_test, FetchAllPartitionsAndBatchedGroups) {
  EXPECT_EQ(commit("g1", -1, "", "t", 0, 1), error_code::none);
  EXPECT_EQ(commit("g1", -1, "", "t", 5, 2), error_code::none);
  EXPECT_EQ(commit("g1", -1, "", "other", 1, 3), error_code::none);
  EXPECT_EQ(commit("g2", -1, "", "t", 2, 4), error_code::none);
  auto all = fetch("g1", std::nullopt);
  ASSERT_EQ(all.topics.size(), 2u);
  EXPECT_EQ(all.topics[0].name, "other");
  EXPECT_EQ(all.topics[1].name, "t");
  EXPECT_EQ(all.topics[1].partitions.size(), 2u);
  EXPECT_TRUE(fetch("unknown", std::nullopt).topics.empty());

  protocol::offset_fetch_request request;
  auto& g1 = request.groups.emplace_back();
  g1.group_id = "g1";  // topics null: all
  g1.topics.reset();
  auto& g2 = request.groups.emplace_back();
  g2.group_id = "g2";
  g2.topics.emplace().push_back({"t", {}, {2, 3}, {}});
  auto answer =
      run<protocol::offset_fetch_response>([&](auto done) { coordinator->fetch_offsets(request, 8, std::move(done)); });
  ASSERT_EQ(answer.groups.size(), 2u);
  EXPECT_EQ(answer.groups[0].topics.size(), 2u);
  ASSERT_EQ(answer.groups[1].topics.size(), 1u);
  EXPECT_EQ(answer.groups[1].topics[0].partitions[0].committed_offset, 4);
  EXPECT_EQ(answer.groups[1].topics[0].partitions[1].committed_offset, -1);
}

TEST_F(group_coordinator_test, FetchErrorsAtTheRightLevelPerVersion) {
  const auto p = coordinator->partition_for("g");
  coordinator->begin_loading(p);
  auto v7 = fetch("g", std::vector<std::string>{"t"}, 7);
  EXPECT_EQ(v7.error_code, static_cast<std::int16_t>(error_code::coordinator_load_in_progress));
  EXPECT_TRUE(v7.topics.empty());
  auto v1 = fetch("g", std::vector<std::string>{"t"}, 1);
  ASSERT_EQ(v1.topics.size(), 1u);
  EXPECT_EQ(v1.topics[0].partitions[0].error_code, static_cast<std::int16_t>(error_code::coordinator_load_in_progress));
}

TEST_F(group_coordinator_test, OffsetDeleteRefusesSubscribedTopics) {
  // The consumer protocol's subscription: version 0, topics ["t"], user data null.
  const protocol::bytes subscription{0, 0, 0, 0, 0, 1, 0, 1, 't', 0xff, 0xff, 0xff, 0xff};
  auto a = join("g", "", 3, std::nullopt, {{"range", subscription}});
  timers.advance(3000);
  sync("g", 1, (*a)->member_id, {});
  EXPECT_EQ(commit("g", 1, (*a)->member_id, "t", 0, 5), error_code::none);
  EXPECT_EQ(commit("g", 1, (*a)->member_id, "other", 0, 6), error_code::none);
  protocol::offset_delete_request request;
  request.group_id = "g";
  request.topics.push_back({"t", {{0, {}}}, {}});
  request.topics.push_back({"other", {{0, {}}}, {}});
  request.topics.push_back({"missing", {{0, {}}}, {}});
  auto answer = run<protocol::offset_delete_response>(
      [&](auto done) { coordinator->delete_offsets(request, 0, std::move(done)); });
  EXPECT_EQ(answer.error_code, 0);
  EXPECT_EQ(answer.topics[0].partitions[0].error_code,
            static_cast<std::int16_t>(error_code::group_subscribed_to_topic));
  EXPECT_EQ(answer.topics[1].partitions[0].error_code, 0);
  EXPECT_EQ(answer.topics[2].partitions[0].error_code,
            static_cast<std::int16_t>(error_code::unknown_topic_or_partition));
  EXPECT_EQ(fetched("g", "t", 0), 5);
  EXPECT_EQ(fetched("g", "other", 0), -1);
  EXPECT_EQ(store.count("delete_offsets"), 1u);

  request.group_id = "nogroup";
  auto missing = run<protocol::offset_delete_response>(
      [&](auto done) { coordinator->delete_offsets(request, 0, std::move(done)); });
  EXPECT_EQ(missing.error_code, static_cast<std::int16_t>(error_code::group_id_not_found));
}

TEST_F(group_coordinator_test, DescribeListAndDeleteGroups) {
  auto [leader, follower] = stable_pair("busy");
  EXPECT_EQ(commit("idle", -1, "", "t", 0, 1), error_code::none);

  protocol::describe_groups_request describe;
  describe.groups = {"busy", "idle", "nothing"};
  describe.include_authorized_operations = true;
  auto described = run<protocol::describe_groups_response>(
      [&](auto done) { coordinator->describe_groups(describe, 5, std::move(done)); });
  ASSERT_EQ(described.groups.size(), 3u);
  EXPECT_EQ(described.groups[0].group_state, "Stable");
  EXPECT_EQ(described.groups[0].protocol_type, "consumer");
  EXPECT_EQ(described.groups[0].protocol_data, "range");
  EXPECT_EQ(described.groups[0].members.size(), 2u);
  EXPECT_EQ(described.groups[0].members[0].client_host, "/127.0.0.1");
  EXPECT_NE(described.groups[0].authorized_operations, INT32_MIN);
  EXPECT_EQ(described.groups[1].group_state, "Empty");
  EXPECT_EQ(described.groups[2].group_state, "Dead");
  EXPECT_EQ(described.groups[2].error_code, 0);

  protocol::list_groups_request list;
  auto listed =
      run<protocol::list_groups_response>([&](auto done) { coordinator->list_groups(list, 4, std::move(done)); });
  ASSERT_EQ(listed.groups.size(), 2u);
  list.states_filter = {"stable"};
  listed = run<protocol::list_groups_response>([&](auto done) { coordinator->list_groups(list, 4, std::move(done)); });
  ASSERT_EQ(listed.groups.size(), 1u);
  EXPECT_EQ(listed.groups[0].group_id, "busy");
  EXPECT_EQ(listed.groups[0].group_state, "Stable");

  protocol::delete_groups_request del;
  del.groups_names = {"busy", "idle", "nothing"};
  auto deleted =
      run<protocol::delete_groups_response>([&](auto done) { coordinator->delete_groups(del, 2, std::move(done)); });
  ASSERT_EQ(deleted.results.size(), 3u);
  EXPECT_EQ(deleted.results[0].error_code, static_cast<std::int16_t>(error_code::non_empty_group));
  EXPECT_EQ(deleted.results[1].error_code, 0);
  EXPECT_EQ(deleted.results[2].error_code, static_cast<std::int16_t>(error_code::group_id_not_found));
  ASSERT_EQ(store.count("delete_group"), 1u);
  EXPECT_EQ(store.calls.back().deleted.size(), 1u);
  EXPECT_EQ(state_of("idle"), "Dead");
  EXPECT_EQ(fetched("idle", "t", 0), -1);
}

TEST_F(group_coordinator_test, ListGroupsReportsLoading) {
  coordinator->begin_loading(0);
  protocol::list_groups_request list;
  auto listed =
      run<protocol::list_groups_response>([&](auto done) { coordinator->list_groups(list, 4, std::move(done)); });
  EXPECT_EQ(listed.error_code, static_cast<std::int16_t>(error_code::coordinator_load_in_progress));
}

TEST_F(group_coordinator_test, SimpleGroupOffsetsExpireRetentionAfterTheirCommit) {
  EXPECT_EQ(commit("simple", -1, "", "t", 0, 1), error_code::none);
  timers.advance(12 * 3600'000LL);
  EXPECT_EQ(commit("simple", -1, "", "t", 1, 2), error_code::none);
  timers.advance(12 * 3600'000LL);  // the periodic check runs every 10 min: partition 0 is a day old now
  EXPECT_EQ(fetched("simple", "t", 0), -1);
  EXPECT_EQ(fetched("simple", "t", 1), 2);
  ASSERT_EQ(store.count("delete_offsets"), 1u);
  timers.advance(12 * 3600'000LL);
  EXPECT_EQ(store.count("delete_group"), 1u);  // no offsets left: the group goes
  EXPECT_EQ(state_of("simple"), "Dead");
}

TEST_F(group_coordinator_test, ConsumerGroupOffsetsExpireOnlyOnceTheGroupIsEmpty) {
  auto a = join("g", "", 3);
  timers.advance(3000);
  const auto id = (*a)->member_id;
  sync("g", 1, id, {});
  EXPECT_EQ(commit("g", 1, id, "t", 0, 5), error_code::none);
  for (int i = 0; i < 25 * 720; ++i) {  // 25 hours of heartbeats: nothing expires while the group is in use
    timers.advance(5000);
    ASSERT_EQ(heartbeat("g", 1, id), error_code::none);
  }
  EXPECT_EQ(fetched("g", "t", 0), 5);
  EXPECT_EQ(leave_v0("g", id), error_code::none);
  timers.advance(23 * 3600'000LL);
  EXPECT_EQ(fetched("g", "t", 0), 5);  // empty for 23 h
  timers.advance(3600'000LL + 600'000);
  EXPECT_EQ(fetched("g", "t", 0), -1);
  EXPECT_EQ(state_of("g"), "Dead");
}

TEST_F(group_coordinator_test, ExplicitRetentionTimeWins) {
  auto answer = commit_async("simple", -1, "", "t", 0, 1, 2, std::nullopt, "", 3600'000);
  ASSERT_TRUE(answer->has_value());
  EXPECT_EQ(store.calls.back().offsets.at(0).second.expire_timestamp_ms, timers.now_ms() + 3600'000);
  timers.advance(3600'000 + 600'000);
  EXPECT_EQ(fetched("simple", "t", 0), -1);
}

}  // namespace
}  // namespace vltava::broker::group::testing
