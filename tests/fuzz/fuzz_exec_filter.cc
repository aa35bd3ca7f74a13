// libFuzzer target: the executable filters (index/exec_filter.h) and the
// filtered block decode path (index/block.h decode_stored), on any bytes.
//
// Input: byte 0 picks the filter (its value mod 4: 3 is an unknown code),
// the rest is the data. Promises checked: decode(encode(x)) == x; decode of
// arbitrary bytes stays in bounds (ASan) and keeps the length; a block entry
// naming that filter over the data as a "zstd frame" either decodes to
// exactly raw_size bytes or throws CorruptError, never anything else; an
// unknown filter code always throws.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "index/block.h"
#include "index/error.h"
#include "index/exec_filter.h"
#include "index/format.h"

using namespace kso;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t f = data[0] % 4;
  std::string x(reinterpret_cast<const char*>(data + 1), size - 1);
  if (f <= kMaxFilter) {
    std::string e = x;
    exec_encode(ExecFilter(f), e.data(), e.size());
    std::string d = e;
    exec_decode(ExecFilter(f), d.data(), d.size());
    if (d != x) {
      fprintf(stderr, "BUG: filter %u: decode(encode(x)) != x\n", f);
      abort();
    }
    std::string y = x;
    exec_decode(ExecFilter(f), y.data(), y.size());  // arbitrary input to the decoder
    if (y.size() != x.size()) abort();
  }
  // The data as a stored zstd block with that filter: the block decode path.
  for (uint32_t raw_size : {uint32_t(x.size() + 1), uint32_t(4 * x.size() + 16), uint32_t(1u << 16)}) {
    BlockEntry e;
    e.offset = kDataStart;
    e.stored_size = uint32_t(x.size());
    e.raw_size = raw_size;
    e.codec = Codec::Zstd;
    e.filter = f;
    try {
      std::string out = decode_stored(0, e, std::string(x));
      if (out.size() != raw_size || f > kMaxFilter) {
        fprintf(stderr, "BUG: decode_stored gave %zu bytes for raw_size %u (filter %u)\n", out.size(), raw_size, f);
        abort();
      }
    } catch (const CorruptError&) {
    }
  }
  return 0;
}
