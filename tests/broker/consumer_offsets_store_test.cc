// consumer_offsets_store on a real log manager in a temporary directory: what it writes (Kafka's exact bytes), what
// load() folds back (latest value wins, tombstones delete, every value version Kafka has written decodes), across a
// restart and a compaction, and what a failing disk does to a write.
#include "vltava/broker/group/consumer_offsets_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "../storage/storage_test_support.h"
#include "vltava/broker/topic_config.h"
#include "vltava/broker/topic_registry.h"
#include "vltava/protocol/messages/group_coordinator_records.h"
#include "vltava/protocol/record_batch.h"
#include "vltava/protocol/record_batch_builder.h"
#include "vltava/storage/log_manager.h"

namespace vltava::broker::group {
namespace {

using protocol::error_code;

constexpr std::int32_t test_partitions = 5;

// A record as stored, null key and value kept apart from empty ones.
struct raw_record {
  std::int64_t offset = 0;
  std::optional<protocol::bytes> key;
  std::optional<protocol::bytes> value;
};

struct raw_batch {
  protocol::record_batch_header header;
  std::vector<raw_record> records;
};

// Every batch of the log, CRC-checked, with its records.
std::vector<raw_batch> read_batches(const storage::partition_log& log) {
  std::vector<raw_batch> out;
  std::int64_t offset = log.log_start_offset();
  const std::int64_t end = log.log_end_offset();
  while (offset < end) {
    storage::read_result result;
    EXPECT_FALSE(log.read(offset, 1 << 20, end, true, result));
    protocol::bytes data;
    EXPECT_FALSE(result.records.read_into(data));
    protocol::record_batch_splitter splitter(data);
    protocol::record_batch_view batch;
    const std::int64_t before = offset;
    while (splitter.next(batch)) {
      EXPECT_FALSE(batch.validate());
      auto& b = out.emplace_back();
      b.header = batch.header();
      protocol::record_reader reader;
      EXPECT_FALSE(reader.open(batch));
      protocol::record_view r;
      while (reader.next(r)) {
        auto& rec = b.records.emplace_back();
        rec.offset = batch.offset_of(r);
        if (r.key) rec.key.emplace(r.key->begin(), r.key->end());
        if (r.value) rec.value.emplace(r.value->begin(), r.value->end());
      }
      offset = batch.header().last_offset() + 1;
    }
    if (offset == before) {
      ADD_FAILURE() << "nothing readable at offset " << offset;
      break;
    }
  }
  return out;
}

std::vector<raw_record> read_records(const storage::partition_log& log) {
  std::vector<raw_record> out;
  for (auto& batch : read_batches(log)) {
    for (auto& r : batch.records) out.push_back(std::move(r));
  }
  return out;
}

// Big-endian field builders for hand-written expected bytes.
struct bytes_builder {
  protocol::bytes out;
  bytes_builder& i16(std::int16_t v) {
    for (int s = 8; s >= 0; s -= 8) out.push_back(static_cast<std::uint8_t>(static_cast<std::uint16_t>(v) >> s));
    return *this;
  }
  bytes_builder& i32(std::int32_t v) {
    for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<std::uint8_t>(static_cast<std::uint32_t>(v) >> s));
    return *this;
  }
  bytes_builder& i64(std::int64_t v) {
    for (int s = 56; s >= 0; s -= 8) out.push_back(static_cast<std::uint8_t>(static_cast<std::uint64_t>(v) >> s));
    return *this;
  }
  bytes_builder& raw(std::string_view s) {
    out.insert(out.end(), s.begin(), s.end());
    return *this;
  }
};

committed_offset make_offset(std::int64_t offset, std::string metadata = "meta", std::int64_t expire = -1) {
  committed_offset o;
  o.offset = offset;
  o.leader_epoch = 4;
  o.metadata = std::move(metadata);
  o.commit_timestamp_ms = 1'700'000'000'123;
  o.expire_timestamp_ms = expire;
  return o;
}

group_record make_group(const std::string& id, std::int32_t generation) {
  group_record g;
  g.group_id = id;
  g.protocol_type = "consumer";
  g.generation = generation;
  g.protocol_name = "range";
  g.leader = "member-1";
  g.current_state_timestamp_ms = 1'700'000'000'456;
  member_record dynamic;
  dynamic.member_id = "member-1";
  dynamic.client_id = "client-a";
  dynamic.client_host = "/127.0.0.1";
  dynamic.rebalance_timeout_ms = 300'000;
  dynamic.session_timeout_ms = 45'000;
  dynamic.subscription = {0, 1, 2};
  dynamic.assignment = {3, 4};
  member_record fixed = dynamic;
  fixed.member_id = "member-2";
  fixed.group_instance_id = "instance-2";
  fixed.client_host = "/10.0.0.2";
  fixed.subscription = {9};
  fixed.assignment = {};
  g.members = {dynamic, fixed};
  return g;
}

void expect_offset(const committed_offset& actual, const committed_offset& expected) {
  EXPECT_EQ(actual.offset, expected.offset);
  EXPECT_EQ(actual.leader_epoch, expected.leader_epoch);
  EXPECT_EQ(actual.metadata, expected.metadata);
  EXPECT_EQ(actual.commit_timestamp_ms, expected.commit_timestamp_ms);
  EXPECT_EQ(actual.expire_timestamp_ms, expected.expire_timestamp_ms);
}

void expect_group(const group_record& actual, const group_record& expected) {
  EXPECT_EQ(actual.group_id, expected.group_id);
  EXPECT_EQ(actual.protocol_type, expected.protocol_type);
  EXPECT_EQ(actual.generation, expected.generation);
  EXPECT_EQ(actual.protocol_name, expected.protocol_name);
  EXPECT_EQ(actual.leader, expected.leader);
  EXPECT_EQ(actual.current_state_timestamp_ms, expected.current_state_timestamp_ms);
  ASSERT_EQ(actual.members.size(), expected.members.size());
  for (std::size_t i = 0; i < actual.members.size(); ++i) {
    SCOPED_TRACE("member " + std::to_string(i));
    const auto& a = actual.members[i];
    const auto& e = expected.members[i];
    EXPECT_EQ(a.member_id, e.member_id);
    EXPECT_EQ(a.group_instance_id, e.group_instance_id);
    EXPECT_EQ(a.client_id, e.client_id);
    EXPECT_EQ(a.client_host, e.client_host);
    EXPECT_EQ(a.rebalance_timeout_ms, e.rebalance_timeout_ms);
    EXPECT_EQ(a.session_timeout_ms, e.session_timeout_ms);
    EXPECT_EQ(a.subscription, e.subscription);
    EXPECT_EQ(a.assignment, e.assignment);
  }
}

void expect_same_state(const loaded_partition& actual, const loaded_partition& expected) {
  ASSERT_EQ(actual.groups.size(), expected.groups.size());
  for (const auto& [id, group] : expected.groups) {
    SCOPED_TRACE("group " + id);
    auto it = actual.groups.find(id);
    ASSERT_NE(it, actual.groups.end());
    ASSERT_EQ(it->second.metadata.has_value(), group.metadata.has_value());
    if (group.metadata) expect_group(*it->second.metadata, *group.metadata);
    ASSERT_EQ(it->second.offsets.size(), group.offsets.size());
    for (const auto& [tp, offset] : group.offsets) {
      auto o = it->second.offsets.find(tp);
      ASSERT_NE(o, it->second.offsets.end()) << tp.topic << "-" << tp.partition;
      expect_offset(o->second, offset);
    }
  }
}

class ConsumerOffsetsStore : public storage::testing::temp_dir_test {
 protected:
  void SetUp() override {
    temp_dir_test::SetUp();
    options_.num_partitions = test_partitions;
    open();
  }
  void TearDown() override {
    close();
    temp_dir_test::TearDown();
  }

  // A broker start: log manager, topics, the store (start() creates the topic if missing).
  void open() {
    storage::log_manager_config config;
    config.log_dirs = {dir_ / "logs"};
    config.cleaner_enable = false;
    storage::storage_context context;
    context.faults = disk_;
    storage::log_manager_startup startup;
    ASSERT_FALSE(storage::log_manager::open(config, context, logs_, startup));
    topics_ = std::make_unique<topic_registry>(*logs_, config.defaults, apply_topic_log_config);
    ASSERT_FALSE(topics_->load());
    store_ = std::make_unique<consumer_offsets_store>(*topics_, logs_->flusher(), options_);
    ASSERT_EQ(store_->start(), error_code::none);
  }
  // A broker stop: everything flushed and closed, a clean-shutdown marker written.
  void close() {
    store_.reset();
    topics_.reset();
    if (logs_) (void)logs_->shutdown();  // fails for a log a failed fsync took offline
    logs_.reset();
  }

  // Runs one store operation and waits (at most 20 s) for its callback, which must come exactly once.
  error_code wait_for(const std::function<void(store_callback)>& operation) {
    auto promise = std::make_shared<std::promise<error_code>>();
    auto calls = std::make_shared<std::atomic<int>>(0);
    auto future = promise->get_future();
    operation([promise, calls](error_code e) {
      if (calls->fetch_add(1) == 0) promise->set_value(e);
    });
    if (future.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
      ADD_FAILURE() << "the store never called back";
      return error_code::unknown_server_error;
    }
    const error_code result = future.get();
    EXPECT_EQ(calls->load(), 1);
    return result;
  }
  error_code commit(const std::string& group, const std::vector<std::pair<topic_partition, committed_offset>>& o) {
    return wait_for([&](store_callback done) { store_->store_offsets(group, o, std::move(done)); });
  }
  error_code save(const group_record& group) {
    return wait_for([&](store_callback done) { store_->store_group(group, std::move(done)); });
  }

  std::shared_ptr<storage::partition_log> log_of(std::int32_t partition) {
    auto found = topics_->find(consumer_offsets_topic);
    EXPECT_NE(found, nullptr);
    if (!found) return nullptr;
    return found->partitions.at(static_cast<std::size_t>(partition)).log;
  }
  std::int32_t partition_of(const std::string& group) {
    return coordinator_partition_for(group, store_->partition_count());
  }
  loaded_partition load_group_partition(const std::string& group) { return store_->load(partition_of(group)); }

  // Appends records (key, value) to a partition as one batch, as Kafka or another writer would have.
  void append_raw(std::int32_t partition,
                  const std::vector<std::pair<protocol::bytes, std::optional<protocol::bytes>>>& records,
                  protocol::record_batch_builder_options batch_options = {}) {
    protocol::record_batch_builder builder(batch_options);
    for (const auto& [key, value] : records) {
      std::optional<protocol::byte_span> v;
      if (value) v = protocol::byte_span(*value);
      builder.append(1'700'000'000'000, protocol::byte_span(key), v);
    }
    protocol::bytes batch;
    ASSERT_FALSE(builder.build(batch));
    auto log = log_of(partition);
    ASSERT_NE(log, nullptr);
    storage::append_result appended;
    ASSERT_FALSE(log->append(batch, appended));
    log->set_high_watermark(log->log_end_offset());
  }

  consumer_offsets_options options_;
  std::shared_ptr<storage::testing::faulty_disk> disk_ = std::make_shared<storage::testing::faulty_disk>();
  std::unique_ptr<storage::log_manager> logs_;
  std::unique_ptr<topic_registry> topics_;
  std::unique_ptr<consumer_offsets_store> store_;
};

template <class Message>
protocol::bytes versioned(const Message& message, std::int16_t version) {
  protocol::bytes out;
  protocol::writer w(out);
  w.write_int16(version);
  EXPECT_FALSE(message.encode(w, version));
  return out;
}

protocol::bytes offset_key_bytes(const std::string& group, const std::string& topic, std::int32_t partition,
                                 std::int16_t version = 1) {
  protocol::offset_commit_key key;
  key.group = group;
  key.topic = topic;
  key.partition = partition;
  return versioned(key, version);
}

protocol::bytes group_key_bytes(const std::string& group) {
  protocol::group_metadata_key key;
  key.group = group;
  return versioned(key, 2);
}

TEST_F(ConsumerOffsetsStore, CreatesTheInternalCompactedTopic) {
  close();
  std::error_code ignored;
  std::filesystem::remove_all(dir_ / "logs", ignored);
  options_ = {};  // Kafka's defaults: 50 partitions, 100 MiB segments
  open();
  auto found = topics_->find(consumer_offsets_topic);
  ASSERT_NE(found, nullptr);
  EXPECT_TRUE(found->internal);
  EXPECT_EQ(found->partitions.size(), 50u);
  EXPECT_EQ(store_->partition_count(), 50);
  EXPECT_EQ(found->config_overrides.at("cleanup.policy"), "compact");
  EXPECT_EQ(found->config_overrides.at("segment.bytes"), "104857600");
  EXPECT_EQ(found->config_overrides.at("compression.type"), "producer");
  const auto config = found->partitions[0].log->config();
  EXPECT_TRUE(config.cleanup.compact);
  EXPECT_FALSE(config.cleanup.delete_segments);
  EXPECT_EQ(config.segment_bytes, 104'857'600);
}

TEST_F(ConsumerOffsetsStore, ExistingTopicKeepsItsPartitionCount) {
  close();
  options_.num_partitions = 9;  // offsets.topic.num.partitions changed after the topic was created
  open();
  EXPECT_EQ(store_->partition_count(), test_partitions);
  EXPECT_EQ(topics_->find(consumer_offsets_topic)->partitions.size(), static_cast<std::size_t>(test_partitions));
}

TEST_F(ConsumerOffsetsStore, CreatesTheTopicOnFirstUse) {
  close();
  std::error_code ignored;
  std::filesystem::remove_all(dir_ / "logs", ignored);
  storage::log_manager_config config;
  config.log_dirs = {dir_ / "logs"};
  config.cleaner_enable = false;
  storage::log_manager_startup startup;
  ASSERT_FALSE(storage::log_manager::open(config, {}, logs_, startup));
  topics_ = std::make_unique<topic_registry>(*logs_, config.defaults, apply_topic_log_config);
  ASSERT_FALSE(topics_->load());
  store_ = std::make_unique<consumer_offsets_store>(*topics_, logs_->flusher(), options_);  // no start()
  EXPECT_EQ(topics_->find(consumer_offsets_topic), nullptr);
  EXPECT_EQ(store_->partition_count(), test_partitions);
  ASSERT_EQ(commit("g", {{{"t", 0}, make_offset(1)}}), error_code::none);
  ASSERT_NE(topics_->find(consumer_offsets_topic), nullptr);
  EXPECT_EQ(load_group_partition("g").groups.at("g").offsets.at({"t", 0}).offset, 1);
}

TEST_F(ConsumerOffsetsStore, OffsetsAndGroupMetadataRoundTrip) {
  const std::string group = "round-trip";
  const auto with_expiry = make_offset(17, "", 1'700'000'999'000);
  ASSERT_EQ(commit(group, {{{"orders", 0}, make_offset(42)}, {{"orders", 1}, with_expiry}}), error_code::none);
  const auto metadata = make_group(group, 3);
  ASSERT_EQ(save(metadata), error_code::none);
  ASSERT_EQ(commit("simple", {{{"orders", 2}, make_offset(5)}}), error_code::none);  // offsets only, no metadata

  const auto loaded = load_group_partition(group);
  ASSERT_TRUE(loaded.groups.contains(group));
  const auto& g = loaded.groups.at(group);
  ASSERT_TRUE(g.metadata.has_value());
  expect_group(*g.metadata, metadata);
  ASSERT_EQ(g.offsets.size(), 2u);
  expect_offset(g.offsets.at({"orders", 0}), make_offset(42));
  // Value v1, the only one with an expiry, has no leader epoch: it is lost, as in Kafka.
  auto expected_with_expiry = with_expiry;
  expected_with_expiry.leader_epoch = -1;
  expect_offset(g.offsets.at({"orders", 1}), expected_with_expiry);

  const auto simple = load_group_partition("simple");
  ASSERT_TRUE(simple.groups.contains("simple"));
  EXPECT_FALSE(simple.groups.at("simple").metadata.has_value());
  expect_offset(simple.groups.at("simple").offsets.at({"orders", 2}), make_offset(5));
}

TEST_F(ConsumerOffsetsStore, EachWriteIsDurableBeforeItsCallback) {
  const auto log = log_of(partition_of("durable"));
  std::int64_t recovery_point_at_callback = -1;
  const auto result = wait_for([&](store_callback done) {
    store_->store_offsets("durable", {{{"t", 0}, make_offset(1)}, {{"t", 1}, make_offset(2)}},
                          [&, done = std::move(done)](error_code e) {
                            recovery_point_at_callback = log->recovery_point();
                            done(e);
                          });
  });
  ASSERT_EQ(result, error_code::none);
  EXPECT_EQ(log->log_end_offset(), 2);
  EXPECT_EQ(log->high_watermark(), 2);
  EXPECT_GE(recovery_point_at_callback, 2);  // fsynced through the write's last offset
  // One write is one batch.
  EXPECT_EQ(read_batches(*log).size(), 1u);
}

TEST_F(ConsumerOffsetsStore, LatestValueWinsAndTombstonesDelete) {
  const std::string group = "latest";
  ASSERT_EQ(commit(group, {{{"t", 0}, make_offset(5)}, {{"t", 1}, make_offset(6)}}), error_code::none);
  ASSERT_EQ(commit(group, {{{"t", 0}, make_offset(7, "second")}}), error_code::none);
  ASSERT_EQ(save(make_group(group, 1)), error_code::none);
  ASSERT_EQ(save(make_group(group, 2)), error_code::none);

  auto loaded = load_group_partition(group);
  expect_offset(loaded.groups.at(group).offsets.at({"t", 0}), make_offset(7, "second"));
  expect_offset(loaded.groups.at(group).offsets.at({"t", 1}), make_offset(6));
  EXPECT_EQ(loaded.groups.at(group).metadata->generation, 2);

  ASSERT_EQ(wait_for([&](store_callback done) {
              store_->delete_offsets(group, {{"t", 1}}, std::move(done));
            }),
            error_code::none);
  loaded = load_group_partition(group);
  EXPECT_FALSE(loaded.groups.at(group).offsets.contains({"t", 1}));
  EXPECT_TRUE(loaded.groups.at(group).offsets.contains({"t", 0}));
  EXPECT_TRUE(loaded.groups.at(group).metadata.has_value());

  ASSERT_EQ(wait_for([&](store_callback done) {
              store_->delete_group(group, {{"t", 0}}, std::move(done));
            }),
            error_code::none);
  loaded = load_group_partition(group);
  EXPECT_FALSE(loaded.groups.contains(group));  // nothing left of it

  // A value after a tombstone brings the key back.
  ASSERT_EQ(commit(group, {{{"t", 0}, make_offset(9)}}), error_code::none);
  loaded = load_group_partition(group);
  EXPECT_EQ(loaded.groups.at(group).offsets.at({"t", 0}).offset, 9);
  EXPECT_FALSE(loaded.groups.at(group).metadata.has_value());
}

TEST_F(ConsumerOffsetsStore, EmptyWritesCallBackWithoutAppending) {
  const auto log = log_of(partition_of("empty"));
  EXPECT_EQ(commit("empty", {}), error_code::none);
  EXPECT_EQ(wait_for([&](store_callback done) { store_->delete_offsets("empty", {}, std::move(done)); }),
            error_code::none);
  EXPECT_EQ(log->log_end_offset(), 0);
}

TEST_F(ConsumerOffsetsStore, StateSurvivesARestart) {
  std::map<std::int32_t, loaded_partition> before;
  for (int i = 0; i < 12; ++i) {
    const std::string group = "group-" + std::to_string(i);
    ASSERT_EQ(commit(group, {{{"a", i}, make_offset(i * 10)}, {{"b", 0}, make_offset(i, "m", 1'800'000'000'000)}}),
              error_code::none);
    if (i % 2 == 0) {
      ASSERT_EQ(save(make_group(group, i)), error_code::none);
    }
    if (i % 3 == 0) {
      ASSERT_EQ(wait_for([&](store_callback done) {
                  store_->delete_offsets(group, {{"b", 0}}, std::move(done));
                }),
                error_code::none);
    }
  }
  std::size_t groups = 0;
  for (std::int32_t p = 0; p < test_partitions; ++p) {
    before[p] = store_->load(p);
    groups += before[p].groups.size();
  }
  EXPECT_EQ(groups, 12u);

  close();
  open();
  for (std::int32_t p = 0; p < test_partitions; ++p) {
    SCOPED_TRACE("partition " + std::to_string(p));
    expect_same_state(store_->load(p), before[p]);
  }
  // And without the clean-shutdown marker, as after a crash: the logs are recovered before they load.
  close();
  ASSERT_TRUE(std::filesystem::remove(dir_ / "logs" / storage::clean_shutdown_marker));
  open();
  for (std::int32_t p = 0; p < test_partitions; ++p) {
    SCOPED_TRACE("partition " + std::to_string(p));
    expect_same_state(store_->load(p), before[p]);
  }
}

TEST_F(ConsumerOffsetsStore, RecordsLandInTheGroupsCoordinatorPartition) {
  EXPECT_EQ(store_->partition_count(), test_partitions);
  const std::vector<std::string> groups = {
      "alpha", "beta", "gamma", "delta", "epsilon", "my-group", "polygenelubricants", "\xF0\x9F\x98\x80"};
  std::vector<std::int64_t> expected_ends(test_partitions, 0);
  for (const auto& group : groups) {
    const auto p = coordinator_partition_for(group, test_partitions);
    ASSERT_EQ(commit(group, {{{"t", 0}, make_offset(1)}}), error_code::none);
    ASSERT_EQ(save(make_group(group, 1)), error_code::none);
    expected_ends[static_cast<std::size_t>(p)] += 2;
    const auto records = read_records(*log_of(p));
    ASSERT_GE(records.size(), 2u);
    // The key of the last two records names the group.
    protocol::reader key(*records.back().key);
    EXPECT_EQ(key.read_int16(), 2);
    protocol::group_metadata_key decoded;
    ASSERT_FALSE(decoded.decode(key, 2));
    EXPECT_EQ(decoded.group, group);
  }
  for (std::int32_t p = 0; p < test_partitions; ++p) {
    EXPECT_EQ(log_of(p)->log_end_offset(), expected_ends[static_cast<std::size_t>(p)]) << "partition " << p;
    for (const auto& [id, g] : store_->load(p).groups) {
      EXPECT_EQ(coordinator_partition_for(id, test_partitions), p) << id;
    }
  }
}

// The bytes of one offset commit and one group, written out by hand from Kafka's format: int16 version, then the
// fields in order; strings as int16 length + UTF-8, nullable strings with length -1 for null, bytes as int32 length.
TEST_F(ConsumerOffsetsStore, RecordBytesAreKafkasFormat) {
  committed_offset offset;
  offset.offset = 42;
  offset.leader_epoch = 7;
  offset.metadata = "md";
  offset.commit_timestamp_ms = 1000;
  ASSERT_EQ(commit("grp", {{{"tp", 3}, offset}}), error_code::none);
  auto expiring = offset;
  expiring.expire_timestamp_ms = 5000;
  ASSERT_EQ(commit("grp", {{{"tp", 4}, expiring}}), error_code::none);

  group_record group;
  group.group_id = "grp";
  group.protocol_type = "consumer";
  group.generation = 2;
  group.protocol_name = "range";
  group.leader = std::nullopt;
  group.current_state_timestamp_ms = 9;
  member_record member;
  member.member_id = "m";
  member.client_id = "c";
  member.client_host = "/h";
  member.rebalance_timeout_ms = 300;
  member.session_timeout_ms = 100;
  member.subscription = {0xAB};
  member.assignment = {};
  group.members = {member};
  ASSERT_EQ(save(group), error_code::none);
  ASSERT_EQ(wait_for([&](store_callback done) {
              store_->delete_offsets("grp", {{"tp", 3}}, std::move(done));
            }),
            error_code::none);

  const auto batches = read_batches(*log_of(partition_of("grp")));
  ASSERT_EQ(batches.size(), 4u);
  for (const auto& b : batches) {
    EXPECT_EQ(b.header.attributes.codec(), protocol::compression_codec::none);
    EXPECT_FALSE(b.header.attributes.transactional());
    EXPECT_EQ(b.header.producer_id, -1);
    ASSERT_EQ(b.records.size(), 1u);
  }

  const auto key_tp3 = bytes_builder().i16(1).i16(3).raw("grp").i16(2).raw("tp").i32(3).out;
  EXPECT_EQ(batches[0].records[0].key, key_tp3);
  // Offset value v3: offset, leader epoch, metadata, commit timestamp.
  EXPECT_EQ(batches[0].records[0].value, bytes_builder().i16(3).i64(42).i32(7).i16(2).raw("md").i64(1000).out);

  EXPECT_EQ(batches[1].records[0].key, bytes_builder().i16(1).i16(3).raw("grp").i16(2).raw("tp").i32(4).out);
  // Offset value v1 (an expiry): offset, metadata, commit timestamp, expire timestamp.
  EXPECT_EQ(batches[1].records[0].value, bytes_builder().i16(1).i64(42).i16(2).raw("md").i64(1000).i64(5000).out);

  EXPECT_EQ(batches[2].records[0].key, bytes_builder().i16(2).i16(3).raw("grp").out);
  // Group value v3: protocol type, generation, protocol, leader (null), state timestamp, members (int32 count):
  // member id, group instance id (null), client id, client host, rebalance timeout, session timeout,
  // subscription, assignment.
  const auto group_value = bytes_builder()
                               .i16(3)
                               .i16(8)
                               .raw("consumer")
                               .i32(2)
                               .i16(5)
                               .raw("range")
                               .i16(-1)
                               .i64(9)
                               .i32(1)
                               .i16(1)
                               .raw("m")
                               .i16(-1)
                               .i16(1)
                               .raw("c")
                               .i16(2)
                               .raw("/h")
                               .i32(300)
                               .i32(100)
                               .i32(1)
                               .raw("\xAB")
                               .i32(0)
                               .out;
  EXPECT_EQ(batches[2].records[0].value, group_value);

  EXPECT_EQ(batches[3].records[0].key, key_tp3);
  EXPECT_FALSE(batches[3].records[0].value.has_value());  // a tombstone is a null value, not an empty one
}

TEST_F(ConsumerOffsetsStore, EveryOffsetValueVersionDecodes) {
  const std::string group = "versions";
  const auto p = partition_of(group);
  for (std::int16_t version = 0; version <= 4; ++version) {
    SCOPED_TRACE("offset value v" + std::to_string(version));
    protocol::offset_commit_value value;
    value.offset = 100 + version;
    value.leader_epoch = 11;
    value.metadata = "v" + std::to_string(version);
    value.commit_timestamp = 2000 + version;
    value.expire_timestamp = 3000;
    value.topic_id.value[0] = 0x42;                                           // v4's tagged topic id
    if (version == 4) value.unknown_tagged_fields.push_back({7, {1, 2, 3}});  // a field from a later Kafka
    // Key versions 0 and 1 share the layout; old Kafka wrote 0.
    append_raw(p, {{offset_key_bytes(group, "t", version, version % 2 == 0 ? 0 : 1), versioned(value, version)}});
  }
  const auto loaded = store_->load(p);
  const auto& offsets = loaded.groups.at(group).offsets;
  ASSERT_EQ(offsets.size(), 5u);
  for (std::int16_t version = 0; version <= 4; ++version) {
    SCOPED_TRACE("offset value v" + std::to_string(version));
    const auto& o = offsets.at({"t", version});
    EXPECT_EQ(o.offset, 100 + version);
    EXPECT_EQ(o.leader_epoch, version >= 3 ? 11 : -1);
    EXPECT_EQ(o.metadata, "v" + std::to_string(version));
    EXPECT_EQ(o.commit_timestamp_ms, 2000 + version);
    EXPECT_EQ(o.expire_timestamp_ms, version == 1 ? 3000 : -1);
  }
}

TEST_F(ConsumerOffsetsStore, EveryGroupValueVersionDecodes) {
  const std::string group = "group-versions";
  const auto p = partition_of(group);
  protocol::group_metadata_key key;
  key.group = group;
  for (std::int16_t version = 0; version <= 4; ++version) {
    SCOPED_TRACE("group value v" + std::to_string(version));
    protocol::group_metadata_value value;
    value.protocol_type = "consumer";
    value.generation = 10 + version;
    value.protocol = "roundrobin";
    value.leader = "leader-" + std::to_string(version);
    value.current_state_timestamp = 777;
    auto& member = value.members.emplace_back();
    member.member_id = "leader-" + std::to_string(version);
    member.group_instance_id = "static";
    member.client_id = "cid";
    member.client_host = "/1.2.3.4";
    member.rebalance_timeout = 60'000;
    member.session_timeout = 10'000;
    member.subscription = {1, 2};
    member.assignment = {3};
    if (version == 4) value.unknown_tagged_fields.push_back({5, {9}});
    append_raw(p, {{versioned(key, 2), versioned(value, version)}});

    const auto loaded = store_->load(p);
    ASSERT_TRUE(loaded.groups.contains(group));
    ASSERT_TRUE(loaded.groups.at(group).metadata.has_value());
    const auto& g = *loaded.groups.at(group).metadata;
    EXPECT_EQ(g.group_id, group);
    EXPECT_EQ(g.protocol_type, "consumer");
    EXPECT_EQ(g.generation, 10 + version);
    EXPECT_EQ(g.protocol_name, "roundrobin");
    EXPECT_EQ(g.leader, "leader-" + std::to_string(version));
    EXPECT_EQ(g.current_state_timestamp_ms, version >= 2 ? 777 : -1);
    ASSERT_EQ(g.members.size(), 1u);
    const auto& m = g.members[0];
    EXPECT_EQ(m.member_id, "leader-" + std::to_string(version));
    EXPECT_EQ(m.group_instance_id, version >= 3 ? std::optional<std::string>("static") : std::nullopt);
    EXPECT_EQ(m.client_id, "cid");
    EXPECT_EQ(m.client_host, "/1.2.3.4");
    EXPECT_EQ(m.rebalance_timeout_ms, version >= 1 ? 60'000 : 10'000);  // v0: the session timeout stands in
    EXPECT_EQ(m.session_timeout_ms, 10'000);
    EXPECT_EQ(m.subscription, (protocol::bytes{1, 2}));
    EXPECT_EQ(m.assignment, (protocol::bytes{3}));
  }
}

TEST_F(ConsumerOffsetsStore, UnknownAndCorruptRecordsAreSkipped) {
  const std::string group = "robust";
  const auto p = partition_of(group);
  ASSERT_EQ(commit(group, {{{"t", 0}, make_offset(1)}, {{"t", 1}, make_offset(2)}}), error_code::none);
  protocol::offset_commit_value later;
  later.offset = 99;
  append_raw(p, {
                    // KIP-848 records (key versions 3 and up): skipped.
                    {bytes_builder().i16(3).i16(5).raw("other").out, bytes_builder().i16(0).i32(1).out},
                    {bytes_builder().i16(12).raw("anything").out, std::nullopt},
                    // A key too short for its version, a negative version, a truncated offset key.
                    {protocol::bytes{0x00}, bytes_builder().i16(3).out},
                    {bytes_builder().i16(-1).out, std::nullopt},
                    {bytes_builder().i16(1).i16(50).raw("short").out, std::nullopt},
                    // A valid key whose value has an unknown version, or is truncated: the old value stays.
                    {offset_key_bytes(group, "t", 0), bytes_builder().i16(9).i64(5).out},
                    {offset_key_bytes(group, "t", 1), bytes_builder().i16(3).i64(5).out},
                    {offset_key_bytes(group, "t", 1), protocol::bytes{}},
                    // A group value that does not decode.
                    {group_key_bytes(group), bytes_builder().i16(3).i16(-5).out},
                    // Still loaded after all that.
                    {offset_key_bytes(group, "t", 2), versioned(later, 3)},
                });
  // A record without a key.
  protocol::record_batch_builder builder;
  builder.append(1, std::nullopt, protocol::byte_span(versioned(later, 3)));
  protocol::bytes keyless;
  ASSERT_FALSE(builder.build(keyless));
  storage::append_result appended;
  ASSERT_FALSE(log_of(p)->append(keyless, appended));

  // A batch whose CRC does not match (a byte flipped in its records), then a good one: only the good one counts.
  protocol::offset_commit_value corrupted;
  corrupted.offset = 500;
  builder.append(1, protocol::byte_span(offset_key_bytes(group, "t", 3)), protocol::byte_span(versioned(corrupted, 3)));
  protocol::bytes bad_crc;
  ASSERT_FALSE(builder.build(bad_crc));
  bad_crc.back() ^= 0x01;
  ASSERT_FALSE(log_of(p)->append(bad_crc, appended));
  append_raw(p, {{offset_key_bytes(group, "t", 4), versioned(later, 3)}});

  const auto loaded = store_->load(p);
  ASSERT_EQ(loaded.groups.size(), 1u);
  const auto& g = loaded.groups.at(group);
  EXPECT_FALSE(g.metadata.has_value());
  ASSERT_EQ(g.offsets.size(), 4u);
  EXPECT_FALSE(g.offsets.contains({"t", 3}));
  EXPECT_EQ(g.offsets.at({"t", 4}).offset, 99);
  EXPECT_EQ(g.offsets.at({"t", 0}).offset, 1);
  EXPECT_EQ(g.offsets.at({"t", 1}).offset, 2);
  EXPECT_EQ(g.offsets.at({"t", 2}).offset, 99);
}

TEST_F(ConsumerOffsetsStore, CompressedBatchesLoad) {
  const std::string group = "compressed";
  const auto p = partition_of(group);
  std::int32_t partition = 0;
  for (const auto codec : {protocol::compression_codec::gzip, protocol::compression_codec::snappy,
                           protocol::compression_codec::lz4, protocol::compression_codec::zstd}) {
    protocol::record_batch_builder_options batch_options;
    batch_options.codec = codec;
    protocol::offset_commit_value value;
    value.offset = 1000 + partition;
    value.metadata = std::string(200, 'x');  // something to compress
    append_raw(p, {{offset_key_bytes(group, "t", partition), versioned(value, 3)}}, batch_options);
    ++partition;
  }
  const auto loaded = store_->load(p);
  ASSERT_EQ(loaded.groups.at(group).offsets.size(), 4u);
  for (std::int32_t i = 0; i < 4; ++i) EXPECT_EQ(loaded.groups.at(group).offsets.at({"t", i}).offset, 1000 + i);
}

TEST_F(ConsumerOffsetsStore, TransactionalCommitsCountOnlyOnceCommitted) {
  const std::string group = "txn";
  const auto p = partition_of(group);
  protocol::offset_commit_value value;
  const auto transactional = [](std::int64_t producer_id) {
    protocol::record_batch_builder_options o;
    o.producer_id = producer_id;
    o.producer_epoch = 0;
    o.base_sequence = 0;
    o.transactional = true;
    return o;
  };
  const auto marker = [&](std::int64_t producer_id, std::int16_t type) {
    auto o = transactional(producer_id);
    o.control = true;
    o.base_sequence = -1;
    append_raw(p, {{bytes_builder().i16(0).i16(type).out, bytes_builder().i16(0).i32(0).out}}, o);
  };
  value.offset = 10;
  append_raw(p, {{offset_key_bytes(group, "t", 0), versioned(value, 3)}}, transactional(1));
  value.offset = 20;
  append_raw(p, {{offset_key_bytes(group, "t", 1), versioned(value, 3)}}, transactional(2));
  value.offset = 30;
  append_raw(p, {{offset_key_bytes(group, "t", 2), versioned(value, 3)}}, transactional(3));  // never ends
  marker(1, 1);                                                                               // COMMIT
  marker(2, 0);                                                                               // ABORT

  const auto loaded = store_->load(p);
  const auto& offsets = loaded.groups.at(group).offsets;
  ASSERT_EQ(offsets.size(), 1u);
  EXPECT_EQ(offsets.at({"t", 0}).offset, 10);
}

TEST_F(ConsumerOffsetsStore, CompactionKeepsTheLatestState) {
  close();
  std::error_code ignored;
  std::filesystem::remove_all(dir_ / "logs", ignored);
  options_.segment_bytes = 1024;  // offsets.topic.segment.bytes: roll every few commits
  open();
  const std::string group = "compacted";
  const auto p = partition_of(group);
  for (int i = 0; i < 60; ++i) {
    ASSERT_EQ(commit(group, {{{"t", 0}, make_offset(i)}, {{"t", 1}, make_offset(1000 + i)}}), error_code::none);
    if (i % 10 == 0) {
      ASSERT_EQ(save(make_group(group, i)), error_code::none);
    }
  }
  ASSERT_EQ(commit(group, {{{"gone", 0}, make_offset(1)}}), error_code::none);
  ASSERT_EQ(wait_for([&](store_callback done) {
              store_->delete_offsets(group, {{"gone", 0}}, std::move(done));
            }),
            error_code::none);
  // Roll past the tombstone so that it is cleanable too.
  for (int i = 60; i < 70; ++i) {
    ASSERT_EQ(commit(group, {{{"t", 0}, make_offset(i)}, {{"t", 1}, make_offset(1000 + i)}}), error_code::none);
  }
  const auto log = log_of(p);
  ASSERT_GT(log->segment_count(), 3u);
  const auto before = store_->load(p);
  const auto records_before = read_records(*log).size();

  logs_->run_cleaner_pass();

  const auto after_records = read_records(*log);
  EXPECT_LT(after_records.size(), records_before / 4) << "compaction removed little";
  expect_same_state(store_->load(p), before);
  EXPECT_EQ(before.groups.at(group).offsets.at({"t", 0}).offset, 69);
  EXPECT_EQ(before.groups.at(group).offsets.at({"t", 1}).offset, 1069);
  EXPECT_EQ(before.groups.at(group).metadata->generation, 50);
  EXPECT_FALSE(before.groups.at(group).offsets.contains({"gone", 0}));
  // And after a restart.
  close();
  open();
  expect_same_state(store_->load(p), before);
}

TEST_F(ConsumerOffsetsStore, FullDiskFailsTheWriteWithStorageError) {
  const std::string group = "full";
  ASSERT_EQ(commit(group, {{{"t", 0}, make_offset(1)}}), error_code::none);
  disk_->full = true;
  EXPECT_EQ(commit(group, {{{"t", 0}, make_offset(2)}}), error_code::kafka_storage_error);
  EXPECT_EQ(save(make_group(group, 1)), error_code::kafka_storage_error);
  disk_->full = false;
  // Nothing of the failed writes is in the log; writes work again once space returns.
  EXPECT_EQ(load_group_partition(group).groups.at(group).offsets.at({"t", 0}).offset, 1);
  ASSERT_EQ(commit(group, {{{"t", 0}, make_offset(3)}}), error_code::none);
  const auto loaded = load_group_partition(group);
  EXPECT_EQ(loaded.groups.at(group).offsets.at({"t", 0}).offset, 3);
  EXPECT_FALSE(loaded.groups.at(group).metadata.has_value());
}

TEST_F(ConsumerOffsetsStore, FailedFsyncFailsTheWriteWithStorageError) {
  const std::string group = "fsync";
  disk_->sync_fails = true;
  EXPECT_EQ(commit(group, {{{"t", 0}, make_offset(1)}}), error_code::kafka_storage_error);
  // The log is offline now (the kernel may have dropped the pages): later writes fail too, and load does not crash.
  disk_->sync_fails = false;
  EXPECT_EQ(commit(group, {{{"t", 0}, make_offset(2)}}), error_code::kafka_storage_error);
  (void)load_group_partition(group);
}

TEST_F(ConsumerOffsetsStore, WithoutFlushOnAcksAllTheWriteCompletesOnceAppended) {
  close();
  options_.flush_on_acks_all = false;
  open();
  disk_->sync_fails = true;  // an fsync would fail; none is attempted
  EXPECT_EQ(commit("nosync", {{{"t", 0}, make_offset(1)}}), error_code::none);
  disk_->sync_fails = false;
  EXPECT_EQ(load_group_partition("nosync").groups.at("nosync").offsets.at({"t", 0}).offset, 1);
}

TEST_F(ConsumerOffsetsStore, BatchAboveMaxMessageBytesIsRefused) {
  std::vector<std::pair<topic_partition, committed_offset>> many;
  for (int i = 0; i < 400; ++i) many.push_back({{"t", i}, make_offset(i, std::string(4000, 'm'))});
  EXPECT_EQ(commit("huge", many), error_code::record_list_too_large);
  EXPECT_EQ(log_of(partition_of("huge"))->log_end_offset(), 0);
}

TEST_F(ConsumerOffsetsStore, LoadOfAPartitionOutOfRangeIsEmpty) {
  EXPECT_TRUE(store_->load(-1).groups.empty());
  EXPECT_TRUE(store_->load(test_partitions).groups.empty());
}

}  // namespace
}  // namespace vltava::broker::group
