// Reading server.properties and --override arguments into a broker_config: merge (the last value of a key wins,
// overrides last of all), parse every key with its rule, then resolve the keys that depend on each other (aliases,
// Kafka's precedence between log.retention.ms/.minutes/.hours, listeners and their protocol map).
#include "vltava/broker/broker_config.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <istream>
#include <map>
#include <thread>

#include "broker_config_keys.h"
#include "config_values.h"
#include "vltava/broker/properties_file.h"

namespace vltava::broker {
namespace {

namespace cv = config_values;
using config_keys::parse_state;

constexpr std::int64_t ms_per_minute = 60'000;
constexpr std::int64_t ms_per_hour = 3'600'000;

// A key's value and where it came from ("line 12", "--override"), the last one given.
struct setting {
  std::string key;
  std::string value;
  std::string origin;
};

class config_reader {
 public:
  // Merges entries in order: a later value of a key replaces an earlier one.
  void add(std::string key, std::string value, std::string origin, bool from_file) {
    auto it = std::find_if(settings_.begin(), settings_.end(), [&](const setting& s) { return s.key == key; });
    if (it == settings_.end()) {
      settings_.push_back({std::move(key), std::move(value), std::move(origin)});
      return;
    }
    if (from_file) {
      result_.warnings.push_back(key + " is set twice (" + it->origin + ", then " + origin +
                                 "); the last value is used");
    }
    it->value = std::move(value);
    it->origin = std::move(origin);
  }

  void add_override(const std::string& text) {
    const auto equals = text.find('=');
    const auto key = cv::trim(std::string_view(text).substr(0, equals));
    if (equals == std::string::npos || key.empty()) {
      result_.errors.push_back("--override " + text + " is invalid: expected key=value");
      return;
    }
    add(std::string(key), text.substr(equals + 1), "--override", false);
  }

  broker_config_result finish() {
    for (const auto& s : settings_) read(s);
    resolve();  // also after errors, so that all of them are reported at once
    result_.config = std::move(state_.config);
    return std::move(result_);
  }

  broker_config_result& result() { return result_; }

 private:
  void read(const setting& s) {
    if (s.key.empty()) {
      result_.warnings.push_back("an entry with no key (value '" + s.value + "', " + s.origin + ") is ignored");
      return;
    }
    if (const auto* rule = config_keys::find_key_rule(s.key)) {
      if (auto broken = rule->parse(state_, s.value); !broken.empty()) {
        error(s.key, s.value, broken, s.origin);
      } else {
        state_.config.explicitly_set.emplace(rule->canonical);
        origins_[s.key] = s.origin;
      }
      return;
    }
    if (const auto reason = config_keys::ignored_key_reason(s.key); !reason.empty()) {
      result_.notices.push_back(s.key + " is ignored: " + std::string(reason) + " (" + s.origin + ")");
      return;
    }
    std::string warning = "unknown key '" + s.key + "' (" + s.origin + ") is ignored";
    if (const auto closest = config_keys::closest_known_key(s.key); !closest.empty()) {
      warning += "; did you mean '" + std::string(closest) + "'?";
    }
    result_.warnings.push_back(std::move(warning));
  }

  void error(std::string_view key, std::string_view value, std::string_view rule, std::string_view origin) {
    result_.errors.push_back(cv::invalid_value_message(key, value, rule) + " (" + std::string(origin) + ")");
  }
  // For checks made after every key is read: the value as given and where.
  void error(std::string_view key, std::string_view value, std::string_view rule) {
    const auto it = origins_.find(std::string(key));
    error(key, value, rule, it == origins_.end() ? "default" : it->second);
  }

  void resolve() {
    resolve_node_id();
    resolve_log_dirs();
    resolve_durations();
    resolve_listeners();
    check_related_keys();
  }

  void resolve_node_id() {
    if (state_.node_id && state_.broker_id && *state_.node_id != *state_.broker_id) {
      error("broker.id", std::to_string(*state_.broker_id),
            "node.id=" + std::to_string(*state_.node_id) + " is set too, and they are the same setting");
      return;
    }
    if (state_.node_id) state_.config.node_id = *state_.node_id;
    if (state_.broker_id) state_.config.node_id = *state_.broker_id;
  }

  void resolve_log_dirs() {
    // Kafka: log.dirs when given, else log.dir.
    const char* key = state_.log_dirs ? "log.dirs" : "log.dir";
    const auto& text = state_.log_dirs ? state_.log_dirs : state_.log_dir;
    if (!text) return;
    std::vector<std::filesystem::path> dirs;
    std::vector<std::filesystem::path> normal;  // "/a", "/a/" and "/b/../a" are one directory
    for (const auto& item : cv::parse_list(*text)) {
      if (item.empty()) return error(key, *text, "has an empty directory name");
      auto dir = (std::filesystem::path(item) / "").lexically_normal();
      if (std::find(normal.begin(), normal.end(), dir) != normal.end()) {
        return error(key, *text, "names " + item + " twice; each log directory must be unique");
      }
      normal.push_back(std::move(dir));
      dirs.emplace_back(item);
    }
    if (dirs.empty()) return error(key, *text, "must name at least one directory");
    state_.config.log_dirs = std::move(dirs);
  }

  // Kafka's precedence: log.retention.ms, else .minutes, else .hours; log.roll.ms, else log.roll.hours.
  void resolve_durations() {
    auto& config = state_.config;
    std::string key = "log.retention.hours";
    std::int64_t given = 168;
    std::int64_t retention = 168 * ms_per_hour;
    if (state_.retention_ms) {
      key = "log.retention.ms";
      given = retention = *state_.retention_ms;
    } else if (state_.retention_minutes) {
      key = "log.retention.minutes";
      given = *state_.retention_minutes;
      retention = given * ms_per_minute;
    } else if (state_.retention_hours) {
      given = *state_.retention_hours;
      retention = given * ms_per_hour;
    }
    if (retention == 0) {
      error(key, std::to_string(given), "must be -1 (keep forever) or a positive time");
    } else {
      config.log_retention_ms = retention < 0 ? -1 : retention;
    }
    if (state_.roll_ms) {
      config.log_roll_ms = *state_.roll_ms;
    } else if (state_.roll_hours) {
      config.log_roll_ms = *state_.roll_hours * ms_per_hour;
    }
  }

  void resolve_listeners();
  void resolve_advertised_listeners(const std::vector<std::string>& controller_names);

  void check_related_keys() {
    const auto& config = state_.config;
    if (config.group_min_session_timeout_ms > config.group_max_session_timeout_ms) {
      error("group.min.session.timeout.ms", std::to_string(config.group_min_session_timeout_ms),
            "must not exceed group.max.session.timeout.ms=" + std::to_string(config.group_max_session_timeout_ms));
    }
    if (config.log_cleaner_min_compaction_lag_ms > config.log_cleaner_max_compaction_lag_ms) {
      error("log.cleaner.min.compaction.lag.ms", std::to_string(config.log_cleaner_min_compaction_lag_ms),
            "must not exceed log.cleaner.max.compaction.lag.ms=" +
                std::to_string(config.log_cleaner_max_compaction_lag_ms));
    }
    // The key ranges above should make this unreachable; it keeps the storage layer's own rules in force.
    if (auto broken = config.default_log_config().validate(); !broken.empty()) result_.errors.push_back(broken);
  }

  parse_state state_;
  broker_config_result result_;
  std::vector<setting> settings_;
  std::map<std::string, std::string> origins_;
};

// NAME://host:port, with the host optionally in brackets (IPv6). Returns the rule broken, empty when parsed.
std::string parse_listener(std::string_view text, listener& out) {
  const std::string what = "'" + std::string(text) + "' must be NAME://host:port";
  const auto scheme = text.find("://");
  if (scheme == std::string_view::npos || scheme == 0) return what;
  std::string name(text.substr(0, scheme));
  for (auto& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') return what;
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  std::string_view address = text.substr(scheme + 3);
  std::string_view host;
  std::string_view port;
  if (address.starts_with('[')) {
    const auto close = address.find(']');
    if (close == std::string_view::npos || address.substr(close + 1, 1) != ":") return what;
    host = address.substr(1, close - 1);
    port = address.substr(close + 2);
  } else {
    const auto colon = address.rfind(':');
    if (colon == std::string_view::npos) return what;
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
  }
  const bool host_ok = std::all_of(host.begin(), host.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::strchr("-%._:", c) != nullptr;
  });
  if (!host_ok) return "'" + std::string(host) + "' is not a host name or address";
  std::int64_t port_number = 0;
  if (port.empty() || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      !cv::parse_long(port, 0, 65535, port_number).empty()) {
    return "port '" + std::string(port) + "' must be between 0 and 65535";
  }
  out = {std::move(name), std::string(host), static_cast<std::uint16_t>(port_number)};
  return {};
}

std::string upper(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

bool is_wildcard_host(std::string_view host) { return host.empty() || host == "0.0.0.0" || host == "::"; }

void config_reader::resolve_listeners() {
  // Kafka's default map: each security protocol is also a listener name.
  std::map<std::string, std::string, std::less<>> protocols{
      {"PLAINTEXT", "PLAINTEXT"}, {"SSL", "SSL"}, {"SASL_PLAINTEXT", "SASL_PLAINTEXT"}, {"SASL_SSL", "SASL_SSL"}};
  if (const auto& map_text = state_.listener_security_protocol_map) {
    protocols.clear();
    for (const auto& item : cv::parse_list(*map_text)) {
      const auto colon = item.find(':');
      const auto protocol = colon == std::string::npos ? std::string() : upper(cv::trim(item.substr(colon + 1)));
      if (colon == 0 ||
          (protocol != "PLAINTEXT" && protocol != "SSL" && protocol != "SASL_PLAINTEXT" && protocol != "SASL_SSL")) {
        return error("listener.security.protocol.map", *map_text,
                     "'" + item + "' must be NAME:PROTOCOL with PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL");
      }
      protocols[upper(cv::trim(item.substr(0, colon)))] = protocol;
    }
  }
  // Vltava has no controller quorum: listeners for one are not served. Named CONTROLLER unless said otherwise.
  std::vector<std::string> controller_names{"CONTROLLER"};
  if (state_.controller_listener_names) {
    controller_names.clear();
    for (const auto& name : cv::parse_list(*state_.controller_listener_names)) controller_names.push_back(upper(name));
  }
  auto is_controller = [&](const listener& l) {
    return std::find(controller_names.begin(), controller_names.end(), l.name) != controller_names.end();
  };

  // The default goes through the same checks: a protocol map without PLAINTEXT must not leave it served.
  const std::string text = state_.listeners.value_or(broker_config{}.listeners.front().to_string());
  std::vector<listener> served;
  for (const auto& item : cv::parse_list(text)) {
    listener l;
    if (auto broken = parse_listener(item, l); !broken.empty()) return error("listeners", text, broken);
    if (is_controller(l)) {
      result_.notices.push_back("listener " + l.to_string() +
                                " is a KRaft controller listener (controller.listener.names); Vltava has no "
                                "controller quorum and does not serve it");
      continue;
    }
    const auto protocol = protocols.find(l.name);
    if (protocol == protocols.end()) {
      return error("listeners", text,
                   "listener " + l.name + " has no security protocol; map it in listener.security.protocol.map (" +
                       l.name + ":PLAINTEXT)");
    }
    if (protocol->second != "PLAINTEXT") {
      return error(
          "listeners", text,
          "listener " + l.name + " uses security protocol " + protocol->second + "; Vltava serves PLAINTEXT only");
    }
    for (const auto& other : served) {
      if (other.name == l.name) return error("listeners", text, "listener name " + l.name + " appears twice");
      if (l.port != 0 && other.port == l.port) {
        return error("listeners", text, "port " + std::to_string(l.port) + " appears twice");
      }
    }
    served.push_back(std::move(l));
  }
  if (served.empty()) return error("listeners", text, "must name at least one PLAINTEXT listener to serve clients");
  state_.config.listeners = std::move(served);
  resolve_advertised_listeners(controller_names);
}

void config_reader::resolve_advertised_listeners(const std::vector<std::string>& controller_names) {
  const auto& served = state_.config.listeners;
  std::vector<listener> given;
  if (const auto& text = state_.advertised_listeners) {
    for (const auto& item : cv::parse_list(*text)) {
      listener l;
      if (auto broken = parse_listener(item, l); !broken.empty()) return error("advertised.listeners", *text, broken);
      if (std::find(controller_names.begin(), controller_names.end(), l.name) != controller_names.end()) {
        result_.notices.push_back("advertised listener " + l.to_string() +
                                  " is a KRaft controller listener; Vltava does not advertise it");
        continue;
      }
      if (std::none_of(served.begin(), served.end(), [&](const listener& s) { return s.name == l.name; })) {
        return error("advertised.listeners", *text, "listener " + l.name + " is not one of listeners");
      }
      if (std::any_of(given.begin(), given.end(), [&](const listener& g) { return g.name == l.name; })) {
        return error("advertised.listeners", *text, "listener name " + l.name + " appears twice");
      }
      if (!l.host.empty() && is_wildcard_host(l.host)) {
        return error("advertised.listeners", *text,
                     "cannot advertise the non-routable address " + l.host + "; name a host clients can reach");
      }
      given.push_back(std::move(l));
    }
  }
  // One advertised address per served listener, in listener order: the one given, else the listener's own.
  std::vector<listener> advertised;
  for (const auto& l : served) {
    const auto it = std::find_if(given.begin(), given.end(), [&](const listener& g) { return g.name == l.name; });
    listener a = it != given.end() ? *it : l;
    if (is_wildcard_host(a.host)) a.host = "localhost";
    advertised.push_back(std::move(a));
  }
  state_.config.advertised_listeners = std::move(advertised);
}

// source names the file in messages ("config/server.properties line 12"); empty for text given directly.
broker_config_result parse_config(std::string_view properties, const std::vector<std::string>& overrides,
                                  const std::string& source) {
  config_reader reader;
  const std::string line_prefix = source.empty() ? "line " : source + " line ";
  auto file = parse_properties(properties);
  if (!file.ok()) {
    reader.result().errors.push_back(source.empty() ? file.error : source + " " + file.error);
    return std::move(reader.result());
  }
  for (auto& entry : file.entries) {
    reader.add(std::move(entry.key), std::move(entry.value), line_prefix + std::to_string(entry.line), true);
  }
  for (const auto& text : overrides) reader.add_override(text);
  return reader.finish();
}

}  // namespace

std::string listener::to_string() const {
  const bool ipv6 = host.find(':') != std::string::npos;
  return name + "://" + (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

broker_config_result broker_config::parse(std::string_view properties, const std::vector<std::string>& overrides) {
  return parse_config(properties, overrides, {});
}

broker_config_result broker_config::parse(std::istream& properties, const std::vector<std::string>& overrides) {
  const std::string text{std::istreambuf_iterator<char>(properties), std::istreambuf_iterator<char>()};
  if (properties.bad()) {
    broker_config_result result;
    result.errors.push_back("reading the configuration failed");
    return result;
  }
  return parse_config(text, overrides, {});
}

broker_config_result broker_config::load(const std::filesystem::path& file, const std::vector<std::string>& overrides) {
  std::ifstream in(file, std::ios::binary);
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (!in.is_open() || in.bad()) {
    broker_config_result result;
    result.errors.push_back("cannot read " + file.string() + ": " + std::strerror(errno));
    return result;
  }
  return parse_config(text, overrides, file.string());
}

std::int64_t broker_config::timestamp_before_max_ms() const noexcept {
  return log_message_timestamp_before_max_ms != storage::no_limit ? log_message_timestamp_before_max_ms
                                                                  : log_message_timestamp_difference_max_ms;
}

std::int64_t broker_config::timestamp_after_max_ms() const noexcept {
  return log_message_timestamp_after_max_ms != storage::no_limit ? log_message_timestamp_after_max_ms
                                                                 : log_message_timestamp_difference_max_ms;
}

std::size_t broker_config::network_threads() const noexcept {
  if (num_network_threads > 0) return static_cast<std::size_t>(num_network_threads);
  return std::max(1u, std::thread::hardware_concurrency());
}

std::size_t broker_config::io_threads() const noexcept {
  if (num_io_threads > 0) return static_cast<std::size_t>(num_io_threads);
  return std::max(1u, std::thread::hardware_concurrency());
}

topic_settings broker_config::default_topic_settings() const {
  topic_settings topic;
  auto& log = topic.log;
  log.segment_bytes = log_segment_bytes;
  log.segment_ms = log_roll_ms;
  log.segment_index_bytes = log_index_size_max_bytes;
  log.index_interval_bytes = log_index_interval_bytes;
  log.retention_ms = log_retention_ms;
  log.retention_bytes = log_retention_bytes;
  log.cleanup = log_cleanup_policy;
  log.delete_retention_ms = log_cleaner_delete_retention_ms;
  log.min_cleanable_dirty_ratio = log_cleaner_min_cleanable_ratio;
  log.min_compaction_lag_ms = log_cleaner_min_compaction_lag_ms;
  log.max_compaction_lag_ms = log_cleaner_max_compaction_lag_ms;
  log.flush_messages = log_flush_interval_messages;
  log.flush_ms = log_flush_interval_ms;
  log.file_delete_delay_ms = log_segment_delete_delay_ms;
  log.max_message_bytes = message_max_bytes;
  log.message_timestamp_type = log_message_timestamp_type;
  topic.compression_type = compression_type;
  topic.min_insync_replicas = min_insync_replicas;
  topic.unclean_leader_election_enable = unclean_leader_election_enable;
  topic.message_downconversion_enable = log_message_downconversion_enable;
  topic.message_timestamp_difference_max_ms = log_message_timestamp_difference_max_ms;
  topic.message_timestamp_before_max_ms = log_message_timestamp_before_max_ms;
  topic.message_timestamp_after_max_ms = log_message_timestamp_after_max_ms;
  return topic;
}

storage::log_config broker_config::default_log_config() const { return default_topic_settings().log; }

storage::log_manager_config broker_config::to_log_manager_config() const {
  storage::log_manager_config out;
  out.log_dirs = log_dirs;
  out.defaults = default_log_config();
  out.flush_scheduler_interval_ms = log_flush_scheduler_interval_ms;
  out.retention_check_interval_ms = log_retention_check_interval_ms;
  out.flush_offset_checkpoint_interval_ms = log_flush_offset_checkpoint_interval_ms;
  out.cleaner_enable = log_cleaner_enable;
  out.cleaner_backoff_ms = log_cleaner_backoff_ms;
  out.durability.threads = static_cast<std::size_t>(log_flush_threads);
  out.durability.enabled = log_flush_on_acks_all;
  return out;
}

std::vector<std::pair<std::string, std::string>> broker_config::effective_entries() const {
  std::vector<std::pair<std::string, std::string>> entries;
  for (const auto& rule : config_keys::key_rules()) {
    if (rule.print) entries.emplace_back(rule.name, rule.print(*this));
  }
  return entries;
}

}  // namespace vltava::broker
