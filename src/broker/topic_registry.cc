// The topics, built from the partition logs on disk and changed by CreateTopics and DeleteTopics. Kafka keeps topic
// ids and configs in its metadata log; a single Vltava node keeps them next to the data instead: Kafka's
// partition.metadata file (so a log directory moved to Kafka keeps its topic id) and Vltava's topic.config file.
#include "vltava/broker/topic_registry.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>
#include <system_error>

#include <spdlog/spdlog.h>

#include "vltava/broker/partition_waiters.h"
#include "vltava/storage/storage_error.h"

namespace vltava::broker {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t max_topic_name_length = 249;
constexpr std::string_view cluster_metadata_topic = "__cluster_metadata";
constexpr std::string_view base64url_alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// Kafka's Topic.hasCollision: '.' and '_' are the same character in metric names.
std::string unify_collision_chars(std::string_view name) {
  std::string out(name);
  std::replace(out.begin(), out.end(), '.', '_');
  return out;
}

bool has_collision_chars(std::string_view name) { return name.find_first_of("._") != std::string_view::npos; }

// Writes contents to path so that a crash leaves either the old file or the new one: a temporary file, fsync,
// rename over the old one, fsync of the directory (as Kafka writes partition.metadata).
std::error_code write_file_durably(const fs::path& path, std::string_view contents) {
  const fs::path temporary = path.string() + ".tmp";
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return {errno, std::generic_category()};
  std::size_t written = 0;
  while (written < contents.size()) {
    const ssize_t n = ::write(fd, contents.data() + written, contents.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::error_code ec(errno, std::generic_category());
      ::close(fd);
      return ec;
    }
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const std::error_code ec(errno, std::generic_category());
    ::close(fd);
    return ec;
  }
  if (::close(fd) != 0) return {errno, std::generic_category()};
  if (::rename(temporary.c_str(), path.c_str()) != 0) return {errno, std::generic_category()};
  const int dir = ::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return {errno, std::generic_category()};
  const int synced = ::fsync(dir);
  const std::error_code ec = synced == 0 ? std::error_code() : std::error_code(errno, std::generic_category());
  ::close(dir);
  return ec;
}

std::optional<std::string> read_small_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return std::move(text).str();
}

std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(" \t\r");
  return text.substr(first, last - first + 1);
}

// Kafka's format: "version: 0\ntopic_id: <id>" (each line split at ':' followed by whitespace).
std::string format_partition_metadata(const protocol::uuid& id) {
  return "version: 0\ntopic_id: " + topic_id_to_string(id);
}

bool parse_partition_metadata(std::string_view text, protocol::uuid& out) {
  std::optional<std::string_view> version;
  std::optional<std::string_view> topic_id;
  while (!text.empty()) {
    const auto newline = text.find('\n');
    const std::string_view line = text.substr(0, newline);
    text = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
    if (trim(line).empty()) continue;
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) return false;
    const auto key = trim(line.substr(0, colon));
    const auto value = trim(line.substr(colon + 1));
    if (key == "version") {
      version = value;
    } else if (key == "topic_id") {
      topic_id = value;
    }
  }
  return version == std::string_view("0") && topic_id && parse_topic_id(*topic_id, out) && !out.is_zero();
}

std::string format_topic_config(const std::map<std::string, std::string>& overrides) {
  std::string out = "# Topic-level configuration overrides, given at creation (written by Vltava)\n";
  for (const auto& [key, value] : overrides) out += key + "=" + value + "\n";
  return out;
}

std::map<std::string, std::string> parse_topic_config(std::string_view text) {
  std::map<std::string, std::string> out;
  while (!text.empty()) {
    const auto newline = text.find('\n');
    const std::string_view line = trim(text.substr(0, newline));
    text = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
    if (line.empty() || line.front() == '#') continue;
    const auto equals = line.find('=');
    if (equals == std::string_view::npos || equals == 0) continue;
    out.insert_or_assign(std::string(line.substr(0, equals)), std::string(line.substr(equals + 1)));
  }
  return out;
}

std::string describe(std::error_code ec) { return ec.message(); }

// As Kafka's Uuid.randomUuid: a version-4 UUID, never zero, never the metadata topic's id (0, 1), never one whose
// text starts with '-' (it would read as a command-line option).
protocol::uuid random_topic_id() {
  std::random_device random;
  protocol::uuid metadata_topic;
  metadata_topic.value[15] = 1;
  for (;;) {
    protocol::uuid id;
    for (std::size_t i = 0; i < id.value.size(); i += 4) {
      const std::uint32_t word = random();
      for (std::size_t j = 0; j < 4; ++j) id.value[i + j] = static_cast<std::uint8_t>(word >> (8 * j));
    }
    id.value[6] = static_cast<std::uint8_t>((id.value[6] & 0x0f) | 0x40);
    id.value[8] = static_cast<std::uint8_t>((id.value[8] & 0x3f) | 0x80);
    if (id.is_zero() || id == metadata_topic || topic_id_to_string(id).front() == '-') continue;
    return id;
  }
}

}  // namespace

std::string invalid_topic_name_reason(std::string_view name) {
  // Kafka's Topic.validate, with its messages.
  if (name.empty()) return "Topic name is illegal, it can't be empty";
  if (name == "." || name == "..") return "Topic name cannot be \".\" or \"..\"";
  if (name.size() > max_topic_name_length) {
    return "Topic name is illegal, it can't be longer than " + std::to_string(max_topic_name_length) +
           " characters, topic name: " + std::string(name);
  }
  for (const char c : name) {
    const bool valid =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!valid) {
      return "Topic name \"" + std::string(name) +
             "\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'";
    }
  }
  return {};
}

bool is_internal_topic(std::string_view name) {
  return name == "__consumer_offsets" || name == "__transaction_state" || name == "__share_group_state";
}

std::string topic_id_to_string(const protocol::uuid& id) {
  std::string out;
  out.reserve(22);
  const auto& bytes = id.value;
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t group = (std::uint32_t{bytes[i]} << 16) | (std::uint32_t{bytes[i + 1]} << 8) | bytes[i + 2];
    for (int shift = 18; shift >= 0; shift -= 6) out.push_back(base64url_alphabet[(group >> shift) & 0x3f]);
  }
  // 16 bytes: one byte left, two characters, no padding.
  const std::uint32_t last = std::uint32_t{bytes[i]} << 16;
  out.push_back(base64url_alphabet[(last >> 18) & 0x3f]);
  out.push_back(base64url_alphabet[(last >> 12) & 0x3f]);
  return out;
}

bool parse_topic_id(std::string_view text, protocol::uuid& out) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  if (text.size() != 22) return false;
  std::array<std::uint8_t, 17> bytes{};  // 22 characters hold 132 bits: 16 bytes and 4 bits that must be zero
  std::uint32_t buffer = 0;
  int bits = 0;
  std::size_t n = 0;
  for (const char c : text) {
    const auto digit = base64url_alphabet.find(c);
    if (digit == std::string_view::npos) return false;
    buffer = (buffer << 6) | static_cast<std::uint32_t>(digit);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes[n++] = static_cast<std::uint8_t>((buffer >> bits) & 0xff);
    }
  }
  if ((buffer & ((1u << bits) - 1)) != 0) return false;  // the unused low bits of the last character
  std::copy_n(bytes.begin(), 16, out.value.begin());
  return true;
}

topic_registry::topic_registry(storage::log_manager& logs, storage::log_config defaults,
                               topic_config_applier apply_config, topic_creation_defaults creation)
    : logs_(logs), defaults_(std::move(defaults)), apply_config_(apply_config), creation_(creation) {}

std::error_code topic_registry::load() {
  std::lock_guard admin(admin_mutex_);
  std::map<std::string, std::map<std::int32_t, std::shared_ptr<storage::partition_log>>> found;
  for (const auto& tp : logs_.partitions()) {
    if (auto reason = invalid_topic_name_reason(tp.topic); !reason.empty()) {
      spdlog::error("topics: not serving log {}: {}", tp.directory_name(), reason);
      continue;
    }
    if (auto log = logs_.get(tp)) found[tp.topic].emplace(tp.partition, std::move(log));
  }

  std::map<std::string, std::shared_ptr<const topic>, std::less<>> by_name;
  std::map<protocol::uuid, std::shared_ptr<const topic>> by_id;
  for (auto& [name, logs] : found) {
    // Serve 0..n-1: the partition index is the position in topic::partitions everywhere else.
    std::int32_t count = 0;
    while (logs.contains(count)) ++count;
    if (count != static_cast<std::int32_t>(logs.size())) {
      std::string left_out;
      for (const auto& [index, log] : logs) {
        if (index >= count) left_out += (left_out.empty() ? "" : ", ") + std::to_string(index);
      }
      spdlog::error("topics: topic {} lacks partition {}; not serving its partitions {} (fix or remove them)", name,
                    count, left_out);
    }
    if (count == 0) continue;

    auto loaded = std::make_shared<topic>();
    loaded->name = name;
    loaded->internal = is_internal_topic(name);

    // The topic id: the first partition's readable partition.metadata decides; the others should agree.
    std::vector<bool> needs_metadata(static_cast<std::size_t>(count), true);
    std::optional<protocol::uuid> id;
    for (std::int32_t index = 0; index < count; ++index) {
      const auto path = logs[index]->directory() / partition_metadata_file_name;
      auto text = read_small_file(path);
      if (!text) continue;  // missing: written below
      protocol::uuid partition_id;
      if (!parse_partition_metadata(*text, partition_id)) {
        spdlog::error("topics: {} is malformed; rewriting it with the topic's id", path.string());
        continue;
      }
      needs_metadata[static_cast<std::size_t>(index)] = false;
      if (!id) {
        id = partition_id;
      } else if (*id != partition_id) {
        spdlog::error("topics: {} holds topic id {}, but partition 0 of {} has {}; using {}", path.string(),
                      topic_id_to_string(partition_id), name, topic_id_to_string(*id), topic_id_to_string(*id));
      }
    }
    if (id && by_id.contains(*id)) {
      spdlog::error("topics: topic {} has the topic id {} of topic {}; giving {} a new id", name,
                    topic_id_to_string(*id), by_id[*id]->name, name);
      id.reset();
      std::fill(needs_metadata.begin(), needs_metadata.end(), true);
    }
    if (!id) {
      protocol::uuid fresh;
      do {
        fresh = random_topic_id();
      } while (by_id.contains(fresh));
      id = fresh;
      spdlog::info("topics: topic {} had no topic id; assigned {}", name, topic_id_to_string(*id));
    }
    loaded->id = *id;
    for (std::int32_t index = 0; index < count; ++index) {
      if (!needs_metadata[static_cast<std::size_t>(index)]) continue;
      const auto path = logs[index]->directory() / partition_metadata_file_name;
      if (auto ec = write_file_durably(path, format_partition_metadata(loaded->id))) {
        spdlog::error("topics: cannot write {}: {}", path.string(), describe(ec));
        return ec;
      }
    }

    // Config overrides: the first partition holding a topic.config (all are written alike).
    for (std::int32_t index = 0; index < count; ++index) {
      if (auto text = read_small_file(logs[index]->directory() / topic_config_file_name)) {
        loaded->config_overrides = parse_topic_config(*text);
        break;
      }
    }
    storage::log_config config = defaults_;
    std::map<std::string, std::string> applied;
    for (const auto& [key, value] : loaded->config_overrides) {
      storage::log_config attempt = config;
      const auto problem = apply_config_ ? apply_config_(attempt, key, value) : "Unknown topic config name: " + key;
      if (!problem.empty()) {
        spdlog::error("topics: ignoring the override {}={} of topic {}: {}", key, value, name, problem);
        continue;
      }
      config = attempt;
      applied.emplace(key, value);
    }
    loaded->config_overrides = std::move(applied);
    if (const auto problem = config.validate(); !problem.empty()) {
      spdlog::error("topics: the overrides of topic {} are invalid together ({}); serving it with the defaults", name,
                    problem);
      config = defaults_;
      loaded->config_overrides.clear();
    }

    for (std::int32_t index = 0; index < count; ++index) {
      logs[index]->set_config(config);
      loaded->partitions.push_back({index, logs[index], std::make_shared<partition_waiters>()});
    }
    by_id.emplace(loaded->id, loaded);
    by_name.emplace(name, std::move(loaded));
  }

  std::unique_lock lock(mutex_);
  by_name_ = std::move(by_name);
  by_id_ = std::move(by_id);
  spdlog::info("topics: serving {} topics", by_name_.size());
  return {};
}

std::shared_ptr<const topic> topic_registry::find(std::string_view name) const {
  std::shared_lock lock(mutex_);
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

std::shared_ptr<const topic> topic_registry::find(const protocol::uuid& id) const {
  std::shared_lock lock(mutex_);
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<const topic>> topic_registry::all() const {
  std::shared_lock lock(mutex_);
  std::vector<std::shared_ptr<const topic>> out;
  out.reserve(by_name_.size());
  for (const auto& [name, t] : by_name_) out.push_back(t);
  return out;
}

topic_registry::create_result topic_registry::check_new_name(std::string_view name) const {
  using protocol::error_code;
  if (auto reason = invalid_topic_name_reason(name); !reason.empty()) {
    return {error_code::invalid_topic_exception, std::move(reason), nullptr};
  }
  if (name == cluster_metadata_topic) {
    return {error_code::invalid_request,
            "Creation of internal topic " + std::string(cluster_metadata_topic) + " is prohibited.", nullptr};
  }
  std::shared_lock lock(mutex_);
  if (by_name_.contains(name)) {
    return {error_code::topic_already_exists, "Topic '" + std::string(name) + "' already exists.", nullptr};
  }
  if (has_collision_chars(name)) {
    const auto unified = unify_collision_chars(name);
    for (const auto& [existing, t] : by_name_) {
      if (has_collision_chars(existing) && unify_collision_chars(existing) == unified) {
        return {error_code::invalid_topic_exception,
                "Topic '" + std::string(name) + "' collides with existing topic: " + existing, nullptr};
      }
    }
  }
  return {};
}

std::string topic_registry::check_configs(const std::map<std::string, std::string>& configs,
                                          storage::log_config& out) const {
  storage::log_config config = defaults_;
  for (const auto& [key, value] : configs) {
    // topic.config holds one key=value per line.
    if (key.find_first_of("=\n\r") != std::string::npos || value.find_first_of("\n\r") != std::string::npos) {
      return "Invalid value " + value + " for configuration " + key;
    }
    if (!apply_config_) return "Unknown topic config name: " + key;
    if (auto problem = apply_config_(config, key, value); !problem.empty()) return problem;
  }
  if (auto problem = config.validate(); !problem.empty()) return problem;
  out = config;
  return {};
}

topic_registry::create_result topic_registry::create(const std::string& name, std::int32_t partitions,
                                                     std::int16_t replication_factor,
                                                     const std::map<std::string, std::string>& configs,
                                                     bool validate_only) {
  using protocol::error_code;
  std::lock_guard admin(admin_mutex_);  // no other creation or deletion until this one is registered
  if (auto checked = check_new_name(name); checked.error != error_code::none) return checked;
  storage::log_config config;
  if (auto problem = check_configs(configs, config); !problem.empty()) {
    return {error_code::invalid_config, std::move(problem), nullptr};
  }
  if (replication_factor < -1 || replication_factor == 0) {
    return {error_code::invalid_replication_factor,
            "Replication factor must be larger than 0, or -1 to use the default value.", nullptr};
  }
  if (partitions < -1 || partitions == 0) {
    return {error_code::invalid_partitions, "Number of partitions was set to an invalid non-positive value.", nullptr};
  }
  const std::int32_t count = partitions == -1 ? creation_.num_partitions : partitions;
  const std::int16_t replicas = replication_factor == -1 ? creation_.replication_factor : replication_factor;
  if (replicas != 1) {
    // Kafka's words (ReplicationControlManager and StripedReplicaPlacer) for a cluster of one broker.
    return {error_code::invalid_replication_factor,
            "Unable to replicate the partition " + std::to_string(replicas) +
                " time(s): The target replication factor of " + std::to_string(replicas) +
                " cannot be reached because only 1 broker(s) are registered.",
            nullptr};
  }
  if (count <= 0 || count > max_partitions_per_topic) {
    return {error_code::invalid_partitions,
            "Number of partitions " + std::to_string(count) + " is outside 1.." +
                std::to_string(max_partitions_per_topic) + ", the range this broker accepts for one topic.",
            nullptr};
  }

  auto created = std::make_shared<topic>();
  created->name = name;
  do {
    created->id = random_topic_id();
  } while (find(created->id));  // no other creation runs meanwhile
  created->config_overrides = configs;
  created->internal = is_internal_topic(name);
  if (validate_only) {
    for (std::int32_t index = 0; index < count; ++index) created->partitions.push_back({index, nullptr, nullptr});
    return {error_code::none, {}, std::move(created)};
  }

  const auto fail = [&](const storage::topic_partition& tp, const std::string& what, std::error_code ec) {
    spdlog::error("topics: creating topic {} failed: {} {}: {}", name, what, tp.directory_name(), describe(ec));
    for (const auto& made : created->partitions) {
      if (auto removal = logs_.remove({name, made.index})) {
        spdlog::error("topics: cannot remove {}-{} after the failed creation: {}", name, made.index, describe(removal));
      }
    }
    return create_result{error_code::kafka_storage_error,
                         "Cannot create topic " + name + ": " + what + " " + tp.directory_name() + ": " + describe(ec),
                         nullptr};
  };
  const std::string metadata = format_partition_metadata(created->id);
  const std::string overrides = format_topic_config(configs);
  for (std::int32_t index = 0; index < count; ++index) {
    const storage::topic_partition tp{name, index};
    std::shared_ptr<storage::partition_log> log;
    if (auto ec = logs_.create(tp, config, log)) {
      // already_exists: a log the registry does not serve (a partition after a gap at startup) is in the way.
      return fail(tp, "cannot create the log", ec);
    }
    created->partitions.push_back({index, log, std::make_shared<partition_waiters>()});
    if (auto ec = write_file_durably(log->directory() / partition_metadata_file_name, metadata)) {
      return fail(tp, "cannot write partition.metadata of", ec);
    }
    if (!configs.empty()) {
      if (auto ec = write_file_durably(log->directory() / topic_config_file_name, overrides)) {
        return fail(tp, "cannot write topic.config of", ec);
      }
    }
  }
  {
    std::unique_lock lock(mutex_);
    insert(created);
  }
  spdlog::info("topics: created topic {} with {} partitions, topic id {}", name, count,
               topic_id_to_string(created->id));
  return {error_code::none, {}, std::move(created)};
}

protocol::error_code topic_registry::remove(const std::string& name) {
  std::lock_guard admin(admin_mutex_);
  std::shared_ptr<const topic> removed;
  {
    std::unique_lock lock(mutex_);
    auto it = by_name_.find(name);
    if (it == by_name_.end()) return protocol::error_code::unknown_topic_or_partition;
    removed = std::move(it->second);
    by_name_.erase(it);
    by_id_.erase(removed->id);
  }
  // Produces and fetches still holding the snapshot fail on the closed logs from here on.
  protocol::error_code result = protocol::error_code::none;
  for (const auto& p : removed->partitions) {
    if (auto ec = logs_.remove({name, p.index})) {
      spdlog::error("topics: deleting {}-{} failed: {}", name, p.index, describe(ec));
      result = protocol::error_code::kafka_storage_error;
    }
    if (p.waiters) p.waiters->notify_all();  // long-polling fetches answer now instead of at their deadline
  }
  spdlog::info("topics: deleted topic {} (topic id {})", name, topic_id_to_string(removed->id));
  return result;
}

void topic_registry::insert(std::shared_ptr<const topic> created) {
  by_id_.emplace(created->id, created);
  by_name_.emplace(created->name, std::move(created));
}

}  // namespace vltava::broker
