// Decoded blocks' memory, recycled rather than handed back to the kernel
// and zeroed afresh per block. Profiles of a cold full read (issue 13) put 5-19 %
// of the daemon's time in page faults, clear_page and memset: every
// decoded block and every raw read got fresh, zero-filled memory (kso-fs's
// fixed mmap threshold returns large allocations on free).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "index/pack_reader.h"

namespace kso {

// A block-sized string of n bytes, recycled when one is free (its bytes are
// then whatever it held), else new.
std::string take_block_buffer(size_t n);
// Shares a decoded block; when its last holder lets go (the cache evicted it
// and no reply points into it), the string goes back for take_block_buffer().
BlockData share_block(std::string&& s);
// Gives a scratch string back for reuse (its bytes must not be used again).
void give_block_buffer(std::string&& s);

// Since the process started: how many take_block_buffer() calls were served
// by a recycled string, and how many needed new memory.
struct BlockBufferStats {
  uint64_t recycled = 0, fresh = 0;
};
BlockBufferStats block_buffer_stats();

}  // namespace kso
