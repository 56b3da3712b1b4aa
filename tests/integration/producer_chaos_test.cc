// kprod under connection chaos: every connection through the fault proxy dies
// after 0.5-1.5 s (some mid-request). The proxy's sequence auditor is the
// oracle the mock lacks: no sequence gap or overlap, resends byte-identical,
// at most 5 unacknowledged batches per partition. Every record must complete
// exactly once, successfully (retries are unlimited within the timeout).
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>

#include "kprod/producer.h"
#include "support/fault_proxy.h"
#include "support/mock_cluster.h"

namespace kprod {
namespace {

using namespace std::chrono_literals;

TEST(ProducerChaos, IdempotentRecordsSurviveConnectionsKilledAtRandom) {
  auto mc = test::mock_cluster::start(3, {{"chaos", 6}});
  ASSERT_TRUE(mc.ok()) << mc.error().message();
  test::fault_proxy_options popts;
  popts.seed = 20261125;
  auto px = test::fault_proxy::start((*mc)->bootstrap(), popts);
  ASSERT_TRUE(px.ok()) << px.error().message();
  test::chaos_options chaos;
  chaos.cut_request_probability = 0.05;
  (*px)->set_chaos(chaos);

  auto p = producer::create({{"bootstrap.servers", (*px)->bootstrap()},
                             {"kprod.broker.address.override", (*px)->override_config()},
                             {"linger.ms", "2"},
                             {"batch.size", "4096"},
                             {"request.timeout.ms", "3000"},
                             {"delivery.timeout.ms", "60000"},
                             {"retry.backoff.ms", "20"}});
  ASSERT_TRUE(p.ok()) << p.error().message();

  constexpr int total = 20000;
  std::atomic<int> ok{0}, failed{0}, calls{0};
  std::mutex mu;
  std::condition_variable cv;
  std::string first_error;
  std::vector<std::atomic<int>> completions(total);
  for (int i = 0; i < total; ++i) {
    const std::string key = "k" + std::to_string(i % 97);
    const std::string value = "chaos-" + std::to_string(i);
    record r{"chaos", std::nullopt, bytes_view(key), bytes_view(value), {}, std::nullopt};
    (*p)->async_send(r, [&, i](delivery_report rep) {
      completions[static_cast<std::size_t>(i)].fetch_add(1);
      if (rep.ok()) {
        ok.fetch_add(1);
      } else {
        std::lock_guard lk(mu);
        if (failed.fetch_add(1) == 0) first_error = rep.error.message();
      }
      if (calls.fetch_add(1) + 1 == total) {
        std::lock_guard lk(mu);
        cv.notify_all();
      }
    });
  }
  {
    std::unique_lock lk(mu);
    ASSERT_TRUE(cv.wait_for(lk, 90s, [&] { return calls.load() == total; })) << calls.load() << " completions";
  }
  EXPECT_TRUE((*p)->close(10s).ok());
  EXPECT_EQ(ok.load(), total) << failed.load() << " failed, first: " << first_error;
  for (int i = 0; i < total; ++i) ASSERT_EQ(completions[static_cast<std::size_t>(i)].load(), 1) << "record " << i;
  EXPECT_GT((*px)->stats().closed_by_fault, 0u) << "chaos must have killed connections";
  EXPECT_TRUE((*px)->auditor().no_violations());
  EXPECT_EQ((*px)->auditor().stats().records >= static_cast<std::uint64_t>(total), true);
}

}  // namespace
}  // namespace kprod
