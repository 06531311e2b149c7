// Incremental fetch sessions (KIP-227): a consumer that fetches the same partitions again and again names them once,
// then sends only what changed (new fetch offsets, added and forgotten partitions), and hears back only about
// partitions with something new (records, a moved high watermark, last stable offset or log start offset, an
// error). The broker keeps, per session, the partitions with their fetch offsets and what it last told the client.
//
// Request metadata (session_id, epoch):
//   (0, -1)  sessionless full fetch; always allowed (old clients, and ours when the cache is full).
//   (0,  0)  full fetch that asks for a new session; the response carries its id (0 when the cache has no room).
//   (id, -1) closes session id, then a sessionless full fetch.
//   (id,  0) closes session id, then a full fetch asking for a new session.
//   (id,  n) incremental fetch in session id, whose next expected epoch must be n.
// Errors (the response carries only the error and session id 0): FETCH_SESSION_ID_NOT_FOUND,
// INVALID_FETCH_SESSION_EPOCH, FETCH_SESSION_TOPIC_ID_ERROR (a session created with topic names used with ids, or
// the other way round).
//
// A fetch is two steps: begin() when the request arrives (checks and updates the session, says what to read), and
// finish() once the partitions were read, possibly after a long poll (decides what the response lists, remembers
// what it told the client, creates the new session of a full fetch).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "vltava/protocol/error_code.h"
#include "vltava/protocol/wire.h"

namespace vltava::broker {

// A partition as a fetch request names it: by topic name (Fetch v12 and older, topic_id zero) or by topic id (v13
// and newer, topic empty). A session never mixes the two.
struct fetch_partition_key {
  std::string topic;
  protocol::uuid topic_id;
  std::int32_t partition = 0;
  auto operator<=>(const fetch_partition_key&) const = default;
};

// What a fetch asks of one partition.
struct fetch_partition_request {
  fetch_partition_key key;
  std::int64_t fetch_offset = 0;
  std::int32_t max_bytes = 0;  // partition_max_bytes
};

// What a fetch found for one partition: what the session compares with what the client was told last.
struct fetch_partition_outcome {
  protocol::error_code error = protocol::error_code::none;
  std::int64_t high_watermark = -1;
  std::int64_t last_stable_offset = -1;
  std::int64_t log_start_offset = -1;
  bool has_records = false;
};

struct fetch_session_limits {
  std::size_t max_sessions = 1000;  // max.incremental.fetch.session.cache.slots
  // A session unused this long may be evicted to make room for a new one (Kafka's
  // min.incremental.fetch.session.eviction.ms). Busier sessions are never evicted for a newcomer: the newcomer
  // fetches without a session instead, which always works, rather than every client losing its session in turn.
  std::int64_t eviction_ms = 120'000;
};

// The epoch that follows epoch in a session: 1 after INT32_MAX (0 means "new session", -1 "close").
std::int32_t next_fetch_session_epoch(std::int32_t epoch) noexcept;

namespace detail {
struct fetch_session;
}

// One fetch request's view of its session, from begin() to finish().
struct fetch_session_context {
  // A session error: the response carries this error, session id 0 and no partitions.
  protocol::error_code error = protocol::error_code::none;
  bool incremental = false;     // the response lists only partitions with something new
  bool create_session = false;  // a full fetch asking for a session: finish() creates it
  bool uses_topic_ids = false;
  std::int32_t session_id = 0;  // for the response; finish() sets it for a session it creates
  // What to read, in the order the response lists it: the request's partitions for a full fetch, all the session's
  // partitions for an incremental one.
  std::vector<fetch_partition_request> partitions;
  std::shared_ptr<detail::fetch_session> session;  // incremental fetches
};

class fetch_session_cache {
 public:
  explicit fetch_session_cache(fetch_session_limits limits = {});
  ~fetch_session_cache();
  fetch_session_cache(const fetch_session_cache&) = delete;
  fetch_session_cache& operator=(const fetch_session_cache&) = delete;

  // Checks the request's session metadata and applies it: closes, looks up, updates the session (added and
  // changed partitions, then forgotten ones) and moves its epoch on. now_ms is any monotonic clock in ms.
  fetch_session_context begin(std::int32_t session_id, std::int32_t epoch, bool uses_topic_ids,
                              std::vector<fetch_partition_request> requested,
                              const std::vector<fetch_partition_key>& forgotten, std::int64_t now_ms);

  // outcomes[i] is what was read for context.partitions[i]. Returns, for each, whether the response lists it
  // (always, except in an incremental fetch), remembers what the client is told, moves partitions that returned
  // records to the end of the session's order (so that a response limited by max_bytes serves every partition in
  // turn), and creates the session a full fetch asked for (session_id stays 0 when there is no room).
  std::vector<bool> finish(fetch_session_context& context, std::span<const fetch_partition_outcome> outcomes,
                           std::int64_t now_ms);

  std::size_t size() const;
  const fetch_session_limits& limits() const noexcept { return limits_; }

 private:
  bool make_room(std::int64_t now_ms);  // under mutex_
  std::int32_t new_session_id();        // under mutex_

  const fetch_session_limits limits_;
  mutable std::mutex mutex_;
  std::map<std::int32_t, std::shared_ptr<detail::fetch_session>> sessions_;
  std::mt19937 random_;
};

}  // namespace vltava::broker
