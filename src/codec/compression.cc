// compression.cc - codec factory, level ranges, the none/gzip/snappy codecs
// and the bounded output sink shared by every decompressor.
#include "codec/compression.h"

#include <lz4frame.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <memory>
#include <string>

#include <snappy.h>


namespace kprod::codec {

// ---- levels -------------------------------------------------------------------

level_range compression_levels(compression_type type) noexcept {
  switch (type) {
    case compression_type::gzip: return {1, 9, 6};
    case compression_type::lz4: return {1, 17, 9};
    case compression_type::zstd: return {ZSTD_minCLevel(), ZSTD_maxCLevel(), 3};
    case compression_type::none:
    case compression_type::snappy: return {0, 0, 0};
  }
  return {0, 0, 0};
}

kprod::result<int> resolve_compression_level(compression_type type, int level) {
  level_range r = compression_levels(type);
  if (level == default_level) return r.default_level;
  // zlib's own "default" (-1) is what the Java client uses as gzip's default.
  if (type == compression_type::gzip && level == -1) return r.default_level;
  if (level < r.min || level > r.max) {
    std::string allowed = std::to_string(r.min) + ".." + std::to_string(r.max);
    if (type == compression_type::gzip) allowed += " or -1";
    return kprod::error(client_errc::invalid_config, "compression level " + std::to_string(level) + " for " +
                                                         std::string(to_string(type)) + ": allowed " + allowed);
  }
  return level;
}

// ---- compressor ---------------------------------------------------------------

kprod::result<void> compressor::compress(std::span<const std::uint8_t> in, std::vector<std::uint8_t>& out) {
  auto frame = compress_frame(in);
  if (!frame) return frame.error();
  out.insert(out.end(), frame->begin(), frame->end());
  return {};
}

std::uint8_t* compressor::frame_buffer(std::size_t n, std::size_t keep) {
  if (n > frame_capacity_) {
    // Half again as much: batch sizes creep up in small steps early in a run.
    const std::size_t cap = std::max(n, frame_capacity_ + frame_capacity_ / 2);
    auto bigger = std::make_unique_for_overwrite<std::uint8_t[]>(cap);
    if (keep > 0) std::memcpy(bigger.get(), frame_.get(), std::min(keep, frame_capacity_));
    frame_ = std::move(bigger);
    frame_capacity_ = cap;
  }
  return frame_.get();
}


namespace {

// ---- bounded sink -------------------------------------------------------------

// Appends decompressed bytes to `out` without ever letting it grow by more
// than `limit`; on failure `out` is restored to its original size.
class bounded_sink {
 public:
  bounded_sink(std::vector<std::uint8_t>& out, std::size_t limit) : out_(out), start_(out.size()), limit_(limit) {}

  std::size_t left() const noexcept { return limit_ - written_; }

  // Writable space after what was committed; empty once the limit is reached.
  std::span<std::uint8_t> room(std::size_t hint) {
    std::size_t spare = out_.size() - start_ - written_;
    if (spare == 0) {
      if (left() == 0) return {};
      // Grow geometrically from a modest first step so a small frame never
      // allocates `limit` bytes and a large one reallocates rarely.
      std::size_t grow = std::min(std::max<std::size_t>({hint, written_, 64 * 1024}), left());
      out_.resize(out_.size() + grow);
      spare = grow;
    }
    return {out_.data() + start_ + written_, spare};
  }
  // Exactly n writable bytes (n <= left()).
  std::span<std::uint8_t> exact(std::size_t n) {
    out_.resize(start_ + written_ + n);
    return {out_.data() + start_ + written_, n};
  }
  void commit(std::size_t n) noexcept { written_ += n; }
  void finish() { out_.resize(start_ + written_); }

  kprod::error fail(const char* codec, const std::string& detail) {
    out_.resize(start_);
    return kprod::error(client_errc::compression_failed, std::string(codec) + ": " + detail);
  }
  kprod::error too_large(const char* codec) {
    return fail(codec, "decompressed size exceeds the limit of " + std::to_string(limit_) + " bytes");
  }

 private:
  std::vector<std::uint8_t>& out_;
  std::size_t start_;
  std::size_t limit_;
  std::size_t written_ = 0;
};

// ---- none ---------------------------------------------------------------------

class copy_compressor final : public compressor {
 public:
  copy_compressor() : compressor(compression_type::none, 0) {}
  kprod::result<std::span<const std::uint8_t>> compress_frame(std::span<const std::uint8_t> in) override {
    return in;
  }
};

class copy_decompressor final : public decompressor {
 public:
  copy_decompressor() : decompressor(compression_type::none) {}
  kprod::result<void> decompress(std::span<const std::uint8_t> in, std::vector<std::uint8_t>& out,
                                 std::size_t max_out_bytes) override {
    if (in.size() > max_out_bytes)
      return kprod::error(client_errc::compression_failed, "none: input exceeds the size limit");
    out.insert(out.end(), in.begin(), in.end());
    return {};
  }
};

// ---- gzip ---------------------------------------------------------------------

// zlib counts in uInt; a record batch never comes near that, but refuse
// rather than truncate silently.
bool fits_zlib(std::size_t n) { return n <= UINT_MAX; }

class gzip_compressor final : public compressor {
 public:
  explicit gzip_compressor(int level) : compressor(compression_type::gzip, level) {}
  ~gzip_compressor() override {
    if (ready_) deflateEnd(&zs_);
  }
  kprod::result<void> init() {
    if (deflateInit2(&zs_, level(), Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
      return kprod::error(client_errc::compression_failed, "gzip: deflateInit2 failed");
    ready_ = true;
    return {};
  }
  kprod::result<std::span<const std::uint8_t>> compress_frame(std::span<const std::uint8_t> in) override {
    if (!fits_zlib(in.size())) return kprod::error(client_errc::compression_failed, "gzip: input too large");
    deflateReset(&zs_);
    std::size_t cap = deflateBound(&zs_, static_cast<uLong>(in.size()));
    std::uint8_t* buf = frame_buffer(cap);
    std::size_t used = 0;
    zs_.next_in = const_cast<Bytef*>(in.data());  // zlib's API is not const-correct
    zs_.avail_in = static_cast<uInt>(in.size());
    for (;;) {
      if (used == cap) buf = frame_buffer(cap += 4096, used);  // deflateBound is exact; belt and braces
      zs_.next_out = buf + used;
      zs_.avail_out = static_cast<uInt>(std::min<std::size_t>(cap - used, UINT_MAX));
      uInt before = zs_.avail_out;
      int rc = deflate(&zs_, Z_FINISH);
      used += before - zs_.avail_out;
      if (rc == Z_STREAM_END) break;
      if (rc != Z_OK && rc != Z_BUF_ERROR)
        return kprod::error(client_errc::compression_failed, "gzip: deflate failed (" + std::to_string(rc) + ")");
    }
    return std::span<const std::uint8_t>(buf, used);
  }

 private:
  z_stream zs_{};
  bool ready_ = false;
};

class gzip_decompressor final : public decompressor {
 public:
  gzip_decompressor() : decompressor(compression_type::gzip) {}
  ~gzip_decompressor() override {
    if (ready_) inflateEnd(&zs_);
  }
  kprod::result<void> init() {
    if (inflateInit2(&zs_, 15 + 16) != Z_OK)
      return kprod::error(client_errc::compression_failed, "gzip: inflateInit2 failed");
    ready_ = true;
    return {};
  }
  kprod::result<void> decompress(std::span<const std::uint8_t> in, std::vector<std::uint8_t>& out,
                                 std::size_t max_out_bytes) override {
    bounded_sink sink(out, max_out_bytes);
    if (!fits_zlib(in.size())) return sink.fail("gzip", "input too large");
    if (in.empty()) return sink.fail("gzip", "empty input");
    inflateReset(&zs_);
    zs_.next_in = const_cast<Bytef*>(in.data());
    zs_.avail_in = static_cast<uInt>(in.size());
    Bytef none = 0;
    for (;;) {
      auto room = sink.room(in.size() * 4);
      zs_.next_out = room.empty() ? &none : room.data();  // zlib refuses a null buffer even of size 0
      zs_.avail_out = static_cast<uInt>(std::min<std::size_t>(room.size(), UINT_MAX));
      uInt before = zs_.avail_out;
      int rc = inflate(&zs_, Z_NO_FLUSH);
      sink.commit(before - zs_.avail_out);
      if (rc == Z_STREAM_END) {
        if (zs_.avail_in == 0) break;
        inflateReset(&zs_);  // concatenated gzip members, as GZIPInputStream reads them
        continue;
      }
      if (rc == Z_BUF_ERROR) {  // no progress was possible
        if (room.empty()) return sink.too_large("gzip");
        return sink.fail("gzip", "truncated stream");
      }
      if (rc != Z_OK) return sink.fail("gzip", zs_.msg ? zs_.msg : "inflate failed");
    }
    sink.finish();
    return {};
  }

 private:
  z_stream zs_{};
  bool ready_ = false;
};

// ---- snappy -------------------------------------------------------------------

// xerial snappy-java framing: 8-byte magic, int32 version, int32 compatible
// version, then blocks of [int32 big-endian length][raw snappy block].
constexpr std::uint8_t xerial_magic[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
constexpr std::size_t xerial_header_size = 16;

class snappy_compressor final : public compressor {
 public:
  snappy_compressor() : compressor(compression_type::snappy, 0) {}
  kprod::result<std::span<const std::uint8_t>> compress_frame(std::span<const std::uint8_t> in) override {
    if (in.size() > UINT32_MAX) return kprod::error(client_errc::compression_failed, "snappy: input too large");
    std::uint8_t* buf = frame_buffer(snappy::MaxCompressedLength(in.size()));
    std::size_t n = 0;
    snappy::RawCompress(reinterpret_cast<const char*>(in.data()), in.size(), reinterpret_cast<char*>(buf), &n);
    return std::span<const std::uint8_t>(buf, n);
  }
};

kprod::result<void> snappy_block(std::span<const std::uint8_t> block, bounded_sink& sink) {
  const char* src = reinterpret_cast<const char*>(block.data());
  std::size_t n = 0;
  if (!snappy::GetUncompressedLength(src, block.size(), &n)) return sink.fail("snappy", "bad block header");
  if (n > sink.left()) return sink.too_large("snappy");
  if (n == 0) return {};
  auto room = sink.exact(n);
  if (!snappy::RawUncompress(src, block.size(), reinterpret_cast<char*>(room.data())))
    return sink.fail("snappy", "corrupt block");
  sink.commit(n);
  return {};
}

class snappy_decompressor final : public decompressor {
 public:
  snappy_decompressor() : decompressor(compression_type::snappy) {}
  kprod::result<void> decompress(std::span<const std::uint8_t> in, std::vector<std::uint8_t>& out,
                                 std::size_t max_out_bytes) override {
    bounded_sink sink(out, max_out_bytes);
    if (in.size() >= xerial_header_size && std::memcmp(in.data(), xerial_magic, sizeof xerial_magic) == 0) {
      std::size_t pos = xerial_header_size;  // versions are not checked: snappy-java ignores them too
      while (pos < in.size()) {
        if (in.size() - pos < 4) return sink.fail("snappy", "truncated xerial block length");
        std::uint32_t len = (std::uint32_t{in[pos]} << 24) | (std::uint32_t{in[pos + 1]} << 16) |
                            (std::uint32_t{in[pos + 2]} << 8) | in[pos + 3];
        pos += 4;
        if (len > in.size() - pos) return sink.fail("snappy", "xerial block length past the end");
        KP_TRY(snappy_block(in.subspan(pos, len), sink));
        pos += len;
      }
    } else {
      KP_TRY(snappy_block(in, sink));
    }
    sink.finish();
    return {};
  }
};

// ---- lz4 ----------------------------------------------------------------------

class lz4_compressor final : public compressor {
 public:
  explicit lz4_compressor(int level) : compressor(compression_type::lz4, level) {}
  ~lz4_compressor() override { LZ4F_freeCompressionContext(ctx_); }
  kprod::result<void> init() {
    if (LZ4F_isError(LZ4F_createCompressionContext(&ctx_, LZ4F_VERSION)))
      return kprod::error(client_errc::compression_failed, "lz4: cannot create a compression context");
    return {};
  }
  kprod::result<std::span<const std::uint8_t>> compress_frame(std::span<const std::uint8_t> in) override {
    LZ4F_preferences_t prefs;
    std::memset(&prefs, 0, sizeof prefs);
    prefs.frameInfo.blockSizeID = LZ4F_max64KB;           // what the Java client writes
    prefs.frameInfo.blockMode = LZ4F_blockIndependent;    // the Java reader requires it
    prefs.frameInfo.contentSize = in.size();
    // Like the Java client: the default level means LZ4's fast compressor,
    // any other level the high-compression one.
    prefs.compressionLevel = level() == compression_levels(compression_type::lz4).default_level ? 0 : level();
    const std::size_t bound = LZ4F_HEADER_SIZE_MAX + LZ4F_compressBound(in.size(), &prefs);
    std::uint8_t* dst = frame_buffer(bound);
    std::size_t pos = LZ4F_compressBegin(ctx_, dst, bound, &prefs);
    if (!LZ4F_isError(pos)) {
      std::size_t n = LZ4F_compressUpdate(ctx_, dst + pos, bound - pos, in.data(), in.size(), nullptr);
      if (!LZ4F_isError(n)) {
        pos += n;
        n = LZ4F_compressEnd(ctx_, dst + pos, bound - pos, nullptr);
      }
      pos = LZ4F_isError(n) ? n : pos + n;
    }
    if (LZ4F_isError(pos))
      return kprod::error(client_errc::compression_failed, std::string("lz4: ") + LZ4F_getErrorName(pos));
    return std::span<const std::uint8_t>(dst, pos);
  }

 private:
  LZ4F_cctx* ctx_ = nullptr;
};

class lz4_decompressor final : public decompressor {
 public:
  lz4_decompressor() : decompressor(compression_type::lz4) {}
  ~lz4_decompressor() override { LZ4F_freeDecompressionContext(ctx_); }
  kprod::result<void> init() {
    if (LZ4F_isError(LZ4F_createDecompressionContext(&ctx_, LZ4F_VERSION)))
      return kprod::error(client_errc::compression_failed, "lz4: cannot create a decompression context");
    return {};
  }
  kprod::result<void> decompress(std::span<const std::uint8_t> in, std::vector<std::uint8_t>& out,
                                 std::size_t max_out_bytes) override {
    bounded_sink sink(out, max_out_bytes);
    LZ4F_resetDecompressionContext(ctx_);
    std::size_t pos = 0;
    std::uint8_t none = 0;
    for (;;) {
      auto room = sink.room(in.size() * 4);
      std::size_t produced = room.size();
      std::size_t consumed = in.size() - pos;
      std::size_t rc = LZ4F_decompress(ctx_, room.empty() ? &none : room.data(), &produced,
                                       in.data() + pos, &consumed, nullptr);
      if (LZ4F_isError(rc)) return sink.fail("lz4", LZ4F_getErrorName(rc));
      pos += consumed;
      sink.commit(produced);
      if (rc == 0 && pos == in.size()) break;  // frame complete, input used up
      if (consumed == 0 && produced == 0) {
        if (room.empty()) return sink.too_large("lz4");
        return sink.fail("lz4", "truncated frame");
      }
    }
    sink.finish();
    return {};
  }

 private:
  LZ4F_dctx* ctx_ = nullptr;
};

// ---- zstd ---------------------------------------------------------------------

class zstd_compressor final : public compressor {
 public:
  explicit zstd_compressor(int level) : compressor(compression_type::zstd, level) {}
  ~zstd_compressor() override { ZSTD_freeCCtx(ctx_); }
  kprod::result<void> init() {
    ctx_ = ZSTD_createCCtx();
    if (ctx_ == nullptr || ZSTD_isError(ZSTD_CCtx_setParameter(ctx_, ZSTD_c_compressionLevel, level())))
      return kprod::error(client_errc::compression_failed, "zstd: cannot create a compression context");
    return {};
  }
  kprod::result<std::span<const std::uint8_t>> compress_frame(std::span<const std::uint8_t> in) override {
    const std::size_t bound = ZSTD_compressBound(in.size());
    std::uint8_t* dst = frame_buffer(bound);
    std::size_t n = ZSTD_compress2(ctx_, dst, bound, in.data(), in.size());
    if (ZSTD_isError(n))
      return kprod::error(client_errc::compression_failed, std::string("zstd: ") + ZSTD_getErrorName(n));
    return std::span<const std::uint8_t>(dst, n);
  }

 private:
  ZSTD_CCtx* ctx_ = nullptr;
};

class zstd_decompressor final : public decompressor {
 public:
  zstd_decompressor() : decompressor(compression_type::zstd) {}
  ~zstd_decompressor() override { ZSTD_freeDCtx(ctx_); }
  kprod::result<void> init() {
    ctx_ = ZSTD_createDCtx();
    if (ctx_ == nullptr) return kprod::error(client_errc::compression_failed, "zstd: cannot create a context");
    return {};
  }
  // Streaming, so frames without a content size (the Java client's
  // ZstdOutputStream writes those) decode within the same bound.
  kprod::result<void> decompress(std::span<const std::uint8_t> in, std::vector<std::uint8_t>& out,
                                 std::size_t max_out_bytes) override {
    bounded_sink sink(out, max_out_bytes);
    ZSTD_DCtx_reset(ctx_, ZSTD_reset_session_only);
    ZSTD_inBuffer src{in.data(), in.size(), 0};
    std::uint8_t none = 0;
    for (;;) {
      auto room = sink.room(in.size() * 4);
      ZSTD_outBuffer dst{room.empty() ? &none : room.data(), room.size(), 0};
      const std::size_t in_before = src.pos;
      std::size_t rc = ZSTD_decompressStream(ctx_, &dst, &src);
      if (ZSTD_isError(rc)) return sink.fail("zstd", ZSTD_getErrorName(rc));
      sink.commit(dst.pos);
      if (rc == 0 && src.pos == src.size) break;  // frame complete and flushed, input used up
      if (dst.pos == 0 && src.pos == in_before) {
        if (room.empty()) return sink.too_large("zstd");
        return sink.fail("zstd", "truncated frame");
      }
    }
    sink.finish();
    return {};
  }

 private:
  ZSTD_DCtx* ctx_ = nullptr;
};

template <typename T, typename... A>
kprod::result<std::unique_ptr<T>> make_ready(A... args) {
  auto p = std::make_unique<T>(args...);
  KP_TRY(p->init());
  return p;
}

}  // namespace

// ---- factories ----------------------------------------------------------------

kprod::result<std::unique_ptr<compressor>> compressor::create(compression_type type, int level) {
  switch (type) {
    case compression_type::none:
    case compression_type::snappy: {
      auto lv = resolve_compression_level(type, level);  // only the default (or 0) is accepted
      if (!lv) return lv.error();
      if (type == compression_type::none) return std::unique_ptr<compressor>(new copy_compressor());
      return std::unique_ptr<compressor>(new snappy_compressor());
    }
    case compression_type::gzip: {
      auto lv = resolve_compression_level(type, level);
      if (!lv) return lv.error();
      auto c = std::make_unique<gzip_compressor>(*lv);
      KP_TRY(c->init());
      return std::unique_ptr<compressor>(std::move(c));
    }
    case compression_type::lz4: {
      auto lv = resolve_compression_level(type, level);
      if (!lv) return lv.error();
      auto c = make_ready<lz4_compressor>(*lv);
      if (!c) return c.error();
      return std::unique_ptr<compressor>(std::move(*c));
    }
    case compression_type::zstd: {
      auto lv = resolve_compression_level(type, level);
      if (!lv) return lv.error();
      auto c = make_ready<zstd_compressor>(*lv);
      if (!c) return c.error();
      return std::unique_ptr<compressor>(std::move(*c));
    }
  }
  return kprod::error(client_errc::invalid_config,
                      "unknown compression type " + std::to_string(static_cast<int>(type)));
}

kprod::result<std::unique_ptr<decompressor>> decompressor::create(compression_type type) {
  switch (type) {
    case compression_type::none: return std::unique_ptr<decompressor>(new copy_decompressor());
    case compression_type::snappy: return std::unique_ptr<decompressor>(new snappy_decompressor());
    case compression_type::gzip: {
      auto d = std::make_unique<gzip_decompressor>();
      KP_TRY(d->init());
      return std::unique_ptr<decompressor>(std::move(d));
    }
    case compression_type::lz4: {
      auto d = make_ready<lz4_decompressor>();
      if (!d) return d.error();
      return std::unique_ptr<decompressor>(std::move(*d));
    }
    case compression_type::zstd: {
      auto d = make_ready<zstd_decompressor>();
      if (!d) return d.error();
      return std::unique_ptr<decompressor>(std::move(*d));
    }
  }
  return kprod::error(client_errc::compression_failed,
                      "unknown compression type " + std::to_string(static_cast<int>(type)));
}

kprod::result<void> decompress(compression_type type, std::span<const std::uint8_t> in,
                               std::vector<std::uint8_t>& out, std::size_t max_out_bytes) {
  auto d = decompressor::create(type);
  if (!d) return d.error();
  return (*d)->decompress(in, out, max_out_bytes);
}

}  // namespace kprod::codec
