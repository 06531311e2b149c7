// OffsetCommit, OffsetFetch, OffsetDelete and the retention check: committed offsets, kept per group, written
// through the store before they are acknowledged.
#include <spdlog/spdlog.h>

#include "deferred_actions.h"
#include "vltava/broker/group/group_coordinator.h"
#include "vltava/broker/group/store_errors.h"

namespace vltava::broker::group {

using protocol::error_code;

namespace {

// Where a partition sits in the OffsetCommit answer, to fill in its error later.
struct answer_slot {
  std::size_t topic = 0;
  std::size_t partition = 0;
};

}  // namespace

void group_coordinator::commit_offsets(const protocol::offset_commit_request& request, std::int16_t version,
                                       completion<protocol::offset_commit_response> done) {
  const std::int32_t generation = version >= 1 ? request.generation_id_or_member_epoch : -1;
  const std::string member_id = version >= 1 ? request.member_id : std::string();
  const auto instance_id = version >= 7 ? request.group_instance_id : std::nullopt;
  const std::int64_t now = timers_.now_ms();

  auto answer = std::make_shared<protocol::offset_commit_response>();
  std::vector<answer_slot> slots;  // partitions that passed the per-partition checks
  std::vector<std::pair<topic_partition, committed_offset>> offsets;
  for (std::size_t t = 0; t < request.topics.size(); ++t) {
    const auto& topic = request.topics[t];
    auto& answered = answer->topics.emplace_back();
    answered.name = topic.name;
    answered.topic_id = topic.topic_id;
    for (std::size_t p = 0; p < topic.partitions.size(); ++p) {
      const auto& partition = topic.partitions[p];
      auto& result = answered.partitions.emplace_back();
      result.partition_index = partition.partition_index;
      const std::string metadata = partition.committed_metadata.value_or("");
      if (!partition_exists_ || !partition_exists_(topic.name, partition.partition_index)) {
        result.error_code = static_cast<std::int16_t>(error_code::unknown_topic_or_partition);
      } else if (metadata.size() > static_cast<std::size_t>(std::max(settings_.offset_metadata_max_bytes, 0))) {
        result.error_code = static_cast<std::int16_t>(error_code::offset_metadata_too_large);
      } else {
        committed_offset offset;
        offset.offset = partition.committed_offset;
        offset.leader_epoch = version >= 6 ? partition.committed_leader_epoch : -1;
        offset.metadata = metadata;
        offset.commit_timestamp_ms =
            version == 1 && partition.commit_timestamp != -1 ? partition.commit_timestamp : now;
        if (version >= 2 && version <= 4 && request.retention_time_ms != -1) {
          offset.expire_timestamp_ms = now + request.retention_time_ms;
        }
        slots.push_back({t, p});
        offsets.emplace_back(topic_partition{topic.name, partition.partition_index}, std::move(offset));
      }
    }
  }
  const auto answer_all = [answer, slots, done](error_code error) {
    for (const auto& slot : slots) {
      answer->topics[slot.topic].partitions[slot.partition].error_code =
          static_cast<std::int16_t>(group_error_from_store(error));
    }
    done(*answer);
  };
  if (slots.empty()) return answer_all(error_code::none);

  // Simple consumers (generation -1, no member id) commit without ever joining: their group is created here.
  auto [lookup_error, g] = find_group(request.group_id, generation < 0);
  if (lookup_error != error_code::none) return answer_all(lookup_error);
  if (!g) return answer_all(error_code::illegal_generation);

  deferred_actions fx;
  std::lock_guard lock(g->mutex);
  const auto check = [&]() -> error_code {
    if (g->is(group_state::dead)) return error_code::coordinator_not_available;
    if (g->is_fenced(instance_id, member_id)) return error_code::fenced_instance_id;
    if (generation < 0 && g->is(group_state::empty)) return error_code::none;
    if (!g->has_member(member_id)) return error_code::unknown_member_id;
    if (generation != g->generation) return error_code::illegal_generation;
    // The member knows the new generation but has no assignment yet: it must finish the rebalance first.
    if (g->is(group_state::completing_rebalance)) return error_code::rebalance_in_progress;
    schedule_session(g, g->members.at(member_id));
    return error_code::none;
  };
  if (auto error = check(); error != error_code::none) {
    fx.add([answer_all, error] { answer_all(error); });
    return;
  }
  fx.add([this, g, offsets = std::move(offsets), answer_all] {
    store_.store_offsets(g->id(), offsets, [g, offsets, answer_all](error_code error) {
      if (error == error_code::none) {
        std::lock_guard relock(g->mutex);
        if (!g->is(group_state::dead)) {
          for (const auto& [tp, offset] : offsets) g->offsets[tp] = offset;
        }
      }
      answer_all(commit_error_from_store(error));
    });
  });
}

void group_coordinator::fetch_offsets(const protocol::offset_fetch_request& request, std::int16_t version,
                                      completion<protocol::offset_fetch_response> done) {
  using requested_topics = std::optional<std::vector<std::pair<std::string, std::vector<std::int32_t>>>>;
  struct group_answer {
    error_code error = error_code::none;
    std::vector<protocol::offset_fetch_response::offset_fetch_response_group_topic> topics;
  };
  // One group's answer in the v8 layout; converted for older versions below.
  const auto fetch_one = [this](const std::string& group_id, const requested_topics& wanted) {
    group_answer out;
    auto [error, g] = find_group(group_id, false);
    out.error = error;
    std::map<topic_partition, committed_offset> known;
    if (error == error_code::none && g) {
      std::lock_guard lock(g->mutex);
      if (!g->is(group_state::dead)) known = g->offsets;
    }
    const auto entry = [&](std::int32_t partition, const committed_offset* offset) {
      protocol::offset_fetch_response::offset_fetch_response_group_partition p;
      p.partition_index = partition;
      p.committed_offset = offset ? offset->offset : -1;
      p.committed_leader_epoch = offset ? offset->leader_epoch : -1;
      p.metadata = offset ? offset->metadata : std::string();
      p.error_code = static_cast<std::int16_t>(out.error);
      return p;
    };
    if (!wanted) {
      for (const auto& [tp, offset] : known) {
        if (out.topics.empty() || out.topics.back().name != tp.topic) out.topics.emplace_back().name = tp.topic;
        out.topics.back().partitions.push_back(entry(tp.partition, &offset));
      }
      return out;
    }
    for (const auto& [topic, partitions] : *wanted) {
      auto& t = out.topics.emplace_back();
      t.name = topic;
      for (auto partition : partitions) {
        auto it = known.find(topic_partition{topic, partition});
        t.partitions.push_back(entry(partition, it == known.end() ? nullptr : &it->second));
      }
    }
    return out;
  };

  protocol::offset_fetch_response answer;
  if (version >= 8) {
    for (const auto& group_request : request.groups) {
      requested_topics wanted;
      if (group_request.topics) {
        wanted.emplace();
        for (const auto& t : *group_request.topics) wanted->emplace_back(t.name, t.partition_indexes);
      }
      auto one = fetch_one(group_request.group_id, wanted);
      auto& g = answer.groups.emplace_back();
      g.group_id = group_request.group_id;
      g.error_code = static_cast<std::int16_t>(one.error);
      if (one.error == error_code::none) g.topics = std::move(one.topics);
    }
    done(std::move(answer));
    return;
  }
  requested_topics wanted;
  if (request.topics && (version >= 2 || !request.topics->empty())) {
    wanted.emplace();
    for (const auto& t : *request.topics) wanted->emplace_back(t.name, t.partition_indexes);
  }
  auto one = fetch_one(request.group_id, wanted);
  // From v2 a group-level error is answered once, at the top, without partitions; before, in every partition.
  if (version >= 2 && one.error != error_code::none) {
    answer.error_code = static_cast<std::int16_t>(one.error);
    done(std::move(answer));
    return;
  }
  for (auto& t : one.topics) {
    auto& topic = answer.topics.emplace_back();
    topic.name = t.name;
    for (auto& p : t.partitions) {
      auto& partition = topic.partitions.emplace_back();
      partition.partition_index = p.partition_index;
      partition.committed_offset = p.committed_offset;
      partition.committed_leader_epoch = p.committed_leader_epoch;
      partition.metadata = std::move(p.metadata);
      partition.error_code = p.error_code;
    }
  }
  done(std::move(answer));
}

void group_coordinator::delete_offsets(const protocol::offset_delete_request& request, std::int16_t /*version*/,
                                       completion<protocol::offset_delete_response> done) {
  auto answer = std::make_shared<protocol::offset_delete_response>();
  const auto top_level = [&](error_code error) {
    answer->error_code = static_cast<std::int16_t>(error);
    done(*answer);
  };
  auto [lookup_error, g] = find_group(request.group_id, false);
  if (lookup_error != error_code::none) return top_level(lookup_error);
  if (!g) return top_level(error_code::group_id_not_found);

  std::vector<topic_partition> deleted;
  std::vector<answer_slot> deleted_slots;
  {
    std::lock_guard lock(g->mutex);
    if (g->is(group_state::dead)) return top_level(error_code::group_id_not_found);
    std::set<std::string> subscribed;
    if (!g->is(group_state::empty)) {
      // A group in use may drop only offsets of topics none of its members subscribe to, and only the consumer
      // protocol tells which those are.
      if (g->protocol_type != "consumer") return top_level(error_code::non_empty_group);
      subscribed = g->subscribed_topics();
    }
    for (std::size_t t = 0; t < request.topics.size(); ++t) {
      const auto& topic = request.topics[t];
      auto& answered = answer->topics.emplace_back();
      answered.name = topic.name;
      for (std::size_t p = 0; p < topic.partitions.size(); ++p) {
        auto& result = answered.partitions.emplace_back();
        result.partition_index = topic.partitions[p].partition_index;
        const topic_partition tp{topic.name, result.partition_index};
        if (!partition_exists_ || !partition_exists_(tp.topic, tp.partition)) {
          result.error_code = static_cast<std::int16_t>(error_code::unknown_topic_or_partition);
        } else if (subscribed.contains(topic.name)) {
          result.error_code = static_cast<std::int16_t>(error_code::group_subscribed_to_topic);
        } else if (g->offsets.erase(tp) != 0) {
          deleted.push_back(tp);
          deleted_slots.push_back({t, p});
        }
      }
    }
  }
  if (deleted.empty()) return done(*answer);
  store_.delete_offsets(g->id(), deleted, [answer, deleted_slots, done](error_code error) {
    for (const auto& slot : deleted_slots) {
      answer->topics[slot.topic].partitions[slot.partition].error_code = static_cast<std::int16_t>(error);
    }
    done(*answer);
  });
}

void group_coordinator::expire_offsets() {
  const std::int64_t now = timers_.now_ms();
  for (const auto& g : loaded_groups()) {
    std::vector<topic_partition> expired;
    bool delete_group = false;
    {
      std::lock_guard lock(g->mutex);
      // Kafka 2.1+ (KIP-211): offsets of a group in use never expire; once it is empty they expire retention
      // after it became empty, or, for a group that only commits offsets, retention after each commit. An
      // explicit expire timestamp (OffsetCommit v2-v4 retention_time_ms) wins.
      if (!g->is(group_state::empty) || !g->pending_members.empty()) continue;
      for (auto it = g->offsets.begin(); it != g->offsets.end();) {
        const auto& o = it->second;
        const std::int64_t base = g->protocol_type.empty() ? o.commit_timestamp_ms : g->state_timestamp_ms;
        const std::int64_t expires =
            o.expire_timestamp_ms >= 0 ? o.expire_timestamp_ms : base + settings_.offsets_retention_ms;
        if (now >= expires) {
          expired.push_back(it->first);
          it = g->offsets.erase(it);
        } else {
          ++it;
        }
      }
      if (g->offsets.empty()) {
        g->transition(group_state::dead, now);
        delete_group = true;
      }
    }
    const auto logged = [id = g->id()](error_code error) {
      if (error != error_code::none) {
        spdlog::warn("group {}: writing expired offsets failed: {}", id, protocol::error_name(error));
      }
    };
    if (delete_group) {
      forget_group(g);
      spdlog::info("group {}: empty with no offsets left; removed ({} offsets expired)", g->id(), expired.size());
      store_.delete_group(g->id(), expired, logged);
    } else if (!expired.empty()) {
      spdlog::info("group {}: {} offsets expired", g->id(), expired.size());
      store_.delete_offsets(g->id(), expired, logged);
    }
  }
}

}  // namespace vltava::broker::group
