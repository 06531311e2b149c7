// Reading configuration values the way Kafka's ConfigDef does (private to src/broker): values are trimmed;
// integers are Java int or long (an optional sign, decimal digits); booleans are true/false in any case; lists are
// comma-separated with blanks around items dropped; doubles are decimal.
//
// Each parser returns the rule the text breaks ("must be at least 1"), empty when the value was stored; the caller
// names the key and the value (invalid_value_message).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "vltava/protocol/record_batch.h"

namespace vltava::broker::config_values {

inline constexpr std::int64_t int_max = std::numeric_limits<std::int32_t>::max();
inline constexpr std::int64_t long_max = std::numeric_limits<std::int64_t>::max();
inline constexpr std::int64_t long_min = std::numeric_limits<std::int64_t>::min();

// Java String.trim: drops every character up to and including ' ' at both ends.
std::string_view trim(std::string_view text);

std::string parse_long(std::string_view text, std::int64_t min, std::int64_t max, std::int64_t& out);

template <typename Int>
std::string parse_integer(std::string_view text, std::int64_t min, Int& out) {
  std::int64_t value = 0;
  auto rule = parse_long(text, min, std::numeric_limits<Int>::max(), value);
  if (rule.empty()) out = static_cast<Int>(value);
  return rule;
}

std::string parse_bool(std::string_view text, bool& out);
std::string parse_double(std::string_view text, double min, double max, double& out);
// One of choices, exactly (Kafka's ValidString is case-sensitive).
std::string parse_choice(std::string_view text, std::initializer_list<std::string_view> choices, std::string& out);
std::vector<std::string> parse_list(std::string_view text);

// CreateTime / LogAppendTime.
std::string parse_timestamp_type(std::string_view text, protocol::timestamp_type& out);
std::string_view timestamp_type_name(protocol::timestamp_type type);
// uncompressed, zstd, lz4, snappy, gzip or producer.
std::string parse_compression_type(std::string_view text, std::string& out);

std::string format_double(double value);
std::string join(const std::vector<std::string>& items);

// "num.partitions=0 is invalid: must be at least 1".
std::string invalid_value_message(std::string_view key, std::string_view value, std::string_view rule);

// Levenshtein distance, ignoring case: how far a misspelt key is from a known one.
std::size_t edit_distance(std::string_view a, std::string_view b);

}  // namespace vltava::broker::config_values
