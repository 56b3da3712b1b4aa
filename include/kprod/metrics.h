// kprod/metrics.h - counters a producer keeps about itself.
#pragma once

#include <cstdint>

namespace kprod {

// A consistent-enough snapshot (each counter is read atomically on its own).
struct producer_metrics {
  std::uint64_t records_acknowledged = 0;  // completed successfully
  std::uint64_t records_failed = 0;        // completed with an error
  std::uint64_t batches_sent = 0;          // record batches written to brokers (retries included)
  std::uint64_t batch_bytes_sent = 0;      // their wire bytes (after compression)
  std::uint64_t batch_records_sent = 0;    // records in them
  std::uint64_t produce_requests = 0;      // Produce requests written
  std::uint64_t retries = 0;               // batches sent again
  std::int64_t buffer_bytes_used = 0;      // buffer.memory currently reserved

  double batch_bytes_avg() const noexcept {
    return batches_sent ? static_cast<double>(batch_bytes_sent) / static_cast<double>(batches_sent) : 0.0;
  }
};

}  // namespace kprod
