// Log cleaner tests: a randomized check of compaction against a model, the dirty-ratio and compaction-lag rules,
// crash safety of the segment swaps, appends and reads during a pass, and what compaction must keep (keyless
// records, control batches, batch headers, offsets).
#include "vltava/storage/log_cleaner.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "storage_test_support.h"
#include "vltava/protocol/record_batch.h"
#include "vltava/protocol/record_batch_builder.h"
#include "vltava/storage/storage_error.h"

namespace vltava::storage {
namespace {

namespace fs = std::filesystem;
namespace proto = vltava::protocol;
// Only these of the shared helpers: this test's own records, batches and read_all keep null keys and values and
// control batches.
using vltava::storage::testing::as_bytes;
using vltava::storage::testing::temp_dir_test;

std::optional<std::string> str(const std::optional<proto::byte_span>& b) {
  if (!b) return std::nullopt;
  return std::string(b->begin(), b->end());
}

// A record as a consumer reads it back.
struct stored_record {
  std::int64_t offset = 0;
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::int64_t timestamp = -1;
  bool control = false;
  bool operator==(const stored_record&) const = default;
};

std::ostream& operator<<(std::ostream& os, const stored_record& r) {
  return os << "{" << r.offset << " " << r.key.value_or("<null>") << "=" << r.value.value_or("<null>") << " @"
            << r.timestamp << (r.control ? " control" : "") << "}";
}

struct log_contents {
  std::vector<stored_record> records;
  std::vector<proto::record_batch_header> batches;
};

// Every record from the log start to end (the log end offset when -1), checking CRCs and offset order; an empty
// string when all is well, else what went wrong.
std::string read_all(const partition_log& log, log_contents& out, std::int64_t end = -1) {
  out = {};
  std::int64_t offset = log.log_start_offset();
  if (end < 0) end = log.log_end_offset();
  proto::bytes buffer;
  proto::record_reader reader;
  while (offset < end) {
    read_result result;
    if (auto ec = log.read(offset, 16 * 1024, end, true, result)) {
      return "read at " + std::to_string(offset) + ": " + ec.message();
    }
    if (result.records.empty()) return "nothing read at " + std::to_string(offset);
    buffer.clear();
    if (auto ec = result.records.read_into(buffer)) return "read_into: " + ec.message();
    proto::record_batch_splitter splitter(buffer);
    proto::record_batch_view batch;
    while (splitter.next(batch)) {
      if (auto ec = batch.validate())
        return "batch at " + std::to_string(batch.header().base_offset) + ": " + ec.message();
      if (batch.header().last_offset() < offset) return "batch ending before " + std::to_string(offset);
      out.batches.push_back(batch.header());
      if (auto ec = reader.open(batch)) return "open: " + ec.message();
      proto::record_view record;
      while (reader.next(record)) {
        stored_record r{batch.offset_of(record), str(record.key), str(record.value), batch.timestamp_of(record),
                        batch.header().attributes.control()};
        if (!out.records.empty() && r.offset <= out.records.back().offset) {
          return "offset " + std::to_string(r.offset) + " after " + std::to_string(out.records.back().offset);
        }
        out.records.push_back(std::move(r));
      }
      if (reader.error()) return "records: " + reader.error().message();
      offset = batch.header().last_offset() + 1;
    }
    if (splitter.error()) return "splitter: " + splitter.error().message();
  }
  return {};
}

struct test_record {
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::int64_t timestamp = 0;
};

proto::bytes make_batch(const std::vector<test_record>& records,
                        const proto::record_batch_builder_options& options = {}) {
  proto::record_batch_builder builder(options);
  for (const auto& r : records) {
    builder.append(r.timestamp, r.key ? std::optional(as_bytes(*r.key)) : std::nullopt,
                   r.value ? std::optional(as_bytes(*r.value)) : std::nullopt);
  }
  proto::bytes out;
  EXPECT_FALSE(builder.build(out));
  return out;
}

// Name -> content of every file in dir: "untouched" means this is equal before and after.
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    files[entry.path().filename().string()] = {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
  return files;
}

std::vector<std::string> leftovers(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    for (const char* suffix : {".cleaned", ".swap", ".deleted"}) {
      if (name.ends_with(suffix)) names.push_back(name);
    }
  }
  return names;
}

class LogCleanerTest : public temp_dir_test {
 protected:
  void SetUp() override {
    temp_dir_test::SetUp();
    context_.time = clock_;
  }
  void TearDown() override {
    for (auto& log : logs_) (void)log->close();
    logs_.clear();
    temp_dir_test::TearDown();
  }

  static log_config compact_config() {
    log_config config;
    config.cleanup.compact = true;
    config.cleanup.delete_segments = false;
    config.segment_bytes = 8 * 1024;
    config.index_interval_bytes = 512;
    config.min_cleanable_dirty_ratio = 0.0;
    return config;
  }

  std::shared_ptr<partition_log> open_log(const std::string& name, const log_config& config) {
    std::shared_ptr<partition_log> log;
    log_recovery_report report;
    partition_log::open_options options;  // no clean-shutdown marker: recovery scans (and CRC-checks) everything
    EXPECT_FALSE(partition_log::open(dir_ / name, {"topic", 0}, config, context_, options, log, report));
    if (log) logs_.push_back(log);
    return log;
  }
  void close_log(std::shared_ptr<partition_log>& log) {
    (void)log->close();
    std::erase(logs_, log);
    log.reset();
  }

  // Appends as a single-node leader would: everything appended counts as replicated, so the high watermark (which
  // bounds what the cleaner may touch) follows the log end.
  static append_result append(partition_log& log, proto::bytes batch) {
    append_result result;
    EXPECT_FALSE(log.append(batch, result));
    log.set_high_watermark(log.log_end_offset());
    return result;
  }
  append_result put(partition_log& log, std::vector<test_record> records) {
    for (auto& r : records) r.timestamp = r.timestamp == 0 ? clock_->now_ms() : r.timestamp;
    return append(log, make_batch(records));
  }
  // Makes the next append start a new segment (the configs below use segment.ms = 1000).
  void roll_on_next_append() { clock_->advance(1000); }

  std::shared_ptr<manual_clock> clock_ = std::make_shared<manual_clock>();
  storage_context context_;
  std::vector<std::shared_ptr<partition_log>> logs_;
};

// ---- the model test ----

TEST_F(LogCleanerTest, RandomOperationsMatchModel) {
  log_config config = compact_config();
  config.segment_bytes = 16 * 1024;
  config.min_cleanable_dirty_ratio = 0.3;
  config.delete_retention_ms = 5'000;
  auto log = open_log("topic-0", config);
  ASSERT_TRUE(log);

  std::mt19937_64 rng(20240611);
  auto random = [&](std::uint64_t n) { return static_cast<std::int64_t>(rng() % n); };
  constexpr proto::compression_codec codecs[] = {proto::compression_codec::gzip, proto::compression_codec::snappy,
                                                 proto::compression_codec::lz4, proto::compression_codec::zstd};

  std::map<std::int64_t, stored_record> written;            // every record ever appended, by offset
  std::map<std::int64_t, proto::record_batch_header> sent;  // every batch appended, by base offset
  log_cleaner cleaner;
  std::int64_t checkpoint = 0;
  std::int64_t last_bound = 0;     // cleaned_up_to of the last pass that ran
  std::int64_t last_pass_ms = -1;  // and when it ran
  int passes = 0;
  std::int64_t tombstones_removed = 0;

  // What the log must hold: below the last pass's bound, per key only the newest record below it (a tombstone only
  // while younger than delete.retention.ms at that pass), plus every keyless record; at or above it, everything.
  auto check = [&](const log_contents& contents) {
    std::map<std::string, std::int64_t> newest_below;
    std::set<std::int64_t> expected;
    for (const auto& [offset, r] : written) {
      if (offset >= last_bound || !r.key) {
        expected.insert(offset);
      } else {
        newest_below[*r.key] = offset;
      }
    }
    for (const auto& [key, offset] : newest_below) {
      const stored_record& r = written.at(offset);
      if (r.value || r.timestamp >= last_pass_ms - config.delete_retention_ms) expected.insert(offset);
    }
    std::set<std::int64_t> actual;
    for (const auto& r : contents.records) {
      actual.insert(r.offset);
      auto it = written.find(r.offset);
      ASSERT_NE(it, written.end()) << r;
      EXPECT_EQ(r, it->second);
    }
    EXPECT_EQ(actual, expected);
    for (const auto& h : contents.batches) {
      auto it = sent.find(h.base_offset);
      ASSERT_NE(it, sent.end()) << h.base_offset;
      EXPECT_EQ(h.last_offset_delta, it->second.last_offset_delta);
      EXPECT_EQ(h.attributes.codec(), it->second.attributes.codec());
      EXPECT_EQ(h.producer_id, it->second.producer_id);
      EXPECT_EQ(h.producer_epoch, it->second.producer_epoch);
      EXPECT_EQ(h.base_sequence, it->second.base_sequence);
      EXPECT_EQ(h.partition_leader_epoch, it->second.partition_leader_epoch);
    }
  };

  std::int32_t sequence = 0;
  for (int op = 0; op < 5000; ++op) {
    proto::record_batch_builder_options options;
    if (random(3) == 0) options.codec = codecs[random(4)];
    if (random(4) == 0) {
      options.producer_id = 77;
      options.producer_epoch = 3;
      options.base_sequence = sequence;
    }
    options.partition_leader_epoch = static_cast<std::int32_t>(random(5));
    std::vector<test_record> records;
    const auto count = 1 + random(5);
    for (std::int64_t i = 0; i < count; ++i) {
      test_record r;
      r.timestamp = clock_->now_ms() + random(5);
      if (random(40) != 0) r.key = "key-" + std::to_string(random(500));
      if (random(7) != 0 || !r.key) r.value = "value-" + std::to_string(op) + "-" + std::string(random(80), 'x');
      records.push_back(std::move(r));
    }
    if (options.producer_id >= 0) sequence += static_cast<std::int32_t>(count);
    const append_result result = append(*log, make_batch(records, options));
    ASSERT_GE(result.base_offset, 0);
    for (std::int64_t i = 0; i < count; ++i) {
      const auto& r = records[static_cast<std::size_t>(i)];
      written[result.base_offset + i] = {result.base_offset + i, r.key, r.value, r.timestamp, false};
    }
    proto::record_batch_header header;
    header.base_offset = result.base_offset;
    header.last_offset_delta = static_cast<std::int32_t>(count - 1);
    header.attributes.set_codec(options.codec);
    header.producer_id = options.producer_id;
    header.producer_epoch = options.producer_epoch;
    header.base_sequence = options.base_sequence;
    header.partition_leader_epoch = options.partition_leader_epoch;
    sent[result.base_offset] = header;
    clock_->advance(random(20));

    if (op % 600 != 599 && op != 4999) continue;
    const std::int64_t end_before = log->log_end_offset();
    const std::uint64_t size_before = log->size_bytes();
    const double ratio = log_cleaner::dirty_ratio(*log, checkpoint);
    cleaning_stats stats;
    ASSERT_FALSE(cleaner.clean(*log, checkpoint, stats));
    EXPECT_EQ(log->log_end_offset(), end_before);
    EXPECT_EQ(stats.cleaned, ratio >= config.min_cleanable_dirty_ratio) << ratio;
    if (stats.cleaned) {
      ++passes;
      tombstones_removed += stats.tombstones_removed;
      EXPECT_GT(stats.records_removed, 0);
      EXPECT_GT(stats.segments_rewritten, 0);
      EXPECT_GE(stats.records_read, stats.records_removed);
      EXPECT_LT(stats.bytes_after, stats.bytes_before);
      EXPECT_EQ(size_before - log->size_bytes(), stats.bytes_before - stats.bytes_after);
      EXPECT_GT(stats.cleaned_up_to, checkpoint);
      checkpoint = stats.cleaned_up_to;
      last_bound = stats.cleaned_up_to;
      last_pass_ms = clock_->now_ms();
    } else {
      EXPECT_EQ(log->size_bytes(), size_before);
      EXPECT_EQ(stats.cleaned_up_to, checkpoint);
    }
    log_contents contents;
    ASSERT_EQ(read_all(*log, contents), "");
    SCOPED_TRACE("after the clean at operation " + std::to_string(op));
    check(contents);
    if (::testing::Test::HasFailure()) return;
  }
  EXPECT_GE(passes, 4);
  EXPECT_GT(tombstones_removed, 0);
  EXPECT_EQ(log->log_end_offset(), static_cast<std::int64_t>(written.size()));

  // The cleaned segments survive a restart with a full recovery scan (CRCs, offsets, indexes rebuilt).
  log_contents before;
  ASSERT_EQ(read_all(*log, before), "");
  close_log(log);
  log = open_log("topic-0", config);
  ASSERT_TRUE(log);
  log_contents after;
  ASSERT_EQ(read_all(*log, after), "");
  EXPECT_EQ(after.records, before.records);
  EXPECT_EQ(log->log_end_offset(), static_cast<std::int64_t>(written.size()));
}

// ---- when a pass runs and how far ----

TEST_F(LogCleanerTest, BelowDirtyRatioNothingIsRewritten) {
  log_config config = compact_config();
  config.segment_ms = 1000;
  config.min_cleanable_dirty_ratio = 0.5;
  auto log = open_log("topic-0", config);
  ASSERT_TRUE(log);
  auto put_range = [&](int from, int to, const std::string& tag) {
    for (int k = from; k < to; ++k) put(*log, {{"k" + std::to_string(k), tag + std::string(50, '.')}});
  };
  put_range(0, 50, "v1");
  roll_on_next_append();
  put_range(50, 100, "v1");
  roll_on_next_append();
  put_range(100, 105, "v1");
  ASSERT_EQ(log->segment_count(), 3u);

  // Everything is dirty at first; the keys are all distinct, so the pass finds nothing to remove.
  log_cleaner cleaner;
  EXPECT_DOUBLE_EQ(log_cleaner::dirty_ratio(*log, 0), 1.0);
  cleaning_stats stats;
  ASSERT_FALSE(cleaner.clean(*log, 0, stats));
  EXPECT_TRUE(stats.cleaned);
  EXPECT_EQ(stats.records_removed, 0);
  EXPECT_EQ(stats.segments_rewritten, 0);
  EXPECT_EQ(stats.cleaned_up_to, 100);
  const std::int64_t checkpoint = stats.cleaned_up_to;

  roll_on_next_append();
  put_range(0, 5, "v2");  // the segment at 100 is no longer active; these five obsolete records below the checkpoint
  roll_on_next_append();
  put_range(200, 201, "v1");
  const auto segments = log->segments();
  ASSERT_EQ(segments.size(), 5u);
  const double dirty = static_cast<double>(segments[2]->size() + segments[3]->size());
  const double total = dirty + static_cast<double>(segments[0]->size() + segments[1]->size());
  EXPECT_DOUBLE_EQ(log_cleaner::dirty_ratio(*log, checkpoint), dirty / total);
  ASSERT_LT(dirty / total, 0.5);

  const auto files = snapshot(dir_ / "topic-0");
  ASSERT_FALSE(cleaner.clean(*log, checkpoint, stats));
  EXPECT_FALSE(stats.cleaned);
  EXPECT_EQ(stats.cleaned_up_to, checkpoint);
  EXPECT_EQ(stats.segments_rewritten, 0);
  EXPECT_EQ(snapshot(dir_ / "topic-0"), files);

  // Lower the bar and the same state is cleaned: the first five keys' old values go.
  config.min_cleanable_dirty_ratio = 0.05;
  log->set_config(config);
  ASSERT_FALSE(cleaner.clean(*log, checkpoint, stats));
  EXPECT_TRUE(stats.cleaned);
  EXPECT_EQ(stats.records_removed, 5);
  EXPECT_EQ(stats.segments_rewritten, 1);
  EXPECT_EQ(stats.cleaned_up_to, segments[4]->base_offset());
  log_contents contents;
  ASSERT_EQ(read_all(*log, contents), "");
  EXPECT_EQ(contents.records.size(), 106u);
  EXPECT_EQ(contents.records.front().offset, 5);
}

TEST_F(LogCleanerTest, MinCompactionLagKeepsRecentRecordsOut) {
  log_config config = compact_config();
  config.segment_ms = 1000;
  config.min_compaction_lag_ms = 60'000;
  auto log = open_log("topic-0", config);
  ASSERT_TRUE(log);
  const std::int64_t t0 = clock_->now_ms();
  for (int k = 0; k < 10; ++k) put(*log, {{"k" + std::to_string(k), "v1"}});
  roll_on_next_append();
  for (int k = 0; k < 10; ++k) put(*log, {{"k" + std::to_string(k), "v2"}});
  roll_on_next_append();
  put(*log, {{"other", "x"}});
  const auto segments = log->segments();
  ASSERT_EQ(segments.size(), 3u);

  log_cleaner cleaner;
  cleaning_stats stats;
  ASSERT_FALSE(cleaner.clean(*log, 0, stats));  // both segments are younger than the lag
  EXPECT_FALSE(stats.cleaned);
  EXPECT_EQ(stats.cleaned_up_to, 0);
  EXPECT_DOUBLE_EQ(log_cleaner::dirty_ratio(*log, 0), 0.0);

  // The first segment is old enough, the second not: only the first is cleaned, so its v1 records, obsoleted only
  // by records still under the lag, stay.
  clock_->set(t0 + 60'500);
  ASSERT_FALSE(cleaner.clean(*log, 0, stats));
  EXPECT_TRUE(stats.cleaned);
  EXPECT_EQ(stats.cleaned_up_to, segments[1]->base_offset());
  EXPECT_EQ(stats.records_removed, 0);
  log_contents contents;
  ASSERT_EQ(read_all(*log, contents), "");
  EXPECT_EQ(contents.records.size(), 21u);

  clock_->set(t0 + 61'500);
  ASSERT_FALSE(cleaner.clean(*log, stats.cleaned_up_to, stats));
  EXPECT_TRUE(stats.cleaned);
  EXPECT_EQ(stats.cleaned_up_to, segments[2]->base_offset());
  EXPECT_EQ(stats.records_removed, 10);
  ASSERT_EQ(read_all(*log, contents), "");
  ASSERT_EQ(contents.records.size(), 11u);
  EXPECT_EQ(contents.records.front().offset, 10);
  EXPECT_EQ(contents.records.front().value, "v2");
}

TEST_F(LogCleanerTest, MaxCompactionLagForcesAPass) {
  log_config config = compact_config();
  config.segment_ms = 1000;
  config.min_cleanable_dirty_ratio = 0.9;
  config.max_compaction_lag_ms = 10'000;
  auto log = open_log("topic-0", config);
  ASSERT_TRUE(log);
  for (int k = 0; k < 100; ++k) put(*log, {{"k" + std::to_string(k), "v1"}});
  roll_on_next_append();
  put(*log, {{"k0", "v2"}});
  log_cleaner cleaner;
  cleaning_stats stats;
  ASSERT_FALSE(cleaner.clean(*log, 0, stats));
  EXPECT_TRUE(stats.cleaned);  // all dirty: ratio 1
  const std::int64_t checkpoint = stats.cleaned_up_to;
  EXPECT_EQ(checkpoint, 100);

  roll_on_next_append();
  put(*log, {{"k1", "v2"}});
  ASSERT_LT(log_cleaner::dirty_ratio(*log, checkpoint), 0.9);
  ASSERT_FALSE(cleaner.clean(*log, checkpoint, stats));
  EXPECT_FALSE(stats.cleaned);

  clock_->advance(20'000);  // the dirty segment is now older than max.compaction.lag.ms
  ASSERT_FALSE(cleaner.clean(*log, checkpoint, stats));
  EXPECT_TRUE(stats.cleaned);
  EXPECT_EQ(stats.records_removed, 1);
  EXPECT_EQ(stats.cleaned_up_to, 101);
}

TEST_F(LogCleanerTest, KeyMapLimitEndsThePassAtASegmentBoundary) {
  log_config config = compact_config();
  config.segment_ms = 1000;
  auto log = open_log("topic-0", config);
  ASSERT_TRUE(log);
  auto put_range = [&](int from, int to, const std::string& tag) {
    for (int k = from; k < to; ++k) put(*log, {{"k" + std::to_string(k), tag}});
    roll_on_next_append();
  };
  put_range(0, 10, "a");   // segment at 0
  put_range(10, 20, "a");  // at 10
  put_range(0, 10, "b");   // at 20: obsoletes the first
  put_range(20, 30, "a");  // at 30: pushes the map past 25 keys
  put(*log, {{"active", "x"}});
  const auto segments = log->segments();
  ASSERT_EQ(segments.size(), 5u);

  log_cleaner cleaner(25);
  cleaning_stats stats;
  ASSERT_FALSE(cleaner.clean(*log, 0, stats));
  EXPECT_TRUE(stats.cleaned);
  EXPECT_EQ(stats.cleaned_up_to, 30);
  EXPECT_EQ(stats.records_removed, 10);
  ASSERT_FALSE(cleaner.clean(*log, stats.cleaned_up_to, stats));
  EXPECT_TRUE(stats.cleaned);
  EXPECT_EQ(stats.cleaned_up_to, 40);
  EXPECT_EQ(stats.records_removed, 0);

  // A map too small for a single dirty segment cleans nothing rather than something wrong.
  log_cleaner tiny(5);
  ASSERT_FALSE(tiny.clean(*log, 10, stats));
  EXPECT_FALSE(stats.cleaned);
}

// ---- crash safety ----

TEST_F(LogCleanerTest, InterruptedSwapRecoversToOldOrNewSegment) {
  log_config config = compact_config();
  config.segment_bytes = 4096;
  for (int step = 1; step <= 5; ++step) {
    SCOPED_TRACE("crash at step " + std::to_string(step));
    const std::string name = "step" + std::to_string(step) + "-0";
    auto log = open_log(name, config);
    ASSERT_TRUE(log);
    std::mt19937 rng(static_cast<unsigned>(step));
    for (int i = 0; i < 300; ++i) {
      std::vector<test_record> records;
      for (unsigned n = 0; n <= rng() % 3; ++n) {
        test_record r{"key-" + std::to_string(rng() % 30), std::nullopt, 0};
        if (rng() % 6 != 0) r.value = "value-" + std::to_string(i) + std::string(rng() % 40, '+');
        records.push_back(std::move(r));
      }
      put(*log, std::move(records));
      clock_->advance(1);
    }
    log->set_high_watermark(log->log_end_offset());
    log_contents pre;
    ASSERT_EQ(read_all(*log, pre), "");
    std::vector<std::int64_t> bases;
    for (const auto& segment : log->segments()) bases.push_back(segment->base_offset());
    ASSERT_GT(bases.size(), 5u);

    // The outcome of an uninterrupted pass, from a copy of the log.
    const std::string copy_name = "copy" + std::to_string(step) + "-0";
    fs::copy(dir_ / name, dir_ / copy_name, fs::copy_options::recursive);
    log_contents post;
    {
      auto copy = open_log(copy_name, config);
      ASSERT_TRUE(copy);
      log_cleaner cleaner;
      cleaning_stats stats;
      ASSERT_FALSE(cleaner.clean(*copy, 0, stats));
      ASSERT_GT(stats.segments_rewritten, 0);
      ASSERT_EQ(read_all(*copy, post), "");
      close_log(copy);
    }
    ASSERT_NE(post.records, pre.records);

    log_cleaner cleaner;
    cleaning_stats stats;
    int calls = 0;
    const auto crash = [&](int at) {
      ++calls;
      return at != step;
    };
    EXPECT_TRUE(cleaner.clean(*log, 0, stats, crash));
    EXPECT_EQ(calls, step);
    close_log(log);

    log = open_log(name, config);
    ASSERT_TRUE(log);
    EXPECT_EQ(leftovers(dir_ / name), std::vector<std::string>{});
    log_contents recovered;
    ASSERT_EQ(read_all(*log, recovered), "");
    // Step 1 comes before the swap is committed: the old segment stays. From step 2 on, recovery completes it: the
    // first segment the pass changed is the cleaned one, everything after it as before.
    std::vector<stored_record> expected = pre.records;
    if (step > 1) {
      std::size_t i = 0;
      while (i < pre.records.size() && i < post.records.size() && pre.records[i] == post.records[i]) ++i;
      const std::int64_t first_change = std::min(i < pre.records.size() ? pre.records[i].offset : INT64_MAX,
                                                 i < post.records.size() ? post.records[i].offset : INT64_MAX);
      const auto next_base = std::upper_bound(bases.begin(), bases.end(), first_change);
      ASSERT_NE(next_base, bases.end());
      expected.clear();
      for (const auto& r : post.records) {
        if (r.offset < *next_base) expected.push_back(r);
      }
      for (const auto& r : pre.records) {
        if (r.offset >= *next_base) expected.push_back(r);
      }
    }
    EXPECT_EQ(recovered.records, expected);
    EXPECT_EQ(log->log_end_offset(), pre.records.back().offset + 1);

    // And a full pass afterwards gives what an uninterrupted one would have.
    ASSERT_FALSE(cleaner.clean(*log, 0, stats));
    log_contents final_contents;
    ASSERT_EQ(read_all(*log, final_contents), "");
    EXPECT_EQ(final_contents.records, post.records);
    EXPECT_EQ(leftovers(dir_ / name), std::vector<std::string>{});
    close_log(log);
  }
}

// Retention (here DeleteRecords) may remove a segment while its cleaned copy is being written: the swap is refused,
// the copy deleted, and the pass ends without an error.
TEST_F(LogCleanerTest, SegmentRemovedMidPassEndsItQuietly) {
  // Runs once, while the cleaner writes its first cleaned file (without the partition's lock).
  struct remove_during_write final : io_fault_injector {
    std::function<void()> action;
    std::error_code before_write(const fs::path& file, std::size_t& allowed) noexcept override {
      (void)allowed;
      if (action && file.string().ends_with(".cleaned")) std::exchange(action, nullptr)();
      return {};
    }
  };
  auto faults = std::make_shared<remove_during_write>();
  context_.faults = faults;
  log_config config = compact_config();
  config.segment_ms = 1000;
  auto log = open_log("topic-0", config);
  ASSERT_TRUE(log);
  put(*log, {{"a", "1"}, {"b", "1"}, {"x", "1"}});  // segment at 0: x survives, so its cleaned copy is written
  roll_on_next_append();
  put(*log, {{"a", "2"}});  // at 3
  roll_on_next_append();
  put(*log, {{"b", "2"}});  // at 4
  roll_on_next_append();
  put(*log, {{"c", "1"}});  // active at 5
  std::error_code delete_error;
  faults->action = [&] {
    std::int64_t start = 0;
    delete_error = log->delete_records_before(3, start);  // the whole first segment
  };

  log_cleaner cleaner;
  cleaning_stats stats;
  ASSERT_FALSE(cleaner.clean(*log, 0, stats));
  EXPECT_FALSE(delete_error);
  EXPECT_EQ(faults->action, nullptr);  // it ran
  EXPECT_EQ(stats.segments_rewritten, 0);
  EXPECT_EQ(stats.cleaned_up_to, 0);
  EXPECT_EQ(leftovers(dir_ / "topic-0"), std::vector<std::string>{});
  EXPECT_EQ(log->log_start_offset(), 3);
  log_contents contents;
  ASSERT_EQ(read_all(*log, contents), "");
  ASSERT_EQ(contents.records.size(), 3u);
  EXPECT_EQ(contents.records.front().offset, 3);

  // The next pass starts over from the new log start.
  ASSERT_FALSE(cleaner.clean(*log, stats.cleaned_up_to, stats));
  EXPECT_EQ(stats.first_dirty_offset, 3);
  EXPECT_EQ(stats.cleaned_up_to, 5);
  EXPECT_EQ(stats.records_removed, 0);
}

// ---- concurrency ----

TEST_F(LogCleanerTest, AppendsAndReadsContinueDuringCleaning) {
  log_config config = compact_config();
  config.segment_bytes = 4096;
  auto log = open_log("topic-0", config);
  ASSERT_TRUE(log);
  constexpr int appends = 3000;
  std::map<std::int64_t, stored_record> written;  // the writer's until it is joined
  std::atomic<bool> writer_done = false;
  std::atomic<int> passes = 0;
  std::string writer_error;
  std::atomic<int> reader_errors = 0;
  std::string reader_error;

  std::thread writer([&] {
    std::mt19937 rng(7);
    for (int i = 0; i < appends; ++i) {
      std::vector<test_record> records;
      for (unsigned n = 0; n <= rng() % 3; ++n) {
        const std::string key = "key-" + std::to_string(rng() % 100);
        records.push_back({key, key + "#" + std::to_string(i), clock_->now_ms()});
      }
      proto::bytes batch = make_batch(records);
      append_result result;
      if (auto ec = log->append(batch, result)) {
        writer_error = ec.message();
        break;
      }
      for (std::size_t n = 0; n < records.size(); ++n) {
        const auto offset = result.base_offset + static_cast<std::int64_t>(n);
        written[offset] = {offset, records[n].key, records[n].value, records[n].timestamp, false};
      }
      log->set_high_watermark(log->log_end_offset());
      if (i == appends / 2) {
        // Make sure passes overlap the appends, however the threads are scheduled.
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        while (passes.load() < 2 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
      }
    }
    writer_done = true;
  });
  std::thread reader([&] {
    int scans = 0;
    while (!writer_done.load() || scans == 0) {
      ++scans;
      log_contents contents;
      std::string problem = read_all(*log, contents);
      for (const auto& r : contents.records) {
        if (!r.key || !r.value || !r.value->starts_with(*r.key + "#")) problem = "unexpected record";
      }
      if (!problem.empty() && reader_errors.fetch_add(1) == 0) reader_error = problem;
    }
  });

  log_cleaner cleaner;
  std::int64_t checkpoint = 0;
  std::error_code clean_error;
  while (!writer_done.load()) {
    cleaning_stats stats;
    clean_error = cleaner.clean(*log, checkpoint, stats);
    ++passes;  // even on failure, so the writer never waits for nothing
    if (clean_error) break;
    checkpoint = stats.cleaned_up_to;
  }
  writer.join();
  reader.join();
  ASSERT_FALSE(clean_error) << clean_error.message();
  EXPECT_EQ(writer_error, "");
  EXPECT_EQ(reader_errors.load(), 0) << reader_error;
  EXPECT_GE(passes.load(), 2);

  cleaning_stats stats;
  ASSERT_FALSE(cleaner.clean(*log, checkpoint, stats));
  log_contents contents;
  ASSERT_EQ(read_all(*log, contents), "");
  std::map<std::string, std::int64_t> newest;
  for (const auto& [offset, r] : written) newest[*r.key] = offset;
  std::set<std::int64_t> present;
  for (const auto& r : contents.records) {
    present.insert(r.offset);
    ASSERT_TRUE(written.contains(r.offset));
    EXPECT_EQ(r, written.at(r.offset));
  }
  for (const auto& [key, offset] : newest) EXPECT_TRUE(present.contains(offset)) << key;
  for (auto it = written.lower_bound(stats.cleaned_up_to); it != written.end(); ++it) {
    EXPECT_TRUE(present.contains(it->first)) << it->first;
  }
  EXPECT_EQ(log->log_end_offset(), static_cast<std::int64_t>(written.size()));
}

// ---- what compaction keeps ----

TEST_F(LogCleanerTest, NonCompactLogIsNeverTouched) {
  log_config config = compact_config();
  config.cleanup.compact = false;
  config.cleanup.delete_segments = true;
  config.segment_ms = 1000;
  auto log = open_log("topic-0", config);
  ASSERT_TRUE(log);
  for (int i = 0; i < 20; ++i) put(*log, {{"same", "v" + std::to_string(i)}});
  roll_on_next_append();
  put(*log, {{"same", "last"}});
  const auto files = snapshot(dir_ / "topic-0");
  log_cleaner cleaner;
  cleaning_stats stats;
  ASSERT_FALSE(cleaner.clean(*log, 0, stats));
  EXPECT_FALSE(stats.cleaned);
  EXPECT_EQ(stats.cleaned_up_to, 0);
  EXPECT_EQ(snapshot(dir_ / "topic-0"), files);
}

TEST_F(LogCleanerTest, KeylessRecordsAndControlBatchesAreKept) {
  log_config config = compact_config();
  config.segment_ms = 1000;
  auto log = open_log("topic-0", config);
  ASSERT_TRUE(log);
  put(*log, {{"k", "v1"}, {std::nullopt, "keyless-1"}, {"k", "v2"}});  // offsets 0-2
  // A commit marker as a transaction coordinator writes it: key (version 0, type 1), value (version 0, epoch 5).
  proto::record_batch_builder_options marker;
  marker.control = true;
  marker.transactional = true;
  marker.producer_id = 9;
  marker.producer_epoch = 1;
  const std::string control_key("\0\0\0\1", 4);
  const std::string control_value("\0\0\0\0\0\5", 6);
  const proto::bytes control = make_batch({{control_key, control_value, clock_->now_ms()}}, marker);
  append(*log, control);                                  // offset 3
  put(*log, {{std::nullopt, "keyless-2"}, {"k", "v3"}});  // offsets 4-5
  roll_on_next_append();
  put(*log, {{"k", "v4"}});  // offset 6, active

  log_cleaner cleaner;
  cleaning_stats stats;
  ASSERT_FALSE(cleaner.clean(*log, 0, stats));
  EXPECT_EQ(stats.records_removed, 2);
  log_contents contents;
  ASSERT_EQ(read_all(*log, contents), "");
  std::vector<std::int64_t> offsets;
  for (const auto& r : contents.records) offsets.push_back(r.offset);
  EXPECT_EQ(offsets, (std::vector<std::int64_t>{1, 3, 4, 5, 6}));
  ASSERT_EQ(contents.records.size(), 5u);
  EXPECT_EQ(contents.records[0].value, "keyless-1");
  EXPECT_TRUE(contents.records[1].control);
  EXPECT_EQ(contents.records[1].key, control_key);
  EXPECT_EQ(contents.records[2].value, "keyless-2");

  // The marker batch is byte for byte what was appended (offset assigned).
  read_result result;
  ASSERT_FALSE(log->read(3, 1 << 20, 4, true, result));
  proto::bytes stored;
  ASSERT_FALSE(result.records.read_into(stored));
  proto::bytes expected = control;
  ASSERT_FALSE(proto::set_base_offset(expected, 3));
  EXPECT_EQ(stored, expected);
}

TEST_F(LogCleanerTest, RebuiltBatchKeepsItsHeader) {
  log_config config = compact_config();
  config.segment_ms = 1000;
  config.message_timestamp_type = proto::timestamp_type::log_append_time;
  auto log = open_log("topic-0", config);
  ASSERT_TRUE(log);
  for (const auto codec : {proto::compression_codec::none, proto::compression_codec::zstd}) {
    SCOPED_TRACE(std::string(proto::to_string(codec)));
    const std::int64_t base = log->log_end_offset();
    proto::record_batch_builder_options options;
    options.codec = codec;
    options.producer_id = 42;
    options.producer_epoch = 2;
    options.base_sequence = 100;
    options.partition_leader_epoch = 6;
    const std::int64_t created = clock_->now_ms() - 5000;
    // a (obsoleted by the last record), b, c (obsoleted by the next batch), a: offsets base..base+3
    const std::string p(proto::to_string(codec));
    append(*log, make_batch({{p + "a", "1", created},
                             {p + "b", "2", created + 1},
                             {p + "c", "3", created + 2},
                             {p + "a", "4", created + 3}},
                            options));
    const std::int64_t append_time = clock_->now_ms();
    clock_->advance(10);
    put(*log, {{p + "c", "5"}});
    roll_on_next_append();
    put(*log, {{p + "z", "active"}});

    log_cleaner cleaner;
    cleaning_stats stats;
    ASSERT_FALSE(cleaner.clean(*log, 0, stats));
    EXPECT_EQ(stats.records_removed, 2);
    read_result result;
    ASSERT_FALSE(log->read(base, 1 << 20, base + 4, true, result));
    proto::bytes stored;
    ASSERT_FALSE(result.records.read_into(stored));
    proto::record_batch_view batch;
    ASSERT_FALSE(proto::record_batch_view::parse(stored, batch));
    ASSERT_FALSE(batch.validate());
    const auto& h = batch.header();
    EXPECT_EQ(h.base_offset, base);
    EXPECT_EQ(h.last_offset_delta, 3);  // the batch still ends where it did
    EXPECT_EQ(h.records_count, 2);
    EXPECT_EQ(h.attributes.codec(), codec);
    EXPECT_EQ(h.attributes.timestamps(), proto::timestamp_type::log_append_time);
    EXPECT_EQ(h.max_timestamp, append_time);
    EXPECT_EQ(h.producer_id, 42);
    EXPECT_EQ(h.producer_epoch, 2);
    EXPECT_EQ(h.base_sequence, 100);
    EXPECT_EQ(h.partition_leader_epoch, 6);
    log_contents contents;
    ASSERT_EQ(read_all(*log, contents, base + 4), "");
    std::vector<stored_record> expected = {{base + 1, p + "b", "2", append_time, false},
                                           {base + 3, p + "a", "4", append_time, false}};
    std::vector<stored_record> got;
    for (const auto& r : contents.records) {
      if (r.offset >= base) got.push_back(r);
    }
    EXPECT_EQ(got, expected);
    clock_->advance(1000);
  }
}

TEST_F(LogCleanerTest, EmptiedSegmentKeepsOffsetsAndSurvivesReopen) {
  log_config config = compact_config();
  config.segment_ms = 1000;
  auto log = open_log("topic-0", config);
  ASSERT_TRUE(log);
  put(*log, {{"a", "1"}, {"b", "1"}});  // segment at 0: all of it obsolete after the next
  roll_on_next_append();
  put(*log, {{"a", "2"}, {"b", "2"}});  // at 2
  roll_on_next_append();
  put(*log, {{"c", "1"}});  // active at 4
  log_cleaner cleaner;
  cleaning_stats stats;
  ASSERT_FALSE(cleaner.clean(*log, 0, stats));
  EXPECT_EQ(stats.records_removed, 2);
  EXPECT_EQ(stats.segments_rewritten, 1);
  EXPECT_EQ(log->segment_count(), 3u);
  EXPECT_EQ(log->log_start_offset(), 0);
  EXPECT_EQ(log->log_end_offset(), 5);
  log_contents contents;
  ASSERT_EQ(read_all(*log, contents), "");
  ASSERT_EQ(contents.records.size(), 3u);
  EXPECT_EQ(contents.records[0].offset, 2);

  close_log(log);
  log = open_log("topic-0", config);
  ASSERT_TRUE(log);
  EXPECT_EQ(log->log_end_offset(), 5);
  ASSERT_EQ(read_all(*log, contents), "");
  ASSERT_EQ(contents.records.size(), 3u);
  EXPECT_EQ(contents.records[0].offset, 2);
  put(*log, {{"d", "1"}});
  EXPECT_EQ(log->log_end_offset(), 6);
}

// Compaction can leave whole segments empty, several in a row, and gaps after a segment's last batch: a read at
// any offset in such a stretch goes on to the next record.
TEST_F(LogCleanerTest, ReadsGoPastEmptiedSegments) {
  log_config config = compact_config();
  config.segment_ms = 1000;
  auto log = open_log("topic-0", config);
  ASSERT_TRUE(log);
  put(*log, {{"a", "1"}});  // segment at 0: emptied
  roll_on_next_append();
  put(*log, {{"b", "1"}});  // at 1: emptied
  roll_on_next_append();
  put(*log, {{"c", "1"}, {"a", "2"}});  // at 2: one batch, both kept
  put(*log, {{"b", "2"}});              // 4: kept
  put(*log, {{"d", "1"}});              // 5: dropped, leaving a gap at the end of the segment
  roll_on_next_append();
  put(*log, {{"e", "1"}});  // at 6: emptied
  roll_on_next_append();
  put(*log, {{"d", "2"}});  // at 7
  put(*log, {{"e", "2"}});  // 8
  roll_on_next_append();
  put(*log, {{"z", "1"}});  // active at 9
  log_cleaner cleaner;
  cleaning_stats stats;
  ASSERT_FALSE(cleaner.clean(*log, 0, stats));
  EXPECT_EQ(stats.records_removed, 4);
  ASSERT_EQ(log->segment_count(), 6u);
  const std::map<std::int64_t, std::int64_t> first_batch = {{0, 2}, {1, 2}, {2, 2}, {3, 2}, {4, 4},
                                                            {5, 7}, {6, 7}, {7, 7}, {8, 8}, {9, 9}};
  for (const auto& [offset, expected] : first_batch) {
    SCOPED_TRACE("read at " + std::to_string(offset));
    read_result result;
    ASSERT_FALSE(log->read(offset, 1 << 20, log->log_end_offset(), true, result));
    EXPECT_FALSE(result.records.empty());
    EXPECT_EQ(result.first_batch_offset, expected);
  }
  log_contents contents;
  ASSERT_EQ(read_all(*log, contents), "");
  std::vector<std::int64_t> offsets;
  for (const auto& r : contents.records) offsets.push_back(r.offset);
  EXPECT_EQ(offsets, (std::vector<std::int64_t>{2, 3, 4, 7, 8, 9}));
}

TEST_F(LogCleanerTest, TombstonesLastDeleteRetention) {
  log_config config = compact_config();
  config.segment_ms = 1000;
  config.delete_retention_ms = 30'000;
  auto log = open_log("topic-0", config);
  ASSERT_TRUE(log);
  put(*log, {{"gone", "v"}, {"gone", std::nullopt}, {"kept", "v"}});
  roll_on_next_append();
  put(*log, {{"x", "1"}});
  log_cleaner cleaner;
  cleaning_stats stats;
  ASSERT_FALSE(cleaner.clean(*log, 0, stats));
  EXPECT_EQ(stats.records_removed, 1);
  EXPECT_EQ(stats.tombstones_removed, 0);
  log_contents contents;
  ASSERT_EQ(read_all(*log, contents), "");
  ASSERT_EQ(contents.records.size(), 3u);
  EXPECT_EQ(contents.records[0].key, "gone");
  EXPECT_EQ(contents.records[0].value, std::nullopt);

  // Past delete.retention.ms the next pass drops the tombstone too (the pass needs something dirty to run).
  clock_->advance(31'000);
  put(*log, {{"x", "2"}});
  ASSERT_FALSE(cleaner.clean(*log, stats.cleaned_up_to, stats));
  EXPECT_EQ(stats.tombstones_removed, 1);
  ASSERT_EQ(read_all(*log, contents), "");
  ASSERT_EQ(contents.records.size(), 3u);
  EXPECT_EQ(contents.records[0].key, "kept");
}

}  // namespace
}  // namespace vltava::storage
