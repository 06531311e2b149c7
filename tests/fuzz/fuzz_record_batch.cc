// Arbitrary bytes as a Produce/Fetch "records" field: split into batches (both tail policies), validate, iterate
// every record and header, and convert as a legacy message set. Nothing may crash, leak or read out of bounds.
#include <cstddef>
#include <cstdint>

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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const byte_span input(data, size);
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
  return 0;
}
