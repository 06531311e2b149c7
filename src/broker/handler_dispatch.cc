#include "vltava/broker/handler_dispatch.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace vltava::broker {

boost::asio::awaitable<void> run_handler(const api_handler& handler, request_context& ctx,
                                         std::vector<std::uint8_t>& response,
                                         const boost::asio::any_io_executor& background) {
  if (!handler.background) {
    co_await handler.handle(ctx, response);
    co_return;
  }
  // The handler's coroutine runs on the pool; the completion (or its exception) resumes this coroutine on the
  // connection's executor.
  co_await boost::asio::co_spawn(background, handler.handle(ctx, response), boost::asio::use_awaitable);
}

}  // namespace vltava::broker
