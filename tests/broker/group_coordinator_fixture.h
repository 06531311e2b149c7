// The fixture of the group coordinator tests: a coordinator on a fake clock and a recording store, with every
// partition loaded, topics "t" (6 partitions) and "other" (2), and short helpers for each API.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "group_test_support.h"

namespace vltava::broker::group::testing {

template <class R>
using answer_ptr = std::shared_ptr<std::optional<R>>;

class group_coordinator_test : public ::testing::Test {
 protected:
  group_coordinator_test() {
    settings.initial_rebalance_delay_ms = 3000;
    settings.min_session_timeout_ms = 6000;
    settings.max_session_timeout_ms = 300'000;
    settings.offsets_retention_ms = 24 * 3600'000LL;
    settings.retention_check_interval_ms = 600'000;
    rebuild();
  }

  void rebuild() {
    coordinator.reset();
    coordinator =
        std::make_unique<group_coordinator>(settings, store, timers, [](const std::string& t, std::int32_t p) {
          return (t == "t" && p >= 0 && p < 6) || (t == "other" && p >= 0 && p < 2);
        });
    for (std::int32_t p = 0; p < store.partition_count(); ++p) coordinator->load_partition(p, store.load(p));
    coordinator->start_retention_check();
  }

  template <class R>
  static protocol::error_code err(const R& r) {
    return static_cast<protocol::error_code>(r.error_code);
  }

  template <class R, class Start>
  answer_ptr<R> start(Start s) {
    auto out = std::make_shared<std::optional<R>>();
    s(completion<R>([out](R r) { *out = std::move(r); }));
    return out;
  }
  // For calls that must answer at once.
  template <class R, class Start>
  R run(Start s) {
    auto out = start<R>(std::move(s));
    EXPECT_TRUE(out->has_value());
    return out->has_value() ? **out : R{};
  }

  answer_ptr<protocol::join_group_response> join(
      const std::string& group, const std::string& member_id, std::int16_t version,
      std::optional<std::string> instance = std::nullopt,
      std::vector<std::pair<std::string, protocol::bytes>> protocols = {{"range", {1}}},
      std::int32_t session_ms = 10'000, std::string protocol_type = "consumer") {
    protocol::join_group_request request;
    request.group_id = group;
    request.member_id = member_id;
    request.group_instance_id = std::move(instance);
    request.session_timeout_ms = session_ms;
    request.rebalance_timeout_ms = 10'000;
    request.protocol_type = std::move(protocol_type);
    for (auto& [name, metadata] : protocols) request.protocols.push_back({name, metadata, {}});
    return start<protocol::join_group_response>([&](auto done) {
      coordinator->join_group(request, version, {"client", "/127.0.0.1"}, std::move(done));
    });
  }

  answer_ptr<protocol::sync_group_response> sync(const std::string& group, std::int32_t generation,
                                                 const std::string& member_id,
                                                 std::vector<std::pair<std::string, protocol::bytes>> assignments,
                                                 std::int16_t version = 3,
                                                 std::optional<std::string> protocol_type = std::nullopt,
                                                 std::optional<std::string> protocol_name = std::nullopt,
                                                 std::optional<std::string> instance = std::nullopt) {
    protocol::sync_group_request request;
    request.group_id = group;
    request.generation_id = generation;
    request.member_id = member_id;
    request.group_instance_id = std::move(instance);
    request.protocol_type = std::move(protocol_type);
    request.protocol_name = std::move(protocol_name);
    for (auto& [id, a] : assignments) request.assignments.push_back({id, a, {}});
    return start<protocol::sync_group_response>(
        [&](auto done) { coordinator->sync_group(request, version, std::move(done)); });
  }

  protocol::error_code heartbeat(const std::string& group, std::int32_t generation, const std::string& member_id,
                                 std::optional<std::string> instance = std::nullopt) {
    protocol::heartbeat_request request;
    request.group_id = group;
    request.generation_id = generation;
    request.member_id = member_id;
    request.group_instance_id = std::move(instance);
    return err(
        run<protocol::heartbeat_response>([&](auto done) { coordinator->heartbeat(request, 4, std::move(done)); }));
  }

  protocol::error_code leave_v0(const std::string& group, const std::string& member_id) {
    protocol::leave_group_request request;
    request.group_id = group;
    request.member_id = member_id;
    return err(
        run<protocol::leave_group_response>([&](auto done) { coordinator->leave_group(request, 0, std::move(done)); }));
  }

  answer_ptr<protocol::offset_commit_response> commit_async(const std::string& group, std::int32_t generation,
                                                            const std::string& member_id, const std::string& topic,
                                                            std::int32_t partition, std::int64_t offset,
                                                            std::int16_t version = 7,
                                                            std::optional<std::string> instance = std::nullopt,
                                                            std::string metadata = "meta",
                                                            std::int64_t retention_ms = -1) {
    protocol::offset_commit_request request;
    request.group_id = group;
    request.generation_id_or_member_epoch = generation;
    request.member_id = member_id;
    request.group_instance_id = std::move(instance);
    request.retention_time_ms = retention_ms;
    auto& t = request.topics.emplace_back();
    t.name = topic;
    auto& p = t.partitions.emplace_back();
    p.partition_index = partition;
    p.committed_offset = offset;
    p.committed_metadata = std::move(metadata);
    return start<protocol::offset_commit_response>(
        [&](auto done) { coordinator->commit_offsets(request, version, std::move(done)); });
  }
  protocol::error_code commit(const std::string& group, std::int32_t generation, const std::string& member_id,
                              const std::string& topic, std::int32_t partition, std::int64_t offset,
                              std::int16_t version = 7, std::optional<std::string> instance = std::nullopt) {
    auto answer = commit_async(group, generation, member_id, topic, partition, offset, version, std::move(instance));
    EXPECT_TRUE(answer->has_value());
    if (!answer->has_value()) return protocol::error_code::unknown_server_error;
    return static_cast<protocol::error_code>((*answer)->topics.at(0).partitions.at(0).error_code);
  }

  protocol::offset_fetch_response fetch(const std::string& group, std::optional<std::vector<std::string>> topics,
                                        std::int16_t version = 7) {
    protocol::offset_fetch_request request;
    request.group_id = group;
    if (topics) {
      request.topics.emplace();
      for (const auto& t : *topics) request.topics->push_back({t, {0, 1, 2, 3, 4, 5}, {}});
    } else {
      request.topics.reset();
    }
    return run<protocol::offset_fetch_response>(
        [&](auto done) { coordinator->fetch_offsets(request, version, std::move(done)); });
  }
  // The committed offset of one partition (-1: none).
  std::int64_t fetched(const std::string& group, const std::string& topic, std::int32_t partition) {
    auto answer = fetch(group, std::vector<std::string>{topic});
    for (const auto& t : answer.topics) {
      for (const auto& p : t.partitions) {
        if (t.name == topic && p.partition_index == partition) return p.committed_offset;
      }
    }
    return -2;
  }

  std::string state_of(const std::string& group) {
    protocol::describe_groups_request request;
    request.groups.push_back(group);
    auto answer = run<protocol::describe_groups_response>(
        [&](auto done) { coordinator->describe_groups(request, 5, std::move(done)); });
    return answer.groups.empty() ? std::string() : answer.groups[0].group_state;
  }

  // A Stable group of `members` dynamic members (JoinGroup v3), generation 1; returns the member ids, leader first.
  std::vector<std::string> stable_group(const std::string& group, int members) {
    std::vector<answer_ptr<protocol::join_group_response>> joins;
    for (int i = 0; i < members; ++i) joins.push_back(join(group, "", 3));
    timers.advance(10'000);
    std::vector<std::string> ids;
    for (auto& j : joins) {
      EXPECT_TRUE(j->has_value());
      if (!j->has_value()) return ids;
      if ((*j)->leader == (*j)->member_id) {
        ids.insert(ids.begin(), (*j)->member_id);
      } else {
        ids.push_back((*j)->member_id);
      }
    }
    for (std::size_t i = ids.size(); i-- > 0;) {
      sync(group, 1, ids[i], {});  // followers first, the leader last
    }
    EXPECT_EQ(state_of(group), "Stable");
    return ids;
  }
  std::pair<std::string, std::string> stable_pair(const std::string& group) {
    auto ids = stable_group(group, 2);
    EXPECT_EQ(ids.size(), 2u);
    ids.resize(2);
    return {ids[0], ids[1]};
  }

  coordinator_settings settings;
  fake_timers timers;
  recording_store store;
  std::unique_ptr<group_coordinator> coordinator;
  const std::int64_t start_ms = fake_timers().now_ms();
};

}  // namespace vltava::broker::group::testing
