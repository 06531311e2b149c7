// An open file of a log: the .log, .index and .timeindex files of a segment. A thin RAII wrapper over a POSIX file
// descriptor that tracks the file's logical size, so appends never depend on the file offset and a failed append
// can be undone by truncating back to where it started.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <system_error>
#include <vector>

#include "vltava/storage/storage_context.h"

namespace vltava::storage {

enum class open_mode { create_new, open_existing, open_or_create };

class file {
 public:
  ~file();
  file(const file&) = delete;
  file& operator=(const file&) = delete;

  [[nodiscard]] static std::error_code open(const std::filesystem::path& path, open_mode mode,
                                            std::shared_ptr<io_fault_injector> faults, std::shared_ptr<file>& out);

  // Writes all of data at the current end. On failure the file is cut back to its size before the call (best
  // effort; the error is what the write reported), so a half-written append never stays behind.
  [[nodiscard]] std::error_code append(std::span<const std::uint8_t> data);
  // Reads exactly out.size() bytes at position; storage_errc::corrupt_batch if the file ends first.
  [[nodiscard]] std::error_code read_exact(std::uint64_t position, std::span<std::uint8_t> out) const;
  // Reads up to out.size() bytes at position; count is what was read (short only at the end of the file).
  [[nodiscard]] std::error_code read_some(std::uint64_t position, std::span<std::uint8_t> out,
                                          std::size_t& count) const;
  [[nodiscard]] std::error_code sync();  // fdatasync
  [[nodiscard]] std::error_code truncate(std::uint64_t size);
  // Renames the file; the descriptor stays valid, so readers holding it are unaffected.
  [[nodiscard]] std::error_code rename(const std::filesystem::path& to);
  // Unlinks the file; readers holding it keep reading until they let go.
  [[nodiscard]] std::error_code remove();

  int descriptor() const noexcept { return fd_; }
  std::uint64_t size() const noexcept { return size_; }
  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  file(int fd, std::filesystem::path path, std::uint64_t size, std::shared_ptr<io_fault_injector> faults) noexcept
      : fd_(fd), path_(std::move(path)), size_(size), faults_(std::move(faults)) {}

  int fd_;
  std::filesystem::path path_;
  std::uint64_t size_;
  std::shared_ptr<io_fault_injector> faults_;
};

// Bytes of one file that a reader may send as they are: with sendfile(2) on a plain socket, or read into memory.
// Holding the slice keeps the file open, so a segment deleted by retention or replaced by compaction meanwhile
// still reads back what the slice promised.
struct file_slice {
  std::shared_ptr<const file> source;
  std::uint64_t position = 0;
  std::uint64_t length = 0;

  bool empty() const noexcept { return length == 0; }
  // Copies the slice's bytes into out (appended).
  [[nodiscard]] std::error_code read_into(std::vector<std::uint8_t>& out) const;
};

// fsync of a directory, so that creating, renaming or removing a file in it is durable.
[[nodiscard]] std::error_code sync_directory(const std::filesystem::path& directory);

}  // namespace vltava::storage
