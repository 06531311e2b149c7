// Reading and writing Kafka's offset checkpoint files ("0", a count, then "<topic> <partition> <offset>" lines).
#include "vltava/storage/offset_checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/spdlog.h>

#include "vltava/storage/storage_error.h"

namespace vltava::storage {
namespace {

constexpr std::string_view current_version = "0";

template <typename Int>
bool parse_int(std::string_view text, Int& out) {
  if (text.empty()) return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

// As Java's line.split("\\s+"), which Kafka uses: a leading whitespace run gives an empty first field (malformed),
// trailing whitespace is dropped.
std::vector<std::string_view> split_fields(std::string_view line) {
  while (!line.empty() && is_space(line.back())) line.remove_suffix(1);
  std::vector<std::string_view> fields;
  std::size_t i = 0;
  while (i < line.size() || fields.empty()) {
    std::size_t j = i;
    while (j < line.size() && !is_space(line[j])) ++j;
    fields.push_back(line.substr(i, j - i));
    i = j;
    while (i < line.size() && is_space(line[i])) ++i;
    if (j == line.size()) break;
  }
  return fields;
}

std::error_code malformed(const std::filesystem::path& path, std::size_t line_number, std::string_view why) {
  spdlog::warn("offset checkpoint {}: line {}: {}", path.string(), line_number, why);
  return make_error_code(storage_errc::corrupt_batch);
}

std::error_code os_error(std::string_view what, const std::filesystem::path& path, int error_number) {
  spdlog::error("offset checkpoint: {} {}: {}", what, path.string(), std::strerror(error_number));
  return from_errno(error_number);
}

// Reads the whole file; found is false (and no error) when it does not exist.
std::error_code read_file(const std::filesystem::path& path, std::string& out, bool& found) {
  found = false;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return {};
    return os_error("open", path, errno);
  }
  found = true;
  char buffer[8192];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int error_number = errno;
      ::close(fd);
      return os_error("read", path, error_number);
    }
    if (n == 0) break;
    out.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return {};
}

std::error_code parse(const std::filesystem::path& path, std::string_view text, offset_map& out) {
  // Kafka creates an empty checkpoint file before it first writes one, and reads it as holding nothing.
  if (text.empty()) return {};

  std::vector<std::string_view> lines;
  while (!text.empty()) {
    auto newline = text.find('\n');
    if (newline == std::string_view::npos) newline = text.size();  // a last line without its newline
    auto line = text.substr(0, newline);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);  // CRLF, as Java's readLine accepts
    lines.push_back(line);
    text.remove_prefix(std::min(newline + 1, text.size()));
  }

  if (lines.empty() || lines[0] != current_version) return malformed(path, 1, "unsupported version");
  std::int64_t expected = 0;
  if (lines.size() < 2 || !parse_int(lines[1], expected) || expected < 0) {
    return malformed(path, 2, "bad entry count");
  }
  if (static_cast<std::uint64_t>(expected) != lines.size() - 2) {
    return malformed(
        path, 2,
        "entry count " + std::to_string(expected) + " but " + std::to_string(lines.size() - 2) + " entry lines");
  }

  offset_map result;
  for (std::size_t i = 2; i < lines.size(); ++i) {
    const auto fields = split_fields(lines[i]);
    if (fields.size() != 3 || fields[0].empty()) return malformed(path, i + 1, "expected <topic> <partition> <offset>");
    topic_partition tp{std::string(fields[0]), 0};
    std::int64_t offset = 0;
    if (!parse_int(fields[1], tp.partition) || tp.partition < 0) return malformed(path, i + 1, "bad partition");
    if (!parse_int(fields[2], offset)) return malformed(path, i + 1, "bad offset");
    if (!result.emplace(std::move(tp), offset).second) return malformed(path, i + 1, "duplicate topic-partition");
  }
  out = std::move(result);
  return {};
}

}  // namespace

std::error_code read_offset_checkpoint(const std::filesystem::path& path, offset_map& out) {
  out.clear();
  std::string text;
  bool found = false;
  if (auto error = read_file(path, text, found)) return error;
  if (!found) return {};
  return parse(path, text, out);
}

std::error_code write_offset_checkpoint(const std::filesystem::path& path, const offset_map& offsets) {
  std::string text;
  text.append(current_version).append("\n").append(std::to_string(offsets.size())).append("\n");
  for (const auto& [tp, offset] : offsets) {
    // A name the reader would split differently would turn the whole file corrupt, losing every entry.
    const bool bad_topic = tp.topic.empty() || std::any_of(tp.topic.begin(), tp.topic.end(),
                                                           [](char c) { return is_space(c) || c == '\n'; });
    if (bad_topic || tp.partition < 0) {
      spdlog::error("offset checkpoint {}: cannot write topic-partition '{}' {}", path.string(), tp.topic,
                    tp.partition);
      return make_error_code(storage_errc::invalid_argument);
    }
    text.append(tp.topic)
        .append(" ")
        .append(std::to_string(tp.partition))
        .append(" ")
        .append(std::to_string(offset))
        .append("\n");
  }

  // Write a temporary file, make it durable, then rename it over the old one: a crash at any point leaves the old
  // or the new checkpoint complete.
  std::filesystem::path temporary = path;
  temporary += ".tmp";
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return os_error("create", temporary, errno);

  const auto fail = [&](const char* what, int error_number) {
    ::close(fd);
    ::unlink(temporary.c_str());
    return os_error(what, temporary, error_number);
  };
  std::string_view remaining = text;
  while (!remaining.empty()) {
    const ssize_t n = ::write(fd, remaining.data(), remaining.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("write", errno);
    }
    remaining.remove_prefix(static_cast<std::size_t>(n));
  }
  // fsync, not fdatasync: the new size must be durable before the rename makes the file the checkpoint.
  if (::fsync(fd) != 0) return fail("fsync", errno);
  if (::close(fd) != 0) {
    const int error_number = errno;
    ::unlink(temporary.c_str());
    return os_error("close", temporary, error_number);
  }
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    const int error_number = errno;
    ::unlink(temporary.c_str());
    return os_error("rename to " + path.string() + " from", temporary, error_number);
  }
  // The rename itself is durable only once the directory is.
  auto directory = path.parent_path();
  if (directory.empty()) directory = ".";
  return sync_directory(directory);
}

}  // namespace vltava::storage
