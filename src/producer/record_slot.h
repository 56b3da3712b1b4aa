// record_slot - what a batch keeps per record sent with a handler: the
// handler, and what its delivery report needs besides the batch's result.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <vector>

#include "kprod/detail/completion.h"

namespace kprod::producer_detail {

struct record_slot {
  detail::completion done;
  std::int64_t timestamp_ms;
  std::int32_t offset_delta;  // the record's offset is the batch's base offset + this
  std::int32_t key_size;
  std::int32_t value_size;
};
// Counted in buffer.memory per record sent with a handler: keep it small.
static_assert(sizeof(record_slot) <= 64, "record_slot grew: it costs buffer.memory per record");

// Allocates large arrays as their own anonymous mappings, as batch_buffer
// does for batch bytes and for the same reason (record_batch.h): a batch's
// slots (72 bytes per record: ~40% of a 100-byte record batch) are
// allocated by the sending thread and freed by the I/O thread, and through
// malloc they would settle in one glibc arena per sending thread.
void* allocate_mapped(std::size_t bytes);
void deallocate_mapped(void* p, std::size_t bytes) noexcept;
inline constexpr std::size_t mapped_allocation_threshold = 128 * 1024;

template <typename T>
struct mapped_allocator {
  using value_type = T;
  mapped_allocator() noexcept = default;
  template <typename U>
  mapped_allocator(const mapped_allocator<U>&) noexcept {}
  T* allocate(std::size_t n) {
    const std::size_t bytes = n * sizeof(T);
    if (bytes < mapped_allocation_threshold) return static_cast<T*>(::operator new(bytes));
    return static_cast<T*>(allocate_mapped(bytes));
  }
  void deallocate(T* p, std::size_t n) noexcept {
    const std::size_t bytes = n * sizeof(T);
    if (bytes < mapped_allocation_threshold) {
      ::operator delete(p);
    } else {
      deallocate_mapped(p, bytes);
    }
  }
  template <typename U>
  bool operator==(const mapped_allocator<U>&) const noexcept {
    return true;
  }
};

using slot_vector = std::vector<record_slot, mapped_allocator<record_slot>>;

}  // namespace kprod::producer_detail
