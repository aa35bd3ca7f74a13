// bench/fuse_floor.cc — the floor under any FUSE daemon on this machine: a
// minimal low-level FUSE server that mirrors a directory read-only, with
// nothing between the kernel and the bytes (no index, no checksums, no
// decoding). bench/mount.sh measures it next to kso-fs and squashfuse, so a
// figure reads against what FUSE itself costs here.
//
//   fuse_floor [--splice] DIR MOUNTPOINT [FUSE options]
//
// Default: pread into a per-thread buffer and reply with it (writev): the
// copies kso-fs makes for a raw block. --splice: reply by splicing from the
// file (fuse_reply_data with an fd buffer), no copy in user space at all;
// kso-fs cannot do that and still check what it sends, this is the lower
// bound. Built by bench/mount.sh with `c++ -O2 ... $(pkg-config --cflags --libs fuse3)`.
#define FUSE_USE_VERSION 312
#include <dirent.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

// The tree never changes: the kernel may keep names and attributes.
constexpr double kForever = 86400.0 * 365;
// Largest read the kernel sends with libfuse 3's 256-page requests.
constexpr size_t kMaxRead = 1u << 20;

struct Floor {
  std::string root;
  bool splice = false;
  std::mutex mu;
  std::vector<std::string> paths{"", ""};  // by inode; 1 is the root ("")
  std::unordered_map<std::string, fuse_ino_t> inos{{"", 1}};
};
Floor g;

std::string full(const std::string& rel) { return rel.empty() ? g.root : g.root + "/" + rel; }

std::string path_of(fuse_ino_t ino) {
  std::lock_guard lk(g.mu);
  return ino < g.paths.size() ? g.paths[ino] : std::string();
}

fuse_ino_t ino_of(const std::string& rel) {
  std::lock_guard lk(g.mu);
  auto [it, fresh] = g.inos.emplace(rel, g.paths.size());
  if (fresh) g.paths.push_back(rel);
  return it->second;
}

bool stat_of(const std::string& rel, fuse_ino_t ino, struct stat* st) {
  if (lstat(full(rel).c_str(), st) != 0) return false;
  st->st_ino = ino;
  return true;
}

void op_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  std::string p = path_of(parent);
  std::string rel = p.empty() ? name : p + "/" + name;
  fuse_entry_param e{};
  e.entry_timeout = e.attr_timeout = kForever;
  struct stat st;
  if (lstat(full(rel).c_str(), &st) != 0) return (void)fuse_reply_entry(req, &e);  // negative, cached
  e.ino = ino_of(rel);
  st.st_ino = e.ino;
  e.attr = st;
  e.generation = 1;
  fuse_reply_entry(req, &e);
}

void op_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  struct stat st;
  if (!stat_of(path_of(ino), ino, &st)) return (void)fuse_reply_err(req, ENOENT);
  fuse_reply_attr(req, &st, kForever);
}

void op_readlink(fuse_req_t req, fuse_ino_t ino) {
  char buf[4096];
  ssize_t n = readlink(full(path_of(ino)).c_str(), buf, sizeof buf - 1);
  if (n < 0) return (void)fuse_reply_err(req, errno);
  buf[n] = 0;
  fuse_reply_readlink(req, buf);
}

void op_open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  int fd = open(full(path_of(ino)).c_str(), O_RDONLY);
  if (fd < 0) return (void)fuse_reply_err(req, errno);
  fi->fh = uint64_t(fd);
  fi->keep_cache = 1;
  fuse_reply_open(req, fi);
}

void op_release(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  close(int(fi->fh));
  fuse_reply_err(req, 0);
}

void op_read(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  if (g.splice) {
    fuse_bufvec bv = FUSE_BUFVEC_INIT(size);
    bv.buf[0].flags = fuse_buf_flags(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
    bv.buf[0].fd = int(fi->fh);
    bv.buf[0].pos = off;
    fuse_reply_data(req, &bv, FUSE_BUF_SPLICE_MOVE);
    return;
  }
  thread_local std::unique_ptr<char[]> buf(new char[kMaxRead]);
  size = std::min(size, kMaxRead);
  ssize_t n = pread(int(fi->fh), buf.get(), size, off);
  if (n < 0) return (void)fuse_reply_err(req, errno);
  fuse_reply_buf(req, buf.get(), size_t(n));
}

// The whole listing in one go (directories here are small enough).
void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  std::string rel = path_of(ino);
  DIR* d = opendir(full(rel).c_str());
  if (!d) return (void)fuse_reply_err(req, errno);
  std::vector<char> out(size);
  size_t used = 0;
  off_t i = 0;
  while (dirent* de = readdir(d)) {
    if (++i <= off) continue;
    struct stat st {};
    std::string name = de->d_name;
    if (name == "." || name == "..") st.st_ino = ino;
    else st.st_ino = ino_of(rel.empty() ? name : rel + "/" + name);
    st.st_mode = DTTOIF(de->d_type);
    size_t n = fuse_add_direntry(req, out.data() + used, size - used, name.c_str(), &st, i);
    if (n > size - used) break;
    used += n;
  }
  closedir(d);
  fuse_reply_buf(req, out.data(), used);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> args{argv[0]};
  std::vector<char*> pos;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--splice")) g.splice = true;
    else if (argv[i][0] == '-' || (i > 1 && !strcmp(argv[i - 1], "-o"))) args.push_back(argv[i]);
    else pos.push_back(argv[i]);
  }
  if (pos.size() != 2) {
    fprintf(stderr, "usage: fuse_floor [--splice] DIR MOUNTPOINT [FUSE options]\n");
    return 2;
  }
  char* root = realpath(pos[0], nullptr);
  if (!root) {
    fprintf(stderr, "fuse_floor: %s: %s\n", pos[0], strerror(errno));
    return 1;
  }
  g.root = root;
  fuse_args fa = FUSE_ARGS_INIT(int(args.size()), args.data());
  fuse_lowlevel_ops ops{};
  ops.lookup = op_lookup;
  ops.getattr = op_getattr;
  ops.readlink = op_readlink;
  ops.open = op_open;
  ops.release = op_release;
  ops.read = op_read;
  ops.readdir = op_readdir;
  fuse_session* se = fuse_session_new(&fa, &ops, sizeof ops, nullptr);
  if (!se || fuse_set_signal_handlers(se) != 0 || fuse_session_mount(se, pos[1]) != 0) return 1;
  fuse_loop_config* cfg = fuse_loop_cfg_create();
  int rc = fuse_session_loop_mt(se, cfg);
  fuse_loop_cfg_destroy(cfg);
  fuse_session_unmount(se);
  fuse_remove_signal_handlers(se);
  fuse_session_destroy(se);
  return rc ? 1 : 0;
}
