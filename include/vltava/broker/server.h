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
#include <boost/asio/thread_pool.hpp>

#include "vltava/broker/broker_services.h"
#include "vltava/broker/request_context.h"
#include "vltava/storage/file.h"

namespace vltava::broker {

struct listener_address {
  std::string host;  // empty or "0.0.0.0": every IPv4 interface; "::" every interface
  std::uint16_t port = 9092;
};

// How a response's file slices (Fetch record data) reach a plain TCP socket.
enum class file_send_mode {
  sendfile,  // from the segment file to the socket with sendfile(2), never through user space (the default)
  read,      // read into a buffer by the connection and written: the path sendfile falls back to (EINVAL, ENOSYS)
  copy,      // read into the encoded response by the handler, as a TLS listener has to (no file slices at all)
};

struct server_options {
  std::vector<listener_address> listeners;
  std::size_t threads = 0;                            // num.network.threads; 0: one per core
  std::size_t background_threads = 10;                // background.threads: handlers that wait for the disk
  std::int32_t socket_request_max_bytes = 104857600;  // socket.request.max.bytes
  std::int64_t connections_max_idle_ms = 600'000;     // connections.max.idle.ms
  std::int32_t socket_send_buffer_bytes = 102400;     // socket.send.buffer.bytes (-1: OS default)
  std::int32_t socket_receive_buffer_bytes = 102400;  // socket.receive.buffer.bytes (-1: OS default)
  // The environment variable VLTAVA_FILE_SENDS=sendfile|read|copy overrides it (benchmarks, diagnosis).
  file_send_mode file_sends = file_send_mode::sendfile;
};

// What the connections sent from files, since the server started.
struct server_stats {
  std::uint64_t sendfile_bytes = 0;  // file bytes sent with sendfile(2)
  std::uint64_t read_bytes = 0;      // file bytes read into a buffer and written (file_send_mode::read, fallback)
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
  server_stats stats() const noexcept {
    return {sendfile_bytes_.load(std::memory_order_relaxed), read_bytes_.load(std::memory_order_relaxed)};
  }

 public:
  class connection;  // defined in server.cc

 private:
  boost::asio::awaitable<void> accept_loop(boost::asio::ip::tcp::acceptor& acceptor);
  struct close_reason;      // server.cc
  struct pipeline_request;  // one request between read and answered (server.cc)
  struct pipeline;          // a connection's requests between read and answered, in order (server.cc)
  boost::asio::awaitable<void> serve(std::shared_ptr<connection> conn);
  boost::asio::awaitable<void> read_requests(std::shared_ptr<connection> conn, std::shared_ptr<pipeline> state);
  boost::asio::awaitable<void> write_answers(std::shared_ptr<connection> conn, pipeline& state);
  boost::asio::awaitable<void> handle_request(const api_handler& handler, protocol::request_header header,
                                              std::int16_t version, std::shared_ptr<std::vector<std::uint8_t>> frame,
                                              protocol::reader body, std::string peer,
                                              std::shared_ptr<pipeline_request> request,
                                              std::shared_ptr<pipeline> state);
  // Writes a response frame: the bytes of response with each file part's slice spliced in at its position.
  boost::asio::awaitable<boost::system::error_code> write_response(connection& conn,
                                                                   const std::vector<std::uint8_t>& response,
                                                                   const std::vector<response_file_part>& parts);
  boost::asio::awaitable<boost::system::error_code> send_file(connection& conn, const storage::file_slice& slice);
  boost::asio::awaitable<boost::system::error_code> read_and_write(connection& conn, const storage::file& source,
                                                                   std::uint64_t position, std::uint64_t length);

  server_options options_;
  broker_services& services_;
  boost::asio::io_context io_;
  boost::asio::thread_pool background_;  // handlers marked background (handler_dispatch.h)
  std::vector<std::unique_ptr<boost::asio::ip::tcp::acceptor>> acceptors_;
  std::vector<boost::asio::ip::tcp::endpoint> bound_;
  std::mutex connections_mutex_;
  std::set<std::shared_ptr<connection>> connections_;
  std::atomic<bool> stopping_{false};
  std::atomic<std::uint64_t> sendfile_bytes_{0};
  std::atomic<std::uint64_t> read_bytes_{0};
};

// Writes the bound addresses ("host:port" lines) to path atomically (temporary file, then rename), so a test that
// waits for the file never reads half of it.
[[nodiscard]] std::error_code write_ready_file(const std::filesystem::path& path,
                                               const std::vector<boost::asio::ip::tcp::endpoint>& endpoints);

}  // namespace vltava::broker
