// storage_arena - one producer's batch storage: a buddy allocator over a
// single reserved address range, sized from buffer.memory.
//
// Why not malloc: batch buffers and slot lists are allocated by sending
// threads and freed by the I/O thread, in sizes from 256 B to 64 KiB (what
// the producer places here; larger ones are mappings, record_batch.h).
// glibc keeps what they free resident in per-thread arenas, fragmented:
// at 600 partitions and a 32 MiB buffer.memory the heap held 37-52 MiB for
// 33.5 MiB in use (peak RSS up to 55 MB, past buffer.memory + 16 MiB).
// Why not a mapping per buffer: every miss of a cache of them cost an mmap,
// page faults and an munmap whose TLB shootdown interrupts the other
// threads (+20-30% CPU per record at 600 partitions).
// Here a block is carved from the range and its pages stay resident for the
// next block: what this storage holds resident is bounded by the range
// whatever the mix of sizes and threads (a request it cannot place - rare
// with the range an eighth above the budget - goes to malloc).
//
// Blocks are powers of two from min_block() up; a request in between gets
// the next power of two. Free blocks are tracked per size in bitmaps (with a
// summary word per 64 words), and the lowest free block of the smallest
// size that fits is used, so what is touched stays packed at the start of
// the range. A freed block merges with its free buddy, as usual.
//
// Thread-safe (one mutex: a block is taken or given per batch, not per
// record). allocate() returning nullptr is normal - the caller then uses
// malloc or a mapping as before.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

namespace kprod::protocol {

class storage_arena {
 public:
  // Reserves address space for about `budget_bytes` of blocks (see the
  // constructor for the exact size); pages become resident only once
  // written. Blocks larger than `largest_block` are never placed (0: no
  // limit). A budget of 0, or a failed reservation, makes an arena that
  // places nothing.
  explicit storage_arena(std::size_t budget_bytes, std::size_t largest_block = 0);
  ~storage_arena();
  storage_arena(const storage_arena&) = delete;
  storage_arena& operator=(const storage_arena&) = delete;

  // A block of at least `bytes` (its size is block_bytes(bytes)), or nullptr
  // when no free block is large enough or `bytes` is 0.
  void* allocate(std::size_t bytes) noexcept;
  // Gives back a block from allocate(bytes) (the same `bytes`).
  void deallocate(void* p, std::size_t bytes) noexcept;
  bool owns(const void* p) const noexcept {
    const auto* c = static_cast<const unsigned char*>(p);
    return c >= base_ && c < base_ + region_;
  }

  // Returns to the OS the pages of free blocks, in trim_granule units that
  // no allocation touched since the previous call and that were not given
  // back already; and, while more than free_resident_slack() of free
  // blocks would stay resident, the highest of those used lately too.
  // Returns the bytes given back.
  std::size_t trim_unused() noexcept;

  // `bytes` of fresh memory are about to be mapped beside the arena (a
  // buffer larger than its blocks): gives back up to as many bytes of free
  // blocks that are still resident, beyond yield_slack(), highest first.
  // Returns the bytes given back. Without it, the pages that small batches
  // left resident here stayed beside the mappings of larger ones until the
  // periodic trim, which keeps an eighth of the range: with 600 partitions
  // and 1 KB records (batches of 16 KiB to 1 MiB) 5-17 MiB of free arena
  // pages sat resident beside the mapped batches at the peak, which was
  // past buffer.memory + 16 MiB (median 48 MiB with one sending thread, 54-71
  // with eight, at 32 MiB); with it about 44. A mapping replaces pages the
  // arena no longer needs, so what batch storage holds resident stays near
  // what the pool has handed out.
  std::size_t yield_resident(std::size_t bytes) noexcept;
  // What yield_resident() leaves resident of the free blocks: a sixteenth of
  // the range, for the small batches that keep coming beside large ones.
  std::size_t yield_slack() const noexcept { return region_ / 16; }
  // Free blocks' bytes that may be resident (in granules touched since they
  // were last given back): what the arena holds for batches to come, which
  // the buffer cache counts against its own bound.
  std::size_t free_resident_bytes() const;

  std::size_t block_bytes(std::size_t bytes) const noexcept;
  std::size_t min_block() const noexcept { return min_block_; }
  std::size_t region_bytes() const noexcept { return region_; }
  std::size_t allocated_bytes() const;  // block sizes, not requests

  static constexpr std::size_t trim_granule = 64 * 1024;
  // How much of the free blocks trim_unused() leaves resident when they
  // were used lately (idle ones always go): an eighth of the range. A
  // sixteenth trimmed even a full arena's steady churn at 600 partitions
  // and 100 B records (~4.4 MiB free of 36), and refaulting those pages
  // cost ~5% CPU per record there.
  std::size_t free_resident_slack() const noexcept { return region_ / 8; }

 private:
  struct level {
    std::vector<std::uint64_t> bits;     // bit i: block i of this size is free
    std::vector<std::uint64_t> summary;  // bit w: bits[w] != 0
  };
  int order_of(std::size_t bytes) const noexcept;  // -1 if it cannot fit
  std::int64_t take_lowest(int order) noexcept;     // -1 if none free
  void set_free(int order, std::size_t i) noexcept;
  void clear_free(int order, std::size_t i) noexcept;
  bool is_free(int order, std::size_t i) const noexcept;
  void free_block_locked(int order, std::size_t i) noexcept;  // merges with free buddies
  void mark_touched(std::size_t offset, std::size_t bytes) noexcept;
  std::size_t resident_granule_bytes_locked() const noexcept;

  unsigned char* base_ = nullptr;
  std::size_t region_ = 0;
  std::size_t min_block_ = 0;
  int min_shift_ = 0;
  int max_order_ = -1;  // the top blocks' order
  std::size_t largest_block_ = 0;
  mutable std::mutex mu_;
  std::vector<level> levels_;
  // Per trim_granule: allocated since the last trim; and possibly resident
  // (allocated since it was last given back).
  std::vector<std::uint64_t> touched_;
  std::vector<std::uint64_t> resident_;
  std::size_t allocated_ = 0;
};

}  // namespace kprod::protocol
