#include "producer/record_slot.h"

#include <cstring>
#include <new>

namespace kprod::producer_detail {
namespace {

unsigned char* allocate_outside(std::size_t bytes) {
  if (bytes < mapped_allocation_threshold) return static_cast<unsigned char*>(::operator new(bytes));
  return static_cast<unsigned char*>(allocate_mapped(bytes));
}

void free_outside(unsigned char* p, std::size_t bytes) noexcept {
  if (!p) return;
  if (bytes < mapped_allocation_threshold) {
    ::operator delete(p);
  } else {
    deallocate_mapped(p, bytes);
  }
}

// Copies the header and moves the handler (handlers need not be trivially
// relocatable).
void relocate(slot_header& from, unsigned char* to) noexcept {
  auto* h = reinterpret_cast<slot_header*>(to);
  std::memcpy(static_cast<void*>(h), &from, sizeof(slot_header));
  if (from.handler_ops) detail::completion::move_parked(from.handler_ops, h->handler(), from.handler());
  from.handler_ops = nullptr;
}

}  // namespace

unsigned char* slot_list::allocate(std::size_t bytes) {
  if (arena_ != nullptr) {
    if (void* p = arena_->allocate(bytes)) return static_cast<unsigned char*>(p);
    // A mapping's fresh pages replace free ones the arena holds resident
    // (storage_arena::yield_resident).
    if (bytes >= mapped_allocation_threshold) arena_->yield_resident(bytes);
  }
  return allocate_outside(bytes);
}

void slot_list::deallocate(unsigned char* p, std::size_t bytes) noexcept {
  if (p != nullptr && arena_ != nullptr && arena_->owns(p)) {
    arena_->deallocate(p, bytes);
  } else {
    free_outside(p, bytes);
  }
}

void slot_list::reserve_bytes(std::size_t n) {
  if (n <= cap_) return;
  if (in_arena() && arena_->block_bytes(cap_) >= n) {
    cap_ = n;  // the block holds it already (blocks are powers of two)
    return;
  }
  if (trivially_relocatable_ && data_ != nullptr) {
    if (cap_ >= mapped_allocation_threshold && !in_arena()) {
      // Mapped before and after: the pages move, nothing is copied.
      if (arena_ != nullptr) arena_->yield_resident(n - cap_);
      data_ = static_cast<unsigned char*>(reallocate_mapped(data_, cap_, n));
    } else {
      unsigned char* fresh = allocate(n);
      std::memcpy(fresh, data_, used_);
      deallocate(data_, cap_);
      data_ = fresh;
    }
    cap_ = n;
    return;
  }
  unsigned char* fresh = allocate(n);
  for (std::size_t at = 0; at < used_;) {
    auto& h = *reinterpret_cast<slot_header*>(data_ + at);
    const std::size_t len = h.entry_bytes;
    relocate(h, fresh + at);
    at += len;
  }
  deallocate(data_, cap_);
  data_ = fresh;
  cap_ = n;
}

void slot_list::remap_bytes(std::size_t n) {
  if (n == cap_) return;
  if (arena_ != nullptr && n > cap_) arena_->yield_resident(n - cap_);
  data_ = static_cast<unsigned char*>(reallocate_mapped(data_, cap_, n));
  cap_ = n;
}

void slot_list::move_range_to(slot_list& dst, std::int32_t from, std::int32_t to) {
  for (std::size_t at = 0; at < used_;) {
    auto& h = *reinterpret_cast<slot_header*>(data_ + at);
    const std::size_t len = h.entry_bytes;
    at += len;
    if (!h.handler_ops || h.offset_delta < from || h.offset_delta >= to) continue;
    if (dst.cap_ - dst.used_ < len) dst.reserve_bytes(std::max(2 * dst.cap_, dst.used_ + len));
    unsigned char* where = dst.data_ + dst.used_;
    if (!detail::completion::parked_is_trivially_relocatable(h.handler_ops)) dst.trivially_relocatable_ = false;
    relocate(h, where);  // leaves h empty (no handler): skipped from now on
    reinterpret_cast<slot_header*>(where)->offset_delta -= from;
    dst.used_ += len;
    ++dst.count_;
    --count_;
  }
}

void slot_list::clear() noexcept {
  for_each([](slot_header& h) {
    if (h.handler_ops) detail::completion::destroy_parked(h.handler_ops, h.handler());
    h.handler_ops = nullptr;
  });
  used_ = 0;
  count_ = 0;
  trivially_relocatable_ = true;
}

void slot_list::release() noexcept {
  clear();
  deallocate(data_, cap_);
  data_ = nullptr;
  cap_ = 0;
}

}  // namespace kprod::producer_detail
