// Turns a coordinator call that completes through a callback (perhaps much later, from another thread) into an
// awaitable for a handler coroutine: the coroutine is resumed on its own executor (the connection's strand), and
// nothing blocks while it waits.
#pragma once

#include <memory>
#include <utility>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "vltava/broker/group/group_coordinator.h"

namespace vltava::broker::group {

// `start(callback)` must call the callback exactly once (the coordinator answers every request). Not a coroutine
// itself (and callers capture by reference, not by move, in the lambda they pass): GCC 12 miscompiles init-captures
// that move locals inside a co_await expression (double destruction).
template <class Response, class Start>
boost::asio::awaitable<Response> await_completion(Start start) {
  return boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&, void(Response)>(
      [start](auto handler) mutable {
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        start(completion<Response>([shared](Response answer) {
          auto executor = boost::asio::get_associated_executor(*shared);
          boost::asio::post(executor, [shared, answer = std::move(answer)]() mutable { (*shared)(std::move(answer)); });
        }));
      },
      boost::asio::use_awaitable);
}

}  // namespace vltava::broker::group
