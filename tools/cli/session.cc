#include <cstdio>

#include "commands.h"

namespace kprod::cli {

std::unique_ptr<session> open_session(const char* cmd, const connection_options& conn,
                                      const std::vector<std::string>& mock_topics,
                                      const std::map<std::string, std::string>& extra_props) {
  auto s = std::make_unique<session>();
  if (conn.mock_brokers > 0) {
    std::vector<std::pair<std::string, int>> topics;
    for (const auto& t : mock_topics) topics.emplace_back(t, conn.mock_partitions);
    auto mc = embedded_cluster::start(conn.mock_brokers, topics);
    if (!mc) {
      std::fprintf(stderr, "kprod %s: %s\n", cmd, mc.error().message().c_str());
      return nullptr;
    }
    s->mock = std::move(*mc);
    s->bootstrap = s->mock->bootstrap();
  } else {
    s->bootstrap = conn.brokers;
  }
  auto props = build_properties(conn, s->bootstrap);
  if (!props) {
    std::fprintf(stderr, "kprod %s: %s\n", cmd, props.error().message().c_str());
    return nullptr;
  }
  // Command defaults first; the user's -X/-F settings win.
  for (const auto& [k, v] : extra_props) props->emplace(k, v);
  auto p = producer::create(*props);
  if (!p) {
    std::fprintf(stderr, "kprod %s: %s\n", cmd, p.error().message().c_str());
    return nullptr;
  }
  s->prod = std::move(*p);
  return s;
}

}  // namespace kprod::cli
