// Real clients against the real broker, each through its own round-trip script in compat/clients/: kcat, confluent-
// kafka-python, kafka-python and KafkaJS. Each test starts a broker (port 0, temporary directory), runs the script as a
// child process with a deadline (it produces records with keys, values, headers and timestamps with each codec the
// client has built in, reads them back and checks them; it prints one JSON summary line), and then checks on the
// broker side, independently of that client, that the records are really there: librdkafka reads every topic the
// script names and checks the watermarks (0..N), every offset, key, value, header and timestamp, and the segment files
// show that every batch was written with the codec the client was asked to use. (One known exception, checked as
// such: librdkafka sends lz4 batches uncompressed while the broker does not advertise FindCoordinator.)
//
// The record scheme is shared with the scripts (see their headers): record i of codec C in topic "<topic>-C" has key
// "key-C-i", value "value-C-i-" + "0123456789abcdef" x 8, headers index=i, codec=C, client=<client>, dup=1, dup=2, and
// CreateTime base + i. kcat is the exception: its -H headers are the same for every record (no index), and it cannot
// set timestamps, so librdkafka stamps the time of production.
//
// The scripts consume by assigning partitions (client_group_test.cc covers consumer groups). KafkaJS has no such
// consumer (it always joins a group): its script only produces and checks offsets through its admin client, and the
// records' contents are checked here with librdkafka. A missing client skips its test with the command that installs
// it; scripts/test.sh installs every one (scripts/install-deps.sh, scripts/install-compat.sh).

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "broker_process.h"
#include "client_test_support.h"
#include "rdkafka_message.h"
#include "vltava/broker/handlers.h"

namespace vltava::broker::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

// Records per topic (per codec). KafkaJS sends them in batches of 25, so several batches per partition.
constexpr int record_count = 100;
// The script's own deadline, and the test's deadline for the script (the script should fail first, with a reason).
constexpr int script_timeout_seconds = 120;
constexpr auto child_deadline = std::chrono::seconds(script_timeout_seconds + 30);
constexpr auto verify_deadline = 60s;
const std::string filler = [] {
  std::string text;
  for (int i = 0; i < 8; ++i) text += "0123456789abcdef";
  return text;
}();

// ---- what the broker holds, seen through librdkafka and the segment files ----

struct record {
  std::int64_t offset = 0;
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::int64_t timestamp = 0;
  rd_kafka_timestamp_type_t timestamp_type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
  std::vector<std::pair<std::string, std::string>> headers;
};

// A librdkafka simple consumer (no group) of `bootstrap`.
::testing::AssertionResult make_consumer(const std::string& bootstrap, rdkafka_handle& out) {
  return make_client(RD_KAFKA_CONSUMER,
                     {{"bootstrap.servers", bootstrap},
                      {"broker.address.family", "v4"},
                      {"client.id", "vltava-roundtrip-check"},
                      {"enable.partition.eof", "true"}},
                     out);
}

// Watermarks of partition 0, then every record below the high watermark.
::testing::AssertionResult read_partition(rd_kafka_t* consumer, const std::string& topic, std::int64_t& low,
                                          std::int64_t& high, std::vector<record>& out) {
  out.clear();
  const auto deadline = steady::now() + verify_deadline;
  rd_kafka_resp_err_t error;
  do {
    error = rd_kafka_query_watermark_offsets(consumer, topic.c_str(), 0, &low, &high, 5000);
  } while (error != RD_KAFKA_RESP_ERR_NO_ERROR && steady::now() < deadline);
  if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return ::testing::AssertionFailure() << "watermarks of " << topic << "-0: " << rd_kafka_err2name(error);
  }
  if (high <= low) return ::testing::AssertionSuccess();

  rd_kafka_topic_t* topic_handle = rd_kafka_topic_new(consumer, topic.c_str(), nullptr);
  if (rd_kafka_consume_start(topic_handle, 0, RD_KAFKA_OFFSET_BEGINNING) != 0) {
    rd_kafka_topic_destroy(topic_handle);
    return ::testing::AssertionFailure() << "consume_start: " << rd_kafka_err2name(rd_kafka_last_error());
  }
  std::string errors;
  while ((out.empty() || out.back().offset < high - 1) && steady::now() < deadline) {
    rd_kafka_message_t* message = rd_kafka_consume(topic_handle, 0, 1000);
    if (message == nullptr) continue;
    if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      record r;
      r.offset = message->offset;
      r.key = as_optional(message->key, message->key_len);
      r.value = as_optional(message->payload, message->len);
      r.timestamp = rd_kafka_message_timestamp(message, &r.timestamp_type);
      for (auto& [name, value] : message_headers(message)) r.headers.emplace_back(name, value.value_or("<null>"));
      out.push_back(std::move(r));
    } else if (message->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      errors += std::string(" ") + rd_kafka_err2name(message->err);
    }
    rd_kafka_message_destroy(message);
  }
  rd_kafka_consume_stop(topic_handle, 0);
  rd_kafka_topic_destroy(topic_handle);
  if (out.empty() || out.back().offset < high - 1) {
    return ::testing::AssertionFailure() << "read " << out.size() << " records of " << topic << "-0 (watermarks " << low
                                         << ".." << high << ") before the deadline; consumer errors:" << errors;
  }
  return ::testing::AssertionSuccess();
}

std::uint64_t big_endian(const std::string& bytes, std::size_t position, std::size_t size) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < size; ++i) value = value << 8 | static_cast<unsigned char>(bytes[position + i]);
  return value;
}

// The compression codec (attributes bits 0-2) of every record batch in partition 0's segment files, in offset order,
// read straight from the files (baseOffset i64, batchLength i32, partitionLeaderEpoch i32, magic i8, crc u32,
// attributes i16, ...): what the client sent, as the broker stored it.
::testing::AssertionResult stored_batch_codecs(const fs::path& log_dir, const std::string& topic,
                                               std::vector<int>& codecs) {
  codecs.clear();
  const fs::path directory = log_dir / (topic + "-0");
  std::vector<fs::path> segments;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(directory, error)) {
    if (entry.path().extension() == ".log") segments.push_back(entry.path());
  }
  if (error) return ::testing::AssertionFailure() << "cannot list " << directory << ": " << error.message();
  std::sort(segments.begin(), segments.end());
  for (const auto& segment : segments) {
    std::ifstream in(segment, std::ios::binary);
    const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    constexpr std::size_t header_size = 61;  // the v2 batch header, up to and including recordsCount
    std::size_t position = 0;
    while (position + header_size <= bytes.size()) {
      const auto batch_length = static_cast<std::int32_t>(big_endian(bytes, position + 8, 4));
      const auto magic = static_cast<int>(bytes[position + 16]);
      if (batch_length <= 0) break;  // preallocated space after the last batch
      if (magic != 2) {
        return ::testing::AssertionFailure() << segment << " at " << position << ": magic " << magic << ", expected 2";
      }
      codecs.push_back(static_cast<int>(big_endian(bytes, position + 21, 2) & 0x7));
      position += 12 + static_cast<std::size_t>(batch_length);
    }
  }
  return ::testing::AssertionSuccess();
}

// Whether the broker under test advertises FindCoordinator v0 (its ApiVersions answer comes from the same table).
bool broker_advertises_find_coordinator() {
  const api_handler* handler = find_handler(static_cast<std::int16_t>(protocol::api_key::find_coordinator));
  return handler != nullptr && handler->min_version == 0;
}

int codec_id(const std::string& codec) {
  static const std::map<std::string, int> ids{{"none", 0}, {"gzip", 1}, {"snappy", 2}, {"lz4", 3}, {"zstd", 4}};
  const auto it = ids.find(codec);
  return it == ids.end() ? -1 : it->second;
}

// ---- one client's test ----

struct client_case {
  std::string name;                          // the client's name in its record headers
  bool librdkafka;                           // built on librdkafka (kcat, confluent-kafka)
  bool per_record_headers;                   // headers include index=i (false for kcat)
  bool exact_timestamps;                     // CreateTime base + i (false for kcat: the time of production)
  std::vector<std::string> required_codecs;  // codecs the client must have exercised (it may do more)
};

struct script_run : script_outcome {
  std::int64_t started_ms = 0;
  std::int64_t ended_ms = 0;
};

// Runs the script against `broker`, which must succeed and print a summary.
::testing::AssertionResult run_script(const std::vector<std::string>& command, const std::string& topic,
                                      std::int64_t timestamp_base, const broker_process& broker, script_run& run,
                                      const std::vector<std::string>& extra_environment = {}) {
  std::vector<std::string> arguments = command;
  const std::vector<std::string> common{"--bootstrap",       broker.bootstrap(),
                                        "--topic",           topic,
                                        "--count",           std::to_string(record_count),
                                        "--timestamp-base",  std::to_string(timestamp_base),
                                        "--timeout-seconds", std::to_string(script_timeout_seconds)};
  arguments.insert(arguments.end(), common.begin(), common.end());
  run.started_ms = milliseconds_since_epoch();
  // A test that crashes must not leave its client running.
  auto ran = run_client_script(arguments, child_deadline, {extra_environment, true}, command.back(), run);
  run.ended_ms = milliseconds_since_epoch();
  return ran;
}

// The broker-side check of every topic the script names: watermarks, every record, and the stored batches' codec.
void verify_on_broker(const broker_process& broker, const client_case& client, const std::string& topic,
                      std::int64_t timestamp_base, const script_run& run) {
  const auto topics = json_strings(run.summary, "topics");
  for (const auto& codec : client.required_codecs) {
    EXPECT_TRUE(std::find(topics.begin(), topics.end(), topic + "-" + codec) != topics.end())
        << "the script did not exercise codec " << codec << "; summary: " << run.summary;
  }
  ASSERT_FALSE(topics.empty()) << "summary: " << run.summary;

  rdkafka_handle consumer;
  ASSERT_TRUE(make_consumer(broker.bootstrap(), consumer));
  for (const auto& name : topics) {
    SCOPED_TRACE("topic " + name);
    ASSERT_EQ(name.rfind(topic + "-", 0), 0u) << "unexpected topic name";
    const std::string codec = name.substr(topic.size() + 1);
    ASSERT_NE(codec_id(codec), -1) << "unknown codec " << codec;

    std::int64_t low = -1, high = -1;
    std::vector<record> records;
    ASSERT_TRUE(read_partition(consumer.get(), name, low, high, records));
    EXPECT_EQ(low, 0);
    EXPECT_EQ(high, record_count) << "the high watermark is not the number of records the client produced";
    ASSERT_EQ(records.size(), static_cast<std::size_t>(record_count));
    for (int i = 0; i < record_count; ++i) {
      const record& r = records[static_cast<std::size_t>(i)];
      SCOPED_TRACE("record " + std::to_string(i));
      EXPECT_EQ(r.offset, i);
      EXPECT_EQ(r.key, "key-" + codec + "-" + std::to_string(i));
      EXPECT_EQ(r.value, "value-" + codec + "-" + std::to_string(i) + "-" + filler);
      std::vector<std::pair<std::string, std::string>> headers;
      if (client.per_record_headers) headers.emplace_back("index", std::to_string(i));
      headers.insert(headers.end(), {{"codec", codec}, {"client", client.name}, {"dup", "1"}, {"dup", "2"}});
      EXPECT_EQ(r.headers, headers);
      EXPECT_EQ(r.timestamp_type, RD_KAFKA_TIMESTAMP_CREATE_TIME);
      if (client.exact_timestamps) {
        EXPECT_EQ(r.timestamp, timestamp_base + i);
      } else {
        EXPECT_GE(r.timestamp, run.started_ms);
        EXPECT_LE(r.timestamp, run.ended_ms);
      }
      if (::testing::Test::HasFailure()) break;  // one record's story is enough
    }

    int expected_codec = codec_id(codec);
    if (codec == "lz4" && client.librdkafka && !broker_advertises_find_coordinator()) {
      // librdkafka (2.0.2) enables its LZ4 feature only when the broker advertises FindCoordinator v0 (both came
      // with Kafka 0.8.2); without it, it silently sends lz4-configured batches uncompressed.
      std::cout << "[ client   ] the broker does not advertise FindCoordinator: librdkafka does not compress lz4\n";
      expected_codec = codec_id("none");
    }
    std::vector<int> codecs;
    ASSERT_TRUE(stored_batch_codecs(broker.log_dir(), name, codecs));
    EXPECT_FALSE(codecs.empty());
    for (std::size_t b = 0; b < codecs.size(); ++b) {
      EXPECT_EQ(codecs[b], expected_codec) << "batch " << b << " of " << codecs.size() << " is stored with codec "
                                           << codecs[b] << ", not " << expected_codec;
    }
  }
}

std::string unique_topic(const std::string& client) {
  return "roundtrip-" + client + "-" + std::to_string(milliseconds_since_epoch());
}

TEST(ClientRoundtripTest, Kcat) {
  if (const auto missing = missing_kcat(); !missing.empty()) GTEST_SKIP() << missing;
  const auto bash = find_on_path("bash");
  ASSERT_TRUE(bash);
  broker_process broker;
  ASSERT_TRUE(broker.start());
  const std::string topic = unique_topic("kcat");
  const std::int64_t timestamp_base = milliseconds_since_epoch();
  script_run run;
  ASSERT_TRUE(
      run_script({bash->string(), (compat_dir() / "kcat_roundtrip.sh").string()}, topic, timestamp_base, broker, run));
  verify_on_broker(broker, {"kcat", true, false, false, {"none", "gzip", "snappy", "lz4", "zstd"}}, topic,
                   timestamp_base, run);
}

TEST(ClientRoundtripTest, ConfluentKafkaPython) {
  if (const auto missing = missing_python_module("confluent_kafka", "python3-confluent-kafka"); !missing.empty())
    GTEST_SKIP() << missing;
  broker_process broker;
  ASSERT_TRUE(broker.start());
  const std::string topic = unique_topic("confluent");
  const std::int64_t timestamp_base = milliseconds_since_epoch();
  script_run run;
  ASSERT_TRUE(run_script({"/usr/bin/python3", (compat_dir() / "confluent_kafka_roundtrip.py").string()}, topic,
                         timestamp_base, broker, run));
  // librdkafka reports errors through error_cb; a consumer that went looking for a group coordinator would show here.
  EXPECT_EQ(json_strings(run.summary, "client_errors"), std::vector<std::string>{}) << run.child.err;
  verify_on_broker(broker, {"confluent-kafka", true, true, true, {"none", "gzip", "snappy", "lz4", "zstd"}}, topic,
                   timestamp_base, run);
}

TEST(ClientRoundtripTest, KafkaPython) {
  if (const auto missing = missing_python_module("kafka", "python3-kafka"); !missing.empty()) GTEST_SKIP() << missing;
  broker_process broker;
  ASSERT_TRUE(broker.start());
  const std::string topic = unique_topic("kafka-python");
  const std::int64_t timestamp_base = milliseconds_since_epoch();
  script_run run;
  ASSERT_TRUE(run_script({"/usr/bin/python3", (compat_dir() / "kafka_python_roundtrip.py").string()}, topic,
                         timestamp_base, broker, run));
  // kafka-python guesses the broker's release from ApiVersions v0 (answered before the Metadata v0 it pipelines) and
  // pins request versions and the record format from the guess. Below 2.1 it would not send Produce v7; below 0.11
  // it would fall back to legacy message sets.
  for (const char* role : {"producer_api_version", "consumer_api_version"}) {
    const auto version = json_ints(run.summary, role).value_or(std::vector<int>{});
    ASSERT_GE(version.size(), 2u) << role << " missing from the summary: " << run.summary;
    EXPECT_GE(std::make_pair(version[0], version[1]), std::make_pair(2, 1))
        << "kafka-python inferred broker version " << version[0] << "." << version[1] << " (" << role
        << "): it would not use message format v2 with Produce v7";
  }
  // gzip comes with Python; snappy, lz4 and zstd only with optional modules (the summary says which were skipped).
  verify_on_broker(broker, {"kafka-python", false, true, true, {"none", "gzip"}}, topic, timestamp_base, run);
}

TEST(ClientRoundtripTest, KafkaJS) {
  if (const auto missing = missing_kafkajs(); !missing.empty()) GTEST_SKIP() << missing;
  const auto node = find_on_path("node");
  ASSERT_TRUE(node);
  broker_process broker;
  ASSERT_TRUE(broker.start());
  const std::string topic = unique_topic("kafkajs");
  const std::int64_t timestamp_base = milliseconds_since_epoch();
  script_run run;
  // KafkaJS has no consumer without a consumer group (group.js is the group scenario): the script produces and
  // checks offsets with the admin client; verify_on_broker reads the records back with librdkafka and checks every
  // key, value, header and timestamp.
  ASSERT_TRUE(run_script({node->string(), (kafkajs_dir() / "roundtrip.js").string()}, topic, timestamp_base, broker,
                         run, {"KAFKAJS_NO_PARTITIONER_WARNING=1"}));
  verify_on_broker(broker, {"kafkajs", false, true, true, {"none", "gzip"}}, topic, timestamp_base, run);
}

}  // namespace
}  // namespace vltava::broker::testing
