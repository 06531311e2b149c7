// Tests of the log manager: logs spread over several log.dirs, the clean-shutdown marker and checkpoint files written
// at shutdown and honoured at startup, recovery of every log after a crash, creating and removing logs (names,
// leftovers of unfinished deletions), retention and flush checks driven by a manual clock, the log start offset
// surviving a restart, and the same partition in two directories.
#include "vltava/storage/log_manager.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "storage_test_support.h"
#include "vltava/protocol/record_batch.h"
#include "vltava/protocol/record_batch_builder.h"
#include "vltava/storage/offset_checkpoint.h"
#include "vltava/storage/storage_error.h"

namespace vltava::storage {
namespace {

namespace fs = std::filesystem;
using namespace vltava::storage::testing;
using protocol::bytes;
using protocol::compression_codec;

constexpr const char* recovery_point_file = "recovery-point-offset-checkpoint";
constexpr const char* log_start_file = "log-start-offset-checkpoint";

// Appends batch to log; returns its records with the offsets the log gave them.
std::vector<stored_record> append(partition_log& log, bytes batch) {
  append_result result;
  EXPECT_FALSE(log.append(batch, result));
  log.set_high_watermark(log.log_end_offset());
  return decode_records(batch);
}

class LogManagerTest : public temp_dir_test {
 protected:
  void SetUp() override {
    temp_dir_test::SetUp();
    clock_ = std::make_shared<manual_clock>();
    context_.time = clock_;
  }

  log_manager_config config_for(std::vector<fs::path> dirs) const {
    log_manager_config config;
    config.log_dirs = std::move(dirs);
    config.cleaner_enable = false;
    return config;
  }
  log_manager_config two_dirs() const { return config_for({dir_ / "a", dir_ / "b"}); }

  std::unique_ptr<log_manager> open_manager(const log_manager_config& config, log_manager_startup& startup) {
    std::unique_ptr<log_manager> manager;
    const auto ec = log_manager::open(config, context_, manager, startup);
    EXPECT_FALSE(ec) << ec.message();
    return manager;
  }

  static std::shared_ptr<partition_log> create(log_manager& manager, const topic_partition& tp,
                                               const log_config& config = {}) {
    std::shared_ptr<partition_log> log;
    const auto ec = manager.create(tp, config, log);
    EXPECT_FALSE(ec) << ec.message();
    return log;
  }

  // Six partitions of "events", three batches each; returns what each holds.
  std::map<topic_partition, std::vector<stored_record>> fill_six(log_manager& manager) {
    std::map<topic_partition, std::vector<stored_record>> expected;
    for (std::int32_t p = 0; p < 6; ++p) {
      const topic_partition tp{"events", p};
      auto log = create(manager, tp);
      if (!log) continue;
      for (int b = 0; b < 3; ++b) {
        const auto records =
            append(*log, make_batch(1 + b, clock_->now_ms(), "p" + std::to_string(p) + "b" + std::to_string(b)));
        expected[tp].insert(expected[tp].end(), records.begin(), records.end());
      }
    }
    return expected;
  }

  void expect_data(const log_manager& manager, const std::map<topic_partition, std::vector<stored_record>>& expected) {
    EXPECT_EQ(manager.partitions().size(), expected.size());
    for (const auto& [tp, records] : expected) {
      SCOPED_TRACE(tp.directory_name());
      auto log = manager.get(tp);
      ASSERT_TRUE(log);
      EXPECT_EQ(log->log_end_offset(), static_cast<std::int64_t>(records.size()));
      EXPECT_EQ(read_all(*log), records);
    }
  }

  std::shared_ptr<manual_clock> clock_;
  storage_context context_;
};

TEST_F(LogManagerTest, SpreadsLogsOverDirectoriesAndRestartsCleanlyAfterShutdown) {
  const auto config = two_dirs();
  std::map<topic_partition, std::vector<stored_record>> expected;
  {
    log_manager_startup startup;
    auto manager = open_manager(config, startup);
    ASSERT_TRUE(manager);
    EXPECT_EQ(startup.logs_loaded, 0);
    expected = fill_six(*manager);
    std::map<fs::path, int> per_dir;
    for (const auto& tp : manager->partitions()) ++per_dir[manager->get(tp)->directory().parent_path()];
    EXPECT_EQ(per_dir[dir_ / "a"], 3);
    EXPECT_EQ(per_dir[dir_ / "b"], 3);
    for (const auto& dir : config.log_dirs) EXPECT_FALSE(fs::exists(dir / clean_shutdown_marker)) << dir;
    ASSERT_FALSE(manager->shutdown());
  }
  for (const auto& dir : config.log_dirs) {
    SCOPED_TRACE(dir.string());
    EXPECT_TRUE(fs::exists(dir / clean_shutdown_marker));
    EXPECT_TRUE(fs::exists(dir / recovery_point_file));
    EXPECT_TRUE(fs::exists(dir / log_start_file));
    offset_map recovery_points;
    ASSERT_FALSE(read_offset_checkpoint(dir / recovery_point_file, recovery_points));
    EXPECT_EQ(recovery_points.size(), 3u);
    for (const auto& [tp, offset] : recovery_points) {
      EXPECT_TRUE(fs::is_directory(dir / tp.directory_name())) << tp.directory_name();
      EXPECT_EQ(offset, static_cast<std::int64_t>(expected[tp].size())) << tp.directory_name();
    }
    offset_map start_offsets;
    ASSERT_FALSE(read_offset_checkpoint(dir / log_start_file, start_offsets));
    EXPECT_EQ(start_offsets.size(), 3u);
    for (const auto& [tp, offset] : start_offsets) EXPECT_EQ(offset, 0) << tp.directory_name();
  }

  log_manager_startup startup;
  auto manager = open_manager(config, startup);
  ASSERT_TRUE(manager);
  EXPECT_EQ(startup.logs_loaded, 6);
  EXPECT_EQ(startup.logs_recovered, 0);
  EXPECT_TRUE(startup.repairs.empty());
  // Until the next clean shutdown, a stop is a crash: the marker is gone while the manager runs.
  for (const auto& dir : config.log_dirs) EXPECT_FALSE(fs::exists(dir / clean_shutdown_marker)) << dir;
  expect_data(*manager, expected);
  // The logs take appends again.
  auto log = manager->get({"events", 4});
  ASSERT_TRUE(log);
  const auto more = append(*log, make_batch(2, clock_->now_ms(), "again"));
  ASSERT_EQ(more.size(), 2u);
  EXPECT_EQ(more.front().offset, static_cast<std::int64_t>(expected[{"events", 4}].size()));
  ASSERT_FALSE(manager->shutdown());
}

// Shutdown closes (seals and fsyncs) the logs on several threads once there are many: every one is closed, the
// checkpoints name each, and the next start is clean with all data there. A failing close still marks the
// directory unclean, whichever thread met it.
TEST_F(LogManagerTest, ShutdownClosesManyLogsOnSeveralThreadsAndAFailureMarksTheDirectoryUnclean) {
  const auto config = config_for({dir_ / "a"});
  std::map<topic_partition, std::vector<stored_record>> expected;
  {
    log_manager_startup startup;
    auto manager = open_manager(config, startup);
    ASSERT_TRUE(manager);
    for (std::int32_t p = 0; p < 300; ++p) {
      const topic_partition tp{"many", p};
      auto log = create(*manager, tp);
      ASSERT_TRUE(log);
      expected[tp] = append(*log, make_batch(1 + p % 3, clock_->now_ms(), "m" + std::to_string(p)));
    }
    ASSERT_FALSE(manager->shutdown());
  }
  EXPECT_TRUE(fs::exists(dir_ / "a" / clean_shutdown_marker));
  offset_map recovery_points;
  ASSERT_FALSE(read_offset_checkpoint(dir_ / "a" / recovery_point_file, recovery_points));
  ASSERT_EQ(recovery_points.size(), expected.size());
  for (const auto& [tp, records] : expected) EXPECT_EQ(recovery_points[tp], static_cast<std::int64_t>(records.size()));

  auto disk = std::make_shared<faulty_disk>();
  context_.faults = disk;
  {
    log_manager_startup startup;
    auto manager = open_manager(config, startup);
    ASSERT_TRUE(manager);
    EXPECT_EQ(startup.logs_loaded, 300);
    EXPECT_EQ(startup.logs_recovered, 0);
    expect_data(*manager, expected);
    // Every log has something to flush, and every flush fails.
    for (const auto& [tp, records] : expected) (void)append(*manager->get(tp), make_batch(1, clock_->now_ms(), "x"));
    disk->sync_fails = true;
    EXPECT_FALSE(fs::exists(dir_ / "a" / clean_shutdown_marker));
    (void)manager->shutdown();
  }
  EXPECT_FALSE(fs::exists(dir_ / "a" / clean_shutdown_marker));  // the next start recovers
}

// Two brokers on one log directory would corrupt it: the second is refused while the first holds <dir>/.lock, and
// may open it once the first has shut down.
TEST_F(LogManagerTest, ASecondManagerOnTheSameDirectoryIsRefusedUntilTheFirstCloses) {
  log_manager_startup startup;
  auto first = open_manager(two_dirs(), startup);
  ASSERT_TRUE(first);
  std::unique_ptr<log_manager> second;
  log_manager_startup second_startup;
  EXPECT_EQ(log_manager::open(config_for({dir_ / "b"}), context_, second, second_startup),
            make_error_code(storage_errc::directory_in_use));
  EXPECT_FALSE(second);
  EXPECT_EQ(to_kafka_error(make_error_code(storage_errc::directory_in_use)), protocol::error_code::kafka_storage_error);

  ASSERT_FALSE(first->shutdown());
  EXPECT_FALSE(log_manager::open(config_for({dir_ / "b"}), context_, second, second_startup));
  EXPECT_TRUE(second);
}

TEST_F(LogManagerTest, AnUnreadableCheckpointMakesTheDirectoryRecoverDespiteTheMarker) {
  const auto config = two_dirs();
  std::map<topic_partition, std::vector<stored_record>> expected;
  {
    log_manager_startup startup;
    auto manager = open_manager(config, startup);
    ASSERT_TRUE(manager);
    expected = fill_six(*manager);
    ASSERT_FALSE(manager->shutdown());
  }
  {
    std::ofstream out(dir_ / "a" / recovery_point_file, std::ios::trunc);
    out << "not a checkpoint\n";
  }
  log_manager_startup startup;
  auto manager = open_manager(config, startup);
  ASSERT_TRUE(manager);
  EXPECT_EQ(startup.logs_loaded, 6);
  EXPECT_EQ(startup.logs_recovered, 3);  // those in "a"
  expect_data(*manager, expected);
}

// The marker is per directory: a directory that lost it recovers its logs, the other one trusts its own.
TEST_F(LogManagerTest, EachDirectoryHonoursItsOwnMarker) {
  const auto config = two_dirs();
  std::map<topic_partition, std::vector<stored_record>> expected;
  {
    log_manager_startup startup;
    auto manager = open_manager(config, startup);
    ASSERT_TRUE(manager);
    expected = fill_six(*manager);
    ASSERT_FALSE(manager->shutdown());
  }
  ASSERT_TRUE(fs::remove(dir_ / "b" / clean_shutdown_marker));
  log_manager_startup startup;
  auto manager = open_manager(config, startup);
  ASSERT_TRUE(manager);
  EXPECT_EQ(startup.logs_loaded, 6);
  EXPECT_EQ(startup.logs_recovered, 3);
  EXPECT_TRUE(startup.repairs.empty());
  expect_data(*manager, expected);
}

// A crash: the directories as they are while the manager runs (no marker, no final checkpoint) are opened by a
// second manager, which recovers every log and finds all flushed data.
TEST_F(LogManagerTest, RecoversEveryLogAfterACrash) {
  const auto config = two_dirs();
  log_manager_startup startup;
  auto manager = open_manager(config, startup);
  ASSERT_TRUE(manager);
  const auto expected = fill_six(*manager);
  for (const auto& tp : manager->partitions()) ASSERT_FALSE(manager->get(tp)->flush());
  const auto crashed = config_for({dir_ / "crash-a", dir_ / "crash-b"});
  copy_directory(dir_ / "a", crashed.log_dirs[0]);
  copy_directory(dir_ / "b", crashed.log_dirs[1]);
  // A torn write at the end of one log: recovery cuts it and says so.
  const topic_partition torn{"events", 2};
  const auto torn_dir =
      fs::exists(crashed.log_dirs[0] / torn.directory_name()) ? crashed.log_dirs[0] : crashed.log_dirs[1];
  {
    std::ofstream out(torn_dir / torn.directory_name() / (segment_file_stem(0) + ".log"),
                      std::ios::binary | std::ios::app);
    out << "half a batch";
  }

  log_manager_startup recovered_startup;
  auto recovered = open_manager(crashed, recovered_startup);
  ASSERT_TRUE(recovered);
  EXPECT_EQ(recovered_startup.logs_loaded, 6);
  EXPECT_EQ(recovered_startup.logs_recovered, 6);
  ASSERT_EQ(recovered_startup.repairs.size(), 1u);
  EXPECT_EQ(recovered_startup.repairs[0].first, torn);
  EXPECT_EQ(recovered_startup.repairs[0].second.bytes_truncated, 12);
  expect_data(*recovered, expected);
  ASSERT_FALSE(recovered->shutdown());
  ASSERT_FALSE(manager->shutdown());
}

TEST_F(LogManagerTest, CreatesAndRemovesLogsAndRejectsBadNames) {
  const auto config = two_dirs();
  // Leftovers the manager must deal with at startup: an unfinished deletion, and things that are not logs.
  fs::create_directories(dir_ / "a" / "gone-0.removing-delete");
  { std::ofstream(dir_ / "a" / "gone-0.removing-delete" / (segment_file_stem(0) + ".log")) << "old"; }
  fs::create_directories(dir_ / "b" / "lost+found");
  fs::create_directories(dir_ / "b" / "not-a-partition");
  { std::ofstream(dir_ / "b" / "notes.txt") << "hello"; }

  log_manager_startup startup;
  auto manager = open_manager(config, startup);
  ASSERT_TRUE(manager);
  EXPECT_EQ(startup.logs_loaded, 0);
  EXPECT_FALSE(fs::exists(dir_ / "a" / "gone-0.removing-delete"));
  EXPECT_TRUE(fs::is_directory(dir_ / "b" / "lost+found"));
  EXPECT_TRUE(fs::is_directory(dir_ / "b" / "not-a-partition"));
  EXPECT_TRUE(fs::exists(dir_ / "b" / "notes.txt"));
  EXPECT_TRUE(manager->partitions().empty());

  const topic_partition tp{"orders", 3};
  auto log = create(*manager, tp);
  ASSERT_TRUE(log);
  EXPECT_EQ(manager->get(tp), log);
  std::shared_ptr<partition_log> again;
  EXPECT_EQ(manager->create(tp, {}, again), make_error_code(storage_errc::already_exists));
  for (const topic_partition& bad : {topic_partition{"", 0}, topic_partition{"a/b", 0}, topic_partition{".", 0},
                                     topic_partition{"..", 0}, topic_partition{"fine", -1}}) {
    SCOPED_TRACE("topic \"" + bad.topic + "\" partition " + std::to_string(bad.partition));
    std::shared_ptr<partition_log> out;
    EXPECT_EQ(manager->create(bad, {}, out), make_error_code(storage_errc::invalid_argument));
    EXPECT_FALSE(manager->get(bad));
  }
  log_config invalid;
  invalid.segment_bytes = 1;
  std::shared_ptr<partition_log> out;
  EXPECT_EQ(manager->create({"fine", 0}, invalid, out), make_error_code(storage_errc::invalid_argument));
  EXPECT_FALSE(manager->get({"fine", 0}));

  (void)append(*log, make_batch(3, clock_->now_ms(), "x"));
  const fs::path dir = log->directory();
  ASSERT_TRUE(fs::is_directory(dir));
  EXPECT_FALSE(manager->remove(tp));
  EXPECT_FALSE(fs::exists(dir));
  EXPECT_FALSE(fs::exists(dir.parent_path() / (tp.directory_name() + ".removing-delete")));
  EXPECT_FALSE(manager->get(tp));
  EXPECT_TRUE(manager->partitions().empty());
  EXPECT_EQ(manager->remove(tp), make_error_code(storage_errc::not_found));
  EXPECT_EQ(manager->remove({"never", 0}), make_error_code(storage_errc::not_found));

  // The name is free again, and a recreated log starts empty.
  log = create(*manager, tp);
  ASSERT_TRUE(log);
  EXPECT_EQ(log->log_end_offset(), 0);
  ASSERT_FALSE(manager->shutdown());

  log_manager_startup restarted;
  manager = open_manager(config, restarted);
  ASSERT_TRUE(manager);
  EXPECT_EQ(restarted.logs_loaded, 1);
  EXPECT_EQ(manager->partitions(), std::vector<topic_partition>{tp});
}

// retention.ms by the segments' largest timestamps on the manual clock: a segment goes once it is strictly older than
// retention.ms, never the active one, and the log start offset follows.
TEST_F(LogManagerTest, RetentionCheckDeletesExpiredSegments) {
  log_manager_startup startup;
  auto manager = open_manager(two_dirs(), startup);
  ASSERT_TRUE(manager);
  log_config config;
  config.segment_bytes = 600;
  config.retention_ms = 60'000;
  auto log = create(*manager, {"logs", 0}, config);
  ASSERT_TRUE(log);
  auto keep = create(*manager, {"kept", 0});  // default retention: a week
  ASSERT_TRUE(keep);
  std::vector<stored_record> all;
  for (int b = 0; b < 10; ++b) {
    const auto records =
        append(*log, make_batch(2, clock_->now_ms(), "r" + std::to_string(b), compression_codec::none, 100));
    all.insert(all.end(), records.begin(), records.end());
    (void)append(*keep, make_batch(2, clock_->now_ms(), "k" + std::to_string(b), compression_codec::none, 100));
  }
  const std::size_t segments = log->segment_count();
  ASSERT_GE(segments, 3u);
  const auto newest_timestamp = all.back().timestamp;

  manager->run_retention_check();
  EXPECT_EQ(log->segment_count(), segments);
  clock_->set(newest_timestamp + 60'000);  // exactly retention.ms old: kept
  manager->run_retention_check();
  EXPECT_EQ(log->segment_count(), segments);
  EXPECT_EQ(log->log_start_offset(), 0);

  clock_->advance(1);
  manager->run_retention_check();
  ASSERT_EQ(log->segment_count(), 1u);  // the active segment always stays
  const std::int64_t active_base = log->segments().front()->base_offset();
  EXPECT_GT(active_base, 0);
  EXPECT_EQ(log->log_start_offset(), active_base);
  std::size_t segment_logs = 0;
  for (const auto& entry : fs::directory_iterator(log->directory())) {
    if (entry.path().extension() == ".log") ++segment_logs;
  }
  EXPECT_EQ(segment_logs, 1u);
  std::vector<stored_record> remaining;
  for (const auto& r : all) {
    if (r.offset >= active_base) remaining.push_back(r);
  }
  EXPECT_EQ(read_all(*log), remaining);
  read_result result;
  EXPECT_EQ(log->read(0, 1024, log->log_end_offset(), true, result),
            make_error_code(storage_errc::offset_out_of_range));
  EXPECT_EQ(keep->log_start_offset(), 0);
  EXPECT_EQ(keep->log_end_offset(), 20);
}

// flush.messages counts records, not batches; flush.ms counts from the oldest unflushed append on the manual clock.
TEST_F(LogManagerTest, FlushCheckFlushesByMessageCountAndByAge) {
  log_manager_startup startup;
  auto manager = open_manager(two_dirs(), startup);
  ASSERT_TRUE(manager);
  log_config by_count;
  by_count.flush_messages = 5;
  auto counted = create(*manager, {"counted", 0}, by_count);
  log_config by_age;
  by_age.flush_ms = 1000;
  auto aged = create(*manager, {"aged", 0}, by_age);
  ASSERT_TRUE(counted);
  ASSERT_TRUE(aged);

  (void)append(*counted, make_batch(2, clock_->now_ms(), "a"));
  (void)append(*counted, make_batch(2, clock_->now_ms(), "b"));
  manager->run_flush_check();
  EXPECT_EQ(counted->recovery_point(), 0);
  EXPECT_EQ(counted->unflushed_messages(), 4);
  (void)append(*counted, make_batch(1, clock_->now_ms(), "c"));
  manager->run_flush_check();
  EXPECT_EQ(counted->recovery_point(), 5);
  EXPECT_EQ(counted->unflushed_messages(), 0);
  (void)append(*counted, make_batch(4, clock_->now_ms(), "d"));
  manager->run_flush_check();
  EXPECT_EQ(counted->recovery_point(), 5);
  (void)append(*counted, make_batch(1, clock_->now_ms(), "e"));
  manager->run_flush_check();
  EXPECT_EQ(counted->recovery_point(), 10);

  (void)append(*aged, make_batch(3, clock_->now_ms(), "x"));
  manager->run_flush_check();
  EXPECT_EQ(aged->recovery_point(), 0);
  clock_->advance(999);
  manager->run_flush_check();
  EXPECT_EQ(aged->recovery_point(), 0);
  clock_->advance(1);
  manager->run_flush_check();
  EXPECT_EQ(aged->recovery_point(), 3);
  EXPECT_EQ(aged->first_unflushed_append_ms(), -1);
}

// DeleteRecords inside a segment moves the log start offset; the log-start-offset-checkpoint carries it over a clean
// restart and over a crash after the checkpoint was written.
TEST_F(LogManagerTest, LogStartOffsetSurvivesARestart) {
  const auto config = two_dirs();
  const topic_partition tp{"trimmed", 0};
  std::vector<stored_record> all;
  {
    log_manager_startup startup;
    auto manager = open_manager(config, startup);
    ASSERT_TRUE(manager);
    auto log = create(*manager, tp);
    ASSERT_TRUE(log);
    for (int b = 0; b < 5; ++b) {
      const auto records = append(*log, make_batch(2, clock_->now_ms(), "r" + std::to_string(b)));
      all.insert(all.end(), records.begin(), records.end());
    }
    std::int64_t start = -1;
    ASSERT_FALSE(log->delete_records_before(7, start));
    EXPECT_EQ(start, 7);
    ASSERT_FALSE(manager->write_checkpoints());
    // The crash image: checkpoints written, no marker.
    copy_directory(dir_ / "a", dir_ / "crash-a");
    copy_directory(dir_ / "b", dir_ / "crash-b");
    ASSERT_FALSE(manager->shutdown());
  }
  const std::vector<stored_record> kept(all.begin() + 7, all.end());
  for (const bool crash : {false, true}) {
    SCOPED_TRACE(crash ? "after a crash" : "after a clean shutdown");
    log_manager_startup startup;
    auto manager = open_manager(crash ? config_for({dir_ / "crash-a", dir_ / "crash-b"}) : config, startup);
    ASSERT_TRUE(manager);
    EXPECT_EQ(startup.logs_recovered, crash ? 1 : 0);
    auto log = manager->get(tp);
    ASSERT_TRUE(log);
    EXPECT_EQ(log->log_start_offset(), 7);
    EXPECT_EQ(log->log_end_offset(), 10);
    read_result result;
    EXPECT_EQ(log->read(6, 1024, 10, true, result), make_error_code(storage_errc::offset_out_of_range));
    EXPECT_EQ(read_all(*log), kept);
    ASSERT_FALSE(manager->shutdown());
  }
}

TEST_F(LogManagerTest, TheSamePartitionInTwoDirectoriesFailsToOpen) {
  fs::create_directories(dir_ / "a" / "dup-0");
  fs::create_directories(dir_ / "b" / "dup-0");
  log_manager_startup startup;
  std::unique_ptr<log_manager> manager;
  EXPECT_EQ(log_manager::open(two_dirs(), context_, manager, startup), make_error_code(storage_errc::already_exists));
  EXPECT_FALSE(manager);
}

TEST_F(LogManagerTest, OpenRejectsNoDirectoriesAndInvalidDefaults) {
  log_manager_startup startup;
  std::unique_ptr<log_manager> manager;
  EXPECT_EQ(log_manager::open(config_for({}), context_, manager, startup),
            make_error_code(storage_errc::invalid_argument));
  auto config = two_dirs();
  config.defaults.segment_bytes = 1;
  EXPECT_EQ(log_manager::open(config, context_, manager, startup), make_error_code(storage_errc::invalid_argument));
  EXPECT_FALSE(manager);
}

// log.dirs written with a trailing slash ("/var/kafka/") name the same directories: logs are still spread over
// them, and the checkpoints written at shutdown still list every log.
//
// FAILS while the bug exists (src/storage/log_manager.cc): create(), write_checkpoints() and shutdown() key their
// per-directory maps by log->directory().parent_path() ("/x/a") but look them up by the configured path ("/x/a/"),
// so every log lands in the first directory, the checkpoint files are written empty (the log start offset set by
// DeleteRecords is lost at restart), and a log that fails to close does not stop its directory's clean-shutdown
// marker. Fix: normalise log_dirs once in log_manager::open (absolute, lexically_normal, no trailing separator).
TEST_F(LogManagerTest, TrailingSlashesInLogDirsStillSpreadLogsAndWriteCheckpoints) {
  const auto config = config_for({dir_ / "a" / "", dir_ / "b" / ""});
  ASSERT_EQ(config.log_dirs[0].string().back(), '/');
  const topic_partition tp{"slashed", 0};
  {
    log_manager_startup startup;
    auto manager = open_manager(config, startup);
    ASSERT_TRUE(manager);
    for (std::int32_t p = 0; p < 4; ++p) ASSERT_TRUE(create(*manager, {"slashed", p}));
    std::map<std::string, int> per_dir;
    for (const auto& t : manager->partitions()) {
      ++per_dir[manager->get(t)->directory().parent_path().filename().string()];
    }
    EXPECT_EQ(per_dir["a"], 2);
    EXPECT_EQ(per_dir["b"], 2);
    auto log = manager->get(tp);
    for (int b = 0; b < 5; ++b) (void)append(*log, make_batch(2, clock_->now_ms(), "r" + std::to_string(b)));
    std::int64_t start = -1;
    ASSERT_FALSE(log->delete_records_before(3, start));
    ASSERT_FALSE(manager->shutdown());
  }
  offset_map recovery_points;
  ASSERT_FALSE(read_offset_checkpoint(dir_ / "a" / recovery_point_file, recovery_points));
  offset_map more;
  ASSERT_FALSE(read_offset_checkpoint(dir_ / "b" / recovery_point_file, more));
  recovery_points.insert(more.begin(), more.end());
  EXPECT_EQ(recovery_points.size(), 4u);

  log_manager_startup startup;
  auto manager = open_manager(config, startup);
  ASSERT_TRUE(manager);
  auto log = manager->get(tp);
  ASSERT_TRUE(log);
  EXPECT_EQ(log->log_start_offset(), 3);
}

}  // namespace
}  // namespace vltava::storage

namespace vltava::storage {
namespace {

// The cleaner thread compacts a compacted topic on its own, and where it got to survives a restart in
// cleaner-offset-checkpoint.
TEST_F(LogManagerTest, BackgroundCleanerCompactsAndItsCheckpointSurvivesARestart) {
  auto config = config_for({dir_ / "a"});
  config.cleaner_enable = true;
  config.cleaner_backoff_ms = 5;
  log_config compacted;
  compacted.cleanup = cleanup_policy{false, true};
  compacted.segment_bytes = 2048;
  const topic_partition tp{"table", 0};
  std::map<std::string, stored_record> newest;
  {
    log_manager_startup startup;
    auto manager = open_manager(config, startup);
    ASSERT_TRUE(manager);
    auto log = create(*manager, tp, compacted);
    ASSERT_TRUE(log);
    for (int round = 0; round < 20; ++round) {
      for (const auto& r : append(*log, make_batch(4, clock_->now_ms() + round, "key", compression_codec::none, 100)))
        newest[r.key] = r;
    }
    const auto size_before = log->size_bytes();
    manager->start_background_work();
    // Wait (with a deadline) for the cleaner thread to have rewritten the inactive segments.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (log->size_bytes() * 2 > size_before && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_LE(log->size_bytes() * 2, size_before);
    ASSERT_FALSE(manager->shutdown());
  }
  offset_map cleaner_offsets;
  ASSERT_FALSE(read_offset_checkpoint(dir_ / "a" / "cleaner-offset-checkpoint", cleaner_offsets));
  ASSERT_TRUE(cleaner_offsets.contains(tp));
  EXPECT_GT(cleaner_offsets[tp], 0);

  log_manager_startup startup;
  config.cleaner_enable = false;
  auto manager = open_manager(config, startup);
  ASSERT_TRUE(manager);
  auto log = manager->get(tp);
  ASSERT_TRUE(log);
  log->set_config(compacted);
  // Every key's newest value is still there at its original offset, and below the checkpoint (the cleaned part)
  // each key appears once.
  std::map<std::string, std::vector<stored_record>> by_key;
  for (const auto& r : read_all(*log)) by_key[r.key].push_back(r);
  ASSERT_EQ(by_key.size(), newest.size());
  for (const auto& [key, records] : by_key) {
    EXPECT_EQ(records.back(), newest[key]);
    const auto cleaned = std::count_if(records.begin(), records.end(),
                                       [&](const stored_record& r) { return r.offset < cleaner_offsets[tp]; });
    EXPECT_LE(cleaned, 1) << key;
  }
}

}  // namespace
}  // namespace vltava::storage
