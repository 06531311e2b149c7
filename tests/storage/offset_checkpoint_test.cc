// Tests of Kafka's offset checkpoint file format: exact text, round trips, missing and malformed files, atomic
// replacement.
#include "vltava/storage/offset_checkpoint.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "storage_test_support.h"
#include "vltava/storage/storage_error.h"

namespace vltava::storage {
namespace {

namespace fs = std::filesystem;

class OffsetCheckpointTest : public vltava::storage::testing::temp_dir_test {
 protected:
  void SetUp() override {
    temp_dir_test::SetUp();
    path_ = dir_ / "recovery-point-offset-checkpoint";
  }

  void write_text(const std::string& text) {
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out << text;
  }
  std::string read_text() const {
    std::ifstream in(path_, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
  std::vector<std::string> directory_entries() const {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir_)) names.push_back(entry.path().filename().string());
    return names;
  }

  fs::path path_;
};

TEST_F(OffsetCheckpointTest, WritesKafkasExactText) {
  const offset_map offsets = {{{"orders", 0}, 42}, {{"orders", 1}, 7}, {{"__consumer_offsets", 12}, 123456789012}};
  ASSERT_FALSE(write_offset_checkpoint(path_, offsets));
  // Entries in topic-partition order; what Kafka itself writes differs only in order, which readers ignore.
  EXPECT_EQ(read_text(), "0\n3\n__consumer_offsets 12 123456789012\norders 0 42\norders 1 7\n");
}

TEST_F(OffsetCheckpointTest, WritesAnEmptyMap) {
  ASSERT_FALSE(write_offset_checkpoint(path_, {}));
  EXPECT_EQ(read_text(), "0\n0\n");
  offset_map read = {{{"stale", 0}, 1}};
  ASSERT_FALSE(read_offset_checkpoint(path_, read));
  EXPECT_TRUE(read.empty());
}

TEST_F(OffsetCheckpointTest, RoundTripsTopicNamesWithDashesDotsAndUnderscores) {
  const offset_map offsets = {
      {{"my-topic", 0}, 0},
      {{"my-topic", 11}, 9'223'372'036'854'775'807},  // largest offset
      {{"a.b.c", 3}, 17},
      {{"__transaction_state", 49}, 5},
      {{"x-1", 2}, 100},  // ends in what looks like a partition suffix; only the fields separate them here
      {{std::string(249, 'z'), 2147483647}, 1},  // longest legal topic name, largest partition
  };
  ASSERT_FALSE(write_offset_checkpoint(path_, offsets));
  offset_map read;
  ASSERT_FALSE(read_offset_checkpoint(path_, read));
  EXPECT_EQ(read, offsets);
}

TEST_F(OffsetCheckpointTest, ReadsKafkaWrittenFile) {
  // Kafka writes entries in hash-map order, and Java's readLine accepts CRLF line ends.
  write_text("0\n3\nzeta 1 10\nalpha 0 20\r\nmid.dle 4 30");
  offset_map read;
  ASSERT_FALSE(read_offset_checkpoint(path_, read));
  const offset_map expected = {{{"zeta", 1}, 10}, {{"alpha", 0}, 20}, {{"mid.dle", 4}, 30}};
  EXPECT_EQ(read, expected);
}

TEST_F(OffsetCheckpointTest, MissingFileIsAnEmptyMap) {
  offset_map read = {{{"stale", 0}, 1}};
  ASSERT_FALSE(read_offset_checkpoint(path_, read));
  EXPECT_TRUE(read.empty());
}

TEST_F(OffsetCheckpointTest, EmptyFileIsAnEmptyMap) {
  // Kafka creates the file empty before its first checkpoint and reads it as holding nothing.
  write_text("");
  offset_map read = {{{"stale", 0}, 1}};
  ASSERT_FALSE(read_offset_checkpoint(path_, read));
  EXPECT_TRUE(read.empty());
}

TEST_F(OffsetCheckpointTest, RejectsMalformedFiles) {
  const std::pair<const char*, std::string> cases[] = {
      {"unknown version", "1\n1\nt 0 5\n"},
      {"version not a number", "v0\n1\nt 0 5\n"},
      {"version with spaces", " 0\n1\nt 0 5\n"},
      {"no count line", "0\n"},
      {"count not a number", "0\none\nt 0 5\n"},
      {"negative count", "0\n-1\n"},
      {"count above the entries", "0\n2\nt 0 5\n"},
      {"count below the entries", "0\n1\nt 0 5\nt 1 6\n"},
      {"extra blank line", "0\n1\nt 0 5\n\n"},
      {"blank entry line", "0\n1\n\n"},
      {"two fields", "0\n1\nt 0\n"},
      {"four fields", "0\n1\nt 0 5 6\n"},
      {"leading whitespace", "0\n1\n t 0 5\n"},
      {"partition not a number", "0\n1\nt x 5\n"},
      {"negative partition", "0\n1\nt -1 5\n"},
      {"partition beyond int32", "0\n1\nt 2147483648 5\n"},
      {"offset not a number", "0\n1\nt 0 five\n"},
      {"offset with junk", "0\n1\nt 0 5x\n"},
      {"offset beyond int64", "0\n1\nt 0 9223372036854775808\n"},
      {"duplicate topic-partition", "0\n2\nt 0 5\nt 0 6\n"},
  };
  for (const auto& [name, text] : cases) {
    SCOPED_TRACE(name);
    write_text(text);
    offset_map read = {{{"stale", 0}, 1}};
    const auto ec = read_offset_checkpoint(path_, read);
    EXPECT_EQ(ec, make_error_code(storage_errc::corrupt_batch)) << ec.message();
    EXPECT_TRUE(read.empty());  // nothing half-parsed is handed out
  }
}

TEST_F(OffsetCheckpointTest, ToleratesTrailingWhitespaceAsKafkaDoes) {
  // Java's split drops trailing empty fields, so Kafka accepts these.
  write_text("0\n1\nt 0 5 \n");
  offset_map read;
  ASSERT_FALSE(read_offset_checkpoint(path_, read));
  const offset_map expected = {{{"t", 0}, 5}};
  EXPECT_EQ(read, expected);
}

TEST_F(OffsetCheckpointTest, OverwriteReplacesTheWholeFileAndLeavesNoTemporary) {
  const offset_map first = {{{"a", 0}, 1}, {{"b", 0}, 2}, {{"c", 0}, 3}};
  ASSERT_FALSE(write_offset_checkpoint(path_, first));
  const offset_map second = {{{"a", 0}, 10}};
  ASSERT_FALSE(write_offset_checkpoint(path_, second));

  EXPECT_EQ(read_text(), "0\n1\na 0 10\n");  // no tail of the longer first version
  offset_map read;
  ASSERT_FALSE(read_offset_checkpoint(path_, read));
  EXPECT_EQ(read, second);
  EXPECT_EQ(directory_entries(), std::vector<std::string>{"recovery-point-offset-checkpoint"});
}

TEST_F(OffsetCheckpointTest, LeftoverTemporaryFromACrashIsReplaced) {
  // A crash before the rename leaves "<path>.tmp" behind, maybe longer than what comes next.
  {
    std::ofstream stale(dir_ / "recovery-point-offset-checkpoint.tmp", std::ios::binary);
    stale << "0\n3\nold 0 1\nold 1 2\nold 2 3\n";
  }
  const offset_map offsets = {{{"new", 0}, 5}};
  ASSERT_FALSE(write_offset_checkpoint(path_, offsets));
  EXPECT_EQ(read_text(), "0\n1\nnew 0 5\n");
  EXPECT_EQ(directory_entries(), std::vector<std::string>{"recovery-point-offset-checkpoint"});
}

TEST_F(OffsetCheckpointTest, RefusesNamesTheReaderWouldSplitDifferently) {
  for (const auto& bad : {topic_partition{"has space", 0}, topic_partition{"", 0}, topic_partition{"tab\tbed", 0},
                          topic_partition{"line\nbreak", 0}, topic_partition{"t", -1}}) {
    SCOPED_TRACE(bad.topic);
    EXPECT_EQ(write_offset_checkpoint(path_, {{bad, 1}}), make_error_code(storage_errc::invalid_argument));
  }
  EXPECT_TRUE(directory_entries().empty());  // nothing written, not even a temporary
}

TEST_F(OffsetCheckpointTest, WriteIntoMissingDirectoryFails) {
  EXPECT_TRUE(write_offset_checkpoint(dir_ / "absent" / "checkpoint", {{{"t", 0}, 1}}));
}

}  // namespace
}  // namespace vltava::storage
