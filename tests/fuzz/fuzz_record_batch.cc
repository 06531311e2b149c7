// Arbitrary bytes as a Produce/Fetch "records" field: split into batches (both tail policies), validate, iterate
// every record and header, and convert as a legacy message set. Nothing may crash, leak or read out of bounds.
#include <cstddef>
#include <cstdint>

#include "vltava/protocol/crc32c.h"
#include "vltava/protocol/legacy_message_set.h"
#include "vltava/protocol/record_batch.h"

namespace {

using namespace vltava::protocol;

// Bounds small enough that the fuzzer spends its time on structure, not on inflating large outputs.
constexpr std::size_t max_decompressed = 1 << 20;

void iterate(const record_batch_view& batch, record_reader& reader, bool contiguous) {
  record_reader_options options;
  options.max_decompressed_bytes = max_decompressed;
  options.require_contiguous_offsets = contiguous;
  if (reader.open(batch, options)) return;
  record_view r;
  std::size_t sink = 0;
  while (reader.next(r)) {
    sink += r.key ? r.key->size() : 0;
    sink += r.value ? r.value->size() : 0;
    sink += static_cast<std::size_t>(batch.offset_of(r)) + static_cast<std::size_t>(batch.timestamp_of(r));
    for (const auto& h : r.headers()) sink += h.key.size() + (h.value ? h.value->size() : 1);
  }
  volatile std::size_t keep = sink;
  (void)keep;
}

// Mutations almost never keep a checksum right, which would confine the fuzzer to the first check. So each input is
// also tried with the checksum of every top-level batch or message recomputed, reaching the code behind it.
bytes with_fixed_checksums(byte_span input) {
  bytes data(input.begin(), input.end());
  std::size_t at = 0;
  while (data.size() - at > log_entry_prefix_size + 5) {
    const auto length = load_be<std::int32_t>(data.data() + at + 8);
    if (length < 5 || static_cast<std::size_t>(length) > data.size() - at - log_entry_prefix_size) break;
    std::uint8_t* entry = data.data() + at;
    const std::size_t entry_size = log_entry_prefix_size + static_cast<std::size_t>(length);
    if (entry[16] == 2 && entry_size >= record_batch_header_size)
      store_be(entry + 17, crc32c(byte_span(entry + 21, entry_size - 21)));
    else if (entry[16] <= 1)
      store_be(entry + 12, crc32_ieee(byte_span(entry + 16, entry_size - 16)));
    at += entry_size;
  }
  return data;
}

void run(byte_span input) {
  record_reader reader;
  for (auto tail : {truncated_tail::reject, truncated_tail::allow}) {
    record_batch_splitter splitter(input, tail);
    record_batch_view batch;
    while (splitter.next(batch)) {
      // Iterate whether or not validation passes: the reader must be safe on its own.
      const bool valid = !batch.validate();
      iterate(batch, reader, valid);
      if (tail == truncated_tail::reject) iterate(batch, reader, !valid);
    }
  }

  for (bool preserve : {true, false}) {
    legacy_conversion_options options;
    options.max_decompressed_bytes = max_decompressed;
    options.preserve_offsets = preserve;
    options.tail = preserve ? truncated_tail::allow : truncated_tail::reject;
    bytes converted;
    if (!convert_legacy_message_set(input, converted, options)) {
      // What conversion produces must itself be valid batches.
      record_batch_splitter splitter(converted);
      record_batch_view batch;
      while (splitter.next(batch)) {
        if (batch.validate()) __builtin_trap();
        iterate(batch, reader, false);
      }
      if (splitter.error()) __builtin_trap();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  run(byte_span(data, size));
  run(with_fixed_checksums(byte_span(data, size)));
  return 0;
}
