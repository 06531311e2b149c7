// Runs one request's handler where it belongs. Most handlers run on the connection's executor (an I/O thread); a
// handler marked `background` in the handler table creates or removes files and waits for fsyncs (topic creation and
// deletion, producer-id blocks), so it runs on the background pool (background.threads) instead, and the connection
// resumes on its own executor once the handler is done. No I/O thread waits for the disk.
#pragma once

#include <cstdint>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "vltava/broker/request_context.h"

namespace vltava::broker {

boost::asio::awaitable<void> run_handler(const api_handler& handler, request_context& ctx,
                                         std::vector<std::uint8_t>& response,
                                         const boost::asio::any_io_executor& background);

}  // namespace vltava::broker
