// Work the coordinator must do after releasing a group's mutex: answering clients and calling the store (whose
// callback may run inline and lock the group again). Declared before the lock, so it runs after the unlock.
#pragma once

#include <functional>
#include <utility>
#include <vector>

namespace vltava::broker::group {

class deferred_actions {
 public:
  deferred_actions() = default;
  deferred_actions(const deferred_actions&) = delete;
  deferred_actions& operator=(const deferred_actions&) = delete;
  ~deferred_actions() { run(); }

  void add(std::function<void()> action) { actions_.push_back(std::move(action)); }
  // Runs the actions in the order added (an action may add more; they run too).
  void run() {
    for (std::size_t i = 0; i < actions_.size(); ++i) {
      auto action = std::move(actions_[i]);
      action();
    }
    actions_.clear();
  }

 private:
  std::vector<std::function<void()>> actions_;
};

}  // namespace vltava::broker::group
