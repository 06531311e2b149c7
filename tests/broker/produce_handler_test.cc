// Tests of the Produce and InitProducerId handlers on a real io_context, logs and topic registry, without a network:
// acks 0, 1 and all, per-partition errors, idempotent retries through the whole path, transactions refused, topic
// ids (v13), legacy message sets (v2), record errors (v8+), LogAppendTime, and the wake-up of long-polling fetches.
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
#include "vltava/protocol/legacy_message_set.h"
#include "vltava/protocol/record_batch_builder.h"
#include "vltava/storage/log_manager.h"

namespace vltava::broker {
namespace {

using protocol::bytes;
using protocol::error_code;
using storage::testing::as_bytes;
using storage::testing::make_batch;
using steady = std::chrono::steady_clock;

constexpr std::int16_t produce_version = 9;

bytes idempotent_batch(std::int64_t producer_id, std::int16_t epoch, std::int32_t sequence, int count,
                       bool transactional = false) {
  protocol::record_batch_builder_options options;
  options.producer_id = producer_id;
  options.producer_epoch = epoch;
  options.base_sequence = sequence;
  options.transactional = transactional;
  protocol::record_batch_builder builder(options);
  for (int i = 0; i < count; ++i) builder.append(1000 + i, as_bytes("k"), as_bytes("v" + std::to_string(i)));
  bytes out;
  EXPECT_FALSE(builder.build(out));
  return out;
}

class produce_handler_test : public testing::handler_test {
 protected:
  template <class Request>
  std::unique_ptr<testing::handler_call> start(handler_function handler, const Request& request, std::int16_t version) {
    return start_raw(handler, encoded(request, version), Request::api, version);
  }

  // Runs handler to its answer on a frame the test wrote itself.
  std::unique_ptr<testing::handler_call> start_raw(handler_function handler,
                                                   std::unique_ptr<testing::handler_call> call, protocol::api_key api,
                                                   std::int16_t version) {
    spawn(handler, *call, api, version);
    finish(*call);
    return call;
  }

  static protocol::produce_request produce_of(const std::string& topic,
                                              std::vector<std::pair<std::int32_t, bytes>> partitions,
                                              std::int16_t acks = 1) {
    protocol::produce_request request;
    request.acks = acks;
    request.timeout_ms = 30'000;
    auto& t = request.topic_data.emplace_back();
    t.name = topic;
    for (auto& [index, records] : partitions) {
      auto& p = t.partition_data.emplace_back();
      p.index = index;
      p.records = protocol::shared_bytes::adopt(std::move(records));
    }
    return request;
  }

  // Produces and returns the single partition's answer.
  protocol::produce_response::partition_produce_response produce_one(const std::string& topic, std::int32_t partition,
                                                                     bytes records, std::int16_t acks = 1,
                                                                     std::int16_t version = produce_version) {
    auto call = start(handle_produce, produce_of(topic, {{partition, std::move(records)}}, acks), version);
    const auto answer = decode<protocol::produce_response>(*call, version);
    EXPECT_EQ(answer.responses.size(), 1u);
    EXPECT_EQ(answer.responses.at(0).partition_responses.size(), 1u);
    return answer.responses.at(0).partition_responses.at(0);
  }

  std::shared_ptr<storage::partition_log> log_of(const std::string& topic, std::int32_t partition) {
    return topics_->find(topic)->partitions.at(partition).log;
  }
};

TEST_F(produce_handler_test, AcksOneAppendsAndAnswersWithOffsets) {
  auto first = produce_one("t", 0, make_batch(3, 1000));
  EXPECT_EQ(first.error_code, 0);
  EXPECT_EQ(first.base_offset, 0);
  EXPECT_EQ(first.log_append_time_ms, -1);
  EXPECT_EQ(first.log_start_offset, 0);
  EXPECT_FALSE(first.error_message.has_value());
  auto second = produce_one("t", 0, make_batch(2, 1000));
  EXPECT_EQ(second.base_offset, 3);
  EXPECT_EQ(log_of("t", 0)->log_end_offset(), 5);
  EXPECT_EQ(log_of("t", 0)->high_watermark(), 5) << "readable by consumers at once";
  EXPECT_EQ(log_of("t", 1)->log_end_offset(), 0);
}

TEST_F(produce_handler_test, BatchesCarryTheLeaderEpoch) {
  ASSERT_EQ(produce_one("t", 0, make_batch(2, 1000)).error_code, 0);
  storage::read_result read;
  ASSERT_FALSE(log_of("t", 0)->read(0, 1 << 20, 2, true, read));
  bytes stored;
  ASSERT_FALSE(read.records.read_into(stored));
  protocol::record_batch_view view;
  ASSERT_FALSE(protocol::record_batch_view::parse(stored, view));
  EXPECT_EQ(view.header().partition_leader_epoch, 0) << "the epoch Metadata reports";
  EXPECT_FALSE(view.validate()) << "the CRC does not cover the epoch";
}

TEST_F(produce_handler_test, AcksAllAnswersOnceFlushed) {
  auto answer = produce_one("t", 1, make_batch(4, 1000), -1);
  EXPECT_EQ(answer.error_code, 0);
  EXPECT_EQ(answer.base_offset, 0);
  EXPECT_GE(log_of("t", 1)->recovery_point(), 4) << "fsynced before the answer";
  // A retry of an idempotent batch waits for the flush too, and still answers.
  auto again = produce_one("t", 1, idempotent_batch(3, 0, 0, 2), -1);
  EXPECT_EQ(again.error_code, 0);
  auto duplicate = produce_one("t", 1, idempotent_batch(3, 0, 0, 2), -1);
  EXPECT_EQ(duplicate.base_offset, again.base_offset);
}

TEST_F(produce_handler_test, AcksZeroGetsNoAnswerAndErrorsCloseTheConnection) {
  auto call = start(handle_produce, produce_of("t", {{0, make_batch(1, 1000)}}, 0), produce_version);
  EXPECT_TRUE(call->response.empty());
  EXPECT_FALSE(call->ctx->close_connection);
  EXPECT_EQ(log_of("t", 0)->log_end_offset(), 1);

  auto failing = start(handle_produce, produce_of("missing", {{0, make_batch(1, 1000)}}, 0), produce_version);
  EXPECT_TRUE(failing->response.empty());
  EXPECT_TRUE(failing->ctx->close_connection) << "Kafka closes the connection so the client refreshes metadata";
}

TEST_F(produce_handler_test, TopicAndPartitionErrors) {
  EXPECT_EQ(produce_one("missing", 0, make_batch(1, 1000)).error_code,
            static_cast<std::int16_t>(error_code::unknown_topic_or_partition));
  EXPECT_FALSE(topics_->find("missing")) << "Produce does not create topics; Metadata does";
  const auto invalid = produce_one("bad/name", 0, make_batch(1, 1000));
  EXPECT_EQ(invalid.error_code, static_cast<std::int16_t>(error_code::invalid_topic_exception));
  EXPECT_EQ(invalid.base_offset, -1);
  EXPECT_EQ(produce_one("t", 2, make_batch(1, 1000)).error_code,
            static_cast<std::int16_t>(error_code::unknown_topic_or_partition));
  EXPECT_EQ(produce_one("t", -1, make_batch(1, 1000)).error_code,
            static_cast<std::int16_t>(error_code::unknown_topic_or_partition));
}

TEST_F(produce_handler_test, EachPartitionGetsItsOwnAnswer) {
  bytes corrupt = make_batch(1, 1000);
  corrupt.back() ^= 1;
  auto call = start(handle_produce, produce_of("t", {{0, make_batch(2, 1000)}, {1, corrupt}, {5, make_batch(1, 1)}}),
                    produce_version);
  const auto answer = decode<protocol::produce_response>(*call, produce_version);
  ASSERT_EQ(answer.responses.size(), 1u);
  const auto& partitions = answer.responses[0].partition_responses;
  ASSERT_EQ(partitions.size(), 3u);
  EXPECT_EQ(partitions[0].index, 0);
  EXPECT_EQ(partitions[0].error_code, 0);
  EXPECT_EQ(partitions[1].index, 1);
  EXPECT_EQ(partitions[1].error_code, static_cast<std::int16_t>(error_code::corrupt_message));
  ASSERT_TRUE(partitions[1].error_message.has_value());
  EXPECT_EQ(partitions[2].error_code, static_cast<std::int16_t>(error_code::unknown_topic_or_partition));
  EXPECT_EQ(log_of("t", 1)->log_end_offset(), 0);
}

TEST_F(produce_handler_test, InvalidAcks) {
  EXPECT_EQ(produce_one("t", 0, make_batch(1, 1000), 2).error_code,
            static_cast<std::int16_t>(error_code::invalid_required_acks));
  EXPECT_EQ(log_of("t", 0)->log_end_offset(), 0);
}

TEST_F(produce_handler_test, IdempotentProducerEndToEnd) {
  protocol::init_producer_id_request init;
  init.transaction_timeout_ms = 60'000;
  auto init_call = start(handle_init_producer_id, init, 4);
  const auto granted = decode<protocol::init_producer_id_response>(*init_call, 4);
  ASSERT_EQ(granted.error_code, 0);
  ASSERT_GE(granted.producer_id, 0);
  EXPECT_EQ(granted.producer_epoch, 0);
  const std::int64_t id = granted.producer_id;

  EXPECT_EQ(produce_one("t", 0, idempotent_batch(id, 0, 0, 3)).base_offset, 0);
  EXPECT_EQ(produce_one("t", 0, make_batch(2, 1000)).base_offset, 3);
  const auto retry = produce_one("t", 0, idempotent_batch(id, 0, 0, 3));
  EXPECT_EQ(retry.error_code, 0);
  EXPECT_EQ(retry.base_offset, 0) << "the original offset";
  EXPECT_EQ(log_of("t", 0)->log_end_offset(), 5) << "written once";
  EXPECT_EQ(produce_one("t", 0, idempotent_batch(id, 0, 7, 1)).error_code,
            static_cast<std::int16_t>(error_code::out_of_order_sequence_number));
  EXPECT_EQ(produce_one("t", 0, idempotent_batch(id, 1, 0, 1)).error_code, 0) << "a bumped epoch starts at 0";
  EXPECT_EQ(produce_one("t", 0, idempotent_batch(id, 0, 3, 1)).error_code,
            static_cast<std::int16_t>(error_code::invalid_producer_epoch));
  // Partitions keep separate state.
  EXPECT_EQ(produce_one("t", 1, idempotent_batch(id, 1, 0, 1)).base_offset, 0);
}

TEST_F(produce_handler_test, InitProducerIdHandsOutNewIds) {
  std::int64_t previous = -1;
  for (std::int16_t version = 0; version <= 4; ++version) {
    protocol::init_producer_id_request init;
    auto call = start(handle_init_producer_id, init, version);
    const auto answer = decode<protocol::init_producer_id_response>(*call, version);
    EXPECT_EQ(answer.error_code, 0) << version;
    EXPECT_GT(answer.producer_id, previous) << version;
    previous = answer.producer_id;
  }
  protocol::init_producer_id_request bump;  // KIP-360 form: an idempotent producer gets a new id
  bump.producer_id = previous;
  bump.producer_epoch = 5;
  auto call = start(handle_init_producer_id, bump, 3);
  const auto answer = decode<protocol::init_producer_id_response>(*call, 3);
  EXPECT_EQ(answer.error_code, 0);
  EXPECT_GT(answer.producer_id, previous);
  EXPECT_EQ(answer.producer_epoch, 0);
}

TEST_F(produce_handler_test, InitProducerIdRefusesTransactionsAndBadRequests) {
  protocol::init_producer_id_request transactional;
  transactional.transactional_id = "tx-1";
  auto call = start(handle_init_producer_id, transactional, 4);
  auto answer = decode<protocol::init_producer_id_response>(*call, 4);
  EXPECT_EQ(answer.error_code, static_cast<std::int16_t>(error_code::transactional_id_authorization_failed));
  EXPECT_EQ(answer.producer_id, -1);
  EXPECT_EQ(answer.producer_epoch, -1);

  transactional.transactional_id = "";
  call = start(handle_init_producer_id, transactional, 4);
  EXPECT_EQ(decode<protocol::init_producer_id_response>(*call, 4).error_code,
            static_cast<std::int16_t>(error_code::invalid_request));

  protocol::init_producer_id_request half;
  half.producer_id = 12;
  call = start(handle_init_producer_id, half, 3);
  EXPECT_EQ(decode<protocol::init_producer_id_response>(*call, 3).error_code,
            static_cast<std::int16_t>(error_code::invalid_request));
}

TEST_F(produce_handler_test, TransactionalBatchesAreRefusedOnEveryPartition) {
  auto request = produce_of("t", {{0, make_batch(1, 1000)}, {1, idempotent_batch(5, 0, 0, 1, true)}});
  request.transactional_id = "tx-1";
  auto call = start(handle_produce, request, produce_version);
  const auto answer = decode<protocol::produce_response>(*call, produce_version);
  for (const auto& partition : answer.responses.at(0).partition_responses) {
    EXPECT_EQ(partition.error_code, static_cast<std::int16_t>(error_code::transactional_id_authorization_failed));
  }
  EXPECT_EQ(log_of("t", 0)->log_end_offset(), 0);
}

TEST_F(produce_handler_test, VersionThirteenNamesTopicsById) {
  auto request = produce_of("", {{1, make_batch(2, 1000)}});
  request.topic_data[0].topic_id = topics_->find("t")->id;
  auto call = start(handle_produce, request, 13);
  auto answer = decode<protocol::produce_response>(*call, 13);
  ASSERT_EQ(answer.responses.size(), 1u);
  EXPECT_EQ(answer.responses[0].topic_id, topics_->find("t")->id);
  EXPECT_TRUE(answer.responses[0].name.empty());
  EXPECT_EQ(answer.responses[0].partition_responses.at(0).error_code, 0);
  EXPECT_EQ(log_of("t", 1)->log_end_offset(), 2);

  request.topic_data[0].topic_id.value[0] ^= 0xff;
  request.topic_data[0].partition_data[0].records = protocol::shared_bytes::adopt(make_batch(1, 1000));
  call = start(handle_produce, request, 13);
  answer = decode<protocol::produce_response>(*call, 13);
  EXPECT_EQ(answer.responses.at(0).partition_responses.at(0).error_code,
            static_cast<std::int16_t>(error_code::unknown_topic_id));
}

TEST_F(produce_handler_test, LegacyMessageSetsAreStoredAsRecordBatches) {
  protocol::legacy_message_set_writer writer(1, protocol::compression_codec::gzip);
  for (int i = 0; i < 3; ++i) writer.append(0, 1000 + i, as_bytes("k"), as_bytes("legacy" + std::to_string(i)));
  bytes set;
  ASSERT_FALSE(writer.finish(set));
  const auto answer = produce_one("t", 0, set, 1, 2);
  ASSERT_EQ(answer.error_code, 0);
  EXPECT_EQ(answer.base_offset, 0);

  storage::read_result read;
  ASSERT_FALSE(log_of("t", 0)->read(0, 1 << 20, 3, true, read));
  bytes stored;
  ASSERT_FALSE(read.records.read_into(stored));
  const auto records = storage::testing::decode_records(stored);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[2].value, "legacy2");
  EXPECT_EQ(records[2].offset, 2);
  EXPECT_EQ(protocol::peek_magic(stored), 2);
}

TEST_F(produce_handler_test, RecordErrorsAreReportedFromVersionEight) {
  ASSERT_EQ(topics_->create("compacted", 1, 1, {{"cleanup.policy", "compact"}}, false).error, error_code::none);
  protocol::record_batch_builder builder;
  builder.append(1000, as_bytes("key"), as_bytes("a"));
  builder.append(1001, std::nullopt, as_bytes("b"));
  bytes batch;
  ASSERT_FALSE(builder.build(batch));
  const auto answer = produce_one("compacted", 0, batch);
  EXPECT_EQ(answer.error_code, static_cast<std::int16_t>(error_code::invalid_record));
  ASSERT_EQ(answer.record_errors.size(), 1u);
  EXPECT_EQ(answer.record_errors[0].batch_index, 1);
  ASSERT_TRUE(answer.error_message.has_value());

  const auto old = produce_one("compacted", 0, batch, 1, 7);  // no record errors in v7: still the error
  EXPECT_EQ(old.error_code, static_cast<std::int16_t>(error_code::invalid_record));
  EXPECT_EQ(log_of("compacted", 0)->log_end_offset(), 0);
}

TEST_F(produce_handler_test, LogAppendTimeIsReported) {
  ASSERT_EQ(topics_->create("stamped", 1, 1, {{"message.timestamp.type", "LogAppendTime"}}, false).error,
            error_code::none);
  const auto answer = produce_one("stamped", 0, make_batch(2, 5));
  EXPECT_EQ(answer.error_code, 0);
  EXPECT_GT(answer.log_append_time_ms, 1'600'000'000'000);
}

TEST_F(produce_handler_test, AppendsWakeWaitingFetches) {
  int woken = 0;
  auto waiters = topics_->find("t")->partitions.at(0).waiters;
  const auto token = waiters->add([&] { ++woken; });
  produce_one("t", 0, make_batch(1, 1000));
  EXPECT_EQ(woken, 1);
  waiters->remove(token);
}

TEST_F(produce_handler_test, UndecodableRequestClosesTheConnection) {
  auto call = std::make_unique<testing::handler_call>();
  call->frame->assign({0x00, 0x01, 0x02});
  call = start_raw(handle_produce, std::move(call), protocol::api_key::produce, produce_version);
  EXPECT_TRUE(call->response.empty());
  EXPECT_TRUE(call->ctx->close_connection);
}

}  // namespace
}  // namespace vltava::broker
