// record_batch_fuzz - parses arbitrary bytes as a sequence of v2 record
// batches and iterates every record, with CRC checks on and off (off lets
// the fuzzer reach the record and decompression code behind the CRC).
#include <cstddef>
#include <cstdint>
#include <span>

#include "protocol/record_batch_reader.h"

namespace {

volatile std::size_t g_sink = 0;  // keeps the byte reads below from being optimised away

void walk(std::span<const std::uint8_t> data, const kprod::protocol::batch_read_options& opts) {
  auto batches = kprod::protocol::parse_batches(data, opts);
  if (!batches) return;
  for (const auto& b : *batches) {
    auto rr = kprod::protocol::record_reader::open(b, opts);
    if (!rr) continue;
    kprod::protocol::record_view v;
    std::size_t sink = 0;
    for (;;) {
      auto more = rr->next(v);
      if (!more || !*more) break;
      // Touch every byte the view claims, so ASan sees any bad pointer.
      for (std::int32_t i = 0; i < v.key_len; ++i) sink += v.key[i];
      for (std::int32_t i = 0; i < v.value_len; ++i) sink += v.value[i];
      for (const auto& h : v.headers) {
        sink += h.key.size();
        for (std::int32_t i = 0; i < h.value_len; ++i) sink += h.value[i];
      }
    }
    g_sink = g_sink + sink;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::uint8_t> in(data, size);
  kprod::protocol::batch_read_options strict;
  strict.max_uncompressed_bytes = 4 << 20;
  walk(in, strict);
  kprod::protocol::batch_read_options lenient = strict;
  lenient.verify_crc = false;
  lenient.strict_offsets = false;
  lenient.allow_partial_tail = true;
  walk(in, lenient);
  return 0;
}
