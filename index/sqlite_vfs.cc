#include "index/internal/sqlite_vfs.h"

#include <sqlite3.h>

#include <atomic>
#include <cstring>
#include <map>
#include <mutex>
#include <utility>

#include "index/error.h"

namespace kso {
namespace {

constexpr const char* kNamePrefix = "kso-index-";

struct IndexFile {
  sqlite3_file base;  // must be first: SQLite casts between the two
  const IndexPages* pages;
};

std::mutex g_mu;
std::map<uint64_t, const IndexPages*> g_indexes;  // by registration id
std::atomic<uint64_t> g_next_id{1};
thread_local std::string t_last_error;

int x_close(sqlite3_file*) { return SQLITE_OK; }

int x_read(sqlite3_file* f, void* buf, int amt, sqlite3_int64 off) {
  const IndexPages* p = reinterpret_cast<IndexFile*>(f)->pages;
  uint64_t size = p->size();
  uint64_t want = 0;
  if (off >= 0 && uint64_t(off) < size) want = std::min<uint64_t>(uint64_t(amt), size - uint64_t(off));
  try {
    if (want) p->read(uint64_t(off), size_t(want), static_cast<char*>(buf));
  } catch (const std::exception& e) {
    t_last_error = e.what();
    return SQLITE_IOERR_READ;
  }
  if (want < uint64_t(amt)) {  // SQLite wants the rest zeroed and told
    memset(static_cast<char*>(buf) + want, 0, size_t(uint64_t(amt) - want));
    return SQLITE_IOERR_SHORT_READ;
  }
  return SQLITE_OK;
}

int x_write(sqlite3_file*, const void*, int, sqlite3_int64) { return SQLITE_READONLY; }
int x_truncate(sqlite3_file*, sqlite3_int64) { return SQLITE_READONLY; }
int x_sync(sqlite3_file*, int) { return SQLITE_OK; }
int x_file_size(sqlite3_file* f, sqlite3_int64* size) {
  *size = sqlite3_int64(reinterpret_cast<IndexFile*>(f)->pages->size());
  return SQLITE_OK;
}
int x_lock(sqlite3_file*, int) { return SQLITE_OK; }
int x_unlock(sqlite3_file*, int) { return SQLITE_OK; }
int x_check_reserved(sqlite3_file*, int* out) {
  *out = 0;
  return SQLITE_OK;
}
int x_file_control(sqlite3_file*, int, void*) { return SQLITE_NOTFOUND; }
int x_sector_size(sqlite3_file*) { return 4096; }
int x_device_characteristics(sqlite3_file*) { return SQLITE_IOCAP_IMMUTABLE; }

const sqlite3_io_methods kMethods = {
    1, x_close, x_read, x_write, x_truncate, x_sync, x_file_size, x_lock, x_unlock, x_check_reserved,
    x_file_control, x_sector_size, x_device_characteristics,
    nullptr, nullptr, nullptr, nullptr,  // version 1: no shared memory (xShm*)
    nullptr, nullptr,                    // nor memory-mapped pages (xFetch, xUnfetch)
};

sqlite3_vfs g_vfs;

int x_open(sqlite3_vfs*, const char* name, sqlite3_file* f, int flags, int* out_flags) {
  auto* r = reinterpret_cast<IndexFile*>(f);
  r->base.pMethods = nullptr;
  if (!name || !(flags & SQLITE_OPEN_MAIN_DB) || (flags & SQLITE_OPEN_READWRITE)) return SQLITE_CANTOPEN;
  const char* id = strstr(name, kNamePrefix);
  if (!id) return SQLITE_CANTOPEN;
  uint64_t key = strtoull(id + strlen(kNamePrefix), nullptr, 10);
  {
    std::lock_guard lk(g_mu);
    auto it = g_indexes.find(key);
    if (it == g_indexes.end()) return SQLITE_CANTOPEN;
    r->pages = it->second;
  }
  r->base.pMethods = &kMethods;
  if (out_flags) *out_flags = SQLITE_OPEN_READONLY;
  return SQLITE_OK;
}

int x_delete(sqlite3_vfs*, const char*, int) { return SQLITE_READONLY; }
int x_access(sqlite3_vfs*, const char*, int, int* out) {
  *out = 0;  // no journal, no WAL: the database is immutable
  return SQLITE_OK;
}
int x_full_pathname(sqlite3_vfs*, const char* name, int n, char* out) {
  sqlite3_snprintf(n, out, "%s", name);  // a registry key, not a path
  return SQLITE_OK;
}

void register_vfs() {
  static std::once_flag once;
  std::call_once(once, [] {
    sqlite3_vfs* def = sqlite3_vfs_find(nullptr);
    g_vfs = *def;  // time, randomness, sleep and friends from the default VFS
    g_vfs.iVersion = 2;
    g_vfs.szOsFile = sizeof(IndexFile);
    g_vfs.zName = kIndexVfsName;
    g_vfs.pNext = nullptr;
    g_vfs.xOpen = x_open;
    g_vfs.xDelete = x_delete;
    g_vfs.xAccess = x_access;
    g_vfs.xFullPathname = x_full_pathname;
    g_vfs.xDlOpen = nullptr;  // no extension loading through this VFS
    g_vfs.xDlError = nullptr;
    g_vfs.xDlSym = nullptr;
    g_vfs.xDlClose = nullptr;
    sqlite3_vfs_register(&g_vfs, 0);
  });
}

uint64_t key_of(const std::string& uri) {
  size_t at = uri.find(kNamePrefix);
  return at == std::string::npos ? 0 : strtoull(uri.c_str() + at + strlen(kNamePrefix), nullptr, 10);
}

}  // namespace

std::string register_index(const IndexPages* pages) {
  register_vfs();
  uint64_t id = g_next_id++;
  {
    std::lock_guard lk(g_mu);
    g_indexes[id] = pages;
  }
  return "file:" + std::string(kNamePrefix) + std::to_string(id) + "?vfs=" + kIndexVfsName + "&immutable=1";
}

void unregister_index(const std::string& uri) {
  std::lock_guard lk(g_mu);
  g_indexes.erase(key_of(uri));
}

std::string take_index_error() { return std::exchange(t_last_error, std::string()); }

}  // namespace kso
