// Tests of the Fetch and ListOffsets handlers on a real io_context, logs and topic registry, without a network: the
// long poll (woken by an append, or answered at max_wait_ms), fetch sessions across requests, topic ids, errors, and
// ListOffsets' answers. The io_context runs on the test thread: poll() runs a handler until it waits, so a test
// knows a fetch is parked before it appends, with no sleeping.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "../storage/storage_test_support.h"
#include "handler_test_support.h"
#include "vltava/broker/broker_services.h"
#include "vltava/broker/handlers.h"
#include "vltava/broker/partition_waiters.h"
#include "vltava/broker/producer_state.h"
#include "vltava/broker/topic_config.h"
#include "vltava/broker/topic_registry.h"
#include "vltava/protocol/framing.h"
#include "vltava/storage/log_manager.h"

namespace vltava::broker {
namespace {

using protocol::error_code;
using storage::testing::decode_records;
using storage::testing::make_batch;
using steady = std::chrono::steady_clock;

constexpr std::int16_t fetch_version = 12;

class fetch_handler_test : public testing::handler_test {
 protected:
  // Appends as Produce does: the batch, then the high watermark, then the wake-up.
  std::size_t produce(std::int32_t partition, protocol::bytes batch) {
    auto t = topics_->find("t");
    const auto& p = t->partitions.at(partition);
    storage::append_result result;
    EXPECT_FALSE(p.log->append(batch, result));
    p.log->set_high_watermark(p.log->log_end_offset());
    p.waiters->notify_all();
    return batch.size();
  }

  template <class Request>
  std::unique_ptr<testing::handler_call> start(handler_function handler, const Request& request, std::int16_t version) {
    auto call = encoded(request, version);
    spawn(handler, *call, Request::api, version);
    return call;
  }

  static protocol::fetch_request fetch_of(std::vector<std::pair<std::int32_t, std::int64_t>> partitions,
                                          std::int32_t max_wait_ms, std::int32_t min_bytes) {
    protocol::fetch_request request;
    request.max_wait_ms = max_wait_ms;
    request.min_bytes = min_bytes;
    request.max_bytes = 1 << 20;
    auto& topic = request.topics.emplace_back();
    topic.topic = "t";
    for (auto [partition, offset] : partitions) {
      auto& p = topic.partitions.emplace_back();
      p.partition = partition;
      p.fetch_offset = offset;
      p.partition_max_bytes = 1 << 20;
    }
    return request;
  }
};

TEST_F(fetch_handler_test, DataAlreadyThereIsAnsweredAtOnce) {
  produce(0, make_batch(3, 1000));
  auto call = start(handle_fetch, fetch_of({{0, 0}, {1, 0}}, 10'000, 1), fetch_version);
  ASSERT_TRUE(call->done);
  const auto answer = decode<protocol::fetch_response>(*call, fetch_version);
  EXPECT_EQ(answer.error_code, 0);
  EXPECT_EQ(answer.session_id, 0);
  ASSERT_EQ(answer.responses.size(), 1u);
  EXPECT_EQ(answer.responses[0].topic, "t");
  ASSERT_EQ(answer.responses[0].partitions.size(), 2u);
  const auto& p0 = answer.responses[0].partitions[0];
  EXPECT_EQ(p0.error_code, 0);
  EXPECT_EQ(p0.high_watermark, 3);
  EXPECT_EQ(p0.last_stable_offset, 3);
  EXPECT_EQ(p0.log_start_offset, 0);
  EXPECT_EQ(p0.preferred_read_replica, -1);
  ASSERT_TRUE(p0.aborted_transactions.has_value());
  EXPECT_TRUE(p0.aborted_transactions->empty());
  ASSERT_TRUE(p0.records.has_value());
  EXPECT_EQ(decode_records(p0.records->span()).size(), 3u);
  const auto& p1 = answer.responses[0].partitions[1];
  ASSERT_TRUE(p1.records.has_value());
  EXPECT_TRUE(p1.records->empty());
}

TEST_F(fetch_handler_test, LongPollWakesAsSoonAsDataArrives) {
  const auto started = steady::now();
  auto call = start(handle_fetch, fetch_of({{0, 0}, {1, 0}}, 10'000, 1), fetch_version);
  ASSERT_FALSE(call->done) << "nothing to read yet: the fetch waits";
  produce(1, make_batch(2, 1000));
  finish(*call);
  EXPECT_LT(steady::now() - started, std::chrono::seconds(5)) << "woken by the append, not by max_wait_ms";
  const auto answer = decode<protocol::fetch_response>(*call, fetch_version);
  ASSERT_EQ(answer.responses.size(), 1u);
  ASSERT_EQ(answer.responses[0].partitions.size(), 2u);
  EXPECT_EQ(decode_records(answer.responses[0].partitions[1].records->span()).size(), 2u);
}

TEST_F(fetch_handler_test, LongPollWaitsForMinBytes) {
  auto call = start(handle_fetch, fetch_of({{0, 0}}, 10'000, 2000), fetch_version);
  ASSERT_FALSE(call->done);
  produce(0, make_batch(1, 1000));  // well below 2000 bytes: woken, reads, waits again
  io_.restart();
  io_.poll();
  ASSERT_FALSE(call->done);
  produce(0, make_batch(5, 1000, "k", protocol::compression_codec::none, 500));
  finish(*call);
  const auto answer = decode<protocol::fetch_response>(*call, fetch_version);
  EXPECT_EQ(decode_records(answer.responses[0].partitions[0].records->span()).size(), 6u);
}

TEST_F(fetch_handler_test, LongPollAnswersEmptyAtMaxWait) {
  const auto started = steady::now();
  auto call = start(handle_fetch, fetch_of({{0, 0}}, 100, 1), fetch_version);
  ASSERT_FALSE(call->done);
  finish(*call);
  EXPECT_GE(steady::now() - started, std::chrono::milliseconds(100));
  const auto answer = decode<protocol::fetch_response>(*call, fetch_version);
  ASSERT_EQ(answer.responses.size(), 1u);
  EXPECT_EQ(answer.responses[0].partitions[0].error_code, 0);
  EXPECT_TRUE(answer.responses[0].partitions[0].records->empty());
  // The fetch's wake-up is gone with it.
  produce(0, make_batch(1, 1000));
}

TEST_F(fetch_handler_test, UnknownTopicIsAnsweredAtOnceWithAnError) {
  auto request = fetch_of({{0, 0}}, 10'000, 1);
  request.topics[0].topic = "missing";
  auto& known = request.topics.emplace_back();
  known.topic = "t";
  known.partitions.emplace_back().partition = 5;  // no such partition
  auto call = start(handle_fetch, request, fetch_version);
  ASSERT_TRUE(call->done);
  const auto answer = decode<protocol::fetch_response>(*call, fetch_version);
  ASSERT_EQ(answer.responses.size(), 2u);
  EXPECT_EQ(answer.responses[0].partitions[0].error_code,
            static_cast<std::int16_t>(error_code::unknown_topic_or_partition));
  EXPECT_EQ(answer.responses[0].partitions[0].high_watermark, -1);
  EXPECT_EQ(answer.responses[1].partitions[0].error_code,
            static_cast<std::int16_t>(error_code::unknown_topic_or_partition));
}

TEST_F(fetch_handler_test, OffsetOutOfRange) {
  produce(0, make_batch(2, 1000));
  auto call = start(handle_fetch, fetch_of({{0, 99}}, 10'000, 1), fetch_version);
  ASSERT_TRUE(call->done);
  const auto answer = decode<protocol::fetch_response>(*call, fetch_version);
  const auto& p = answer.responses[0].partitions[0];
  EXPECT_EQ(p.error_code, static_cast<std::int16_t>(error_code::offset_out_of_range));
  EXPECT_EQ(p.high_watermark, 2);
  EXPECT_EQ(p.log_start_offset, 0);
}

TEST_F(fetch_handler_test, EveryServedVersionRoundTrips) {
  produce(0, make_batch(2, 1000));
  for (std::int16_t version = 4; version <= 12; ++version) {
    auto call = start(handle_fetch, fetch_of({{0, 0}}, 0, 0), version);
    ASSERT_TRUE(call->done) << version;
    const auto answer = decode<protocol::fetch_response>(*call, version);
    ASSERT_EQ(answer.responses.size(), 1u) << version;
    EXPECT_EQ(decode_records(answer.responses[0].partitions[0].records->span()).size(), 2u) << version;
  }
}

TEST_F(fetch_handler_test, TopicIdsFromVersion13) {
  produce(0, make_batch(2, 1000));
  const auto id = topics_->find("t")->id;
  for (std::int16_t version = 13; version <= 17; ++version) {
    auto request = fetch_of({{0, 0}}, 0, 0);
    request.topics[0].topic.clear();
    request.topics[0].topic_id = id;
    auto& unknown = request.topics.emplace_back();
    unknown.topic_id.value[15] = 1;
    unknown.partitions.emplace_back().partition = 0;
    auto call = start(handle_fetch, request, version);
    ASSERT_TRUE(call->done);
    const auto answer = decode<protocol::fetch_response>(*call, version);
    ASSERT_EQ(answer.responses.size(), 2u);
    EXPECT_EQ(answer.responses[0].topic_id, id);
    EXPECT_EQ(decode_records(answer.responses[0].partitions[0].records->span()).size(), 2u);
    EXPECT_EQ(answer.responses[1].partitions[0].error_code, static_cast<std::int16_t>(error_code::unknown_topic_id));
  }
}

TEST_F(fetch_handler_test, IncrementalSessionListsOnlyWhatChanged) {
  produce(0, make_batch(2, 1000));
  auto full = fetch_of({{0, 0}, {1, 0}}, 0, 0);
  full.session_id = 0;
  full.session_epoch = 0;
  auto call = start(handle_fetch, full, fetch_version);
  const auto created = decode<protocol::fetch_response>(*call, fetch_version);
  ASSERT_NE(created.session_id, 0);
  ASSERT_EQ(created.responses.at(0).partitions.size(), 2u);

  // The client moved partition 0 on to offset 2 and sends only that.
  auto incremental = fetch_of({{0, 2}}, 0, 0);
  incremental.session_id = created.session_id;
  incremental.session_epoch = 1;
  call = start(handle_fetch, incremental, fetch_version);
  auto answer = decode<protocol::fetch_response>(*call, fetch_version);
  EXPECT_EQ(answer.error_code, 0);
  EXPECT_EQ(answer.session_id, created.session_id);
  EXPECT_TRUE(answer.responses.empty()) << "nothing new anywhere";

  // New data in partition 1, which the request does not name: the session long-polls it and lists only it.
  auto waiting = fetch_of({}, 10'000, 1);
  waiting.topics.clear();
  waiting.session_id = created.session_id;
  waiting.session_epoch = 2;
  call = start(handle_fetch, waiting, fetch_version);
  ASSERT_FALSE(call->done);
  produce(1, make_batch(3, 1000));
  finish(*call);
  answer = decode<protocol::fetch_response>(*call, fetch_version);
  ASSERT_EQ(answer.responses.size(), 1u);
  ASSERT_EQ(answer.responses[0].partitions.size(), 1u);
  EXPECT_EQ(answer.responses[0].partitions[0].partition_index, 1);
  EXPECT_EQ(decode_records(answer.responses[0].partitions[0].records->span()).size(), 3u);

  // A stale epoch is refused with a top-level error.
  call = start(handle_fetch, waiting, fetch_version);
  answer = decode<protocol::fetch_response>(*call, fetch_version);
  EXPECT_EQ(answer.error_code, static_cast<std::int16_t>(error_code::invalid_fetch_session_epoch));
  EXPECT_EQ(answer.session_id, 0);
  EXPECT_TRUE(answer.responses.empty());
}

TEST_F(fetch_handler_test, MalformedRequestClosesTheConnection) {
  auto call = std::make_unique<testing::handler_call>();
  *call->frame = {0x00, 0x01};  // far too short for any Fetch body
  protocol::request_header header;
  header.request_api_key = 1;
  header.request_api_version = fetch_version;
  protocol::reader body(protocol::byte_span(call->frame->data(), call->frame->size()), call->frame);
  call->ctx.reset(new request_context{header, fetch_version, call->frame, body, "test", *services_});
  boost::asio::co_spawn(io_, handle_fetch(*call->ctx, call->response),
                        [raw = call.get()](std::exception_ptr) { raw->done = true; });
  io_.poll();
  ASSERT_TRUE(call->done);
  EXPECT_TRUE(call->ctx->close_connection);
  EXPECT_TRUE(call->response.empty());
}

protocol::list_offsets_request list_offsets_of(std::vector<std::pair<std::int32_t, std::int64_t>> partitions,
                                               const std::string& topic = "t") {
  protocol::list_offsets_request request;
  request.replica_id = -1;
  auto& t = request.topics.emplace_back();
  t.name = topic;
  for (auto [partition, timestamp] : partitions) {
    auto& p = t.partitions.emplace_back();
    p.partition_index = partition;
    p.timestamp = timestamp;
  }
  return request;
}

TEST_F(fetch_handler_test, ListOffsetsAnswers) {
  produce(0, make_batch(3, 1000));
  produce(0, make_batch(2, 5000));
  constexpr std::int16_t version = 7;
  auto request = list_offsets_of({{0, -2}, {0, -1}});
  auto& more = request.topics.emplace_back();
  more.name = "t";
  more.partitions.emplace_back().partition_index = 1;
  more.partitions.back().timestamp = -1;
  auto call = start(handle_list_offsets, request, version);
  ASSERT_TRUE(call->done);
  auto answer = decode<protocol::list_offsets_response>(*call, version);
  ASSERT_EQ(answer.topics.size(), 2u);
  // Partition 0 is named twice: Kafka refuses both.
  EXPECT_EQ(answer.topics[0].partitions[0].error_code, static_cast<std::int16_t>(error_code::invalid_request));
  EXPECT_EQ(answer.topics[0].partitions[1].error_code, static_cast<std::int16_t>(error_code::invalid_request));
  EXPECT_EQ(answer.topics[1].partitions[0].error_code, 0);
  EXPECT_EQ(answer.topics[1].partitions[0].offset, 0);

  call = start(handle_list_offsets, list_offsets_of({{0, -2}}), version);
  answer = decode<protocol::list_offsets_response>(*call, version);
  EXPECT_EQ(answer.topics[0].partitions[0].offset, 0);
  EXPECT_EQ(answer.topics[0].partitions[0].timestamp, -1);
  EXPECT_EQ(answer.topics[0].partitions[0].leader_epoch, -1);
  call = start(handle_list_offsets, list_offsets_of({{0, -1}}), version);
  answer = decode<protocol::list_offsets_response>(*call, version);
  EXPECT_EQ(answer.topics[0].partitions[0].offset, 5);
  call = start(handle_list_offsets, list_offsets_of({{0, -3}}), version);
  answer = decode<protocol::list_offsets_response>(*call, version);
  EXPECT_EQ(answer.topics[0].partitions[0].offset, 4);
  EXPECT_EQ(answer.topics[0].partitions[0].timestamp, 5001);
  call = start(handle_list_offsets, list_offsets_of({{0, 1001}}), version);
  answer = decode<protocol::list_offsets_response>(*call, version);
  EXPECT_EQ(answer.topics[0].partitions[0].offset, 1);
  EXPECT_EQ(answer.topics[0].partitions[0].timestamp, 1001);
  call = start(handle_list_offsets, list_offsets_of({{0, 99'999}}), version);
  answer = decode<protocol::list_offsets_response>(*call, version);
  EXPECT_EQ(answer.topics[0].partitions[0].error_code, 0);
  EXPECT_EQ(answer.topics[0].partitions[0].offset, -1);
  EXPECT_EQ(answer.topics[0].partitions[0].timestamp, -1);
}

TEST_F(fetch_handler_test, ListOffsetsErrors) {
  // Max timestamp needs v7.
  auto call = start(handle_list_offsets, list_offsets_of({{0, -3}}), 6);
  auto answer = decode<protocol::list_offsets_response>(*call, 6);
  EXPECT_EQ(answer.topics[0].partitions[0].error_code, static_cast<std::int16_t>(error_code::unsupported_version));
  call = start(handle_list_offsets, list_offsets_of({{0, -1}}, "missing"), 6);
  answer = decode<protocol::list_offsets_response>(*call, 6);
  EXPECT_EQ(answer.topics[0].partitions[0].error_code,
            static_cast<std::int16_t>(error_code::unknown_topic_or_partition));
  EXPECT_EQ(answer.topics[0].partitions[0].offset, -1);
}

TEST_F(fetch_handler_test, ListOffsetsEveryServedVersionRoundTrips) {
  produce(1, make_batch(4, 1000));
  for (std::int16_t version = 1; version <= 11; ++version) {
    auto call = start(handle_list_offsets, list_offsets_of({{1, -1}}), version);
    ASSERT_TRUE(call->done);
    const auto answer = decode<protocol::list_offsets_response>(*call, version);
    EXPECT_EQ(answer.topics[0].partitions[0].offset, 4) << version;
  }
}

}  // namespace
}  // namespace vltava::broker
