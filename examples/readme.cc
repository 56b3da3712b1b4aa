// The API example from README.md, compiled in CI so the README stays true.
// Usage: example_readme [bootstrap.servers]
#include <asio/use_future.hpp>
#include <iostream>
#include <kprod/producer.h>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  const std::string bootstrap = argc > 1 ? argv[1] : "localhost:9092";
  auto p = kprod::producer::create({{"bootstrap.servers", bootstrap},
                                    {"linger.ms", "5"},
                                    {"compression.type", "lz4"}});
  if (!p.ok()) { std::cerr << p.error().message() << "\n"; return 1; }  // names every bad key
  auto& producer = *p.value();

  std::vector<kprod::header> headers{{"trace-id", "abc"}};
  kprod::record r{.topic = "orders", .key = "customer-42", .value = R"({"total": 12})", .headers = headers};

  // 1. callback (runs on the producer's I/O thread: keep it short)
  producer.async_send(r, [](kprod::delivery_report rep) {
    if (!rep.ok()) std::cerr << rep.error.message() << "\n";
  });
  // 2. future
  kprod::delivery_report rep = producer.async_send(r, asio::use_future).get();
  if (!rep.ok()) std::cerr << rep.error.message() << "\n";
  // 3. coroutine (inside an asio::awaitable<void>): see examples/coroutine.cc
  //    auto rep = co_await producer.async_send(r, asio::use_awaitable);
  // 4. fire and forget / never block
  (void)producer.send(r);
  (void)producer.try_send(r);  // client_errc::queue_full at once when buffer.memory is exhausted

  if (auto f = producer.flush(std::chrono::seconds(10)); !f.ok()) std::cerr << f.error().message() << "\n";
  (void)producer.close();  // also done by the destructor
  return rep.ok() ? 0 : 1;
}
