// Tests of idempotent producer state: duplicates acknowledged with their original offsets and written once, sequence
// gaps and old epochs refused with Kafka's errors, the 5-batch window, expiration, snapshots and rebuilding by scan
// after a restart, and producer id allocation that never repeats across restarts. Real partition logs in temporary
// directories; a manual clock.
#include "vltava/broker/producer_state.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "vltava/protocol/record_batch.h"
#include "vltava/protocol/record_batch_builder.h"
#include "vltava/storage/partition_log.h"
#include "vltava/storage/storage_context.h"

namespace vltava::broker {
namespace {

namespace fs = std::filesystem;
using protocol::bytes;
using protocol::error_code;

constexpr std::int64_t start_ms = 1'700'000'000'000;
constexpr std::int64_t expiration_ms = 60'000;

// One batch of count records from producer id/epoch starting at sequence, timestamps timestamp + i.
bytes producer_batch_bytes(std::int64_t producer_id, std::int16_t epoch, std::int32_t sequence, int count,
                           std::int64_t timestamp = start_ms) {
  protocol::record_batch_builder_options options;
  options.producer_id = producer_id;
  options.producer_epoch = epoch;
  options.base_sequence = sequence;
  protocol::record_batch_builder builder(options);
  for (int i = 0; i < count; ++i) {
    const std::string value = "v" + std::to_string(sequence + i);
    builder.append(timestamp + i, std::nullopt,
                   protocol::byte_span(reinterpret_cast<const std::uint8_t*>(value.data()), value.size()));
  }
  bytes out;
  EXPECT_FALSE(builder.build(out));
  return out;
}

std::vector<batch_producer_info> infos_of(const bytes& batches) {
  std::vector<batch_producer_info> out;
  protocol::record_batch_splitter splitter(batches);
  protocol::record_batch_view view;
  while (splitter.next(view)) out.push_back(batch_producer_info::from(view.header()));
  return out;
}

class producer_state_test : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("vltava-producer-state-" + std::string(info->name()) + "-" +
                                        std::to_string(::getpid()) + "-" + std::to_string(std::random_device{}()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    clock_ = std::make_shared<storage::manual_clock>(start_ms);
    context_.time = clock_;
    open_log();
    manager_ = make_manager();
  }
  void TearDown() override {
    if (log_) (void)log_->close();
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  void open_log() {
    storage::log_recovery_report report;
    storage::partition_log::open_options options;
    ASSERT_FALSE(storage::partition_log::open(dir_ / "orders-0", {"orders", 0}, storage::log_config{}, context_,
                                              options, log_, report));
  }
  // Closes and reopens the log from disk, as a restart does.
  void reopen_log() {
    ASSERT_FALSE(log_->close());
    log_.reset();
    open_log();
  }

  std::unique_ptr<producer_state_manager> make_manager() {
    producer_state_manager::options options;
    options.id_block_directory = dir_;
    options.expiration_ms = expiration_ms;
    return std::make_unique<producer_state_manager>(options, context_);
  }

  // Appends through the producer state, as Produce does.
  producer_append_result produce(bytes batches) {
    const auto infos = infos_of(batches);
    return manager_->for_partition(log_)->append(*log_, batches, infos);
  }

  fs::path dir_;
  std::shared_ptr<storage::manual_clock> clock_;
  storage::storage_context context_;
  std::shared_ptr<storage::partition_log> log_;
  std::unique_ptr<producer_state_manager> manager_;
};

TEST_F(producer_state_test, AppendsInSequenceAndRecordsTheBatches) {
  auto first = produce(producer_batch_bytes(7, 0, 0, 3));
  ASSERT_EQ(first.error, error_code::none) << first.message;
  EXPECT_FALSE(first.duplicate);
  EXPECT_EQ(first.appended.base_offset, 0);
  EXPECT_EQ(first.appended.last_offset, 2);
  auto second = produce(producer_batch_bytes(7, 0, 3, 2));
  ASSERT_EQ(second.error, error_code::none) << second.message;
  EXPECT_EQ(second.appended.base_offset, 3);

  const auto entry = manager_->for_partition(log_)->find(7);
  ASSERT_TRUE(entry);
  EXPECT_EQ(entry->epoch, 0);
  ASSERT_EQ(entry->batches.size(), 2u);
  EXPECT_EQ(entry->batches[1], (producer_batch{3, 4, 3, 4, start_ms + 1}));
  EXPECT_EQ(entry->last_update_ms, start_ms);
}

TEST_F(producer_state_test, DuplicateIsAcknowledgedWithOriginalOffsetsAndNotWrittenAgain) {
  ASSERT_EQ(produce(producer_batch_bytes(7, 0, 0, 3)).error, error_code::none);
  ASSERT_EQ(produce(producer_batch_bytes(7, 0, 3, 4)).error, error_code::none);
  ASSERT_EQ(log_->log_end_offset(), 7);

  // Retries of both batches, after the second was written.
  auto retry_first = produce(producer_batch_bytes(7, 0, 0, 3));
  EXPECT_EQ(retry_first.error, error_code::none);
  EXPECT_TRUE(retry_first.duplicate);
  EXPECT_EQ(retry_first.appended.base_offset, 0);
  EXPECT_EQ(retry_first.appended.last_offset, 2);
  auto retry_second = produce(producer_batch_bytes(7, 0, 3, 4));
  EXPECT_TRUE(retry_second.duplicate);
  EXPECT_EQ(retry_second.appended.base_offset, 3);
  EXPECT_EQ(retry_second.appended.last_offset, 6);
  EXPECT_EQ(log_->log_end_offset(), 7) << "a duplicate must not be appended";

  // Another producer with the same sequences is not a duplicate.
  auto other = produce(producer_batch_bytes(8, 0, 0, 3));
  EXPECT_FALSE(other.duplicate);
  EXPECT_EQ(other.appended.base_offset, 7);
}

TEST_F(producer_state_test, SequenceGapIsOutOfOrderAndNothingIsAppended) {
  ASSERT_EQ(produce(producer_batch_bytes(7, 0, 0, 3)).error, error_code::none);
  auto gap = produce(producer_batch_bytes(7, 0, 5, 1));
  EXPECT_EQ(gap.error, error_code::out_of_order_sequence_number);
  EXPECT_FALSE(gap.message.empty());
  // Overlapping but not an exact retry.
  EXPECT_EQ(produce(producer_batch_bytes(7, 0, 1, 2)).error, error_code::out_of_order_sequence_number);
  EXPECT_EQ(log_->log_end_offset(), 3);
  // The expected sequence still works.
  EXPECT_EQ(produce(producer_batch_bytes(7, 0, 3, 1)).error, error_code::none);
}

TEST_F(producer_state_test, OlderEpochIsFencedAndNewEpochMustStartAtZero) {
  ASSERT_EQ(produce(producer_batch_bytes(7, 1, 0, 2)).error, error_code::none);
  EXPECT_EQ(produce(producer_batch_bytes(7, 0, 2, 1)).error, error_code::invalid_producer_epoch);
  EXPECT_EQ(produce(producer_batch_bytes(7, 0, 0, 2)).error, error_code::invalid_producer_epoch)
      << "same sequences under an older epoch are not a duplicate";
  EXPECT_EQ(produce(producer_batch_bytes(7, 2, 5, 1)).error, error_code::out_of_order_sequence_number);
  EXPECT_EQ(log_->log_end_offset(), 2);

  auto bumped = produce(producer_batch_bytes(7, 2, 0, 1));
  ASSERT_EQ(bumped.error, error_code::none);
  const auto entry = manager_->for_partition(log_)->find(7);
  ASSERT_TRUE(entry);
  EXPECT_EQ(entry->epoch, 2);
  EXPECT_EQ(entry->batches.size(), 1u) << "a new epoch starts a new window";
  EXPECT_EQ(produce(producer_batch_bytes(7, 1, 2, 1)).error, error_code::invalid_producer_epoch);
}

TEST_F(producer_state_test, UnknownProducerIsAcceptedAtAnySequence) {
  // Kafka >= 2.5 (KIP-360): the partition may have lost the producer to retention or expiration.
  auto first = produce(producer_batch_bytes(42, 3, 17, 2));
  ASSERT_EQ(first.error, error_code::none);
  EXPECT_EQ(produce(producer_batch_bytes(42, 3, 19, 1)).error, error_code::none);
  EXPECT_EQ(produce(producer_batch_bytes(42, 3, 21, 1)).error, error_code::out_of_order_sequence_number);
}

TEST_F(producer_state_test, KeepsTheLastFiveBatches) {
  for (int i = 0; i < 6; ++i) ASSERT_EQ(produce(producer_batch_bytes(7, 0, i * 2, 2)).error, error_code::none);
  const auto entry = manager_->for_partition(log_)->find(7);
  ASSERT_TRUE(entry);
  ASSERT_EQ(entry->batches.size(), producer_batches_retained);
  EXPECT_EQ(entry->batches.front().first_sequence, 2);

  // The oldest batch fell out of the window: its retry is out of order, as in Kafka.
  EXPECT_EQ(produce(producer_batch_bytes(7, 0, 0, 2)).error, error_code::out_of_order_sequence_number);
  for (int i = 1; i < 6; ++i) {
    auto retry = produce(producer_batch_bytes(7, 0, i * 2, 2));
    EXPECT_TRUE(retry.duplicate) << i;
    EXPECT_EQ(retry.appended.base_offset, i * 2) << i;
  }
  EXPECT_EQ(log_->log_end_offset(), 12);
}

TEST_F(producer_state_test, SequencesWrapAfterIntMax) {
  constexpr std::int32_t max = std::numeric_limits<std::int32_t>::max();
  batch_producer_info info;
  info.producer_id = 1;
  info.first_sequence = max - 1;
  info.last_offset_delta = 2;
  EXPECT_EQ(info.last_sequence(), 0);
  EXPECT_TRUE(in_sequence(max, 0));
  EXPECT_TRUE(in_sequence(4, 5));
  EXPECT_FALSE(in_sequence(4, 4));

  ASSERT_EQ(produce(producer_batch_bytes(7, 0, max - 1, 2)).error, error_code::none);  // max-1, max
  EXPECT_EQ(produce(producer_batch_bytes(7, 0, 0, 1)).error, error_code::none);
}

TEST_F(producer_state_test, SeveralBatchesInOneAppendAreCheckedInOrder) {
  bytes batches = producer_batch_bytes(7, 0, 0, 2);
  const bytes second = producer_batch_bytes(7, 0, 2, 3);
  batches.insert(batches.end(), second.begin(), second.end());
  auto result = produce(batches);
  ASSERT_EQ(result.error, error_code::none) << result.message;
  EXPECT_EQ(result.appended.base_offset, 0);
  EXPECT_EQ(result.appended.last_offset, 4);
  const auto entry = manager_->for_partition(log_)->find(7);
  ASSERT_TRUE(entry);
  ASSERT_EQ(entry->batches.size(), 2u);
  EXPECT_EQ(entry->batches[1].first_offset, 2);
  EXPECT_EQ(entry->batches[1].last_offset, 4);

  bytes gap = producer_batch_bytes(7, 0, 5, 1);
  const bytes bad = producer_batch_bytes(7, 0, 9, 1);
  gap.insert(gap.end(), bad.begin(), bad.end());
  EXPECT_EQ(produce(gap).error, error_code::out_of_order_sequence_number);
  EXPECT_EQ(log_->log_end_offset(), 5) << "a failing batch fails the whole append";
}

TEST_F(producer_state_test, NonIdempotentBatchesPassThrough) {
  bytes plain = producer_batch_bytes(-1, -1, -1, 3);
  auto result = produce(plain);
  ASSERT_EQ(result.error, error_code::none);
  EXPECT_EQ(manager_->for_partition(log_)->producer_count(), 0u);
  EXPECT_EQ(produce(producer_batch_bytes(-1, -1, -1, 3)).appended.base_offset, 3) << "no deduplication";
}

TEST_F(producer_state_test, RacingRetriesAppendOnce) {
  for (int round = 0; round < 20; ++round) {
    const std::int32_t sequence = round * 2;
    std::atomic<int> duplicates{0};
    std::atomic<int> appended{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&] {
        auto result = produce(producer_batch_bytes(9, 0, sequence, 2));
        EXPECT_EQ(result.error, error_code::none);
        (result.duplicate ? duplicates : appended).fetch_add(1);
      });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(appended.load(), 1);
    EXPECT_EQ(duplicates.load(), 3);
  }
  EXPECT_EQ(log_->log_end_offset(), 40);
}

TEST_F(producer_state_test, ProducersExpireAfterIdleTime) {
  ASSERT_EQ(produce(producer_batch_bytes(7, 0, 0, 2)).error, error_code::none);
  auto state = manager_->for_partition(log_);
  clock_->advance(expiration_ms - 1);
  EXPECT_TRUE(state->find(7));
  clock_->advance(1);
  EXPECT_FALSE(state->find(7)) << "producer.id.expiration.ms passed";
  // Forgotten: even the retry of its batch is now a new append, and any sequence is accepted.
  auto retry = produce(producer_batch_bytes(7, 0, 0, 2));
  EXPECT_FALSE(retry.duplicate);
  EXPECT_EQ(retry.appended.base_offset, 2);

  ASSERT_EQ(produce(producer_batch_bytes(8, 0, 0, 1)).error, error_code::none);
  clock_->advance(expiration_ms);
  manager_->remove_expired();
  EXPECT_EQ(state->producer_count(), 0u);
}

TEST_F(producer_state_test, ProducerWhoseBatchesWereDeletedIsUnknown) {
  ASSERT_EQ(produce(producer_batch_bytes(7, 0, 0, 2)).error, error_code::none);
  ASSERT_EQ(produce(producer_batch_bytes(8, 0, 0, 2)).error, error_code::none);
  log_->set_high_watermark(log_->log_end_offset());
  std::int64_t new_start = 0;
  ASSERT_FALSE(log_->delete_records_before(2, new_start));
  ASSERT_EQ(new_start, 2);
  // Producer 7 has nothing left in the log: forgotten, as Kafka evicts it, so any sequence goes.
  EXPECT_EQ(produce(producer_batch_bytes(7, 0, 9, 1)).error, error_code::none);
  // Producer 8's last batch is still there: its sequences are still checked.
  EXPECT_EQ(produce(producer_batch_bytes(8, 0, 9, 1)).error, error_code::out_of_order_sequence_number);
}

TEST_F(producer_state_test, AppendsForgetExpiredProducersWithoutAPeriodicTask) {
  ASSERT_EQ(produce(producer_batch_bytes(7, 0, 0, 1)).error, error_code::none);
  ASSERT_EQ(produce(producer_batch_bytes(8, 0, 0, 1)).error, error_code::none);
  auto state = manager_->for_partition(log_);
  EXPECT_EQ(state->producer_count(), 2u);
  clock_->advance(producer_expiration_check_interval_ms);
  ASSERT_EQ(produce(producer_batch_bytes(9, 0, 0, 1)).error, error_code::none);
  EXPECT_EQ(state->producer_count(), 1u);
}

TEST_F(producer_state_test, SnapshotRoundTrip) {
  std::map<std::int64_t, producer_entry> producers;
  producer_entry entry;
  entry.epoch = 4;
  entry.last_update_ms = 123;
  entry.batches.push_back({0, 9, 100, 109, 55});
  entry.batches.push_back({10, 10, 200, 200, -1});
  producers[17] = entry;
  producers[3] = producer_entry{1, {}, 9};
  const auto data = encode_producer_snapshot(250, producers);

  std::int64_t end_offset = 0;
  std::map<std::int64_t, producer_entry> decoded;
  ASSERT_FALSE(decode_producer_snapshot(data, end_offset, decoded));
  EXPECT_EQ(end_offset, 250);
  EXPECT_EQ(decoded, producers);

  for (std::size_t i = 0; i < data.size(); ++i) {
    auto damaged = data;
    damaged[i] ^= 0x40;
    std::map<std::int64_t, producer_entry> ignored;
    EXPECT_TRUE(decode_producer_snapshot(damaged, end_offset, ignored)) << "byte " << i;
  }
  for (std::size_t size = 0; size < data.size(); ++size) {
    std::map<std::int64_t, producer_entry> ignored;
    EXPECT_TRUE(decode_producer_snapshot(std::span(data).first(size), end_offset, ignored)) << "size " << size;
  }
}

TEST_F(producer_state_test, SnapshotRestoresDeduplication) {
  // Batch timestamps differ from the clock, so that a state rebuilt by scanning (which takes the batches'
  // timestamps) can be told from one read from the snapshot (which keeps the append times).
  ASSERT_EQ(produce(producer_batch_bytes(7, 0, 0, 3, start_ms - 5000)).error, error_code::none);
  ASSERT_EQ(produce(producer_batch_bytes(7, 0, 3, 3, start_ms - 5000)).error, error_code::none);
  ASSERT_FALSE(manager_->save());
  EXPECT_TRUE(fs::exists(producer_snapshot_path(log_->directory(), 6)));

  manager_ = make_manager();
  ASSERT_FALSE(manager_->for_partition(log_)->ensure_loaded());
  const auto entry = manager_->for_partition(log_)->find(7);
  ASSERT_TRUE(entry);
  EXPECT_EQ(entry->last_update_ms, start_ms) << "read from the snapshot, not rebuilt from the log";
  EXPECT_EQ(entry->batches.size(), 2u);
  auto retry = produce(producer_batch_bytes(7, 0, 3, 3, start_ms - 5000));
  EXPECT_TRUE(retry.duplicate);
  EXPECT_EQ(retry.appended.base_offset, 3);
  EXPECT_EQ(produce(producer_batch_bytes(7, 0, 7, 1)).error, error_code::out_of_order_sequence_number);
}

TEST_F(producer_state_test, SnapshotPlusScanOfTheBatchesAfterIt) {
  ASSERT_EQ(produce(producer_batch_bytes(7, 0, 0, 3)).error, error_code::none);
  ASSERT_FALSE(manager_->save());
  ASSERT_EQ(produce(producer_batch_bytes(7, 0, 3, 2)).error, error_code::none);
  ASSERT_EQ(produce(producer_batch_bytes(8, 2, 0, 1)).error, error_code::none);

  manager_ = make_manager();
  auto state = manager_->for_partition(log_);
  ASSERT_FALSE(state->ensure_loaded());
  EXPECT_EQ(state->end_offset(), 6);
  const auto entry = state->find(7);
  ASSERT_TRUE(entry);
  ASSERT_EQ(entry->batches.size(), 2u);
  EXPECT_EQ(entry->batches[1], (producer_batch{3, 4, 3, 4, start_ms + 1}));
  EXPECT_TRUE(produce(producer_batch_bytes(7, 0, 0, 3)).duplicate);
  EXPECT_TRUE(produce(producer_batch_bytes(8, 2, 0, 1)).duplicate);
  EXPECT_EQ(produce(producer_batch_bytes(8, 1, 1, 1)).error, error_code::invalid_producer_epoch);
}

TEST_F(producer_state_test, RestartWithoutSnapshotRebuildsByScanning) {
  for (int i = 0; i < 4; ++i) ASSERT_EQ(produce(producer_batch_bytes(7, 1, i * 3, 3)).error, error_code::none);
  ASSERT_EQ(produce(producer_batch_bytes(-1, -1, -1, 2)).error, error_code::none);
  reopen_log();  // as after a crash: no snapshot was written
  manager_ = make_manager();

  auto retry = produce(producer_batch_bytes(7, 1, 9, 3));
  EXPECT_TRUE(retry.duplicate);
  EXPECT_EQ(retry.appended.base_offset, 9);
  EXPECT_EQ(produce(producer_batch_bytes(7, 0, 12, 1)).error, error_code::invalid_producer_epoch);
  EXPECT_EQ(produce(producer_batch_bytes(7, 1, 13, 1)).error, error_code::out_of_order_sequence_number);
  auto next = produce(producer_batch_bytes(7, 1, 12, 1));
  EXPECT_EQ(next.error, error_code::none);
  EXPECT_EQ(next.appended.base_offset, 14);
}

TEST_F(producer_state_test, DeduplicationSurvivesACleanRestart) {
  ASSERT_EQ(produce(producer_batch_bytes(7, 0, 0, 3)).error, error_code::none);
  ASSERT_FALSE(manager_->save());
  reopen_log();
  manager_ = make_manager();
  auto retry = produce(producer_batch_bytes(7, 0, 0, 3));
  EXPECT_TRUE(retry.duplicate);
  EXPECT_EQ(log_->log_end_offset(), 3);
}

// The snapshot file must survive the storage layer's cleanup of stray index files when the log is reopened.
TEST_F(producer_state_test, SnapshotSurvivesReopeningTheLog) {
  ASSERT_EQ(produce(producer_batch_bytes(7, 0, 0, 3)).error, error_code::none);
  ASSERT_FALSE(manager_->save());
  reopen_log();
  EXPECT_TRUE(fs::exists(producer_snapshot_path(log_->directory(), 3)));
}

TEST_F(producer_state_test, SnapshotBeyondTheLogEndIsDiscarded) {
  ASSERT_EQ(produce(producer_batch_bytes(7, 0, 0, 3)).error, error_code::none);
  // A snapshot claiming batches the log does not hold (the log lost its tail in a crash).
  std::map<std::int64_t, producer_entry> producers;
  producers[7] = producer_entry{0, {{0, 2, 0, 2, start_ms}, {3, 9, 3, 9, start_ms}}, start_ms};
  const auto data = encode_producer_snapshot(10, producers);
  std::ofstream(producer_snapshot_path(log_->directory(), 10), std::ios::binary)
      .write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));

  manager_ = make_manager();
  ASSERT_FALSE(manager_->for_partition(log_)->ensure_loaded());
  EXPECT_FALSE(fs::exists(producer_snapshot_path(log_->directory(), 10)));
  const auto entry = manager_->for_partition(log_)->find(7);
  ASSERT_TRUE(entry);
  EXPECT_EQ(entry->last_sequence(), 2) << "rebuilt from the log";
  EXPECT_EQ(produce(producer_batch_bytes(7, 0, 3, 1)).error, error_code::none);
}

TEST_F(producer_state_test, CorruptSnapshotFallsBackToScanning) {
  ASSERT_EQ(produce(producer_batch_bytes(7, 0, 0, 3)).error, error_code::none);
  ASSERT_FALSE(manager_->save());
  const auto path = producer_snapshot_path(log_->directory(), 3);
  ASSERT_TRUE(fs::exists(path));
  std::fstream(path, std::ios::in | std::ios::out | std::ios::binary).seekp(20).put('\x7f');

  manager_ = make_manager();
  ASSERT_FALSE(manager_->for_partition(log_)->ensure_loaded());
  EXPECT_TRUE(produce(producer_batch_bytes(7, 0, 0, 3)).duplicate);
  EXPECT_FALSE(fs::exists(path));
}

TEST_F(producer_state_test, SaveKeepsOnlyTheNewestSnapshotAndDropsExpiredProducers) {
  ASSERT_EQ(produce(producer_batch_bytes(7, 0, 0, 1)).error, error_code::none);
  ASSERT_FALSE(manager_->save());
  clock_->advance(expiration_ms);
  ASSERT_EQ(produce(producer_batch_bytes(8, 0, 0, 1)).error, error_code::none);
  ASSERT_FALSE(manager_->save());
  EXPECT_FALSE(fs::exists(producer_snapshot_path(log_->directory(), 1)));
  ASSERT_TRUE(fs::exists(producer_snapshot_path(log_->directory(), 2)));

  manager_ = make_manager();
  auto state = manager_->for_partition(log_);
  ASSERT_FALSE(state->ensure_loaded());
  EXPECT_FALSE(state->find(7));
  EXPECT_TRUE(state->find(8));
}

TEST_F(producer_state_test, ExpiredProducersAreDroppedOnLoad) {
  ASSERT_EQ(produce(producer_batch_bytes(7, 0, 0, 1, start_ms)).error, error_code::none);
  reopen_log();
  clock_->advance(expiration_ms + 1);
  manager_ = make_manager();
  auto state = manager_->for_partition(log_);
  ASSERT_FALSE(state->ensure_loaded());
  EXPECT_EQ(state->producer_count(), 0u);
}

TEST_F(producer_state_test, RecreatedLogGetsFreshState) {
  ASSERT_EQ(produce(producer_batch_bytes(7, 0, 0, 3)).error, error_code::none);
  auto old_state = manager_->for_partition(log_);
  ASSERT_FALSE(log_->remove());
  log_.reset();
  open_log();
  auto new_state = manager_->for_partition(log_);
  EXPECT_NE(old_state, new_state);
  auto again = produce(producer_batch_bytes(7, 0, 0, 3));
  EXPECT_FALSE(again.duplicate);
  EXPECT_EQ(again.appended.base_offset, 0);
}

TEST_F(producer_state_test, ProducerIdsNeverRepeatAcrossRestarts) {
  std::set<std::int64_t> seen;
  for (int i = 0; i < 5; ++i) {
    std::int64_t id = -1;
    ASSERT_FALSE(manager_->allocate_producer_id(id));
    EXPECT_EQ(id, i);
    seen.insert(id);
  }
  manager_ = make_manager();  // a restart: the rest of the first block is skipped
  std::int64_t id = -1;
  ASSERT_FALSE(manager_->allocate_producer_id(id));
  EXPECT_EQ(id, 1000);

  producer_state_manager::options options;
  options.id_block_directory = dir_;
  options.id_block_size = 3;
  producer_state_manager small(options, context_);
  for (int i = 0; i < 10; ++i) {
    ASSERT_FALSE(small.allocate_producer_id(id));
    EXPECT_TRUE(seen.insert(id).second) << id;
  }
  producer_state_manager after(options, context_);
  ASSERT_FALSE(after.allocate_producer_id(id));
  EXPECT_TRUE(seen.insert(id).second) << id;
  EXPECT_GT(id, *std::prev(std::prev(seen.end())));
}

TEST_F(producer_state_test, UnreadableIdBlockRefusesToAllocate) {
  std::ofstream(dir_ / "producer-id-block") << "garbage\n";
  std::int64_t id = -1;
  EXPECT_TRUE(manager_->allocate_producer_id(id));
}

class failing_writes final : public storage::io_fault_injector {
 public:
  std::error_code before_write(const fs::path& file, std::size_t& allowed) noexcept override {
    if (file.filename().string().starts_with("producer-id-block")) {
      allowed = 0;
      return std::make_error_code(std::errc::no_space_on_device);
    }
    return {};
  }
};

TEST_F(producer_state_test, FailedIdBlockWriteHandsOutNothing) {
  storage::storage_context failing = context_;
  failing.faults = std::make_shared<failing_writes>();
  producer_state_manager::options options;
  options.id_block_directory = dir_;
  producer_state_manager manager(options, failing);
  std::int64_t id = -1;
  EXPECT_TRUE(manager.allocate_producer_id(id));
  EXPECT_EQ(id, -1);
}

}  // namespace
}  // namespace vltava::broker
