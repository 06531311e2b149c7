// Crash-recovery tests of a partition log: cutting the last segment at every byte inside its last batches, flipping
// bytes inside a batch, corruption in an older segment above and below the recovery point, missing or broken index
// files, clean-shutdown trust (no scan), and the leftovers of interrupted compaction swaps. Each pins that recovery
// keeps exactly the intact prefix, reports what it cut, and leaves a log that takes appends again.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "storage_test_support.h"
#include "vltava/protocol/record_batch.h"
#include "vltava/protocol/record_batch_builder.h"
#include "vltava/storage/log_segment.h"
#include "vltava/storage/partition_log.h"
#include "vltava/storage/storage_context.h"
#include "vltava/storage/storage_error.h"

namespace vltava::storage {
namespace {

namespace fs = std::filesystem;
using namespace vltava::storage::testing;
using protocol::bytes;

constexpr std::int64_t first_timestamp = 1'700'000'000'000;

// Where a batch landed and what it holds.
struct written_batch {
  std::int64_t base_offset = 0;
  std::int64_t last_offset = 0;
  std::int64_t max_timestamp = -1;
  std::string file;  // file name of the segment .log holding it
  std::uint64_t position = 0;
  std::uint64_t size = 0;
  std::vector<stored_record> records;
};

// Batch number i of the test logs: 1 to 4 records, values of varied length, every third batch gzip-compressed and
// every fifth lz4-compressed; timestamps grow with i.
bytes make_test_batch(int i, const std::string& tag = "b") {
  protocol::record_batch_builder_options options;
  if (i % 3 == 2) {
    options.codec = protocol::compression_codec::gzip;
  } else if (i % 5 == 4) {
    options.codec = protocol::compression_codec::lz4;
  }
  protocol::record_batch_builder builder(options);
  const int count = 1 + i % 4;
  for (int r = 0; r < count; ++r) {
    const std::string key = tag + std::to_string(i) + "-r" + std::to_string(r);
    std::string value = "value-of-" + key + "-";
    // Random-looking fill so that compression does not shrink every batch to the same size.
    for (int k = 0; k < 10 + (i * 37 + r * 11) % 80; ++k) value.push_back(static_cast<char>('a' + (k * 7 + i) % 26));
    builder.append(first_timestamp + i * 100 + r, as_bytes(key), as_bytes(value));
  }
  bytes out;
  EXPECT_FALSE(builder.build(out));
  return out;
}

void flip_byte(const fs::path& path, std::uint64_t position, std::uint8_t mask) {
  auto data = read_file_bytes(path);
  ASSERT_LT(position, data.size());
  data[position] ^= mask;
  write_file_bytes(path, data);
}

std::vector<stored_record> records_of(const std::vector<written_batch>& batches, std::size_t count) {
  std::vector<stored_record> out;
  for (std::size_t i = 0; i < count && i < batches.size(); ++i) {
    out.insert(out.end(), batches[i].records.begin(), batches[i].records.end());
  }
  return out;
}

class RecoveryTest : public temp_dir_test {
 protected:
  void SetUp() override {
    temp_dir_test::SetUp();
    clock_ = std::make_shared<manual_clock>(first_timestamp + 10'000);
    context_.time = clock_;
    // Small segments (2 to 3 of them for 20 batches) and a small index interval, so that indexes have entries.
    config_.segment_bytes = 1500;
    config_.index_interval_bytes = 256;
  }

  std::shared_ptr<partition_log> open_log(const fs::path& dir, const partition_log::open_options& options,
                                          log_recovery_report& report) {
    std::shared_ptr<partition_log> log;
    const auto ec = partition_log::open(dir, {"topic", 0}, config_, context_, options, log, report);
    EXPECT_FALSE(ec) << ec.message();
    return log;
  }

  static partition_log::open_options unclean(std::int64_t recovery_point = 0) {
    partition_log::open_options options;
    options.recovery_point = recovery_point;
    options.clean_shutdown = false;
    return options;
  }
  static partition_log::open_options clean(std::int64_t recovery_point) {
    partition_log::open_options options;
    options.recovery_point = recovery_point;
    options.clean_shutdown = true;
    return options;
  }

  // Writes count test batches into a new log in dir and records where each landed.
  std::vector<written_batch> write_batches(partition_log& log, int count, const std::string& tag = "b") {
    std::vector<written_batch> out;
    for (int i = 0; i < count; ++i) {
      bytes batch = make_test_batch(i, tag);
      append_result appended;
      EXPECT_FALSE(log.append(batch, appended));
      written_batch w;
      w.base_offset = appended.base_offset;
      w.last_offset = appended.last_offset;
      w.records = decode_records(batch);  // offsets were assigned in place
      protocol::record_batch_view view;
      EXPECT_FALSE(protocol::record_batch_view::parse(batch, view));
      w.max_timestamp = view.header().max_timestamp;
      read_result where;
      EXPECT_FALSE(log.read(w.base_offset, 1, log.log_end_offset(), true, where));
      EXPECT_EQ(where.first_batch_offset, w.base_offset);
      EXPECT_EQ(where.records.length, batch.size());
      if (where.records.source) w.file = where.records.source->path().filename().string();
      w.position = where.records.position;
      w.size = where.records.length;
      out.push_back(std::move(w));
    }
    log.set_high_watermark(log.log_end_offset());
    return out;
  }

  // A log of 20 batches in 2 or 3 segments, then a copy of its directory taken while it is open after a flush:
  // the files as a crash would leave them (no seal, no close). Returns the batches; the copy is in crashed_dir().
  std::vector<written_batch> make_crashed_log(int count = 20) {
    log_recovery_report report;
    auto log = open_log(dir_ / "live" / "topic-0", clean(0), report);
    EXPECT_TRUE(log);
    if (!log) return {};
    auto batches = write_batches(*log, count);
    EXPECT_FALSE(log->flush());
    copy_directory(log->directory(), crashed_dir());
    EXPECT_FALSE(log->close());
    return batches;
  }
  fs::path crashed_dir() const { return dir_ / "crashed" / "topic-0"; }

  static std::vector<std::string> segment_files(const std::vector<written_batch>& batches) {
    std::vector<std::string> files;
    for (const auto& b : batches) {
      if (files.empty() || files.back() != b.file) files.push_back(b.file);
    }
    return files;
  }

  std::shared_ptr<manual_clock> clock_;
  storage_context context_;
  log_config config_;
};

// Appends one batch to a recovered log and checks it lands at the log end offset and reads back.
void expect_appendable(partition_log& log, std::int64_t expected_offset) {
  bytes batch = make_test_batch(7, "after-recovery-");
  const auto expected = decode_records(batch);
  append_result appended;
  ASSERT_FALSE(log.append(batch, appended));
  EXPECT_EQ(appended.base_offset, expected_offset);
  EXPECT_EQ(log.log_end_offset(), expected_offset + static_cast<std::int64_t>(expected.size()));
  read_result result;
  ASSERT_FALSE(log.read(expected_offset, 1 << 20, log.log_end_offset(), true, result));
  bytes data;
  ASSERT_FALSE(result.records.read_into(data));
  const auto records = decode_records(data);
  ASSERT_EQ(records.size(), expected.size());
  for (std::size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(records[i].offset, expected_offset + static_cast<std::int64_t>(i));
    EXPECT_EQ(records[i].key, expected[i].key);
    EXPECT_EQ(records[i].value, expected[i].value);
    EXPECT_EQ(records[i].timestamp, expected[i].timestamp);
  }
}

TEST_F(RecoveryTest, TestLogHasSeveralSegmentsAndIndexedBatches) {
  const auto batches = make_crashed_log();
  ASSERT_EQ(batches.size(), 20u);
  const auto files = segment_files(batches);
  EXPECT_GE(files.size(), 2u);
  EXPECT_LE(files.size(), 3u);
  std::size_t in_last = 0;
  for (const auto& b : batches) in_last += b.file == files.back() ? 1 : 0;
  EXPECT_GE(in_last, 4u);
  for (const auto& name : files) {
    const auto index = crashed_dir() / (name.substr(0, 20) + ".index");
    EXPECT_GE(fs::file_size(index), offset_index::entry_size) << name;
  }
}

// Cuts the last segment at every byte from the start of its third-to-last batch to its end: recovery keeps exactly
// the batches wholly before the cut and truncates the rest, reporting the bytes it cut. Cuts alternate between a
// recovery point of 0 (every segment scanned) and one at the last segment's base (only it scanned, the older ones
// trusted), which halves the fsyncs of these hundreds of rounds.
TEST_F(RecoveryTest, CutAtEveryPositionInsideTheLastBatchesKeepsExactlyTheIntactPrefix) {
  const auto batches = make_crashed_log();
  ASSERT_EQ(batches.size(), 20u);
  const std::string last_file = batches.back().file;
  const std::size_t first_cut_batch = batches.size() - 3;
  ASSERT_EQ(batches[first_cut_batch].file, last_file) << "the last segment must hold the last 3 batches";
  const std::uint64_t file_size = batches.back().position + batches.back().size;
  ASSERT_EQ(fs::file_size(crashed_dir() / last_file), file_size);
  const auto segment_count = static_cast<std::int32_t>(segment_files(batches).size());
  std::int64_t last_base = 0;
  for (const auto& b : batches) {
    if (b.file == last_file) {
      last_base = b.base_offset;
      break;
    }
  }

  const fs::path work = dir_ / "cut" / "topic-0";
  for (std::uint64_t cut = batches[first_cut_batch].position; cut <= file_size; ++cut) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    copy_directory(crashed_dir(), work);
    fs::resize_file(work / last_file, cut);

    // The intact prefix: every batch of older segments and those of the last that end at or before the cut.
    std::size_t intact = 0;
    std::uint64_t prefix_end = 0;
    while (intact < batches.size() &&
           (batches[intact].file != last_file || batches[intact].position + batches[intact].size <= cut)) {
      if (batches[intact].file == last_file) prefix_end = batches[intact].position + batches[intact].size;
      ++intact;
    }
    const std::int64_t expected_end = batches[intact - 1].last_offset + 1;

    const bool scan_all = cut % 2 == 0;
    log_recovery_report report;
    auto log = open_log(work, unclean(scan_all ? 0 : last_base), report);
    ASSERT_TRUE(log);
    EXPECT_EQ(log->log_end_offset(), expected_end);
    EXPECT_EQ(log->recovery_point(), expected_end);
    EXPECT_EQ(fs::file_size(work / last_file), prefix_end);
    EXPECT_EQ(report.bytes_truncated, static_cast<std::int64_t>(cut - prefix_end));
    EXPECT_EQ(report.segments_deleted, 0);
    EXPECT_EQ(report.segments_scanned, scan_all ? segment_count : 1);
    if (cut > prefix_end) {
      EXPECT_FALSE(report.notes.empty());
    } else {
      EXPECT_TRUE(report.notes.empty());
    }
    const auto kept = records_of(batches, intact);
    EXPECT_EQ(read_all(*log), kept);
    // The largest timestamp is recomputed from what is left, not remembered from the cut batches.
    std::int64_t max_offset = -1;
    std::int64_t max_timestamp = -1;
    log->max_timestamp_offset(max_offset, max_timestamp);
    EXPECT_EQ(max_timestamp, kept.back().timestamp);
    EXPECT_EQ(max_offset, kept.back().offset);
    // The rebuilt indexes of the last segment point only into what is left.
    for (const auto& segment : log->segments()) {
      for (const auto& entry : segment->offsets().entries()) EXPECT_LT(entry.position, segment->size());
    }
    expect_appendable(*log, expected_end);
    log.reset();               // dropped without close(): its fsyncs would only slow the hundreds of rounds down
    if (HasFailure()) return;  // one broken cut position is enough to see; the rest would repeat it
  }
}

// A cut inside the first batch of the last segment leaves that segment empty: it stays the active segment, the log
// ends at its base offset, and appends continue there.
TEST_F(RecoveryTest, CutInsideTheFirstBatchOfTheLastSegmentLeavesItEmpty) {
  const auto batches = make_crashed_log();
  const std::string last_file = batches.back().file;
  std::size_t first_in_last = 0;
  while (batches[first_in_last].file != last_file) ++first_in_last;
  const auto& first = batches[first_in_last];
  ASSERT_EQ(first.position, 0u);
  const auto segment_count = segment_files(batches).size();
  const fs::path work = dir_ / "cut" / "topic-0";
  for (const std::uint64_t cut : std::vector<std::uint64_t>{0, 1, 11, 12, 60, 61, first.size - 1}) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    copy_directory(crashed_dir(), work);
    fs::resize_file(work / last_file, cut);
    log_recovery_report report;
    auto log = open_log(work, unclean(0), report);
    ASSERT_TRUE(log);
    EXPECT_EQ(report.bytes_truncated, static_cast<std::int64_t>(cut));
    EXPECT_EQ(log->segment_count(), segment_count);
    EXPECT_EQ(log->log_end_offset(), first.base_offset);
    EXPECT_EQ(fs::file_size(work / last_file), 0u);
    EXPECT_EQ(read_all(*log), records_of(batches, first_in_last));
    expect_appendable(*log, first.base_offset);
    EXPECT_EQ(log->segment_count(), segment_count);  // appended into the emptied segment, not a new one
    EXPECT_FALSE(log->close());
  }
}

// A byte flipped anywhere in a batch that the CRC covers, or in its length or magic, ends the log just before that
// batch: the batches before it stay, it and everything after it go.
TEST_F(RecoveryTest, FlippedByteInAMiddleBatchKeepsOnlyTheBatchesBeforeIt) {
  const auto batches = make_crashed_log();
  const std::string last_file = batches.back().file;
  std::size_t victim_index = batches.size() - 2;  // the last segment's second-to-last batch: one before, one after
  ASSERT_EQ(batches[victim_index - 1].file, last_file);
  const auto& victim = batches[victim_index];
  const std::uint64_t file_size = fs::file_size(crashed_dir() / last_file);

  struct flip {
    std::uint64_t at;  // relative to the batch start
    std::uint8_t mask;
    const char* what;
  };
  const std::vector<flip> flips = {
      {8, 0x80, "length sign bit"},
      {9, 0x01, "length, large"},
      {11, 0x01, "length, off by one"},
      {11, 0x10, "length, off by 16"},
      {16, 0x01, "magic"},
      {17, 0xff, "CRC first byte"},
      {20, 0x01, "CRC last byte"},
      {21, 0x01, "attributes high byte"},
      {22, 0x01, "attributes codec bits"},
      {23, 0x01, "last offset delta"},
      {27, 0x01, "base timestamp"},
      {35, 0x04, "max timestamp"},
      {43, 0x01, "producer id"},
      {57, 0x01, "records count"},
      {61, 0x01, "first record byte"},
      {victim.size / 2, 0x20, "middle of the records"},
      {victim.size - 1, 0x01, "last byte"},
  };
  const fs::path work = dir_ / "flip" / "topic-0";
  for (const auto& f : flips) {
    SCOPED_TRACE(std::string("flip of the ") + f.what + " at +" + std::to_string(f.at));
    copy_directory(crashed_dir(), work);
    flip_byte(work / last_file, victim.position + f.at, f.mask);
    log_recovery_report report;
    auto log = open_log(work, unclean(0), report);
    ASSERT_TRUE(log);
    EXPECT_EQ(log->log_end_offset(), victim.base_offset);
    EXPECT_EQ(fs::file_size(work / last_file), victim.position);
    EXPECT_EQ(report.bytes_truncated, static_cast<std::int64_t>(file_size - victim.position));
    EXPECT_EQ(report.segments_deleted, 0);
    EXPECT_FALSE(report.notes.empty());
    EXPECT_EQ(read_all(*log), records_of(batches, victim_index));
    expect_appendable(*log, victim.base_offset);
    EXPECT_FALSE(log->close());
  }
}

// A corrupt batch in an older segment: when that segment is above the recovery point it is scanned, truncated there,
// and every later segment deleted; when the recovery point covers it, it is trusted and the corruption stays
// undetected at open (only a read would see the bad CRC).
TEST_F(RecoveryTest, CorruptionInAnOlderSegmentIsFoundOnlyAboveTheRecoveryPoint) {
  const auto batches = make_crashed_log();
  const auto files = segment_files(batches);
  ASSERT_GE(files.size(), 2u);
  // A batch in the middle of the first segment (not its first, so that something of it survives).
  const std::string corrupt_file = files[0];
  std::vector<std::size_t> in_segment;
  for (std::size_t i = 0; i < batches.size(); ++i) {
    if (batches[i].file == corrupt_file) in_segment.push_back(i);
  }
  ASSERT_GE(in_segment.size(), 3u);
  const std::size_t victim_index = in_segment[in_segment.size() / 2];
  const auto& victim = batches[victim_index];
  const std::int64_t next_segment_base = batches[in_segment.back() + 1].base_offset;
  const std::int64_t original_end = batches.back().last_offset + 1;
  const auto original_size = fs::file_size(crashed_dir() / corrupt_file);
  flip_byte(crashed_dir() / corrupt_file, victim.position + victim.size - 3, 0x40);

  {
    SCOPED_TRACE("recovery point 0: the corrupt segment is scanned");
    const fs::path work = dir_ / "scanned" / "topic-0";
    copy_directory(crashed_dir(), work);
    log_recovery_report report;
    auto log = open_log(work, unclean(0), report);
    ASSERT_TRUE(log);
    EXPECT_EQ(log->log_end_offset(), victim.base_offset);
    EXPECT_EQ(report.segments_deleted, static_cast<std::int32_t>(files.size() - 1));
    EXPECT_EQ(report.segments_scanned, 1);  // the segments after the corrupt one are deleted unread
    EXPECT_EQ(report.bytes_truncated, static_cast<std::int64_t>(original_size - victim.position));
    EXPECT_GE(report.notes.size(), 1 + files.size() - 1);
    EXPECT_EQ(log->segment_count(), 1u);
    EXPECT_EQ(fs::file_size(work / corrupt_file), victim.position);
    for (std::size_t i = 1; i < files.size(); ++i) {
      const std::string stem = files[i].substr(0, 20);
      EXPECT_FALSE(fs::exists(work / (stem + ".log"))) << stem;
      EXPECT_FALSE(fs::exists(work / (stem + ".index"))) << stem;
      EXPECT_FALSE(fs::exists(work / (stem + ".timeindex"))) << stem;
    }
    EXPECT_EQ(read_all(*log), records_of(batches, victim_index));
    expect_appendable(*log, victim.base_offset);
    EXPECT_FALSE(log->close());
  }
  {
    SCOPED_TRACE("recovery point at the next segment: the corrupt segment is trusted");
    const fs::path work = dir_ / "trusted" / "topic-0";
    copy_directory(crashed_dir(), work);
    log_recovery_report report;
    auto log = open_log(work, unclean(next_segment_base), report);
    ASSERT_TRUE(log);
    EXPECT_EQ(report.segments_scanned, static_cast<std::int32_t>(files.size() - 1));
    EXPECT_EQ(report.segments_deleted, 0);
    EXPECT_EQ(report.bytes_truncated, 0);
    EXPECT_EQ(log->log_end_offset(), original_end);
    EXPECT_EQ(log->segment_count(), files.size());
    EXPECT_EQ(fs::file_size(work / corrupt_file), original_size);
    // The damage is still there for a reader to find.
    read_result result;
    ASSERT_FALSE(log->read(victim.base_offset, 1, original_end, true, result));
    bytes data;
    ASSERT_FALSE(result.records.read_into(data));
    protocol::record_batch_view view;
    ASSERT_FALSE(protocol::record_batch_view::parse(data, view));
    EXPECT_EQ(view.header().base_offset, victim.base_offset);
    EXPECT_FALSE(view.crc_matches());
    EXPECT_FALSE(log->close());
  }
}

// Answers a log gives that depend on its indexes, for comparison before and after they are rebuilt.
struct index_answers {
  std::vector<std::pair<std::int64_t, std::uint64_t>> batch_at;  // per offset: (first batch offset, position)
  std::vector<std::tuple<std::int64_t, std::int64_t, bool>> by_timestamp;
  std::int64_t max_timestamp_offset = -1;
  std::int64_t max_timestamp = -1;
  std::vector<std::vector<offset_position>> offset_entries;  // per segment
  bool operator==(const index_answers&) const = default;
};

index_answers answers_of(const partition_log& log, const std::vector<written_batch>& batches) {
  index_answers out;
  for (std::int64_t offset = 0; offset < log.log_end_offset(); ++offset) {
    read_result result;
    EXPECT_FALSE(log.read(offset, 1, log.log_end_offset(), true, result));
    out.batch_at.emplace_back(result.first_batch_offset, result.records.position);
  }
  const std::int64_t last_timestamp = batches.back().max_timestamp;
  for (std::int64_t t = first_timestamp - 5; t <= last_timestamp + 5; t += 7) {
    std::int64_t offset = -1;
    std::int64_t timestamp = -1;
    bool found = false;
    EXPECT_FALSE(log.offset_for_timestamp(t, offset, timestamp, found));
    out.by_timestamp.emplace_back(found ? offset : -1, found ? timestamp : -1, found);
  }
  log.max_timestamp_offset(out.max_timestamp_offset, out.max_timestamp);
  for (const auto& segment : log.segments()) out.offset_entries.push_back(segment->offsets().entries());
  return out;
}

void expect_whole_index_files(const fs::path& dir) {
  std::size_t logs = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const auto name = entry.path().filename().string();
    if (!name.ends_with(".log")) continue;
    ++logs;
    const std::string stem = name.substr(0, 20);
    ASSERT_TRUE(fs::exists(dir / (stem + ".index"))) << stem;
    ASSERT_TRUE(fs::exists(dir / (stem + ".timeindex"))) << stem;
    EXPECT_EQ(fs::file_size(dir / (stem + ".index")) % offset_index::entry_size, 0u) << stem;
    EXPECT_EQ(fs::file_size(dir / (stem + ".timeindex")) % time_index::entry_size, 0u) << stem;
  }
  EXPECT_GT(logs, 0u);
}

// Missing, cut or disordered index files are rebuilt from the log, even after a clean shutdown, and the log answers
// reads by offset and by timestamp exactly as before.
TEST_F(RecoveryTest, MissingOrCorruptIndexFilesAreRebuiltEvenAfterACleanShutdown) {
  std::vector<written_batch> batches;
  const fs::path pristine = dir_ / "pristine" / "topic-0";
  index_answers before;
  std::int64_t end = 0;
  std::vector<std::string> files;
  {
    log_recovery_report report;
    auto log = open_log(pristine, clean(0), report);
    ASSERT_TRUE(log);
    batches = write_batches(*log, 20);
    files = segment_files(batches);
    ASSERT_FALSE(log->close());
    log = open_log(pristine, clean(batches.back().last_offset + 1), report);
    ASSERT_TRUE(log);
    EXPECT_EQ(report.segments_scanned, 0);
    EXPECT_EQ(report.indexes_rebuilt, 0);
    end = log->log_end_offset();
    before = answers_of(*log, batches);
    ASSERT_FALSE(log->close());
  }
  ASSERT_GE(files.size(), 2u);
  for (const auto& entries : before.offset_entries) ASSERT_FALSE(entries.empty());

  auto each_index = [&](const fs::path& dir, const std::string& extension, auto&& change) {
    for (const auto& file : files) change(dir / (file.substr(0, 20) + extension));
  };
  struct scenario {
    const char* name;
    std::function<void(const fs::path&)> damage;
  };
  const std::vector<scenario> scenarios = {
      {"both indexes deleted",
       [&](const fs::path& dir) {
         each_index(dir, ".index", [](const fs::path& p) { fs::remove(p); });
         each_index(dir, ".timeindex", [](const fs::path& p) { fs::remove(p); });
       }},
      {"offset index deleted",
       [&](const fs::path& dir) { each_index(dir, ".index", [](const fs::path& p) { fs::remove(p); }); }},
      {"time index deleted",
       [&](const fs::path& dir) { each_index(dir, ".timeindex", [](const fs::path& p) { fs::remove(p); }); }},
      {"offset index cut inside an entry",
       [&](const fs::path& dir) {
         each_index(dir, ".index", [](const fs::path& p) { fs::resize_file(p, fs::file_size(p) - 3); });
       }},
      {"time index cut inside an entry",
       [&](const fs::path& dir) {
         each_index(dir, ".timeindex", [](const fs::path& p) { fs::resize_file(p, fs::file_size(p) - 5); });
       }},
      {"offset index entries going backwards",
       [&](const fs::path& dir) {
         // (relative offset, position): (3, 300) then (1, 100).
         each_index(dir, ".index", [](const fs::path& p) {
           write_file_bytes(p, {0, 0, 0, 3, 0, 0, 1, 44, 0, 0, 0, 1, 0, 0, 0, 100});
         });
       }},
      {"offset index pointing past the log",
       [&](const fs::path& dir) {
         each_index(dir, ".index", [](const fs::path& p) { write_file_bytes(p, {0, 0, 0, 1, 0, 1, 0, 0}); });
       }},
      {"time index entries going backwards",
       [&](const fs::path& dir) {
         each_index(dir, ".timeindex", [](const fs::path& p) {
           auto data = read_file_bytes(p);
           ASSERT_GE(data.size(), time_index::entry_size);
           std::vector<std::uint8_t> entry(data.begin(), data.begin() + time_index::entry_size);
           entry[7] ^= 0x01;  // a timestamp just beside the first one's, and an offset going back
           std::vector<std::uint8_t> garbage = entry;
           garbage.insert(garbage.end(), entry.begin(), entry.end());
           garbage[time_index::entry_size + 11] = 0;
           garbage[11] = 5;
           write_file_bytes(p, garbage);
         });
       }},
  };
  for (const auto& s : scenarios) {
    SCOPED_TRACE(s.name);
    const fs::path work = dir_ / "damaged" / "topic-0";
    copy_directory(pristine, work);
    s.damage(work);
    {
      log_recovery_report report;
      auto log = open_log(work, clean(end), report);
      ASSERT_TRUE(log);
      EXPECT_EQ(report.indexes_rebuilt, static_cast<std::int32_t>(files.size()));
      EXPECT_EQ(report.bytes_truncated, 0);
      EXPECT_EQ(log->log_end_offset(), end);
      EXPECT_EQ(answers_of(*log, batches), before);
      EXPECT_EQ(read_all(*log), records_of(batches, batches.size()));
      expect_whole_index_files(work);
      ASSERT_FALSE(log->close());
    }
    {
      // The rebuilt files are good: the next clean open rebuilds nothing.
      log_recovery_report report;
      auto log = open_log(work, clean(end), report);
      ASSERT_TRUE(log);
      EXPECT_EQ(report.indexes_rebuilt, 0);
      EXPECT_EQ(report.segments_scanned, 0);
      EXPECT_EQ(answers_of(*log, batches), before);
      ASSERT_FALSE(log->close());
    }
  }
}

// Indexes kept up across clean restarts (reopened, appended to, closed again) hold exactly the entries a rebuild from
// the log produces: what load_tail() restores from the files continues the index as if the log had never stopped.
TEST_F(RecoveryTest, IndexesContinuedAcrossRestartsEqualRebuiltOnes) {
  const fs::path dir = dir_ / "restarted" / "topic-0";
  std::vector<written_batch> batches;
  std::vector<std::vector<offset_position>> continued;
  std::int64_t end = 0;
  for (int round = 0; round < 4; ++round) {
    log_recovery_report report;
    auto log = open_log(dir, clean(end), report);
    ASSERT_TRUE(log);
    EXPECT_EQ(report.segments_scanned, 0);
    auto more = write_batches(*log, 5, "round" + std::to_string(round) + "-");
    batches.insert(batches.end(), more.begin(), more.end());
    end = log->log_end_offset();
    ASSERT_FALSE(log->close());
  }
  {
    log_recovery_report report;
    auto log = open_log(dir, clean(end), report);
    ASSERT_TRUE(log);
    for (const auto& segment : log->segments()) continued.push_back(segment->offsets().entries());
    ASSERT_FALSE(log->close());
  }
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() == ".index" || entry.path().extension() == ".timeindex") fs::remove(entry.path());
  }
  log_recovery_report report;
  auto log = open_log(dir, clean(end), report);
  ASSERT_TRUE(log);
  EXPECT_GT(report.indexes_rebuilt, 0);
  std::vector<std::vector<offset_position>> rebuilt;
  for (const auto& segment : log->segments()) rebuilt.push_back(segment->offsets().entries());
  EXPECT_EQ(rebuilt, continued);
  EXPECT_EQ(read_all(*log), records_of(batches, batches.size()));
  ASSERT_FALSE(log->close());
}

// A clean shutdown is trusted: nothing is scanned, so even a corrupted record goes unnoticed at open. Without one,
// exactly the segments holding offsets at or after the recovery point are scanned.
TEST_F(RecoveryTest, CleanShutdownSkipsScanningAndTheRecoveryPointLimitsIt) {
  const fs::path pristine = dir_ / "pristine" / "topic-0";
  std::vector<written_batch> batches;
  {
    log_recovery_report report;
    auto log = open_log(pristine, clean(0), report);
    ASSERT_TRUE(log);
    batches = write_batches(*log, 20);
    ASSERT_FALSE(log->close());
  }
  const auto files = segment_files(batches);
  ASSERT_GE(files.size(), 2u);
  const std::int64_t end = batches.back().last_offset + 1;
  std::int64_t last_base = 0;
  for (const auto& b : batches) {
    if (b.file == files.back()) {
      last_base = b.base_offset;
      break;
    }
  }
  const auto n = static_cast<std::int32_t>(files.size());

  struct expectation {
    partition_log::open_options options;
    std::int32_t scanned;
  };
  const std::vector<expectation> cases = {
      {clean(end), 0},         {clean(0), 0},  // with the marker the recovery point does not matter
      {unclean(end), 0},       {unclean(last_base + 1), 1},
      {unclean(last_base), 1}, {unclean(last_base - 1), 2},
      {unclean(0), n},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE("clean " + std::to_string(c.options.clean_shutdown) + ", recovery point " +
                 std::to_string(c.options.recovery_point));
    const fs::path work = dir_ / "work" / "topic-0";
    copy_directory(pristine, work);
    log_recovery_report report;
    auto log = open_log(work, c.options, report);
    ASSERT_TRUE(log);
    EXPECT_EQ(report.segments_scanned, c.scanned);
    EXPECT_EQ(report.indexes_rebuilt, 0);
    EXPECT_EQ(report.bytes_truncated, 0);
    EXPECT_TRUE(report.notes.empty());
    EXPECT_EQ(log->log_end_offset(), end);
    EXPECT_EQ(log->recovery_point(), end);
    EXPECT_EQ(read_all(*log), records_of(batches, batches.size()));
    ASSERT_FALSE(log->close());
  }

  {
    SCOPED_TRACE("a corrupted record under a clean shutdown is not looked for");
    const fs::path work = dir_ / "corrupt" / "topic-0";
    copy_directory(pristine, work);
    const auto& victim = batches[batches.size() - 2];
    flip_byte(work / victim.file, victim.position + victim.size - 1, 0x01);
    const auto size = fs::file_size(work / victim.file);
    log_recovery_report report;
    auto log = open_log(work, clean(end), report);
    ASSERT_TRUE(log);
    EXPECT_EQ(report.segments_scanned, 0);
    EXPECT_EQ(log->log_end_offset(), end);
    EXPECT_EQ(fs::file_size(work / victim.file), size);
    ASSERT_FALSE(log->close());
  }
  {
    SCOPED_TRACE("a tail that does not parse is cut even under a clean shutdown");
    const fs::path work = dir_ / "junk" / "topic-0";
    copy_directory(pristine, work);
    const auto size = fs::file_size(work / files.back());
    {
      std::ofstream out(work / files.back(), std::ios::binary | std::ios::app);
      out << "junk!!!";
    }
    log_recovery_report report;
    auto log = open_log(work, clean(end), report);
    ASSERT_TRUE(log);
    EXPECT_EQ(report.segments_scanned, 1);
    EXPECT_EQ(report.bytes_truncated, 7);
    EXPECT_FALSE(report.notes.empty());
    EXPECT_EQ(fs::file_size(work / files.back()), size);
    EXPECT_EQ(log->log_end_offset(), end);
    expect_appendable(*log, end);
    ASSERT_FALSE(log->close());
  }
}

std::vector<std::string> directory_names(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// Leftovers of an interrupted compaction: ".cleaned" and ".deleted" files are removed (the originals stand); a
// ".log.swap" file is a finished compaction and replaces the segments in its offset range.
TEST_F(RecoveryTest, InterruptedCompactionLeftoversAreResolvedAtOpen) {
  const auto batches = make_crashed_log();
  const auto files = segment_files(batches);
  ASSERT_GE(files.size(), 2u);
  const std::string first_stem = files[0].substr(0, 20);
  const std::int64_t end = batches.back().last_offset + 1;

  {
    SCOPED_TRACE(".cleaned and .deleted files");
    const fs::path work = dir_ / "cleaned" / "topic-0";
    copy_directory(crashed_dir(), work);
    const auto names_before = directory_names(work);
    write_file_bytes(work / (first_stem + ".log.cleaned"), {1, 2, 3, 4, 5});
    write_file_bytes(work / (first_stem + ".index.cleaned"), {1, 2, 3});
    write_file_bytes(work / (first_stem + ".timeindex.cleaned"), {});
    write_file_bytes(work / (first_stem + ".log.deleted"), {9, 9, 9});
    log_recovery_report report;
    auto log = open_log(work, unclean(end), report);
    ASSERT_TRUE(log);
    EXPECT_EQ(directory_names(work), names_before);
    EXPECT_FALSE(report.notes.empty());
    EXPECT_EQ(log->log_end_offset(), end);
    EXPECT_EQ(read_all(*log), records_of(batches, batches.size()));
    ASSERT_FALSE(log->close());
  }

  // The compacted form of the first segment: every other batch of it (offsets kept, gaps between), its last batch
  // always kept so that the swap spans the whole segment.
  std::vector<std::uint8_t> compacted;
  std::vector<stored_record> expected;
  {
    const auto original = read_file_bytes(crashed_dir() / files[0]);
    for (std::size_t i = 0; i < batches.size(); ++i) {
      const auto& b = batches[i];
      const bool last_of_segment = i + 1 < batches.size() && batches[i + 1].file != b.file;
      if (b.file == files[0] && i % 2 == 1 && !last_of_segment) continue;
      if (b.file == files[0]) {
        compacted.insert(compacted.end(), original.begin() + static_cast<std::ptrdiff_t>(b.position),
                         original.begin() + static_cast<std::ptrdiff_t>(b.position + b.size));
      }
      expected.insert(expected.end(), b.records.begin(), b.records.end());
    }
  }
  for (const bool indexes_gone : {false, true}) {
    SCOPED_TRACE(indexes_gone ? ".log.swap after the old indexes were removed" : ".log.swap beside the old files");
    const fs::path work = dir_ / "swap" / "topic-0";
    copy_directory(crashed_dir(), work);
    write_file_bytes(work / (first_stem + ".log.swap"), compacted);
    write_file_bytes(work / (first_stem + ".index.swap"), {});
    if (indexes_gone) {
      fs::remove(work / (first_stem + ".index"));
      fs::remove(work / (first_stem + ".timeindex"));
    }
    log_recovery_report report;
    auto log = open_log(work, unclean(end), report);
    ASSERT_TRUE(log);
    EXPECT_FALSE(report.notes.empty());
    for (const auto& name : directory_names(work)) EXPECT_FALSE(name.ends_with(".swap")) << name;
    EXPECT_EQ(read_file_bytes(work / files[0]), compacted);
    EXPECT_EQ(log->segment_count(), files.size());
    EXPECT_EQ(log->log_end_offset(), end);
    EXPECT_EQ(read_all(*log), expected);
    expect_whole_index_files(work);
    expect_appendable(*log, end);
    ASSERT_FALSE(log->close());
  }
}

// A compaction swap (replace_segments) stopped at each of its steps, as a crash would stop it: recovery ends with
// either all the old segments (before the swap was committed) or all of the compacted one (after), never a mix, and
// no leftover files.
TEST_F(RecoveryTest, SwapInterruptedAtEachStepRecoversEitherTheOldOrTheNewSegments) {
  for (int step = 1; step <= 5; ++step) {
    SCOPED_TRACE("crash before swap step " + std::to_string(step));
    const fs::path live = dir_ / ("live-" + std::to_string(step)) / "topic-0";
    log_recovery_report report;
    auto log = open_log(live, clean(0), report);
    ASSERT_TRUE(log);
    const auto batches = write_batches(*log, 20);
    const auto files = segment_files(batches);
    ASSERT_GE(files.size(), 2u);
    const std::int64_t end = batches.back().last_offset + 1;
    // Compact the oldest segments but the active one (two of them when there are three): every other batch goes,
    // the last batch of the range stays.
    const std::size_t merged = files.size() >= 3 ? 2 : 1;
    const std::set<std::string> merged_files(files.begin(), files.begin() + static_cast<std::ptrdiff_t>(merged));
    std::vector<std::int64_t> old_bases;
    std::vector<std::shared_ptr<log_segment>> old_segments;
    for (const auto& segment : log->segments()) {
      if (old_bases.size() < merged) {
        old_bases.push_back(segment->base_offset());
        old_segments.push_back(segment);
      }
    }
    std::unique_ptr<log_segment> replacement;
    ASSERT_FALSE(log_segment::create(live, old_bases.front(), log_segment::options::from(config_, nullptr),
                                     clock_->now_ms(), replacement, ".cleaned"));
    std::vector<stored_record> old_records;
    std::vector<stored_record> new_records;
    for (std::size_t i = 0; i < batches.size(); ++i) {
      const auto& b = batches[i];
      old_records.insert(old_records.end(), b.records.begin(), b.records.end());
      const bool in_range = merged_files.contains(b.file);
      const bool last_of_range = in_range && !merged_files.contains(batches[i + 1].file);
      if (in_range && i % 2 == 1 && !last_of_range) continue;
      new_records.insert(new_records.end(), b.records.begin(), b.records.end());
      if (!in_range) continue;
      const auto content = read_file_bytes(live / b.file);
      const std::span<const std::uint8_t> bytes_of_batch(content.data() + b.position, b.size);
      ASSERT_FALSE(replacement->append(bytes_of_batch, b.base_offset, b.last_offset, b.max_timestamp, b.base_offset));
    }
    const auto interrupted =
        log->replace_segments(old_segments, std::move(replacement), [&](int at) { return at != step; });
    EXPECT_TRUE(interrupted);
    const fs::path crashed = dir_ / ("crashed-" + std::to_string(step)) / "topic-0";
    copy_directory(live, crashed);
    (void)log->close();
    log.reset();

    log = open_log(crashed, unclean(end), report);
    ASSERT_TRUE(log);
    for (const auto& name : directory_names(crashed)) {
      EXPECT_FALSE(name.ends_with(".swap")) << name;
      EXPECT_FALSE(name.ends_with(".cleaned")) << name;
    }
    EXPECT_EQ(log->log_end_offset(), end);
    if (step == 1) {
      EXPECT_EQ(log->segment_count(), files.size());
      EXPECT_EQ(read_all(*log), old_records);
    } else {
      EXPECT_EQ(log->segment_count(), files.size() - merged + 1);
      EXPECT_EQ(read_all(*log), new_records);
    }
    expect_whole_index_files(crashed);
    expect_appendable(*log, end);
    ASSERT_FALSE(log->close());
  }
}

}  // namespace
}  // namespace vltava::storage
