// Fetch: reads records for consumers, versions 4 and up (record batches, magic 2). Versions 13 and up name topics
// by id. The life of a fetch:
//   1. the session step (fetch_sessions.h): a sessionless or full fetch reads the request's partitions, an
//      incremental one all of its session's;
//   2. the read (partition_reads.h): each partition from its fetch offset under partition_max_bytes and max_bytes,
//      one whole batch at least in the first partition with data;
//   3. the long poll: with fewer than min_bytes and max_wait_ms > 0, the fetch registers a wake-up with each
//      partition's waiters, reads again (an append between the first read and the registration would otherwise
//      be missed), then sleeps on a timer that an append cancels, and reads the whole fetch again on each wake, until
//      min_bytes are there or max_wait_ms has passed; an error anywhere answers at once, as Kafka does;
//   4. the answer: the session decides which partitions an incremental response lists. On a connection that sends
//      files itself (ctx.send_files) the record bytes stay in the segment files: each records field is a
//      placeholder (records_from_file) whose length the generated encoder writes, and the connection sends the
//      slices with sendfile into the gaps; elsewhere they are read into memory (read_records).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "vltava/broker/broker_services.h"
#include "vltava/broker/fetch_sessions.h"
#include "vltava/broker/handlers.h"
#include "vltava/broker/partition_reads.h"
#include "vltava/broker/partition_waiters.h"

namespace vltava::broker {
namespace {

using protocol::error_code;

constexpr std::int16_t first_topic_id_version = 13;

std::int64_t monotonic_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

fetch_partition_key key_of(const std::string& topic, const protocol::uuid& topic_id, std::int32_t partition,
                           bool by_id) {
  fetch_partition_key key;
  if (by_id) {
    key.topic_id = topic_id;
  } else {
    key.topic = topic;
  }
  key.partition = partition;
  return key;
}

std::vector<fetch_partition_request> requested_partitions(const protocol::fetch_request& request, bool by_id) {
  std::vector<fetch_partition_request> out;
  for (const auto& topic : request.topics) {
    for (const auto& p : topic.partitions) {
      out.push_back({key_of(topic.topic, topic.topic_id, p.partition, by_id), p.fetch_offset, p.partition_max_bytes});
    }
  }
  return out;
}

std::vector<fetch_partition_key> forgotten_partitions(const protocol::fetch_request& request, bool by_id) {
  std::vector<fetch_partition_key> out;
  for (const auto& topic : request.forgotten_topics_data) {
    for (auto partition : topic.partitions) out.push_back(key_of(topic.topic, topic.topic_id, partition, by_id));
  }
  return out;
}

// A partition of the fetch as found in the topic registry now (a topic may be created or deleted during a poll).
struct located_partition {
  std::shared_ptr<const topic> owner;  // keeps the partition alive
  const partition* found = nullptr;
  error_code lookup_error = error_code::unknown_topic_or_partition;
};

located_partition locate(topic_registry& topics, const fetch_partition_key& key, bool by_id) {
  located_partition out;
  out.owner = by_id ? topics.find(key.topic_id) : topics.find(key.topic);
  if (!out.owner) {
    out.lookup_error = by_id ? error_code::unknown_topic_id : error_code::unknown_topic_or_partition;
    return out;
  }
  const auto& partitions = out.owner->partitions;
  if (key.partition >= 0 && static_cast<std::size_t>(key.partition) < partitions.size() &&
      partitions[key.partition].index == key.partition) {
    out.found = &partitions[key.partition];
  } else {
    auto it = std::find_if(partitions.begin(), partitions.end(),
                           [&](const partition& p) { return p.index == key.partition; });
    if (it != partitions.end()) out.found = &*it;
  }
  if (out.found && !out.found->log) out.found = nullptr;
  return out;
}

// One reading of every partition of the fetch.
struct fetch_evaluation {
  std::vector<located_partition> located;
  std::vector<partition_read_result> results;
  std::uint64_t bytes = 0;
  bool any_error = false;
};

fetch_evaluation evaluate(topic_registry& topics, const fetch_session_context& session, bool by_id,
                          const protocol::fetch_request& request) {
  fetch_evaluation out;
  std::vector<partition_read_request> reads;
  out.located.reserve(session.partitions.size());
  reads.reserve(session.partitions.size());
  for (const auto& p : session.partitions) {
    auto& located = out.located.emplace_back(locate(topics, p.key, by_id));
    partition_read_request read;
    if (located.found) read.log = located.found->log;
    read.lookup_error = located.lookup_error;
    read.fetch_offset = p.fetch_offset;
    read.max_bytes = p.max_bytes;
    reads.push_back(std::move(read));
  }
  out.bytes = read_partitions(reads, request.max_bytes, isolation_from_wire(request.isolation_level), out.results);
  out.any_error = std::any_of(out.results.begin(), out.results.end(),
                              [](const partition_read_result& r) { return r.error != error_code::none; });
  return out;
}

// Kafka answers at once when there is no reason to wait: no wait asked for, nothing to fetch, an error to report,
// or min_bytes already there.
bool ready_to_answer(const fetch_evaluation& evaluation, const protocol::fetch_request& request) {
  return request.max_wait_ms <= 0 || evaluation.results.empty() || evaluation.any_error ||
         evaluation.bytes >= static_cast<std::uint64_t>(std::max(request.min_bytes, 0));
}

// The fetch's wake-ups, registered with each partition's waiters and removed when the fetch ends however it ends.
class wake_registrations {
 public:
  wake_registrations() = default;
  wake_registrations(const wake_registrations&) = delete;
  wake_registrations& operator=(const wake_registrations&) = delete;
  ~wake_registrations() {
    for (auto& [waiters, token] : entries_) waiters->remove(token);
  }

  void add(std::shared_ptr<partition_waiters> waiters, std::function<void()> wake) {
    const auto token = waiters->add(std::move(wake));
    entries_.emplace_back(std::move(waiters), token);
  }

 private:
  std::vector<std::pair<std::shared_ptr<partition_waiters>, partition_waiters::token>> entries_;
};

// A wake-up runs on the appending thread: it only posts the timer's cancellation to the fetch's executor, the one
// place the timer may be touched. Waiters may call a wake-up a moment after it was removed, so it holds the timer
// weakly.
std::function<void()> timer_canceller(const boost::asio::any_io_executor& executor,
                                      std::weak_ptr<boost::asio::steady_timer> timer) {
  return [executor, timer = std::move(timer)] {
    boost::asio::post(executor, [timer] {
      if (auto alive = timer.lock()) alive->cancel();
    });
  };
}

boost::asio::awaitable<fetch_evaluation> evaluate_when_ready(topic_registry& topics,
                                                             const fetch_session_context& session, bool by_id,
                                                             const protocol::fetch_request& request) {
  auto evaluation = evaluate(topics, session, by_id, request);
  if (ready_to_answer(evaluation, request)) co_return std::move(evaluation);

  auto executor = co_await boost::asio::this_coro::executor;
  auto timer = std::make_shared<boost::asio::steady_timer>(executor);
  timer->expires_after(std::chrono::milliseconds(request.max_wait_ms));
  wake_registrations wakes;
  for (const auto& located : evaluation.located) {
    if (located.found && located.found->waiters) wakes.add(located.found->waiters, timer_canceller(executor, timer));
  }
  for (;;) {
    // Registered first, read second: an append from now on wakes the wait below.
    evaluation = evaluate(topics, session, by_id, request);
    if (ready_to_answer(evaluation, request)) co_return std::move(evaluation);
    if (timer->expiry() <= boost::asio::steady_timer::clock_type::now()) co_return std::move(evaluation);
    boost::system::error_code ec;
    co_await timer->async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    if (!ec) co_return evaluate(topics, session, by_id, request);  // max_wait_ms passed: answer with what is there
    // Cancelled by an append: read again.
  }
}

protocol::fetch_response::partition_data partition_answer(std::int32_t partition, const partition_read_result& read,
                                                          protocol::shared_bytes records) {
  protocol::fetch_response::partition_data out;
  out.partition_index = partition;
  out.error_code = static_cast<std::int16_t>(read.error);
  out.high_watermark = read.high_watermark;
  out.last_stable_offset = read.last_stable_offset;
  out.log_start_offset = read.log_start_offset;
  out.aborted_transactions.emplace();  // no transactions: an empty list (some clients mishandle null)
  out.preferred_read_replica = -1;
  out.records = std::move(records);  // empty, not null, when there is nothing
  return out;
}

}  // namespace

boost::asio::awaitable<void> handle_fetch(request_context& ctx, std::vector<std::uint8_t>& response) {
  protocol::fetch_request request;
  if (auto ec = request.decode(ctx.body, ctx.api_version)) {
    spdlog::warn("closing connection from {}: malformed Fetch v{} request: {}", ctx.peer, ctx.api_version,
                 ec.message());
    ctx.close_connection = true;
    co_return;
  }
  const bool by_id = ctx.api_version >= first_topic_id_version;
  auto& sessions = ctx.services.fetch_sessions();
  auto session = sessions.begin(request.session_id, request.session_epoch, by_id, requested_partitions(request, by_id),
                                forgotten_partitions(request, by_id), monotonic_ms());

  protocol::fetch_response answer;
  if (session.error != error_code::none) {
    answer.error_code = static_cast<std::int16_t>(session.error);
    answer.session_id = 0;
  } else {
    auto evaluation = co_await evaluate_when_ready(ctx.services.topics(), session, by_id, request);
    auto& results = evaluation.results;
    std::vector<protocol::shared_bytes> records(results.size());
    std::vector<fetch_partition_outcome> outcomes(results.size());
    for (std::size_t i = 0; i < results.size(); ++i) {
      if (results[i].error == error_code::none && ctx.send_files) {
        // Zero-copy: the encoding leaves the records out, the connection sends them from the file (sendfile).
        records[i] = records_from_file(results[i].records);
      } else if (results[i].error == error_code::none) {
        if (auto ec = read_records(results[i].records, records[i])) {
          spdlog::error("fetch from {}: reading records of partition {} failed: {}", ctx.peer,
                        session.partitions[i].key.partition, ec.message());
          results[i].error = error_code::kafka_storage_error;
          records[i] = {};
        }
      }
      outcomes[i] = {results[i].error, results[i].high_watermark, results[i].last_stable_offset,
                     results[i].log_start_offset, !records[i].empty()};
    }
    const auto listed = sessions.finish(session, outcomes, monotonic_ms());
    answer.session_id = session.session_id;
    // Partitions of one topic next to each other share a topic entry; a topic may appear again later (an
    // incremental session's order moves partitions that returned data to its end), which clients accept.
    for (std::size_t i = 0; i < results.size(); ++i) {
      if (!listed[i]) continue;
      const auto& key = session.partitions[i].key;
      if (answer.responses.empty() || answer.responses.back().topic != key.topic ||
          answer.responses.back().topic_id != key.topic_id) {
        auto& topic_answer = answer.responses.emplace_back();
        topic_answer.topic = key.topic;
        topic_answer.topic_id = key.topic_id;
      }
      answer.responses.back().partitions.push_back(partition_answer(key.partition, results[i], std::move(records[i])));
    }
  }
  if (!(ctx.send_files ? ctx.respond_with_files(answer, response) : ctx.respond(answer, response))) {
    spdlog::error("closing connection from {}: cannot encode a Fetch v{} response", ctx.peer, ctx.api_version);
    ctx.close_connection = true;
  }
}

}  // namespace vltava::broker
