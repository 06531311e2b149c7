#include "vltava/broker/fetch_sessions.h"

#include <climits>
#include <iterator>
#include <list>
#include <utility>

namespace vltava::broker {

namespace detail {

// A partition of a session and what its client was last told about it (-1: nothing yet, or an error, so that the
// next answer lists it again).
struct cached_partition {
  fetch_partition_request request;
  std::int64_t high_watermark = -1;
  std::int64_t last_stable_offset = -1;
  std::int64_t log_start_offset = -1;
};

struct fetch_session {
  std::int32_t id = 0;
  std::int32_t next_epoch = 1;
  bool uses_topic_ids = false;
  std::int64_t last_used_ms = 0;
  // The fetch order, and an index into it.
  std::list<cached_partition> partitions;
  std::map<fetch_partition_key, std::list<cached_partition>::iterator> by_key;

  void add_or_update(const fetch_partition_request& request) {
    auto found = by_key.find(request.key);
    if (found != by_key.end()) {
      found->second->request.fetch_offset = request.fetch_offset;
      found->second->request.max_bytes = request.max_bytes;
      return;
    }
    partitions.push_back(cached_partition{request});
    by_key.emplace(request.key, std::prev(partitions.end()));
  }
  void forget(const fetch_partition_key& key) {
    auto found = by_key.find(key);
    if (found == by_key.end()) return;
    partitions.erase(found->second);
    by_key.erase(found);
  }
};

}  // namespace detail

namespace {

using protocol::error_code;

constexpr std::int32_t new_session_epoch = 0;
constexpr std::int32_t final_epoch = -1;

// Whether the client must hear about a partition, remembering what it is told (Kafka's
// CachedPartition.maybeUpdateResponseData).
bool must_respond(detail::cached_partition& cached, const fetch_partition_outcome& outcome) {
  bool respond = outcome.has_records;
  if (cached.high_watermark != outcome.high_watermark) respond = true;
  if (cached.last_stable_offset != outcome.last_stable_offset) respond = true;
  if (cached.log_start_offset != outcome.log_start_offset) respond = true;
  cached.high_watermark = outcome.high_watermark;
  cached.last_stable_offset = outcome.last_stable_offset;
  cached.log_start_offset = outcome.log_start_offset;
  if (outcome.error != error_code::none) {
    // Listed while it lasts, and once more when it clears: the forgotten high watermark differs from any real one.
    cached.high_watermark = -1;
    respond = true;
  }
  return respond;
}

// A full fetch's partitions once each, in the order they first appear, with the last values given (a request
// naming a partition twice is a client bug; Kafka keeps it once the same way).
std::vector<fetch_partition_request> without_duplicates(std::vector<fetch_partition_request> requested) {
  std::map<fetch_partition_key, std::size_t> seen;
  std::vector<fetch_partition_request> out;
  out.reserve(requested.size());
  for (auto& r : requested) {
    auto [it, inserted] = seen.emplace(r.key, out.size());
    if (inserted) {
      out.push_back(std::move(r));
    } else {
      out[it->second].fetch_offset = r.fetch_offset;
      out[it->second].max_bytes = r.max_bytes;
    }
  }
  return out;
}

}  // namespace

std::int32_t next_fetch_session_epoch(std::int32_t epoch) noexcept {
  if (epoch < 0) return final_epoch;
  if (epoch == INT32_MAX) return 1;
  return epoch + 1;
}

fetch_session_cache::fetch_session_cache(fetch_session_limits limits)
    : limits_(limits), random_(std::random_device{}()) {}

fetch_session_cache::~fetch_session_cache() = default;

std::size_t fetch_session_cache::size() const {
  std::lock_guard lock(mutex_);
  return sessions_.size();
}

fetch_session_context fetch_session_cache::begin(std::int32_t session_id, std::int32_t epoch, bool uses_topic_ids,
                                                 std::vector<fetch_partition_request> requested,
                                                 const std::vector<fetch_partition_key>& forgotten,
                                                 std::int64_t now_ms) {
  fetch_session_context context;
  context.uses_topic_ids = uses_topic_ids;

  if (epoch == new_session_epoch || epoch == final_epoch) {
    if (session_id != 0) {
      std::lock_guard lock(mutex_);
      sessions_.erase(session_id);
    }
    context.create_session = epoch == new_session_epoch;
    context.partitions = without_duplicates(std::move(requested));
    return context;
  }

  std::lock_guard lock(mutex_);
  auto found = sessions_.find(session_id);
  if (found == sessions_.end()) {
    context.error = error_code::fetch_session_id_not_found;
    return context;
  }
  auto& session = *found->second;
  if (session.next_epoch != epoch) {
    context.error = error_code::invalid_fetch_session_epoch;
    return context;
  }
  if (session.uses_topic_ids != uses_topic_ids) {
    context.error = error_code::fetch_session_topic_id_error;
    return context;
  }
  for (const auto& r : requested) session.add_or_update(r);
  for (const auto& key : forgotten) session.forget(key);
  if (session.partitions.empty()) {
    // Nothing left to fetch: the session ends, and this fetch is answered without one (as Kafka does).
    sessions_.erase(found);
    return context;
  }
  session.last_used_ms = now_ms;
  session.next_epoch = next_fetch_session_epoch(epoch);
  context.incremental = true;
  context.session_id = session.id;
  context.session = found->second;
  context.partitions.reserve(session.partitions.size());
  for (const auto& cached : session.partitions) context.partitions.push_back(cached.request);
  return context;
}

std::vector<bool> fetch_session_cache::finish(fetch_session_context& context,
                                              std::span<const fetch_partition_outcome> outcomes, std::int64_t now_ms) {
  std::vector<bool> listed(context.partitions.size(), true);
  if (context.error != error_code::none) return std::vector<bool>(context.partitions.size(), false);

  std::lock_guard lock(mutex_);
  if (context.incremental && context.session) {
    auto& session = *context.session;
    for (std::size_t i = 0; i < context.partitions.size() && i < outcomes.size(); ++i) {
      auto found = session.by_key.find(context.partitions[i].key);
      if (found == session.by_key.end()) {
        // Gone from the session meanwhile (it was evicted and this copy is all that is left): list what matters.
        listed[i] = outcomes[i].has_records || outcomes[i].error != error_code::none;
        continue;
      }
      listed[i] = must_respond(*found->second, outcomes[i]);
      if (outcomes[i].has_records)
        session.partitions.splice(session.partitions.end(), session.partitions, found->second);
    }
    return listed;
  }

  if (context.create_session && make_room(now_ms)) {
    auto session = std::make_shared<detail::fetch_session>();
    session->id = new_session_id();
    session->uses_topic_ids = context.uses_topic_ids;
    session->last_used_ms = now_ms;
    for (std::size_t i = 0; i < context.partitions.size(); ++i) {
      session->add_or_update(context.partitions[i]);
      if (i < outcomes.size()) (void)must_respond(*session->by_key.at(context.partitions[i].key), outcomes[i]);
    }
    context.session_id = session->id;
    sessions_.emplace(session->id, std::move(session));
  }
  return listed;
}

bool fetch_session_cache::make_room(std::int64_t now_ms) {
  if (limits_.max_sessions == 0) return false;
  if (sessions_.size() < limits_.max_sessions) return true;
  auto oldest = sessions_.end();
  for (auto it = sessions_.begin(); it != sessions_.end(); ++it) {
    if (oldest == sessions_.end() || it->second->last_used_ms < oldest->second->last_used_ms) oldest = it;
  }
  if (oldest == sessions_.end() || now_ms - oldest->second->last_used_ms < limits_.eviction_ms) return false;
  sessions_.erase(oldest);
  return true;
}

std::int32_t fetch_session_cache::new_session_id() {
  std::uniform_int_distribution<std::int32_t> ids(1, INT32_MAX);
  for (;;) {
    const std::int32_t id = ids(random_);
    if (!sessions_.contains(id)) return id;
  }
}

}  // namespace vltava::broker
