// Throughput of the storage layer beside raw file I/O on the same disk: partition_log appends without fsync, with
// one fsync at the end, with an fsync after every append (acks=all without group commit) and with group commit (8
// producers sharing fsyncs through group_commit_flusher); sequential reads of a page-cache-warm log; and the same
// amounts of plain write(2) / pread(2) as the in-process baseline. bench/storage_bench.sh runs this together with
// dd on the same directory and prints the ratios.
//
// Files go to a fresh directory under $VLTAVA_BENCH_DIR (default: the system temp directory) and are deleted after
// each benchmark. VLTAVA_BENCH_SMALL=1 shrinks every size by 8x for a quick check. Disk use peaks at ~300 MiB.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "vltava/protocol/record_batch.h"
#include "vltava/protocol/record_batch_builder.h"
#include "vltava/storage/file.h"
#include "vltava/storage/group_commit_flusher.h"
#include "vltava/storage/partition_log.h"

namespace vltava::storage {
namespace {

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

constexpr std::size_t batch_target_bytes = 16 * 1024;  // what one append (and one raw write) carries
constexpr int group_commit_producers = 8;

bool small_run() {
  const char* v = std::getenv("VLTAVA_BENCH_SMALL");
  return v != nullptr && *v != '\0' && std::string(v) != "0";
}
// Bytes written by the streaming benchmarks (no fsync, one fsync at the end, raw write) and read back.
std::uint64_t stream_bytes() { return (small_run() ? 32ULL : 256ULL) << 20; }
// Appends (and raw writes) of ~16 KiB in the benchmarks that fsync per append: the same count as dd's
// `bs=16k count=2000 oflag=dsync` in storage_bench.sh.
int synced_appends() { return small_run() ? 248 : 2000; }

fs::path bench_base() {
  const char* v = std::getenv("VLTAVA_BENCH_DIR");
  if (v != nullptr && *v != '\0') return v;
  return fs::temp_directory_path();
}

// A fresh directory under the bench base, removed (with everything in it) on destruction.
class scratch_dir {
 public:
  scratch_dir() {
    static std::atomic<int> counter{0};
    path_ = bench_base() / ("vltava-storage-bench-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~scratch_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  scratch_dir(const scratch_dir&) = delete;
  scratch_dir& operator=(const scratch_dir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// One uncompressed batch of at most ~16 KiB: records of record_size-byte values with 16-byte keys, as a producer
// with linger and batch.size=16384 would send.
struct prebuilt_batch {
  protocol::bytes data;
  std::int32_t records = 0;
};

prebuilt_batch make_batch(std::size_t record_size) {
  protocol::record_batch_builder builder;
  const std::string key(16, 'k');
  std::string value(record_size, 'v');
  const auto span_of = [](const std::string& s) {
    return protocol::byte_span(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
  };
  // A record costs its key and value plus ~10 bytes of varints.
  const std::size_t per_record = record_size + key.size() + 12;
  std::int64_t i = 0;
  while (builder.record_count() == 0 ||
         protocol::record_batch_header_size + builder.records_size() + per_record <= batch_target_bytes) {
    value[0] = static_cast<char>('a' + i % 26);
    builder.append(1'700'000'000'000 + i, span_of(key), span_of(value));
    ++i;
  }
  prebuilt_batch out;
  out.records = builder.record_count();
  if (builder.build(out.data)) std::abort();
  return out;
}

std::shared_ptr<partition_log> open_log(const fs::path& dir, benchmark::State& state) {
  partition_log::open_options options;
  options.clean_shutdown = true;
  log_recovery_report report;
  std::shared_ptr<partition_log> log;
  if (auto ec = partition_log::open(dir / "bench-0", topic_partition{"bench", 0}, log_config{}, storage_context{},
                                    options, log, report)) {
    state.SkipWithError(("open: " + ec.message()).c_str());
    return nullptr;
  }
  return log;
}

void close_log(const std::shared_ptr<partition_log>& log, benchmark::State& state) {
  if (auto ec = log->close()) state.SkipWithError(("close: " + ec.message()).c_str());
}

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

enum class durability { none, flush_at_end, flush_each };

// One iteration: a new log, stream_bytes() of appends (or synced_appends() with flush_each), timed; then the log
// is closed (which fsyncs, untimed, so that no dirty pages spill into the next iteration) and deleted.
void append_benchmark(benchmark::State& state, durability mode) {
  const auto batch = make_batch(static_cast<std::size_t>(state.range(0)));
  const std::int64_t appends =
      mode == durability::flush_each ? synced_appends() : static_cast<std::int64_t>(stream_bytes() / batch.data.size());
  protocol::bytes scratch = batch.data;  // append rewrites the base offset in place; every append overwrites it
  std::int64_t total_appends = 0;
  for (auto _ : state) {
    scratch_dir dir;
    auto log = open_log(dir.path(), state);
    if (!log) break;
    append_result result;
    const auto start = clock_type::now();
    for (std::int64_t i = 0; i < appends; ++i) {
      if (auto ec = log->append(scratch, result)) {
        state.SkipWithError(("append: " + ec.message()).c_str());
        break;
      }
      if (mode == durability::flush_each) {
        if (auto ec = log->flush()) {
          state.SkipWithError(("flush: " + ec.message()).c_str());
          break;
        }
      }
    }
    if (mode == durability::flush_at_end) {
      if (auto ec = log->flush()) state.SkipWithError(("flush: " + ec.message()).c_str());
    }
    state.SetIterationTime(seconds_since(start));
    total_appends += appends;
    close_log(log, state);
  }
  state.SetBytesProcessed(total_appends * static_cast<std::int64_t>(batch.data.size()));
  state.SetItemsProcessed(total_appends * batch.records);
  state.counters["appends"] = benchmark::Counter(static_cast<double>(total_appends), benchmark::Counter::kIsRate);
  state.counters["batch_bytes"] = static_cast<double>(batch.data.size());
  if (mode == durability::flush_each) state.counters["flushes_per_append"] = 1.0;
}

void BM_Append_NoFsync(benchmark::State& state) { append_benchmark(state, durability::none); }
void BM_Append_FsyncAtEnd(benchmark::State& state) { append_benchmark(state, durability::flush_at_end); }
void BM_Append_FsyncEach(benchmark::State& state) { append_benchmark(state, durability::flush_each); }

// acks=all with group commit: 8 producer threads on one partition, each appending its own copy of the batch and
// waiting for group_commit_flusher::flush_through before its next append, synced_appends() in all.
void BM_Append_GroupCommit(benchmark::State& state) {
  const auto batch = make_batch(static_cast<std::size_t>(state.range(0)));
  const int per_producer = synced_appends() / group_commit_producers;
  const std::int64_t appends = static_cast<std::int64_t>(per_producer) * group_commit_producers;
  std::int64_t total_appends = 0;
  std::uint64_t total_flushes = 0;
  for (auto _ : state) {
    scratch_dir dir;
    auto log = open_log(dir.path(), state);
    if (!log) break;
    group_commit_flusher flusher(group_commit_flusher::options{});
    std::atomic<bool> failed{false};
    const auto producer = [&] {
      protocol::bytes scratch = batch.data;
      append_result result;
      for (int i = 0; i < per_producer && !failed.load(std::memory_order_relaxed); ++i) {
        if (log->append(scratch, result)) {
          failed = true;
          break;
        }
        // Shared with the completion, so the promise outlives set_value even once get() has returned here.
        auto done = std::make_shared<std::promise<std::error_code>>();
        auto durable = done->get_future();
        flusher.flush_through(log, result.last_offset, [done](std::error_code ec) { done->set_value(ec); });
        if (durable.get()) failed = true;
      }
    };
    const auto start = clock_type::now();
    std::vector<std::thread> producers;
    for (int p = 0; p < group_commit_producers; ++p) producers.emplace_back(producer);
    for (auto& t : producers) t.join();
    state.SetIterationTime(seconds_since(start));
    flusher.stop();
    if (failed) state.SkipWithError("append or flush failed");
    total_appends += appends;
    total_flushes += flusher.flushes_performed();
    close_log(log, state);
  }
  state.SetBytesProcessed(total_appends * static_cast<std::int64_t>(batch.data.size()));
  state.SetItemsProcessed(total_appends * batch.records);
  state.counters["appends"] = benchmark::Counter(static_cast<double>(total_appends), benchmark::Counter::kIsRate);
  state.counters["batch_bytes"] = static_cast<double>(batch.data.size());
  state.counters["flushes_per_append"] =
      total_appends > 0 ? static_cast<double>(total_flushes) / static_cast<double>(total_appends) : 0.0;
}

// Reads a log of stream_bytes() from its start to its end in 1 MiB fetches into a reused buffer, as a replica
// fetching from the log start would; the log was just written, so this measures the page cache, not the disk.
void BM_SequentialRead(benchmark::State& state) {
  scratch_dir dir;
  auto log = open_log(dir.path(), state);
  if (!log) return;
  auto batch = make_batch(static_cast<std::size_t>(state.range(0)));
  append_result appended;
  for (std::uint64_t written = 0; written < stream_bytes(); written += batch.data.size()) {
    if (auto ec = log->append(batch.data, appended)) {
      state.SkipWithError(("append: " + ec.message()).c_str());
      return;
    }
  }
  if (auto ec = log->flush()) {
    state.SkipWithError(("flush: " + ec.message()).c_str());
    return;
  }
  const std::int64_t end = log->log_end_offset();
  std::vector<std::uint8_t> buffer;
  buffer.reserve(2 << 20);
  std::uint64_t bytes_read = 0;
  for (auto _ : state) {
    std::int64_t offset = log->log_start_offset();
    while (offset < end) {
      read_result result;
      if (auto ec = log->read(offset, 1 << 20, end, true, result)) {
        state.SkipWithError(("read: " + ec.message()).c_str());
        return;
      }
      buffer.clear();
      if (result.records.empty() || result.records.read_into(buffer)) {
        state.SkipWithError("read_into failed or returned nothing");
        return;
      }
      // The next fetch starts after the last whole batch, as a consumer would find it.
      protocol::record_batch_splitter splitter(buffer);
      protocol::record_batch_view view;
      while (splitter.next(view)) offset = view.header().last_offset() + 1;
      bytes_read += buffer.size();
    }
    benchmark::DoNotOptimize(buffer.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes_read));
  close_log(log, state);
}

// The baseline: the same bytes with plain write(2) of 16 KiB to one new file. Mode none / flush_at_end (one
// fdatasync at the end) write stream_bytes(); flush_each calls fdatasync after every write, synced_appends() times.
void raw_write_benchmark(benchmark::State& state, durability mode) {
  const std::vector<std::uint8_t> chunk(batch_target_bytes, 0x5a);
  const std::int64_t writes =
      mode == durability::flush_each ? synced_appends() : static_cast<std::int64_t>(stream_bytes() / chunk.size());
  std::int64_t total_writes = 0;
  for (auto _ : state) {
    scratch_dir dir;
    const auto path = dir.path() / "raw.bin";
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
      state.SkipWithError("open failed");
      break;
    }
    bool ok = true;
    const auto start = clock_type::now();
    for (std::int64_t i = 0; i < writes && ok; ++i) {
      ok = ::write(fd, chunk.data(), chunk.size()) == static_cast<ssize_t>(chunk.size());
      if (ok && mode == durability::flush_each) ok = ::fdatasync(fd) == 0;
    }
    if (ok && mode == durability::flush_at_end) ok = ::fdatasync(fd) == 0;
    state.SetIterationTime(seconds_since(start));
    if (!ok) state.SkipWithError("write or fdatasync failed");
    // Untimed, like the log's close: no dirty pages left for the next benchmark.
    if (::fdatasync(fd) != 0) state.SkipWithError("fdatasync failed");
    ::close(fd);
    total_writes += writes;
  }
  state.SetBytesProcessed(total_writes * static_cast<std::int64_t>(chunk.size()));
  state.counters["writes"] = benchmark::Counter(static_cast<double>(total_writes), benchmark::Counter::kIsRate);
}

void BM_RawWrite_NoSync(benchmark::State& state) { raw_write_benchmark(state, durability::none); }
void BM_RawWrite_FdatasyncAtEnd(benchmark::State& state) { raw_write_benchmark(state, durability::flush_at_end); }
void BM_RawWrite_FdatasyncEach(benchmark::State& state) { raw_write_benchmark(state, durability::flush_each); }

// The read baseline: pread(2) of 1 MiB at a time through a just-written (page-cache-warm) file of stream_bytes().
void BM_RawRead(benchmark::State& state) {
  scratch_dir dir;
  const auto path = dir.path() / "raw.bin";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    state.SkipWithError("open failed");
    return;
  }
  const std::vector<std::uint8_t> chunk(batch_target_bytes, 0x5a);
  for (std::uint64_t written = 0; written < stream_bytes(); written += chunk.size()) {
    if (::write(fd, chunk.data(), chunk.size()) != static_cast<ssize_t>(chunk.size())) {
      state.SkipWithError("write failed");
      ::close(fd);
      return;
    }
  }
  if (::fdatasync(fd) != 0) state.SkipWithError("fdatasync failed");
  std::vector<std::uint8_t> buffer(1 << 20);
  std::uint64_t bytes_read = 0;
  for (auto _ : state) {
    for (std::uint64_t at = 0; at < stream_bytes(); at += buffer.size()) {
      const ssize_t n = ::pread(fd, buffer.data(), buffer.size(), static_cast<off_t>(at));
      if (n <= 0) {
        state.SkipWithError("pread failed");
        break;
      }
      bytes_read += static_cast<std::uint64_t>(n);
    }
    benchmark::DoNotOptimize(buffer.data());
  }
  ::close(fd);
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes_read));
}

// Iteration counts are fixed so that the whole run takes about a minute on a small VM; every iteration of a write
// benchmark is timed by hand (setup, close and deletion excluded).
BENCHMARK(BM_Append_NoFsync)->ArgName("record_size")->Arg(100)->Arg(1024)->Iterations(3)->UseManualTime();
BENCHMARK(BM_Append_FsyncAtEnd)->ArgName("record_size")->Arg(100)->Arg(1024)->Iterations(2)->UseManualTime();
// The synced ones are bound by fsync latency, not by record size: one size is enough there.
BENCHMARK(BM_Append_FsyncEach)->ArgName("record_size")->Arg(100)->Iterations(1)->UseManualTime();
BENCHMARK(BM_Append_GroupCommit)->ArgName("record_size")->Arg(100)->Iterations(2)->UseManualTime();
BENCHMARK(BM_SequentialRead)->ArgName("record_size")->Arg(1024)->Iterations(10)->UseRealTime();
BENCHMARK(BM_RawWrite_NoSync)->Iterations(3)->UseManualTime();
BENCHMARK(BM_RawWrite_FdatasyncAtEnd)->Iterations(2)->UseManualTime();
BENCHMARK(BM_RawWrite_FdatasyncEach)->Iterations(1)->UseManualTime();
BENCHMARK(BM_RawRead)->Iterations(10)->UseRealTime();

}  // namespace
}  // namespace vltava::storage
