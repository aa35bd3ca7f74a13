#include "fs/fuse_ops.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <vector>

#include "fs/status.h"
#include "index/error.h"
#include "index/time_ns.h"

namespace kso {
namespace {

// The tree never changes while mounted: the kernel may cache names and
// attributes for as long as it likes.
constexpr double kForever = 86400.0 * 365;
// Preferred I/O size reported in st_blksize: large reads suit the blocks.
constexpr blksize_t kBlkSize = 128 * 1024;
// Chunk records (24 B) of recently read files kept: 1M is 24 MiB, the chunk
// tables of ~64 GiB of files at the default chunk size.
constexpr size_t kTableChunks = 1u << 20;
// Directory entries of recently listed directories kept.
constexpr size_t kTableDirEntries = 1u << 20;

FsContext& ctx(fuse_req_t req) { return *static_cast<FsContext*>(fuse_req_userdata(req)); }

struct stat to_stat(const Stat& s) {
  struct stat st {};
  st.st_ino = s.ino;
  st.st_mode = s.mode;
  st.st_nlink = s.nlink;
  st.st_size = off_t(s.size);
  st.st_blocks = blkcnt_t((s.size + 511) / 512);
  st.st_blksize = kBlkSize;
  st.st_mtim = st.st_ctim = st.st_atim = to_timespec(s.mtime_ns);
  return st;  // uid and gid stay 0
}

fuse_entry_param to_entry(const Stat& s) {
  fuse_entry_param e{};
  e.ino = s.ino;
  e.generation = 1;
  e.attr = to_stat(s);
  e.attr_timeout = kForever;
  e.entry_timeout = kForever;
  return e;
}

// An error reply for a failed request; EIO replies are counted for --status.
void reply_failure(fuse_req_t req, int err) {
  if (err == EIO) ctx(req).counters.eio.fetch_add(1, std::memory_order_relaxed);
  fuse_reply_err(req, err);
}

// Runs an operation body, turning library exceptions into an errno reply.
template <typename F>
void guarded(fuse_req_t req, F&& body) {
  // The first request after FUSE_INIT: the kernel has applied INIT's
  // readahead by now, so a larger one set through sysfs sticks.
  std::call_once(ctx(req).read_ahead_once, [&] { ctx(req).apply_read_ahead(); });
  try {
    body();
  } catch (const CorruptError& e) {
    ctx(req).log_damage(e.what());
    reply_failure(req, EIO);
  } catch (const Error& e) {
    reply_failure(req, e.errno_value());
  } catch (const std::bad_alloc&) {
    reply_failure(req, ENOMEM);
  } catch (const std::exception& e) {
    spdlog::error("unexpected error: {}", e.what());
    reply_failure(req, EIO);
  }
}

void op_init(void* userdata, fuse_conn_info* conn) {
  conn->want |= FUSE_CAP_READDIRPLUS;
  conn->want &= ~unsigned(FUSE_CAP_READDIRPLUS_AUTO);  // always plus: attributes come free with the listing
  conn->max_readahead = conn->max_readahead ? conn->max_readahead : 1u << 20;
  // Zero-message opens: the kernel stops sending OPEN/RELEASE once open()
  // answers ENOSYS, and keeps the page cache across opens (FOPEN_KEEP_CACHE).
  auto* c = static_cast<FsContext*>(userdata);
  c->no_open = (conn->capable & FUSE_CAP_NO_OPEN_SUPPORT) != 0;
  c->no_opendir = (conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT) != 0;
}

void op_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  guarded(req, [&] {
    auto st = ctx(req).tree->lookup(parent, name);
    if (!st) {
      // Negative entries can be cached forever too.
      fuse_entry_param e{};
      e.entry_timeout = kForever;
      fuse_reply_entry(req, &e);
      return;
    }
    auto e = to_entry(*st);
    fuse_reply_entry(req, &e);
  });
}

void op_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  guarded(req, [&] {
    auto st = ctx(req).tree->stat(ino);
    if (!st) return (void)fuse_reply_err(req, ENOENT);
    auto s = to_stat(*st);
    fuse_reply_attr(req, &s, kForever);
  });
}

// A symlink that points outside the pack is not resolved: a server following
// it (nginx, a registry) would serve the host's files.
void op_readlink(fuse_req_t req, fuse_ino_t ino) {
  guarded(req, [&] {
    auto& c = ctx(req);
    std::string target = c.tree->readlink(ino);
    if (!c.opts.allow_escaping_symlinks && c.tree->escaping_symlink(ino, target)) {
      c.warn_once("inode " + std::to_string(ino) + " is a symlink to '" + target +
                   "', outside the pack: not resolved (-o allow_escaping_symlinks resolves it)");
      return (void)fuse_reply_err(req, EACCES);
    }
    fuse_reply_readlink(req, target.c_str());
  });
}

void op_open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  guarded(req, [&] {
    if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) return (void)fuse_reply_err(req, EROFS);
    auto& c = ctx(req);
    c.files->get(ino);  // a file that cannot be read fails its open, not its first read
    if (c.no_open) return (void)fuse_reply_err(req, ENOSYS);
    fi->fh = 0;          // read state lives in ctx.files, by inode
    fi->keep_cache = 1;  // the page cache stays valid across opens
    fi->noflush = 1;
    fuse_reply_open(req, fi);
  });
}

void op_release(fuse_req_t req, fuse_ino_t, fuse_file_info*) { fuse_reply_err(req, 0); }

// Reads go through the reader's one read path of the pack serving the inode,
// its blocks through that pack's view of the one cache; the reply points into
// the cache's blocks and this thread's page buffers (no copy beyond the read).
void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  guarded(req, [&] {
    auto& c = ctx(req);
    auto f = c.files->get(ino);
    thread_local ReadBuffer buf;
    size_t k = c.tree->owner(ino);
    c.tree->pack(k)->read(*f, uint64_t(off), size, c.cache->origin(k), buf);
    c.counters.reads.fetch_add(1, std::memory_order_relaxed);
    c.counters.bytes_served.fetch_add(buf.size(), std::memory_order_relaxed);
    if (buf.size() == 0) return (void)fuse_reply_buf(req, nullptr, 0);
    fuse_reply_iov(req, buf.iov().data(), int(buf.iov().size()));
  });
}

void op_opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  guarded(req, [&] {
    auto& c = ctx(req);
    c.dirs->get(ino);  // a directory that cannot be listed fails its open
    // ENOSYS: no more OPENDIRs, and the kernel then keeps listings by default.
    if (c.no_opendir && c.opts.kernel_dir_cache) return (void)fuse_reply_err(req, ENOSYS);
    fi->fh = 0;
    fi->cache_readdir = c.opts.kernel_dir_cache;  // listings never change: the kernel may keep them
    fi->keep_cache = c.opts.kernel_dir_cache;
    fuse_reply_open(req, fi);
  });
}

void fill_dir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus) {
  guarded(req, [&] {
    auto d = ctx(req).dirs->get(ino);
    std::vector<char> buf(size);
    size_t used = 0;
    for (size_t i = size_t(off); i < d->entries.size(); i++) {
      const DirEntry& e = d->entries[i];
      size_t n;
      if (plus) {
        auto ep = to_entry(e.st);
        n = fuse_add_direntry_plus(req, buf.data() + used, size - used, e.name.c_str(), &ep, off_t(i + 1));
      } else {
        auto st = to_stat(e.st);
        n = fuse_add_direntry(req, buf.data() + used, size - used, e.name.c_str(), &st, off_t(i + 1));
      }
      if (n > size - used) break;
      used += n;
    }
    fuse_reply_buf(req, buf.data(), used);
  });
}

void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) { fill_dir(req, ino, size, off, false); }
void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) { fill_dir(req, ino, size, off, true); }
void op_releasedir(fuse_req_t req, fuse_ino_t, fuse_file_info*) { fuse_reply_err(req, 0); }

void op_statfs(fuse_req_t req, fuse_ino_t) {
  guarded(req, [&] {
    auto& c = ctx(req);
    struct statvfs sv {};
    sv.f_bsize = 4096;
    sv.f_frsize = 4096;
    sv.f_blocks = (c.tree->file_size() + 4095) / 4096;  // the packs' own size
    sv.f_files = c.tree->inode_count();
    sv.f_namemax = 255;
    sv.f_flag = ST_RDONLY;
    fuse_reply_statfs(req, &sv);
  });
}

// Everything that would change the tree: the pack is read-only.
void op_setattr(fuse_req_t req, fuse_ino_t, struct stat*, int, fuse_file_info*) { fuse_reply_err(req, EROFS); }
void op_mknod(fuse_req_t req, fuse_ino_t, const char*, mode_t, dev_t) { fuse_reply_err(req, EROFS); }
void op_mkdir(fuse_req_t req, fuse_ino_t, const char*, mode_t) { fuse_reply_err(req, EROFS); }
void op_unlink(fuse_req_t req, fuse_ino_t, const char*) { fuse_reply_err(req, EROFS); }
void op_symlink(fuse_req_t req, const char*, fuse_ino_t, const char*) { fuse_reply_err(req, EROFS); }
void op_rename(fuse_req_t req, fuse_ino_t, const char*, fuse_ino_t, const char*, unsigned) { fuse_reply_err(req, EROFS); }
void op_link(fuse_req_t req, fuse_ino_t, fuse_ino_t, const char*) { fuse_reply_err(req, EROFS); }
void op_write(fuse_req_t req, fuse_ino_t, const char*, size_t, off_t, fuse_file_info*) { fuse_reply_err(req, EROFS); }
void op_create(fuse_req_t req, fuse_ino_t, const char*, mode_t, fuse_file_info*) { fuse_reply_err(req, EROFS); }
void op_setxattr(fuse_req_t req, fuse_ino_t, const char*, const char*, size_t, int) { fuse_reply_err(req, EROFS); }
void op_removexattr(fuse_req_t req, fuse_ino_t, const char*) { fuse_reply_err(req, EROFS); }

// Replies with `value` the xattr way: its size when asked with size 0,
// ERANGE when it does not fit.
void reply_xattr_value(fuse_req_t req, const std::string& value, size_t size) {
  if (size == 0) return (void)fuse_reply_xattr(req, value.size());
  if (size < value.size()) return (void)fuse_reply_err(req, ERANGE);
  fuse_reply_buf(req, value.data(), value.size());
}

// The status attributes of the mount root (fs/status.h); every other inode
// and name has none (ENODATA, never ENOSYS: that would stop the kernel
// asking for the root's too).
void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  guarded(req, [&] {
    if (ino != kRootIno) return (void)fuse_reply_err(req, ENODATA);
    auto v = status_xattr(ctx(req), name);
    if (!v) return (void)fuse_reply_err(req, ENODATA);
    reply_xattr_value(req, *v, size);
  });
}

// The names of the root's status attributes; other inodes list none.
void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  guarded(req, [&] { reply_xattr_value(req, ino == kRootIno ? status_xattr_names() : std::string(), size); });
}

fuse_lowlevel_ops make_ops() {
  fuse_lowlevel_ops o{};
  o.init = op_init;
  o.lookup = op_lookup;
  o.getattr = op_getattr;
  o.readlink = op_readlink;
  o.open = op_open;
  o.read = op_read;
  o.release = op_release;
  o.opendir = op_opendir;
  o.readdir = op_readdir;
  o.readdirplus = op_readdirplus;
  o.releasedir = op_releasedir;
  o.statfs = op_statfs;
  o.setattr = op_setattr;
  o.mknod = op_mknod;
  o.mkdir = op_mkdir;
  o.unlink = op_unlink;
  o.rmdir = op_unlink;
  o.symlink = op_symlink;
  o.rename = op_rename;
  o.link = op_link;
  o.write = op_write;
  o.create = op_create;
  o.setxattr = op_setxattr;
  o.removexattr = op_removexattr;
  o.getxattr = op_getxattr;
  o.listxattr = op_listxattr;
  return o;
}

}  // namespace

void FsContext::start() {
  mount.pid = getpid();
  if (!tree) tree = std::make_shared<UnionTree>(std::vector<std::shared_ptr<Pack>>{pack});
  std::vector<std::shared_ptr<BlockSource>> origins;
  for (size_t k = 0; k < tree->pack_count(); k++) origins.push_back(tree->pack(k));
  cache = std::make_unique<BlockCache>(std::move(origins), opts.cache_size, opts.prefetch_workers, opts.readahead_blocks);
  files = std::make_unique<InodeTable<const FileLayout>>(
      [p = tree](uint64_t ino) { return p->layout(ino); }, [](const FileLayout& f) { return f.chunks.size(); },
      kTableChunks);
  dirs = std::make_unique<InodeTable<DirListing>>(
      [p = tree](uint64_t ino) {
        auto st = p->stat(ino);
        if (!st) throw Error("no such directory", ENOENT);
        if (!S_ISDIR(st->mode)) throw Error("not a directory", ENOTDIR);
        auto d = std::make_shared<DirListing>();
        d->entries = p->readdir(ino);
        return d;
      },
      [](const DirListing& d) { return d.entries.size(); }, kTableDirEntries);
}

void FsContext::apply_read_ahead() {
  if (read_ahead.sysfs_path.empty() || read_ahead.kb == 0) return;
  FILE* f = fopen(read_ahead.sysfs_path.c_str(), "w");
  bool ok = f && fprintf(f, "%u\n", read_ahead.kb) >= 0;
  if (f && fclose(f) != 0) ok = false;
  if (!ok) {
    spdlog::debug("cannot write {} (not root?); keeping the kernel's readahead", read_ahead.sysfs_path);
    return;
  }
  spdlog::debug("readahead {} KiB via {}", read_ahead.kb, read_ahead.sysfs_path);
}

void FsContext::warn_once(const std::string& what) {
  std::lock_guard lk(damage_mu);
  if (damage_logged.insert(what).second) spdlog::warn("{}", what);
}

void FsContext::log_damage(const std::string& what) {
  std::lock_guard lk(damage_mu);
  if (damage_logged.insert(what).second) spdlog::error("damaged pack data, replying EIO: {}", what);
}

const fuse_lowlevel_ops& fuse_ops() {
  static const fuse_lowlevel_ops ops = make_ops();
  return ops;
}

}  // namespace kso
