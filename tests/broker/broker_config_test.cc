// Tests of the broker configuration: defaults; every key read and carried into the storage settings; Kafka's
// precedence rules (log.retention.ms > .minutes > .hours, log.dirs > log.dir, overrides > file, node.id = broker.id);
// listeners; bad values refused with messages naming key, value and rule; unknown keys warned about with a
// suggestion; Kafka's own server.properties files (KRaft, Kafka 4, ZooKeeper era) loading without noise; and the
// example config/server.properties and docs/configuration.md kept in step with the code.
#include "vltava/broker/broker_config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace vltava::broker {
namespace {

namespace fs = std::filesystem;
using entry_list = std::vector<std::pair<std::string, std::string>>;

std::string lines(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += "\n  " + item;
  return out;
}

broker_config parse_ok(std::string_view text, const std::vector<std::string>& overrides = {}) {
  auto result = broker_config::parse(text, overrides);
  EXPECT_TRUE(result.ok()) << lines(result.errors);
  return result.config;
}

// The one error a configuration gets.
std::string only_error(std::string_view text, const std::vector<std::string>& overrides = {}) {
  auto result = broker_config::parse(text, overrides);
  EXPECT_EQ(result.errors.size(), 1u) << lines(result.errors);
  return result.errors.empty() ? std::string() : result.errors.front();
}

bool any_contains(const std::vector<std::string>& items, std::string_view needle) {
  return std::any_of(items.begin(), items.end(),
                     [&](const std::string& item) { return item.find(needle) != std::string::npos; });
}

std::string value_of(const entry_list& entries, std::string_view key) {
  for (const auto& [k, v] : entries) {
    if (k == key) return v;
  }
  ADD_FAILURE() << "no entry " << key;
  return {};
}

constexpr std::int64_t hour_ms = 3'600'000;

TEST(BrokerConfigTest, EmptyFileGivesTheDefaults) {
  auto result = broker_config::parse("");
  ASSERT_TRUE(result.ok()) << lines(result.errors);
  EXPECT_TRUE(result.warnings.empty()) << lines(result.warnings);
  EXPECT_TRUE(result.notices.empty()) << lines(result.notices);
  const auto& config = result.config;
  EXPECT_EQ(config.effective_entries(), broker_config{}.effective_entries());
  EXPECT_TRUE(config.explicitly_set.empty());

  EXPECT_EQ(config.node_id, 1);
  EXPECT_EQ(config.listeners, (std::vector<listener>{{"PLAINTEXT", "localhost", 9092}}));
  EXPECT_EQ(config.advertised_listeners, (std::vector<listener>{{"PLAINTEXT", "localhost", 9092}}));
  EXPECT_EQ(config.log_dirs, (std::vector<fs::path>{"/tmp/vltava-logs"}));
  EXPECT_EQ(config.num_network_threads, 0);
  EXPECT_GE(config.network_threads(), 1u);
  EXPECT_GE(config.io_threads(), 1u);
  EXPECT_EQ(config.socket_request_max_bytes, 104857600);
  EXPECT_EQ(config.message_max_bytes, 1048588);
  EXPECT_EQ(config.log_retention_ms, 168 * hour_ms);
  EXPECT_EQ(config.log_roll_ms, 168 * hour_ms);
  EXPECT_EQ(config.log_flush_interval_ms, storage::no_limit);
  EXPECT_EQ(config.log_flush_scheduler_interval_ms, 1000);
  EXPECT_TRUE(config.log_flush_on_acks_all);
  EXPECT_EQ(config.log_flush_threads, 2);
  EXPECT_EQ(config.offsets_topic_replication_factor, 1);
  EXPECT_EQ(config.offsets_topic_num_partitions, 50);
  EXPECT_EQ(config.timestamp_before_max_ms(), storage::no_limit);
  EXPECT_EQ(config.timestamp_after_max_ms(), storage::no_limit);
}

TEST(BrokerConfigTest, DefaultTopicSettingsAreKafkasTopicDefaults) {
  const auto config = parse_ok("");
  EXPECT_EQ(topic_config_entries(config.default_topic_settings()), topic_config_entries(topic_settings{}));
  const auto manager = config.to_log_manager_config();
  EXPECT_EQ(manager.log_dirs, config.log_dirs);
  EXPECT_EQ(manager.flush_scheduler_interval_ms, 1000);
  EXPECT_EQ(manager.retention_check_interval_ms, 300000);
  EXPECT_EQ(manager.flush_offset_checkpoint_interval_ms, 60000);
  EXPECT_TRUE(manager.cleaner_enable);
  EXPECT_EQ(manager.cleaner_backoff_ms, 15000);
  EXPECT_EQ(manager.durability.threads, 2u);
  EXPECT_TRUE(manager.durability.enabled);
}

// Every key Vltava uses, set to something other than its default.
constexpr std::string_view every_key = R"(node.id=7
listeners=PLAINTEXT://0.0.0.0:19092,EXTERNAL://[::1]:0
advertised.listeners=EXTERNAL://broker.example:29092
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,EXTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
num.network.threads=3
num.io.threads=8
background.threads=4
socket.request.max.bytes=2000000
socket.send.buffer.bytes=-1
socket.receive.buffer.bytes=65536
socket.listen.backlog.size=128
connections.max.idle.ms=-1
max.connections=1000
auto.create.topics.enable=FALSE
num.partitions=6
default.replication.factor=3
delete.topic.enable=false
message.max.bytes=2097152
compression.type=zstd
min.insync.replicas=2
unclean.leader.election.enable=true
log.message.downconversion.enable=false
log.message.timestamp.type=LogAppendTime
log.message.timestamp.difference.max.ms=500000
log.message.timestamp.before.max.ms=600000
log.message.timestamp.after.max.ms=700000
log.dirs=/data/a, /data/b
log.segment.bytes=536870912
log.roll.ms=3600000
log.index.interval.bytes=8192
log.index.size.max.bytes=1048576
log.segment.delete.delay.ms=1000
log.retention.ms=86400000
log.retention.bytes=1073741824
log.retention.check.interval.ms=10000
log.cleanup.policy=compact,delete
log.cleaner.enable=false
log.cleaner.backoff.ms=500
log.cleaner.delete.retention.ms=1000
log.cleaner.min.cleanable.ratio=0.25
log.cleaner.min.compaction.lag.ms=100
log.cleaner.max.compaction.lag.ms=200000
log.flush.interval.messages=10000
log.flush.interval.ms=2000
log.flush.scheduler.interval.ms=250
log.flush.offset.checkpoint.interval.ms=30000
log.flush.on.acks.all=false
log.flush.threads=4
offsets.topic.num.partitions=10
offsets.topic.replication.factor=3
offsets.topic.segment.bytes=52428800
offsets.retention.minutes=1440
offsets.retention.check.interval.ms=60000
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
group.max.session.timeout.ms=60000
group.max.size=100
offset.metadata.max.bytes=1024
producer.id.expiration.ms=3600000
)";

TEST(BrokerConfigTest, EveryKeyIsRead) {
  auto result = broker_config::parse(every_key);
  ASSERT_TRUE(result.ok()) << lines(result.errors);
  EXPECT_TRUE(result.warnings.empty()) << lines(result.warnings);
  EXPECT_TRUE(result.notices.empty()) << lines(result.notices);
  const auto& c = result.config;

  EXPECT_EQ(c.node_id, 7);
  EXPECT_EQ(c.listeners, (std::vector<listener>{{"PLAINTEXT", "0.0.0.0", 19092}, {"EXTERNAL", "::1", 0}}));
  EXPECT_EQ(c.advertised_listeners,
            (std::vector<listener>{{"PLAINTEXT", "localhost", 19092}, {"EXTERNAL", "broker.example", 29092}}));
  EXPECT_EQ(c.num_network_threads, 3);
  EXPECT_EQ(c.network_threads(), 3u);
  EXPECT_EQ(c.num_io_threads, 8);
  EXPECT_EQ(c.io_threads(), 8u);
  EXPECT_EQ(c.background_threads, 4);
  EXPECT_EQ(c.socket_request_max_bytes, 2000000);
  EXPECT_EQ(c.socket_send_buffer_bytes, -1);
  EXPECT_EQ(c.socket_receive_buffer_bytes, 65536);
  EXPECT_EQ(c.socket_listen_backlog_size, 128);
  EXPECT_EQ(c.connections_max_idle_ms, -1);
  EXPECT_EQ(c.max_connections, 1000);
  EXPECT_FALSE(c.auto_create_topics_enable);
  EXPECT_EQ(c.num_partitions, 6);
  EXPECT_EQ(c.default_replication_factor, 3);
  EXPECT_FALSE(c.delete_topic_enable);
  EXPECT_EQ(c.message_max_bytes, 2097152);
  EXPECT_EQ(c.compression_type, "zstd");
  EXPECT_EQ(c.min_insync_replicas, 2);
  EXPECT_TRUE(c.unclean_leader_election_enable);
  EXPECT_FALSE(c.log_message_downconversion_enable);
  EXPECT_EQ(c.log_message_timestamp_type, protocol::timestamp_type::log_append_time);
  EXPECT_EQ(c.log_message_timestamp_difference_max_ms, 500000);
  EXPECT_EQ(c.timestamp_before_max_ms(), 600000);
  EXPECT_EQ(c.timestamp_after_max_ms(), 700000);
  EXPECT_EQ(c.log_dirs, (std::vector<fs::path>{"/data/a", "/data/b"}));
  EXPECT_EQ(c.log_segment_bytes, 536870912);
  EXPECT_EQ(c.log_roll_ms, 3600000);
  EXPECT_EQ(c.log_index_interval_bytes, 8192);
  EXPECT_EQ(c.log_index_size_max_bytes, 1048576);
  EXPECT_EQ(c.log_segment_delete_delay_ms, 1000);
  EXPECT_EQ(c.log_retention_ms, 86400000);
  EXPECT_EQ(c.log_retention_bytes, 1073741824);
  EXPECT_EQ(c.log_retention_check_interval_ms, 10000);
  EXPECT_EQ(c.log_cleanup_policy, (storage::cleanup_policy{true, true}));
  EXPECT_FALSE(c.log_cleaner_enable);
  EXPECT_EQ(c.log_cleaner_backoff_ms, 500);
  EXPECT_EQ(c.log_cleaner_delete_retention_ms, 1000);
  EXPECT_DOUBLE_EQ(c.log_cleaner_min_cleanable_ratio, 0.25);
  EXPECT_EQ(c.log_cleaner_min_compaction_lag_ms, 100);
  EXPECT_EQ(c.log_cleaner_max_compaction_lag_ms, 200000);
  EXPECT_EQ(c.log_flush_interval_messages, 10000);
  EXPECT_EQ(c.log_flush_interval_ms, 2000);
  EXPECT_EQ(c.log_flush_scheduler_interval_ms, 250);
  EXPECT_EQ(c.log_flush_offset_checkpoint_interval_ms, 30000);
  EXPECT_FALSE(c.log_flush_on_acks_all);
  EXPECT_EQ(c.log_flush_threads, 4);
  EXPECT_EQ(c.offsets_topic_num_partitions, 10);
  EXPECT_EQ(c.offsets_topic_replication_factor, 3);
  EXPECT_EQ(c.offsets_topic_segment_bytes, 52428800);
  EXPECT_EQ(c.offsets_retention_minutes, 1440);
  EXPECT_EQ(c.offsets_retention_check_interval_ms, 60000);
  EXPECT_EQ(c.group_initial_rebalance_delay_ms, 0);
  EXPECT_EQ(c.group_min_session_timeout_ms, 1000);
  EXPECT_EQ(c.group_max_session_timeout_ms, 60000);
  EXPECT_EQ(c.group_max_size, 100);
  EXPECT_EQ(c.offset_metadata_max_bytes, 1024);
  EXPECT_EQ(c.producer_id_expiration_ms, 3600000);
}

TEST(BrokerConfigTest, EveryKeyReachesTheStorageSettings) {
  const auto c = parse_ok(every_key);
  const auto m = c.to_log_manager_config();
  EXPECT_EQ(m.log_dirs, (std::vector<fs::path>{"/data/a", "/data/b"}));
  EXPECT_EQ(m.flush_scheduler_interval_ms, 250);
  EXPECT_EQ(m.retention_check_interval_ms, 10000);
  EXPECT_EQ(m.flush_offset_checkpoint_interval_ms, 30000);
  EXPECT_FALSE(m.cleaner_enable);
  EXPECT_EQ(m.cleaner_backoff_ms, 500);
  EXPECT_EQ(m.durability.threads, 4u);
  EXPECT_FALSE(m.durability.enabled);

  const auto& log = m.defaults;
  EXPECT_EQ(log.segment_bytes, 536870912);
  EXPECT_EQ(log.segment_ms, 3600000);
  EXPECT_EQ(log.segment_index_bytes, 1048576);
  EXPECT_EQ(log.index_interval_bytes, 8192);
  EXPECT_EQ(log.retention_ms, 86400000);
  EXPECT_EQ(log.retention_bytes, 1073741824);
  EXPECT_EQ(log.cleanup, (storage::cleanup_policy{true, true}));
  EXPECT_EQ(log.delete_retention_ms, 1000);
  EXPECT_DOUBLE_EQ(log.min_cleanable_dirty_ratio, 0.25);
  EXPECT_EQ(log.min_compaction_lag_ms, 100);
  EXPECT_EQ(log.max_compaction_lag_ms, 200000);
  EXPECT_EQ(log.flush_messages, 10000);
  EXPECT_EQ(log.flush_ms, 2000);
  EXPECT_EQ(log.file_delete_delay_ms, 1000);
  EXPECT_EQ(log.max_message_bytes, 2097152);
  EXPECT_EQ(log.message_timestamp_type, protocol::timestamp_type::log_append_time);
  EXPECT_EQ(log.validate(), "");

  const auto topic = c.default_topic_settings();
  EXPECT_EQ(topic.compression_type, "zstd");
  EXPECT_EQ(topic.min_insync_replicas, 2);
  EXPECT_TRUE(topic.unclean_leader_election_enable);
  EXPECT_FALSE(topic.message_downconversion_enable);
  EXPECT_EQ(topic.timestamp_before_max_ms(), 600000);
  EXPECT_EQ(topic.timestamp_after_max_ms(), 700000);
  const auto entries = topic_config_entries(topic);
  EXPECT_EQ(value_of(entries, "retention.ms"), "86400000");
  EXPECT_EQ(value_of(entries, "cleanup.policy"), "compact,delete");
  EXPECT_EQ(value_of(entries, "segment.ms"), "3600000");
  EXPECT_EQ(value_of(entries, "max.message.bytes"), "2097152");
}

TEST(BrokerConfigTest, EffectiveEntriesReadBackToTheSameConfiguration) {
  const auto original = parse_ok(every_key);
  const auto entries = original.effective_entries();
  std::string text;
  for (const auto& [key, value] : entries) text += key + "=" + value + "\n";
  auto reread = broker_config::parse(text);
  ASSERT_TRUE(reread.ok()) << lines(reread.errors) << "\n" << text;
  EXPECT_TRUE(reread.warnings.empty()) << lines(reread.warnings);
  EXPECT_EQ(reread.config.effective_entries(), entries);
  EXPECT_EQ(reread.config.advertised_listeners, original.advertised_listeners);
  // Defaults too.
  const auto defaults = broker_config{}.effective_entries();
  text.clear();
  for (const auto& [key, value] : defaults) text += key + "=" + value + "\n";
  EXPECT_EQ(parse_ok(text).effective_entries(), defaults);
}

TEST(BrokerConfigTest, EffectiveEntriesNameEachKeyOnce) {
  const auto entries = broker_config{}.effective_entries();
  std::vector<std::string> keys;
  for (const auto& entry : entries) keys.push_back(entry.first);
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(std::adjacent_find(keys.begin(), keys.end()), keys.end());
  EXPECT_EQ(value_of(entries, "log.retention.ms"), "604800000");
  EXPECT_EQ(value_of(entries, "log.flush.interval.ms"), "9223372036854775807");
  EXPECT_EQ(value_of(entries, "log.cleaner.min.cleanable.ratio"), "0.5");
  EXPECT_EQ(value_of(entries, "listeners"), "PLAINTEXT://localhost:9092");
  EXPECT_EQ(value_of(entries, "listener.security.protocol.map"), "PLAINTEXT:PLAINTEXT");
  EXPECT_EQ(value_of(entries, "log.message.timestamp.type"), "CreateTime");
}

TEST(BrokerConfigTest, ExplicitlySetNamesCanonicalKeys) {
  const auto c = parse_ok("broker.id=3\nlog.retention.hours=1\nnum.partitions=2\n", {"log.dir=/x"});
  EXPECT_EQ(c.explicitly_set,
            (std::set<std::string, std::less<>>{"node.id", "log.retention.ms", "num.partitions", "log.dirs"}));
}

// --- precedence ---

TEST(BrokerConfigPrecedenceTest, RetentionMsThenMinutesThenHours) {
  EXPECT_EQ(parse_ok("log.retention.hours=2").log_retention_ms, 2 * hour_ms);
  EXPECT_EQ(parse_ok("log.retention.hours=2\nlog.retention.minutes=30").log_retention_ms, 30 * 60'000);
  EXPECT_EQ(parse_ok("log.retention.hours=2\nlog.retention.minutes=30\nlog.retention.ms=1234").log_retention_ms, 1234);
  EXPECT_EQ(parse_ok("log.retention.ms=1234\nlog.retention.hours=2").log_retention_ms, 1234);
}

TEST(BrokerConfigPrecedenceTest, NegativeRetentionMeansForever) {
  EXPECT_EQ(parse_ok("log.retention.ms=-1").log_retention_ms, -1);
  EXPECT_EQ(parse_ok("log.retention.hours=-1").log_retention_ms, -1);
  EXPECT_EQ(parse_ok("log.retention.minutes=-5").log_retention_ms, -1);
  EXPECT_EQ(parse_ok("log.retention.ms=-1").default_log_config().retention_ms, -1);
}

TEST(BrokerConfigPrecedenceTest, RollMsThenHours) {
  EXPECT_EQ(parse_ok("log.roll.hours=1").log_roll_ms, hour_ms);
  EXPECT_EQ(parse_ok("log.roll.hours=1\nlog.roll.ms=5000").log_roll_ms, 5000);
  EXPECT_EQ(parse_ok("log.roll.hours=24").default_log_config().segment_ms, 24 * hour_ms);
}

TEST(BrokerConfigPrecedenceTest, LogDirsWinsOverLogDir) {
  EXPECT_EQ(parse_ok("log.dir=/one").log_dirs, (std::vector<fs::path>{"/one"}));
  EXPECT_EQ(parse_ok("log.dir=/one\nlog.dirs=/two,/three").log_dirs, (std::vector<fs::path>{"/two", "/three"}));
  EXPECT_EQ(parse_ok("log.dirs=/two\nlog.dir=/one").log_dirs, (std::vector<fs::path>{"/two"}));
}

TEST(BrokerConfigPrecedenceTest, NodeIdAndBrokerIdAreOneSetting) {
  EXPECT_EQ(parse_ok("broker.id=4").node_id, 4);
  EXPECT_EQ(parse_ok("node.id=5").node_id, 5);
  EXPECT_EQ(parse_ok("node.id=6\nbroker.id=6").node_id, 6);
  const auto error = only_error("node.id=1\nbroker.id=2");
  EXPECT_NE(error.find("broker.id=2 is invalid"), std::string::npos) << error;
  EXPECT_NE(error.find("node.id=1"), std::string::npos) << error;
}

TEST(BrokerConfigPrecedenceTest, OverridesWinOverTheFile) {
  const auto c = parse_ok("num.partitions=3\nlog.retention.hours=1\n",
                          {"num.partitions=12", "log.retention.ms=1000", "log.dirs=/over"});
  EXPECT_EQ(c.num_partitions, 12);
  EXPECT_EQ(c.log_retention_ms, 1000);
  EXPECT_EQ(c.log_dirs, (std::vector<fs::path>{"/over"}));
}

TEST(BrokerConfigPrecedenceTest, LaterOverrideWins) {
  EXPECT_EQ(parse_ok("", {"num.partitions=2", "num.partitions=9"}).num_partitions, 9);
}

TEST(BrokerConfigPrecedenceTest, OverrideReplacesABadFileValueBeforeItIsChecked) {
  EXPECT_EQ(parse_ok("num.partitions=0", {"num.partitions=4"}).num_partitions, 4);
}

TEST(BrokerConfigPrecedenceTest, OverrideValueIsTakenAsIs) {
  // Everything after the first '=' is the value, with no properties escapes.
  EXPECT_EQ(parse_ok("", {"log.dirs=/data/a=b"}).log_dirs, (std::vector<fs::path>{"/data/a=b"}));
  EXPECT_EQ(parse_ok("", {" num.partitions = 7 "}).num_partitions, 7);
}

TEST(BrokerConfigPrecedenceTest, TimestampBoundsFallBackToDifference) {
  const auto c = parse_ok("log.message.timestamp.difference.max.ms=5000");
  EXPECT_EQ(c.timestamp_before_max_ms(), 5000);
  EXPECT_EQ(c.timestamp_after_max_ms(), 5000);
  const auto d = parse_ok("log.message.timestamp.difference.max.ms=5000\nlog.message.timestamp.after.max.ms=100");
  EXPECT_EQ(d.timestamp_before_max_ms(), 5000);
  EXPECT_EQ(d.timestamp_after_max_ms(), 100);
}

TEST(BrokerConfigPrecedenceTest, RepeatedFileKeyWarnsAndTheLastWins) {
  auto result = broker_config::parse("num.partitions=2\nnum.partitions=3\n");
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result.config.num_partitions, 3);
  ASSERT_EQ(result.warnings.size(), 1u);
  EXPECT_NE(result.warnings[0].find("num.partitions is set twice (line 1, then line 2)"), std::string::npos)
      << result.warnings[0];
}

// --- values ---

TEST(BrokerConfigValuesTest, ValuesAreTrimmedAndBooleansIgnoreCase) {
  const auto c = parse_ok("num.partitions = 3   \nauto.create.topics.enable=False\ndelete.topic.enable=TRUE\n");
  EXPECT_EQ(c.num_partitions, 3);
  EXPECT_FALSE(c.auto_create_topics_enable);
  EXPECT_TRUE(c.delete_topic_enable);
}

TEST(BrokerConfigValuesTest, JavaIntegerSyntax) {
  EXPECT_EQ(parse_ok("num.partitions=+4").num_partitions, 4);
  EXPECT_EQ(parse_ok("log.retention.bytes=9223372036854775807").log_retention_bytes, storage::no_limit);
  EXPECT_EQ(parse_ok("num.partitions=2147483647").num_partitions, 2147483647);
}

TEST(BrokerConfigValuesTest, ListsDropBlanksAroundItems) {
  EXPECT_EQ(parse_ok("log.dirs= /a ,/b,  /c  ").log_dirs, (std::vector<fs::path>{"/a", "/b", "/c"}));
  EXPECT_EQ(parse_ok("log.cleanup.policy=delete , compact").log_cleanup_policy, (storage::cleanup_policy{true, true}));
}

TEST(BrokerConfigValuesTest, PropertiesSyntaxApplies) {
  const auto c = parse_ok(
      "# a comment\n"
      "! another\n"
      "num.partitions: 5\n"
      "default.replication.factor 1\n"
      "log.dirs=/data/one,\\\n"
      "         /data/two\n"
      "log.message.timestamp.type=\\u004cogAppendTime\n");
  EXPECT_EQ(c.num_partitions, 5);
  EXPECT_EQ(c.log_dirs, (std::vector<fs::path>{"/data/one", "/data/two"}));
  EXPECT_EQ(c.log_message_timestamp_type, protocol::timestamp_type::log_append_time);
}

struct bad_value {
  std::string text;
  std::string message;  // the whole message, or a part of it
};

void PrintTo(const bad_value& value, std::ostream* out) { *out << value.text; }

class BrokerConfigBadValueTest : public testing::TestWithParam<bad_value> {};

TEST_P(BrokerConfigBadValueTest, IsRefusedNamingKeyValueAndRule) {
  const auto& [text, message] = GetParam();
  const auto error = only_error(text);
  EXPECT_NE(error.find(message), std::string::npos) << "error: " << error;
}

INSTANTIATE_TEST_SUITE_P(
    Values, BrokerConfigBadValueTest,
    testing::Values(
        bad_value{"num.partitions=0", "num.partitions=0 is invalid: must be at least 1 (line 1)"},
        bad_value{"\nnum.partitions=abc", "num.partitions=abc is invalid: must be a whole number (line 2)"},
        bad_value{"num.partitions=2147483648", "num.partitions=2147483648 is invalid: must be at most 2147483647"},
        bad_value{"num.partitions=1.5", "num.partitions=1.5 is invalid: must be a whole number"},
        bad_value{"num.partitions=", "num.partitions= is invalid: must be a whole number"},
        bad_value{"log.retention.bytes=99999999999999999999", "log.retention.bytes=99999999999999999999 is invalid"},
        bad_value{"log.retention.bytes=-2", "log.retention.bytes=-2 is invalid: must be at least -1"},
        bad_value{"default.replication.factor=40000",
                  "default.replication.factor=40000 is invalid: must be at most 32767"},
        bad_value{"auto.create.topics.enable=yes", "auto.create.topics.enable=yes is invalid: must be true or false"},
        bad_value{"log.cleaner.min.cleanable.ratio=1.5",
                  "log.cleaner.min.cleanable.ratio=1.5 is invalid: must be between 0.0 and 1.0"},
        bad_value{"log.cleaner.min.cleanable.ratio=half", "must be a number"},
        bad_value{"log.message.timestamp.type=createtime",
                  "log.message.timestamp.type=createtime is invalid: must be one of CreateTime, LogAppendTime"},
        bad_value{"compression.type=brotli",
                  "compression.type=brotli is invalid: must be one of uncompressed, zstd, lz4, snappy, gzip, producer"},
        bad_value{"log.cleanup.policy=archive", "log.cleanup.policy=archive is invalid: must be delete, compact"},
        bad_value{"log.segment.bytes=13", "log.segment.bytes=13 is invalid: must be at least 14"},
        bad_value{"log.index.size.max.bytes=3", "log.index.size.max.bytes=3 is invalid: must be at least 4"},
        bad_value{"log.flush.interval.messages=0", "log.flush.interval.messages=0 is invalid: must be at least 1"},
        bad_value{"log.flush.threads=0", "log.flush.threads=0 is invalid: must be at least 1"},
        bad_value{"socket.send.buffer.bytes=-2", "socket.send.buffer.bytes=-2 is invalid: must be at least -1"},
        bad_value{"num.io.threads=-1", "num.io.threads=-1 is invalid: must be at least 0"},
        bad_value{"log.retention.ms=0", "log.retention.ms=0 is invalid: must be -1 (keep forever) or a positive time"},
        bad_value{"log.retention.hours=0", "log.retention.hours=0 is invalid"},
        bad_value{"log.roll.hours=0", "log.roll.hours=0 is invalid: must be at least 1"},
        bad_value{"node.id=-1", "node.id=-1 is invalid: must be at least 0"},
        bad_value{"log.dirs=", "log.dirs= is invalid: must name at least one directory"},
        bad_value{"log.dirs=/a,,/b", "log.dirs=/a,,/b is invalid: has an empty directory name"},
        bad_value{"log.dirs=/a,/a/", "log.dirs=/a,/a/ is invalid: names /a/ twice; each log directory must be unique"},
        bad_value{"log.dirs=/b/../a,/a", "each log directory must be unique"},
        bad_value{"listeners=SSL://:9093",
                  "listeners=SSL://:9093 is invalid: listener SSL uses security protocol SSL; Vltava serves PLAINTEXT "
                  "only"},
        bad_value{"listeners=SASL_PLAINTEXT://:9093", "uses security protocol SASL_PLAINTEXT"},
        bad_value{"listeners=INTERNAL://:9093,PLAINTEXT://:9092\nlistener.security.protocol.map=INTERNAL:SSL,"
                  "PLAINTEXT:PLAINTEXT",
                  "listener INTERNAL uses security protocol SSL"},
        bad_value{"listeners=FOO://:9092",
                  "listener FOO has no security protocol; map it in "
                  "listener.security.protocol.map (FOO:PLAINTEXT)"},
        bad_value{"listeners=localhost:9092",
                  "listeners=localhost:9092 is invalid: 'localhost:9092' must be "
                  "NAME://host:port"},
        bad_value{"listeners=PLAINTEXT://host", "must be NAME://host:port"},
        bad_value{"listeners=PLAINTEXT://:70000", "port '70000' must be between 0 and 65535"},
        bad_value{"listeners=PLAINTEXT://:-1", "port '-1' must be between 0 and 65535"},
        bad_value{"listeners=PLAINTEXT://ho st:9092", "'ho st' is not a host name or address"},
        bad_value{"listeners=PLAINTEXT://:9092,PLAINTEXT://:9093", "listener name PLAINTEXT appears twice"},
        bad_value{"listeners=PLAINTEXT://:9092,OTHER://:9092\nlistener.security.protocol.map=PLAINTEXT:PLAINTEXT,"
                  "OTHER:PLAINTEXT",
                  "port 9092 appears twice"},
        bad_value{"listeners=", "listeners= is invalid: must name at least one PLAINTEXT listener"},
        bad_value{"listener.security.protocol.map=EXTERNAL:PLAINTEXT",
                  "listeners=PLAINTEXT://localhost:9092 is invalid: listener PLAINTEXT has no security protocol"},
        bad_value{"listeners=CONTROLLER://:9093", "must name at least one PLAINTEXT listener to serve clients"},
        bad_value{"listener.security.protocol.map=PLAINTEXT:TLS",
                  "listener.security.protocol.map=PLAINTEXT:TLS is invalid: 'PLAINTEXT:TLS' must be NAME:PROTOCOL"},
        bad_value{"advertised.listeners=PLAINTEXT://0.0.0.0:9092",
                  "advertised.listeners=PLAINTEXT://0.0.0.0:9092 is invalid: cannot advertise the non-routable "
                  "address 0.0.0.0"},
        bad_value{"advertised.listeners=OTHER://host:1", "listener OTHER is not one of listeners"},
        bad_value{"group.min.session.timeout.ms=10000\ngroup.max.session.timeout.ms=5000",
                  "group.min.session.timeout.ms=10000 is invalid: must not exceed group.max.session.timeout.ms=5000"},
        bad_value{"log.cleaner.min.compaction.lag.ms=10\nlog.cleaner.max.compaction.lag.ms=5",
                  "log.cleaner.min.compaction.lag.ms=10 is invalid: must not exceed"},
        bad_value{"bad=\\uZZZZ", "line 1: malformed \\uXXXX escape"}));

TEST(BrokerConfigValuesTest, BadOverrideIsNamedAsAnOverride) {
  EXPECT_EQ(only_error("", {"num.partitions=-3"}), "num.partitions=-3 is invalid: must be at least 1 (--override)");
  EXPECT_EQ(only_error("", {"num.partitions"}), "--override num.partitions is invalid: expected key=value");
  EXPECT_EQ(only_error("", {"=5"}), "--override =5 is invalid: expected key=value");
}

TEST(BrokerConfigValuesTest, EveryBadValueIsReportedAtOnce) {
  auto result = broker_config::parse(
      "num.partitions=0\nlog.segment.bytes=1\nmessage.max.bytes=x\nlisteners=SSL://:9093\nlog.retention.ms=0\n",
      {"node.id=-1"});
  EXPECT_EQ(result.errors.size(), 6u) << lines(result.errors);
}

// --- unknown and ignored keys ---

TEST(BrokerConfigKeysTest, UnknownKeyIsWarnedWithASuggestion) {
  auto result = broker_config::parse("num.partition=3\nlog.retention.hour=1\n");
  ASSERT_TRUE(result.ok());
  ASSERT_EQ(result.warnings.size(), 2u);
  EXPECT_EQ(result.warnings[0], "unknown key 'num.partition' (line 1) is ignored; did you mean 'num.partitions'?");
  EXPECT_NE(result.warnings[1].find("did you mean 'log.retention.hours'?"), std::string::npos);
  EXPECT_EQ(result.config.num_partitions, 1);
}

TEST(BrokerConfigKeysTest, KeysAreCaseSensitiveButSuggestionsAreNot) {
  auto result = broker_config::parse("Num.Partitions=3\n");
  ASSERT_EQ(result.warnings.size(), 1u);
  EXPECT_NE(result.warnings[0].find("did you mean 'num.partitions'?"), std::string::npos) << result.warnings[0];
}

TEST(BrokerConfigKeysTest, FarOffUnknownKeyHasNoSuggestion) {
  auto result = broker_config::parse("", {"completely.made.up=1"});
  ASSERT_EQ(result.warnings.size(), 1u);
  EXPECT_EQ(result.warnings[0], "unknown key 'completely.made.up' (--override) is ignored");
}

TEST(BrokerConfigKeysTest, KafkaKeysWithoutMeaningHereAreNoticedNotWarned) {
  auto result = broker_config::parse(
      "zookeeper.connect=localhost:2181\nnum.recovery.threads.per.data.dir=1\n"
      "transaction.state.log.min.isr=1\nssl.keystore.location=/x\nnum.replica.fetchers=2\n"
      "group.coordinator.rebalance.protocols=classic,consumer\nshare.coordinator.state.topic.min.isr=1\n");
  ASSERT_TRUE(result.ok()) << lines(result.errors);
  EXPECT_TRUE(result.warnings.empty()) << lines(result.warnings);
  ASSERT_EQ(result.notices.size(), 7u) << lines(result.notices);
  EXPECT_EQ(result.notices[0],
            "zookeeper.connect is ignored: cluster coordination (ZooKeeper, KRaft) does not apply to a single "
            "Vltava node (line 1)");
  EXPECT_TRUE(any_contains(result.notices, "transactions are not implemented"));
  EXPECT_TRUE(any_contains(result.notices, "PLAINTEXT only"));
}

TEST(BrokerConfigKeysTest, EntryWithoutKeyIsWarned) {
  auto result = broker_config::parse("=orphan\n");
  ASSERT_TRUE(result.ok());
  ASSERT_EQ(result.warnings.size(), 1u);
  EXPECT_NE(result.warnings[0].find("no key"), std::string::npos);
}

// --- listeners ---

TEST(BrokerConfigListenersTest, HostsAndPorts) {
  const auto c = parse_ok("listeners=PLAINTEXT://[::]:0");
  EXPECT_EQ(c.listeners, (std::vector<listener>{{"PLAINTEXT", "::", 0}}));
  EXPECT_EQ(c.advertised_listeners, (std::vector<listener>{{"PLAINTEXT", "localhost", 0}}));
  EXPECT_EQ(c.listeners[0].to_string(), "PLAINTEXT://[::]:0");
  EXPECT_EQ(parse_ok("listeners=plaintext://127.0.0.1:9092").listeners,
            (std::vector<listener>{{"PLAINTEXT", "127.0.0.1", 9092}}));
}

TEST(BrokerConfigListenersTest, WildcardHostsAdvertiseLocalhost) {
  for (const char* host : {"", "0.0.0.0", "[::]"}) {
    const auto c = parse_ok(std::string("listeners=PLAINTEXT://") + host + ":9092");
    EXPECT_EQ(c.advertised_listeners, (std::vector<listener>{{"PLAINTEXT", "localhost", 9092}})) << host;
  }
  EXPECT_EQ(parse_ok("listeners=PLAINTEXT://broker1:9092").advertised_listeners,
            (std::vector<listener>{{"PLAINTEXT", "broker1", 9092}}));
}

TEST(BrokerConfigListenersTest, AdvertisedListenersFollowListenerOrderAndFillGaps) {
  const auto c = parse_ok(
      "listeners=PLAINTEXT://:9092,EXTERNAL://:9094\n"
      "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,EXTERNAL:PLAINTEXT\n"
      "advertised.listeners=EXTERNAL://public.example:443\n");
  EXPECT_EQ(c.advertised_listeners,
            (std::vector<listener>{{"PLAINTEXT", "localhost", 9092}, {"EXTERNAL", "public.example", 443}}));
  EXPECT_EQ(value_of(c.effective_entries(), "listener.security.protocol.map"),
            "PLAINTEXT:PLAINTEXT,EXTERNAL:PLAINTEXT");
}

TEST(BrokerConfigListenersTest, ControllerListenersAreNotServed) {
  auto result = broker_config::parse("listeners=PLAINTEXT://:9092,CONTROLLER://:9093\n");
  ASSERT_TRUE(result.ok()) << lines(result.errors);
  EXPECT_EQ(result.config.listeners, (std::vector<listener>{{"PLAINTEXT", "", 9092}}));
  ASSERT_EQ(result.notices.size(), 1u);
  EXPECT_NE(result.notices[0].find("listener CONTROLLER://:9093 is a KRaft controller listener"), std::string::npos);

  // controller.listener.names decides which ones those are.
  auto named = broker_config::parse(
      "listeners=PLAINTEXT://:9092,CTRL://:9093,CONTROLLER://:9094\ncontroller.listener.names=CTRL\n"
      "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CTRL:PLAINTEXT,CONTROLLER:PLAINTEXT\n");
  ASSERT_TRUE(named.ok()) << lines(named.errors);
  EXPECT_EQ(named.config.listeners, (std::vector<listener>{{"PLAINTEXT", "", 9092}, {"CONTROLLER", "", 9094}}));
}

// --- Kafka's own files ---

// config/kraft/server.properties of Kafka 3.x, comments shortened.
constexpr std::string_view kafka3_kraft = R"(# Licensed to the Apache Software Foundation (ASF) ...
############################# Server Basics #############################

# The role of this server. Setting this puts us in KRaft mode
process.roles=broker,controller

# The node id associated with this instance's roles
node.id=1

# The connect string for the controller quorum
controller.quorum.voters=1@localhost:9093

############################# Socket Server Settings #############################
listeners=PLAINTEXT://:9092,CONTROLLER://:9093

# Name of listener used for communication between brokers.
inter.broker.listener.name=PLAINTEXT

# Listener name, hostname and port the broker will advertise to clients.
advertised.listeners=PLAINTEXT://localhost:9092

# A comma-separated list of the names of the listeners used by the controller.
controller.listener.names=CONTROLLER

# Maps listener names to security protocols, the default is for them to be the same.
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL

num.network.threads=3
num.io.threads=8
socket.send.buffer.bytes=102400
socket.receive.buffer.bytes=102400
socket.request.max.bytes=104857600

############################# Log Basics #############################
log.dirs=/tmp/kraft-combined-logs
num.partitions=1
num.recovery.threads.per.data.dir=1

############################# Internal Topic Settings  #############################
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1

############################# Log Flush Policy #############################
#log.flush.interval.messages=10000
#log.flush.interval.ms=1000

############################# Log Retention Policy #############################
log.retention.hours=168
#log.retention.bytes=1073741824
log.segment.bytes=1073741824
log.retention.check.interval.ms=300000
)";

TEST(BrokerConfigKafkaFilesTest, KraftServerPropertiesLoadsQuietly) {
  auto result = broker_config::parse(kafka3_kraft);
  ASSERT_TRUE(result.ok()) << lines(result.errors);
  EXPECT_TRUE(result.warnings.empty()) << lines(result.warnings);
  const auto& c = result.config;
  EXPECT_EQ(c.node_id, 1);
  EXPECT_EQ(c.listeners, (std::vector<listener>{{"PLAINTEXT", "", 9092}}));
  EXPECT_EQ(c.advertised_listeners, (std::vector<listener>{{"PLAINTEXT", "localhost", 9092}}));
  EXPECT_EQ(c.log_dirs, (std::vector<fs::path>{"/tmp/kraft-combined-logs"}));
  EXPECT_EQ(c.num_network_threads, 3);
  EXPECT_EQ(c.num_io_threads, 8);
  EXPECT_EQ(c.log_retention_ms, 168 * hour_ms);
  EXPECT_EQ(c.offsets_topic_replication_factor, 1);
  // One info line for each key that does not apply, and one for the controller listener.
  EXPECT_EQ(result.notices.size(), 7u) << lines(result.notices);
  for (const char* key :
       {"process.roles", "controller.quorum.voters", "inter.broker.listener.name", "num.recovery.threads.per.data.dir",
        "transaction.state.log.replication.factor", "transaction.state.log.min.isr", "listener CONTROLLER://:9093"}) {
    EXPECT_TRUE(any_contains(result.notices, key)) << key << lines(result.notices);
  }
}

TEST(BrokerConfigKafkaFilesTest, Kafka4ServerPropertiesLoadsQuietly) {
  auto result = broker_config::parse(R"(process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=localhost:9093
listeners=PLAINTEXT://:9092,CONTROLLER://:9093
inter.broker.listener.name=PLAINTEXT
advertised.listeners=PLAINTEXT://localhost:9092,CONTROLLER://localhost:9093
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL
num.network.threads=3
num.io.threads=8
socket.send.buffer.bytes=102400
socket.receive.buffer.bytes=102400
socket.request.max.bytes=104857600
log.dirs=/tmp/kraft-combined-logs
num.partitions=1
num.recovery.threads.per.data.dir=1
offsets.topic.replication.factor=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
log.retention.hours=168
log.segment.bytes=1073741824
log.retention.check.interval.ms=300000
)");
  ASSERT_TRUE(result.ok()) << lines(result.errors);
  EXPECT_TRUE(result.warnings.empty()) << lines(result.warnings);
  EXPECT_EQ(result.config.advertised_listeners, (std::vector<listener>{{"PLAINTEXT", "localhost", 9092}}));
  EXPECT_TRUE(any_contains(result.notices, "advertised listener CONTROLLER://localhost:9093"));
}

TEST(BrokerConfigKafkaFilesTest, ZooKeeperEraServerPropertiesLoadsQuietly) {
  auto result = broker_config::parse(R"(broker.id=0
#listeners=PLAINTEXT://:9092
num.network.threads=3
num.io.threads=8
socket.send.buffer.bytes=102400
socket.receive.buffer.bytes=102400
socket.request.max.bytes=104857600
log.dirs=/tmp/kafka-logs
num.partitions=1
num.recovery.threads.per.data.dir=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
log.retention.hours=168
log.retention.check.interval.ms=300000
zookeeper.connect=localhost:2181
zookeeper.connection.timeout.ms=18000
group.initial.rebalance.delay.ms=0
)");
  ASSERT_TRUE(result.ok()) << lines(result.errors);
  EXPECT_TRUE(result.warnings.empty()) << lines(result.warnings);
  EXPECT_EQ(result.config.node_id, 0);
  EXPECT_EQ(result.config.group_initial_rebalance_delay_ms, 0);
  EXPECT_EQ(result.notices.size(), 5u) << lines(result.notices);
}

// --- files ---

class BrokerConfigFileTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("vltava-config-test-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path write(const std::string& name, std::string_view text) {
    std::ofstream(dir_ / name) << text;
    return dir_ / name;
  }
  fs::path dir_;
};

TEST_F(BrokerConfigFileTest, LoadsAFileAndNamesItInMessages) {
  const auto path = write("server.properties", "num.partitions=4\nnum.partitons=5\nlog.segment.bytes=1\n");
  auto result = broker_config::load(path, {"node.id=9"});
  ASSERT_EQ(result.errors.size(), 1u) << lines(result.errors);
  EXPECT_EQ(result.errors[0], "log.segment.bytes=1 is invalid: must be at least 14 (" + path.string() + " line 3)");
  ASSERT_EQ(result.warnings.size(), 1u);
  EXPECT_NE(result.warnings[0].find(path.string() + " line 2"), std::string::npos) << result.warnings[0];

  const auto good = write("good.properties", "num.partitions=4\n");
  auto loaded = broker_config::load(good, {"node.id=9"});
  ASSERT_TRUE(loaded.ok()) << lines(loaded.errors);
  EXPECT_EQ(loaded.config.num_partitions, 4);
  EXPECT_EQ(loaded.config.node_id, 9);
}

TEST_F(BrokerConfigFileTest, MissingFileIsAnErrorNamingThePath) {
  auto result = broker_config::load(dir_ / "absent.properties");
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_NE(result.errors[0].find("cannot read " + (dir_ / "absent.properties").string()), std::string::npos);
}

TEST(BrokerConfigFileTest2, ParsesFromAStream) {
  std::istringstream in("num.partitions=8\n");
  auto result = broker_config::parse(in);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result.config.num_partitions, 8);
}

// --- the example file and the documentation ---

#ifdef VLTAVA_SOURCE_DIR
const fs::path source_dir = VLTAVA_SOURCE_DIR;

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(BrokerConfigDocsTest, ExampleServerPropertiesLoadsCleanlyWithTheDefaults) {
  auto result = broker_config::load(source_dir / "config/server.properties");
  ASSERT_TRUE(result.ok()) << lines(result.errors);
  EXPECT_TRUE(result.warnings.empty()) << lines(result.warnings);
  EXPECT_TRUE(result.notices.empty()) << lines(result.notices);
  EXPECT_EQ(result.config.effective_entries(), broker_config{}.effective_entries());
}

TEST(BrokerConfigDocsTest, ConfigurationDocListsEveryKey) {
  const auto doc = read_text(source_dir / "docs/configuration.md");
  ASSERT_FALSE(doc.empty());
  std::vector<std::string> keys{"broker.id",           "log.dir",        "log.retention.minutes",
                                "log.retention.hours", "log.roll.hours", "controller.listener.names"};
  for (const auto& entry : broker_config{}.effective_entries()) keys.push_back(entry.first);
  for (const auto& key : topic_config_keys()) keys.emplace_back(key.name);
  for (const auto& key : keys) EXPECT_NE(doc.find("`" + key + "`"), std::string::npos) << key;
}
#else
TEST(BrokerConfigDocsTest, ExampleServerPropertiesLoadsCleanlyWithTheDefaults) {
  GTEST_SKIP() << "VLTAVA_SOURCE_DIR not defined";
}
#endif

}  // namespace
}  // namespace vltava::broker
