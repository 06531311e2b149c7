// Tests of the topic registry: Kafka's topic name rules, CreateTopics' checks and their messages, validate-only,
// creation defaults, config overrides applied to the logs, the topic id and overrides surviving a restart (Kafka's
// partition.metadata format), ids assigned to logs without one, partitions after a gap left out, removal, and a
// creation failing part way leaving nothing behind.
#include "vltava/broker/topic_registry.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include "vltava/broker/partition_waiters.h"

namespace vltava::broker {
namespace {

namespace fs = std::filesystem;
using protocol::error_code;

// A stand-in for broker_config's applier: two keys, Kafka-style messages.
std::string apply_test_config(storage::log_config& config, std::string_view key, std::string_view value) {
  if (key == "retention.ms") {
    std::int64_t parsed = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), parsed);
    if (ec != std::errc() || end != value.data() + value.size()) {
      return "Invalid value " + std::string(value) + " for configuration retention.ms: Not a number of type LONG";
    }
    config.retention_ms = parsed;
    return {};
  }
  if (key == "cleanup.policy") {
    if (storage::cleanup_policy::parse(value, config.cleanup)) {
      return "Invalid value " + std::string(value) + " for configuration cleanup.policy";
    }
    return {};
  }
  return "Unknown topic config name: " + std::string(key);
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_file(const fs::path& path, std::string_view text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

class TopicRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("vltava-topic-registry-test-" + std::string(info->name()) + "-" +
                                        std::to_string(::getpid()) + "-" + std::to_string(std::random_device{}()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    open();
  }
  void TearDown() override {
    close();
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  void open(topic_creation_defaults creation = {}) {
    storage::log_manager_config config;
    config.log_dirs = {dir_};
    config.cleaner_enable = false;
    storage::log_manager_startup startup;
    ASSERT_FALSE(storage::log_manager::open(config, {}, logs_, startup));
    registry_ = std::make_unique<topic_registry>(*logs_, storage::log_config{}, apply_test_config, creation);
    ASSERT_FALSE(registry_->load());
  }
  void close() {
    registry_.reset();
    if (logs_) {
      EXPECT_FALSE(logs_->shutdown());
      logs_.reset();
    }
  }
  void reopen(topic_creation_defaults creation = {}) {
    close();
    open(creation);
  }

  topic_registry::create_result create(const std::string& name, std::int32_t partitions = 1,
                                       std::int16_t replication_factor = 1,
                                       const std::map<std::string, std::string>& configs = {},
                                       bool validate_only = false) {
    return registry_->create(name, partitions, replication_factor, configs, validate_only);
  }

  fs::path dir_;
  std::unique_ptr<storage::log_manager> logs_;
  std::unique_ptr<topic_registry> registry_;
};

TEST(TopicNameTest, FollowsKafkasRules) {
  EXPECT_EQ(invalid_topic_name_reason(""), "Topic name is illegal, it can't be empty");
  EXPECT_EQ(invalid_topic_name_reason("."), "Topic name cannot be \".\" or \"..\"");
  EXPECT_EQ(invalid_topic_name_reason(".."), "Topic name cannot be \".\" or \"..\"");
  EXPECT_EQ(invalid_topic_name_reason("a b"),
            "Topic name \"a b\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'");
  EXPECT_NE(invalid_topic_name_reason("a/b"), "");
  EXPECT_NE(invalid_topic_name_reason("caf\xc3\xa9"), "");
  EXPECT_EQ(invalid_topic_name_reason(std::string(249, 'x')), "");
  EXPECT_EQ(invalid_topic_name_reason(std::string(250, 'x')),
            "Topic name is illegal, it can't be longer than 249 characters, topic name: " + std::string(250, 'x'));
  EXPECT_EQ(invalid_topic_name_reason("Orders.v2_eu-1"), "");
  EXPECT_EQ(invalid_topic_name_reason("..."), "");
}

TEST(TopicIdTest, TextIsKafkasBase64) {
  // Kafka's Uuid.toString of the UUID 0x0123456789abcdef_fedcba9876543210.
  protocol::uuid id;
  const std::uint8_t bytes[16] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
                                  0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10};
  std::copy(std::begin(bytes), std::end(bytes), id.value.begin());
  EXPECT_EQ(topic_id_to_string(id), "ASNFZ4mrze_-3LqYdlQyEA");
  protocol::uuid parsed;
  ASSERT_TRUE(parse_topic_id("ASNFZ4mrze_-3LqYdlQyEA", parsed));
  EXPECT_EQ(parsed, id);
  ASSERT_TRUE(parse_topic_id("ASNFZ4mrze_-3LqYdlQyEA==", parsed));
  EXPECT_EQ(parsed, id);
  EXPECT_FALSE(parse_topic_id("ASNFZ4mrze_-3LqYdlQyE", parsed));   // too short
  EXPECT_FALSE(parse_topic_id("ASNFZ4mrze+/3LqYdlQyEA", parsed));  // standard base64, not URL-safe
  EXPECT_FALSE(parse_topic_id("ASNFZ4mrze_-3LqYdlQyEB", parsed));  // bits beyond the 16 bytes
}

TEST_F(TopicRegistryTest, CreatesATopicWithItsPartitionsAndFiles) {
  const auto result = create("orders", 3);
  ASSERT_EQ(result.error, error_code::none) << result.message;
  ASSERT_TRUE(result.created);
  EXPECT_FALSE(result.created->id.is_zero());
  EXPECT_FALSE(result.created->internal);
  ASSERT_EQ(result.created->partitions.size(), 3u);
  for (std::int32_t i = 0; i < 3; ++i) {
    const auto& p = result.created->partitions[static_cast<std::size_t>(i)];
    EXPECT_EQ(p.index, i);
    ASSERT_TRUE(p.log);
    ASSERT_TRUE(p.waiters);
    EXPECT_EQ(p.log, logs_->get({"orders", i}));
    const auto metadata = read_file(p.log->directory() / "partition.metadata");
    EXPECT_EQ(metadata, "version: 0\ntopic_id: " + topic_id_to_string(result.created->id));
    EXPECT_FALSE(fs::exists(p.log->directory() / "topic.config"));  // no overrides, no file
  }
  EXPECT_EQ(registry_->find("orders"), result.created);
  EXPECT_EQ(registry_->find(result.created->id), result.created);
  EXPECT_EQ(registry_->find("orders2"), nullptr);
  EXPECT_EQ(registry_->find(protocol::uuid{}), nullptr);
  ASSERT_EQ(registry_->all().size(), 1u);
}

TEST_F(TopicRegistryTest, ValidateOnlyChecksEverythingAndCreatesNothing) {
  const auto result = create("dry-run", 4, 1, {{"retention.ms", "1000"}}, true);
  ASSERT_EQ(result.error, error_code::none) << result.message;
  ASSERT_TRUE(result.created);
  EXPECT_EQ(result.created->partitions.size(), 4u);
  EXPECT_EQ(registry_->find("dry-run"), nullptr);
  EXPECT_TRUE(logs_->partitions().empty());
  EXPECT_FALSE(fs::exists(dir_ / "dry-run-0"));

  EXPECT_EQ(create("dry-run", 0, 1, {}, true).error, error_code::invalid_partitions);
  EXPECT_EQ(create("dry run", 1, 1, {}, true).error, error_code::invalid_topic_exception);
  EXPECT_EQ(create("dry-run", 1, 1, {{"retention.ms", "x"}}, true).error, error_code::invalid_config);
}

TEST_F(TopicRegistryTest, RefusesInvalidNamesAndTheMetadataTopic) {
  auto result = create("bad name");
  EXPECT_EQ(result.error, error_code::invalid_topic_exception);
  EXPECT_EQ(
      result.message,
      "Topic name \"bad name\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'");
  EXPECT_EQ(create("").error, error_code::invalid_topic_exception);
  EXPECT_EQ(create("..").error, error_code::invalid_topic_exception);
  result = create("__cluster_metadata");
  EXPECT_EQ(result.error, error_code::invalid_request);
  EXPECT_EQ(result.message, "Creation of internal topic __cluster_metadata is prohibited.");
  EXPECT_TRUE(logs_->partitions().empty());
}

TEST_F(TopicRegistryTest, RefusesAnExistingOrCollidingName) {
  ASSERT_EQ(create("metrics.eu").error, error_code::none);
  auto result = create("metrics.eu");
  EXPECT_EQ(result.error, error_code::topic_already_exists);
  EXPECT_EQ(result.message, "Topic 'metrics.eu' already exists.");
  result = create("metrics_eu");
  EXPECT_EQ(result.error, error_code::invalid_topic_exception);
  EXPECT_EQ(result.message, "Topic 'metrics_eu' collides with existing topic: metrics.eu");
  EXPECT_EQ(create("metrics-eu").error, error_code::none);  // '-' does not collide
}

TEST_F(TopicRegistryTest, ChecksPartitionCounts) {
  for (const std::int32_t bad : {0, -2, -100}) {
    const auto result = create("t", bad);
    EXPECT_EQ(result.error, error_code::invalid_partitions) << bad;
    EXPECT_EQ(result.message, "Number of partitions was set to an invalid non-positive value.");
  }
  EXPECT_EQ(create("t", max_partitions_per_topic + 1).error, error_code::invalid_partitions);
  EXPECT_TRUE(logs_->partitions().empty());
}

TEST_F(TopicRegistryTest, MinusOneTakesTheCreationDefaults) {
  reopen({.num_partitions = 3, .replication_factor = 1});
  const auto result = create("defaults", -1, -1);
  ASSERT_EQ(result.error, error_code::none) << result.message;
  EXPECT_EQ(result.created->partitions.size(), 3u);

  reopen({.num_partitions = 1, .replication_factor = 3});  // default.replication.factor=3 on one node
  const auto refused = create("replicated", -1, -1);
  EXPECT_EQ(refused.error, error_code::invalid_replication_factor);
}

TEST_F(TopicRegistryTest, ChecksReplicationFactors) {
  for (const std::int16_t bad : {0, -2}) {
    const auto result = create("t", 1, bad);
    EXPECT_EQ(result.error, error_code::invalid_replication_factor) << bad;
    EXPECT_EQ(result.message, "Replication factor must be larger than 0, or -1 to use the default value.");
  }
  const auto result = create("t", 1, 3);
  EXPECT_EQ(result.error, error_code::invalid_replication_factor);
  EXPECT_EQ(result.message,
            "Unable to replicate the partition 3 time(s): The target replication factor of 3 cannot be reached "
            "because only 1 broker(s) are registered.");
  // Kafka checks the replication factor before the partition count.
  EXPECT_EQ(create("t", 0, 0).error, error_code::invalid_replication_factor);
  EXPECT_TRUE(logs_->partitions().empty());
}

TEST_F(TopicRegistryTest, ChecksConfigsBeforeCounts) {
  auto result = create("t", 1, 1, {{"no.such.key", "1"}});
  EXPECT_EQ(result.error, error_code::invalid_config);
  EXPECT_EQ(result.message, "Unknown topic config name: no.such.key");
  result = create("t", 1, 1, {{"retention.ms", "soon"}});
  EXPECT_EQ(result.error, error_code::invalid_config);
  EXPECT_EQ(result.message, "Invalid value soon for configuration retention.ms: Not a number of type LONG");
  result = create("t", 1, 1, {{"retention.ms", "-5"}});  // parsed, but out of Kafka's range
  EXPECT_EQ(result.error, error_code::invalid_config);
  EXPECT_NE(result.message.find("retention.ms"), std::string::npos);
  result = create("t", 1, 1, {{"retention.ms", "1\nsegment.bytes=1"}});  // would forge a line of topic.config
  EXPECT_EQ(result.error, error_code::invalid_config);
  EXPECT_EQ(create("t", 0, 1, {{"retention.ms", "soon"}}).error, error_code::invalid_config);
  EXPECT_TRUE(logs_->partitions().empty());
}

TEST_F(TopicRegistryTest, AppliesConfigOverridesToTheLogs) {
  const auto result = create("compacted", 2, 1, {{"cleanup.policy", "compact"}, {"retention.ms", "1234"}});
  ASSERT_EQ(result.error, error_code::none) << result.message;
  EXPECT_EQ(result.created->config_overrides,
            (std::map<std::string, std::string>{{"cleanup.policy", "compact"}, {"retention.ms", "1234"}}));
  for (const auto& p : result.created->partitions) {
    EXPECT_EQ(p.log->config().retention_ms, 1234);
    EXPECT_TRUE(p.log->config().cleanup.compact);
    EXPECT_FALSE(p.log->config().cleanup.delete_segments);
    EXPECT_TRUE(fs::exists(p.log->directory() / "topic.config"));
  }
}

TEST_F(TopicRegistryTest, TopicIdsAndOverridesSurviveARestart) {
  const auto plain = create("plain", 2);
  const auto tuned = create("tuned", 3, 1, {{"retention.ms", "60000"}, {"cleanup.policy", "compact,delete"}});
  ASSERT_EQ(plain.error, error_code::none);
  ASSERT_EQ(tuned.error, error_code::none);
  const auto plain_id = plain.created->id;
  const auto tuned_id = tuned.created->id;
  EXPECT_NE(plain_id, tuned_id);

  reopen();
  ASSERT_EQ(registry_->all().size(), 2u);
  const auto plain_again = registry_->find("plain");
  const auto tuned_again = registry_->find("tuned");
  ASSERT_TRUE(plain_again);
  ASSERT_TRUE(tuned_again);
  EXPECT_EQ(plain_again->id, plain_id);
  EXPECT_EQ(tuned_again->id, tuned_id);
  EXPECT_EQ(registry_->find(tuned_id), tuned_again);
  EXPECT_EQ(plain_again->partitions.size(), 2u);
  ASSERT_EQ(tuned_again->partitions.size(), 3u);
  EXPECT_TRUE(plain_again->config_overrides.empty());
  EXPECT_EQ(tuned_again->config_overrides,
            (std::map<std::string, std::string>{{"cleanup.policy", "compact,delete"}, {"retention.ms", "60000"}}));
  for (std::int32_t i = 0; i < 3; ++i) {
    const auto& p = tuned_again->partitions[static_cast<std::size_t>(i)];
    EXPECT_EQ(p.index, i);
    EXPECT_TRUE(p.waiters);
    EXPECT_EQ(p.log->config().retention_ms, 60000);
    EXPECT_TRUE(p.log->config().cleanup.compact);
    EXPECT_TRUE(p.log->config().cleanup.delete_segments);
  }
  EXPECT_EQ(plain_again->partitions[0].log->config().retention_ms, storage::log_config{}.retention_ms);
}

TEST_F(TopicRegistryTest, ReadsKafkasPartitionMetadataAndFillsInMissingOnes) {
  ASSERT_EQ(create("legacy", 2).error, error_code::none);
  close();
  // A log directory as Kafka wrote it (its id) for partition 0, none for partition 1.
  write_file(dir_ / "legacy-0" / "partition.metadata", "version: 0\ntopic_id: ASNFZ4mrze_-3LqYdlQyEA\n");
  fs::remove(dir_ / "legacy-1" / "partition.metadata");
  open();
  const auto legacy = registry_->find("legacy");
  ASSERT_TRUE(legacy);
  EXPECT_EQ(topic_id_to_string(legacy->id), "ASNFZ4mrze_-3LqYdlQyEA");
  EXPECT_EQ(read_file(dir_ / "legacy-1" / "partition.metadata"), "version: 0\ntopic_id: ASNFZ4mrze_-3LqYdlQyEA");
}

TEST_F(TopicRegistryTest, GivesLogsWithoutMetadataAStableNewId) {
  close();
  for (const char* name : {"bare-0", "bare-1"}) fs::create_directories(dir_ / name);
  write_file(dir_ / "bare-1" / "partition.metadata", "garbage");  // malformed: rewritten
  open();
  const auto bare = registry_->find("bare");
  ASSERT_TRUE(bare);
  EXPECT_FALSE(bare->id.is_zero());
  const auto id = bare->id;
  const std::regex format("version: 0\ntopic_id: [A-Za-z0-9_-]{22}");
  EXPECT_TRUE(std::regex_match(read_file(dir_ / "bare-0" / "partition.metadata"), format));
  EXPECT_TRUE(std::regex_match(read_file(dir_ / "bare-1" / "partition.metadata"), format));
  reopen();
  ASSERT_TRUE(registry_->find("bare"));
  EXPECT_EQ(registry_->find("bare")->id, id);
}

TEST_F(TopicRegistryTest, ServesPartitionsUpToTheFirstGap) {
  close();
  for (const char* name : {"gappy-0", "gappy-1", "gappy-3", "orphan-1"}) fs::create_directories(dir_ / name);
  open();
  const auto gappy = registry_->find("gappy");
  ASSERT_TRUE(gappy);
  ASSERT_EQ(gappy->partitions.size(), 2u);
  EXPECT_EQ(gappy->partitions[1].index, 1);
  EXPECT_EQ(registry_->find("orphan"), nullptr);  // no partition 0: not served
  EXPECT_TRUE(fs::exists(dir_ / "gappy-3"));      // left alone
}

TEST_F(TopicRegistryTest, RemovesATopicAndItsLogs) {
  const auto created = create("doomed", 2);
  ASSERT_EQ(created.error, error_code::none);
  const auto id = created.created->id;
  EXPECT_EQ(registry_->remove("doomed"), error_code::none);
  EXPECT_EQ(registry_->find("doomed"), nullptr);
  EXPECT_EQ(registry_->find(id), nullptr);
  EXPECT_EQ(logs_->get({"doomed", 0}), nullptr);
  EXPECT_FALSE(fs::exists(dir_ / "doomed-0"));
  EXPECT_FALSE(fs::exists(dir_ / "doomed-1"));
  EXPECT_EQ(registry_->remove("doomed"), error_code::unknown_topic_or_partition);
  EXPECT_EQ(registry_->remove("never"), error_code::unknown_topic_or_partition);

  // The name is free again, and gets a new id.
  const auto again = create("doomed", 1);
  ASSERT_EQ(again.error, error_code::none);
  EXPECT_NE(again.created->id, id);
  reopen();
  ASSERT_TRUE(registry_->find("doomed"));
  EXPECT_EQ(registry_->find("doomed")->partitions.size(), 1u);
}

TEST_F(TopicRegistryTest, RemovalWakesLongPollingFetches) {
  const auto created = create("polled", 1);
  ASSERT_EQ(created.error, error_code::none);
  bool woken = false;
  created.created->partitions[0].waiters->add([&] { woken = true; });
  EXPECT_EQ(registry_->remove("polled"), error_code::none);
  EXPECT_TRUE(woken);
}

TEST_F(TopicRegistryTest, AFailedCreationLeavesNothingBehind) {
  // A file where the directory of partition 2 would go: creating that log fails after 0 and 1 exist.
  write_file(dir_ / "broken-2", "in the way");
  const auto result = create("broken", 4);
  EXPECT_EQ(result.error, error_code::kafka_storage_error);
  EXPECT_NE(result.message.find("broken-2"), std::string::npos) << result.message;
  EXPECT_EQ(registry_->find("broken"), nullptr);
  EXPECT_EQ(logs_->get({"broken", 0}), nullptr);
  EXPECT_EQ(logs_->get({"broken", 1}), nullptr);
  EXPECT_FALSE(fs::exists(dir_ / "broken-0"));
  EXPECT_FALSE(fs::exists(dir_ / "broken-1"));
  fs::remove(dir_ / "broken-2");
  EXPECT_EQ(create("broken", 4).error, error_code::none);
}

TEST_F(TopicRegistryTest, FlagsInternalTopics) {
  const auto offsets = create("__consumer_offsets", 2);
  ASSERT_EQ(offsets.error, error_code::none);
  EXPECT_TRUE(offsets.created->internal);
  reopen();
  ASSERT_TRUE(registry_->find("__consumer_offsets"));
  EXPECT_TRUE(registry_->find("__consumer_offsets")->internal);
  EXPECT_TRUE(is_internal_topic("__transaction_state"));
  EXPECT_FALSE(is_internal_topic("__my_topic"));
}

TEST_F(TopicRegistryTest, ConcurrentCreationsOfOneNameLetOneWin) {
  std::vector<std::thread> threads;
  std::atomic<int> created{0};
  std::atomic<int> existed{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      const auto result = create("raced", 3);
      if (result.error == error_code::none) ++created;
      if (result.error == error_code::topic_already_exists) ++existed;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(created.load(), 1);
  EXPECT_EQ(existed.load(), 7);
  ASSERT_TRUE(registry_->find("raced"));
  EXPECT_EQ(registry_->find("raced")->partitions.size(), 3u);
}

}  // namespace
}  // namespace vltava::broker
