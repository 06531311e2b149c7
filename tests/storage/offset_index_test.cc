// Tests of the .index file: Kafka's byte layout, lookups, truncation, corruption detection, failed writes, and
// entries that reach the file only when written (the index holds no descriptor).
#include "vltava/storage/offset_index.h"

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

// One raw .index entry, built by hand so that the tests do not trust the code under test for the layout.
raw_bytes raw_entry(std::uint32_t relative_offset, std::uint32_t position) {
  return {static_cast<std::uint8_t>(relative_offset >> 24), static_cast<std::uint8_t>(relative_offset >> 16),
          static_cast<std::uint8_t>(relative_offset >> 8),  static_cast<std::uint8_t>(relative_offset),
          static_cast<std::uint8_t>(position >> 24),        static_cast<std::uint8_t>(position >> 16),
          static_cast<std::uint8_t>(position >> 8),         static_cast<std::uint8_t>(position)};
}

class OffsetIndexTest : public temp_dir_test {
 protected:
  void SetUp() override {
    temp_dir_test::SetUp();
    path_ = dir_ / "00000000000000000100.index";
  }

  std::unique_ptr<offset_index> open_index(std::int64_t base_offset, std::size_t max_bytes = 1 << 20,
                                           std::shared_ptr<io_fault_injector> faults = nullptr) {
    std::unique_ptr<offset_index> index;
    auto ec = offset_index::open(path_, base_offset, max_bytes, std::move(faults), index);
    EXPECT_FALSE(ec) << ec.message();
    return index;
  }

  fs::path path_;
};

TEST_F(OffsetIndexTest, OpenCreatesAnEmptyFile) {
  ASSERT_FALSE(fs::exists(path_));
  auto index = open_index(100);
  ASSERT_TRUE(index);
  EXPECT_TRUE(fs::exists(path_));
  EXPECT_EQ(fs::file_size(path_), 0u);
  EXPECT_TRUE(index->entries().empty());
  EXPECT_EQ(index->base_offset(), 100);
  EXPECT_EQ(index->path(), path_);
  EXPECT_EQ(index->lookup(500), (offset_position{100, 0}));
  EXPECT_FALSE(index->sanity_check(0));
}

TEST_F(OffsetIndexTest, EntriesRoundTripThroughReopenInKafkaLayout) {
  const std::vector<offset_position> expected = {{100, 0}, {105, 4096}, {100 + 0x01020304, 0xA0B0C0D0u}};
  {
    auto index = open_index(100);
    ASSERT_TRUE(index);
    for (const auto& e : expected) ASSERT_FALSE(index->append(e.offset, e.position));
    EXPECT_EQ(index->entries(), expected);
    ASSERT_FALSE(index->flush());
  }
  // Big-endian relative offset, then big-endian position: what a Kafka broker would read from the same file.
  EXPECT_EQ(read_file_bytes(path_),
            concat({raw_entry(0, 0), raw_entry(5, 4096), raw_bytes{0x01, 0x02, 0x03, 0x04, 0xA0, 0xB0, 0xC0, 0xD0}}));

  auto reopened = open_index(100);
  ASSERT_TRUE(reopened);
  EXPECT_EQ(reopened->entries(), expected);
  EXPECT_FALSE(reopened->sanity_check(0xA0B0C0D1u));
  // Appends continue after the loaded entries.
  EXPECT_FALSE(reopened->append(100 + 0x01020305, 0xA0B0C0D1u));
  ASSERT_FALSE(reopened->write());
  EXPECT_EQ(fs::file_size(path_), 4 * offset_index::entry_size);
}

TEST_F(OffsetIndexTest, EntriesReachTheFileWhenWrittenAndOnlyThen) {
  auto index = open_index(0);
  ASSERT_TRUE(index);
  ASSERT_FALSE(index->append(10, 100));
  ASSERT_FALSE(index->append(20, 200));
  // In memory at once, for lookups; the file is untouched until a write.
  EXPECT_EQ(index->lookup(25), (offset_position{20, 200}));
  EXPECT_EQ(fs::file_size(path_), 0u);
  ASSERT_FALSE(index->write());
  EXPECT_EQ(read_file_bytes(path_), concat({raw_entry(10, 100), raw_entry(20, 200)}));
  // A second write adds only what came since, once.
  ASSERT_FALSE(index->write());
  ASSERT_FALSE(index->append(30, 300));
  ASSERT_FALSE(index->write());
  ASSERT_FALSE(index->write());
  EXPECT_EQ(read_file_bytes(path_), concat({raw_entry(10, 100), raw_entry(20, 200), raw_entry(30, 300)}));
  EXPECT_FALSE(index->sanity_check(301));
  // flush() writes too.
  ASSERT_FALSE(index->append(40, 400));
  ASSERT_FALSE(index->flush());
  EXPECT_EQ(fs::file_size(path_), 4 * offset_index::entry_size);
}

TEST_F(OffsetIndexTest, AnIndexHoldsNoOpenDescriptor) {
  const auto before = open_descriptor_count();
  ASSERT_GT(before, 0u);
  std::vector<std::unique_ptr<offset_index>> indexes;
  for (int i = 0; i < 50; ++i) {
    std::unique_ptr<offset_index> index;
    ASSERT_FALSE(offset_index::open(dir_ / (std::to_string(i) + ".index"), 0, 1 << 20, nullptr, index));
    ASSERT_FALSE(index->append(10, 100));
    ASSERT_FALSE(index->flush());
    indexes.push_back(std::move(index));
  }
  EXPECT_EQ(open_descriptor_count(), before);
  EXPECT_EQ(indexes.back()->entries().size(), 1u);
}

TEST_F(OffsetIndexTest, LookupFindsTheLastEntryAtOrBeforeTheOffset) {
  auto index = open_index(1000);
  ASSERT_TRUE(index);
  EXPECT_EQ(index->lookup(1000), (offset_position{1000, 0}));  // empty
  ASSERT_FALSE(index->append(1010, 100));
  ASSERT_FALSE(index->append(1020, 200));
  ASSERT_FALSE(index->append(1030, 300));

  EXPECT_EQ(index->lookup(0), (offset_position{1000, 0}));     // below the segment
  EXPECT_EQ(index->lookup(1009), (offset_position{1000, 0}));  // before the first entry
  EXPECT_EQ(index->lookup(1010), (offset_position{1010, 100}));
  EXPECT_EQ(index->lookup(1019), (offset_position{1010, 100}));
  EXPECT_EQ(index->lookup(1020), (offset_position{1020, 200}));
  EXPECT_EQ(index->lookup(1025), (offset_position{1020, 200}));
  EXPECT_EQ(index->lookup(1030), (offset_position{1030, 300}));
  EXPECT_EQ(index->lookup(std::numeric_limits<std::int64_t>::max()), (offset_position{1030, 300}));
}

TEST_F(OffsetIndexTest, LookupMatchesALinearScanOverManyEntries) {
  auto index = open_index(0);
  ASSERT_TRUE(index);
  std::mt19937 rng(7);
  std::int64_t offset = 0;
  std::uint32_t position = 0;
  for (int i = 0; i < 1000; ++i) {
    offset += 1 + static_cast<std::int64_t>(rng() % 50);
    position += 1 + static_cast<std::uint32_t>(rng() % 5000);
    ASSERT_FALSE(index->append(offset, position));
  }
  for (std::int64_t target = 0; target <= offset + 10; ++target) {
    offset_position expected{0, 0};
    for (const auto& e : index->entries()) {
      if (e.offset <= target) expected = e;
    }
    ASSERT_EQ(index->lookup(target), expected) << "target " << target;
  }
}

TEST_F(OffsetIndexTest, TruncateToDropsEntriesAtAndAfterTheOffset) {
  {
    auto index = open_index(0);
    ASSERT_TRUE(index);
    for (std::int64_t o : {10, 20, 30, 40}) ASSERT_FALSE(index->append(o, static_cast<std::uint32_t>(o * 10)));
    ASSERT_FALSE(index->write());

    ASSERT_FALSE(index->truncate_to(41));  // beyond the last entry: nothing goes
    EXPECT_EQ(index->entries().size(), 4u);
    EXPECT_EQ(fs::file_size(path_), 4 * offset_index::entry_size);

    ASSERT_FALSE(index->truncate_to(30));  // an exact entry goes too
    EXPECT_EQ(index->entries(), (std::vector<offset_position>{{10, 100}, {20, 200}}));
    EXPECT_EQ(fs::file_size(path_), 2 * offset_index::entry_size);

    ASSERT_FALSE(index->truncate_to(25));
    EXPECT_EQ(index->entries().size(), 2u);
    EXPECT_EQ(index->lookup(35), (offset_position{20, 200}));

    // The log grows again past the truncation point.
    ASSERT_FALSE(index->append(22, 220));
    ASSERT_FALSE(index->write());
  }
  auto reopened = open_index(0);
  ASSERT_TRUE(reopened);
  EXPECT_EQ(reopened->entries(), (std::vector<offset_position>{{10, 100}, {20, 200}, {22, 220}}));
  ASSERT_FALSE(reopened->truncate_to(0));
  EXPECT_TRUE(reopened->entries().empty());
  EXPECT_EQ(fs::file_size(path_), 0u);
}

TEST_F(OffsetIndexTest, TruncateToDropsPendingEntriesBeforeTheyAreWritten) {
  auto index = open_index(0);
  ASSERT_TRUE(index);
  ASSERT_FALSE(index->append(10, 100));
  ASSERT_FALSE(index->write());
  ASSERT_FALSE(index->append(20, 200));
  ASSERT_FALSE(index->append(30, 300));
  ASSERT_FALSE(index->truncate_to(30));  // one written entry stays, one pending stays, one pending goes
  EXPECT_EQ(fs::file_size(path_), offset_index::entry_size);
  ASSERT_FALSE(index->append(25, 250));
  ASSERT_FALSE(index->write());
  EXPECT_EQ(read_file_bytes(path_), concat({raw_entry(10, 100), raw_entry(20, 200), raw_entry(25, 250)}));

  ASSERT_FALSE(index->append(40, 400));
  ASSERT_FALSE(index->truncate_to(15));  // written entries go from the file too
  EXPECT_EQ(read_file_bytes(path_), raw_entry(10, 100));
  ASSERT_FALSE(index->write());
  EXPECT_EQ(read_file_bytes(path_), raw_entry(10, 100));
}

TEST_F(OffsetIndexTest, ResetDropsEverything) {
  {
    auto index = open_index(0);
    ASSERT_TRUE(index);
    ASSERT_FALSE(index->append(10, 100));
    ASSERT_FALSE(index->append(20, 200));
    ASSERT_FALSE(index->reset());
    EXPECT_TRUE(index->entries().empty());
    EXPECT_EQ(fs::file_size(path_), 0u);
    EXPECT_EQ(index->lookup(20), (offset_position{0, 0}));
    // A rebuild starts from scratch, so smaller entries than before are fine.
    ASSERT_FALSE(index->append(5, 50));
    ASSERT_FALSE(index->write());
  }
  auto reopened = open_index(0);
  ASSERT_TRUE(reopened);
  EXPECT_EQ(reopened->entries(), (std::vector<offset_position>{{5, 50}}));
}

TEST_F(OffsetIndexTest, NonGrowingAppendsAreRejectedAndChangeNothing) {
  auto index = open_index(100);
  ASSERT_TRUE(index);
  EXPECT_EQ(index->append(99, 0), storage_errc::invalid_argument);  // below the base offset
  EXPECT_EQ(index->append(100 + std::int64_t{std::numeric_limits<std::uint32_t>::max()} + 1, 0),
            storage_errc::invalid_argument);  // the relative offset would not fit in 32 bits
  EXPECT_TRUE(index->entries().empty());
  EXPECT_EQ(fs::file_size(path_), 0u);

  ASSERT_FALSE(index->append(110, 1000));
  ASSERT_FALSE(index->write());
  EXPECT_EQ(index->append(110, 2000), storage_errc::invalid_argument);  // same offset
  EXPECT_EQ(index->append(109, 2000), storage_errc::invalid_argument);  // smaller offset
  EXPECT_EQ(index->append(111, 1000), storage_errc::invalid_argument);  // same position
  EXPECT_EQ(index->append(111, 999), storage_errc::invalid_argument);   // smaller position
  EXPECT_EQ(index->entries(), (std::vector<offset_position>{{110, 1000}}));
  EXPECT_EQ(fs::file_size(path_), offset_index::entry_size);

  // The largest relative offset that fits is fine.
  const std::int64_t last = 100 + std::int64_t{std::numeric_limits<std::uint32_t>::max()};
  ASSERT_FALSE(index->append(last, 2000));
  ASSERT_FALSE(index->write());
  EXPECT_EQ(read_file_bytes(path_), concat({raw_entry(10, 1000), raw_entry(0xFFFFFFFFu, 2000)}));
}

TEST_F(OffsetIndexTest, SanityCheckCatchesAPartialTrailingEntry) {
  {
    auto index = open_index(0);
    ASSERT_TRUE(index);
    ASSERT_FALSE(index->append(10, 100));
    ASSERT_FALSE(index->append(20, 200));
    ASSERT_FALSE(index->write());
  }
  write_file_bytes(path_, {0xDE, 0xAD, 0xBE}, std::ios::app);

  auto index = open_index(0);
  ASSERT_TRUE(index);
  EXPECT_EQ(index->entries(), (std::vector<offset_position>{{10, 100}, {20, 200}}));
  EXPECT_EQ(index->sanity_check(1000), storage_errc::corrupt_batch);

  // The rebuild path: after a reset the index is trusted again.
  ASSERT_FALSE(index->reset());
  EXPECT_FALSE(index->sanity_check(1000));
  EXPECT_EQ(fs::file_size(path_), 0u);
}

TEST_F(OffsetIndexTest, SanityCheckCatchesEntriesThatDoNotGrow) {
  const std::vector<raw_bytes> bad_files = {
      concat({raw_entry(5, 100), raw_entry(3, 200)}),                                   // offsets go down
      concat({raw_entry(5, 100), raw_entry(5, 200)}),                                   // offsets repeat
      concat({raw_entry(5, 100), raw_entry(6, 50)}),                                    // positions go down
      concat({raw_entry(5, 100), raw_entry(6, 100)}),                                   // positions repeat
      concat({raw_entry(1, 10), raw_entry(2, 20), raw_entry(3, 5), raw_entry(4, 40)}),  // disorder mid-file
  };
  for (std::size_t i = 0; i < bad_files.size(); ++i) {
    SCOPED_TRACE("file " + std::to_string(i));
    write_file_bytes(path_, bad_files[i]);
    std::unique_ptr<offset_index> index;
    ASSERT_FALSE(offset_index::open(path_, 0, 1 << 20, nullptr, index));
    EXPECT_EQ(index->sanity_check(1 << 20), storage_errc::corrupt_batch);
    // Lookups still answer from what was loaded rather than crash.
    EXPECT_EQ(index->lookup(0), (offset_position{0, 0}));
    (void)index->lookup(100);
  }

  write_file_bytes(path_, concat({raw_entry(5, 100), raw_entry(6, 200)}));
  auto good = open_index(0);
  ASSERT_TRUE(good);
  EXPECT_FALSE(good->sanity_check(1 << 20));
}

TEST_F(OffsetIndexTest, SanityCheckCatchesPositionsBeyondTheLog) {
  auto index = open_index(0);
  ASSERT_TRUE(index);
  EXPECT_FALSE(index->sanity_check(0));  // an empty index fits an empty log
  ASSERT_FALSE(index->append(10, 100));
  ASSERT_FALSE(index->append(20, 200));
  EXPECT_FALSE(index->sanity_check(201));
  EXPECT_EQ(index->sanity_check(200), storage_errc::corrupt_batch);  // position 200 is the end, not a batch
  EXPECT_EQ(index->sanity_check(150), storage_errc::corrupt_batch);
  EXPECT_EQ(index->sanity_check(0), storage_errc::corrupt_batch);
}

TEST_F(OffsetIndexTest, IsFullWhenAnotherEntryWouldPassMaxBytes) {
  auto index = open_index(0, 3 * offset_index::entry_size);
  ASSERT_TRUE(index);
  for (std::uint32_t i = 0; i < 3; ++i) {
    EXPECT_FALSE(index->is_full()) << i << " entries";
    ASSERT_FALSE(index->append(i, i));
  }
  EXPECT_TRUE(index->is_full());

  ASSERT_FALSE(index->reset());
  EXPECT_FALSE(index->is_full());

  // A limit that is not a whole number of entries rounds down.
  std::unique_ptr<offset_index> odd;
  ASSERT_FALSE(offset_index::open(dir_ / "odd.index", 0, 2 * offset_index::entry_size + 4, nullptr, odd));
  ASSERT_FALSE(odd->append(0, 0));
  EXPECT_FALSE(odd->is_full());
  ASSERT_FALSE(odd->append(1, 1));
  EXPECT_TRUE(odd->is_full());
}

TEST_F(OffsetIndexTest, FailedWriteLeavesTheFileUnchangedAndTheEntriesPending) {
  auto disk = std::make_shared<faulty_disk>();
  auto index = open_index(0, 1 << 20, disk);
  ASSERT_TRUE(index);
  ASSERT_FALSE(index->append(10, 100));
  ASSERT_FALSE(index->write());
  const auto before = read_file_bytes(path_);
  ASSERT_FALSE(index->append(20, 200));

  // Nothing written, and a write torn part way (a disk that fills mid-entry).
  for (std::size_t allow : {std::size_t{0}, std::size_t{3}}) {
    SCOPED_TRACE("allow " + std::to_string(allow));
    disk->full = true;
    disk->allow = allow;
    EXPECT_EQ(index->write(), storage_errc::disk_full);
    EXPECT_EQ(index->flush(), storage_errc::disk_full);
    EXPECT_EQ(read_file_bytes(path_), before);
    // Lookups still see the entry: memory is the index, the file only its copy.
    EXPECT_EQ(index->lookup(25), (offset_position{20, 200}));
    EXPECT_FALSE(index->sanity_check(1000));
  }

  // Once space returns the pending entry goes in, once.
  disk->full = false;
  ASSERT_FALSE(index->write());
  index.reset();
  auto reopened = open_index(0);
  ASSERT_TRUE(reopened);
  EXPECT_EQ(reopened->entries(), (std::vector<offset_position>{{10, 100}, {20, 200}}));
  EXPECT_FALSE(reopened->sanity_check(1000));
}

TEST_F(OffsetIndexTest, FailedSyncIsReported) {
  auto disk = std::make_shared<faulty_disk>();
  auto index = open_index(0, 1 << 20, disk);
  ASSERT_TRUE(index);
  ASSERT_FALSE(index->append(10, 100));
  disk->sync_fails = true;
  EXPECT_TRUE(index->flush());
  disk->sync_fails = false;
  EXPECT_FALSE(index->flush());
  EXPECT_EQ(read_file_bytes(path_), raw_entry(10, 100));
}

// A flush that picked a segment just before retention deleted it: writing an index whose file is gone succeeds
// doing nothing, as writing through a descriptor into the unlinked file did; it must not take the log offline.
TEST_F(OffsetIndexTest, WritingAnIndexWhoseFileWasDeletedDoesNothing) {
  auto index = open_index(0);
  ASSERT_TRUE(index);
  ASSERT_FALSE(index->append(10, 100));
  fs::remove(path_);
  EXPECT_FALSE(index->write());
  EXPECT_FALSE(index->flush());
  EXPECT_FALSE(index->truncate_to(5));
  EXPECT_FALSE(fs::exists(path_));  // not brought back
  EXPECT_FALSE(index->remove());
}

TEST_F(OffsetIndexTest, RenameAndRemoveFollowTheFile) {
  auto index = open_index(0);
  ASSERT_TRUE(index);
  ASSERT_FALSE(index->append(10, 100));
  const fs::path renamed = dir_ / "00000000000000000100.index.deleted";
  ASSERT_FALSE(index->rename(renamed));
  EXPECT_EQ(index->path(), renamed);
  EXPECT_FALSE(fs::exists(path_));
  EXPECT_TRUE(fs::exists(renamed));
  // Still writable under its new name.
  ASSERT_FALSE(index->append(20, 200));
  ASSERT_FALSE(index->write());
  EXPECT_EQ(fs::file_size(renamed), 2 * offset_index::entry_size);
  ASSERT_FALSE(index->remove());
  EXPECT_FALSE(fs::exists(renamed));
}

}  // namespace
}  // namespace vltava::storage
