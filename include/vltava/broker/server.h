// The network side: listeners, connections, framing and dispatch, on Boost.Asio C++20 coroutines.
//
// Threads: one io_context run by `threads` threads. Each connection is a coroutine on its own strand, so its
// requests are read, handled and answered one after another, in order, as Kafka does (a client may pipeline: the
// next requests wait in the socket buffer). Different connections run in parallel on all threads. Handlers never
// block: waits (fetch long-polls, acks=all fsyncs) are asynchronous.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "vltava/broker/broker_services.h"

namespace vltava::broker {

struct listener_address {
  std::string host;  // empty or "0.0.0.0": every IPv4 interface; "::" every interface
  std::uint16_t port = 9092;
};

struct server_options {
  std::vector<listener_address> listeners;
  std::size_t threads = 0;                            // num.network.threads; 0: one per core
  std::int32_t socket_request_max_bytes = 104857600;  // socket.request.max.bytes
  std::int64_t connections_max_idle_ms = 600'000;     // connections.max.idle.ms
  std::int32_t socket_send_buffer_bytes = 102400;     // socket.send.buffer.bytes (-1: OS default)
  std::int32_t socket_receive_buffer_bytes = 102400;  // socket.receive.buffer.bytes (-1: OS default)
};

class server {
 public:
  server(server_options options, broker_services& services);
  ~server();

  // Binds every listener (port 0 picks a free port) and starts accepting. The bound addresses are then known.
  [[nodiscard]] std::error_code start();
  const std::vector<boost::asio::ip::tcp::endpoint>& bound() const noexcept { return bound_; }

  // Runs the I/O threads until stop() has been called and every connection has finished its request in flight.
  void run();
  // Stops accepting, lets each connection finish the request it is handling, then closes it. Thread-safe; may be
  // called from a signal handler's completion or another thread.
  void stop();

  boost::asio::io_context& context() noexcept { return io_; }

 public:
  class connection;  // defined in server.cc

 private:
  boost::asio::awaitable<void> accept_loop(boost::asio::ip::tcp::acceptor& acceptor);
  boost::asio::awaitable<void> serve(std::shared_ptr<connection> conn);

  server_options options_;
  broker_services& services_;
  boost::asio::io_context io_;
  std::vector<std::unique_ptr<boost::asio::ip::tcp::acceptor>> acceptors_;
  std::vector<boost::asio::ip::tcp::endpoint> bound_;
  std::mutex connections_mutex_;
  std::set<std::shared_ptr<connection>> connections_;
  std::atomic<bool> stopping_{false};
};

// Writes the bound addresses ("host:port" lines) to path atomically (temporary file, then rename), so a test that
// waits for the file never reads half of it.
[[nodiscard]] std::error_code write_ready_file(const std::filesystem::path& path,
                                               const std::vector<boost::asio::ip::tcp::endpoint>& endpoints);

}  // namespace vltava::broker
