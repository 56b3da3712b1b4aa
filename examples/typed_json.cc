// A typed producer: string keys and JSON values built from a struct.
//   example_typed_json [bootstrap.servers]
#include <asio/use_future.hpp>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "kprod/json_serializer.h"
#include "kprod/typed_producer.h"

struct order {
  std::string id;
  std::string item;
  int quantity = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(order, id, item, quantity)

int main(int argc, char** argv) {
  const std::string bootstrap = argc > 1 ? argv[1] : "localhost:9092";
  // Java-style properties; bootstrap.servers is a comma-separated list.
  const std::map<std::string, std::string> props = {{"bootstrap.servers", bootstrap}};
  auto p = kprod::producer::create(props);
  if (!p) {
    std::cerr << "cannot create the producer: " << p.error().message() << '\n';
    return 1;
  }
  // Owns the producer; keys as text, values as JSON.
  kprod::typed_producer<std::string, order, kprod::string_serializer, kprod::json_serializer> orders(std::move(*p));

  const std::vector<order> batch = {{"o-1", "apple", 3}, {"o-2", "pear", 1}, {"o-3", "fig", 12}};
  for (const order& o : batch) {
    kprod::delivery_report rep = orders.async_send("example-json", o.id, o, asio::use_future).get();
    if (!rep.ok()) {  // serialization_failed lands here too, never as an exception
      std::cerr << o.id << " failed: " << rep.error.message() << '\n';
      return 1;
    }
    std::cout << o.id << " -> partition " << rep.metadata.partition << " offset " << rep.metadata.offset << '\n';
  }
  return orders.untyped().close().ok() ? 0 : 1;
}
