// Listeners, connections and dispatch: read a frame, decode its header, run the API's handler, write the answer.
#include "vltava/broker/server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/sendfile.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <optional>
#include <string_view>

#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "vltava/broker/handler_dispatch.h"
#include "vltava/broker/handlers.h"
#include "vltava/protocol/framing.h"

namespace vltava::broker {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;

class server::connection {
 public:
  explicit connection(tcp::socket socket) : socket_(std::move(socket)), idle_timer_(socket_.get_executor()) {
    boost::system::error_code ec;
    const auto remote = socket_.remote_endpoint(ec);
    peer_ = ec ? std::string("unknown") : remote.address().to_string() + ":" + std::to_string(remote.port());
  }
  tcp::socket& socket() noexcept { return socket_; }
  asio::steady_timer& idle_timer() noexcept { return idle_timer_; }
  const std::string& peer() const noexcept { return peer_; }

  // Ends the connection's wait for its next request; a request being handled is finished and answered first.
  void shut_down_reading() {
    asio::post(socket_.get_executor(), [this] {
      boost::system::error_code ignored;
      socket_.shutdown(tcp::socket::shutdown_receive, ignored);
      idle_timer_.cancel();
    });
  }

 private:
  tcp::socket socket_;
  asio::steady_timer idle_timer_;
  std::string peer_;
};

server::server(server_options options, broker_services& services)
    : options_(std::move(options)),
      services_(services),
      background_(std::max<std::size_t>(options_.background_threads, 1)) {
  if (const char* mode = std::getenv("VLTAVA_FILE_SENDS")) {
    const std::string_view value(mode);
    if (value == "sendfile") {
      options_.file_sends = file_send_mode::sendfile;
    } else if (value == "read") {
      options_.file_sends = file_send_mode::read;
    } else if (value == "copy") {
      options_.file_sends = file_send_mode::copy;
    } else {
      spdlog::warn("ignoring VLTAVA_FILE_SENDS={}: not sendfile, read or copy", value);
    }
  }
}

server::~server() { stop(); }

std::error_code server::start() {
  // sendfile(2) has no MSG_NOSIGNAL: a client that goes away during a send must fail the call (EPIPE), not kill the
  // broker with SIGPIPE. Asio's own writes already pass MSG_NOSIGNAL.
  std::signal(SIGPIPE, SIG_IGN);
  for (const auto& listener : options_.listeners) {
    boost::system::error_code ec;
    asio::ip::address address = listener.host.empty() ? asio::ip::address(asio::ip::address_v4::any())
                                                      : asio::ip::make_address(listener.host, ec);
    if (ec) {
      // A host name: resolve it (localhost, the machine's name).
      tcp::resolver resolver(io_);
      auto results = resolver.resolve(listener.host, std::to_string(listener.port), ec);
      if (ec || results.empty()) {
        spdlog::error("cannot resolve listener host {}: {}", listener.host, ec.message());
        return ec ? std::error_code(ec.value(), std::system_category())
                  : std::make_error_code(std::errc::invalid_argument);
      }
      address = results.begin()->endpoint().address();
    }
    auto acceptor = std::make_unique<tcp::acceptor>(io_);
    const tcp::endpoint endpoint(address, listener.port);
    acceptor->open(endpoint.protocol(), ec);
    if (!ec) acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor->bind(endpoint, ec);
    if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      spdlog::error("cannot listen on {}:{}: {}", listener.host, listener.port, ec.message());
      return std::error_code(ec.value(), std::system_category());
    }
    bound_.push_back(acceptor->local_endpoint());
    spdlog::info("listening on PLAINTEXT://{}:{}", bound_.back().address().to_string(), bound_.back().port());
    asio::co_spawn(io_, accept_loop(*acceptor), [](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        spdlog::error("accept loop ended: {}", x.what());
      }
    });
    acceptors_.push_back(std::move(acceptor));
  }
  return {};
}

void server::run() {
  std::size_t threads = options_.threads ? options_.threads : std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::thread> pool;
  for (std::size_t i = 1; i < threads; ++i) pool.emplace_back([this] { io_.run(); });
  io_.run();
  for (auto& t : pool) t.join();
  const auto sent = stats();
  spdlog::info("file bytes sent since start: {} with sendfile, {} read and written", sent.sendfile_bytes,
               sent.read_bytes);
}

void server::stop() {
  if (stopping_.exchange(true)) return;
  asio::post(io_, [this] {
    for (auto& acceptor : acceptors_) {
      boost::system::error_code ignored;
      acceptor->close(ignored);
    }
  });
  std::lock_guard lock(connections_mutex_);
  for (const auto& conn : connections_) conn->shut_down_reading();
}

asio::awaitable<void> server::accept_loop(tcp::acceptor& acceptor) {
  while (!stopping_) {
    boost::system::error_code ec;
    tcp::socket socket =
        co_await acceptor.async_accept(asio::make_strand(io_), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (stopping_ || ec == asio::error::operation_aborted) break;
      spdlog::warn("accept failed: {}", ec.message());
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    if (options_.socket_send_buffer_bytes > 0) {
      socket.set_option(asio::socket_base::send_buffer_size(options_.socket_send_buffer_bytes), ec);
    }
    if (options_.socket_receive_buffer_bytes > 0) {
      socket.set_option(asio::socket_base::receive_buffer_size(options_.socket_receive_buffer_bytes), ec);
    }
    auto conn = std::make_shared<connection>(std::move(socket));
    {
      std::lock_guard lock(connections_mutex_);
      connections_.insert(conn);
    }
    if (stopping_) conn->shut_down_reading();
    const auto executor = conn->socket().get_executor();
    asio::co_spawn(executor, serve(conn), [this, conn](std::exception_ptr e) {
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& x) {
          spdlog::error("connection from {} failed: {}", conn->peer(), x.what());
        }
      }
      std::lock_guard lock(connections_mutex_);
      connections_.erase(conn);
    });
  }
}

// How a connection's life ends, for the log line.
struct server::close_reason {
  std::string text;
  bool warn = false;
};

// One request of a connection between being read and being answered.
struct server::pipeline_request {
  std::vector<std::uint8_t> response;
  std::vector<response_file_part> file_parts;
  bool released = false;              // the reader may go on to the next request
  bool done = false;                  // the answer (or the decision to send none) is ready
  std::optional<close_reason> close;  // answer nothing more: close after the answers before this one
};

// The requests of one connection between being read and being answered, in request order. The reader appends; a
// request's handler runs as its own coroutine on the connection's strand and may release the reader early
// (request_context::allow_next_request); the writer sends answers strictly in order. Every change is announced by
// cancelling `wake` (whose expiry is never reset, so a cancel only ends the waits pending at that moment); waiters
// re-check their condition, and all of this runs on the strand, so no change is missed between check and wait.
struct server::pipeline {
  explicit pipeline(const asio::any_io_executor& executor) : wake(executor, asio::steady_timer::time_point::max()) {}

  void notify() { wake.cancel(); }
  asio::awaitable<void> wait() {
    boost::system::error_code ignored;
    co_await wake.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  }

  std::deque<std::shared_ptr<pipeline_request>> queue;
  bool reading_finished = false;
  bool writing_failed = false;
  close_reason reason{"client closed the connection"};
  asio::steady_timer wake;
};

namespace {

// Requests a connection may have read but not yet answered. librdkafka pipelines up to 5 by default
// (max.in.flight); more are read once earlier answers have gone out.
constexpr std::size_t max_requests_in_flight = 16;

}  // namespace

asio::awaitable<void> server::serve(std::shared_ptr<connection> conn) {
  spdlog::debug("connection from {}", conn->peer());
  // Shared with the requests' handlers: one may still be waiting (an fsync, a long poll) after the connection ends.
  auto state = std::make_shared<pipeline>(conn->socket().get_executor());
  co_await (read_requests(conn, state) && write_answers(conn, *state));
  const auto& reason = state->reason;
  if (reason.warn) {
    spdlog::warn("closing connection from {}: {}", conn->peer(), reason.text);
  } else {
    spdlog::debug("closing connection from {}: {}", conn->peer(), reason.text);
  }
  boost::system::error_code ignored;
  conn->socket().shutdown(tcp::socket::shutdown_both, ignored);
  conn->socket().close(ignored);
}

asio::awaitable<void> server::read_requests(std::shared_ptr<connection> conn, std::shared_ptr<pipeline> shared) {
  auto& socket = conn->socket();
  pipeline& state = *shared;
  // Ends reading: the writer answers what was read so far, then the connection closes with this reason.
  auto finish = [&state](close_reason reason) {
    auto closing = std::make_shared<pipeline_request>();
    closing->done = true;
    closing->close = std::move(reason);
    state.queue.push_back(std::move(closing));
  };
  while (!state.writing_failed) {
    while (state.queue.size() >= max_requests_in_flight && !state.writing_failed) co_await state.wait();
    if (state.writing_failed) break;
    std::array<std::uint8_t, protocol::frame_size_prefix> size_prefix{};
    boost::system::error_code ec;
    conn->idle_timer().expires_after(std::chrono::milliseconds(options_.connections_max_idle_ms));
    auto outcome =
        co_await (asio::async_read(socket, asio::buffer(size_prefix), asio::redirect_error(asio::use_awaitable, ec)) ||
                  conn->idle_timer().async_wait(asio::use_awaitable));
    if (outcome.index() == 1) {
      finish({"idle for longer than connections.max.idle.ms"});
      break;
    }
    if (ec) {
      if (ec != asio::error::eof && ec != asio::error::connection_reset && ec != asio::error::operation_aborted &&
          !state.writing_failed) {
        finish({"read failed: " + ec.message(), true});
      } else {
        finish({stopping_ ? "broker stopping" : "client closed the connection"});
      }
      break;
    }
    const auto size = protocol::load_be<std::int32_t>(size_prefix.data());
    if (size < 8 || size > options_.socket_request_max_bytes) {
      // Checked before allocating: a 2 GB length prefix costs nothing.
      finish({"request size " + std::to_string(size) + " outside 8.." +
                  std::to_string(options_.socket_request_max_bytes) + " (socket.request.max.bytes)",
              true});
      break;
    }
    auto frame = std::make_shared<std::vector<std::uint8_t>>(static_cast<std::size_t>(size));
    co_await asio::async_read(socket, asio::buffer(*frame), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      finish({"connection ended inside a request: " + ec.message(), true});
      break;
    }

    protocol::reader body(std::span<const std::uint8_t>(*frame), frame);
    protocol::request_header_view view;
    if (auto header_error = protocol::decode_request_header(body, view)) {
      finish({"malformed request header: " + header_error.message(), true});
      break;
    }
    const std::int16_t key = view.header.request_api_key;
    const std::int16_t version = view.header.request_api_version;
    spdlog::debug("{} request {} v{} correlation {} client {}", conn->peer(), key, version, view.header.correlation_id,
                  view.header.client_id.value_or(""));
    const api_handler* handler = find_handler(key);
    auto request = std::make_shared<pipeline_request>();
    if (handler != nullptr && handler->key == protocol::api_key::api_versions && version > handler->max_version) {
      // A newer client: tell it our range in a v0 body it can always read (PROTOCOL-NOTES.md, framing facts).
      (void)protocol::encode_response_frame(request->response, view.header.correlation_id, 0,
                                            services_.apis().unsupported_api_versions_answer());
      request->done = true;
      state.queue.push_back(std::move(request));
      state.notify();
    } else if (handler == nullptr) {
      finish({"unknown API key " + std::to_string(key), true});
      break;
    } else if (version < handler->min_version || version > handler->max_version) {
      finish({"unsupported version " + std::to_string(version) + " of API " + std::to_string(key), true});
      break;
    } else {
      state.queue.push_back(request);
      state.notify();
      asio::co_spawn(socket.get_executor(),
                     handle_request(*handler, view.header, version, frame, body, conn->peer(), request, shared),
                     [peer = conn->peer()](std::exception_ptr e) {
                       if (!e) return;
                       try {
                         std::rethrow_exception(e);
                       } catch (const std::exception& x) {
                         spdlog::error("request from {} failed: {}", peer, x.what());
                       }
                     });
      while (!request->released && !request->done) co_await state.wait();
      if (request->close) break;
    }
    if (stopping_) {
      finish({"broker stopping"});
      break;
    }
  }
  state.reading_finished = true;
  state.notify();
}

asio::awaitable<void> server::handle_request(const api_handler& handler, protocol::request_header header,
                                             std::int16_t version, std::shared_ptr<std::vector<std::uint8_t>> frame,
                                             protocol::reader body, std::string peer,
                                             std::shared_ptr<pipeline_request> request,
                                             std::shared_ptr<pipeline> state) {
  request_context ctx{std::move(header), version, frame, body, std::move(peer), services_};
  ctx.send_files = options_.file_sends != file_send_mode::copy;
  ctx.release = [request, state] {
    request->released = true;
    state->notify();
  };
  try {
    co_await run_handler(handler, ctx, request->response, background_.get_executor());
    if (ctx.close_connection) {
      request->response.clear();
      request->close = close_reason{"malformed request (API " + std::to_string(static_cast<int>(handler.key)) + " v" +
                                        std::to_string(version) + ")",
                                    true};
    }
    request->file_parts = std::move(ctx.file_parts);
  } catch (const std::exception& e) {
    request->response.clear();
    request->close = close_reason{std::string("request failed: ") + e.what(), true};
  }
  request->done = true;
  state->notify();
}

asio::awaitable<void> server::write_answers(std::shared_ptr<connection> conn, pipeline& state) {
  while (true) {
    while (state.queue.empty() && !state.reading_finished) co_await state.wait();
    if (state.queue.empty()) break;
    auto request = state.queue.front();
    while (!request->done) co_await state.wait();
    state.queue.pop_front();
    state.notify();  // room for the reader
    if (request->close) {
      state.reason = *request->close;
      break;
    }
    if (request->response.empty()) continue;  // acks=0: no answer
    const auto ec = co_await write_response(*conn, request->response, request->file_parts);
    request->file_parts.clear();  // lets go of the files
    if (ec) {
      // A client that went away before reading its answer is routine (a consumer closing), not a warning.
      const bool client_left = ec == asio::error::broken_pipe || ec == asio::error::connection_reset;
      state.reason = {"write failed: " + ec.message(), !client_left};
      break;
    }
  }
  // Stop the reader (it may be waiting for the next request) and let later requests' handlers finish unanswered.
  state.writing_failed = true;
  boost::system::error_code ignored;
  conn->socket().shutdown(tcp::socket::shutdown_receive, ignored);
  conn->idle_timer().cancel();
  state.notify();
  while (!state.reading_finished) co_await state.wait();
}

namespace {

boost::system::error_code errno_error(int error) {
  return boost::system::error_code(error, boost::system::system_category());
}

// TCP_CORK while a response goes out in parts: the header bytes before a file slice and the slice's first bytes
// leave in full segments rather than a small packet each (the sockets have TCP_NODELAY). Uncorking sends what is
// left at once.
void set_cork(tcp::socket& socket, bool on) {
  const int value = on ? 1 : 0;
  (void)::setsockopt(socket.native_handle(), IPPROTO_TCP, TCP_CORK, &value, sizeof value);
}

// One sendfile(2) call moves at most this much, so that one huge slice on a fast reader cannot hold the thread.
constexpr std::uint64_t sendfile_chunk = std::uint64_t{1} << 30;
constexpr std::size_t read_buffer_size = 256 * 1024;

}  // namespace

asio::awaitable<boost::system::error_code> server::write_response(connection& conn,
                                                                  const std::vector<std::uint8_t>& response,
                                                                  const std::vector<response_file_part>& parts) {
  auto& socket = conn.socket();
  boost::system::error_code ec;
  if (parts.empty()) {
    co_await asio::async_write(socket, asio::buffer(response), asio::redirect_error(asio::use_awaitable, ec));
    co_return ec;
  }
  set_cork(socket, true);
  std::size_t written = 0;
  for (const auto& part : parts) {
    const std::size_t at = std::min(part.at, response.size());
    if (at > written) {
      co_await asio::async_write(socket, asio::buffer(response.data() + written, at - written),
                                 asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return ec;
      written = at;
    }
    if (part.slice.empty()) continue;
    if (options_.file_sends == file_send_mode::sendfile) {
      ec = co_await send_file(conn, part.slice);
    } else {
      ec = co_await read_and_write(conn, *part.slice.source, part.slice.position, part.slice.length);
    }
    if (ec) co_return ec;
  }
  if (written < response.size()) {
    co_await asio::async_write(socket, asio::buffer(response.data() + written, response.size() - written),
                               asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return ec;
  }
  set_cork(socket, false);
  co_return ec;
}

// sendfile(2) on the non-blocking socket: as much as the socket buffer takes, then a wait for writability (never a
// blocking call on the I/O thread), until the slice is sent. The slice holds its file open, so a segment deleted
// meanwhile still sends what the slice promised.
asio::awaitable<boost::system::error_code> server::send_file(connection& conn, const storage::file_slice& slice) {
  auto& socket = conn.socket();
  boost::system::error_code ec;
  if (!socket.native_non_blocking()) {
    socket.native_non_blocking(true, ec);
    if (ec) co_return ec;
  }
  auto offset = static_cast<off_t>(slice.position);
  std::uint64_t left = slice.length;
  while (left > 0) {
    const ssize_t n = ::sendfile(socket.native_handle(), slice.source->descriptor(), &offset,
                                 static_cast<std::size_t>(std::min(left, sendfile_chunk)));
    if (n > 0) {
      left -= static_cast<std::uint64_t>(n);
      sendfile_bytes_.fetch_add(static_cast<std::uint64_t>(n), std::memory_order_relaxed);
      continue;
    }
    if (n == 0) {
      // The file ends before the slice does: the frame can no longer be completed.
      co_return errno_error(EIO);
    }
    const int error = errno;
    if (error == EINTR) continue;
    if (error == EAGAIN || error == EWOULDBLOCK) {
      co_await socket.async_wait(tcp::socket::wait_write, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return ec;
      continue;
    }
    if (error == EINVAL || error == ENOSYS) {
      // This file or socket cannot be sent from (the kernel says so before moving any byte): copy the rest.
      co_return co_await read_and_write(conn, *slice.source, static_cast<std::uint64_t>(offset), left);
    }
    co_return errno_error(error);
  }
  co_return ec;
}

asio::awaitable<boost::system::error_code> server::read_and_write(connection& conn, const storage::file& source,
                                                                  std::uint64_t position, std::uint64_t length) {
  boost::system::error_code ec;
  std::vector<std::uint8_t> buffer(static_cast<std::size_t>(std::min<std::uint64_t>(length, read_buffer_size)));
  while (length > 0) {
    const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(length, buffer.size()));
    std::size_t count = 0;
    if (auto error = source.read_some(position, std::span<std::uint8_t>(buffer.data(), want), count)) {
      spdlog::error("reading {} for {} failed: {}", source.path().string(), conn.peer(), error.message());
      co_return errno_error(EIO);
    }
    if (count == 0) co_return errno_error(EIO);  // the file ends before the slice does
    co_await asio::async_write(conn.socket(), asio::buffer(buffer.data(), count),
                               asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return ec;
    read_bytes_.fetch_add(count, std::memory_order_relaxed);
    position += count;
    length -= count;
  }
  co_return ec;
}

std::error_code write_ready_file(const std::filesystem::path& path, const std::vector<tcp::endpoint>& endpoints) {
  const auto temporary = path.string() + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    for (const auto& endpoint : endpoints) {
      const auto address = endpoint.address();
      const std::string host = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
      out << host << ":" << endpoint.port() << "\n";
    }
    if (!out) return std::make_error_code(std::errc::io_error);
  }
  std::error_code ec;
  std::filesystem::rename(temporary, path, ec);
  return ec;
}

}  // namespace vltava::broker
