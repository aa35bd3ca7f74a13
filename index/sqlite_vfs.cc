#include "index/sqlite_vfs.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <mutex>

namespace kso {
namespace {

struct RangeFile {
  sqlite3_file base;  // must be first: SQLite casts between the two
  int fd;
  sqlite3_int64 offset;
  sqlite3_int64 size;
};

int x_close(sqlite3_file* f) {
  close(reinterpret_cast<RangeFile*>(f)->fd);
  return SQLITE_OK;
}

int x_read(sqlite3_file* f, void* buf, int amt, sqlite3_int64 off) {
  auto* r = reinterpret_cast<RangeFile*>(f);
  int want = amt;
  if (off >= r->size) want = 0;
  else if (off + amt > r->size) want = int(r->size - off);
  int got = 0;
  while (got < want) {
    ssize_t n = pread(r->fd, static_cast<char*>(buf) + got, size_t(want - got), r->offset + off + got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return SQLITE_IOERR_READ;
    if (n == 0) break;
    got += int(n);
  }
  if (got < amt) {
    memset(static_cast<char*>(buf) + got, 0, size_t(amt - got));
    return SQLITE_IOERR_SHORT_READ;
  }
  return SQLITE_OK;
}

int x_write(sqlite3_file*, const void*, int, sqlite3_int64) { return SQLITE_READONLY; }
int x_truncate(sqlite3_file*, sqlite3_int64) { return SQLITE_READONLY; }
int x_sync(sqlite3_file*, int) { return SQLITE_OK; }
int x_file_size(sqlite3_file* f, sqlite3_int64* size) {
  *size = reinterpret_cast<RangeFile*>(f)->size;
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
};

sqlite3_vfs g_vfs;

int x_open(sqlite3_vfs*, const char* name, sqlite3_file* f, int flags, int* out_flags) {
  auto* r = reinterpret_cast<RangeFile*>(f);
  r->base.pMethods = nullptr;
  if (!name || !(flags & SQLITE_OPEN_MAIN_DB) || (flags & SQLITE_OPEN_READWRITE)) return SQLITE_CANTOPEN;
  r->offset = sqlite3_uri_int64(name, "kso_offset", -1);
  r->size = sqlite3_uri_int64(name, "kso_size", -1);
  if (r->offset < 0 || r->size < 0) return SQLITE_CANTOPEN;
  r->fd = open(name, O_RDONLY | O_CLOEXEC);
  if (r->fd < 0) return SQLITE_CANTOPEN;
  r->base.pMethods = &kMethods;
  if (out_flags) *out_flags = SQLITE_OPEN_READONLY;
  return SQLITE_OK;
}

int x_delete(sqlite3_vfs*, const char*, int) { return SQLITE_READONLY; }
int x_access(sqlite3_vfs*, const char*, int, int* out) {
  *out = 0;  // no journal, no WAL: the database is immutable
  return SQLITE_OK;
}

}  // namespace

void register_range_vfs() {
  static std::once_flag once;
  std::call_once(once, [] {
    sqlite3_vfs* def = sqlite3_vfs_find(nullptr);
    g_vfs = *def;  // time, randomness, sleep and friends from the default VFS
    g_vfs.iVersion = 2;
    g_vfs.szOsFile = sizeof(RangeFile);
    g_vfs.zName = kRangeVfsName;
    g_vfs.pNext = nullptr;
    g_vfs.xOpen = x_open;
    g_vfs.xDelete = x_delete;
    g_vfs.xAccess = x_access;
    sqlite3_vfs_register(&g_vfs, 0);
  });
}

std::string range_vfs_uri(const std::string& path, uint64_t offset, uint64_t size) {
  std::string uri = "file:";
  static const char* hex = "0123456789ABCDEF";
  for (unsigned char c : path) {  // percent-encode what URIs reserve
    if (isalnum(c) || c == '/' || c == '-' || c == '_' || c == '.' || c == '~') uri += char(c);
    else {
      uri += '%';
      uri += hex[c >> 4];
      uri += hex[c & 15];
    }
  }
  uri += "?vfs=" + std::string(kRangeVfsName) + "&immutable=1&kso_offset=" + std::to_string(offset) +
         "&kso_size=" + std::to_string(size);
  return uri;
}

}  // namespace kso
