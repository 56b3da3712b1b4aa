// The load generators' values (kprod perf and bench/rdkafka_perf share this
// header): exact sizes, deterministic bytes, and a JSON head with the
// sequence number whenever it fits (and only then).
#include "../../../tools/cli/payload_generator.h"

#include <gtest/gtest.h>

#include <string>

namespace kprod::cli {
namespace {

TEST(PayloadGenerator, ExactSizeDeterministicAndJsonHeadOnlyWhenItFits) {
  for (std::size_t size : {0, 1, 10, 17, 18, 19, 20, 21, 30, 100, 1000}) {
    payload_generator a(size), b(size);
    for (std::uint64_t seq : {0ull, 5ull, 12ull, 999ull, 1234567ull}) {
      const std::string va(a.make(seq));
      ASSERT_EQ(va.size(), size);
      EXPECT_EQ(va, std::string(b.make(seq))) << "same inputs, same bytes";
      const std::string head = "{\"seq\":" + std::to_string(seq) + ",\"data\":\"";
      const bool fits = size >= head.size() + 2;
      if (fits) {
        EXPECT_EQ(va.substr(0, head.size()), head) << size << " " << seq;
        EXPECT_EQ(va.substr(size - 2), "\"}");
      } else if (size > 0) {
        EXPECT_NE(va[0], '{') << "no JSON head in " << size << " bytes for seq " << seq;  // text has no '{'
      }
    }
  }
}

}  // namespace
}  // namespace kprod::cli
