// The coordinator's real clock: one thread, one io_context, one steady_timer per scheduled callback.
#include <chrono>

#include <spdlog/spdlog.h>

#include "vltava/broker/group/group_timers.h"

namespace vltava::broker::group {

asio_group_timers::asio_group_timers() : work_(boost::asio::make_work_guard(io_)) {
  thread_ = std::thread([this] {
    try {
      io_.run();
    } catch (const std::exception& e) {
      spdlog::error("group coordinator timer thread stopped: {}", e.what());
    }
  });
}

asio_group_timers::~asio_group_timers() { stop(); }

void asio_group_timers::stop() {
  {
    std::lock_guard lock(mutex_);
    for (auto& [id, timer] : timers_) timer->cancel();
    timers_.clear();
  }
  work_.reset();
  io_.stop();
  if (thread_.joinable()) thread_.join();
}

std::int64_t asio_group_timers::now_ms() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

group_timers::timer_id asio_group_timers::schedule(std::int64_t delay_ms, std::function<void()> fire) {
  auto timer =
      std::make_shared<boost::asio::steady_timer>(io_, std::chrono::milliseconds(std::max<std::int64_t>(delay_ms, 0)));
  timer_id id = 0;
  {
    std::lock_guard lock(mutex_);
    id = next_id_++;
    timers_.emplace(id, timer);
  }
  timer->async_wait([this, id, timer, fire = std::move(fire)](const boost::system::error_code& ec) {
    {
      std::lock_guard lock(mutex_);
      timers_.erase(id);
    }
    if (ec) return;  // cancelled
    try {
      fire();
    } catch (const std::exception& e) {
      spdlog::error("group coordinator timer callback failed: {}", e.what());
    }
  });
  return id;
}

void asio_group_timers::cancel(timer_id id) {
  std::lock_guard lock(mutex_);
  if (auto it = timers_.find(id); it != timers_.end()) {
    it->second->cancel();
    timers_.erase(it);
  }
}

}  // namespace vltava::broker::group
