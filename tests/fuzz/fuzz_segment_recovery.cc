// Arbitrary bytes as the last segment of a log after a crash: recovery must keep a valid prefix (every batch it
// keeps passes validation, offsets grow), never crash, and leave a log that takes appends and reads. Checksums
// are fixed up first so that the fuzzer reaches the checks behind the CRC.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "vltava/protocol/crc32c.h"
#include "vltava/protocol/record_batch.h"
#include "vltava/protocol/record_batch_builder.h"
#include "vltava/storage/partition_log.h"

namespace {

namespace fs = std::filesystem;
using namespace vltava;

fs::path scratch_directory() {
  const fs::path base = fs::exists("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
  return base / ("vltava-fuzz-recovery-" + std::to_string(::getpid()));
}

protocol::bytes with_fixed_checksums(const std::uint8_t* data, std::size_t size) {
  protocol::bytes out(data, data + size);
  std::size_t at = 0;
  while (out.size() - at >= protocol::record_batch_header_size) {
    const auto length = protocol::load_be<std::int32_t>(out.data() + at + 8);
    if (length < 0) break;
    const std::size_t batch_size = protocol::log_entry_prefix_size + static_cast<std::size_t>(length);
    if (batch_size < protocol::record_batch_header_size || batch_size > out.size() - at) break;
    auto batch = std::span<std::uint8_t>(out).subspan(at, batch_size);
    protocol::store_be(batch.data() + protocol::record_batch_crc_offset, protocol::compute_record_batch_crc(batch));
    at += batch_size;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const fs::path dir = scratch_directory();
  const fs::path log_dir = dir / "t-0";
  fs::remove_all(dir);
  fs::create_directories(log_dir);
  const auto segment = with_fixed_checksums(data, size);
  {
    std::ofstream out(log_dir / "00000000000000000000.log", std::ios::binary);
    out.write(reinterpret_cast<const char*>(segment.data()), static_cast<std::streamsize>(segment.size()));
  }
  storage::partition_log::open_options options;  // recovery point 0, not a clean shutdown: scan everything
  std::shared_ptr<storage::partition_log> log;
  storage::log_recovery_report report;
  if (storage::partition_log::open(log_dir, {"t", 0}, {}, {}, options, log, report)) return 0;

  // Everything kept must be whole, valid batches with growing offsets.
  std::int64_t offset = log->log_start_offset();
  std::int64_t previous_last = -1;
  while (offset < log->log_end_offset()) {
    storage::read_result result;
    if (log->read(offset, 1 << 20, log->log_end_offset(), true, result) || result.records.empty()) __builtin_trap();
    protocol::bytes bytes;
    if (result.records.read_into(bytes)) __builtin_trap();
    protocol::record_batch_splitter splitter(bytes);
    protocol::record_batch_view batch;
    while (splitter.next(batch)) {
      if (batch.validate() || batch.header().base_offset <= previous_last) __builtin_trap();
      previous_last = batch.header().last_offset();
    }
    if (splitter.error()) __builtin_trap();
    offset = previous_last + 1;
  }
  protocol::record_batch_builder builder;
  builder.append(0, std::nullopt, std::nullopt);
  protocol::bytes batch;
  if (builder.build(batch)) __builtin_trap();
  storage::append_result appended;
  const auto end = log->log_end_offset();
  if (log->append(batch, appended) || appended.base_offset != end) __builtin_trap();
  (void)log->close();
  return 0;
}
