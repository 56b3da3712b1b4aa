#include "protocol/storage_arena.h"

#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <cassert>

namespace kprod::protocol {

namespace {
constexpr std::size_t smallest_block = 256;
// Blocks of the smallest size per range, at most: bounds the bitmaps (the
// smallest level's is 32 KiB) for a large buffer.memory.
constexpr int max_smallest_blocks_log2 = 18;
// The range is capped (a larger buffer.memory places the rest as before).
constexpr std::size_t largest_region = std::size_t{4} << 30;
}  // namespace

storage_arena::storage_arena(std::size_t budget_bytes, std::size_t largest_block) {
  if (budget_bytes == 0) return;
  const std::size_t budget = std::min(budget_bytes, largest_region);
  // Top-level blocks are the largest placeable size, and the range a whole
  // number of them: buffer.memory plus 1/8, so that fragmentation seldom
  // leaves a block unplaceable while the budget has room (at 600
  // partitions, without the eighth: up to ~2% of blocks fell back to
  // malloc). With no largest size, one top block of the budget rounded up.
  std::size_t top = 0, region = 0;
  if (largest_block == 0) {
    top = region = std::max(std::bit_ceil(budget), trim_granule);
  } else {
    top = std::bit_ceil(largest_block);
    const std::size_t want = budget + budget / 8;
    region = std::max(top, (want + top - 1) / top * top);
  }
  const std::size_t min_block =
      std::min(top, std::max(smallest_block, std::bit_ceil(region) >> max_smallest_blocks_log2));
  // MAP_NORESERVE: address space only; a page costs memory once written.
  void* p = mmap(nullptr, region, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return;
  base_ = static_cast<unsigned char*>(p);
  region_ = region;
  min_block_ = min_block;
  min_shift_ = std::countr_zero(min_block);
  max_order_ = std::countr_zero(top) - min_shift_;
  largest_block_ = top;
  levels_.resize(static_cast<std::size_t>(max_order_) + 1);
  for (int o = 0; o <= max_order_; ++o) {
    const std::size_t blocks = region >> (min_shift_ + o);
    const std::size_t words = (blocks + 63) / 64;
    levels_[static_cast<std::size_t>(o)].bits.assign(words, 0);
    levels_[static_cast<std::size_t>(o)].summary.assign((words + 63) / 64, 0);
  }
  touched_.assign(((region + trim_granule - 1) / trim_granule + 63) / 64, 0);
  resident_.assign(touched_.size(), 0);
  for (std::size_t i = 0; i < region / top; ++i) set_free(max_order_, i);
}

storage_arena::~storage_arena() {
  if (base_ != nullptr) munmap(base_, region_);
}

int storage_arena::order_of(std::size_t bytes) const noexcept {
  if (bytes == 0 || bytes > largest_block_) return -1;
  const std::size_t b = std::bit_ceil(std::max(bytes, min_block_));
  return std::countr_zero(b) - min_shift_;
}

std::size_t storage_arena::block_bytes(std::size_t bytes) const noexcept {
  return std::bit_ceil(std::max(bytes, min_block_));
}

void storage_arena::set_free(int order, std::size_t i) noexcept {
  level& l = levels_[static_cast<std::size_t>(order)];
  l.bits[i >> 6] |= std::uint64_t{1} << (i & 63);
  l.summary[i >> 12] |= std::uint64_t{1} << ((i >> 6) & 63);
}

void storage_arena::clear_free(int order, std::size_t i) noexcept {
  level& l = levels_[static_cast<std::size_t>(order)];
  std::uint64_t& w = l.bits[i >> 6];
  w &= ~(std::uint64_t{1} << (i & 63));
  if (w == 0) l.summary[i >> 12] &= ~(std::uint64_t{1} << ((i >> 6) & 63));
}

bool storage_arena::is_free(int order, std::size_t i) const noexcept {
  return (levels_[static_cast<std::size_t>(order)].bits[i >> 6] >> (i & 63)) & 1;
}

std::int64_t storage_arena::take_lowest(int order) noexcept {
  level& l = levels_[static_cast<std::size_t>(order)];
  for (std::size_t s = 0; s < l.summary.size(); ++s) {
    if (l.summary[s] == 0) continue;
    const std::size_t w = s * 64 + static_cast<std::size_t>(std::countr_zero(l.summary[s]));
    const std::size_t i = w * 64 + static_cast<std::size_t>(std::countr_zero(l.bits[w]));
    clear_free(order, i);
    return static_cast<std::int64_t>(i);
  }
  return -1;
}

void storage_arena::mark_touched(std::size_t offset, std::size_t bytes) noexcept {
  for (std::size_t c = offset / trim_granule; c <= (offset + bytes - 1) / trim_granule; ++c) {
    touched_[c >> 6] |= std::uint64_t{1} << (c & 63);
    resident_[c >> 6] |= std::uint64_t{1} << (c & 63);
  }
}

void* storage_arena::allocate(std::size_t bytes) noexcept {
  const int k = order_of(bytes);
  if (k < 0 || base_ == nullptr) return nullptr;
  std::lock_guard lk(mu_);
  // The smallest free block that fits, the lowest of its size; split down.
  for (int j = k; j <= max_order_; ++j) {
    const std::int64_t found = take_lowest(j);
    if (found < 0) continue;
    auto i = static_cast<std::size_t>(found);
    for (; j > k; --j) {
      i <<= 1;
      set_free(j - 1, i + 1);  // the upper half stays free
    }
    const std::size_t size = std::size_t{1} << (min_shift_ + k);
    const std::size_t offset = i << (min_shift_ + k);
    mark_touched(offset, size);
    allocated_ += size;
    return base_ + offset;
  }
  return nullptr;
}

void storage_arena::deallocate(void* p, std::size_t bytes) noexcept {
  const int k = order_of(bytes);
  assert(p == nullptr || (owns(p) && k >= 0));
  if (p == nullptr || k < 0) return;
  const std::size_t size = std::size_t{1} << (min_shift_ + k);
  const auto offset = static_cast<std::size_t>(static_cast<unsigned char*>(p) - base_);
  std::lock_guard lk(mu_);
  assert(!is_free(k, offset >> (min_shift_ + k)) && "double free");
  allocated_ -= size;
  // Used until now: not idle for the next trim (a batch that lived past a
  // trim would otherwise lose its pages at once, and the next batch fault
  // them back in).
  mark_touched(offset, size);
  free_block_locked(k, offset >> (min_shift_ + k));
}

void storage_arena::free_block_locked(int order, std::size_t i) noexcept {
  for (; order < max_order_ && is_free(order, i ^ 1); ++order) {
    clear_free(order, i ^ 1);
    i >>= 1;
  }
  set_free(order, i);
}

std::size_t storage_arena::trim_unused() noexcept {
  if (base_ == nullptr) return 0;
  struct block {
    int order;
    std::size_t index;
  };
  struct busy_run {
    std::size_t first, end;  // granules
  };
  std::size_t given_now = 0;  // under the lock
  std::vector<block> taken;                               // out of the free lists meanwhile
  std::vector<std::pair<std::size_t, std::size_t>> runs;  // granules [first, end) to give back
  std::vector<busy_run> busy;                             // free and resident, but used lately
  {
    std::lock_guard lk(mu_);
    auto resident = [&](std::size_t c) { return ((resident_[c >> 6] >> (c & 63)) & 1) != 0; };
    auto idle = [&](std::size_t c) { return (((resident_[c >> 6] & ~touched_[c >> 6]) >> (c & 63)) & 1) != 0; };
    auto give_back = [&](std::size_t first, std::size_t end) {
      runs.emplace_back(first, end);
      for (std::size_t r = first; r < end; ++r) resident_[r >> 6] &= ~(std::uint64_t{1} << (r & 63));
    };
    // Free blocks are maximal (a free block's buddy is never free), so the
    // large ones are exactly the large free extents.
    for (int o = max_order_; o >= 0; --o) {
      const std::size_t size = std::size_t{1} << (min_shift_ + o);
      if (size < trim_granule) break;
      const level& l = levels_[static_cast<std::size_t>(o)];
      for (std::size_t w = 0; w < l.bits.size(); ++w) {
        for (std::uint64_t bits = l.bits[w]; bits != 0; bits &= bits - 1) {
          const std::size_t index = w * 64 + static_cast<std::size_t>(std::countr_zero(bits));
          // Runs of resident granules: idle ones (neither allocated nor
          // freed since the previous trim) go back; those used lately are
          // candidates past the slack (below).
          const std::size_t first = index * size / trim_granule, end = (index + 1) * size / trim_granule;
          const std::size_t runs_before = runs.size();
          for (std::size_t c = first; c < end;) {
            if (!resident(c)) {
              ++c;
              continue;
            }
            const bool was_idle = idle(c);
            std::size_t run_end = c + 1;
            while (run_end < end && resident(run_end) && idle(run_end) == was_idle) ++run_end;
            if (was_idle) {
              give_back(c, run_end);
            } else {
              busy.push_back({c, run_end});
            }
            c = run_end;
          }
          if (runs.size() != runs_before) {
            clear_free(o, index);  // `bits` is a copy: the scan is unaffected
            taken.push_back({o, index});
          }
        }
      }
    }
    // Free blocks used lately are kept resident for the next batches, but
    // only up to free_resident_slack: past it, the highest go back too.
    // Otherwise pages freed in one phase (the batches of records that
    // waited for metadata, a burst on many partitions) stay resident beside
    // the mappings of the next phase's larger batches (600 partitions, 1 KB
    // records, 8 sending threads: 4-11 MiB free but resident here, peak RSS
    // past buffer.memory + 16 MiB).
    const std::size_t resident_bytes = resident_granule_bytes_locked();
    if (resident_bytes > allocated_ + free_resident_slack()) {
      std::size_t excess = resident_bytes - allocated_ - free_resident_slack();
      std::sort(busy.begin(), busy.end(), [](const busy_run& a, const busy_run& b) { return a.first > b.first; });
      for (const busy_run& r : busy) {
        if (excess == 0) break;
        // The top of the run: what is allocated next comes from the bottom.
        // Given back here, under the lock, with its block left in the free
        // lists: taken out meanwhile (as idle blocks are), its lower part
        // too would be unavailable, and batches allocated meanwhile would
        // touch fresh pages higher up. Rare (only past the slack), and
        // senders wait for the lock only when they start a batch.
        const std::size_t n = std::min(r.end - r.first, (excess + trim_granule - 1) / trim_granule);
        const std::size_t first = r.end - n;
        madvise(base_ + first * trim_granule, n * trim_granule, MADV_DONTNEED);
        for (std::size_t c = first; c < r.end; ++c) resident_[c >> 6] &= ~(std::uint64_t{1} << (c & 63));
        given_now += n * trim_granule;
        excess -= std::min(excess, n * trim_granule);
      }
    }
    std::fill(touched_.begin(), touched_.end(), 0);
  }
  // Outside the lock: senders allocating meanwhile (holding their partition
  // locks) do not wait for the page-table work and its TLB shootdowns; the
  // blocks are out of the free lists until it is done.
  std::size_t given = given_now;
  for (auto [first, end] : runs) {
    madvise(base_ + first * trim_granule, (end - first) * trim_granule, MADV_DONTNEED);
    given += (end - first) * trim_granule;
  }
  if (!taken.empty()) {
    std::lock_guard lk(mu_);
    for (const block& b : taken) free_block_locked(b.order, b.index);
  }
  return given;
}

std::size_t storage_arena::resident_granule_bytes_locked() const noexcept {
  std::size_t n = 0;
  for (std::uint64_t w : resident_) n += static_cast<std::size_t>(std::popcount(w));
  return n * trim_granule;
}

std::size_t storage_arena::free_resident_bytes() const {
  std::lock_guard lk(mu_);
  const std::size_t resident = resident_granule_bytes_locked();
  return resident > allocated_ ? resident - allocated_ : 0;
}

std::size_t storage_arena::yield_resident(std::size_t bytes) noexcept {
  if (base_ == nullptr || bytes == 0) return 0;
  std::lock_guard lk(mu_);
  // Granules holding a block are resident (mark_touched), so resident bytes
  // past the allocated ones are free blocks' pages (or the unused rest of
  // granules shared by small blocks, which is not given back here).
  const std::size_t resident = resident_granule_bytes_locked();
  const std::size_t spare = resident > allocated_ ? resident - allocated_ : 0;
  if (spare <= yield_slack()) return 0;
  const std::size_t want = std::min(bytes, spare - yield_slack());
  std::size_t given = 0;
  // Free blocks of a granule and up, largest sizes first and the highest of
  // each first (what is allocated next comes from the bottom). Given back
  // under the lock with the blocks left in the free lists, as trim_unused()
  // does with blocks used lately: this runs only when a buffer is mapped
  // while many free pages are resident, not per record.
  for (int o = max_order_; o >= 0 && given < want; --o) {
    const std::size_t size = std::size_t{1} << (min_shift_ + o);
    if (size < trim_granule) break;
    const level& l = levels_[static_cast<std::size_t>(o)];
    for (std::size_t w = l.bits.size(); w-- > 0 && given < want;) {
      for (std::uint64_t bits = l.bits[w]; bits != 0 && given < want;) {
        const int top = 63 - std::countl_zero(bits);
        bits &= ~(std::uint64_t{1} << top);
        const std::size_t index = w * 64 + static_cast<std::size_t>(top);
        const std::size_t first = index * size / trim_granule, end = (index + 1) * size / trim_granule;
        for (std::size_t c = end; c-- > first && given < want;) {
          if (((resident_[c >> 6] >> (c & 63)) & 1) == 0) continue;
          // The resident run ending at c, at most as long as still wanted.
          std::size_t lo = c;
          while (lo > first && ((resident_[(lo - 1) >> 6] >> ((lo - 1) & 63)) & 1) != 0 &&
                 (c + 1 - lo) * trim_granule < want - given) {
            --lo;
          }
          madvise(base_ + lo * trim_granule, (c + 1 - lo) * trim_granule, MADV_DONTNEED);
          for (std::size_t r = lo; r <= c; ++r) resident_[r >> 6] &= ~(std::uint64_t{1} << (r & 63));
          given += (c + 1 - lo) * trim_granule;
          c = lo;
        }
      }
    }
  }
  return given;
}

std::size_t storage_arena::allocated_bytes() const {
  std::lock_guard lk(mu_);
  return allocated_;
}

}  // namespace kprod::protocol
