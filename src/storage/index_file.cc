// The file behind an index, opened for the moment of each operation (see index_file.h).
#include "index_file.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include <spdlog/spdlog.h>

namespace vltava::storage::index_file {

std::error_code store::open(const std::filesystem::path& path, std::shared_ptr<io_fault_injector> faults,
                            std::unique_ptr<store>& out, std::vector<std::uint8_t>& contents) {
  std::shared_ptr<file> f;
  if (auto ec = file::open(path, open_mode::open_or_create, faults, f)) return ec;
  contents.assign(f->size(), 0);
  if (!contents.empty()) {
    if (auto ec = f->read_exact(0, contents)) return ec;
  }
  out.reset(new store(path, std::move(faults), f->size()));
  return {};
}

std::error_code store::open_file(std::shared_ptr<file>& f) {
  // A file that is gone needs no writing: its segment was deleted (by retention, or replaced by compaction) while
  // a flush that had already picked the segment ran. A descriptor held open would have written into the unlinked
  // file just as uselessly. f stays empty then, and the operation succeeds doing nothing.
  if (auto ec = file::open(path_, open_mode::open_existing, faults_, f)) {
    return ec == storage_errc::not_found ? std::error_code{} : ec;
  }
  size_ = f->size();
  return {};
}

std::error_code store::append(std::span<const std::uint8_t> data) {
  std::shared_ptr<file> f;
  if (auto ec = open_file(f); ec || !f) return ec;
  auto ec = f->append(data);
  size_ = f->size();
  return ec;
}

std::error_code store::truncate(std::uint64_t size) {
  std::shared_ptr<file> f;
  if (auto ec = open_file(f); ec || !f) return ec;
  auto ec = f->truncate(size);
  size_ = f->size();
  return ec;
}

std::error_code store::sync() {
  // Unlike the writes, a sync may run outside the owning log's lock (see partition_log::flush): it reads only the
  // path, which changes under that lock only for a segment no flush holds, and leaves size_ alone.
  std::shared_ptr<file> f;
  if (auto ec = file::open(path_, open_mode::open_existing, faults_, f)) {
    return ec == storage_errc::not_found ? std::error_code{} : ec;
  }
  return f->sync();
}

std::error_code store::rename(const std::filesystem::path& to) {
  if (::rename(path_.c_str(), to.c_str()) != 0) {
    const int saved = errno;
    spdlog::error("storage: rename {} failed: {}", path_.string(), std::generic_category().message(saved));
    return from_errno(saved);
  }
  path_ = to;
  return {};
}

std::error_code store::remove() {
  if (::unlink(path_.c_str()) != 0 && errno != ENOENT) {
    const int saved = errno;
    spdlog::error("storage: unlink {} failed: {}", path_.string(), std::generic_category().message(saved));
    return from_errno(saved);
  }
  return {};
}

}  // namespace vltava::storage::index_file
