// Tests of a partition log: offset assignment, reads by offset with byte and offset bounds, segment rolling,
// timestamp lookups, retention, DeleteRecords, truncation, flushing, and failed disks.
#include "vltava/storage/partition_log.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "storage_test_support.h"
#include "vltava/protocol/record_batch.h"
#include "vltava/protocol/record_batch_builder.h"
#include "vltava/storage/storage_error.h"

namespace vltava::storage {
namespace {

namespace fs = std::filesystem;
using namespace vltava::storage::testing;
using protocol::bytes;

std::vector<protocol::record_batch_header> decode_headers(const bytes& data) {
  std::vector<protocol::record_batch_header> out;
  protocol::record_batch_splitter splitter(data);
  protocol::record_batch_view batch;
  while (splitter.next(batch)) out.push_back(batch.header());
  return out;
}

class partition_log_test : public temp_dir_test {
 protected:
  void SetUp() override {
    temp_dir_test::SetUp();
    clock_ = std::make_shared<manual_clock>();
    context_.time = clock_;
  }
  void TearDown() override {
    if (log_) (void)log_->close();
    log_.reset();
    temp_dir_test::TearDown();
  }

  fs::path log_dir() const { return dir_ / "topic-0"; }

  void open(const log_config& config = {}, partition_log::open_options options = {}) {
    if (log_) (void)log_->close();
    log_.reset();
    log_recovery_report report;
    ASSERT_FALSE(partition_log::open(log_dir(), {"topic", 0}, config, context_, options, log_, report));
  }

  append_result append(bytes batch) {
    append_result result;
    EXPECT_FALSE(log_->append(batch, result));
    log_->set_high_watermark(log_->log_end_offset());
    return result;
  }

  bytes read_bytes(std::int64_t offset, std::uint64_t max_bytes = 1 << 30, std::optional<std::int64_t> max_offset = {},
                   bool min_one = true, read_result* result_out = nullptr) {
    read_result result;
    EXPECT_FALSE(log_->read(offset, max_bytes, max_offset.value_or(log_->log_end_offset()), min_one, result));
    bytes data;
    EXPECT_FALSE(result.records.read_into(data));
    if (result_out) *result_out = result;
    return data;
  }

  std::shared_ptr<manual_clock> clock_;
  storage_context context_;
  std::shared_ptr<partition_log> log_;
};

TEST_F(partition_log_test, AppendAssignsOffsetsFromTheLogEnd) {
  open();
  EXPECT_EQ(append(make_batch(2, 1000)).base_offset, 0);
  const auto second = append(make_batch(3, 1000));
  EXPECT_EQ(second.base_offset, 2);
  EXPECT_EQ(second.last_offset, 4);
  EXPECT_EQ(second.log_append_time, -1);
  EXPECT_EQ(append(make_batch(1, 1000)).base_offset, 5);
  EXPECT_EQ(log_->log_end_offset(), 6);
  const auto headers = decode_headers(read_bytes(0));
  ASSERT_EQ(headers.size(), 3u);
  EXPECT_EQ(headers[0].base_offset, 0);
  EXPECT_EQ(headers[1].base_offset, 2);
  EXPECT_EQ(headers[2].base_offset, 5);
  const auto records = decode_records(read_bytes(0));
  ASSERT_EQ(records.size(), 6u);
  for (std::size_t i = 0; i < records.size(); ++i) EXPECT_EQ(records[i].offset, static_cast<std::int64_t>(i));
  EXPECT_TRUE(fs::exists(log_dir() / "00000000000000000000.log"));
  EXPECT_TRUE(fs::exists(log_dir() / "00000000000000000000.index"));
  EXPECT_TRUE(fs::exists(log_dir() / "00000000000000000000.timeindex"));
}

TEST_F(partition_log_test, SeveralBatchesInOneAppendGetConsecutiveOffsets) {
  open();
  auto data = make_batch(2, 1000, "a");
  const auto more = make_batch(3, 1000, "b");
  data.insert(data.end(), more.begin(), more.end());
  const auto result = append(data);
  EXPECT_EQ(result.base_offset, 0);
  EXPECT_EQ(result.last_offset, 4);
  const auto headers = decode_headers(read_bytes(0));
  ASSERT_EQ(headers.size(), 2u);
  EXPECT_EQ(headers[1].base_offset, 2);
}

TEST_F(partition_log_test, StoresBatchesExactlyAsReceivedApartFromTheOffset) {
  open();
  append(make_batch(1, 1000));
  const auto original = make_batch(4, 2000, "z", protocol::compression_codec::lz4);
  append(original);
  auto stored = read_bytes(1);
  ASSERT_EQ(stored.size(), original.size());
  // Only the base offset (bytes 0..7) differs; the CRC still matches since it does not cover it.
  EXPECT_TRUE(std::equal(stored.begin() + 8, stored.end(), original.begin() + 8));
  EXPECT_EQ(protocol::load_be<std::int64_t>(stored.data()), 1);
}

TEST_F(partition_log_test, ReadFromTheMiddleOfABatchStartsAtThatBatch) {
  open();
  append(make_batch(2, 1000));
  append(make_batch(3, 1000));
  read_result result;
  const auto data = read_bytes(3, 1 << 20, {}, true, &result);
  EXPECT_EQ(result.first_batch_offset, 2);
  const auto headers = decode_headers(data);
  ASSERT_EQ(headers.size(), 1u);
  EXPECT_EQ(headers[0].base_offset, 2);
}

TEST_F(partition_log_test, ReadIsBoundedByMaxBytesButReturnsOneWholeBatchAtLeast) {
  open();
  const auto first = make_batch(5, 1000, "a", protocol::compression_codec::none, 200);
  const auto second = make_batch(5, 1000, "b", protocol::compression_codec::none, 200);
  append(first);
  append(second);
  append(make_batch(5, 1000, "c"));
  EXPECT_EQ(decode_headers(read_bytes(0, 1)).size(), 1u);
  EXPECT_TRUE(read_bytes(0, 1, {}, false).empty());
  EXPECT_EQ(read_bytes(0, first.size() + second.size() - 1).size(), first.size());
  EXPECT_EQ(read_bytes(0, first.size() + second.size()).size(), first.size() + second.size());
}

TEST_F(partition_log_test, ReadReturnsOnlyBatchesBelowMaxOffset) {
  open();
  append(make_batch(2, 1000));
  append(make_batch(3, 1000));
  append(make_batch(1, 1000));
  EXPECT_EQ(decode_headers(read_bytes(0, 1 << 20, 5)).size(), 2u);
  EXPECT_EQ(decode_headers(read_bytes(0, 1 << 20, 4)).size(), 1u);  // the second batch ends at offset 4
  EXPECT_TRUE(read_bytes(2, 1 << 20, 2).empty());
}

TEST_F(partition_log_test, ReadOutsideTheLogIsOutOfRangeAndAtTheEndEmpty) {
  open();
  append(make_batch(2, 1000));
  read_result result;
  EXPECT_EQ(log_->read(-1, 100, 2, true, result), make_error_code(storage_errc::offset_out_of_range));
  EXPECT_EQ(log_->read(3, 100, 2, true, result), make_error_code(storage_errc::offset_out_of_range));
  EXPECT_FALSE(log_->read(2, 100, 2, true, result));
  EXPECT_TRUE(result.records.empty());
  EXPECT_EQ(result.log_end_offset, 2);
  EXPECT_EQ(result.high_watermark, 2);
  EXPECT_EQ(to_kafka_error(make_error_code(storage_errc::offset_out_of_range)),
            protocol::error_code::offset_out_of_range);
}

TEST_F(partition_log_test, SegmentsRollBySizeAndReadsCrossThem) {
  log_config config;
  config.segment_bytes = 4096;
  open(config);
  std::vector<stored_record> expected;
  for (int i = 0; i < 40; ++i) {
    const auto batch = make_batch(3, 1000 + i, "b" + std::to_string(i) + "-", protocol::compression_codec::none, 100);
    append(batch);
  }
  EXPECT_GT(log_->segment_count(), 2u);
  for (const auto& segment : log_->segments()) {
    EXPECT_LE(segment->size(), 4096u);
    EXPECT_TRUE(fs::exists(log_dir() / (segment_file_stem(segment->base_offset()) + ".log")));
  }
  const auto all = read_all(*log_);
  ASSERT_EQ(all.size(), 120u);
  for (std::size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i].offset, static_cast<std::int64_t>(i));
  // Every offset finds the batch holding it, whichever segment that is.
  for (std::int64_t offset = 0; offset < 120; ++offset) {
    read_result result;
    read_bytes(offset, 1, {}, true, &result);
    EXPECT_EQ(result.first_batch_offset, offset - offset % 3) << offset;
  }
}

TEST_F(partition_log_test, SegmentsRollByAge) {
  log_config config;
  config.segment_ms = 60'000;
  open(config);
  append(make_batch(1, 1000));
  append(make_batch(1, 1000));
  EXPECT_EQ(log_->segment_count(), 1u);
  clock_->advance(60'000);
  append(make_batch(1, 1000));
  EXPECT_EQ(log_->segment_count(), 2u);
  EXPECT_EQ(log_->segments().back()->base_offset(), 2);
}

TEST_F(partition_log_test, SparseIndexFindsEveryOffset) {
  log_config config;
  config.index_interval_bytes = 256;
  open(config);
  for (int i = 0; i < 100; ++i) append(make_batch(1 + i % 4, 1000 + i, "k", protocol::compression_codec::none, 50));
  const auto segment = log_->segments().front();
  EXPECT_GT(segment->offsets().entries().size(), 10u);
  EXPECT_GT(segment->times().entries().size(), 10u);
  const auto all = read_all(*log_);
  std::vector<std::int64_t> batch_start(all.size());
  for (const auto& header : decode_headers(read_bytes(0))) {
    for (auto o = header.base_offset; o <= header.last_offset(); ++o)
      batch_start[static_cast<std::size_t>(o)] = header.base_offset;
  }
  for (std::int64_t offset = 0; offset < log_->log_end_offset(); ++offset) {
    read_result result;
    read_bytes(offset, 1, {}, true, &result);
    EXPECT_EQ(result.first_batch_offset, batch_start[static_cast<std::size_t>(offset)]) << offset;
  }
}

// Index entries live in memory and reach the files when the segment is flushed (the active one: written, not
// synced), sealed by a roll, or closed; the index files hold no descriptor, so a segment costs one (its .log).
TEST_F(partition_log_test, IndexFilesAreWrittenAtFlushRollAndCloseAndHoldNoDescriptor) {
  log_config config;
  config.index_interval_bytes = 256;
  config.segment_bytes = 64 * 1024;
  const auto before = open_descriptor_count();
  open(config);
  EXPECT_EQ(open_descriptor_count(), before + 1);  // the active segment's .log
  const fs::path index = log_dir() / (segment_file_stem(0) + ".index");
  const fs::path time_index = log_dir() / (segment_file_stem(0) + ".timeindex");
  for (int i = 0; i < 40; ++i) append(make_batch(2, 1000 + i, "k", protocol::compression_codec::none, 50));
  const auto entries = log_->segments().front()->offsets().entries().size();
  ASSERT_GT(entries, 5u);
  EXPECT_EQ(fs::file_size(index), 0u);  // appends cost no index write
  ASSERT_FALSE(log_->flush());
  EXPECT_EQ(fs::file_size(index), entries * offset_index::entry_size);
  EXPECT_EQ(fs::file_size(time_index), log_->segments().front()->times().entries().size() * time_index::entry_size);

  // Roll: the sealed segment's indexes are whole on disk at once, its last time entry included.
  while (log_->segment_count() < 3) append(make_batch(2, 5000, "k", protocol::compression_codec::none, 500));
  auto sealed = log_->segments().front();
  EXPECT_EQ(fs::file_size(index), sealed->offsets().entries().size() * offset_index::entry_size);
  EXPECT_EQ(fs::file_size(time_index), sealed->times().entries().size() * time_index::entry_size);
  EXPECT_EQ(sealed->times().last_entry().timestamp, sealed->max_timestamp());
  EXPECT_EQ(open_descriptor_count(), before + 3);  // one .log per segment, nothing else
  sealed.reset();

  // Close: everything written; a reopen loads the same entries instead of scanning.
  const auto active_base = log_->segments().back()->base_offset();
  const auto active_entries = log_->segments().back()->offsets().entries();
  ASSERT_FALSE(log_->close());
  EXPECT_EQ(open_descriptor_count(), before + 3);  // still held by log_ until it goes
  log_.reset();
  EXPECT_EQ(open_descriptor_count(), before);
  EXPECT_EQ(fs::file_size(log_dir() / (segment_file_stem(active_base) + ".index")),
            active_entries.size() * offset_index::entry_size);
  partition_log::open_options clean;
  clean.clean_shutdown = true;
  open(config, clean);
  EXPECT_EQ(log_->segments().back()->offsets().entries(), active_entries);
}

TEST_F(partition_log_test, LogAppendTimeStampsTheBatchAndKeepsTheCrcValid) {
  log_config config;
  config.message_timestamp_type = protocol::timestamp_type::log_append_time;
  open(config);
  const auto result = append(make_batch(3, 5));
  EXPECT_EQ(result.log_append_time, clock_->now_ms());
  const auto data = read_bytes(0);
  protocol::record_batch_view batch;
  ASSERT_FALSE(protocol::record_batch_view::parse(data, batch));
  EXPECT_FALSE(batch.validate());
  EXPECT_EQ(batch.header().attributes.timestamps(), protocol::timestamp_type::log_append_time);
  EXPECT_EQ(batch.header().max_timestamp, clock_->now_ms());
  for (const auto& r : decode_records(data)) EXPECT_EQ(r.timestamp, clock_->now_ms());
}

TEST_F(partition_log_test, OffsetForTimestampFindsTheFirstRecordAtOrAfterIt) {
  log_config config;
  config.index_interval_bytes = 1;
  config.segment_bytes = 300;
  open(config);
  append(make_batch(1, 100));  // offset 0: 100
  append(make_batch(3, 150));  // offsets 1..3: 150, 151, 152
  append(make_batch(1, 120));  // offset 4: 120 (out of order, as create times can be)
  append(make_batch(2, 300));  // offsets 5..6: 300, 301
  std::int64_t offset = -1;
  std::int64_t timestamp = -1;
  bool found = false;
  auto lookup = [&](std::int64_t target) {
    EXPECT_FALSE(log_->offset_for_timestamp(target, offset, timestamp, found));
    return found ? offset : -1;
  };
  EXPECT_EQ(lookup(0), 0);
  EXPECT_EQ(lookup(100), 0);
  EXPECT_EQ(lookup(101), 1);
  EXPECT_EQ(lookup(151), 2);
  EXPECT_EQ(timestamp, 151);
  EXPECT_EQ(lookup(153), 5);
  EXPECT_EQ(lookup(301), 6);
  EXPECT_EQ(lookup(302), -1);
  std::int64_t max_offset = -1;
  std::int64_t max_timestamp = -1;
  log_->max_timestamp_offset(max_offset, max_timestamp);
  EXPECT_EQ(max_timestamp, 301);
  EXPECT_EQ(max_offset, 6);  // the record inside the batch, not the batch's base offset
}

TEST_F(partition_log_test, RetentionByTimeDeletesWholeOldSegmentsButNeverTheActiveOne) {
  log_config config;
  config.segment_bytes = 1024;
  config.retention_ms = 3'600'000;
  open(config);
  const auto now = clock_->now_ms();
  for (int i = 0; i < 20; ++i) append(make_batch(2, now + i, "k", protocol::compression_codec::none, 100));
  const auto segments_before = log_->segment_count();
  ASSERT_GT(segments_before, 3u);
  std::int32_t deleted = 0;
  ASSERT_FALSE(log_->apply_retention(deleted));
  EXPECT_EQ(deleted, 0);
  clock_->advance(3'600'000 + 1000);
  ASSERT_FALSE(log_->apply_retention(deleted));
  EXPECT_EQ(static_cast<std::size_t>(deleted), segments_before - 1);
  EXPECT_EQ(log_->segment_count(), 1u);
  EXPECT_EQ(log_->log_start_offset(), log_->segments().front()->base_offset());
  EXPECT_EQ(log_->log_end_offset(), 40);
  read_result result;
  EXPECT_EQ(log_->read(0, 100, 40, true, result), make_error_code(storage_errc::offset_out_of_range));
  EXPECT_FALSE(fs::exists(log_dir() / "00000000000000000000.log"));
}

TEST_F(partition_log_test, RetentionBySizeKeepsTheNewestBytes) {
  log_config config;
  config.segment_bytes = 1024;
  config.retention_bytes = 2500;
  open(config);
  for (int i = 0; i < 30; ++i) append(make_batch(2, clock_->now_ms(), "k", protocol::compression_codec::none, 100));
  std::int32_t deleted = 0;
  ASSERT_FALSE(log_->apply_retention(deleted));
  EXPECT_GT(deleted, 0);
  // Kafka's rule: delete the oldest segments while what remains still holds retention.bytes.
  EXPECT_GE(log_->size_bytes(), 2500u);
  EXPECT_LT(log_->size_bytes() - log_->segments().front()->size(), 2500u);
  const auto all = read_all(*log_);
  EXPECT_EQ(all.back().offset, 59);
}

TEST_F(partition_log_test, ReadsInFlightSurviveSegmentDeletion) {
  log_config config;
  config.segment_bytes = 1024;
  config.retention_ms = 1000;
  open(config);
  for (int i = 0; i < 10; ++i) append(make_batch(2, clock_->now_ms(), "k", protocol::compression_codec::none, 100));
  read_result held;
  ASSERT_FALSE(log_->read(0, 1 << 20, 20, true, held));
  clock_->advance(10'000);
  std::int32_t deleted = 0;
  ASSERT_FALSE(log_->apply_retention(deleted));
  ASSERT_GT(deleted, 0);
  bytes data;
  ASSERT_FALSE(held.records.read_into(data));
  EXPECT_EQ(decode_records(data).front().offset, 0);
}

TEST_F(partition_log_test, DeleteRecordsMovesTheLogStartUpToTheHighWatermark) {
  log_config config;
  config.segment_bytes = 1024;
  open(config);
  for (int i = 0; i < 20; ++i) append(make_batch(2, 1000, "k", protocol::compression_codec::none, 100));
  log_->set_high_watermark(30);
  std::int64_t start = -1;
  EXPECT_EQ(log_->delete_records_before(31, start), make_error_code(storage_errc::invalid_offset));
  ASSERT_FALSE(log_->delete_records_before(25, start));
  EXPECT_EQ(start, 25);
  EXPECT_EQ(log_->log_start_offset(), 25);
  read_result result;
  EXPECT_EQ(log_->read(24, 100, 30, true, result), make_error_code(storage_errc::offset_out_of_range));
  ASSERT_FALSE(log_->read(25, 100, 30, true, result));
  EXPECT_EQ(result.first_batch_offset, 24);  // the batch holding 25; the consumer skips what lies before
  for (const auto& segment : log_->segments()) EXPECT_GT(segment->next_offset(), 25);
  std::int64_t offset = -1;
  std::int64_t timestamp = -1;
  bool found = false;
  ASSERT_FALSE(log_->offset_for_timestamp(0, offset, timestamp, found));
  EXPECT_TRUE(found);
  EXPECT_EQ(offset, 25);
}

TEST_F(partition_log_test, TruncateRemovesTheBatchHoldingTheOffsetAndEverythingAfter) {
  log_config config;
  config.segment_bytes = 1024;
  open(config);
  for (int i = 0; i < 20; ++i) append(make_batch(3, 1000, "k", protocol::compression_codec::none, 50));
  ASSERT_FALSE(log_->truncate_to(31));
  EXPECT_EQ(log_->log_end_offset(), 30);
  EXPECT_EQ(log_->high_watermark(), 30);
  EXPECT_EQ(append(make_batch(1, 1000)).base_offset, 30);
  const auto all = read_all(*log_);
  ASSERT_EQ(all.size(), 31u);
  EXPECT_EQ(all.back().offset, 30);
  EXPECT_EQ(log_->truncate_to(-1), make_error_code(storage_errc::invalid_offset));
}

TEST_F(partition_log_test, CorruptInputIsRejectedAndChangesNothing) {
  open();
  append(make_batch(2, 1000));
  bytes garbage(40, 0xab);
  append_result result;
  EXPECT_EQ(log_->append(garbage, result), make_error_code(storage_errc::corrupt_batch));
  bytes empty;
  EXPECT_EQ(log_->append(empty, result), make_error_code(storage_errc::corrupt_batch));
  EXPECT_EQ(log_->log_end_offset(), 2);
  EXPECT_EQ(read_all(*log_).size(), 2u);
}

TEST_F(partition_log_test, FlushMovesTheRecoveryPoint) {
  open();
  append(make_batch(4, 1000));
  EXPECT_EQ(log_->recovery_point(), 0);
  EXPECT_EQ(log_->unflushed_messages(), 4);
  EXPECT_GE(log_->first_unflushed_append_ms(), 0);
  ASSERT_FALSE(log_->flush());
  EXPECT_EQ(log_->recovery_point(), 4);
  EXPECT_EQ(log_->unflushed_messages(), 0);
  EXPECT_EQ(log_->first_unflushed_append_ms(), -1);
}

// A disk that fills up on demand: writes to .log files store `allow` bytes, then fail with ENOSPC.
TEST_F(partition_log_test, AFullDiskFailsTheAppendWithoutDamageAndRecoversWhenSpaceReturns) {
  auto disk = std::make_shared<faulty_disk>();
  disk->extension = ".log";
  context_.faults = disk;
  open();
  append(make_batch(2, 1000));
  const auto size_before = log_->size_bytes();
  disk->full = true;
  for (std::size_t allow : {std::size_t{0}, std::size_t{30}}) {
    disk->allow = allow;  // nothing written, and a write torn part way
    append_result result;
    auto batch = make_batch(3, 1000);
    const auto error = log_->append(batch, result);
    EXPECT_EQ(error, make_error_code(storage_errc::disk_full));
    EXPECT_EQ(to_kafka_error(error), protocol::error_code::kafka_storage_error);
    EXPECT_EQ(log_->size_bytes(), size_before);
    EXPECT_EQ(fs::file_size(log_dir() / "00000000000000000000.log"), size_before);
    EXPECT_EQ(log_->log_end_offset(), 2);
  }
  disk->full = false;
  EXPECT_EQ(append(make_batch(3, 1000)).base_offset, 2);
  const auto all = read_all(*log_);
  ASSERT_EQ(all.size(), 5u);
  EXPECT_EQ(all[1].key, "k1");
  EXPECT_EQ(all[2].offset, 2);
  // And the data on disk is what a restart would recover.
  ASSERT_FALSE(log_->close());
  open({}, partition_log::open_options{0, 0, false});
  EXPECT_EQ(read_all(*log_), all);
}

TEST_F(partition_log_test, AFailedFsyncTakesTheLogOfflineUntilReopened) {
  auto disk = std::make_shared<faulty_disk>();
  context_.faults = disk;
  open();
  append(make_batch(2, 1000));
  disk->sync_fails = true;
  EXPECT_EQ(log_->flush(), make_error_code(storage_errc::log_offline));
  append_result result;
  auto batch = make_batch(1, 1000);
  EXPECT_EQ(log_->append(batch, result), make_error_code(storage_errc::log_offline));
  EXPECT_EQ(to_kafka_error(make_error_code(storage_errc::log_offline)), protocol::error_code::kafka_storage_error);
  disk->sync_fails = false;
  open({}, partition_log::open_options{0, 0, false});
  EXPECT_EQ(log_->log_end_offset(), 2);
  EXPECT_EQ(append(make_batch(1, 1000)).base_offset, 2);
}

TEST_F(partition_log_test, ACleanReopenKeepsEverything) {
  log_config config;
  config.segment_bytes = 2048;
  config.index_interval_bytes = 128;
  open(config);
  for (int i = 0; i < 30; ++i) append(make_batch(2, 1000 + i, "k", protocol::compression_codec::zstd, 80));
  const auto before = read_all(*log_);
  std::int64_t max_offset = -1;
  std::int64_t max_timestamp = -1;
  log_->max_timestamp_offset(max_offset, max_timestamp);
  ASSERT_FALSE(log_->close());
  partition_log::open_options options;
  options.clean_shutdown = true;
  log_recovery_report report;
  log_.reset();
  ASSERT_FALSE(partition_log::open(log_dir(), {"topic", 0}, config, context_, options, log_, report));
  EXPECT_EQ(report.segments_scanned, 0);
  EXPECT_EQ(log_->log_end_offset(), 60);
  EXPECT_EQ(read_all(*log_), before);
  std::int64_t offset_after = -1;
  std::int64_t timestamp_after = -1;
  log_->max_timestamp_offset(offset_after, timestamp_after);
  EXPECT_EQ(offset_after, max_offset);
  EXPECT_EQ(timestamp_after, max_timestamp);
  EXPECT_EQ(append(make_batch(1, 5000)).base_offset, 60);
}

// Flushes (the group-commit flusher's thread) run beside appends: index entries are added under the log's lock and
// written to their files under it too, so a flush never reads entries while an append adds one. Every entry an
// append made reaches the files once the log is closed, byte for byte what the log holds in memory.
TEST_F(partition_log_test, FlushesBesideAppendsWriteEveryIndexEntryExactlyOnce) {
  log_config config;
  config.index_interval_bytes = 1;  // an entry for every batch: the index vectors grow (and move) all the time
  config.segment_bytes = 256 * 1024;
  open(config);
  std::atomic<bool> done{false};
  std::atomic<int> flush_errors{0};
  std::thread flusher([&] {
    while (!done) {
      if (log_->flush()) ++flush_errors;
    }
  });
  for (int i = 0; i < 3000; ++i) append(make_batch(1, 1000 + i, "k", protocol::compression_codec::none, 20));
  done = true;
  flusher.join();
  EXPECT_EQ(flush_errors, 0);
  ASSERT_GT(log_->segment_count(), 1u);
  std::vector<std::pair<std::vector<offset_position>, std::vector<timestamp_offset>>> in_memory;
  for (const auto& segment : log_->segments())
    in_memory.emplace_back(segment->offsets().entries(), segment->times().entries());
  ASSERT_FALSE(log_->close());
  log_.reset();

  partition_log::open_options clean;
  clean.clean_shutdown = true;
  open(config, clean);
  const auto segments = log_->segments();
  ASSERT_EQ(segments.size(), in_memory.size());
  for (std::size_t i = 0; i < segments.size(); ++i) {
    SCOPED_TRACE("segment " + segment_file_stem(segments[i]->base_offset()));
    EXPECT_FALSE(in_memory[i].first.empty());
    EXPECT_EQ(segments[i]->offsets().entries(), in_memory[i].first);
    EXPECT_EQ(segments[i]->times().entries(), in_memory[i].second);
    EXPECT_EQ(fs::file_size(log_dir() / (segment_file_stem(segments[i]->base_offset()) + ".index")),
              in_memory[i].first.size() * offset_index::entry_size);
  }
}

TEST_F(partition_log_test, ConcurrentAppendsGetDistinctContiguousOffsetsWhileReadersRead) {
  log_config config;
  config.segment_bytes = 8192;
  open(config);
  constexpr int writers = 4;
  constexpr int appends_per_writer = 200;
  std::atomic<bool> done{false};
  std::atomic<int> read_errors{0};
  std::thread reader([&] {
    while (!done) {
      read_result result;
      const auto end = log_->log_end_offset();
      if (log_->read(0, 4096, end, true, result)) ++read_errors;
    }
  });
  std::vector<std::thread> threads;
  std::vector<std::vector<std::int64_t>> bases(writers);
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; i < appends_per_writer; ++i) {
        auto batch = make_batch(2, 1000, "w" + std::to_string(w) + "-");
        append_result result;
        if (!log_->append(batch, result)) bases[static_cast<std::size_t>(w)].push_back(result.base_offset);
      }
    });
  }
  for (auto& t : threads) t.join();
  done = true;
  reader.join();
  EXPECT_EQ(read_errors, 0);
  std::vector<std::int64_t> all;
  for (const auto& b : bases) all.insert(all.end(), b.begin(), b.end());
  std::sort(all.begin(), all.end());
  ASSERT_EQ(all.size(), static_cast<std::size_t>(writers * appends_per_writer));
  for (std::size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i], static_cast<std::int64_t>(2 * i));
  log_->set_high_watermark(log_->log_end_offset());
  EXPECT_EQ(read_all(*log_).size(), all.size() * 2);
}

TEST(topic_partition_test, DirectoryNamesRoundTrip) {
  topic_partition tp;
  ASSERT_FALSE(topic_partition::parse_directory_name("my-topic-12", tp));
  EXPECT_EQ(tp.topic, "my-topic");
  EXPECT_EQ(tp.partition, 12);
  EXPECT_EQ(tp.directory_name(), "my-topic-12");
  EXPECT_TRUE(topic_partition::parse_directory_name("nodash", tp));
  EXPECT_TRUE(topic_partition::parse_directory_name("topic-", tp));
  EXPECT_TRUE(topic_partition::parse_directory_name("-3", tp));
  EXPECT_TRUE(topic_partition::parse_directory_name("topic-x1", tp));
  ASSERT_FALSE(topic_partition::parse_directory_name("topic--1", tp));  // topic "topic-" is a legal name
  EXPECT_EQ(tp.topic, "topic-");
}

TEST(log_config_test, ValidatesKafkaRanges) {
  EXPECT_EQ(log_config{}.validate(), "");
  log_config config;
  config.segment_bytes = 10;
  EXPECT_NE(config.validate().find("segment.bytes"), std::string::npos);
  config = {};
  config.min_cleanable_dirty_ratio = 1.5;
  EXPECT_NE(config.validate().find("min.cleanable.dirty.ratio"), std::string::npos);
  config = {};
  config.retention_ms = -2;
  EXPECT_NE(config.validate().find("retention.ms"), std::string::npos);
  cleanup_policy policy;
  ASSERT_FALSE(cleanup_policy::parse("compact, delete", policy));
  EXPECT_TRUE(policy.compact && policy.delete_segments);
  ASSERT_FALSE(cleanup_policy::parse("compact", policy));
  EXPECT_TRUE(policy.compact && !policy.delete_segments);
  EXPECT_EQ(policy.to_string(), "compact");
  EXPECT_TRUE(cleanup_policy::parse("compacted", policy));
  EXPECT_TRUE(cleanup_policy::parse("", policy));
}

}  // namespace
}  // namespace vltava::storage

namespace vltava::storage {
namespace {

TEST_F(partition_log_test, SwapRefusesSegmentsTheLogNoLongerHolds) {
  log_config config;
  config.segment_bytes = 1024;
  open(config);
  for (int i = 0; i < 10; ++i) append(make_batch(2, 1000, "k", protocol::compression_codec::none, 100));
  const auto stale = log_->segments();
  ASSERT_GT(stale.size(), 2u);
  // Same base offsets, new segment objects: a swap prepared against the old ones must not land.
  open(config, partition_log::open_options{0, 0, true});
  std::unique_ptr<log_segment> replacement;
  ASSERT_FALSE(log_segment::create(log_dir(), stale[0]->base_offset(), log_segment::options::from(config, nullptr),
                                   clock_->now_ms(), replacement, ".cleaned"));
  EXPECT_EQ(log_->replace_segments({stale[0]}, std::move(replacement)),
            make_error_code(storage_errc::invalid_argument));
  EXPECT_EQ(read_all(*log_).size(), 20u);
  // The active segment is never swapped either.
  ASSERT_FALSE(log_segment::create(log_dir(), log_->segments().back()->base_offset(),
                                   log_segment::options::from(config, nullptr), clock_->now_ms(), replacement,
                                   ".cleaned"));
  EXPECT_EQ(log_->replace_segments({log_->segments().back()}, std::move(replacement)),
            make_error_code(storage_errc::invalid_argument));
}

}  // namespace
}  // namespace vltava::storage
