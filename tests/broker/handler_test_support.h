// A fixture for handler tests without a network: a real log manager, topic registry ("t", two partitions), producer
// state and services, and an io_context run on the test thread. spawn() starts a handler and runs it until it
// answers or waits; finish() runs the io_context until the answer is there; decode() checks the frame and header.
#pragma once

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <exception>
#include <memory>
#include <vector>

#include "../storage/storage_test_support.h"
#include "vltava/broker/broker_services.h"
#include "vltava/broker/handlers.h"
#include "vltava/broker/producer_state.h"
#include "vltava/broker/topic_config.h"
#include "vltava/broker/topic_registry.h"
#include "vltava/protocol/framing.h"
#include "vltava/storage/log_manager.h"

namespace vltava::broker::testing {

// One handler call: the request frame, the context that points into it, and the answer once done.
struct handler_call {
  std::shared_ptr<std::vector<std::uint8_t>> frame = std::make_shared<std::vector<std::uint8_t>>();
  std::unique_ptr<request_context> ctx;
  std::vector<std::uint8_t> response;
  bool done = false;
};

class handler_test : public storage::testing::temp_dir_test {
 protected:
  static constexpr std::int32_t correlation_id = 7;

  void SetUp() override {
    temp_dir_test::SetUp();
    storage::log_manager_config config;
    config.log_dirs = {dir_ / "logs"};
    config.cleaner_enable = false;
    storage::log_manager_startup startup;
    ASSERT_FALSE(storage::log_manager::open(config, {}, logs_, startup));
    topics_ = std::make_unique<topic_registry>(*logs_, config.defaults, apply_topic_log_config);
    ASSERT_FALSE(topics_->load());
    ASSERT_EQ(topics_->create("t", 2, 1, {}, false).error, protocol::error_code::none);
    producers_ = std::make_unique<producer_state_manager>(storage::storage_context{}, 86'400'000);
    ASSERT_FALSE(producers_->load(dir_ / "logs", *topics_));
    services_ = std::make_unique<broker_services>(settings_, *logs_, *topics_, *producers_, apis_);
  }
  void TearDown() override {
    services_.reset();
    producers_.reset();
    topics_.reset();
    if (logs_) (void)logs_->shutdown();
    logs_.reset();
    temp_dir_test::TearDown();
  }

  // Starts handler on call's frame (the encoded request body) and runs it until it answers or waits.
  void spawn(handler_function handler, handler_call& call, protocol::api_key api, std::int16_t version) {
    protocol::request_header header;
    header.request_api_key = static_cast<std::int16_t>(api);
    header.request_api_version = version;
    header.correlation_id = correlation_id;
    protocol::reader body(protocol::byte_span(call.frame->data(), call.frame->size()), call.frame);
    call.ctx.reset(new request_context{header, version, call.frame, body, "test", *services_});
    boost::asio::co_spawn(io_, handler(*call.ctx, call.response), [raw = &call](std::exception_ptr e) {
      if (e) ADD_FAILURE() << "the handler threw";
      raw->done = true;
    });
    io_.restart();
    io_.poll();
  }

  template <class Request>
  static std::unique_ptr<handler_call> encoded(const Request& request, std::int16_t version) {
    auto call = std::make_unique<handler_call>();
    protocol::writer w(*call->frame);
    EXPECT_FALSE(request.encode(w, version));
    return call;
  }

  // Runs the io_context until the call is answered (at most 20 s; acks=all completes on a flusher thread).
  void finish(handler_call& call) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!call.done && std::chrono::steady_clock::now() < deadline) {
      io_.restart();
      io_.run_one_for(std::chrono::milliseconds(100));
    }
    ASSERT_TRUE(call.done);
  }

  template <class Response>
  static Response decode(const handler_call& call, std::int16_t version) {
    Response body;
    protocol::reader r(protocol::byte_span(call.response.data(), call.response.size()));
    EXPECT_EQ(r.read_int32(), static_cast<std::int32_t>(call.response.size() - 4));
    protocol::response_header header;
    EXPECT_FALSE(
        header.decode(r, protocol::response_header_version(static_cast<std::int16_t>(Response::api), version)));
    EXPECT_EQ(header.correlation_id, correlation_id);
    EXPECT_FALSE(body.decode(r, version));
    EXPECT_TRUE(r.at_end());
    return body;
  }

  boost::asio::io_context io_;
  broker_settings settings_;
  protocol::api_registry apis_{{}};
  std::unique_ptr<storage::log_manager> logs_;
  std::unique_ptr<topic_registry> topics_;
  std::unique_ptr<producer_state_manager> producers_;
  std::unique_ptr<broker_services> services_;
};

}  // namespace vltava::broker::testing
