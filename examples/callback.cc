// Sends many records without waiting; a callback counts the outcomes, and
// flush() waits for all of them.
//   example_callback [bootstrap.servers]
#include <atomic>
#include <chrono>
#include <iostream>
#include <map>
#include <string>

#include "kprod/producer.h"

int main(int argc, char** argv) {
  const std::string bootstrap = argc > 1 ? argv[1] : "localhost:9092";
  // Java-style properties; bootstrap.servers is a comma-separated list.
  const std::map<std::string, std::string> props = {{"bootstrap.servers", bootstrap}, {"linger.ms", "10"}};
  auto p = kprod::producer::create(props);
  if (!p) {
    std::cerr << "cannot create the producer: " << p.error().message() << '\n';
    return 1;
  }
  std::atomic<int> delivered{0};
  std::atomic<int> failed{0};
  for (int i = 0; i < 100; ++i) {
    const std::string value = "event " + std::to_string(i);
    kprod::record r;
    r.topic = "example-callback";
    r.value = value;  // copied by async_send: `value` may go out of scope
    // Callbacks run on the producer's I/O thread: keep them short.
    (*p)->async_send(r, [&](const kprod::delivery_report& rep) {
      if (rep.ok()) {
        ++delivered;
      } else {
        ++failed;
        std::cerr << "failed: " << rep.error.message() << '\n';
      }
    });
  }
  if (auto f = (*p)->flush(std::chrono::seconds(30)); !f) {
    std::cerr << "flush: " << f.error().message() << '\n';
  }
  (void)(*p)->close();
  std::cout << delivered << " delivered, " << failed << " failed\n";
  return failed == 0 && delivered == 100 ? 0 : 1;
}
