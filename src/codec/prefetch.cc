#include "codec/prefetch.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace kprod::codec::prefetch_detail {

namespace {
bool detect_prefetchw() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  unsigned a = 0, b = 0, c = 0, d = 0;
  // CPUID 0x80000001, ECX bit 8: PREFETCHW (AMD's "3DNowPrefetch", Intel's
  // PRFCHW). __get_cpuid checks that the extended leaf exists.
  return __get_cpuid(0x80000001u, &a, &b, &c, &d) && (c & (1u << 8)) != 0;
#else
  return false;
#endif
}
}  // namespace

const bool has_prefetchw = detect_prefetchw();

}  // namespace kprod::codec::prefetch_detail
