// Consumer groups end to end: the real broker driven by librdkafka's balanced consumer (rd_kafka_subscribe). Three
// consumers split a 6-partition topic, one leaves and one is killed, the survivor takes over; committed offsets are
// resumed by a new consumer; a static member (group.instance.id) restarts without a rebalance.
//
// Ownership is checked from the rebalance callbacks: one map, shared by all consumers of a test, says which
// consumer owns each partition; an assignment of a partition another consumer still owns is a violation. Every wait
// polls a condition until a deadline.
#include <librdkafka/rdkafka.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "broker_process.h"

namespace vltava::broker::testing {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using settings = std::vector<std::pair<std::string, std::string>>;

constexpr auto deadline_long = 60s;
const std::vector<std::string> broker_overrides{"num.partitions=6", "group.initial.rebalance.delay.ms=0",
                                                "group.min.session.timeout.ms=1000"};

// Waits for `condition`, checking every 20 ms, until the deadline.
bool wait_for(const std::function<bool()>& condition, std::chrono::milliseconds deadline = deadline_long) {
  const auto until = steady::now() + deadline;
  while (!condition()) {
    if (steady::now() > until) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

// Which consumer owns which partition, fed by the rebalance callbacks of every consumer of a test.
struct ownership {
  std::mutex mutex;
  std::map<std::int32_t, std::string> owner;
  std::vector<std::string> violations;

  std::size_t owned() {
    std::lock_guard lock(mutex);
    return owner.size();
  }
  std::map<std::string, int> counts() {
    std::lock_guard lock(mutex);
    std::map<std::string, int> out;
    for (const auto& [p, who] : owner) ++out[who];
    return out;
  }
};

// Everything consumed by all consumers of a test: partition -> offsets -> value.
struct consumed_log {
  std::mutex mutex;
  std::map<std::int32_t, std::map<std::int64_t, std::string>> records;
  std::vector<std::pair<std::int32_t, std::int64_t>> in_order;

  std::size_t distinct() {
    std::lock_guard lock(mutex);
    std::size_t n = 0;
    for (const auto& [p, offsets] : records) n += offsets.size();
    return n;
  }
};

// One balanced consumer with its own polling thread.
class group_consumer {
 public:
  group_consumer(std::string name, const std::string& bootstrap, const std::string& group, const std::string& topic,
                 ownership& owners, consumed_log& log, const settings& extra = {})
      : name_(std::move(name)), owners_(owners), log_(log) {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    settings all{{"bootstrap.servers", bootstrap},
                 {"broker.address.family", "v4"},
                 {"client.id", name_},
                 {"group.id", group},
                 {"auto.offset.reset", "earliest"},
                 {"session.timeout.ms", "3000"},
                 {"heartbeat.interval.ms", "200"},
                 {"topic.metadata.refresh.interval.ms", "1000"}};
    if (const char* debug = std::getenv("VLTAVA_RDKAFKA_DEBUG")) all.emplace_back("debug", debug);
    all.insert(all.end(), extra.begin(), extra.end());
    char error[512];
    for (const auto& [key, value] : all) {
      if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), error, sizeof error) != RD_KAFKA_CONF_OK) {
        ADD_FAILURE() << key << "=" << value << ": " << error;
      }
    }
    rd_kafka_conf_set_opaque(conf, this);
    rd_kafka_conf_set_rebalance_cb(conf, &group_consumer::on_rebalance);
    rd_kafka_conf_set_log_cb(conf, &group_consumer::on_log);
    handle_ = rd_kafka_new(RD_KAFKA_CONSUMER, conf, error, sizeof error);
    if (handle_ == nullptr) {
      ADD_FAILURE() << "rd_kafka_new: " << error;
      return;
    }
    rd_kafka_poll_set_consumer(handle_);
    rd_kafka_topic_partition_list_t* subscription = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(subscription, topic.c_str(), RD_KAFKA_PARTITION_UA);
    EXPECT_EQ(rd_kafka_subscribe(handle_, subscription), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(subscription);
    thread_ = std::thread([this] { poll_loop(); });
  }

  ~group_consumer() {
    if (handle_ != nullptr) close();
    if (::testing::Test::HasFailure()) {
      std::lock_guard lock(log_mutex_);
      const std::size_t shown = std::min<std::size_t>(librdkafka_log_.size(), 100);
      std::cerr << "---- " << name_ << ": librdkafka log (last " << shown << ") ----\n";
      for (std::size_t i = librdkafka_log_.size() - shown; i < librdkafka_log_.size(); ++i) {
        std::cerr << librdkafka_log_[i] << "\n";
      }
    }
  }

  // Leaves the group (LeaveGroup for a dynamic member), then destroys the client.
  void close() {
    stop_polling();
    rd_kafka_consumer_close(handle_);
    rd_kafka_destroy(handle_);
    handle_ = nullptr;
  }
  // A crash: gone without a word; the broker notices when its session times out.
  void kill() {
    stop_polling();
    {
      std::lock_guard lock(owners_.mutex);
      for (auto it = owners_.owner.begin(); it != owners_.owner.end();) {
        it = it->second == name_ ? owners_.owner.erase(it) : std::next(it);
      }
    }
    rd_kafka_destroy_flags(handle_, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    handle_ = nullptr;
  }
  // Commits the consumed positions synchronously.
  rd_kafka_resp_err_t commit() {
    return rd_kafka_commit(handle_, nullptr, 0);  // librdkafka handles are thread-safe
  }

  int assigns() const { return assigns_; }
  int revokes() const { return revokes_; }
  std::set<std::int32_t> owned() {
    std::lock_guard lock(owners_.mutex);
    std::set<std::int32_t> out;
    for (const auto& [p, who] : owners_.owner) {
      if (who == name_) out.insert(p);
    }
    return out;
  }
  const std::string& name() const { return name_; }

 private:
  void poll_loop() {
    while (!stopping_) {
      rd_kafka_message_t* message = rd_kafka_consumer_poll(handle_, 50);
      if (message == nullptr) continue;
      if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        std::lock_guard log_lock(log_.mutex);
        log_.records[message->partition][message->offset] =
            std::string(static_cast<const char*>(message->payload), message->len);
        log_.in_order.emplace_back(message->partition, message->offset);
      }
      rd_kafka_message_destroy(message);
    }
  }
  void stop_polling() {
    stopping_ = true;
    if (thread_.joinable()) thread_.join();
  }

  static void on_rebalance(rd_kafka_t* handle, rd_kafka_resp_err_t error, rd_kafka_topic_partition_list_t* partitions,
                           void* opaque) {
    auto* self = static_cast<group_consumer*>(opaque);
    if (error == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      {
        std::lock_guard lock(self->owners_.mutex);
        for (int i = 0; i < partitions->cnt; ++i) {
          const auto p = partitions->elems[i].partition;
          auto [it, inserted] = self->owners_.owner.emplace(p, self->name_);
          if (!inserted && it->second != self->name_) {
            self->owners_.violations.push_back("partition " + std::to_string(p) + " assigned to " + self->name_ +
                                               " while " + it->second + " owns it");
            it->second = self->name_;
          }
        }
      }
      ++self->assigns_;
      rd_kafka_assign(handle, partitions);
    } else {
      {
        std::lock_guard lock(self->owners_.mutex);
        for (int i = 0; i < partitions->cnt; ++i) {
          auto it = self->owners_.owner.find(partitions->elems[i].partition);
          if (it != self->owners_.owner.end() && it->second == self->name_) self->owners_.owner.erase(it);
        }
      }
      ++self->revokes_;
      rd_kafka_assign(handle, nullptr);
    }
  }
  static void on_log(const rd_kafka_t* handle, int level, const char* facility, const char* text) {
    auto* self = static_cast<group_consumer*>(rd_kafka_opaque(handle));
    std::lock_guard lock(self->log_mutex_);
    self->librdkafka_log_.push_back(std::to_string(level) + " " + facility + " " + text);
  }

  std::string name_;
  ownership& owners_;
  consumed_log& log_;
  rd_kafka_t* handle_ = nullptr;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> assigns_{0};
  std::atomic<int> revokes_{0};
  std::mutex log_mutex_;
  std::vector<std::string> librdkafka_log_;
};

// Produces `count` records round-robin over 6 partitions, values "<prefix>-<i>", and waits for every delivery.
void produce(const std::string& bootstrap, const std::string& topic, const std::string& prefix, int count) {
  char error[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), error, sizeof error);
  rd_kafka_conf_set(conf, "broker.address.family", "v4", error, sizeof error);
  rd_kafka_t* producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof error);
  ASSERT_NE(producer, nullptr) << error;
  for (int i = 0; i < count; ++i) {
    const std::string value = prefix + "-" + std::to_string(i);
    rd_kafka_resp_err_t result;
    do {
      result = rd_kafka_producev(producer, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(i % 6),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                 RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()), RD_KAFKA_V_END);
      if (result == RD_KAFKA_RESP_ERR__QUEUE_FULL) rd_kafka_poll(producer, 10);
    } while (result == RD_KAFKA_RESP_ERR__QUEUE_FULL);
    ASSERT_EQ(result, RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  EXPECT_EQ(rd_kafka_flush(producer, 60'000), RD_KAFKA_RESP_ERR_NO_ERROR);
  EXPECT_EQ(rd_kafka_outq_len(producer), 0);
  rd_kafka_destroy(producer);
}

TEST(ConsumerGroupTest, ThreeConsumersSplitTheTopicAndSurvivorsTakeOver) {
  broker_process broker(broker_overrides);
  ASSERT_TRUE(broker.start());
  const std::string topic = "split", group = "splitters";
  produce(broker.bootstrap(), topic, "first", 600);
  ownership owners;
  consumed_log log;
  auto c1 = std::make_unique<group_consumer>("c1", broker.bootstrap(), group, topic, owners, log);
  auto c2 = std::make_unique<group_consumer>("c2", broker.bootstrap(), group, topic, owners, log);
  auto c3 = std::make_unique<group_consumer>("c3", broker.bootstrap(), group, topic, owners, log);

  ASSERT_TRUE(wait_for([&] {
    auto counts = owners.counts();
    return counts.size() == 3 && counts["c1"] == 2 && counts["c2"] == 2 && counts["c3"] == 2;
  })) << "three members never split the six partitions";
  ASSERT_TRUE(wait_for([&] { return log.distinct() == 600; })) << log.distinct() << " of 600 consumed";

  c1->close();  // leaves: the other two share the partitions
  ASSERT_TRUE(wait_for([&] {
    auto counts = owners.counts();
    return owners.owned() == 6 && counts.size() == 2 && counts["c2"] == 3 && counts["c3"] == 3;
  })) << "c2 and c3 never took over c1's partitions";

  const auto killed_at = steady::now();
  c2->kill();
  ASSERT_TRUE(wait_for([&] { return owners.counts()["c3"] == 6; })) << "c3 never took over";
  const auto takeover = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - killed_at);
  // Session timeout 3 s, then one rebalance (the survivor learns of it from its next heartbeat, 200 ms).
  EXPECT_LT(takeover.count(), 3000 + 4000) << "takeover took " << takeover.count() << " ms";

  produce(broker.bootstrap(), topic, "second", 600);
  ASSERT_TRUE(wait_for([&] { return log.distinct() == 1200; })) << log.distinct() << " of 1200 consumed";
  std::lock_guard lock(owners.mutex);
  EXPECT_TRUE(owners.violations.empty()) << owners.violations.front();
}

// How the broker goes down between the commit and the new consumer.
enum class between { nothing, restart, crash };

// A consumer commits after reading 120 records and leaves; the broker restarts (cleanly or after kill -9) or not;
// 60 more records arrive; a new consumer of the group starts exactly at the committed offsets.
void resume_from_committed_offsets(between what) {
  broker_process broker(broker_overrides);
  ASSERT_TRUE(broker.start());
  const std::string topic = "resume", group = "resumers";
  produce(broker.bootstrap(), topic, "before", 120);
  ownership owners;
  consumed_log first;
  const settings manual{{"enable.auto.commit", "false"}};
  {
    group_consumer consumer("first", broker.bootstrap(), group, topic, owners, first, manual);
    ASSERT_TRUE(wait_for([&] { return first.distinct() == 120; })) << first.distinct() << " of 120 consumed";
    EXPECT_EQ(consumer.commit(), RD_KAFKA_RESP_ERR_NO_ERROR);
    consumer.close();
  }
  if (what == between::restart) {
    ASSERT_TRUE(broker.restart());
  }
  if (what == between::crash) {
    broker.kill9();
    ASSERT_TRUE(broker.start());
  }
  produce(broker.bootstrap(), topic, "after", 60);
  consumed_log second;
  group_consumer consumer("second", broker.bootstrap(), group, topic, owners, second, manual);
  ASSERT_TRUE(wait_for([&] { return second.distinct() == 60; })) << second.distinct() << " of 60 consumed";
  std::lock_guard lock(second.mutex);
  for (const auto& [partition, offsets] : second.records) {
    // Each partition had 20 records before the commit: the new consumer starts exactly there.
    EXPECT_EQ(offsets.begin()->first, 20) << "partition " << partition;
    EXPECT_EQ(offsets.rbegin()->first, 29) << "partition " << partition;
    for (const auto& [offset, value] : offsets) EXPECT_EQ(value.rfind("after-", 0), 0u) << value;
  }
}

TEST(ConsumerGroupTest, ANewConsumerResumesFromTheCommittedOffsets) { resume_from_committed_offsets(between::nothing); }

// Committed offsets are in __consumer_offsets: they survive a restart...
TEST(ConsumerGroupTest, CommittedOffsetsSurviveABrokerRestart) { resume_from_committed_offsets(between::restart); }

// ...and a crash, because a commit is answered only once it is fsynced.
TEST(ConsumerGroupTest, CommittedOffsetsSurviveABrokerCrash) { resume_from_committed_offsets(between::crash); }

TEST(ConsumerGroupTest, AStaticMemberRestartsWithoutARebalance) {
  broker_process broker(broker_overrides);
  ASSERT_TRUE(broker.start());
  const std::string topic = "static", group = "statics";
  produce(broker.bootstrap(), topic, "first", 60);
  ownership owners;
  consumed_log log;
  const settings long_session{{"session.timeout.ms", "30000"}};
  settings static_b = long_session;
  static_b.emplace_back("group.instance.id", "member-b");
  group_consumer a("a", broker.bootstrap(), group, topic, owners, log, long_session);
  auto b = std::make_unique<group_consumer>("b", broker.bootstrap(), group, topic, owners, log, static_b);
  ASSERT_TRUE(wait_for([&] {
    auto counts = owners.counts();
    return counts["a"] == 3 && counts["b"] == 3;
  })) << "a and b never split the partitions";
  ASSERT_TRUE(wait_for([&] { return log.distinct() == 60; })) << log.distinct() << " of 60 consumed";
  const auto b_partitions = b->owned();
  const int a_assigns = a.assigns(), a_revokes = a.revokes();

  b->close();  // a static member sends no LeaveGroup: the broker keeps its place for its session timeout
  {
    std::lock_guard lock(owners.mutex);
    for (auto p : b_partitions) owners.owner.erase(p);  // its close revoked them locally
  }
  b = std::make_unique<group_consumer>("b", broker.bootstrap(), group, topic, owners, log, static_b);
  ASSERT_TRUE(wait_for([&] { return b->owned().size() == 3; })) << "the restarted static member got nothing";
  EXPECT_EQ(b->owned(), b_partitions);
  // The restarted member is working: it consumes new records on its partitions.
  produce(broker.bootstrap(), topic, "second", 60);
  ASSERT_TRUE(wait_for([&] { return log.distinct() == 120; })) << log.distinct() << " of 120 consumed";
  EXPECT_EQ(a.revokes(), a_revokes) << "the other member went through a rebalance";
  EXPECT_EQ(a.assigns(), a_assigns);
  std::lock_guard lock(owners.mutex);
  EXPECT_TRUE(owners.violations.empty()) << owners.violations.front();
}

}  // namespace
}  // namespace vltava::broker::testing
