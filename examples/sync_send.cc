// Sends records one at a time and waits for each acknowledgement.
//   example_sync_send [bootstrap.servers]
#include <asio/use_future.hpp>
#include <iostream>
#include <map>
#include <string>

#include "kprod/producer.h"

int main(int argc, char** argv) {
  const std::string bootstrap = argc > 1 ? argv[1] : "localhost:9092";
  // Java-style properties; bootstrap.servers is a comma-separated list.
  const std::map<std::string, std::string> props = {{"bootstrap.servers", bootstrap}};
  auto p = kprod::producer::create(props);
  if (!p) {
    std::cerr << "cannot create the producer: " << p.error().message() << '\n';
    return 1;
  }
  for (int i = 0; i < 10; ++i) {
    const std::string value = "hello " + std::to_string(i);
    kprod::record r;
    r.topic = "example-sync";
    r.value = value;
    // use_future turns the completion into a std::future; get() waits for it.
    kprod::delivery_report rep = (*p)->async_send(r, asio::use_future).get();
    if (!rep.ok()) {
      std::cerr << "record " << i << " failed: " << rep.error.message() << '\n';
      return 1;
    }
    std::cout << "delivered to " << rep.metadata.topic << '/' << rep.metadata.partition << " at offset "
              << rep.metadata.offset << '\n';
  }
  return (*p)->close().ok() ? 0 : 1;
}
