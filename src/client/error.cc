// error.cc - the client error category and kprod::error helpers.
#include "kprod/error.h"

#include <string>

namespace kprod {
namespace {

class client_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "kprod"; }
  std::string message(int c) const override {
    switch (static_cast<client_errc>(c)) {
      case client_errc::ok: return "success";
      case client_errc::invalid_config: return "invalid configuration";
      case client_errc::invalid_argument: return "invalid argument";
      case client_errc::queue_full: return "producer buffer is full (buffer.memory)";
      case client_errc::timed_out: return "timed out";
      case client_errc::delivery_timeout: return "delivery timed out (delivery.timeout.ms)";
      case client_errc::producer_closed: return "producer closed";
      case client_errc::fenced: return "producer fenced by a newer instance";
      case client_errc::unsupported_version: return "no protocol version in common with the broker";
      case client_errc::malformed_response: return "malformed response from broker";
      case client_errc::connection_lost: return "connection lost with the request outstanding";
      case client_errc::would_deadlock: return "call would deadlock (made from a completion handler)";
      case client_errc::record_too_large: return "record too large";
      case client_errc::serialization_failed: return "serialization failed";
      case client_errc::unknown_topic: return "unknown topic or partition";
      case client_errc::not_in_transaction: return "no transaction in progress";
      case client_errc::illegal_state: return "illegal state for this call";
      case client_errc::fatal: return "producer is in a fatal error state";
      case client_errc::out_of_range: return "value out of range for the wire format";
      case client_errc::compression_failed: return "compression failed";
      case client_errc::corrupt_batch: return "corrupt record batch";
    }
    return "unknown kprod error";
  }
};

}  // namespace

const std::error_category& client_category() noexcept {
  static client_category_impl c;
  return c;
}

std::string error::message() const {
  if (!code_) return "success";
  std::string m = code_.message();
  if (!detail_.empty()) {
    m += ": ";
    m += detail_;
  }
  return m;
}

bool error::is_retriable() const noexcept {
  if (code_.category() == kafka_category()) return kprod::is_retriable(static_cast<kafka_errc>(code_.value()));
  if (code_.category() == client_category()) {
    auto c = static_cast<client_errc>(code_.value());
    return c == client_errc::connection_lost || c == client_errc::timed_out;
  }
  return false;
}

}  // namespace kprod
