// Every defined API, every version, both directions, plus every stored record and header:
// encode -> decode gives an equal value, and decode -> encode gives identical bytes; every strict prefix of a
// valid encoding is rejected. Values come from the generated fill_sample(), which sets every field a version has.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "vltava/protocol/api_registry.h"
#include "vltava/protocol/messages_test_support.h"

namespace vltava::protocol {
namespace {

constexpr int seeds_per_case = 24;
constexpr int seeds_with_prefix_check = 4;

struct round_trip_case {
  std::string label;
  std::int16_t key;  // -1 for stored records and headers
  std::int16_t version;
  bool request;
  std::string record;  // record type name when key == -1
};

template <class T>
void check_round_trip(std::int16_t version) {
  int non_trivial = 0;
  for (int seed = 0; seed < seeds_per_case; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    testing::sample_rng rng(static_cast<std::uint64_t>(seed) * 7919 + static_cast<std::uint64_t>(version));
    T original;
    testing::fill_sample(original, version, rng);

    bytes encoded;
    writer w(encoded);
    auto ec = original.encode(w, version);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(encoded.size(), original.encoded_size(version));

    T decoded;
    reader r(encoded);
    ec = decoded.decode(r, version);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_TRUE(r.at_end()) << r.remaining() << " bytes left over";
    EXPECT_TRUE(decoded == original);

    bytes again;
    writer w2(again);
    ASSERT_FALSE(decoded.encode(w2, version));
    EXPECT_EQ(again, encoded);
    if (!(original == T{})) ++non_trivial;

    if (seed < seeds_with_prefix_check) {
      for (std::size_t n = 0; n < encoded.size(); ++n) {
        T partial;
        reader pr(byte_span(encoded.data(), n));
        EXPECT_TRUE(partial.decode(pr, version)) << "a " << n << "-byte prefix of " << encoded.size() << " decoded";
      }
    }
  }
  // A message whose samples are all default values would make this test vacuous; only bodies without fields
  // in this version may be (e.g. ApiVersions v0 requests).
  if (T{}.encoded_size(version) > 0 || T::min_encoded_size(version) > 0) {
    EXPECT_GT(non_trivial, 0);
  }
}

std::vector<round_trip_case> all_cases() {
  std::vector<round_trip_case> cases;
  for (const auto& definition : all_api_definitions) {
    for (std::int16_t v = definition.min_version; v <= definition.max_version; ++v) {
      for (bool request : {true, false}) {
        cases.push_back({std::string(definition.name) + "_v" + std::to_string(v) + (request ? "_request" : "_response"),
                         static_cast<std::int16_t>(definition.key), v, request, ""});
      }
    }
  }
  visit_records([&](auto tag) {
    using T = typename decltype(tag)::type;
    for (std::int16_t v = T::min_version; v <= T::max_version; ++v) {
      cases.push_back(
          {std::string(T::message_name) + "_v" + std::to_string(v), -1, v, false, std::string(T::message_name)});
    }
  });
  return cases;
}

class MessageRoundTrip : public ::testing::TestWithParam<round_trip_case> {};

TEST_P(MessageRoundTrip, EncodeDecodeIdentity) {
  const auto& c = GetParam();
  if (c.key >= 0) {
    ASSERT_TRUE(visit_api(c.key, [&](auto request_tag, auto response_tag) {
      if (c.request) {
        check_round_trip<typename decltype(request_tag)::type>(c.version);
      } else {
        check_round_trip<typename decltype(response_tag)::type>(c.version);
      }
    }));
    return;
  }
  bool found = false;
  visit_records([&](auto tag) {
    using T = typename decltype(tag)::type;
    if (T::message_name == c.record) {
      found = true;
      check_round_trip<T>(c.version);
    }
  });
  EXPECT_TRUE(found);
}

INSTANTIATE_TEST_SUITE_P(AllApis, MessageRoundTrip, ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<round_trip_case>& param_info) {
                           return param_info.param.label;
                         });

TEST(MessageCatalog, CoversTheApisTheBrokerMustSpeak) {
  // The APIs Kafka 3.9/4.x clients send to a broker (issue #2); each must have a definition.
  const std::vector<int> required = {0,  1,  2,  3,  8,  9,  10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
                                     21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37,
                                     42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 60, 61, 65, 66, 68, 69, 75};
  auto registry = api_registry::all_definitions();
  for (int key : required) EXPECT_NE(registry.find(static_cast<std::int16_t>(key)), nullptr) << "api key " << key;
}

}  // namespace
}  // namespace vltava::protocol
