// The real broker driven by an unmodified client, librdkafka (C API): produce and consume with every codec, every
// acks setting, the message size limit, topic auto-creation on and off, the admin API, restarts, a crash in the
// middle of an acks=all stream, an idempotent producer across a crash, and offset lookups. Two tests add a raw
// client (raw_client.h) where librdkafka cannot be steered: batches compressed by our own builder for the consumer
// to read, and an idempotent batch retried after a crash.
//
// Each test starts its own broker (port 0, temporary directory). Consumers use the legacy simple-consumer API
// (rd_kafka_consume_start), which needs no consumer group. Every wait polls a condition until a deadline.
#include <sys/resource.h>

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "broker_process.h"
#include "raw_client.h"
#include "rdkafka_message.h"
#include "vltava/broker/handlers.h"
#include "vltava/protocol/error_code.h"
#include "vltava/protocol/record_batch_builder.h"

namespace vltava::broker::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using settings = std::vector<std::pair<std::string, std::string>>;

// Generous: tests run in parallel under ctest -j on loaded machines. Conditions end the waits long before.
constexpr auto deadline_long = 60s;

std::int64_t milliseconds_since_epoch() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int as_timeout_ms(steady::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now()).count();
  return static_cast<int>(std::clamp<std::int64_t>(left, 0, 1000));
}

// ---- a librdkafka client with its log and delivery reports ----

struct delivery {
  std::int64_t id = 0;  // the message's opaque: a sequence number chosen by the test
  rd_kafka_resp_err_t error = RD_KAFKA_RESP_ERR_NO_ERROR;
  std::int32_t partition = 0;
  std::int64_t offset = -1;
};

class kafka_client {
 public:
  // A producer (also used for admin requests and metadata) or a consumer of `bootstrap`, with extra settings.
  static std::unique_ptr<kafka_client> create(rd_kafka_type_t type, const std::string& bootstrap,
                                              const settings& extra = {}) {
    auto client = std::unique_ptr<kafka_client>(new kafka_client());
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    settings all{{"bootstrap.servers", bootstrap}, {"broker.address.family", "v4"}, {"client.id", "vltava-test"}};
    // VLTAVA_RDKAFKA_DEBUG=broker,protocol,msg shows librdkafka's view when a test fails.
    if (const char* debug = std::getenv("VLTAVA_RDKAFKA_DEBUG")) all.emplace_back("debug", debug);
    all.insert(all.end(), extra.begin(), extra.end());
    char error[512];
    for (const auto& [key, value] : all) {
      if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), error, sizeof error) != RD_KAFKA_CONF_OK) {
        ADD_FAILURE() << "librdkafka setting " << key << "=" << value << ": " << error;
        rd_kafka_conf_destroy(conf);
        return nullptr;
      }
    }
    rd_kafka_conf_set_opaque(conf, client.get());
    rd_kafka_conf_set_log_cb(conf, &kafka_client::on_log);
    if (type == RD_KAFKA_PRODUCER) rd_kafka_conf_set_dr_msg_cb(conf, &kafka_client::on_delivery);
    client->handle_ = rd_kafka_new(type, conf, error, sizeof error);
    if (client->handle_ == nullptr) {
      ADD_FAILURE() << "rd_kafka_new: " << error;
      rd_kafka_conf_destroy(conf);
      return nullptr;
    }
    return client;
  }

  ~kafka_client() {
    if (handle_ != nullptr) {
      if (rd_kafka_type(handle_) == RD_KAFKA_PRODUCER) {
        // Nothing left for a broker that is gone to hold up the destruction.
        rd_kafka_purge(handle_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(handle_, 0);
      }
      rd_kafka_destroy(handle_);
    }
    if (::testing::Test::HasFailure()) {
      std::lock_guard lock(log_mutex_);
      const std::size_t shown = std::min<std::size_t>(log_.size(), 300);
      std::cerr << "---- librdkafka log (last " << shown << " of " << log_.size() << " lines) ----\n";
      for (std::size_t i = log_.size() - shown; i < log_.size(); ++i) std::cerr << log_[i] << "\n";
    }
  }

  rd_kafka_t* get() const noexcept { return handle_; }

  // Deliveries reported so far; reports arrive on the thread that polls (the test's).
  const std::vector<delivery>& deliveries() const noexcept { return deliveries_; }
  std::size_t successes() const noexcept { return successes_; }

  // rd_kafka_producev, waiting (with a deadline) while the local queue is full.
  rd_kafka_resp_err_t produce(const std::string& topic, std::int32_t partition, const std::optional<std::string>& key,
                              const std::optional<std::string>& value, std::int64_t timestamp, std::int64_t id,
                              const std::vector<std::pair<std::string, std::optional<std::string>>>& headers = {}) {
    const auto deadline = steady::now() + deadline_long;
    while (true) {
      rd_kafka_headers_t* header_list = nullptr;
      if (!headers.empty()) {
        header_list = rd_kafka_headers_new(headers.size());
        for (const auto& [name, header_value] : headers) {
          rd_kafka_header_add(header_list, name.data(), static_cast<ssize_t>(name.size()),
                              header_value ? header_value->data() : nullptr,
                              header_value ? static_cast<ssize_t>(header_value->size()) : 0);
        }
      }
      // The macros cast their arguments without parentheses: pass plain variables.
      const void* key_data = key ? key->data() : nullptr;
      const std::size_t key_size = key ? key->size() : 0;
      void* value_data = value ? const_cast<char*>(value->data()) : nullptr;
      const std::size_t value_size = value ? value->size() : 0;
      void* opaque = reinterpret_cast<void*>(static_cast<std::intptr_t>(id));
      const rd_kafka_resp_err_t error =
          rd_kafka_producev(handle_, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(partition),
                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key_data, key_size),
                            RD_KAFKA_V_VALUE(value_data, value_size), RD_KAFKA_V_TIMESTAMP(timestamp),
                            RD_KAFKA_V_HEADERS(header_list), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
      if (error != RD_KAFKA_RESP_ERR_NO_ERROR && header_list != nullptr) rd_kafka_headers_destroy(header_list);
      if (error != RD_KAFKA_RESP_ERR__QUEUE_FULL || steady::now() > deadline) return error;
      rd_kafka_poll(handle_, 10);
    }
  }

  // Waits until every message produced so far is reported, or the deadline passes.
  bool flush(std::chrono::milliseconds timeout = deadline_long) {
    return rd_kafka_flush(handle_, static_cast<int>(timeout.count())) == RD_KAFKA_RESP_ERR_NO_ERROR;
  }

  // The first fatal error librdkafka raised (idempotence violations), or an empty string.
  std::string fatal_error() const {
    char text[512] = "";
    const auto code = rd_kafka_fatal_error(handle_, text, sizeof text);
    return code == RD_KAFKA_RESP_ERR_NO_ERROR ? "" : std::string(rd_kafka_err2name(code)) + ": " + text;
  }

 private:
  kafka_client() = default;

  static void on_log(const rd_kafka_t* handle, int level, const char* facility, const char* text) {
    auto* self = static_cast<kafka_client*>(rd_kafka_opaque(handle));
    std::lock_guard lock(self->log_mutex_);
    self->log_.push_back(std::to_string(level) + " " + facility + " " + text);
  }

  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* message, void* opaque) {
    auto* self = static_cast<kafka_client*>(opaque);
    self->deliveries_.push_back({static_cast<std::int64_t>(reinterpret_cast<std::intptr_t>(message->_private)),
                                 message->err, message->partition, message->offset});
    if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) ++self->successes_;
  }

  rd_kafka_t* handle_ = nullptr;
  std::vector<delivery> deliveries_;
  std::size_t successes_ = 0;
  std::mutex log_mutex_;
  std::vector<std::string> log_;
};

// ---- consuming ----

struct consumed_record {
  std::int64_t offset = 0;
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::int64_t timestamp = 0;
  rd_kafka_timestamp_type_t timestamp_type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
  std::vector<std::pair<std::string, std::optional<std::string>>> headers;
};

// Low and high watermarks of a partition, asked until the broker answers or the deadline passes.
::testing::AssertionResult watermarks(rd_kafka_t* handle, const std::string& topic, std::int32_t partition,
                                      std::int64_t& low, std::int64_t& high) {
  const auto deadline = steady::now() + deadline_long;
  rd_kafka_resp_err_t error;
  do {
    error = rd_kafka_query_watermark_offsets(handle, topic.c_str(), partition, &low, &high, 5000);
    if (error == RD_KAFKA_RESP_ERR_NO_ERROR) return ::testing::AssertionSuccess();
  } while (steady::now() < deadline);
  return ::testing::AssertionFailure() << "watermarks of " << topic << "-" << partition << ": "
                                       << rd_kafka_err2name(error);
}

// Every record of a partition, from its start to its high watermark at the time of the call.
::testing::AssertionResult read_partition(const std::string& bootstrap, const std::string& topic,
                                          std::int32_t partition, std::vector<consumed_record>& out) {
  out.clear();
  auto consumer = kafka_client::create(RD_KAFKA_CONSUMER, bootstrap, {{"enable.partition.eof", "true"}});
  if (!consumer) return ::testing::AssertionFailure() << "no consumer";
  std::int64_t low = 0, high = 0;
  if (auto known = watermarks(consumer->get(), topic, partition, low, high); !known) return known;
  if (high == low) return ::testing::AssertionSuccess();

  rd_kafka_topic_t* topic_handle = rd_kafka_topic_new(consumer->get(), topic.c_str(), nullptr);
  if (rd_kafka_consume_start(topic_handle, partition, RD_KAFKA_OFFSET_BEGINNING) != 0) {
    rd_kafka_topic_destroy(topic_handle);
    return ::testing::AssertionFailure() << "consume_start: " << rd_kafka_err2name(rd_kafka_last_error());
  }
  std::set<std::string> errors;
  const auto deadline = steady::now() + deadline_long;
  while ((out.empty() || out.back().offset < high - 1) && steady::now() < deadline) {
    rd_kafka_message_t* message = rd_kafka_consume(topic_handle, partition, as_timeout_ms(deadline));
    if (message == nullptr) continue;
    if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      consumed_record record;
      record.offset = message->offset;
      record.key = as_optional(message->key, message->key_len);
      record.value = as_optional(message->payload, message->len);
      record.timestamp = rd_kafka_message_timestamp(message, &record.timestamp_type);
      record.headers = message_headers(message);
      out.push_back(std::move(record));
    } else if (message->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      errors.insert(rd_kafka_err2name(message->err));
    }
    rd_kafka_message_destroy(message);
  }
  rd_kafka_consume_stop(topic_handle, partition);
  rd_kafka_topic_destroy(topic_handle);
  if (out.empty() || out.back().offset < high - 1) {
    auto failure = ::testing::AssertionFailure();
    failure << "read " << out.size() << " records of " << topic << "-" << partition << " (watermarks " << low << ".."
            << high << ") before the deadline; consumer errors:";
    for (const auto& e : errors) failure << " " << e;
    return failure;
  }
  return ::testing::AssertionSuccess();
}

// ---- metadata and admin ----

struct topic_description {
  rd_kafka_resp_err_t error = RD_KAFKA_RESP_ERR_NO_ERROR;
  int partitions = 0;
};

// The topics the broker lists when asked for all (a request that never creates one).
::testing::AssertionResult list_topics(rd_kafka_t* handle, std::map<std::string, topic_description>& out) {
  out.clear();
  const rd_kafka_metadata_t* metadata = nullptr;
  const auto error = rd_kafka_metadata(handle, 1, nullptr, &metadata, 10000);
  if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return ::testing::AssertionFailure() << "metadata: " << rd_kafka_err2name(error);
  }
  for (int i = 0; i < metadata->topic_cnt; ++i) {
    out[metadata->topics[i].topic] = {metadata->topics[i].err, metadata->topics[i].partition_cnt};
  }
  rd_kafka_metadata_destroy(metadata);
  return ::testing::AssertionSuccess();
}

// Polls the all-topics metadata until `topic` is listed (present) or absent, or the deadline passes.
::testing::AssertionResult wait_for_topic(rd_kafka_t* handle, const std::string& topic, bool present,
                                          int expected_partitions = 0) {
  const auto deadline = steady::now() + deadline_long;
  std::map<std::string, topic_description> topics;
  while (true) {
    if (list_topics(handle, topics)) {
      auto it = topics.find(topic);
      const bool listed = it != topics.end() && it->second.error == RD_KAFKA_RESP_ERR_NO_ERROR;
      if (listed == present && (!present || expected_partitions == 0 || it->second.partitions == expected_partitions)) {
        return ::testing::AssertionSuccess();
      }
    }
    if (steady::now() > deadline) break;
    std::this_thread::sleep_for(50ms);
  }
  auto failure = ::testing::AssertionFailure();
  failure << "topic " << topic << (present ? " never appeared" : " never went away");
  if (present && expected_partitions) failure << " with " << expected_partitions << " partitions";
  failure << "; listed:";
  for (const auto& [name, description] : topics) {
    failure << " " << name << "(" << description.partitions << ", " << rd_kafka_err2name(description.error) << ")";
  }
  return failure;
}

// Runs one admin request and returns the per-topic results of its event.
template <class Submit, class Results>
::testing::AssertionResult admin_request(rd_kafka_t* handle, Submit submit, Results results,
                                         std::vector<std::pair<std::string, rd_kafka_resp_err_t>>& out) {
  out.clear();
  rd_kafka_queue_t* queue = rd_kafka_queue_new(handle);
  rd_kafka_AdminOptions_t* options = rd_kafka_AdminOptions_new(handle, RD_KAFKA_ADMIN_OP_ANY);
  char error_text[512];
  rd_kafka_AdminOptions_set_request_timeout(options, 30000, error_text, sizeof error_text);
  rd_kafka_AdminOptions_set_operation_timeout(options, 30000, error_text, sizeof error_text);
  submit(options, queue);
  rd_kafka_event_t* event = nullptr;
  const auto deadline = steady::now() + deadline_long;
  while (event == nullptr && steady::now() < deadline) event = rd_kafka_queue_poll(queue, as_timeout_ms(deadline));
  ::testing::AssertionResult result = ::testing::AssertionSuccess();
  if (event == nullptr) {
    result = ::testing::AssertionFailure() << "no admin result before the deadline";
  } else if (rd_kafka_event_error(event) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    result = ::testing::AssertionFailure() << "admin request failed: " << rd_kafka_err2name(rd_kafka_event_error(event))
                                           << " " << rd_kafka_event_error_string(event);
  } else {
    std::size_t count = 0;
    const rd_kafka_topic_result_t** topics = results(event, &count);
    for (std::size_t i = 0; i < count; ++i) {
      out.emplace_back(rd_kafka_topic_result_name(topics[i]), rd_kafka_topic_result_error(topics[i]));
    }
  }
  if (event != nullptr) rd_kafka_event_destroy(event);
  rd_kafka_AdminOptions_destroy(options);
  rd_kafka_queue_destroy(queue);
  return result;
}

// The broker's error for the one topic an admin request named; a failure when the answer is about other topics.
::testing::AssertionResult only_topic_result(const char* api, const std::string& topic,
                                             const std::vector<std::pair<std::string, rd_kafka_resp_err_t>>& results,
                                             rd_kafka_resp_err_t& topic_error) {
  if (results.size() != 1 || results[0].first != topic) {
    return ::testing::AssertionFailure() << api << " answered " << results.size() << " topics";
  }
  topic_error = results[0].second;
  return ::testing::AssertionSuccess();
}

// CreateTopics for one topic; the broker's error for it (NO_ERROR on success).
::testing::AssertionResult create_topic(rd_kafka_t* handle, const std::string& topic, int partitions,
                                        rd_kafka_resp_err_t& topic_error) {
  char error_text[512];
  rd_kafka_NewTopic_t* new_topic = rd_kafka_NewTopic_new(topic.c_str(), partitions, 1, error_text, sizeof error_text);
  if (new_topic == nullptr) return ::testing::AssertionFailure() << "NewTopic: " << error_text;
  std::vector<std::pair<std::string, rd_kafka_resp_err_t>> results;
  auto outcome = admin_request(
      handle,
      [&](rd_kafka_AdminOptions_t* options, rd_kafka_queue_t* queue) {
        rd_kafka_CreateTopics(handle, &new_topic, 1, options, queue);
      },
      [](rd_kafka_event_t* event, std::size_t* count) {
        return rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(event), count);
      },
      results);
  rd_kafka_NewTopic_destroy(new_topic);
  if (!outcome) return outcome;
  return only_topic_result("CreateTopics", topic, results, topic_error);
}

::testing::AssertionResult delete_topic(rd_kafka_t* handle, const std::string& topic,
                                        rd_kafka_resp_err_t& topic_error) {
  rd_kafka_DeleteTopic_t* doomed = rd_kafka_DeleteTopic_new(topic.c_str());
  std::vector<std::pair<std::string, rd_kafka_resp_err_t>> results;
  auto outcome = admin_request(
      handle,
      [&](rd_kafka_AdminOptions_t* options, rd_kafka_queue_t* queue) {
        rd_kafka_DeleteTopics(handle, &doomed, 1, options, queue);
      },
      [](rd_kafka_event_t* event, std::size_t* count) {
        return rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(event), count);
      },
      results);
  rd_kafka_DeleteTopic_destroy(doomed);
  if (!outcome) return outcome;
  return only_topic_result("DeleteTopics", topic, results, topic_error);
}

::testing::AssertionResult create_topic(rd_kafka_t* handle, const std::string& topic, int partitions) {
  rd_kafka_resp_err_t topic_error = RD_KAFKA_RESP_ERR_NO_ERROR;
  if (auto done = create_topic(handle, topic, partitions, topic_error); !done) return done;
  if (topic_error != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return ::testing::AssertionFailure() << "CreateTopics " << topic << ": " << rd_kafka_err2name(topic_error);
  }
  return ::testing::AssertionSuccess();
}

// ---- on-disk checks ----

// The compression codec (attribute bits 0-2) of every batch in the partition's first segment.
std::vector<int> batch_codecs_on_disk(const fs::path& log_dir, const std::string& topic, std::int32_t partition) {
  std::ifstream in(log_dir / (topic + "-" + std::to_string(partition)) / "00000000000000000000.log", std::ios::binary);
  std::vector<char> data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<int> codecs;
  std::size_t position = 0;
  auto be32 = [&](std::size_t at) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(data[at])) << 24 |
           static_cast<std::uint32_t>(static_cast<unsigned char>(data[at + 1])) << 16 |
           static_cast<std::uint32_t>(static_cast<unsigned char>(data[at + 2])) << 8 |
           static_cast<std::uint32_t>(static_cast<unsigned char>(data[at + 3]));
  };
  // baseOffset i64, batchLength i32, partitionLeaderEpoch i32, magic i8, crc u32, attributes i16.
  while (position + 23 <= data.size()) {
    const std::uint32_t batch_length = be32(position + 8);
    if (batch_length == 0) break;  // preallocated tail
    codecs.push_back(static_cast<unsigned char>(data[position + 22]) & 0x07);
    position += 12 + batch_length;
  }
  return codecs;
}

// ---- the tests ----

std::string sequence_value(std::int64_t sequence, std::size_t padding = 64) {
  char text[32];
  std::snprintf(text, sizeof text, "seq-%010lld-", static_cast<long long>(sequence));
  return std::string(text) + std::string(padding, 'v');
}

std::int64_t sequence_of(const std::optional<std::string>& value) {
  if (!value || value->size() < 15 || value->compare(0, 4, "seq-") != 0) return -1;
  return std::stoll(value->substr(4, 10));
}

struct codec_case {
  std::string name;
  int attribute;
};

void PrintTo(const codec_case& c, std::ostream* out) { *out << c.name; }

class LibrdkafkaCodecTest : public ::testing::TestWithParam<codec_case> {};

TEST_P(LibrdkafkaCodecTest, RoundTripKeepsKeysValuesHeadersAndTimestamps) {
  // librdkafka compresses with lz4 only once the broker advertises FindCoordinator (its "LZ4" feature), which
  // arrives with the group coordinator; until then it would send lz4 batches uncompressed. Runs by itself then.
  if (GetParam().attribute == 3 &&
      !served_apis().find(static_cast<std::int16_t>(protocol::api_key::find_coordinator))) {
    GTEST_SKIP() << "librdkafka sends lz4 only to brokers advertising FindCoordinator (not served yet)";
  }
  broker_process broker;
  ASSERT_TRUE(broker.start());
  const std::string topic = "codec-" + GetParam().name;
  auto producer = kafka_client::create(
      RD_KAFKA_PRODUCER, broker.bootstrap(),
      {{"compression.codec", GetParam().name}, {"acks", "all"}, {"linger.ms", "50"}, {"batch.num.messages", "100"}});
  ASSERT_TRUE(producer);

  struct sent_record {
    std::optional<std::string> key;
    std::optional<std::string> value;
    std::int64_t timestamp;
    std::vector<std::pair<std::string, std::optional<std::string>>> headers;
  };
  const std::int64_t base_timestamp = milliseconds_since_epoch() - 3'600'000;
  std::vector<sent_record> sent;
  for (int i = 0; i < 300; ++i) {
    sent_record record;
    if (i % 7 != 0) record.key = "key-" + std::to_string(i);
    std::string value = "value-" + std::to_string(i) + "-";
    for (int r = 0; r < 40; ++r) value += "compressible text ";
    if (i != 13) record.value = value;  // one tombstone
    record.timestamp = base_timestamp + i * 10;
    if (i % 5 != 0) {
      record.headers = {{"trace", "t-" + std::to_string(i)},
                        {"empty", std::string()},
                        {"nullable", std::nullopt},
                        {"trace", "again-" + std::to_string(i)}};
    }
    ASSERT_EQ(producer->produce(topic, 0, record.key, record.value, record.timestamp, i, record.headers),
              RD_KAFKA_RESP_ERR_NO_ERROR);
    sent.push_back(std::move(record));
  }
  ASSERT_TRUE(producer->flush());
  ASSERT_EQ(producer->deliveries().size(), sent.size());
  for (const auto& report : producer->deliveries()) {
    ASSERT_EQ(report.error, RD_KAFKA_RESP_ERR_NO_ERROR)
        << "message " << report.id << ": " << rd_kafka_err2name(report.error);
    EXPECT_EQ(report.offset, report.id);
  }

  std::vector<consumed_record> records;
  ASSERT_TRUE(read_partition(broker.bootstrap(), topic, 0, records));
  ASSERT_EQ(records.size(), sent.size());
  for (std::size_t i = 0; i < sent.size(); ++i) {
    SCOPED_TRACE("record " + std::to_string(i));
    EXPECT_EQ(records[i].offset, static_cast<std::int64_t>(i));
    EXPECT_EQ(records[i].key, sent[i].key);
    EXPECT_EQ(records[i].value, sent[i].value);
    EXPECT_EQ(records[i].timestamp, sent[i].timestamp);
    EXPECT_EQ(records[i].timestamp_type, RD_KAFKA_TIMESTAMP_CREATE_TIME);
    EXPECT_EQ(records[i].headers, sent[i].headers);
  }

  // The batches were sent compressed (so librdkafka saw compression advertised) and kept as sent
  // (compression.type=producer).
  const auto codecs = batch_codecs_on_disk(broker.log_dir(), topic, 0);
  ASSERT_FALSE(codecs.empty()) << "no batches found in " << (broker.log_dir() / (topic + "-0"));
  for (int codec : codecs) {
    EXPECT_EQ(codec, GetParam().attribute)
        << "librdkafka sent this batch with another codec. It enables lz4 only when FindCoordinator v0 is advertised "
           "(rdkafka_feature.c, feature LZ4), gzip/snappy/lz4 only when Produce v0 is, zstd only with Produce v7 and "
           "Fetch v10";
  }
}

// The other direction, whatever the producer negotiates: batches compressed by our own builder, written with a raw
// Produce request, are fetched and decompressed by librdkafka's consumer.
TEST_P(LibrdkafkaCodecTest, ConsumerReadsBatchesCompressedWithTheCodec) {
  broker_process broker;
  ASSERT_TRUE(broker.start());
  const std::string topic = "raw-" + GetParam().name;
  auto admin = kafka_client::create(RD_KAFKA_PRODUCER, broker.bootstrap());
  ASSERT_TRUE(admin);
  ASSERT_TRUE(create_topic(admin->get(), topic, 1));

  const std::int64_t base_timestamp = milliseconds_since_epoch() - 60'000;
  raw_client client;
  ASSERT_TRUE(client.connect(broker.host(), broker.port()));
  constexpr int batches = 3, per_batch = 50;
  for (int b = 0; b < batches; ++b) {
    protocol::record_batch_builder_options options;
    options.codec = static_cast<protocol::compression_codec>(GetParam().attribute);
    protocol::record_batch_builder builder(options);
    for (int i = b * per_batch; i < (b + 1) * per_batch; ++i) {
      const std::string key = "key-" + std::to_string(i);
      const std::string value = sequence_value(i, 200);
      const std::string header_value = "h-" + std::to_string(i);
      const protocol::record_header_view headers[] = {
          {"origin",
           protocol::byte_span(reinterpret_cast<const std::uint8_t*>(header_value.data()), header_value.size())}};
      builder.append(base_timestamp + i,
                     protocol::byte_span(reinterpret_cast<const std::uint8_t*>(key.data()), key.size()),
                     protocol::byte_span(reinterpret_cast<const std::uint8_t*>(value.data()), value.size()), headers);
    }
    protocol::bytes batch;
    ASSERT_FALSE(builder.build(batch));
    protocol::produce_request request;
    request.acks = -1;
    request.timeout_ms = 30000;
    request.topic_data.resize(1);
    request.topic_data[0].name = topic;
    request.topic_data[0].partition_data.resize(1);
    request.topic_data[0].partition_data[0].records = protocol::shared_bytes::adopt(std::move(batch));
    ASSERT_TRUE(client.send_request(b, 7, request));
    protocol::produce_response response;
    ASSERT_TRUE(client.read_response(b, 7, response));
    ASSERT_EQ(response.responses.size(), 1u);
    ASSERT_EQ(response.responses[0].partition_responses.size(), 1u);
    EXPECT_EQ(response.responses[0].partition_responses[0].error_code, 0);
    EXPECT_EQ(response.responses[0].partition_responses[0].base_offset, b * per_batch);
  }

  std::vector<consumed_record> records;
  ASSERT_TRUE(read_partition(broker.bootstrap(), topic, 0, records));
  ASSERT_EQ(records.size(), static_cast<std::size_t>(batches * per_batch));
  for (int i = 0; i < batches * per_batch; ++i) {
    SCOPED_TRACE("record " + std::to_string(i));
    EXPECT_EQ(records[i].offset, i);
    EXPECT_EQ(records[i].key, "key-" + std::to_string(i));
    EXPECT_EQ(records[i].value, sequence_value(i, 200));
    EXPECT_EQ(records[i].timestamp, base_timestamp + i);
    ASSERT_EQ(records[i].headers.size(), 1u);
    EXPECT_EQ(records[i].headers[0].first, "origin");
    EXPECT_EQ(records[i].headers[0].second, "h-" + std::to_string(i));
  }
  for (int codec : batch_codecs_on_disk(broker.log_dir(), topic, 0)) EXPECT_EQ(codec, GetParam().attribute);
}

INSTANTIATE_TEST_SUITE_P(Librdkafka, LibrdkafkaCodecTest,
                         ::testing::Values(codec_case{"none", 0}, codec_case{"gzip", 1}, codec_case{"snappy", 2},
                                           codec_case{"lz4", 3}, codec_case{"zstd", 4}),
                         [](const auto& test_info) { return test_info.param.name; });

class LibrdkafkaAcksTest : public ::testing::TestWithParam<std::string> {};

TEST_P(LibrdkafkaAcksTest, EveryMessageIsDeliveredAndReadable) {
  broker_process broker;
  ASSERT_TRUE(broker.start());
  const std::string topic = "acks-" + GetParam();
  auto producer = kafka_client::create(RD_KAFKA_PRODUCER, broker.bootstrap(), {{"request.required.acks", GetParam()}});
  ASSERT_TRUE(producer);
  constexpr int count = 500;
  for (int i = 0; i < count; ++i) {
    ASSERT_EQ(producer->produce(topic, 0, "k" + std::to_string(i), sequence_value(i), 0, i),
              RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  ASSERT_TRUE(producer->flush());
  ASSERT_EQ(producer->successes(), static_cast<std::size_t>(count));
  if (GetParam() != "0") {
    for (const auto& report : producer->deliveries()) EXPECT_EQ(report.offset, report.id);
  }

  // acks=0 gets no answer; the connection must still be in step for the requests after it.
  const rd_kafka_metadata_t* metadata = nullptr;
  ASSERT_EQ(rd_kafka_metadata(producer->get(), 1, nullptr, &metadata, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
  rd_kafka_metadata_destroy(metadata);

  // With acks=0 the producer cannot know when the broker has written; wait for the high watermark.
  const auto deadline = steady::now() + deadline_long;
  std::int64_t low = 0, high = 0;
  while (true) {
    ASSERT_TRUE(watermarks(producer->get(), topic, 0, low, high));
    if (high >= count || steady::now() > deadline) break;
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(low, 0);
  ASSERT_EQ(high, count);

  std::vector<consumed_record> records;
  ASSERT_TRUE(read_partition(broker.bootstrap(), topic, 0, records));
  ASSERT_EQ(records.size(), static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    EXPECT_EQ(records[i].offset, i);
    EXPECT_EQ(records[i].value, sequence_value(i));
  }
}

INSTANTIATE_TEST_SUITE_P(Librdkafka, LibrdkafkaAcksTest, ::testing::Values("0", "1", "all"),
                         [](const auto& test_info) { return "acks_" + test_info.param; });

std::string random_bytes(std::size_t size) {
  std::mt19937_64 generator(size);
  std::string out(size, '\0');
  for (auto& c : out) c = static_cast<char>(generator());
  return out;
}

TEST(LibrdkafkaTest, RecordNearMessageMaxBytesIsAcceptedAndOneOverIsRejected) {
  // message.max.bytes (broker default 1048588, as Kafka) bounds a whole batch: 61 bytes of batch header and about
  // 15 of record framing around this value.
  constexpr std::size_t limit = 1048588;
  broker_process broker;
  ASSERT_TRUE(broker.start());
  // The client's own limits are raised so that it sends what the broker must refuse.
  auto producer = kafka_client::create(RD_KAFKA_PRODUCER, broker.bootstrap(),
                                       {{"message.max.bytes", "10000000"},
                                        {"batch.size", "10000000"},
                                        {"linger.ms", "0"},
                                        {"compression.codec", "none"},
                                        {"message.send.max.retries", "0"}});
  ASSERT_TRUE(producer);
  const std::string topic = "big";

  ASSERT_EQ(producer->produce(topic, 0, "k", random_bytes(limit - 200), 0, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_TRUE(producer->flush());
  ASSERT_EQ(producer->deliveries().size(), 1u);
  EXPECT_EQ(producer->deliveries()[0].error, RD_KAFKA_RESP_ERR_NO_ERROR)
      << rd_kafka_err2name(producer->deliveries()[0].error);

  ASSERT_EQ(producer->produce(topic, 0, "k", random_bytes(limit + 1), 0, 2), RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_TRUE(producer->flush());
  ASSERT_EQ(producer->deliveries().size(), 2u);
  EXPECT_EQ(producer->deliveries()[1].error, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)
      << rd_kafka_err2name(producer->deliveries()[1].error);

  // The refusal leaves the producer and the log usable.
  ASSERT_EQ(producer->produce(topic, 0, "k", std::string("small"), 0, 3), RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_TRUE(producer->flush());
  ASSERT_EQ(producer->deliveries().size(), 3u);
  EXPECT_EQ(producer->deliveries()[2].error, RD_KAFKA_RESP_ERR_NO_ERROR);

  std::vector<consumed_record> records;
  ASSERT_TRUE(read_partition(broker.bootstrap(), topic, 0, records));
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].value, random_bytes(limit - 200));
  EXPECT_EQ(records[1].value, std::string("small"));
}

TEST(LibrdkafkaTest, TopicsAreCreatedAutomaticallyOnProduceAndOnMetadata) {
  broker_process broker({"num.partitions=3"});
  ASSERT_TRUE(broker.start());
  auto producer = kafka_client::create(RD_KAFKA_PRODUCER, broker.bootstrap());
  ASSERT_TRUE(producer);

  ASSERT_EQ(producer->produce("made-by-produce", RD_KAFKA_PARTITION_UA, "k", std::string("v"), 0, 1),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_TRUE(producer->flush());
  ASSERT_EQ(producer->successes(), 1u);
  EXPECT_TRUE(wait_for_topic(producer->get(), "made-by-produce", true, 3));

  // A metadata request naming the topic (the producer allows auto-creation) creates it.
  rd_kafka_topic_t* topic = rd_kafka_topic_new(producer->get(), "made-by-metadata", nullptr);
  const auto deadline = steady::now() + deadline_long;
  int partitions = 0;
  rd_kafka_resp_err_t topic_error = RD_KAFKA_RESP_ERR_UNKNOWN;
  while (steady::now() < deadline) {
    const rd_kafka_metadata_t* metadata = nullptr;
    if (rd_kafka_metadata(producer->get(), 0, topic, &metadata, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (metadata->topic_cnt == 1) {
        topic_error = metadata->topics[0].err;
        partitions = metadata->topics[0].partition_cnt;
      }
      rd_kafka_metadata_destroy(metadata);
      if (topic_error == RD_KAFKA_RESP_ERR_NO_ERROR && partitions > 0) break;
    }
    std::this_thread::sleep_for(50ms);
  }
  rd_kafka_topic_destroy(topic);
  EXPECT_EQ(topic_error, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2name(topic_error);
  EXPECT_EQ(partitions, 3);
  EXPECT_TRUE(wait_for_topic(producer->get(), "made-by-metadata", true, 3));
}

TEST(LibrdkafkaTest, WithoutAutoCreateProduceFailsUntilCreateTopics) {
  broker_process broker({"auto.create.topics.enable=false"});
  ASSERT_TRUE(broker.start());
  {
    // topic.metadata.propagation.max.ms: how long librdkafka believes a missing topic may still appear.
    auto producer =
        kafka_client::create(RD_KAFKA_PRODUCER, broker.bootstrap(),
                             {{"topic.metadata.propagation.max.ms", "1000"}, {"message.timeout.ms", "20000"}});
    ASSERT_TRUE(producer);
    ASSERT_EQ(producer->produce("not-there", RD_KAFKA_PARTITION_UA, "k", std::string("v"), 0, 1),
              RD_KAFKA_RESP_ERR_NO_ERROR);
    producer->flush();
    ASSERT_EQ(producer->deliveries().size(), 1u);
    const auto error = producer->deliveries()[0].error;
    EXPECT_TRUE(error == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC || error == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
        << rd_kafka_err2name(error);
    std::map<std::string, topic_description> topics;
    ASSERT_TRUE(list_topics(producer->get(), topics));
    EXPECT_EQ(topics.count("not-there"), 0u) << "the topic was created although auto.create.topics.enable=false";
  }

  auto admin = kafka_client::create(RD_KAFKA_PRODUCER, broker.bootstrap());
  ASSERT_TRUE(admin);
  ASSERT_TRUE(create_topic(admin->get(), "not-there", 3));
  EXPECT_TRUE(wait_for_topic(admin->get(), "not-there", true, 3));
  rd_kafka_resp_err_t again = RD_KAFKA_RESP_ERR_NO_ERROR;
  ASSERT_TRUE(create_topic(admin->get(), "not-there", 3, again));
  EXPECT_EQ(again, RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) << rd_kafka_err2name(again);

  auto producer = kafka_client::create(RD_KAFKA_PRODUCER, broker.bootstrap());
  ASSERT_TRUE(producer);
  ASSERT_EQ(producer->produce("not-there", 2, "k", std::string("v"), 0, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_TRUE(producer->flush());
  ASSERT_EQ(producer->successes(), 1u);
  EXPECT_EQ(producer->deliveries()[0].partition, 2);
  EXPECT_EQ(producer->deliveries()[0].offset, 0);
}

TEST(LibrdkafkaTest, EverythingIsReadBackAfterARestart) {
  broker_process broker;
  ASSERT_TRUE(broker.start());
  auto producer = kafka_client::create(RD_KAFKA_PRODUCER, broker.bootstrap(), {{"acks", "all"}});
  ASSERT_TRUE(producer);
  const std::string topic = "durable";
  ASSERT_TRUE(create_topic(producer->get(), topic, 2));
  constexpr int per_partition = 500;
  for (int i = 0; i < 2 * per_partition; ++i) {
    ASSERT_EQ(producer->produce(topic, i % 2, "k" + std::to_string(i), sequence_value(i), 0, i),
              RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  ASSERT_TRUE(producer->flush());
  ASSERT_EQ(producer->successes(), 2u * per_partition);

  ASSERT_TRUE(broker.restart());
  EXPECT_EQ(broker.exit_status(), 0);

  for (std::int32_t partition = 0; partition < 2; ++partition) {
    SCOPED_TRACE("partition " + std::to_string(partition));
    std::vector<consumed_record> records;
    ASSERT_TRUE(read_partition(broker.bootstrap(), topic, partition, records));
    ASSERT_EQ(records.size(), static_cast<std::size_t>(per_partition));
    for (int i = 0; i < per_partition; ++i) {
      EXPECT_EQ(records[i].offset, i);
      EXPECT_EQ(records[i].value, sequence_value(2 * i + partition));
      EXPECT_EQ(records[i].key, "k" + std::to_string(2 * i + partition));
    }
  }

  // The producer from before the restart reconnects, and the offsets continue where they stopped.
  ASSERT_EQ(producer->produce(topic, 0, "after", sequence_value(9999), 0, 9999), RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_TRUE(producer->flush());
  ASSERT_EQ(producer->deliveries().back().error, RD_KAFKA_RESP_ERR_NO_ERROR)
      << rd_kafka_err2name(producer->deliveries().back().error);
  EXPECT_EQ(producer->deliveries().back().offset, per_partition);
}

// Produces sequence numbers 0.. to partition 0 of `topic` until `total` are queued; once `kill_after` have been
// acknowledged, kills the broker with SIGKILL and starts it again on the same port and data. `acked_at_kill` tells
// how many acknowledgements the producer had seen then: fewer than `total` means the crash cut the stream.
void produce_through_a_crash(broker_process& broker, kafka_client& producer, const std::string& topic, int total,
                             std::size_t kill_after, std::size_t& acked_at_kill) {
  bool crashed = false;
  auto crash = [&] {
    acked_at_kill = producer.successes();
    broker.kill9();
    crashed = true;
    return broker.start();
  };
  for (int i = 0; i < total; ++i) {
    ASSERT_EQ(producer.produce(topic, 0, std::nullopt, sequence_value(i), 0, i), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_poll(producer.get(), 0);
    if (!crashed && producer.successes() >= kill_after) {
      ASSERT_TRUE(crash());
    }
  }
  // Too few acknowledged before everything was queued: wait for them, then crash.
  const auto deadline = steady::now() + deadline_long;
  while (!crashed && producer.successes() < kill_after && steady::now() < deadline) rd_kafka_poll(producer.get(), 50);
  if (!crashed) {
    ASSERT_TRUE(crash());
  }
}

TEST(LibrdkafkaTest, AcknowledgedRecordsSurviveAKillDuringAnAcksAllStream) {
  broker_process broker;
  ASSERT_TRUE(broker.start());
  auto producer = kafka_client::create(RD_KAFKA_PRODUCER, broker.bootstrap(),
                                       // Small batches: several requests are in flight when the broker dies.
                                       {{"acks", "all"},
                                        {"linger.ms", "1"},
                                        {"batch.num.messages", "50"},
                                        {"message.timeout.ms", "60000"},
                                        {"enable.idempotence", "false"}});
  ASSERT_TRUE(producer);
  const std::string topic = "crash";
  ASSERT_TRUE(create_topic(producer->get(), topic, 1));
  std::size_t acked_at_kill = 0;
  ASSERT_NO_FATAL_FAILURE(produce_through_a_crash(broker, *producer, topic, 30000, 2000, acked_at_kill));
  producer->flush(90s);
  EXPECT_LT(acked_at_kill, 30000u) << "the stream ended before the crash";
  EXPECT_GT(producer->successes(), acked_at_kill) << "nothing was acknowledged after the restart";

  // Every acknowledged record is at the offset it was acknowledged with.
  std::map<std::int64_t, std::int64_t> acknowledged;  // offset -> sequence
  for (const auto& report : producer->deliveries()) {
    if (report.error == RD_KAFKA_RESP_ERR_NO_ERROR) acknowledged[report.offset] = report.id;
  }
  ASSERT_GE(acknowledged.size(), 2000u);
  std::vector<consumed_record> records;
  ASSERT_TRUE(read_partition(broker.bootstrap(), topic, 0, records));
  std::map<std::int64_t, std::int64_t> stored;  // offset -> sequence
  for (const auto& record : records) stored[record.offset] = sequence_of(record.value);
  std::size_t missing = 0;
  for (const auto& [offset, sequence] : acknowledged) {
    auto it = stored.find(offset);
    if (it == stored.end() || it->second != sequence) {
      if (++missing <= 10) {
        ADD_FAILURE() << "acknowledged sequence " << sequence << " at offset " << offset << ", stored there: "
                      << (it == stored.end() ? std::string("nothing") : std::to_string(it->second));
      }
    }
  }
  EXPECT_EQ(missing, 0u) << "of " << acknowledged.size() << " acknowledged records";
}

TEST(LibrdkafkaTest, IdempotentProducerWritesEachRecordOnceAcrossABrokerCrash) {
  broker_process broker;
  ASSERT_TRUE(broker.start());
  auto producer = kafka_client::create(RD_KAFKA_PRODUCER, broker.bootstrap(),
                                       {{"enable.idempotence", "true"},
                                        {"linger.ms", "1"},
                                        {"batch.num.messages", "50"},
                                        {"message.timeout.ms", "120000"}});
  ASSERT_TRUE(producer);
  const std::string topic = "exactly-once";
  ASSERT_TRUE(create_topic(producer->get(), topic, 1));
  constexpr int total = 30000;
  std::size_t acked_at_kill = 0;
  ASSERT_NO_FATAL_FAILURE(produce_through_a_crash(broker, *producer, topic, total, 3000, acked_at_kill));
  ASSERT_TRUE(producer->flush(120s));
  EXPECT_LT(acked_at_kill, static_cast<std::size_t>(total)) << "the stream ended before the crash";
  EXPECT_EQ(producer->fatal_error(), "");

  ASSERT_EQ(producer->deliveries().size(), static_cast<std::size_t>(total));
  std::size_t failed = 0;
  for (const auto& report : producer->deliveries()) {
    if (report.error != RD_KAFKA_RESP_ERR_NO_ERROR && ++failed <= 10) {
      ADD_FAILURE() << "sequence " << report.id << ": " << rd_kafka_err2name(report.error);
    }
  }
  EXPECT_EQ(failed, 0u);

  // The log holds every sequence number exactly once, in order: retries after the crash were deduplicated.
  std::vector<consumed_record> records;
  ASSERT_TRUE(read_partition(broker.bootstrap(), topic, 0, records));
  std::vector<std::int64_t> sequences;
  for (const auto& record : records) sequences.push_back(sequence_of(record.value));
  std::size_t mismatches = 0;
  for (std::size_t i = 0; i < std::max(sequences.size(), static_cast<std::size_t>(total)); ++i) {
    const std::int64_t got = i < sequences.size() ? sequences[i] : -1;
    if (got != static_cast<std::int64_t>(i) && ++mismatches <= 10) {
      ADD_FAILURE() << "offset " << i << " holds sequence " << got << ", expected " << i;
    }
  }
  EXPECT_EQ(sequences.size(), static_cast<std::size_t>(total));
  EXPECT_EQ(mismatches, 0u);
  for (const auto& report : producer->deliveries()) {
    if (report.error == RD_KAFKA_RESP_ERR_NO_ERROR && report.offset != report.id && ++mismatches <= 20) {
      ADD_FAILURE() << "sequence " << report.id << " acknowledged at offset " << report.offset;
    }
  }
}

// The deterministic half of the test above, with a raw client: a batch the broker wrote before a crash and sends
// again after it (as a producer does when the answer was lost) is recognised from the log, not appended twice.
::testing::AssertionResult produce_raw(raw_client& client, std::int32_t correlation_id, const std::string& topic,
                                       const protocol::bytes& batch,
                                       protocol::produce_response::partition_produce_response& out) {
  protocol::produce_request request;
  request.acks = -1;
  request.timeout_ms = 30000;
  request.topic_data.resize(1);
  request.topic_data[0].name = topic;
  request.topic_data[0].partition_data.resize(1);
  request.topic_data[0].partition_data[0].records = protocol::shared_bytes::copy_of(batch);
  if (auto sent = client.send_request(correlation_id, 7, request); !sent) return sent;
  protocol::produce_response response;
  if (auto read = client.read_response(correlation_id, 7, response); !read) return read;
  if (response.responses.size() != 1 || response.responses[0].partition_responses.size() != 1) {
    return ::testing::AssertionFailure() << "Produce answered " << response.responses.size() << " topics";
  }
  out = response.responses[0].partition_responses[0];
  return ::testing::AssertionSuccess();
}

protocol::bytes idempotent_batch(std::int64_t producer_id, std::int16_t epoch, std::int32_t first_sequence, int count) {
  protocol::record_batch_builder_options options;
  options.producer_id = producer_id;
  options.producer_epoch = epoch;
  options.base_sequence = first_sequence;
  protocol::record_batch_builder builder(options);
  for (int i = 0; i < count; ++i) {
    const std::string value = sequence_value(first_sequence + i);
    builder.append(milliseconds_since_epoch(), std::nullopt,
                   protocol::byte_span(reinterpret_cast<const std::uint8_t*>(value.data()), value.size()));
  }
  protocol::bytes out;
  EXPECT_FALSE(builder.build(out));
  return out;
}

// Connects a raw client and asks for a producer id (InitProducerId v1, correlation id 1), as an idempotent producer
// does first.
void connect_as_idempotent_producer(const broker_process& broker, raw_client& client,
                                    protocol::init_producer_id_response& identity) {
  ASSERT_TRUE(client.connect(broker.host(), broker.port()));
  protocol::init_producer_id_request init;
  init.transaction_timeout_ms = 60000;
  ASSERT_TRUE(client.send_request(1, 1, init));
  ASSERT_TRUE(client.read_response(1, 1, identity));
  ASSERT_EQ(identity.error_code, 0);
  ASSERT_GE(identity.producer_id, 0);
}

TEST(LibrdkafkaTest, RetriedIdempotentBatchIsRecognisedAfterACrash) {
  broker_process broker;
  ASSERT_TRUE(broker.start());
  auto admin = kafka_client::create(RD_KAFKA_PRODUCER, broker.bootstrap());
  ASSERT_TRUE(admin);
  const std::string topic = "retried";
  ASSERT_TRUE(create_topic(admin->get(), topic, 1));

  raw_client client;
  protocol::init_producer_id_response identity;
  ASSERT_NO_FATAL_FAILURE(connect_as_idempotent_producer(broker, client, identity));

  const auto first = idempotent_batch(identity.producer_id, identity.producer_epoch, 0, 5);
  const auto second = idempotent_batch(identity.producer_id, identity.producer_epoch, 5, 5);
  protocol::produce_response::partition_produce_response answer;
  ASSERT_TRUE(produce_raw(client, 2, topic, first, answer));
  ASSERT_EQ(answer.error_code, 0);
  EXPECT_EQ(answer.base_offset, 0);
  ASSERT_TRUE(produce_raw(client, 3, topic, second, answer));
  ASSERT_EQ(answer.error_code, 0);
  EXPECT_EQ(answer.base_offset, 5);

  broker.kill9();
  ASSERT_TRUE(broker.start());
  ASSERT_TRUE(client.connect(broker.host(), broker.port()));

  // Both batches are among the producer's last five: the answer is the original one, nothing is appended.
  ASSERT_TRUE(produce_raw(client, 4, topic, second, answer));
  EXPECT_EQ(answer.error_code, 0) << "a retry of the last batch written before the crash";
  EXPECT_EQ(answer.base_offset, 5);
  ASSERT_TRUE(produce_raw(client, 5, topic, first, answer));
  EXPECT_EQ(answer.error_code, 0) << "a retry of an earlier batch written before the crash";
  EXPECT_EQ(answer.base_offset, 0);
  std::int64_t low = -1, high = -1;
  ASSERT_TRUE(watermarks(admin->get(), topic, 0, low, high));
  EXPECT_EQ(high, 10) << "a retried batch was appended again";

  // The sequence continues where the log says it stopped; a gap is refused.
  ASSERT_TRUE(
      produce_raw(client, 6, topic, idempotent_batch(identity.producer_id, identity.producer_epoch, 10, 5), answer));
  EXPECT_EQ(answer.error_code, 0);
  EXPECT_EQ(answer.base_offset, 10);
  ASSERT_TRUE(
      produce_raw(client, 7, topic, idempotent_batch(identity.producer_id, identity.producer_epoch, 20, 5), answer));
  EXPECT_EQ(answer.error_code, static_cast<std::int16_t>(protocol::error_code::out_of_order_sequence_number));
  ASSERT_TRUE(watermarks(admin->get(), topic, 0, low, high));
  EXPECT_EQ(high, 15);
}

// Each partition holds three files open: with a soft open-file limit of 200 (the child inherits it) a 300-partition
// topic only fits because the broker raises its soft limit to the hard one at start.
TEST(LibrdkafkaTest, ABrokerStartedWithALowOpenFileLimitRaisesIt) {
  rlimit original{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &original), 0);
  if (original.rlim_max < 2000) GTEST_SKIP() << "hard open-file limit " << original.rlim_max << " is below 2000";
  broker_process broker;
  rlimit low = original;
  low.rlim_cur = 200;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  const auto started = broker.start();
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &original), 0);
  ASSERT_TRUE(started);
  EXPECT_NE(broker.log_contents().find("open-file limit raised from 200"), std::string::npos);

  auto admin = kafka_client::create(RD_KAFKA_PRODUCER, broker.bootstrap());
  ASSERT_TRUE(admin);
  EXPECT_TRUE(create_topic(admin->get(), "wide", 300));
}

// A producer pipelines acks=all requests on one connection; the broker reads the next one while earlier ones wait
// for their fsync (they share a group commit), but appends stay in request order and answers leave in request order.
// Mixed in: acks=1 requests, and an idempotent producer's batches, whose sequences must arrive in order.
TEST(LibrdkafkaTest, PipelinedAcksAllProducesAreAppendedAndAnsweredInRequestOrder) {
  broker_process broker;
  ASSERT_TRUE(broker.start());
  auto admin = kafka_client::create(RD_KAFKA_PRODUCER, broker.bootstrap());
  ASSERT_TRUE(admin);
  const std::string topic = "pipelined";
  ASSERT_TRUE(create_topic(admin->get(), topic, 1));
  raw_client client;
  protocol::init_producer_id_response identity;
  ASSERT_NO_FATAL_FAILURE(connect_as_idempotent_producer(broker, client, identity));

  constexpr int requests = 60;  // each with 3 records
  for (int i = 0; i < requests; ++i) {
    protocol::produce_request request;
    request.acks = i % 3 == 2 ? 1 : -1;
    request.timeout_ms = 30000;
    request.topic_data.resize(1);
    request.topic_data[0].name = topic;
    request.topic_data[0].partition_data.resize(1);
    request.topic_data[0].partition_data[0].records =
        protocol::shared_bytes::copy_of(idempotent_batch(identity.producer_id, identity.producer_epoch, i * 3, 3));
    ASSERT_TRUE(client.send_request(100 + i, 7, request));
  }
  for (int i = 0; i < requests; ++i) {
    protocol::produce_response response;
    ASSERT_TRUE(client.read_response(100 + i, 7, response)) << "answer " << i;
    ASSERT_EQ(response.responses.size(), 1u);
    ASSERT_EQ(response.responses[0].partition_responses.size(), 1u);
    const auto& answer = response.responses[0].partition_responses[0];
    EXPECT_EQ(answer.error_code, 0) << "request " << i;
    EXPECT_EQ(answer.base_offset, i * 3) << "request " << i;
  }
  std::int64_t low = -1, high = -1;
  ASSERT_TRUE(watermarks(admin->get(), topic, 0, low, high));
  EXPECT_EQ(high, requests * 3);
}

// Producer state is snapshotted while the broker runs (with each recovery-point checkpoint), not only at a clean
// stop, so a crash does not force a scan of the whole log to rebuild deduplication state.
TEST(LibrdkafkaTest, ProducerStateIsSnapshottedWhileTheBrokerRuns) {
  broker_process broker({"log.flush.offset.checkpoint.interval.ms=20"});
  ASSERT_TRUE(broker.start());
  auto admin = kafka_client::create(RD_KAFKA_PRODUCER, broker.bootstrap());
  ASSERT_TRUE(admin);
  const std::string topic = "snapshotted";
  ASSERT_TRUE(create_topic(admin->get(), topic, 1));

  raw_client client;
  protocol::init_producer_id_response identity;
  ASSERT_NO_FATAL_FAILURE(connect_as_idempotent_producer(broker, client, identity));
  protocol::produce_response::partition_produce_response answer;
  ASSERT_TRUE(
      produce_raw(client, 2, topic, idempotent_batch(identity.producer_id, identity.producer_epoch, 0, 7), answer));
  ASSERT_EQ(answer.error_code, 0);

  // The snapshot file is named after the log end offset it covers (7), as Kafka names them.
  const auto snapshot = broker.log_dir() / (topic + "-0") / "00000000000000000007.snapshot";
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!std::filesystem::exists(snapshot) && std::chrono::steady_clock::now() < until) {
    std::this_thread::yield();
  }
  EXPECT_TRUE(std::filesystem::exists(snapshot)) << "no producer snapshot written while running: " << snapshot;
  EXPECT_TRUE(broker.running());
}

TEST(LibrdkafkaTest, DeleteTopicsRemovesTheTopicAndItsData) {
  broker_process broker({"auto.create.topics.enable=false"});
  ASSERT_TRUE(broker.start());
  auto producer = kafka_client::create(RD_KAFKA_PRODUCER, broker.bootstrap());
  ASSERT_TRUE(producer);
  const std::string topic = "doomed";
  ASSERT_TRUE(create_topic(producer->get(), topic, 2));
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(producer->produce(topic, i % 2, std::nullopt, sequence_value(i), 0, i), RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  ASSERT_TRUE(producer->flush());
  ASSERT_EQ(producer->successes(), 20u);

  rd_kafka_resp_err_t topic_error = RD_KAFKA_RESP_ERR_UNKNOWN;
  ASSERT_TRUE(delete_topic(producer->get(), topic, topic_error));
  EXPECT_EQ(topic_error, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2name(topic_error);
  EXPECT_TRUE(wait_for_topic(producer->get(), topic, false));

  ASSERT_TRUE(delete_topic(producer->get(), topic, topic_error));
  EXPECT_EQ(topic_error, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) << rd_kafka_err2name(topic_error);

  // Still gone after a restart, and a new topic of the same name starts empty.
  ASSERT_TRUE(broker.restart());
  EXPECT_TRUE(wait_for_topic(producer->get(), topic, false));
  ASSERT_TRUE(create_topic(producer->get(), topic, 2));
  for (std::int32_t partition = 0; partition < 2; ++partition) {
    std::int64_t low = -1, high = -1;
    ASSERT_TRUE(watermarks(producer->get(), topic, partition, low, high));
    EXPECT_EQ(low, 0);
    EXPECT_EQ(high, 0);
  }
}

// rd_kafka_offsets_for_times for one partition and one timestamp (or -2 earliest, -1 latest).
::testing::AssertionResult offset_for_time(rd_kafka_t* handle, const std::string& topic, std::int64_t timestamp,
                                           std::int64_t& offset) {
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(list, topic.c_str(), 0)->offset = timestamp;
  const auto error = rd_kafka_offsets_for_times(handle, list, 10000);
  const auto partition_error = list->elems[0].err;
  offset = list->elems[0].offset;
  rd_kafka_topic_partition_list_destroy(list);
  if (error != RD_KAFKA_RESP_ERR_NO_ERROR || partition_error != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return ::testing::AssertionFailure() << "offsets_for_times(" << timestamp << "): " << rd_kafka_err2name(error)
                                         << " / " << rd_kafka_err2name(partition_error);
  }
  return ::testing::AssertionSuccess();
}

TEST(LibrdkafkaTest, ListOffsetsFindsEarliestLatestAndByTimestamp) {
  broker_process broker;
  ASSERT_TRUE(broker.start());
  auto producer = kafka_client::create(RD_KAFKA_PRODUCER, broker.bootstrap(), {{"linger.ms", "100"}});
  ASSERT_TRUE(producer);
  const std::string topic = "times";
  ASSERT_TRUE(create_topic(producer->get(), topic, 1));
  const std::int64_t base = milliseconds_since_epoch() / 1000 * 1000 - 3'600'000;
  // Ten records in one batch (the lookup must look inside it), then ten batches of one.
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(producer->produce(topic, 0, std::nullopt, sequence_value(i), base + i * 1000, i),
              RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  ASSERT_TRUE(producer->flush());
  for (int i = 10; i < 20; ++i) {
    ASSERT_EQ(producer->produce(topic, 0, std::nullopt, sequence_value(i), base + i * 1000, i),
              RD_KAFKA_RESP_ERR_NO_ERROR);
    ASSERT_TRUE(producer->flush());
  }
  ASSERT_EQ(producer->successes(), 20u);

  auto check = [&](const char* when) {
    SCOPED_TRACE(when);
    std::int64_t low = -1, high = -1;
    ASSERT_TRUE(watermarks(producer->get(), topic, 0, low, high));
    EXPECT_EQ(low, 0);
    EXPECT_EQ(high, 20);
    const std::vector<std::pair<std::int64_t, std::int64_t>> expectations{
        {-2, 0},             // earliest
        {-1, 20},            // latest
        {base - 5000, 0},    // before everything
        {base, 0},           // exactly the first
        {base + 3000, 3},    // exactly one inside the first batch
        {base + 3500, 4},    // between two records of the first batch
        {base + 9500, 10},   // between the batches
        {base + 15000, 15},  // a batch of one
        {base + 19000, 19},  // the last
        {base + 19001, -1},  // after everything: no offset
    };
    for (const auto& [timestamp, expected] : expectations) {
      std::int64_t offset = -100;
      EXPECT_TRUE(offset_for_time(producer->get(), topic, timestamp, offset));
      EXPECT_EQ(offset, expected) << "timestamp " << timestamp << " (base " << (timestamp - base) << ")";
    }
  };
  check("before a restart");
  ASSERT_TRUE(broker.restart());
  check("after a restart");
}

}  // namespace
}  // namespace vltava::broker::testing
