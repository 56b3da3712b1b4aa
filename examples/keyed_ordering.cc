// Records with the same key go to the same partition, in the order sent:
// each customer's events stay in order for consumers.
//   example_keyed_ordering [bootstrap.servers]
#include <chrono>
#include <iostream>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "kprod/producer.h"

int main(int argc, char** argv) {
  const std::string bootstrap = argc > 1 ? argv[1] : "localhost:9092";
  // acks=all with idempotence (the default) keeps order even across retries.
  // Java-style properties; bootstrap.servers is a comma-separated list.
  const std::map<std::string, std::string> props = {{"bootstrap.servers", bootstrap}, {"acks", "all"}};
  auto p = kprod::producer::create(props);
  if (!p) {
    std::cerr << "cannot create the producer: " << p.error().message() << '\n';
    return 1;
  }
  const std::vector<std::string> customers = {"alice", "bob", "carol", "dave"};
  std::mutex mu;
  std::map<std::string, std::vector<std::pair<std::int32_t, std::int64_t>>> placed;  // key -> (partition, offset)
  bool ok = true;
  for (int step = 0; step < 5; ++step) {
    for (const auto& c : customers) {
      const std::string event = c + " step " + std::to_string(step);
      kprod::record r;
      r.topic = "example-keyed";
      r.key = c;
      r.value = event;
      (*p)->async_send(r, [&, c](const kprod::delivery_report& rep) {
        std::lock_guard lk(mu);
        if (!rep.ok()) ok = false;
        placed[c].emplace_back(rep.metadata.partition, rep.metadata.offset);
      });
    }
  }
  ok = (*p)->flush(std::chrono::seconds(30)).ok() && ok;
  std::lock_guard lk(mu);
  for (const auto& [customer, where] : placed) {
    std::cout << customer << ": partition " << where.front().first << ", offsets";
    for (std::size_t i = 0; i < where.size(); ++i) {
      std::cout << ' ' << where[i].second;
      // Same key, same partition; completions of one partition arrive in order.
      if (where[i].first != where.front().first || (i > 0 && where[i].second <= where[i - 1].second)) ok = false;
    }
    std::cout << '\n';
  }
  return ok && (*p)->close().ok() ? 0 : 1;
}
