// The server.properties keys (private to src/broker): the ones Vltava uses, each with its parser and printer, and
// the Kafka keys it accepts without effect. broker_config.cc reads files with them; the table order is the order of
// effective_entries() and of docs/configuration.md.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "vltava/broker/broker_config.h"

namespace vltava::broker::config_keys {

// A configuration being read. Keys that depend on each other (aliases, precedence, listeners and their protocol
// map) are kept aside as given and resolved once every key is read.
struct parse_state {
  broker_config config;
  std::optional<std::int32_t> node_id;
  std::optional<std::int32_t> broker_id;
  std::optional<std::string> log_dirs;
  std::optional<std::string> log_dir;
  std::optional<std::int64_t> retention_ms;
  std::optional<std::int32_t> retention_minutes;
  std::optional<std::int32_t> retention_hours;
  std::optional<std::int64_t> roll_ms;
  std::optional<std::int32_t> roll_hours;
  std::optional<std::string> listeners;
  std::optional<std::string> advertised_listeners;
  std::optional<std::string> listener_security_protocol_map;
  std::optional<std::string> controller_listener_names;
};

struct key_rule {
  std::string_view name;
  std::string_view canonical;  // the key it sets: node.id for broker.id, log.retention.ms for log.retention.hours
  // Stores the value; returns the rule the value breaks ("must be at least 1"), empty when stored.
  std::string (*parse)(parse_state& state, std::string_view value);
  // The effective value as text; null for aliases, which are listed under their canonical key.
  std::string (*print)(const broker_config& config);
};

std::span<const key_rule> key_rules();
const key_rule* find_key_rule(std::string_view name);

// Why a Kafka key has no effect in Vltava, or empty when the key is not one of those.
std::string_view ignored_key_reason(std::string_view name);

// The known key (used or ignored) at most two edits from name, or empty.
std::string_view closest_known_key(std::string_view name);

}  // namespace vltava::broker::config_keys
