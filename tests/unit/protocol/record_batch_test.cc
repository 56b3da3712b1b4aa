#include "protocol/record_batch.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "codec/compression.h"
#include "codec/crc32c.h"
#include "protocol/record_batch_reader.h"

namespace kprod::protocol {
namespace {

using bytes = std::vector<std::uint8_t>;
using opt_bytes = std::optional<bytes>;

bytes b(std::string_view s) { return {s.begin(), s.end()}; }

struct test_record {
  std::int64_t ts = 0;
  opt_bytes key;
  opt_bytes value;
  std::vector<std::pair<std::string, opt_bytes>> headers;
};

std::int32_t len_of(const opt_bytes& v) { return v ? static_cast<std::int32_t>(v->size()) : -1; }
const std::uint8_t* ptr_of(const opt_bytes& v) { return v ? v->data() : nullptr; }

void append(record_batch_builder& bld, const test_record& r) {
  std::vector<record_header_view> hs;
  for (const auto& [k, v] : r.headers) hs.push_back({k, ptr_of(v), len_of(v)});
  const std::size_t bound = record_batch_builder::record_size_upper_bound(len_of(r.key), len_of(r.value), hs);
  const std::size_t before = bld.size_bytes();
  const std::size_t added = bld.append(r.ts, ptr_of(r.key), len_of(r.key), ptr_of(r.value), len_of(r.value), hs);
  EXPECT_EQ(bld.size_bytes() - before, added);
  EXPECT_LE(added, bound);
}

bytes seal_ok(record_batch_builder& bld, const batch_producer_fields& f, codec::compressor* c) {
  auto r = bld.seal(f, c);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
  return r.ok() ? std::move(r).value() : bytes{};
}

std::unique_ptr<codec::compressor> make(compression_type t) {
  auto c = codec::compressor::create(t);
  EXPECT_TRUE(c.ok());
  return std::move(c).value();
}

std::vector<test_record> sample_records() {
  std::mt19937 rng(42);
  // Words from a small vocabulary: every codec, even snappy and lz4, shrinks it.
  const char* words[] = {"alpha ", "beta ", "gamma ", "delta ", "epsilon ", "zeta ", "eta ", "theta "};
  bytes big;
  while (big.size() < (1 << 20)) {
    std::string_view w = words[rng() % 8];
    big.insert(big.end(), w.begin(), w.end());
  }
  big.resize(1 << 20);
  std::vector<test_record> rs;
  rs.push_back({1'700'000'000'000, b("key-1"), b("value-1"), {}});
  rs.push_back({1'700'000'000'005, std::nullopt, b("null key"), {}});
  rs.push_back({1'699'999'999'000, b("null value"), std::nullopt, {}});  // earlier than the base
  rs.push_back({1'700'000'000'010, bytes{}, bytes{}, {}});              // empty, not null
  rs.push_back({1'700'000'000'010, std::nullopt, std::nullopt, {}});
  test_record many{1'700'000'000'020, b("h"), b("headers"), {}};
  for (int i = 0; i < 40; ++i)
    many.headers.emplace_back("hdr-" + std::to_string(i), i % 3 == 0 ? opt_bytes{} : opt_bytes{b(std::to_string(i))});
  many.headers.emplace_back("", bytes{});  // empty key, empty value
  rs.push_back(many);
  rs.push_back({1'700'000'000'030, b("big"), big, {{"k", b("v")}}});
  return rs;
}

void expect_records_equal(const std::vector<owned_record>& got, const std::vector<test_record>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i].offset, static_cast<std::int64_t>(i));
    EXPECT_EQ(got[i].timestamp, want[i].ts) << i;
    EXPECT_EQ(got[i].key, want[i].key) << i;
    EXPECT_EQ(got[i].value, want[i].value) << i;
    EXPECT_EQ(got[i].headers, want[i].headers) << i;
  }
}

// Seals `bld` without compression and checks that a reader gets `want` back.
void expect_sealed_batch_holds(record_batch_builder& bld, const std::vector<test_record>& want) {
  bytes batch = seal_ok(bld, {}, nullptr);
  auto view = parse_batch(batch);
  ASSERT_TRUE(view.ok()) << view.error().message();
  auto recs = read_records(*view);
  ASSERT_TRUE(recs.ok()) << recs.error().message();
  expect_records_equal(*recs, want);
}

const compression_type all_codecs[] = {compression_type::none, compression_type::gzip, compression_type::snappy,
                                       compression_type::lz4, compression_type::zstd};

TEST(RecordBatch, LayoutOffsetsMatchTheProtocol) {
  using namespace batch_v2;
  EXPECT_EQ(batch_length_at, 8u);
  EXPECT_EQ(leader_epoch_at, 12u);
  EXPECT_EQ(magic_at, 16u);
  EXPECT_EQ(last_offset_delta_at, 23u);
  EXPECT_EQ(base_timestamp_at, 27u);
  EXPECT_EQ(max_timestamp_at, 35u);
  EXPECT_EQ(producer_epoch_at, 51u);
  EXPECT_EQ(base_sequence_at, 53u);
  EXPECT_EQ(records_count_at, 57u);
  EXPECT_EQ(header_size, 61u);
}

TEST(RecordBatch, RoundTripEveryCodec) {
  const auto records = sample_records();
  record_batch_builder bld;
  for (auto t : all_codecs) {
    auto c = make(t);
    bld.start(records[0].ts);
    for (const auto& r : records) append(bld, r);
    EXPECT_EQ(bld.record_count(), static_cast<std::int32_t>(records.size()));
    EXPECT_EQ(bld.max_timestamp(), 1'700'000'000'030);
    const batch_producer_fields f{1234, 7, 99, true};
    bytes batch = seal_ok(bld, f, c.get());
    EXPECT_EQ(bld.record_count(), 0);

    auto v = parse_batch(batch);
    ASSERT_TRUE(v.ok()) << to_string(t) << ": " << v.error().message();
    const auto& h = v->header;
    EXPECT_EQ(v->bytes.size(), batch.size());
    EXPECT_EQ(h.base_offset, 0);
    EXPECT_EQ(h.batch_length, static_cast<std::int32_t>(batch.size() - 12));
    EXPECT_EQ(h.partition_leader_epoch, -1);
    EXPECT_EQ(h.magic, 2);
    EXPECT_EQ(h.compression(), t);
    EXPECT_TRUE(h.transactional());
    EXPECT_FALSE(h.control());
    EXPECT_FALSE(h.log_append_time());
    EXPECT_EQ(h.last_offset_delta, static_cast<std::int32_t>(records.size() - 1));
    EXPECT_EQ(h.base_timestamp, records[0].ts);
    EXPECT_EQ(h.max_timestamp, 1'700'000'000'030);
    EXPECT_EQ(h.producer_id, 1234);
    EXPECT_EQ(h.producer_epoch, 7);
    EXPECT_EQ(h.base_sequence, 99);
    EXPECT_EQ(h.records_count, static_cast<std::int32_t>(records.size()));
    EXPECT_EQ(h.crc, codec::crc32c(batch.data() + 21, batch.size() - 21));
    if (t != compression_type::none) {
      EXPECT_LT(batch.size(), std::size_t{1} << 20) << "1 MiB of letters compresses";
    }

    auto got = read_records(*v);
    ASSERT_TRUE(got.ok()) << to_string(t) << ": " << got.error().message();
    expect_records_equal(*got, records);
  }
}

TEST(RecordBatch, DefaultProducerFieldsAndNoCompressor) {
  record_batch_builder bld;
  bld.start(5);
  append(bld, {5, std::nullopt, b("v"), {}});
  bytes batch = seal_ok(bld, {}, nullptr);
  auto v = parse_batch(batch);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->header.producer_id, -1);
  EXPECT_EQ(v->header.producer_epoch, -1);
  EXPECT_EQ(v->header.base_sequence, -1);
  EXPECT_FALSE(v->header.transactional());
  EXPECT_EQ(v->header.attributes, 0);
}

TEST(RecordBatch, EmptyBuilderCannotBeSealed) {
  record_batch_builder bld;
  auto r = bld.seal({}, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), client_errc::illegal_state);
  bld.start(1);
  EXPECT_FALSE(bld.seal({}, nullptr).ok());
}

TEST(RecordBatch, BuilderIsReusableAfterSeal) {
  record_batch_builder bld;
  auto lz4 = make(compression_type::lz4);
  for (int round = 0; round < 3; ++round) {
    bld.start(100 + round);
    for (int i = 0; i < 10; ++i) append(bld, {100 + round + i, b("k"), b("v" + std::to_string(i)), {}});
    bytes batch = seal_ok(bld, {1, 0, round * 10, false}, round == 1 ? lz4.get() : nullptr);
    auto v = parse_batch(batch);
    ASSERT_TRUE(v.ok());
    auto got = read_records(*v);
    ASSERT_TRUE(got.ok());
    ASSERT_EQ(got->size(), 10u);
    EXPECT_EQ((*got)[9].timestamp, 109 + round);
    EXPECT_EQ((*got)[9].value, b("v9"));
  }
}

TEST(RecordBatch, AppendWithoutStartUsesFirstTimestamp) {
  record_batch_builder bld;
  const std::uint8_t value[] = {'v'};
  const std::size_t added = bld.append(777, nullptr, -1, value, 1, {});
  EXPECT_EQ(bld.size_bytes(), batch_v2::header_size + added);
  EXPECT_EQ(bld.base_timestamp(), 777);
  bytes batch = seal_ok(bld, {}, nullptr);
  auto v = parse_batch(batch);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->header.base_timestamp, 777);
}

TEST(RecordBatch, RecordWireFormatIsExact) {
  record_batch_builder bld;
  bld.start(1000);
  const std::uint8_t hv[] = {'x'};
  record_header_view h[] = {{"h", hv, 1}};
  const std::uint8_t key[] = {'k'};
  bld.append(1001, key, 1, nullptr, -1, h);
  bytes batch = seal_ok(bld, {}, nullptr);
  // body: attrs 0, tsDelta 1 -> 02, offsetDelta 0 -> 00, keyLen 1 -> 02 'k',
  // valueLen -1 -> 01, 1 header -> 02, keyLen 02 'h', valueLen 02 'x'
  const bytes want = {0x16, 0x00, 0x02, 0x00, 0x02, 'k', 0x01, 0x02, 0x02, 'h', 0x02, 'x'};
  ASSERT_EQ(batch.size(), 61 + want.size());
  EXPECT_EQ(bytes(batch.begin() + 61, batch.end()), want);
}

// Keys, values and header parts up to 16 bytes are copied inline with
// overlapping words; every length around those word sizes round-trips.
TEST(RecordBatch, EveryShortLengthRoundTrips) {
  record_batch_builder bld;
  bld.start(1000);
  std::vector<test_record> want;
  for (int len = 0; len <= 40; ++len) {
    test_record r;
    r.ts = 1000 + len;
    bytes k(static_cast<std::size_t>(len)), v(static_cast<std::size_t>(40 - len));
    for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::uint8_t>('a' + (i * 7 + static_cast<std::size_t>(len)) % 26);
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<std::uint8_t>(i * 31 + static_cast<std::size_t>(len));
    r.key = k;
    r.value = v;
    r.headers.emplace_back(std::string(static_cast<std::size_t>(len % 19), 'h'), bytes(static_cast<std::size_t>(len % 17), 'x'));
    append(bld, r);
    want.push_back(r);
  }
  expect_sealed_batch_holds(bld, want);
}

// A record's length prefix is written after its body, which starts where
// the longest possible prefix would end; bodies whose prefix is shorter than
// that (just below 64 and 8192 bytes: zig-zag 128 and 16384) are moved
// down. Every size around both boundaries must come out exact.
TEST(RecordBatch, BodiesAroundLengthPrefixBoundariesRoundTrip) {
  for (std::size_t base : {std::size_t{20}, std::size_t{8140}}) {
    record_batch_builder bld;
    bld.start(5000);
    std::vector<test_record> want;
    for (std::size_t extra = 0; extra < 90; ++extra) {
      test_record r;
      r.ts = 5000 + static_cast<std::int64_t>(extra);
      r.key = b("k" + std::to_string(extra));
      bytes v(base + extra);
      for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<std::uint8_t>(i ^ extra);
      r.value = v;
      append(bld, r);
      want.push_back(r);
    }
    expect_sealed_batch_holds(bld, want);
  }
}

TEST(RecordBatch, EveryCorruptedByteInTheCrcRangeIsCaught) {
  for (auto t : {compression_type::none, compression_type::zstd}) {
    record_batch_builder bld;
    auto c = make(t);
    bld.start(1);
    for (int i = 0; i < 5; ++i) append(bld, {1 + i, b("key"), b("value-" + std::to_string(i)), {{"h", b("x")}}});
    bytes batch = seal_ok(bld, {5, 1, 0, false}, c.get());
    for (std::size_t i = batch_v2::attributes_at; i < batch.size(); ++i) {
      bytes bad = batch;
      bad[i] ^= 0x01;
      auto v = parse_batch(bad);
      ASSERT_FALSE(v.ok()) << "byte " << i;
      EXPECT_EQ(v.error().code(), client_errc::corrupt_batch);
    }
    // The CRC field itself.
    bytes bad = batch;
    bad[batch_v2::crc_at + 2] ^= 0x80;
    EXPECT_FALSE(parse_batch(bad).ok());
    // The leader epoch is outside the CRC by design (the broker rewrites it).
    bytes epoch = batch;
    epoch[batch_v2::leader_epoch_at + 3] = 5;
    EXPECT_TRUE(parse_batch(epoch).ok());
  }
}

TEST(RecordBatch, RestampOfALargeBatchPatchesTheCrcRight) {
  // Large batches get a patched CRC, not a recomputed one: both must agree,
  // compressed or not, stamped once or again (a bumped epoch, a new id).
  for (auto type : {compression_type::none, compression_type::zstd}) {
    record_batch_builder bld;
    auto c = make(type);
    bld.start(10);
    std::mt19937 rng(3);
    for (int i = 0; i < 400; ++i) {
      std::string v(200, 'x');
      for (auto& ch : v) ch = static_cast<char>('a' + rng() % 26);
      append(bld, {10 + i, b("k" + std::to_string(i)), b(v), {}});
    }
    bytes batch = seal_ok(bld, {}, c.get());
    ASSERT_GT(batch.size(), 40'000u);
    for (const batch_producer_fields f : {batch_producer_fields{7, 0, 0, false}, batch_producer_fields{7, 1, 2147483000, true},
                                          batch_producer_fields{123456789012, 32767, 5, false}}) {
      restamp_batch(batch, f);
      bytes fresh = batch;
      fresh[batch_v2::crc_at] ^= 0xff;  // recompute from scratch for the reference
      const std::uint32_t want = codec::crc32c(fresh.data() + batch_v2::attributes_at, fresh.size() - batch_v2::attributes_at);
      const std::uint32_t got = (std::uint32_t{batch[batch_v2::crc_at]} << 24) | (std::uint32_t{batch[batch_v2::crc_at + 1]} << 16) |
                                (std::uint32_t{batch[batch_v2::crc_at + 2]} << 8) | batch[batch_v2::crc_at + 3];
      EXPECT_EQ(got, want);
      auto v = parse_batch(batch);
      ASSERT_TRUE(v.ok()) << v.error().message();
      EXPECT_EQ(v->header.producer_id, f.producer_id);
      EXPECT_EQ(v->header.base_sequence, f.base_sequence);
      EXPECT_EQ(v->header.transactional(), f.transactional);
    }
  }
}

TEST(RecordBatch, RestampKeepsRecordsAndFixesCrc) {
  record_batch_builder bld;
  auto c = make(compression_type::lz4);
  bld.start(10);
  for (int i = 0; i < 20; ++i) append(bld, {10 + i, b("k"), b("v" + std::to_string(i)), {}});
  bytes batch = seal_ok(bld, {100, 1, 0, false}, c.get());
  const bytes records_before(batch.begin() + 61, batch.end());

  restamp_batch(batch, {200, 2, 40, true});
  auto v = parse_batch(batch);
  ASSERT_TRUE(v.ok()) << v.error().message();
  EXPECT_EQ(v->header.producer_id, 200);
  EXPECT_EQ(v->header.producer_epoch, 2);
  EXPECT_EQ(v->header.base_sequence, 40);
  EXPECT_TRUE(v->header.transactional());
  EXPECT_EQ(v->header.compression(), compression_type::lz4);
  EXPECT_EQ(bytes(batch.begin() + 61, batch.end()), records_before);

  restamp_batch(batch, {200, 3, 0, false});
  v = parse_batch(batch);
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->header.transactional());
  EXPECT_EQ(v->header.compression(), compression_type::lz4);
  auto got = read_records(*v);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->size(), 20u);

  bytes tiny(10, 0);
  restamp_batch(tiny, {1, 1, 1, true});  // too short: untouched
  EXPECT_EQ(tiny, bytes(10, 0));
}

bytes small_batch(std::int32_t n, compression_type t = compression_type::none) {
  record_batch_builder bld;
  auto c = make(t);
  bld.start(0);
  for (std::int32_t i = 0; i < n; ++i) append(bld, {i, b("k"), b("v"), {}});
  return seal_ok(bld, {}, c.get());
}

TEST(RecordBatchReader, ParsesASequenceOfBatches) {
  bytes all;
  for (auto t : all_codecs) {
    auto one = small_batch(3, t);
    all.insert(all.end(), one.begin(), one.end());
  }
  auto vs = parse_batches(all);
  ASSERT_TRUE(vs.ok()) << vs.error().message();
  ASSERT_EQ(vs->size(), 5u);
  for (std::size_t i = 0; i < 5; ++i) EXPECT_EQ((*vs)[i].header.compression(), all_codecs[i]);

  // A partial tail fails, unless the caller allows it (Fetch responses).
  bytes cut(all.begin(), all.end() - 5);
  EXPECT_FALSE(parse_batches(cut).ok());
  batch_read_options lenient;
  lenient.allow_partial_tail = true;
  auto part = parse_batches(cut, lenient);
  ASSERT_TRUE(part.ok());
  EXPECT_EQ(part->size(), 4u);
  EXPECT_TRUE(parse_batches({}).ok());
}

TEST(RecordBatchReader, RejectsMalformedHeaders) {
  bytes batch = small_batch(3);
  auto expect_corrupt = [](const bytes& data, const char* what, batch_read_options o = {}) {
    auto v = parse_batch(data, o);
    ASSERT_FALSE(v.ok()) << what;
    EXPECT_EQ(v.error().code(), client_errc::corrupt_batch) << what;
  };
  batch_read_options no_crc;
  no_crc.verify_crc = false;

  bytes m = batch;
  m[batch_v2::magic_at] = 1;
  expect_corrupt(m, "magic 1", no_crc);
  bytes l = batch;
  l[batch_v2::batch_length_at + 3] = 10;  // smaller than a header
  l[batch_v2::batch_length_at + 2] = 0;
  expect_corrupt(l, "short length", no_crc);
  expect_corrupt(bytes(batch.begin(), batch.begin() + 30), "truncated");
  expect_corrupt(bytes(batch.begin(), batch.begin() + 11), "no prefix");
  bytes codec7 = batch;
  codec7[batch_v2::attributes_at + 1] = 7;
  expect_corrupt(codec7, "codec 7", no_crc);
  bytes count = batch;
  count[batch_v2::records_count_at + 3] = 4;  // lastOffsetDelta stays 2
  expect_corrupt(count, "count mismatch", no_crc);
  bytes neg = batch;
  neg[batch_v2::records_count_at] = 0xff;
  expect_corrupt(neg, "negative count", no_crc);
  bytes huge = batch;  // consistent header but more records than bytes
  huge[batch_v2::records_count_at + 2] = 0x10;
  huge[batch_v2::last_offset_delta_at + 2] = 0x10;
  expect_corrupt(huge, "too many records", no_crc);
}

TEST(RecordBatchReader, RecordLevelErrorsAreCaught) {
  bytes batch = small_batch(2);
  batch_read_options no_crc;
  no_crc.verify_crc = false;
  // Record 0 starts at 61: its length byte. Lengthen it past its body.
  bytes bad = batch;
  bad[61] = static_cast<std::uint8_t>(bad[61] + 2);
  auto v = parse_batch(bad, no_crc);
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(read_records(*v, no_crc).ok());
  // Offset delta out of sequence (record 0's offsetDelta byte at 61+1+1+1).
  bytes seq = batch;
  seq[64] = 0x04;
  v = parse_batch(seq, no_crc);
  ASSERT_TRUE(v.ok());
  auto r = read_records(*v, no_crc);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().detail().find("offset delta"), std::string::npos) << r.error().detail();
  batch_read_options lenient = no_crc;
  lenient.strict_offsets = false;
  EXPECT_TRUE(read_records(*v, lenient).ok());
  // Trailing bytes after the last record.
  bytes trail = batch;
  trail.push_back(0);
  trail[batch_v2::batch_length_at + 3] = static_cast<std::uint8_t>(trail[batch_v2::batch_length_at + 3] + 1);
  v = parse_batch(trail, no_crc);
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(read_records(*v, no_crc).ok());
}

TEST(RecordBatchReader, DecompressionIsBounded) {
  record_batch_builder bld;
  auto c = make(compression_type::zstd);
  bld.start(0);
  bytes zeros(4 << 20, 0);
  append(bld, {0, std::nullopt, zeros, {}});
  bytes batch = seal_ok(bld, {}, c.get());
  EXPECT_LT(batch.size(), 4096u);
  auto v = parse_batch(batch);
  ASSERT_TRUE(v.ok());
  batch_read_options small;
  small.max_uncompressed_bytes = 1 << 20;
  auto r = record_reader::open(*v, small);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), client_errc::corrupt_batch);
  EXPECT_TRUE(record_reader::open(*v).ok());
}

TEST(RecordBatchReader, LogAppendTimeUsesMaxTimestamp) {
  bytes batch = small_batch(3);
  batch[batch_v2::attributes_at + 1] |= batch_v2::timestamp_type_bit;
  const std::uint32_t crc = codec::crc32c(batch.data() + batch_v2::attributes_at, batch.size() - batch_v2::attributes_at);
  for (int i = 0; i < 4; ++i) batch[batch_v2::crc_at + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(crc >> (24 - 8 * i));
  auto v = parse_batch(batch);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->header.log_append_time());
  auto got = read_records(*v);
  ASSERT_TRUE(got.ok());
  for (const auto& r : *got) EXPECT_EQ(r.timestamp, 2);
}

TEST(RecordBatchReader, RecordViewsDistinguishNullFromEmpty) {
  record_batch_builder bld;
  bld.start(0);
  record_header_view h[] = {{"n", nullptr, -1}, {"e", nullptr, 0}};
  bld.append(0, nullptr, 0, nullptr, -1, h);
  bytes batch = seal_ok(bld, {}, nullptr);
  auto v = parse_batch(batch);
  ASSERT_TRUE(v.ok());
  auto rr = record_reader::open(*v);
  ASSERT_TRUE(rr.ok());
  record_view rec;
  auto more = rr->next(rec);
  ASSERT_TRUE(more.ok() && *more);
  EXPECT_NE(rec.key, nullptr);
  EXPECT_EQ(rec.key_len, 0);
  EXPECT_EQ(rec.value, nullptr);
  EXPECT_EQ(rec.value_len, -1);
  ASSERT_EQ(rec.headers.size(), 2u);
  EXPECT_EQ(rec.headers[0].value, nullptr);
  EXPECT_EQ(rec.headers[0].value_len, -1);
  EXPECT_NE(rec.headers[1].value, nullptr);
  EXPECT_EQ(rec.headers[1].value_len, 0);
  more = rr->next(rec);
  ASSERT_TRUE(more.ok());
  EXPECT_FALSE(*more);
}

}  // namespace
}  // namespace kprod::protocol
