// Transactions: groups of records that become visible to read_committed
// consumers together, or not at all.
//   example_transactions [bootstrap.servers] [topic]
#include <chrono>
#include <iostream>
#include <map>
#include <string>

#include "kprod/producer.h"

using namespace std::chrono_literals;

int main(int argc, char** argv) {
  const std::string bootstrap = argc > 1 ? argv[1] : "localhost:9092";
  const std::string topic = argc > 2 ? argv[2] : "example-transactions";
  // transactional.id identifies this producer across restarts: a new
  // instance with the same id fences the old one.
  auto p = kprod::producer::create({{"bootstrap.servers", bootstrap}, {"transactional.id", "example-txn"}});
  if (!p) {
    std::cerr << "cannot create the producer: " << p.error().message() << '\n';
    return 1;
  }
  kprod::producer& producer = **p;
  if (auto r = producer.init_transactions(30s); !r) {
    std::cerr << "init_transactions: " << r.error().message() << '\n';
    return 1;
  }
  for (int txn = 0; txn < 3; ++txn) {
    if (auto r = producer.begin_transaction(); !r) {
      std::cerr << "begin_transaction: " << r.error().message() << '\n';
      return 1;
    }
    for (int i = 0; i < 10; ++i) {
      const std::string value = "txn " + std::to_string(txn) + " record " + std::to_string(i);
      kprod::record rec;
      rec.topic = topic;
      rec.value = value;
      // Per-record errors also surface as a failed commit.
      producer.async_send(rec, [](kprod::delivery_report rep) {
        if (!rep.ok()) std::cerr << "record failed: " << rep.error.message() << '\n';
      });
    }
    // The middle transaction is aborted: its records never become visible.
    auto end = txn == 1 ? producer.abort_transaction(30s) : producer.commit_transaction(30s);
    if (!end) {
      std::cerr << "transaction " << txn << ": " << end.error().message() << '\n';
      if (end.error().code() == kprod::make_error_code(kprod::client_errc::fenced)) return 1;  // fatal
      // Anything else that is not fatal: abort and carry on.
      if (auto a = producer.abort_transaction(30s); !a) {
        std::cerr << "abort_transaction: " << a.error().message() << '\n';
        return 1;
      }
      continue;
    }
    std::cout << (txn == 1 ? "aborted" : "committed") << " transaction " << txn << '\n';
  }
  return producer.close().ok() ? 0 : 1;
}
