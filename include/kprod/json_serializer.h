// kprod/json_serializer.h - JSON values via nlohmann/json (header-only,
// Debian nlohmann-json3-dev). Kept apart from kprod/serializer.h so that only
// users of JSON include <nlohmann/json.hpp>.
//
//   struct order { std::string id; int qty; };
//   NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(order, id, qty)
//   kprod::typed_producer<std::string, order, kprod::string_serializer,
//                         kprod::json_serializer> orders(*p);
#pragma once

#include <concepts>
#include <exception>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "kprod/error.h"
#include "kprod/result.h"

namespace kprod {

// Any T nlohmann::json can be built from (a to_json overload, or a json
// itself), written compactly as UTF-8. Conversion failures (a throwing
// to_json, a string that is not valid UTF-8) become serialization_failed.
struct json_serializer {
  int indent = -1;  // -1: compact; >= 0: pretty-printed with that many spaces

  template <typename T>
    requires std::constructible_from<nlohmann::json, const T&>
  result<void> serialize(std::string_view /*topic*/, const T& value, std::string& out) const {
    try {
      const nlohmann::json j(value);
      out += j.dump(indent, ' ', /*ensure_ascii=*/false, nlohmann::json::error_handler_t::strict);
      return {};
    } catch (const std::exception& e) {
      return error(client_errc::serialization_failed, std::string("JSON: ") + e.what());
    }
  }
};

}  // namespace kprod
