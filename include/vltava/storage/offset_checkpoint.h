// Kafka's checkpoint files in each log directory (recovery-point-offset-checkpoint, log-start-offset-checkpoint,
// cleaner-offset-checkpoint): text, a version line "0", a count line, then one "<topic> <partition> <offset>" line
// per partition. Written to a temporary file, fsynced and renamed over the old one, so a crash leaves either the
// old or the new checkpoint, never a mix.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <system_error>

#include "vltava/storage/partition_log.h"

namespace vltava::storage {

using offset_map = std::map<topic_partition, std::int64_t>;

// A missing file reads as an empty map; a malformed one is corrupt_batch (the caller then recovers everything).
[[nodiscard]] std::error_code read_offset_checkpoint(const std::filesystem::path& path, offset_map& out);
[[nodiscard]] std::error_code write_offset_checkpoint(const std::filesystem::path& path, const offset_map& offsets);

}  // namespace vltava::storage
