// PLACEHOLDER until codegen/kafka_codegen.py generates this file from errors.tsv.
#include "kprod/kafka_errc.h"
#include <string>
namespace kprod {
namespace {
class kafka_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "kafka"; }
  std::string message(int c) const override { return std::string(error_name(static_cast<kafka_errc>(c))); }
};
}  // namespace
const std::error_category& kafka_category() noexcept { static kafka_category_impl c; return c; }
bool is_retriable(kafka_errc e) noexcept { return e == kafka_errc::not_leader_or_follower; }
std::string_view error_name(kafka_errc e) noexcept {
  switch (e) {
    case kafka_errc::none: return "NONE";
    case kafka_errc::not_leader_or_follower: return "NOT_LEADER_OR_FOLLOWER";
    default: return "UNKNOWN_SERVER_ERROR";
  }
}
}  // namespace kprod
