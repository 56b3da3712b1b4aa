// kprod under connection chaos: every connection through the fault proxy dies
// after 0.5-1.5 s, and 2% of requests are cut mid-frame. 200,000 keyed
// records over 6 partitions on 3 brokers, idempotent, seeded. Every record
// must complete exactly once and successfully (retries are unlimited within
// delivery.timeout.ms), be in the log once (a resend of one (pid, epoch,
// sequence) the mock appended twice counts as deduplicated), in send order
// per partition; the sequence auditor must stay clean (support/scenario.h).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "support/scenario.h"

namespace kprod::test {
namespace {

using namespace std::chrono_literals;

TEST(ProducerChaos, IdempotentRecordsSurviveConnectionsKilledAtRandom) {
  scenario_options o;
  o.topic = "chaos";
  o.records = 200000;
  o.keys = 97;
  o.value_bytes = 16;
  o.proxy_seed = 20261125;
  o.config = {{"request.timeout.ms", "3000"}, {"delivery.timeout.ms", "60000"}, {"batch.size", "8192"}};
  o.pace_every = 2000;
  o.pace_sleep = 20ms;  // ~2 s of sending: several connection lifetimes
  scenario_step chaos = scenario_step::call(0, "chaos on", [](scenario_env& env) {
    chaos_options c;
    c.cut_request_probability = 0.02;
    env.proxy.set_chaos(c);
  });
  o.steps.push_back(chaos);
  auto r = run_scenario(o);
  ASSERT_TRUE(r.ran);
  EXPECT_GT(r.proxy.closed_by_fault, 0u) << "chaos must have killed connections";
  EXPECT_GE(r.audit.records, o.records);
  EXPECT_GT(r.audit.resends, 0u);
}

}  // namespace
}  // namespace kprod::test

namespace kprod::test {
namespace {

// The long soak: millions of records under the same chaos, outside CI
// (scripts/soak.sh sets KPROD_SOAK_RECORDS). 60 partitions keep each
// partition's log under the mock's ~5 MiB retention, so consume-back sees
// everything. Prints the figures the closing note reports.
TEST(ProducerSoak, MillionsOfRecordsUnderConnectionChaos) {
  const char* n = std::getenv("KPROD_SOAK_RECORDS");
  if (!n) GTEST_SKIP() << "a soak, not a CI test: run scripts/soak.sh (sets KPROD_SOAK_RECORDS)";
  scenario_options o;
  o.topic = "soak";
  o.partitions = 60;
  o.records = static_cast<std::size_t>(std::stoull(n));
  o.keys = 997;
  o.value_bytes = 16;
  o.proxy_seed = std::getenv("KPROD_SOAK_SEED") ? std::stoull(std::getenv("KPROD_SOAK_SEED")) : 20261125;
  o.config = {{"request.timeout.ms", "3000"}, {"delivery.timeout.ms", "120000"}, {"batch.size", "16384"}};
  o.pace_every = 20000;
  o.pace_sleep = 20ms;
  o.steps.push_back(scenario_step::call(0, "chaos on", [](scenario_env& env) {
    chaos_options c;
    c.cut_request_probability = 0.02;
    env.proxy.set_chaos(c);
  }));
  auto r = run_scenario(o);
  ASSERT_TRUE(r.ran);
  EXPECT_GT(r.proxy.closed_by_fault, 0u);
  EXPECT_GE(r.audit.records, o.records);
  std::printf("[ soak ] %zu records, %llu connections killed, %llu resent batches, %llu retries\n", o.records,
              static_cast<unsigned long long>(r.proxy.closed_by_fault),
              static_cast<unsigned long long>(r.audit.resends), static_cast<unsigned long long>(r.metrics.retries));
}

}  // namespace
}  // namespace kprod::test
