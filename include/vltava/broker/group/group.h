// One classic consumer group: its members, state, generation, chosen protocol and committed offsets. Plain data with
// the rules that depend on nothing else (protocol selection, joined counts, the stored form); the coordinator drives
// the state machine and holds `mutex` whenever it reads or changes a group.
//
// States (Kafka's names, as DescribeGroups and ListGroups report them):
//   Empty                -> PreparingRebalance (a member joins)
//   PreparingRebalance   -> CompletingRebalance (every member rejoined, or the rebalance timeout passed)
//                        -> Empty (nobody is left when the join completes)
//   CompletingRebalance  -> Stable (the leader's SyncGroup is stored) / PreparingRebalance (a member joins or leaves)
//   Stable               -> PreparingRebalance (a member joins with new protocols, leaves or times out)
//   any                  -> Dead (deleted, expired, or its coordinator partition unloaded)
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vltava/broker/group/group_store.h"
#include "vltava/broker/group/group_timers.h"
#include "vltava/protocol/messages.h"

namespace vltava::broker::group {

enum class group_state { empty, preparing_rebalance, completing_rebalance, stable, dead };

std::string_view state_name(group_state state);

using join_completion = std::function<void(protocol::join_group_response)>;
using sync_completion = std::function<void(protocol::sync_group_response)>;

struct member_protocol {
  std::string name;
  protocol::bytes metadata;
  bool operator==(const member_protocol&) const = default;
};

struct group_member {
  std::string member_id;
  std::optional<std::string> group_instance_id;
  std::string client_id;
  std::string client_host;
  std::int32_t session_timeout_ms = 0;
  std::int32_t rebalance_timeout_ms = 0;
  std::vector<member_protocol> protocols;  // in the member's order of preference
  protocol::bytes assignment;
  join_completion awaiting_join;  // set while its JoinGroup waits for the rebalance
  sync_completion awaiting_sync;  // set while its SyncGroup waits for the leader's assignment
  group_timers::timer_id session_timer = 0;
  std::uint64_t session_token = 0;  // which scheduled session check is the live one

  const protocol::bytes* metadata_for(const std::string& protocol_name) const;
};

class group {
 public:
  group(std::string id, std::int32_t partition) : id_(std::move(id)), partition_(partition) {}

  std::mutex mutex;  // guards everything below

  const std::string& id() const noexcept { return id_; }
  std::int32_t partition() const noexcept { return partition_; }

  group_state state = group_state::empty;
  std::int64_t state_timestamp_ms = -1;  // when the group entered its state (Empty: offsets expire from here)
  std::int32_t generation = 0;
  std::string protocol_type;  // empty: no member ever joined (a group that only commits offsets)
  std::optional<std::string> protocol_name;
  std::optional<std::string> leader;
  std::map<std::string, group_member> members;        // by member id
  std::map<std::string, std::string> static_members;  // group.instance.id -> member id
  // Member ids handed out with MEMBER_ID_REQUIRED (JoinGroup v4+), not yet joined; each with its session timer.
  struct pending_member {
    group_timers::timer_id timer = 0;
    std::uint64_t token = 0;
  };
  std::map<std::string, pending_member> pending_members;
  std::map<topic_partition, committed_offset> offsets;

  // The rebalance in progress: its timer, and for the first join to an empty group, Kafka's initial delay
  // (group.initial.rebalance.delay.ms, extended while new members keep arriving, up to the rebalance timeout).
  group_timers::timer_id join_timer = 0;
  std::uint64_t join_token = 0;  // which scheduled join timer is the live one
  std::uint64_t next_token = 0;  // tokens tell a live timer from one cancelled too late
  bool in_initial_delay = false;
  bool member_added_during_delay = false;
  std::int64_t initial_delay_remaining_ms = 0;

  bool is(group_state s) const noexcept { return state == s; }
  void transition(group_state to, std::int64_t now_ms) {
    state = to;
    state_timestamp_ms = now_ms;
  }
  bool has_member(const std::string& member_id) const { return members.contains(member_id); }
  // A static member whose instance id now maps to another member id: an older incarnation, fenced.
  bool is_fenced(const std::optional<std::string>& instance_id, const std::string& member_id) const;
  std::size_t awaiting_join_count() const;
  bool all_members_joined() const { return awaiting_join_count() == members.size() && pending_members.empty(); }
  std::int32_t rebalance_timeout_ms() const;  // the largest of the members'

  // Whether a member with these protocols may join: the same protocol type as the group's, and at least one
  // protocol every current member also supports (any non-empty set for the first member).
  bool supports(const std::string& type, const std::vector<member_protocol>& protocols) const;
  // Kafka's choice: among the protocols every member supports, each member votes for the first one in its own
  // order of preference; the most votes wins (ties: the earliest in the leader's order). Empty if none is common.
  std::optional<std::string> select_protocol() const;
  // The topics the members subscribed to, from the consumer protocol's subscriptions (protocol type "consumer").
  std::set<std::string> subscribed_topics() const;

  group_record to_record() const;

 private:
  std::string id_;
  std::int32_t partition_;
};

}  // namespace vltava::broker::group
