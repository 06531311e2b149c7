// Group commit for acks=all produces: per-partition queues of waiters, drained by a small pool of flusher threads
// so that every waiter queued when a flush starts shares its one fsync round.
#include "vltava/storage/group_commit_flusher.h"

#include <algorithm>
#include <exception>
#include <utility>

#include <spdlog/spdlog.h>

#include "vltava/storage/storage_error.h"

namespace vltava::storage {
namespace {

// A completion belongs to the caller (typically it queues a produce response). Whatever it throws must not take
// down a flusher thread, or every later acks=all produce would hang.
void complete(const group_commit_flusher::completion& done, std::error_code error, const partition_log& log) {
  try {
    done(error);
  } catch (const std::exception& e) {
    spdlog::error("group commit: completion for {} threw: {}", log.id().directory_name(), e.what());
  } catch (...) {
    spdlog::error("group commit: completion for {} threw a non-standard exception", log.id().directory_name());
  }
}

}  // namespace

group_commit_flusher::group_commit_flusher(options opts) : options_(opts) {
  const std::size_t count = std::max<std::size_t>(options_.threads, 1);
  threads_.reserve(count);
  try {
    for (std::size_t i = 0; i < count; ++i) threads_.emplace_back([this] { run(); });
  } catch (...) {
    // The destructor does not run for a half-built object; joinable threads left behind would terminate().
    stop();
    throw;
  }
}

group_commit_flusher::~group_commit_flusher() { stop(); }

void group_commit_flusher::flush_through(std::shared_ptr<partition_log> log, std::int64_t last_offset,
                                         completion done) {
  // Completions never run under our mutex: they may call back into the flusher.
  const auto closed = make_error_code(storage_errc::log_closed);
  {
    std::unique_lock lock(mutex_);
    if (stopping_) {
      lock.unlock();
      done(closed);
      return;
    }
  }
  if (!options_.enabled) {
    done({});
    return;
  }
  if (!log) {
    done(make_error_code(storage_errc::invalid_argument));
    return;
  }
  // Already durable (a flush that began after this append has finished): nothing to wait for. Asked outside our
  // mutex so that the log's lock is never taken while holding it.
  if (log->recovery_point() > last_offset) {
    done({});
    return;
  }
  std::unique_lock lock(mutex_);
  if (stopping_) {  // stop() began since the first check
    lock.unlock();
    done(closed);
    return;
  }
  const partition_log* key = log.get();
  auto& entry = pending_[key];
  if (!entry.log) entry.log = std::move(log);
  entry.waiters.push_back(waiter{last_offset, std::move(done)});
  // A partition with waiters is either in ready_ or in flight (its flusher requeues it when the round ends), so it
  // needs queueing only when nobody is flushing it and it is not queued yet.
  if (!entry.in_flight && std::find(ready_.begin(), ready_.end(), key) == ready_.end()) {
    ready_.push_back(key);
    wake_.notify_one();
  }
}

void group_commit_flusher::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !ready_.empty(); });
    // When stopping, keep going until everything already queued is done; a partition still in flight elsewhere is
    // requeued (and then drained) by the thread flushing it, which loops back here before it can exit.
    if (ready_.empty()) return;

    const partition_log* key = ready_.front();
    ready_.erase(ready_.begin());
    auto& entry = pending_.at(key);  // std::map: stays valid while other entries come and go
    entry.in_flight = true;
    std::vector<waiter> round = std::move(entry.waiters);
    entry.waiters.clear();
    std::shared_ptr<partition_log> log = entry.log;
    lock.unlock();

    // Every waiter in this round appended before enqueueing, so before this flush began; one flush makes all of
    // them durable (the recovery point it leaves covers every append made before it started).
    std::error_code error;
    try {
      error = log->flush();
    } catch (const std::exception& e) {
      spdlog::error("group commit: flush of {} threw: {}", log->id().directory_name(), e.what());
      error = make_error_code(storage_errc::io_error);
    }
    if (error) {
      spdlog::error("group commit: flush of {} failed: {}; failing {} waiting produce(s)", log->id().directory_name(),
                    error.message(), round.size());
    }
    lock.lock();
    ++flushes_;
    lock.unlock();

    // Completed before the partition leaves in_flight, so a partition's completions run in the order its
    // requests arrived and never concurrently.
    // A success must mean durable. An offset the flush did not cover was truncated away meanwhile (a replica
    // diverging from its leader) or never appended; acknowledging it would promise records the log does not hold.
    const std::int64_t durable_below = error ? 0 : log->recovery_point();
    for (auto& w : round) {
      if (!error && durable_below <= w.last_offset) {
        spdlog::warn("group commit: {} offset {} not durable after flush (recovery point {})",
                     log->id().directory_name(), w.last_offset, durable_below);
        complete(w.done, make_error_code(storage_errc::invalid_offset), *log);
      } else {
        complete(w.done, error, *log);
      }
    }
    round.clear();  // release the callbacks (and what they captured) before taking the lock again

    lock.lock();
    auto& current = pending_.at(key);
    current.in_flight = false;
    if (current.waiters.empty()) {
      pending_.erase(key);
    } else {
      ready_.push_back(key);
      wake_.notify_one();
    }
  }
}

void group_commit_flusher::stop() {
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    // A later stop() (the destructor's) finds nothing left to join. Not for use from a completion: a flusher
    // thread cannot join itself.
    threads.swap(threads_);
  }
  wake_.notify_all();
  for (auto& t : threads) {
    if (t.joinable()) t.join();
  }
}

std::uint64_t group_commit_flusher::flushes_performed() const {
  std::lock_guard lock(mutex_);
  return flushes_;
}

}  // namespace vltava::storage
