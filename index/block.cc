#include "index/block.h"

#include <zstd.h>

#include <algorithm>

#include "index/block_buffer.h"
#include "index/error.h"
#include "index/exec_filter.h"
#include "index/hash.h"

namespace kso {
namespace {

// One compression and one decompression context per thread, reused.
struct Contexts {
  ZSTD_CCtx* c = ZSTD_createCCtx();
  ZSTD_DCtx* d = ZSTD_createDCtx();
  ~Contexts() {
    ZSTD_freeCCtx(c);
    ZSTD_freeDCtx(d);
  }
};
thread_local Contexts tls;

}  // namespace

namespace {
std::string zstd_compress(std::string_view raw, int level) {
  std::string out(ZSTD_compressBound(raw.size()), '\0');
  size_t n = ZSTD_compressCCtx(tls.c, out.data(), out.size(), raw.data(), raw.size(), level);
  if (ZSTD_isError(n)) throw Error(std::string("zstd compression failed: ") + ZSTD_getErrorName(n));
  out.resize(n);
  return out;
}
}  // namespace

EncodedBlock encode_block(std::string_view raw, int level, uint8_t filter) {
  EncodedBlock b;
  if (filter > kMaxFilter) throw Error("unknown executable filter " + std::to_string(unsigned(filter)), EINVAL);
  if (level > 0 && !raw.empty()) {
    std::string out = zstd_compress(raw, level);
    if (filter != 0) {
      std::string f(raw);
      exec_encode(ExecFilter(filter), f.data(), f.size());
      std::string fout = zstd_compress(f, level);
      if (fout.size() < out.size()) {
        // Never a wrong byte: the frame kept is the one that decodes to `raw`.
        std::string back(raw.size(), '\0');
        size_t n = ZSTD_decompressDCtx(tls.d, back.data(), back.size(), fout.data(), fout.size());
        if (ZSTD_isError(n) || n != raw.size()) throw Error("executable filter: zstd round trip failed");
        exec_decode(ExecFilter(filter), back.data(), back.size());
        if (back != raw) throw Error("executable filter: round trip does not give the block back");
        out = std::move(fout);
        b.filter = filter;
      }
    }
    if (double(out.size()) <= double(raw.size()) * (1.0 - kMinSavings)) {
      b.stored = std::move(out);
      b.codec = Codec::Zstd;
    } else {
      b.filter = 0;
    }
  }
  if (b.codec == Codec::Raw) {
    b.stored.assign(raw);
    for (size_t off = 0; off < b.stored.size(); off += kRawPageSize)
      b.page_sums.push_back(xxh3(b.stored.data() + off, std::min<size_t>(kRawPageSize, b.stored.size() - off)));
  }
  b.xxh3 = xxh3(b.stored.data(), b.stored.size());
  return b;
}

namespace {
CorruptError block_error(uint32_t id, const BlockEntry& e, const std::string& why) {
  return CorruptError("block " + std::to_string(id) + " at offset " + std::to_string(e.offset) + ": " + why);
}
}  // namespace

std::string decode_block(uint32_t id, const BlockEntry& e, std::string&& stored) {
  if (stored.size() != e.stored_size) throw block_error(id, e, "short read (pack truncated?)");
  if (xxh3(stored.data(), stored.size()) != e.xxh3) throw block_error(id, e, "checksum mismatch");
  return decode_stored(id, e, std::move(stored));
}

std::string decode_stored(uint32_t id, const BlockEntry& e, std::string&& stored) {
  auto bad = [&](const std::string& why) { return block_error(id, e, why); };
  if (stored.size() != e.stored_size) throw bad("short read (pack truncated?)");
  if (e.filter > kMaxFilter) throw bad("unknown filter " + std::to_string(unsigned(e.filter)));
  if (e.codec == Codec::Raw) {
    if (e.filter != 0) throw bad("is raw but names a filter");
    if (e.raw_size != e.stored_size) throw bad("raw block size mismatch");
    return std::move(stored);
  }
  if (e.codec != Codec::Zstd) throw bad("unknown codec " + std::to_string(uint32_t(e.codec)));
  std::string out = take_block_buffer(e.raw_size);  // recycled: no fresh zeroed pages per block
  size_t n = ZSTD_decompressDCtx(tls.d, out.data(), out.size(), stored.data(), stored.size());
  give_block_buffer(std::move(stored));
  if (ZSTD_isError(n) || n != e.raw_size) {
    give_block_buffer(std::move(out));
    throw bad("zstd frame does not decode to its size");
  }
  exec_decode(ExecFilter(e.filter), out.data(), out.size());
  return out;
}

}  // namespace kso
