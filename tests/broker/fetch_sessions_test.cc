// Tests of the fetch session cache (KIP-227) without a network: sessionless fetches, session creation, incremental
// fetches that list only what changed, epochs, closing, forgetting, eviction and the fairness rotation.
#include "vltava/broker/fetch_sessions.h"

#include <gtest/gtest.h>

#include <climits>
#include <string>
#include <vector>

namespace vltava::broker {
namespace {

using protocol::error_code;

fetch_partition_key key(const std::string& topic, std::int32_t partition) { return {topic, {}, partition}; }

fetch_partition_request request(const std::string& topic, std::int32_t partition, std::int64_t offset = 0) {
  return {key(topic, partition), offset, 1 << 20};
}

fetch_partition_outcome quiet(std::int64_t high_watermark = 10) {
  return {error_code::none, high_watermark, high_watermark, 0, false};
}

fetch_partition_outcome with_records(std::int64_t high_watermark = 10) {
  auto out = quiet(high_watermark);
  out.has_records = true;
  return out;
}

std::vector<fetch_partition_key> keys_of(const fetch_session_context& context) {
  std::vector<fetch_partition_key> out;
  for (const auto& p : context.partitions) out.push_back(p.key);
  return out;
}

class fetch_sessions_test : public ::testing::Test {
 protected:
  // A full fetch of a-0 and a-1 creating a session; returns its id.
  std::int32_t create_session(std::vector<fetch_partition_request> partitions = {request("a", 0), request("a", 1)}) {
    auto context = cache_.begin(0, 0, false, partitions, {}, now_);
    EXPECT_EQ(context.error, error_code::none);
    EXPECT_TRUE(context.create_session);
    std::vector<fetch_partition_outcome> outcomes(context.partitions.size(), quiet());
    const auto listed = cache_.finish(context, outcomes, now_);
    EXPECT_EQ(listed, std::vector<bool>(context.partitions.size(), true));
    EXPECT_NE(context.session_id, 0);
    return context.session_id;
  }

  fetch_session_limits limits_{3, 1000};
  fetch_session_cache cache_{limits_};
  std::int64_t now_ = 1'000'000;
};

TEST(fetch_session_epochs, CountUpAndWrapToOne) {
  EXPECT_EQ(next_fetch_session_epoch(0), 1);
  EXPECT_EQ(next_fetch_session_epoch(1), 2);
  EXPECT_EQ(next_fetch_session_epoch(INT32_MAX), 1);
  EXPECT_EQ(next_fetch_session_epoch(-1), -1);
}

TEST_F(fetch_sessions_test, SessionlessFetchReadsTheRequestAndListsEverything) {
  auto context = cache_.begin(0, -1, false, {request("a", 0, 5), request("b", 2, 7)}, {}, now_);
  EXPECT_EQ(context.error, error_code::none);
  EXPECT_FALSE(context.incremental);
  EXPECT_FALSE(context.create_session);
  ASSERT_EQ(context.partitions.size(), 2u);
  EXPECT_EQ(context.partitions[0].fetch_offset, 5);
  EXPECT_EQ(context.partitions[1].key, key("b", 2));
  const std::vector<fetch_partition_outcome> outcomes{quiet(), quiet()};
  EXPECT_EQ(cache_.finish(context, outcomes, now_), (std::vector<bool>{true, true}));
  EXPECT_EQ(context.session_id, 0);
  EXPECT_EQ(cache_.size(), 0u);
}

TEST_F(fetch_sessions_test, FullFetchWithEpochZeroCreatesASession) {
  const auto id = create_session();
  EXPECT_GT(id, 0);
  EXPECT_EQ(cache_.size(), 1u);
}

TEST_F(fetch_sessions_test, IncrementalFetchReadsAllSessionPartitionsButListsOnlyChanges) {
  const auto id = create_session();
  auto context = cache_.begin(id, 1, false, {}, {}, now_);
  ASSERT_EQ(context.error, error_code::none);
  EXPECT_TRUE(context.incremental);
  EXPECT_EQ(context.session_id, id);
  EXPECT_EQ(keys_of(context), (std::vector{key("a", 0), key("a", 1)}));
  // Nothing new in a-0; new records in a-1.
  const std::vector<fetch_partition_outcome> outcomes{quiet(), with_records()};
  EXPECT_EQ(cache_.finish(context, outcomes, now_), (std::vector<bool>{false, true}));
}

TEST_F(fetch_sessions_test, OffsetChangesAreListedOnceEach) {
  const auto id = create_session();
  auto first = cache_.begin(id, 1, false, {}, {}, now_);
  auto moved = quiet(11);  // the high watermark moved
  auto log_start = quiet();
  log_start.log_start_offset = 3;  // DeleteRecords or retention moved the log start
  const std::vector<fetch_partition_outcome> outcomes{moved, log_start};
  EXPECT_EQ(cache_.finish(first, outcomes, now_), (std::vector<bool>{true, true}));
  auto second = cache_.begin(id, 2, false, {}, {}, now_);
  EXPECT_EQ(cache_.finish(second, outcomes, now_), (std::vector<bool>{false, false}));
}

TEST_F(fetch_sessions_test, ErrorsAreListedWhileTheyLastAndOnceMoreWhenTheyClear) {
  const auto id = create_session();
  fetch_partition_outcome failed{error_code::unknown_topic_or_partition, -1, -1, -1, false};
  for (std::int32_t epoch = 1; epoch <= 2; ++epoch) {
    auto context = cache_.begin(id, epoch, false, {}, {}, now_);
    const std::vector<fetch_partition_outcome> outcomes{quiet(), failed};
    EXPECT_EQ(cache_.finish(context, outcomes, now_), (std::vector<bool>{false, true})) << "epoch " << epoch;
  }
  auto cleared = cache_.begin(id, 3, false, {}, {}, now_);
  const std::vector<fetch_partition_outcome> outcomes{quiet(), quiet()};
  EXPECT_EQ(cache_.finish(cleared, outcomes, now_), (std::vector<bool>{false, true}));
  auto after = cache_.begin(id, 4, false, {}, {}, now_);
  EXPECT_EQ(cache_.finish(after, outcomes, now_), (std::vector<bool>{false, false}));
}

TEST_F(fetch_sessions_test, IncrementalRequestUpdatesAddsAndForgetsPartitions) {
  const auto id = create_session();
  auto context = cache_.begin(id, 1, false, {request("a", 1, 42), request("b", 0, 7)}, {key("a", 0)}, now_);
  ASSERT_EQ(context.error, error_code::none);
  ASSERT_EQ(keys_of(context), (std::vector{key("a", 1), key("b", 0)}));
  EXPECT_EQ(context.partitions[0].fetch_offset, 42);
  EXPECT_EQ(context.partitions[1].fetch_offset, 7);
  // The added partition was never reported: it is listed even with nothing new.
  const std::vector<fetch_partition_outcome> outcomes{quiet(), quiet()};
  EXPECT_EQ(cache_.finish(context, outcomes, now_), (std::vector<bool>{false, true}));
  // The fetch offset given stays until the client sends another.
  auto next = cache_.begin(id, 2, false, {}, {}, now_);
  EXPECT_EQ(next.partitions[0].fetch_offset, 42);
}

TEST_F(fetch_sessions_test, PartitionsThatReturnedRecordsMoveToTheEndOfTheOrder) {
  const auto id = create_session({request("a", 0), request("a", 1), request("a", 2)});
  auto context = cache_.begin(id, 1, false, {}, {}, now_);
  const std::vector<fetch_partition_outcome> outcomes{with_records(), quiet(), quiet()};
  (void)cache_.finish(context, outcomes, now_);
  auto next = cache_.begin(id, 2, false, {}, {}, now_);
  EXPECT_EQ(keys_of(next), (std::vector{key("a", 1), key("a", 2), key("a", 0)}));
}

TEST_F(fetch_sessions_test, WrongEpochIsRejectedAndLeavesTheSessionAsItWas) {
  const auto id = create_session();
  for (std::int32_t epoch : {2, 0x7fff, -2}) {
    auto context = cache_.begin(id, epoch, false, {request("c", 0)}, {key("a", 0)}, now_);
    EXPECT_EQ(context.error, error_code::invalid_fetch_session_epoch) << epoch;
    EXPECT_TRUE(context.partitions.empty());
    EXPECT_TRUE(cache_.finish(context, {}, now_).empty());
  }
  auto context = cache_.begin(id, 1, false, {}, {}, now_);
  EXPECT_EQ(context.error, error_code::none);
  EXPECT_EQ(keys_of(context), (std::vector{key("a", 0), key("a", 1)}));
  // The epoch moved on with that fetch: repeating it is now wrong.
  EXPECT_EQ(cache_.begin(id, 1, false, {}, {}, now_).error, error_code::invalid_fetch_session_epoch);
}

TEST_F(fetch_sessions_test, UnknownSessionIsNotFound) {
  EXPECT_EQ(cache_.begin(12345, 1, false, {}, {}, now_).error, error_code::fetch_session_id_not_found);
  // An incremental epoch without a session id is no session either.
  EXPECT_EQ(cache_.begin(0, 1, false, {}, {}, now_).error, error_code::fetch_session_id_not_found);
}

TEST_F(fetch_sessions_test, FinalEpochClosesTheSessionAndFetchesWithoutOne) {
  const auto id = create_session();
  auto context = cache_.begin(id, -1, false, {request("a", 0)}, {}, now_);
  EXPECT_EQ(context.error, error_code::none);
  EXPECT_FALSE(context.create_session);
  EXPECT_EQ(cache_.size(), 0u);
  const std::vector<fetch_partition_outcome> outcomes{quiet()};
  EXPECT_EQ(cache_.finish(context, outcomes, now_), (std::vector<bool>{true}));
  EXPECT_EQ(context.session_id, 0);
  EXPECT_EQ(cache_.begin(id, 1, false, {}, {}, now_).error, error_code::fetch_session_id_not_found);
}

TEST_F(fetch_sessions_test, EpochZeroWithAnIdReplacesTheSession) {
  const auto old_id = create_session();
  auto context = cache_.begin(old_id, 0, false, {request("b", 0)}, {}, now_);
  const std::vector<fetch_partition_outcome> outcomes{quiet()};
  (void)cache_.finish(context, outcomes, now_);
  EXPECT_NE(context.session_id, 0);
  EXPECT_NE(context.session_id, old_id);
  EXPECT_EQ(cache_.size(), 1u);
  auto next = cache_.begin(context.session_id, 1, false, {}, {}, now_);
  EXPECT_EQ(keys_of(next), (std::vector{key("b", 0)}));
}

TEST_F(fetch_sessions_test, ForgettingEveryPartitionEndsTheSession) {
  const auto id = create_session();
  auto context = cache_.begin(id, 1, false, {}, {key("a", 0), key("a", 1)}, now_);
  EXPECT_EQ(context.error, error_code::none);
  EXPECT_FALSE(context.incremental);
  EXPECT_TRUE(context.partitions.empty());
  EXPECT_EQ(context.session_id, 0);
  EXPECT_EQ(cache_.size(), 0u);
}

TEST_F(fetch_sessions_test, SwitchingBetweenTopicNamesAndIdsIsAnError) {
  const auto id = create_session();
  EXPECT_EQ(cache_.begin(id, 1, true, {}, {}, now_).error, error_code::fetch_session_topic_id_error);
}

TEST_F(fetch_sessions_test, SessionsByTopicIdKeyPartitionsById) {
  protocol::uuid topic_id;
  topic_id.value[0] = 7;
  fetch_partition_request by_id{{"", topic_id, 0}, 3, 100};
  auto context = cache_.begin(0, 0, true, {by_id}, {}, now_);
  const std::vector<fetch_partition_outcome> outcomes{quiet()};
  (void)cache_.finish(context, outcomes, now_);
  ASSERT_NE(context.session_id, 0);
  auto next = cache_.begin(context.session_id, 1, true, {}, {fetch_partition_key{"", topic_id, 0}}, now_);
  EXPECT_EQ(next.error, error_code::none);
  EXPECT_EQ(cache_.size(), 0u);  // forgotten by id: the session is empty and ends
}

TEST_F(fetch_sessions_test, DuplicatePartitionsInAFullFetchAreReadOnce) {
  auto context = cache_.begin(0, -1, false, {request("a", 0, 1), request("a", 1), request("a", 0, 9)}, {}, now_);
  ASSERT_EQ(keys_of(context), (std::vector{key("a", 0), key("a", 1)}));
  EXPECT_EQ(context.partitions[0].fetch_offset, 9);
}

TEST_F(fetch_sessions_test, AFullCacheRefusesNewSessionsUntilOneIsIdleLongEnough) {
  std::vector<std::int32_t> ids;
  for (int i = 0; i < 3; ++i) {
    ids.push_back(create_session());
    now_ += 10;
  }
  EXPECT_EQ(cache_.size(), 3u);
  // Full, and every session was used recently: the newcomer fetches without a session.
  auto refused = cache_.begin(0, 0, false, {request("z", 0)}, {}, now_);
  const std::vector<fetch_partition_outcome> outcomes{quiet()};
  EXPECT_EQ(cache_.finish(refused, outcomes, now_), (std::vector<bool>{true}));
  EXPECT_EQ(refused.session_id, 0);
  EXPECT_EQ(cache_.size(), 3u);

  // Keep the first session busy; the second becomes the least recently used and idle beyond eviction_ms.
  now_ += limits_.eviction_ms;
  auto busy = cache_.begin(ids[0], 1, false, {}, {}, now_);
  ASSERT_EQ(busy.error, error_code::none);
  auto admitted = cache_.begin(0, 0, false, {request("z", 0)}, {}, now_);
  (void)cache_.finish(admitted, outcomes, now_);
  EXPECT_NE(admitted.session_id, 0);
  EXPECT_EQ(cache_.size(), 3u);
  EXPECT_EQ(cache_.begin(ids[1], 1, false, {}, {}, now_).error, error_code::fetch_session_id_not_found);
  EXPECT_EQ(cache_.begin(ids[0], 2, false, {}, {}, now_).error, error_code::none);
}

TEST(fetch_session_cache_limits, ZeroSlotsMeansNoSessions) {
  fetch_session_cache cache(fetch_session_limits{0, 0});
  auto context = cache.begin(0, 0, false, {request("a", 0)}, {}, 0);
  const std::vector<fetch_partition_outcome> outcomes{quiet()};
  EXPECT_EQ(cache.finish(context, outcomes, 0), (std::vector<bool>{true}));
  EXPECT_EQ(context.session_id, 0);
  EXPECT_EQ(cache.size(), 0u);
}

}  // namespace
}  // namespace vltava::broker
