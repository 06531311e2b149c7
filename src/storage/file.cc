// POSIX file access for log and index files, with the fault-injection hooks tests use to play a full disk.
#include "vltava/storage/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

#include <spdlog/spdlog.h>

#include "vltava/storage/storage_error.h"

namespace vltava::storage {

std::int64_t system_clock::now_ms() const noexcept {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

namespace {

std::error_code last_error(const char* what, const std::filesystem::path& path) {
  const int saved = errno;
  auto ec = from_errno(saved);
  if (saved != ENOENT && saved != EEXIST) {
    spdlog::error("storage: {} {} failed: {}", what, path.string(), std::generic_category().message(saved));
  }
  return ec;
}

}  // namespace

file::~file() {
  if (fd_ >= 0) ::close(fd_);
}

std::error_code file::open(const std::filesystem::path& path, open_mode mode, std::shared_ptr<io_fault_injector> faults,
                           std::shared_ptr<file>& out) {
  int flags = O_RDWR | O_CLOEXEC;
  if (mode == open_mode::create_new) flags |= O_CREAT | O_EXCL;
  if (mode == open_mode::open_or_create) flags |= O_CREAT;
  const int fd = ::open(path.c_str(), flags, 0644);
  if (fd < 0) return last_error("open", path);
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    auto ec = last_error("fstat", path);
    ::close(fd);
    return ec;
  }
  out.reset(new file(fd, path, static_cast<std::uint64_t>(info.st_size), std::move(faults)));
  return {};
}

std::error_code file::append(std::span<const std::uint8_t> data) {
  const std::uint64_t start = size_;
  std::size_t allowed = data.size();
  std::error_code injected;
  if (faults_) injected = faults_->before_write(path_, allowed);
  if (allowed > data.size()) allowed = data.size();
  std::size_t written = 0;
  std::error_code failure;
  while (written < allowed) {
    const ssize_t n = ::pwrite(fd_, data.data() + written, allowed - written, static_cast<off_t>(start + written));
    if (n < 0) {
      if (errno == EINTR) continue;
      failure = last_error("write", path_);
      break;
    }
    written += static_cast<std::size_t>(n);
  }
  if (!failure && injected) failure = injected;
  if (!failure && written < data.size()) failure = make_error_code(storage_errc::io_error);
  if (failure) {
    // Never leave a partial append behind: what readers and recovery see ends where it did before the call.
    if (written > 0 && ::ftruncate(fd_, static_cast<off_t>(start)) != 0) {
      spdlog::error("storage: could not cut {} back to {} bytes after a failed write", path_.string(), start);
    }
    if (failure.category() != storage_category()) failure = from_errno(failure.value());
    return failure;
  }
  size_ = start + data.size();
  return {};
}

std::error_code file::read_some(std::uint64_t position, std::span<std::uint8_t> out, std::size_t& count) const {
  count = 0;
  while (count < out.size()) {
    const ssize_t n = ::pread(fd_, out.data() + count, out.size() - count, static_cast<off_t>(position + count));
    if (n < 0) {
      if (errno == EINTR) continue;
      return last_error("read", path_);
    }
    if (n == 0) break;
    count += static_cast<std::size_t>(n);
  }
  return {};
}

std::error_code file::read_exact(std::uint64_t position, std::span<std::uint8_t> out) const {
  std::size_t count = 0;
  if (auto ec = read_some(position, out, count)) return ec;
  if (count != out.size()) return make_error_code(storage_errc::corrupt_batch);
  return {};
}

std::error_code file::sync() {
  if (faults_) {
    if (auto ec = faults_->before_sync(path_)) {
      spdlog::error("storage: fsync {} failed: {}", path_.string(), ec.message());
      return ec.category() == storage_category() ? ec : from_errno(ec.value());
    }
  }
  if (::fdatasync(fd_) != 0) return last_error("fdatasync", path_);
  return {};
}

std::error_code file::truncate(std::uint64_t size) {
  if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) return last_error("truncate", path_);
  size_ = size;
  return {};
}

std::error_code file::rename(const std::filesystem::path& to) {
  if (::rename(path_.c_str(), to.c_str()) != 0) return last_error("rename", path_);
  path_ = to;
  return {};
}

std::error_code file::remove() {
  if (::unlink(path_.c_str()) != 0 && errno != ENOENT) return last_error("unlink", path_);
  return {};
}

std::error_code file_slice::read_into(std::vector<std::uint8_t>& out) const {
  if (length == 0) return {};
  if (!source) return make_error_code(storage_errc::invalid_argument);
  const std::size_t at = out.size();
  out.resize(at + length);
  if (auto ec = source->read_exact(position, std::span(out).subspan(at))) {
    out.resize(at);
    return ec;
  }
  return {};
}

std::error_code sync_directory(const std::filesystem::path& directory) {
  const int fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return last_error("open directory", directory);
  std::error_code ec;
  if (::fsync(fd) != 0) ec = last_error("fsync directory", directory);
  ::close(fd);
  return ec;
}

}  // namespace vltava::storage
