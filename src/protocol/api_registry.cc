#include "vltava/protocol/api_registry.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "vltava/protocol/error_code.h"
#include "vltava/protocol/framing.h"

namespace vltava::protocol {

api_registry::api_registry(std::vector<api_range> ranges) : ranges_(std::move(ranges)) {
  std::sort(ranges_.begin(), ranges_.end(), [](const api_range& a, const api_range& b) { return a.key < b.key; });
  for (std::size_t i = 0; i < ranges_.size(); ++i) {
    const auto& range = ranges_[i];
    const auto key = static_cast<std::int16_t>(range.key);
    const auto* definition = find_api_definition(key);
    const std::string what = std::string(api_name(range.key)) + " " + std::to_string(range.min_version) + "-" +
                             std::to_string(range.max_version);
    if (!definition) throw std::invalid_argument("api_registry: no definition for " + what);
    if (range.min_version > range.max_version) throw std::invalid_argument("api_registry: empty range " + what);
    if (range.min_version < definition->min_version || range.max_version > definition->max_version) {
      throw std::invalid_argument("api_registry: " + what + " exceeds the definition's versions");
    }
    if (i > 0 && ranges_[i - 1].key == range.key) throw std::invalid_argument("api_registry: repeated " + what);
  }
}

api_registry api_registry::all_definitions() {
  std::vector<api_range> ranges;
  for (const auto& definition : all_api_definitions) {
    ranges.push_back({definition.key, definition.min_version, definition.max_version});
  }
  return api_registry(std::move(ranges));
}

const api_range* api_registry::find(std::int16_t key) const noexcept {
  auto it = std::lower_bound(ranges_.begin(), ranges_.end(), key, [](const api_range& range, std::int16_t k) {
    return static_cast<std::int16_t>(range.key) < k;
  });
  return it != ranges_.end() && static_cast<std::int16_t>(it->key) == key ? &*it : nullptr;
}

bool api_registry::supports(std::int16_t key, std::int16_t version) const noexcept {
  const auto* range = find(key);
  return range && version >= range->min_version && version <= range->max_version;
}

api_versions_response api_registry::api_versions_answer() const {
  api_versions_response answer;
  answer.error_code = static_cast<std::int16_t>(error_code::none);
  answer.api_keys.reserve(ranges_.size());
  for (const auto& range : ranges_) {
    api_versions_response::api_version entry;
    entry.api_key = static_cast<std::int16_t>(range.key);
    entry.min_version = range.min_version;
    entry.max_version = range.max_version;
    answer.api_keys.push_back(entry);
  }
  return answer;
}

api_versions_response api_registry::unsupported_api_versions_answer() const {
  api_versions_response answer;
  answer.error_code = static_cast<std::int16_t>(error_code::unsupported_version);
  if (const auto* range = find(static_cast<std::int16_t>(api_key::api_versions))) {
    api_versions_response::api_version entry;
    entry.api_key = static_cast<std::int16_t>(range->key);
    entry.min_version = range->min_version;
    entry.max_version = range->max_version;
    answer.api_keys.push_back(entry);
  }
  return answer;
}

}  // namespace vltava::protocol
