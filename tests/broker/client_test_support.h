// What the integration tests that drive the broker with real clients share (tests/broker/client_roundtrip_test.cc,
// tests/broker/client_group_test.cc): finding the client scripts and the clients (a missing client skips its test with
// the command that installs it), running a script with a deadline and taking its one-line JSON summary, reading that
// summary, and librdkafka handles for the checks on the broker side.
#pragma once

#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "child_process.h"

namespace vltava::broker::testing {

inline std::int64_t milliseconds_since_epoch() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// ---- the clients and their scripts ----

inline std::filesystem::path source_dir() {
#ifdef VLTAVA_SOURCE_DIR
  return VLTAVA_SOURCE_DIR;
#else
  return std::filesystem::current_path();
#endif
}

// The client scripts: compat/clients/ in the source tree.
inline std::filesystem::path compat_dir() { return source_dir() / "compat" / "clients"; }

// The executable `name` as the shell would find it on PATH, or nullopt.
inline std::optional<std::filesystem::path> find_on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::istringstream directories(path != nullptr ? path : "/usr/bin:/bin");
  std::string directory;
  while (std::getline(directories, directory, ':')) {
    const std::filesystem::path candidate = std::filesystem::path(directory.empty() ? "." : directory) / name;
    if (!std::filesystem::is_directory(candidate) && ::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return std::nullopt;
}

// Whether Debian's /usr/bin/python3 (python3-kafka and python3-confluent-kafka are installed for it only, not for a
// pyenv python3 earlier on PATH) can import `module`; `why` gets the reason when not.
inline bool system_python_imports(const std::string& module, std::string& why) {
  if (::access("/usr/bin/python3", X_OK) != 0) {
    why = "/usr/bin/python3 does not exist";
    return false;
  }
  const auto result = run_child_process({"/usr/bin/python3", "-c", "import " + module}, std::chrono::seconds(60));
  why = result.err;
  return result.ok();
}

// Why a client's test cannot run, with the command that installs the client ("" when it can run).
inline std::string missing_python_module(const std::string& module, const std::string& debian_package) {
  std::string why;
  if (system_python_imports(module, why)) return "";
  return "/usr/bin/python3 cannot import " + module + " (" + why + "); install it with: sudo apt-get install " +
         debian_package + " (or scripts/install-deps.sh)";
}

inline std::string missing_kcat() {
  if (find_on_path("kcat")) return "";
  return "kcat is not on PATH; install it with: sudo apt-get install kcat (or scripts/install-deps.sh)";
}

// compat/clients/kafkajs, where scripts/install-compat.sh installs KafkaJS.
inline std::filesystem::path kafkajs_dir() { return compat_dir() / "kafkajs"; }

inline std::string missing_kafkajs() {
  if (!find_on_path("node")) return "node is not on PATH; install it with: sudo apt-get install nodejs npm";
  const auto modules = kafkajs_dir() / "node_modules";
  if (std::filesystem::exists(modules / "kafkajs" / "package.json")) return "";
  return "KafkaJS is not installed in " + modules.string() + "; install it with: bash scripts/install-compat.sh";
}

// ---- the script's summary ----

// The last non-empty line of the text: a script's JSON summary.
inline std::string last_line(const std::string& text) {
  std::istringstream lines(text);
  std::string line, last;
  while (std::getline(lines, line)) {
    if (line.find_first_not_of(" \t\r") != std::string::npos) last = line;
  }
  return last;
}

// The integers of the first array `"name": [...]` in the JSON text (e.g. "assigned": [0, 2]); nullopt when absent.
inline std::optional<std::vector<int>> json_ints(const std::string& json, const std::string& name) {
  std::smatch match;
  if (!std::regex_search(json, match, std::regex("\"" + name + "\"\\s*:\\s*\\[([0-9, ]*)\\]"))) return std::nullopt;
  std::vector<int> out;
  std::istringstream items(match[1].str());
  std::string item;
  while (std::getline(items, item, ',')) {
    if (item.find_first_of("0123456789") != std::string::npos) out.push_back(std::stoi(item));
  }
  return out;
}

// The strings of the array `"name": [...]` in a one-line JSON object (the scripts print only plain strings there).
inline std::vector<std::string> json_strings(const std::string& json, const std::string& name) {
  std::vector<std::string> out;
  std::smatch array;
  if (!std::regex_search(json, array, std::regex("\"" + name + "\"\\s*:\\s*\\[([^\\]]*)\\]"))) return out;
  const std::string items = array[1].str();
  const std::regex item("\"([^\"]*)\"");
  for (auto it = std::sregex_iterator(items.begin(), items.end(), item); it != std::sregex_iterator(); ++it) {
    out.push_back((*it)[1].str());
  }
  return out;
}

struct script_outcome {
  child_outcome child;
  std::string summary;  // the last line of its stdout, a JSON object
};

// Runs a client script (arguments[0] a path) with a deadline; it must succeed and print a JSON summary line. `what`
// names the script in the progress lines.
inline ::testing::AssertionResult run_client_script(const std::vector<std::string>& arguments,
                                                    std::chrono::milliseconds deadline, const child_options& options,
                                                    const std::string& what, script_outcome& run) {
  run.child = run_child_process(arguments, deadline, options);
  run.summary.clear();
  std::cout << "[ client   ] " << what << " ran " << run.child.elapsed.count() << " ms\n";
  if (!run.child.ok()) {
    std::string line;
    for (const auto& argument : arguments) line += argument + " ";
    return ::testing::AssertionFailure() << "the client script failed: " << line << "\n" << run.child.report();
  }
  run.summary = last_line(run.child.out);
  std::cout << "[ client   ] summary: " << run.summary << "\n";
  if (run.summary.empty() || run.summary.front() != '{') {
    return ::testing::AssertionFailure() << "the script printed no JSON summary\n" << run.child.report();
  }
  return ::testing::AssertionSuccess();
}

// ---- librdkafka on the broker side ----

struct rdkafka_deleter {
  void operator()(rd_kafka_t* handle) const { rd_kafka_destroy(handle); }
};
using rdkafka_handle = std::unique_ptr<rd_kafka_t, rdkafka_deleter>;

// A librdkafka client of `type` with `settings`.
inline ::testing::AssertionResult make_client(rd_kafka_type_t type,
                                              const std::vector<std::pair<std::string, std::string>>& settings,
                                              rdkafka_handle& out) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char error[512];
  for (const auto& [key, value] : settings) {
    if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), error, sizeof error) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return ::testing::AssertionFailure() << "librdkafka setting " << key << ": " << error;
    }
  }
  rd_kafka_t* handle = rd_kafka_new(type, conf, error, sizeof error);
  if (handle == nullptr) {
    rd_kafka_conf_destroy(conf);
    return ::testing::AssertionFailure() << "rd_kafka_new: " << error;
  }
  out.reset(handle);
  return ::testing::AssertionSuccess();
}

}  // namespace vltava::broker::testing
