// prefetch.h - software prefetch for a line the caller is about to write.
//
// Why not __builtin_prefetch in a loop: GCC treats the builtin as free of
// side effects and deletes a loop whose body is only prefetches (C++ loops
// are assumed to terminate), so the prefetch loops in the append path
// compiled to nothing. An asm statement cannot be deleted.
//
// Why PREFETCHW: a batch's buffer and slot list come back from the I/O
// thread, so their lines sit in the other core's cache. A read prefetch
// (PREFETCHT0) brings such a line in shared, and the append's store still
// waits for the other copy to be invalidated; PREFETCHW asks for it
// exclusive. CPUs without it (some Intel before Broadwell) get PREFETCHT0,
// chosen once at start-up as the Linux kernel does.
#pragma once

namespace kprod::codec {

namespace prefetch_detail {
extern const bool has_prefetchw;
}

inline void prefetch_for_write(const void* p) noexcept {
#if defined(__x86_64__) || defined(__i386__)
  if (prefetch_detail::has_prefetchw) {
    asm volatile("prefetchw %0" : : "m"(*static_cast<const char*>(p)));
  } else {
    asm volatile("prefetcht0 %0" : : "m"(*static_cast<const char*>(p)));
  }
#else
  __builtin_prefetch(p, 1, 3);
  asm volatile("" : : "r"(p));  // keeps the prefetch (see above)
#endif
}

}  // namespace kprod::codec
