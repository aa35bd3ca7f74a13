// FastCDC content-defined chunking (Xia et al., 2016, with normalized chunking):
// boundaries depend only on nearby bytes, so an insertion moves only the
// chunks around it and shared regions between files dedup.
#pragma once
#include <cstddef>
#include <cstdint>

namespace kso {

struct ChunkerParams {
  uint32_t min_size = 16 * 1024;   // no cut before this many bytes
  uint32_t avg_size = 64 * 1024;   // target mean chunk size (a power of two)
  uint32_t max_size = 256 * 1024;  // always cut here
  void validate() const;           // throws Error on nonsense (min<avg<max, avg power of two)
};

// Length of the first chunk of data[0, len). When `last` is false and no cut
// point is found before len < max_size, returns 0: feed more bytes.
size_t find_chunk_boundary(const ChunkerParams& p, const uint8_t* data, size_t len, bool last);

}  // namespace kso
