#include "index/pack_reader.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <xxhash.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>

#include "index/block.h"
#include "index/error.h"
#include "index/schema.h"
#include "index/sqlite_vfs.h"

namespace kso {
namespace {

std::atomic<uint64_t> g_next_pack_uid{1};

void pread_all(int fd, char* buf, size_t len, uint64_t off, const char* what) {
  size_t got = 0;
  while (got < len) {
    ssize_t n = pread(fd, buf + got, len - got, off_t(off + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(std::string("reading ") + what + ": " + strerror(errno), EIO);
    if (n == 0) throw CorruptError(std::string("pack is truncated (reading ") + what + ")");
    got += size_t(n);
  }
}

// Names from the index become path components: refuse anything that is not one.
void check_name(const std::string& name) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos ||
      name.find('\0') != std::string::npos)
    throw CorruptError("index holds an invalid file name");
}

// One SQLite connection with its prepared statements; used by one thread at a time.
struct Conn {
  sqlite3* db = nullptr;
  sqlite3_stmt *lookup = nullptr, *stat = nullptr, *readdir = nullptr, *content = nullptr;
  ~Conn() {
    for (auto* s : {lookup, stat, readdir, content}) sqlite3_finalize(s);
    sqlite3_close(db);
  }
};

// Resets a statement when a query is done with it, whatever happens.
struct Reset {
  sqlite3_stmt* s;
  ~Reset() {
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
  }
};

Stat row_stat(sqlite3_stmt* s, int col) {
  Stat st;
  st.ino = uint64_t(sqlite3_column_int64(s, col));
  st.mode = uint32_t(sqlite3_column_int64(s, col + 1));
  st.nlink = uint32_t(sqlite3_column_int64(s, col + 2));
  st.size = uint64_t(sqlite3_column_int64(s, col + 3));
  st.mtime_ns = sqlite3_column_int64(s, col + 4);
  return st;
}

constexpr const char* kStatCols = "i.ino, i.mode, i.nlink, i.size, i.mtime_ns";

}  // namespace

size_t FileLayout::chunk_at(uint64_t offset) const {
  auto it = std::upper_bound(chunks.begin(), chunks.end(), offset,
                             [](uint64_t off, const ChunkRef& c) { return off < c.file_offset; });
  return size_t(it - chunks.begin()) - 1;
}

struct Pack::Impl {
  std::filesystem::path path;
  int fd = -1;
  uint64_t size = 0;
  uint64_t uid = g_next_pack_uid++;
  PackHeader header;
  PackTrailer trailer;
  std::vector<BlockEntry> blocks;
  std::vector<uint64_t> page_sums;  // raw blocks' page checksums
  std::string uri;
  std::mutex conns_mu;  // guards `conns` only; taken once per thread per pack
  std::vector<std::unique_ptr<Conn>> conns;

  ~Impl() {
    if (fd >= 0) close(fd);
  }

  // This thread's connection: created on first use, no lock after that.
  Conn& conn() {
    struct Slot {
      uint64_t uid;
      Conn* conn;
    };
    thread_local std::vector<Slot> slots;
    for (auto& s : slots)
      if (s.uid == uid) return *s.conn;
    auto c = std::make_unique<Conn>();
    if (sqlite3_open_v2(uri.c_str(), &c->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX,
                        kRangeVfsName) != SQLITE_OK)
      throw CorruptError("cannot open the pack's index: " + std::string(sqlite3_errmsg(c->db)));
    auto prep = [&](const std::string& sql) {
      sqlite3_stmt* s = nullptr;
      if (sqlite3_prepare_v3(c->db, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK)
        throw CorruptError("the pack's index is not readable: " + std::string(sqlite3_errmsg(c->db)));
      return s;
    };
    c->lookup = prep(std::string("SELECT ") + kStatCols +
                     " FROM dirents d JOIN inodes i ON i.ino = d.ino WHERE d.parent = ?1 AND d.name = ?2");
    c->stat = prep(std::string("SELECT ") + kStatCols + ", i.target FROM inodes i WHERE i.ino = ?1");
    c->readdir = prep(std::string("SELECT d.name, ") + kStatCols +
                      " FROM dirents d JOIN inodes i ON i.ino = d.ino"
                      " WHERE d.parent = ?1 AND d.name > ?2 ORDER BY d.name LIMIT ?3");
    c->content = prep(
        "SELECT c.size, c.sha256, c.chunks FROM inodes i JOIN contents c ON c.id = i.content WHERE i.ino = ?1");
    Conn* raw = c.get();
    {
      std::lock_guard lk(conns_mu);
      conns.push_back(std::move(c));
    }
    slots.push_back({uid, raw});
    return *raw;
  }

  int step(Conn& c, sqlite3_stmt* s) {
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) throw CorruptError("index query failed: " + std::string(sqlite3_errmsg(c.db)));
    return rc;
  }
};

Pack::Pack(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Pack::~Pack() = default;

std::shared_ptr<Pack> Pack::open(const std::filesystem::path& path) {
  register_range_vfs();
  auto m = std::make_unique<Impl>();
  m->path = path;
  m->fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (m->fd < 0) throw Error("cannot open " + path.string() + ": " + strerror(errno), errno);
  struct stat st;
  if (fstat(m->fd, &st) != 0) throw Error("cannot stat " + path.string() + ": " + strerror(errno), errno);
  if (!S_ISREG(st.st_mode)) throw Error(path.string() + " is not a regular file", EINVAL);
  m->size = uint64_t(st.st_size);
  std::string head(kHeaderSize, '\0');
  if (m->size < kHeaderSize) throw Error(path.string() + ": not a kso pack (too short)", EINVAL);
  pread_all(m->fd, head.data(), head.size(), 0, "header");
  m->header = decode_header(head);
  if (m->size < kDataStart + kTrailerSize) throw CorruptError(path.string() + ": pack is truncated");
  std::string tail(kTrailerSize, '\0');
  pread_all(m->fd, tail.data(), tail.size(), m->size - kTrailerSize, "trailer");
  auto& t = m->trailer = decode_trailer(tail);
  const uint64_t body_end = m->size - kTrailerSize;
  if (t.data_end < kDataStart || t.block_table_offset != t.data_end ||
      t.block_count > (body_end - t.block_table_offset) / kBlockEntrySize ||
      t.page_count > (body_end - t.block_table_offset) / 8 ||
      t.index_offset < t.block_table_offset + t.block_count * kBlockEntrySize + t.page_count * 8 ||
      t.index_offset + t.index_size != body_end)
    throw CorruptError(path.string() + ": pack trailer is inconsistent (truncated or damaged)");

  std::string tb(t.block_count * kBlockEntrySize, '\0');
  pread_all(m->fd, tb.data(), tb.size(), t.block_table_offset, "block table");
  if (xxh3(tb.data(), tb.size()) != t.block_table_xxh3) throw CorruptError(path.string() + ": block table checksum mismatch");
  std::string pt(t.page_count * 8, '\0');
  pread_all(m->fd, pt.data(), pt.size(), t.block_table_offset + tb.size(), "page table");
  if (xxh3(pt.data(), pt.size()) != t.page_table_xxh3) throw CorruptError(path.string() + ": page table checksum mismatch");
  m->page_sums.resize(t.page_count);
  for (size_t i = 0; i < m->page_sums.size(); i++) {
    uint64_t v = 0;
    for (int b = 0; b < 8; b++) v |= uint64_t(uint8_t(pt[i * 8 + size_t(b)])) << (8 * b);
    m->page_sums[i] = v;
  }
  m->blocks.resize(t.block_count);
  for (size_t i = 0; i < m->blocks.size(); i++) {
    auto& b = m->blocks[i] = decode_block_entry(&tb[i * kBlockEntrySize]);
    if (b.offset < kDataStart || b.offset + b.stored_size > t.data_end)
      throw CorruptError(path.string() + ": block " + std::to_string(i) + " lies outside the data region");
    if (b.codec == Codec::Raw && uint64_t(b.first_page) + raw_pages(b.stored_size) > t.page_count)
      throw CorruptError(path.string() + ": block " + std::to_string(i) + " has no page checksums");
  }

  // The index checksum is verified in 1 MiB steps: cheap next to SQLite's own reads.
  XXH3_state_t* xs = XXH3_createState();
  XXH3_64bits_reset(xs);
  std::string buf(1 << 20, '\0');
  for (uint64_t off = 0; off < t.index_size; off += buf.size()) {
    size_t n = size_t(std::min<uint64_t>(buf.size(), t.index_size - off));
    pread_all(m->fd, buf.data(), n, t.index_offset + off, "index");
    XXH3_64bits_update(xs, buf.data(), n);
  }
  uint64_t sum = XXH3_64bits_digest(xs);
  XXH3_freeState(xs);
  if (sum != t.index_xxh3) throw CorruptError(path.string() + ": index checksum mismatch");
  m->uri = range_vfs_uri(std::filesystem::absolute(path).string(), t.index_offset, t.index_size);
  auto pack = std::shared_ptr<Pack>(new Pack(std::move(m)));
  if (!pack->stat(kRootIno)) throw CorruptError(path.string() + ": index has no root directory");
  return pack;
}

const std::filesystem::path& Pack::path() const { return impl_->path; }
uint64_t Pack::file_size() const { return impl_->size; }
const PackHeader& Pack::header() const { return impl_->header; }
uint32_t Pack::block_count() const { return uint32_t(impl_->blocks.size()); }

const BlockEntry& Pack::block_entry(uint32_t id) const {
  if (id >= impl_->blocks.size()) throw CorruptError("index refers to block " + std::to_string(id) + ", which does not exist");
  return impl_->blocks[id];
}

std::optional<Stat> Pack::lookup(uint64_t parent, std::string_view name) const {
  Conn& c = impl_->conn();
  Reset r{c.lookup};
  sqlite3_bind_int64(c.lookup, 1, int64_t(parent));
  sqlite3_bind_blob(c.lookup, 2, name.data(), int(name.size()), SQLITE_STATIC);
  if (impl_->step(c, c.lookup) != SQLITE_ROW) return std::nullopt;
  return row_stat(c.lookup, 0);
}

std::optional<Stat> Pack::lookup_path(std::string_view path) const {
  auto st = stat(kRootIno);
  size_t i = 0;
  while (st && i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    std::string_view name = path.substr(i, j - i);
    i = j + 1;
    if (name.empty() || name == ".") continue;
    if ((st->mode & S_IFMT) != S_IFDIR) return std::nullopt;
    st = lookup(st->ino, name);
  }
  return st;
}

std::optional<Stat> Pack::stat(uint64_t ino) const {
  Conn& c = impl_->conn();
  Reset r{c.stat};
  sqlite3_bind_int64(c.stat, 1, int64_t(ino));
  if (impl_->step(c, c.stat) != SQLITE_ROW) return std::nullopt;
  return row_stat(c.stat, 0);
}

std::vector<DirEntry> Pack::readdir(uint64_t dir, std::string_view after, size_t limit) const {
  Conn& c = impl_->conn();
  Reset r{c.readdir};
  sqlite3_bind_int64(c.readdir, 1, int64_t(dir));
  if (after.empty()) sqlite3_bind_zeroblob(c.readdir, 2, 0);  // a NULL blob would compare as NULL
  else sqlite3_bind_blob(c.readdir, 2, after.data(), int(after.size()), SQLITE_STATIC);
  sqlite3_bind_int64(c.readdir, 3, limit > size_t(INT64_MAX) ? INT64_MAX : int64_t(limit));
  std::vector<DirEntry> out;
  while (impl_->step(c, c.readdir) == SQLITE_ROW) {
    DirEntry e;
    e.name.assign(static_cast<const char*>(sqlite3_column_blob(c.readdir, 0)), size_t(sqlite3_column_bytes(c.readdir, 0)));
    check_name(e.name);
    e.st = row_stat(c.readdir, 1);
    out.push_back(std::move(e));
  }
  return out;
}

std::string Pack::readlink(uint64_t ino) const {
  Conn& c = impl_->conn();
  Reset r{c.stat};
  sqlite3_bind_int64(c.stat, 1, int64_t(ino));
  if (impl_->step(c, c.stat) != SQLITE_ROW) throw Error("no inode " + std::to_string(ino), ENOENT);
  if ((uint32_t(sqlite3_column_int64(c.stat, 1)) & S_IFMT) != S_IFLNK) throw Error("not a symlink", EINVAL);
  return std::string(static_cast<const char*>(sqlite3_column_blob(c.stat, 5)), size_t(sqlite3_column_bytes(c.stat, 5)));
}

std::shared_ptr<const FileLayout> Pack::layout(uint64_t ino) const {
  Conn& c = impl_->conn();
  Reset r{c.content};
  sqlite3_bind_int64(c.content, 1, int64_t(ino));
  if (impl_->step(c, c.content) != SQLITE_ROW) {
    auto st = stat(ino);
    if (!st) throw Error("no inode " + std::to_string(ino), ENOENT);
    if ((st->mode & S_IFMT) == S_IFDIR) throw Error("is a directory", EISDIR);
    throw Error("not a regular file", EINVAL);
  }
  auto f = std::make_shared<FileLayout>();
  f->size = uint64_t(sqlite3_column_int64(c.content, 0));
  if (sqlite3_column_bytes(c.content, 1) != 32) throw CorruptError("index: bad content digest");
  f->sha256.assign(static_cast<const char*>(sqlite3_column_blob(c.content, 1)), 32);
  const auto* rec = static_cast<const uint8_t*>(sqlite3_column_blob(c.content, 2));
  size_t n = size_t(sqlite3_column_bytes(c.content, 2));
  if (n % kChunkRecordSize) throw CorruptError("index: bad chunk table");
  f->chunks.resize(n / kChunkRecordSize);
  uint64_t off = 0;
  for (size_t i = 0; i < f->chunks.size(); i++, rec += kChunkRecordSize) {
    auto u32 = [&](int k) {
      return uint32_t(rec[4 * k]) | uint32_t(rec[4 * k + 1]) << 8 | uint32_t(rec[4 * k + 2]) << 16 |
             uint32_t(rec[4 * k + 3]) << 24;
    };
    ChunkRef& ch = f->chunks[i];
    ch = ChunkRef{off, u32(0), u32(1), u32(2)};
    const BlockEntry& b = block_entry(ch.block);
    if (ch.length == 0 || uint64_t(ch.block_offset) + ch.length > b.raw_size)
      throw CorruptError("index: chunk outside its block");
    off += ch.length;
  }
  if (off != f->size) throw CorruptError("index: chunk table does not cover the file");
  return f;
}

size_t Pack::read(const FileLayout& f, uint64_t off, size_t len, char* out, BlockSource& src) const {
  if (off >= f.size) return 0;
  len = size_t(std::min<uint64_t>(len, f.size - off));
  size_t done = 0;
  for (size_t i = f.chunk_at(off); done < len; i++) {
    const ChunkRef& c = f.chunks[i];
    BlockData b = src.block(c.block);
    uint64_t within = off + done - c.file_offset;
    size_t n = size_t(std::min<uint64_t>(c.length - within, len - done));
    if (c.block_offset + within + n > b->size()) throw CorruptError("block shorter than the index says");
    memcpy(out + done, b->data() + c.block_offset + within, n);
    done += n;
  }
  return done;
}

size_t Pack::read(uint64_t ino, uint64_t off, size_t len, char* out) const {
  auto f = layout(ino);
  return read(*f, off, len, out, const_cast<Pack&>(*this));
}

std::string Pack::stored_block(uint32_t id) const {
  const BlockEntry& e = block_entry(id);
  std::string s(e.stored_size, '\0');
  pread_all(impl_->fd, s.data(), s.size(), e.offset, "block");
  if (xxh3(s.data(), s.size()) != e.xxh3)
    throw CorruptError("block " + std::to_string(id) + " at offset " + std::to_string(e.offset) + ": checksum mismatch");
  return s;
}

BlockData Pack::block(uint32_t id) {
  const BlockEntry& e = block_entry(id);
  std::string s(e.stored_size, '\0');
  pread_all(impl_->fd, s.data(), s.size(), e.offset, "block");
  return std::make_shared<const std::string>(decode_block(id, e, std::move(s)));
}

std::string_view Pack::raw_range(uint32_t id, uint32_t offset, uint32_t len, std::string& scratch) const {
  const BlockEntry& e = block_entry(id);
  if (e.codec != Codec::Raw) throw Error("raw_range on a compressed block", EINVAL);
  if (uint64_t(offset) + len > e.stored_size) throw CorruptError("read past the end of block " + std::to_string(id));
  if (len == 0) return {};
  uint32_t first = offset / kRawPageSize, last = (offset + len - 1) / kRawPageSize;
  uint32_t start = first * kRawPageSize;
  uint32_t end = std::min<uint32_t>((last + 1) * kRawPageSize, e.stored_size);
  scratch.resize(end - start);
  pread_all(impl_->fd, scratch.data(), scratch.size(), e.offset + start, "block");
  for (uint32_t p = first; p <= last; p++) {
    size_t off = size_t(p - first) * kRawPageSize;
    size_t n = std::min<size_t>(kRawPageSize, scratch.size() - off);
    if (xxh3(scratch.data() + off, n) != impl_->page_sums[e.first_page + p])
      throw CorruptError("block " + std::to_string(id) + " at offset " + std::to_string(e.offset) +
                         ": checksum mismatch (page " + std::to_string(p) + ")");
  }
  return std::string_view(scratch).substr(offset - start, len);
}

PackTotals Pack::totals() const {
  PackTotals t;
  for (auto& [k, v] : meta()) {
    uint64_t n = strtoull(v.c_str(), nullptr, 10);
    if (k == "files") t.files = n;
    else if (k == "dirs") t.dirs = n;
    else if (k == "symlinks") t.symlinks = n;
    else if (k == "hardlinks") t.hardlinks = n;
    else if (k == "bytes_in") t.bytes_in = n;
    else if (k == "bytes_unique") t.bytes_unique = n;
    else if (k == "bytes_stored") t.bytes_stored = n;
    else if (k == "blocks") t.blocks = n;
    else if (k == "blocks_raw") t.blocks_raw = n;
  }
  return t;
}

std::vector<std::pair<std::string, std::string>> Pack::meta() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (auto& r : query_rows("SELECT key, value FROM meta ORDER BY key", 2)) out.emplace_back(r[0], r[1]);
  return out;
}

std::vector<std::vector<std::string>> Pack::query_rows(const std::string& sql, int cols) const {
  Conn& c = impl_->conn();
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(c.db, sql.c_str(), -1, &s, nullptr) != SQLITE_OK)
    throw CorruptError("index query failed: " + std::string(sqlite3_errmsg(c.db)));
  std::vector<std::vector<std::string>> rows;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    std::vector<std::string> row;
    for (int i = 0; i < cols; i++) {
      const char* v = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
      row.emplace_back(v ? v : "");
    }
    rows.push_back(std::move(row));
  }
  sqlite3_finalize(s);
  if (rc != SQLITE_DONE) throw CorruptError("index query failed");
  return rows;
}

}  // namespace kso
