// Errors produced while decoding or encoding Kafka wire data.
//
// These are internal, typed errors (std::error_code with their own category). The broker maps them to Kafka
// error codes or to a closed connection at its boundary; they never travel on the wire as such.
#pragma once

#include <system_error>

namespace vltava::protocol {

enum class codec_errc {
  ok = 0,
  truncated = 1,             // input ended before the value did
  negative_length = 2,       // a length or count below -1 (or -1 where null is not allowed)
  length_out_of_range = 3,   // a length or count that cannot fit in the remaining input
  invalid_varint = 4,        // a varint longer than its type allows
  unsupported_version = 5,   // the message has no such version
  field_not_in_version = 6,  // a non-default value in a field the chosen version lacks
  null_not_allowed = 7,      // null where the version's field is not nullable
  invalid_value = 8,         // a value the format forbids (bad bool, bad struct presence marker, ...)
  trailing_bytes = 9,        // bytes left over after a complete message or tagged field
  corrupt_message = 10,      // a checksum or structural check failed
  unsupported_compression = 11,
  decompression_failed = 12,
  too_large = 13,          // a value or expansion beyond a configured bound
  tags_out_of_order = 14,  // tagged fields must appear in ascending tag order, each once
};

const std::error_category& codec_category() noexcept;

inline std::error_code make_error_code(codec_errc e) noexcept { return {static_cast<int>(e), codec_category()}; }

}  // namespace vltava::protocol

template <>
struct std::is_error_code_enum<vltava::protocol::codec_errc> : std::true_type {};
