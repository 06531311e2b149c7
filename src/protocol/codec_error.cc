#include "vltava/protocol/codec_error.h"

#include <string>

namespace vltava::protocol {
namespace {

class codec_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "vltava.codec"; }
  std::string message(int value) const override {
    switch (static_cast<codec_errc>(value)) {
      case codec_errc::ok: return "success";
      case codec_errc::truncated: return "input ended inside a value";
      case codec_errc::negative_length: return "negative length or count";
      case codec_errc::length_out_of_range: return "length or count larger than the remaining input";
      case codec_errc::invalid_varint: return "malformed varint";
      case codec_errc::unsupported_version: return "unsupported message version";
      case codec_errc::field_not_in_version: return "non-default value in a field the version does not have";
      case codec_errc::null_not_allowed: return "null value where the version does not allow null";
      case codec_errc::invalid_value: return "invalid value";
      case codec_errc::trailing_bytes: return "unexpected bytes after the end of a value";
      case codec_errc::corrupt_message: return "corrupt message (checksum or structure)";
      case codec_errc::unsupported_compression: return "unsupported compression codec";
      case codec_errc::decompression_failed: return "decompression failed";
      case codec_errc::too_large: return "value larger than the allowed bound";
      case codec_errc::tags_out_of_order: return "tagged fields out of order or repeated";
    }
    return "unknown codec error " + std::to_string(value);
  }
};

}  // namespace

const std::error_category& codec_category() noexcept {
  static const codec_category_impl category;
  return category;
}

}  // namespace vltava::protocol
