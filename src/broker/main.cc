// The vltava executable, with the contract of Kafka's kafka-server-start.sh:
//
//   vltava server.properties [--override key=value]... [--ready-file PATH]
//
// Loads the configuration, recovers the logs, binds the listeners, writes the ready file (the bound addresses, for
// tests and scripts that start brokers on port 0), serves until SIGTERM or SIGINT, then stops gracefully: no new
// connections, requests in flight answered, logs flushed, clean-shutdown markers written.
#include <sys/resource.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/spdlog.h>
#include <boost/asio/signal_set.hpp>

#include "cluster_identity.h"
#include "vltava/broker/broker_config.h"
#include "vltava/broker/broker_services.h"
#include "vltava/broker/group/local_group_coordinator.h"
#include "vltava/broker/handlers.h"
#include "vltava/broker/periodic_task.h"
#include "vltava/broker/producer_state.h"
#include "vltava/broker/server.h"
#include "vltava/broker/topic_config.h"
#include "vltava/broker/topic_registry.h"
#include "vltava/storage/storage_error.h"

namespace {

using namespace vltava;

struct arguments {
  std::filesystem::path properties;
  std::vector<std::string> overrides;
  std::optional<std::filesystem::path> ready_file;
};

constexpr const char* usage = "USAGE: vltava server.properties [--override property=value]* [--ready-file PATH]";

std::optional<arguments> parse_arguments(int argc, char** argv) {
  arguments args;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--override" && i + 1 < argc) {
      args.overrides.emplace_back(argv[++i]);
    } else if (arg.starts_with("--override=")) {
      args.overrides.push_back(arg.substr(11));
    } else if (arg == "--ready-file" && i + 1 < argc) {
      args.ready_file = argv[++i];
    } else if (arg == "-h" || arg == "--help") {
      return std::nullopt;
    } else if (args.properties.empty() && !arg.starts_with("-")) {
      args.properties = arg;
    } else {
      std::cerr << "unexpected argument: " << arg << "\n";
      return std::nullopt;
    }
  }
  if (args.properties.empty()) return std::nullopt;
  return args;
}

void configure_logging() {
  spdlog::set_pattern("[%Y-%m-%d %H:%M:%S.%e] %^%-5l%$ %v");
  // Request tracing is at debug level: VLTAVA_LOG_LEVEL=debug.
  if (const char* level = std::getenv("VLTAVA_LOG_LEVEL")) {
    // from_str turns an unknown name into "off": refuse it instead of silencing the broker.
    const auto parsed = spdlog::level::from_str(level);
    if (parsed == spdlog::level::off && std::string_view(level) != "off") {
      spdlog::warn("VLTAVA_LOG_LEVEL={} is not one of trace, debug, info, warn, err, critical, off: using info", level);
    } else {
      spdlog::set_level(parsed);
    }
  }
}

// Every partition keeps its active segment's .log, .index and .timeindex open, so the default soft limit of 1024
// open files would stop a broker at about 300 partitions. Raise the soft limit to the hard one, as the process may.
void raise_open_file_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  const rlim_t before = limit.rlim_cur;
  limit.rlim_cur = limit.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &limit) == 0) {
    spdlog::info("open-file limit raised from {} to {}", before, limit.rlim_cur);
  } else {
    spdlog::warn("open-file limit is {} (hard limit {}) and could not be raised", before, limit.rlim_max);
  }
}

int run(const arguments& args) {
  const auto started = std::chrono::steady_clock::now();
  raise_open_file_limit();
  auto loaded = broker::broker_config::load(args.properties, args.overrides);
  for (const auto& notice : loaded.notices) spdlog::info("config: {}", notice);
  for (const auto& warning : loaded.warnings) spdlog::warn("config: {}", warning);
  if (!loaded.ok()) {
    for (const auto& error : loaded.errors) spdlog::error("config: {}", error);
    return 1;
  }
  const broker::broker_config& config = loaded.config;
  for (const auto& [key, value] : config.effective_entries()) spdlog::debug("config: {}={}", key, value);

  std::string cluster_id;
  if (auto problem = broker::ensure_cluster_identity(config.log_dirs, config.node_id, cluster_id); !problem.empty()) {
    spdlog::error("{}", problem);
    return 1;
  }

  std::unique_ptr<storage::log_manager> logs;
  storage::log_manager_startup startup;
  if (auto ec = storage::log_manager::open(config.to_log_manager_config(), {}, logs, startup)) {
    spdlog::error("cannot open the log directories: {}", ec.message());
    return 1;
  }
  spdlog::info("loaded {} partition logs ({} recovered after an unclean stop)", startup.logs_loaded,
               startup.logs_recovered);
  for (const auto& [tp, report] : startup.repairs) {
    spdlog::warn("recovered {}: {} segments scanned, {} bytes truncated, {} segments deleted", tp.directory_name(),
                 report.segments_scanned, report.bytes_truncated, report.segments_deleted);
  }

  broker::topic_registry topics(*logs, config.default_log_config(), broker::apply_topic_log_config,
                                {config.num_partitions, config.default_replication_factor});
  if (auto ec = topics.load()) {
    spdlog::error("cannot load topics: {}", ec.message());
    return 1;
  }

  broker::producer_state_manager producers(storage::storage_context{}, config.producer_id_expiration_ms);
  if (auto ec = producers.load(config.log_dirs.front(), topics)) {
    spdlog::error("cannot load producer state: {}", ec.message());
    return 1;
  }

  broker::broker_settings settings;
  settings.node_id = config.node_id;
  settings.cluster_id = cluster_id;
  settings.auto_create_topics = config.auto_create_topics_enable;
  settings.num_partitions = config.num_partitions;
  settings.default_replication_factor = config.default_replication_factor;
  settings.message_max_bytes = config.message_max_bytes;
  settings.timestamp_before_max_ms = config.timestamp_before_max_ms();
  settings.timestamp_after_max_ms = config.timestamp_after_max_ms();
  settings.flush_on_acks_all = config.log_flush_on_acks_all;
  settings.delete_topic_enable = config.delete_topic_enable;
  settings.producer_id_expiration_ms = config.producer_id_expiration_ms;
  broker::broker_services services(settings, *logs, topics, producers, broker::served_apis());
  broker::group::local_group_coordinator groups(config, topics, logs->flusher());
  services.attach_groups(groups.coordinator());

  broker::server_options options;
  for (const auto& l : config.listeners) options.listeners.push_back({l.host, l.port});
  options.threads = config.network_threads();
  options.background_threads = static_cast<std::size_t>(config.background_threads);
  options.socket_request_max_bytes = config.socket_request_max_bytes;
  options.connections_max_idle_ms = config.connections_max_idle_ms < 0 ? INT64_MAX / 4 : config.connections_max_idle_ms;
  options.socket_send_buffer_bytes = config.socket_send_buffer_bytes;
  options.socket_receive_buffer_bytes = config.socket_receive_buffer_bytes;
  broker::server server(options, services);
  if (auto ec = server.start()) return 1;

  // Clients are told the advertised address; a listener on port 0 advertises the port it got.
  const auto& advertised =
      config.advertised_listeners.empty() ? config.listeners.front() : config.advertised_listeners.front();
  std::string host = advertised.host.empty() || advertised.host == "0.0.0.0" ? "localhost" : advertised.host;
  const std::int32_t port = advertised.port != 0 ? advertised.port : server.bound().front().port();
  services.set_advertised_address(host, port);

  logs->start_background_work();
  // Producer state is snapshotted with every recovery-point checkpoint, so that after a crash the scan that rebuilds
  // deduplication state covers at most one interval of the log, not all of it. Expired producers go at the same time.
  broker::periodic_task producer_snapshots(
      "producer state snapshot", std::chrono::milliseconds(config.log_flush_offset_checkpoint_interval_ms),
      [&producers] {
        producers.remove_expired();
        if (auto ec = producers.save()) spdlog::warn("periodic producer state snapshot failed: {}", ec.message());
      });
  boost::asio::signal_set signals(server.context(), SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    spdlog::info("received {}: stopping", signal == SIGTERM ? "SIGTERM" : "SIGINT");
    groups.coordinator().shutdown();  // waiting JoinGroups are answered, so connections can finish
    server.stop();
  });
  if (args.ready_file) {
    if (auto ec = broker::write_ready_file(*args.ready_file, server.bound())) {
      spdlog::error("cannot write the ready file {}: {}", args.ready_file->string(), ec.message());
      return 1;
    }
  }
  const auto startup_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
  spdlog::info("Vltava node {} started in {} ms: cluster {}, advertising {}:{}, {} topics, data in {}", config.node_id,
               startup_ms, cluster_id, host, port, topics.all().size(), config.log_dirs.front().string());

  server.run();

  spdlog::info("connections closed; flushing logs");
  producer_snapshots.stop();
  int status = 0;
  if (auto ec = producers.save(config.log_dirs.front(), topics)) {
    spdlog::error("saving producer state failed: {}", ec.message());
    status = 1;
  }
  if (auto ec = logs->shutdown()) {
    spdlog::error("log shutdown failed: {}", ec.message());
    status = 1;
  }
  spdlog::info("Vltava node {} stopped", config.node_id);
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  configure_logging();
  const auto args = parse_arguments(argc, argv);
  if (!args) {
    std::cerr << usage << "\n";
    return 1;
  }
  try {
    return run(*args);
  } catch (const std::exception& e) {
    spdlog::critical("fatal: {}", e.what());
    return 1;
  }
}
