// Group commit for acks=all: a produce is acknowledged only once its records are fsynced, and every append waiting
// when a flush starts shares that one fsync. Flushes run on the flusher's own threads, never the caller's, so an
// I/O thread only enqueues and later receives a callback.
//
//   flusher.flush_through(log, result.last_offset, [](std::error_code ec) { /* answer the produce */ });
//
// Partitions are flushed in parallel (up to the thread count), each by one thread at a time. Requests for a
// partition that arrive while it is being flushed wait for the next round, which then covers all of them.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#include "vltava/storage/partition_log.h"

namespace vltava::storage {

class group_commit_flusher {
 public:
  using completion = std::function<void(std::error_code)>;

  struct options {
    std::size_t threads = 2;
    // Off: completions run at once with success, and durability rests on the periodic flush (the
    // log.flush.on.acks.all=false trade of safety for speed, documented in docs/durability.md).
    bool enabled = true;
  };

  explicit group_commit_flusher(options opts);
  ~group_commit_flusher();  // stop()
  group_commit_flusher(const group_commit_flusher&) = delete;
  group_commit_flusher& operator=(const group_commit_flusher&) = delete;

  // Calls done exactly once, on a flusher thread (or inline when nothing needs doing), when log is durable through
  // last_offset, or with the flush's error. After stop(), done gets storage_errc::log_closed.
  void flush_through(std::shared_ptr<partition_log> log, std::int64_t last_offset, completion done);

  // Finishes the flushes already requested, then joins the threads.
  void stop();

  // For tests and benchmarks: fsyncs performed so far (one per partition per round).
  std::uint64_t flushes_performed() const;

 private:
  struct waiter {
    std::int64_t last_offset;
    completion done;
  };
  struct pending_partition {
    std::shared_ptr<partition_log> log;
    std::vector<waiter> waiters;
    bool in_flight = false;  // a thread is flushing it; new waiters queue for the next round
  };

  void run();

  options options_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::map<const partition_log*, pending_partition> pending_;
  std::vector<const partition_log*> ready_;  // partitions with waiters and no flush in flight, in arrival order
  std::uint64_t flushes_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace vltava::storage
