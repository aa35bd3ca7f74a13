#include "index/write/pack_writer.h"

#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <ctime>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "index/write/internal/block_pipeline.h"
#include "index/error.h"
#include "index/exec_filter.h"
#include "index/format.h"
#include "index/sha256.h"
#include "index/write/internal/order.h"
#include "index/pack_reader.h"
#include "index/internal/schema.h"
#include "index/time_ns.h"

namespace kso {
namespace fs = std::filesystem;

namespace {

// Bytes read from a source per read() call; also the chunker's window.
constexpr size_t kReadWindow = 8u << 20;
// zstd level for blocks of already-compressed content: a cheap probe that
// still catches the odd compressible one; most end up stored raw.
constexpr int kProbeLevel = 1;

struct Node {
  SourceEntry e;
  bool implicit = false;  // a parent directory no source named
  uint64_t ino = 0;
  std::map<std::string, std::unique_ptr<Node>> children;  // byte order, like the index
};

struct ChunkLoc {
  uint32_t block, offset, length;
};

struct Content {
  uint64_t size = 0;
  Digest sha;
  std::vector<ChunkLoc> chunks;
};

// An inode row, kept until the index is written.
struct InodeRow {
  uint32_t mode;
  uint32_t nlink;
  uint64_t size;
  int64_t mtime_ns;
  int64_t content = -1;
  const Node* node;
};

// Magic numbers of compressed formats (gzip, xz, zstd, bzip2, zip, 7z, png, jpeg).
bool looks_compressed(const uint8_t* p, size_t n) {
  auto is = [&](std::initializer_list<uint8_t> m) {
    return n >= m.size() && std::equal(m.begin(), m.end(), p);
  };
  return is({0x1f, 0x8b}) || is({0xfd, '7', 'z', 'X', 'Z', 0}) || is({0x28, 0xb5, 0x2f, 0xfd}) ||
         is({'B', 'Z', 'h'}) || is({'P', 'K', 3, 4}) || is({'7', 'z', 0xbc, 0xaf}) ||
         is({0x89, 'P', 'N', 'G'}) || is({0xff, 0xd8, 0xff});
}

std::string errno_text(int e) { return strerror(e); }

void write_all(int fd, const void* data, size_t len, uint64_t off) {
  const char* p = static_cast<const char*>(data);
  while (len) {
    ssize_t n = pwrite(fd, p, len, off_t(off));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error("writing pack: " + errno_text(errno), errno);
    p += n;
    len -= size_t(n);
    off += uint64_t(n);
  }
}

class Db {
 public:
  explicit Db(const fs::path& p) {
    if (sqlite3_open(p.c_str(), &db_) != SQLITE_OK) throw Error("cannot create index " + p.string());
    exec("PRAGMA page_size=4096; PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA locking_mode=EXCLUSIVE;");
  }
  ~Db() { sqlite3_close(db_); }
  void exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string m = err ? err : "?";
      sqlite3_free(err);
      throw Error("index: " + m);
    }
  }
  sqlite3_stmt* prepare(const char* sql) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db_, sql, -1, &s, nullptr) != SQLITE_OK)
      throw Error(std::string("index: ") + sqlite3_errmsg(db_));
    return s;
  }
  void step(sqlite3_stmt* s) {
    if (sqlite3_step(s) != SQLITE_DONE) throw Error(std::string("index: ") + sqlite3_errmsg(db_));
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
  }
  void close() {
    if (sqlite3_close(db_) != SQLITE_OK) throw Error("index: close failed");
    db_ = nullptr;
  }

 private:
  sqlite3* db_ = nullptr;
};

}  // namespace

struct PackWriter::Impl {
  fs::path out, tmp, tmp_index;
  WriterOptions o;
  Node root;
  int fd = -1;
  bool finished = false;
  int64_t created = 0;
  std::optional<int64_t> clamp_ns;  // SOURCE_DATE_EPOCH in ns, when set
  std::function<void(const BuildProgress&)> progress_cb;
  BuildProgress progress;
  std::chrono::steady_clock::time_point last_report;
  BuildStats stats;

  // Ingest state.
  std::unique_ptr<BlockPipeline> pipe;
  struct Stream {
    std::string buf;
    uint32_t id = 0;
    bool open = false;
    int level = 0;
    uint32_t block_size = 0;
    ExecFilter filter = ExecFilter::None;
  } streams[4];  // [0] compressible content, [1] already-compressed content,
                 // [2] x86-64 and [3] AArch64 ELF files (max profile only)
  uint32_t next_block = 0;
  std::unordered_map<Digest, ChunkLoc, DigestHash> chunk_map;
  // Delta builds: every chunk the bases hold (first base wins), and the ids
  // given here to the base blocks used, in the order first used.
  struct BaseChunk {
    uint16_t base;  // 1-based
    uint32_t block, offset, length;
  };
  std::unordered_map<Digest, BaseChunk, DigestHash> base_chunks;
  std::map<std::pair<uint16_t, uint32_t>, uint32_t> base_block_ids;
  std::vector<std::tuple<uint32_t, uint16_t, uint32_t>> base_refs;  // (id here, base, id there)
  std::unordered_map<Digest, uint32_t, DigestHash> content_map;
  std::vector<Content> contents;

  ~Impl() { cleanup(); }

  void cleanup() {
    pipe.reset();
    if (fd >= 0) close(fd);
    fd = -1;
    if (!finished) {
      unlink(tmp.c_str());
      unlink(tmp_index.c_str());
    }
  }

  void report(bool force) {
    if (!progress_cb) return;
    auto now = std::chrono::steady_clock::now();
    if (!force && now - last_report < std::chrono::milliseconds(100)) return;
    last_report = now;
    progress.bytes_stored = pipe ? pipe->bytes_written() : progress.bytes_stored;
    progress_cb(progress);
  }

  void seal(Stream& s) {
    if (!s.open) return;
    pipe->submit(s.id, std::move(s.buf), s.level, uint8_t(s.filter));
    s.buf = std::string();
    s.buf.reserve(s.block_size);
    s.open = false;
  }

  // `file_off`: where the chunk starts in its file. AArch64 instructions are
  // 4-byte aligned in the file and the ARM64 filter converts words aligned in
  // the block, so that stream pads (zeros no chunk names) to keep the two
  // congruent mod 4.
  ChunkLoc append(Stream& s, const uint8_t* p, size_t n, uint64_t file_off) {
    auto pad = [&] { return s.filter == ExecFilter::Arm64 ? (file_off - s.buf.size()) & 3 : 0; };
    if (s.open && s.buf.size() + pad() + n > s.block_size) seal(s);
    if (!s.open) {
      s.id = next_block++;
      s.open = true;
    }
    s.buf.append(pad(), '\0');
    ChunkLoc loc{s.id, uint32_t(s.buf.size()), uint32_t(n)};
    s.buf.append(reinterpret_cast<const char*>(p), n);
    return loc;
  }

  // The id in this pack of block `block` of base `base` (1-based).
  uint32_t base_block(uint16_t base, uint32_t block) {
    auto [it, fresh] = base_block_ids.emplace(std::make_pair(base, block), next_block);
    if (fresh) base_refs.emplace_back(next_block++, base, block);
    return it->second;
  }

  // Every chunk digest of every base, read from their indexes (no data).
  void load_bases() {
    if (o.bases.size() > kMaxBases) throw Error("at most " + std::to_string(kMaxBases) + " bases", EINVAL);
    for (size_t k = 0; k < o.bases.size(); k++) {
      const Pack& b = *o.bases[k];
      for (size_t j = 0; j < k; j++)
        if (o.bases[j]->identity() == b.identity()) throw Error("base " + b.name() + " is given twice", EINVAL);
      for (auto& row : b.query_rows("SELECT sha256, block, offset, length FROM chunks", 4)) {
        if (row[0].size() != 32) throw CorruptError(b.name() + ": index: bad chunk digest");
        Digest d;
        memcpy(d.data(), row[0].data(), 32);
        BaseChunk c{uint16_t(k + 1), uint32_t(std::stoul(row[1])), uint32_t(std::stoul(row[2])),
                    uint32_t(std::stoul(row[3]))};
        const BlockEntry& e = b.block_entry(c.block);  // throws for a block that does not exist
        if (uint64_t(c.offset) + c.length > e.raw_size || c.length == 0)
          throw CorruptError(b.name() + ": index: chunk outside its block");
        base_chunks.emplace(d, c);
      }
    }
  }

  // Reads one source's bytes (from disk, inline or a reader) and cuts them
  // into chunks: `first(p, n)` sees the first window (to pick the stream),
  // then `chunk(p, n)` each chunk in file order. Returns the bytes read. With
  // `check`, a file whose size or mtime changed while it was read is named
  // (a warning, or under --strict an error).
  template <class First, class Chunk>
  uint64_t chunk_source(const SourceEntry& e, bool check, First first, Chunk chunk) {
    int in = -1;
    if (!e.inline_data && !e.reader) {
      in = open(e.source_file.c_str(), O_RDONLY | O_CLOEXEC);
      if (in < 0) throw Error("cannot read " + e.source_file.string() + ": " + errno_text(errno), errno);
      posix_fadvise(in, 0, 0, POSIX_FADV_SEQUENTIAL);
    }
    struct stat before {};
    if (in >= 0 && fstat(in, &before) != 0)
      throw Error("cannot stat " + e.source_file.string() + ": " + errno_text(errno), errno);
    struct Closer {
      int fd;
      ~Closer() {
        if (fd >= 0) close(fd);
      }
    } closer{in};

    static thread_local std::string window;
    window.resize(std::max<size_t>(kReadWindow, 2 * size_t(o.chunk.max_size)));
    const std::string* inl = e.inline_data ? &*e.inline_data : nullptr;
    size_t inl_pos = 0;
    uint64_t rd_pos = 0;
    auto fill = [&](char* dst, size_t want) -> size_t {
      if (e.reader) {
        size_t got = 0;
        while (got < want) {
          size_t n = e.reader->read(rd_pos, want - got, dst + got);
          if (n == 0) break;
          got += n;
          rd_pos += n;
        }
        return got;
      }
      if (inl) {
        size_t n = std::min(want, inl->size() - inl_pos);
        memcpy(dst, inl->data() + inl_pos, n);
        inl_pos += n;
        return n;
      }
      size_t got = 0;
      while (got < want) {
        ssize_t n = read(in, dst + got, want - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw Error("cannot read " + e.source_file.string() + ": " + errno_text(errno), errno);
        if (n == 0) break;
        got += size_t(n);
      }
      return got;
    };

    uint64_t size = 0;
    size_t filled = 0, pos = 0;
    bool eof = false, first_seen = false;
    for (;;) {
      if (!eof && (filled - pos) < o.chunk.max_size) {  // top up the window
        memmove(window.data(), window.data() + pos, filled - pos);
        filled -= pos;
        pos = 0;
        size_t n = fill(window.data() + filled, window.size() - filled);
        if (n < window.size() - filled) eof = true;
        filled += n;
        if (!first_seen) {
          first(reinterpret_cast<const uint8_t*>(window.data()), filled);
          first_seen = true;
        }
      }
      if (pos == filled) break;
      const auto* p = reinterpret_cast<const uint8_t*>(window.data()) + pos;
      size_t n = find_chunk_boundary(o.chunk, p, filled - pos, eof);
      if (n == 0) continue;  // need more bytes (only before eof)
      chunk(p, n);
      size += n;
      pos += n;
    }
    if (check && in >= 0) {  // a file written to while it was read: what was packed is no snapshot of it
      struct stat after {};
      bool changed = fstat(in, &after) != 0 || after.st_size != before.st_size || uint64_t(before.st_size) != size ||
                     after.st_mtim.tv_sec != before.st_mtim.tv_sec || after.st_mtim.tv_nsec != before.st_mtim.tv_nsec;
      if (changed) {
        std::string msg = e.source_file.string() + " changed while it was packed (" + std::to_string(before.st_size) +
                          " bytes when opened, " + std::to_string(size) + " read, " +
                          std::to_string(after.st_size) + " now)";
        if (o.strict) throw Error(msg + "; --strict refuses it", EAGAIN);
        spdlog::warn("{}; packed the {} bytes read", msg, size);
      }
    }
    return size;
  }

  // Delta builds with --base-min-use: a first pass over every file counts
  // the distinct bytes the new tree takes from each compressed base block.
  // A block used for less than `base_min_use` % of its decoded size would be
  // decoded whole for a small part of it on every cold read; its chunks are
  // dropped from `base_chunks`, so ingest() stores them again here.
  void drop_sparse_base_blocks(const std::vector<const SourceEntry*>& sources) {
    if (o.base_min_use == 0 || base_chunks.empty()) return;
    std::map<std::pair<uint16_t, uint32_t>, uint64_t> used;  // (base, block) -> distinct bytes
    std::unordered_set<Digest, DigestHash> seen;
    for (const SourceEntry* e : sources)
      chunk_source(*e, false, [](const uint8_t*, size_t) {}, [&](const uint8_t* p, size_t n) {
        Digest d = sha256(p, n);
        auto bc = base_chunks.find(d);
        if (bc == base_chunks.end() || bc->second.length != n || !seen.insert(d).second) return;
        used[{bc->second.base, bc->second.block}] += n;
      });
    std::set<std::pair<uint16_t, uint32_t>> sparse;
    for (auto& [key, bytes] : used) {
      const BlockEntry& be = o.bases[key.first - 1]->block_entry(key.second);
      // Raw blocks are read by the page, so a small use costs only what it uses.
      if (be.codec == Codec::Raw || bytes * 100 >= uint64_t(o.base_min_use) * be.raw_size) continue;
      sparse.insert(key);
      stats.base_blocks_sparse++;
      stats.bytes_stored_again += bytes;
    }
    if (sparse.empty()) return;
    for (auto it = base_chunks.begin(); it != base_chunks.end();)
      it = sparse.count({it->second.base, it->second.block}) ? base_chunks.erase(it) : std::next(it);
  }

  // Reads one file's bytes, chunks, dedups and stores them; returns the
  // content id.
  uint32_t ingest(const SourceEntry& e) {
    Content c;
    Sha256 file_sha;
    Stream* stream = nullptr;
    auto first = [&](const uint8_t* p, size_t n) {
      stream = &streams[looks_compressed(p, n) ? 1 : 0];
      if (o.max_profile && stream == &streams[0]) {
        ExecFilter f = elf_exec_filter(std::string_view(reinterpret_cast<const char*>(p), n));
        if (f == ExecFilter::X86) stream = &streams[2];
        if (f == ExecFilter::Arm64) stream = &streams[3];
      }
    };
    auto chunk = [&](const uint8_t* p, size_t n) {
      file_sha.update(p, n);
      Digest d = sha256(p, n);
      auto it = chunk_map.find(d);
      ChunkLoc loc;
      if (it != chunk_map.end()) {
        loc = it->second;
        stats.chunks_deduped++;
      } else if (auto bc = base_chunks.find(d); bc != base_chunks.end() && bc->second.length == n) {
        loc = ChunkLoc{base_block(bc->second.base, bc->second.block), bc->second.offset, uint32_t(n)};
        chunk_map.emplace(d, loc);
        stats.chunks_from_bases++;
        stats.bytes_from_bases += n;
      } else {
        loc = append(*stream, p, n, c.size);
        chunk_map.emplace(d, loc);
        stats.bytes_unique += n;
      }
      stats.chunks++;
      c.chunks.push_back(loc);
      c.size += n;
      progress.bytes_done += n;
      report(false);
    };
    chunk_source(e, true, first, chunk);
    c.sha = file_sha.finish();
    const std::string* inl = e.inline_data ? &*e.inline_data : nullptr;
    if (!e.expect_sha256.empty() && to_hex(c.sha) != e.expect_sha256)
      throw Error("content for " + e.path + " (" +
                      (inl ? std::string("inline") : e.reader ? std::string("read from a pack") : e.source_file.string()) +
                  ") has sha256 " + to_hex(c.sha) + " but " + e.expect_sha256 +
                  " was expected: the source changed after it was verified (a damaged download cache? remove "
                  "that file and run again)");
    auto [it, fresh] = content_map.emplace(c.sha, uint32_t(contents.size()));
    if (!fresh) {
      stats.files_deduped++;
      return it->second;
    }
    contents.push_back(std::move(c));
    return it->second;
  }

  Node* add(SourceEntry e) {
    validate_pack_path(e.path);
    Node* n = &root;
    size_t start = 0;
    for (;;) {
      size_t end = e.path.find('/', start);
      bool last = end == std::string::npos;
      std::string name = e.path.substr(start, last ? std::string::npos : end - start);
      if (n->e.type != EntryType::Dir)
        throw Error("path '" + e.path + "' goes through '" + n->e.path + "', which is not a directory", ENOTDIR);
      auto& child = n->children[name];
      if (!child) {
        child = std::make_unique<Node>();
        child->implicit = true;
        child->e.type = EntryType::Dir;
        child->e.mode = 0755;
        child->e.mtime_ns = created * kNsPerSec;
        child->e.path = e.path.substr(0, last ? std::string::npos : end);
      } else if (last) {
        if (!(child->implicit && e.type == EntryType::Dir))
          throw Error("duplicate path '" + e.path + "' in the sources", EEXIST);
      }
      if (last) {
        // Reproducible builds: no mtime later than SOURCE_DATE_EPOCH (sources
        // that invent times, such as registry entries, use the build time).
        if (clamp_ns && e.mtime_ns > *clamp_ns) e.mtime_ns = *clamp_ns;
        child->e = std::move(e);
        child->implicit = false;
        return child.get();
      }
      n = child.get();
      start = end + 1;
    }
  }
};

PackWriter::PackWriter(fs::path out, WriterOptions opts) : impl_(std::make_unique<Impl>()) {
  auto& m = *impl_;
  m.o = opts;
  m.o.chunk.validate();
  for (uint32_t bs : {m.o.block_size, m.o.raw_block_size}) {
    if (bs < 64 * 1024 || bs > (64u << 20)) throw Error("block sizes must be between 64 KiB and 64 MiB", EINVAL);
    if (bs < m.o.chunk.max_size) throw Error("block sizes must be at least the maximum chunk size", EINVAL);
  }
  if (m.o.level < 1 || m.o.level > 22) throw Error("zstd level must be 1..22", EINVAL);
  if (m.o.threads == 0) m.o.threads = std::max(1u, std::thread::hardware_concurrency());
  if (m.o.max_pending_blocks == 0) m.o.max_pending_blocks = 2 * m.o.threads;
  m.out = out;
  fs::path dir = out.has_parent_path() ? out.parent_path() : fs::path(".");
  m.tmp = dir / ("." + out.filename().string() + ".tmp-" + std::to_string(getpid()));
  m.tmp_index = fs::path(m.tmp.string() + "-index");
  auto sde = m.o.created_unix;  // reproducible builds: the tool passes SOURCE_DATE_EPOCH here
  m.created = sde ? *sde : int64_t(time(nullptr));
  if (sde) m.clamp_ns = *sde * kNsPerSec;
  m.root.e.type = EntryType::Dir;
  m.root.e.mode = 0755;
  m.root.e.mtime_ns = m.created * kNsPerSec;
  m.streams[0].level = m.o.level;
  m.streams[0].block_size = m.o.block_size;
  m.streams[1].level = kProbeLevel;
  m.streams[1].block_size = m.o.raw_block_size;
  for (int i : {2, 3}) {
    m.streams[i].level = m.o.level;
    m.streams[i].block_size = m.o.block_size;
    m.streams[i].filter = i == 2 ? ExecFilter::X86 : ExecFilter::Arm64;
  }
}

PackWriter::~PackWriter() = default;

void PackWriter::add(SourceEntry e) { impl_->add(std::move(e)); }

void PackWriter::on_progress(std::function<void(const BuildProgress&)> cb) { impl_->progress_cb = std::move(cb); }

const fs::path& PackWriter::temp_path() const { return impl_->tmp; }

BuildStats PackWriter::finish() {
  auto& m = *impl_;
  if (m.finished) throw Error("pack already finished");
  try {
    // 1. Inode numbers: depth-first, children in name order; hardlinks share one.
    std::vector<InodeRow> inodes(1);  // [0] unused: inode numbers start at 1
    std::unordered_map<std::string, uint64_t> links;
    std::vector<std::pair<const Node*, uint64_t>> files;  // first path of each file inode
    std::vector<std::tuple<uint64_t, std::string, uint64_t>> dirents;
    std::function<void(Node&)> number = [&](Node& n) {
      const auto& e = n.e;
      if (e.type == EntryType::File && !e.hardlink_key.empty()) {
        auto it = links.find(e.hardlink_key);
        if (it != links.end()) {
          n.ino = it->second;
          inodes[n.ino].nlink++;
          m.stats.hardlinks++;
          return;
        }
      }
      n.ino = inodes.size();
      uint32_t type = e.type == EntryType::Dir ? S_IFDIR : e.type == EntryType::Symlink ? S_IFLNK : S_IFREG;
      uint64_t size = e.type == EntryType::Symlink ? e.symlink_target.size() : 0;
      inodes.push_back(InodeRow{type | (e.mode & 07777), 1, size, e.mtime_ns, -1, &n});
      if (e.type == EntryType::File) {
        if (!e.hardlink_key.empty()) links.emplace(e.hardlink_key, n.ino);
        files.emplace_back(&n, n.ino);
        m.stats.files++;
      } else if (e.type == EntryType::Symlink) {
        if (e.symlink_target.empty()) throw Error("symlink '" + e.path + "' has an empty target", EINVAL);
        size_t depth = size_t(std::count(e.path.begin(), e.path.end(), '/'));
        if (!m.o.allow_escaping_symlinks && symlink_escapes(e.symlink_target, depth))
          throw Error("symlink '" + e.path + "' -> '" + e.symlink_target +
                          "' points outside the pack (absolute, or above its root); a mount would let servers "
                          "follow it into the host. Make it relative and inside, or pass --allow-escaping-symlinks",
                      EINVAL);
        m.stats.symlinks++;
      } else {
        m.stats.dirs++;
        inodes[n.ino].nlink = 2;
        for (auto& [name, child] : n.children) {
          number(*child);
          dirents.emplace_back(n.ino, name, child->ino);
          if (child->e.type == EntryType::Dir) inodes[n.ino].nlink++;
        }
      }
    };
    number(m.root);
    m.stats.dirs--;  // the root is not counted as a directory of the tree

    // 2. Content, in an order that puts similar files next to each other.
    std::vector<size_t> order(files.size());
    for (size_t i = 0; i < order.size(); i++) order[i] = i;
    std::vector<std::string> keys(files.size());
    for (size_t i = 0; i < files.size(); i++)
      keys[i] = m.o.similarity_order ? similarity_key(files[i].first->e.path) : std::string();
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return keys[a] < keys[b]; });
    m.progress.files_total = files.size();
    for (auto& [node, ino] : files) {
      if (node->e.reader) {
        m.progress.bytes_total += node->e.reader->size();
      } else if (!node->e.inline_data) {
        struct stat st;
        if (stat(node->e.source_file.c_str(), &st) == 0) m.progress.bytes_total += uint64_t(st.st_size);
      } else {
        m.progress.bytes_total += node->e.inline_data->size();
      }
    }

    m.fd = open(m.tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (m.fd < 0) throw Error("cannot create " + m.tmp.string() + ": " + errno_text(errno), errno);
    // The header carries the identity, known at the end: zeros until then.
    std::string h(kDataStart, '\0');
    write_all(m.fd, h.data(), h.size(), 0);
    m.load_bases();
    {
      std::vector<const SourceEntry*> sources;
      for (size_t i : order) sources.push_back(&files[i].first->e);
      m.drop_sparse_base_blocks(sources);
    }
    m.pipe = std::make_unique<BlockPipeline>(m.fd, kDataStart, m.o.threads, m.o.max_pending_blocks);
    for (auto& s : m.streams)
      if (s.filter == ExecFilter::None || m.o.max_profile) s.buf.reserve(s.block_size);

    for (size_t i : order) {
      auto& [node, ino] = files[i];
      uint32_t cid = m.ingest(node->e);
      inodes[ino].content = cid;
      inodes[ino].size = m.contents[cid].size;
      m.progress.files_done++;
      m.report(false);
    }
    for (auto& s : m.streams) m.seal(s);
    std::vector<uint64_t> pages;
    std::vector<BlockEntry> table = m.pipe->finish(pages);
    uint64_t data_end = m.pipe->end_offset();
    // Blocks of the bases: the base's entry, pointing at it. Only the bases
    // this pack takes blocks from are recorded, in the order given.
    table.resize(m.next_block);
    std::vector<BaseEntry> bases;
    std::vector<uint16_t> renumber(m.o.bases.size() + 1, 0);
    for (auto& [id, k, local] : m.base_refs) renumber[k] = 1;
    for (size_t k = 1; k < renumber.size(); k++) {
      if (!renumber[k]) {
        spdlog::warn("base {} holds none of the new tree's chunks: not recorded (the pack does not need it)",
                     m.o.bases[k - 1]->name());
        continue;
      }
      const Pack& b = *m.o.bases[k - 1];
      BaseEntry be;
      be.identity = b.identity();
      be.pack_size = b.file_size();
      be.name = k - 1 < m.o.base_names.size() ? m.o.base_names[k - 1] : fs::path(b.name()).filename().string();
      if (be.name.size() > bse::name.size) be.name.resize(bse::name.size);
      be.name.erase(std::find(be.name.begin(), be.name.end(), '\0'), be.name.end());
      bases.push_back(std::move(be));
      renumber[k] = uint16_t(bases.size());
    }
    for (auto& [id, k, local] : m.base_refs) {
      BlockEntry e = m.o.bases[k - 1]->block_entry(local);
      e.offset = local;
      e.base = renumber[k];
      e.first_page = 0;
      table[id] = e;
    }
    m.pipe.reset();
    m.report(true);
    // Downloads that came from elsewhere than their path's URL, by path.
    std::map<std::string, std::string> origins;
    std::function<void(const Node&)> collect = [&](const Node& n) {
      if (!n.e.origin_url.empty()) origins[n.e.path] = n.e.origin_url;
      for (auto& [name, c] : n.children) collect(*c);
    };
    collect(m.root);
    // v4 only when the pack needs it: a filtered block (its own, or a base's
    // it names), the max profile's meta key or recorded origins; otherwise
    // v3, byte for byte.
    uint32_t version = m.o.max_profile || !origins.empty() ? kFirstFilterVersion : kPlainFormatVersion;
    for (auto& e : table)
      if (e.filter) version = kFirstFilterVersion;

    // Logical bytes count every path (a hardlink's paths each count).
    for (auto& [dir, name, ino] : dirents)
      if ((inodes[ino].mode & S_IFMT) == S_IFREG) m.stats.bytes_in += inodes[ino].size;

    // 3. The index, built in a side file. Rows go in a fixed order (inode,
    // dirent, content and chunk-digest order) so the same input always gives
    // the same database bytes.
    {
      unlink(m.tmp_index.c_str());
      Db db(m.tmp_index);
      db.exec(kIndexSchema);
      db.exec(("PRAGMA application_id=" + std::to_string(kIndexApplicationId) +
               "; PRAGMA user_version=" + std::to_string(version))
                  .c_str());
      db.exec("BEGIN");
      sqlite3_stmt* ins_inode = db.prepare("INSERT INTO inodes VALUES(?,?,?,?,?,?,?)");
      for (uint64_t ino = 1; ino < inodes.size(); ino++) {
        const auto& r = inodes[ino];
        sqlite3_bind_int64(ins_inode, 1, int64_t(ino));
        sqlite3_bind_int64(ins_inode, 2, r.mode);
        sqlite3_bind_int64(ins_inode, 3, r.nlink);
        sqlite3_bind_int64(ins_inode, 4, int64_t(r.size));
        sqlite3_bind_int64(ins_inode, 5, r.mtime_ns);
        if (r.content >= 0) sqlite3_bind_int64(ins_inode, 6, r.content);
        if ((r.mode & S_IFMT) == S_IFLNK)
          sqlite3_bind_blob(ins_inode, 7, r.node->e.symlink_target.data(), int(r.node->e.symlink_target.size()),
                            SQLITE_STATIC);
        db.step(ins_inode);
      }
      sqlite3_finalize(ins_inode);
      sqlite3_stmt* ins_dirent = db.prepare("INSERT INTO dirents VALUES(?,?,?)");
      for (auto& [parent, name, ino] : dirents) {
        sqlite3_bind_int64(ins_dirent, 1, int64_t(parent));
        sqlite3_bind_blob(ins_dirent, 2, name.data(), int(name.size()), SQLITE_STATIC);
        sqlite3_bind_int64(ins_dirent, 3, int64_t(ino));
        db.step(ins_dirent);
      }
      sqlite3_finalize(ins_dirent);
      sqlite3_stmt* ins_content = db.prepare("INSERT INTO contents VALUES(?,?,?,?)");
      std::string rec;
      for (size_t id = 0; id < m.contents.size(); id++) {
        const auto& c = m.contents[id];
        rec.assign(c.chunks.size() * kChunkRecordSize, '\0');
        for (size_t i = 0; i < c.chunks.size(); i++) {
          char* r = &rec[i * kChunkRecordSize];
          put_le(r, c.chunks[i].block, 4);
          put_le(r + 4, c.chunks[i].offset, 4);
          put_le(r + 8, c.chunks[i].length, 4);
        }
        sqlite3_bind_int64(ins_content, 1, int64_t(id));
        sqlite3_bind_int64(ins_content, 2, int64_t(c.size));
        sqlite3_bind_blob(ins_content, 3, c.sha.data(), 32, SQLITE_STATIC);
        sqlite3_bind_blob(ins_content, 4, rec.data(), int(rec.size()), SQLITE_STATIC);
        db.step(ins_content);
      }
      sqlite3_finalize(ins_content);
      std::vector<std::pair<Digest, ChunkLoc>> chunks(m.chunk_map.begin(), m.chunk_map.end());
      std::sort(chunks.begin(), chunks.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
      sqlite3_stmt* ins_chunk = db.prepare("INSERT INTO chunks VALUES(?,?,?,?)");
      for (auto& [d, loc] : chunks) {
        sqlite3_bind_blob(ins_chunk, 1, d.data(), 32, SQLITE_STATIC);
        sqlite3_bind_int64(ins_chunk, 2, loc.block);
        sqlite3_bind_int64(ins_chunk, 3, loc.offset);
        sqlite3_bind_int64(ins_chunk, 4, loc.length);
        db.step(ins_chunk);
      }
      sqlite3_finalize(ins_chunk);
      sqlite3_stmt* ins_meta = db.prepare("INSERT INTO meta VALUES(?,?)");
      auto meta = [&](const char* k, const std::string& v) {
        sqlite3_bind_text(ins_meta, 1, k, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins_meta, 2, v.data(), int(v.size()), SQLITE_TRANSIENT);
        db.step(ins_meta);
      };
      meta(kMetaCreated, std::to_string(m.created));
      meta(kMetaChunkMin, std::to_string(m.o.chunk.min_size));
      meta(kMetaChunkAvg, std::to_string(m.o.chunk.avg_size));
      meta(kMetaChunkMax, std::to_string(m.o.chunk.max_size));
      meta(kMetaBlockSize, std::to_string(m.o.block_size));
      meta(kMetaRawBlockSize, std::to_string(m.o.raw_block_size));
      meta(kMetaZstdLevel, std::to_string(m.o.level));
      meta(kMetaOrder, m.o.similarity_order ? "similar" : "tree");
      if (version >= kFirstFilterVersion) meta(kMetaProfile, m.o.max_profile ? "max" : "fast");
      if (!origins.empty()) meta(kMetaSourceUrls, nlohmann::json(origins).dump());
      sqlite3_finalize(ins_meta);
      db.exec("COMMIT");
      db.close();
    }
    int ifd = open(m.tmp_index.c_str(), O_RDONLY | O_CLOEXEC);
    if (ifd < 0) throw Error("cannot reopen index: " + errno_text(errno), errno);
    struct stat ist;
    fstat(ifd, &ist);
    std::string idx(size_t(ist.st_size), '\0');
    if (pread(ifd, idx.data(), idx.size(), 0) != ssize_t(idx.size())) {
      close(ifd);
      throw Error("cannot read back index");
    }
    close(ifd);
    unlink(m.tmp_index.c_str());

    // 4. The metadata region: superblock, block table, page table, index
    // page table, zeros to the next 4 KiB, the index. Its SHA-256 is the
    // pack's identity, written into the header and the trailer.
    for (auto& e : table) {
      if (e.base) continue;
      m.stats.bytes_stored += e.stored_size;
      m.stats.blocks++;
      if (e.codec == Codec::Raw) m.stats.blocks_raw++;
    }
    const std::string meta = encode_metadata(data_end, table, pages, idx, bases, version);
    PackEnds ends;
    ends.version = version;
    ends.meta_offset = data_end;
    ends.identity = sha256(meta.data(), meta.size());
    write_all(m.fd, meta.data(), meta.size(), data_end);
    std::string t = encode_trailer(ends);
    write_all(m.fd, t.data(), t.size(), data_end + meta.size());
    std::string hd = encode_header(ends);
    write_all(m.fd, hd.data(), hd.size(), 0);
    m.stats.pack_size = data_end + meta.size() + t.size();
    m.stats.identity = ends.identity;

    // 5. Durable, then visible under its name.
    if (fsync(m.fd) != 0) throw Error("fsync " + m.tmp.string() + ": " + errno_text(errno), errno);
    close(m.fd);
    m.fd = -1;
    if (rename(m.tmp.c_str(), m.out.c_str()) != 0)
      throw Error("cannot rename to " + m.out.string() + ": " + errno_text(errno), errno);
    m.finished = true;
    int dfd = open((m.out.has_parent_path() ? m.out.parent_path() : fs::path(".")).c_str(), O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
      fsync(dfd);
      close(dfd);
    }
  } catch (...) {
    m.cleanup();
    throw;
  }
  return m.stats;
}

}  // namespace kso
