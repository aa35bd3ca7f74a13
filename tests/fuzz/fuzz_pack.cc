// libFuzzer target: a pack from a byte buffer, opened, walked and read the
// way kso-fs and the tools do (tests/fuzz/README.md).
//
// Each input is tried twice: as it is (the reader's checks against random
// bytes), and "resealed": every XXH3 in it (header, trailer, superblock,
// tables, index pages, blocks and their pages) and every block SHA-256
// recomputed in place, like a crafted pack would be. Without the second pass
// nearly every mutation dies at the first checksum and the fuzzer never gets
// to the index, the tree or the blocks behind them.
//
// kso::Error is the only exception the reader may throw; anything else, a
// sanitizer report, or a read that breaks Pack::read's contract is a bug.
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <typeinfo>
#include <vector>

#include "cache/block_cache.h"
#include "index/byte_source.h"
#include "index/error.h"
#include "index/format.h"
#include "index/sha256.h"
#include "index/pack_reader.h"
#include "index/verify.h"

namespace {

using namespace kso;

// Bounds on one input, so a crafted tree (a directory cycle, 10k names for
// one content) costs time in proportion to the input, not forever. The reader
// is meant to reject cycles at open; these are the safety net.
constexpr size_t kMaxEntries = 10000;        // directory entries visited
constexpr size_t kMaxDepth = 64;             // directories deep
constexpr uint64_t kMaxReadBytes = 8u << 20;  // file bytes read, all files together
constexpr uint32_t kMaxCheckedBlocks = 256;  // blocks put through check_block
constexpr size_t kReaddirPage = 7;           // readdir in pages, to exercise `after`
constexpr size_t kReadChunk = 65536;         // what kso-fs gets from the kernel, roughly

[[noreturn]] void bug(const std::string& what) {
  fprintf(stderr, "fuzz_pack: BUG: %s\n", what.c_str());
  abort();
}

// Keeps the compiler from dropping reads whose result nobody looks at, and
// makes ASan check every byte the reader hands back.
volatile uint64_t g_sink;

// Reads every byte of one regular file through the one read path, in
// kernel-sized requests plus one unaligned request across chunk boundaries.
void read_file(const Pack& pack, BlockSource& blocks, const FileLayout& f, uint64_t& budget) {
  ReadBuffer rb;
  auto one = [&](uint64_t off, size_t len) {
    pack.read(f, off, len, blocks, rb);
    uint64_t want = off >= f.size ? 0 : std::min<uint64_t>(len, f.size - off);
    size_t iov_bytes = 0;
    uint64_t h = 0;
    for (const iovec& v : rb.iov()) {
      iov_bytes += v.iov_len;
      h ^= xxh3(v.iov_base, v.iov_len);
    }
    if (rb.size() != want || iov_bytes != want)
      bug("read(" + std::to_string(off) + ", " + std::to_string(len) + ") of a " + std::to_string(f.size) +
          "-byte file returned " + std::to_string(rb.size()) + " bytes in iovecs of " + std::to_string(iov_bytes) +
          ", want " + std::to_string(want));
    g_sink = g_sink + h;
    budget -= std::min<uint64_t>(budget, want);
  };
  for (uint64_t off = 0; off < f.size && budget > 0; off += kReadChunk) one(off, kReadChunk);
  if (f.size > 1 && budget > 0) one(f.size / 3, size_t(std::min<uint64_t>(f.size - f.size / 3, 7777)));
  one(f.size, 1);  // at end of file: nothing
}

// One entry of the tree: what every front end asks of it.
void visit(const Pack& pack, BlockSource& blocks, uint64_t parent, const DirEntry& e, const std::string& path,
           uint64_t& budget) {
  (void)pack.stat(e.st.ino);
  (void)pack.lookup(parent, e.name);
  (void)pack.lookup_path(path);
  switch (e.st.mode & S_IFMT) {
    case S_IFLNK:
      g_sink = g_sink + pack.readlink(e.st.ino).size() + pack.escaping_symlink(e.st.ino);
      break;
    case S_IFREG: {
      auto f = pack.layout(e.st.ino);
      if (budget > 0) read_file(pack, blocks, *f, budget);
      break;
    }
    default:  // directories are walked by the caller; anything else is not a file
      if (!S_ISDIR(e.st.mode)) (void)pack.layout(e.st.ino);
      break;
  }
}

// Depth-first walk from the root with an explicit stack, bounded in entries
// and depth; every failure is confined to the entry it concerns so the rest
// of the tree is still walked.
void walk(const Pack& pack, BlockSource& blocks) {
  struct Dir {
    uint64_t ino;
    std::string path;
    size_t depth;
  };
  std::vector<Dir> todo{{kRootIno, "", 0}};
  size_t entries = 0;
  uint64_t budget = kMaxReadBytes;
  while (!todo.empty() && entries < kMaxEntries) {
    Dir d = std::move(todo.back());
    todo.pop_back();
    std::string after;
    while (entries < kMaxEntries) {
      std::vector<DirEntry> page;
      try {
        page = pack.readdir(d.ino, after, kReaddirPage);
      } catch (const Error&) {
        break;
      }
      if (page.empty()) break;
      if (page.size() > kReaddirPage) bug("readdir returned more entries than its limit");
      for (const DirEntry& e : page) {
        if (!after.empty() && e.name <= after) bug("readdir went backwards or repeated a name");
        after = e.name;
        if (++entries > kMaxEntries) break;
        std::string path = d.path.empty() ? e.name : d.path + "/" + e.name;
        try {
          visit(pack, blocks, d.ino, e, path, budget);
        } catch (const Error&) {
        }
        if (S_ISDIR(e.st.mode) && d.depth + 1 < kMaxDepth) todo.push_back({e.st.ino, path, d.depth + 1});
      }
      if (page.size() < kReaddirPage) break;
    }
  }
}

// What verify, info and the tools ask of a pack besides the tree.
void inspect(Pack& pack) {
  (void)pack.meta();
  (void)pack.inode_count();
  (void)compute_identity(pack);
  try {
    pack.check_index();
  } catch (const Error&) {
  }
  for (uint32_t id = 0; id < pack.block_count() && id < kMaxCheckedBlocks; id++) {
    try {
      verify_block(pack, id);
    } catch (const Error&) {
    }
  }
}

void run(std::string bytes) {
  std::shared_ptr<Pack> pack;
  try {
    pack = Pack::open(std::make_shared<MemorySource>(std::move(bytes), "fuzz.kso"));
  } catch (const Error&) {
    return;
  }
  try {
    // The production read path: compressed blocks through the block cache
    // kso-fs uses (no worker threads: deterministic), raw ones in place.
    BlockCache cache(pack, 16u << 20, 0);
    walk(*pack, cache);
    walk(*pack, *pack);  // the tools' path: straight from the pack
    inspect(*pack);
  } catch (const Error&) {
  }
}

// Rewrites every checksum of a pack-shaped buffer in place (layout fields are
// left as they are: the reader must judge them). Returns false when the
// buffer is too short to have a trailer worth following.
bool reseal(std::string& p) {
  const uint64_t n = p.size();
  if (n < kDataStart + kSuperblockSize + kIndexPageSize + kTrailerSize) return false;
  char* b = p.data();
  char* trl = b + n - kTrailerSize;
  const uint64_t body_end = n - kTrailerSize;
  const uint64_t meta = get_le(trl + trl::meta_offset.offset, trl::meta_offset.size);
  if (meta < kDataStart || meta > body_end || body_end - meta < kSuperblockSize) return false;
  char* s = b + meta;
  const uint64_t room = body_end - meta - kSuperblockSize;
  const uint64_t nblocks = get_le(s + sb::block_count.offset, 8), npages = get_le(s + sb::page_count.offset, 8);
  const uint64_t index_off = get_le(s + sb::index_offset.offset, 8), index_size = get_le(s + sb::index_size.offset, 8);
  const uint64_t nbases = get_le(s + sb::base_count.offset, 8);  // v3: the base table comes first
  if (nblocks > room / kBlockEntrySize || npages > room / 8 || index_size > room || nbases > room / kBaseEntrySize)
    return false;
  const uint64_t index_pages = index_size / kIndexPageSize;
  if (nbases * kBaseEntrySize + nblocks * kBlockEntrySize + npages * 8 + index_pages * 8 > room) return false;
  char* ba = s + kSuperblockSize;
  char* bt = ba + nbases * kBaseEntrySize;
  char* pt = bt + nblocks * kBlockEntrySize;
  char* it = pt + npages * 8;
  for (uint64_t i = 0; i < nblocks; i++) {
    char* e = bt + i * kBlockEntrySize;
    const uint64_t off = get_le(e + blk::offset.offset, 8);
    const uint32_t stored = uint32_t(get_le(e + blk::stored_size.offset, 4));
    if (off > n || stored > n - off) continue;
    put_le(e + blk::xxh3.offset, xxh3(b + off, stored), 8);
    Digest d = sha256(b + off, stored);
    memcpy(e + blk::sha256.offset, d.data(), d.size());
    if (uint8_t(e[blk::codec.offset]) != uint8_t(Codec::Raw)) continue;
    const uint64_t first = get_le(e + blk::first_page.offset, 4);
    for (uint64_t pg = 0; pg < raw_pages(stored) && first + pg < npages; pg++) {
      const uint64_t at = pg * kRawPageSize;
      put_le(pt + (first + pg) * 8, xxh3(b + off + at, std::min<uint64_t>(kRawPageSize, stored - at)), 8);
    }
  }
  if (index_off <= n && index_pages * kIndexPageSize <= n - index_off)
    for (uint64_t i = 0; i < index_pages; i++)
      put_le(it + i * 8, xxh3(b + index_off + i * kIndexPageSize, kIndexPageSize), 8);
  if (get_le(s + sb::version.offset, 4) >= 3) put_le(s + sb::base_table_xxh3.offset, xxh3(ba, nbases * kBaseEntrySize), 8);
  put_le(s + sb::block_table_xxh3.offset, xxh3(bt, nblocks * kBlockEntrySize), 8);
  put_le(s + sb::page_table_xxh3.offset, xxh3(pt, npages * 8), 8);
  put_le(s + sb::index_pages_xxh3.offset, xxh3(it, index_pages * 8), 8);
  put_le(s + sb::xxh3.offset, xxh3(s, sb::xxh3.offset), 8);
  memcpy(trl + trl::identity.offset, b + hdr::identity.offset, hdr::identity.size);  // one identity, both ends
  put_le(b + hdr::xxh3.offset, xxh3(b, hdr::xxh3.offset), 8);
  put_le(trl + trl::xxh3.offset, xxh3(trl, trl::xxh3.offset), 8);
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    run(bytes);
    if (!reseal(bytes) || bytes == std::string_view(reinterpret_cast<const char*>(data), size)) return 0;
    // Triage: KSO_FUZZ_RESEALED=FILE keeps the resealed pack, for kso-pack ls/verify.
    if (const char* out = getenv("KSO_FUZZ_RESEALED")) {
      if (FILE* f = fopen(out, "wb")) {
        fwrite(bytes.data(), 1, bytes.size(), f);
        fclose(f);
      }
    }
    run(bytes);
  } catch (const std::exception& e) {
    bug(std::string("exception other than kso::Error: ") + typeid(e).name() + ": " + e.what());
  }
  return 0;
}
