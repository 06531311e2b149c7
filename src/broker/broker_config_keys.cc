// The table of server.properties keys: Kafka's name, type and range for each, and the Kafka keys that do not apply.
#include "broker_config_keys.h"

#include <algorithm>
#include <array>
#include <type_traits>

#include "config_values.h"

namespace vltava::broker::config_keys {
namespace {

namespace cv = config_values;
using bc = broker_config;
using ps = parse_state;

template <typename>
struct member_of;
template <typename Owner, typename Value>
struct member_of<Value Owner::*> {
  using owner = Owner;
  using value = Value;
};

template <auto Member>
using value_of = typename member_of<decltype(Member)>::value;

// A member of broker_config (through parse_state) or a staged member of parse_state, by member pointer.
template <auto Member>
auto& target(parse_state& state) {
  if constexpr (std::is_same_v<typename member_of<decltype(Member)>::owner, broker_config>) {
    return state.config.*Member;
  } else {
    return state.*Member;
  }
}

// Kafka's int and long keys. A staged std::optional<Int> member is filled the same way.
template <auto Member, std::int64_t Min, std::int64_t Max>
std::string parse_integer(parse_state& state, std::string_view text) {
  using stored = value_of<Member>;
  std::int64_t value = 0;
  auto rule = cv::parse_long(text, Min, Max, value);
  if (rule.empty()) {
    if constexpr (requires { typename stored::value_type; }) {
      target<Member>(state) = static_cast<typename stored::value_type>(value);
    } else {
      target<Member>(state) = static_cast<stored>(value);
    }
  }
  return rule;
}

template <auto Member>
std::string print_integer(const broker_config& config) {
  return std::to_string(config.*Member);
}

template <auto Member>
constexpr std::int64_t max_of() {
  using stored = value_of<Member>;
  if constexpr (requires { typename stored::value_type; }) {
    return std::numeric_limits<typename stored::value_type>::max();
  } else {
    return std::numeric_limits<stored>::max();
  }
}

template <auto Member, std::int64_t Min, std::int64_t Max = max_of<Member>()>
constexpr key_rule integer(std::string_view name) {
  if constexpr (std::is_same_v<typename member_of<decltype(Member)>::owner, broker_config>) {
    return {name, name, parse_integer<Member, Min, Max>, print_integer<Member>};
  } else {
    return {name, name, parse_integer<Member, Min, Max>, nullptr};
  }
}

template <auto Member>
constexpr key_rule boolean(std::string_view name) {
  return {name, name,
          [](parse_state& state, std::string_view text) { return cv::parse_bool(text, state.config.*Member); },
          [](const broker_config& config) { return std::string(config.*Member ? "true" : "false"); }};
}

template <auto Member>
std::string stage_text(parse_state& state, std::string_view text) {
  state.*Member = std::string(text);
  return {};
}

constexpr key_rule alias(key_rule rule, std::string_view canonical) {
  rule.canonical = canonical;
  rule.print = nullptr;
  return rule;
}

std::string print_listeners(const std::vector<listener>& listeners) {
  std::vector<std::string> items;
  for (const auto& l : listeners) items.push_back(l.to_string());
  return cv::join(items);
}

// Only PLAINTEXT listeners are served, so the map in force sends each served name to PLAINTEXT.
std::string print_protocol_map(const broker_config& config) {
  std::vector<std::string> items;
  for (const auto& l : config.listeners) items.push_back(l.name + ":PLAINTEXT");
  return cv::join(items);
}

std::string print_log_dirs(const broker_config& config) {
  std::vector<std::string> items;
  for (const auto& dir : config.log_dirs) items.push_back(dir.string());
  return cv::join(items);
}

constexpr std::int64_t int_max = cv::int_max;

// Grouped by area, as in docs/configuration.md; effective_entries() lists them in this order.
const std::array rules{
    // Server and network
    key_rule{"node.id", "node.id", parse_integer<&ps::node_id, 0, int_max>, print_integer<&bc::node_id>},
    alias(integer<&ps::broker_id, 0>("broker.id"), "node.id"),
    key_rule{"listeners", "listeners", stage_text<&ps::listeners>,
             [](const bc& c) { return print_listeners(c.listeners); }},
    key_rule{"advertised.listeners", "advertised.listeners", stage_text<&ps::advertised_listeners>,
             [](const bc& c) { return print_listeners(c.advertised_listeners); }},
    key_rule{"listener.security.protocol.map", "listener.security.protocol.map",
             stage_text<&ps::listener_security_protocol_map>, print_protocol_map},
    key_rule{"controller.listener.names", "controller.listener.names", stage_text<&ps::controller_listener_names>,
             nullptr},
    integer<&bc::num_network_threads, 0>("num.network.threads"),
    integer<&bc::num_io_threads, 0>("num.io.threads"),
    integer<&bc::background_threads, 1>("background.threads"),
    integer<&bc::socket_request_max_bytes, 1>("socket.request.max.bytes"),
    integer<&bc::socket_send_buffer_bytes, -1>("socket.send.buffer.bytes"),
    integer<&bc::socket_receive_buffer_bytes, -1>("socket.receive.buffer.bytes"),
    integer<&bc::socket_listen_backlog_size, 1>("socket.listen.backlog.size"),
    integer<&bc::connections_max_idle_ms, -1>("connections.max.idle.ms"),
    integer<&bc::max_connections, 0>("max.connections"),

    // Topics and produce
    boolean<&bc::auto_create_topics_enable>("auto.create.topics.enable"),
    integer<&bc::num_partitions, 1>("num.partitions"),
    integer<&bc::default_replication_factor, 1>("default.replication.factor"),
    boolean<&bc::delete_topic_enable>("delete.topic.enable"),
    integer<&bc::message_max_bytes, 0>("message.max.bytes"),
    key_rule{"compression.type", "compression.type",
             [](ps& s, std::string_view text) { return cv::parse_compression_type(text, s.config.compression_type); },
             [](const bc& c) { return c.compression_type; }},
    integer<&bc::min_insync_replicas, 1>("min.insync.replicas"),
    boolean<&bc::unclean_leader_election_enable>("unclean.leader.election.enable"),
    boolean<&bc::log_message_downconversion_enable>("log.message.downconversion.enable"),
    key_rule{"log.message.timestamp.type", "log.message.timestamp.type",
             [](ps& s, std::string_view text) {
               return cv::parse_timestamp_type(text, s.config.log_message_timestamp_type);
             },
             [](const bc& c) { return std::string(cv::timestamp_type_name(c.log_message_timestamp_type)); }},
    integer<&bc::log_message_timestamp_difference_max_ms, 0>("log.message.timestamp.difference.max.ms"),
    integer<&bc::log_message_timestamp_before_max_ms, 0>("log.message.timestamp.before.max.ms"),
    integer<&bc::log_message_timestamp_after_max_ms, 0>("log.message.timestamp.after.max.ms"),

    // Log storage
    key_rule{"log.dirs", "log.dirs", stage_text<&ps::log_dirs>, print_log_dirs},
    alias(key_rule{"log.dir", "log.dir", stage_text<&ps::log_dir>, nullptr}, "log.dirs"),
    integer<&bc::log_segment_bytes, 14>("log.segment.bytes"),
    key_rule{"log.roll.ms", "log.roll.ms", parse_integer<&ps::roll_ms, 1, cv::long_max>,
             print_integer<&bc::log_roll_ms>},
    alias(integer<&ps::roll_hours, 1>("log.roll.hours"), "log.roll.ms"),
    integer<&bc::log_index_interval_bytes, 0>("log.index.interval.bytes"),
    integer<&bc::log_index_size_max_bytes, 4>("log.index.size.max.bytes"),
    integer<&bc::log_segment_delete_delay_ms, 0>("log.segment.delete.delay.ms"),

    // Retention and compaction. Negative retention times mean "forever", as in Kafka.
    key_rule{"log.retention.ms", "log.retention.ms", parse_integer<&ps::retention_ms, cv::long_min, cv::long_max>,
             print_integer<&bc::log_retention_ms>},
    alias(integer<&ps::retention_minutes, -int_max - 1>("log.retention.minutes"), "log.retention.ms"),
    alias(integer<&ps::retention_hours, -int_max - 1>("log.retention.hours"), "log.retention.ms"),
    integer<&bc::log_retention_bytes, -1>("log.retention.bytes"),
    integer<&bc::log_retention_check_interval_ms, 1>("log.retention.check.interval.ms"),
    key_rule{"log.cleanup.policy", "log.cleanup.policy",
             [](ps& s, std::string_view text) {
               if (storage::cleanup_policy::parse(cv::trim(text), s.config.log_cleanup_policy)) {
                 return std::string("must be delete, compact, or both (compact,delete)");
               }
               return std::string();
             },
             [](const bc& c) { return c.log_cleanup_policy.to_string(); }},
    boolean<&bc::log_cleaner_enable>("log.cleaner.enable"),
    integer<&bc::log_cleaner_backoff_ms, 0>("log.cleaner.backoff.ms"),
    integer<&bc::log_cleaner_delete_retention_ms, 0>("log.cleaner.delete.retention.ms"),
    key_rule{"log.cleaner.min.cleanable.ratio", "log.cleaner.min.cleanable.ratio",
             [](ps& s, std::string_view text) {
               return cv::parse_double(text, 0.0, 1.0, s.config.log_cleaner_min_cleanable_ratio);
             },
             [](const bc& c) { return cv::format_double(c.log_cleaner_min_cleanable_ratio); }},
    integer<&bc::log_cleaner_min_compaction_lag_ms, 0>("log.cleaner.min.compaction.lag.ms"),
    integer<&bc::log_cleaner_max_compaction_lag_ms, 1>("log.cleaner.max.compaction.lag.ms"),

    // Durability
    integer<&bc::log_flush_interval_messages, 1>("log.flush.interval.messages"),
    integer<&bc::log_flush_interval_ms, 0>("log.flush.interval.ms"),
    integer<&bc::log_flush_scheduler_interval_ms, 1>("log.flush.scheduler.interval.ms"),
    integer<&bc::log_flush_offset_checkpoint_interval_ms, 1, int_max>("log.flush.offset.checkpoint.interval.ms"),
    boolean<&bc::log_flush_on_acks_all>("log.flush.on.acks.all"),
    integer<&bc::log_flush_threads, 1, 1024>("log.flush.threads"),

    // Consumer groups and committed offsets
    integer<&bc::offsets_topic_num_partitions, 1>("offsets.topic.num.partitions"),
    integer<&bc::offsets_topic_replication_factor, 1>("offsets.topic.replication.factor"),
    integer<&bc::offsets_topic_segment_bytes, 1>("offsets.topic.segment.bytes"),
    integer<&bc::offsets_retention_minutes, 1>("offsets.retention.minutes"),
    integer<&bc::offsets_retention_check_interval_ms, 1>("offsets.retention.check.interval.ms"),
    integer<&bc::group_initial_rebalance_delay_ms, 0>("group.initial.rebalance.delay.ms"),
    integer<&bc::group_min_session_timeout_ms, 1>("group.min.session.timeout.ms"),
    integer<&bc::group_max_session_timeout_ms, 1>("group.max.session.timeout.ms"),
    integer<&bc::group_max_size, 1>("group.max.size"),
    integer<&bc::offset_metadata_max_bytes, 0>("offset.metadata.max.bytes"),

    // Producers
    integer<&bc::producer_id_expiration_ms, 1>("producer.id.expiration.ms"),
};

// Kafka keys with no effect in Vltava: exact names, or prefixes ending in ".*".
constexpr std::string_view coordination_keys[] = {"zookeeper.*",
                                                  "process.roles",
                                                  "controller.*",
                                                  "metadata.*",
                                                  "broker.heartbeat.interval.ms",
                                                  "broker.session.timeout.ms",
                                                  "initial.broker.registration.timeout.ms",
                                                  "inter.broker.listener.name",
                                                  "inter.broker.protocol.version",
                                                  "security.inter.broker.protocol",
                                                  "broker.id.generation.enable",
                                                  "reserved.broker.max.id",
                                                  "broker.rack",
                                                  "early.start.listeners",
                                                  "eligible.leader.replicas.enable",
                                                  "unstable.api.versions.enable",
                                                  "unstable.feature.versions.enable"};
constexpr std::string_view replication_keys[] = {"replica.*",
                                                 "num.replica.fetchers",
                                                 "num.replica.alter.log.dirs.threads",
                                                 "auto.leader.rebalance.enable",
                                                 "leader.imbalance.*",
                                                 "controlled.shutdown.*",
                                                 "follower.replication.throttled.replicas",
                                                 "leader.replication.throttled.replicas",
                                                 "replication.quota.*",
                                                 "alter.log.dirs.replication.quota.*"};
constexpr std::string_view transaction_keys[] = {"transaction.*", "transactional.id.expiration.ms"};
constexpr std::string_view security_keys[] = {"ssl.*",
                                              "sasl.*",
                                              "listener.name.*",
                                              "authorizer.class.name",
                                              "super.users",
                                              "allow.everyone.if.no.acl.found",
                                              "principal.builder.class",
                                              "security.providers",
                                              "delegation.token.*",
                                              "password.encoder.*",
                                              "connection.failed.authentication.delay.ms"};
constexpr std::string_view metrics_keys[] = {"metric.reporters",          "metrics.*", "kafka.metrics.*",
                                             "auto.include.jmx.reporter", "quota.*",   "client.quota.callback.class"};
constexpr std::string_view tiered_storage_keys[] = {"remote.log.*", "log.local.retention.ms",
                                                    "log.local.retention.bytes"};
constexpr std::string_view share_group_keys[] = {"share.*", "group.share.*"};
constexpr std::string_view tuning_keys[] = {"num.recovery.threads.per.data.dir",
                                            "queued.max.requests",
                                            "queued.max.request.bytes",
                                            "log.cleaner.threads",
                                            "log.cleaner.dedupe.buffer.size",
                                            "log.cleaner.io.buffer.size",
                                            "log.cleaner.io.buffer.load.factor",
                                            "log.cleaner.io.max.bytes.per.second",
                                            "log.preallocate",
                                            "log.roll.jitter.ms",
                                            "log.roll.jitter.hours",
                                            "log.message.format.version",
                                            "log.flush.start.offset.checkpoint.interval.ms",
                                            "log.dir.failure.timeout.ms",
                                            "max.connections.per.ip",
                                            "max.connections.per.ip.overrides",
                                            "max.connection.creation.rate",
                                            "fetch.purgatory.purge.interval.requests",
                                            "producer.purgatory.purge.interval.requests",
                                            "delete.records.purgatory.purge.interval.requests",
                                            "offsets.load.buffer.size",
                                            "offsets.commit.timeout.ms",
                                            "offsets.commit.required.acks",
                                            "offsets.topic.compression.codec",
                                            "compression.gzip.level",
                                            "compression.lz4.level",
                                            "compression.zstd.level",
                                            "create.topic.policy.class.name",
                                            "alter.config.policy.class.name",
                                            "group.coordinator.*",
                                            "group.consumer.*",
                                            "config.providers",
                                            "socket.connection.setup.timeout.ms",
                                            "socket.connection.setup.timeout.max.ms",
                                            "producer.id.expiration.check.interval.ms",
                                            "max.incremental.fetch.session.cache.slots",
                                            "fetch.max.bytes",
                                            "log.initial.task.delay.ms"};

struct ignored_group {
  std::string_view reason;
  std::span<const std::string_view> patterns;
};

constexpr ignored_group ignored_groups[] = {
    {"cluster coordination (ZooKeeper, KRaft) does not apply to a single Vltava node", coordination_keys},
    {"Vltava does not replicate between brokers", replication_keys},
    {"transactions are not implemented", transaction_keys},
    {"Vltava serves PLAINTEXT only (no TLS, SASL or ACLs)", security_keys},
    {"Vltava has no metrics reporters or quotas", metrics_keys},
    {"Vltava has no tiered storage", tiered_storage_keys},
    {"share groups are not implemented", share_group_keys},
    {"Vltava has no counterpart to this Kafka tuning setting", tuning_keys},
};

bool matches(std::string_view pattern, std::string_view name) {
  if (pattern.ends_with(".*")) return name.starts_with(pattern.substr(0, pattern.size() - 1));
  return pattern == name;
}

}  // namespace

std::span<const key_rule> key_rules() { return rules; }

const key_rule* find_key_rule(std::string_view name) {
  const auto it = std::find_if(rules.begin(), rules.end(), [&](const key_rule& rule) { return rule.name == name; });
  return it == rules.end() ? nullptr : &*it;
}

std::string_view ignored_key_reason(std::string_view name) {
  for (const auto& group : ignored_groups) {
    for (const auto pattern : group.patterns) {
      if (matches(pattern, name)) return group.reason;
    }
  }
  return {};
}

std::string_view closest_known_key(std::string_view name) {
  std::string_view closest;
  std::size_t best = 3;  // at most two edits away
  auto consider = [&](std::string_view candidate) {
    const auto distance = cv::edit_distance(name, candidate);
    if (distance < best) {
      best = distance;
      closest = candidate;
    }
  };
  for (const auto& rule : rules) consider(rule.name);
  for (const auto& group : ignored_groups) {
    for (const auto pattern : group.patterns) {
      if (!pattern.ends_with(".*")) consider(pattern);
    }
  }
  return closest;
}

}  // namespace vltava::broker::config_keys
