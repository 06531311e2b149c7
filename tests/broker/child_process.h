// Runs a client script as a child process with a deadline, for integration tests that drive the broker with real
// clients (tests/broker/client_group_test.cc, tests/broker/client_roundtrip_test.cc). The child gets stdin from
// /dev/null and its own process group; its stdout and stderr go to files in a fresh temporary directory and are read
// back when it ends. At the deadline the whole process group is killed (scripts start clients of their own, e.g. kcat
// in the background), and so is whatever the group left behind after a normal exit. On request the child is also
// killed when the test process dies (PR_SET_PDEATHSIG), so that a crashing test does not leave its client running.
//
// The wait polls waitpid() with a short interval until the child has exited or the deadline has passed; nothing
// depends on the interval for correctness.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace vltava::broker::testing {

struct child_outcome {
  std::optional<int> exit_code;  // set when the child exited by itself
  int signal = 0;                // the signal that ended it, when one did
  bool timed_out = false;        // the deadline passed and the process group was killed
  std::string out;
  std::string err;
  std::chrono::milliseconds elapsed{0};

  bool ok() const { return !timed_out && exit_code == 0; }

  // How it ended, with everything it printed (for a failure message).
  std::string report() const {
    std::ostringstream text;
    if (timed_out) {
      text << "killed at the deadline";
    } else if (exit_code) {
      text << "exited with " << *exit_code;
    } else {
      text << "ended by signal " << signal;
    }
    text << " after " << elapsed.count() << " ms\n--- stdout ---\n" << out << "--- stderr ---\n" << err << "---";
    return text.str();
  }
};

namespace child_process_detail {

inline std::string slurp(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A fresh directory for the child's output, removed with the object.
class scratch_directory {
 public:
  scratch_directory() {
    std::string pattern = (std::filesystem::temp_directory_path() / "vltava-child-XXXXXX").string();
    if (::mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~scratch_directory() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  scratch_directory(const scratch_directory&) = delete;
  scratch_directory& operator=(const scratch_directory&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace child_process_detail

struct child_options {
  std::vector<std::string> extra_environment;  // "NAME=value", added to this process's environment
  bool killed_with_parent = false;             // SIGKILL the child when this process dies (PR_SET_PDEATHSIG)
};

// Runs arguments[0] (a path, not looked up on PATH) with the rest as its arguments. Returns when the child has exited
// or the deadline has passed.
inline child_outcome run_child_process(const std::vector<std::string>& arguments, std::chrono::milliseconds deadline,
                                       const child_options& options = {}) {
  using clock = std::chrono::steady_clock;
  child_outcome outcome;
  const auto started = clock::now();
  child_process_detail::scratch_directory scratch;
  if (scratch.path().empty()) {
    outcome.err = std::string("mkdtemp: ") + std::strerror(errno);
    return outcome;
  }
  const auto out_file = scratch.path() / "stdout";
  const auto err_file = scratch.path() / "stderr";

  // Everything the child needs is prepared before fork(): after it, only async-signal-safe calls.
  std::vector<std::string> argument_storage = arguments;
  std::vector<char*> argv;
  for (auto& argument : argument_storage) argv.push_back(argument.data());
  argv.push_back(nullptr);
  std::vector<std::string> environment_storage;
  for (char** variable = environ; *variable != nullptr; ++variable) environment_storage.emplace_back(*variable);
  environment_storage.insert(environment_storage.end(), options.extra_environment.begin(),
                             options.extra_environment.end());
  std::vector<char*> envp;
  for (auto& variable : environment_storage) envp.push_back(variable.data());
  envp.push_back(nullptr);
  const std::string exec_failure = "cannot execute " + arguments.at(0) + "\n";
  const int files[3] = {::open("/dev/null", O_RDONLY | O_CLOEXEC),
                        ::open(out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600),
                        ::open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)};
  const auto close_files = [&files] {
    for (const int fd : files) {
      if (fd >= 0) ::close(fd);
    }
  };
  if (files[0] < 0 || files[1] < 0 || files[2] < 0) {
    outcome.err = std::string("open: ") + std::strerror(errno);
    close_files();
    return outcome;
  }

  const pid_t parent = ::getpid();
  const pid_t child = ::fork();
  if (child == 0) {
    // The child leads a new process group, so the deadline can kill everything it started.
    ::setpgid(0, 0);
    if (options.killed_with_parent) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);  // the parent died before prctl()
    }
    for (int fd = 0; fd < 3; ++fd) {
      if (::dup2(files[fd], fd) < 0) ::_exit(127);
    }
    ::execve(argv[0], argv.data(), envp.data());
    [[maybe_unused]] const auto written = ::write(STDERR_FILENO, exec_failure.data(), exec_failure.size());
    ::_exit(127);
  }
  close_files();
  if (child < 0) {
    outcome.err = std::string("fork: ") + std::strerror(errno);
    return outcome;
  }
  ::setpgid(child, child);  // also here, so that the group exists whichever process runs first

  int status = 0;
  pid_t reaped = -1;
  for (;;) {
    reaped = ::waitpid(child, &status, WNOHANG);
    if (reaped == child) break;
    if (reaped < 0 && errno != EINTR) break;
    if (clock::now() - started >= deadline && !outcome.timed_out) {
      outcome.timed_out = true;
      ::kill(-child, SIGKILL);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // Whatever the child left running in its group goes with it.
  ::kill(-child, SIGKILL);
  if (reaped == child && !outcome.timed_out && WIFEXITED(status)) {
    outcome.exit_code = WEXITSTATUS(status);
  } else if (reaped == child && WIFSIGNALED(status)) {
    outcome.signal = WTERMSIG(status);
  }
  outcome.out = child_process_detail::slurp(out_file);
  outcome.err = child_process_detail::slurp(err_file);
  outcome.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - started);
  return outcome;
}

}  // namespace vltava::broker::testing
