// Time and one-shot timers for the group coordinator. Injected, so unit tests drive session timeouts, rebalance
// timeouts and the offset retention check with a fake clock, deterministically, without sleeping.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

namespace vltava::broker::group {

class group_timers {
 public:
  using timer_id = std::uint64_t;  // 0 is never a timer
  virtual ~group_timers() = default;

  // Wall-clock milliseconds since the epoch: commit timestamps and offset expiry are in this time.
  virtual std::int64_t now_ms() const = 0;
  // Calls `fire` once, delay_ms from now. Never inline: always later, from the timers' own thread (or, in tests,
  // from the fake clock's advance()), so the caller may hold a lock while scheduling.
  virtual timer_id schedule(std::int64_t delay_ms, std::function<void()> fire) = 0;
  // Best effort: a timer that already fired (or is firing) is not stopped, so callbacks check that they are still
  // wanted (the coordinator compares the id it stored with the one firing).
  virtual void cancel(timer_id id) = 0;
};

// The real timers: steady_timer on a private io_context run by one thread, so the coordinator's timers neither
// depend on the network server's lifetime nor wait behind its requests.
class asio_group_timers final : public group_timers {
 public:
  asio_group_timers();
  ~asio_group_timers() override;  // stop()
  // Cancels every timer and joins the thread (a callback running finishes first); later schedules never fire.
  // Idempotent. Call it before destroying what the callbacks use.
  void stop();

  std::int64_t now_ms() const override;
  timer_id schedule(std::int64_t delay_ms, std::function<void()> fire) override;
  void cancel(timer_id id) override;

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::mutex mutex_;
  timer_id next_id_ = 1;
  std::map<timer_id, std::shared_ptr<boost::asio::steady_timer>> timers_;
  std::thread thread_;
};

}  // namespace vltava::broker::group
