// Errors of the storage layer.
//
// Typed, internal errors (std::error_code with their own category). The broker converts them to Kafka error codes
// at its boundary with to_kafka_error(); operating-system failures are classified here once (a full disk is
// disk_full, anything else io_error) and their details logged where they happen.
#pragma once

#include <system_error>

#include "vltava/protocol/error_code.h"

namespace vltava::storage {

enum class storage_errc {
  ok = 0,
  io_error = 1,             // a read, write, sync, rename or truncate failed
  disk_full = 2,            // ENOSPC, EDQUOT or EFBIG: the append failed and was rolled back; retry when space returns
  offset_out_of_range = 3,  // below the log start offset or beyond the log end offset
  corrupt_batch = 4,        // bytes that are not a valid record batch
  log_offline = 5,          // the log saw an error it cannot take back (a failed fsync); reopen to recover
  invalid_offset = 6,       // DeleteRecords beyond the high watermark, truncation below the log start, ...
  invalid_argument = 7,     // a bad configuration value or topic-partition name
  already_exists = 8,
  not_found = 9,
  log_closed = 10,
  directory_in_use = 11,  // another process (or log_manager) holds the log directory's .lock
};

const std::error_category& storage_category() noexcept;

inline std::error_code make_error_code(storage_errc e) noexcept { return {static_cast<int>(e), storage_category()}; }

// The storage error for an errno value from a failed system call.
std::error_code from_errno(int error_number) noexcept;

// The Kafka error a client sees for a storage error: KAFKA_STORAGE_ERROR for disk trouble, OFFSET_OUT_OF_RANGE,
// CORRUPT_MESSAGE, ... (unknown_server_error for anything unexpected, none for no error).
protocol::error_code to_kafka_error(std::error_code error) noexcept;

}  // namespace vltava::storage

template <>
struct std::is_error_code_enum<vltava::storage::storage_errc> : std::true_type {};
