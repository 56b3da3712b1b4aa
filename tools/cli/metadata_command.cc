// kprod metadata: brokers, and partitions, leaders, replicas and ISR of the
// topics given with -t (partitions_for) or, without -t, of every topic
// (producer::cluster_metadata()).
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

  // The broker list (and, without -t, every topic) from a full Metadata request.
  auto cluster = s->prod->cluster_metadata();
  if (!cluster) {
    std::fprintf(stderr, "kprod metadata: %s\n", cluster.error().message().c_str());
    return exit_failed;
  }
  std::vector<std::string> topics = o.topics;
  if (topics.empty()) {
    for (const auto& t : cluster->topics) topics.push_back(t.name);
  }

  int status = exit_ok;
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
      text += "    partition " + std::to_string(pi.partition) + ", leader " + std::to_string(pi.leader) +
              ", replicas: " + join(pi.replicas) + ", isrs: " + join(pi.isr) + "\n";
      jparts.push_back({{"partition", pi.partition},
                        {"leader", pi.leader},
                        {"replicas", pi.replicas},
                        {"isr", pi.isr}});
    }
    jtopics.push_back({{"topic", t}, {"partitions", std::move(jparts)}});
  }

  nlohmann::ordered_json jbrokers = nlohmann::ordered_json::array();
  std::string btext;
  for (const auto& b : cluster->brokers) {
    jbrokers.push_back({{"id", b.id}, {"host", b.host}, {"port", b.port}});
    btext += "  broker " + std::to_string(b.id) + " at " + b.host + ":" + std::to_string(b.port) + "\n";
  }
  if (o.json) {
    nlohmann::ordered_json j;
    j["bootstrap"] = s->bootstrap;
    j["brokers"] = std::move(jbrokers);
    j["topics"] = std::move(jtopics);
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("Metadata via %s:\n", s->bootstrap.c_str());
    std::printf(" %zu brokers:\n%s", cluster->brokers.size(), btext.c_str());
    std::printf(" %zu topics:\n%s", jtopics.size(), text.c_str());
  }
  return status;
}

}  // namespace kprod::cli
