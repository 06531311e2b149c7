// Topic-level configuration keys: one table of Kafka's topic config names, each with its parser (Kafka's type and
// range) and its printer.
#include "vltava/broker/topic_config.h"

#include <algorithm>
#include <array>
#include <type_traits>

#include "config_values.h"

namespace vltava::broker {
namespace {

namespace cv = config_values;
using storage::log_config;

class config_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "vltava.config"; }
  std::string message(int value) const override {
    switch (static_cast<config_errc>(value)) {
      case config_errc::ok: return "ok";
      case config_errc::unknown_key: return "unknown configuration key";
      case config_errc::invalid_value: return "invalid configuration value";
    }
    return "unknown configuration error";
  }
};

// A topic key's value as stored in topic_settings: parse (returns the rule broken, empty when stored) and print.
struct value_codec {
  std::string (*parse)(topic_settings&, std::string_view);
  std::string (*print)(const topic_settings&);  // null: accepted without effect, not stored
};

struct topic_rule {
  topic_config_key key;
  value_codec codec;
};

template <typename>
struct member_of;
template <typename Owner, typename Value>
struct member_of<Value Owner::*> {
  using owner = Owner;
  using value = Value;
};

// A member of topic_settings or of its storage::log_config, by member pointer.
template <auto Member, typename Settings>
auto& field(Settings& settings) {
  if constexpr (std::is_same_v<typename member_of<decltype(Member)>::owner, log_config>) {
    return settings.log.*Member;
  } else {
    return settings.*Member;
  }
}

template <auto Member>
inline constexpr std::int64_t max_of = std::numeric_limits<typename member_of<decltype(Member)>::value>::max();

template <auto Member, std::int64_t Min, std::int64_t Max>
std::string parse_integer(topic_settings& settings, std::string_view text) {
  std::int64_t value = 0;
  auto rule = cv::parse_long(text, Min, Max, value);
  if (rule.empty()) field<Member>(settings) = static_cast<typename member_of<decltype(Member)>::value>(value);
  return rule;
}
template <auto Member>
std::string print_integer(const topic_settings& settings) {
  return std::to_string(field<Member>(settings));
}
template <auto Member, std::int64_t Min, std::int64_t Max = max_of<Member>>
inline constexpr value_codec integer{parse_integer<Member, Min, Max>, print_integer<Member>};

template <auto Member>
std::string parse_boolean(topic_settings& settings, std::string_view text) {
  return cv::parse_bool(text, field<Member>(settings));
}
template <auto Member>
std::string print_boolean(const topic_settings& settings) {
  return field<Member>(settings) ? "true" : "false";
}
template <auto Member>
inline constexpr value_codec boolean{parse_boolean<Member>, print_boolean<Member>};

std::string parse_cleanup_policy(topic_settings& settings, std::string_view text) {
  if (storage::cleanup_policy::parse(cv::trim(text), settings.log.cleanup)) {
    return "must be delete, compact, or both (compact,delete)";
  }
  return {};
}

constexpr value_codec cleanup_policy_codec{parse_cleanup_policy,
                                           [](const topic_settings& s) { return s.log.cleanup.to_string(); }};

constexpr value_codec compression_codec{
    [](topic_settings& s, std::string_view text) { return cv::parse_compression_type(text, s.compression_type); },
    [](const topic_settings& s) { return s.compression_type; }};

constexpr value_codec timestamp_type_codec{
    [](topic_settings& s, std::string_view text) {
      return cv::parse_timestamp_type(text, s.log.message_timestamp_type);
    },
    [](const topic_settings& s) { return std::string(cv::timestamp_type_name(s.log.message_timestamp_type)); }};

constexpr value_codec dirty_ratio_codec{
    [](topic_settings& s, std::string_view text) {
      return cv::parse_double(text, 0.0, 1.0, s.log.min_cleanable_dirty_ratio);
    },
    [](const topic_settings& s) { return cv::format_double(s.log.min_cleanable_dirty_ratio); }};

// Kafka topic keys Vltava accepts without effect: checked for their type, then dropped.
template <std::int64_t Min, std::int64_t Max>
inline constexpr value_codec ignored_integer{[](topic_settings&, std::string_view text) {
                                               std::int64_t unused = 0;
                                               return cv::parse_long(text, Min, Max, unused);
                                             },
                                             nullptr};
constexpr value_codec ignored_boolean{[](topic_settings&, std::string_view text) {
                                        bool unused = false;
                                        return cv::parse_bool(text, unused);
                                      },
                                      nullptr};
constexpr value_codec ignored_text{[](topic_settings&, std::string_view) { return std::string(); }, nullptr};
constexpr value_codec remote_storage_codec{[](topic_settings&, std::string_view text) {
                                             bool enabled = false;
                                             auto rule = cv::parse_bool(text, enabled);
                                             if (rule.empty() && enabled) rule = "Vltava has no tiered storage";
                                             return rule;
                                           },
                                           nullptr};

using ts = topic_settings;

// Alphabetical, as Kafka lists them. Ranges are Kafka's (LogConfig), except retention.bytes: Kafka has no lower
// bound, the storage layer needs -1 or more.
constexpr std::array topic_rules{
    topic_rule{{"cleanup.policy", "log.cleanup.policy"}, cleanup_policy_codec},
    topic_rule{{"compression.gzip.level", ""}, ignored_integer<-1, 9>},
    topic_rule{{"compression.lz4.level", ""}, ignored_integer<1, 17>},
    topic_rule{{"compression.type", "compression.type"}, compression_codec},
    topic_rule{{"compression.zstd.level", ""}, ignored_integer<-131072, 22>},
    topic_rule{{"delete.retention.ms", "log.cleaner.delete.retention.ms"},
               integer<&log_config::delete_retention_ms, 0>},
    topic_rule{{"file.delete.delay.ms", "log.segment.delete.delay.ms"}, integer<&log_config::file_delete_delay_ms, 0>},
    topic_rule{{"flush.messages", "log.flush.interval.messages"}, integer<&log_config::flush_messages, 1>},
    topic_rule{{"flush.ms", "log.flush.interval.ms"}, integer<&log_config::flush_ms, 0>},
    topic_rule{{"follower.replication.throttled.replicas", ""}, ignored_text},
    topic_rule{{"index.interval.bytes", "log.index.interval.bytes"}, integer<&log_config::index_interval_bytes, 0>},
    topic_rule{{"leader.replication.throttled.replicas", ""}, ignored_text},
    topic_rule{{"local.retention.bytes", ""}, ignored_integer<-2, cv::long_max>},
    topic_rule{{"local.retention.ms", ""}, ignored_integer<-2, cv::long_max>},
    topic_rule{{"max.compaction.lag.ms", "log.cleaner.max.compaction.lag.ms"},
               integer<&log_config::max_compaction_lag_ms, 1>},
    topic_rule{{"max.message.bytes", "message.max.bytes"}, integer<&log_config::max_message_bytes, 0>},
    topic_rule{{"message.downconversion.enable", "log.message.downconversion.enable"},
               boolean<&ts::message_downconversion_enable>},
    topic_rule{{"message.format.version", ""}, ignored_text},
    topic_rule{{"message.timestamp.after.max.ms", "log.message.timestamp.after.max.ms"},
               integer<&ts::message_timestamp_after_max_ms, 0>},
    topic_rule{{"message.timestamp.before.max.ms", "log.message.timestamp.before.max.ms"},
               integer<&ts::message_timestamp_before_max_ms, 0>},
    topic_rule{{"message.timestamp.difference.max.ms", "log.message.timestamp.difference.max.ms"},
               integer<&ts::message_timestamp_difference_max_ms, 0>},
    topic_rule{{"message.timestamp.type", "log.message.timestamp.type"}, timestamp_type_codec},
    topic_rule{{"min.cleanable.dirty.ratio", "log.cleaner.min.cleanable.ratio"}, dirty_ratio_codec},
    topic_rule{{"min.compaction.lag.ms", "log.cleaner.min.compaction.lag.ms"},
               integer<&log_config::min_compaction_lag_ms, 0>},
    topic_rule{{"min.insync.replicas", "min.insync.replicas"}, integer<&ts::min_insync_replicas, 1>},
    topic_rule{{"preallocate", ""}, ignored_boolean},
    topic_rule{{"remote.log.copy.disable", ""}, ignored_boolean},
    topic_rule{{"remote.log.delete.on.disable", ""}, ignored_boolean},
    topic_rule{{"remote.storage.enable", ""}, remote_storage_codec},
    topic_rule{{"retention.bytes", "log.retention.bytes"}, integer<&log_config::retention_bytes, -1>},
    topic_rule{{"retention.ms", "log.retention.ms"}, integer<&log_config::retention_ms, -1>},
    topic_rule{{"segment.bytes", "log.segment.bytes"}, integer<&log_config::segment_bytes, 14, cv::int_max>},
    topic_rule{{"segment.index.bytes", "log.index.size.max.bytes"}, integer<&log_config::segment_index_bytes, 4>},
    topic_rule{{"segment.jitter.ms", ""}, ignored_integer<0, cv::long_max>},
    topic_rule{{"segment.ms", "log.roll.ms"}, integer<&log_config::segment_ms, 1>},
    topic_rule{{"unclean.leader.election.enable", "unclean.leader.election.enable"},
               boolean<&ts::unclean_leader_election_enable>},
};

const topic_rule* find_rule(std::string_view key) {
  const auto it = std::find_if(topic_rules.begin(), topic_rules.end(),
                               [&](const topic_rule& rule) { return rule.key.name == key; });
  return it == topic_rules.end() ? nullptr : &*it;
}

std::string unknown_key_message(std::string_view key) {
  std::string message = "unknown topic config '" + std::string(key) + "'";
  const topic_rule* closest = nullptr;
  std::size_t best = 3;  // suggest only names at most two edits away
  for (const auto& rule : topic_rules) {
    const auto distance = cv::edit_distance(key, rule.key.name);
    if (distance < best) {
      best = distance;
      closest = &rule;
    }
  }
  if (closest) message += " (did you mean '" + std::string(closest->key.name) + "'?)";
  return message;
}

}  // namespace

const std::error_category& config_category() noexcept {
  static const config_category_impl category;
  return category;
}

protocol::error_code config_error_to_kafka(std::error_code error) noexcept {
  if (!error) return protocol::error_code::none;
  return protocol::error_code::invalid_config;
}

std::int64_t topic_settings::timestamp_before_max_ms() const noexcept {
  return message_timestamp_before_max_ms != storage::no_limit ? message_timestamp_before_max_ms
                                                              : message_timestamp_difference_max_ms;
}

std::int64_t topic_settings::timestamp_after_max_ms() const noexcept {
  return message_timestamp_after_max_ms != storage::no_limit ? message_timestamp_after_max_ms
                                                             : message_timestamp_difference_max_ms;
}

std::span<const topic_config_key> topic_config_keys() {
  static const std::vector<topic_config_key> stored = [] {
    std::vector<topic_config_key> keys;
    for (const auto& rule : topic_rules) {
      if (rule.codec.print) keys.push_back(rule.key);
    }
    return keys;
  }();
  return stored;
}

std::error_code apply_topic_config(topic_settings& settings, std::string_view key, std::string_view value,
                                   std::string& message) {
  const topic_rule* rule = find_rule(key);
  if (!rule) {
    message = unknown_key_message(key);
    return config_errc::unknown_key;
  }
  // Parse into a copy so that a refused value leaves settings as they were.
  topic_settings updated = settings;
  if (auto broken = rule->codec.parse(updated, value); !broken.empty()) {
    message = cv::invalid_value_message(key, value, broken);
    return config_errc::invalid_value;
  }
  settings = std::move(updated);
  return {};
}

std::error_code validate_topic_settings(const topic_settings& settings, std::string& message) {
  const auto& log = settings.log;
  if (log.min_compaction_lag_ms > log.max_compaction_lag_ms) {
    message = "min.compaction.lag.ms=" + std::to_string(log.min_compaction_lag_ms) +
              " is invalid: must not exceed max.compaction.lag.ms=" + std::to_string(log.max_compaction_lag_ms);
    return config_errc::invalid_value;
  }
  if (auto broken = log.validate(); !broken.empty()) {
    message = std::move(broken);
    return config_errc::invalid_value;
  }
  return {};
}

std::vector<std::pair<std::string, std::string>> topic_config_entries(const topic_settings& settings) {
  std::vector<std::pair<std::string, std::string>> entries;
  for (const auto& rule : topic_rules) {
    if (rule.codec.print) entries.emplace_back(rule.key.name, rule.codec.print(settings));
  }
  return entries;
}

std::string apply_topic_log_config(storage::log_config& config, std::string_view key, std::string_view value) {
  topic_settings settings;
  settings.log = config;
  std::string message;
  if (apply_topic_config(settings, key, value, message)) return message;
  config = settings.log;
  return {};
}

}  // namespace vltava::broker
