// Sends records from a C++20 coroutine: co_await each acknowledgement.
//   example_coroutine [bootstrap.servers]
#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/use_awaitable.hpp>
#include <exception>
#include <iostream>
#include <map>
#include <string>

#include "kprod/producer.h"

asio::awaitable<int> produce(kprod::producer& p) {
  for (int i = 0; i < 10; ++i) {
    const std::string key = "sensor-" + std::to_string(i % 3);
    const std::string value = "reading " + std::to_string(i);
    kprod::record r;
    r.topic = "example-coroutine";
    r.key = key;
    r.value = value;
    // The completion resumes this coroutine on its io_context thread.
    kprod::delivery_report rep = co_await p.async_send(r, asio::use_awaitable);
    if (!rep.ok()) {
      std::cerr << "record " << i << " failed: " << rep.error.message() << '\n';
      co_return 1;
    }
    std::cout << key << " -> partition " << rep.metadata.partition << " offset " << rep.metadata.offset << '\n';
  }
  co_return 0;
}

int main(int argc, char** argv) {
  const std::string bootstrap = argc > 1 ? argv[1] : "localhost:9092";
  // Java-style properties; bootstrap.servers is a comma-separated list.
  const std::map<std::string, std::string> props = {{"bootstrap.servers", bootstrap}};
  auto p = kprod::producer::create(props);
  if (!p) {
    std::cerr << "cannot create the producer: " << p.error().message() << '\n';
    return 1;
  }
  asio::io_context io;
  int status = 1;
  asio::co_spawn(io, produce(**p), [&](std::exception_ptr e, int rc) {
    status = e ? 1 : rc;
  });
  io.run();
  return (*p)->close().ok() ? status : 1;
}
