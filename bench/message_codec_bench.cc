// Throughput of the generated codec on the data-path messages: decoding a Produce request (records are zero-copy
// slices of the frame), encoding a Fetch response, and a Metadata response for many partitions.
#include <benchmark/benchmark.h>

#include "vltava/protocol/messages.h"

namespace {

using namespace vltava::protocol;

produce_request make_produce(int partitions, std::size_t records_bytes) {
  produce_request request;
  request.acks = -1;
  request.timeout_ms = 30000;
  auto& topic = request.topic_data.emplace_back();
  topic.name = "bench-topic";
  bytes payload(records_bytes, 0x5A);
  auto shared = shared_bytes::adopt(std::move(payload));
  for (int p = 0; p < partitions; ++p) {
    auto& partition = topic.partition_data.emplace_back();
    partition.index = p;
    partition.records = shared;
  }
  return request;
}

void BM_DecodeProduceRequest(benchmark::State& state) {
  const int partitions = static_cast<int>(state.range(0));
  const std::int16_t version = static_cast<std::int16_t>(state.range(1));
  bytes wire;
  writer w(wire);
  if (make_produce(partitions, 64 * 1024).encode(w, version)) state.SkipWithError("encode failed");
  auto owner = std::make_shared<bytes>(wire);
  for (auto _ : state) {
    reader r(byte_span(owner->data(), owner->size()), owner);
    produce_request request;
    auto ec = request.decode(r, version);
    benchmark::DoNotOptimize(ec);
    benchmark::DoNotOptimize(request);
  }
  // No bytes/s: the records are not touched (zero-copy), so the rate of requests is what matters.
  state.counters["requests/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_DecodeProduceRequest)->Args({1, 9})->Args({16, 9})->Args({16, 7});

void BM_EncodeFetchResponse(benchmark::State& state) {
  const int partitions = static_cast<int>(state.range(0));
  fetch_response response;
  auto& topic = response.responses.emplace_back();
  topic.topic = "bench-topic";
  auto records = shared_bytes::adopt(bytes(64 * 1024, 0x33));
  for (int p = 0; p < partitions; ++p) {
    auto& partition = topic.partitions.emplace_back();
    partition.partition_index = p;
    partition.high_watermark = 1000;
    partition.records = records;
  }
  bytes out;
  out.reserve(response.encoded_size(12));
  for (auto _ : state) {
    out.clear();
    writer w(out);
    auto ec = response.encode(w, 12);
    benchmark::DoNotOptimize(ec);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * out.size()));
}
BENCHMARK(BM_EncodeFetchResponse)->Arg(1)->Arg(16);

void BM_EncodeMetadataResponse(benchmark::State& state) {
  metadata_response response;
  response.brokers.push_back({.node_id = 1, .host = "localhost", .port = 9092});
  for (int t = 0; t < state.range(0); ++t) {
    auto& topic = response.topics.emplace_back();
    topic.name = "topic-" + std::to_string(t);
    for (int p = 0; p < 10; ++p) {
      auto& partition = topic.partitions.emplace_back();
      partition.partition_index = p;
      partition.leader_id = 1;
      partition.replica_nodes = {1};
      partition.isr_nodes = {1};
    }
  }
  bytes out;
  for (auto _ : state) {
    out.clear();
    writer w(out);
    auto ec = response.encode(w, 12);
    benchmark::DoNotOptimize(ec);
  }
  state.counters["partitions/s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * state.range(0) * 10), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_EncodeMetadataResponse)->Arg(100)->Arg(1000);

}  // namespace
