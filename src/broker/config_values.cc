// Kafka-compatible parsing of configuration values (see config_values.h).
#include "config_values.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>

namespace vltava::broker::config_values {

std::string_view trim(std::string_view text) {
  while (!text.empty() && static_cast<unsigned char>(text.front()) <= ' ') text.remove_prefix(1);
  while (!text.empty() && static_cast<unsigned char>(text.back()) <= ' ') text.remove_suffix(1);
  return text;
}

std::string parse_long(std::string_view text, std::int64_t min, std::int64_t max, std::int64_t& out) {
  text = trim(text);
  std::string_view digits = text;
  if (!digits.empty() && digits.front() == '+') digits.remove_prefix(1);  // Java accepts "+5"; from_chars does not
  if (digits.empty() || digits.front() == '+' || (digits.front() == '-' && text.front() == '+')) {
    return "must be a whole number";
  }
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec == std::errc::result_out_of_range) {
    return "must be between " + std::to_string(min) + " and " + std::to_string(max);
  }
  if (ec != std::errc{} || end != digits.data() + digits.size()) return "must be a whole number";
  if (value < min) return "must be at least " + std::to_string(min);
  if (value > max) return "must be at most " + std::to_string(max);
  out = value;
  return {};
}

std::string parse_bool(std::string_view text, bool& out) {
  text = trim(text);
  auto equals_ignoring_case = [](std::string_view a, std::string_view b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
      return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
    });
  };
  if (equals_ignoring_case(text, "true")) {
    out = true;
  } else if (equals_ignoring_case(text, "false")) {
    out = false;
  } else {
    return "must be true or false";
  }
  return {};
}

std::string parse_double(std::string_view text, double min, double max, double& out) {
  text = trim(text);
  if (text.size() > 1 && text.front() == '+' && text[1] != '-') text.remove_prefix(1);  // Java accepts "+0.5"
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || !std::isfinite(value)) {
    return "must be a number";
  }
  if (value < min || value > max) return "must be between " + format_double(min) + " and " + format_double(max);
  out = value;
  return {};
}

std::string parse_choice(std::string_view text, std::initializer_list<std::string_view> choices, std::string& out) {
  text = trim(text);
  if (std::find(choices.begin(), choices.end(), text) != choices.end()) {
    out = std::string(text);
    return {};
  }
  std::string rule = "must be one of ";
  for (auto it = choices.begin(); it != choices.end(); ++it) {
    if (it != choices.begin()) rule += ", ";
    rule += *it;
  }
  return rule;
}

std::vector<std::string> parse_list(std::string_view text) {
  std::vector<std::string> items;
  text = trim(text);
  if (text.empty()) return items;
  while (true) {
    const auto comma = text.find(',');
    items.emplace_back(trim(text.substr(0, comma)));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return items;
}

std::string parse_timestamp_type(std::string_view text, protocol::timestamp_type& out) {
  std::string name;
  auto rule = parse_choice(text, {"CreateTime", "LogAppendTime"}, name);
  if (rule.empty()) {
    out = name == "CreateTime" ? protocol::timestamp_type::create_time : protocol::timestamp_type::log_append_time;
  }
  return rule;
}

std::string_view timestamp_type_name(protocol::timestamp_type type) {
  return type == protocol::timestamp_type::log_append_time ? "LogAppendTime" : "CreateTime";
}

std::string parse_compression_type(std::string_view text, std::string& out) {
  return parse_choice(text, {"uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"}, out);
}

std::string format_double(double value) {
  char buffer[32];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
  std::string text(buffer, ec == std::errc{} ? end : buffer);
  // Java prints doubles with a fraction ("0.5", "1.0"); keep that so values read back as doubles.
  if (text.find_first_of(".eE") == std::string::npos) text += ".0";
  return text;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += ',';
    out += item;
  }
  return out;
}

std::string invalid_value_message(std::string_view key, std::string_view value, std::string_view rule) {
  return std::string(key) + "=" + std::string(value) + " is invalid: " + std::string(rule);
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> previous(b.size() + 1);
  std::vector<std::size_t> current(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) previous[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    current[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const bool same =
          std::tolower(static_cast<unsigned char>(a[i - 1])) == std::tolower(static_cast<unsigned char>(b[j - 1]));
      current[j] = std::min({previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (same ? 0 : 1)});
    }
    std::swap(previous, current);
  }
  return previous[b.size()];
}

}  // namespace vltava::broker::config_values
