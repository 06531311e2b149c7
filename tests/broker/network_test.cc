// The network layer of the real broker, seen by a raw TCP client: ApiVersions in every version, in-order answers
// to pipelined requests, hostile input closing only its own connection, the socket limits, the ready file and a
// graceful stop. Each test starts its own broker on port 0 in its own temporary directory.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "broker_process.h"
#include "raw_client.h"
#include "vltava/broker/handlers.h"
#include "vltava/protocol/error_code.h"
#include "vltava/protocol/framing.h"
#include "vltava/storage/log_manager.h"

namespace vltava::broker::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using protocol::api_key;
using protocol::api_versions_request;
using protocol::api_versions_response;
using protocol::metadata_request;
using protocol::metadata_response;

constexpr std::int16_t api_versions_key = static_cast<std::int16_t>(api_key::api_versions);
constexpr std::int16_t unsupported_version = static_cast<std::int16_t>(protocol::error_code::unsupported_version);

::testing::AssertionResult connect_to(raw_client& client, const broker_process& broker) {
  return client.connect(broker.host(), broker.port());
}

api_versions_request api_versions_request_for(std::int16_t version) {
  api_versions_request request;
  if (version >= 3) {
    request.client_software_name = "vltava-network-test";
    request.client_software_version = "1.0";
  }
  return request;
}

// Asks ApiVersions v`version` on `client` and checks the broker answers it without error.
::testing::AssertionResult api_versions_works(raw_client& client, std::int16_t version = 0,
                                              std::int32_t correlation_id = 1) {
  if (auto sent = client.send_request(correlation_id, version, api_versions_request_for(version)); !sent) return sent;
  api_versions_response response;
  if (auto read = client.read_response(correlation_id, version, response); !read) return read;
  if (response.error_code != 0) return ::testing::AssertionFailure() << "error " << response.error_code;
  if (response.api_keys.empty()) return ::testing::AssertionFailure() << "no APIs advertised";
  return ::testing::AssertionSuccess();
}

// A new connection to `broker` that gets an answer to ApiVersions: the broker still serves.
::testing::AssertionResult broker_serves(const broker_process& broker) {
  raw_client client;
  if (auto connected = connect_to(client, broker); !connected) return connected;
  return api_versions_works(client);
}

// A request frame with header v1 written by hand, for API keys and versions that have no definition.
protocol::bytes hand_made_frame(std::int16_t key, std::int16_t version, std::int32_t correlation_id,
                                std::string_view body) {
  protocol::bytes out;
  protocol::writer w(out);
  w.write_int32(0);
  w.write_int16(key);
  w.write_int16(version);
  w.write_int32(correlation_id);
  const std::string_view client_id = "vltava-network-test";
  w.write_int16(static_cast<std::int16_t>(client_id.size()));
  w.write_raw(client_id);
  w.write_raw(body);
  w.patch_int32(0, static_cast<std::int32_t>(out.size() - protocol::frame_size_prefix));
  return out;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> ranges_text(const std::vector<api_versions_response::api_version>& keys) {
  std::vector<std::string> out;
  for (const auto& k : keys) {
    out.push_back(std::to_string(k.api_key) + ":" + std::to_string(k.min_version) + "-" +
                  std::to_string(k.max_version));
  }
  std::sort(out.begin(), out.end());
  return out;
}

const api_versions_response::api_version* find_key(const api_versions_response& response, api_key key) {
  for (const auto& k : response.api_keys) {
    if (k.api_key == static_cast<std::int16_t>(key)) return &k;
  }
  return nullptr;
}

class NetworkTest : public ::testing::Test {
 protected:
  void start(std::vector<std::string> overrides = {}) {
    broker_ = std::make_unique<broker_process>(std::move(overrides));
    ASSERT_TRUE(broker_->start());
  }
  std::unique_ptr<broker_process> broker_;
};

TEST_F(NetworkTest, ReadyFileListsOneConnectableListener) {
  ASSERT_NO_FATAL_FAILURE(start());
  const std::string contents = read_file(broker_->ready_file());
  EXPECT_EQ(contents, "127.0.0.1:" + std::to_string(broker_->port()) + "\n");
  EXPECT_NE(broker_->port(), 0);
  EXPECT_EQ(broker_->bootstrap(), "127.0.0.1:" + std::to_string(broker_->port()));
  EXPECT_TRUE(broker_serves(*broker_));
}

TEST_F(NetworkTest, ApiVersionsAnswersTheServedRangesInEveryVersion) {
  ASSERT_NO_FATAL_FAILURE(start());
  std::vector<api_versions_response::api_version> expected;
  for (const auto& range : served_apis().ranges()) {
    api_versions_response::api_version k;
    k.api_key = static_cast<std::int16_t>(range.key);
    k.min_version = range.min_version;
    k.max_version = range.max_version;
    expected.push_back(k);
  }
  raw_client client;
  ASSERT_TRUE(connect_to(client, *broker_));
  for (std::int16_t version = 0; version <= 3; ++version) {
    SCOPED_TRACE("ApiVersions v" + std::to_string(version));
    const std::int32_t correlation_id = 100 + version;
    ASSERT_TRUE(client.send_request(correlation_id, version, api_versions_request_for(version)));
    api_versions_response response;
    ASSERT_TRUE(client.read_response(correlation_id, version, response));
    EXPECT_EQ(response.error_code, 0);
    EXPECT_EQ(response.throttle_time_ms, 0);
    EXPECT_EQ(ranges_text(response.api_keys), ranges_text(expected));

    // What real clients key their features on (PROTOCOL-NOTES.md).
    const auto* api_versions = find_key(response, api_key::api_versions);
    ASSERT_NE(api_versions, nullptr);
    EXPECT_EQ(api_versions->min_version, 0);
    EXPECT_EQ(api_versions->max_version, 3);
    const auto* produce = find_key(response, api_key::produce);
    ASSERT_NE(produce, nullptr);
    EXPECT_EQ(produce->min_version, 0) << "librdkafka stops compressing when Produce v0 is not advertised";
    EXPECT_GE(produce->max_version, 7) << "librdkafka needs Produce v7 for zstd";
    const auto* fetch = find_key(response, api_key::fetch);
    ASSERT_NE(fetch, nullptr);
    EXPECT_LE(fetch->min_version, 4);
    EXPECT_GE(fetch->max_version, 10);
    const auto* metadata = find_key(response, api_key::metadata);
    ASSERT_NE(metadata, nullptr);
    EXPECT_EQ(metadata->min_version, 0) << "kafka-python sends Metadata v0";
    for (std::int16_t never : {68, 69, 71, 72}) {
      EXPECT_EQ(find_key(response, static_cast<api_key>(never)), nullptr) << "API " << never << " is not implemented";
    }
    std::set<std::int16_t> keys;
    for (const auto& k : response.api_keys) EXPECT_TRUE(keys.insert(k.api_key).second) << "key twice: " << k.api_key;
  }
}

TEST_F(NetworkTest, ApiVersionsAboveOurMaxGetsUnsupportedVersionInAV0Body) {
  ASSERT_NO_FATAL_FAILURE(start());
  raw_client client;
  ASSERT_TRUE(connect_to(client, *broker_));

  // v4 is a version our message definitions know (flexible header and body) but the broker does not serve.
  ASSERT_TRUE(client.send_request(7, 4, api_versions_request_for(4)));
  api_versions_response response;
  // The answer has header v0 and a v0 body whatever version was asked.
  ASSERT_TRUE(client.read_response(7, 0, response));
  EXPECT_EQ(response.error_code, unsupported_version);
  const auto* entry = find_key(response, api_key::api_versions);
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(entry->min_version, 0);
  EXPECT_EQ(entry->max_version, 3);

  // v99 has no definition at all; its body must not even be parsed.
  ASSERT_TRUE(client.send_bytes(hand_made_frame(api_versions_key, 99, 8, "\x01\x02\x03 no body we know")));
  response = {};
  ASSERT_TRUE(client.read_response(8, 0, response));
  EXPECT_EQ(response.error_code, unsupported_version);
  entry = find_key(response, api_key::api_versions);
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(entry->max_version, 3);

  // A client then retries with a version we serve, on the same connection (librdkafka, KafkaJS).
  EXPECT_TRUE(api_versions_works(client, 3, 9));
  EXPECT_TRUE(api_versions_works(client, 0, 10));
}

TEST_F(NetworkTest, PipelinedRequestsAreAnsweredInRequestOrder) {
  ASSERT_NO_FATAL_FAILURE(start());
  raw_client client;
  ASSERT_TRUE(connect_to(client, *broker_));

  struct sent_request {
    std::int32_t correlation_id;
    bool is_metadata;
    std::int16_t version;
  };
  std::vector<sent_request> requests;
  protocol::bytes all;
  for (int i = 0; i < 20; ++i) {
    sent_request request{5000 + i, i % 2 == 1, 0};
    protocol::bytes frame;
    if (request.is_metadata) {
      request.version = static_cast<std::int16_t>((i / 2) % 13);
      metadata_request metadata;
      // All topics: an empty list in v0, null from v1 on.
      if (request.version >= 1) metadata.topics.reset();
      frame = raw_client::frame(request.correlation_id, request.version, metadata);
    } else {
      request.version = static_cast<std::int16_t>((i / 2) % 4);
      frame = raw_client::frame(request.correlation_id, request.version, api_versions_request_for(request.version));
    }
    all.insert(all.end(), frame.begin(), frame.end());
    requests.push_back(request);
  }
  // One write: the broker finds all 20 requests waiting in its socket.
  ASSERT_TRUE(client.send_bytes(all));

  for (const auto& request : requests) {
    SCOPED_TRACE("correlation id " + std::to_string(request.correlation_id));
    if (request.is_metadata) {
      metadata_response response;
      ASSERT_TRUE(client.read_response(request.correlation_id, request.version, response));
      EXPECT_EQ(response.brokers.size(), 1u);
    } else {
      api_versions_response response;
      ASSERT_TRUE(client.read_response(request.correlation_id, request.version, response));
      EXPECT_EQ(response.error_code, 0);
    }
  }
}

TEST_F(NetworkTest, MetadataAdvertisesTheBoundListenerInEveryVersion) {
  ASSERT_NO_FATAL_FAILURE(start());
  raw_client client;
  ASSERT_TRUE(connect_to(client, *broker_));
  for (std::int16_t version = 0; version <= 12; ++version) {
    SCOPED_TRACE("Metadata v" + std::to_string(version));
    metadata_request request;
    if (version >= 1) request.topics.reset();
    ASSERT_TRUE(client.send_request(version, version, request));
    metadata_response response;
    ASSERT_TRUE(client.read_response(version, version, response));
    ASSERT_EQ(response.brokers.size(), 1u);
    // listeners=PLAINTEXT://127.0.0.1:0: clients must be told the port actually bound, not 0.
    EXPECT_EQ(response.brokers[0].host, "127.0.0.1");
    EXPECT_EQ(response.brokers[0].port, broker_->port());
    if (version >= 1) {
      EXPECT_EQ(response.controller_id, response.brokers[0].node_id);
    }
    EXPECT_TRUE(response.topics.empty());
  }
}

// Input no client should send: the broker closes that connection (nothing to answer, or no way to know how) and
// keeps serving everyone else.
struct bad_input {
  std::string name;
  protocol::bytes data;
  bool half_close_after = false;  // send EOF after the data, as a client that gives up mid-frame
};

std::vector<bad_input> bad_inputs() {
  auto text = [](std::string_view s) { return protocol::bytes(s.begin(), s.end()); };
  auto with_size = [](std::uint32_t size, std::string_view rest) {
    protocol::bytes out(4);
    protocol::store_be(out.data(), size);
    out.insert(out.end(), rest.begin(), rest.end());
    return out;
  };
  std::vector<bad_input> inputs;
  inputs.push_back({"an HTTP request", text("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")});
  inputs.push_back({"a 2 GB length prefix", with_size(0x7fffffff, "\x00\x12\x00\x00")});
  inputs.push_back({"a negative length prefix", with_size(0xffffffff, "")});
  inputs.push_back({"a frame too short for a header", with_size(3, "\x00\x12\x00")});
  // A header whose client id claims 30000 bytes in a 12-byte frame.
  inputs.push_back(
      {"a malformed header", with_size(12, std::string_view("\x00\x12\x00\x00\x00\x00\x00\x01\x75\x30zz", 12))});
  inputs.push_back({"a truncated frame", with_size(100, "\x00\x12\x00\x00\x00\x00\x00\x01"), true});
  inputs.push_back({"an unknown API key (1000)", hand_made_frame(1000, 0, 1, "")});
  inputs.push_back({"an unknown API key (-1)", hand_made_frame(-1, 0, 1, "")});
  inputs.push_back({"Metadata v13 (defined, not served)", raw_client::frame(1, 13, metadata_request{})});
  inputs.push_back({"Metadata v99", hand_made_frame(static_cast<std::int16_t>(api_key::metadata), 99, 1, "")});
  inputs.push_back({"Fetch v3 (below the served minimum)", raw_client::frame(1, 3, protocol::fetch_request{})});
  inputs.push_back({"Metadata v-1", hand_made_frame(static_cast<std::int16_t>(api_key::metadata), -1, 1, "")});
  return inputs;
}

TEST_F(NetworkTest, BadInputClosesOnlyItsOwnConnection) {
  ASSERT_NO_FATAL_FAILURE(start());
  // A well-behaved client connected all along must not notice.
  raw_client bystander;
  ASSERT_TRUE(connect_to(bystander, *broker_));
  ASSERT_TRUE(api_versions_works(bystander, 3, 1));

  std::int32_t bystander_correlation = 2;
  for (const auto& input : bad_inputs()) {
    SCOPED_TRACE(input.name);
    raw_client client;
    ASSERT_TRUE(connect_to(client, *broker_));
    EXPECT_TRUE(client.send_bytes(input.data));
    if (input.half_close_after) client.shutdown_write();
    EXPECT_TRUE(client.expect_closed());
    EXPECT_TRUE(broker_serves(*broker_));
    EXPECT_TRUE(api_versions_works(bystander, 3, bystander_correlation++));
  }
  EXPECT_TRUE(broker_->running());
}

TEST_F(NetworkTest, ClientVanishingMidFrameDoesNotHurtTheBroker) {
  ASSERT_NO_FATAL_FAILURE(start());
  for (int i = 0; i < 10; ++i) {
    raw_client client;
    ASSERT_TRUE(connect_to(client, *broker_));
    // Half of a Metadata request, then the client is gone.
    const auto frame = raw_client::frame(1, 1, metadata_request{});
    ASSERT_TRUE(client.send_bytes(protocol::byte_span(frame.data(), frame.size() / 2)));
    client.close();
  }
  EXPECT_TRUE(broker_serves(*broker_));
}

TEST_F(NetworkTest, MalformedBodyIsAnsweredOrClosedAndTheBrokerKeepsServing) {
  ASSERT_NO_FATAL_FAILURE(start());
  // Metadata v1 whose topic array claims a million entries with no bytes behind them.
  protocol::bytes body;
  protocol::writer w(body);
  w.write_int32(1'000'000);
  raw_client client;
  ASSERT_TRUE(connect_to(client, *broker_));
  ASSERT_TRUE(
      client.send_bytes(hand_made_frame(static_cast<std::int16_t>(api_key::metadata), 1, 42,
                                        std::string_view(reinterpret_cast<const char*>(body.data()), body.size()))));
  protocol::bytes frame;
  const auto status = client.read_frame(frame);
  ASSERT_NE(status, raw_client::read_status::timeout) << "neither an answer nor a close";
  if (status == raw_client::read_status::frame) {
    ASSERT_GE(frame.size(), 4u);
    EXPECT_EQ(protocol::load_be<std::int32_t>(frame.data()), 42);
  }
  EXPECT_TRUE(broker_serves(*broker_));
}

TEST_F(NetworkTest, RequestLargerThanSocketRequestMaxBytesClosesTheConnection) {
  ASSERT_NO_FATAL_FAILURE(start({"socket.request.max.bytes=1000"}));
  // ApiVersions v0 whose client id pads the frame to an exact size (after the size prefix): 10 bytes of header
  // before the client id, an empty body.
  auto padded_api_versions = [](std::size_t frame_size) {
    return raw_client::frame(1, 0, api_versions_request{}, std::string(frame_size - 10, 'p'));
  };
  {
    SCOPED_TRACE("exactly socket.request.max.bytes");
    raw_client client;
    ASSERT_TRUE(connect_to(client, *broker_));
    const auto frame = padded_api_versions(1000);
    ASSERT_EQ(frame.size(), 1004u);
    ASSERT_TRUE(client.send_bytes(frame));
    api_versions_response response;
    EXPECT_TRUE(client.read_response(1, 0, response));
  }
  {
    SCOPED_TRACE("one byte more");
    raw_client client;
    ASSERT_TRUE(connect_to(client, *broker_));
    ASSERT_TRUE(client.send_bytes(padded_api_versions(1001)));
    EXPECT_TRUE(client.expect_closed());
  }
  {
    SCOPED_TRACE("a big Metadata request");
    raw_client client;
    ASSERT_TRUE(connect_to(client, *broker_));
    metadata_request request;
    request.topics->resize(100);
    for (std::size_t i = 0; i < request.topics->size(); ++i) (*request.topics)[i].name = "topic-" + std::to_string(i);
    ASSERT_TRUE(client.send_request(1, 1, request));
    EXPECT_TRUE(client.expect_closed());
  }
  EXPECT_TRUE(broker_serves(*broker_));
}

TEST_F(NetworkTest, IdleConnectionIsClosedAfterConnectionsMaxIdleMs) {
  ASSERT_NO_FATAL_FAILURE(start({"connections.max.idle.ms=500"}));
  raw_client client;
  ASSERT_TRUE(connect_to(client, *broker_));
  ASSERT_TRUE(api_versions_works(client));
  const auto answered = std::chrono::steady_clock::now();
  EXPECT_TRUE(client.expect_closed(30s));
  // The broker's idle clock started before its answer reached us, so allow it some slack, but it must not close a
  // connection long before the idle time.
  EXPECT_GE(std::chrono::steady_clock::now() - answered, 250ms);
  EXPECT_TRUE(broker_serves(*broker_));
}

TEST_F(NetworkTest, SigtermStopsGracefullyAndMarksACleanShutdown) {
  ASSERT_NO_FATAL_FAILURE(start());
  // An idle connection must not hold the stop up; it is closed.
  raw_client idle;
  ASSERT_TRUE(connect_to(idle, *broker_));
  ASSERT_TRUE(api_versions_works(idle));

  ASSERT_TRUE(broker_->stop(30s, SIGTERM));
  EXPECT_EQ(broker_->exit_status(), 0);
  EXPECT_TRUE(fs::exists(broker_->log_dir() / storage::clean_shutdown_marker))
      << "no " << storage::clean_shutdown_marker << " in " << broker_->log_dir();
  EXPECT_TRUE(idle.expect_closed(5s));

  // Started again, the broker consumes the marker, so that a crash after this start is recovered.
  ASSERT_TRUE(broker_->start());
  EXPECT_FALSE(fs::exists(broker_->log_dir() / storage::clean_shutdown_marker));
  EXPECT_TRUE(broker_serves(*broker_));
}

TEST_F(NetworkTest, SigintStopsGracefully) {
  ASSERT_NO_FATAL_FAILURE(start());
  ASSERT_TRUE(broker_serves(*broker_));
  ASSERT_TRUE(broker_->stop(30s, SIGINT));
  EXPECT_EQ(broker_->exit_status(), 0);
  EXPECT_TRUE(fs::exists(broker_->log_dir() / storage::clean_shutdown_marker));
}

TEST_F(NetworkTest, TwoBrokersRunSideBySideOnPortZero) {
  broker_process first;
  broker_process second;
  ASSERT_TRUE(first.start());
  ASSERT_TRUE(second.start());
  EXPECT_NE(first.port(), second.port());
  EXPECT_TRUE(broker_serves(first));
  EXPECT_TRUE(broker_serves(second));
  ASSERT_TRUE(first.stop());
  EXPECT_EQ(first.exit_status(), 0);
  // One broker going away leaves the other alone.
  EXPECT_TRUE(broker_serves(second));
}

}  // namespace
}  // namespace vltava::broker::testing
