#include "index/pack_reader.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "index/block.h"
#include "index/block_buffer.h"
#include "index/entry.h"
#include "index/error.h"
#include "index/exec_filter.h"
#include "index/hash.h"
#include "index/internal/schema.h"
#include "index/internal/sqlite_vfs.h"

namespace kso {
namespace {

std::atomic<uint64_t> g_next_pack_uid{1};

// Bytes per read when streaming a region through a hash.
constexpr size_t kStreamChunk = 1u << 20;

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

// The rows of a database's sqlite_schema, one string each; nullopt if they
// cannot be read.
std::optional<std::vector<std::string>> schema_rows(sqlite3* db) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY rowid", -1, &s, nullptr) !=
      SQLITE_OK)
    return std::nullopt;
  std::vector<std::string> out;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    std::string row;
    for (int i = 0; i < 4; i++) {
      const char* v = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
      row += std::string(v ? v : "<null>") + '\x1f';
    }
    out.push_back(row);
  }
  sqlite3_finalize(s);
  if (rc != SQLITE_DONE) return std::nullopt;
  return out;
}

// The schema rows a correct index has: kIndexSchema run on an empty database.
const std::vector<std::string>& expected_schema() {
  static const std::vector<std::string> rows = [] {
    sqlite3* db = nullptr;
    sqlite3_open(":memory:", &db);
    sqlite3_exec(db, kIndexSchema, nullptr, nullptr, nullptr);
    auto r = schema_rows(db);
    sqlite3_close(db);
    return r.value_or(std::vector<std::string>{});
  }();
  return rows;
}

uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

}  // namespace

size_t FileLayout::chunk_at(uint64_t offset) const {
  auto it = std::upper_bound(chunks.begin(), chunks.end(), offset,
                             [](uint64_t off, const ChunkRef& c) { return off < c.file_offset; });
  return size_t(it - chunks.begin()) - 1;
}

void ReadBuffer::copy_to(char* out) const {
  for (auto& v : iov_) {
    memcpy(out, v.iov_base, v.iov_len);
    out += v.iov_len;
  }
}

struct Pack::Impl : IndexPages {
  std::shared_ptr<ByteSource> src;
  uint64_t total = 0;  // the pack's size
  uint64_t uid = g_next_pack_uid++;
  PackEnds header, trailer;
  Superblock sb;
  std::vector<BaseEntry> bases;      // v3 deltas: the packs blocks come from
  std::vector<BlockEntry> blocks;
  std::vector<uint64_t> page_sums;   // raw blocks' page checksums
  std::vector<uint64_t> index_sums;  // the index's page checksums
  uint64_t inode_count = 0;
  std::string uri;
  std::shared_ptr<const char> alive = std::make_shared<const char>(0);  // threads' slots watch it
  std::mutex conns_mu;  // guards `conns` only; taken once per thread per pack
  std::vector<std::unique_ptr<Conn>> conns;
  // Set by attach_bases(): the base packs, and for every block the pack and
  // id that hold its bytes (flattened through a chain).
  std::vector<std::shared_ptr<Pack>> base_packs;
  std::vector<BlockHome> homes;

  ~Impl() override {
    conns.clear();  // every connection closed before the VFS forgets us
    if (!uri.empty()) unregister_index(uri);
  }

  const std::string& name() const { return src->name(); }

  // Reads [off, off+len) and checks it with `ok`; a source that can refetch
  // (a cache) gets one more try. Throws CorruptError(`what`()) on damage.
  template <typename Ok, typename What>
  void read_checked(uint64_t off, size_t len, char* out, Ok ok, What what) const {
    src->read(off, len, out);
    if (ok(out)) return;
    if (src->drop(off, len)) {
      src->read(off, len, out);
      if (ok(out)) return;
    }
    throw CorruptError(name() + ": " + what());
  }

  // IndexPages: database bytes, every page checked against index_sums.
  uint64_t size() const override { return sb.index_size; }
  void read(uint64_t off, size_t len, char* out) const override {
    if (len == 0) return;
    uint64_t first = off / kIndexPageSize, last = (off + len - 1) / kIndexPageSize;
    uint64_t bad = 0;
    auto pages_ok = [&](const char* b, uint64_t from, uint64_t to) {
      for (uint64_t p = from; p <= to; p++)
        if (xxh3(b + (p - from) * kIndexPageSize, kIndexPageSize) != index_sums[p]) {
          bad = p;
          return false;
        }
      return true;
    };
    auto what = [&] { return "index page " + std::to_string(bad) + ": checksum mismatch"; };
    if (off % kIndexPageSize == 0 && len % kIndexPageSize == 0) {  // SQLite's usual read: in place
      read_checked(sb.index_offset + off, len, out, [&](const char* b) { return pages_ok(b, first, last); }, what);
      return;
    }
    thread_local std::string page;
    page.resize(kIndexPageSize);
    for (uint64_t p = first; p <= last; p++) {
      read_checked(sb.index_offset + p * kIndexPageSize, kIndexPageSize, page.data(),
                   [&](const char* b) { return pages_ok(b, p, p); }, what);
      uint64_t from = std::max(off, p * kIndexPageSize), to = std::min(off + len, (p + 1) * kIndexPageSize);
      memcpy(out + (from - off), page.data() + (from - p * kIndexPageSize), size_t(to - from));
    }
  }

  // This thread's connection: created on first use, no lock after that.
  Conn& conn() {
    struct Slot {
      uint64_t uid;
      std::weak_ptr<const char> alive;  // expires with the pack: the slot is dropped
      Conn* conn;
    };
    thread_local std::vector<Slot> slots;
    for (size_t i = 0; i < slots.size();) {
      if (slots[i].uid == uid) return *slots[i].conn;
      if (slots[i].alive.expired()) {
        slots[i] = slots.back();
        slots.pop_back();
      } else {
        i++;
      }
    }
    auto c = std::make_unique<Conn>();
    if (sqlite3_open_v2(uri.c_str(), &c->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX,
                        kIndexVfsName) != SQLITE_OK)
      throw CorruptError(name() + ": cannot open the pack's index: " + sqlite3_errmsg(c->db) + detail());
    // The index comes from elsewhere: SQLite's hardening for untrusted databases.
    sqlite3_db_config(c->db, SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
    sqlite3_db_config(c->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, nullptr);
    sqlite3_exec(c->db, "PRAGMA cell_size_check=ON", nullptr, nullptr, nullptr);
    auto prep = [&](const std::string& sql) {
      sqlite3_stmt* s = nullptr;
      if (sqlite3_prepare_v3(c->db, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK)
        throw CorruptError(name() + ": the pack's index is not readable: " + sqlite3_errmsg(c->db) + detail());
      return s;
    };
    c->lookup = prep(std::string("SELECT ") + kStatCols +
                     " FROM dirents d JOIN inodes i ON i.ino = d.ino WHERE d.parent = ?1 AND d.name = ?2");
    c->stat = prep(std::string("SELECT ") + kStatCols + ", i.target FROM inodes i WHERE i.ino = ?1");
    c->readdir = prep(std::string("SELECT d.name, ") + kStatCols +
                      " FROM dirents d JOIN inodes i ON i.ino = d.ino"
                      " WHERE d.parent = ?1 AND d.name > ?2 ORDER BY d.name LIMIT ?3");
    c->content = prep(
        "SELECT i.mode, i.size, c.size, c.sha256, c.chunks FROM inodes i LEFT JOIN contents c ON c.id = i.content "
        "WHERE i.ino = ?1");
    Conn* raw = c.get();
    {
      std::lock_guard lk(conns_mu);
      conns.push_back(std::move(c));
    }
    slots.push_back({uid, alive, raw});
    return *raw;
  }

  static std::string detail() {
    std::string e = take_index_error();
    return e.empty() ? "" : " (" + e + ")";
  }

  int step(Conn& c, sqlite3_stmt* s) {
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
      throw CorruptError(name() + ": index query failed: " + sqlite3_errmsg(c.db) + detail());
    return rc;
  }

  void load_tables();
  void check_blocks();
  void check_index_header(Pack& p);
  // The tree is checked as it is read, not in a scan at open (a scan of
  // 100k entries costs more than the whole rest of a mount): every Stat the
  // reader returns has a sane mode, every listing has valid names in strictly
  // increasing order, every directory lies below its parent in numbering (no
  // cycles) and under one parent only. What was learned is kept: each
  // directory's parent, name and depth, and each symlink's depth.
  struct Seen {
    uint64_t parent;
    uint32_t depth;  // kUnknownDepth when the parent was never seen
    std::string name;
  };
  static constexpr uint32_t kUnknownDepth = UINT32_MAX;
  mutable std::mutex tree_mu;
  mutable std::unordered_map<uint64_t, Seen> dirs_seen{{kRootIno, Seen{0, 0, ""}}};
  mutable std::unordered_map<uint64_t, uint32_t> link_depth;

  void check_stat(const Stat& st) const;
  void saw_child(uint64_t parent, std::string_view name, const Stat& child) const;
  std::string path_of(uint64_t dir) const;  // caller holds tree_mu
};

void Pack::Impl::check_stat(const Stat& st) const {
  auto bad = [&](const std::string& why) {
    return CorruptError(name() + ": index: inode " + std::to_string(st.ino) + " " + why);
  };
  if (st.ino == 0 || st.ino > inode_count) throw bad("does not exist");
  if (st.mode & ~uint32_t(S_IFMT | 07777)) throw bad("has an impossible mode");
  if (!S_ISDIR(st.mode) && !S_ISREG(st.mode) && !S_ISLNK(st.mode))
    throw bad("is neither a directory, a regular file nor a symlink");
  if (st.nlink == 0) throw bad("has no links");
  if (S_ISDIR(st.mode) && st.size != 0) throw bad("is a directory with a size");
}

std::string Pack::Impl::path_of(uint64_t dir) const {
  std::string p;
  for (uint64_t d = dir; d != kRootIno;) {
    auto it = dirs_seen.find(d);
    if (it == dirs_seen.end()) return "inode " + std::to_string(dir);
    p = "/" + it->second.name + p;
    d = it->second.parent;
  }
  return p.empty() ? std::string("/") : p.substr(1);
}

void Pack::Impl::saw_child(uint64_t parent, std::string_view nm, const Stat& child) const {
  check_stat(child);
  if (!S_ISDIR(child.mode) && !S_ISLNK(child.mode)) return;
  std::lock_guard lk(tree_mu);
  auto where = [&] { return "'" + std::string(nm) + "' in directory '" + path_of(parent) + "'"; };
  auto pit = dirs_seen.find(parent);
  uint32_t depth = pit == dirs_seen.end() || pit->second.depth == kUnknownDepth ? kUnknownDepth : pit->second.depth;
  if (S_ISLNK(child.mode)) {
    link_depth[child.ino] = depth;
    return;
  }
  if (child.ino <= parent) throw CorruptError(name() + ": index: directory " + where() + " would make a cycle");
  auto [it, fresh] = dirs_seen.emplace(child.ino, Seen{parent, depth == kUnknownDepth ? depth : depth + 1, std::string(nm)});
  if (!fresh && (it->second.parent != parent || it->second.name != nm))
    throw CorruptError(name() + ": index: directory " + where() + " is linked more than once (also as '" +
                       path_of(child.ino) + "')");
}

void Pack::Impl::load_tables() {
  const uint64_t body_end = total - kTrailerSize;
  auto bad = [&](const std::string& why) { return CorruptError(name() + ": " + why); };
  const uint64_t meta = trailer.meta_offset;
  if (meta < kDataStart || meta > body_end || body_end - meta < kSuperblockSize)
    throw bad("pack trailer points outside the pack (truncated or damaged)");
  std::string sbytes(kSuperblockSize, '\0');
  src->read(meta, sbytes.size(), sbytes.data());
  try {
    sb = decode_superblock(sbytes);
  } catch (const Error& e) {
    if (typeid(e) == typeid(CorruptError)) throw bad(e.what());
    throw Error(name() + ": " + e.what(), e.errno_value());
  }
  if (sb.version != header.version || sb.version != trailer.version)
    throw bad("header, superblock and trailer disagree on the format version");
  // Tables follow the superblock back to back, then zero padding up to the
  // index, which runs to the trailer. Sizes are checked before any product
  // can overflow: every count is bounded by the bytes that would hold it.
  const uint64_t room = body_end - meta - kSuperblockSize;
  if (sb.block_count > room / kBlockEntrySize || sb.page_count > room / 8 || sb.index_size > room ||
      sb.base_count > room / kBaseEntrySize || sb.index_size % kIndexPageSize != 0 || sb.index_size == 0)
    throw bad("superblock sizes do not fit the pack (truncated or damaged)");
  const uint64_t index_pages = sb.index_size / kIndexPageSize;
  const uint64_t tables =
      sb.base_count * kBaseEntrySize + sb.block_count * kBlockEntrySize + sb.page_count * 8 + index_pages * 8;
  const uint64_t tables_end = meta + kSuperblockSize + tables;
  if (tables > room || sb.index_offset != align_up(tables_end, kIndexAlign) ||
      sb.index_offset + sb.index_size != body_end)
    throw bad("superblock layout is inconsistent (truncated or damaged)");
  std::string t(size_t(sb.index_offset - (meta + kSuperblockSize)), '\0');
  src->read(meta + kSuperblockSize, t.size(), t.data());
  const char* ba = t.data();
  const char* bt = ba + sb.base_count * kBaseEntrySize;
  const char* pt = bt + sb.block_count * kBlockEntrySize;
  const char* it = pt + sb.page_count * 8;
  if (sb.version >= 3 && xxh3(ba, sb.base_count * kBaseEntrySize) != sb.base_table_xxh3)
    throw bad("base table checksum mismatch");
  if (xxh3(bt, sb.block_count * kBlockEntrySize) != sb.block_table_xxh3) throw bad("block table checksum mismatch");
  if (xxh3(pt, sb.page_count * 8) != sb.page_table_xxh3) throw bad("page table checksum mismatch");
  if (xxh3(it, index_pages * 8) != sb.index_pages_xxh3) throw bad("index page table checksum mismatch");
  for (const char* z = it + index_pages * 8; z < t.data() + t.size(); z++)
    if (*z) throw bad("non-zero bytes between the tables and the index");
  for (size_t k = 0; k < sb.base_count; k++) {
    BaseEntry b;
    try {
      b = decode_base_entry(ba + k * kBaseEntrySize);
    } catch (const Error& e) {
      throw bad(e.what());
    }
    if (b.identity == trailer.identity) throw bad("names itself as its own base");
    for (auto& o : bases)
      if (o.identity == b.identity) throw bad("names base " + to_hex(b.identity) + " twice");
    bases.push_back(std::move(b));
  }
  blocks.resize(sb.block_count);
  for (size_t i = 0; i < blocks.size(); i++) blocks[i] = decode_block_entry(bt + i * kBlockEntrySize);
  page_sums.resize(sb.page_count);
  for (size_t i = 0; i < page_sums.size(); i++) page_sums[i] = get_le(pt + 8 * i, 8);
  index_sums.resize(index_pages);
  for (size_t i = 0; i < index_sums.size(); i++) index_sums[i] = get_le(it + 8 * i, 8);
  check_blocks();
}

// Blocks, in offset order, tile the data region from kDataStart to the
// metadata region exactly (the writer appends them in the order they are
// sealed, which is not id order), each with a known codec, and raw blocks own
// consecutive runs of the page table in id order: what the writer produces,
// and nothing a reader would have to guess about.
void Pack::Impl::check_blocks() {
  uint64_t page = 0;
  std::vector<std::pair<uint64_t, uint32_t>> by_offset;  // (offset, stored size)
  by_offset.reserve(blocks.size());
  for (size_t i = 0; i < blocks.size(); i++) {
    const BlockEntry& b = blocks[i];
    auto bad = [&](const std::string& why) {
      return CorruptError(name() + ": block " + std::to_string(i) + " " + why);
    };
    if (uint8_t(b.codec) > kMaxCodec) throw bad("has unknown codec " + std::to_string(unsigned(b.codec)));
    if (b.filter > kMaxFilter || (b.filter != 0 && sb.version < kFirstFilterVersion))
      throw bad("has unknown filter " + std::to_string(unsigned(b.filter)));
    if (b.filter != 0 && b.codec != Codec::Zstd) throw bad("names a filter but is not zstd-compressed");
    if (b.base != 0 && sb.version < 3) throw bad("has non-zero reserved bytes");
    if (b.base > bases.size())
      throw bad("names base pack " + std::to_string(b.base) + ", which the base table does not have");
    if (b.stored_size == 0 || b.raw_size == 0 || b.raw_size > kMaxBlockSize || b.stored_size > b.raw_size)
      throw bad("has an impossible size");
    if (b.codec != Codec::Raw && b.stored_size == b.raw_size) throw bad("is compressed but saves nothing");
    if (b.base != 0) {  // a base's block: its place is the base's business (checked at attach)
      if (b.first_page != 0) throw bad("lives in a base pack but names page checksums");
      if (b.offset > UINT32_MAX) throw bad("names a block id no base can have");
      continue;
    }
    if (b.codec == Codec::Raw) {
      if (b.raw_size != b.stored_size) throw bad("is raw but its sizes differ");
      if (b.first_page != page) throw bad("has misplaced page checksums");
      page += raw_pages(b.stored_size);
    } else if (b.first_page != 0) {
      throw bad("is compressed but names page checksums");
    }
    by_offset.emplace_back(b.offset, b.stored_size);
  }
  if (page != page_sums.size()) throw CorruptError(name() + ": the page table does not match the raw blocks");
  std::sort(by_offset.begin(), by_offset.end());
  uint64_t at = kDataStart;
  for (auto& [off, n] : by_offset) {
    if (off != at) throw CorruptError(name() + ": blocks overlap or leave gaps in the data region");
    at += n;
  }
  if (at != trailer.meta_offset) throw CorruptError(name() + ": the data region holds bytes no block owns");
}

// The index is what this kso writes: its application id, version and exact
// schema, the build parameters in meta, and a root directory.
void Pack::Impl::check_index_header(Pack& p) {
  auto bad = [&](const std::string& why) { return CorruptError(name() + ": index " + why); };
  auto rows = p.query_rows("PRAGMA application_id", 1);
  if (rows.size() != 1 || rows[0][0] != std::to_string(kIndexApplicationId)) throw bad("is not a kso index");
  rows = p.query_rows("PRAGMA user_version", 1);
  if (rows.size() != 1 || rows[0][0] != std::to_string(sb.version))
    throw bad("schema version does not match the pack's format version");
  Conn& c = conn();
  auto have = schema_rows(c.db);
  if (!have) throw bad(std::string("is not readable: ") + sqlite3_errmsg(c.db) + detail());
  if (*have != expected_schema()) throw bad("schema is not the one this format defines");
  std::vector<std::pair<std::string, std::string>> meta = p.meta();
  auto value = [&](const char* k) -> const std::string* {
    for (auto& [key, v] : meta)
      if (key == k) return &v;
    return nullptr;
  };
  for (const char* k : kMetaIntegerKeys) {
    const std::string* v = value(k);
    if (!v) throw bad(std::string("has no meta key '") + k + "'");
    char* end = nullptr;
    errno = 0;
    (void)strtoll(v->c_str(), &end, 10);
    if (v->empty() || *end || errno) throw bad(std::string("meta key '") + k + "' is not an integer");
  }
  const std::string* order = value(kMetaOrder);
  if (!order || (*order != "tree" && *order != "similar")) throw bad("meta key 'order' is missing or unknown");
  const std::string* profile = value(kMetaProfile);
  if (sb.version >= kFirstFilterVersion ? !profile || (*profile != "fast" && *profile != "max") : profile != nullptr)
    throw bad("meta key 'profile' is missing or unknown");
  if (sb.version < kFirstFilterVersion && value(kMetaSourceUrls)) throw bad("meta key 'source_urls' is a v4 key");
  rows = p.query_rows("SELECT ifnull(max(ino), 0) FROM inodes", 1);
  inode_count = std::stoull(rows.at(0).at(0));
  auto root = p.stat(kRootIno);
  if (!root || !S_ISDIR(root->mode)) throw bad("has no root directory");
}

Pack::Pack(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Pack::~Pack() = default;

std::shared_ptr<Pack> Pack::open(const std::filesystem::path& path) { return open(std::make_shared<FileSource>(path)); }

std::shared_ptr<Pack> Pack::open(std::shared_ptr<ByteSource> src) {
  auto m = std::make_unique<Impl>();
  m->src = std::move(src);
  m->total = m->src->size();
  const std::string& name = m->src->name();
  if (m->total < kHeaderSize) throw Error(name + ": not a kso pack (too short)", EINVAL);
  auto rethrow = [&](const Error& e) {
    if (typeid(e) == typeid(CorruptError)) throw CorruptError(name + ": " + e.what());
    throw Error(name + ": " + e.what(), e.errno_value());
  };
  std::string head(kHeaderSize, '\0');
  m->src->read(0, head.size(), head.data());
  try {
    m->header = decode_header(head);
  } catch (const Error& e) {
    rethrow(e);
  }
  if (m->total < kDataStart + kSuperblockSize + kIndexPageSize + kTrailerSize)
    throw CorruptError(name + ": pack is truncated");
  std::string tail(kTrailerSize, '\0');
  m->src->read(m->total - kTrailerSize, tail.size(), tail.data());
  try {
    m->trailer = decode_trailer(tail);
  } catch (const Error& e) {
    rethrow(e);
  }
  if (m->trailer.identity != m->header.identity)
    throw CorruptError(name + ": header and trailer name different pack identities (damaged or spliced)");
  m->load_tables();
  m->uri = register_index(m.get());
  auto pack = std::shared_ptr<Pack>(new Pack(std::move(m)));
  pack->impl_->check_index_header(*pack);
  return pack;
}

const ByteSource& Pack::source() const { return *impl_->src; }
const std::string& Pack::name() const { return impl_->name(); }
uint64_t Pack::file_size() const { return impl_->total; }
uint32_t Pack::version() const { return impl_->sb.version; }
const Digest& Pack::identity() const { return impl_->trailer.identity; }
const Superblock& Pack::superblock() const { return impl_->sb; }
uint64_t Pack::meta_offset() const { return impl_->trailer.meta_offset; }
uint64_t Pack::inode_count() const { return impl_->inode_count; }
bool Pack::holds_data() const { return impl_->src->holds_data(); }
const std::vector<BaseEntry>& Pack::bases() const { return impl_->bases; }
bool Pack::bases_attached() const { return impl_->bases.empty() || !impl_->base_packs.empty(); }

std::shared_ptr<Pack> Pack::base(size_t k) const {
  return k < impl_->base_packs.size() ? impl_->base_packs[k] : nullptr;
}

void Pack::attach_bases(std::vector<std::shared_ptr<Pack>> given) {
  Impl& m = *impl_;
  if (!m.base_packs.empty()) throw Error(name() + ": bases are attached already", EINVAL);
  if (given.size() != m.bases.size())
    throw Error(name() + ": needs " + std::to_string(m.bases.size()) + " base pack(s), " +
                    std::to_string(given.size()) + " given",
                EINVAL);
  for (size_t k = 0; k < given.size(); k++) {
    const BaseEntry& want = m.bases[k];
    const Pack& b = *given[k];
    auto refuse = [&](const std::string& why) {
      return Error(name() + ": base " + std::to_string(k + 1) + " ('" + want.name + "', identity " +
                       to_hex(want.identity) + "): " + b.name() + " " + why,
                   EINVAL);
    };
    if (b.identity() != want.identity) throw refuse("is another pack (identity " + to_hex(b.identity()) + ")");
    if (b.file_size() != want.pack_size)
      throw refuse("has " + std::to_string(b.file_size()) + " bytes, the base had " + std::to_string(want.pack_size));
    if (!b.holds_data()) throw refuse("is an index only (.kidx): reading needs the pack itself");
    if (!b.bases_attached()) throw refuse("is a delta whose own bases are not attached");
  }
  std::vector<BlockHome> homes(m.blocks.size());
  for (uint32_t id = 0; id < m.blocks.size(); id++) {
    const BlockEntry& e = m.blocks[id];
    if (!e.base) {
      homes[id] = {this, id};
      continue;
    }
    const Pack& b = *given[e.base - 1];
    uint32_t local = uint32_t(e.offset);
    if (local >= b.block_count() || !same_block_content(b.block_entry(local), e))
      throw Error(name() + ": block " + std::to_string(id) + " should be block " + std::to_string(local) + " of base " +
                      std::to_string(e.base) + " (" + b.name() + "), which holds no such block (damaged pack or base)",
                  EINVAL);
    homes[id] = b.home(local);
  }
  m.homes = std::move(homes);
  m.base_packs = std::move(given);
}

Pack::BlockHome Pack::home(uint32_t id) const {
  const BlockEntry& e = block_entry(id);
  if (!e.base) return {this, id};
  if (impl_->homes.empty()) {
    const BaseEntry& b = impl_->bases[e.base - 1];
    throw Error(name() + ": block " + std::to_string(id) + " is in base pack '" + b.name + "' (identity " +
                    to_hex(b.identity) + "), which is not open",
                ENOENT);
  }
  return impl_->homes[id];
}
uint32_t Pack::block_count() const { return uint32_t(impl_->blocks.size()); }

const BlockEntry& Pack::block_entry(uint32_t id) const {
  if (id >= impl_->blocks.size())
    throw CorruptError(name() + ": index refers to block " + std::to_string(id) + ", which does not exist");
  return impl_->blocks[id];
}

bool Pack::decodes(uint32_t id) const { return block_entry(id).codec != Codec::Raw; }

std::optional<Stat> Pack::lookup(uint64_t parent, std::string_view name) const {
  Conn& c = impl_->conn();
  Reset r{c.lookup};
  sqlite3_bind_int64(c.lookup, 1, int64_t(parent));
  sqlite3_bind_blob(c.lookup, 2, name.data(), int(name.size()), SQLITE_STATIC);
  if (impl_->step(c, c.lookup) != SQLITE_ROW) return std::nullopt;
  Stat st = row_stat(c.lookup, 0);
  impl_->saw_child(parent, name, st);
  return st;
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
  Stat st = row_stat(c.stat, 0);
  impl_->check_stat(st);
  return st;
}

std::vector<DirEntry> Pack::readdir(uint64_t dir, std::string_view after, size_t limit) const {
  Conn& c = impl_->conn();
  Reset r{c.readdir};
  sqlite3_bind_int64(c.readdir, 1, int64_t(dir));
  if (after.empty()) sqlite3_bind_zeroblob(c.readdir, 2, 0);  // a NULL blob would compare as NULL
  else sqlite3_bind_blob(c.readdir, 2, after.data(), int(after.size()), SQLITE_STATIC);
  sqlite3_bind_int64(c.readdir, 3, limit > size_t(INT64_MAX) ? INT64_MAX : int64_t(limit));
  std::vector<DirEntry> out;
  std::string prev(after);
  while (impl_->step(c, c.readdir) == SQLITE_ROW) {
    DirEntry e;
    const char* nm = static_cast<const char*>(sqlite3_column_blob(c.readdir, 0));
    e.name.assign(nm ? nm : "", size_t(sqlite3_column_bytes(c.readdir, 0)));
    e.st = row_stat(c.readdir, 1);
    auto bad = [&](const std::string& why) {
      std::lock_guard lk(impl_->tree_mu);
      return CorruptError(name() + ": index: " + why + " '" + e.name + "' in directory '" + impl_->path_of(dir) + "'");
    };
    try {
      check_name(e.name);
    } catch (const CorruptError&) {
      throw bad("invalid file name");
    }
    // Byte order, as SQLite compares BLOBs (and as char_traits<char> compares).
    if ((!out.empty() || !after.empty()) && e.name <= prev)
      throw bad(e.name == prev ? "duplicate name" : "names out of order at");
    impl_->saw_child(dir, e.name, e.st);
    prev = e.name;
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
  const char* t = static_cast<const char*>(sqlite3_column_blob(c.stat, 5));
  size_t n = size_t(sqlite3_column_bytes(c.stat, 5));
  if (!t || n == 0 || uint64_t(sqlite3_column_int64(c.stat, 3)) != n)
    throw CorruptError(name() + ": index: symlink inode " + std::to_string(ino) + " has no proper target");
  return std::string(t, n);
}

bool Pack::escaping_symlink(uint64_t ino) const { return escaping_symlink(ino, readlink(ino)); }

bool Pack::escaping_symlink(uint64_t ino, std::string_view target) const {
  uint32_t depth = 0;  // not seen in a listing or lookup yet: assume the strictest (the root)
  {
    std::lock_guard lk(impl_->tree_mu);
    auto it = impl_->link_depth.find(ino);
    if (it != impl_->link_depth.end() && it->second != Impl::kUnknownDepth) depth = it->second;
  }
  return symlink_escapes(target, depth);
}

std::shared_ptr<const FileLayout> Pack::layout(uint64_t ino) const {
  Conn& c = impl_->conn();
  Reset r{c.content};
  sqlite3_bind_int64(c.content, 1, int64_t(ino));
  if (impl_->step(c, c.content) != SQLITE_ROW) throw Error("no inode " + std::to_string(ino), ENOENT);
  uint32_t mode = uint32_t(sqlite3_column_int64(c.content, 0));
  if (S_ISDIR(mode)) throw Error("is a directory", EISDIR);
  if (!S_ISREG(mode)) throw Error("not a regular file", EINVAL);
  auto bad = [&](const std::string& why) {
    return CorruptError(name() + ": inode " + std::to_string(ino) + ": " + why);
  };
  if (sqlite3_column_type(c.content, 2) == SQLITE_NULL) throw bad("regular file without content");
  auto f = std::make_shared<FileLayout>();
  f->size = uint64_t(sqlite3_column_int64(c.content, 2));
  if (uint64_t(sqlite3_column_int64(c.content, 1)) != f->size) throw bad("its size disagrees with its content's");
  if (sqlite3_column_bytes(c.content, 3) != 32) throw bad("bad content digest");
  memcpy(f->sha256.data(), sqlite3_column_blob(c.content, 3), 32);
  const auto* rec = static_cast<const uint8_t*>(sqlite3_column_blob(c.content, 4));
  size_t n = size_t(sqlite3_column_bytes(c.content, 4));
  if (n % kChunkRecordSize) throw bad("bad chunk table");
  f->chunks.resize(n / kChunkRecordSize);
  uint64_t off = 0;
  for (size_t i = 0; i < f->chunks.size(); i++, rec += kChunkRecordSize) {
    auto u32 = [&](int k) { return uint32_t(get_le(reinterpret_cast<const char*>(rec) + 4 * k, 4)); };
    ChunkRef& ch = f->chunks[i];
    ch = ChunkRef{off, u32(0), u32(1), u32(2)};
    if (ch.block >= impl_->blocks.size()) throw bad("chunk in a block that does not exist");
    const BlockEntry& b = impl_->blocks[ch.block];
    if (ch.length == 0 || uint64_t(ch.block_offset) + ch.length > b.raw_size) throw bad("chunk outside its block");
    off += ch.length;
  }
  if (off != f->size) throw bad("chunk table does not cover the file");
  return f;
}

namespace {
// A run of file bytes that lies contiguously in one block.
struct Segment {
  uint32_t block, offset, length;
};
}  // namespace

void Pack::read(const FileLayout& f, uint64_t off, size_t len, BlockSource& blocks, ReadBuffer& out) const {
  out.iov_.clear();
  out.held_.clear();
  out.size_ = 0;
  if (off >= f.size || len == 0) return;
  const uint64_t end = std::min<uint64_t>(off + len, f.size);
  // Adjacent chunks stored back to back in one block become one segment.
  thread_local std::vector<Segment> segs;
  segs.clear();
  size_t i = f.chunk_at(off);
  for (uint64_t p = off; p < end; i++) {
    const ChunkRef& ch = f.chunks[i];
    uint64_t within = p - ch.file_offset;
    uint32_t n = uint32_t(std::min<uint64_t>(ch.length - within, end - p));
    uint32_t at = ch.block_offset + uint32_t(within);
    if (!segs.empty() && segs.back().block == ch.block && segs.back().offset + segs.back().length == at)
      segs.back().length += n;
    else
      segs.push_back({ch.block, at, n});
    p += n;
  }
  // Compressed blocks: iovecs point into decoded blocks, held until the next
  // read. Raw blocks: the pages a segment touches are read and verified into
  // a buffer of its own, and the iovec points at the asked bytes inside it.
  if (out.pages_.size() < segs.size()) out.pages_.resize(segs.size());  // before any view into them
  uint32_t held_block = UINT32_MAX;
  for (size_t k = 0; k < segs.size(); k++) {
    const Segment& sg = segs[k];
    const BlockEntry& e0 = block_entry(sg.block);
    const char* p;
    if (e0.codec == Codec::Raw) {
      // Raw bytes are read where they live: here, or in the base that holds them.
      const BlockHome h = e0.base ? home(sg.block) : BlockHome{this, sg.block};
      const Impl& where = *h.pack->impl_;
      const BlockEntry& e = where.blocks[h.id];
      uint32_t first = sg.offset / kRawPageSize, last = (sg.offset + sg.length - 1) / kRawPageSize;
      uint32_t start = first * kRawPageSize;
      uint32_t stop = std::min<uint32_t>((last + 1) * kRawPageSize, e.stored_size);
      ByteBuf& buf = out.pages_[k];
      buf.resize(stop - start);
      uint32_t bad = 0;
      where.read_checked(
          e.offset + start, buf.size(), buf.data(),
          [&](const char* b) {
            for (uint32_t pg = first; pg <= last; pg++) {
              size_t at = size_t(pg - first) * kRawPageSize;
              if (xxh3(b + at, std::min<size_t>(kRawPageSize, buf.size() - at)) != where.page_sums[e.first_page + pg]) {
                bad = pg;
                return false;
              }
            }
            return true;
          },
          [&] {
            return "block " + std::to_string(h.id) + " at offset " + std::to_string(e.offset) +
                   ": checksum mismatch (page " + std::to_string(bad) + ")";
          });
      p = buf.data() + (sg.offset - start);
    } else {
      if (sg.block != held_block) {
        out.held_.push_back(blocks.block(sg.block));
        held_block = sg.block;
      }
      const std::string& b = *out.held_.back();
      if (uint64_t(sg.offset) + sg.length > b.size()) throw CorruptError(name() + ": block shorter than the index says");
      p = b.data() + sg.offset;
    }
    if (!out.iov_.empty() && static_cast<const char*>(out.iov_.back().iov_base) + out.iov_.back().iov_len == p)
      out.iov_.back().iov_len += sg.length;
    else
      out.iov_.push_back({const_cast<char*>(p), sg.length});
  }
  out.size_ = size_t(end - off);
  uint64_t expected = f.next_offset.exchange(end);
  if (expected == off || off == 0) blocks.read_ahead(f, i - 1);
}

size_t Pack::read(const FileLayout& f, uint64_t off, size_t len, char* out, BlockSource& blocks) const {
  ReadBuffer rb;
  read(f, off, len, blocks, rb);
  rb.copy_to(out);
  return rb.size();
}

size_t Pack::read(uint64_t ino, uint64_t off, size_t len, char* out) const {
  auto f = layout(ino);
  return read(*f, off, len, out, const_cast<Pack&>(*this));
}

BlockData Pack::block(uint32_t id) {
  const BlockEntry& e = block_entry(id);
  if (e.base) {
    BlockHome h = home(id);
    return const_cast<Pack*>(h.pack)->block(h.id);
  }
  std::string s = take_block_buffer(e.stored_size);
  impl_->read_checked(
      e.offset, s.size(), s.data(), [&](const char* b) { return xxh3(b, s.size()) == e.xxh3; },
      [&] { return "block " + std::to_string(id) + " at offset " + std::to_string(e.offset) + ": checksum mismatch"; });
  try {
    return share_block(decode_stored(id, e, std::move(s)));
  } catch (const CorruptError& err) {
    throw CorruptError(name() + ": " + err.what());
  }
}

void Pack::check_block(uint32_t id, const StoredCheck& also) const {
  const BlockEntry& e = block_entry(id);
  if (e.base) {
    BlockHome h = home(id);
    try {
      h.pack->check_block(h.id, also);
    } catch (const CorruptError& err) {
      throw CorruptError(h.pack->name() + ": " + err.what());
    }
    return;
  }
  std::string s = take_block_buffer(e.stored_size);
  impl_->src->read(e.offset, s.size(), s.data());
  auto bad = [&](const std::string& why) {
    return CorruptError("block " + std::to_string(id) + " at offset " + std::to_string(e.offset) + ": " + why);
  };
  if (xxh3(s.data(), s.size()) != e.xxh3) throw bad("checksum mismatch");
  if (also) {
    try {
      also(e, s);
    } catch (const CorruptError& err) {
      throw bad(err.what());
    }
  }
  if (e.codec == Codec::Raw) {
    for (uint32_t pg = 0; pg < raw_pages(e.stored_size); pg++) {
      size_t at = size_t(pg) * kRawPageSize;
      if (xxh3(s.data() + at, std::min<size_t>(kRawPageSize, s.size() - at)) != impl_->page_sums[e.first_page + pg])
        throw bad("checksum mismatch (page " + std::to_string(pg) + ")");
    }
  }
  give_block_buffer(decode_stored(id, e, std::move(s)));
}

void Pack::check_index() const {
  std::string buf;
  for (uint64_t off = 0; off < impl_->sb.index_size; off += kStreamChunk) {
    size_t n = size_t(std::min<uint64_t>(kStreamChunk, impl_->sb.index_size - off));
    buf.resize(n);
    impl_->read(off, n, buf.data());
  }
}

std::vector<std::pair<std::string, std::string>> Pack::meta() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (auto& r : query_rows("SELECT key, value FROM meta ORDER BY key", 2)) out.emplace_back(r[0], r[1]);
  return out;
}

void Pack::for_each_entry(const std::function<void(const EntryRow&)>& f) const {
  Conn& c = impl_->conn();
  sqlite3_stmt* s = nullptr;
  // The dirents primary key is (parent, name): SQLite walks it without sorting.
  const std::string sql = std::string("SELECT d.parent, d.name, ") + kStatCols +
                          ", c.sha256, i.target FROM dirents d JOIN inodes i ON i.ino = d.ino"
                          " LEFT JOIN contents c ON c.id = i.content ORDER BY d.parent, d.name";
  if (sqlite3_prepare_v2(c.db, sql.c_str(), -1, &s, nullptr) != SQLITE_OK)
    throw CorruptError(name() + ": index query failed: " + sqlite3_errmsg(c.db) + Impl::detail());
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> done(s, sqlite3_finalize);
  while (impl_->step(c, s) == SQLITE_ROW) {
    EntryRow r;
    r.parent = uint64_t(sqlite3_column_int64(s, 0));
    const char* nm = static_cast<const char*>(sqlite3_column_blob(s, 1));
    r.name = std::string_view(nm ? nm : "", size_t(sqlite3_column_bytes(s, 1)));
    r.st = row_stat(s, 2);
    const void* sha = sqlite3_column_blob(s, 7);
    r.sha256 = sha && sqlite3_column_bytes(s, 7) == 32 ? static_cast<const uint8_t*>(sha) : nullptr;
    const char* t = static_cast<const char*>(sqlite3_column_blob(s, 8));
    r.target = std::string_view(t ? t : "", size_t(sqlite3_column_bytes(s, 8)));
    f(r);
  }
}

std::vector<std::vector<std::string>> Pack::query_rows(const std::string& sql, int cols) const {
  Conn& c = impl_->conn();
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(c.db, sql.c_str(), -1, &s, nullptr) != SQLITE_OK)
    throw CorruptError(name() + ": index query failed: " + sqlite3_errmsg(c.db) + Impl::detail());
  std::vector<std::vector<std::string>> rows;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    std::vector<std::string> row;
    for (int i = 0; i < cols; i++) {
      const char* v = reinterpret_cast<const char*>(sqlite3_column_blob(s, i));
      if (sqlite3_column_type(s, i) != SQLITE_BLOB) v = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
      row.emplace_back(v ? std::string(v, size_t(sqlite3_column_bytes(s, i))) : std::string());
    }
    rows.push_back(std::move(row));
  }
  std::string err = rc == SQLITE_DONE ? "" : sqlite3_errmsg(c.db);
  sqlite3_finalize(s);
  if (rc != SQLITE_DONE) throw CorruptError(name() + ": index query failed: " + err + Impl::detail());
  return rows;
}

}  // namespace kso
