// What a client is told when the group store could not write (Kafka's group coordinator maps them the same way):
// a storage failure becomes NOT_COORDINATOR, so clients look the coordinator up again and retry; a batch too large
// for __consumer_offsets is INVALID_COMMIT_OFFSET_SIZE for a commit and UNKNOWN_SERVER_ERROR for group metadata.
#pragma once

#include "vltava/protocol/error_code.h"

namespace vltava::broker::group {

constexpr protocol::error_code commit_error_from_store(protocol::error_code stored) noexcept {
  using protocol::error_code;
  switch (stored) {
    case error_code::kafka_storage_error:
    case error_code::not_leader_or_follower:
    case error_code::not_enough_replicas:
    case error_code::not_enough_replicas_after_append:
    case error_code::request_timed_out: return error_code::not_coordinator;
    case error_code::record_list_too_large:
    case error_code::message_too_large:
    case error_code::invalid_fetch_size: return error_code::invalid_commit_offset_size;
    default: return stored;
  }
}

constexpr protocol::error_code group_error_from_store(protocol::error_code stored) noexcept {
  using protocol::error_code;
  switch (stored) {
    case error_code::record_list_too_large:
    case error_code::message_too_large:
    case error_code::invalid_fetch_size: return error_code::unknown_server_error;
    default: return commit_error_from_store(stored);
  }
}

}  // namespace vltava::broker::group
