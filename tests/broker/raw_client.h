// A tiny blocking TCP client for broker tests: sends raw bytes or encoded request frames and reads response frames,
// every read bounded by a deadline. It speaks no more protocol than framing, so tests can also send what a real
// client never would (garbage, truncated frames, absurd sizes) and watch the broker close the connection.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <gtest/gtest.h>

#include "vltava/protocol/framing.h"

namespace vltava::broker::testing {

class raw_client {
 public:
  using milliseconds = std::chrono::milliseconds;
  static constexpr milliseconds default_timeout = std::chrono::seconds(30);

  enum class read_status { frame, eof, timeout, error };

  raw_client() = default;
  ~raw_client() { close(); }
  raw_client(const raw_client&) = delete;
  raw_client& operator=(const raw_client&) = delete;
  raw_client(raw_client&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  raw_client& operator=(raw_client&& other) noexcept {
    if (this != &other) {
      close();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }

  ::testing::AssertionResult connect(const std::string& host, std::uint16_t port) {
    close();
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    if (::inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1) {
      return ::testing::AssertionFailure() << "not an IPv4 address: " << host;
    }
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return ::testing::AssertionFailure() << "socket: " << std::strerror(errno);
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
      const int error = errno;
      close();
      return ::testing::AssertionFailure() << "connect to " << host << ":" << port << ": " << std::strerror(error);
    }
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return ::testing::AssertionSuccess();
  }

  bool connected() const noexcept { return fd_ >= 0; }

  void close() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  // Half-closes: the broker reads EOF, this side can still read.
  void shutdown_write() noexcept {
    if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
  }

  ::testing::AssertionResult send_bytes(protocol::byte_span data) {
    std::size_t sent = 0;
    while (sent < data.size()) {
      // MSG_NOSIGNAL: a broker that already closed must fail the send, not raise SIGPIPE in the test.
      const ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        return ::testing::AssertionFailure() << "send: " << std::strerror(errno);
      }
      sent += static_cast<std::size_t>(n);
    }
    return ::testing::AssertionSuccess();
  }
  ::testing::AssertionResult send_bytes(std::string_view data) {
    return send_bytes(protocol::byte_span(reinterpret_cast<const std::uint8_t*>(data.data()), data.size()));
  }

  // One whole request frame (size prefix, header, body).
  template <class Request>
  static protocol::bytes frame(std::int32_t correlation_id, std::int16_t version, const Request& request,
                               std::optional<std::string> client_id = std::string("vltava-raw-client")) {
    protocol::bytes out;
    const auto ec = protocol::encode_request_frame(out, correlation_id, version, std::move(client_id), request);
    EXPECT_FALSE(ec) << "cannot encode " << Request::message_name << " v" << version << ": " << ec.message();
    return out;
  }

  template <class Request>
  ::testing::AssertionResult send_request(std::int32_t correlation_id, std::int16_t version, const Request& request,
                                          std::optional<std::string> client_id = std::string("vltava-raw-client")) {
    return send_bytes(frame(correlation_id, version, request, std::move(client_id)));
  }

  // Reads one response frame (without its size prefix) before the timeout.
  read_status read_frame(protocol::bytes& out, milliseconds timeout = default_timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::uint8_t size_prefix[protocol::frame_size_prefix];
    if (auto status = read_exactly(size_prefix, sizeof size_prefix, deadline); status != read_status::frame) {
      return status;
    }
    const auto size = protocol::load_be<std::int32_t>(size_prefix);
    if (size < 0) return read_status::error;
    out.resize(static_cast<std::size_t>(size));
    if (size == 0) return read_status::frame;
    const auto status = read_exactly(out.data(), out.size(), deadline);
    // The peer closing inside a frame is an error, not a clean end.
    return status == read_status::eof ? read_status::error : status;
  }

  // Reads a response frame and decodes it as `Response` of `version`, checking the correlation id and that the
  // body is used up exactly.
  template <class Response>
  ::testing::AssertionResult read_response(std::int32_t correlation_id, std::int16_t version, Response& out,
                                           milliseconds timeout = default_timeout) {
    protocol::bytes frame_bytes;
    switch (read_frame(frame_bytes, timeout)) {
      case read_status::frame: break;
      case read_status::eof:
        return ::testing::AssertionFailure()
               << "the broker closed the connection instead of answering " << Response::message_name << " v" << version;
      case read_status::timeout:
        return ::testing::AssertionFailure()
               << "no " << Response::message_name << " v" << version << " within " << timeout.count() << " ms";
      case read_status::error:
        return ::testing::AssertionFailure()
               << "reading " << Response::message_name << " v" << version << " failed: " << std::strerror(errno);
    }
    return decode_response(frame_bytes, correlation_id, version, out);
  }

  template <class Response>
  static ::testing::AssertionResult decode_response(const protocol::bytes& frame_bytes, std::int32_t correlation_id,
                                                    std::int16_t version, Response& out) {
    protocol::reader r{protocol::byte_span(frame_bytes)};
    protocol::response_header header;
    const auto header_version = protocol::response_header_version(static_cast<std::int16_t>(Response::api), version);
    if (auto ec = header.decode(r, header_version)) {
      return ::testing::AssertionFailure() << "bad response header v" << header_version << ": " << ec.message();
    }
    if (header.correlation_id != correlation_id) {
      return ::testing::AssertionFailure()
             << "correlation id " << header.correlation_id << ", expected " << correlation_id;
    }
    if (auto ec = out.decode(r, version)) {
      return ::testing::AssertionFailure()
             << "cannot decode " << Response::message_name << " v" << version << ": " << ec.message();
    }
    if (!r.at_end()) {
      return ::testing::AssertionFailure()
             << Response::message_name << " v" << version << " has " << r.remaining() << " bytes after its body";
    }
    return ::testing::AssertionSuccess();
  }

  // Succeeds when the broker closes the connection (EOF or reset) before the timeout; bytes it sends first are
  // skipped and counted in the failure message.
  ::testing::AssertionResult expect_closed(milliseconds timeout = default_timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::size_t skipped = 0;
    std::uint8_t buffer[4096];
    while (true) {
      if (!wait_readable(deadline)) {
        return ::testing::AssertionFailure()
               << "the connection was still open after " << timeout.count() << " ms (" << skipped << " bytes received)";
      }
      const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n == 0) return ::testing::AssertionSuccess();
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == ECONNRESET) return ::testing::AssertionSuccess();
        return ::testing::AssertionFailure() << "recv: " << std::strerror(errno);
      }
      skipped += static_cast<std::size_t>(n);
    }
  }

 private:
  bool wait_readable(std::chrono::steady_clock::time_point deadline) {
    while (true) {
      const auto left = std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd entry{fd_, POLLIN, 0};
      const int ready = ::poll(&entry, 1, static_cast<int>(left.count()));
      if (ready > 0) return true;
      if (ready < 0 && errno != EINTR) return true;  // let recv report the error
    }
  }

  read_status read_exactly(std::uint8_t* data, std::size_t size, std::chrono::steady_clock::time_point deadline) {
    std::size_t got = 0;
    while (got < size) {
      if (!wait_readable(deadline)) return read_status::timeout;
      const ssize_t n = ::recv(fd_, data + got, size - got, 0);
      if (n == 0) return got == 0 ? read_status::eof : read_status::error;
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno == ECONNRESET && got == 0 ? read_status::eof : read_status::error;
      }
      got += static_cast<std::size_t>(n);
    }
    return read_status::frame;
  }

  int fd_ = -1;
};

}  // namespace vltava::broker::testing
