// embedded_cluster.h - `--mock-cluster N`: librdkafka's mock cluster for the
// lifetime of one kprod command.
//
// The mock runs in a forked child (started before the producer creates any
// thread) rather than in kprod's own process, so that `kprod perf`'s
// getrusage() CPU seconds and peak RSS measure the producer, not the brokers.
// The child ignores SIGINT (Ctrl-C must leave the brokers up while kprod
// flushes), dies with its parent (PR_SET_PDEATHSIG), and exits when kprod
// closes the control pipe.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "kprod/result.h"

namespace kprod::cli {

class embedded_cluster {
 public:
  // topics: (name, partitions), created before start() returns, partition p
  // led by broker p % brokers + 1.
  static result<std::unique_ptr<embedded_cluster>> start(
      int brokers, const std::vector<std::pair<std::string, int>>& topics);

  embedded_cluster(const embedded_cluster&) = delete;
  embedded_cluster& operator=(const embedded_cluster&) = delete;
  ~embedded_cluster();

  const std::string& bootstrap() const noexcept { return bootstrap_; }
  int broker_count() const noexcept { return brokers_; }
  const std::vector<std::pair<std::string, int>>& topics() const noexcept { return topics_; }

 private:
  embedded_cluster(pid_t pid, int control_fd, std::string bootstrap, int brokers,
                   std::vector<std::pair<std::string, int>> topics)
      : pid_(pid), control_fd_(control_fd), bootstrap_(std::move(bootstrap)), brokers_(brokers),
        topics_(std::move(topics)) {}

  pid_t pid_;
  int control_fd_;
  std::string bootstrap_;
  int brokers_;
  std::vector<std::pair<std::string, int>> topics_;
};

}  // namespace kprod::cli
