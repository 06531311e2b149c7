// The storage error category, errno classification and the mapping to Kafka error codes.
#include "vltava/storage/storage_error.h"

#include <cerrno>
#include <string>

namespace vltava::storage {
namespace {

class storage_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "vltava.storage"; }
  std::string message(int value) const override {
    switch (static_cast<storage_errc>(value)) {
      case storage_errc::ok: return "ok";
      case storage_errc::io_error: return "I/O error";
      case storage_errc::disk_full: return "disk full";
      case storage_errc::offset_out_of_range: return "offset out of range";
      case storage_errc::corrupt_batch: return "corrupt record batch";
      case storage_errc::log_offline: return "log offline after an unrecoverable I/O error";
      case storage_errc::invalid_offset: return "invalid offset";
      case storage_errc::invalid_argument: return "invalid argument";
      case storage_errc::already_exists: return "already exists";
      case storage_errc::not_found: return "not found";
      case storage_errc::log_closed: return "log closed";
      case storage_errc::directory_in_use: return "log directory in use by another process";
    }
    return "unknown storage error " + std::to_string(value);
  }
};

}  // namespace

const std::error_category& storage_category() noexcept {
  static const storage_category_impl category;
  return category;
}

std::error_code from_errno(int error_number) noexcept {
  switch (error_number) {
    case 0: return {};
    case ENOSPC:
    case EDQUOT:
    case EFBIG: return make_error_code(storage_errc::disk_full);
    case ENOENT: return make_error_code(storage_errc::not_found);
    case EEXIST: return make_error_code(storage_errc::already_exists);
    default: return make_error_code(storage_errc::io_error);
  }
}

protocol::error_code to_kafka_error(std::error_code error) noexcept {
  using protocol::error_code;
  if (!error) return error_code::none;
  if (error.category() != storage_category()) return error_code::kafka_storage_error;
  switch (static_cast<storage_errc>(error.value())) {
    case storage_errc::ok: return error_code::none;
    case storage_errc::io_error:
    case storage_errc::disk_full:
    case storage_errc::log_offline:
    case storage_errc::log_closed:
    case storage_errc::directory_in_use: return error_code::kafka_storage_error;
    case storage_errc::offset_out_of_range: return error_code::offset_out_of_range;
    case storage_errc::corrupt_batch: return error_code::corrupt_message;
    case storage_errc::invalid_offset: return error_code::offset_out_of_range;
    case storage_errc::invalid_argument: return error_code::invalid_request;
    case storage_errc::already_exists: return error_code::topic_already_exists;
    case storage_errc::not_found: return error_code::unknown_topic_or_partition;
  }
  return error_code::unknown_server_error;
}

}  // namespace vltava::storage
