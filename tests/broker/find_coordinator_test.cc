// FindCoordinator against the real broker: one key (v0-v3), several keys at once (v4, KIP-699), and the key types
// this node cannot coordinate.
#include <string>

#include <gtest/gtest.h>

#include "broker_process.h"
#include "raw_client.h"
#include "vltava/protocol/error_code.h"
#include "vltava/protocol/messages.h"

namespace vltava::broker::testing {
namespace {

using protocol::error_code;

class FindCoordinatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(broker_.start());
    ASSERT_TRUE(client_.connect(broker_.host(), broker_.port()));
  }

  protocol::find_coordinator_response ask(std::int16_t version, const protocol::find_coordinator_request& request) {
    protocol::find_coordinator_response answer;
    EXPECT_TRUE(client_.send_request(++correlation_, version, request));
    EXPECT_TRUE(client_.read_response(correlation_, version, answer));
    return answer;
  }

  broker_process broker_;
  raw_client client_;
  std::int32_t correlation_ = 0;
};

TEST_F(FindCoordinatorTest, EveryVersionBeforeBatchingNamesThisNodeForAGroup) {
  for (std::int16_t version = 0; version <= 3; ++version) {
    protocol::find_coordinator_request request;
    request.key = "group-" + std::to_string(version);
    const auto answer = ask(version, request);
    EXPECT_EQ(answer.error_code, 0) << "v" << version;
    EXPECT_EQ(answer.node_id, 1) << "v" << version;
    EXPECT_EQ(answer.host, broker_.host()) << "v" << version;
    EXPECT_EQ(answer.port, broker_.port()) << "v" << version;
  }
}

TEST_F(FindCoordinatorTest, BatchedLookupAnswersEachKeyInOrder) {
  protocol::find_coordinator_request request;
  request.coordinator_keys = {"orders", "payments", "ünïcode-group"};
  const auto answer = ask(4, request);
  ASSERT_EQ(answer.coordinators.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    const auto& c = answer.coordinators[i];
    EXPECT_EQ(c.key, request.coordinator_keys[i]);
    EXPECT_EQ(c.error_code, 0) << c.key;
    EXPECT_EQ(c.node_id, 1) << c.key;
    EXPECT_EQ(c.host, broker_.host()) << c.key;
    EXPECT_EQ(c.port, broker_.port()) << c.key;
  }
}

TEST_F(FindCoordinatorTest, TransactionalIdsHaveNoCoordinatorAndUnknownKeyTypesAreInvalid) {
  protocol::find_coordinator_request request;
  request.key = "tx-1";
  request.key_type = 1;
  EXPECT_EQ(ask(1, request).error_code, static_cast<std::int16_t>(error_code::coordinator_not_available));

  protocol::find_coordinator_request batched;
  batched.key_type = 7;
  batched.coordinator_keys = {"a", "b"};
  const auto answer = ask(4, batched);
  ASSERT_EQ(answer.coordinators.size(), 2u);
  for (const auto& c : answer.coordinators) {
    EXPECT_EQ(c.error_code, static_cast<std::int16_t>(error_code::invalid_request)) << c.key;
    EXPECT_EQ(c.node_id, -1);
  }
}

}  // namespace
}  // namespace vltava::broker::testing
