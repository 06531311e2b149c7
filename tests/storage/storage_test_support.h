// Helpers shared by the storage tests: a temporary directory per test, record batches built and decoded, a whole
// partition log read back, raw file access, and a disk that fails on demand.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <random>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "vltava/protocol/record_batch.h"
#include "vltava/protocol/record_batch_builder.h"
#include "vltava/storage/partition_log.h"
#include "vltava/storage/storage_context.h"

namespace vltava::storage::testing {

namespace fs = std::filesystem;

// A fixture whose tests each get an empty directory dir_, named after the test, removed when the test ends.
class temp_dir_test : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("vltava-storage-test-" + std::string(info->name()) + "-" +
                                        std::to_string(::getpid()) + "-" + std::to_string(std::random_device{}()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  fs::path dir_;
};

inline protocol::byte_span as_bytes(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

// One batch of count records with keys "<prefix><i>", values "value-<prefix><i>" (padded with 'x' to value_size when
// that is longer), timestamps first_timestamp + i.
inline protocol::bytes make_batch(int count, std::int64_t first_timestamp, const std::string& prefix = "k",
                                  protocol::compression_codec codec = protocol::compression_codec::none,
                                  std::size_t value_size = 0) {
  protocol::record_batch_builder_options options;
  options.codec = codec;
  protocol::record_batch_builder builder(options);
  for (int i = 0; i < count; ++i) {
    const std::string key = prefix + std::to_string(i);
    std::string value = "value-" + key;
    if (value_size > value.size()) value.resize(value_size, 'x');
    builder.append(first_timestamp + i, as_bytes(key), as_bytes(value));
  }
  protocol::bytes out;
  EXPECT_FALSE(builder.build(out));
  return out;
}

// A record as a consumer reads it back (a null key or value reads as empty).
struct stored_record {
  std::int64_t offset = 0;
  std::int64_t timestamp = 0;
  std::string key;
  std::string value;
  bool operator==(const stored_record&) const = default;
};

// The records of data, a run of batches, each batch CRC-checked.
inline std::vector<stored_record> decode_records(protocol::byte_span data) {
  std::vector<stored_record> out;
  protocol::record_batch_splitter splitter(data);
  protocol::record_batch_view batch;
  protocol::record_reader reader;
  while (splitter.next(batch)) {
    EXPECT_FALSE(batch.validate()) << "batch at offset " << batch.header().base_offset;
    EXPECT_FALSE(reader.open(batch));
    protocol::record_view record;
    while (reader.next(record)) {
      stored_record r;
      r.offset = batch.offset_of(record);
      r.timestamp = batch.timestamp_of(record);
      if (record.key) r.key.assign(record.key->begin(), record.key->end());
      if (record.value) r.value.assign(record.value->begin(), record.value->end());
      out.push_back(r);
    }
    EXPECT_FALSE(reader.error());
  }
  EXPECT_FALSE(splitter.error());
  return out;
}

// Every record of the log, read batch by batch from the log start offset to the log end offset.
inline std::vector<stored_record> read_all(const partition_log& log) {
  std::vector<stored_record> all;
  std::int64_t offset = log.log_start_offset();
  const std::int64_t end = log.log_end_offset();
  while (offset < end) {
    read_result result;
    EXPECT_FALSE(log.read(offset, 64 * 1024, end, true, result));
    protocol::bytes data;
    EXPECT_FALSE(result.records.read_into(data));
    const auto records = decode_records(data);
    if (records.empty()) {
      ADD_FAILURE() << "nothing readable at offset " << offset << " below the log end " << end;
      break;
    }
    for (const auto& r : records) {
      if (r.offset >= offset) all.push_back(r);
    }
    offset = records.back().offset + 1;
  }
  return all;
}

// Replaces to with a copy of from (a crash image of a log directory, say).
inline void copy_directory(const fs::path& from, const fs::path& to) {
  std::error_code ignored;
  fs::remove_all(to, ignored);
  fs::create_directories(to.parent_path());
  fs::copy(from, to, fs::copy_options::recursive);
}

inline std::vector<std::uint8_t> read_file_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Replaces the file's content with data (mode std::ios::app appends instead).
inline void write_file_bytes(const fs::path& path, const std::vector<std::uint8_t>& data,
                             std::ios::openmode mode = std::ios::trunc) {
  std::ofstream out(path, std::ios::binary | mode);
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

// The descriptors this process holds open (the entries of /proc/self/fd, less the one listing them).
inline std::size_t open_descriptor_count() {
  std::size_t count = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator("/proc/self/fd")) ++count;
  return count > 0 ? count - 1 : 0;
}

inline std::vector<std::uint8_t> concat(std::initializer_list<std::vector<std::uint8_t>> parts) {
  std::vector<std::uint8_t> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// A disk that fails on demand. While full, a write to a file ending in extension (any file when it is empty) stores
// at most allow bytes, then reports ENOSPC; while sync_fails, every sync reports EIO.
class faulty_disk final : public io_fault_injector {
 public:
  std::atomic<bool> full{false};
  std::size_t allow = 0;
  std::string extension;
  std::atomic<bool> sync_fails{false};

  std::error_code before_write(const fs::path& file, std::size_t& allowed) noexcept override {
    if (!full || (!extension.empty() && file.extension() != extension)) return {};
    allowed = std::min(allowed, allow);
    return std::make_error_code(std::errc::no_space_on_device);
  }
  std::error_code before_sync(const fs::path& file) noexcept override {
    (void)file;
    return sync_fails ? std::make_error_code(std::errc::io_error) : std::error_code();
  }
};

}  // namespace vltava::storage::testing
