#include "tools/pack_extract.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <unordered_map>
#include <unordered_set>

#include "index/error.h"
#include "index/sha256.h"
#include "index/time_ns.h"
#include "tools/progress.h"

namespace kso {
namespace {

// Bytes per read when copying a file out of a pack.
constexpr size_t kCopyBuffer = 1u << 20;
// Room the free-space check allows per entry for its inode and directory entry.
constexpr uint64_t kEntryOverhead = 4096;

void write_out(int fd, const char* p, size_t n, const std::string& what) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) throw Error("writing " + what + ": " + strerror(errno), errno);
    p += w;
    n -= size_t(w);
  }
}

std::string sys_error(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + strerror(errno);
}

struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(Fd&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

// Opens directory `rel` below `root` without following any symlink and
// without leaving `root`: openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)
// where the kernel has it (5.6+), else one O_NOFOLLOW component at a time
// (RHEL 8's 4.18 kernel).
int open_beneath(int root, const std::string& rel) {
  if (rel.empty()) return fcntl(root, F_DUPFD_CLOEXEC, 0);
  open_how how{};
  how.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  long fd = syscall(SYS_openat2, root, rel.c_str(), &how, sizeof how);
  if (fd >= 0 || errno != ENOSYS) return int(fd);
  int cur = fcntl(root, F_DUPFD_CLOEXEC, 0);
  for (size_t start = 0; cur >= 0 && start < rel.size();) {
    size_t end = rel.find('/', start);
    if (end == std::string::npos) end = rel.size();
    std::string seg = rel.substr(start, end - start);
    start = end + 1;
    int next = openat(cur, seg.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int e = errno;
    close(cur);
    errno = e;
    cur = next;
  }
  return cur;
}

struct Extractor {
  const Pack& p;
  BlockSource& src;
  const ExtractOptions& o;
  int root;  // the output directory
  std::string out;  // its name, for messages
  ExtractResult r;
  std::unordered_map<uint64_t, std::string> linked;  // file ino -> first path written, relative to root
  uint64_t tmp_seq = 0;
  ProgressLine bar;
  uint64_t total_bytes = 0, total_files = 0;

  std::string shown(const std::string& rel) const { return out + "/" + rel; }

  std::string tmp_name() { return ".kso-extract-" + std::to_string(getpid()) + "-" + std::to_string(tmp_seq++); }

  void fail(const std::string& path, const std::string& why) {
    bar.finish();
    spdlog::error("skipped {}: {}", path, why);
    r.failed.push_back(path + ": " + why);
  }

  // Puts the already-written `tmp` in `dfd` in place as `name`. rename(2)
  // replaces a file or symlink there (never following it) and fails on a
  // directory, which is left alone.
  void put_in_place(int dfd, const std::string& tmp, const std::string& name, const std::string& rel) {
    if (renameat(dfd, tmp.c_str(), dfd, name.c_str()) != 0) {
      int e = errno;
      unlinkat(dfd, tmp.c_str(), 0);
      errno = e;
      throw Error(sys_error("cannot create", shown(rel)), e);
    }
  }

  void entry(int dfd, const std::string& rel, const std::string& name, const Stat& st) {
    struct timespec ts[2] = {to_timespec(st.mtime_ns), to_timespec(st.mtime_ns)};
    if (S_ISDIR(st.mode)) {
      if (mkdirat(dfd, name.c_str(), 0700) != 0 && errno != EEXIST) throw Error(sys_error("cannot create", shown(rel)), errno);
      Fd d(openat(dfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (d.fd < 0) {
        if (errno == ELOOP || errno == ENOTDIR)
          throw Error(shown(rel) + " exists and is not a directory (a symlink is never followed): remove it first", EEXIST);
        throw Error(sys_error("cannot open", shown(rel)), errno);
      }
      children(d.fd, rel, st.ino);
      // Children first: the mode may drop write access, and every write
      // inside changed the mtime.
      if (fchmod(d.fd, st.mode & 07777) != 0 || futimens(d.fd, ts) != 0)
        throw Error(sys_error("cannot set mode and times on", shown(rel)), errno);
      r.dirs++;
      return;
    }
    if (S_ISLNK(st.mode)) {
      std::string target = p.readlink(st.ino);
      if (p.escaping_symlink(st.ino, target) && !o.allow_escaping_symlinks)
        return fail(rel, "symlink to '" + target + "' points outside the pack (--allow-escaping-symlinks writes it)");
      std::string tmp = tmp_name();
      if (symlinkat(target.c_str(), dfd, tmp.c_str()) != 0) throw Error(sys_error("cannot create symlink", shown(rel)), errno);
      if (utimensat(dfd, tmp.c_str(), ts, AT_SYMLINK_NOFOLLOW) != 0) {
        unlinkat(dfd, tmp.c_str(), 0);
        throw Error(sys_error("cannot set times on", shown(rel)), errno);
      }
      put_in_place(dfd, tmp, name, rel);
      r.symlinks++;
      return;
    }
    std::string tmp = tmp_name();
    if (st.nlink > 1) {
      auto it = linked.find(st.ino);
      if (it != linked.end()) {  // a further path of a file already written
        const std::string& first = it->second;
        size_t slash = first.rfind('/');
        Fd from(open_beneath(root, slash == std::string::npos ? "" : first.substr(0, slash)));
        std::string base = slash == std::string::npos ? first : first.substr(slash + 1);
        if (from.fd < 0 || linkat(from.fd, base.c_str(), dfd, tmp.c_str(), 0) != 0)
          throw Error(sys_error("cannot link " + first + " to", shown(rel)), errno);
        put_in_place(dfd, tmp, name, rel);
        r.hardlinks++;
        return;
      }
    }
    Fd f(openat(dfd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (f.fd < 0) throw Error(sys_error("cannot create", shown(rel)), errno);
    try {
      copy_file(p, src, st.ino, f.fd, rel);
      if (fchmod(f.fd, st.mode & 07777) != 0 || futimens(f.fd, ts) != 0)
        throw Error(sys_error("cannot set mode and times on", shown(rel)), errno);
    } catch (const CorruptError& e) {  // the file stays out; the others go on
      unlinkat(dfd, tmp.c_str(), 0);
      return fail(rel, e.what());
    } catch (...) {
      unlinkat(dfd, tmp.c_str(), 0);
      throw;
    }
    if (close(std::exchange(f.fd, -1)) != 0) {
      unlinkat(dfd, tmp.c_str(), 0);
      throw Error(sys_error("cannot write", shown(rel)), errno);
    }
    put_in_place(dfd, tmp, name, rel);
    if (st.nlink > 1) linked.emplace(st.ino, rel);
    r.files++;
    r.bytes += st.size;
    bar.update(r.bytes, total_bytes, r.files, total_files);
  }

  void children(int dfd, const std::string& rel, uint64_t dir) {
    for (auto& e : p.readdir(dir)) entry(dfd, rel.empty() ? e.name : rel + "/" + e.name, e.name, e.st);
  }

  // What the extraction will write: files (each inode once) and their bytes.
  void measure(const Stat& st, std::unordered_set<uint64_t>& seen, uint64_t& entries) {
    entries++;
    if (S_ISREG(st.mode)) {
      if (seen.insert(st.ino).second) {
        total_bytes += st.size;
        total_files++;
      }
    } else if (S_ISDIR(st.mode)) {
      for (auto& e : p.readdir(st.ino)) measure(e.st, seen, entries);
    }
  }
};

// Deep trees keep one descriptor per level open: raise the soft limit to
// the hard one so a deep (but valid) tree does not hit EMFILE.
void raise_fd_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

}  // namespace

namespace {

// copy_file's body: the bytes go to `sink` (may be empty: nowhere).
void copy_file_to(const Pack& p, BlockSource& src, uint64_t ino, const std::string& what,
                  const std::function<void(const char*, size_t)>& sink) {
  auto f = p.layout(ino);
  ReadBuffer buf;
  Sha256 sha;
  for (uint64_t off = 0; off < f->size;) {
    p.read(*f, off, kCopyBuffer, src, buf);
    if (buf.size() == 0) throw CorruptError(what + ": read ended early");
    for (auto& v : buf.iov()) {
      sha.update(v.iov_base, v.iov_len);
      if (sink) sink(static_cast<const char*>(v.iov_base), v.iov_len);
    }
    off += buf.size();
  }
  if (sha.finish() != f->sha256) throw CorruptError(what + ": content does not match its SHA-256");
}

}  // namespace

void copy_file(const Pack& p, BlockSource& src, uint64_t ino, int fd, const std::string& what) {
  std::function<void(const char*, size_t)> sink;
  if (fd >= 0) sink = [&](const char* b, size_t n) { write_out(fd, b, n, what); };
  copy_file_to(p, src, ino, what, sink);
}

void copy_file(const Pack& p, BlockSource& src, uint64_t ino, std::ostream& out, const std::string& what) {
  copy_file_to(p, src, ino, what, [&](const char* b, size_t n) {
    errno = 0;
    if (!out.write(b, std::streamsize(n))) throw Error("writing " + what + ": " + strerror(errno ? errno : EIO), errno ? errno : EIO);
  });
  if (!out.flush()) throw Error("writing " + what + ": " + strerror(errno ? errno : EIO), errno ? errno : EIO);
}

ExtractResult extract(const Pack& p, BlockSource& src, const std::string& path, const Stat& st, const std::string& out,
                      const ExtractOptions& o, ToolIo& io) {
  raise_fd_limit();
  if (mkdir(out.c_str(), 0755) != 0 && errno != EEXIST) throw Error(sys_error("cannot create", out), errno);
  Fd root(open(out.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (root.fd < 0) throw Error(sys_error("cannot open", out), errno);
  Extractor x{p, src, o, root.fd, out, {}, {}, 0, ProgressLine(io, "extracting")};
  // Pre-flight: a pack can name one content many times (dedup); say what it
  // would take and refuse what does not fit.
  std::unordered_set<uint64_t> seen;
  uint64_t entries = 0;
  x.measure(st, seen, entries);
  struct statvfs vfs {};
  if (fstatvfs(root.fd, &vfs) == 0) {
    uint64_t need = x.total_bytes + entries * kEntryOverhead, have = uint64_t(vfs.f_bavail) * vfs.f_frsize;
    if (need > have)
      throw Error("extracting " + (path.empty() ? std::string("the pack") : path) + " needs " + human_bytes(need) +
                      " (" + std::to_string(x.total_files) + " files, " + std::to_string(entries) + " entries), but " +
                      out + " has " + human_bytes(have) + " free",
                  ENOSPC);
    if (vfs.f_favail != 0 && vfs.f_favail < entries)
      throw Error("extracting needs " + std::to_string(entries) + " inodes, but " + out + " has " +
                      std::to_string(vfs.f_favail) + " free",
                  ENOSPC);
  }
  spdlog::debug("extracting {} files ({}) and {} entries in all into {}", x.total_files, human_bytes(x.total_bytes),
                entries, out);
  if (S_ISDIR(st.mode)) {
    x.children(root.fd, "", st.ino);  // the output directory itself is left as it is
  } else {
    std::string name = path.substr(path.rfind('/') + 1);
    x.entry(root.fd, name, name, st);
  }
  x.bar.finish();
  return x.r;
}

}  // namespace kso
