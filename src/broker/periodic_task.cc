#include "vltava/broker/periodic_task.h"

#include <exception>

#include <spdlog/spdlog.h>

namespace vltava::broker {

periodic_task::periodic_task(std::string name, std::chrono::milliseconds interval, std::function<void()> work)
    : name_(std::move(name)), interval_(interval), work_(std::move(work)) {
  thread_ = std::thread([this] { run(); });
}

periodic_task::~periodic_task() { stop(); }

void periodic_task::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::uint64_t periodic_task::runs() const {
  std::lock_guard lock(mutex_);
  return runs_;
}

void periodic_task::run() {
  std::unique_lock lock(mutex_);
  auto next = std::chrono::steady_clock::now() + interval_;
  while (!wake_.wait_until(lock, next, [this] { return stopping_; })) {
    lock.unlock();
    try {
      work_();
    } catch (const std::exception& e) {
      spdlog::error("{}: {}", name_, e.what());
    }
    lock.lock();
    ++runs_;
    next = std::chrono::steady_clock::now() + interval_;
  }
}

}  // namespace vltava::broker
