// Load generator for a Kafka-wire broker, on librdkafka's C API (test and benchmark only; never linked into the
// broker). One run measures either
//   --rate 0 (default): produce throughput (as fast as the producer goes for --seconds, then flush), followed by
//                       consume throughput (a consumer reading every record back with assign(), from the offsets the
//                       run started at);
//   --rate R > 0:       end-to-end latency at R records/s offered: each value starts with the send time
//                       (CLOCK_MONOTONIC ns); a consumer assigned to the same partitions computes now - sent;
//   --many-partitions N: the broker's memory and descriptors with N partitions: idle RSS and open descriptors, then
//                       N partitions in topics of at most 1,000 partitions (one CreateTopics each, each result
//                       awaited until --create-timeout), a Metadata check that every partition has a leader, one
//                       record produced to each partition (unless --no-produce-each), and RSS (VmRSS) and open
//                       descriptors (/proc/PID/fd) of the broker again. Needs --start or --start-mock; the mock
//                       cluster has no CreateTopics, so mock_broker creates the topics itself at start-up (its idle
//                       figures come from a start without them).
// With --start it also starts the broker itself (vltava, in a temporary directory, on port 0 with --ready-file; or
// the mock_broker of this directory with --start-mock), measures start-up time to the first answered Metadata
// request and idle RSS, and stops it after the run (and when the run fails). --loopback SECONDS measures the
// machine's loopback TCP bandwidth instead (one sender thread, one receiver thread).
//
//   broker_load --start build/bin/vltava --record-size 100 --acks all --partitions 16 --seconds 5 --json out.json
//   broker_load --bootstrap 127.0.0.1:9092 --rate 2000 --seconds 10
//   broker_load --start build/bin/vltava --many-partitions 10000 --json many.json
//   broker_load --loopback 3 --json loopback.json
#include <librdkafka/rdkafka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string bootstrap;
  std::string start_vltava;  // path to the vltava binary
  std::string start_mock;    // path to mock_broker
  std::string topic;
  std::string json_file;
  std::string label;
  int record_size = 100;
  std::string acks = "1";
  int partitions = 1;
  double seconds = 5;
  double rate = 0;
  double loopback_seconds = 0;
  bool create = true;  // create the topic with CreateTopics (the mock cluster of librdkafka 2.0 lacks it)
  int many_partitions = 0;
  bool produce_each = true;     // --many-partitions: one record to each partition
  double create_timeout = 120;  // --many-partitions: seconds to wait for each CreateTopics result
};

// The topics of --many-partitions hold at most this many partitions each.
constexpr int partitions_per_topic = 1000;

// The broker this process started, if any: stopped on every exit path, die() included.
struct StartedProcess {
  pid_t pid = -1;
  std::filesystem::path directory;
};
StartedProcess started;

// SIGTERM, then SIGKILL if the broker has not exited within 120 s (a broker with many partitions flushes each log
// as it stops).
void stop_started_process() {
  if (started.pid <= 0) return;
  kill(started.pid, SIGTERM);
  const auto deadline = Clock::now() + std::chrono::seconds(120);
  int status = 0;
  while (waitpid(started.pid, &status, WNOHANG) == 0) {
    if (Clock::now() > deadline) {
      std::fprintf(stderr, "broker_load: the broker did not stop within 120 s of SIGTERM: SIGKILL\n");
      kill(started.pid, SIGKILL);
      waitpid(started.pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  started.pid = -1;
}

void stop_started() {
  stop_started_process();
  if (!started.directory.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(started.directory, ignored);
    started.directory.clear();
  }
}

// Set by die(): the clients still open then complain about the stopped broker, which only hides the message.
std::atomic<bool> dying{false};

void log_line(const rd_kafka_t* rk, int level, const char* facility, const char* text) {
  if (!dying.load()) std::fprintf(stderr, "%%%d|%s|%s| %s\n", level, facility, rd_kafka_name(rk), text);
}

[[noreturn]] void die(const std::string& message) {
  dying.store(true);
  std::fprintf(stderr, "broker_load: %s\n", message.c_str());
  stop_started();
  std::exit(1);
}

std::int64_t monotonic_ns() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<std::int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

void usage() {
  std::fprintf(
      stderr,
      "USAGE: broker_load (--bootstrap HOST:PORT | --start PATH_TO_VLTAVA | --start-mock PATH_TO_MOCK_BROKER)\n"
      "         [--record-size BYTES] [--acks 0|1|all] [--partitions N] [--seconds S] [--rate R]\n"
      "         [--topic NAME] [--no-create] [--label TEXT] [--json FILE]\n"
      "       broker_load (--start PATH_TO_VLTAVA | --start-mock PATH_TO_MOCK_BROKER) --many-partitions N\n"
      "         [--no-produce-each] [--create-timeout SECONDS] [--label TEXT] [--json FILE]\n"
      "       broker_load --loopback SECONDS [--json FILE]\n");
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage();
      return argv[++i];
    };
    if (arg == "--bootstrap")
      o.bootstrap = value();
    else if (arg == "--start")
      o.start_vltava = value();
    else if (arg == "--start-mock")
      o.start_mock = value();
    else if (arg == "--topic")
      o.topic = value();
    else if (arg == "--json")
      o.json_file = value();
    else if (arg == "--label")
      o.label = value();
    else if (arg == "--record-size")
      o.record_size = std::atoi(value().c_str());
    else if (arg == "--acks")
      o.acks = value();
    else if (arg == "--partitions")
      o.partitions = std::atoi(value().c_str());
    else if (arg == "--seconds")
      o.seconds = std::atof(value().c_str());
    else if (arg == "--rate")
      o.rate = std::atof(value().c_str());
    else if (arg == "--loopback")
      o.loopback_seconds = std::atof(value().c_str());
    else if (arg == "--no-create")
      o.create = false;
    else if (arg == "--many-partitions")
      o.many_partitions = std::atoi(value().c_str());
    else if (arg == "--no-produce-each")
      o.produce_each = false;
    else if (arg == "--create-timeout")
      o.create_timeout = std::atof(value().c_str());
    else
      usage();
  }
  if (o.loopback_seconds > 0) return o;
  if (o.bootstrap.empty() + o.start_vltava.empty() + o.start_mock.empty() != 2) usage();
  if (o.many_partitions < 0) die("--many-partitions must be positive");
  if (o.many_partitions > 0 && !o.bootstrap.empty()) {
    die("--many-partitions needs --start or --start-mock: it reads the broker's /proc/PID/status and /proc/PID/fd");
  }
  if (o.create_timeout <= 0) die("--create-timeout must be positive");
  if (o.record_size < 8) die("--record-size must be at least 8 (the send time is in the value)");
  if (o.partitions < 1) die("--partitions must be at least 1");
  if (o.topic.empty()) {
    o.topic = "load-" + std::to_string(o.record_size) + "b-acks" + o.acks + "-p" + std::to_string(o.partitions) +
              (o.rate > 0 ? "-lat" : "-tput");
  }
  return o;
}

// --- results, printed as a table and written as JSON -------------------------------------------------------------

std::string quoted(const std::string& text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char escape[8];
      std::snprintf(escape, sizeof escape, "\\u%04x", c);
      out += escape;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

struct Results {
  std::vector<std::pair<std::string, std::string>> fields;  // in order; numbers unquoted
  void text(const std::string& key, const std::string& v) { fields.emplace_back(key, quoted(v)); }
  void flag(const std::string& key, bool v) { fields.emplace_back(key, v ? "true" : "false"); }
  void number(const std::string& key, double v) {
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%.10g", v);
    fields.emplace_back(key, buffer);
  }
  void write_json(const std::string& path) const {
    std::ofstream out(path, std::ios::trunc);
    out << "{";
    for (std::size_t i = 0; i < fields.size(); ++i) {
      out << (i ? ", " : "") << "\"" << fields[i].first << "\": " << fields[i].second;
    }
    out << "}\n";
    if (!out) die("writing " + path + " failed");
  }
  void print() const {
    for (const auto& [key, v] : fields) std::printf("  %-28s %s\n", key.c_str(), v.c_str());
  }
};

// --- loopback TCP bandwidth --------------------------------------------------------------------------------------

void loopback(const Options& o) {
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || listen(listener, 1) != 0 ||
      getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    die(std::string("loopback listen: ") + std::strerror(errno));
  }
  std::atomic<std::uint64_t> received{0};
  std::thread receiver([&] {
    const int connection = accept(listener, nullptr, nullptr);
    std::vector<char> buffer(1 << 20);
    for (;;) {
      const ssize_t n = read(connection, buffer.data(), buffer.size());
      if (n <= 0) break;
      received.fetch_add(static_cast<std::uint64_t>(n), std::memory_order_relaxed);
    }
    close(connection);
  });
  const int sender = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(sender, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    die(std::string("loopback connect: ") + std::strerror(errno));
  }
  std::vector<char> buffer(1 << 20, 'x');
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration<double>(o.loopback_seconds);
  while (Clock::now() < deadline) {
    if (write(sender, buffer.data(), buffer.size()) < 0) die(std::string("loopback write: ") + std::strerror(errno));
  }
  shutdown(sender, SHUT_WR);
  receiver.join();
  const double elapsed = seconds_since(start);
  close(sender);
  close(listener);
  Results r;
  r.text("kind", "loopback");
  r.number("seconds", elapsed);
  r.number("mb_per_s", static_cast<double>(received.load()) / elapsed / 1e6);
  std::printf("loopback TCP, one connection, 1 MiB writes:\n");
  r.print();
  if (!o.json_file.empty()) r.write_json(o.json_file);
}

// --- starting a broker -------------------------------------------------------------------------------------------

struct StartedBroker {
  pid_t pid = -1;
  std::filesystem::path log;
  std::string bootstrap;
  double ready_file_s = 0;    // exec to the ready file
  double first_answer_s = 0;  // exec to the first answered Metadata request
  double idle_rss_kib = 0;
  int idle_descriptors = 0;
};

// The value of one line of /proc/PID/status ("VmRSS", "State"), blanks before it skipped; empty when absent.
std::string proc_status(pid_t pid, const char* key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  const std::string prefix = std::string(key) + ":";
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0) return line.substr(line.find_first_not_of(" \t", prefix.size()));
  }
  return {};
}

double proc_status_kib(pid_t pid, const char* key) { return std::atof(proc_status(pid, key).c_str()); }

// Open file descriptors of a process: the entries of /proc/PID/fd (-1 when it cannot be read).
int open_descriptors(pid_t pid) {
  std::error_code ec;
  std::filesystem::directory_iterator it("/proc/" + std::to_string(pid) + "/fd", ec);
  if (ec) return -1;
  int count = 0;
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (ec) return -1;
    ++count;
  }
  return count;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void set(rd_kafka_conf_t* conf, const char* key, const std::string& v) {
  char error[512];
  if (rd_kafka_conf_set(conf, key, v.c_str(), error, sizeof error) != RD_KAFKA_CONF_OK) die(error);
}

rd_kafka_conf_t* new_conf(const std::string& bootstrap) {
  char error[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), error, sizeof error) != RD_KAFKA_CONF_OK) {
    die(error);
  }
  rd_kafka_conf_set(conf, "log_level", "3", error, sizeof error);
  rd_kafka_conf_set_log_cb(conf, log_line);
  if (const char* debug = std::getenv("BROKER_LOAD_DEBUG")) set(conf, "debug", debug);
  return conf;
}

// The command line of the broker to start: vltava with a fresh server.properties, or mock_broker with its topics
// (NAME:PARTITIONS each).
std::vector<std::string> broker_command(const Options& o, const std::filesystem::path& directory,
                                        const std::vector<std::string>& mock_topics) {
  const auto ready = directory / "ready";
  if (!o.start_vltava.empty()) {
    const auto properties = directory / "server.properties";
    std::ofstream out(properties);
    out << "node.id=1\nlisteners=PLAINTEXT://127.0.0.1:0\nlog.dirs=" << (directory / "data").string()
        << "\nnum.partitions=1\nauto.create.topics.enable=true\noffsets.topic.replication.factor=1\n";
    return {o.start_vltava, properties.string(), "--ready-file", ready.string()};
  }
  std::vector<std::string> args = {o.start_mock, "--ready-file", ready.string()};
  for (const auto& topic : mock_topics) {
    args.push_back("--topic");
    args.push_back(topic);
  }
  return args;
}

pid_t spawn(std::vector<std::string> args, const std::filesystem::path& log) {
  const pid_t pid = fork();
  if (pid < 0) die("fork failed");
  if (pid == 0) {
    if (!freopen(log.c_str(), "w", stdout) || !freopen(log.c_str(), "a", stderr)) _exit(127);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

void wait_for_ready_file(const StartedBroker& b, const std::filesystem::path& ready, Clock::time_point start) {
  while (!std::filesystem::exists(ready)) {
    int status = 0;
    if (waitpid(b.pid, &status, WNOHANG) == b.pid) {
      started.pid = -1;
      die("the broker exited before it was ready:\n" + read_file(b.log));
    }
    if (seconds_since(start) > 60) die("the broker was not ready within 60 s:\n" + read_file(b.log));
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

// First answered request: a Metadata request from a fresh client (its connection set-up included).
void wait_for_first_answer(const StartedBroker& b, Clock::time_point start) {
  char error[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, new_conf(b.bootstrap), error, sizeof error);
  if (rk == nullptr) die(error);
  for (;;) {
    const rd_kafka_metadata_t* metadata = nullptr;
    if (rd_kafka_metadata(rk, 0, nullptr, &metadata, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      rd_kafka_metadata_destroy(metadata);
      break;
    }
    if (seconds_since(start) > 60) die("no Metadata answer within 60 s");
  }
  rd_kafka_destroy(rk);
}

// Starts the broker of --start or --start-mock (mock_topics: the mock's topics as NAME:PARTITIONS) in a fresh
// temporary directory. One at a time: stop_started() stops it.
StartedBroker start_broker(const Options& o, const std::vector<std::string>& mock_topics) {
  char pattern[] = "/tmp/vltava-load.XXXXXX";
  if (mkdtemp(pattern) == nullptr) die("mkdtemp failed");
  started.directory = pattern;
  StartedBroker b;
  b.log = started.directory / "broker.log";
  const auto ready = started.directory / "ready";
  const auto args = broker_command(o, started.directory, mock_topics);
  const auto start = Clock::now();
  b.pid = started.pid = spawn(args, b.log);
  wait_for_ready_file(b, ready, start);
  b.ready_file_s = seconds_since(start);
  std::ifstream in(ready);
  std::getline(in, b.bootstrap);
  wait_for_first_answer(b, start);
  b.first_answer_s = seconds_since(start);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  b.idle_rss_kib = proc_status_kib(b.pid, "VmRSS");
  b.idle_descriptors = open_descriptors(b.pid);
  return b;
}

// --- topic and offsets -------------------------------------------------------------------------------------------

void create_topic(const std::string& bootstrap, const Options& o) {
  char error[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, new_conf(bootstrap), error, sizeof error);
  if (rk == nullptr) die(error);
  rd_kafka_NewTopic_t* topic = rd_kafka_NewTopic_new(o.topic.c_str(), o.partitions, 1, error, sizeof error);
  if (topic == nullptr) die(error);
  rd_kafka_queue_t* queue = rd_kafka_queue_new(rk);
  rd_kafka_CreateTopics(rk, &topic, 1, nullptr, queue);
  rd_kafka_event_t* event = rd_kafka_queue_poll(queue, 30000);
  if (event == nullptr) die("CreateTopics: no answer within 30 s");
  if (rd_kafka_event_error(event)) die(std::string("CreateTopics: ") + rd_kafka_event_error_string(event));
  const rd_kafka_CreateTopics_result_t* result = rd_kafka_event_CreateTopics_result(event);
  std::size_t count = 0;
  const rd_kafka_topic_result_t** topics = rd_kafka_CreateTopics_result_topics(result, &count);
  for (std::size_t i = 0; i < count; ++i) {
    const auto err = rd_kafka_topic_result_error(topics[i]);
    if (err && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      die("CreateTopics " + o.topic + ": " + rd_kafka_err2str(err));
    }
  }
  rd_kafka_event_destroy(event);
  rd_kafka_queue_destroy(queue);
  rd_kafka_NewTopic_destroy(topic);
  // Wait until the metadata shows every partition with a leader.
  rd_kafka_topic_t* handle = rd_kafka_topic_new(rk, o.topic.c_str(), nullptr);
  const auto start = Clock::now();
  for (;;) {
    const rd_kafka_metadata_t* metadata = nullptr;
    if (rd_kafka_metadata(rk, 0, handle, &metadata, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      const bool ready = metadata->topic_cnt == 1 && metadata->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
                         metadata->topics[0].partition_cnt == o.partitions &&
                         std::all_of(metadata->topics[0].partitions,
                                     metadata->topics[0].partitions + metadata->topics[0].partition_cnt,
                                     [](const rd_kafka_metadata_partition_t& p) { return p.leader >= 0; });
      const int found = metadata->topic_cnt == 1 ? metadata->topics[0].partition_cnt : -1;
      rd_kafka_metadata_destroy(metadata);
      if (ready) break;
      if (seconds_since(start) > 30) {
        die("topic " + o.topic + " has " + std::to_string(found) + " partitions, wanted " +
            std::to_string(o.partitions));
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  rd_kafka_topic_destroy(handle);
  rd_kafka_destroy(rk);
}

std::vector<std::int64_t> high_watermarks(rd_kafka_t* rk, const Options& o) {
  std::vector<std::int64_t> result(static_cast<std::size_t>(o.partitions));
  for (int p = 0; p < o.partitions; ++p) {
    std::int64_t low = 0;
    std::int64_t high = 0;
    const auto err = rd_kafka_query_watermark_offsets(rk, o.topic.c_str(), p, &low, &high, 10000);
    if (err) die(std::string("query_watermark_offsets: ") + rd_kafka_err2str(err));
    result[static_cast<std::size_t>(p)] = high;
  }
  return result;
}

// --- producer and consumer ---------------------------------------------------------------------------------------

struct Delivery {
  std::atomic<std::uint64_t> delivered{0};
  std::atomic<std::uint64_t> failed{0};
  std::atomic<int> first_error{0};
};

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* message, void* opaque) {
  auto* d = static_cast<Delivery*>(opaque);
  if (message->err) {
    d->failed.fetch_add(1);
    int expected = 0;
    d->first_error.compare_exchange_strong(expected, static_cast<int>(message->err));
  } else {
    d->delivered.fetch_add(1);
  }
}

rd_kafka_t* new_producer(const std::string& bootstrap, const Options& o, Delivery& delivery, bool latency) {
  rd_kafka_conf_t* conf = new_conf(bootstrap);
  set(conf, "acks", o.acks);
  set(conf, "enable.idempotence", "false");
  set(conf, "compression.type", "none");
  set(conf, "linger.ms", latency ? "0" : "5");
  set(conf, "batch.size", "1000000");
  set(conf, "queue.buffering.max.messages", "1000000");
  set(conf, "queue.buffering.max.kbytes", "1048576");
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_conf_set_opaque(conf, &delivery);
  char error[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof error);
  if (rk == nullptr) die(error);
  return rk;
}

rd_kafka_t* new_consumer(const std::string& bootstrap, const Options& o, const std::vector<std::int64_t>& from) {
  rd_kafka_conf_t* conf = new_conf(bootstrap);
  set(conf, "group.id", "broker-load");
  set(conf, "enable.auto.commit", "false");
  set(conf, "enable.partition.eof", "false");
  set(conf, "auto.offset.reset", "earliest");
  char error[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, error, sizeof error);
  if (rk == nullptr) die(error);
  rd_kafka_poll_set_consumer(rk);
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(o.partitions);
  for (int p = 0; p < o.partitions; ++p) {
    rd_kafka_topic_partition_list_add(list, o.topic.c_str(), p)->offset = from[static_cast<std::size_t>(p)];
  }
  if (const auto err = rd_kafka_assign(rk, list)) die(std::string("assign: ") + rd_kafka_err2str(err));
  rd_kafka_topic_partition_list_destroy(list);
  return rk;
}

void produce_one(rd_kafka_t* rk, const Options& o, std::vector<char>& value, std::uint64_t sequence) {
  const std::int64_t sent = monotonic_ns();
  std::memcpy(value.data(), &sent, sizeof sent);
  const auto partition = static_cast<std::int32_t>(sequence % static_cast<std::uint64_t>(o.partitions));
  for (;;) {
    const auto err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(o.topic.c_str()), RD_KAFKA_V_PARTITION(partition),
                                       RD_KAFKA_V_VALUE(value.data(), value.size()),
                                       RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return;
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) die(std::string("produce: ") + rd_kafka_err2str(err));
    rd_kafka_poll(rk, 1);
  }
}

void check_delivery(const Delivery& delivery) {
  if (delivery.failed.load() != 0) {
    die(std::to_string(delivery.failed.load()) + " records failed, first error: " +
        rd_kafka_err2str(static_cast<rd_kafka_resp_err_t>(delivery.first_error.load())));
  }
}

void throughput(const std::string& bootstrap, const Options& o, Results& r) {
  Delivery delivery;
  rd_kafka_t* producer = new_producer(bootstrap, o, delivery, false);
  const auto from = high_watermarks(producer, o);
  std::vector<char> value(static_cast<std::size_t>(o.record_size), 'v');
  std::uint64_t sequence = 0;
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration<double>(o.seconds);
  while (Clock::now() < deadline) {
    for (int i = 0; i < 1000; ++i) produce_one(producer, o, value, sequence++);
    rd_kafka_poll(producer, 0);
  }
  if (rd_kafka_flush(producer, 120000) != RD_KAFKA_RESP_ERR_NO_ERROR) die("flush did not finish within 120 s");
  const double produce_s = seconds_since(start);
  check_delivery(delivery);
  const auto end = high_watermarks(producer, o);
  rd_kafka_destroy(producer);
  const double records = static_cast<double>(delivery.delivered.load());
  r.number("produce_records", records);
  r.number("produce_s", produce_s);
  r.number("produce_records_per_s", records / produce_s);
  r.number("produce_mb_per_s", records * o.record_size / produce_s / 1e6);

  // Read until every partition's end offset after the produce phase. A broker that no longer holds the start of
  // the run (librdkafka's mock cluster keeps only the last few MB of each partition) answers OFFSET_OUT_OF_RANGE and
  // the consumer resets to the earliest offset it has: consume_records then counts what was there to read.
  rd_kafka_t* consumer = new_consumer(bootstrap, o, from);
  std::uint64_t consumed = 0;
  std::vector<std::int64_t> next = from;
  auto behind = [&] {
    for (std::size_t p = 0; p < next.size(); ++p) {
      if (next[p] < end[p]) return true;
    }
    return false;
  };
  const auto consume_start = Clock::now();
  while (behind()) {
    rd_kafka_message_t* message = rd_kafka_consumer_poll(consumer, 1000);
    if (message == nullptr) {
      if (seconds_since(consume_start) > 120) {
        die("the consumer got " + std::to_string(consumed) + " of " + std::to_string(delivery.delivered.load()) +
            " records in 120 s");
      }
      continue;
    }
    if (message->err) die(std::string("consume: ") + rd_kafka_message_errstr(message));
    ++consumed;
    next[static_cast<std::size_t>(message->partition)] = message->offset + 1;
    rd_kafka_message_destroy(message);
  }
  const double consume_s = seconds_since(consume_start);
  rd_kafka_consumer_close(consumer);
  rd_kafka_destroy(consumer);
  r.number("consume_records", static_cast<double>(consumed));
  r.number("consume_s", consume_s);
  r.number("consume_records_per_s", static_cast<double>(consumed) / consume_s);
  r.number("consume_mb_per_s", static_cast<double>(consumed) * o.record_size / consume_s / 1e6);
}

void latency(const std::string& bootstrap, const Options& o, Results& r) {
  Delivery delivery;
  rd_kafka_t* producer = new_producer(bootstrap, o, delivery, true);
  const auto from = high_watermarks(producer, o);
  rd_kafka_t* consumer = new_consumer(bootstrap, o, from);
  const auto total = static_cast<std::uint64_t>(o.rate * o.seconds);
  // The first quarter of the run (at most 1 s) warms connections and fetch sessions up and is not counted.
  const std::int64_t warmup_ns = static_cast<std::int64_t>(std::min(1.0, o.seconds / 4) * 1e9);
  std::vector<std::int64_t> samples;
  samples.reserve(total);
  std::atomic<bool> producing_done{false};
  std::atomic<std::uint64_t> consumed{0};
  const std::int64_t run_start_ns = monotonic_ns();
  std::thread reader([&] {
    Clock::time_point done_at{};
    while (true) {
      if (producing_done.load() && consumed.load() >= delivery.delivered.load()) break;
      if (producing_done.load()) {
        if (done_at == Clock::time_point{}) done_at = Clock::now();
        if (seconds_since(done_at) > 30) break;
      }
      rd_kafka_message_t* message = rd_kafka_consumer_poll(consumer, 100);
      if (message == nullptr) continue;
      const std::int64_t now = monotonic_ns();
      if (!message->err && message->len >= sizeof(std::int64_t)) {
        std::int64_t sent = 0;
        std::memcpy(&sent, message->payload, sizeof sent);
        if (sent - run_start_ns >= warmup_ns) samples.push_back(now - sent);
        consumed.fetch_add(1);
      }
      rd_kafka_message_destroy(message);
    }
  });
  std::vector<char> value(static_cast<std::size_t>(o.record_size), 'v');
  const auto start = Clock::now();
  for (std::uint64_t i = 0; i < total; ++i) {
    std::this_thread::sleep_until(start + std::chrono::duration_cast<Clock::duration>(
                                              std::chrono::duration<double>(static_cast<double>(i) / o.rate)));
    produce_one(producer, o, value, i);
    rd_kafka_poll(producer, 0);
  }
  const double offered_s = seconds_since(start);
  if (rd_kafka_flush(producer, 120000) != RD_KAFKA_RESP_ERR_NO_ERROR) die("flush did not finish within 120 s");
  check_delivery(delivery);
  producing_done.store(true);
  reader.join();
  rd_kafka_destroy(producer);
  rd_kafka_consumer_close(consumer);
  rd_kafka_destroy(consumer);
  if (consumed.load() < delivery.delivered.load()) {
    die("the consumer got " + std::to_string(consumed.load()) + " of " + std::to_string(delivery.delivered.load()));
  }
  std::sort(samples.begin(), samples.end());
  auto percentile = [&](double q) {
    if (samples.empty()) return 0.0;
    const auto index = std::min(samples.size() - 1, static_cast<std::size_t>(q * static_cast<double>(samples.size())));
    return static_cast<double>(samples[index]) / 1e6;
  };
  r.number("offered_records_per_s", o.rate);
  r.number("achieved_records_per_s", static_cast<double>(total) / offered_s);
  r.number("latency_samples", static_cast<double>(samples.size()));
  r.number("latency_p50_ms", percentile(0.50));
  r.number("latency_p99_ms", percentile(0.99));
  r.number("latency_p999_ms", percentile(0.999));
  r.number("latency_max_ms", samples.empty() ? 0.0 : static_cast<double>(samples.back()) / 1e6);
}

// --- many partitions --------------------------------------------------------------------------------------------

struct ManyTopic {
  std::string name;
  int partitions = 0;
};

std::vector<ManyTopic> many_topics(int total) {
  std::vector<ManyTopic> topics;
  for (int made = 0; made < total;) {
    const int count = std::min(partitions_per_topic, total - made);
    topics.push_back({"many-" + std::to_string(topics.size()), count});
    made += count;
  }
  return topics;
}

// The broker's RSS and descriptors a moment after a step, once what it started has settled.
struct Footprint {
  double rss_kib = 0;
  int descriptors = 0;
};

Footprint footprint(pid_t pid) {
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  return {proc_status_kib(pid, "VmRSS"), open_descriptors(pid)};
}

// The broker's state when a step failed: alive (RSS, descriptors) or how it ended, then the error lines of its log
// (or its last lines when none says error).
std::string broker_report(const StartedBroker& b) {
  std::string report;
  int status = 0;
  if (waitpid(b.pid, &status, WNOHANG) == b.pid) {
    started.pid = -1;
    report = WIFSIGNALED(status) ? "the broker was killed by signal " + std::to_string(WTERMSIG(status))
                                 : "the broker exited with status " + std::to_string(WEXITSTATUS(status));
  } else {
    char line[200];
    std::snprintf(line, sizeof line, "the broker runs (state %s): RSS %.1f MiB, %d open descriptors",
                  proc_status(b.pid, "State").c_str(), proc_status_kib(b.pid, "VmRSS") / 1024, open_descriptors(b.pid));
    report = line;
  }
  std::istringstream log(read_file(b.log));
  std::vector<std::string> errors;
  std::vector<std::string> last;
  for (std::string line; std::getline(log, line);) {
    std::string lower = line;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    if (lower.find("error") != std::string::npos && errors.size() < 5) errors.push_back(line);
    last.push_back(line);
    if (last.size() > 5) last.erase(last.begin());
  }
  report += errors.empty() ? "; the last lines of its log:" : "; the first error lines of its log:";
  for (const auto& line : errors.empty() ? last : errors) report += "\n    " + line;
  return report;
}

// Ends a failed --many-partitions run: the JSON (with "error") and the message name the step, the broker's answer
// and the broker's state.
[[noreturn]] void fail_many(const std::string& what, const StartedBroker& b, Results& r, const Options& o) {
  const std::string message = what + "\n  " + broker_report(b);
  r.text("error", message);
  if (!o.json_file.empty()) r.write_json(o.json_file);
  die(message);
}

// The problem in a CreateTopics result event, empty when the topic was created.
std::string create_problem(rd_kafka_event_t* event) {
  if (rd_kafka_event_error(event)) return rd_kafka_event_error_string(event);
  std::size_t count = 0;
  const rd_kafka_topic_result_t** topics =
      rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(event), &count);
  if (count != 1) return "the result holds " + std::to_string(count) + " topics, not 1";
  const auto err = rd_kafka_topic_result_error(topics[0]);
  if (!err) return {};
  const char* text = rd_kafka_topic_result_error_string(topics[0]);
  return std::string(rd_kafka_err2name(err)) + ": " + (text ? text : rd_kafka_err2str(err));
}

// One CreateTopics request for one topic, its result awaited until timeout_s; the problem, empty on success.
std::string create_one(rd_kafka_t* rk, const ManyTopic& t, double timeout_s) {
  char error[512];
  rd_kafka_NewTopic_t* topic = rd_kafka_NewTopic_new(t.name.c_str(), t.partitions, 1, error, sizeof error);
  if (topic == nullptr) return error;
  const int timeout_ms = static_cast<int>(timeout_s * 1000);
  rd_kafka_AdminOptions_t* options = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_request_timeout(options, timeout_ms, error, sizeof error);
  rd_kafka_AdminOptions_set_operation_timeout(options, timeout_ms, error, sizeof error);
  rd_kafka_queue_t* queue = rd_kafka_queue_new(rk);
  rd_kafka_CreateTopics(rk, &topic, 1, options, queue);
  rd_kafka_event_t* event = rd_kafka_queue_poll(queue, timeout_ms + 5000);
  char waited[80];
  std::snprintf(waited, sizeof waited, "no result within %.0f s", timeout_s + 5);
  const std::string problem = event == nullptr ? waited : create_problem(event);
  if (event != nullptr) rd_kafka_event_destroy(event);
  rd_kafka_queue_destroy(queue);
  rd_kafka_AdminOptions_destroy(options);
  rd_kafka_NewTopic_destroy(topic);
  return problem;
}

void create_many(rd_kafka_t* rk, const std::vector<ManyTopic>& topics, const StartedBroker& b, Results& r,
                 const Options& o) {
  int created = 0;
  for (const auto& t : topics) {
    if (const auto problem = create_one(rk, t, o.create_timeout); !problem.empty()) {
      fail_many("CreateTopics " + t.name + " (" + std::to_string(t.partitions) + " partitions; " +
                    std::to_string(created) + " of " + std::to_string(o.many_partitions) +
                    " partitions created before it): " + problem,
                b, r, o);
    }
    created += t.partitions;
  }
}

// Partitions of these topics that Metadata shows with a leader; the text says what is missing.
int led_partitions(rd_kafka_t* rk, const std::vector<ManyTopic>& topics, std::string& missing) {
  const rd_kafka_metadata_t* metadata = nullptr;
  if (const auto err = rd_kafka_metadata(rk, 1, nullptr, &metadata, 30000)) {
    missing = std::string("Metadata: ") + rd_kafka_err2str(err);
    return 0;
  }
  std::map<std::string, const rd_kafka_metadata_topic_t*> by_name;
  for (int i = 0; i < metadata->topic_cnt; ++i) by_name[metadata->topics[i].topic] = &metadata->topics[i];
  int led = 0;
  missing.clear();
  for (const auto& t : topics) {
    const auto it = by_name.find(t.name);
    const int found = it == by_name.end() || it->second->err ? 0 : it->second->partition_cnt;
    const int with_leader =
        found == 0
            ? 0
            : static_cast<int>(std::count_if(it->second->partitions, it->second->partitions + found,
                                             [](const rd_kafka_metadata_partition_t& p) { return p.leader >= 0; }));
    led += std::min(with_leader, t.partitions);
    if (with_leader != t.partitions && missing.empty()) {
      missing = t.name + " shows " + std::to_string(found) + " partitions, " + std::to_string(with_leader) +
                " with a leader, of " + std::to_string(t.partitions);
    }
  }
  rd_kafka_metadata_destroy(metadata);
  return led;
}

void check_many(rd_kafka_t* rk, const std::vector<ManyTopic>& topics, const StartedBroker& b, Results& r,
                const Options& o) {
  const auto start = Clock::now();
  std::string missing;
  int led = 0;
  while ((led = led_partitions(rk, topics, missing)) != o.many_partitions) {
    if (seconds_since(start) > o.create_timeout) {
      fail_many("Metadata after " + std::to_string(static_cast<int>(o.create_timeout)) + " s: " + std::to_string(led) +
                    " of " + std::to_string(o.many_partitions) + " partitions with a leader; " + missing,
                b, r, o);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

void produce_each(const std::string& bootstrap, const std::vector<ManyTopic>& topics, const StartedBroker& b,
                  Results& r, const Options& o) {
  Options producer_options = o;
  producer_options.acks = "1";
  Delivery delivery;
  rd_kafka_t* rk = new_producer(bootstrap, producer_options, delivery, false);
  std::vector<char> value(100, 'v');
  for (const auto& t : topics) {
    for (int p = 0; p < t.partitions; ++p) {
      const auto err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(t.name.c_str()), RD_KAFKA_V_PARTITION(p),
                                         RD_KAFKA_V_VALUE(value.data(), value.size()),
                                         RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
      if (err) fail_many("produce to " + t.name + "-" + std::to_string(p) + ": " + rd_kafka_err2str(err), b, r, o);
    }
  }
  const auto flushed = rd_kafka_flush(rk, static_cast<int>(o.create_timeout * 1000));
  rd_kafka_destroy(rk);
  const std::string counts = std::to_string(delivery.delivered.load()) + " of " + std::to_string(o.many_partitions) +
                             " records delivered, " + std::to_string(delivery.failed.load()) + " failed";
  if (flushed != RD_KAFKA_RESP_ERR_NO_ERROR) {
    fail_many("one record to each partition: not flushed within " + std::to_string(static_cast<int>(o.create_timeout)) +
                  " s; " + counts,
              b, r, o);
  }
  if (delivery.failed.load() != 0) {
    fail_many("one record to each partition: " + counts +
                  ", first error: " + rd_kafka_err2str(static_cast<rd_kafka_resp_err_t>(delivery.first_error.load())),
              b, r, o);
  }
}

void record_footprint(Results& r, const std::string& prefix, const Footprint& f) {
  r.number(prefix + "rss_mib", f.rss_kib / 1024);
  r.number(prefix + "descriptors", f.descriptors);
}

std::vector<std::string> mock_topic_specs(const std::vector<ManyTopic>& topics) {
  std::vector<std::string> specs;
  for (const auto& t : topics) specs.push_back(t.name + ":" + std::to_string(t.partitions));
  return specs;
}

// Vltava: idle figures, then CreateTopics one topic at a time. The mock cluster has no CreateTopics: a first start
// without topics gives the idle figures, a second one creates the topics in-process at start-up.
StartedBroker start_and_create(const Options& o, const std::vector<ManyTopic>& topics, Results& r) {
  StartedBroker idle = start_broker(o, {});
  record_footprint(r, "idle_", {idle.idle_rss_kib, idle.idle_descriptors});
  if (!o.start_mock.empty()) {
    stop_started();
    r.text("create_method", "mock_broker --topic, in-process at start-up");
    StartedBroker b = start_broker(o, mock_topic_specs(topics));
    r.number("startup_with_partitions_ms", b.first_answer_s * 1e3);
    return b;
  }
  r.text("create_method", "CreateTopics, one topic per request");
  char error[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, new_conf(idle.bootstrap), error, sizeof error);
  if (rk == nullptr) die(error);
  const auto start = Clock::now();
  create_many(rk, topics, idle, r, o);
  r.number("create_s", seconds_since(start));
  rd_kafka_destroy(rk);
  return idle;
}

void many_partitions(const Options& o) {
  const auto topics = many_topics(o.many_partitions);
  Results r;
  r.text("label", o.label);
  r.text("kind", "many_partitions");
  r.number("partitions", o.many_partitions);
  r.number("topics", static_cast<double>(topics.size()));
  r.flag("produce_each", o.produce_each);
  StartedBroker b = start_and_create(o, topics, r);
  char error[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, new_conf(b.bootstrap), error, sizeof error);
  if (rk == nullptr) die(error);
  auto start = Clock::now();
  check_many(rk, topics, b, r, o);
  rd_kafka_destroy(rk);
  r.number("metadata_check_s", seconds_since(start));
  record_footprint(r, "created_", footprint(b.pid));
  if (o.produce_each) {
    start = Clock::now();
    produce_each(b.bootstrap, topics, b, r, o);
    r.number("produce_each_s", seconds_since(start));
  }
  const Footprint end = footprint(b.pid);
  record_footprint(r, "", end);
  r.number("peak_rss_mib", proc_status_kib(b.pid, "VmHWM") / 1024);
  start = Clock::now();
  stop_started_process();
  r.number("shutdown_s", seconds_since(start));  // SIGTERM to exit
  stop_started();
  std::printf("%s with %d partitions in %zu topics%s:\n", o.label.empty() ? "broker" : o.label.c_str(),
              o.many_partitions, topics.size(), o.produce_each ? ", one record in each" : "");
  r.print();
  if (!o.json_file.empty()) r.write_json(o.json_file);
}

// --- one throughput or latency run -------------------------------------------------------------------------------

void load_run(const Options& o) {
  Results r;
  r.text("label", o.label);
  r.text("kind", o.rate > 0 ? "latency" : "throughput");
  r.text("topic", o.topic);
  r.number("record_size", o.record_size);
  r.text("acks", o.acks);
  r.number("partitions", o.partitions);
  r.number("seconds", o.seconds);
  std::optional<StartedBroker> broker;
  std::string bootstrap = o.bootstrap;
  if (o.bootstrap.empty()) {
    broker = start_broker(o, {o.topic + ":" + std::to_string(o.partitions)});
    bootstrap = broker->bootstrap;
    r.number("startup_ready_file_ms", broker->ready_file_s * 1e3);
    r.number("startup_first_answer_ms", broker->first_answer_s * 1e3);
    r.number("idle_rss_mib", broker->idle_rss_kib / 1024);
  }
  if (o.create && o.start_mock.empty()) create_topic(bootstrap, o);
  if (o.rate > 0)
    latency(bootstrap, o, r);
  else
    throughput(bootstrap, o, r);
  if (broker) {
    r.number("peak_rss_mib", proc_status_kib(broker->pid, "VmHWM") / 1024);
    stop_started();
  }
  std::printf("%s %s: %d B records, acks=%s, %d partitions, %s\n", o.label.empty() ? "broker" : o.label.c_str(),
              o.rate > 0 ? "latency" : "throughput", o.record_size, o.acks.c_str(), o.partitions, bootstrap.c_str());
  r.print();
  if (!o.json_file.empty()) r.write_json(o.json_file);
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  if (o.loopback_seconds > 0)
    loopback(o);
  else if (o.many_partitions > 0)
    many_partitions(o);
  else
    load_run(o);
  return 0;
}
