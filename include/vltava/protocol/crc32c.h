// Checksums used by Kafka record formats: CRC-32C (Castagnoli) for record batches v2, CRC-32 (IEEE) for the legacy
// magic 0/1 message sets.
//
// Both functions extend a previous result, so a checksum can be computed over data that arrives in pieces:
// crc32c(b, crc32c(a)) == crc32c(a followed by b). The initial value 0 is the checksum of no data.
#pragma once

#include <cstdint>

#include "vltava/protocol/wire.h"

namespace vltava::protocol {

// CRC-32C using SSE4.2 when the CPU has it (decided once, at the first call), the portable code otherwise.
std::uint32_t crc32c(byte_span data, std::uint32_t crc = 0) noexcept;

// The table-driven (slicing-by-8) implementation, always available; exposed so tests and benchmarks can compare.
std::uint32_t crc32c_portable(byte_span data, std::uint32_t crc = 0) noexcept;

// Whether crc32c() takes the hardware path on this machine.
bool crc32c_hardware_available() noexcept;

// CRC-32 (IEEE 802.3, zlib's crc32), as the legacy message format uses.
std::uint32_t crc32_ieee(byte_span data, std::uint32_t crc = 0) noexcept;

}  // namespace vltava::protocol
