// typed_producer and the serializers: bytes produced by each serializer, and
// the serialization-failure path (no broker needed: a failing serializer never
// reaches the network; records that do serialize go to an unreachable
// bootstrap and fail after a short delivery.timeout.ms).
#include "kprod/typed_producer.h"

#include <gtest/gtest.h>

#include <array>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <future>
#include <stdexcept>
#include <thread>
#include <vector>

#include "kprod/json_serializer.h"

namespace kprod {
namespace {

using namespace std::chrono_literals;

struct point {
  int x = 0;
  int y = 0;
};
void to_json(nlohmann::json& j, const point& p) { j = nlohmann::json{{"x", p.x}, {"y", p.y}}; }

struct explodes {};
void to_json(nlohmann::json&, const explodes&) { throw std::runtime_error("cannot convert explodes"); }

// Fails on negative numbers, as an application's validating serializer would.
struct non_negative_serializer {
  result<void> serialize(std::string_view, const int& v, std::string& out) const {
    if (v < 0) return error(client_errc::serialization_failed, "negative: " + std::to_string(v));
    out += std::to_string(v);
    return {};
  }
};

struct throwing_serializer {
  result<void> serialize(std::string_view, const std::string&, std::string&) const {
    throw std::length_error("too long for the schema");
  }
};

static_assert(serializer<string_serializer, std::string>);
static_assert(serializer<string_serializer, std::string_view>);
static_assert(serializer<bytes_serializer, std::vector<std::byte>>);
static_assert(serializer<bytes_serializer, std::array<std::uint8_t, 4>>);
static_assert(!serializer<bytes_serializer, std::vector<int>>);
static_assert(serializer<integer_serializer, std::int64_t>);
static_assert(!serializer<integer_serializer, bool>);
static_assert(serializer<json_serializer, point>);
static_assert(serializer<json_serializer, nlohmann::json>);
static_assert(!serializer<string_serializer, point>);
static_assert(std::is_same_v<default_serializer_t<std::string>, string_serializer>);
static_assert(std::is_same_v<default_serializer_t<std::vector<std::byte>>, bytes_serializer>);
static_assert(std::is_same_v<default_serializer_t<std::int32_t>, integer_serializer>);

template <typename S, typename T>
std::string bytes_of(const S& s, const T& v) {
  std::string out;
  auto r = s.serialize("t", v, out);
  EXPECT_TRUE(r.ok()) << r.error().message();
  return out;
}

TEST(Serializer, StringCopiesTextAndAppends) {
  EXPECT_EQ(bytes_of(string_serializer{}, std::string("héllo")), "héllo");
  EXPECT_EQ(bytes_of(string_serializer{}, std::string()), "");
  std::string out = "pre-";
  ASSERT_TRUE(string_serializer{}.serialize("t", std::string_view("x"), out).ok());
  EXPECT_EQ(out, "pre-x");
}

TEST(Serializer, BytesKeepsEveryByteIncludingNul) {
  std::vector<std::byte> b = {std::byte{0}, std::byte{0xFF}, std::byte{0x41}};
  EXPECT_EQ(bytes_of(bytes_serializer{}, b), std::string("\0\xFF" "A", 3));
  std::array<std::uint8_t, 0> none{};
  EXPECT_EQ(bytes_of(bytes_serializer{}, none), "");
}

TEST(Serializer, IntegersAreBigEndianLikeJava) {
  EXPECT_EQ(bytes_of(integer_serializer{}, std::int32_t{1}), std::string("\0\0\0\x01", 4));
  EXPECT_EQ(bytes_of(integer_serializer{}, std::int32_t{-2}), std::string("\xFF\xFF\xFF\xFE", 4));
  EXPECT_EQ(bytes_of(integer_serializer{}, std::int64_t{0x0102030405060708}), "\x01\x02\x03\x04\x05\x06\x07\x08");
  EXPECT_EQ(bytes_of(integer_serializer{}, std::int16_t{0x1234}), "\x12\x34");
}

TEST(Serializer, JsonWritesCompactUtf8) {
  EXPECT_EQ(bytes_of(json_serializer{}, point{1, -2}), R"({"x":1,"y":-2})");
  EXPECT_EQ(bytes_of(json_serializer{}, nlohmann::json{{"name", "zoë"}}), "{\"name\":\"zoë\"}");
  EXPECT_EQ(bytes_of(json_serializer{2}, nlohmann::json::array({1})), "[\n  1\n]");
}

TEST(Serializer, JsonFailuresAreErrorsNotExceptions) {
  std::string out;
  auto bad_utf8 = json_serializer{}.serialize("t", nlohmann::json(std::string("\xC3\x28")), out);
  ASSERT_FALSE(bad_utf8.ok());
  EXPECT_EQ(bad_utf8.error().code(), client_errc::serialization_failed);
  EXPECT_NE(bad_utf8.error().detail().find("UTF-8"), std::string::npos) << bad_utf8.error().detail();

  auto thrown = json_serializer{}.serialize("t", explodes{}, out);
  ASSERT_FALSE(thrown.ok());
  EXPECT_EQ(thrown.error().code(), client_errc::serialization_failed);
  EXPECT_NE(thrown.error().detail().find("cannot convert explodes"), std::string::npos);
}

// A producer that can never deliver: unreachable bootstrap, short timeouts.
std::unique_ptr<producer> unreachable_producer() {
  auto p = producer::create({{"bootstrap.servers", "127.0.0.1:1"},
                             {"linger.ms", "0"},
                             {"request.timeout.ms", "200"},
                             {"delivery.timeout.ms", "300"},
                             {"max.block.ms", "500"}});
  EXPECT_TRUE(p.ok()) << p.error().message();
  return p.ok() ? std::move(*p) : nullptr;
}

TEST(TypedProducer, SerializeBuildsTheUntypedRecord) {
  auto p = unreachable_producer();
  ASSERT_NE(p, nullptr);
  typed_producer<std::string, point, string_serializer, json_serializer> tp(*p);
  const std::string key = "k1";
  const point value{3, 4};
  const std::array<header, 1> hs = {header{"h", bytes_view("v")}};
  typed_record<std::string, point> r;
  r.topic = "t";
  r.key = &key;
  r.value = &value;
  r.partition = 2;
  r.headers = hs;
  r.timestamp_ms = 42;
  std::string kb, vb;
  auto raw = tp.serialize(r, kb, vb);
  ASSERT_TRUE(raw.ok()) << raw.error().message();
  EXPECT_EQ(raw->topic, "t");
  EXPECT_EQ(raw->key, bytes_view("k1"));
  EXPECT_EQ(raw->value, bytes_view(R"({"x":3,"y":4})"));
  EXPECT_EQ(raw->partition, 2);
  EXPECT_EQ(raw->headers.size(), 1u);
  EXPECT_EQ(raw->timestamp_ms, 42);

  r.key = nullptr;
  r.value = nullptr;
  auto nulls = tp.serialize(r, kb, vb);
  ASSERT_TRUE(nulls.ok());
  EXPECT_FALSE(nulls->key.has_value());
  EXPECT_FALSE(nulls->value.has_value());
}

TEST(TypedProducer, FailedValueSerializerCompletesTheCallbackOnceWithSerializationFailed) {
  auto p = unreachable_producer();
  ASSERT_NE(p, nullptr);
  typed_producer<std::string, int, string_serializer, non_negative_serializer> tp(*p);
  std::promise<delivery_report> done;
  std::atomic<int> calls{0};
  const auto caller = std::this_thread::get_id();
  std::atomic<bool> ran_inline{false};
  tp.async_send("t", std::string("k"), -5, [&](delivery_report rep) {
    if (std::this_thread::get_id() == caller) ran_inline = true;
    if (calls.fetch_add(1) == 0) done.set_value(std::move(rep));
  });
  auto fut = done.get_future();
  ASSERT_EQ(fut.wait_for(5s), std::future_status::ready);
  auto rep = fut.get();
  EXPECT_EQ(rep.error.code(), client_errc::serialization_failed);
  EXPECT_NE(rep.error.detail().find("value serializer"), std::string::npos) << rep.error.detail();
  EXPECT_NE(rep.error.detail().find("negative: -5"), std::string::npos) << rep.error.detail();
  EXPECT_EQ(rep.status, persistence::not_persisted);
  EXPECT_FALSE(ran_inline.load()) << "the failure completion must not run inside async_send";
  ASSERT_TRUE(p->close(2s).ok());
  EXPECT_EQ(calls.load(), 1);
}

TEST(TypedProducer, ThrowingKeySerializerFailsTheFutureWithoutThrowing) {
  auto p = unreachable_producer();
  ASSERT_NE(p, nullptr);
  typed_producer<std::string, std::string, throwing_serializer, string_serializer> tp(*p);
  auto fut = tp.async_send("t", std::string("k"), std::string("v"), asio::use_future);
  ASSERT_EQ(fut.wait_for(5s), std::future_status::ready);
  auto rep = fut.get();
  EXPECT_EQ(rep.error.code(), client_errc::serialization_failed);
  EXPECT_NE(rep.error.detail().find("key serializer threw: too long for the schema"), std::string::npos)
      << rep.error.detail();
}

TEST(TypedProducer, SendAndTrySendReturnTheSerializationError) {
  auto p = unreachable_producer();
  ASSERT_NE(p, nullptr);
  typed_producer<std::string, nlohmann::json, string_serializer, json_serializer> tp(*p);
  const nlohmann::json bad = std::string("\xFF");
  auto s = tp.send("t", "k", bad);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), client_errc::serialization_failed);
  typed_record<std::string, nlohmann::json> r;
  r.topic = "t";
  r.value = &bad;
  bool called = false;
  auto t = tp.try_send(r, [&](delivery_report) { called = true; });
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().code(), client_errc::serialization_failed);
  ASSERT_TRUE(p->close(2s).ok());
  EXPECT_FALSE(called) << "try_send must not call the callback when it fails";
}

TEST(TypedProducer, AwaitableGetsTheFailureOnItsOwnExecutor) {
  auto p = unreachable_producer();
  ASSERT_NE(p, nullptr);
  asio::io_context io;
  std::optional<delivery_report> got;
  std::thread::id ran_on;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        const explodes boom;
        typed_producer<std::string, explodes, string_serializer, json_serializer> tp(*p);
        got = co_await tp.async_send("t", std::string("k"), boom, asio::use_awaitable);
        ran_on = std::this_thread::get_id();
      },
      asio::detached);
  io.run_for(5s);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->error.code(), client_errc::serialization_failed);
  EXPECT_NE(got->error.detail().find("cannot convert explodes"), std::string::npos);
  EXPECT_EQ(ran_on, std::this_thread::get_id());
}

TEST(TypedProducer, SerializedRecordsReachTheProducerAndCompleteOnce) {
  // Serialization succeeds; the unreachable cluster then fails the record
  // after delivery.timeout.ms, reporting the serialized sizes.
  auto owned = unreachable_producer();
  ASSERT_NE(owned, nullptr);
  typed_producer<std::int32_t, point, integer_serializer, json_serializer> tp(std::move(owned));
  const std::int32_t key = 7;
  const point value{1, 2};
  auto fut = tp.async_send("t", key, value, asio::use_future);
  ASSERT_EQ(fut.wait_for(10s), std::future_status::ready);
  auto rep = fut.get();
  EXPECT_FALSE(rep.ok());
  EXPECT_NE(rep.error.code(), client_errc::serialization_failed) << rep.error.message();
  EXPECT_EQ(rep.metadata.serialized_key_size, 4);
  EXPECT_EQ(rep.metadata.serialized_value_size, static_cast<std::int32_t>(std::string(R"({"x":1,"y":2})").size()));
  EXPECT_TRUE(tp.untyped().close(2s).ok());
}

TEST(TypedProducer, AwaitableSerializesWhenTheOperationStarts) {
  // use_awaitable starts the operation only at co_await; the key and value
  // temporaries live until then, and the serialized bytes must reach the
  // producer intact (sizes reported back after the delivery timeout).
  auto p = unreachable_producer();
  ASSERT_NE(p, nullptr);
  typed_producer<std::string, point, string_serializer, json_serializer> tp(*p);
  asio::io_context io;
  std::optional<delivery_report> got;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        got = co_await tp.async_send("t", std::string(40, 'k'), point{12, 345}, asio::use_awaitable);
      },
      asio::detached);
  io.run_for(10s);
  ASSERT_TRUE(got.has_value());
  EXPECT_NE(got->error.code(), client_errc::serialization_failed) << got->error.message();
  EXPECT_EQ(got->metadata.serialized_key_size, 40);
  EXPECT_EQ(got->metadata.serialized_value_size, static_cast<std::int32_t>(std::string(R"({"x":12,"y":345})").size()));
}

}  // namespace
}  // namespace kprod
