// vltava-compat-librdkafka: the compatibility suite's librdkafka client (compat/run), on librdkafka's C API. It holds
// librdkafka to the same checks as the Python scripts beside it (confluent_kafka_roundtrip.py,
// confluent_kafka_group.py, confluent_kafka_admin.py), one mode per scenario:
//
//   vltava-compat-librdkafka MODE --bootstrap HOST:PORT --topic T [--count N] [--codecs none,gzip,snappy,lz4,zstd]
//       [--timestamp-base MS] [--group G] [--partitions P] [--resume-count M] [--session-timeout-ms MS]
//       [--timeout-seconds S]
//
//   roundtrip             For every codec, produce --count records with keys, values, headers (a repeated name too)
//                         and CreateTime timestamps (--timestamp-base + i) to partition 0 of "T-<codec>" (acks=all),
//                         then consume them back with a consumer that is assigned the partition (no subscription, no
//                         commits) and check every offset, key, value, header and timestamp.
//   group                 Consumer groups, in three phases on the existing topic T with P partitions: two members
//                         split the partitions and consume --count records exactly once; one leaves and the other
//                         takes over every partition and consumes the next --count; a new member resumes from the
//                         committed offsets and receives exactly the --resume-count newer records.
//   topic-create-delete   rd_kafka_CreateTopics T with P partitions, listed with P partitions in the metadata; a second
//                         create fails with TOPIC_ALREADY_EXISTS; rd_kafka_DeleteTopics, gone from the metadata; a
//                         second delete fails with UNKNOWN_TOPIC_OR_PART.
//   offsets-by-timestamp  Create T with one partition, produce N records with CreateTime base + 10*i, then
//                         rd_kafka_offsets_for_times must find offset i for base + 10*i, i+1 for base + 10*i + 5 and
//                         the end (-1) after the last record; rd_kafka_query_watermark_offsets must give 0 and N.
//   idempotent-producer   Create T with one partition; an idempotent producer (enable.idempotence, acks=all, 5
//                         requests in flight, batches of 10) produces N records in four rounds without waiting in
//                         between. The statistics (stats_cb) must show eos.idemp_state "Assigned" with a producer id;
//                         every delivery must succeed, record i at offset i; reading the partition from the beginning
//                         must give each record exactly once, in produce order, at consecutive offsets, then the end.
//
// Prints one JSON summary line on stdout and exits 0; on a failure or at the deadline it prints a FAIL line on stderr
// and exits 1; usage errors exit 2. Test-only: the broker never links librdkafka.
#include <librdkafka/rdkafka.h>
#include <sys/types.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace {

constexpr std::string_view kProgram = "vltava-compat-librdkafka";
constexpr std::string_view kClient = "librdkafka";
const std::vector<std::string> kCodecs = {"none", "gzip", "snappy", "lz4", "zstd"};

// ---------------------------------------------------------------------------------------------------------------
// Errors, deadlines, text.

// A check failed or the deadline passed: the run fails with this reason.
class Failure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A librdkafka call returned an error. wait_until() retries on it; anywhere else it fails the run.
class ClientError : public Failure {
 public:
  using Failure::Failure;
};

// Bad command line: exit status 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

using Clock = std::chrono::steady_clock;

class Deadline {
 public:
  explicit Deadline(double seconds)
      : at_(Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds))) {}

  bool passed() const { return Clock::now() >= at_; }

  // Milliseconds left, at most cap_ms; fails with "deadline: what" once the deadline has passed.
  int left_ms(const std::string& what, int cap_ms = INT_MAX) const {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(at_ - Clock::now()).count();
    if (left <= 0) throw Failure("deadline: " + what);
    return static_cast<int>(std::min<std::int64_t>(left, cap_ms));
  }

 private:
  Clock::time_point at_;
};

// A value as Python's repr would show it, shortened: "null", or quoted with \xNN for bytes that are not printable.
std::string printable(const std::optional<std::string>& value, std::size_t limit = 160) {
  if (!value) return "null";
  std::string out = "'";
  for (const char c : value->substr(0, limit)) {
    if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\') {
      out += c;
    } else {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", static_cast<unsigned char>(c));
      out += escaped;
    }
  }
  return out + (value->size() > limit ? "'..." : "'");
}

// "[a, b, ...]": the items formatted, at most `limit` of them.
template <typename Range, typename Format>
std::string list_text(const Range& items, std::size_t limit, Format format) {
  std::string out = "[";
  std::size_t n = 0;
  for (const auto& item : items) {
    if (n == limit) return out + ", ...]";
    out += (n++ ? ", " : "") + format(item);
  }
  return out + "]";
}

std::string ints_text(const std::vector<int>& values, std::size_t limit = SIZE_MAX) {
  return list_text(values, limit, [](int v) { return std::to_string(v); });
}

template <typename Range>
std::string strings_text(const Range& strings, std::size_t limit = SIZE_MAX) {
  return list_text(strings, limit, [](const std::string& s) { return s; });
}

std::string error_name(rd_kafka_resp_err_t error) { return rd_kafka_err2name(error); }

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// ---------------------------------------------------------------------------------------------------------------
// The JSON summary: an object written in insertion order, with only the value types the summaries use.

class JsonObject {
 public:
  JsonObject& add(std::string_view key, std::int64_t value) { return raw(key, std::to_string(value)); }
  JsonObject& add(std::string_view key, std::string_view value) { return raw(key, quote(value)); }
  JsonObject& add(std::string_view key, const std::vector<int>& values) { return raw(key, ints_text(values)); }
  JsonObject& add(std::string_view key, const std::vector<std::string>& values) {
    return raw(key, list_text(values, SIZE_MAX, quote));
  }
  JsonObject& add(std::string_view key, const JsonObject& value) { return raw(key, value.str()); }

  std::string str() const { return "{" + body_ + "}"; }

 private:
  static std::string quote(std::string_view text) {
    std::string out = "\"";
    for (const char c : text) {
      if (c == '"' || c == '\\') {
        out += '\\';
        out += c;
      } else if (static_cast<unsigned char>(c) < 0x20) {
        char escaped[8];
        std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned char>(c));
        out += escaped;
      } else {
        out += c;
      }
    }
    return out + "\"";
  }

  JsonObject& raw(std::string_view key, const std::string& value) {
    body_ += (body_.empty() ? "" : ", ") + quote(key) + ": " + value;
    return *this;
  }

  std::string body_;
};

// ---------------------------------------------------------------------------------------------------------------
// Owning handles for librdkafka's objects.

template <auto Destroy>
struct Destroyer {
  template <typename T>
  void operator()(T* object) const {
    Destroy(object);
  }
};

template <typename T, auto Destroy>
using Owned = std::unique_ptr<T, Destroyer<Destroy>>;

using ConfPtr = Owned<rd_kafka_conf_t, rd_kafka_conf_destroy>;
using HandlePtr = Owned<rd_kafka_t, rd_kafka_destroy>;
using MessagePtr = Owned<rd_kafka_message_t, rd_kafka_message_destroy>;
using PartitionListPtr = Owned<rd_kafka_topic_partition_list_t, rd_kafka_topic_partition_list_destroy>;
using MetadataPtr = Owned<const rd_kafka_metadata_t, rd_kafka_metadata_destroy>;
using ErrorPtr = Owned<rd_kafka_error_t, rd_kafka_error_destroy>;
using QueuePtr = Owned<rd_kafka_queue_t, rd_kafka_queue_destroy>;
using EventPtr = Owned<rd_kafka_event_t, rd_kafka_event_destroy>;
using AdminOptionsPtr = Owned<rd_kafka_AdminOptions_t, rd_kafka_AdminOptions_destroy>;
using NewTopicPtr = Owned<rd_kafka_NewTopic_t, rd_kafka_NewTopic_destroy>;
using DeleteTopicPtr = Owned<rd_kafka_DeleteTopic_t, rd_kafka_DeleteTopic_destroy>;

PartitionListPtr partition_list(const std::string& topic, std::int32_t partition, std::int64_t offset) {
  PartitionListPtr list(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), partition)->offset = offset;
  return list;
}

// ---------------------------------------------------------------------------------------------------------------
// Clients. Everything runs on this one thread: librdkafka calls the callbacks below only from inside rd_kafka_poll,
// rd_kafka_consumer_poll, rd_kafka_flush and rd_kafka_consumer_close, which only this thread calls.

using Config = std::vector<std::pair<std::string, std::string>>;

// The errors the clients reported through error_cb ("client_errors" in the summary).
using ErrorLog = std::vector<std::string>;

// Where the delivery report of one produced record lands (the record's opaque pointer).
struct Delivery {
  bool reported = false;
  rd_kafka_resp_err_t error = RD_KAFKA_RESP_ERR_NO_ERROR;
  std::int64_t offset = -1;
};

struct Callbacks {
  // Group consumers: called on every rebalance (before the client assigns or unassigns the partitions).
  std::function<void(rd_kafka_resp_err_t, const rd_kafka_topic_partition_list_t&)> rebalance;
  // Producers: called with every statistics report (statistics.interval.ms).
  std::function<void(std::string_view)> statistics;
};

class Client {
 public:
  Client(rd_kafka_type_t type, std::string name, const Config& config, ErrorLog& errors, Callbacks callbacks = {})
      : context_(std::make_unique<Context>(Context{std::move(name), &errors, std::move(callbacks)})),
        consumer_(type == RD_KAFKA_CONSUMER) {
    ConfPtr conf(rd_kafka_conf_new());
    char reason[512];
    for (const auto& [key, value] : config) {
      if (rd_kafka_conf_set(conf.get(), key.c_str(), value.c_str(), reason, sizeof reason) != RD_KAFKA_CONF_OK) {
        throw Failure(context_->name + ": configuration " + key + "=" + value + ": " + reason);
      }
    }
    rd_kafka_conf_set_opaque(conf.get(), context_.get());
    rd_kafka_conf_set_error_cb(conf.get(), on_error);
    if (!consumer_) rd_kafka_conf_set_dr_msg_cb(conf.get(), on_delivery);
    if (context_->callbacks.rebalance) rd_kafka_conf_set_rebalance_cb(conf.get(), on_rebalance);
    if (context_->callbacks.statistics) rd_kafka_conf_set_stats_cb(conf.get(), on_statistics);
    handle_.reset(rd_kafka_new(type, conf.get(), reason, sizeof reason));
    if (!handle_) throw Failure(context_->name + ": rd_kafka_new: " + reason);
    conf.release();  // rd_kafka_new owns it now
    // A consumer's errors come through rd_kafka_consumer_poll.
    if (consumer_) rd_kafka_poll_set_consumer(handle_.get());
  }

  Client(Client&&) noexcept = default;
  Client& operator=(Client&&) = delete;
  ~Client() { close(); }

  rd_kafka_t* get() const { return handle_.get(); }

  // A consumer leaves its group (if any) first; then the handle is destroyed. Idempotent.
  void close() {
    if (!handle_) return;
    if (consumer_) rd_kafka_consumer_close(handle_.get());
    handle_.reset();
  }

 private:
  struct Context {
    std::string name;
    ErrorLog* errors;
    Callbacks callbacks;
  };

  static Context& context(void* opaque) { return *static_cast<Context*>(opaque); }

  static void on_error(rd_kafka_t*, int error, const char* reason, void* opaque) {
    context(opaque).errors->push_back(context(opaque).name + ": " +
                                      error_name(static_cast<rd_kafka_resp_err_t>(error)) + ": " + reason);
  }

  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* message, void*) {
    if (auto* delivery = static_cast<Delivery*>(message->_private)) {
      *delivery = {.reported = true, .error = message->err, .offset = message->offset};
    }
  }

  // The eager protocol (partition.assignment.strategy range,roundrobin): every rebalance assigns the whole new set.
  static void on_rebalance(rd_kafka_t* handle, rd_kafka_resp_err_t event, rd_kafka_topic_partition_list_t* partitions,
                           void* opaque) {
    Context& self = context(opaque);
    self.callbacks.rebalance(event, *partitions);
    const rd_kafka_resp_err_t result =
        rd_kafka_assign(handle, event == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS ? partitions : nullptr);
    if (result != RD_KAFKA_RESP_ERR_NO_ERROR) {
      self.errors->push_back(self.name + ": rd_kafka_assign after " + error_name(event) + ": " + error_name(result));
    }
  }

  static int on_statistics(rd_kafka_t*, char* json, std::size_t size, void* opaque) {
    context(opaque).callbacks.statistics(std::string_view(json, size));
    return 0;  // librdkafka frees json
  }

  std::unique_ptr<Context> context_;  // the callbacks' opaque: outlives handle_
  HandlePtr handle_;
  bool consumer_;
};

// ---------------------------------------------------------------------------------------------------------------
// Options.

enum class Mode { kRoundtrip, kGroup, kTopicCreateDelete, kOffsetsByTimestamp, kIdempotentProducer };

const std::map<std::string, Mode, std::less<>> kModes = {
    {"roundtrip", Mode::kRoundtrip},
    {"group", Mode::kGroup},
    {"topic-create-delete", Mode::kTopicCreateDelete},
    {"offsets-by-timestamp", Mode::kOffsetsByTimestamp},
    {"idempotent-producer", Mode::kIdempotentProducer},
};

struct Options {
  Mode mode = Mode::kRoundtrip;
  std::string mode_name;
  std::string bootstrap;
  std::string topic;
  std::string group;
  int count = 0;       // default per mode, as in the Python scripts
  int partitions = 0;  // default per mode, as in the Python scripts
  int resume_count = 20;
  int session_timeout_ms = 6000;
  std::vector<std::string> codecs = kCodecs;
  std::int64_t timestamp_base = 0;
  double timeout_seconds = 60;
};

constexpr const char* kUsage =
    "usage: vltava-compat-librdkafka MODE --bootstrap HOST:PORT --topic T [--count N]\n"
    "           [--codecs none,gzip,snappy,lz4,zstd] [--timestamp-base MS] [--group G] [--partitions P]\n"
    "           [--resume-count M] [--session-timeout-ms MS] [--timeout-seconds S]\n"
    "MODE: roundtrip | group | topic-create-delete | offsets-by-timestamp | idempotent-producer\n";

template <typename Number>
Number parse_number(std::string_view flag, std::string_view text) {
  Number value{};
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) {
    throw UsageError(std::string(flag) + ": not a number: " + std::string(text));
  }
  return value;
}

std::vector<std::string> split(std::string_view text, char separator) {
  std::vector<std::string> parts;
  while (!text.empty()) {
    const std::size_t end = std::min(text.find(separator), text.size());
    if (end > 0) parts.emplace_back(text.substr(0, end));
    text.remove_prefix(std::min(end + 1, text.size()));
  }
  return parts;
}

Options parse_options(int argc, char** argv) {
  if (argc < 2) throw UsageError("missing MODE");
  Options o;
  o.mode_name = argv[1];
  const auto mode = kModes.find(o.mode_name);
  if (mode == kModes.end()) throw UsageError("unknown MODE " + o.mode_name);
  o.mode = mode->second;
  std::optional<int> count, partitions;
  std::optional<std::int64_t> timestamp_base;
  for (int i = 2; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (i + 1 >= argc) throw UsageError(std::string(flag) + " needs a value (or is not an option)");
    const std::string_view value = argv[++i];
    if (flag == "--bootstrap") {
      o.bootstrap = value;
    } else if (flag == "--topic") {
      o.topic = value;
    } else if (flag == "--group") {
      o.group = value;
    } else if (flag == "--count") {
      count = parse_number<int>(flag, value);
    } else if (flag == "--partitions") {
      partitions = parse_number<int>(flag, value);
    } else if (flag == "--resume-count") {
      o.resume_count = parse_number<int>(flag, value);
    } else if (flag == "--session-timeout-ms") {
      o.session_timeout_ms = parse_number<int>(flag, value);
    } else if (flag == "--timestamp-base") {
      timestamp_base = parse_number<std::int64_t>(flag, value);
    } else if (flag == "--timeout-seconds") {
      o.timeout_seconds = parse_number<double>(flag, value);
    } else if (flag == "--codecs") {
      o.codecs = split(value, ',');
      for (const std::string& codec : o.codecs) {
        if (std::find(kCodecs.begin(), kCodecs.end(), codec) == kCodecs.end()) {
          throw UsageError("unknown codec " + codec);
        }
      }
    } else {
      throw UsageError("unknown option " + std::string(flag));
    }
  }
  const bool group = o.mode == Mode::kGroup;
  o.count = count.value_or(o.mode == Mode::kRoundtrip ? 100 : group ? 40 : 20);
  o.partitions = partitions.value_or(group ? 4 : 3);
  o.timestamp_base = timestamp_base.value_or(now_ms());
  if (o.bootstrap.empty() || o.topic.empty()) throw UsageError("--bootstrap and --topic are required");
  if (group && o.group.empty()) throw UsageError("group needs --group");
  if (std::min({o.count, o.partitions, o.resume_count, o.session_timeout_ms}) <= 0) {
    throw UsageError("--count, --partitions, --resume-count and --session-timeout-ms must be positive");
  }
  if (o.codecs.empty()) throw UsageError("--codecs names no codec");
  if (!(o.timeout_seconds > 0)) throw UsageError("--timeout-seconds must be positive");
  return o;
}

// The settings every client shares.
Config base_config(const Options& o, const std::string& role) {
  return {{"bootstrap.servers", o.bootstrap},
          {"broker.address.family", "v4"},
          {"client.id", std::string(kProgram) + "-" + role}};
}

Config with(Config config, const Config& more) {
  config.insert(config.end(), more.begin(), more.end());
  return config;
}

// ---------------------------------------------------------------------------------------------------------------
// Records: producing, delivery reports, consuming.

using Headers = std::vector<std::pair<std::string, std::optional<std::string>>>;

struct Record {
  std::optional<std::string> key;
  std::optional<std::string> value;
  Headers headers;
  std::optional<std::int64_t> timestamp;  // CreateTime; unset: the producer's clock
  std::int32_t partition = 0;
  // Consumed records only:
  std::int64_t offset = -1;
  rd_kafka_timestamp_type_t timestamp_type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
};

std::optional<std::string> bytes(const void* data, std::size_t size) {
  if (data == nullptr) return std::nullopt;
  return std::string(static_cast<const char*>(data), size);
}

// A consumed message as plain values (the message itself is destroyed right after).
Record consumed_record(const rd_kafka_message_t& message) {
  Record record{.key = bytes(message.key, message.key_len),
                .value = bytes(message.payload, message.len),
                .partition = message.partition,
                .offset = message.offset};
  record.timestamp = rd_kafka_message_timestamp(&message, &record.timestamp_type);
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(&message, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char* name = nullptr;
    const void* value = nullptr;
    std::size_t size = 0;
    for (std::size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
         ++i) {
      record.headers.emplace_back(name, bytes(value, size));
    }
  }
  return record;
}

// Queues one record (copied) for topic/partition; its delivery report goes to *delivery. Waits, serving delivery
// reports, while the local queue is full.
void produce(rd_kafka_t* producer, const std::string& topic, const Record& record, Delivery* delivery,
             const Deadline& deadline) {
  std::vector<rd_kafka_vu_t> fields;
  auto field = [&fields](rd_kafka_vtype_t type) -> auto& {
    fields.emplace_back();
    fields.back().vtype = type;
    return fields.back().u;
  };
  auto set_memory = [](auto& memory, const std::optional<std::string>& data) {
    memory.ptr = data ? const_cast<char*>(data->data()) : nullptr;  // copied (RD_KAFKA_MSG_F_COPY), never written
    memory.size = data ? data->size() : 0;
  };
  field(RD_KAFKA_VTYPE_TOPIC).cstr = topic.c_str();
  field(RD_KAFKA_VTYPE_PARTITION).i32 = record.partition;
  set_memory(field(RD_KAFKA_VTYPE_KEY).mem, record.key);
  set_memory(field(RD_KAFKA_VTYPE_VALUE).mem, record.value);
  field(RD_KAFKA_VTYPE_MSGFLAGS).i = RD_KAFKA_MSG_F_COPY;
  field(RD_KAFKA_VTYPE_OPAQUE).ptr = delivery;
  if (record.timestamp) field(RD_KAFKA_VTYPE_TIMESTAMP).i64 = *record.timestamp;
  for (const auto& [name, value] : record.headers) {
    auto& header = field(RD_KAFKA_VTYPE_HEADER).header;
    header.name = name.c_str();
    header.val = value ? value->data() : nullptr;
    header.size = value ? static_cast<ssize_t>(value->size()) : 0;
  }
  while (true) {
    const ErrorPtr error(rd_kafka_produceva(producer, fields.data(), fields.size()));
    if (!error) return;
    if (rd_kafka_error_code(error.get()) != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      throw ClientError(topic + ": produce: " + rd_kafka_error_string(error.get()));
    }
    rd_kafka_poll(producer, deadline.left_ms(topic + ": the local producer queue stayed full", 100));
  }
}

// Waits until every queued record is delivered (or failed); fails when some are still queued at the deadline.
void flush(Client& producer, const std::string& what, const Deadline& deadline) {
  rd_kafka_flush(producer.get(), deadline.left_ms(what + ": flush"));
  if (const int left = rd_kafka_outq_len(producer.get()); left > 0) {
    throw Failure(what + ": " + std::to_string(left) + " records still undelivered at the deadline");
  }
}

enum class DeliveryOrder { kAnyOrder, kInProduceOrder };

// Every record delivered without an error, at offsets 0..n-1 (record i at offset i for kInProduceOrder).
void check_deliveries(const std::vector<Delivery>& deliveries, const std::string& what, DeliveryOrder order) {
  std::vector<int> failed, unreported;
  std::vector<std::int64_t> offsets;
  for (std::size_t i = 0; i < deliveries.size(); ++i) {
    const Delivery& d = deliveries[i];
    if (!d.reported) unreported.push_back(static_cast<int>(i));
    if (d.reported && d.error != RD_KAFKA_RESP_ERR_NO_ERROR) failed.push_back(static_cast<int>(i));
    offsets.push_back(d.offset);
  }
  if (!failed.empty()) {
    throw Failure(what + ": " + std::to_string(failed.size()) + " deliveries failed, first (record " +
                  std::to_string(failed[0]) + "): " + rd_kafka_err2str(deliveries[failed[0]].error));
  }
  if (!unreported.empty()) {
    throw Failure(what + ": no delivery report for " + std::to_string(unreported.size()) + " records, first record " +
                  std::to_string(unreported[0]));
  }
  if (order == DeliveryOrder::kAnyOrder) std::sort(offsets.begin(), offsets.end());
  for (std::size_t i = 0; i < offsets.size(); ++i) {
    if (offsets[i] != static_cast<std::int64_t>(i)) {
      throw Failure(what + ": delivery reports gave offset " + std::to_string(offsets[i]) + " for " +
                    (order == DeliveryOrder::kAnyOrder ? "the offset-sorted record " : "record ") + std::to_string(i) +
                    ", expected offsets 0.." + std::to_string(offsets.size() - 1));
    }
  }
}

// A producer client with the delivery reports of what it produced.
class Producer {
 public:
  Producer(const Options& o, const std::string& role, const Config& settings, ErrorLog& errors,
           Callbacks callbacks = {})
      : client_(RD_KAFKA_PRODUCER, role, with(base_config(o, role), settings), errors, std::move(callbacks)) {}

  rd_kafka_t* get() const { return client_.get(); }

  // Produces the records (in `rounds` rounds, each queued without waiting for the previous one), flushes, and returns
  // their delivery reports, record i's at [i].
  std::vector<Delivery> produce_all(const std::string& topic, const std::vector<Record>& records,
                                    const Deadline& deadline, int rounds = 1) {
    const std::size_t first = deliveries_.size();
    for (int round = 0; round < rounds; ++round) {
      const std::size_t begin = records.size() * round / rounds, end = records.size() * (round + 1) / rounds;
      for (std::size_t i = begin; i < end; ++i) {
        produce(client_.get(), topic, records[i], &deliveries_.emplace_back(), deadline);
      }
      rd_kafka_poll(client_.get(), 0);
    }
    flush(client_, topic, deadline);
    return {deliveries_.begin() + static_cast<std::ptrdiff_t>(first), deliveries_.end()};
  }

 private:
  // The records' opaque pointers point here (a deque keeps them valid). It outlives client_, whose handle may still
  // hold records when a deadline cuts the run short.
  std::deque<Delivery> deliveries_;
  Client client_;
};

// A consumer outside any group, assigned partition 0 of topic from the beginning; it commits nothing. librdkafka's
// consumer wants a group.id (as in the Python scripts); it is never joined.
Client assigned_consumer(const Options& o, const std::string& topic, const std::string& group_id, ErrorLog& errors) {
  Client consumer(RD_KAFKA_CONSUMER, "consumer",
                  with(base_config(o, "consumer"), {{"group.id", group_id},
                                                    {"enable.auto.commit", "false"},
                                                    {"enable.auto.offset.store", "false"},
                                                    {"enable.partition.eof", "true"}}),
                  errors);
  const PartitionListPtr assignment = partition_list(topic, 0, RD_KAFKA_OFFSET_BEGINNING);
  if (const rd_kafka_resp_err_t error = rd_kafka_assign(consumer.get(), assignment.get())) {
    throw ClientError(topic + ": rd_kafka_assign: " + error_name(error));
  }
  return consumer;
}

enum class ReadUntil { kCount, kCountAndEnd };

// Reads records until `count` have arrived (kCountAndEnd: and the partition's end follows the last one read, so that
// records beyond the expected ones are read too).
std::vector<Record> read_partition(Client& consumer, const std::string& topic, std::size_t count, ReadUntil until,
                                   const Deadline& deadline) {
  std::vector<Record> received;
  bool at_end = false;
  while (received.size() < count || (until == ReadUntil::kCountAndEnd && !at_end)) {
    const std::string what = topic + ": consumed " + std::to_string(received.size()) + " of " + std::to_string(count);
    const MessagePtr message(rd_kafka_consumer_poll(consumer.get(), deadline.left_ms(what, 1000)));
    if (!message) continue;
    if (message->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      at_end = true;  // the end for now; the loop ends on the count (and the end) or the deadline
      continue;
    }
    if (message->err) throw ClientError(topic + ": consumer error " + rd_kafka_message_errstr(message.get()));
    at_end = false;
    received.push_back(consumed_record(*message));
  }
  return received;
}

std::string headers_text(const Headers& headers) {
  return list_text(headers, SIZE_MAX,
                   [](const auto& h) { return "(" + printable(h.first) + ", " + printable(h.second) + ")"; });
}

// The consumed record equals the expected one, at the expected offset (and CreateTime when it has a timestamp).
void check_record(const Record& got, const Record& want, std::int64_t offset, const std::string& where) {
  if (got.offset != offset) {
    throw Failure(where + ": offset " + std::to_string(got.offset) + ", expected " + std::to_string(offset));
  }
  if (got.key != want.key) throw Failure(where + ": key " + printable(got.key) + ", expected " + printable(want.key));
  if (got.value != want.value) {
    throw Failure(where + ": value " + printable(got.value) + ", expected " + printable(want.value));
  }
  if (got.headers != want.headers) {
    throw Failure(where + ": headers " + headers_text(got.headers) + ", expected " + headers_text(want.headers));
  }
  if (want.timestamp && (got.timestamp_type != RD_KAFKA_TIMESTAMP_CREATE_TIME || got.timestamp != want.timestamp)) {
    throw Failure(where + ": timestamp " + std::to_string(got.timestamp.value_or(-1)) + " (type " +
                  std::to_string(got.timestamp_type) + "), expected CreateTime " + std::to_string(*want.timestamp));
  }
}

const std::string kFiller = [] {
  std::string filler;
  for (int i = 0; i < 8; ++i) filler += "0123456789abcdef";
  return filler;
}();

// ---------------------------------------------------------------------------------------------------------------
// Mode roundtrip.

// Record i of codec C, as in the Python round trips with client "librdkafka": key "key-C-i", value
// "value-C-i-" + filler, headers index=i, codec=C, client=librdkafka, dup=1, dup=2, CreateTime base + i.
Record roundtrip_record(const std::string& codec, int i, std::int64_t timestamp_base) {
  const std::string n = std::to_string(i);
  return {.key = "key-" + codec + "-" + n,
          .value = "value-" + codec + "-" + n + "-" + kFiller,
          .headers = {{"index", n}, {"codec", codec}, {"client", std::string(kClient)}, {"dup", "1"}, {"dup", "2"}},
          .timestamp = timestamp_base + i};
}

void run_roundtrip(const Options& o, JsonObject& summary, ErrorLog& errors, const Deadline& deadline) {
  std::vector<std::string> topics;
  for (const std::string& codec : o.codecs) {
    const std::string topic = o.topic + "-" + codec;
    std::vector<Record> records;
    for (int i = 0; i < o.count; ++i) records.push_back(roundtrip_record(codec, i, o.timestamp_base));
    {
      Producer producer(o, "producer",
                        {{"acks", "all"},
                         {"compression.codec", codec},
                         {"linger.ms", "5"},
                         {"message.timeout.ms", std::to_string(deadline.left_ms(topic + ": produce"))}},
                        errors);
      check_deliveries(producer.produce_all(topic, records, deadline), topic, DeliveryOrder::kAnyOrder);
    }
    Client consumer = assigned_consumer(o, topic, "vltava-compat-unused", errors);
    const std::vector<Record> received = read_partition(consumer, topic, records.size(), ReadUntil::kCount, deadline);
    consumer.close();
    for (std::size_t i = 0; i < received.size(); ++i) {
      check_record(received[i], records[i], static_cast<std::int64_t>(i), topic + " record " + std::to_string(i));
    }
    topics.push_back(topic);
  }
  summary.add("count", o.count).add("codecs", o.codecs).add("topics", topics);
}

// ---------------------------------------------------------------------------------------------------------------
// Mode group.

struct GroupRecord {
  int phase;
  int index;
  std::int32_t partition;
  std::int64_t offset;
};

// One subscribed consumer, with its assignment history (from the rebalance callback) and what it consumed.
class Member {
 public:
  Member(std::string name, const Options& o, ErrorLog& errors)
      : name_(std::move(name)),
        consumer_(RD_KAFKA_CONSUMER, name_,
                  with(base_config(o, "group-" + name_), {{"group.id", o.group},
                                                          {"session.timeout.ms", std::to_string(o.session_timeout_ms)},
                                                          {"heartbeat.interval.ms", "500"},
                                                          {"auto.offset.reset", "earliest"},
                                                          {"enable.auto.commit", "false"},
                                                          {"partition.assignment.strategy", "range,roundrobin"}}),
                  errors,
                  {.rebalance = [this](auto event, const auto& partitions) { rebalanced(event, partitions); }}) {
    const PartitionListPtr topics = partition_list(o.topic, RD_KAFKA_PARTITION_UA, RD_KAFKA_OFFSET_INVALID);
    if (const rd_kafka_resp_err_t error = rd_kafka_subscribe(consumer_.get(), topics.get())) {
      throw ClientError("consumer " + name_ + ": subscribe: " + error_name(error));
    }
  }
  Member(const Member&) = delete;  // the rebalance callback holds `this`
  Member& operator=(const Member&) = delete;

  const std::set<int>& assignment() const { return assignment_; }
  const std::vector<std::vector<int>>& assignments() const { return assignments_; }
  const std::vector<GroupRecord>& records() const { return records_; }

  int count(int phase) const {
    return static_cast<int>(
        std::count_if(records_.begin(), records_.end(), [phase](const GroupRecord& r) { return r.phase == phase; }));
  }

  void poll(int timeout_ms) {
    const MessagePtr message(rd_kafka_consumer_poll(consumer_.get(), timeout_ms));
    if (!message || message->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) return;
    if (message->err) throw ClientError("consumer " + name_ + ": " + rd_kafka_message_errstr(message.get()));
    const Record record = consumed_record(*message);
    const std::string key = record.key.value_or("");
    int phase = 0, index = 0;
    if (std::sscanf(key.c_str(), "p%d-%d", &phase, &index) != 2) {
      throw Failure("consumer " + name_ + " got a record with key " + printable(record.key) + " at offset " +
                    std::to_string(record.offset) + " of partition " + std::to_string(record.partition));
    }
    if (!assignment_.contains(record.partition)) {
      throw Failure("consumer " + name_ + " got " + key + " from partition " + std::to_string(record.partition) +
                    ", assigned " + ints_text(std::vector<int>(assignment_.begin(), assignment_.end())));
    }
    records_.push_back({phase, index, record.partition, record.offset});
  }

  // A synchronous commit of the consumed offsets; nothing consumed since the last commit is fine.
  void commit() {
    const rd_kafka_resp_err_t error = rd_kafka_commit(consumer_.get(), nullptr, 0);
    if (error != RD_KAFKA_RESP_ERR_NO_ERROR && error != RD_KAFKA_RESP_ERR__NO_OFFSET) {
      throw ClientError("consumer " + name_ + ": commit failed: " + rd_kafka_err2str(error));
    }
  }

  void close() { consumer_.close(); }

 private:
  void rebalanced(rd_kafka_resp_err_t event, const rd_kafka_topic_partition_list_t& partitions) {
    assignment_.clear();
    if (event != RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) return;  // a revocation
    for (int i = 0; i < partitions.cnt; ++i) assignment_.insert(partitions.elems[i].partition);
    assignments_.emplace_back(assignment_.begin(), assignment_.end());
  }

  std::string name_;
  std::set<int> assignment_;  // the latest assignment (empty after a revocation)
  std::vector<std::vector<int>> assignments_;
  std::vector<GroupRecord> records_;
  Client consumer_;  // last: destroyed (closed, with its final revocation) before the state above
};

std::string history_text(const Member& member) {
  return list_text(member.assignments(), SIZE_MAX, [](const std::vector<int>& a) { return ints_text(a); });
}

std::vector<int> sorted_ints(const std::set<int>& values) { return {values.begin(), values.end()}; }

// Polls every member once, in turn (up to 50 ms each); fails with "deadline: " + what() once the deadline has passed.
// The phases loop on it until their condition holds.
void poll_round(std::initializer_list<Member*> members, const Deadline& deadline,
                const std::function<std::string()>& what) {
  if (deadline.passed()) throw Failure("deadline: " + what());
  for (Member* member : members) member->poll(50);
}

// Every member has a non-empty assignment, disjoint from the others', and together they cover every partition.
bool settled(std::initializer_list<const Member*> members, int partitions) {
  std::set<int> all;
  for (const Member* member : members) {
    if (member->assignment().empty()) return false;
    for (const int partition : member->assignment()) {
      if (!all.insert(partition).second) return false;
    }
  }
  return static_cast<int>(all.size()) == partitions && *all.begin() == 0 && *all.rbegin() == partitions - 1;
}

// Record i of phase p: key "p<p>-<i>", value "value-p<p>-<i>", partition i % partitions.
void produce_phase(const Options& o, int phase, int total, ErrorLog& errors, const Deadline& deadline) {
  std::vector<Record> records;
  for (int i = 0; i < total; ++i) {
    const std::string id = "p" + std::to_string(phase) + "-" + std::to_string(i);
    records.push_back({.key = id, .value = "value-" + id, .partition = i % o.partitions});
  }
  Producer producer(o, "group-producer", {{"acks", "all"}, {"linger.ms", "5"}}, errors);
  const std::string what = "phase " + std::to_string(phase);
  const std::vector<Delivery> deliveries = producer.produce_all(o.topic, records, deadline);
  std::vector<std::string> failures;
  for (const Delivery& d : deliveries) {
    if (!d.reported || d.error) failures.push_back(d.reported ? rd_kafka_err2str(d.error) : "no delivery report");
  }
  if (!failures.empty()) {
    throw Failure(what + ": " + std::to_string(failures.size()) +
                  " records undelivered, failures: " + strings_text(failures, 3));
  }
}

void check_exactly_once(std::initializer_list<const Member*> members, int phase, int total) {
  std::map<int, int> times;  // index -> how often consumed
  for (const Member* member : members) {
    for (const GroupRecord& r : member->records()) {
      if (r.phase == phase) ++times[r.index];
    }
  }
  std::vector<int> duplicates, missing;
  for (const auto& [index, n] : times) {
    if (n > 1) duplicates.push_back(index);
  }
  for (int i = 0; i < total; ++i) {
    if (!times.contains(i)) missing.push_back(i);
  }
  const std::string p = "phase " + std::to_string(phase);
  if (!duplicates.empty()) throw Failure(p + ": consumed more than once: indexes " + ints_text(duplicates, 5));
  if (!missing.empty() || static_cast<int>(times.size()) != total) {
    throw Failure(p + ": consumed " + std::to_string(times.size()) + " records, expected " + std::to_string(total) +
                  "; missing indexes " + ints_text(missing, 5));
  }
}

void run_group(const Options& o, JsonObject& summary, ErrorLog& errors, const Deadline& deadline) {
  summary.add("group", o.group)
      .add("partitions", o.partitions)
      .add("count", o.count)
      .add("resume_count", o.resume_count);

  // ---- phase 1: two members split the partitions ----
  Member a("a", o, errors);
  Member b("b", o, errors);
  while (!settled({&a, &b}, o.partitions)) {
    poll_round({&a, &b}, deadline,
               [&] { return "no settled assignment: a " + history_text(a) + ", b " + history_text(b); });
  }
  const std::set<int> assigned_a = a.assignment(), assigned_b = b.assignment();
  produce_phase(o, 1, o.count, errors, deadline);
  while (a.count(1) + b.count(1) < o.count) {
    poll_round({&a, &b}, deadline, [&] {
      return "phase 1: a and b consumed " + std::to_string(a.count(1) + b.count(1)) + " of " + std::to_string(o.count);
    });
  }
  if (a.assignment() != assigned_a || b.assignment() != assigned_b) {
    throw Failure("phase 1: a rebalance happened while consuming: a " + history_text(a) + ", b " + history_text(b));
  }
  check_exactly_once({&a, &b}, 1, o.count);
  a.commit();
  b.commit();
  const int b_phase1 = b.count(1);
  summary.add("phase1", JsonObject()
                            .add("a", JsonObject().add("assigned", sorted_ints(assigned_a)).add("records", a.count(1)))
                            .add("b", JsonObject().add("assigned", sorted_ints(assigned_b)).add("records", b_phase1)));

  // ---- phase 2: a leaves, b takes over every partition ----
  a.close();
  while (!settled({&b}, o.partitions)) {
    poll_round({&b}, deadline, [&] { return "b was not assigned every partition after a left: " + history_text(b); });
  }
  produce_phase(o, 2, o.count, errors, deadline);
  while (b.count(2) < o.count) {
    poll_round({&b}, deadline,
               [&] { return "phase 2: b consumed " + std::to_string(b.count(2)) + " of " + std::to_string(o.count); });
  }
  check_exactly_once({&b}, 2, o.count);
  if (b.count(1) != b_phase1) throw Failure("phase 2: b consumed phase-1 records again after the rebalance");
  b.commit();
  b.close();
  summary.add("phase2", JsonObject().add("b_assigned", b.assignments().back()).add("records", b.count(2)));

  // ---- phase 3: a new member resumes from the committed offsets ----
  produce_phase(o, 3, o.resume_count, errors, deadline);
  Member c("c", o, errors);
  while (static_cast<int>(c.records().size()) < o.resume_count) {
    poll_round({&c}, deadline, [&] {
      return "phase 3: c consumed " + std::to_string(c.records().size()) + " of " + std::to_string(o.resume_count);
    });
  }
  std::vector<std::string> earlier;
  for (const GroupRecord& r : c.records()) {
    if (r.phase != 3) earlier.push_back("p" + std::to_string(r.phase) + "-" + std::to_string(r.index));
  }
  if (!earlier.empty()) {
    throw Failure("phase 3: c did not resume from the committed offsets, it received " + strings_text(earlier, 5));
  }
  check_exactly_once({&c}, 3, o.resume_count);
  c.commit();
  const std::vector<int> c_assigned = sorted_ints(c.assignment());
  c.close();
  summary.add("phase3", JsonObject().add("c_assigned", c_assigned).add("records", c.count(3)));
  if (static_cast<int>(c_assigned.size()) != o.partitions) {
    throw Failure("phase 3: c was assigned " + history_text(c));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Admin requests (CreateTopics, DeleteTopics, Metadata) on a producer handle, as an AdminClient is.

struct TopicOutcome {
  rd_kafka_resp_err_t code;
  std::string message;
  std::string text() const { return error_name(code) + (message.empty() ? "" : " (" + message + ")"); }
};

AdminOptionsPtr admin_options(const Client& admin, rd_kafka_admin_op_t op, int request_timeout_ms,
                              std::optional<int> operation_timeout_ms) {
  AdminOptionsPtr options(rd_kafka_AdminOptions_new(admin.get(), op));
  char reason[512];
  if (rd_kafka_AdminOptions_set_request_timeout(options.get(), request_timeout_ms, reason, sizeof reason) ||
      (operation_timeout_ms &&
       rd_kafka_AdminOptions_set_operation_timeout(options.get(), *operation_timeout_ms, reason, sizeof reason))) {
    throw Failure(std::string("admin options: ") + reason);
  }
  return options;
}

// Waits for the result of a one-topic CreateTopics or DeleteTopics request and returns the topic's outcome.
TopicOutcome await_topic_result(const Client& admin, rd_kafka_queue_t* queue, rd_kafka_event_type_t type,
                                const std::string& request, int request_timeout_ms) {
  // librdkafka answers every admin request by its request timeout; the margin covers its scheduling.
  const auto give_up = Clock::now() + std::chrono::milliseconds(request_timeout_ms + 5000);
  EventPtr event;
  while (!event && Clock::now() < give_up) {
    event.reset(rd_kafka_queue_poll(queue, 100));
    rd_kafka_poll(admin.get(), 0);  // serves error_cb meanwhile: why the broker does not answer, say
  }
  const auto no_answer = [&] {
    return Failure("deadline: no answer to " + request + " within " + std::to_string(request_timeout_ms / 1000) +
                   " s (is the broker reachable?)");
  };
  if (!event) throw no_answer();
  if (rd_kafka_event_type(event.get()) != type) {
    throw ClientError(request + ": unexpected event " + rd_kafka_event_name(event.get()));
  }
  if (const rd_kafka_resp_err_t error = rd_kafka_event_error(event.get())) {
    if (error == RD_KAFKA_RESP_ERR__TIMED_OUT) throw no_answer();
    throw ClientError(request + ": " + rd_kafka_event_error_string(event.get()));
  }
  std::size_t count = 0;
  const rd_kafka_topic_result_t** topics =
      type == RD_KAFKA_EVENT_CREATETOPICS_RESULT
          ? rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(event.get()), &count)
          : rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(event.get()), &count);
  if (count != 1) throw ClientError(request + ": " + std::to_string(count) + " topic results, expected 1");
  const char* message = rd_kafka_topic_result_error_string(topics[0]);
  return {rd_kafka_topic_result_error(topics[0]), message ? message : ""};
}

TopicOutcome create_topic_request(const Client& admin, const std::string& topic, int partitions,
                                  std::optional<int> operation_timeout_ms, const Deadline& deadline) {
  const std::string request = "CreateTopics " + topic;
  const int timeout_ms = deadline.left_ms(request, 15000);
  char reason[512];
  const NewTopicPtr new_topic(rd_kafka_NewTopic_new(topic.c_str(), partitions, 1, reason, sizeof reason));
  if (!new_topic) throw Failure(request + ": " + reason);
  const QueuePtr queue(rd_kafka_queue_new(admin.get()));
  rd_kafka_NewTopic_t* topics[] = {new_topic.get()};
  rd_kafka_CreateTopics(admin.get(), topics, 1,
                        admin_options(admin, RD_KAFKA_ADMIN_OP_CREATETOPICS, timeout_ms, operation_timeout_ms).get(),
                        queue.get());
  return await_topic_result(admin, queue.get(), RD_KAFKA_EVENT_CREATETOPICS_RESULT, request, timeout_ms);
}

TopicOutcome delete_topic_request(const Client& admin, const std::string& topic,
                                  std::optional<int> operation_timeout_ms, const Deadline& deadline) {
  const std::string request = "DeleteTopics " + topic;
  const int timeout_ms = deadline.left_ms(request, 15000);
  const DeleteTopicPtr delete_topic(rd_kafka_DeleteTopic_new(topic.c_str()));
  const QueuePtr queue(rd_kafka_queue_new(admin.get()));
  rd_kafka_DeleteTopic_t* topics[] = {delete_topic.get()};
  rd_kafka_DeleteTopics(admin.get(), topics, 1,
                        admin_options(admin, RD_KAFKA_ADMIN_OP_DELETETOPICS, timeout_ms, operation_timeout_ms).get(),
                        queue.get());
  return await_topic_result(admin, queue.get(), RD_KAFKA_EVENT_DELETETOPICS_RESULT, request, timeout_ms);
}

// The partition count of topic in a metadata request for all topics; nullopt when it is not listed (or listed with
// an error).
std::optional<int> listed_partitions(const Client& admin, const std::string& topic, const Deadline& deadline) {
  const rd_kafka_metadata_t* raw = nullptr;
  const rd_kafka_resp_err_t error =
      rd_kafka_metadata(admin.get(), 1, nullptr, &raw, deadline.left_ms("metadata of " + topic, 10000));
  const MetadataPtr metadata(raw);
  if (error) throw ClientError("metadata: " + std::string(rd_kafka_err2str(error)));
  for (int i = 0; i < metadata->topic_cnt; ++i) {
    const rd_kafka_metadata_topic_t& entry = metadata->topics[i];
    if (entry.topic == topic) return entry.err ? std::nullopt : std::optional<int>(entry.partition_cnt);
  }
  return std::nullopt;
}

// Polls predicate every 200 ms until it holds; librdkafka call errors are retried (and named at the deadline).
void wait_until(const Deadline& deadline, const std::string& what, const std::function<bool()>& predicate) {
  std::string last;
  while (true) {
    try {
      if (predicate()) return;
    } catch (const ClientError& error) {
      last = error.what();
    }
    if (deadline.passed()) throw Failure("deadline: " + what + (last.empty() ? "" : " (last error: " + last + ")"));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

Client admin_client(const Options& o, ErrorLog& errors) {
  return Client(RD_KAFKA_PRODUCER, "admin", base_config(o, "admin"), errors);
}

// Creates topic (CreateTopics must succeed) and waits until the metadata lists it with its partitions.
void create_topic(const Client& admin, const std::string& topic, int partitions, const Deadline& deadline) {
  if (const TopicOutcome outcome = create_topic_request(admin, topic, partitions, 10000, deadline); outcome.code) {
    throw Failure("CreateTopics " + topic + ": " + outcome.text());
  }
  wait_until(deadline, topic + " listed with " + std::to_string(partitions) + " partitions",
             [&] { return listed_partitions(admin, topic, deadline) == partitions; });
}

// ---------------------------------------------------------------------------------------------------------------
// Mode topic-create-delete.

void run_topic_create_delete(const Options& o, JsonObject& summary, ErrorLog& errors, const Deadline& deadline) {
  const Client admin = admin_client(o, errors);
  create_topic(admin, o.topic, o.partitions, deadline);
  if (const TopicOutcome again = create_topic_request(admin, o.topic, 1, std::nullopt, deadline);
      again.code != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
    throw Failure("creating " + o.topic + " again gave " + (again.code ? again.text() : "success") +
                  ", expected TOPIC_ALREADY_EXISTS");
  }
  if (const TopicOutcome deleted = delete_topic_request(admin, o.topic, 10000, deadline); deleted.code) {
    throw Failure("DeleteTopics " + o.topic + ": " + deleted.text());
  }
  wait_until(deadline, o.topic + " gone from the metadata after DeleteTopics",
             [&] { return !listed_partitions(admin, o.topic, deadline); });
  if (const TopicOutcome again = delete_topic_request(admin, o.topic, std::nullopt, deadline);
      again.code != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
    throw Failure("deleting " + o.topic + " again gave " + (again.code ? again.text() : "success") +
                  ", expected UNKNOWN_TOPIC_OR_PART");
  }
  summary.add("partitions", o.partitions);
}

// Partition 0 of topic must hold offsets 0 to count - 1: low and high watermarks 0 and count.
void expect_watermarks(rd_kafka_t* client, const std::string& topic, int count, const Deadline& deadline) {
  std::int64_t low = -1, high = -1;
  if (const rd_kafka_resp_err_t error = rd_kafka_query_watermark_offsets(
          client, topic.c_str(), 0, &low, &high, deadline.left_ms("watermark offsets", 10000))) {
    throw ClientError(std::string("query_watermark_offsets: ") + rd_kafka_err2str(error));
  }
  if (low != 0 || high != count) {
    throw Failure("watermarks are " + std::to_string(low) + "/" + std::to_string(high) + ", expected 0/" +
                  std::to_string(count));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Mode offsets-by-timestamp.

void run_offsets_by_timestamp(const Options& o, JsonObject& summary, ErrorLog& errors, const Deadline& deadline) {
  create_topic(admin_client(o, errors), o.topic, 1, deadline);
  const std::int64_t base = now_ms() - 3'600'000;
  std::vector<Record> records;
  for (int i = 0; i < o.count; ++i) {
    records.push_back(
        {.key = "key-" + std::to_string(i), .value = "value-" + std::to_string(i), .timestamp = base + 10 * i});
  }
  {
    Producer producer(o, "producer", {{"acks", "all"}, {"linger.ms", "5"}}, errors);
    check_deliveries(producer.produce_all(o.topic, records, deadline), "produce", DeliveryOrder::kAnyOrder);
  }

  Client consumer(
      RD_KAFKA_CONSUMER, "consumer",
      with(base_config(o, "consumer"), {{"group.id", o.topic + "-unused"}, {"enable.auto.commit", "false"}}), errors);
  const auto lookup = [&](std::int64_t timestamp) {
    const PartitionListPtr query = partition_list(o.topic, 0, timestamp);
    const std::string what = "offsets_for_times(" + std::to_string(timestamp) + ")";
    if (const rd_kafka_resp_err_t error =
            rd_kafka_offsets_for_times(consumer.get(), query.get(), deadline.left_ms(what, 10000))) {
      throw ClientError(what + ": " + rd_kafka_err2str(error));
    }
    if (const rd_kafka_resp_err_t error = query->elems[0].err) throw Failure(what + ": " + rd_kafka_err2str(error));
    return query->elems[0].offset;
  };
  int lookups = 0;
  const auto expect = [&](std::int64_t delta, std::int64_t expected, const std::string& label) {
    ++lookups;
    if (const std::int64_t got = lookup(base + delta); got != expected) {
      throw Failure("offsets_for_times(" + label + ") gave offset " + std::to_string(got) + ", expected " +
                    std::to_string(expected));
    }
  };
  for (int i = 0; i < o.count; ++i) {
    expect(10 * i, i, "base + " + std::to_string(10 * i));
    expect(10 * i + 5, i + 1 < o.count ? i + 1 : RD_KAFKA_OFFSET_END, "base + " + std::to_string(10 * i + 5));
  }
  expect(10 * o.count + 1'000, RD_KAFKA_OFFSET_END, "after the last record");
  expect_watermarks(consumer.get(), o.topic, o.count, deadline);
  summary.add("lookups", lookups).add("count", o.count);
}

// ---------------------------------------------------------------------------------------------------------------
// Mode idempotent-producer.

// The "eos" object of one statistics report (librdkafka writes it for idempotent and transactional producers).
struct EosReport {
  std::string idemp_state;
  std::optional<std::int64_t> producer_id;
  std::optional<std::int64_t> producer_epoch;
};

// The raw value of `"name": value` in a flat JSON object's text (a string keeps its quotes), or nullopt.
std::optional<std::string_view> json_member(std::string_view object, std::string_view name) {
  const std::string quoted = "\"" + std::string(name) + "\"";
  std::size_t at = object.find(quoted);
  if (at == std::string_view::npos) return std::nullopt;
  at = object.find_first_not_of(" \t\n\r", at + quoted.size());
  if (at == std::string_view::npos || object[at] != ':') return std::nullopt;
  at = object.find_first_not_of(" \t\n\r", at + 1);
  if (at == std::string_view::npos) return std::nullopt;
  const std::size_t end = object[at] == '"' ? object.find('"', at + 1) + 1 : object.find_first_of(",}", at);
  if (end == std::string_view::npos || end == 0) return std::nullopt;
  return object.substr(at, end - at);
}

std::optional<std::int64_t> json_integer(std::optional<std::string_view> text) {
  std::int64_t value = 0;
  if (!text) return std::nullopt;
  const std::string_view trimmed = text->substr(0, text->find_last_not_of(" \t\n\r") + 1);
  const auto [end, error] = std::from_chars(trimmed.data(), trimmed.data() + trimmed.size(), value);
  if (error != std::errc() || end != trimmed.data() + trimmed.size()) return std::nullopt;
  return value;
}

// The "eos" object of a statistics report, or nullopt when it has none. The object holds no nested objects.
std::optional<EosReport> parse_eos(std::string_view statistics) {
  const std::size_t key = statistics.find("\"eos\"");
  const std::size_t begin = statistics.find('{', key == std::string_view::npos ? statistics.size() : key);
  const std::size_t end = statistics.find('}', begin);
  if (begin == std::string_view::npos || end == std::string_view::npos) return std::nullopt;
  const std::string_view object = statistics.substr(begin, end - begin + 1);
  EosReport report;
  if (const auto state = json_member(object, "idemp_state"); state && state->size() >= 2 && state->front() == '"') {
    report.idemp_state = state->substr(1, state->size() - 2);
  }
  report.producer_id = json_integer(json_member(object, "producer_id"));
  report.producer_epoch = json_integer(json_member(object, "producer_epoch"));
  return report;
}

// Record i: key "key-idempotent-i", value "value-idempotent-i-" + filler (the round trip's, with "idempotent" in
// place of the codec).
Record idempotent_record(int i) {
  const std::string n = std::to_string(i);
  return {.key = "key-idempotent-" + n, .value = "value-idempotent-" + n + "-" + kFiller};
}

void run_idempotent_producer(const Options& o, JsonObject& summary, ErrorLog& errors, const Deadline& deadline) {
  create_topic(admin_client(o, errors), o.topic, 1, deadline);
  std::vector<Record> records;
  for (int i = 0; i < o.count; ++i) records.push_back(idempotent_record(i));

  std::vector<EosReport> reports;  // the eos object of every statistics report
  const auto assigned = [&reports]() -> const EosReport* {
    const auto found =
        std::find_if(reports.rbegin(), reports.rend(), [](const EosReport& r) { return r.idemp_state == "Assigned"; });
    return found == reports.rend() ? nullptr : &*found;
  };
  {
    Producer producer(o, "idempotent-producer",
                      {{"enable.idempotence", "true"},
                       {"acks", "all"},
                       {"max.in.flight.requests.per.connection", "5"},
                       {"linger.ms", "5"},
                       {"batch.num.messages", "10"},
                       {"statistics.interval.ms", "100"},
                       {"message.timeout.ms", std::to_string(deadline.left_ms("idempotent produce"))}},
                      errors, {.statistics = [&reports](std::string_view json) {
                        if (auto report = parse_eos(json)) reports.push_back(std::move(*report));
                      }});
    const std::vector<Delivery> deliveries = producer.produce_all(o.topic, records, deadline, 4);
    // The statistics arrive every 100 ms through rd_kafka_poll; wait for one taken after the id was assigned.
    while (!assigned() && !deadline.passed()) rd_kafka_poll(producer.get(), 100);
    char reason[512];
    if (const rd_kafka_resp_err_t fatal = rd_kafka_fatal_error(producer.get(), reason, sizeof reason)) {
      throw Failure("produce: the idempotent producer hit a fatal error: " + error_name(fatal) + ": " + reason);
    }
    check_deliveries(deliveries, "produce", DeliveryOrder::kInProduceOrder);
  }
  const EosReport* eos = assigned();
  if (!eos) {
    std::set<std::string> states;
    for (const EosReport& r : reports) states.insert(r.idemp_state);
    throw Failure("statistics never showed eos.idemp_state Assigned (states seen: " + strings_text(states) + ", " +
                  std::to_string(reports.size()) + " reports)");
  }
  if (eos->producer_id.value_or(-1) < 0) {
    throw Failure("statistics show no producer id with idemp_state Assigned: producer_id " +
                  (eos->producer_id ? std::to_string(*eos->producer_id) : std::string("absent")));
  }
  summary.add("producer_id", *eos->producer_id)
      .add("producer_epoch", eos->producer_epoch.value_or(-1))
      .add("idemp_state", eos->idemp_state)
      .add("stats_reports", static_cast<std::int64_t>(reports.size()));

  Client consumer = assigned_consumer(o, o.topic, o.topic + "-unused", errors);
  // Read on to the end of the partition after the last expected record: a duplicate would come before it.
  const std::vector<Record> received =
      read_partition(consumer, o.topic, records.size(), ReadUntil::kCountAndEnd, deadline);
  for (std::size_t i = 0; i < records.size(); ++i) {
    check_record(received[i], records[i], static_cast<std::int64_t>(i), "consume: record " + std::to_string(i));
  }
  if (received.size() != records.size()) {
    const Record& extra = received[records.size()];
    throw Failure("consume: read " + std::to_string(received.size()) + " records, expected " +
                  std::to_string(records.size()) + "; offset " + std::to_string(extra.offset) + " holds key " +
                  printable(extra.key) + " beyond the last record produced");
  }
  expect_watermarks(consumer.get(), o.topic, o.count, deadline);
  summary.add("count", o.count);
}

// ---------------------------------------------------------------------------------------------------------------

void run_mode(const Options& o, JsonObject& summary, ErrorLog& errors, const Deadline& deadline) {
  switch (o.mode) {
    case Mode::kRoundtrip: return run_roundtrip(o, summary, errors, deadline);
    case Mode::kGroup: return run_group(o, summary, errors, deadline);
    case Mode::kTopicCreateDelete: return run_topic_create_delete(o, summary, errors, deadline);
    case Mode::kOffsetsByTimestamp: return run_offsets_by_timestamp(o, summary, errors, deadline);
    case Mode::kIdempotentProducer: return run_idempotent_producer(o, summary, errors, deadline);
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  try {
    options = parse_options(argc, argv);
  } catch (const UsageError& error) {
    std::fprintf(stderr, "%s: %s\n%s", kProgram.data(), error.what(), kUsage);
    return 2;
  }
  const auto started = Clock::now();
  const Deadline deadline(options.timeout_seconds);
  ErrorLog errors;
  JsonObject summary;
  summary.add("client", kClient).add("version", rd_kafka_version_str()).add("mode", options.mode_name);
  summary.add("topic", options.topic);
  try {
    run_mode(options, summary, errors, deadline);
  } catch (const std::exception& failure) {
    // The first client error often says why (an unreachable broker, say); every one follows on its own line.
    std::fprintf(stderr, "%s %s: FAIL: %s%s\n", kProgram.data(), options.mode_name.c_str(), failure.what(),
                 errors.empty() ? "" : ("; first client error: " + errors.front()).c_str());
    for (const std::string& error : errors) {
      std::fprintf(stderr, "%s %s: client error: %s\n", kProgram.data(), options.mode_name.c_str(), error.c_str());
    }
    return 1;
  }
  const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
  summary.add("client_errors", errors).add("elapsed_ms", static_cast<std::int64_t>(elapsed.count()));
  std::printf("%s\n", summary.str().c_str());
  return 0;
}
