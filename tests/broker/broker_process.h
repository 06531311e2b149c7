// A real broker process for integration tests: the `vltava` binary started in a fresh temporary directory with a
// generated server.properties (log.dirs inside that directory, listeners=PLAINTEXT://127.0.0.1:0) and the test's
// overrides, passed as `--override key=value`. It is ready when it has written its --ready-file; its stderr goes to
// a file in the directory, printed when the test fails. The directory is removed when the object goes away, so
// tests are hermetic and run in parallel (each broker binds its own free port).
//
// Every wait has a deadline and polls a condition (the ready file, the process's exit); none sleeps for timing.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace vltava::broker::testing {

class broker_process {
 public:
  // `overrides` are "key=value" settings, each given to the broker as --override.
  explicit broker_process(std::vector<std::string> overrides = {});
  // Kills the broker if it still runs (SIGKILL), prints its log when the current test has failed, removes the
  // temporary directory.
  ~broker_process();
  broker_process(const broker_process&) = delete;
  broker_process& operator=(const broker_process&) = delete;

  // Starts the broker and waits until its ready file lists the bound address. Fails when the process exits first or
  // the deadline passes. The first start binds port 0; a later one (after stop() or kill9()) reuses the data
  // directory and the port, so clients configured with bootstrap() find the broker again.
  ::testing::AssertionResult start(std::chrono::milliseconds deadline = std::chrono::seconds(60));
  // SIGTERM, then waits for the exit; SIGKILL when the deadline passes (and fails). On success exit_status() holds
  // the exit code.
  ::testing::AssertionResult stop(std::chrono::milliseconds deadline = std::chrono::seconds(60), int signal = SIGTERM);
  // SIGKILL, and waits for the process to be gone.
  void kill9();
  // stop() then start() on the same data directory.
  ::testing::AssertionResult restart();

  bool running() const noexcept { return pid_ > 0; }
  // The exit code of the last process that exited normally, or -signal when a signal ended it.
  std::optional<int> exit_status() const noexcept { return exit_status_; }

  // "127.0.0.1:port", from the ready file. Valid after start().
  const std::string& bootstrap() const noexcept { return bootstrap_; }
  const std::string& host() const noexcept { return host_; }
  std::uint16_t port() const noexcept { return port_; }

  const std::filesystem::path& directory() const noexcept { return directory_; }
  std::filesystem::path log_dir() const { return directory_ / "data"; }
  std::filesystem::path properties_file() const { return directory_ / "server.properties"; }
  std::filesystem::path ready_file() const { return directory_ / "ready"; }
  std::filesystem::path stderr_file() const { return directory_ / "broker.log"; }
  // Everything the broker wrote to stderr so far (all its runs).
  std::string log_contents() const;

 private:
  // Starts the process (listening on fixed_port unless it is 0) without waiting for it.
  ::testing::AssertionResult spawn(std::uint16_t fixed_port);
  // Reaps the process when it has exited; true when it is gone.
  bool reap(bool block);

  std::vector<std::string> overrides_;
  std::filesystem::path directory_;
  pid_t pid_ = -1;
  std::optional<int> exit_status_;
  std::string bootstrap_;
  std::string host_;
  std::uint16_t port_ = 0;
};

// The path of the broker executable under test.
std::filesystem::path broker_binary();

}  // namespace vltava::broker::testing
