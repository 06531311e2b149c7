// Throughput of CRC-32C (hardware and portable) and of record batch validation and iteration.
#include <benchmark/benchmark.h>

#include <random>
#include <string>

#include "vltava/protocol/crc32c.h"
#include "vltava/protocol/record_batch.h"
#include "vltava/protocol/record_batch_builder.h"

namespace vltava::protocol {
namespace {

bytes random_bytes(std::size_t n) {
  std::mt19937 rng(42);
  bytes out(n);
  for (auto& b : out) b = static_cast<std::uint8_t>(rng());
  return out;
}

void crc32c_dispatched(benchmark::State& state) {
  if (!crc32c_hardware_available()) state.SkipWithError("no SSE4.2 on this machine");
  const bytes data = random_bytes(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(crc32c(data));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(crc32c_dispatched)->Name("crc32c_hardware")->Arg(1 << 10)->Arg(64 << 10)->Arg(1 << 20);

void crc32c_table(benchmark::State& state) {
  const bytes data = random_bytes(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(crc32c_portable(data));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(crc32c_table)->Name("crc32c_portable")->Arg(1 << 10)->Arg(64 << 10)->Arg(1 << 20);

// About 1 MiB of uncompressed batches of 100 records (16-byte keys, 100-byte values, one header), as a producer
// with linger would send them.
bytes make_batches(compression_codec codec) {
  bytes out;
  std::mt19937 rng(7);
  std::string key(16, 'k'), value(100, 'v');
  const std::string header_value = "trace-0123456789";
  const record_header_view headers[] = {
      {"trace", byte_span(reinterpret_cast<const std::uint8_t*>(header_value.data()), header_value.size())}};
  std::int64_t offset = 0;
  while (out.size() < (1 << 20)) {
    record_batch_builder_options options;
    options.codec = codec;
    options.base_offset = offset;
    record_batch_builder builder(options);
    for (int i = 0; i < 100; ++i) {
      for (auto& c : value) c = static_cast<char>('a' + rng() % 26);
      builder.append(1700000000000 + i, byte_span(reinterpret_cast<const std::uint8_t*>(key.data()), key.size()),
                     byte_span(reinterpret_cast<const std::uint8_t*>(value.data()), value.size()), headers);
    }
    if (builder.build(out)) std::abort();
    offset += 100;
  }
  return out;
}

void record_batch_validate(benchmark::State& state) {
  const bytes data = make_batches(compression_codec::none);
  for (auto _ : state) {
    record_batch_splitter splitter(data);
    record_batch_view batch;
    std::size_t valid = 0;
    while (splitter.next(batch)) valid += batch.validate() ? 0 : 1;
    if (splitter.error()) state.SkipWithError("split failed");
    benchmark::DoNotOptimize(valid);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * data.size()));
}
BENCHMARK(record_batch_validate);

void iterate_records(benchmark::State& state, compression_codec codec) {
  const bytes data = make_batches(codec);
  record_reader reader;  // reused, as a fetch or produce handler would
  std::int64_t records = 0;
  for (auto _ : state) {
    record_batch_splitter splitter(data);
    record_batch_view batch;
    std::size_t payload = 0;
    while (splitter.next(batch)) {
      if (reader.open(batch)) state.SkipWithError("open failed");
      record_view r;
      while (reader.next(r)) {
        payload += r.value ? r.value->size() : 0;
        for (const auto& h : r.headers()) payload += h.key.size();
        ++records;
      }
      if (reader.error()) state.SkipWithError("bad record");
    }
    benchmark::DoNotOptimize(payload);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * data.size()));
  state.counters["records/s"] = benchmark::Counter(static_cast<double>(records), benchmark::Counter::kIsRate);
}
BENCHMARK_CAPTURE(iterate_records, uncompressed, compression_codec::none)->Name("record_iterate");
BENCHMARK_CAPTURE(iterate_records, lz4, compression_codec::lz4)->Name("record_iterate_lz4");

}  // namespace
}  // namespace vltava::protocol
