#include "vltava/protocol/framing.h"

namespace vltava::protocol {

const api_definition* find_api_definition(std::int16_t key) noexcept {
  for (const auto& definition : all_api_definitions) {
    if (static_cast<std::int16_t>(definition.key) == key) return &definition;
  }
  return nullptr;
}

namespace {

bool is_flexible(std::int16_t key, std::int16_t version) noexcept {
  const auto* definition = find_api_definition(key);
  return definition && version >= definition->min_version && version <= definition->max_version &&
         definition->first_flexible_version >= 0 && version >= definition->first_flexible_version;
}

}  // namespace

std::int16_t request_header_version(std::int16_t key, std::int16_t version) noexcept {
  return is_flexible(key, version) ? 2 : 1;
}

std::int16_t response_header_version(std::int16_t key, std::int16_t version) noexcept {
  if (key == static_cast<std::int16_t>(api_key::api_versions)) return 0;
  return is_flexible(key, version) ? 1 : 0;
}

std::error_code decode_request_header(reader& r, request_header_view& out) {
  out = request_header_view{};
  // Key and version come first in every header version; peek them to choose the header version.
  reader peek = r;
  const std::int16_t key = peek.read_int16();
  const std::int16_t version = peek.read_int16();
  if (!peek.ok()) return peek.error();

  const auto* definition = find_api_definition(key);
  out.defined = definition && version >= definition->min_version && version <= definition->max_version;
  // Undefined API or version: read the fields every header version >= 1 shares and stop before any tagged fields.
  out.header_version = out.defined ? request_header_version(key, version) : std::int16_t{1};
  if (auto ec = out.header.decode(r, out.header_version)) return ec;
  return {};
}

}  // namespace vltava::protocol
