// The one registry of supported APIs and the version range served for each.
//
// The broker builds it from its handlers; it then answers ApiVersions, decides which requests are dispatched and
// which get UNSUPPORTED_VERSION, and the round-trip tests walk it. Every range must lie within what the message
// definitions can encode and decode; a registry that claims more is a programming error, refused at construction.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "vltava/protocol/messages.h"

namespace vltava::protocol {

struct api_range {
  api_key key;
  std::int16_t min_version;
  std::int16_t max_version;
};

class api_registry {
 public:
  // Throws std::invalid_argument for a range outside the definitions, an empty range or a key given twice.
  explicit api_registry(std::vector<api_range> ranges);

  // Every defined API at its full definition range.
  static api_registry all_definitions();

  const api_range* find(std::int16_t key) const noexcept;
  bool supports(std::int16_t key, std::int16_t version) const noexcept;
  std::span<const api_range> ranges() const noexcept { return ranges_; }

  // The ApiVersions answer listing every registered range (error NONE).
  api_versions_response api_versions_answer() const;

  // The answer to an ApiVersions request whose version we do not serve: error UNSUPPORTED_VERSION and the
  // ApiVersions range, so the client retries with a version we do serve. Encode it as version 0.
  api_versions_response unsupported_api_versions_answer() const;

 private:
  std::vector<api_range> ranges_;  // sorted by key
};

}  // namespace vltava::protocol
