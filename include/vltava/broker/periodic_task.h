// A background thread that runs one piece of housekeeping at a fixed interval (producer-state snapshots, expiry),
// so that the work never runs on an I/O thread. stop() (or the destructor) wakes the thread and joins it at once,
// without waiting out the interval.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace vltava::broker {

class periodic_task {
 public:
  // Runs `work` every `interval` (first run one interval after construction) until stopped. Exceptions escaping
  // `work` are logged with `name` and do not end the task.
  periodic_task(std::string name, std::chrono::milliseconds interval, std::function<void()> work);
  ~periodic_task();
  periodic_task(const periodic_task&) = delete;
  periodic_task& operator=(const periodic_task&) = delete;

  void stop();
  // How many times the work has completed (for tests and logs).
  std::uint64_t runs() const;

 private:
  void run();

  const std::string name_;
  const std::chrono::milliseconds interval_;
  const std::function<void()> work_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::uint64_t runs_ = 0;
  std::thread thread_;
};

}  // namespace vltava::broker
