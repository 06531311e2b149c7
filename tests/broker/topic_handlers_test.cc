// Tests of the Metadata, CreateTopics and DeleteTopics handlers, called directly with encoded requests (no network):
// Kafka's per-topic error codes and messages, version differences (v0 empty list, v1+ null, ids from v10, nullable
// names from v12), auto-creation and its switches, duplicates, validate-only, manual assignments, deletion
// switches, and a malformed body closing the connection.
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <random>
#include <string>

#include "vltava/broker/broker_services.h"
#include "vltava/broker/handlers.h"
#include "vltava/broker/producer_state.h"
#include "vltava/broker/topic_config.h"
#include "vltava/broker/topic_registry.h"
#include "vltava/protocol/framing.h"

namespace vltava::broker {
namespace {

namespace fs = std::filesystem;
using protocol::error_code;

constexpr std::int16_t code(error_code e) { return static_cast<std::int16_t>(e); }

class TopicHandlersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("vltava-topic-handlers-test-" + std::string(info->name()) + "-" +
                                        std::to_string(::getpid()) + "-" + std::to_string(std::random_device{}()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    storage::log_manager_config config;
    config.log_dirs = {dir_};
    config.cleaner_enable = false;
    storage::log_manager_startup startup;
    ASSERT_FALSE(storage::log_manager::open(config, {}, logs_, startup));
    topics_ = std::make_unique<topic_registry>(*logs_, storage::log_config{}, apply_topic_log_config);
    ASSERT_FALSE(topics_->load());
    producer_state_manager::options options;
    options.id_block_directory = dir_;
    producers_ = std::make_unique<producer_state_manager>(options, storage::storage_context{});
    settings_.node_id = 7;
    settings_.advertised_host = "broker.example";
    settings_.advertised_port = 19092;
    settings_.cluster_id = "test-cluster-id-0000000";
    settings_.num_partitions = 2;
    make_services();
  }
  void TearDown() override {
    services_.reset();
    producers_.reset();
    topics_.reset();
    if (logs_) {
      EXPECT_FALSE(logs_->shutdown());
    }
    logs_.reset();
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  void make_services() {
    services_ = std::make_unique<broker_services>(settings_, *logs_, *topics_, *producers_, served_apis());
  }

  // Runs handler on request encoded in version; the decoded response, or nothing when the handler closed the
  // connection (closed is then true).
  template <class Response, class Request>
  Response call(handler_function handler, std::int16_t version, const Request& request, bool* closed = nullptr) {
    protocol::bytes encoded;
    EXPECT_FALSE(protocol::encode_request_frame(encoded, 42, version, std::string("test-client"), request));
    return call_raw<Response>(handler, Request::api, version, std::move(encoded), closed);
  }

  template <class Response>
  Response call_raw(handler_function handler, protocol::api_key key, std::int16_t version, protocol::bytes encoded,
                    bool* closed = nullptr) {
    (void)key;
    auto frame = std::make_shared<std::vector<std::uint8_t>>(encoded.begin() + 4, encoded.end());
    protocol::reader body(std::span<const std::uint8_t>(*frame), frame);
    protocol::request_header_view view;
    EXPECT_FALSE(protocol::decode_request_header(body, view));
    request_context ctx{view.header, version, frame, body, "test-peer", *services_};
    std::vector<std::uint8_t> response;
    boost::asio::io_context io;
    boost::asio::co_spawn(io, handler(ctx, response), boost::asio::detached);
    io.run();
    if (closed) *closed = ctx.close_connection;
    Response decoded;
    if (ctx.close_connection) {
      EXPECT_TRUE(response.empty());
      return decoded;
    }
    EXPECT_GE(response.size(), 8u);
    protocol::reader r(std::span<const std::uint8_t>(response).subspan(4));
    protocol::response_header header;
    EXPECT_FALSE(
        header.decode(r, protocol::response_header_version(static_cast<std::int16_t>(Response::api), version)));
    EXPECT_EQ(header.correlation_id, 42);
    EXPECT_FALSE(decoded.decode(r, version));
    EXPECT_TRUE(r.at_end());
    return decoded;
  }

  protocol::metadata_response metadata(std::int16_t version, std::optional<std::vector<std::string>> names,
                                       bool allow_auto_create = true) {
    protocol::metadata_request request;
    if (names) {
      request.topics.emplace();
      for (auto& name : *names) {
        protocol::metadata_request::metadata_request_topic t;
        t.name = name;
        request.topics->push_back(std::move(t));
      }
    } else {
      request.topics.reset();
    }
    request.allow_auto_topic_creation = allow_auto_create;
    return call<protocol::metadata_response>(handle_metadata, version, request);
  }

  static protocol::create_topics_request::creatable_topic new_topic(std::string name, std::int32_t partitions = 1,
                                                                    std::int16_t replication_factor = 1) {
    protocol::create_topics_request::creatable_topic t;
    t.name = std::move(name);
    t.num_partitions = partitions;
    t.replication_factor = replication_factor;
    return t;
  }

  protocol::create_topics_response create_topics(std::int16_t version,
                                                 std::vector<protocol::create_topics_request::creatable_topic> topics,
                                                 bool validate_only = false) {
    protocol::create_topics_request request;
    request.topics = std::move(topics);
    request.validate_only = validate_only;
    return call<protocol::create_topics_response>(handle_create_topics, version, request);
  }

  protocol::delete_topics_response delete_by_name(std::int16_t version, std::vector<std::string> names) {
    protocol::delete_topics_request request;
    if (version >= 6) {
      for (auto& name : names) request.topics.push_back({name, {}, {}});
    } else {
      request.topic_names = std::move(names);
    }
    return call<protocol::delete_topics_response>(handle_delete_topics, version, request);
  }

  fs::path dir_;
  std::unique_ptr<storage::log_manager> logs_;
  std::unique_ptr<topic_registry> topics_;
  std::unique_ptr<producer_state_manager> producers_;
  broker_settings settings_;
  std::unique_ptr<broker_services> services_;
};

TEST_F(TopicHandlersTest, MetadataDescribesTheBrokerAndCluster) {
  for (std::int16_t version = 0; version <= 12; ++version) {
    const auto answer = metadata(version, std::vector<std::string>{});
    ASSERT_EQ(answer.brokers.size(), 1u) << version;
    EXPECT_EQ(answer.brokers[0].node_id, 7);
    EXPECT_EQ(answer.brokers[0].host, "broker.example");
    EXPECT_EQ(answer.brokers[0].port, 19092);
    EXPECT_FALSE(answer.brokers[0].rack);
    if (version >= 1) {
      EXPECT_EQ(answer.controller_id, 7);
    }
    if (version >= 2) {
      EXPECT_EQ(answer.cluster_id, "test-cluster-id-0000000");
    }
  }
}

TEST_F(TopicHandlersTest, MetadataListsAllTopicsForV0EmptyAndNullButNoneForV1Empty) {
  ASSERT_EQ(topics_->create("a", 2, 1, {}, false).error, error_code::none);
  ASSERT_EQ(topics_->create("b", 1, 1, {}, false).error, error_code::none);
  EXPECT_EQ(metadata(0, std::vector<std::string>{}).topics.size(), 2u);
  EXPECT_EQ(metadata(1, std::vector<std::string>{}).topics.size(), 0u);
  const auto all = metadata(9, std::nullopt);
  ASSERT_EQ(all.topics.size(), 2u);
  EXPECT_EQ(all.topics[0].name, "a");
  ASSERT_EQ(all.topics[0].partitions.size(), 2u);
  const auto& p = all.topics[0].partitions[1];
  EXPECT_EQ(p.error_code, 0);
  EXPECT_EQ(p.partition_index, 1);
  EXPECT_EQ(p.leader_id, 7);
  EXPECT_EQ(p.leader_epoch, 0);
  EXPECT_EQ(p.replica_nodes, std::vector<std::int32_t>{7});
  EXPECT_EQ(p.isr_nodes, std::vector<std::int32_t>{7});
  EXPECT_TRUE(p.offline_replicas.empty());
}

TEST_F(TopicHandlersTest, MetadataAutoCreatesWhenBothTheBrokerAndTheRequestAllowIt) {
  // v0-3 have no allow_auto_topic_creation: always allowed.
  auto answer = metadata(3, std::vector<std::string>{"auto-v3"});
  ASSERT_EQ(answer.topics.size(), 1u);
  EXPECT_EQ(answer.topics[0].error_code, 0);
  EXPECT_EQ(answer.topics[0].partitions.size(), 2u);  // num.partitions
  ASSERT_TRUE(topics_->find("auto-v3"));

  answer = metadata(4, std::vector<std::string>{"not-created"}, false);
  EXPECT_EQ(answer.topics[0].error_code, code(error_code::unknown_topic_or_partition));
  EXPECT_TRUE(answer.topics[0].partitions.empty());
  EXPECT_FALSE(topics_->find("not-created"));

  answer = metadata(12, std::vector<std::string>{"auto-v12", "auto-v12"});
  ASSERT_EQ(answer.topics.size(), 1u);  // each topic once
  EXPECT_EQ(answer.topics[0].error_code, 0);
  EXPECT_EQ(answer.topics[0].topic_id, topics_->find("auto-v12")->id);

  settings_.auto_create_topics = false;
  make_services();
  answer = metadata(3, std::vector<std::string>{"off"});
  EXPECT_EQ(answer.topics[0].error_code, code(error_code::unknown_topic_or_partition));
  EXPECT_FALSE(topics_->find("off"));
}

TEST_F(TopicHandlersTest, MetadataRefusesInvalidNamesAndDoesNotAutoCreateInternalTopics) {
  auto answer = metadata(1, std::vector<std::string>{"bad name", "__consumer_offsets"});
  ASSERT_EQ(answer.topics.size(), 2u);
  EXPECT_EQ(answer.topics[0].error_code, code(error_code::invalid_topic_exception));
  EXPECT_EQ(answer.topics[1].error_code, code(error_code::unknown_topic_or_partition));
  EXPECT_TRUE(answer.topics[1].is_internal);
  answer = metadata(5, std::vector<std::string>{"bad name"}, false);
  EXPECT_EQ(answer.topics[0].error_code, code(error_code::invalid_topic_exception));
  EXPECT_TRUE(topics_->all().empty());
}

TEST_F(TopicHandlersTest, MetadataFindsTopicsById) {
  const auto created = topics_->create("by-id", 1, 1, {}, false);
  ASSERT_EQ(created.error, error_code::none);
  protocol::uuid unknown;
  unknown.value[0] = 0x42;
  for (const std::int16_t version : {10, 12}) {
    protocol::metadata_request request;
    request.topics.emplace();
    request.topics->push_back({created.created->id, std::nullopt, {}});
    request.topics->push_back({unknown, std::nullopt, {}});
    const auto answer = call<protocol::metadata_response>(handle_metadata, version, request);
    ASSERT_EQ(answer.topics.size(), 2u);
    EXPECT_EQ(answer.topics[0].error_code, 0);
    EXPECT_EQ(answer.topics[0].name, "by-id");
    EXPECT_EQ(answer.topics[0].topic_id, created.created->id);
    EXPECT_EQ(answer.topics[1].error_code, code(error_code::unknown_topic_id));
    EXPECT_EQ(answer.topics[1].topic_id, unknown);
    if (version >= 12) {
      EXPECT_FALSE(answer.topics[1].name);
    } else {
      EXPECT_EQ(answer.topics[1].name, "");
    }
  }
}

TEST_F(TopicHandlersTest, MetadataReportsAuthorizedOperationsOnlyWhenAsked) {
  ASSERT_EQ(topics_->create("ops", 1, 1, {}, false).error, error_code::none);
  protocol::metadata_request request;
  request.topics.reset();
  auto answer = call<protocol::metadata_response>(handle_metadata, 8, request);
  EXPECT_EQ(answer.topics[0].topic_authorized_operations, INT32_MIN);
  EXPECT_EQ(answer.cluster_authorized_operations, INT32_MIN);
  request.include_topic_authorized_operations = true;
  request.include_cluster_authorized_operations = true;
  answer = call<protocol::metadata_response>(handle_metadata, 8, request);
  EXPECT_EQ(answer.topics[0].topic_authorized_operations, 3576);  // READ..ALTER_CONFIGS without CLUSTER_ACTION
  EXPECT_EQ(answer.cluster_authorized_operations, 8096);
}

TEST_F(TopicHandlersTest, MalformedRequestsCloseTheConnection) {
  protocol::bytes encoded;
  ASSERT_FALSE(protocol::encode_request_frame(encoded, 42, 1, std::string("c"), protocol::metadata_request{}));
  encoded.resize(encoded.size() - 4);  // the topics count: claim two billion topics in a 4-byte body
  for (int i = 0; i < 4; ++i) encoded.push_back(0x7f);
  bool closed = false;
  call_raw<protocol::metadata_response>(handle_metadata, protocol::api_key::metadata, 1, encoded, &closed);
  EXPECT_TRUE(closed);

  protocol::bytes truncated;
  protocol::create_topics_request request;
  request.topics.push_back(new_topic("t"));
  ASSERT_FALSE(protocol::encode_request_frame(truncated, 42, 5, std::string("c"), request));
  truncated.resize(truncated.size() - 3);
  closed = false;
  call_raw<protocol::create_topics_response>(handle_create_topics, protocol::api_key::create_topics, 5, truncated,
                                             &closed);
  EXPECT_TRUE(closed);
  EXPECT_FALSE(topics_->find("t"));
}

TEST_F(TopicHandlersTest, CreateTopicsAnswersWithTheNewTopic) {
  auto t = new_topic("created", 3);
  t.configs.push_back({"retention.ms", "3600000", {}});
  const auto answer = create_topics(7, {t});
  ASSERT_EQ(answer.topics.size(), 1u);
  const auto& result = answer.topics[0];
  EXPECT_EQ(result.name, "created");
  EXPECT_EQ(result.error_code, 0);
  EXPECT_FALSE(result.error_message);
  EXPECT_EQ(result.num_partitions, 3);
  EXPECT_EQ(result.replication_factor, 1);
  const auto found = topics_->find("created");
  ASSERT_TRUE(found);
  EXPECT_EQ(result.topic_id, found->id);
  EXPECT_EQ(found->partitions[0].log->config().retention_ms, 3600000);
  ASSERT_TRUE(result.configs);
  bool saw_retention = false;
  bool saw_cleanup = false;
  for (const auto& c : *result.configs) {
    if (c.name == "retention.ms") {
      saw_retention = true;
      EXPECT_EQ(c.value, "3600000");
      EXPECT_EQ(c.config_source, 1);  // DYNAMIC_TOPIC_CONFIG
    }
    if (c.name == "cleanup.policy") {
      saw_cleanup = true;
      EXPECT_EQ(c.value, "delete");
      EXPECT_EQ(c.config_source, 5);  // DEFAULT_CONFIG
    }
  }
  EXPECT_TRUE(saw_retention);
  EXPECT_TRUE(saw_cleanup);
}

TEST_F(TopicHandlersTest, CreateTopicsErrorsMatchKafka) {
  ASSERT_EQ(topics_->create("existing", 1, 1, {}, false).error, error_code::none);
  auto null_config = new_topic("null-config");
  null_config.configs.push_back({"retention.ms", std::nullopt, {}});
  auto unknown_config = new_topic("unknown-config");
  unknown_config.configs.push_back({"no.such.config", "1", {}});
  const auto answer = create_topics(5, {new_topic("existing"), new_topic("bad/name"), new_topic("zero", 0),
                                        new_topic("rf3", 1, 3), null_config, unknown_config});
  ASSERT_EQ(answer.topics.size(), 6u);
  EXPECT_EQ(answer.topics[0].error_code, code(error_code::topic_already_exists));
  EXPECT_EQ(answer.topics[0].error_message, "Topic 'existing' already exists.");
  EXPECT_EQ(answer.topics[1].error_code, code(error_code::invalid_topic_exception));
  EXPECT_EQ(answer.topics[2].error_code, code(error_code::invalid_partitions));
  EXPECT_EQ(answer.topics[3].error_code, code(error_code::invalid_replication_factor));
  EXPECT_EQ(answer.topics[4].error_code, code(error_code::invalid_config));
  EXPECT_EQ(answer.topics[4].error_message, "Null value not supported for topic configs: retention.ms");
  EXPECT_EQ(answer.topics[5].error_code, code(error_code::invalid_config));
  for (const auto& r : answer.topics) {
    EXPECT_EQ(r.num_partitions, -1);
    EXPECT_EQ(r.replication_factor, -1);
  }
  EXPECT_EQ(topics_->all().size(), 1u);
}

TEST_F(TopicHandlersTest, CreateTopicsRefusesDuplicateNamesOnce) {
  const auto answer = create_topics(4, {new_topic("twice"), new_topic("once"), new_topic("twice", 2)});
  ASSERT_EQ(answer.topics.size(), 2u);
  EXPECT_EQ(answer.topics[0].name, "twice");
  EXPECT_EQ(answer.topics[0].error_code, code(error_code::invalid_request));
  EXPECT_EQ(answer.topics[0].error_message, "Duplicate topic name.");
  EXPECT_EQ(answer.topics[1].name, "once");
  EXPECT_EQ(answer.topics[1].error_code, 0);
  EXPECT_FALSE(topics_->find("twice"));
  EXPECT_TRUE(topics_->find("once"));
}

TEST_F(TopicHandlersTest, CreateTopicsValidateOnlyCreatesNothing) {
  const auto answer = create_topics(5, {new_topic("dry", 4), new_topic("dry-bad", -7)}, true);
  EXPECT_EQ(answer.topics[0].error_code, 0);
  EXPECT_EQ(answer.topics[0].num_partitions, 4);
  EXPECT_EQ(answer.topics[1].error_code, code(error_code::invalid_partitions));
  EXPECT_TRUE(topics_->all().empty());
  EXPECT_TRUE(logs_->partitions().empty());
}

TEST_F(TopicHandlersTest, CreateTopicsMinusOneTakesTheBrokerDefaults) {
  const auto answer = create_topics(5, {new_topic("defaults", -1, -1)});
  EXPECT_EQ(answer.topics[0].error_code, 0);
  EXPECT_EQ(answer.topics[0].num_partitions, 2);  // num.partitions
  ASSERT_TRUE(topics_->find("defaults"));
  EXPECT_EQ(topics_->find("defaults")->partitions.size(), 2u);
}

TEST_F(TopicHandlersTest, CreateTopicsTakesManualAssignmentsToThisNode) {
  auto assigned = new_topic("assigned", -1, -1);
  assigned.assignments = {{0, {7}, {}}, {1, {7}, {}}, {2, {7}, {}}};
  auto other_broker = new_topic("other-broker", -1, -1);
  other_broker.assignments = {{0, {8}, {}}};
  auto with_count = new_topic("with-count", 3, -1);
  with_count.assignments = {{0, {7}, {}}};
  auto gap = new_topic("gap", -1, -1);
  gap.assignments = {{0, {7}, {}}, {2, {7}, {}}};
  auto twice = new_topic("twice", -1, -1);
  twice.assignments = {{0, {7, 7}, {}}};
  const auto answer = create_topics(5, {assigned, other_broker, with_count, gap, twice});
  EXPECT_EQ(answer.topics[0].error_code, 0);
  EXPECT_EQ(answer.topics[0].num_partitions, 3);
  EXPECT_EQ(answer.topics[1].error_code, code(error_code::invalid_replica_assignment));
  EXPECT_EQ(answer.topics[1].error_message,
            "The manual partition assignment includes broker 8, but no such broker is registered.");
  EXPECT_EQ(answer.topics[2].error_code, code(error_code::invalid_request));
  EXPECT_EQ(answer.topics[3].error_code, code(error_code::invalid_replica_assignment));
  EXPECT_EQ(answer.topics[4].error_code, code(error_code::invalid_replica_assignment));
  EXPECT_EQ(topics_->all().size(), 1u);
}

TEST_F(TopicHandlersTest, DeleteTopicsByNameAndById) {
  ASSERT_EQ(topics_->create("by-name", 2, 1, {}, false).error, error_code::none);
  const auto by_id = topics_->create("by-id", 1, 1, {}, false);
  ASSERT_EQ(by_id.error, error_code::none);

  auto answer = delete_by_name(4, {"by-name", "missing"});
  ASSERT_EQ(answer.responses.size(), 2u);
  EXPECT_EQ(answer.responses[0].name, "by-name");
  EXPECT_EQ(answer.responses[0].error_code, 0);
  EXPECT_EQ(answer.responses[1].error_code, code(error_code::unknown_topic_or_partition));
  EXPECT_FALSE(topics_->find("by-name"));
  EXPECT_FALSE(fs::exists(dir_ / "by-name-0"));

  protocol::uuid unknown;
  unknown.value[3] = 9;
  protocol::delete_topics_request request;
  request.topics.push_back({std::nullopt, by_id.created->id, {}});
  request.topics.push_back({std::nullopt, unknown, {}});
  request.topics.push_back({std::nullopt, {}, {}});
  request.topics.push_back({"by-id", by_id.created->id, {}});
  answer = call<protocol::delete_topics_response>(handle_delete_topics, 6, request);
  ASSERT_EQ(answer.responses.size(), 4u);
  EXPECT_EQ(answer.responses[0].error_code, 0);
  EXPECT_EQ(answer.responses[0].name, "by-id");
  EXPECT_EQ(answer.responses[0].topic_id, by_id.created->id);
  EXPECT_EQ(answer.responses[1].error_code, code(error_code::unknown_topic_id));
  EXPECT_EQ(answer.responses[1].topic_id, unknown);
  EXPECT_EQ(answer.responses[2].error_code, code(error_code::invalid_request));
  EXPECT_EQ(answer.responses[2].error_message, "Neither topic name nor id were specified.");
  EXPECT_EQ(answer.responses[3].error_code, code(error_code::invalid_request));
  EXPECT_EQ(answer.responses[3].error_message, "You may not specify both topic name and topic id.");
  EXPECT_TRUE(topics_->all().empty());
}

TEST_F(TopicHandlersTest, DeleteTopicsRefusesDuplicatesAndAliases) {
  const auto alias = topics_->create("alias", 1, 1, {}, false);
  ASSERT_EQ(alias.error, error_code::none);
  ASSERT_EQ(topics_->create("dup", 1, 1, {}, false).error, error_code::none);
  auto answer = delete_by_name(5, {"dup", "dup"});
  ASSERT_EQ(answer.responses.size(), 1u);
  EXPECT_EQ(answer.responses[0].error_code, code(error_code::invalid_request));
  EXPECT_EQ(answer.responses[0].error_message, "Duplicate topic name.");
  EXPECT_TRUE(topics_->find("dup"));

  protocol::delete_topics_request request;
  request.topics.push_back({"alias", {}, {}});
  request.topics.push_back({std::nullopt, alias.created->id, {}});
  answer = call<protocol::delete_topics_response>(handle_delete_topics, 6, request);
  ASSERT_EQ(answer.responses.size(), 1u);
  EXPECT_EQ(answer.responses[0].error_code, code(error_code::invalid_request));
  EXPECT_EQ(answer.responses[0].error_message, "The provided topic name maps to an ID that was already supplied.");
  EXPECT_TRUE(topics_->find("alias"));
}

TEST_F(TopicHandlersTest, DeleteTopicsCanBeDisabled) {
  ASSERT_EQ(topics_->create("kept", 1, 1, {}, false).error, error_code::none);
  settings_.delete_topic_enable = false;
  make_services();
  auto answer = delete_by_name(4, {"kept"});
  EXPECT_EQ(answer.responses[0].error_code, code(error_code::topic_deletion_disabled));
  answer = delete_by_name(1, {"kept"});
  EXPECT_EQ(answer.responses[0].error_code, code(error_code::invalid_request));
  EXPECT_TRUE(topics_->find("kept"));
}

}  // namespace
}  // namespace vltava::broker
