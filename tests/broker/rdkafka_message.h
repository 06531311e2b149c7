// Reading a consumed librdkafka message into plain values, shared by the tests that check records broker-side.
#pragma once

#include <librdkafka/rdkafka.h>

#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace vltava::broker::testing {

// A key, value or header value as librdkafka hands it over: null stays nullopt.
inline std::optional<std::string> as_optional(const void* data, std::size_t size) {
  if (data == nullptr) return std::nullopt;
  return std::string(static_cast<const char*>(data), size);
}

// A message's headers in order, repeated names kept.
inline std::vector<std::pair<std::string, std::optional<std::string>>> message_headers(rd_kafka_message_t* message) {
  std::vector<std::pair<std::string, std::optional<std::string>>> out;
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(message, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR) return out;
  const char* name = nullptr;
  const void* value = nullptr;
  std::size_t size = 0;
  for (std::size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
       ++i) {
    out.emplace_back(name, as_optional(value, size));
  }
  return out;
}

}  // namespace vltava::broker::testing
