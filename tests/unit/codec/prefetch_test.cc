#include "codec/prefetch.h"

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstdint>
#include <vector>

namespace kprod::codec {
namespace {

// The append path prefetches lines past a buffer's end (up to its
// capacity) and never checks them: a prefetch must never fault, whatever
// the address, and must leave memory unchanged.
TEST(Prefetch, NeverFaultsAndChangesNothing) {
  std::vector<std::uint8_t> bytes(4096, 0xAB);
  for (std::size_t i = 0; i < bytes.size(); i += 64) prefetch_for_write(bytes.data() + i);
  for (auto b : bytes) ASSERT_EQ(b, 0xAB);

  prefetch_for_write(nullptr);
  void* none = ::mmap(nullptr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(none, MAP_FAILED);
  prefetch_for_write(none);  // mapped, no access
  ::munmap(none, 4096);
  prefetch_for_write(none);  // unmapped
}

}  // namespace
}  // namespace kprod::codec
