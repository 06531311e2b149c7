// All partition logs of a broker across its log.dirs: loads and recovers them at startup, creates and deletes
// them, and runs the background work (periodic flush, retention, checkpoints, compaction).
//
// Per log directory it keeps Kafka's bookkeeping files: recovery-point-offset-checkpoint, log-start-offset-
// checkpoint, cleaner-offset-checkpoint, and the .kafka_cleanshutdown marker, written by shutdown() after
// everything is flushed and removed at startup, so that only a clean stop skips recovery.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#include "vltava/storage/group_commit_flusher.h"
#include "vltava/storage/log_cleaner.h"
#include "vltava/storage/log_config.h"
#include "vltava/storage/offset_checkpoint.h"
#include "vltava/storage/partition_log.h"
#include "vltava/storage/storage_context.h"

namespace vltava::storage {

inline constexpr const char* clean_shutdown_marker = ".kafka_cleanshutdown";

struct log_manager_config {
  std::vector<std::filesystem::path> log_dirs;         // log.dirs
  log_config defaults;                                 // log.* defaults for topics without overrides
  std::int64_t flush_scheduler_interval_ms = 1000;     // log.flush.scheduler.interval.ms: checks flush.ms/messages
  std::int64_t retention_check_interval_ms = 300'000;  // log.retention.check.interval.ms
  std::int64_t flush_offset_checkpoint_interval_ms = 60'000;  // log.flush.offset.checkpoint.interval.ms
  bool cleaner_enable = true;                                 // log.cleaner.enable
  std::int64_t cleaner_backoff_ms = 15'000;                   // log.cleaner.backoff.ms
  group_commit_flusher::options durability;                   // acks=all fsync (log.flush.on.acks.all) and its threads
};

// What startup found, for logging.
struct log_manager_startup {
  std::int32_t logs_loaded = 0;
  std::int32_t logs_recovered = 0;                                       // not covered by a clean-shutdown marker
  std::vector<std::pair<topic_partition, log_recovery_report>> repairs;  // logs where recovery changed something
};

class log_manager {
 public:
  // Opens every log in every directory (creating the directories), recovering those without a clean shutdown.
  [[nodiscard]] static std::error_code open(log_manager_config config, storage_context context,
                                            std::unique_ptr<log_manager>& out, log_manager_startup& startup);
  ~log_manager();  // shutdown() if not done

  std::shared_ptr<partition_log> get(const topic_partition& tp) const;
  // Creates the log in the directory holding the fewest logs; already_exists if present.
  [[nodiscard]] std::error_code create(const topic_partition& tp, const log_config& config,
                                       std::shared_ptr<partition_log>& out);
  // Closes and deletes the log; not_found if absent.
  [[nodiscard]] std::error_code remove(const topic_partition& tp);
  std::vector<topic_partition> partitions() const;

  group_commit_flusher& flusher() noexcept { return flusher_; }

  // Starts the background threads (flush scheduler, retention, checkpoints, cleaner).
  void start_background_work();
  // One round of each background task, for tests and for callers that run their own timers.
  void run_flush_check();
  void run_retention_check();
  void run_cleaner_pass();
  [[nodiscard]] std::error_code write_checkpoints();

  // Stops background work, flushes and closes every log, writes the checkpoints and the clean-shutdown markers.
  [[nodiscard]] std::error_code shutdown();

 private:
  log_manager(log_manager_config config, storage_context context);
  [[nodiscard]] std::error_code load(log_manager_startup& startup);
  void background_loop();
  void cleaner_loop();
  std::vector<std::shared_ptr<partition_log>> snapshot() const;
  // Closes every log, on up to shutdown_close_threads threads; a log that fails to close marks its directory unclean.
  static void close_all(const std::vector<std::shared_ptr<partition_log>>& logs,
                        std::map<std::filesystem::path, bool>& dir_clean);
  static constexpr std::size_t shutdown_close_threads = 8;

  log_manager_config config_;
  storage_context context_;
  group_commit_flusher flusher_;
  log_cleaner cleaner_;

  mutable std::mutex mutex_;  // the map of logs only; never held during I/O on a log
  std::map<topic_partition, std::shared_ptr<partition_log>> logs_;
  std::map<topic_partition, std::int64_t> cleaner_checkpoints_;  // guarded by mutex_

  std::mutex background_mutex_;
  std::condition_variable background_wake_;
  bool stopping_ = false;
  bool shut_down_ = false;
  std::thread background_;
  std::thread cleaner_thread_;
  // One open, flock()ed <log.dir>/.lock per directory from open() to shutdown(): a second broker (or log_manager)
  // on the same directory is refused instead of corrupting it, as Kafka does with the same file name.
  std::vector<int> directory_locks_;
};

}  // namespace vltava::storage
