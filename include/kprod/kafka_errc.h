// PLACEHOLDER until codegen/kafka_codegen.py generates this file from errors.tsv.
#pragma once
#include <cstdint>
#include <string_view>
#include <system_error>
namespace kprod {
enum class kafka_errc : std::int16_t {
  unknown_server_error = -1,
  none = 0,
  not_leader_or_follower = 6,
};
const std::error_category& kafka_category() noexcept;
inline std::error_code make_error_code(kafka_errc e) noexcept { return {static_cast<int>(e), kafka_category()}; }
bool is_retriable(kafka_errc e) noexcept;
std::string_view error_name(kafka_errc e) noexcept;
}  // namespace kprod
template <>
struct std::is_error_code_enum<kprod::kafka_errc> : std::true_type {};
