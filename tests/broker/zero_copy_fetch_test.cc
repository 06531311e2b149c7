// Zero-copy Fetch: record bytes go from the segment files to the socket with sendfile(2). These tests run the real
// server (in process, so that its send counters are visible, and as the broker binary) over loopback and check that
// every record byte a client receives is the byte that was produced, with the counters saying which path sent them:
// Fetch v4 (int32 records lengths) and v12 (flexible: unsigned varint lengths and tagged fields after the records),
// several partitions in one response, a slice from the middle of a segment, responses far larger than the socket
// buffers (so sendfile runs into EAGAIN and waits for the socket), and a topic deleted while its records are being
// sent. Every wait has a deadline.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "broker_process.h"
#include "handler_test_support.h"
#include "raw_client.h"
#include "vltava/broker/server.h"
#include "vltava/protocol/framing.h"
#include "vltava/protocol/record_batch_builder.h"

namespace vltava::broker {
namespace {

using protocol::error_code;
using testing::raw_client;

constexpr std::int32_t large_limit = 64 << 20;

// One batch of `records` records with pseudo-random values, so that a byte out of place cannot go unnoticed.
protocol::bytes random_batch(std::mt19937_64& random, int records, std::size_t value_size, std::int64_t timestamp) {
  protocol::record_batch_builder builder;
  std::string value(value_size, '\0');
  for (int i = 0; i < records; ++i) {
    for (auto& c : value) c = static_cast<char>(random());
    const std::string key = "key-" + std::to_string(random() % 100000);
    builder.append(timestamp + i, storage::testing::as_bytes(key), storage::testing::as_bytes(value));
  }
  protocol::bytes out;
  EXPECT_FALSE(builder.build(out));
  return out;
}

protocol::fetch_request fetch_of(std::vector<std::pair<std::int32_t, std::int64_t>> partitions) {
  protocol::fetch_request request;
  request.max_wait_ms = 0;
  request.min_bytes = 0;
  request.max_bytes = large_limit;
  auto& topic = request.topics.emplace_back();
  topic.topic = "t";
  for (auto [partition, offset] : partitions) {
    auto& p = topic.partitions.emplace_back();
    p.partition = partition;
    p.fetch_offset = offset;
    p.partition_max_bytes = large_limit;
  }
  return request;
}

// The records of one partition of a response, or an empty span (with a test failure) when it is not there.
protocol::bytes records_of(const protocol::fetch_response& response, std::int32_t partition) {
  for (const auto& topic : response.responses) {
    for (const auto& p : topic.partitions) {
      if (p.partition_index != partition) continue;
      EXPECT_EQ(p.error_code, 0) << "partition " << partition;
      if (!p.records) return {};
      return protocol::bytes(p.records->span().begin(), p.records->span().end());
    }
  }
  ADD_FAILURE() << "partition " << partition << " is not in the response";
  return {};
}

// The data of one partition as stored: the batches back to back (append assigns offsets in place, so these are
// the file's bytes), and where each batch starts.
struct produced {
  protocol::bytes bytes;
  std::vector<std::size_t> positions;
  std::vector<std::int64_t> offsets;
};

class zero_copy_fetch_test : public testing::handler_test {
 protected:
  void SetUp() override {
    ::unsetenv("VLTAVA_FILE_SENDS");  // the options below decide
    handler_test::SetUp();
  }
  void TearDown() override {
    stop_server();
    handler_test::TearDown();
  }

  void start_server(file_send_mode mode) {
    server_options options;
    options.listeners = {{"127.0.0.1", 0}};
    options.threads = 2;
    options.file_sends = mode;
    server_ = std::make_unique<server>(options, *services_);
    ASSERT_FALSE(server_->start());
    thread_ = std::thread([this] { server_->run(); });
  }
  void stop_server() {
    if (!server_) return;
    server_->stop();
    if (thread_.joinable()) thread_.join();
    server_.reset();
  }
  ::testing::AssertionResult connect(raw_client& client) {
    return client.connect("127.0.0.1", server_->bound().front().port());
  }

  // Appends about `total` bytes to the partition in batches of about 100 KiB, as Produce does.
  produced produce(std::int32_t partition, std::size_t total) {
    produced out;
    const auto t = topics_->find("t");
    const auto& p = t->partitions.at(partition);
    while (out.bytes.size() < total) {
      auto batch = random_batch(random_, 50, 2000, 1'700'000'000'000 + static_cast<std::int64_t>(out.bytes.size()));
      storage::append_result result;
      EXPECT_FALSE(p.log->append(batch, result));
      out.positions.push_back(out.bytes.size());
      out.offsets.push_back(protocol::load_be<std::int64_t>(batch.data()));  // base offset, assigned in place
      out.bytes.insert(out.bytes.end(), batch.begin(), batch.end());
    }
    p.log->set_high_watermark(p.log->log_end_offset());
    return out;
  }

  std::mt19937_64 random_{20261203};
  std::unique_ptr<server> server_;
  std::thread thread_;
};

class ZeroCopyFetchVersions : public zero_copy_fetch_test, public ::testing::WithParamInterface<std::int16_t> {};

// Two partitions in one response of about 10 MiB, the first from the middle of its segment: byte-identical in
// every send mode, and the counters say that sendfile sent every record byte (and nothing else did) by default.
TEST_P(ZeroCopyFetchVersions, RecordsArriveByteIdenticalAndSendfileSendsThem) {
  const std::int16_t version = GetParam();
  const auto p0 = produce(0, 6 << 20);
  const auto p1 = produce(1, 4 << 20);
  const std::size_t middle = p0.positions.size() / 3;
  const protocol::bytes expected0(p0.bytes.begin() + static_cast<std::ptrdiff_t>(p0.positions[middle]), p0.bytes.end());
  const std::uint64_t record_bytes = expected0.size() + p1.bytes.size();

  for (auto mode : {file_send_mode::sendfile, file_send_mode::read, file_send_mode::copy}) {
    SCOPED_TRACE("mode " + std::to_string(static_cast<int>(mode)));
    start_server(mode);
    raw_client client;
    ASSERT_TRUE(connect(client));
    // Twice on one connection: the second answer follows the first whole one (the frame sizes count the files).
    for (std::int32_t correlation = 1; correlation <= 2; ++correlation) {
      ASSERT_TRUE(client.send_request(correlation, version, fetch_of({{0, p0.offsets[middle]}, {1, 0}})));
      protocol::fetch_response response;
      ASSERT_TRUE(client.read_response(correlation, version, response));
      const auto got0 = records_of(response, 0);
      const auto got1 = records_of(response, 1);
      ASSERT_EQ(got0.size(), expected0.size());
      EXPECT_TRUE(got0 == expected0) << "partition 0 differs from what was produced";
      ASSERT_EQ(got1.size(), p1.bytes.size());
      EXPECT_TRUE(got1 == p1.bytes) << "partition 1 differs from what was produced";
    }
    const auto stats = server_->stats();
    switch (mode) {
      case file_send_mode::sendfile:
        EXPECT_EQ(stats.sendfile_bytes, 2 * record_bytes);
        EXPECT_EQ(stats.read_bytes, 0u);
        break;
      case file_send_mode::read:
        EXPECT_EQ(stats.sendfile_bytes, 0u);
        EXPECT_EQ(stats.read_bytes, 2 * record_bytes);
        break;
      case file_send_mode::copy:
        EXPECT_EQ(stats.sendfile_bytes, 0u);
        EXPECT_EQ(stats.read_bytes, 0u);
        break;
    }
    client.close();
    stop_server();
  }
}

INSTANTIATE_TEST_SUITE_P(NonFlexibleAndFlexible, ZeroCopyFetchVersions, ::testing::Values(4, 12),
                         [](const auto& test) { return "v" + std::to_string(test.param); });

// Empty partitions, an unknown partition and data side by side: the gaps land where the encoder left them.
TEST_F(zero_copy_fetch_test, EmptyAndMissingPartitionsBesideRecords) {
  const auto p1 = produce(1, 300 << 10);
  start_server(file_send_mode::sendfile);
  raw_client client;
  ASSERT_TRUE(connect(client));
  ASSERT_TRUE(client.send_request(1, 12, fetch_of({{0, 0}, {7, 0}, {1, 0}})));
  protocol::fetch_response response;
  ASSERT_TRUE(client.read_response(1, 12, response));
  ASSERT_EQ(response.responses.size(), 1u);
  const auto& partitions = response.responses[0].partitions;
  ASSERT_EQ(partitions.size(), 3u);
  EXPECT_EQ(partitions[0].error_code, 0);
  EXPECT_TRUE(!partitions[0].records || partitions[0].records->empty());
  EXPECT_EQ(partitions[1].error_code, static_cast<std::int16_t>(error_code::unknown_topic_or_partition));
  EXPECT_TRUE(records_of(response, 1) == p1.bytes);
  EXPECT_EQ(server_->stats().sendfile_bytes, p1.bytes.size());
}

// The topic is deleted (its segment files unlinked, its logs closed) while a 16 MiB answer is stuck in sendfile
// behind a client that does not read: the rest of the answer still comes from the open file, byte for byte.
TEST_F(zero_copy_fetch_test, TopicDeletedDuringTheSendStillSendsWhatWasRead) {
  const auto p0 = produce(0, 16 << 20);
  const auto segment_dir = topics_->find("t")->partitions.at(0).log->directory();
  start_server(file_send_mode::sendfile);
  raw_client fetcher;
  ASSERT_TRUE(connect(fetcher));
  ASSERT_TRUE(fetcher.send_request(1, 12, fetch_of({{0, 0}})));

  // Wait until the send has started (and, the client reading nothing, stalled on a full socket).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (server_->stats().sendfile_bytes == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  ASSERT_GT(server_->stats().sendfile_bytes, 0u);

  raw_client admin;
  ASSERT_TRUE(connect(admin));
  protocol::delete_topics_request deletion;
  deletion.topic_names = {"t"};
  deletion.timeout_ms = 30'000;
  ASSERT_TRUE(admin.send_request(1, 4, deletion));
  protocol::delete_topics_response deleted;
  ASSERT_TRUE(admin.read_response(1, 4, deleted));
  ASSERT_EQ(deleted.responses.size(), 1u);
  ASSERT_EQ(deleted.responses[0].error_code, 0);
  EXPECT_EQ(topics_->find("t"), nullptr);
  const auto sent_before_reading = server_->stats().sendfile_bytes;
  EXPECT_LT(sent_before_reading, p0.bytes.size()) << "the answer was sent before the topic was deleted";
  const auto wait_gone = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::filesystem::exists(segment_dir) && std::chrono::steady_clock::now() < wait_gone) {
    std::this_thread::yield();
  }
  EXPECT_FALSE(std::filesystem::exists(segment_dir)) << "the partition's files are still there";

  protocol::fetch_response response;
  ASSERT_TRUE(fetcher.read_response(1, 12, response));
  const auto got = records_of(response, 0);
  ASSERT_EQ(got.size(), p0.bytes.size());
  EXPECT_TRUE(got == p0.bytes);
  EXPECT_EQ(server_->stats().sendfile_bytes, p0.bytes.size());
}

// The broker binary: produce ~8 MiB over the wire, fetch it back in one answer with v4 and v12, and read in the
// broker's log (written at shutdown) how many bytes sendfile sent.
TEST(ZeroCopyFetchBroker, BrokerBinarySendsFetchedRecordsWithSendfile) {
  ::unsetenv("VLTAVA_FILE_SENDS");
  testing::broker_process broker({"num.partitions=1"});
  ASSERT_TRUE(broker.start());
  raw_client client;
  ASSERT_TRUE(client.connect(broker.host(), broker.port()));

  protocol::create_topics_request create;
  auto& topic = create.topics.emplace_back();
  topic.name = "t";
  topic.num_partitions = 1;
  topic.replication_factor = 1;
  ASSERT_TRUE(client.send_request(1, 5, create));
  protocol::create_topics_response created;
  ASSERT_TRUE(client.read_response(1, 5, created));
  ASSERT_EQ(created.topics.size(), 1u);
  ASSERT_EQ(created.topics[0].error_code, 0);

  std::mt19937_64 random(7);
  std::size_t produced_bytes = 0;
  std::int32_t correlation = 2;
  while (produced_bytes < (8u << 20)) {
    auto batch = random_batch(random, 100, 4000, 1'700'000'000'000);
    protocol::produce_request produce;
    produce.acks = 1;
    produce.timeout_ms = 30'000;
    auto& data = produce.topic_data.emplace_back();
    data.name = "t";
    auto& partition = data.partition_data.emplace_back();
    partition.index = 0;
    partition.records = protocol::shared_bytes::copy_of(batch);
    ASSERT_TRUE(client.send_request(correlation, 9, produce));
    protocol::produce_response answer;
    ASSERT_TRUE(client.read_response(correlation, 9, answer));
    ASSERT_EQ(answer.responses.at(0).partition_responses.at(0).error_code, 0);
    produced_bytes += batch.size();
    ++correlation;
  }
  // What was produced, as stored (the broker assigned offsets in place): the segment file itself.
  protocol::bytes stored;
  {
    std::ifstream segment(broker.log_dir() / "t-0" / "00000000000000000000.log", std::ios::binary);
    stored.assign(std::istreambuf_iterator<char>(segment), std::istreambuf_iterator<char>());
  }
  ASSERT_EQ(stored.size(), produced_bytes);

  for (std::int16_t version : {std::int16_t{4}, std::int16_t{12}}) {
    ASSERT_TRUE(client.send_request(correlation, version, fetch_of({{0, 0}})));
    protocol::fetch_response response;
    ASSERT_TRUE(client.read_response(correlation, version, response));
    const auto got = records_of(response, 0);
    ASSERT_EQ(got.size(), stored.size()) << "v" << version;
    EXPECT_TRUE(got == stored) << "v" << version;
    ++correlation;
  }
  client.close();
  ASSERT_TRUE(broker.stop());
  const std::string log = broker.log_contents();
  std::smatch match;
  ASSERT_TRUE(std::regex_search(log, match, std::regex("file bytes sent since start: (\\d+) with sendfile"))) << log;
  EXPECT_EQ(std::stoull(match[1].str()), 2 * stored.size());
}

}  // namespace
}  // namespace vltava::broker
