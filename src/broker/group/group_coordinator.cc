// The coordinator's partitions and the lookup of groups: which partitions this node coordinates, their loading and
// unloading, start and shutdown.
#include "vltava/broker/group/group_coordinator.h"

#include <chrono>
#include <random>

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>

#include "deferred_actions.h"

namespace vltava::broker::group {

using protocol::error_code;

group_coordinator::group_coordinator(coordinator_settings settings, group_store& store, group_timers& timers,
                                     partition_exists_function partition_exists)
    : settings_(settings), store_(store), timers_(timers), partition_exists_(std::move(partition_exists)) {
  id_seed_ = std::random_device{}();
  id_seed_ = (id_seed_ << 32) ^ static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
}

group_coordinator::~group_coordinator() {
  shutdown();
  loader_.join();
}

std::int32_t group_coordinator::partition_for(const std::string& group_id) const {
  return coordinator_partition_for(group_id, store_.partition_count());
}

error_code group_coordinator::coordinator_status(const std::string& group_id) {
  std::lock_guard lock(partitions_mutex_);
  return partitions_.contains(partition_for(group_id)) ? error_code::none : error_code::coordinator_not_available;
}

group_coordinator::lookup group_coordinator::find_group(const std::string& group_id, bool create) {
  const auto partition = partition_for(group_id);
  std::lock_guard lock(partitions_mutex_);
  auto it = partitions_.find(partition);
  if (it == partitions_.end() || stopped_) return {error_code::not_coordinator, nullptr};
  if (it->second.loading) return {error_code::coordinator_load_in_progress, nullptr};
  auto& groups = it->second.groups;
  if (auto found = groups.find(group_id); found != groups.end()) return {error_code::none, found->second};
  if (!create) return {};
  auto created = std::make_shared<group>(group_id, partition);
  created->state_timestamp_ms = timers_.now_ms();
  groups.emplace(group_id, created);
  return {error_code::none, created};
}

std::vector<std::shared_ptr<group>> group_coordinator::loaded_groups() {
  std::vector<std::shared_ptr<group>> out;
  std::lock_guard lock(partitions_mutex_);
  for (auto& [p, entry] : partitions_) {
    for (auto& [id, g] : entry.groups) out.push_back(g);
  }
  return out;
}

void group_coordinator::forget_group(const std::shared_ptr<group>& g) {
  std::lock_guard lock(partitions_mutex_);
  auto it = partitions_.find(g->partition());
  if (it == partitions_.end()) return;
  auto found = it->second.groups.find(g->id());
  if (found != it->second.groups.end() && found->second == g) it->second.groups.erase(found);
}

void group_coordinator::begin_loading(std::int32_t partition) {
  std::lock_guard lock(partitions_mutex_);
  auto& entry = partitions_[partition];
  entry.loading = true;
}

void group_coordinator::load_partition(std::int32_t partition, loaded_partition data) {
  const auto now = timers_.now_ms();
  std::map<std::string, std::shared_ptr<group>> groups;
  for (auto& [id, loaded] : data.groups) {
    auto g = std::make_shared<group>(id, partition);
    std::lock_guard lock(g->mutex);
    g->offsets = std::move(loaded.offsets);
    g->state_timestamp_ms = now;
    if (loaded.metadata) {
      auto& record = *loaded.metadata;
      g->protocol_type = record.protocol_type;
      g->generation = record.generation;
      g->protocol_name = record.protocol_name;
      g->leader = record.leader;
      if (record.current_state_timestamp_ms >= 0) g->state_timestamp_ms = record.current_state_timestamp_ms;
      for (auto& r : record.members) {
        group_member m;
        m.member_id = r.member_id;
        m.group_instance_id = r.group_instance_id;
        m.client_id = r.client_id;
        m.client_host = r.client_host;
        m.session_timeout_ms = r.session_timeout_ms;
        m.rebalance_timeout_ms = r.rebalance_timeout_ms;
        if (record.protocol_name) m.protocols.push_back({*record.protocol_name, r.subscription});
        m.assignment = r.assignment;
        if (m.group_instance_id) g->static_members[*m.group_instance_id] = m.member_id;
        g->members.emplace(m.member_id, std::move(m));
      }
      g->state = g->members.empty() ? group_state::empty : group_state::stable;
      if (!g->members.empty()) g->state_timestamp_ms = now;
      for (auto& [member_id, m] : g->members) schedule_session(g, m);
    }
    groups.emplace(id, std::move(g));
  }
  std::lock_guard lock(partitions_mutex_);
  auto& entry = partitions_[partition];
  entry.loading = false;
  entry.groups = std::move(groups);
  spdlog::debug("group coordinator: loaded partition {} ({} groups)", partition, entry.groups.size());
}

void group_coordinator::load_partition_in_background(std::int32_t partition) {
  begin_loading(partition);
  boost::asio::post(loader_, [this, partition] {
    try {
      auto data = store_.load(partition);
      load_partition(partition, std::move(data));
    } catch (const std::exception& e) {
      spdlog::error("group coordinator: loading partition {} failed: {}", partition, e.what());
    }
  });
}

void group_coordinator::unload_partition(std::int32_t partition) {
  std::map<std::string, std::shared_ptr<group>> groups;
  {
    std::lock_guard lock(partitions_mutex_);
    auto it = partitions_.find(partition);
    if (it == partitions_.end()) return;
    groups = std::move(it->second.groups);
    partitions_.erase(it);
  }
  for (auto& [id, g] : groups) {
    deferred_actions fx;
    std::lock_guard lock(g->mutex);
    reset_and_fail_syncs(*g, error_code::not_coordinator, fx);
    for (auto& [member_id, m] : g->members) {
      timers_.cancel(m.session_timer);
      m.session_timer = 0;
      if (m.awaiting_join) {
        protocol::join_group_response answer;
        answer.error_code = static_cast<std::int16_t>(error_code::not_coordinator);
        answer.member_id = member_id;
        fx.add([done = std::move(m.awaiting_join), answer] { done(answer); });
        m.awaiting_join = nullptr;
      }
    }
    for (auto& [member_id, pending] : g->pending_members) timers_.cancel(pending.timer);
    timers_.cancel(g->join_timer);
    g->join_timer = 0;
    g->transition(group_state::dead, timers_.now_ms());
  }
}

void group_coordinator::start() {
  for (std::int32_t p = 0; p < store_.partition_count(); ++p) load_partition_in_background(p);
  start_retention_check();
}

void group_coordinator::shutdown() {
  if (stopped_.exchange(true)) return;
  for (auto& g : loaded_groups()) {
    deferred_actions fx;
    std::lock_guard lock(g->mutex);
    reset_and_fail_syncs(*g, error_code::coordinator_not_available, fx);
    for (auto& [member_id, m] : g->members) {
      if (!m.awaiting_join) continue;
      protocol::join_group_response answer;
      answer.error_code = static_cast<std::int16_t>(error_code::coordinator_not_available);
      answer.member_id = member_id;
      fx.add([done = std::move(m.awaiting_join), answer] { done(answer); });
      m.awaiting_join = nullptr;
    }
  }
}

void group_coordinator::start_retention_check() {
  if (stopped_) return;
  timers_.schedule(std::max<std::int64_t>(settings_.retention_check_interval_ms, 1), [this] {
    if (stopped_) return;
    expire_offsets();
    start_retention_check();
  });
}

std::string group_coordinator::new_member_id(const std::string& prefix) {
  std::lock_guard lock(id_mutex_);
  ++id_counter_;
  // Unique within this process run and unlikely to repeat across runs: a per-run random seed and a counter, in the
  // form Kafka's ids take (prefix-uuid).
  std::mt19937_64 mix(id_seed_ ^ (id_counter_ * 0x9E3779B97F4A7C15ULL));
  const std::uint64_t a = mix(), b = mix();
  char text[40];
  std::snprintf(text, sizeof text, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xffff),
                static_cast<unsigned>(b >> 48), static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return prefix + "-" + text;
}

}  // namespace vltava::broker::group
