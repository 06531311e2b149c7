// Tests of topic-level configuration (CreateTopics / AlterConfigs keys): every key applied to topic_settings, Kafka's
// ranges refused with a message naming key and value, unknown keys refused as INVALID_CONFIG with a suggestion, keys
// Kafka defines but Vltava does not implement accepted without effect, checks across keys, and the listing
// DescribeConfigs will use.
#include "vltava/broker/topic_config.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace vltava::broker {
namespace {

topic_settings apply_all(const std::map<std::string, std::string>& configs) {
  topic_settings settings;
  for (const auto& [key, value] : configs) {
    std::string message;
    EXPECT_FALSE(apply_topic_config(settings, key, value, message)) << key << ": " << message;
  }
  std::string message;
  EXPECT_FALSE(validate_topic_settings(settings, message)) << message;
  return settings;
}

std::string refusal(std::string_view key, std::string_view value, config_errc expected = config_errc::invalid_value) {
  topic_settings settings;
  std::string message;
  const auto ec = apply_topic_config(settings, key, value, message);
  EXPECT_EQ(ec, make_error_code(expected)) << key << "=" << value;
  EXPECT_EQ(config_error_to_kafka(ec), protocol::error_code::invalid_config);
  return message;
}

TEST(TopicConfigTest, EveryStoredKeyIsApplied) {
  const auto s = apply_all({
      {"cleanup.policy", "compact"},
      {"compression.type", "lz4"},
      {"delete.retention.ms", "1000"},
      {"file.delete.delay.ms", "2000"},
      {"flush.messages", "10"},
      {"flush.ms", "3000"},
      {"index.interval.bytes", "1024"},
      {"max.compaction.lag.ms", "900000"},
      {"max.message.bytes", "5000000"},
      {"message.downconversion.enable", "false"},
      {"message.timestamp.after.max.ms", "4000"},
      {"message.timestamp.before.max.ms", "5000"},
      {"message.timestamp.difference.max.ms", "6000"},
      {"message.timestamp.type", "LogAppendTime"},
      {"min.cleanable.dirty.ratio", "0.1"},
      {"min.compaction.lag.ms", "7000"},
      {"min.insync.replicas", "2"},
      {"retention.bytes", "1048576"},
      {"retention.ms", "-1"},
      {"segment.bytes", "16384"},
      {"segment.index.bytes", "4096"},
      {"segment.ms", "60000"},
      {"unclean.leader.election.enable", "true"},
  });
  EXPECT_EQ(s.log.cleanup, (storage::cleanup_policy{false, true}));
  EXPECT_EQ(s.compression_type, "lz4");
  EXPECT_EQ(s.log.delete_retention_ms, 1000);
  EXPECT_EQ(s.log.file_delete_delay_ms, 2000);
  EXPECT_EQ(s.log.flush_messages, 10);
  EXPECT_EQ(s.log.flush_ms, 3000);
  EXPECT_EQ(s.log.index_interval_bytes, 1024);
  EXPECT_EQ(s.log.max_compaction_lag_ms, 900000);
  EXPECT_EQ(s.log.max_message_bytes, 5000000);
  EXPECT_FALSE(s.message_downconversion_enable);
  EXPECT_EQ(s.timestamp_after_max_ms(), 4000);
  EXPECT_EQ(s.timestamp_before_max_ms(), 5000);
  EXPECT_EQ(s.message_timestamp_difference_max_ms, 6000);
  EXPECT_EQ(s.log.message_timestamp_type, protocol::timestamp_type::log_append_time);
  EXPECT_DOUBLE_EQ(s.log.min_cleanable_dirty_ratio, 0.1);
  EXPECT_EQ(s.log.min_compaction_lag_ms, 7000);
  EXPECT_EQ(s.min_insync_replicas, 2);
  EXPECT_EQ(s.log.retention_bytes, 1048576);
  EXPECT_EQ(s.log.retention_ms, -1);
  EXPECT_EQ(s.log.segment_bytes, 16384);
  EXPECT_EQ(s.log.segment_index_bytes, 4096);
  EXPECT_EQ(s.log.segment_ms, 60000);
  EXPECT_TRUE(s.unclean_leader_election_enable);
}

TEST(TopicConfigTest, EntriesListEveryStoredKeyAndReadBack) {
  const auto s = apply_all({{"cleanup.policy", "delete,compact"}, {"retention.ms", "123"}});
  const auto entries = topic_config_entries(s);
  ASSERT_EQ(entries.size(), topic_config_keys().size());
  for (std::size_t i = 0; i < entries.size(); ++i) EXPECT_EQ(entries[i].first, topic_config_keys()[i].name);
  std::map<std::string, std::string> as_map(entries.begin(), entries.end());
  EXPECT_EQ(as_map["cleanup.policy"], "compact,delete");
  EXPECT_EQ(as_map["retention.ms"], "123");
  EXPECT_EQ(as_map["message.timestamp.type"], "CreateTime");
  EXPECT_EQ(as_map["min.cleanable.dirty.ratio"], "0.5");
  EXPECT_EQ(topic_config_entries(apply_all(as_map)), entries);
}

TEST(TopicConfigTest, KeysNameTheirBrokerSynonyms) {
  std::map<std::string_view, std::string_view> synonyms;
  for (const auto& key : topic_config_keys()) synonyms[key.name] = key.broker_synonym;
  EXPECT_EQ(synonyms["retention.ms"], "log.retention.ms");
  EXPECT_EQ(synonyms["segment.ms"], "log.roll.ms");
  EXPECT_EQ(synonyms["max.message.bytes"], "message.max.bytes");
  EXPECT_EQ(synonyms["min.cleanable.dirty.ratio"], "log.cleaner.min.cleanable.ratio");
  for (const auto& [name, synonym] : synonyms) EXPECT_FALSE(synonym.empty()) << name;
}

TEST(TopicConfigTest, UnknownKeyIsInvalidConfigWithASuggestion) {
  EXPECT_EQ(refusal("retention.msec", "1", config_errc::unknown_key),
            "unknown topic config 'retention.msec' (did you mean 'retention.ms'?)");
  EXPECT_EQ(refusal("log.retention.ms", "1", config_errc::unknown_key),
            "unknown topic config 'log.retention.ms'");  // a broker key is not a topic key
}

struct bad_topic_value {
  std::string key;
  std::string value;
  std::string message;
};

void PrintTo(const bad_topic_value& v, std::ostream* out) { *out << v.key << "=" << v.value; }

class TopicConfigBadValueTest : public testing::TestWithParam<bad_topic_value> {};

TEST_P(TopicConfigBadValueTest, IsRefusedNamingKeyAndValue) {
  const auto& [key, value, message] = GetParam();
  EXPECT_EQ(refusal(key, value), message);
}

INSTANTIATE_TEST_SUITE_P(
    Values, TopicConfigBadValueTest,
    testing::Values(
        bad_topic_value{"cleanup.policy", "archive",
                        "cleanup.policy=archive is invalid: must be delete, compact, or both (compact,delete)"},
        bad_topic_value{"compression.type", "LZ4",
                        "compression.type=LZ4 is invalid: must be one of uncompressed, zstd, lz4, snappy, gzip, "
                        "producer"},
        bad_topic_value{"retention.ms", "-5", "retention.ms=-5 is invalid: must be at least -1"},
        bad_topic_value{"retention.bytes", "-2", "retention.bytes=-2 is invalid: must be at least -1"},
        bad_topic_value{"segment.bytes", "13", "segment.bytes=13 is invalid: must be at least 14"},
        bad_topic_value{"segment.bytes", "4294967296",
                        "segment.bytes=4294967296 is invalid: must be at most 2147483647"},
        bad_topic_value{"segment.ms", "0", "segment.ms=0 is invalid: must be at least 1"},
        bad_topic_value{"segment.index.bytes", "2", "segment.index.bytes=2 is invalid: must be at least 4"},
        bad_topic_value{"flush.messages", "0", "flush.messages=0 is invalid: must be at least 1"},
        bad_topic_value{"min.insync.replicas", "0", "min.insync.replicas=0 is invalid: must be at least 1"},
        bad_topic_value{"max.message.bytes", "big", "max.message.bytes=big is invalid: must be a whole number"},
        bad_topic_value{"min.cleanable.dirty.ratio", "2",
                        "min.cleanable.dirty.ratio=2 is invalid: must be between 0.0 and 1.0"},
        bad_topic_value{"message.timestamp.type", "NoTime",
                        "message.timestamp.type=NoTime is invalid: must be one of CreateTime, LogAppendTime"},
        bad_topic_value{"unclean.leader.election.enable", "1",
                        "unclean.leader.election.enable=1 is invalid: must be true or false"},
        bad_topic_value{"preallocate", "maybe", "preallocate=maybe is invalid: must be true or false"},
        bad_topic_value{"remote.storage.enable", "true",
                        "remote.storage.enable=true is invalid: Vltava has no tiered storage"},
        bad_topic_value{"compression.gzip.level", "10", "compression.gzip.level=10 is invalid: must be at most 9"}));

TEST(TopicConfigTest, RefusedValueLeavesSettingsUnchanged) {
  topic_settings settings;
  std::string message;
  ASSERT_TRUE(apply_topic_config(settings, "retention.ms", "nope", message));
  EXPECT_EQ(settings.log.retention_ms, topic_settings{}.log.retention_ms);
}

TEST(TopicConfigTest, KafkaKeysWithoutEffectAreAccepted) {
  const auto s = apply_all({{"preallocate", "true"},
                            {"segment.jitter.ms", "100"},
                            {"message.format.version", "3.0-IV1"},
                            {"leader.replication.throttled.replicas", "*"},
                            {"follower.replication.throttled.replicas", "0:1"},
                            {"local.retention.ms", "-2"},
                            {"local.retention.bytes", "-2"},
                            {"remote.storage.enable", "false"},
                            {"compression.zstd.level", "-5"},
                            {"compression.lz4.level", "9"},
                            {"compression.gzip.level", "-1"}});
  EXPECT_EQ(topic_config_entries(s), topic_config_entries(topic_settings{}));
}

TEST(TopicConfigTest, MinCompactionLagMustNotExceedMax) {
  topic_settings settings;
  std::string message;
  ASSERT_FALSE(apply_topic_config(settings, "min.compaction.lag.ms", "5000", message));
  ASSERT_FALSE(apply_topic_config(settings, "max.compaction.lag.ms", "1000", message));
  EXPECT_EQ(validate_topic_settings(settings, message), make_error_code(config_errc::invalid_value));
  EXPECT_EQ(message, "min.compaction.lag.ms=5000 is invalid: must not exceed max.compaction.lag.ms=1000");
}

TEST(TopicConfigTest, TimestampBoundsFallBackToDifference) {
  const auto s = apply_all({{"message.timestamp.difference.max.ms", "1000"}});
  EXPECT_EQ(s.timestamp_before_max_ms(), 1000);
  EXPECT_EQ(s.timestamp_after_max_ms(), 1000);
}

TEST(TopicConfigTest, LogOnlyAdapterAppliesStorageKeysAndChecksTheRest) {
  storage::log_config config;
  EXPECT_EQ(apply_topic_log_config(config, "retention.ms", "42"), "");
  EXPECT_EQ(config.retention_ms, 42);
  EXPECT_EQ(apply_topic_log_config(config, "compression.type", "gzip"), "");
  EXPECT_EQ(apply_topic_log_config(config, "compression.type", "rar"),
            "compression.type=rar is invalid: must be one of uncompressed, zstd, lz4, snappy, gzip, producer");
  EXPECT_EQ(apply_topic_log_config(config, "no.such.key", "1"), "unknown topic config 'no.such.key'");
  EXPECT_EQ(config.retention_ms, 42);
}

TEST(TopicConfigTest, ErrorCategoryNamesItsErrors) {
  EXPECT_STREQ(config_category().name(), "vltava.config");
  EXPECT_EQ(make_error_code(config_errc::unknown_key).message(), "unknown configuration key");
  EXPECT_EQ(config_error_to_kafka({}), protocol::error_code::none);
}

}  // namespace
}  // namespace vltava::broker
