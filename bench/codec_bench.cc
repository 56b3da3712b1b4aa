// codec_bench - CRC-32C, varints, record append and batch sealing.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "codec/compression.h"
#include "codec/crc32c.h"
#include "codec/varint.h"
#include "protocol/record_batch.h"

namespace {

using bytes = std::vector<std::uint8_t>;

bytes random_bytes(std::size_t n) {
  std::mt19937 rng(7);
  bytes v(n);
  for (auto& b : v) b = static_cast<std::uint8_t>(rng());
  return v;
}

// Deterministic JSON-like records: repeated field names, varying values.
std::vector<std::string> json_corpus(std::size_t count, std::size_t approx_len) {
  std::mt19937 rng(12345);
  const char* names[] = {"user_id", "order_id", "sku", "price", "currency", "region", "status", "created_at"};
  const char* words[] = {"pending", "shipped", "EUR", "USD", "eu-west", "us-east", "ok", "retry"};
  std::vector<std::string> out;
  for (std::size_t i = 0; i < count; ++i) {
    std::string s = "{";
    while (s.size() < approx_len) {
      s += "\"";
      s += names[rng() % 8];
      s += (rng() % 2) ? "\":" + std::to_string(rng() % 1'000'000) + "," : std::string("\":\"") + words[rng() % 8] + "\",";
    }
    s.back() = '}';
    out.push_back(std::move(s));
  }
  return out;
}

void BM_Crc32cHardware(benchmark::State& state) {
  if (!kprod::codec::detail::crc32c_hw_available()) {
    state.SkipWithError("no SSE4.2");
    return;
  }
  auto data = random_bytes(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(kprod::codec::detail::crc32c_hw(0, data.data(), data.size()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_Crc32cHardware)->Arg(64)->Arg(1024)->Arg(1 << 20);

void BM_Crc32cPortable(benchmark::State& state) {
  auto data = random_bytes(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(kprod::codec::detail::crc32c_portable(0, data.data(), data.size()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_Crc32cPortable)->Arg(64)->Arg(1024)->Arg(1 << 20);

// Re-stamping a sealed batch (an idempotent batch's first send): the CRC
// patched past `range` bytes of records (the carry-less path where the CPU
// has it), and the portable bitwise shift alone, which the patch uses
// without it. BM_Crc32cHardware gives a full CRC of such bytes for
// comparison (what restamping did below 16 KiB before).
void BM_CrcPatch(benchmark::State& state) {
  const auto tail = static_cast<std::size_t>(state.range(0));
  std::uint8_t before[40] = {}, after[40] = {};
  after[22] = 1;
  for (auto _ : state) benchmark::DoNotOptimize(kprod::codec::crc32c_patch(0x1234u, before, after, 40, tail));
}
BENCHMARK(BM_CrcPatch)->Arg(1024)->Arg(16 * 1024)->Arg(1 << 20);

void BM_CrcShiftPortable(benchmark::State& state) {
  const auto tail = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(kprod::codec::detail::shift_zero_bytes_portable(0x1234u, tail));
}
BENCHMARK(BM_CrcShiftPortable)->Arg(1024)->Arg(16 * 1024)->Arg(1 << 20);

std::vector<std::int64_t> varint_values() {
  std::mt19937_64 rng(3);
  std::vector<std::int64_t> v(1024);
  for (auto& x : v) x = static_cast<std::int64_t>(rng() >> (rng() % 64)) * ((rng() & 1) ? 1 : -1);
  return v;
}

void BM_VarlongEncode(benchmark::State& state) {
  auto values = varint_values();
  std::uint8_t buf[1024 * kprod::codec::max_varint64_bytes];
  for (auto _ : state) {
    std::size_t n = 0;
    for (auto v : values) n += kprod::codec::encode_varint64(v, buf + n);
    benchmark::DoNotOptimize(n);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * 1024);
}
BENCHMARK(BM_VarlongEncode);

void BM_VarlongDecode(benchmark::State& state) {
  auto values = varint_values();
  bytes buf(1024 * kprod::codec::max_varint64_bytes);
  std::size_t total = 0;
  for (auto v : values) total += kprod::codec::encode_varint64(v, buf.data() + total);
  for (auto _ : state) {
    std::size_t pos = 0;
    std::int64_t sum = 0;
    while (pos < total) {
      std::int64_t v = 0;
      pos += kprod::codec::decode_varint64(buf.data() + pos, total - pos, v);
      sum += v;
    }
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * 1024);
}
BENCHMARK(BM_VarlongDecode);

// The accumulator's hot path: one record appended into an open batch. The
// batch is sealed (uncompressed) and restarted every 1000 records, as
// batch.size would; seal cost is included, amortised.
void BM_RecordAppend(benchmark::State& state) {
  const auto value_len = static_cast<std::size_t>(state.range(0));
  auto values = json_corpus(64, value_len);
  for (auto& v : values) v.resize(value_len, ' ');
  const std::string key = "order-12345";
  kprod::protocol::record_batch_builder bld;
  bld.start(1'700'000'000'000);
  std::int64_t ts = 1'700'000'000'000;
  std::size_t i = 0;
  for (auto _ : state) {
    const auto& v = values[i++ & 63];
    bld.append(ts++, reinterpret_cast<const std::uint8_t*>(key.data()), static_cast<std::int32_t>(key.size()),
               reinterpret_cast<const std::uint8_t*>(v.data()), static_cast<std::int32_t>(v.size()), {});
    if (bld.record_count() == 1000) {
      auto sealed = bld.seal({}, nullptr);
      benchmark::DoNotOptimize(sealed);
      bld.start(ts);
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * value_len));
}
BENCHMARK(BM_RecordAppend)->Arg(10)->Arg(100)->Arg(1000);

// Seal of a ~1 MiB batch of 500-byte JSON-like records (batch.size-ish).
void BM_BatchSeal(benchmark::State& state) {
  const auto type = static_cast<kprod::compression_type>(state.range(0));
  auto values = json_corpus(2000, 500);
  auto c = kprod::codec::compressor::create(type);
  if (!c) {
    state.SkipWithError("compressor");
    return;
  }
  kprod::protocol::record_batch_builder bld;
  std::size_t in_bytes = 0, out_bytes = 0;
  for (auto _ : state) {
    state.PauseTiming();
    bld.start(1'700'000'000'000);
    for (std::size_t i = 0; i < values.size(); ++i)
      bld.append(1'700'000'000'000 + static_cast<std::int64_t>(i), nullptr, -1,
                 reinterpret_cast<const std::uint8_t*>(values[i].data()), static_cast<std::int32_t>(values[i].size()),
                 {});
    in_bytes = bld.size_bytes();
    state.ResumeTiming();
    auto sealed = bld.seal({1, 0, 0, false}, c->get());
    out_bytes = sealed->size();
    benchmark::DoNotOptimize(sealed);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * in_bytes));
  state.counters["ratio"] = static_cast<double>(in_bytes) / static_cast<double>(out_bytes);
  state.SetLabel(std::string(kprod::to_string(type)));
}
BENCHMARK(BM_BatchSeal)
    ->Arg(static_cast<int>(kprod::compression_type::none))
    ->Arg(static_cast<int>(kprod::compression_type::lz4))
    ->Arg(static_cast<int>(kprod::compression_type::zstd))
    ->Arg(static_cast<int>(kprod::compression_type::snappy))
    ->Arg(static_cast<int>(kprod::compression_type::gzip))
    ->Unit(benchmark::kMicrosecond);

}  // namespace
