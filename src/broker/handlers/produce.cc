// Produce: validate each partition's records, check idempotent producers' sequences, append, and answer per acks:
// 0 no answer at all (the connection is closed instead if anything failed, as Kafka does, so the client refreshes
// its metadata), 1 once appended, all (-1) once appended and, with log.flush.on.acks.all, fsynced by the group-commit
// flusher — waited for without blocking the connection's thread.
//
// Deliberate choices, all Kafka's:
//  - no auto-creation here: Kafka creates topics on Metadata only, and clients ask for metadata before producing;
//    an unknown topic is UNKNOWN_TOPIC_OR_PARTITION (UNKNOWN_TOPIC_ID in v13). A name that can never be a topic is
//    INVALID_TOPIC_EXCEPTION, so that the client gives up instead of retrying; internal topics refuse clients' data
//    with the same error;
//  - transactions are not supported: a request carrying transactional batches is refused as a broker refuses an
//    unauthorised transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED on every partition), which clients treat
//    as fatal and report clearly; InitProducerId refuses transactional ids the same way, so well-behaved clients
//    never get this far;
//  - acks other than 0, 1 and -1 is INVALID_REQUIRED_ACKS.
// The high watermark moves to the log end right after the append (a single node: the data is on its only
// replica), so acks=all only adds the fsync.
#include <spdlog/spdlog.h>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "vltava/broker/broker_services.h"
#include "vltava/broker/handlers.h"
#include "vltava/broker/partition_waiters.h"
#include "vltava/broker/produce_validation.h"
#include "vltava/broker/producer_state.h"
#include "vltava/broker/topic_registry.h"
#include "vltava/protocol/messages.h"
#include "vltava/protocol/record_batch.h"
#include "vltava/storage/storage_error.h"

namespace vltava::broker {

namespace {

using protocol::error_code;
using partition_response = protocol::produce_response::partition_produce_response;

constexpr std::int16_t first_topic_id_version = 13;

struct flush_target {
  std::shared_ptr<storage::partition_log> log;
  std::int64_t last_offset = 0;
  partition_response* response = nullptr;
};

// Waits for the group-commit flusher to make every target durable through its last offset. The flusher calls back on
// its own threads; the completion is posted back to the waiting coroutine's executor. One error code per target.
template <class CompletionToken>
auto async_flush_through(storage::group_commit_flusher& flusher, std::vector<flush_target> targets,
                         CompletionToken&& token) {
  return boost::asio::async_initiate<CompletionToken, void(std::vector<std::error_code>)>(
      [&flusher](auto handler, std::vector<flush_target> items) {
        using handler_type = decltype(handler);
        using executor_type = boost::asio::associated_executor_t<handler_type>;
        struct shared_state {
          shared_state(handler_type h, std::size_t count)
              : handler(std::move(h)),
                executor(boost::asio::get_associated_executor(handler)),
                work(boost::asio::make_work_guard(executor)),
                results(count),
                left(count) {}
          handler_type handler;
          executor_type executor;
          boost::asio::executor_work_guard<executor_type> work;  // the io_context waits for us
          std::mutex mutex;
          std::vector<std::error_code> results;
          std::size_t left;
        };
        auto state = std::make_shared<shared_state>(std::move(handler), items.size());
        auto complete = [state] {
          boost::asio::post(state->executor, [state] {
            state->work.reset();
            std::move(state->handler)(std::move(state->results));
          });
        };
        if (items.empty()) {
          complete();
          return;
        }
        for (std::size_t i = 0; i < items.size(); ++i) {
          flusher.flush_through(items[i].log, items[i].last_offset, [state, i, complete](std::error_code ec) {
            bool last = false;
            {
              std::lock_guard lock(state->mutex);
              state->results[i] = ec;
              last = --state->left == 0;
            }
            if (last) complete();
          });
        }
      },
      token, std::move(targets));
}

void set_error(partition_response& out, error_code error, std::string message = {},
               std::vector<produce_record_error> record_errors = {}) {
  out.error_code = static_cast<std::int16_t>(error);
  out.base_offset = -1;
  out.log_append_time_ms = -1;
  out.log_start_offset = -1;
  if (!message.empty()) out.error_message = std::move(message);
  out.record_errors.clear();
  for (auto& record_error : record_errors) {
    protocol::produce_response::batch_index_and_error_message item;
    item.batch_index = record_error.batch_index;
    item.batch_index_error_message = std::move(record_error.message);
    out.record_errors.push_back(std::move(item));
  }
}

// Kafka stamps every appended batch with the leader's epoch (the CRC does not cover it); a single node's is 0, the
// epoch Metadata reports. Consumers carry it into OffsetCommit.
void stamp_leader_epoch(std::span<std::uint8_t> batches) {
  std::size_t at = 0;
  while (at < batches.size()) {
    protocol::record_batch_view view;
    if (protocol::record_batch_view::parse(batches.subspan(at), view)) return;
    (void)protocol::set_partition_leader_epoch(batches.subspan(at, view.size_in_bytes()), 0);
    at += view.size_in_bytes();
  }
}

bool any_transactional(const protocol::produce_request& request) {
  for (const auto& topic : request.topic_data) {
    for (const auto& partition : topic.partition_data) {
      if (partition.records && has_transactional_batch(partition.records->span())) return true;
    }
  }
  return false;
}

// The topic a request names, or the error its partitions get.
std::shared_ptr<const topic> resolve_topic(request_context& ctx,
                                           const protocol::produce_request::topic_produce_data& in, error_code& error,
                                           std::string& message) {
  std::shared_ptr<const topic> found;
  if (ctx.api_version >= first_topic_id_version) {
    found = ctx.services.topics().find(in.topic_id);
    if (!found) {
      error = error_code::unknown_topic_id;
      return nullptr;
    }
  } else {
    if (auto reason = invalid_topic_name_reason(in.name); !reason.empty()) {
      error = error_code::invalid_topic_exception;
      message = std::move(reason);
      return nullptr;
    }
    found = ctx.services.topics().find(in.name);
    if (!found) {
      error = error_code::unknown_topic_or_partition;
      message = "This server does not host this topic-partition.";
      return nullptr;
    }
  }
  if (found->internal) {
    error = error_code::invalid_topic_exception;
    message = "Cannot append to internal topic " + found->name;
    return nullptr;
  }
  return found;
}

// Validates and appends one partition's records; fills out, and target when acks=all must wait for an fsync.
void produce_partition(request_context& ctx, const protocol::produce_request& request, const topic& in_topic,
                       const protocol::produce_request::partition_produce_data& in, partition_response& out,
                       std::optional<flush_target>& target) {
  if (in.index < 0 || static_cast<std::size_t>(in.index) >= in_topic.partitions.size()) {
    set_error(out, error_code::unknown_topic_or_partition, "This server does not host this topic-partition.");
    return;
  }
  const partition& part = in_topic.partitions[static_cast<std::size_t>(in.index)];
  if (!part.log) {
    set_error(out, error_code::kafka_storage_error, "The partition's log is offline.");
    return;
  }
  storage::partition_log& log = *part.log;
  const storage::log_config config = log.config();
  const std::string name = in_topic.name + "-" + std::to_string(in.index);

  // The records are rewritten in place on append (offsets, LogAppendTime): the request frame's own bytes when the
  // decoder left them there, a copy otherwise.
  protocol::bytes copy;
  std::span<std::uint8_t> records;
  if (in.records && !in.records->empty()) {
    records = ctx.writable(*in.records);
    if (records.empty()) {
      copy.assign(in.records->span().begin(), in.records->span().end());
      records = copy;
    }
  }

  produce_validation_context validation;
  validation.api_version = ctx.api_version;
  validation.now_ms = log.context().time->now_ms();
  validation.timestamp_before_max_ms = ctx.services.settings().timestamp_before_max_ms;
  validation.timestamp_after_max_ms = ctx.services.settings().timestamp_after_max_ms;
  validation.partition = name;
  validated_records valid;
  if (auto error = validate_produce_records(records, config, validation, valid); error.failed()) {
    spdlog::debug("produce: {} from {} refused: {} ({})", name, ctx.peer, protocol::error_name(error.error),
                  error.message);
    set_error(out, error.error, std::move(error.message), std::move(error.record_errors));
    return;
  }

  stamp_leader_epoch(valid.batches());
  auto state = ctx.services.producers().for_partition(part.log);
  producer_append_result appended = state->append(log, valid.batches(), valid.producers());
  if (appended.error != error_code::none) {
    if (appended.storage_error) {
      spdlog::warn("produce: {} append failed: {}", name, appended.message);
    } else {
      spdlog::debug("produce: {} from {} refused: {} ({})", name, ctx.peer, protocol::error_name(appended.error),
                    appended.message);
    }
    set_error(out, appended.error, std::move(appended.message));
    return;
  }
  out.error_code = static_cast<std::int16_t>(error_code::none);
  out.base_offset = appended.appended.base_offset;
  out.log_append_time_ms = appended.appended.log_append_time;
  out.log_start_offset = appended.appended.log_start_offset;
  if (!appended.duplicate) {
    log.set_high_watermark(log.log_end_offset());
    if (part.waiters) part.waiters->notify_all();
  }
  if (request.acks == -1 && ctx.services.settings().flush_on_acks_all) {
    // A duplicate waits too: the original append may not be durable yet.
    target = flush_target{part.log, appended.appended.last_offset, &out};
  }
}

}  // namespace

boost::asio::awaitable<void> handle_produce(request_context& ctx, std::vector<std::uint8_t>& response) {
  protocol::produce_request request;
  if (auto ec = request.decode(ctx.body, ctx.api_version)) {
    spdlog::warn("produce: closing connection from {}: cannot decode Produce v{}: {}", ctx.peer, ctx.api_version,
                 ec.message());
    ctx.close_connection = true;
    co_return;
  }

  protocol::produce_response body;
  const bool transactional = any_transactional(request);
  const bool valid_acks = request.acks == 0 || request.acks == 1 || request.acks == -1;
  std::vector<flush_target> flushes;
  body.responses.reserve(request.topic_data.size());
  for (const auto& in_topic : request.topic_data) {
    auto& out_topic = body.responses.emplace_back();
    if (ctx.api_version >= first_topic_id_version) {
      out_topic.topic_id = in_topic.topic_id;
    } else {
      out_topic.name = in_topic.name;
    }
    out_topic.partition_responses.reserve(in_topic.partition_data.size());
    error_code topic_error = error_code::none;
    std::string topic_message;
    std::shared_ptr<const topic> found;
    if (transactional) {
      topic_error = error_code::transactional_id_authorization_failed;
      topic_message = "Transactions are not supported by this broker";
    } else {
      found = resolve_topic(ctx, in_topic, topic_error, topic_message);
    }
    for (const auto& in_partition : in_topic.partition_data) {
      auto& out = out_topic.partition_responses.emplace_back();
      out.index = in_partition.index;
      if (topic_error != error_code::none) {
        set_error(out, topic_error, topic_message);
      } else if (!valid_acks) {
        set_error(out, error_code::invalid_required_acks, "acks must be 0, 1 or -1 (all)");
      } else {
        std::optional<flush_target> target;
        produce_partition(ctx, request, *found, in_partition, out, target);
        if (target) flushes.push_back(std::move(*target));
      }
    }
  }

  if (!flushes.empty()) {
    std::vector<partition_response*> waiting;
    for (const auto& target : flushes) waiting.push_back(target.response);
    // Appended in request order: the connection may read the next request while this one waits for its fsync,
    // so pipelined acks=all requests share one group commit instead of one fsync each.
    ctx.allow_next_request();
    const auto results =
        co_await async_flush_through(ctx.services.logs().flusher(), std::move(flushes), boost::asio::use_awaitable);
    for (std::size_t i = 0; i < results.size() && i < waiting.size(); ++i) {
      if (!results[i]) continue;
      spdlog::warn("produce: fsync for acks=all failed: {}", results[i].message());
      set_error(*waiting[i], storage::to_kafka_error(results[i]), "flush failed: " + results[i].message());
    }
  }

  if (request.acks == 0) {
    for (const auto& out_topic : body.responses) {
      for (const auto& out : out_topic.partition_responses) {
        if (out.error_code != 0) {
          spdlog::info(
              "produce: closing connection from {}: an acks=0 request failed ({}); the client learns of it "
              "by reconnecting and refreshing metadata",
              ctx.peer, protocol::error_name(static_cast<error_code>(out.error_code)));
          ctx.close_connection = true;
          co_return;
        }
      }
    }
    co_return;
  }
  if (!ctx.respond(body, response)) {
    spdlog::error("produce: cannot encode the Produce v{} response for {}", ctx.api_version, ctx.peer);
    ctx.close_connection = true;
  }
}

}  // namespace vltava::broker
