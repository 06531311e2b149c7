// periodic_task: housekeeping off the I/O threads. It repeats, survives a failing run, and stops at once.
#include "vltava/broker/periodic_task.h"

#include <atomic>
#include <chrono>
#include <future>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>

namespace vltava::broker {
namespace {

using namespace std::chrono_literals;

// Polls `condition` until it holds or `deadline` passes.
template <class Condition>
bool eventually(Condition condition, std::chrono::milliseconds deadline = 10s) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::yield();
  }
  return true;
}

TEST(PeriodicTaskTest, RunsTheWorkRepeatedly) {
  std::atomic<int> calls{0};
  periodic_task task("test", 1ms, [&] { ++calls; });
  EXPECT_TRUE(eventually([&] { return calls.load() >= 3; }));
  task.stop();
  const int after_stop = calls.load();
  EXPECT_EQ(task.runs(), static_cast<std::uint64_t>(after_stop));
  std::this_thread::yield();
  EXPECT_EQ(calls.load(), after_stop) << "work ran after stop()";
}

TEST(PeriodicTaskTest, AFailingRunDoesNotEndTheTask) {
  std::atomic<int> calls{0};
  periodic_task task("test", 1ms, [&] {
    if (++calls == 1) throw std::runtime_error("disk on fire");
  });
  EXPECT_TRUE(eventually([&] { return calls.load() >= 3; }));
}

TEST(PeriodicTaskTest, StopDoesNotWaitOutTheInterval) {
  std::atomic<int> calls{0};
  auto stopped = std::async(std::launch::async, [&] {
    periodic_task task("test", std::chrono::hours(1), [&] { ++calls; });
    task.stop();
  });
  ASSERT_EQ(stopped.wait_for(30s), std::future_status::ready) << "stop() waited for the hour-long interval";
  EXPECT_EQ(calls.load(), 0) << "the first run comes one interval after the start";
}

}  // namespace
}  // namespace vltava::broker
