// Every API the broker serves, one handler each (src/broker/handlers/<api>.cc), and the table that drives dispatch
// and the ApiVersions answer: an API is advertised exactly when it has a handler here.
#pragma once

#include <span>

#include "vltava/broker/request_context.h"
#include "vltava/protocol/api_registry.h"

namespace vltava::broker {

boost::asio::awaitable<void> handle_api_versions(request_context& ctx, std::vector<std::uint8_t>& response);
boost::asio::awaitable<void> handle_metadata(request_context& ctx, std::vector<std::uint8_t>& response);
boost::asio::awaitable<void> handle_produce(request_context& ctx, std::vector<std::uint8_t>& response);
boost::asio::awaitable<void> handle_fetch(request_context& ctx, std::vector<std::uint8_t>& response);
boost::asio::awaitable<void> handle_list_offsets(request_context& ctx, std::vector<std::uint8_t>& response);
boost::asio::awaitable<void> handle_create_topics(request_context& ctx, std::vector<std::uint8_t>& response);
boost::asio::awaitable<void> handle_delete_topics(request_context& ctx, std::vector<std::uint8_t>& response);
boost::asio::awaitable<void> handle_init_producer_id(request_context& ctx, std::vector<std::uint8_t>& response);
// Consumer groups (the group coordinator, src/broker/group/).
boost::asio::awaitable<void> handle_find_coordinator(request_context& ctx, std::vector<std::uint8_t>& response);
boost::asio::awaitable<void> handle_join_group(request_context& ctx, std::vector<std::uint8_t>& response);
boost::asio::awaitable<void> handle_sync_group(request_context& ctx, std::vector<std::uint8_t>& response);
boost::asio::awaitable<void> handle_heartbeat(request_context& ctx, std::vector<std::uint8_t>& response);
boost::asio::awaitable<void> handle_leave_group(request_context& ctx, std::vector<std::uint8_t>& response);
boost::asio::awaitable<void> handle_describe_groups(request_context& ctx, std::vector<std::uint8_t>& response);
boost::asio::awaitable<void> handle_list_groups(request_context& ctx, std::vector<std::uint8_t>& response);
boost::asio::awaitable<void> handle_delete_groups(request_context& ctx, std::vector<std::uint8_t>& response);
boost::asio::awaitable<void> handle_offset_commit(request_context& ctx, std::vector<std::uint8_t>& response);
boost::asio::awaitable<void> handle_offset_fetch(request_context& ctx, std::vector<std::uint8_t>& response);
boost::asio::awaitable<void> handle_offset_delete(request_context& ctx, std::vector<std::uint8_t>& response);

// The served APIs and version ranges (PROTOCOL-NOTES.md, "A safe advertised range").
std::span<const api_handler> api_handlers();
const api_handler* find_handler(std::int16_t key);
// The registry built from api_handlers(), for the ApiVersions answer.
const protocol::api_registry& served_apis();

}  // namespace vltava::broker
