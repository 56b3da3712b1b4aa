#include "protocol/storage_arena.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <random>
#include <thread>
#include <vector>

#include "protocol/record_batch.h"

namespace kprod::protocol {
namespace {

TEST(StorageArena, PlacesBlocksOfPowersOfTwoLowestFirstAndMergesFreedBuddies) {
  storage_arena a(1 << 20);  // 1 MiB
  ASSERT_EQ(a.region_bytes(), std::size_t{1} << 20);
  EXPECT_EQ(a.min_block(), 256u);
  EXPECT_EQ(a.block_bytes(1), 256u);
  EXPECT_EQ(a.block_bytes(1000), 1024u);
  EXPECT_EQ(a.block_bytes(1024), 1024u);

  auto* base = static_cast<unsigned char*>(a.allocate(1024));
  ASSERT_NE(base, nullptr);
  auto* b = static_cast<unsigned char*>(a.allocate(1024));
  auto* c = static_cast<unsigned char*>(a.allocate(300));  // a 512 B block
  EXPECT_EQ(b, base + 1024);
  EXPECT_EQ(c, base + 2048);
  EXPECT_EQ(a.allocated_bytes(), 1024u + 1024u + 512u);
  EXPECT_TRUE(a.owns(c));
  EXPECT_FALSE(a.owns(&a));

  // Freed, the lowest hole is reused first.
  a.deallocate(base, 1024);
  EXPECT_EQ(a.allocate(1000), base);
  // Everything freed merges back into one block: the whole region is
  // placeable again.
  a.deallocate(base, 1000);
  a.deallocate(b, 1024);
  a.deallocate(c, 300);
  EXPECT_EQ(a.allocated_bytes(), 0u);
  void* all = a.allocate(std::size_t{1} << 20);
  EXPECT_EQ(all, base);
  EXPECT_EQ(a.allocate(256), nullptr) << "full";
  a.deallocate(all, std::size_t{1} << 20);
}

TEST(StorageArena, RefusesWhatDoesNotFitOrIsTooLarge) {
  storage_arena a(64 * 1024, /*largest_block=*/16 * 1024);
  // The budget plus an eighth, in whole top blocks: 72 KiB -> 80 KiB.
  EXPECT_EQ(a.region_bytes(), 80u * 1024);
  EXPECT_EQ(a.allocate(0), nullptr);
  EXPECT_EQ(a.allocate(16 * 1024 + 1), nullptr) << "above largest_block";
  std::vector<void*> got;
  while (void* p = a.allocate(16 * 1024)) got.push_back(p);
  EXPECT_EQ(got.size(), 5u);  // 80 KiB in 16 KiB blocks, then full
  for (std::size_t i = 1; i < got.size(); ++i) {
    EXPECT_EQ(static_cast<unsigned char*>(got[i]), static_cast<unsigned char*>(got[0]) + i * 16 * 1024);
  }
  for (void* p : got) a.deallocate(p, 16 * 1024);
  EXPECT_EQ(a.allocated_bytes(), 0u);
  EXPECT_NE(a.allocate(16 * 1024), nullptr) << "top blocks do not merge with each other, but are free again";

  storage_arena off(0);
  EXPECT_EQ(off.allocate(256), nullptr);
  EXPECT_EQ(off.trim_unused(), 0u);
}

TEST(StorageArena, RandomAllocationsNeverOverlapAndAllMergeBack) {
  storage_arena a(1 << 20);
  std::mt19937 rng(7);
  std::map<unsigned char*, std::size_t> live;  // start -> requested bytes
  auto overlaps = [&](unsigned char* p, std::size_t n) {
    auto it = live.upper_bound(p);
    if (it != live.end() && it->first < p + n) return true;
    if (it != live.begin()) {
      --it;
      if (it->first + a.block_bytes(it->second) > p) return true;
    }
    return false;
  };
  for (int step = 0; step < 20000; ++step) {
    if (!live.empty() && (rng() % 2 == 0 || live.size() > 200)) {
      auto it = live.begin();
      std::advance(it, static_cast<long>(rng() % live.size()));
      // The block still holds what was written into it.
      ASSERT_EQ(*it->first, static_cast<unsigned char>(it->second));
      a.deallocate(it->first, it->second);
      live.erase(it);
    } else {
      const std::size_t n = 1 + rng() % (64 * 1024);
      auto* p = static_cast<unsigned char*>(a.allocate(n));
      if (p == nullptr) continue;  // fragmented or full: the caller falls back
      ASSERT_TRUE(a.owns(p));
      ASSERT_EQ(reinterpret_cast<std::uintptr_t>(p) % std::min<std::size_t>(a.block_bytes(n), 4096), 0u)
          << "blocks are aligned to their size (up to a page)";
      ASSERT_FALSE(overlaps(p, a.block_bytes(n)));
      std::memset(p, static_cast<unsigned char>(n), n);
      live.emplace(p, n);
    }
  }
  std::size_t expect = 0;
  for (auto& [p, n] : live) expect += a.block_bytes(n);
  EXPECT_EQ(a.allocated_bytes(), expect);
  for (auto& [p, n] : live) a.deallocate(p, n);
  EXPECT_EQ(a.allocated_bytes(), 0u);
  void* whole = a.allocate(std::size_t{1} << 20);
  EXPECT_NE(whole, nullptr) << "every buddy merged back";
  a.deallocate(whole, std::size_t{1} << 20);
}

TEST(StorageArena, ConcurrentAllocateAndFreeFromTwoThreads) {
  // The producer's shape: sending threads allocate, the I/O thread frees.
  storage_arena a(4 << 20);
  constexpr int per_thread = 20000;
  std::vector<std::pair<unsigned char*, std::size_t>> handed[2];
  std::mutex mu;
  std::atomic<bool> done{false};
  std::thread freer([&] {
    for (;;) {
      const bool finished = done.load();  // read before taking: nothing can follow
      std::vector<std::pair<unsigned char*, std::size_t>> batch;
      {
        std::lock_guard lk(mu);
        for (auto& h : handed) {
          batch.insert(batch.end(), h.begin(), h.end());
          h.clear();
        }
      }
      for (auto& [p, n] : batch) {
        ASSERT_EQ(p[n - 1], static_cast<unsigned char>(n));
        a.deallocate(p, n);
      }
      if (batch.empty() && finished) break;
    }
  });
  std::vector<std::thread> senders;
  for (int t = 0; t < 2; ++t) {
    senders.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t));
      for (int i = 0; i < per_thread; ++i) {
        const std::size_t n = 256 + rng() % 8192;
        auto* p = static_cast<unsigned char*>(a.allocate(n));
        if (p == nullptr) continue;
        std::memset(p, static_cast<unsigned char>(n), n);
        std::lock_guard lk(mu);
        handed[t].emplace_back(p, n);
      }
    });
  }
  for (auto& s : senders) s.join();
  done = true;
  freer.join();
  EXPECT_EQ(a.allocated_bytes(), 0u);
}

TEST(StorageArena, TrimGivesBackOnlyBlocksUntouchedSinceThePreviousTrim) {
  // 16 MiB: its slack for free blocks used lately (1 MiB) covers this test's.
  storage_arena a(16 << 20);
  ASSERT_GE(a.free_resident_slack(), 4 * storage_arena::trim_granule);
  const std::size_t g = storage_arena::trim_granule;
  // Nothing allocated yet: nothing to give back.
  EXPECT_EQ(a.trim_unused(), 0u);

  auto* p = static_cast<unsigned char*>(a.allocate(g));
  std::memset(p, 1, g);
  a.deallocate(p, g);
  // Touched during this interval: kept (the next batch likely reuses it).
  EXPECT_EQ(a.trim_unused(), 0u);
  // A whole interval without use: it goes back, once.
  EXPECT_EQ(a.trim_unused(), g);
  EXPECT_EQ(a.trim_unused(), 0u);

  // Only free blocks go: a live block's granules stay whatever their age.
  auto* live = static_cast<unsigned char*>(a.allocate(4 * g));
  auto* gone = static_cast<unsigned char*>(a.allocate(2 * g));
  std::memset(live, 2, 4 * g);
  std::memset(gone, 3, 2 * g);
  a.deallocate(gone, 2 * g);
  EXPECT_EQ(a.trim_unused(), 0u);
  EXPECT_EQ(a.trim_unused(), 2 * g);
  EXPECT_EQ(live[4 * g - 1], 2);
  // Long-lived, then freed: in use until now, so kept for one interval.
  a.deallocate(live, 4 * g);
  EXPECT_EQ(a.trim_unused(), 0u);
  EXPECT_EQ(a.trim_unused(), 4 * g);
  EXPECT_EQ(a.trim_unused(), 0u);
  // Blocks taken out while their pages go back are free again afterwards.
  void* whole = a.allocate(std::size_t{1} << 20);
  EXPECT_NE(whole, nullptr);
  a.deallocate(whole, std::size_t{1} << 20);
  // Still usable afterwards (pages come back zeroed on first write).
  auto* q = static_cast<unsigned char*>(a.allocate(g));
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q[0], 0) << "MADV_DONTNEED dropped the old contents";
  a.deallocate(q, g);
}

TEST(StorageArena, TrimKeepsAtMostTheSlackOfFreeBlocksUsedLately) {
  storage_arena a(16 << 20);
  const std::size_t mib = std::size_t{1} << 20;
  ASSERT_EQ(a.free_resident_slack(), 2 * mib);
  unsigned char* blocks[4];
  for (auto*& b : blocks) {
    b = static_cast<unsigned char*>(a.allocate(mib));
    ASSERT_NE(b, nullptr);
    std::memset(b, 7, mib);
  }
  ASSERT_LT(blocks[0], blocks[3]);
  for (auto* b : blocks) a.deallocate(b, mib);
  // 4 MiB free and used in this interval: all but the slack goes, from the
  // top (the next blocks come from the bottom).
  EXPECT_EQ(a.trim_unused(), 2 * mib);
  auto* again = static_cast<unsigned char*>(a.allocate(4 * mib));
  ASSERT_EQ(again, blocks[0]);
  EXPECT_EQ(again[2 * mib - 1], 7) << "the lowest two mebibytes were kept resident";
  EXPECT_EQ(again[2 * mib], 0) << "the highest were given back";
  EXPECT_EQ(again[4 * mib - 1], 0);
  a.deallocate(again, 4 * mib);
  EXPECT_EQ(a.trim_unused(), 2 * mib);  // used lately again: the same
  EXPECT_EQ(a.trim_unused(), 2 * mib);  // one interval later the rest is idle
  EXPECT_EQ(a.trim_unused(), 0u);
}

// Before fresh memory is mapped beside the arena, free blocks that are still
// resident go back (beyond a slack), highest first: a mapping then replaces
// pages the arena no longer uses instead of adding to them.
TEST(StorageArena, YieldGivesBackResidentFreeBlocksPastItsSlackHighestFirst) {
  storage_arena a(16 << 20);
  const std::size_t mib = std::size_t{1} << 20;
  ASSERT_EQ(a.yield_slack(), mib);
  EXPECT_EQ(a.yield_resident(mib), 0u) << "nothing resident yet";
  unsigned char* blocks[4];
  for (auto*& b : blocks) {
    b = static_cast<unsigned char*>(a.allocate(mib));
    ASSERT_NE(b, nullptr);
    std::memset(b, 7, mib);
  }
  EXPECT_EQ(a.free_resident_bytes(), 0u) << "blocks in use are not spare";
  EXPECT_EQ(a.yield_resident(mib), 0u);
  for (auto* b : blocks) a.deallocate(b, mib);
  EXPECT_EQ(a.free_resident_bytes(), 4 * mib);
  EXPECT_EQ(a.yield_resident(0), 0u);
  EXPECT_EQ(a.yield_resident(mib), mib) << "as much as will be mapped";
  EXPECT_EQ(a.free_resident_bytes(), 3 * mib);
  EXPECT_EQ(a.yield_resident(10 * mib), 2 * mib) << "never the slack";
  EXPECT_EQ(a.free_resident_bytes(), mib);
  EXPECT_EQ(a.yield_resident(mib), 0u);
  auto* again = static_cast<unsigned char*>(a.allocate(4 * mib));
  ASSERT_EQ(again, blocks[0]);
  EXPECT_EQ(again[mib - 1], 7) << "the lowest mebibyte stayed resident";
  EXPECT_EQ(again[mib], 0) << "the higher ones were given back";
  EXPECT_EQ(again[4 * mib - 1], 0);
  a.deallocate(again, 4 * mib);
}

// batch_buffer and slot_list yield before they map: a new mapping, a
// mapping's growth, and moving out of the arena.
TEST(StorageArena, BuffersThatMapFreshPagesMakeTheArenaYieldAsMuch) {
  const std::size_t k = 1024;
  storage_arena a(8 << 20, 64 * k);
  std::vector<void*> blocks;
  for (int i = 0; i < 64; ++i) {
    blocks.push_back(a.allocate(64 * k));
    ASSERT_NE(blocks.back(), nullptr);
    std::memset(blocks.back(), 1, 64 * k);
  }
  for (void* b : blocks) a.deallocate(b, 64 * k);
  ASSERT_LT(a.yield_slack(), 1024 * k);
  std::size_t spare = a.free_resident_bytes();
  ASSERT_EQ(spare, 4096 * k);
  {
    batch_buffer b(&a);
    b.reserve(256 * k);  // a new mapping
    EXPECT_FALSE(b.in_arena());
    EXPECT_EQ(a.free_resident_bytes(), spare - 256 * k);
    b.resize_uninitialized(10);
    b.reserve(1024 * k);  // the mapping grows by 768 KiB
    EXPECT_EQ(a.free_resident_bytes(), spare - 1024 * k);
    spare = a.free_resident_bytes();
  }
  {
    batch_buffer b(&a);
    b.reserve(32 * k);  // an arena block: nothing mapped
    EXPECT_TRUE(b.in_arena());
    EXPECT_EQ(a.free_resident_bytes(), spare - 32 * k);
    b.reserve(512 * k);  // out of the arena into a mapping
    EXPECT_FALSE(b.in_arena());
    EXPECT_EQ(a.free_resident_bytes(), spare - 512 * k) << "its block is spare again, 512 KiB went";
    spare = a.free_resident_bytes();
  }
  EXPECT_EQ(a.free_resident_bytes(), spare);
}

TEST(StorageArena, BatchBufferPlacesItsBytesThereAndMovesOutWhenItOutgrowsIt) {
  storage_arena a(64 * 1024, 16 * 1024);
  {
    batch_buffer b(&a);
    b.resize_uninitialized(1000);
    std::memset(b.data(), 7, 1000);
    EXPECT_TRUE(b.in_arena());
    b.reserve(8000);  // grows within the arena, bytes kept
    EXPECT_TRUE(b.in_arena());
    EXPECT_EQ(b.data()[999], 7);
    b.reserve(40 * 1024);  // past largest_block: moves out
    EXPECT_FALSE(b.in_arena());
    EXPECT_EQ(b.size(), 1000u);
    EXPECT_EQ(b.data()[0], 7);
    EXPECT_EQ(b.data()[999], 7);
    EXPECT_EQ(a.allocated_bytes(), 0u) << "the arena block was given back";

    batch_buffer moved = std::move(b);
    EXPECT_EQ(moved.data()[500], 7);
  }
  {
    // A full arena: storage from malloc instead, and moved in once a block
    // is free (the next growth).
    std::vector<void*> hogs;
    while (void* h = a.allocate(16 * 1024)) hogs.push_back(h);
    batch_buffer b(&a);
    b.resize_uninitialized(2000);
    EXPECT_FALSE(b.in_arena());
    std::memset(b.data(), 9, 2000);
    a.deallocate(hogs.back(), 16 * 1024);
    hogs.pop_back();
    b.reserve(4096);
    EXPECT_TRUE(b.in_arena());
    EXPECT_EQ(b.data()[1999], 9);
    for (void* h : hogs) a.deallocate(h, 16 * 1024);
  }
  EXPECT_EQ(a.allocated_bytes(), 0u) << "destroyed buffers give their blocks back";
}

}  // namespace
}  // namespace kprod::protocol
