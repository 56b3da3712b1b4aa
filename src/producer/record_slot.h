// slot_list - what a batch keeps per record sent with a handler: the
// handler, and what its delivery report needs besides the batch's result.
//
// Entries are packed: a 32-byte header, then the handler in exactly the
// bytes it needs (detail::completion parking). A callback that captures one
// pointer costs 40 bytes per record; fixed slots with room for any inline
// handler cost 64-80, about as much as a 100-byte record's wire bytes, and
// these bytes count in buffer.memory and in the producer's memory.
#pragma once

#include <cassert>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "codec/prefetch.h"
#include "kprod/detail/completion.h"
#include "protocol/storage_arena.h"

namespace kprod::producer_detail {

// Allocates large arrays as their own anonymous mappings, as batch_buffer
// does for batch bytes and for the same reason (record_batch.h): a batch's
// slots are allocated by the sending thread and freed by the I/O thread,
// and through malloc they would settle in one glibc arena per sending thread.
void* allocate_mapped(std::size_t bytes);
void deallocate_mapped(void* p, std::size_t bytes) noexcept;
// Grows a mapping from allocate_mapped (mremap: its pages move, nothing is
// copied). Throws std::bad_alloc.
void* reallocate_mapped(void* p, std::size_t old_bytes, std::size_t new_bytes);
inline constexpr std::size_t mapped_allocation_threshold = 128 * 1024;

// One record's entry, as the delivery loop sees it.
struct slot_header {
  const void* handler_ops;     // detail::completion parking; nullptr once invoked
  std::int64_t timestamp_ms;
  std::int32_t offset_delta;   // the record's offset is the batch's base offset + this
  std::int32_t key_size;
  std::int32_t value_size;
  std::uint32_t entry_bytes;   // header + handler storage
  void* handler() noexcept { return this + 1; }
};
static_assert(sizeof(slot_header) == 32 && alignof(slot_header) <= detail::completion::parked_align * 2);

class slot_list {
 public:
  slot_list() = default;
  // Storage comes from `arena` while it has a block (as batch_buffer's).
  explicit slot_list(protocol::storage_arena* arena) noexcept : arena_(arena) {}
  slot_list(slot_list&& o) noexcept { steal(o); }
  slot_list& operator=(slot_list&& o) noexcept {
    if (this != &o) {
      release();
      steal(o);
    }
    return *this;
  }
  slot_list(const slot_list&) = delete;
  slot_list& operator=(const slot_list&) = delete;
  ~slot_list() { release(); }

  // Bytes an entry for this handler takes.
  static std::size_t entry_bytes(const detail::completion& done) noexcept {
    return sizeof(slot_header) + done.parked_size();
  }

  std::size_t size() const noexcept { return count_; }
  bool empty() const noexcept { return count_ == 0; }
  std::size_t bytes() const noexcept { return used_; }
  std::size_t capacity_bytes() const noexcept { return cap_; }
  bool in_arena() const noexcept { return data_ != nullptr && arena_ != nullptr && arena_->owns(data_); }

  // Grows the storage to at least n bytes (moving the handlers).
  void reserve_bytes(std::size_t n);
  // An empty, mapped slot list (capacity at least
  // mapped_allocation_threshold, not an arena block) gets a capacity of
  // exactly n >= mapped_allocation_threshold by mremap, keeping its pages up
  // to the smaller size (as batch_buffer::remap).
  void remap_bytes(std::size_t n);
  // Appends an entry, growing the storage if needed (by doubling); `done`
  // becomes empty.
  void push(detail::completion&& done, std::int64_t timestamp_ms, std::int32_t offset_delta, std::int32_t key_size,
            std::int32_t value_size) {
    const std::size_t need = entry_bytes(done);
    if (cap_ - used_ < need) reserve_bytes(std::max(2 * cap_, used_ + need));
    auto* h = reinterpret_cast<slot_header*>(data_ + used_);
    h->timestamp_ms = timestamp_ms;
    h->offset_delta = offset_delta;
    h->key_size = key_size;
    h->value_size = value_size;
    h->entry_bytes = static_cast<std::uint32_t>(need);
    h->handler_ops = done.park(h->handler());
    if (h->handler_ops && !detail::completion::parked_is_trivially_relocatable(h->handler_ops)) {
      trivially_relocatable_ = false;
    }
    used_ += need;
    ++count_;
  }
  // Prefetching, as record_batch_builder does for the batch's bytes (and for
  // the same reason): the first lines, then those that come within
  // prefetch_distance of the end after a push from `bytes_before`.
  static constexpr std::size_t prefetch_distance = 256;
  void prefetch_start() const noexcept { prefetch_lines(used_, used_ + prefetch_distance); }
  void prefetch_after_push(std::size_t bytes_before) const noexcept {
    prefetch_lines(bytes_before + prefetch_distance + 1, used_ + prefetch_distance + 1);
  }

  // Calls f(slot_header&) for each entry in order (an entry moved out by
  // move_range_to has no handler).
  template <typename F>
  void for_each(F&& f) {
    for (std::size_t at = 0; at < used_;) {
      auto* h = reinterpret_cast<slot_header*>(data_ + at);
      at += h->entry_bytes;
      f(*h);
    }
  }
  // Invokes an entry's handler once (later calls do nothing).
  static void invoke(slot_header& h, delivery_report&& r) {
    const void* ops = h.handler_ops;
    if (!ops) return;
    h.handler_ops = nullptr;
    detail::completion::invoke_parked(ops, h.handler(), std::move(r));
  }
  // Moves the entries with offset_delta in [from, to) to the end of `dst`,
  // their deltas reduced by `from` (splitting a batch into pieces). Entries
  // are in offset order. The moved ones stay here as empty entries (no
  // handler; size() no longer counts them) until clear().
  void move_range_to(slot_list& dst, std::int32_t from, std::int32_t to);

  // Destroys every handler not invoked; keeps the storage.
  void clear() noexcept;
  // Empties the list without visiting its entries, for a caller that has
  // just invoked every one of them (for_each + invoke): clear() would walk
  // the whole list again, a second pass over ~32 bytes per record.
  void forget_invoked() noexcept {
#ifndef NDEBUG
    for_each([](const slot_header& h) { assert(h.handler_ops == nullptr); });
#endif
    used_ = 0;
    count_ = 0;
    trivially_relocatable_ = true;
  }

 private:
  void release() noexcept;
  unsigned char* allocate(std::size_t bytes);
  void deallocate(unsigned char* p, std::size_t bytes) noexcept;
  void prefetch_lines(std::size_t from, std::size_t to) const noexcept {
    const auto base = reinterpret_cast<std::uintptr_t>(data_);
    const std::uintptr_t end = base + std::min(cap_, to);
    for (std::uintptr_t line = (base + from) & ~std::uintptr_t{63}; line < end; line += 64) {
      codec::prefetch_for_write(reinterpret_cast<const void*>(line));
    }
  }
  void steal(slot_list& o) noexcept {
    data_ = std::exchange(o.data_, nullptr);
    used_ = std::exchange(o.used_, 0);
    cap_ = std::exchange(o.cap_, 0);
    count_ = std::exchange(o.count_, 0);
    trivially_relocatable_ = std::exchange(o.trivially_relocatable_, true);
    arena_ = o.arena_;
  }

  unsigned char* data_ = nullptr;
  std::size_t used_ = 0;
  std::size_t cap_ = 0;
  std::size_t count_ = 0;
  // Every handler parked here may be moved by copying bytes: then growing
  // copies (or, for a mapping, mremaps) the storage as a whole instead of
  // moving handler by handler (the first batch of a partition grows its
  // slots from 256 bytes by doubling: at 600 partitions that relocated a
  // quarter of all records once, each fresh page faulting).
  bool trivially_relocatable_ = true;
  protocol::storage_arena* arena_ = nullptr;
};

}  // namespace kprod::producer_detail
