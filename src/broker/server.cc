// Listeners, connections and dispatch: read a frame, decode its header, run the API's handler, write the answer.
#include "vltava/broker/server.h"

#include <array>
#include <chrono>
#include <fstream>

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

server::server(server_options options, broker_services& services) : options_(std::move(options)), services_(services) {}

server::~server() { stop(); }

std::error_code server::start() {
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

namespace {

// How a connection's life ends, for the log line.
struct close_reason {
  std::string text;
  bool warn = false;
};

}  // namespace

asio::awaitable<void> server::serve(std::shared_ptr<connection> conn) {
  auto& socket = conn->socket();
  spdlog::debug("connection from {}", conn->peer());
  close_reason reason{"client closed the connection"};
  std::vector<std::uint8_t> response;
  while (true) {
    std::array<std::uint8_t, protocol::frame_size_prefix> size_prefix{};
    boost::system::error_code ec;
    conn->idle_timer().expires_after(std::chrono::milliseconds(options_.connections_max_idle_ms));
    auto outcome =
        co_await (asio::async_read(socket, asio::buffer(size_prefix), asio::redirect_error(asio::use_awaitable, ec)) ||
                  conn->idle_timer().async_wait(asio::use_awaitable));
    if (outcome.index() == 1) {
      reason = {"idle for longer than connections.max.idle.ms"};
      break;
    }
    if (ec) {
      if (ec != asio::error::eof && ec != asio::error::connection_reset && ec != asio::error::operation_aborted) {
        reason = {"read failed: " + ec.message(), true};
      }
      break;
    }
    const auto size = protocol::load_be<std::int32_t>(size_prefix.data());
    if (size < 8 || size > options_.socket_request_max_bytes) {
      // Checked before allocating: a 2 GB length prefix costs nothing.
      reason = {"request size " + std::to_string(size) + " outside 8.." +
                    std::to_string(options_.socket_request_max_bytes) + " (socket.request.max.bytes)",
                true};
      break;
    }
    auto frame = std::make_shared<std::vector<std::uint8_t>>(static_cast<std::size_t>(size));
    co_await asio::async_read(socket, asio::buffer(*frame), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      reason = {"connection ended inside a request: " + ec.message(), true};
      break;
    }

    protocol::reader body(std::span<const std::uint8_t>(*frame), frame);
    protocol::request_header_view view;
    if (auto header_error = protocol::decode_request_header(body, view)) {
      reason = {"malformed request header: " + header_error.message(), true};
      break;
    }
    const std::int16_t key = view.header.request_api_key;
    const std::int16_t version = view.header.request_api_version;
    spdlog::debug("{} request {} v{} correlation {} client {}", conn->peer(), key, version, view.header.correlation_id,
                  view.header.client_id.value_or(""));
    response.clear();
    const api_handler* handler = find_handler(key);
    if (handler != nullptr && handler->key == protocol::api_key::api_versions && version > handler->max_version) {
      // A newer client: tell it our range in a v0 body it can always read (PROTOCOL-NOTES.md, framing facts).
      (void)protocol::encode_response_frame(response, view.header.correlation_id, 0,
                                            services_.apis().unsupported_api_versions_answer());
    } else if (handler == nullptr) {
      reason = {"unknown API key " + std::to_string(key), true};
      break;
    } else if (version < handler->min_version || version > handler->max_version) {
      reason = {"unsupported version " + std::to_string(version) + " of API " + std::to_string(key), true};
      break;
    } else {
      request_context ctx{view.header, version, frame, body, conn->peer(), services_};
      co_await handler->handle(ctx, response);
      if (ctx.close_connection) {
        reason = {"malformed request (API " + std::to_string(key) + " v" + std::to_string(version) + ")", true};
        break;
      }
    }
    if (!response.empty()) {
      co_await asio::async_write(socket, asio::buffer(response), asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        reason = {"write failed: " + ec.message(), true};
        break;
      }
    }
    if (stopping_) {
      reason = {"broker stopping"};
      break;
    }
  }
  if (reason.warn) {
    spdlog::warn("closing connection from {}: {}", conn->peer(), reason.text);
  } else {
    spdlog::debug("closing connection from {}: {}", conn->peer(), reason.text);
  }
  boost::system::error_code ignored;
  socket.shutdown(tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
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
