// Every generated message at every version it supports: a value with every
// present field set away from its default survives encode -> decode, the
// encoder writes exactly encoded_size() bytes, and no strict prefix of the
// encoding decodes (the decoder never reads past what it was given).
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "codec/byte_reader.h"
#include "codec/byte_writer.h"
#include "unit/protocol/generated/samples.h"

namespace kprod::protocol {
namespace {

template <typename T>
class GeneratedMessage : public ::testing::Test {};
TYPED_TEST_SUITE(GeneratedMessage, samples::all_messages);

TYPED_TEST(GeneratedMessage, RoundTripsAFullSampleAtEveryVersion) {
  for (int v = TypeParam::lowest_version; v <= TypeParam::highest_version; ++v) {
    const auto version = static_cast<std::int16_t>(v);
    SCOPED_TRACE(std::string(TypeParam::message_name) + " v" + std::to_string(v));
    TypeParam sent;
    samples::fill_sample(sent, version);
    std::vector<std::uint8_t> bytes;
    codec::byte_writer w(bytes);
    auto encoded = encode(w, sent, version);
    ASSERT_TRUE(encoded.ok()) << encoded.error().message();
    EXPECT_EQ(bytes.size(), encoded_size(sent, version));

    codec::byte_reader r(bytes);
    TypeParam received;
    auto decoded = decode(r, received, version);
    ASSERT_TRUE(decoded.ok()) << decoded.error().message();
    EXPECT_TRUE(r.empty());
    EXPECT_TRUE(received == sent);

    for (std::size_t n = 0; n < bytes.size(); ++n) {
      codec::byte_reader prefix(bytes.data(), n);
      TypeParam partial;
      auto result = decode(prefix, partial, version);
      ASSERT_FALSE(result.ok()) << "a " << n << "-byte prefix of " << bytes.size() << " decoded";
      EXPECT_EQ(result.error().code(), client_errc::malformed_response);
    }
  }
}

TYPED_TEST(GeneratedMessage, DefaultValueRoundTripsAtEveryVersion) {
  for (int v = TypeParam::lowest_version; v <= TypeParam::highest_version; ++v) {
    const auto version = static_cast<std::int16_t>(v);
    SCOPED_TRACE(v);
    const TypeParam sent{};
    std::vector<std::uint8_t> bytes;
    codec::byte_writer w(bytes);
    auto encoded = encode(w, sent, version);
    ASSERT_TRUE(encoded.ok()) << encoded.error().message();
    EXPECT_EQ(bytes.size(), encoded_size(sent, version));
    codec::byte_reader r(bytes);
    TypeParam received;
    ASSERT_TRUE(decode(r, received, version).ok());
    EXPECT_TRUE(r.empty());
    EXPECT_TRUE(received == sent);
  }
}

TYPED_TEST(GeneratedMessage, RejectsVersionsOutsideItsRange) {
  TypeParam m;
  std::vector<std::uint8_t> bytes;
  codec::byte_writer w(bytes);
  for (int v : {TypeParam::lowest_version - 1, TypeParam::highest_version + 1}) {
    const auto version = static_cast<std::int16_t>(v);
    auto encoded = encode(w, m, version);
    ASSERT_FALSE(encoded.ok());
    EXPECT_EQ(encoded.error().code(), client_errc::unsupported_version);
    EXPECT_EQ(encoded_size(m, version), 0u);
    const std::uint8_t some[8] = {};
    codec::byte_reader r(some, sizeof some);
    auto decoded = decode(r, m, version);
    ASSERT_FALSE(decoded.ok());
    EXPECT_EQ(decoded.error().code(), client_errc::unsupported_version);
  }
  EXPECT_TRUE(bytes.empty());
}

// Unknown tagged fields cannot be carried by a non-flexible version.
TYPED_TEST(GeneratedMessage, UnknownTagsNeedAFlexibleVersion) {
  TypeParam m;
  m.unknown_tagged_fields.push_back(tagged_field{999, {1}});
  std::vector<std::uint8_t> bytes;
  codec::byte_writer w(bytes);
  auto encoded = encode(w, m, TypeParam::lowest_version);
  // Every generated message (headers included) is non-flexible at its lowest version.
  ASSERT_FALSE(encoded.ok());
  EXPECT_EQ(encoded.error().code(), client_errc::unsupported_version);
  EXPECT_TRUE(bytes.empty()) << "a failed encode leaves nothing behind";
}

}  // namespace
}  // namespace kprod::protocol
