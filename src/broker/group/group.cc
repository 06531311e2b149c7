// The rules of one group that need no clock, store or lock: protocol agreement and selection, counts, the stored
// form, and the topics a consumer group subscribes to.
#include "vltava/broker/group/group.h"

#include <algorithm>

namespace vltava::broker::group {

std::string_view state_name(group_state state) {
  switch (state) {
    case group_state::empty: return "Empty";
    case group_state::preparing_rebalance: return "PreparingRebalance";
    case group_state::completing_rebalance: return "CompletingRebalance";
    case group_state::stable: return "Stable";
    case group_state::dead: return "Dead";
  }
  return "Dead";
}

const protocol::bytes* group_member::metadata_for(const std::string& protocol_name) const {
  for (const auto& p : protocols) {
    if (p.name == protocol_name) return &p.metadata;
  }
  return nullptr;
}

bool group::is_fenced(const std::optional<std::string>& instance_id, const std::string& member_id) const {
  if (!instance_id) return false;
  auto it = static_members.find(*instance_id);
  return it != static_members.end() && it->second != member_id;
}

std::size_t group::awaiting_join_count() const {
  return static_cast<std::size_t>(
      std::count_if(members.begin(), members.end(), [](const auto& m) { return bool(m.second.awaiting_join); }));
}

std::int32_t group::rebalance_timeout_ms() const {
  std::int32_t longest = 0;
  for (const auto& [id, m] : members) longest = std::max(longest, m.rebalance_timeout_ms);
  return longest;
}

bool group::supports(const std::string& type, const std::vector<member_protocol>& protocols) const {
  if (type.empty() || protocols.empty()) return false;
  if (members.empty()) return true;
  if (type != protocol_type) return false;
  return std::any_of(protocols.begin(), protocols.end(), [this](const member_protocol& candidate) {
    return std::all_of(members.begin(), members.end(),
                       [&](const auto& m) { return m.second.metadata_for(candidate.name) != nullptr; });
  });
}

std::optional<std::string> group::select_protocol() const {
  if (members.empty()) return std::nullopt;
  // Candidates in the leader's order of preference (or any member's, when the leader is gone).
  const auto& first = leader && members.contains(*leader) ? members.at(*leader) : members.begin()->second;
  std::vector<std::string> candidates;
  for (const auto& p : first.protocols) {
    const bool everyone = std::all_of(members.begin(), members.end(),
                                      [&](const auto& m) { return m.second.metadata_for(p.name) != nullptr; });
    if (everyone) candidates.push_back(p.name);
  }
  if (candidates.empty()) return std::nullopt;
  std::map<std::string, int> votes;
  for (const auto& [id, m] : members) {
    for (const auto& p : m.protocols) {
      if (std::find(candidates.begin(), candidates.end(), p.name) != candidates.end()) {
        ++votes[p.name];
        break;
      }
    }
  }
  std::optional<std::string> best;
  int best_votes = -1;
  for (const auto& name : candidates) {
    if (votes[name] > best_votes) {
      best = name;
      best_votes = votes[name];
    }
  }
  return best;
}

namespace {

// ConsumerProtocolSubscription (every version starts this way): version int16, topics [int16-length string].
std::vector<std::string> subscription_topics(const protocol::bytes& metadata) {
  protocol::reader r(protocol::byte_span(metadata.data(), metadata.size()));
  r.read_int16();
  const std::int32_t count = r.read_int32();
  std::vector<std::string> topics;
  for (std::int32_t i = 0; i < count && r.ok() && r.remaining() >= 2; ++i) {
    const std::int16_t length = r.read_int16();
    if (length < 0) break;
    auto chars = r.read_span(static_cast<std::size_t>(length));
    if (!r.ok()) break;
    topics.emplace_back(reinterpret_cast<const char*>(chars.data()), chars.size());
  }
  return topics;
}

}  // namespace

std::set<std::string> group::subscribed_topics() const {
  std::set<std::string> topics;
  if (protocol_type != "consumer" || !protocol_name) return topics;
  for (const auto& [id, m] : members) {
    if (const auto* metadata = m.metadata_for(*protocol_name)) {
      for (auto& t : subscription_topics(*metadata)) topics.insert(std::move(t));
    }
  }
  return topics;
}

group_record group::to_record() const {
  group_record record;
  record.group_id = id_;
  record.protocol_type = protocol_type;
  record.generation = generation;
  record.protocol_name = protocol_name;
  record.leader = leader;
  record.current_state_timestamp_ms = state_timestamp_ms;
  for (const auto& [id, m] : members) {
    member_record r;
    r.member_id = id;
    r.group_instance_id = m.group_instance_id;
    r.client_id = m.client_id;
    r.client_host = m.client_host;
    r.rebalance_timeout_ms = m.rebalance_timeout_ms;
    r.session_timeout_ms = m.session_timeout_ms;
    if (protocol_name) {
      if (const auto* metadata = m.metadata_for(*protocol_name)) r.subscription = *metadata;
    }
    r.assignment = m.assignment;
    record.members.push_back(std::move(r));
  }
  return record;
}

}  // namespace vltava::broker::group
