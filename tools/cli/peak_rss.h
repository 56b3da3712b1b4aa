// peak_rss.h - the process's peak resident set size, as both load
// generators (kprod perf, bench/rdkafka_perf) report it.
//
// Why not getrusage's ru_maxrss: Linux keeps it across execve(), so a tool
// started by a larger process (bench/compare's Python, ~14 MB) reports at
// least its parent's size at fork time: every paced run of the matrix read
// exactly 14.1 MB for both clients. /proc/self/status's VmHWM is the
// high-water mark of this program's own address space.
#pragma once

#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace kprod::cli {

inline double peak_rss_mb() {
  if (std::FILE* f = std::fopen("/proc/self/status", "r")) {
    char line[256];
    long kib = -1;
    while (std::fgets(line, sizeof line, f) != nullptr) {
      if (std::strncmp(line, "VmHWM:", 6) == 0) {
        kib = std::strtol(line + 6, nullptr, 10);
        break;
      }
    }
    std::fclose(f);
    if (kib >= 0) return static_cast<double>(kib) / 1024.0;
  }
  rusage ru{};  // no procfs: the inherited-floor figure is better than none
  ::getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;  // Linux: KiB
}

}  // namespace kprod::cli
