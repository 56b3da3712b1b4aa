// kprod/typed_producer.h - a producer of typed keys and values.
//
//   auto p = kprod::producer::create(cfg);
//   kprod::typed_producer<std::string, order, kprod::string_serializer,
//                         kprod::json_serializer> orders(*p);      // or std::move(*p): owning
//   orders.async_send("orders", o.id, o, [](kprod::delivery_report r) { ... });
//   auto rep = co_await orders.async_send("orders", o.id, o, asio::use_awaitable);
//
// Keys and values are serialized inside the send call (the producer copies
// the bytes before returning), then handed to producer::async_send. A
// serializer that fails or throws never escapes as an exception: the record's
// one completion gets client_errc::serialization_failed with the serializer's
// message, and nothing is sent. That failure completion is posted to the
// handler's associated executor (asio::system_executor for plain callbacks
// and asio::use_future), never run inside the send call.
#pragma once

#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>

#include "kprod/producer.h"
#include "kprod/record.h"
#include "kprod/serializer.h"

namespace kprod {

// One typed record. Views and pointers only, valid for the send call (or,
// with a deferred token such as asio::use_awaitable, until the operation has
// been started by co_await).
template <typename K, typename V>
struct typed_record {
  std::string_view topic;
  const K* key = nullptr;    // nullptr = null key
  const V* value = nullptr;  // nullptr = null value (a tombstone)
  std::optional<std::int32_t> partition;  // nullopt = the partitioner decides
  std::span<const header> headers;
  std::optional<std::int64_t> timestamp_ms;  // nullopt = now
};

template <typename K, typename V, typename KeySer = default_serializer_t<K>,
          typename ValueSer = default_serializer_t<V>>
  requires serializer<KeySer, K> && serializer<ValueSer, V>
class typed_producer {
 public:
  using key_type = K;
  using value_type = V;
  using record_type = typed_record<K, V>;

  // Borrows `p`, which must outlive this object.
  explicit typed_producer(producer& p, KeySer key_ser = {}, ValueSer value_ser = {})
      : producer_(&p), key_ser_(std::move(key_ser)), value_ser_(std::move(value_ser)) {}
  // Owns `p` (closed and destroyed with this object). p must not be null.
  explicit typed_producer(std::unique_ptr<producer> p, KeySer key_ser = {}, ValueSer value_ser = {})
      : owned_(std::move(p)), producer_(owned_.get()), key_ser_(std::move(key_ser)), value_ser_(std::move(value_ser)) {}

  // Completion signature void(delivery_report), as producer::async_send.
  template <typename CompletionToken>
  auto async_send(const record_type& r, CompletionToken&& token) {
    return asio::async_initiate<CompletionToken, void(delivery_report)>(
        [this](auto handler, record_type rec) {
          std::string key_buf;
          std::string value_buf;
          auto raw = serialize(rec, key_buf, value_buf);
          if (!raw.ok()) {
            fail(std::move(handler), raw.error());
            return;
          }
          producer_->async_send(*raw, std::move(handler));
        },
        token, r);
  }

  template <typename CompletionToken>
  auto async_send(std::string_view topic, const K& key, const V& value, CompletionToken&& token) {
    record_type r;
    r.topic = topic;
    r.key = &key;
    r.value = &value;
    return async_send(r, std::forward<CompletionToken>(token));
  }

  // Fire and forget, as producer::send; serialization errors are returned.
  result<void> send(const record_type& r) {
    std::string key_buf;
    std::string value_buf;
    auto raw = serialize(r, key_buf, value_buf);
    if (!raw.ok()) return raw.error();
    return producer_->send(*raw);
  }
  result<void> send(std::string_view topic, const K& key, const V& value) {
    record_type r;
    r.topic = topic;
    r.key = &key;
    r.value = &value;
    return send(r);
  }

  // Never blocks, as producer::try_send; on failure (serialization
  // included) `callback` is not called.
  template <typename Callback>
  result<void> try_send(const record_type& r, Callback&& callback) {
    std::string key_buf;
    std::string value_buf;
    auto raw = serialize(r, key_buf, value_buf);
    if (!raw.ok()) return raw.error();
    return producer_->try_send(*raw, std::forward<Callback>(callback));
  }

  // The serialized form of r, viewing key_buf / value_buf (exposed for tests
  // and for callers that want to inspect bytes before sending).
  result<record> serialize(const record_type& r, std::string& key_buf, std::string& value_buf) const {
    record raw;
    raw.topic = r.topic;
    raw.partition = r.partition;
    raw.headers = r.headers;
    raw.timestamp_ms = r.timestamp_ms;
    if (r.key != nullptr) {
      auto k = run(key_ser_, r.topic, *r.key, key_buf, "key");
      if (!k.ok()) return k.error();
      raw.key = bytes_view(key_buf);
    }
    if (r.value != nullptr) {
      auto v = run(value_ser_, r.topic, *r.value, value_buf, "value");
      if (!v.ok()) return v.error();
      raw.value = bytes_view(value_buf);
    }
    return raw;
  }

  producer& untyped() noexcept { return *producer_; }
  const KeySer& key_serializer() const noexcept { return key_ser_; }
  const ValueSer& value_serializer() const noexcept { return value_ser_; }

 private:
  template <typename S, typename T>
  static result<void> run(const S& ser, std::string_view topic, const T& v, std::string& out, const char* what) {
    try {
      auto r = ser.serialize(topic, v, out);
      if (r.ok()) return r;
      const auto& e = r.error();
      const std::string why = e.code() == client_errc::serialization_failed && !e.detail().empty() ? e.detail()
                                                                                                  : e.message();
      return error(client_errc::serialization_failed, std::string(what) + " serializer: " + why);
    } catch (const std::exception& ex) {
      return error(client_errc::serialization_failed, std::string(what) + " serializer threw: " + ex.what());
    } catch (...) {
      return error(client_errc::serialization_failed, std::string(what) + " serializer threw a non-standard exception");
    }
  }

  template <typename Handler>
  static void fail(Handler&& handler, kprod::error e) {
    delivery_report rep;
    rep.error = std::move(e);
    rep.status = persistence::not_persisted;
    auto ex = asio::get_associated_executor(handler);
    asio::post(ex, [h = std::forward<Handler>(handler), rep = std::move(rep)]() mutable { std::move(h)(std::move(rep)); });
  }

  std::unique_ptr<producer> owned_;
  producer* producer_;
  KeySer key_ser_;
  ValueSer value_ser_;
};

}  // namespace kprod
