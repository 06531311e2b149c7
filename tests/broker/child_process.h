// Runs a client script as a child process with a deadline, for integration tests that drive the broker with real
// clients (tests/broker/client_group_test.cc). The child gets stdin from /dev/null and its own process group; its
// stdout and stderr go to files in a fresh temporary directory and are read back when it ends. At the deadline the
// whole process group is killed (scripts start clients of their own, e.g. kcat in the background), and so is whatever
// the group left behind after a normal exit.
//
// The wait polls waitpid() with a short interval until the child has exited or the deadline has passed; nothing
// depends on the interval for correctness.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
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

// Runs arguments[0] (a path, not looked up on PATH) with the rest as its arguments and `extra_environment`
// ("NAME=value") added to this process's environment. Returns when the child has exited or the deadline has passed.
inline child_outcome run_child_process(const std::vector<std::string>& arguments, std::chrono::milliseconds deadline,
                                       const std::vector<std::string>& extra_environment = {}) {
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

  std::vector<std::string> argument_storage = arguments;
  std::vector<char*> argv;
  for (auto& argument : argument_storage) argv.push_back(argument.data());
  argv.push_back(nullptr);
  std::vector<std::string> environment_storage;
  for (char** variable = environ; *variable != nullptr; ++variable) environment_storage.emplace_back(*variable);
  environment_storage.insert(environment_storage.end(), extra_environment.begin(), extra_environment.end());
  std::vector<char*> envp;
  for (auto& variable : environment_storage) envp.push_back(variable.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attributes;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attributes);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  // Process group 0: the child leads a new group, so the deadline can kill everything it started.
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attributes, 0);
  pid_t child = -1;
  const int spawn_error = ::posix_spawn(&child, argv[0], &actions, &attributes, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (spawn_error != 0) {
    outcome.err = "cannot execute " + arguments.at(0) + ": " + std::strerror(spawn_error);
    return outcome;
  }

  int status = 0;
  for (;;) {
    const pid_t reaped = ::waitpid(child, &status, WNOHANG);
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
  if (!outcome.timed_out && WIFEXITED(status)) {
    outcome.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    outcome.signal = WTERMSIG(status);
  }
  outcome.out = child_process_detail::slurp(out_file);
  outcome.err = child_process_detail::slurp(err_file);
  outcome.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - started);
  return outcome;
}

}  // namespace vltava::broker::testing
