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
  // A handler up to this size is stored without a heap allocation. A batch
  // does not keep completion objects: it parks each handler in just the
  // bytes it needs (slot_list), so this size costs nothing per record.
  static constexpr std::size_t inline_size = 64;
  // Pointer alignment, not max_align_t's 16, so that parked handlers pack
  // tightly. A handler that needs more alignment goes to the heap.
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

  // Parking: for a container that stores many handlers packed, each in just
  // the bytes it needs (the producer keeps one per record of a batch). A
  // parked handler is its ops (an opaque pointer) plus parked_size() bytes
  // of storage aligned to parked_align.
  static constexpr std::size_t parked_align = inline_align;
  // Bytes this handler needs parked (a multiple of parked_align); 0 if empty.
  std::size_t parked_size() const noexcept { return ops_ ? ops_->parked_size : 0; }
  // Moves the handler into `storage` (parked_size() bytes); this becomes
  // empty. Returns the ops to pass to the functions below.
  const void* park(void* storage) noexcept {
    const ops* o = ops_;
    if (o) o->move(storage, buf_);
    ops_ = nullptr;
    return o;
  }
  static void invoke_parked(const void* o, void* storage, delivery_report&& r) {
    static_cast<const ops*>(o)->invoke_and_destroy(storage, std::move(r));
  }
  static void destroy_parked(const void* o, void* storage) noexcept { static_cast<const ops*>(o)->destroy(storage); }
  // Move-constructs the handler at dst from src (destroying src).
  static void move_parked(const void* o, void* dst, void* src) noexcept { static_cast<const ops*>(o)->move(dst, src); }
  static std::size_t parked_size(const void* o) noexcept { return static_cast<const ops*>(o)->parked_size; }
  // Whether a parked handler may be moved by copying its bytes (and the
  // source then forgotten): its move constructor and destructor are trivial,
  // or it is parked on the heap behind a pointer.
  static bool parked_is_trivially_relocatable(const void* o) noexcept {
    return static_cast<const ops*>(o)->trivially_relocatable;
  }

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
    std::size_t parked_size;  // bytes the handler occupies in storage, rounded to inline_align
    bool trivially_relocatable;  // move == copy the bytes, forget the source
  };
  static constexpr std::size_t round_up(std::size_t n) noexcept { return (n + inline_align - 1) / inline_align * inline_align; }
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
    // Exactly what move() does (move-construct, destroy), done by memcpy.
    static constexpr ops table{&invoke_and_destroy, &move, &destroy, round_up(sizeof(D)),
                               std::is_trivially_move_constructible_v<D> && std::is_trivially_destructible_v<D>};
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
    static constexpr ops table{&invoke_and_destroy, &move, &destroy, sizeof(D*), true};
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
