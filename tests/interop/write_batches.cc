// write_batches - writes v2 record batches with kprod's builder for an
// independent reader (tests/interop/check_batches.py, python3-kafka) to check.
//
// Usage: kp_interop_write_batches <out-dir>
// Writes <out-dir>/batches.bin (the batches back to back, as in a Produce
// request's records field) and <out-dir>/manifest.json (what each batch must
// contain, values hex-encoded, null as JSON null).
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "codec/compression.h"
#include "protocol/record_batch.h"

namespace {

using bytes = std::vector<std::uint8_t>;
using opt_bytes = std::optional<bytes>;
using kprod::compression_type;

struct record_spec {
  std::int64_t ts = 0;
  opt_bytes key;
  opt_bytes value;
  std::vector<std::pair<std::string, opt_bytes>> headers;
};

struct batch_spec {
  std::string name;
  compression_type codec = compression_type::none;
  int level = kprod::codec::default_level;
  kprod::protocol::batch_producer_fields fields;
  std::vector<record_spec> records;
  std::optional<kprod::protocol::batch_producer_fields> restamp;  // applied after sealing
};

bytes b(std::string_view s) { return {s.begin(), s.end()}; }

nlohmann::json hex_or_null(const opt_bytes& v) {
  if (!v) return nullptr;
  static const char digits[] = "0123456789abcdef";
  std::string s;
  s.reserve(v->size() * 2);
  for (std::uint8_t c : *v) {
    s += digits[c >> 4];
    s += digits[c & 0xf];
  }
  return s;
}

std::vector<record_spec> mixed_records(std::int64_t base) {
  std::vector<record_spec> rs;
  rs.push_back({base, b("key-0"), b("{\"id\":0,\"name\":\"alpha\"}"), {}});
  rs.push_back({base + 3, std::nullopt, b("null key"), {{"trace", b("abc123")}}});
  rs.push_back({base - 1000, b("tombstone"), std::nullopt, {}});  // earlier than the base: negative delta
  rs.push_back({base + 7, bytes{}, bytes{}, {{"empty", bytes{}}, {"null", std::nullopt}}});
  record_spec many{base + 1'000'000, b("many-headers"), b("v"), {}};
  for (int i = 0; i < 25; ++i)
    many.headers.emplace_back("h" + std::to_string(i), i % 4 == 0 ? opt_bytes{} : opt_bytes{b(std::to_string(i * i))});
  rs.push_back(many);
  bytes binary(300);
  for (std::size_t i = 0; i < binary.size(); ++i) binary[i] = static_cast<std::uint8_t>(i * 7);
  rs.push_back({base + 9, binary, binary, {{"bin", binary}}});
  return rs;
}

record_spec one_mib_record(std::int64_t ts) {
  std::mt19937 rng(20240601);
  const char* words[] = {"{\"user\":", "\"order\":", "\"sku\":\"", "\"qty\":", "\"price\":", "},", "\"eur\"", "\"ok\""};
  bytes v;
  while (v.size() < (1u << 20)) {
    std::string w = words[rng() % 8] + std::to_string(rng() % 1000);
    v.insert(v.end(), w.begin(), w.end());
  }
  v.resize(1u << 20);
  return {ts, b("big"), v, {{"size", b("1048576")}}};
}

std::vector<batch_spec> all_batches() {
  std::vector<batch_spec> out;
  const compression_type codecs[] = {compression_type::none, compression_type::gzip, compression_type::snappy,
                                     compression_type::lz4, compression_type::zstd};
  std::int32_t seq = 0;
  for (auto c : codecs) {
    batch_spec s;
    s.name = std::string("mixed-") + std::string(kprod::to_string(c));
    s.codec = c;
    s.fields = {4000 + static_cast<std::int64_t>(c), static_cast<std::int16_t>(c), seq, c == compression_type::snappy};
    s.records = mixed_records(1'717'000'000'000 + static_cast<std::int64_t>(c) * 10);
    seq += static_cast<std::int32_t>(s.records.size());
    out.push_back(std::move(s));
  }
  for (auto c : codecs) {
    batch_spec s;
    s.name = std::string("one-mib-") + std::string(kprod::to_string(c));
    s.codec = c;
    s.records = {one_mib_record(1'717'000'000'500)};
    out.push_back(std::move(s));
  }
  const std::pair<compression_type, int> levels[] = {{compression_type::gzip, 1}, {compression_type::gzip, 9},
                                                     {compression_type::lz4, 1}, {compression_type::lz4, 12},
                                                     {compression_type::zstd, 1}, {compression_type::zstd, 19}};
  for (auto [c, level] : levels) {
    batch_spec s;
    s.name = std::string(kprod::to_string(c)) + "-level-" + std::to_string(level);
    s.codec = c;
    s.level = level;
    s.fields = {77, 0, 0, false};
    s.records = mixed_records(1'717'000'001'000);
    out.push_back(std::move(s));
  }
  batch_spec r;
  r.name = "restamped-zstd";
  r.codec = compression_type::zstd;
  r.fields = {1, 0, 0, false};
  r.restamp = kprod::protocol::batch_producer_fields{9'000'000'000, 12, 2'000'000'000, true};
  r.records = mixed_records(1'717'000'002'000);
  out.push_back(std::move(r));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <out-dir>\n", argv[0]);
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  std::filesystem::create_directories(dir);

  bytes all;
  nlohmann::json manifest = {{"batches", nlohmann::json::array()}};
  kprod::protocol::record_batch_builder builder;
  for (const auto& spec : all_batches()) {
    auto c = kprod::codec::compressor::create(spec.codec, spec.level);
    if (!c) {
      std::fprintf(stderr, "%s: %s\n", spec.name.c_str(), c.error().message().c_str());
      return 1;
    }
    builder.start(spec.records.front().ts);
    std::int64_t max_ts = spec.records.front().ts;
    for (const auto& rec : spec.records) {
      std::vector<kprod::protocol::record_header_view> hs;
      for (const auto& [k, v] : rec.headers)
        hs.push_back({k, v ? v->data() : nullptr, v ? static_cast<std::int32_t>(v->size()) : -1});
      builder.append(rec.ts, rec.key ? rec.key->data() : nullptr, rec.key ? static_cast<std::int32_t>(rec.key->size()) : -1,
                     rec.value ? rec.value->data() : nullptr,
                     rec.value ? static_cast<std::int32_t>(rec.value->size()) : -1, hs);
      max_ts = std::max(max_ts, rec.ts);
    }
    auto sealed = builder.seal(spec.fields, c->get());
    if (!sealed) {
      std::fprintf(stderr, "%s: %s\n", spec.name.c_str(), sealed.error().message().c_str());
      return 1;
    }
    bytes batch = std::move(sealed).value();
    auto fields = spec.fields;
    if (spec.restamp) {
      kprod::protocol::restamp_batch(batch, *spec.restamp);
      fields = *spec.restamp;
    }
    const std::uint32_t crc = (std::uint32_t{batch[17]} << 24) | (std::uint32_t{batch[18]} << 16) |
                              (std::uint32_t{batch[19]} << 8) | batch[20];

    nlohmann::json records = nlohmann::json::array();
    for (std::size_t i = 0; i < spec.records.size(); ++i) {
      const auto& rec = spec.records[i];
      nlohmann::json headers = nlohmann::json::array();
      for (const auto& [k, v] : rec.headers) headers.push_back({k, hex_or_null(v)});
      records.push_back({{"offset", i},
                         {"timestamp", rec.ts},
                         {"key", hex_or_null(rec.key)},
                         {"value", hex_or_null(rec.value)},
                         {"headers", headers}});
    }
    manifest["batches"].push_back({{"name", spec.name},
                                   {"codec", static_cast<int>(spec.codec)},
                                   {"size", batch.size()},
                                   {"crc", crc},
                                   {"producer_id", fields.producer_id},
                                   {"producer_epoch", fields.producer_epoch},
                                   {"base_sequence", fields.base_sequence},
                                   {"transactional", fields.transactional},
                                   {"base_timestamp", spec.records.front().ts},
                                   {"max_timestamp", max_ts},
                                   {"records", records}});
    all.insert(all.end(), batch.begin(), batch.end());
  }

  std::ofstream bin(dir / "batches.bin", std::ios::binary);
  bin.write(reinterpret_cast<const char*>(all.data()), static_cast<std::streamsize>(all.size()));
  std::ofstream js(dir / "manifest.json");
  js << manifest.dump();
  if (!bin || !js) {
    std::fprintf(stderr, "cannot write to %s\n", dir.c_str());
    return 1;
  }
  std::printf("wrote %zu batches (%zu bytes) to %s\n", manifest["batches"].size(), all.size(), dir.c_str());
  return 0;
}
