// Tests of the group-commit flusher against a real partition log: completions only once durable, shared fsyncs,
// the disabled mode, fsync failures, stop(), and per-partition parallelism. Every wait has a deadline; where timing
// matters a sync is held in a fault injector until the test lets it go, instead of sleeping.
#include "vltava/storage/group_commit_flusher.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "storage_test_support.h"
#include "vltava/protocol/record_batch_builder.h"
#include "vltava/storage/storage_error.h"

namespace vltava::storage {
namespace {

namespace fs = std::filesystem;
using namespace vltava::storage::testing;
using namespace std::chrono_literals;

constexpr auto deadline = 30s;

// While armed, holds every sync of a file under scope (all files when scope is empty) until release(), so a test
// can queue requests behind a flush that is known to be in progress. Never holds longer than the deadline, so a
// failing test cannot hang.
class sync_gate final : public io_fault_injector {
 public:
  explicit sync_gate(fs::path scope = {}) : scope_(std::move(scope).string()) {}

  std::error_code before_sync(const fs::path& file) noexcept override {
    std::unique_lock lock(mutex_);
    if (!armed_ || released_ || !file.string().starts_with(scope_)) return {};
    ++held_;
    changed_.notify_all();
    if (!changed_.wait_for(lock, deadline, [this] { return released_; })) timed_out_ = true;
    return {};
  }

  void arm() {
    std::lock_guard lock(mutex_);
    armed_ = true;
  }
  // True once a sync is being held.
  bool wait_until_holding() {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, deadline, [this] { return held_ > 0; });
  }
  void release() {
    std::lock_guard lock(mutex_);
    released_ = true;
    changed_.notify_all();
  }
  bool timed_out() const {
    std::lock_guard lock(mutex_);
    return timed_out_;
  }

 private:
  const std::string scope_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  bool armed_ = false;
  bool released_ = false;
  bool timed_out_ = false;
  int held_ = 0;
};

// Releases a gate when a test leaves early, before the flusher's destructor waits for the held flush.
struct release_on_exit {
  sync_gate& gate;
  ~release_on_exit() { gate.release(); }
};

// Collects completions from the flusher's threads; the test thread waits for a count with a deadline.
class completions {
 public:
  // check runs inside the completion (on the flusher thread) before it is counted.
  group_commit_flusher::completion make(std::function<void(std::error_code)> check = {}) {
    return [this, check = std::move(check)](std::error_code ec) {
      if (check) check(ec);
      std::lock_guard lock(mutex_);
      if (ec) errors_.push_back(ec);
      ++count_;
      changed_.notify_all();
    };
  }
  bool wait_for(std::size_t n) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, deadline, [&] { return count_ >= n; });
  }
  std::size_t count() const {
    std::lock_guard lock(mutex_);
    return count_;
  }
  std::vector<std::error_code> errors() const {
    std::lock_guard lock(mutex_);
    return errors_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::size_t count_ = 0;
  std::vector<std::error_code> errors_;
};

class GroupCommitFlusherTest : public temp_dir_test {
 protected:
  fs::path log_dir(const std::string& topic) const { return dir_ / (topic + "-0"); }

  std::shared_ptr<partition_log> open_log(std::shared_ptr<io_fault_injector> faults = nullptr,
                                          const std::string& topic = "t") {
    storage_context context;
    context.faults = std::move(faults);
    std::shared_ptr<partition_log> log;
    log_recovery_report report;
    const auto ec =
        partition_log::open(log_dir(topic), topic_partition{topic, 0}, log_config{}, context, {}, log, report);
    EXPECT_FALSE(ec) << ec.message();
    return log;
  }

  // Appends a one-record batch; returns its offset (-1 on failure, with the error in error).
  static std::int64_t append_record(partition_log& log, std::error_code& error) {
    protocol::record_batch_builder builder;
    constexpr std::string_view value = "value";
    builder.append(1'700'000'000'000, std::nullopt, as_bytes(value));
    protocol::bytes batch;
    error = builder.build(batch);
    if (error) return -1;
    append_result result;
    error = log.append(batch, result);
    return error ? -1 : result.last_offset;
  }
  static std::int64_t append_record(partition_log& log) {
    std::error_code error;
    const auto offset = append_record(log, error);
    EXPECT_FALSE(error) << error.message();
    return offset;
  }
};

TEST_F(GroupCommitFlusherTest, CompletesOnlyOnceTheOffsetIsDurable) {
  auto log = open_log();
  ASSERT_TRUE(log);
  completions done;
  std::int64_t recovery_point_seen = -1;
  std::thread::id completed_on;
  group_commit_flusher flusher({.threads = 2, .enabled = true});  // after what its completions touch

  append_record(*log);
  append_record(*log);
  const auto last = append_record(*log);
  ASSERT_LE(log->recovery_point(), last);  // not yet durable: the request must wait for a flush

  flusher.flush_through(log, last, done.make([&](std::error_code) {
    recovery_point_seen = log->recovery_point();
    completed_on = std::this_thread::get_id();
  }));
  ASSERT_TRUE(done.wait_for(1)) << "no completion within the deadline";
  EXPECT_TRUE(done.errors().empty());
  EXPECT_GT(recovery_point_seen, last);
  EXPECT_NE(completed_on, std::this_thread::get_id());  // flushed on a flusher thread, not the caller's
  EXPECT_EQ(flusher.flushes_performed(), 1u);
}

TEST_F(GroupCommitFlusherTest, AlreadyDurableCompletesInline) {
  auto log = open_log();
  ASSERT_TRUE(log);
  group_commit_flusher flusher({.threads = 1, .enabled = true});
  const auto last = append_record(*log);
  ASSERT_FALSE(log->flush());
  ASSERT_GT(log->recovery_point(), last);

  bool called = false;
  std::error_code result = make_error_code(storage_errc::io_error);
  flusher.flush_through(log, last, [&](std::error_code ec) {
    called = true;
    result = ec;
  });
  EXPECT_TRUE(called);  // before flush_through returned
  EXPECT_FALSE(result);
  EXPECT_EQ(flusher.flushes_performed(), 0u);
}

TEST_F(GroupCommitFlusherTest, ConcurrentProducersShareFsyncs) {
  auto log = open_log();
  ASSERT_TRUE(log);
  completions done;
  std::atomic<int> not_durable{0};
  std::atomic<int> append_failures{0};
  group_commit_flusher flusher({.threads = 2, .enabled = true});  // after what its completions touch

  constexpr int producers = 8;
  constexpr int per_producer = 200;
  constexpr std::size_t total = producers * per_producer;
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&] {
      for (int i = 0; i < per_producer; ++i) {
        std::error_code error;
        const auto last = append_record(*log, error);
        if (error) {
          ++append_failures;
          continue;
        }
        // Pipelined, as a connection's produce requests are: the next append does not wait for this ack.
        flusher.flush_through(log, last, done.make([&, last](std::error_code ec) {
          if (!ec && log->recovery_point() <= last) ++not_durable;
        }));
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(append_failures.load(), 0);
  ASSERT_TRUE(done.wait_for(total)) << done.count() << " of " << total << " completed within the deadline";

  EXPECT_TRUE(done.errors().empty());
  EXPECT_EQ(not_durable.load(), 0);
  EXPECT_EQ(log->log_end_offset(), static_cast<std::int64_t>(total));
  EXPECT_GT(log->recovery_point(), static_cast<std::int64_t>(total) - 1);
  const auto flushes = flusher.flushes_performed();
  EXPECT_LT(flushes, total) << "no fsync was shared";
  RecordProperty("flushes", std::to_string(flushes));
}

TEST_F(GroupCommitFlusherTest, RequestsQueuedDuringAFlushShareTheNextOne) {
  auto gate = std::make_shared<sync_gate>();
  auto log = open_log(gate);
  ASSERT_TRUE(log);
  completions done;
  group_commit_flusher flusher({.threads = 2, .enabled = true});
  release_on_exit release{*gate};

  // The first request's flush is held inside its fsync...
  gate->arm();
  const auto first = append_record(*log);
  flusher.flush_through(log, first, done.make());
  ASSERT_TRUE(gate->wait_until_holding()) << "the flush never reached its fsync";

  // ... while 100 more are appended (appends do not wait for a flush) and queued behind it.
  std::int64_t last = first;
  for (int i = 0; i < 100; ++i) {
    last = append_record(*log);
    flusher.flush_through(log, last, done.make());
  }
  EXPECT_EQ(done.count(), 0u);
  EXPECT_EQ(flusher.flushes_performed(), 0u);

  gate->release();
  ASSERT_TRUE(done.wait_for(101)) << done.count() << " of 101 completed within the deadline";
  EXPECT_FALSE(gate->timed_out()) << "an append or request waited for the held fsync";
  EXPECT_TRUE(done.errors().empty());
  EXPECT_GT(log->recovery_point(), last);
  // The held round, then one round for all 100 queued requests.
  EXPECT_LE(flusher.flushes_performed(), 2u);
}

TEST_F(GroupCommitFlusherTest, DisabledCompletesInlineWithoutFlushing) {
  auto log = open_log();
  ASSERT_TRUE(log);
  group_commit_flusher flusher({.threads = 1, .enabled = false});
  const auto last = append_record(*log);
  const auto recovery_point_before = log->recovery_point();
  ASSERT_LE(recovery_point_before, last);

  bool called = false;
  std::error_code result = make_error_code(storage_errc::io_error);
  std::thread::id completed_on;
  flusher.flush_through(log, last, [&](std::error_code ec) {
    called = true;
    result = ec;
    completed_on = std::this_thread::get_id();
  });
  EXPECT_TRUE(called);  // before flush_through returned
  EXPECT_FALSE(result);
  EXPECT_EQ(completed_on, std::this_thread::get_id());
  EXPECT_EQ(flusher.flushes_performed(), 0u);
  EXPECT_EQ(log->recovery_point(), recovery_point_before);  // durability left to the periodic flush
}

TEST_F(GroupCommitFlusherTest, FailedFsyncFailsTheWaitersAndTheLogGoesOffline) {
  auto faults = std::make_shared<faulty_disk>();
  auto log = open_log(faults);
  ASSERT_TRUE(log);
  completions done;
  group_commit_flusher flusher({.threads = 2, .enabled = true});

  const auto first = append_record(*log);
  const auto last = append_record(*log);
  faults->sync_fails = true;  // EIO, as a dying disk's
  flusher.flush_through(log, first, done.make());
  flusher.flush_through(log, last, done.make());
  ASSERT_TRUE(done.wait_for(2)) << "no completion within the deadline";
  const auto errors = done.errors();
  ASSERT_EQ(errors.size(), 2u);  // never acknowledged as durable
  for (const auto& ec : errors) {
    EXPECT_TRUE(ec);
  }
  EXPECT_LE(log->recovery_point(), first);

  // Offline: a failed fsync cannot be taken back (the page cache may have dropped the data), so even once the disk
  // "recovers" the log refuses appends and flushes until it is reopened.
  faults->sync_fails = false;
  std::error_code append_error;
  append_record(*log, append_error);
  EXPECT_TRUE(append_error);
  flusher.flush_through(log, last, done.make());
  ASSERT_TRUE(done.wait_for(3));
  EXPECT_EQ(done.errors().size(), 3u);
}

TEST_F(GroupCommitFlusherTest, StopCompletesQueuedRequestsThenRefusesNewOnes) {
  auto gate = std::make_shared<sync_gate>();
  auto log = open_log(gate);
  ASSERT_TRUE(log);
  completions done;
  group_commit_flusher flusher({.threads = 2, .enabled = true});
  release_on_exit release{*gate};

  gate->arm();
  const auto first = append_record(*log);
  flusher.flush_through(log, first, done.make());
  ASSERT_TRUE(gate->wait_until_holding());
  std::int64_t last = first;
  for (int i = 0; i < 10; ++i) {
    last = append_record(*log);
    flusher.flush_through(log, last, done.make());
  }

  std::thread stopper([&] { flusher.stop(); });
  // Wait until stop() has begun: from then on a request completes inline with log_closed (offset -1 is always
  // durable, so before that it completes inline with success).
  const auto closed = make_error_code(storage_errc::log_closed);
  std::error_code probe;
  const auto give_up = std::chrono::steady_clock::now() + deadline;
  while (probe != closed && std::chrono::steady_clock::now() < give_up) {
    flusher.flush_through(log, -1, [&](std::error_code ec) { probe = ec; });
    std::this_thread::yield();
  }
  EXPECT_EQ(probe, closed);
  EXPECT_EQ(done.count(), 0u);  // all 11 still queued behind the held fsync

  gate->release();
  stopper.join();
  // stop() returned only after finishing what was queued before it.
  EXPECT_EQ(done.count(), 11u);
  EXPECT_TRUE(done.errors().empty());
  EXPECT_GT(log->recovery_point(), last);

  std::error_code later;
  bool called = false;
  flusher.flush_through(log, last + 1, [&](std::error_code ec) {
    called = true;
    later = ec;
  });
  EXPECT_TRUE(called);
  EXPECT_EQ(later, closed);
  flusher.stop();  // again: harmless
}

TEST_F(GroupCommitFlusherTest, ThrowingCompletionDoesNotStopTheFlusher) {
  auto log = open_log();
  ASSERT_TRUE(log);
  completions done;  // counts only the completions that do not throw
  std::atomic<bool> threw{false};
  group_commit_flusher flusher({.threads = 1, .enabled = true});  // one thread: if it died, nothing would complete

  const auto first = append_record(*log);
  flusher.flush_through(log, first, [&](std::error_code) {
    threw = true;
    throw std::runtime_error("handler bug");
  });
  const auto second = append_record(*log);
  flusher.flush_through(log, second, done.make());
  ASSERT_TRUE(done.wait_for(1)) << "the flusher stopped after a completion threw";
  EXPECT_TRUE(threw.load());  // completions of one partition run in request order

  const auto third = append_record(*log);
  flusher.flush_through(log, third, done.make());
  ASSERT_TRUE(done.wait_for(2));
  EXPECT_TRUE(done.errors().empty());
}

TEST_F(GroupCommitFlusherTest, PartitionsFlushInParallel) {
  auto gate = std::make_shared<sync_gate>(log_dir("slow"));
  auto slow = open_log(gate, "slow");
  auto fast = open_log(gate, "fast");
  ASSERT_TRUE(slow && fast);
  completions slow_done;
  completions fast_done;
  group_commit_flusher flusher({.threads = 2, .enabled = true});
  release_on_exit release{*gate};

  gate->arm();
  flusher.flush_through(slow, append_record(*slow), slow_done.make());
  ASSERT_TRUE(gate->wait_until_holding());
  // One partition stuck in fsync does not hold up another while a thread is free.
  flusher.flush_through(fast, append_record(*fast), fast_done.make());
  ASSERT_TRUE(fast_done.wait_for(1)) << "a partition waited for another partition's fsync";
  EXPECT_EQ(slow_done.count(), 0u);

  gate->release();
  ASSERT_TRUE(slow_done.wait_for(1));
  EXPECT_TRUE(slow_done.errors().empty());
  EXPECT_TRUE(fast_done.errors().empty());
}

TEST_F(GroupCommitFlusherTest, OffsetTheFlushDidNotCoverIsNotAcknowledged) {
  auto log = open_log();
  ASSERT_TRUE(log);
  completions done;
  group_commit_flusher flusher({.threads = 1, .enabled = true});
  // Beyond the log end, as an offset truncated away before its flush would be: success would be a false promise.
  const auto last = append_record(*log);
  flusher.flush_through(log, last + 100, done.make());
  ASSERT_TRUE(done.wait_for(1));
  ASSERT_EQ(done.errors().size(), 1u);
  EXPECT_EQ(done.errors()[0], make_error_code(storage_errc::invalid_offset));
  EXPECT_GT(log->recovery_point(), last);  // the records that exist were still flushed
}

TEST_F(GroupCommitFlusherTest, ZeroThreadsMeansOne) {
  auto log = open_log();
  ASSERT_TRUE(log);
  completions done;
  group_commit_flusher flusher({.threads = 0, .enabled = true});
  flusher.flush_through(log, append_record(*log), done.make());
  ASSERT_TRUE(done.wait_for(1));
  EXPECT_TRUE(done.errors().empty());
}

}  // namespace
}  // namespace vltava::storage
