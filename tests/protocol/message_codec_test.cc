// Byte-exact behaviour of the generated codec: known encodings, version rules, tagged fields, malformed input.
#include <gtest/gtest.h>

#include "vltava/protocol/api_registry.h"
#include "vltava/protocol/error_code.h"
#include "vltava/protocol/framing.h"
#include "vltava/protocol/messages.h"

namespace vltava::protocol {
namespace {

bytes encode_ok(const auto& message, std::int16_t version) {
  bytes out;
  writer w(out);
  auto ec = message.encode(w, version);
  EXPECT_FALSE(ec) << ec.message();
  return out;
}

template <class T>
std::error_code decode_bytes(T& out, const bytes& in, std::int16_t version) {
  reader r(in);
  return out.decode(r, version);
}

TEST(MessageCodec, ApiVersionsV3RequestHasCompactStringsAndTagSection) {
  api_versions_request request;
  request.client_software_name = "vltava";
  request.client_software_version = "1.0";
  const bytes expected = {0x07, 'v', 'l', 't', 'a', 'v', 'a', 0x04, '1', '.', '0', 0x00};
  EXPECT_EQ(encode_ok(request, 3), expected);
  EXPECT_EQ(request.encoded_size(3), expected.size());
}

TEST(MessageCodec, NonDefaultValueInVersionWithoutTheFieldIsAnError) {
  api_versions_request request;
  request.client_software_name = "vltava";
  bytes out = {0xAA};
  writer w(out);
  EXPECT_EQ(request.encode(w, 2), codec_errc::field_not_in_version);
  EXPECT_EQ(out, bytes{0xAA}) << "a failed encode must not leave partial output";
}

TEST(MessageCodec, IgnorableFieldIsDroppedInOlderVersions) {
  api_versions_response response;
  response.throttle_time_ms = 100;
  response.api_keys.push_back({.api_key = 0, .min_version = 0, .max_version = 9});
  const bytes expected = {0x00, 0x00,                           // error_code
                          0x00, 0x00, 0x00, 0x01,               // api_keys count
                          0x00, 0x00, 0x00, 0x00, 0x00, 0x09};  // key 0, min 0, max 9
  EXPECT_EQ(encode_ok(response, 0), expected);
  const bytes v1 = encode_ok(response, 1);
  ASSERT_EQ(v1.size(), expected.size() + 4);
  EXPECT_EQ(load_be<std::int32_t>(v1.data() + expected.size()), 100);
}

TEST(MessageCodec, TaggedFieldsAreWrittenOnlyWhenNotDefault) {
  api_versions_response response;
  const bytes plain = encode_ok(response, 3);
  // error_code, empty compact array (1), throttle (4), tag count 0
  EXPECT_EQ(plain, (bytes{0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00}));
  response.zk_migration_ready = true;  // tag 3
  const bytes tagged = encode_ok(response, 3);
  EXPECT_EQ(tagged, (bytes{0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x01, 0x01}));
  api_versions_response decoded;
  ASSERT_FALSE(decode_bytes(decoded, tagged, 3));
  EXPECT_TRUE(decoded.zk_migration_ready);
}

TEST(MessageCodec, UnknownTaggedFieldsArePreservedInOrder) {
  // v3 request: two strings, then 2 tagged fields: tag 5 (2 bytes) and tag 9 (1 byte), neither known.
  const bytes wire = {0x02, 'a', 0x02, 'b', 0x02, 0x05, 0x02, 0xDE, 0xAD, 0x09, 0x01, 0x7F};
  api_versions_request request;
  ASSERT_FALSE(decode_bytes(request, wire, 3));
  ASSERT_EQ(request.unknown_tagged_fields.size(), 2u);
  EXPECT_EQ(request.unknown_tagged_fields[0].tag, 5u);
  EXPECT_EQ(request.unknown_tagged_fields[0].data, (bytes{0xDE, 0xAD}));
  EXPECT_EQ(request.unknown_tagged_fields[1].tag, 9u);
  EXPECT_EQ(encode_ok(request, 3), wire);
}

TEST(MessageCodec, UnknownTagsFollowKnownTagsInAscendingOrder) {
  api_versions_response response;
  response.finalized_features_epoch = 7;                     // known tag 1
  response.zk_migration_ready = true;                        // known tag 3
  response.unknown_tagged_fields.push_back({0x07, {0x55}});  // unknown tag 7
  const bytes out = encode_ok(response, 3);
  api_versions_response decoded;
  auto ec = decode_bytes(decoded, out, 3);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(decoded, response);
  // tag count 3, then tags 1, 3, 7 in order
  const bytes tail = {0x03, 0x01, 0x08, 0, 0, 0, 0, 0, 0, 0, 7, 0x03, 0x01, 0x01, 0x07, 0x01, 0x55};
  ASSERT_GE(out.size(), tail.size());
  EXPECT_TRUE(std::equal(tail.begin(), tail.end(), out.end() - static_cast<std::ptrdiff_t>(tail.size())));
}

TEST(MessageCodec, UnknownTagReusingAKnownTagNumberIsAnEncodeError) {
  api_versions_response response;
  response.unknown_tagged_fields.push_back({0x02, {0x00}});  // tag 2 is finalized_features in v3
  bytes out;
  writer w(out);
  EXPECT_EQ(response.encode(w, 3), codec_errc::tags_out_of_order);
  EXPECT_TRUE(out.empty());
}

TEST(MessageCodec, UnknownTagsInNonFlexibleVersionAreAnEncodeError) {
  api_versions_response response;
  response.unknown_tagged_fields.push_back({0x09, {0x00}});
  bytes out;
  writer w(out);
  EXPECT_EQ(response.encode(w, 2), codec_errc::field_not_in_version);
}

TEST(MessageCodec, TagsOutOfOrderOrRepeatedAreRejected) {
  api_versions_request request;
  EXPECT_EQ(decode_bytes(request, {0x01, 0x01, 0x02, 0x09, 0x00, 0x05, 0x00}, 3), codec_errc::tags_out_of_order);
  EXPECT_EQ(decode_bytes(request, {0x01, 0x01, 0x02, 0x05, 0x00, 0x05, 0x00}, 3), codec_errc::tags_out_of_order);
}

TEST(MessageCodec, TaggedFieldLengthBeyondInputIsRejected) {
  api_versions_request request;
  EXPECT_EQ(decode_bytes(request, {0x01, 0x01, 0x01, 0x05, 0x7F, 0x00}, 3), codec_errc::length_out_of_range);
}

TEST(MessageCodec, KnownTaggedFieldMustUseExactlyItsBytes) {
  // zk_migration_ready (tag 3, bool) declared with 2 bytes.
  const bytes wire = {0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x02, 0x01, 0x00};
  api_versions_response response;
  EXPECT_EQ(decode_bytes(response, wire, 3), codec_errc::trailing_bytes);
}

TEST(MessageCodec, HugeArrayCountIsRejectedBeforeAllocating) {
  const bytes wire = {0x00, 0x00, 0x7F, 0xFF, 0xFF, 0xFF, 0x00, 0x00};
  api_versions_response response;
  EXPECT_EQ(decode_bytes(response, wire, 0), codec_errc::length_out_of_range);
  EXPECT_TRUE(response.api_keys.empty());
}

TEST(MessageCodec, NegativeLengthsAreRejected) {
  api_versions_response response;
  EXPECT_EQ(decode_bytes(response, {0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFE}, 0), codec_errc::negative_length);
  // A null (-1) array where the version does not allow null.
  EXPECT_EQ(decode_bytes(response, {0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF}, 0), codec_errc::null_not_allowed);
  // A compact null string (length byte 0) where the field is not nullable.
  api_versions_request request;
  EXPECT_EQ(decode_bytes(request, {0x00, 0x01, 0x00}, 3), codec_errc::null_not_allowed);
}

TEST(MessageCodec, OverlongVarintIsRejected) {
  api_versions_request request;
  EXPECT_EQ(decode_bytes(request, {0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, 3), codec_errc::invalid_varint);
  EXPECT_EQ(decode_bytes(request, {0x80, 0x80, 0x80, 0x80, 0x10}, 3), codec_errc::invalid_varint);
}

TEST(MessageCodec, NullableArrayWithEmptyDefaultEncodesInEveryVersion) {
  // Metadata request topics: nullable from v1 (null = all topics), empty by default (as Kafka), so a default
  // request is valid in v0 too, where null cannot be written.
  metadata_request request;
  ASSERT_TRUE(request.topics.has_value());
  EXPECT_TRUE(request.topics->empty());
  EXPECT_EQ(encode_ok(request, 0), (bytes{0x00, 0x00, 0x00, 0x00}));
  request.topics.reset();
  bytes out;
  writer w(out);
  EXPECT_EQ(request.encode(w, 0), codec_errc::null_not_allowed);
  EXPECT_EQ(encode_ok(request, 1), (bytes{0xFF, 0xFF, 0xFF, 0xFF}));
}

TEST(MessageCodec, UnsupportedVersionIsAnError) {
  api_versions_request request;
  EXPECT_EQ(decode_bytes(request, {}, 99), codec_errc::unsupported_version);
  bytes out;
  writer w(out);
  EXPECT_EQ(request.encode(w, -1), codec_errc::unsupported_version);
}

TEST(MessageCodec, InvalidBoolIsRejected) {
  const bytes wire = {0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x01, 0x02};
  api_versions_response response;
  EXPECT_EQ(decode_bytes(response, wire, 3), codec_errc::invalid_value);
}

TEST(Framing, HeaderVersionsFollowFlexibility) {
  const auto api_versions = static_cast<std::int16_t>(api_key::api_versions);
  EXPECT_EQ(request_header_version(api_versions, 2), 1);
  EXPECT_EQ(request_header_version(api_versions, 3), 2);
  EXPECT_EQ(response_header_version(api_versions, 3), 0) << "ApiVersions responses always use header v0";
  EXPECT_EQ(response_header_version(api_versions, 4), 0);
  EXPECT_EQ(request_header_version(999, 0), 1) << "undefined APIs are read with the non-flexible header";
}

TEST(Framing, RequestHeaderV2KeepsInt16ClientIdAndReadsTags) {
  const bytes wire = {0x00, 0x12, 0x00, 0x03,       // ApiVersions v3
                      0x00, 0x00, 0x00, 0x2A,       // correlation id 42
                      0x00, 0x03, 'c',  'l',  'i',  // client id, int16 length even in v2
                      0x00,                         // header tagged fields
                      0x02, 'x',  0x02, 'y',  0x00};
  reader r(wire);
  request_header_view view;
  ASSERT_FALSE(decode_request_header(r, view));
  EXPECT_TRUE(view.defined);
  EXPECT_EQ(view.header_version, 2);
  EXPECT_EQ(view.header.correlation_id, 42);
  EXPECT_EQ(view.header.client_id, "cli");
  api_versions_request body;
  ASSERT_FALSE(body.decode(r, 3));
  EXPECT_EQ(body.client_software_name, "x");
  EXPECT_TRUE(r.at_end());
}

TEST(Framing, UndefinedApiStillYieldsCorrelationId) {
  const bytes wire = {0x03, 0xE7, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0xFF, 0xFF, 0xAB};
  reader r(wire);
  request_header_view view;
  ASSERT_FALSE(decode_request_header(r, view));
  EXPECT_FALSE(view.defined);
  EXPECT_EQ(view.header.request_api_key, 999);
  EXPECT_EQ(view.header.correlation_id, 7);
  EXPECT_FALSE(view.header.client_id.has_value());
}

TEST(Framing, TruncatedHeaderIsAnError) {
  const bytes wire = {0x00, 0x12, 0x00};
  reader r(wire);
  request_header_view view;
  EXPECT_EQ(decode_request_header(r, view), codec_errc::truncated);
}

TEST(Framing, ApiVersionsAboveMaximumGetsV0AnswerWithError35) {
  // A newer client asks ApiVersions v127; the body is not parsed, the answer is header v0 + body v0.
  const bytes wire = {0x00, 0x12, 0x00, 0x7F, 0x00, 0x00, 0x00, 0x05, 0xFF, 0xFF, 0x01, 0x02, 0x03};
  reader r(wire);
  request_header_view view;
  ASSERT_FALSE(decode_request_header(r, view));
  EXPECT_FALSE(view.defined);
  api_registry registry({{api_key::api_versions, 0, 4}, {api_key::describe_configs, 0, 4}});
  bytes frame;
  ASSERT_FALSE(encode_response_frame(frame, view.header.correlation_id, 0, registry.unsupported_api_versions_answer()));
  const bytes expected = {0x00, 0x00, 0x00, 0x10,  // size 16
                          0x00, 0x00, 0x00, 0x05,  // correlation id
                          0x00, 0x23,              // UNSUPPORTED_VERSION (35)
                          0x00, 0x00, 0x00, 0x01,  // one entry
                          0x00, 0x12, 0x00, 0x00, 0x00, 0x04};
  EXPECT_EQ(frame, expected);
}

TEST(Framing, ResponseFrameUsesFlexibleHeaderWhenFlexible) {
  api_versions_response body;
  bytes v3;
  ASSERT_FALSE(encode_response_frame(v3, 9, 3, body));
  // ApiVersions v3: header v0 (no tag byte after the correlation id) even though the body is flexible.
  EXPECT_EQ(load_be<std::int32_t>(v3.data()), static_cast<std::int32_t>(v3.size() - 4));
  EXPECT_EQ(v3[8], 0x00);  // error code high byte directly after the correlation id
  EXPECT_EQ(v3.size(), 4u + 4u + body.encoded_size(3));
}

TEST(ApiRegistry, RefusesRangesBeyondTheDefinitions) {
  EXPECT_THROW(api_registry({{api_key::api_versions, 0, 99}}), std::invalid_argument);
  EXPECT_THROW(api_registry({{api_key::api_versions, 3, 2}}), std::invalid_argument);
  EXPECT_THROW(api_registry({{api_key::api_versions, 0, 1}, {api_key::api_versions, 2, 3}}), std::invalid_argument);
}

TEST(ApiRegistry, AnswersApiVersionsFromItsRanges) {
  api_registry registry({{api_key::describe_configs, 0, 4}, {api_key::api_versions, 0, 4}});
  EXPECT_TRUE(registry.supports(18, 4));
  EXPECT_FALSE(registry.supports(18, 5));
  EXPECT_FALSE(registry.supports(0, 0));
  auto answer = registry.api_versions_answer();
  EXPECT_EQ(answer.error_code, 0);
  ASSERT_EQ(answer.api_keys.size(), 2u);
  EXPECT_EQ(answer.api_keys[1].api_key, 32);  // sorted by key
  EXPECT_EQ(answer.api_keys[1].max_version, 4);
  EXPECT_EQ(answer.api_keys[0].api_key, 18);
}

TEST(ErrorCodes, NamesAndValuesMatchTheProtocolGuide) {
  EXPECT_EQ(static_cast<int>(error_code::unsupported_version), 35);
  EXPECT_EQ(error_name(error_code::not_leader_or_follower), "NOT_LEADER_OR_FOLLOWER");
  EXPECT_EQ(error_name(static_cast<error_code>(-1)), "UNKNOWN_SERVER_ERROR");
  EXPECT_EQ(error_name(static_cast<error_code>(30000)), "UNKNOWN");
  EXPECT_TRUE(is_retriable(error_code::not_leader_or_follower));
  EXPECT_FALSE(is_retriable(error_code::message_too_large));
}

}  // namespace
}  // namespace vltava::protocol
