// run_handler: a handler marked `background` runs on the background pool, never on the connection's I/O thread, and
// the connection's coroutine continues on its own executor afterwards; other handlers run in place.
#include "vltava/broker/handler_dispatch.h"

#include <atomic>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_future.hpp>

#include "handler_test_support.h"
#include "vltava/broker/handlers.h"

namespace vltava::broker {
namespace {

namespace asio = boost::asio;

// Where the test handler ran, recorded by the handler itself.
std::atomic<std::thread::id> handler_thread;

asio::awaitable<void> record_thread(request_context&, std::vector<std::uint8_t>& response) {
  handler_thread = std::this_thread::get_id();
  response.assign({1, 2, 3});
  co_return;
}

asio::awaitable<void> throw_error(request_context&, std::vector<std::uint8_t>&) {
  throw std::runtime_error("handler failed");
  co_return;
}

struct dispatch_result {
  std::thread::id io_thread;   // the thread running the connection's I/O context
  std::thread::id resumed_on;  // where the caller continued after run_handler
  std::vector<std::uint8_t> response;
  bool threw = false;
};

class HandlerDispatchTest : public testing::handler_test {
 protected:
  // Runs handler through run_handler from a coroutine on an io_context of its own thread, as a connection does.
  dispatch_result dispatch(const api_handler& handler) {
    asio::io_context io;
    asio::thread_pool background(2);
    dispatch_result result;
    protocol::request_header header;
    protocol::reader body(protocol::byte_span{});
    request_context ctx{header, 0, nullptr, body, "test", *services_};
    auto caller = [&]() -> asio::awaitable<void> {
      try {
        co_await run_handler(handler, ctx, result.response, background.get_executor());
      } catch (const std::runtime_error&) {
        result.threw = true;
      }
      result.resumed_on = std::this_thread::get_id();
    };
    auto done = asio::co_spawn(io, caller(), asio::use_future);
    std::thread runner([&] {
      result.io_thread = std::this_thread::get_id();
      io.run();
    });
    runner.join();
    done.get();
    return result;
  }
};

TEST_F(HandlerDispatchTest, BackgroundHandlerRunsOnThePoolAndTheCallerResumesOnItsExecutor) {
  handler_thread = std::thread::id();
  const auto result = dispatch(api_handler{protocol::api_key::create_topics, 0, 7, record_thread, true});
  EXPECT_NE(handler_thread.load(), result.io_thread) << "a background handler ran on the I/O thread";
  EXPECT_NE(handler_thread.load(), std::thread::id());
  EXPECT_EQ(result.resumed_on, result.io_thread) << "the connection did not resume on its own executor";
  EXPECT_EQ(result.response, (std::vector<std::uint8_t>{1, 2, 3}));
}

TEST_F(HandlerDispatchTest, OtherHandlersRunOnTheConnectionsExecutor) {
  handler_thread = std::thread::id();
  const auto result = dispatch(api_handler{protocol::api_key::fetch, 4, 12, record_thread, false});
  EXPECT_EQ(handler_thread.load(), result.io_thread);
  EXPECT_EQ(result.response, (std::vector<std::uint8_t>{1, 2, 3}));
}

TEST_F(HandlerDispatchTest, AnExceptionFromABackgroundHandlerReachesTheConnection) {
  const auto result = dispatch(api_handler{protocol::api_key::create_topics, 0, 7, throw_error, true});
  EXPECT_TRUE(result.threw);
  EXPECT_EQ(result.resumed_on, result.io_thread);
}

// The handlers that create or delete topic directories, or write producer-id blocks, are the background ones.
TEST_F(HandlerDispatchTest, HandlersThatWaitForTheDiskAreMarkedBackground) {
  for (const auto key : {protocol::api_key::create_topics, protocol::api_key::delete_topics,
                         protocol::api_key::init_producer_id, protocol::api_key::metadata}) {
    const auto* handler = find_handler(static_cast<std::int16_t>(key));
    ASSERT_NE(handler, nullptr);
    EXPECT_TRUE(handler->background) << "API " << static_cast<int>(key);
  }
  for (const auto key : {protocol::api_key::produce, protocol::api_key::fetch, protocol::api_key::api_versions}) {
    const auto* handler = find_handler(static_cast<std::int16_t>(key));
    ASSERT_NE(handler, nullptr);
    EXPECT_FALSE(handler->background) << "API " << static_cast<int>(key);
  }
}

}  // namespace
}  // namespace vltava::broker
