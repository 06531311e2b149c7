// Loading, creating and deleting partition logs across log.dirs, the per-directory checkpoint files and
// clean-shutdown marker, and the background threads for flushing, retention, checkpoints and compaction.
#include "vltava/storage/log_manager.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <system_error>
#include <thread>

#include <spdlog/spdlog.h>

#include "vltava/storage/storage_error.h"

namespace vltava::storage {
namespace {

constexpr const char* recovery_point_checkpoint = "recovery-point-offset-checkpoint";
constexpr const char* log_start_checkpoint = "log-start-offset-checkpoint";
constexpr const char* cleaner_checkpoint = "cleaner-offset-checkpoint";

offset_map read_checkpoint_or_empty(const std::filesystem::path& path, bool& trustworthy) {
  offset_map offsets;
  if (auto ec = read_offset_checkpoint(path, offsets)) {
    spdlog::warn("storage: ignoring unreadable checkpoint {}: {}", path.string(), ec.message());
    trustworthy = false;
    offsets.clear();
  }
  return offsets;
}

std::int64_t lookup(const offset_map& offsets, const topic_partition& tp, std::int64_t fallback) {
  auto it = offsets.find(tp);
  return it == offsets.end() ? fallback : it->second;
}

std::error_code write_marker(const std::filesystem::path& dir) {
  const auto path = dir / clean_shutdown_marker;
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return from_errno(errno);
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced) return make_error_code(storage_errc::io_error);
  return sync_directory(dir);
}

}  // namespace

log_manager::log_manager(log_manager_config config, storage_context context)
    : config_(std::move(config)), context_(std::move(context)), flusher_(config_.durability) {}

log_manager::~log_manager() {
  if (!shut_down_) (void)shutdown();
  for (const int fd : directory_locks_) ::close(fd);  // a manager that failed to open was never shut down
}

std::error_code log_manager::open(log_manager_config config, storage_context context, std::unique_ptr<log_manager>& out,
                                  log_manager_startup& startup) {
  startup = {};
  if (config.log_dirs.empty()) return make_error_code(storage_errc::invalid_argument);
  // One spelling per directory ("/data/a/" and "/data/./a" are "/data/a"): logs are matched to their directory by
  // their path's parent, which has none of those variations.
  for (auto& dir : config.log_dirs) {
    dir = std::filesystem::absolute(dir).lexically_normal();
    if (!dir.has_filename()) dir = dir.parent_path();
  }
  std::sort(config.log_dirs.begin(), config.log_dirs.end());
  if (std::adjacent_find(config.log_dirs.begin(), config.log_dirs.end()) != config.log_dirs.end()) {
    spdlog::error("storage: log.dirs names the same directory twice");
    return make_error_code(storage_errc::invalid_argument);
  }
  if (const auto problem = config.defaults.validate(); !problem.empty()) {
    spdlog::error("storage: {}", problem);
    return make_error_code(storage_errc::invalid_argument);
  }
  std::unique_ptr<log_manager> manager(new log_manager(std::move(config), std::move(context)));
  if (auto ec = manager->load(startup)) {
    manager->shut_down_ = true;  // nothing to flush or mark: the logs were never all open
    return ec;
  }
  out = std::move(manager);
  return {};
}

std::error_code log_manager::load(log_manager_startup& startup) {
  for (const auto& dir : config_.log_dirs) {
    std::error_code fs_error;
    std::filesystem::create_directories(dir, fs_error);
    if (fs_error) {
      spdlog::error("storage: cannot create log directory {}: {}", dir.string(), fs_error.message());
      return from_errno(fs_error.value());
    }
    const int lock = ::open((dir / ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock < 0) {
      const int error_number = errno;
      spdlog::error("storage: cannot open {}: {}", (dir / ".lock").string(), std::strerror(error_number));
      return from_errno(error_number);
    }
    if (::flock(lock, LOCK_EX | LOCK_NB) != 0) {
      ::close(lock);
      spdlog::error("storage: log directory {} is in use by another process (its .lock is held)", dir.string());
      return make_error_code(storage_errc::directory_in_use);
    }
    directory_locks_.push_back(lock);
    // A directory without partition directories (new, or only meta.properties) has nothing to recover: its first
    // start is not an unclean one.
    bool has_logs = false;
    for (const auto& entry : std::filesystem::directory_iterator(dir, fs_error)) has_logs |= entry.is_directory();
    bool clean = !has_logs || std::filesystem::exists(dir / clean_shutdown_marker);
    const auto recovery_points = read_checkpoint_or_empty(dir / recovery_point_checkpoint, clean);
    const auto start_offsets = read_checkpoint_or_empty(dir / log_start_checkpoint, clean);
    bool cleaner_ok = true;
    const auto cleaner_offsets = read_checkpoint_or_empty(dir / cleaner_checkpoint, cleaner_ok);
    // From now until the next clean shutdown, a stop is a crash.
    std::filesystem::remove(dir / clean_shutdown_marker, fs_error);
    if (auto ec = sync_directory(dir)) return ec;

    for (const auto& entry : std::filesystem::directory_iterator(dir, fs_error)) {
      if (!entry.is_directory()) continue;
      const std::string name = entry.path().filename().string();
      if (name.ends_with("-delete")) {  // a deletion that did not finish
        std::filesystem::remove_all(entry.path(), fs_error);
        continue;
      }
      topic_partition tp;
      if (topic_partition::parse_directory_name(name, tp)) {
        spdlog::warn("storage: ignoring {}: not a <topic>-<partition> directory", entry.path().string());
        continue;
      }
      if (logs_.contains(tp)) {
        spdlog::error("storage: {} exists in two log directories ({} and {})", name,
                      logs_[tp]->directory().parent_path().string(), dir.string());
        return make_error_code(storage_errc::already_exists);
      }
      partition_log::open_options options;
      options.clean_shutdown = clean;
      options.recovery_point = lookup(recovery_points, tp, 0);
      options.log_start_offset = lookup(start_offsets, tp, 0);
      std::shared_ptr<partition_log> log;
      log_recovery_report report;
      if (auto ec = partition_log::open(entry.path(), tp, config_.defaults, context_, options, log, report)) {
        spdlog::error("storage: cannot load {}: {}", entry.path().string(), ec.message());
        return ec;
      }
      ++startup.logs_loaded;
      if (!clean) ++startup.logs_recovered;
      if (!report.notes.empty()) startup.repairs.emplace_back(tp, report);
      cleaner_checkpoints_[tp] = lookup(cleaner_offsets, tp, 0);
      logs_.emplace(std::move(tp), std::move(log));
    }
    if (fs_error) return from_errno(fs_error.value());
    spdlog::info("storage: loaded log directory {} ({} shutdown)", dir.string(), clean ? "clean" : "unclean");
  }
  return {};
}

std::shared_ptr<partition_log> log_manager::get(const topic_partition& tp) const {
  std::lock_guard lock(mutex_);
  auto it = logs_.find(tp);
  return it == logs_.end() ? nullptr : it->second;
}

std::vector<topic_partition> log_manager::partitions() const {
  std::lock_guard lock(mutex_);
  std::vector<topic_partition> out;
  out.reserve(logs_.size());
  for (const auto& [tp, log] : logs_) out.push_back(tp);
  return out;
}

std::vector<std::shared_ptr<partition_log>> log_manager::snapshot() const {
  std::lock_guard lock(mutex_);
  std::vector<std::shared_ptr<partition_log>> out;
  out.reserve(logs_.size());
  for (const auto& [tp, log] : logs_) out.push_back(log);
  return out;
}

std::error_code log_manager::create(const topic_partition& tp, const log_config& config,
                                    std::shared_ptr<partition_log>& out) {
  if (const auto problem = config.validate(); !problem.empty()) {
    spdlog::error("storage: cannot create {}: {}", tp.directory_name(), problem);
    return make_error_code(storage_errc::invalid_argument);
  }
  if (tp.topic.empty() || tp.partition < 0 || tp.topic == "." || tp.topic == ".." ||
      tp.topic.find('/') != std::string::npos) {
    return make_error_code(storage_errc::invalid_argument);
  }
  std::lock_guard lock(mutex_);
  if (logs_.contains(tp)) return make_error_code(storage_errc::already_exists);
  // Spread logs over the directories as Kafka does: the one holding the fewest. Counting walks every log, so only
  // when there is a choice: with one directory, creating ten thousand partitions would otherwise be quadratic.
  auto dir = config_.log_dirs.begin();
  if (config_.log_dirs.size() > 1) {
    std::map<std::filesystem::path, std::size_t> counts;
    for (const auto& d : config_.log_dirs) counts[d] = 0;
    for (const auto& [existing, log] : logs_) ++counts[log->directory().parent_path()];
    dir = std::min_element(config_.log_dirs.begin(), config_.log_dirs.end(),
                           [&](const auto& a, const auto& b) { return counts[a] < counts[b]; });
  }
  partition_log::open_options options;
  options.clean_shutdown = true;  // a new directory has nothing to recover
  log_recovery_report report;
  std::shared_ptr<partition_log> log;
  if (auto ec = partition_log::open(*dir / tp.directory_name(), tp, config, context_, options, log, report)) return ec;
  if (auto ec = sync_directory(*dir)) return ec;
  logs_.emplace(tp, log);
  cleaner_checkpoints_[tp] = 0;
  spdlog::info("storage: created log {} in {}", tp.directory_name(), dir->string());
  out = std::move(log);
  return {};
}

std::error_code log_manager::remove(const topic_partition& tp) {
  std::shared_ptr<partition_log> log;
  {
    std::lock_guard lock(mutex_);
    auto it = logs_.find(tp);
    if (it == logs_.end()) return make_error_code(storage_errc::not_found);
    log = std::move(it->second);
    logs_.erase(it);
    cleaner_checkpoints_.erase(tp);
  }
  // Renamed first so that a crash half way through the deletion is finished at the next start, not resurrected.
  const auto doomed = log->directory().parent_path() / (tp.directory_name() + ".removing-delete");
  (void)log->close();
  std::error_code fs_error;
  std::filesystem::rename(log->directory(), doomed, fs_error);
  if (fs_error) return from_errno(fs_error.value());
  std::filesystem::remove_all(doomed, fs_error);
  spdlog::info("storage: deleted log {}", tp.directory_name());
  return fs_error ? from_errno(fs_error.value()) : std::error_code();
}

void log_manager::run_flush_check() {
  const auto now = context_.time->now_ms();
  for (const auto& log : snapshot()) {
    const auto config = log->config();
    const auto first = log->first_unflushed_append_ms();
    const bool by_count = log->unflushed_messages() >= config.flush_messages;
    const bool by_age = first >= 0 && config.flush_ms != no_limit && now - first >= config.flush_ms;
    if (by_count || by_age) {
      if (auto ec = log->flush()) {
        spdlog::error("storage: periodic flush of {} failed: {}", log->id().directory_name(), ec.message());
      }
    }
  }
}

void log_manager::run_retention_check() {
  for (const auto& log : snapshot()) {
    std::int32_t deleted = 0;
    if (auto ec = log->apply_retention(deleted)) {
      spdlog::error("storage: retention of {} failed: {}", log->id().directory_name(), ec.message());
    } else if (deleted > 0) {
      spdlog::info("storage: retention deleted {} segments of {}; log start offset now {}", deleted,
                   log->id().directory_name(), log->log_start_offset());
    }
  }
}

void log_manager::run_cleaner_pass() {
  for (const auto& log : snapshot()) {
    if (!log->config().cleanup.compact) continue;
    std::int64_t checkpoint = 0;
    {
      std::lock_guard lock(mutex_);
      auto it = cleaner_checkpoints_.find(log->id());
      if (it == cleaner_checkpoints_.end()) continue;  // removed meanwhile
      checkpoint = it->second;
    }
    cleaning_stats stats;
    if (auto ec = cleaner_.clean(*log, checkpoint, stats)) {
      spdlog::error("storage: compaction of {} failed: {}", log->id().directory_name(), ec.message());
      continue;
    }
    if (stats.cleaned) {
      std::lock_guard lock(mutex_);
      if (auto it = cleaner_checkpoints_.find(log->id()); it != cleaner_checkpoints_.end()) {
        it->second = stats.cleaned_up_to;
      }
    }
  }
}

std::error_code log_manager::write_checkpoints() {
  std::map<std::filesystem::path, offset_map> recovery_points, start_offsets, cleaner_offsets;
  for (const auto& dir : config_.log_dirs) {
    recovery_points[dir];
    start_offsets[dir];
    cleaner_offsets[dir];
  }
  std::map<topic_partition, std::int64_t> cleaner;
  {
    std::lock_guard lock(mutex_);
    cleaner = cleaner_checkpoints_;
  }
  for (const auto& log : snapshot()) {
    const auto dir = log->directory().parent_path();
    recovery_points[dir][log->id()] = log->recovery_point();
    start_offsets[dir][log->id()] = log->log_start_offset();
    if (auto it = cleaner.find(log->id()); it != cleaner.end() && it->second > 0) {
      cleaner_offsets[dir][log->id()] = it->second;
    }
  }
  std::error_code first_error;
  for (const auto& dir : config_.log_dirs) {
    for (auto [name, offsets] :
         {std::pair{recovery_point_checkpoint, &recovery_points[dir]},
          std::pair{log_start_checkpoint, &start_offsets[dir]}, std::pair{cleaner_checkpoint, &cleaner_offsets[dir]}}) {
      if (auto ec = write_offset_checkpoint(dir / name, *offsets); ec && !first_error) first_error = ec;
    }
  }
  return first_error;
}

void log_manager::start_background_work() {
  std::lock_guard lock(background_mutex_);
  if (background_.joinable() || stopping_) return;
  background_ = std::thread([this] { background_loop(); });
  if (config_.cleaner_enable) cleaner_thread_ = std::thread([this] { cleaner_loop(); });
}

void log_manager::background_loop() {
  using clock_type = std::chrono::steady_clock;
  auto every = [](std::int64_t ms) { return std::chrono::milliseconds(std::max<std::int64_t>(ms, 1)); };
  auto next_flush = clock_type::now() + every(config_.flush_scheduler_interval_ms);
  auto next_retention = clock_type::now() + every(config_.retention_check_interval_ms);
  auto next_checkpoint = clock_type::now() + every(config_.flush_offset_checkpoint_interval_ms);
  std::unique_lock lock(background_mutex_);
  while (!stopping_) {
    const auto wake = std::min({next_flush, next_retention, next_checkpoint});
    background_wake_.wait_until(lock, wake, [this] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    const auto now = clock_type::now();
    if (now >= next_flush) {
      run_flush_check();
      next_flush = now + every(config_.flush_scheduler_interval_ms);
    }
    if (now >= next_retention) {
      run_retention_check();
      next_retention = now + every(config_.retention_check_interval_ms);
    }
    if (now >= next_checkpoint) {
      if (auto ec = write_checkpoints()) spdlog::error("storage: writing checkpoints failed: {}", ec.message());
      next_checkpoint = now + every(config_.flush_offset_checkpoint_interval_ms);
    }
    lock.lock();
  }
}

void log_manager::cleaner_loop() {
  std::unique_lock lock(background_mutex_);
  while (!stopping_) {
    lock.unlock();
    run_cleaner_pass();
    lock.lock();
    background_wake_.wait_for(lock, std::chrono::milliseconds(std::max<std::int64_t>(config_.cleaner_backoff_ms, 1)),
                              [this] { return stopping_; });
  }
}

void log_manager::close_all(const std::vector<std::shared_ptr<partition_log>>& logs,
                            std::map<std::filesystem::path, bool>& dir_clean) {
  // Closing a log seals and fsyncs it. The closes run on several threads at once: the disk, and the filesystem's
  // journal, which commits concurrent fsyncs together, then serve many partitions at a time instead of one (ten
  // thousand partitions: see docs/benchmarks.md). This thread takes part, so a thread that cannot be started only
  // costs parallelism.
  std::mutex failures;
  std::atomic<std::size_t> next{0};
  const auto close_some = [&] {
    for (std::size_t i = next++; i < logs.size(); i = next++) {
      if (auto ec = logs[i]->close()) {
        spdlog::error("storage: closing {} failed: {}", logs[i]->id().directory_name(), ec.message());
        std::lock_guard lock(failures);
        dir_clean[logs[i]->directory().parent_path()] = false;
      }
    }
  };
  std::vector<std::thread> helpers;
  const std::size_t wanted = std::min<std::size_t>(shutdown_close_threads - 1, logs.size() / 64);
  for (std::size_t i = 0; i < wanted; ++i) {
    try {
      helpers.emplace_back(close_some);
    } catch (const std::system_error& error) {
      spdlog::warn("storage: closing logs on fewer threads: {}", error.what());
      break;
    }
  }
  close_some();
  for (auto& helper : helpers) helper.join();
}

std::error_code log_manager::shutdown() {
  if (shut_down_) return {};
  {
    std::lock_guard lock(background_mutex_);
    stopping_ = true;
  }
  background_wake_.notify_all();
  if (background_.joinable()) background_.join();
  if (cleaner_thread_.joinable()) cleaner_thread_.join();
  flusher_.stop();

  std::map<std::filesystem::path, bool> dir_clean;
  for (const auto& dir : config_.log_dirs) dir_clean[dir] = true;
  close_all(snapshot(), dir_clean);
  std::error_code result = write_checkpoints();
  if (result) {
    for (auto& [dir, clean] : dir_clean) clean = false;
  }
  for (const auto& [dir, clean] : dir_clean) {
    if (!clean) continue;  // no marker: the next start recovers this directory
    if (auto ec = write_marker(dir); ec && !result) result = ec;
  }
  shut_down_ = true;
  spdlog::info("storage: shut down {} logs", snapshot().size());
  // Everything is flushed and marked: another process (or a new log_manager) may take the directories now.
  for (const int fd : directory_locks_) ::close(fd);
  directory_locks_.clear();
  return result;
}

}  // namespace vltava::storage
