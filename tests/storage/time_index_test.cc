// Tests of the .timeindex file: Kafka's byte layout, lookups, truncation, corruption detection and failed writes.
#include "vltava/storage/time_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "storage_test_support.h"
#include "vltava/storage/storage_error.h"

namespace vltava::storage {
namespace {

namespace fs = std::filesystem;
using namespace vltava::storage::testing;

using raw_bytes = std::vector<std::uint8_t>;

// One raw .timeindex entry, built by hand so that the tests do not trust the code under test for the layout.
raw_bytes raw_entry(std::int64_t timestamp, std::uint32_t relative_offset) {
  raw_bytes out;
  const auto ts = static_cast<std::uint64_t>(timestamp);
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(ts >> shift));
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(relative_offset >> shift));
  return out;
}

using entries_t = std::vector<timestamp_offset>;

class TimeIndexTest : public temp_dir_test {
 protected:
  void SetUp() override {
    temp_dir_test::SetUp();
    path_ = dir_ / "00000000000000000100.timeindex";
  }

  std::unique_ptr<time_index> open_index(std::int64_t base_offset, std::size_t max_bytes = 1 << 20,
                                         std::shared_ptr<io_fault_injector> faults = nullptr) {
    std::unique_ptr<time_index> index;
    auto ec = time_index::open(path_, base_offset, max_bytes, std::move(faults), index);
    EXPECT_FALSE(ec) << ec.message();
    return index;
  }

  fs::path path_;
};

TEST_F(TimeIndexTest, OpenCreatesAnEmptyFile) {
  ASSERT_FALSE(fs::exists(path_));
  auto index = open_index(100);
  ASSERT_TRUE(index);
  EXPECT_TRUE(fs::exists(path_));
  EXPECT_EQ(fs::file_size(path_), 0u);
  EXPECT_TRUE(index->entries().empty());
  EXPECT_EQ(index->base_offset(), 100);
  EXPECT_EQ(index->path(), path_);
  EXPECT_EQ(index->last_entry(), (timestamp_offset{-1, 100}));
  EXPECT_EQ(index->lookup(1'700'000'000'000), (timestamp_offset{-1, 100}));
  EXPECT_FALSE(index->sanity_check(100));
}

TEST_F(TimeIndexTest, EntriesRoundTripThroughReopenInKafkaLayout) {
  const entries_t expected = {{1000, 100}, {2000, 105}, {0x0102030405060708, 100 + 0x0A0B0C0D}};
  {
    auto index = open_index(100);
    ASSERT_TRUE(index);
    for (const auto& e : expected) ASSERT_FALSE(index->maybe_append(e.timestamp, e.offset));
    EXPECT_EQ(index->entries(), expected);
    ASSERT_FALSE(index->flush());
  }
  // Big-endian timestamp, then big-endian relative offset: what a Kafka broker would read from the same file.
  EXPECT_EQ(read_file_bytes(path_),
            concat({raw_entry(1000, 0), raw_entry(2000, 5),
                    raw_bytes{0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x0A, 0x0B, 0x0C, 0x0D}}));

  auto reopened = open_index(100);
  ASSERT_TRUE(reopened);
  EXPECT_EQ(reopened->entries(), expected);
  EXPECT_EQ(reopened->last_entry(), expected.back());
  EXPECT_FALSE(reopened->sanity_check(100 + 0x0A0B0C0E));
  // Appends continue after the loaded entries.
  EXPECT_FALSE(reopened->maybe_append(0x0102030405060709, 100 + 0x0A0B0C0E));
  EXPECT_EQ(fs::file_size(path_), 3 * time_index::entry_size);  // in memory until written
  ASSERT_FALSE(reopened->write());
  EXPECT_EQ(fs::file_size(path_), 4 * time_index::entry_size);
}

TEST_F(TimeIndexTest, MaybeAppendSkipsTimestampsThatDoNotGrow) {
  auto index = open_index(0);
  ASSERT_TRUE(index);
  // A batch without a timestamp (-1) is not indexed, as in Kafka.
  EXPECT_FALSE(index->maybe_append(-1, 5));
  EXPECT_TRUE(index->entries().empty());

  ASSERT_FALSE(index->maybe_append(1000, 10));
  EXPECT_FALSE(index->maybe_append(1000, 20));  // same timestamp
  EXPECT_FALSE(index->maybe_append(999, 20));   // older timestamp
  // The timestamp decides first: a skipped entry is not checked for its offset either.
  EXPECT_FALSE(index->maybe_append(999, 3));
  EXPECT_EQ(index->entries(), (entries_t{{1000, 10}}));
  ASSERT_FALSE(index->write());
  EXPECT_EQ(fs::file_size(path_), time_index::entry_size);

  ASSERT_FALSE(index->maybe_append(1001, 20));
  EXPECT_EQ(index->last_entry(), (timestamp_offset{1001, 20}));
}

TEST_F(TimeIndexTest, OffsetsThatDoNotGrowAreRejectedAndChangeNothing) {
  auto index = open_index(100);
  ASSERT_TRUE(index);
  EXPECT_EQ(index->maybe_append(1000, 99), storage_errc::invalid_argument);  // below the base offset
  EXPECT_EQ(index->maybe_append(1000, 100 + std::int64_t{std::numeric_limits<std::uint32_t>::max()} + 1),
            storage_errc::invalid_argument);  // the relative offset would not fit in 32 bits
  EXPECT_TRUE(index->entries().empty());
  EXPECT_EQ(fs::file_size(path_), 0u);

  ASSERT_FALSE(index->maybe_append(1000, 110));
  EXPECT_EQ(index->maybe_append(2000, 110), storage_errc::invalid_argument);  // same offset
  EXPECT_EQ(index->maybe_append(2000, 109), storage_errc::invalid_argument);  // smaller offset
  EXPECT_EQ(index->entries(), (entries_t{{1000, 110}}));
  ASSERT_FALSE(index->write());
  EXPECT_EQ(fs::file_size(path_), time_index::entry_size);

  // The largest relative offset that fits is fine.
  ASSERT_FALSE(index->maybe_append(2000, 100 + std::int64_t{std::numeric_limits<std::uint32_t>::max()}));
  ASSERT_FALSE(index->write());
  EXPECT_EQ(read_file_bytes(path_), concat({raw_entry(1000, 10), raw_entry(2000, 0xFFFFFFFFu)}));
}

TEST_F(TimeIndexTest, LookupFindsTheLastEntryBelowTheTarget) {
  auto index = open_index(0);
  ASSERT_TRUE(index);
  ASSERT_FALSE(index->maybe_append(1000, 10));
  ASSERT_FALSE(index->maybe_append(2000, 20));
  ASSERT_FALSE(index->maybe_append(3000, 30));

  EXPECT_EQ(index->lookup(std::numeric_limits<std::int64_t>::min()), (timestamp_offset{-1, 0}));
  EXPECT_EQ(index->lookup(500), (timestamp_offset{-1, 0}));   // before the first entry
  EXPECT_EQ(index->lookup(1000), (timestamp_offset{-1, 0}));  // an exact match is not below the target
  EXPECT_EQ(index->lookup(1001), (timestamp_offset{1000, 10}));
  EXPECT_EQ(index->lookup(2000), (timestamp_offset{1000, 10}));
  EXPECT_EQ(index->lookup(2001), (timestamp_offset{2000, 20}));
  EXPECT_EQ(index->lookup(3000), (timestamp_offset{2000, 20}));
  EXPECT_EQ(index->lookup(3001), (timestamp_offset{3000, 30}));
  EXPECT_EQ(index->lookup(std::numeric_limits<std::int64_t>::max()), (timestamp_offset{3000, 30}));
}

TEST_F(TimeIndexTest, LookupMatchesALinearScanOverManyEntries) {
  auto index = open_index(0);
  ASSERT_TRUE(index);
  std::mt19937 rng(11);
  std::int64_t timestamp = 0;
  std::int64_t offset = 0;
  for (int i = 0; i < 1000; ++i) {
    timestamp += 1 + static_cast<std::int64_t>(rng() % 50);
    offset += 1 + static_cast<std::int64_t>(rng() % 20);
    ASSERT_FALSE(index->maybe_append(timestamp, offset));
  }
  for (std::int64_t target = -2; target <= timestamp + 10; ++target) {
    timestamp_offset expected{-1, 0};
    for (const auto& e : index->entries()) {
      if (e.timestamp < target) expected = e;
    }
    ASSERT_EQ(index->lookup(target), expected) << "target " << target;
  }
}

TEST_F(TimeIndexTest, TruncateToDropsEntriesAtAndAfterTheOffset) {
  {
    auto index = open_index(0);
    ASSERT_TRUE(index);
    for (std::int64_t o : {10, 20, 30, 40}) ASSERT_FALSE(index->maybe_append(o * 100, o));
    ASSERT_FALSE(index->write());

    ASSERT_FALSE(index->truncate_to(41));  // beyond the last entry: nothing goes
    EXPECT_EQ(index->entries().size(), 4u);
    EXPECT_EQ(fs::file_size(path_), 4 * time_index::entry_size);

    ASSERT_FALSE(index->truncate_to(30));  // an exact entry goes too
    EXPECT_EQ(index->entries(), (entries_t{{1000, 10}, {2000, 20}}));
    EXPECT_EQ(index->last_entry(), (timestamp_offset{2000, 20}));
    EXPECT_EQ(fs::file_size(path_), 2 * time_index::entry_size);

    ASSERT_FALSE(index->truncate_to(25));
    EXPECT_EQ(index->entries().size(), 2u);

    // The log grows again past the truncation point, with timestamps the truncated entries had.
    ASSERT_FALSE(index->maybe_append(2500, 22));
    ASSERT_FALSE(index->write());
  }
  auto reopened = open_index(0);
  ASSERT_TRUE(reopened);
  EXPECT_EQ(reopened->entries(), (entries_t{{1000, 10}, {2000, 20}, {2500, 22}}));
  ASSERT_FALSE(reopened->truncate_to(0));
  EXPECT_TRUE(reopened->entries().empty());
  EXPECT_EQ(reopened->last_entry(), (timestamp_offset{-1, 0}));
  EXPECT_EQ(fs::file_size(path_), 0u);
}

TEST_F(TimeIndexTest, ResetDropsEverything) {
  {
    auto index = open_index(0);
    ASSERT_TRUE(index);
    ASSERT_FALSE(index->maybe_append(1000, 10));
    ASSERT_FALSE(index->maybe_append(2000, 20));
    ASSERT_FALSE(index->reset());
    EXPECT_TRUE(index->entries().empty());
    EXPECT_EQ(index->last_entry(), (timestamp_offset{-1, 0}));
    EXPECT_EQ(fs::file_size(path_), 0u);
    // A rebuild starts from scratch, so smaller entries than before are fine.
    ASSERT_FALSE(index->maybe_append(500, 5));
    ASSERT_FALSE(index->flush());
  }
  auto reopened = open_index(0);
  ASSERT_TRUE(reopened);
  EXPECT_EQ(reopened->entries(), (entries_t{{500, 5}}));
}

TEST_F(TimeIndexTest, SanityCheckCatchesAPartialTrailingEntry) {
  {
    auto index = open_index(0);
    ASSERT_TRUE(index);
    ASSERT_FALSE(index->maybe_append(1000, 10));
    ASSERT_FALSE(index->maybe_append(2000, 20));
    ASSERT_FALSE(index->write());
  }
  write_file_bytes(path_, {0xDE, 0xAD, 0xBE}, std::ios::app);

  auto index = open_index(0);
  ASSERT_TRUE(index);
  EXPECT_EQ(index->entries(), (entries_t{{1000, 10}, {2000, 20}}));
  EXPECT_EQ(index->sanity_check(100), storage_errc::corrupt_batch);

  // The rebuild path: after a reset the index is trusted again.
  ASSERT_FALSE(index->reset());
  EXPECT_FALSE(index->sanity_check(100));
  EXPECT_EQ(fs::file_size(path_), 0u);
}

TEST_F(TimeIndexTest, SanityCheckCatchesEntriesThatDoNotGrow) {
  const std::vector<raw_bytes> bad_files = {
      concat({raw_entry(2000, 5), raw_entry(1000, 6)}),                              // timestamps go down
      concat({raw_entry(1000, 5), raw_entry(1000, 6)}),                              // timestamps repeat
      concat({raw_entry(1000, 5), raw_entry(2000, 3)}),                              // offsets go down
      concat({raw_entry(1000, 5), raw_entry(2000, 5)}),                              // offsets repeat
      concat({raw_entry(1, 1), raw_entry(2, 2), raw_entry(0, 3), raw_entry(4, 4)}),  // disorder mid-file
  };
  for (std::size_t i = 0; i < bad_files.size(); ++i) {
    SCOPED_TRACE("file " + std::to_string(i));
    write_file_bytes(path_, bad_files[i]);
    std::unique_ptr<time_index> index;
    ASSERT_FALSE(time_index::open(path_, 0, 1 << 20, nullptr, index));
    EXPECT_EQ(index->sanity_check(100), storage_errc::corrupt_batch);
    // Lookups still answer from what was loaded rather than crash.
    EXPECT_EQ(index->lookup(0), (timestamp_offset{-1, 0}));
    (void)index->lookup(5000);
    (void)index->last_entry();
  }

  write_file_bytes(path_, concat({raw_entry(1000, 5), raw_entry(2000, 6)}));
  auto good = open_index(0);
  ASSERT_TRUE(good);
  EXPECT_FALSE(good->sanity_check(100));
}

TEST_F(TimeIndexTest, SanityCheckCatchesOffsetsBeyondTheNextOffset) {
  auto index = open_index(100);
  ASSERT_TRUE(index);
  EXPECT_FALSE(index->sanity_check(100));  // an empty index fits an empty segment
  ASSERT_FALSE(index->maybe_append(1000, 110));
  ASSERT_FALSE(index->maybe_append(2000, 120));
  EXPECT_FALSE(index->sanity_check(121));
  EXPECT_EQ(index->sanity_check(120), storage_errc::corrupt_batch);  // 120 is not written yet
  EXPECT_EQ(index->sanity_check(115), storage_errc::corrupt_batch);
  EXPECT_EQ(index->sanity_check(100), storage_errc::corrupt_batch);
}

TEST_F(TimeIndexTest, IsFullWhenAnotherEntryWouldPassMaxBytes) {
  auto index = open_index(0, 3 * time_index::entry_size);
  ASSERT_TRUE(index);
  for (std::int64_t i = 0; i < 3; ++i) {
    EXPECT_FALSE(index->is_full()) << i << " entries";
    ASSERT_FALSE(index->maybe_append(1000 + i, i));
  }
  EXPECT_TRUE(index->is_full());

  ASSERT_FALSE(index->reset());
  EXPECT_FALSE(index->is_full());

  // A limit that is not a whole number of entries rounds down.
  std::unique_ptr<time_index> odd;
  ASSERT_FALSE(time_index::open(dir_ / "odd.timeindex", 0, 2 * time_index::entry_size + 6, nullptr, odd));
  ASSERT_FALSE(odd->maybe_append(1000, 0));
  EXPECT_FALSE(odd->is_full());
  ASSERT_FALSE(odd->maybe_append(1001, 1));
  EXPECT_TRUE(odd->is_full());
}

TEST_F(TimeIndexTest, FailedWriteLeavesTheFileUnchangedAndTheEntriesPending) {
  auto disk = std::make_shared<faulty_disk>();
  auto index = open_index(0, 1 << 20, disk);
  ASSERT_TRUE(index);
  ASSERT_FALSE(index->maybe_append(1000, 10));
  ASSERT_FALSE(index->write());
  const auto before = read_file_bytes(path_);
  ASSERT_FALSE(index->maybe_append(2000, 20));

  // Nothing written, and a write torn part way (a disk that fills mid-entry).
  for (std::size_t allow : {std::size_t{0}, std::size_t{5}}) {
    SCOPED_TRACE("allow " + std::to_string(allow));
    disk->full = true;
    disk->allow = allow;
    EXPECT_EQ(index->write(), storage_errc::disk_full);
    EXPECT_EQ(index->flush(), storage_errc::disk_full);
    EXPECT_EQ(read_file_bytes(path_), before);
    EXPECT_EQ(index->last_entry(), (timestamp_offset{2000, 20}));
    EXPECT_FALSE(index->sanity_check(21));
  }

  // Once space returns the pending entry goes in, once.
  disk->full = false;
  ASSERT_FALSE(index->write());
  ASSERT_FALSE(index->write());
  index.reset();
  auto reopened = open_index(0);
  ASSERT_TRUE(reopened);
  EXPECT_EQ(reopened->entries(), (entries_t{{1000, 10}, {2000, 20}}));
  EXPECT_FALSE(reopened->sanity_check(21));
}

TEST_F(TimeIndexTest, AnIndexHoldsNoOpenDescriptor) {
  const auto before = open_descriptor_count();
  ASSERT_GT(before, 0u);
  std::vector<std::unique_ptr<time_index>> indexes;
  for (int i = 0; i < 50; ++i) {
    std::unique_ptr<time_index> index;
    ASSERT_FALSE(time_index::open(dir_ / (std::to_string(i) + ".timeindex"), 0, 1 << 20, nullptr, index));
    ASSERT_FALSE(index->maybe_append(1000, 10));
    ASSERT_FALSE(index->flush());
    indexes.push_back(std::move(index));
  }
  EXPECT_EQ(open_descriptor_count(), before);
  EXPECT_EQ(indexes.back()->entries().size(), 1u);
}

TEST_F(TimeIndexTest, RenameAndRemoveFollowTheFile) {
  auto index = open_index(0);
  ASSERT_TRUE(index);
  ASSERT_FALSE(index->maybe_append(1000, 10));
  const fs::path renamed = dir_ / "00000000000000000100.timeindex.deleted";
  ASSERT_FALSE(index->rename(renamed));
  EXPECT_EQ(index->path(), renamed);
  EXPECT_FALSE(fs::exists(path_));
  EXPECT_TRUE(fs::exists(renamed));
  // Still writable under its new name.
  ASSERT_FALSE(index->maybe_append(2000, 20));
  ASSERT_FALSE(index->write());
  EXPECT_EQ(fs::file_size(renamed), 2 * time_index::entry_size);
  ASSERT_FALSE(index->remove());
  EXPECT_FALSE(fs::exists(renamed));
}

}  // namespace
}  // namespace vltava::storage
