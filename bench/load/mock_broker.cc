// A reference in-memory Kafka broker for the load benchmark: librdkafka's mock cluster (rdkafka_mock.h) with one
// broker, run as its own process so that it does not share a process (or a librdkafka instance) with the load
// generator. It writes its bootstrap address to --ready-file (the same protocol as `vltava --ready-file`), prints it
// on stdout, and runs until SIGTERM or SIGINT.
//
//   mock_broker --ready-file PATH [--topic NAME:PARTITIONS]...
//
// Test and benchmark only: librdkafka is never linked into the broker.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

int main(int argc, char** argv) {
  std::string ready_file;
  std::vector<std::pair<std::string, int>> topics;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--ready-file" && i + 1 < argc) {
      ready_file = argv[++i];
    } else if (arg == "--topic" && i + 1 < argc) {
      const std::string spec = argv[++i];
      const auto colon = spec.rfind(':');
      if (colon == std::string::npos) {
        std::fprintf(stderr, "--topic wants NAME:PARTITIONS, got %s\n", spec.c_str());
        return 2;
      }
      topics.emplace_back(spec.substr(0, colon), std::atoi(spec.c_str() + colon + 1));
    } else {
      std::fprintf(stderr, "USAGE: mock_broker [--ready-file PATH] [--topic NAME:PARTITIONS]...\n");
      return 2;
    }
  }

  // Block the signals before any librdkafka thread starts, so that only sigwait below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  char error[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "log_level", "3", error, sizeof error);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof error);
  if (rk == nullptr) {
    std::fprintf(stderr, "rd_kafka_new: %s\n", error);
    return 1;
  }
  rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(rk, 1);
  if (cluster == nullptr) {
    std::fprintf(stderr, "rd_kafka_mock_cluster_new failed\n");
    return 1;
  }
  for (const auto& [name, partitions] : topics) {
    if (const auto err = rd_kafka_mock_topic_create(cluster, name.c_str(), partitions, 1)) {
      std::fprintf(stderr, "creating %s: %s\n", name.c_str(), rd_kafka_err2str(err));
      return 1;
    }
  }
  const std::string bootstraps = rd_kafka_mock_cluster_bootstraps(cluster);
  if (!ready_file.empty()) {
    const std::string temporary = ready_file + ".tmp";
    {
      std::ofstream out(temporary, std::ios::trunc);
      out << bootstraps << "\n";
    }
    std::filesystem::rename(temporary, ready_file);
  }
  std::printf("%s\n", bootstraps.c_str());
  std::fflush(stdout);

  int received = 0;
  sigwait(&signals, &received);
  rd_kafka_mock_cluster_destroy(cluster);
  rd_kafka_destroy(rk);
  return 0;
}
