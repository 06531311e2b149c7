#include "broker_process.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <system_error>
#include <thread>

namespace vltava::broker::testing {
namespace {

namespace fs = std::filesystem;
using std::chrono::steady_clock;

// How often the waits below look at their condition.
constexpr auto poll_interval = std::chrono::milliseconds(10);
// The most of the broker's log printed when a test fails (its end, where the failure is).
constexpr std::size_t printed_log_limit = 256 * 1024;

fs::path make_temporary_directory() {
  std::string pattern = (fs::temp_directory_path() / "vltava-broker-test-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw std::system_error(errno, std::generic_category(), "mkdtemp " + pattern);
  }
  return pattern;
}

std::string read_whole_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string tail(const std::string& text, std::size_t limit) {
  if (text.size() <= limit) return text;
  return "[... " + std::to_string(text.size() - limit) + " bytes left out ...]\n" + text.substr(text.size() - limit);
}

// "host:port" from the first line of the ready file; false when the line is not (yet) of that form.
bool parse_ready_line(const std::string& contents, std::string& host, std::uint16_t& port) {
  const auto end_of_line = contents.find('\n');
  if (end_of_line == std::string::npos) return false;
  const std::string line = contents.substr(0, end_of_line);
  const auto colon = line.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == line.size()) return false;
  const std::string port_text = line.substr(colon + 1);
  char* parse_end = nullptr;
  const long value = std::strtol(port_text.c_str(), &parse_end, 10);
  if (*parse_end != '\0' || value <= 0 || value > 65535) return false;
  host = line.substr(0, colon);
  port = static_cast<std::uint16_t>(value);
  return true;
}

}  // namespace

fs::path broker_binary() {
#ifdef VLTAVA_BROKER_BINARY
  return VLTAVA_BROKER_BINARY;
#else
  return "vltava";
#endif
}

broker_process::broker_process(std::vector<std::string> overrides)
    : overrides_(std::move(overrides)), directory_(make_temporary_directory()) {
  fs::create_directories(log_dir());
  std::ofstream properties(properties_file());
  properties << "# Written by tests/broker/broker_process.cc for one test.\n"
             << "log.dirs=" << log_dir().string() << "\n"
             << "listeners=PLAINTEXT://127.0.0.1:0\n";
}

broker_process::~broker_process() {
  if (running()) kill9();
  if (::testing::Test::HasFailure()) {
    std::cerr << "---- broker log (" << stderr_file().string() << ") ----\n"
              << tail(log_contents(), printed_log_limit) << "---- end of broker log ----\n";
  }
  std::error_code ignored;
  fs::remove_all(directory_, ignored);
}

std::string broker_process::log_contents() const { return read_whole_file(stderr_file()); }

::testing::AssertionResult broker_process::start(std::chrono::milliseconds deadline) {
  if (running()) return ::testing::AssertionFailure() << "the broker is already running (pid " << pid_ << ")";
  const auto give_up = steady_clock::now() + deadline;
  // A restart listens on the port of the first start, so that clients configured with bootstrap() reconnect.
  const std::uint16_t fixed_port = port_;
  while (true) {
    std::error_code ignored;
    fs::remove(ready_file(), ignored);
    const std::size_t log_size_before = log_contents().size();
    if (auto spawned = spawn(fixed_port); !spawned) return spawned;
    while (true) {
      std::string contents = read_whole_file(ready_file());
      if (parse_ready_line(contents, host_, port_)) {
        bootstrap_ = host_ + ":" + std::to_string(port_);
        return ::testing::AssertionSuccess();
      }
      if (reap(false)) break;
      if (steady_clock::now() > give_up) {
        kill9();
        return ::testing::AssertionFailure() << "the broker did not write " << ready_file().string() << " within "
                                             << deadline.count() << " ms; its log:\n"
                                             << tail(log_contents(), 8192);
      }
      std::this_thread::sleep_for(poll_interval);
    }
    // It exited before it was ready. The one cause worth another try: the old port is not free again yet.
    const std::string log = log_contents();
    const bool port_busy = fixed_port != 0 && log.find("in use", log_size_before) != std::string::npos;
    if (!port_busy || steady_clock::now() > give_up) {
      return ::testing::AssertionFailure()
             << "the broker exited before it was ready (status " << exit_status_.value_or(0) << "); its log:\n"
             << tail(log, 8192);
    }
    std::this_thread::sleep_for(10 * poll_interval);
  }
}

::testing::AssertionResult broker_process::spawn(std::uint16_t fixed_port) {
  // Everything the child needs is prepared before fork(): after it, only async-signal-safe calls.
  const std::string binary = broker_binary().string();
  std::vector<std::string> arguments{binary, properties_file().string()};
  for (const auto& setting : overrides_) {
    arguments.push_back("--override");
    arguments.push_back(setting);
  }
  if (fixed_port != 0) {
    arguments.push_back("--override");
    arguments.push_back("listeners=PLAINTEXT://127.0.0.1:" + std::to_string(fixed_port));
  }
  arguments.push_back("--ready-file");
  arguments.push_back(ready_file().string());
  std::vector<char*> argv;
  for (auto& argument : arguments) argv.push_back(argument.data());
  argv.push_back(nullptr);
  const std::string log_path = stderr_file().string();
  const std::string exec_failure = "broker_process: cannot execute " + binary + "\n";
  const pid_t parent = ::getpid();

  const pid_t child = ::fork();
  if (child < 0) return ::testing::AssertionFailure() << "fork failed: " << std::strerror(errno);
  if (child == 0) {
    // A test that crashes must not leave its broker running.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    const int null_input = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (log < 0 || null_input < 0) ::_exit(127);
    ::dup2(null_input, STDIN_FILENO);
    ::dup2(log, STDOUT_FILENO);
    ::dup2(log, STDERR_FILENO);
    ::execv(argv[0], argv.data());
    [[maybe_unused]] const auto written = ::write(STDERR_FILENO, exec_failure.data(), exec_failure.size());
    ::_exit(127);
  }
  pid_ = child;
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult broker_process::stop(std::chrono::milliseconds deadline, int signal) {
  if (!running()) return ::testing::AssertionFailure() << "the broker is not running";
  if (::kill(pid_, signal) != 0) return ::testing::AssertionFailure() << "kill failed: " << std::strerror(errno);
  const auto started = steady_clock::now();
  while (!reap(false)) {
    if (steady_clock::now() - started > deadline) {
      kill9();
      return ::testing::AssertionFailure()
             << "the broker did not exit within " << deadline.count() << " ms of signal " << signal << "; killed it";
    }
    std::this_thread::sleep_for(poll_interval);
  }
  return ::testing::AssertionSuccess();
}

void broker_process::kill9() {
  if (!running()) return;
  ::kill(pid_, SIGKILL);
  reap(true);
}

::testing::AssertionResult broker_process::restart() {
  if (auto stopped = stop(); !stopped) return stopped;
  if (exit_status_ != 0) {
    return ::testing::AssertionFailure() << "the broker exited with status " << exit_status_.value_or(0)
                                         << " on SIGTERM";
  }
  return start();
}

bool broker_process::reap(bool block) {
  if (pid_ <= 0) return true;
  int status = 0;
  pid_t result;
  do {
    result = ::waitpid(pid_, &status, block ? 0 : WNOHANG);
  } while (result < 0 && errno == EINTR);
  if (result == 0) return false;
  if (result < 0) {
    exit_status_.reset();
  } else if (WIFEXITED(status)) {
    exit_status_ = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    exit_status_ = -WTERMSIG(status);
  }
  pid_ = -1;
  return true;
}

}  // namespace vltava::broker::testing
