// kprod/result.h - a small expected-like value-or-error type.
//
// kprod does not throw across its API (std::bad_alloc aside): fallible calls
// return result<T>. When the toolchain reaches C++23 this can become an alias
// of std::expected<T, kprod::error>.
#pragma once

#include <cassert>
#include <utility>
#include <variant>

#include "kprod/error.h"

namespace kprod {

template <typename T>
class [[nodiscard]] result {
 public:
  result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  result(kprod::error err) : v_(std::in_place_index<1>, std::move(err)) {}  // NOLINT
  result(std::error_code ec) : v_(std::in_place_index<1>, kprod::error(ec)) {}  // NOLINT

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const kprod::error& error() const { assert(!ok()); return std::get<1>(v_); }

 private:
  std::variant<T, kprod::error> v_;
};

template <>
class [[nodiscard]] result<void> {
 public:
  result() = default;
  result(kprod::error err) : err_(std::move(err)), ok_(false) {}  // NOLINT
  result(std::error_code ec) : err_(ec), ok_(!ec) {}  // NOLINT

  bool ok() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  const kprod::error& error() const { return err_; }

 private:
  kprod::error err_;
  bool ok_ = true;
};

}  // namespace kprod

// Propagate the error of a result-returning expression.
#define KP_TRY(expr)                                 \
  do {                                               \
    auto kp_try_result_ = (expr);                    \
    if (!kp_try_result_.ok()) return kp_try_result_.error(); \
  } while (0)
