// kprod metadata: partitions, leaders, replicas and ISR of topics, from the
// producer's partitions_for(). The public API has no broker list or topic
// listing, so brokers are those seen in partition metadata, and without -t
// only the topics kprod itself created (--mock-cluster) are known.
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>

#include "commands.h"

namespace kprod::cli {

namespace {

std::string join(const std::vector<std::int32_t>& v) {
  std::string out;
  for (auto x : v) out += (out.empty() ? "" : ",") + std::to_string(x);
  return out;
}

}  // namespace

int run_metadata(const metadata_options& o) {
  install_interrupt_handler();
  auto s = open_session("metadata", o.conn, o.topics);
  if (!s) return exit_usage;

  std::vector<std::string> topics = o.topics;
  if (topics.empty() && s->mock) {
    for (const auto& t : s->mock->topics()) topics.push_back(t.first);
  }
  if (topics.empty()) {
    std::fprintf(stderr,
                 "kprod metadata: no topic given; listing all topics needs cluster metadata the kprod "
                 "library does not expose yet, pass -t TOPIC\n");
  }

  int status = exit_ok;
  std::set<std::int32_t> brokers_seen;
  nlohmann::ordered_json jtopics = nlohmann::ordered_json::array();
  std::string text;
  for (const auto& t : topics) {
    auto parts = s->prod->partitions_for(t);
    if (!parts) {
      std::fprintf(stderr, "kprod metadata: topic '%s': %s\n", t.c_str(), parts.error().message().c_str());
      status = exit_failed;
      continue;
    }
    nlohmann::ordered_json jparts = nlohmann::ordered_json::array();
    text += "  topic \"" + t + "\" with " + std::to_string(parts->size()) + " partitions:\n";
    for (const auto& pi : *parts) {
      if (pi.leader >= 0) brokers_seen.insert(pi.leader);
      brokers_seen.insert(pi.replicas.begin(), pi.replicas.end());
      text += "    partition " + std::to_string(pi.partition) + ", leader " + std::to_string(pi.leader) +
              ", replicas: " + join(pi.replicas) + ", isrs: " + join(pi.isr) + "\n";
      jparts.push_back({{"partition", pi.partition},
                        {"leader", pi.leader},
                        {"replicas", pi.replicas},
                        {"isr", pi.isr}});
    }
    jtopics.push_back({{"topic", t}, {"partitions", std::move(jparts)}});
  }

  if (o.json) {
    nlohmann::ordered_json j;
    j["bootstrap"] = s->bootstrap;
    j["brokers"] = std::vector<std::int32_t>(brokers_seen.begin(), brokers_seen.end());
    j["topics"] = std::move(jtopics);
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("Metadata via %s:\n", s->bootstrap.c_str());
    std::printf(" %zu brokers seen in partition metadata: %s\n", brokers_seen.size(),
                join(std::vector<std::int32_t>(brokers_seen.begin(), brokers_seen.end())).c_str());
    std::printf(" %zu topics:\n%s", jtopics.size(), text.c_str());
  }
  return status;
}

}  // namespace kprod::cli
