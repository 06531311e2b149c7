// The classic consumer-group coordinator: one method per API, each taking the decoded request and its version and
// completing with the response (errors inside it, never thrown). A JoinGroup or SyncGroup may complete much later
// (when the rebalance completes), from a timer or another request's thread; callers must not block on it.
//
// Concurrency: each group has its own mutex, held only while its state is read or changed; completions and store
// writes run after it is released (the store may call back inline). The map of coordinator partitions and their
// groups has a short lock of its own, never held across a store call or a completion.
//
// Durability: every metadata change that matters (a generation's assignment, a static member's new id, the group
// becoming empty) and every commit goes through group_store; commits, deletions and a static member's rejoin answer
// after the store's callback.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/thread_pool.hpp>

#include "vltava/broker/group/group.h"
#include "vltava/broker/group/group_store.h"
#include "vltava/broker/group/group_timers.h"
#include "vltava/protocol/messages.h"

namespace vltava::broker::group {

class deferred_actions;

// Kafka's broker settings for groups (key names in comments).
struct coordinator_settings {
  std::int32_t initial_rebalance_delay_ms = 3000;           // group.initial.rebalance.delay.ms
  std::int32_t min_session_timeout_ms = 6000;               // group.min.session.timeout.ms
  std::int32_t max_session_timeout_ms = 1'800'000;          // group.max.session.timeout.ms
  std::int32_t max_size = 2'147'483'647;                    // group.max.size
  std::int64_t offsets_retention_ms = 7LL * 24 * 3600'000;  // offsets.retention.minutes
  std::int64_t retention_check_interval_ms = 600'000;       // offsets.retention.check.interval.ms
  std::int32_t offset_metadata_max_bytes = 4096;            // offset.metadata.max.bytes
};

// Who is asking (JoinGroup keeps it per member for DescribeGroups).
struct client_info {
  std::string client_id;
  std::string client_host;
};

// Whether a topic partition exists (OffsetCommit and OffsetDelete answer UNKNOWN_TOPIC_OR_PARTITION otherwise).
using partition_exists_function = std::function<bool(const std::string& topic, std::int32_t partition)>;

template <class Response>
using completion = std::function<void(Response)>;

class group_coordinator {
 public:
  group_coordinator(coordinator_settings settings, group_store& store, group_timers& timers,
                    partition_exists_function partition_exists);
  ~group_coordinator();
  group_coordinator(const group_coordinator&) = delete;
  group_coordinator& operator=(const group_coordinator&) = delete;

  // ---- coordinator partitions ----
  // Marks a partition as loading (its groups answer COORDINATOR_LOAD_IN_PROGRESS until load_partition).
  void begin_loading(std::int32_t partition);
  // Installs the groups read by group_store::load: groups with members come back Stable (their sessions restart
  // now), the others Empty.
  void load_partition(std::int32_t partition, loaded_partition data);
  // begin_loading, then group_store::load on the coordinator's own loader thread, then load_partition.
  void load_partition_in_background(std::int32_t partition);
  // Drops the partition's groups: their waiting requests are answered NOT_COORDINATOR.
  void unload_partition(std::int32_t partition);
  // Loads every partition (in the background) and starts the periodic offset retention check.
  void start();
  // Answers every waiting JoinGroup/SyncGroup with COORDINATOR_NOT_AVAILABLE and ignores timers from now on, so a
  // stopping server does not wait for rebalances. Idempotent.
  void shutdown();

  // NONE when this node coordinates the group's partition (loaded or loading), COORDINATOR_NOT_AVAILABLE otherwise.
  protocol::error_code coordinator_status(const std::string& group_id);
  std::int32_t partition_for(const std::string& group_id) const;

  // ---- the APIs ----
  void join_group(protocol::join_group_request request, std::int16_t version, client_info client, join_completion done);
  void sync_group(protocol::sync_group_request request, std::int16_t version, sync_completion done);
  void heartbeat(const protocol::heartbeat_request& request, std::int16_t version,
                 completion<protocol::heartbeat_response> done);
  void leave_group(const protocol::leave_group_request& request, std::int16_t version,
                   completion<protocol::leave_group_response> done);
  void describe_groups(const protocol::describe_groups_request& request, std::int16_t version,
                       completion<protocol::describe_groups_response> done);
  void list_groups(const protocol::list_groups_request& request, std::int16_t version,
                   completion<protocol::list_groups_response> done);
  void delete_groups(const protocol::delete_groups_request& request, std::int16_t version,
                     completion<protocol::delete_groups_response> done);
  void commit_offsets(const protocol::offset_commit_request& request, std::int16_t version,
                      completion<protocol::offset_commit_response> done);
  void fetch_offsets(const protocol::offset_fetch_request& request, std::int16_t version,
                     completion<protocol::offset_fetch_response> done);
  void delete_offsets(const protocol::offset_delete_request& request, std::int16_t version,
                      completion<protocol::offset_delete_response> done);

  // The periodic retention check (offsets.retention.check.interval.ms): expire_offsets() now, and every interval.
  void start_retention_check();
  void expire_offsets();

  const coordinator_settings& settings() const noexcept { return settings_; }

 private:
  struct partition_entry {
    bool loading = false;
    std::map<std::string, std::shared_ptr<group>> groups;
  };
  struct lookup {
    protocol::error_code error = protocol::error_code::none;
    std::shared_ptr<group> found;  // null with error NONE: no such group
  };

  // The group's partition state and the group; `create` makes an Empty group when there is none.
  lookup find_group(const std::string& group_id, bool create);
  std::vector<std::shared_ptr<group>> loaded_groups();
  void forget_group(const std::shared_ptr<group>& g);  // removes a Dead group from its partition's map

  // The state machine (group_rebalance.cc); all with g.mutex held.
  void add_member_and_rebalance(const std::shared_ptr<group>& g, group_member m, deferred_actions& fx);
  void prepare_rebalance(const std::shared_ptr<group>& g, deferred_actions& fx);
  void try_complete_join(const std::shared_ptr<group>& g, deferred_actions& fx);
  void complete_join(const std::shared_ptr<group>& g, deferred_actions& fx);
  void schedule_join_timer(const std::shared_ptr<group>& g, std::int64_t delay_ms);
  void on_join_timer(const std::shared_ptr<group>& g, std::uint64_t token);
  void remove_member(const std::shared_ptr<group>& g, const std::string& member_id, deferred_actions& fx);
  void schedule_session(const std::shared_ptr<group>& g, group_member& m);
  void on_session_timer(const std::shared_ptr<group>& g, const std::string& member_id, std::uint64_t token);
  void on_pending_member_timer(const std::shared_ptr<group>& g, const std::string& member_id, std::uint64_t token);
  void schedule_pending_member(const std::shared_ptr<group>& g, const std::string& member_id,
                               std::int32_t session_timeout_ms);
  void reset_and_fail_syncs(group& g, protocol::error_code error, deferred_actions& fx);
  void store_group_metadata(const std::shared_ptr<group>& g, deferred_actions& fx);
  protocol::join_group_response join_result(const group& g, const std::string& member_id, bool with_members) const;

  // JoinGroup's two paths (group_join.cc).
  void join_new_member(const std::shared_ptr<group>& g, protocol::join_group_request& request, std::int16_t version,
                       const client_info& client, join_completion& done, deferred_actions& fx);
  void join_static_replacement(const std::shared_ptr<group>& g, protocol::join_group_request& request,
                               const client_info& client, join_completion& done, deferred_actions& fx);
  void join_known_member(const std::shared_ptr<group>& g, protocol::join_group_request& request,
                         const client_info& client, join_completion& done, deferred_actions& fx);
  void on_leader_sync_stored(const std::shared_ptr<group>& g, std::int32_t generation,
                             std::map<std::string, protocol::bytes> assignments, protocol::error_code error);

  std::string new_member_id(const std::string& prefix);

  coordinator_settings settings_;
  group_store& store_;
  group_timers& timers_;
  partition_exists_function partition_exists_;
  std::atomic<bool> stopped_{false};

  std::mutex partitions_mutex_;  // guards partitions_ (never held while a group's mutex is taken... see find_group)
  std::map<std::int32_t, partition_entry> partitions_;

  std::mutex id_mutex_;
  std::uint64_t id_counter_ = 0;
  std::uint64_t id_seed_ = 0;

  boost::asio::thread_pool loader_{1};  // group_store::load blocks: never on an I/O thread
};

}  // namespace vltava::broker::group
