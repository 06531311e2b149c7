// Test doubles for the group coordinator: a fake clock whose timers fire only when the test advances it, and a
// group_store that records every call and completes it at once, on demand, or with an injected error.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "vltava/broker/group/group_coordinator.h"
#include "vltava/broker/group/group_store.h"
#include "vltava/broker/group/group_timers.h"
#include "vltava/broker/group/memory_group_store.h"

namespace vltava::broker::group::testing {

class fake_timers final : public group_timers {
 public:
  std::int64_t now_ms() const override { return now_; }
  timer_id schedule(std::int64_t delay_ms, std::function<void()> fire) override {
    const timer_id id = next_id_++;
    due_.emplace(std::make_pair(now_ + std::max<std::int64_t>(delay_ms, 0), id), std::move(fire));
    return id;
  }
  void cancel(timer_id id) override {
    for (auto it = due_.begin(); it != due_.end(); ++it) {
      if (it->first.second == id) {
        due_.erase(it);
        return;
      }
    }
  }
  // Moves time forward by `ms`, firing every timer that falls due, in order, with the clock at its due time.
  void advance(std::int64_t ms) {
    const std::int64_t until = now_ + ms;
    while (!due_.empty() && due_.begin()->first.first <= until) {
      auto node = due_.extract(due_.begin());
      now_ = node.key().first;
      node.mapped()();
    }
    now_ = until;
  }
  std::size_t pending() const { return due_.size(); }

 private:
  std::int64_t now_ = 1'700'000'000'000;
  timer_id next_id_ = 1;
  std::map<std::pair<std::int64_t, timer_id>, std::function<void()>> due_;
};

// Records calls; by default applies them to an inner memory_group_store and completes at once with NONE.
class recording_store final : public group_store {
 public:
  explicit recording_store(std::int32_t partitions = 4) : inner_(partitions) {}

  struct call {
    std::string kind;  // "offsets", "group", "delete_offsets", "delete_group"
    std::string group_id;
    std::optional<group_record> group;
    std::vector<std::pair<topic_partition, committed_offset>> offsets;
    std::vector<topic_partition> deleted;
  };

  std::vector<call> calls;
  bool hold = false;                                            // keep callbacks until release()
  protocol::error_code fail_with = protocol::error_code::none;  // complete with this error (and do not apply)

  std::int32_t partition_count() const override { return inner_.partition_count(); }
  void store_offsets(const std::string& group_id,
                     const std::vector<std::pair<topic_partition, committed_offset>>& offsets,
                     store_callback done) override {
    calls.push_back({"offsets", group_id, std::nullopt, offsets, {}});
    finish([=, this](store_callback d) { inner_.store_offsets(group_id, offsets, std::move(d)); }, std::move(done));
  }
  void store_group(const group_record& group, store_callback done) override {
    calls.push_back({"group", group.group_id, group, {}, {}});
    finish([=, this](store_callback d) { inner_.store_group(group, std::move(d)); }, std::move(done));
  }
  void delete_offsets(const std::string& group_id, const std::vector<topic_partition>& offsets,
                      store_callback done) override {
    calls.push_back({"delete_offsets", group_id, std::nullopt, {}, offsets});
    finish([=, this](store_callback d) { inner_.delete_offsets(group_id, offsets, std::move(d)); }, std::move(done));
  }
  void delete_group(const std::string& group_id, const std::vector<topic_partition>& offsets,
                    store_callback done) override {
    calls.push_back({"delete_group", group_id, std::nullopt, {}, offsets});
    finish([=, this](store_callback d) { inner_.delete_group(group_id, offsets, std::move(d)); }, std::move(done));
  }
  loaded_partition load(std::int32_t partition) override { return inner_.load(partition); }

  // Completes the held calls, in order.
  void release() {
    auto held = std::move(held_);
    held_.clear();
    for (auto& h : held) h();
  }
  std::size_t held() const { return held_.size(); }
  std::size_t count(const std::string& kind) const {
    std::size_t n = 0;
    for (const auto& c : calls) n += c.kind == kind;
    return n;
  }

 private:
  void finish(std::function<void(store_callback)> apply, store_callback done) {
    auto complete = [this, apply = std::move(apply), done = std::move(done), error = fail_with]() mutable {
      if (error != protocol::error_code::none) {
        done(error);
        return;
      }
      apply(std::move(done));
    };
    if (hold) {
      held_.push_back(std::move(complete));
    } else {
      complete();
    }
  }

  memory_group_store inner_;
  std::vector<std::function<void()>> held_;
};

}  // namespace vltava::broker::group::testing
