// Consumer groups with real clients against the real broker: kcat -G, confluent-kafka-python, kafka-python and
// KafkaJS, each through its group script in compat/clients/ (kcat_group.sh, confluent_kafka_group.py,
// kafka_python_group.py, kafkajs/group.js). Each test starts a broker (port 0, temporary directory, no initial
// rebalance delay), creates a topic with several partitions, and runs the script as a child process with a deadline.
// The script runs three phases in one group and checks them from the client's side (see its header): two members
// split the partitions and consume every record exactly once; one leaves and the other takes over every partition;
// after both stopped with their offsets committed, a new member resumes with exactly the records produced since.
// It prints one JSON summary line.
//
// Then the broker is checked independently of that client, with librdkafka: every partition's high watermark is the
// number of records the script produced to it; the group's committed offsets (OffsetFetch through rd_kafka_committed()
// on a consumer with the group's id that never joins) equal those end offsets; and the group is listed and described
// (ListGroups, DescribeGroups through rd_kafka_list_groups()) as an Empty group of protocol type "consumer".
//
// A missing client skips its test with the command that installs it; scripts/test.sh installs every one.
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <optional>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "broker_process.h"
#include "client_test_support.h"

namespace vltava::broker::testing {
namespace {

using steady = std::chrono::steady_clock;

constexpr int partition_count = 4;
// Records produced in phase 1 and again in phase 2 (record i to partition i % partition_count), and in phase 3.
constexpr int phase_count = 40;
constexpr int resume_count = 20;
constexpr int session_timeout_ms = 6000;
// The script's own deadline, and the test's for the script (the script should fail first, with its reason).
constexpr int script_timeout_seconds = 60;
constexpr auto child_deadline = std::chrono::seconds(script_timeout_seconds + 20);
constexpr int request_timeout_ms = 10000;

// ---- the script's summary ----

// The object `"name": {...}` (without nested objects) in the JSON text, or "".
std::string json_object(const std::string& json, const std::string& name) {
  const auto at = json.find("\"" + name + "\"");
  if (at == std::string::npos) return "";
  const auto open = json.find('{', at);
  if (open == std::string::npos) return "";
  int depth = 0;
  for (auto i = open; i < json.size(); ++i) {
    if (json[i] == '{') ++depth;
    if (json[i] == '}' && --depth == 0) return json.substr(open, i - open + 1);
  }
  return "";
}

std::vector<int> all_partitions() {
  std::vector<int> out;
  for (int p = 0; p < partition_count; ++p) out.push_back(p);
  return out;
}

// The end offset the scripts' record scheme gives partition p: record i of each phase goes to partition i % count.
std::int64_t expected_end_offset(int p) {
  const auto records_to = [p](int total) {
    return total > p ? (total - p + partition_count - 1) / partition_count : 0;
  };
  return 2 * records_to(phase_count) + records_to(resume_count);
}

// ---- librdkafka on the broker side ----

// CreateTopics through librdkafka's admin API: `name` with `partitions` partitions.
::testing::AssertionResult create_topic(const std::string& bootstrap, const std::string& name, int partitions) {
  rdkafka_handle admin;
  if (auto made =
          make_client(RD_KAFKA_PRODUCER, {{"bootstrap.servers", bootstrap}, {"broker.address.family", "v4"}}, admin);
      !made) {
    return made;
  }
  char error[512];
  rd_kafka_NewTopic_t* topic = rd_kafka_NewTopic_new(name.c_str(), partitions, 1, error, sizeof error);
  if (topic == nullptr) return ::testing::AssertionFailure() << "NewTopic: " << error;
  rd_kafka_queue_t* queue = rd_kafka_queue_new(admin.get());
  rd_kafka_AdminOptions_t* options = rd_kafka_AdminOptions_new(admin.get(), RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_request_timeout(options, request_timeout_ms, error, sizeof error);
  rd_kafka_CreateTopics(admin.get(), &topic, 1, options, queue);
  rd_kafka_event_t* event = rd_kafka_queue_poll(queue, 2 * request_timeout_ms);
  ::testing::AssertionResult result = ::testing::AssertionSuccess();
  if (event == nullptr) {
    result = ::testing::AssertionFailure() << "CreateTopics " << name << ": no answer";
  } else if (rd_kafka_event_error(event) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    result = ::testing::AssertionFailure() << "CreateTopics " << name << ": " << rd_kafka_event_error_string(event);
  } else {
    std::size_t count = 0;
    const rd_kafka_topic_result_t** results =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(event), &count);
    if (count != 1 || rd_kafka_topic_result_error(results[0]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      result = ::testing::AssertionFailure()
               << "CreateTopics " << name << ": "
               << (count == 1 ? rd_kafka_err2name(rd_kafka_topic_result_error(results[0])) : "no topic result");
    }
  }
  if (event != nullptr) rd_kafka_event_destroy(event);
  rd_kafka_AdminOptions_destroy(options);
  rd_kafka_queue_destroy(queue);
  rd_kafka_NewTopic_destroy(topic);
  return result;
}

// Checks every partition's high watermark, then the group's committed offsets against them.
void verify_offsets(const std::string& bootstrap, const std::string& topic, const std::string& group) {
  // A consumer with the group's id that never subscribes: rd_kafka_committed() finds the coordinator and sends
  // OffsetFetch, without joining the group.
  rdkafka_handle consumer;
  ASSERT_TRUE(make_client(RD_KAFKA_CONSUMER,
                          {{"bootstrap.servers", bootstrap},
                           {"broker.address.family", "v4"},
                           {"client.id", "vltava-group-check"},
                           {"group.id", group},
                           {"enable.auto.commit", "false"}},
                          consumer));
  std::vector<std::int64_t> high(partition_count, -1);
  for (int p = 0; p < partition_count; ++p) {
    std::int64_t low = -1;
    const auto error =
        rd_kafka_query_watermark_offsets(consumer.get(), topic.c_str(), p, &low, &high[p], request_timeout_ms);
    ASSERT_EQ(error, RD_KAFKA_RESP_ERR_NO_ERROR) << "watermarks of partition " << p << ": " << rd_kafka_err2name(error);
    EXPECT_EQ(low, 0) << "partition " << p;
    EXPECT_EQ(high[p], expected_end_offset(p))
        << "partition " << p << " does not hold the records the script's scheme puts there";
  }

  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partition_count);
  for (int p = 0; p < partition_count; ++p) rd_kafka_topic_partition_list_add(list, topic.c_str(), p);
  const auto error = rd_kafka_committed(consumer.get(), list, 2 * request_timeout_ms);
  EXPECT_EQ(error, RD_KAFKA_RESP_ERR_NO_ERROR) << "OffsetFetch of group " << group << ": " << rd_kafka_err2name(error);
  if (error == RD_KAFKA_RESP_ERR_NO_ERROR) {
    for (int i = 0; i < list->cnt; ++i) {
      const auto& entry = list->elems[i];
      EXPECT_EQ(entry.err, RD_KAFKA_RESP_ERR_NO_ERROR) << "partition " << entry.partition;
      ASSERT_GE(entry.partition, 0);
      ASSERT_LT(entry.partition, partition_count);
      EXPECT_EQ(entry.offset, high[static_cast<std::size_t>(entry.partition)])
          << "group " << group << ": the committed offset of partition " << entry.partition
          << " is not its end offset (" << RD_KAFKA_OFFSET_INVALID << " means none was committed)";
    }
  }
  rd_kafka_topic_partition_list_destroy(list);
  rd_kafka_consumer_close(consumer.get());
}

// ListGroups and DescribeGroups: the group exists, of protocol type "consumer", and Empty (every member left).
void verify_group_listed(const std::string& bootstrap, const std::string& group) {
  rdkafka_handle client;
  ASSERT_TRUE(
      make_client(RD_KAFKA_PRODUCER, {{"bootstrap.servers", bootstrap}, {"broker.address.family", "v4"}}, client));
  // All groups (ListGroups on every broker, then DescribeGroups), and the group by name (DescribeGroups only).
  for (const char* filter : {static_cast<const char*>(nullptr), group.c_str()}) {
    SCOPED_TRACE(filter == nullptr ? "rd_kafka_list_groups(all)" : "rd_kafka_list_groups(group)");
    const rd_kafka_group_list* groups = nullptr;
    const auto error = rd_kafka_list_groups(client.get(), filter, &groups, 2 * request_timeout_ms);
    ASSERT_EQ(error, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2name(error);
    const rd_kafka_group_info* found = nullptr;
    for (int i = 0; i < groups->group_cnt; ++i) {
      if (group == groups->groups[i].group) found = &groups->groups[i];
    }
    if (found == nullptr) {
      ADD_FAILURE() << "group " << group << " is not listed (" << groups->group_cnt << " groups)";
    } else {
      EXPECT_EQ(found->err, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2name(found->err);
      EXPECT_STREQ(found->protocol_type, "consumer");
      EXPECT_STREQ(found->state, "Empty") << "every member has left";
      EXPECT_EQ(found->member_cnt, 0);
    }
    rd_kafka_group_list_destroy(groups);
  }
}

// The client's own account, from its summary: the two members' phase-1 assignments are disjoint and cover every
// partition, and the later members held every partition; the record counts add up.
void verify_summary(const std::string& summary, const std::string& client) {
  EXPECT_TRUE(std::regex_search(summary, std::regex("\"client\"\\s*:\\s*\"" + client + "\""))) << summary;
  const std::string phase1 = json_object(summary, "phase1");
  const auto a = json_ints(json_object(phase1, "a"), "assigned");
  const auto b = json_ints(json_object(phase1, "b"), "assigned");
  ASSERT_TRUE(a && b) << "no phase-1 assignments in the summary: " << summary;
  EXPECT_FALSE(a->empty());
  EXPECT_FALSE(b->empty());
  std::vector<int> both = *a;
  both.insert(both.end(), b->begin(), b->end());
  std::sort(both.begin(), both.end());
  EXPECT_EQ(both, all_partitions()) << "phase 1: the members' assignments overlap or leave partitions out: " << summary;
  EXPECT_EQ(json_ints(json_object(summary, "phase2"), "b_assigned"), all_partitions()) << summary;
  EXPECT_EQ(json_ints(json_object(summary, "phase3"), "c_assigned"), all_partitions()) << summary;

  const auto records = [](const std::string& object) {
    std::smatch match;
    return std::regex_search(object, match, std::regex("\"records\"\\s*:\\s*([0-9]+)")) ? std::stoi(match[1].str())
                                                                                        : -1;
  };
  EXPECT_EQ(records(json_object(phase1, "a")) + records(json_object(phase1, "b")), phase_count) << summary;
  EXPECT_EQ(records(json_object(summary, "phase2")), phase_count) << summary;
  EXPECT_EQ(records(json_object(summary, "phase3")), resume_count) << summary;
}

// Starts a broker, creates the topic, runs the script (command + the common arguments) and checks the result on the
// broker side. Returns the script's summary line ("" on failure).
std::string run_group_scenario(const std::string& client, const std::vector<std::string>& command,
                               const std::vector<std::string>& extra_environment = {}) {
  const auto started = steady::now();
  broker_process broker({"group.initial.rebalance.delay.ms=0"});
  EXPECT_TRUE(broker.start());
  if (::testing::Test::HasFailure()) return "";
  const std::string stamp = std::to_string(milliseconds_since_epoch());
  const std::string topic = "group-" + client + "-" + stamp;
  const std::string group = "group-" + client + "-" + stamp;
  EXPECT_TRUE(create_topic(broker.bootstrap(), topic, partition_count));
  if (::testing::Test::HasFailure()) return "";

  std::vector<std::string> arguments = command;
  for (const auto& argument :
       {std::string("--bootstrap"), broker.bootstrap(), std::string("--topic"), topic, std::string("--group"), group,
        std::string("--partitions"), std::to_string(partition_count), std::string("--count"),
        std::to_string(phase_count), std::string("--resume-count"), std::to_string(resume_count),
        std::string("--session-timeout-ms"), std::to_string(session_timeout_ms), std::string("--timeout-seconds"),
        std::to_string(script_timeout_seconds)}) {
    arguments.push_back(argument);
  }
  script_outcome run;
  if (auto ran = run_client_script(arguments, child_deadline, {extra_environment}, client + " script", run); !ran) {
    ADD_FAILURE() << ran.message();
    return "";
  }
  const std::string& summary = run.summary;
  verify_summary(summary, client);
  verify_offsets(broker.bootstrap(), topic, group);
  verify_group_listed(broker.bootstrap(), group);
  std::cout << "[ client   ] " << client << " scenario and checks took "
            << std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - started).count() << " ms\n";
  return summary;
}

TEST(ClientGroupTest, Kcat) {
  if (const auto missing = missing_kcat(); !missing.empty()) GTEST_SKIP() << missing;
  const auto bash = find_on_path("bash");
  ASSERT_TRUE(bash);
  run_group_scenario("kcat", {bash->string(), (compat_dir() / "kcat_group.sh").string()});
}

TEST(ClientGroupTest, ConfluentKafkaPython) {
  if (const auto missing = missing_python_module("confluent_kafka", "python3-confluent-kafka"); !missing.empty())
    GTEST_SKIP() << missing;
  const auto summary =
      run_group_scenario("confluent-kafka", {"/usr/bin/python3", (compat_dir() / "confluent_kafka_group.py").string()});
  if (summary.empty()) return;
  // librdkafka reports errors (a failed coordinator lookup, a commit refused) through error_cb.
  EXPECT_TRUE(std::regex_search(summary, std::regex("\"client_errors\"\\s*:\\s*\\[\\]"))) << summary;
}

TEST(ClientGroupTest, KafkaPython) {
  if (const auto missing = missing_python_module("kafka", "python3-kafka"); !missing.empty()) GTEST_SKIP() << missing;
  const auto summary =
      run_group_scenario("kafka-python", {"/usr/bin/python3", (compat_dir() / "kafka_python_group.py").string()});
  if (summary.empty()) return;
  // kafka-python guesses the broker's release from ApiVersions; below 0.9 it would not use the group coordinator at
  // all, and from 0.11 on it uses JoinGroup v2 with a rebalance timeout.
  const auto version = json_ints(summary, "api_version");
  ASSERT_TRUE(version && version->size() >= 2) << summary;
  EXPECT_GE(std::make_pair((*version)[0], (*version)[1]), std::make_pair(0, 11))
      << "kafka-python inferred broker version " << (*version)[0] << "." << (*version)[1];
}

TEST(ClientGroupTest, KafkaJS) {
  if (const auto missing = missing_kafkajs(); !missing.empty()) GTEST_SKIP() << missing;
  const auto node = find_on_path("node");
  ASSERT_TRUE(node);
  run_group_scenario("kafkajs", {node->string(), (kafkajs_dir() / "group.js").string()},
                     {"KAFKAJS_NO_PARTITIONER_WARNING=1"});
}

}  // namespace
}  // namespace vltava::broker::testing
