// kprod/error.h - error codes and the error value carried by results and
// delivery reports.
//
// Two families of codes plug into std::error_code:
//  * kafka_errc (generated from Kafka's error table, kprod/kafka_errc.h):
//    errors a broker returned, with Kafka's retriable flag;
//  * client_errc: errors raised inside kprod.
#pragma once

#include <cstdint>
#include <string>
#include <system_error>
#include <utility>

#include "kprod/kafka_errc.h"

namespace kprod {

enum class client_errc : int {
  ok = 0,
  invalid_config,         // a configuration key or value is invalid
  invalid_argument,       // bad input to an API call
  queue_full,             // buffer.memory exhausted and max.block.ms elapsed / non-blocking
  timed_out,              // an operation's deadline passed
  delivery_timeout,       // delivery.timeout.ms elapsed before acknowledgement
  producer_closed,        // the producer was closed before the record completed
  fenced,                 // another producer with the same id took over (fatal)
  unsupported_version,    // no common protocol version with the broker
  malformed_response,     // a broker's bytes could not be decoded
  connection_lost,        // the connection closed with the request outstanding
  would_deadlock,         // flush/close called from a completion handler
  record_too_large,       // one record exceeds max.request.size or buffer.memory
  serialization_failed,   // a key/value serializer failed
  unknown_topic,          // the topic does not exist (after waiting)
  not_in_transaction,     // a transactional call in the wrong state
  illegal_state,          // a call that is not legal in the current state
  fatal,                  // the producer hit an unrecoverable error
  out_of_range,           // a value does not fit the wire format
  compression_failed,     // a codec failed to compress or decompress
  corrupt_batch,          // a record batch failed its checks (CRC, lengths)
};

const std::error_category& client_category() noexcept;

inline std::error_code make_error_code(client_errc e) noexcept {
  return {static_cast<int>(e), client_category()};
}

// What a failed record's producer knows about whether the broker kept it.
enum class persistence : std::uint8_t {
  not_persisted,       // never sent, or the broker definitely rejected it
  possibly_persisted,  // sent, but the outcome is unknown (timeout, lost connection)
  persisted,           // acknowledged by the broker
};

// An error: a code plus an optional detail message (a broker's error
// message, the config key that was wrong, ...).
class error {
 public:
  error() = default;
  error(std::error_code code, std::string detail = {})  // NOLINT: implicit by design
      : code_(code), detail_(std::move(detail)) {}
  template <typename E, typename = std::enable_if_t<std::is_error_code_enum_v<E>>>
  error(E e, std::string detail = {})  // NOLINT
      : code_(make_error_code(e)), detail_(std::move(detail)) {}

  const std::error_code& code() const noexcept { return code_; }
  const std::string& detail() const noexcept { return detail_; }
  explicit operator bool() const noexcept { return static_cast<bool>(code_); }

  // "<category message>: <detail>"
  std::string message() const;

  // True for broker errors Kafka marks retriable, and for local transient
  // conditions (connection lost, request timeout).
  bool is_retriable() const noexcept;

 private:
  std::error_code code_;
  std::string detail_;
};

}  // namespace kprod

template <>
struct std::is_error_code_enum<kprod::client_errc> : std::true_type {};
