// The table of served APIs: dispatch and the ApiVersions answer both come from it, so an API is advertised exactly
// when it has a handler, at exactly the versions the handler serves.
#include "vltava/broker/handlers.h"

#include <algorithm>
#include <array>

namespace vltava::broker {
namespace {

using protocol::api_key;

// Ranges from PROTOCOL-NOTES.md ("A safe advertised range"), limited to what each handler implements. Handlers that
// create or remove files and wait for fsyncs are marked to run on the background pool (handler_dispatch.h).
constexpr std::array handlers{
    api_handler{api_key::produce, 0, 9, handle_produce},
    api_handler{api_key::fetch, 4, 12, handle_fetch},
    api_handler{api_key::list_offsets, 1, 7, handle_list_offsets},
    api_handler{api_key::metadata, 0, 12, handle_metadata, true},  // background: auto-creation
    api_handler{api_key::api_versions, 0, 3, handle_api_versions},
    api_handler{api_key::create_topics, 2, 7, handle_create_topics, true},
    api_handler{api_key::delete_topics, 1, 6, handle_delete_topics, true},
    api_handler{api_key::init_producer_id, 0, 4, handle_init_producer_id, true},  // background: id blocks
    // OffsetCommit from v0 (librdkafka's balanced consumer needs v1..2 advertised, PROTOCOL-NOTES.md).
    api_handler{api_key::offset_commit, 0, 8, handle_offset_commit},
    api_handler{api_key::offset_fetch, 1, 8, handle_offset_fetch},
    api_handler{api_key::find_coordinator, 0, 4, handle_find_coordinator},
    api_handler{api_key::join_group, 0, 7, handle_join_group},
    api_handler{api_key::heartbeat, 0, 4, handle_heartbeat},
    api_handler{api_key::leave_group, 0, 5, handle_leave_group},
    api_handler{api_key::sync_group, 0, 5, handle_sync_group},
    api_handler{api_key::describe_groups, 0, 5, handle_describe_groups},
    api_handler{api_key::list_groups, 0, 4, handle_list_groups},
    api_handler{api_key::delete_groups, 0, 2, handle_delete_groups},
    api_handler{api_key::offset_delete, 0, 0, handle_offset_delete},
};

std::vector<protocol::api_range> ranges() {
  std::vector<protocol::api_range> out;
  for (const auto& h : handlers) out.push_back({h.key, h.min_version, h.max_version});
  return out;
}

}  // namespace

std::span<const api_handler> api_handlers() { return handlers; }

const api_handler* find_handler(std::int16_t key) {
  auto it = std::find_if(handlers.begin(), handlers.end(),
                         [key](const api_handler& h) { return static_cast<std::int16_t>(h.key) == key; });
  return it == handlers.end() ? nullptr : &*it;
}

const protocol::api_registry& served_apis() {
  static const protocol::api_registry registry(ranges());
  return registry;
}

}  // namespace vltava::broker
