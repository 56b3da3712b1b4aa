// producer_bench - the encode floor: what one record costs in kprod's
// encoding steps alone, measured on the same values `kprod perf` sends
// (tools/cli/payload_generator.h) and keys "key-<i % 1000>":
//
//   BM_FloorAppend/size            one record appended to an open batch
//   BM_FloorSeal/codec/size        sealing a ~64 KiB batch (compression + CRC), per record
//   BM_FloorProduceEncode/size     framing a Produce request of 6 such batches, per record
//   BM_PartitionKeyed              murmur2 over 1000 keys, 6 partitions
//   BM_PartitionStickyUnkeyed      KIP-794 sticky choice + append accounting
//
// Each reports items_per_second in records, so 1e9 / items_per_second is ns
// per record; bench/encode_floor.py adds append + seal + request shares.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "../tools/cli/payload_generator.h"
#include "codec/compression.h"
#include "producer/partitioners.h"
#include "protocol/produce_request_writer.h"
#include "protocol/record_batch.h"

namespace {

constexpr std::size_t batch_target_bytes = 64 * 1024;
constexpr int key_count = 1000;
constexpr int corpus_records = 4096;

struct corpus {
  std::vector<std::string> values;
  std::vector<std::string> keys;
};

corpus make_corpus(std::size_t value_size) {
  corpus c;
  kprod::cli::payload_generator gen(value_size);
  char key[32];
  for (int i = 0; i < corpus_records; ++i) {
    c.values.emplace_back(gen.make(static_cast<std::uint64_t>(i)));
    const int n = std::snprintf(key, sizeof key, "key-%d", i % key_count);
    c.keys.emplace_back(key, static_cast<std::size_t>(n));
  }
  return c;
}

const std::uint8_t* bytes_of(const std::string& s) { return reinterpret_cast<const std::uint8_t*>(s.data()); }

std::size_t records_per_batch(std::size_t value_size) {
  return std::max<std::size_t>(1, batch_target_bytes / (value_size + 20));
}

void append_one(kprod::protocol::record_batch_builder& b, const corpus& c, std::size_t i, std::int64_t ts) {
  const auto& v = c.values[i % corpus_records];
  const auto& k = c.keys[i % corpus_records];
  b.append(ts, bytes_of(k), static_cast<std::int32_t>(k.size()), bytes_of(v), static_cast<std::int32_t>(v.size()), {});
}

void BM_FloorAppend(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const corpus c = make_corpus(size);
  const std::size_t per_batch = records_per_batch(size);
  kprod::protocol::record_batch_builder b;
  std::int64_t ts = 1'700'000'000'000;
  b.start(ts);
  std::size_t i = 0, in_batch = 0;
  for (auto _ : state) {
    append_one(b, c, i++, ts++);
    if (++in_batch == per_batch) {  // start() keeps the buffer: a batch restart, not a seal
      b.start(ts);
      in_batch = 0;
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}
BENCHMARK(BM_FloorAppend)->Arg(10)->Arg(100)->Arg(1000)->Arg(100000);

void BM_FloorSeal(benchmark::State& state) {
  const auto type = static_cast<kprod::compression_type>(state.range(0));
  const auto size = static_cast<std::size_t>(state.range(1));
  const corpus c = make_corpus(size);
  const std::size_t per_batch = records_per_batch(size);
  auto comp = kprod::codec::compressor::create(type);
  if (!comp) {
    state.SkipWithError("compressor");
    return;
  }
  kprod::codec::compressor* cp = type == kprod::compression_type::none ? nullptr : comp->get();
  kprod::protocol::record_batch_builder b;
  std::size_t in_bytes = 0, out_bytes = 0, i = 0;
  for (auto _ : state) {
    state.PauseTiming();
    b.start(1'700'000'000'000);
    for (std::size_t r = 0; r < per_batch; ++r) append_one(b, c, i++, 1'700'000'000'000 + static_cast<std::int64_t>(r));
    in_bytes = b.size_bytes();
    state.ResumeTiming();
    auto sealed = b.seal({1000, 0, 0, false}, cp);
    out_bytes = sealed ? sealed->size() : 0;
    benchmark::DoNotOptimize(sealed);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * per_batch));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * in_bytes));
  state.counters["records_per_batch"] = static_cast<double>(per_batch);
  state.counters["ratio"] = out_bytes ? static_cast<double>(in_bytes) / static_cast<double>(out_bytes) : 0.0;
  state.SetLabel(std::string(kprod::to_string(type)));
}
BENCHMARK(BM_FloorSeal)
    ->ArgsProduct({{static_cast<int>(kprod::compression_type::none), static_cast<int>(kprod::compression_type::lz4),
                    static_cast<int>(kprod::compression_type::zstd)},
                   {10, 100, 1000, 100000}});

// Produce v7 (what librdkafka 2.0.2's mock offers, so what kprod sends in
// bench/compare): 6 partitions, one sealed batch each.
void BM_FloorProduceEncode(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const corpus c = make_corpus(size);
  const std::size_t per_batch = records_per_batch(size);
  constexpr int partitions = 6;
  std::vector<std::vector<std::uint8_t>> batches;
  kprod::protocol::record_batch_builder b;
  std::size_t i = 0;
  for (int p = 0; p < partitions; ++p) {
    b.start(1'700'000'000'000);
    for (std::size_t r = 0; r < per_batch; ++r) append_one(b, c, i++, 1'700'000'000'000);
    batches.push_back(std::move(*b.seal({1000, 0, 0, false}, nullptr)));
  }
  std::vector<kprod::protocol::produce_topic_ref> topics(1);
  topics[0].topic = "bench";
  for (int p = 0; p < partitions; ++p) topics[0].partitions.push_back({p, batches[static_cast<std::size_t>(p)]});
  kprod::protocol::produce_request_writer w;
  const std::optional<std::string> no_txn;
  for (auto _ : state) {
    auto bufs = w.encode(7, no_txn, -1, 30000, topics);
    benchmark::DoNotOptimize(bufs);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * partitions * per_batch));
}
BENCHMARK(BM_FloorProduceEncode)->Arg(10)->Arg(100)->Arg(1000)->Arg(100000);

kprod::producer_detail::topic_view six_partitions(std::vector<std::int32_t>& storage) {
  storage = {0, 1, 2, 3, 4, 5};
  kprod::producer_detail::topic_view v;
  v.num_partitions = 6;
  v.available = storage;
  return v;
}

void BM_PartitionKeyed(benchmark::State& state) {
  const corpus c = make_corpus(10);
  kprod::producer_detail::partitioner_settings s;
  kprod::producer_detail::topic_partitioner tp("bench", s, 42);
  std::vector<std::int32_t> avail;
  const auto view = six_partitions(avail);
  std::size_t i = 0;
  for (auto _ : state) {
    const auto& k = c.keys[i++ % corpus_records];
    auto r = tp.partition(bytes_of(k), static_cast<std::int32_t>(k.size()), nullptr, 10, -1, view);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_PartitionKeyed);

void BM_PartitionStickyUnkeyed(benchmark::State& state) {
  kprod::producer_detail::partitioner_settings s;
  s.sticky_batch_size = 1'000'000;
  kprod::producer_detail::topic_partitioner tp("bench", s, 42);
  std::vector<std::int32_t> avail;
  const auto view = six_partitions(avail);
  for (auto _ : state) {
    auto r = tp.partition(nullptr, -1, nullptr, 100, -1, view);
    if (r) tp.on_append(*r, 120);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_PartitionStickyUnkeyed);

}  // namespace
