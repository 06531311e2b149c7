// Tests of what consumers read from real partition logs in a temporary directory: Fetch's reads under partition and
// response byte limits (one whole batch at least), the high watermark bound, errors; ListOffsets' lookups.
#include "vltava/broker/partition_reads.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "../storage/storage_test_support.h"

namespace vltava::broker {
namespace {

using protocol::error_code;
using storage::testing::decode_records;
using storage::testing::make_batch;

class partition_reads_test : public storage::testing::temp_dir_test {
 protected:
  void TearDown() override {
    for (auto& log : logs_) (void)log->close();
    logs_.clear();
    temp_dir_test::TearDown();
  }

  std::shared_ptr<storage::partition_log> open_log(std::int32_t partition) {
    std::shared_ptr<storage::partition_log> log;
    storage::log_recovery_report report;
    storage::topic_partition tp{"t", partition};
    EXPECT_FALSE(storage::partition_log::open(dir_ / tp.directory_name(), tp, {}, context_, {}, log, report));
    logs_.push_back(log);
    return log;
  }

  // Appends a batch and, unless told otherwise, commits it (moves the high watermark to the log end).
  std::size_t append(storage::partition_log& log, protocol::bytes batch, bool commit = true) {
    storage::append_result result;
    EXPECT_FALSE(log.append(batch, result));
    if (commit) log.set_high_watermark(log.log_end_offset());
    return batch.size();
  }

  static partition_read_request read_of(std::shared_ptr<storage::partition_log> log, std::int64_t offset,
                                        std::int32_t max_bytes) {
    partition_read_request request;
    request.log = std::move(log);
    request.fetch_offset = offset;
    request.max_bytes = max_bytes;
    return request;
  }

  static protocol::bytes bytes_of(const partition_read_result& result) {
    protocol::shared_bytes data;
    EXPECT_FALSE(read_records(result.records, data));
    return {data.data(), data.data() + data.size()};
  }

  storage::storage_context context_;
  std::vector<std::shared_ptr<storage::partition_log>> logs_;
};

constexpr std::size_t value_size = 300;

TEST_F(partition_reads_test, ReadsWholeBatchesWithinThePartitionLimit) {
  auto log = open_log(0);
  const auto first = append(*log, make_batch(2, 1000, "a", protocol::compression_codec::none, value_size));
  const auto second = append(*log, make_batch(2, 1000, "b", protocol::compression_codec::none, value_size));
  (void)second;
  std::vector<partition_read_result> results;
  const std::vector<partition_read_request> requests{read_of(log, 0, static_cast<std::int32_t>(first + 10))};
  const auto total = read_partitions(requests, 1 << 20, isolation_level::read_uncommitted, results);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].error, error_code::none);
  EXPECT_EQ(total, first);
  EXPECT_EQ(results[0].records.length, first);
  EXPECT_EQ(results[0].high_watermark, 4);
  EXPECT_EQ(results[0].last_stable_offset, 4);
  EXPECT_EQ(results[0].log_start_offset, 0);
  const auto records = decode_records(bytes_of(results[0]));
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].key, "a0");
}

TEST_F(partition_reads_test, FirstPartitionWithDataGetsOneWholeBatchEvenAboveTheLimits) {
  auto empty = open_log(0);
  auto big = open_log(1);
  auto other = open_log(2);
  const auto batch = append(*big, make_batch(3, 1000, "a", protocol::compression_codec::none, value_size));
  append(*other, make_batch(1, 1000, "b"));
  std::vector<partition_read_result> results;
  // Limits far below one batch; the empty partition in front does not use up the allowance.
  const std::vector<partition_read_request> requests{read_of(empty, 0, 10), read_of(big, 0, 10), read_of(other, 0, 10)};
  const auto total = read_partitions(requests, 20, isolation_level::read_uncommitted, results);
  ASSERT_EQ(results.size(), 3u);
  EXPECT_TRUE(results[0].records.empty());
  EXPECT_EQ(results[1].records.length, batch);
  EXPECT_EQ(total, batch);
  // The budget is spent: the next partition reads nothing but still reports its offsets.
  EXPECT_TRUE(results[2].records.empty());
  EXPECT_EQ(results[2].error, error_code::none);
  EXPECT_EQ(results[2].high_watermark, 1);
}

TEST_F(partition_reads_test, ResponseBudgetIsSharedInOrder) {
  auto first = open_log(0);
  auto second = open_log(1);
  auto third = open_log(2);
  const auto a = append(*first, make_batch(1, 1000, "a", protocol::compression_codec::none, value_size));
  const auto b = append(*second, make_batch(1, 1000, "b", protocol::compression_codec::none, value_size));
  append(*third, make_batch(1, 1000, "c", protocol::compression_codec::none, value_size));
  std::vector<partition_read_result> results;
  const std::vector<partition_read_request> requests{read_of(first, 0, 1 << 20), read_of(second, 0, 1 << 20),
                                                     read_of(third, 0, 1 << 20)};
  const auto total =
      read_partitions(requests, static_cast<std::int32_t>(a + b + 10), isolation_level::read_uncommitted, results);
  EXPECT_EQ(total, a + b);
  EXPECT_EQ(results[0].records.length, a);
  EXPECT_EQ(results[1].records.length, b);
  EXPECT_TRUE(results[2].records.empty());
}

TEST_F(partition_reads_test, ReadsStopAtTheHighWatermarkForBothIsolationLevels) {
  auto log = open_log(0);
  append(*log, make_batch(2, 1000, "a"));
  append(*log, make_batch(2, 1000, "b"), /*commit=*/false);
  for (auto isolation : {isolation_level::read_uncommitted, isolation_level::read_committed}) {
    std::vector<partition_read_result> results;
    const std::vector<partition_read_request> requests{read_of(log, 0, 1 << 20)};
    read_partitions(requests, 1 << 20, isolation, results);
    EXPECT_EQ(results[0].high_watermark, 2);
    EXPECT_EQ(results[0].last_stable_offset, 2);
    const auto records = decode_records(bytes_of(results[0]));
    ASSERT_EQ(records.size(), 2u);
    EXPECT_EQ(records.back().offset, 1);
    // At the high watermark (below the log end): nothing yet, no error.
    const std::vector<partition_read_request> at_end{read_of(log, 2, 1 << 20)};
    read_partitions(at_end, 1 << 20, isolation, results);
    EXPECT_EQ(results[0].error, error_code::none);
    EXPECT_TRUE(results[0].records.empty());
  }
}

TEST_F(partition_reads_test, FetchFromTheMiddleOfABatchReturnsTheWholeBatch) {
  auto log = open_log(0);
  append(*log, make_batch(3, 1000, "a"));
  append(*log, make_batch(3, 1000, "b"));
  std::vector<partition_read_result> results;
  const std::vector<partition_read_request> requests{read_of(log, 4, 1 << 20)};
  read_partitions(requests, 1 << 20, isolation_level::read_uncommitted, results);
  const auto records = decode_records(bytes_of(results[0]));
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records.front().offset, 3);
}

TEST_F(partition_reads_test, OffsetOutOfRangeReportsWhereTheLogIs) {
  auto log = open_log(0);
  append(*log, make_batch(2, 1000));
  std::vector<partition_read_result> results;
  const std::vector<partition_read_request> requests{read_of(log, 50, 1 << 20), read_of(log, -1, 1 << 20)};
  read_partitions(requests, 1 << 20, isolation_level::read_uncommitted, results);
  for (const auto& result : results) {
    EXPECT_EQ(result.error, error_code::offset_out_of_range);
    EXPECT_EQ(result.high_watermark, 2);
    EXPECT_EQ(result.log_start_offset, 0);
    EXPECT_TRUE(result.records.empty());
  }
}

TEST_F(partition_reads_test, MissingPartitionCarriesItsLookupError) {
  std::vector<partition_read_result> results;
  partition_read_request missing;
  missing.lookup_error = error_code::unknown_topic_id;
  const std::vector<partition_read_request> requests{missing};
  EXPECT_EQ(read_partitions(requests, 1 << 20, isolation_level::read_uncommitted, results), 0u);
  EXPECT_EQ(results[0].error, error_code::unknown_topic_id);
  EXPECT_EQ(results[0].high_watermark, -1);
  EXPECT_EQ(results[0].log_start_offset, -1);
}

TEST_F(partition_reads_test, ClosedLogReadsAsAnUnknownPartition) {
  auto log = open_log(0);
  append(*log, make_batch(1, 1000));
  ASSERT_FALSE(log->close());
  std::vector<partition_read_result> results;
  const std::vector<partition_read_request> requests{read_of(log, 0, 1 << 20)};
  read_partitions(requests, 1 << 20, isolation_level::read_uncommitted, results);
  EXPECT_EQ(results[0].error, error_code::unknown_topic_or_partition);
}

TEST(list_offsets_timestamps, SpecialTimestampsNeedTheVersionThatIntroducedThem) {
  EXPECT_TRUE(list_offsets_timestamp_supported(latest_timestamp, 1));
  EXPECT_TRUE(list_offsets_timestamp_supported(earliest_timestamp, 1));
  EXPECT_TRUE(list_offsets_timestamp_supported(12345, 1));
  EXPECT_FALSE(list_offsets_timestamp_supported(max_timestamp, 6));
  EXPECT_TRUE(list_offsets_timestamp_supported(max_timestamp, 7));
  EXPECT_FALSE(list_offsets_timestamp_supported(earliest_local_timestamp, 7));
  EXPECT_TRUE(list_offsets_timestamp_supported(earliest_local_timestamp, 8));
  EXPECT_FALSE(list_offsets_timestamp_supported(latest_tiered_timestamp, 8));
  EXPECT_TRUE(list_offsets_timestamp_supported(latest_tiered_timestamp, 9));
  EXPECT_FALSE(list_offsets_timestamp_supported(earliest_pending_upload_timestamp, 10));
  EXPECT_TRUE(list_offsets_timestamp_supported(earliest_pending_upload_timestamp, 11));
  EXPECT_FALSE(list_offsets_timestamp_supported(-7, 11));
}

TEST_F(partition_reads_test, EarliestAndLatestOffsets) {
  auto log = open_log(0);
  append(*log, make_batch(3, 1000));
  append(*log, make_batch(2, 2000));
  std::int64_t new_start = 0;
  ASSERT_FALSE(log->delete_records_before(2, new_start));
  append(*log, make_batch(1, 3000), /*commit=*/false);  // offset 5, not yet committed

  const auto earliest = lookup_offset(*log, earliest_timestamp, isolation_level::read_uncommitted);
  EXPECT_EQ(earliest.error, error_code::none);
  EXPECT_EQ(earliest.offset, 2);
  EXPECT_EQ(earliest.timestamp, -1);
  EXPECT_EQ(lookup_offset(*log, earliest_local_timestamp, isolation_level::read_uncommitted).offset, 2);
  // Consumers see up to the high watermark, replicas up to the log end.
  EXPECT_EQ(lookup_offset(*log, latest_timestamp, isolation_level::read_uncommitted).offset, 5);
  EXPECT_EQ(lookup_offset(*log, latest_timestamp, isolation_level::read_committed).offset, 5);
  EXPECT_EQ(lookup_offset(*log, latest_timestamp, std::nullopt).offset, 6);
  EXPECT_EQ(lookup_offset(*log, latest_timestamp, std::nullopt).timestamp, -1);
  // No tiered storage.
  EXPECT_EQ(lookup_offset(*log, latest_tiered_timestamp, std::nullopt).offset, -1);
  EXPECT_EQ(lookup_offset(*log, earliest_pending_upload_timestamp, std::nullopt).offset, -1);
}

TEST_F(partition_reads_test, OffsetsByTimestamp) {
  auto log = open_log(0);
  append(*log, make_batch(3, 1000));                    // offsets 0-2, timestamps 1000-1002
  append(*log, make_batch(3, 2000));                    // offsets 3-5, timestamps 2000-2002
  append(*log, make_batch(1, 9000), /*commit=*/false);  // offset 6, above the high watermark

  auto found = lookup_offset(*log, 1001, isolation_level::read_uncommitted);
  EXPECT_EQ(found.offset, 1);
  EXPECT_EQ(found.timestamp, 1001);
  found = lookup_offset(*log, 1500, isolation_level::read_uncommitted);
  EXPECT_EQ(found.offset, 3);
  EXPECT_EQ(found.timestamp, 2000);
  found = lookup_offset(*log, 0, isolation_level::read_uncommitted);
  EXPECT_EQ(found.offset, 0);
  // Only the uncommitted record is that recent: consumers get no answer, a replica gets it.
  auto none = lookup_offset(*log, 5000, isolation_level::read_uncommitted);
  EXPECT_EQ(none.error, error_code::none);
  EXPECT_EQ(none.offset, -1);
  EXPECT_EQ(none.timestamp, -1);
  EXPECT_EQ(lookup_offset(*log, 5000, std::nullopt).offset, 6);
  none = lookup_offset(*log, 10000, std::nullopt);
  EXPECT_EQ(none.offset, -1);
  EXPECT_EQ(none.timestamp, -1);
}

TEST_F(partition_reads_test, MaxTimestampOffset) {
  auto log = open_log(0);
  EXPECT_EQ(lookup_offset(*log, max_timestamp, isolation_level::read_uncommitted).offset, -1);
  append(*log, make_batch(3, 1000));
  append(*log, make_batch(2, 5000));  // offsets 3-4, the largest timestamp 5001 at offset 4
  append(*log, make_batch(2, 2000));
  auto found = lookup_offset(*log, max_timestamp, isolation_level::read_uncommitted);
  EXPECT_EQ(found.offset, 4);
  EXPECT_EQ(found.timestamp, 5001);
  append(*log, make_batch(1, 9000), /*commit=*/false);
  found = lookup_offset(*log, max_timestamp, isolation_level::read_uncommitted);
  EXPECT_EQ(found.offset, -1);  // the largest timestamp is not committed yet
  EXPECT_EQ(lookup_offset(*log, max_timestamp, std::nullopt).offset, 7);
}

}  // namespace
}  // namespace vltava::broker
