// kprod/detail/completion.h - a move-only, type-erased void(delivery_report)
// handler with inline storage, so a callback or an Asio completion handler
// (promise, coroutine) is stored with each record without a heap allocation
// in the common case.
#pragma once

#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

#include "kprod/record.h"

namespace kprod::detail {

class completion {
 public:
  static constexpr std::size_t inline_size = 32;
  // Pointer alignment, not max_align_t's 16: a batch keeps one completion
  // per record (record_slot), and 16-byte alignment made that slot 96 bytes
  // instead of 80. A handler that needs more alignment goes to the heap.
  static constexpr std::size_t inline_align = alignof(void*);

  completion() noexcept = default;
  completion(const completion&) = delete;
  completion& operator=(const completion&) = delete;
  completion(completion&& o) noexcept { move_from(o); }
  completion& operator=(completion&& o) noexcept {
    if (this != &o) {
      reset();
      move_from(o);
    }
    return *this;
  }
  ~completion() { reset(); }

  template <typename F>
  static completion from(F&& f) {
    using D = std::decay_t<F>;
    completion c;
    if constexpr (sizeof(D) <= inline_size && alignof(D) <= inline_align &&
                  std::is_nothrow_move_constructible_v<D>) {
      ::new (static_cast<void*>(c.buf_)) D(std::forward<F>(f));
      c.ops_ = &inline_ops<D>::table;
    } else {
      *reinterpret_cast<D**>(c.buf_) = new D(std::forward<F>(f));
      c.ops_ = &heap_ops<D>::table;
    }
    return c;
  }

  explicit operator bool() const noexcept { return ops_ != nullptr; }

  // Invokes the handler once and empties this object.
  void operator()(delivery_report&& r) {
    if (!ops_) return;
    const ops* o = ops_;
    ops_ = nullptr;
    o->invoke_and_destroy(buf_, std::move(r));
  }

 private:
  struct ops {
    void (*invoke_and_destroy)(void* storage, delivery_report&& r);
    void (*move)(void* dst, void* src) noexcept;  // move-constructs dst, destroys src
    void (*destroy)(void* storage) noexcept;
  };
  template <typename D>
  struct inline_ops {
    static void invoke_and_destroy(void* s, delivery_report&& r) {
      D* d = static_cast<D*>(s);
      D local(std::move(*d));
      d->~D();
      local(std::move(r));
    }
    static void move(void* dst, void* src) noexcept {
      ::new (dst) D(std::move(*static_cast<D*>(src)));
      static_cast<D*>(src)->~D();
    }
    static void destroy(void* s) noexcept { static_cast<D*>(s)->~D(); }
    static constexpr ops table{&invoke_and_destroy, &move, &destroy};
  };
  template <typename D>
  struct heap_ops {
    static void invoke_and_destroy(void* s, delivery_report&& r) {
      D* d = *static_cast<D**>(s);
      D local(std::move(*d));
      delete d;
      local(std::move(r));
    }
    static void move(void* dst, void* src) noexcept { *static_cast<D**>(dst) = *static_cast<D**>(src); }
    static void destroy(void* s) noexcept { delete *static_cast<D**>(s); }
    static constexpr ops table{&invoke_and_destroy, &move, &destroy};
  };

  void reset() noexcept {
    if (ops_) ops_->destroy(buf_);
    ops_ = nullptr;
  }
  void move_from(completion& o) noexcept {
    ops_ = o.ops_;
    if (ops_) ops_->move(buf_, o.buf_);
    o.ops_ = nullptr;
  }

  alignas(inline_align) unsigned char buf_[inline_size];
  const ops* ops_ = nullptr;
};

}  // namespace kprod::detail
