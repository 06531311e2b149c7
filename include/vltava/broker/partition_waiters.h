// Wake-ups for fetches long-polling a partition: a fetch registers a callback before it checks for data, and every
// append to the partition calls them all, so a fetch answers as soon as min_bytes arrive instead of at max_wait_ms.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>

namespace vltava::broker {

class partition_waiters {
 public:
  using token = std::uint64_t;

  token add(std::function<void()> wake) {
    std::lock_guard lock(mutex_);
    const token id = next_++;
    waiters_.emplace(id, std::move(wake));
    return id;
  }
  void remove(token id) {
    std::lock_guard lock(mutex_);
    waiters_.erase(id);
  }
  // Calls every registered callback (which must only post work, never block).
  void notify_all() {
    std::map<token, std::function<void()>> current;
    {
      std::lock_guard lock(mutex_);
      if (waiters_.empty()) return;
      current = waiters_;
    }
    for (auto& [id, wake] : current) wake();
  }

 private:
  std::mutex mutex_;
  token next_ = 1;
  std::map<token, std::function<void()>> waiters_;
};

}  // namespace vltava::broker
