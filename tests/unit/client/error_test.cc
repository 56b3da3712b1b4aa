#include <gtest/gtest.h>

#include "kprod/error.h"
#include "kprod/result.h"

namespace kprod {
namespace {

TEST(Error, ClientCodesCarryMessageAndDetail) {
  error e(client_errc::invalid_config, "linger.ms: must be >= 0");
  EXPECT_TRUE(static_cast<bool>(e));
  EXPECT_EQ(e.code(), client_errc::invalid_config);
  EXPECT_EQ(e.message(), "invalid configuration: linger.ms: must be >= 0");
  EXPECT_FALSE(e.is_retriable());
}

TEST(Error, DefaultIsSuccess) {
  error e;
  EXPECT_FALSE(static_cast<bool>(e));
  EXPECT_EQ(e.message(), "success");
}

TEST(Error, KafkaRetriableFlagComesFromTheTable) {
  EXPECT_TRUE(error(kafka_errc::not_leader_or_follower).is_retriable());
  EXPECT_FALSE(error(kafka_errc::unknown_server_error).is_retriable());
  EXPECT_TRUE(error(client_errc::connection_lost).is_retriable());
}

result<int> parse_positive(int v) {
  if (v <= 0) return error(client_errc::invalid_argument, "must be positive");
  return v;
}

result<void> twice(int v) {
  KP_TRY(parse_positive(v));
  return {};
}

TEST(Result, HoldsValueOrError) {
  auto ok = parse_positive(3);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 3);
  auto bad = parse_positive(-1);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), client_errc::invalid_argument);
  EXPECT_TRUE(twice(1).ok());
  EXPECT_EQ(twice(0).error().code(), client_errc::invalid_argument);
}

}  // namespace
}  // namespace kprod
