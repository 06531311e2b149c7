// What the storage layer needs from its surroundings, passed in rather than global: the clock (tests use a manual
// one) and, for tests, a way to make file operations fail as a full or broken disk would.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <system_error>

namespace vltava::storage {

class clock {
 public:
  virtual ~clock() = default;
  // Milliseconds since the Unix epoch, as Kafka timestamps are.
  virtual std::int64_t now_ms() const noexcept = 0;
};

class system_clock final : public clock {
 public:
  std::int64_t now_ms() const noexcept override;
};

// A clock that moves only when told: retention, segment.ms and compaction lag in tests without waiting.
class manual_clock final : public clock {
 public:
  explicit manual_clock(std::int64_t start_ms = 1'700'000'000'000) : now_(start_ms) {}
  std::int64_t now_ms() const noexcept override { return now_.load(std::memory_order_relaxed); }
  void advance(std::int64_t ms) noexcept { now_.fetch_add(ms, std::memory_order_relaxed); }
  void set(std::int64_t ms) noexcept { now_.store(ms, std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> now_;
};

// Consulted before every write and sync of a log or index file. The default does nothing; tests override it to
// simulate ENOSPC, EIO or a write that stops part way (as a full disk does).
class io_fault_injector {
 public:
  virtual ~io_fault_injector() = default;
  // May lower allowed (the bytes the write really stores) and return the errno-style error the write then reports.
  virtual std::error_code before_write(const std::filesystem::path& file, std::size_t& allowed) noexcept {
    (void)file;
    (void)allowed;
    return {};
  }
  virtual std::error_code before_sync(const std::filesystem::path& file) noexcept {
    (void)file;
    return {};
  }
};

struct storage_context {
  std::shared_ptr<const clock> time = std::make_shared<system_clock>();
  std::shared_ptr<io_fault_injector> faults;  // null: no injection
};

}  // namespace vltava::storage
