// gzip, snappy, lz4 and zstd as Kafka clients frame them, with bounded decompression.
#include "vltava/protocol/compression.h"

#include <lz4frame.h>
#include <snappy.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstring>
#include <limits>
#include <memory>

namespace vltava::protocol {
namespace {

// Decompressed bytes are written straight into the caller's buffer, which grows geometrically but never beyond
// limit + 1 bytes: producing that last byte proves the input expands past the limit. The destructor restores the
// buffer unless finish() was called, so a failure leaves no partial output behind.
class bounded_output {
 public:
  bounded_output(bytes& out, std::size_t limit) noexcept
      : out_(out), start_(out.size()), limit_(limit), cap_(limit == SIZE_MAX ? limit : limit + 1) {}
  bounded_output(const bounded_output&) = delete;
  bounded_output& operator=(const bounded_output&) = delete;
  ~bounded_output() {
    if (!finished_) out_.resize(start_);
  }

  // Free space after what was produced, growing the buffer when there is none; empty once the cap is reached.
  std::span<std::uint8_t> room(std::size_t wanted) {
    std::size_t used = start_ + produced_;
    if (out_.size() == used) {
      if (produced_ >= cap_) return {};
      std::size_t grow = std::max({wanted, produced_, min_growth});
      out_.resize(used + std::min(grow, cap_ - produced_));
    }
    return {out_.data() + used, out_.size() - used};
  }
  void commit(std::size_t n) noexcept { produced_ += n; }

  bool fits(std::size_t n) const noexcept { return n <= limit_ - std::min(produced_, limit_); }
  // Exactly n more bytes (the caller checked fits(n)) for codecs that know their output size up front.
  std::uint8_t* take(std::size_t n) {
    std::size_t used = start_ + produced_;
    if (out_.size() < used + n) out_.resize(used + n);
    produced_ += n;
    return out_.data() + used;
  }

  bool over_limit() const noexcept { return produced_ > limit_; }
  void finish() {
    out_.resize(start_ + produced_);
    finished_ = true;
  }

 private:
  static constexpr std::size_t min_growth = 16 * 1024;
  bytes& out_;
  std::size_t start_;
  std::size_t limit_;
  std::size_t cap_;
  std::size_t produced_ = 0;
  bool finished_ = false;
};

std::error_code fail(codec_errc e) noexcept { return make_error_code(e); }

std::uint32_t load_le32(const std::uint8_t* p) noexcept {
  std::uint32_t v;
  std::memcpy(&v, p, sizeof(v));
  if constexpr (std::endian::native == std::endian::big) v = byteswap_int(v);
  return v;
}

// ---------------------------------------------------------------------------------------------------------- none

std::error_code copy_bounded(byte_span input, bytes& output, std::size_t limit) {
  if (input.size() > limit) return fail(codec_errc::too_large);
  output.insert(output.end(), input.begin(), input.end());
  return {};
}

// ---------------------------------------------------------------------------------------------------------- gzip

std::error_code gzip_compress(byte_span input, bytes& output, int level) {
  if (input.size() > UINT_MAX) return fail(codec_errc::too_large);
  z_stream zs{};
  // windowBits 15 + 16: the gzip wrapper (header and CRC-32 trailer), which is what Kafka's "gzip" means.
  if (deflateInit2(&zs, level == 0 ? Z_DEFAULT_COMPRESSION : level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return fail(codec_errc::invalid_value);
  std::unique_ptr<z_stream, int (*)(z_stream*)> guard(&zs, deflateEnd);
  const std::size_t start = output.size();
  const std::size_t bound = deflateBound(&zs, static_cast<uLong>(input.size()));
  output.resize(start + bound);
  zs.next_in = const_cast<Bytef*>(input.data());  // zlib's API is not const-correct; it does not write input
  zs.avail_in = static_cast<uInt>(input.size());
  zs.next_out = output.data() + start;
  zs.avail_out = static_cast<uInt>(bound);
  if (deflate(&zs, Z_FINISH) != Z_STREAM_END) {
    output.resize(start);
    return fail(codec_errc::invalid_value);
  }
  output.resize(start + zs.total_out);
  return {};
}

std::error_code gzip_decompress(byte_span input, bytes& output, std::size_t limit) {
  z_stream zs{};
  // windowBits 15 + 32: detect the gzip or zlib wrapper. Clients send gzip; accepting zlib costs nothing.
  if (inflateInit2(&zs, 15 + 32) != Z_OK) return fail(codec_errc::decompression_failed);
  std::unique_ptr<z_stream, int (*)(z_stream*)> guard(&zs, inflateEnd);
  bounded_output sink(output, limit);
  std::size_t fed = 0;
  const std::size_t hint = input.size() > SIZE_MAX / 4 ? input.size() : input.size() * 4;
  for (;;) {
    if (zs.avail_in == 0 && fed < input.size()) {
      std::size_t n = std::min<std::size_t>(input.size() - fed, UINT_MAX);
      zs.next_in = const_cast<Bytef*>(input.data() + fed);
      zs.avail_in = static_cast<uInt>(n);
      fed += n;
    }
    auto room = sink.room(hint);
    if (room.empty()) return fail(codec_errc::too_large);
    const uInt avail = static_cast<uInt>(std::min<std::size_t>(room.size(), UINT_MAX));
    zs.next_out = room.data();
    zs.avail_out = avail;
    int rc = inflate(&zs, Z_NO_FLUSH);
    sink.commit(avail - zs.avail_out);
    if (sink.over_limit()) return fail(codec_errc::too_large);
    if (rc == Z_STREAM_END) {
      if (zs.avail_in == 0 && fed == input.size()) break;
      // Concatenated gzip members form one stream (Java's GZIPInputStream reads them so); anything else after a
      // member fails to inflate below.
      if (inflateReset(&zs) != Z_OK) return fail(codec_errc::decompression_failed);
      continue;
    }
    if (rc == Z_BUF_ERROR && zs.avail_out != 0) return fail(codec_errc::decompression_failed);  // input ended early
    if (rc != Z_OK && rc != Z_BUF_ERROR) return fail(codec_errc::decompression_failed);
  }
  sink.finish();
  return {};
}

// -------------------------------------------------------------------------------------------------------- snappy

// snappy-java's stream header: magic, then big-endian int32 version and minimum compatible version (both 1).
constexpr std::array<std::uint8_t, 8> xerial_magic = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
constexpr std::size_t xerial_header_size = 16;
// snappy-java's default block size; readers allocate per block, so we stay at what they expect.
constexpr std::size_t xerial_block_size = 32 * 1024;

void snappy_raw_compress(byte_span input, bytes& output) {
  const std::size_t start = output.size();
  output.resize(start + snappy::MaxCompressedLength(input.size()));
  std::size_t n = 0;
  snappy::RawCompress(reinterpret_cast<const char*>(input.data()), input.size(),
                      reinterpret_cast<char*>(output.data() + start), &n);
  output.resize(start + n);
}

std::error_code snappy_compress(byte_span input, bytes& output, snappy_framing framing) {
  if (input.size() > std::numeric_limits<std::uint32_t>::max()) return fail(codec_errc::too_large);
  if (framing == snappy_framing::raw) {
    snappy_raw_compress(input, output);
    return {};
  }
  writer w(output);
  w.write_raw(byte_span(xerial_magic));
  w.write_int32(1);
  w.write_int32(1);
  for (std::size_t at = 0; at < input.size(); at += xerial_block_size) {
    const std::size_t length_at = w.position();
    w.write_int32(0);
    snappy_raw_compress(input.subspan(at, std::min(xerial_block_size, input.size() - at)), output);
    w.patch_int32(length_at, static_cast<std::int32_t>(output.size() - length_at - 4));
  }
  return {};
}

std::error_code snappy_raw_decompress(byte_span block, bounded_output& sink) {
  const char* src = reinterpret_cast<const char*>(block.data());
  std::size_t length = 0;
  if (!snappy::GetUncompressedLength(src, block.size(), &length)) return fail(codec_errc::decompression_failed);
  // No snappy element expands more than 64 / 3 times (a 3-byte copy of 64 bytes): a block claiming more is corrupt,
  // and is refused before the claimed size is allocated.
  if (length / 22 > block.size()) return fail(codec_errc::decompression_failed);
  if (!sink.fits(length)) return fail(codec_errc::too_large);
  if (!snappy::RawUncompress(src, block.size(), reinterpret_cast<char*>(sink.take(length))))
    return fail(codec_errc::decompression_failed);
  return {};
}

std::error_code snappy_decompress(byte_span input, bytes& output, std::size_t limit) {
  bounded_output sink(output, limit);
  const bool xerial =
      input.size() >= xerial_magic.size() && std::equal(xerial_magic.begin(), xerial_magic.end(), input.begin());
  if (!xerial) {
    if (auto ec = snappy_raw_decompress(input, sink)) return ec;
    sink.finish();
    return {};
  }
  if (input.size() < xerial_header_size) return fail(codec_errc::decompression_failed);
  // The version fields are not checked: every snappy-java release wrote 1 and readers have always ignored them.
  reader r(input.subspan(xerial_header_size));
  while (!r.at_end()) {
    const std::int32_t length = r.read_int32();
    if (!r.ok() || length < 0 || static_cast<std::size_t>(length) > r.remaining())
      return fail(codec_errc::decompression_failed);
    if (auto ec = snappy_raw_decompress(r.read_span(static_cast<std::size_t>(length)), sink)) return ec;
  }
  sink.finish();
  return {};
}

// ----------------------------------------------------------------------------------------------------------- lz4

// XXH32 (seed 0), needed only to check and rewrite LZ4 frame-descriptor checksums; lz4 does not export its own.
std::uint32_t xxh32(const std::uint8_t* p, std::size_t n) noexcept {
  constexpr std::uint32_t prime1 = 0x9E3779B1u, prime2 = 0x85EBCA77u, prime3 = 0xC2B2AE3Du, prime4 = 0x27D4EB2Fu,
                          prime5 = 0x165667B1u;
  const std::uint8_t* end = p + n;
  std::uint32_t acc;
  if (n >= 16) {
    auto round = [](std::uint32_t lane, std::uint32_t input) { return std::rotl(lane + input * prime2, 13) * prime1; };
    std::uint32_t v1 = prime1 + prime2, v2 = prime2, v3 = 0, v4 = 0u - prime1;
    for (; end - p >= 16; p += 16) {
      v1 = round(v1, load_le32(p));
      v2 = round(v2, load_le32(p + 4));
      v3 = round(v3, load_le32(p + 8));
      v4 = round(v4, load_le32(p + 12));
    }
    acc = std::rotl(v1, 1) + std::rotl(v2, 7) + std::rotl(v3, 12) + std::rotl(v4, 18);
  } else {
    acc = prime5;
  }
  acc += static_cast<std::uint32_t>(n);
  for (; end - p >= 4; p += 4) acc = std::rotl(acc + load_le32(p) * prime3, 17) * prime4;
  for (; p != end; ++p) acc = std::rotl(acc + *p * prime5, 11) * prime1;
  acc ^= acc >> 15;
  acc *= prime2;
  acc ^= acc >> 13;
  acc *= prime3;
  acc ^= acc >> 16;
  return acc;
}

constexpr std::uint32_t lz4_frame_magic = 0x184D2204u;
constexpr std::size_t lz4_max_header_size = 19;  // magic, FLG, BD, content size, dictionary id, checksum

// The offset of the descriptor checksum byte of the frame at the start of data, or 0 when data does not start with
// a complete standard frame header.
std::size_t lz4_header_checksum_offset(byte_span data) noexcept {
  if (data.size() < 7 || load_le32(data.data()) != lz4_frame_magic) return 0;
  const std::uint8_t flags = data[4];
  const std::size_t offset = 6 + ((flags & 0x08) ? 8 : 0) + ((flags & 0x01) ? 4 : 0);
  return offset < data.size() ? offset : 0;
}

std::uint8_t lz4_header_checksum(const std::uint8_t* from, std::size_t n) noexcept {
  return static_cast<std::uint8_t>(xxh32(from, n) >> 8);
}

using lz4_dctx_ptr = std::unique_ptr<LZ4F_dctx, decltype(&LZ4F_freeDecompressionContext)>;

// Feeds src to the decoder until it is consumed or the frame ends (frame_end, with consumed telling how far).
std::error_code lz4_feed(LZ4F_dctx* dctx, byte_span src, bounded_output& sink, std::size_t& consumed, bool& frame_end) {
  consumed = 0;
  frame_end = false;
  for (;;) {
    auto room = sink.room(64 * 1024);
    if (room.empty()) return fail(codec_errc::too_large);
    std::size_t dst_size = room.size();
    std::size_t src_size = src.size() - consumed;
    const std::size_t hint = LZ4F_decompress(dctx, room.data(), &dst_size, src.data() + consumed, &src_size, nullptr);
    if (LZ4F_isError(hint)) return fail(codec_errc::decompression_failed);
    consumed += src_size;
    sink.commit(dst_size);
    if (sink.over_limit()) return fail(codec_errc::too_large);
    if (hint == 0) {
      frame_end = true;
      return {};
    }
    if (consumed == src.size() && dst_size < room.size()) return {};                    // wants more input
    if (src_size == 0 && dst_size == 0) return fail(codec_errc::decompression_failed);  // no progress
  }
}

std::error_code lz4_decompress(byte_span input, bytes& output, std::size_t limit, bool legacy_header_checksum) {
  if (input.empty()) return fail(codec_errc::decompression_failed);
  LZ4F_dctx* raw = nullptr;
  if (LZ4F_isError(LZ4F_createDecompressionContext(&raw, LZ4F_VERSION))) return fail(codec_errc::decompression_failed);
  lz4_dctx_ptr dctx(raw, LZ4F_freeDecompressionContext);
  bounded_output sink(output, limit);
  std::size_t pos = 0;
  // One iteration per frame: several concatenated frames decode as their concatenation.
  while (pos < input.size()) {
    byte_span rest = input.subspan(pos);
    std::size_t consumed = 0;
    bool frame_end = false;
    if (const std::size_t hc = legacy_header_checksum ? lz4_header_checksum_offset(rest) : 0; hc != 0) {
      const std::uint8_t proper = lz4_header_checksum(rest.data() + 4, hc - 4);
      if (rest[hc] != proper) {
        if (rest[hc] != lz4_header_checksum(rest.data(), hc)) return fail(codec_errc::decompression_failed);
        // Hand the decoder a copy of the header with the checksum it expects, then the rest of the frame.
        std::array<std::uint8_t, lz4_max_header_size> header{};
        std::copy_n(rest.begin(), hc, header.begin());
        header[hc] = proper;
        if (auto ec = lz4_feed(dctx.get(), byte_span(header.data(), hc + 1), sink, consumed, frame_end)) return ec;
        if (consumed != hc + 1 || frame_end) return fail(codec_errc::decompression_failed);
        pos += hc + 1;
        rest = input.subspan(pos);
      }
    }
    if (auto ec = lz4_feed(dctx.get(), rest, sink, consumed, frame_end)) return ec;
    if (!frame_end) return fail(codec_errc::decompression_failed);  // input ended inside the frame
    pos += consumed;
  }
  sink.finish();
  return {};
}

std::error_code lz4_compress(byte_span input, bytes& output, int level, bool legacy_header_checksum) {
  LZ4F_preferences_t prefs;
  std::memset(&prefs, 0, sizeof(prefs));
  // What Kafka's Java client writes, and so what every Kafka LZ4 reader handles: 64 KiB independent blocks, no
  // content size, no checksums beyond the descriptor's. Java's reader rejects dependent blocks.
  prefs.frameInfo.blockSizeID = LZ4F_max64KB;
  prefs.frameInfo.blockMode = LZ4F_blockIndependent;
  prefs.compressionLevel = level;
  const std::size_t start = output.size();
  const std::size_t bound = LZ4F_compressFrameBound(input.size(), &prefs);
  output.resize(start + bound);
  static constexpr std::uint8_t nothing = 0;
  const std::size_t n =
      LZ4F_compressFrame(output.data() + start, bound, input.empty() ? &nothing : input.data(), input.size(), &prefs);
  if (LZ4F_isError(n)) {
    output.resize(start);
    return fail(codec_errc::invalid_value);
  }
  output.resize(start + n);
  if (legacy_header_checksum) {
    const std::size_t hc = lz4_header_checksum_offset(byte_span(output).subspan(start));
    if (hc != 0) output[start + hc] = lz4_header_checksum(output.data() + start, hc);
  }
  return {};
}

// ---------------------------------------------------------------------------------------------------------- zstd

using zstd_dctx_ptr = std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)>;

// A streaming decoder must hold a whole window, and the frame header chooses its size: bound it by what the caller
// accepts, so a tiny frame cannot make us allocate 128 MiB. The floor is 8 MiB (2^23), the window zstd's levels up
// to 19 use when the size is unknown, so frames from ordinary producers are never refused under small bounds;
// the ceiling is zstd's own default limit.
int zstd_window_log_max(std::size_t limit) noexcept {
  int log = 23;
  while (log < 27 && (std::size_t{1} << log) < limit) ++log;
  return log;
}

std::error_code zstd_decompress(byte_span input, bytes& output, std::size_t limit) {
  zstd_dctx_ptr dctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
  if (!dctx) return fail(codec_errc::decompression_failed);
  bounded_output sink(output, limit);
  // One frame that states its size (librdkafka and the zstd tool write it): decode straight into place, no window.
  const unsigned long long content_size = ZSTD_getFrameContentSize(input.data(), input.size());
  if (content_size != ZSTD_CONTENTSIZE_UNKNOWN && content_size != ZSTD_CONTENTSIZE_ERROR &&
      ZSTD_findFrameCompressedSize(input.data(), input.size()) == input.size()) {
    if (content_size > SIZE_MAX || !sink.fits(static_cast<std::size_t>(content_size)))
      return fail(codec_errc::too_large);
    const auto n = static_cast<std::size_t>(content_size);
    const std::size_t got = ZSTD_decompressDCtx(dctx.get(), sink.take(n), n, input.data(), input.size());
    if (ZSTD_isError(got) || got != n) return fail(codec_errc::decompression_failed);
    sink.finish();
    return {};
  }
  // Frames without a size (the Java client streams), or several frames: stream with a bounded window.
  if (ZSTD_isError(ZSTD_DCtx_setParameter(dctx.get(), ZSTD_d_windowLogMax, zstd_window_log_max(limit))))
    return fail(codec_errc::decompression_failed);
  ZSTD_inBuffer in{input.data(), input.size(), 0};
  for (;;) {
    auto room = sink.room(ZSTD_DStreamOutSize());
    if (room.empty()) return fail(codec_errc::too_large);
    ZSTD_outBuffer out{room.data(), room.size(), 0};
    const std::size_t before = in.pos;
    const std::size_t hint = ZSTD_decompressStream(dctx.get(), &out, &in);
    if (ZSTD_isError(hint)) return fail(codec_errc::decompression_failed);
    sink.commit(out.pos);
    if (sink.over_limit()) return fail(codec_errc::too_large);
    if (in.pos == in.size) {
      if (hint == 0) break;                                                   // every frame complete and flushed
      if (out.pos < out.size) return fail(codec_errc::decompression_failed);  // input ended inside a frame
    } else if (in.pos == before && out.pos == 0) {
      return fail(codec_errc::decompression_failed);  // no progress
    }
  }
  sink.finish();
  return {};
}

std::error_code zstd_compress(byte_span input, bytes& output, int level) {
  const std::size_t start = output.size();
  const std::size_t bound = ZSTD_compressBound(input.size());
  output.resize(start + bound);
  const std::size_t n =
      ZSTD_compress(output.data() + start, bound, input.data(), input.size(), level == 0 ? ZSTD_CLEVEL_DEFAULT : level);
  if (ZSTD_isError(n)) {
    output.resize(start);
    return fail(codec_errc::invalid_value);
  }
  output.resize(start + n);
  return {};
}

}  // namespace

std::string_view to_string(compression_codec codec) noexcept {
  switch (codec) {
    case compression_codec::none: return "none";
    case compression_codec::gzip: return "gzip";
    case compression_codec::snappy: return "snappy";
    case compression_codec::lz4: return "lz4";
    case compression_codec::zstd: return "zstd";
  }
  return "unknown";
}

std::error_code compress(compression_codec codec, byte_span input, bytes& output, const compression_options& options) {
  switch (codec) {
    case compression_codec::none: output.insert(output.end(), input.begin(), input.end()); return {};
    case compression_codec::gzip: return gzip_compress(input, output, options.level);
    case compression_codec::snappy: return snappy_compress(input, output, options.snappy);
    case compression_codec::lz4: return lz4_compress(input, output, options.level, options.lz4_legacy_header_checksum);
    case compression_codec::zstd: return zstd_compress(input, output, options.level);
  }
  return fail(codec_errc::unsupported_compression);
}

std::error_code decompress(compression_codec codec, byte_span input, bytes& output, std::size_t max_output_bytes,
                           const decompression_options& options) {
  switch (codec) {
    case compression_codec::none: return copy_bounded(input, output, max_output_bytes);
    case compression_codec::gzip: return gzip_decompress(input, output, max_output_bytes);
    case compression_codec::snappy: return snappy_decompress(input, output, max_output_bytes);
    case compression_codec::lz4:
      return lz4_decompress(input, output, max_output_bytes, options.lz4_legacy_header_checksum);
    case compression_codec::zstd: return zstd_decompress(input, output, max_output_bytes);
  }
  return fail(codec_errc::unsupported_compression);
}

}  // namespace vltava::protocol
