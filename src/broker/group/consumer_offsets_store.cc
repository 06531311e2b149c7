// The coordinator's durable state in __consumer_offsets: records encoded in Kafka's format, appended as one batch
// per write and made durable by the group-commit flusher; load() folds a partition back into its latest state.
#include "vltava/broker/group/consumer_offsets_store.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <utility>

#include "vltava/broker/partition_waiters.h"
#include "vltava/protocol/codec_error.h"
#include "vltava/protocol/messages/group_coordinator_records.h"
#include "vltava/protocol/record_batch.h"
#include "vltava/protocol/record_batch_builder.h"
#include "vltava/storage/storage_error.h"

namespace vltava::broker::group {
namespace {

using protocol::error_code;

// Key versions: 0 and 1 are offset commits (same layout; Kafka writes 1), 2 is group metadata, 3 and up belong to
// the KIP-848 coordinator's other group types.
constexpr std::int16_t offset_key_version = 1;
constexpr std::int16_t group_key_version = 2;
constexpr std::int16_t first_unknown_key_version = 3;
// Value versions Kafka's classic coordinator writes (before the metadata versions that bring v4).
constexpr std::int16_t offset_value_version = 3;
constexpr std::int16_t offset_value_version_with_expiry = 1;
constexpr std::int16_t group_value_version = 3;

// A single node leads every partition in epoch 0, the epoch Metadata reports (Produce stamps the same).
constexpr std::int32_t leader_epoch = 0;
// How much load() reads at a time (at least one whole batch however large).
constexpr std::uint64_t load_read_bytes = 1024 * 1024;

// Control records (transaction markers): int16 version, int16 type.
constexpr std::int16_t control_type_abort = 0;
constexpr std::int16_t control_type_commit = 1;

template <class Message>
std::error_code encode_versioned(const Message& message, std::int16_t version, protocol::bytes& out) {
  protocol::writer w(out);
  w.write_int16(version);
  return message.encode(w, version);
}

std::error_code encode_offset_key(const std::string& group_id, const topic_partition& tp, protocol::bytes& out) {
  protocol::offset_commit_key key;
  key.group = group_id;
  key.topic = tp.topic;
  key.partition = tp.partition;
  return encode_versioned(key, offset_key_version, out);
}

std::error_code encode_offset_value(const committed_offset& offset, protocol::bytes& out) {
  protocol::offset_commit_value value;
  value.offset = offset.offset;
  value.leader_epoch = offset.leader_epoch;
  value.metadata = offset.metadata;
  value.commit_timestamp = offset.commit_timestamp_ms;
  value.expire_timestamp = offset.expire_timestamp_ms;
  // v1 is the only version with the expiry; Kafka writes it just for commits that ask for one.
  const std::int16_t version =
      offset.expire_timestamp_ms >= 0 ? offset_value_version_with_expiry : offset_value_version;
  return encode_versioned(value, version, out);
}

std::error_code encode_group_key(const std::string& group_id, protocol::bytes& out) {
  protocol::group_metadata_key key;
  key.group = group_id;
  return encode_versioned(key, group_key_version, out);
}

std::error_code encode_group_value(const group_record& group, protocol::bytes& out) {
  protocol::group_metadata_value value;
  value.protocol_type = group.protocol_type;
  value.generation = group.generation;
  value.protocol = group.protocol_name;
  value.leader = group.leader;
  value.current_state_timestamp = group.current_state_timestamp_ms;
  value.members.reserve(group.members.size());
  for (const auto& member : group.members) {
    auto& out_member = value.members.emplace_back();
    out_member.member_id = member.member_id;
    out_member.group_instance_id = member.group_instance_id;
    out_member.client_id = member.client_id;
    out_member.client_host = member.client_host;
    out_member.rebalance_timeout = member.rebalance_timeout_ms;
    out_member.session_timeout = member.session_timeout_ms;
    out_member.subscription = member.subscription;
    out_member.assignment = member.assignment;
  }
  return encode_versioned(value, group_value_version, out);
}

committed_offset to_committed_offset(const protocol::offset_commit_value& value, std::int16_t version) {
  committed_offset out;
  out.offset = value.offset;
  out.leader_epoch = version >= 3 ? value.leader_epoch : -1;
  out.metadata = value.metadata;
  out.commit_timestamp_ms = value.commit_timestamp;
  out.expire_timestamp_ms = version == 1 ? value.expire_timestamp : -1;
  return out;
}

group_record to_group_record(const std::string& group_id, const protocol::group_metadata_value& value,
                             std::int16_t version) {
  group_record out;
  out.group_id = group_id;
  out.protocol_type = value.protocol_type;
  out.generation = value.generation;
  out.protocol_name = value.protocol;
  out.leader = value.leader;
  out.current_state_timestamp_ms = version >= 2 ? value.current_state_timestamp : -1;
  out.members.reserve(value.members.size());
  for (const auto& member : value.members) {
    auto& m = out.members.emplace_back();
    m.member_id = member.member_id;
    m.group_instance_id = version >= 3 ? member.group_instance_id : std::nullopt;
    m.client_id = member.client_id;
    m.client_host = member.client_host;
    // v0 has no rebalance timeout: the session timeout served as both.
    m.rebalance_timeout_ms = version >= 1 ? member.rebalance_timeout : member.session_timeout;
    m.session_timeout_ms = member.session_timeout;
    m.subscription = member.subscription;
    m.assignment = member.assignment;
  }
  return out;
}

// Reads "int16 version, then the message in that version" from bytes; false (and a reason) when it does not decode.
template <class Message>
bool decode_value(protocol::byte_span data, Message& out, std::int16_t& version, std::string& reason) {
  protocol::reader r(data);
  version = r.read_int16();
  if (!r.ok()) {
    reason = "value shorter than its version";
    return false;
  }
  if (!Message::has_version(version)) {
    reason = "unknown value version " + std::to_string(version);
    return false;
  }
  if (auto ec = out.decode(r, version)) {
    reason = "value v" + std::to_string(version) + " does not decode: " + ec.message();
    return false;
  }
  return true;
}

// Folds records, in log order, into the latest state per key.
class partition_loader {
 public:
  partition_loader(std::string name, loaded_partition& out) : name_(std::move(name)), out_(out) {}

  void apply_batch(const protocol::record_batch_view& batch) {
    const auto& header = batch.header();
    if (auto ec = batch.validate()) {
      spdlog::warn("group store: {}: skipping the batch at offset {}: {}", name_, header.base_offset, ec.message());
      return;
    }
    if (auto ec = reader_.open(batch)) {
      spdlog::warn("group store: {}: skipping the batch at offset {}: {}", name_, header.base_offset, ec.message());
      return;
    }
    protocol::record_view r;
    if (header.attributes.control()) {
      if (reader_.next(r)) apply_marker(header.producer_id, batch.offset_of(r), r);
    } else {
      while (reader_.next(r)) {
        if (header.attributes.transactional()) {
          auto& pending = pending_transactions_[header.producer_id];
          pending.push_back({batch.offset_of(r), copy(r.key), copy(r.value)});
        } else {
          apply(batch.offset_of(r), r.key, r.value);
        }
      }
    }
    if (reader_.error()) {
      spdlog::warn(
          "group store: {}: the batch at offset {} ends in a malformed record ({}); kept the records before it", name_,
          header.base_offset, reader_.error().message());
    }
  }

  // Drops groups that every record was deleted from.
  void finish() {
    if (!pending_transactions_.empty()) {
      spdlog::warn("group store: {}: {} producers' transactional offset commits have no COMMIT marker; ignored", name_,
                   pending_transactions_.size());
    }
    std::erase_if(out_.groups,
                  [](const auto& entry) { return !entry.second.metadata.has_value() && entry.second.offsets.empty(); });
  }

 private:
  struct pending_record {
    std::int64_t offset;
    std::optional<protocol::bytes> key;
    std::optional<protocol::bytes> value;
  };

  static std::optional<protocol::bytes> copy(const std::optional<protocol::byte_span>& data) {
    if (!data) return std::nullopt;
    return protocol::bytes(data->begin(), data->end());
  }
  static std::optional<protocol::byte_span> view(const std::optional<protocol::bytes>& data) {
    if (!data) return std::nullopt;
    return protocol::byte_span(*data);
  }

  void apply_marker(std::int64_t producer_id, std::int64_t offset, const protocol::record_view& marker) {
    std::int16_t type = -1;
    if (marker.key) {
      protocol::reader r(*marker.key);
      (void)r.read_int16();  // the marker's version
      type = r.read_int16();
      if (!r.ok()) type = -1;
    }
    auto it = pending_transactions_.find(producer_id);
    if (type == control_type_commit) {
      if (it != pending_transactions_.end()) {
        for (const auto& p : it->second) apply(p.offset, view(p.key), view(p.value));
      }
    } else if (type != control_type_abort) {
      spdlog::warn("group store: {}: unreadable transaction marker at offset {}; treating it as an abort", name_,
                   offset);
    }
    if (it != pending_transactions_.end()) pending_transactions_.erase(it);
  }

  void apply(std::int64_t offset, const std::optional<protocol::byte_span>& key,
             const std::optional<protocol::byte_span>& value) {
    if (!key) {
      spdlog::warn("group store: {}: skipping the record at offset {}: no key", name_, offset);
      return;
    }
    protocol::reader r(*key);
    const std::int16_t key_version = r.read_int16();
    if (!r.ok()) {
      spdlog::warn("group store: {}: skipping the record at offset {}: key shorter than its version", name_, offset);
      return;
    }
    if (key_version >= first_unknown_key_version) {
      spdlog::debug("group store: {}: skipping the record at offset {}: key version {} (not a classic group record)",
                    name_, offset, key_version);
      return;
    }
    if (key_version == 0 || key_version == 1) {
      apply_offset(offset, key_version, r, value);
    } else if (key_version == group_key_version) {
      apply_group(offset, r, value);
    } else {
      spdlog::warn("group store: {}: skipping the record at offset {}: key version {}", name_, offset, key_version);
    }
  }

  void apply_offset(std::int64_t offset, std::int16_t key_version, protocol::reader& key_reader,
                    const std::optional<protocol::byte_span>& value) {
    protocol::offset_commit_key key;
    if (auto ec = key.decode(key_reader, key_version)) {
      spdlog::warn("group store: {}: skipping the record at offset {}: offset key does not decode: {}", name_, offset,
                   ec.message());
      return;
    }
    const topic_partition tp{key.topic, key.partition};
    if (!value) {
      if (auto it = out_.groups.find(key.group); it != out_.groups.end()) it->second.offsets.erase(tp);
      return;
    }
    protocol::offset_commit_value decoded;
    std::int16_t version = 0;
    std::string reason;
    if (!decode_value(*value, decoded, version, reason)) {
      spdlog::warn("group store: {}: skipping the offset of {} {}-{} at offset {}: {}", name_, key.group, key.topic,
                   key.partition, offset, reason);
      return;
    }
    out_.groups[key.group].offsets.insert_or_assign(tp, to_committed_offset(decoded, version));
  }

  void apply_group(std::int64_t offset, protocol::reader& key_reader, const std::optional<protocol::byte_span>& value) {
    protocol::group_metadata_key key;
    if (auto ec = key.decode(key_reader, group_key_version)) {
      spdlog::warn("group store: {}: skipping the record at offset {}: group key does not decode: {}", name_, offset,
                   ec.message());
      return;
    }
    if (!value) {
      if (auto it = out_.groups.find(key.group); it != out_.groups.end()) it->second.metadata.reset();
      return;
    }
    protocol::group_metadata_value decoded;
    std::int16_t version = 0;
    std::string reason;
    if (!decode_value(*value, decoded, version, reason)) {
      spdlog::warn("group store: {}: skipping the metadata of group {} at offset {}: {}", name_, key.group, offset,
                   reason);
      return;
    }
    out_.groups[key.group].metadata = to_group_record(key.group, decoded, version);
  }

  std::string name_;
  loaded_partition& out_;
  protocol::record_reader reader_;
  std::map<std::int64_t, std::vector<pending_record>> pending_transactions_;  // by producer id
};

}  // namespace

consumer_offsets_store::consumer_offsets_store(topic_registry& topics, storage::group_commit_flusher& flusher,
                                               consumer_offsets_options options)
    : topics_(topics), flusher_(flusher), options_(options) {}

protocol::error_code consumer_offsets_store::start() {
  protocol::error_code error = error_code::none;
  auto found = find_or_create_topic(error);
  return found ? error_code::none : error;
}

std::int32_t consumer_offsets_store::partition_count() const {
  if (auto found = topics_.find(consumer_offsets_topic)) return static_cast<std::int32_t>(found->partitions.size());
  return options_.num_partitions;
}

std::shared_ptr<const topic> consumer_offsets_store::find_or_create_topic(error_code& error) {
  if (auto found = topics_.find(consumer_offsets_topic)) return found;
  std::lock_guard lock(create_mutex_);
  if (auto found = topics_.find(consumer_offsets_topic)) return found;
  // Kafka's settings for the topic: compacted, its own segment size, and the batches kept as the coordinator
  // wrote them.
  const std::map<std::string, std::string> configs = {
      {"cleanup.policy", "compact"},
      {"segment.bytes", std::to_string(options_.segment_bytes)},
      {"compression.type", "producer"},
  };
  auto created = topics_.create(consumer_offsets_topic, options_.num_partitions, 1, configs, false);
  if (created.error == error_code::none && created.created) return created.created;
  if (created.error == error_code::topic_already_exists) {
    if (auto found = topics_.find(consumer_offsets_topic)) return found;  // created by someone else meanwhile
  }
  spdlog::error("group store: cannot create {}: {} ({})", consumer_offsets_topic, protocol::error_name(created.error),
                created.message);
  error = created.error == error_code::kafka_storage_error ? error_code::kafka_storage_error
                                                           : error_code::coordinator_not_available;
  return nullptr;
}

void consumer_offsets_store::store_offsets(const std::string& group_id,
                                           const std::vector<std::pair<topic_partition, committed_offset>>& offsets,
                                           store_callback done) {
  std::vector<record> records;
  records.reserve(offsets.size());
  for (const auto& [tp, offset] : offsets) {
    auto& r = records.emplace_back();
    r.value.emplace();
    if (encode_offset_key(group_id, tp, r.key) || encode_offset_value(offset, *r.value)) {
      spdlog::error("group store: cannot encode the offset of group {} for {}-{}", group_id, tp.topic, tp.partition);
      done(error_code::unknown_server_error);
      return;
    }
  }
  append(group_id, records, std::move(done));
}

void consumer_offsets_store::store_group(const group_record& group, store_callback done) {
  std::vector<record> records(1);
  records[0].value.emplace();
  if (encode_group_key(group.group_id, records[0].key) || encode_group_value(group, *records[0].value)) {
    spdlog::error("group store: cannot encode the metadata of group {}", group.group_id);
    done(error_code::unknown_server_error);
    return;
  }
  append(group.group_id, records, std::move(done));
}

void consumer_offsets_store::delete_offsets(const std::string& group_id, const std::vector<topic_partition>& offsets,
                                            store_callback done) {
  std::vector<record> records(offsets.size());
  for (std::size_t i = 0; i < offsets.size(); ++i) {
    if (encode_offset_key(group_id, offsets[i], records[i].key)) {
      spdlog::error("group store: cannot encode the offset key of group {} for {}-{}", group_id, offsets[i].topic,
                    offsets[i].partition);
      done(error_code::unknown_server_error);
      return;
    }
  }
  append(group_id, records, std::move(done));
}

void consumer_offsets_store::delete_group(const std::string& group_id, const std::vector<topic_partition>& offsets,
                                          store_callback done) {
  // Offsets first, the group last, as Kafka orders them: a reader that stops part way never sees a deleted group
  // whose offsets live on.
  std::vector<record> records(offsets.size() + 1);
  for (std::size_t i = 0; i < offsets.size(); ++i) {
    if (encode_offset_key(group_id, offsets[i], records[i].key)) {
      spdlog::error("group store: cannot encode the offset key of group {} for {}-{}", group_id, offsets[i].topic,
                    offsets[i].partition);
      done(error_code::unknown_server_error);
      return;
    }
  }
  if (encode_group_key(group_id, records.back().key)) {
    spdlog::error("group store: cannot encode the group key of group {}", group_id);
    done(error_code::unknown_server_error);
    return;
  }
  append(group_id, records, std::move(done));
}

void consumer_offsets_store::append(const std::string& group_id, const std::vector<record>& records,
                                    store_callback done) {
  if (records.empty()) {
    done(error_code::none);
    return;
  }
  error_code error = error_code::none;
  auto found = find_or_create_topic(error);
  if (!found) {
    done(error);
    return;
  }
  const auto index = coordinator_partition_for(group_id, static_cast<std::int32_t>(found->partitions.size()));
  const partition& part = found->partitions[static_cast<std::size_t>(index)];
  const std::string name = std::string(consumer_offsets_topic) + "-" + std::to_string(index);
  if (!part.log) {
    done(error_code::kafka_storage_error);
    return;
  }
  storage::partition_log& log = *part.log;

  protocol::record_batch_builder_options batch_options;
  batch_options.partition_leader_epoch = leader_epoch;
  protocol::record_batch_builder builder(batch_options);
  const std::int64_t now = log.context().time->now_ms();
  for (const auto& r : records) {
    std::optional<protocol::byte_span> value;
    if (r.value) value = protocol::byte_span(*r.value);
    builder.append(now, protocol::byte_span(r.key), value);
  }
  protocol::bytes batch;
  if (auto ec = builder.build(batch)) {
    spdlog::warn("group store: {}: cannot build the batch for group {}: {}", name, group_id, ec.message());
    done(ec == protocol::codec_errc::too_large ? error_code::record_list_too_large : error_code::unknown_server_error);
    return;
  }
  const std::int32_t max_bytes = log.config().max_message_bytes;
  if (batch.size() > static_cast<std::size_t>(std::max(max_bytes, 0))) {
    spdlog::warn("group store: {}: the batch for group {} is {} bytes, above max.message.bytes {}", name, group_id,
                 batch.size(), max_bytes);
    done(error_code::record_list_too_large);
    return;
  }

  storage::append_result appended;
  if (auto ec = log.append(std::span<std::uint8_t>(batch), appended)) {
    spdlog::warn("group store: {}: append for group {} failed: {}", name, group_id, ec.message());
    done(error_code::kafka_storage_error);
    return;
  }
  log.set_high_watermark(log.log_end_offset());
  if (part.waiters) part.waiters->notify_all();

  if (!options_.flush_on_acks_all) {
    done(error_code::none);
    return;
  }
  flusher_.flush_through(part.log, appended.last_offset, [done = std::move(done), name, group_id](std::error_code ec) {
    if (ec) {
      spdlog::warn("group store: {}: fsync for group {} failed: {}", name, group_id, ec.message());
    }
    done(ec ? error_code::kafka_storage_error : error_code::none);
  });
}

loaded_partition consumer_offsets_store::load(std::int32_t partition_index) {
  loaded_partition out;
  // Nothing to load before the first write: the topic is created then (as Kafka creates it on first use), so a
  // broker that never sees a consumer group does not make 50 partitions at start.
  auto found = topics_.find(consumer_offsets_topic);
  if (!found) return out;
  if (partition_index < 0 || static_cast<std::size_t>(partition_index) >= found->partitions.size()) {
    spdlog::error("group store: cannot load {}-{}: the topic has {} partitions", consumer_offsets_topic,
                  partition_index, found->partitions.size());
    return out;
  }
  const auto& log = found->partitions[static_cast<std::size_t>(partition_index)].log;
  const std::string name = std::string(consumer_offsets_topic) + "-" + std::to_string(partition_index);
  if (!log) {
    spdlog::error("group store: cannot load {}: the log is offline", name);
    return out;
  }

  partition_loader loader(name, out);
  std::int64_t offset = log->log_start_offset();
  const std::int64_t end = log->log_end_offset();
  protocol::bytes data;
  while (offset < end) {
    storage::read_result result;
    if (auto ec = log->read(offset, load_read_bytes, end, true, result)) {
      spdlog::error("group store: loading {} stopped at offset {} of {}: {}", name, offset, end, ec.message());
      break;
    }
    data.clear();
    if (auto ec = result.records.read_into(data)) {
      spdlog::error("group store: loading {} stopped at offset {} of {}: {}", name, offset, end, ec.message());
      break;
    }
    std::int64_t next = offset;
    protocol::record_batch_splitter splitter(data, protocol::truncated_tail::allow);
    protocol::record_batch_view batch;
    while (splitter.next(batch)) {
      const std::int64_t last = batch.header().last_offset();
      if (last < offset) continue;  // read from before offset: already loaded
      loader.apply_batch(batch);
      next = std::max(next, last + 1);
    }
    if (splitter.error()) {
      spdlog::warn("group store: {}: unreadable batch after offset {}: {}", name, next, splitter.error().message());
    }
    if (next <= offset) {
      spdlog::error("group store: loading {} stopped at offset {} of {}: no readable batch there", name, offset, end);
      break;
    }
    offset = next;
  }
  loader.finish();
  spdlog::info("group store: loaded {} groups from {} (offsets {} to {})", out.groups.size(), name,
               log->log_start_offset(), end);
  return out;
}

}  // namespace vltava::broker::group
