#include "tests/support/tree_gen.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <functional>
#include <memory>
#include <set>
#include <stdexcept>

#include "index/error.h"
#include "tests/support/testutil.h"
#include "tools/dir_source.h"
#include "tools/pack_report.h"

namespace kso::test {

void set_mtime_ns(const fs::path& p, int64_t ns) {
  struct timespec ts[2];
  int64_t sec = ns / 1000000000, nsec = ns % 1000000000;
  if (nsec < 0) {  // floor division for times before 1970
    sec -= 1;
    nsec += 1000000000;
  }
  ts[0].tv_sec = ts[1].tv_sec = time_t(sec);
  ts[0].tv_nsec = ts[1].tv_nsec = long(nsec);
  if (utimensat(AT_FDCWD, p.c_str(), ts, AT_SYMLINK_NOFOLLOW) != 0)
    throw std::runtime_error("utimensat " + p.string() + ": " + strerror(errno));
}

namespace {

void must(int rc, const std::string& what) {
  if (rc != 0) throw std::runtime_error(what + ": " + strerror(errno));
}

}  // namespace

std::string pseudo_text(size_t n, uint64_t seed) {
  static const char* words[] = {"kube", "let ", "apiserver ", "etcd\n", "pause:3.9 ", "sha256:", "containerd ",
                                "calico ", "coredns ", "{\"kind\": \"Pod\"} ", "registry.k8s.io/", "v1.30.2 "};
  std::string r = random_bytes(n / 4 + 8, seed), s;
  s.reserve(n + 32);
  for (size_t i = 0; s.size() < n; i++) s += words[uint8_t(r[i % r.size()]) % 12];
  s.resize(n);
  return s;
}

void make_edge_tree(const fs::path& R, const EdgeTreeOptions& o) {
  // Content ------------------------------------------------------------------
  fs::create_directories(R / "empty_dir");
  write_file(R / "empty_file", "");
  write_file(R / "one_byte", "x");
  write_file(R / "name with spaces" / "file with  two spaces .txt", "spaces\n");
  write_file(R / "ünïcödé" / "日本語 ファイル.txt", "utf-8 names\n");
  write_file(R / "ünïcödé" / "emoji-🚀-ok", "rocket\n");
  write_file(R / "leading -dash and 'quote'", "q\n");

  // Sizes around chunk (min 64 B .. ) and page/block edges.
  const size_t sizes[] = {1, 63, 64, 65, 4095, 4096, 4097, 65535, 65536, 65537, (1u << 20) + 7};
  uint64_t seed = 1;
  for (size_t n : sizes) write_file(R / "sizes" / ("rand_" + std::to_string(n)), random_bytes(n, seed++));
  for (size_t n : sizes) write_file(R / "sizes" / ("text_" + std::to_string(n)), pseudo_text(n, seed++));
  if (o.big_files) {
    write_file(R / "sizes" / "big_random", random_bytes((5u << 20) + 333, 77));   // > one 4 MiB block
    write_file(R / "sizes" / "big_text", pseudo_text((9u << 20) + 1, 78));        // several blocks
  }

  // Modes.
  struct M {
    const char* name;
    mode_t mode;
  } modes[] = {{"m0600", 0600}, {"m0640", 0640}, {"m0755", 0755}, {"m0444", 0444},
               {"m0000", 0000}, {"m4755", 04755}, {"m2755", 02755}, {"m1644", 01644}};
  for (auto& m : modes) write_file(R / "modes" / m.name, std::string("mode ") + m.name + "\n");
  fs::create_directories(R / "modes" / "sticky_dir");
  write_file(R / "modes" / "ro_dir" / "inside", "in a read-only dir\n");
  fs::create_directories(R / "modes" / "private_dir");

  // Symlinks.
  fs::create_directories(R / "links");
  must(symlink("../sizes/rand_1", (R / "links" / "rel").c_str()), "symlink");
  must(symlink("/etc/hostname", (R / "links" / "abs").c_str()), "symlink");
  must(symlink("does/not/exist", (R / "links" / "dangling").c_str()), "symlink");
  must(symlink("../modes", (R / "links" / "dirlink").c_str()), "symlink");
  must(symlink("../ünïcödé/日本語 ファイル.txt", (R / "links" / "utf8 target").c_str()), "symlink");
  must(symlink(std::string(1000, 'L').c_str(), (R / "links" / "long_target").c_str()), "symlink");

  // Hardlinks: a 3-link group across directories, a 2-link group, and a file
  // with the same content as a linked one that must stay a separate inode.
  write_file(R / "hard" / "a", "hardlinked three times\n");
  fs::create_directories(R / "hard" / "sub");
  must(link((R / "hard" / "a").c_str(), (R / "hard" / "b").c_str()), "link");
  must(link((R / "hard" / "a").c_str(), (R / "hard" / "sub" / "c").c_str()), "link");
  write_file(R / "hard" / "x", random_bytes(100000, 5));
  must(link((R / "hard" / "x").c_str(), (R / "hard" / "y").c_str()), "link");
  write_file(R / "hard" / "z_same_content_as_x", random_bytes(100000, 5));
  write_file(R / "hard" / "empty_linked", "");
  must(link((R / "hard" / "empty_linked").c_str(), (R / "hard" / "empty_linked2").c_str()), "link");

  // Identical files, not linked.
  write_file(R / "dup" / "one", random_bytes(300000, 9));
  write_file(R / "dup" / "two", random_bytes(300000, 9));
  write_file(R / "dup" / "three", random_bytes(300000, 9));

  // A deep chain.
  if (o.deep_levels > 0) {
    std::string rel = "deep";
    for (int i = 0; i < o.deep_levels; i++) rel += "/d";
    fs::create_directories(R / rel);
    write_file(R / rel / "leaf", "at the bottom\n");
  }

  if (o.foreign_owner && geteuid() == 0) {
    must(lchown((R / "one_byte").c_str(), 1234, 1234), "lchown");
    must(lchown((R / "links" / "rel").c_str(), 1234, 1234), "lchown");
    must(lchown((R / "empty_dir").c_str(), 1234, 1234), "lchown");
  }

  // Modes (after content: some drop write access).
  for (auto& m : modes) must(chmod((R / "modes" / m.name).c_str(), m.mode), "chmod");
  must(chmod((R / "modes" / "sticky_dir").c_str(), 01777), "chmod");
  must(chmod((R / "modes" / "ro_dir" / "inside").c_str(), 0444), "chmod");
  must(chmod((R / "modes" / "private_dir").c_str(), 0700), "chmod");
  must(chmod((R / "empty_dir").c_str(), 0750), "chmod");

  // Mtimes, bottom-up, each one distinct with ns precision. Hardlinked paths
  // share one inode, so the last one set wins for all of them.
  auto all = scan_tree(R, false);
  std::vector<std::string> paths;
  for (auto& [p, _] : all) paths.push_back(p);
  std::sort(paths.begin(), paths.end(), [](const std::string& a, const std::string& b) {
    auto depth = [](const std::string& s) { return std::count(s.begin(), s.end(), '/') + (s.empty() ? 0 : 1); };
    if (depth(a) != depth(b)) return depth(a) > depth(b);  // children first
    return a < b;
  });
  int64_t i = 0;
  for (auto& p : paths) {
    int64_t ns = int64_t(1500000000 + 3600 * i) * 1000000000 + (i * 123456789 + 1) % 1000000000;
    set_mtime_ns(p.empty() ? R : R / p, ns);
    i++;
  }
  must(chmod((R / "modes" / "ro_dir").c_str(), 0555), "chmod");  // after its child's mtime
}

std::map<std::string, NodeInfo> scan_tree(const fs::path& root, bool hash_files) {
  std::map<std::string, NodeInfo> out;
  std::function<void(const fs::path&, const std::string&)> walk = [&](const fs::path& p, const std::string& rel) {
    struct stat st;
    if (lstat(p.c_str(), &st) != 0) throw std::runtime_error("lstat " + p.string() + ": " + strerror(errno));
    NodeInfo n;
    n.mode = st.st_mode;
    n.size = uint64_t(st.st_size);
    n.mtime_ns = int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    n.nlink = st.st_nlink;
    n.ino = st.st_ino;
    n.uid = st.st_uid;
    if (S_ISLNK(st.st_mode)) {
      std::string t(size_t(st.st_size) + 1, '\0');
      ssize_t k = readlink(p.c_str(), t.data(), t.size());
      if (k < 0) throw std::runtime_error("readlink " + p.string());
      t.resize(size_t(k));
      n.target = t;
    } else if (S_ISREG(st.st_mode) && hash_files) {
      n.sha256 = sha256_file_hex(p);
    }
    out[rel] = n;
    if (S_ISDIR(st.st_mode)) {
      std::vector<std::string> names;
      DIR* d = opendir(p.c_str());
      if (!d) throw std::runtime_error("opendir " + p.string());
      while (dirent* de = readdir(d))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) names.emplace_back(de->d_name);
      closedir(d);
      for (auto& name : names) walk(p / name, rel.empty() ? name : rel + "/" + name);
    }
  };
  walk(root, "");
  return out;
}

std::vector<std::string> compare_trees(const fs::path& a, const fs::path& b, bool compare_root) {
  auto ta = scan_tree(a), tb = scan_tree(b);
  std::vector<std::string> diffs;
  auto add = [&](const std::string& s) {
    if (diffs.size() < 50) diffs.push_back(s);
  };
  for (auto& [p, x] : ta)
    if (!tb.count(p)) add("only in " + a.string() + ": '" + p + "'");
  for (auto& [p, y] : tb)
    if (!ta.count(p)) add("only in " + b.string() + ": '" + p + "'");
  std::map<uint64_t, uint64_t> a2b, b2a;  // hardlink grouping must match both ways
  for (auto& [p, x] : ta) {
    auto it = tb.find(p);
    if (it == tb.end()) continue;
    const NodeInfo& y = it->second;
    std::string name = "'" + p + "': ";
    if ((x.mode & S_IFMT) != (y.mode & S_IFMT)) {
      add(name + "type differs");
      continue;
    }
    bool root = p.empty();
    if ((!root || compare_root) && (x.mode & 07777) != (y.mode & 07777))
      add(name + "mode " + std::to_string(x.mode & 07777) + " vs " + std::to_string(y.mode & 07777));
    if ((!root || compare_root) && x.mtime_ns != y.mtime_ns)
      add(name + "mtime_ns " + std::to_string(x.mtime_ns) + " vs " + std::to_string(y.mtime_ns));
    if (S_ISLNK(x.mode) && x.target != y.target) add(name + "symlink target differs");
    if (S_ISREG(x.mode)) {
      if (x.size != y.size) add(name + "size " + std::to_string(x.size) + " vs " + std::to_string(y.size));
      if (x.sha256 != y.sha256) add(name + "content differs");
      if (x.nlink != y.nlink) add(name + "nlink " + std::to_string(x.nlink) + " vs " + std::to_string(y.nlink));
      auto [i1, f1] = a2b.emplace(x.ino, y.ino);
      auto [i2, f2] = b2a.emplace(y.ino, x.ino);
      if (i1->second != y.ino || i2->second != x.ino) add(name + "hardlink grouping differs");
    }
  }
  return diffs;
}

WriterOptions small_writer_options() {
  WriterOptions o;
  o.level = 3;
  o.threads = 2;
  return o;
}

WriterOptions edge_writer_options() {
  WriterOptions o = small_writer_options();
  o.allow_escaping_symlinks = true;
  return o;
}

ChunkerParams small_chunks() {
  ChunkerParams p;
  p.min_size = 1024;
  p.avg_size = 4096;
  p.max_size = 16384;
  return p;
}

BuildStats build_pack(const fs::path& out, const std::vector<std::pair<std::string, fs::path>>& sources,
                      WriterOptions o) {
  PackWriter w(out, o);
  for (auto& [prefix, dir] : sources)
    for (auto& e : scan_dir(DirSpec{prefix, dir})) w.add(std::move(e));
  return w.finish();
}

std::string pack_read_all(const Pack& p, uint64_t ino) {
  auto f = p.layout(ino);
  std::string out(f->size, '\0');
  size_t n = p.read(ino, 0, out.size(), out.data());
  if (n != out.size()) throw std::runtime_error("short read from pack");
  return out;
}

Stat pack_stat(const Pack& p, const std::string& path) {
  auto st = p.lookup_path(path);
  if (!st) throw std::runtime_error("not in pack: " + path);
  return *st;
}

void xor_byte(const fs::path& f, uint64_t off, uint8_t mask) {
  int fd = open(f.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("open " + f.string());
  uint8_t b;
  if (pread(fd, &b, 1, off_t(off)) != 1) {
    close(fd);
    throw std::runtime_error("pread " + f.string());
  }
  b ^= mask;
  if (pwrite(fd, &b, 1, off_t(off)) != 1) {
    close(fd);
    throw std::runtime_error("pwrite " + f.string());
  }
  close(fd);
}

std::vector<std::vector<std::string>> prefix_rows(const Pack& p) {
  std::vector<std::vector<std::string>> rows;
  for (auto& ps : pack_report(p).prefixes)
    rows.push_back({ps.prefix, std::to_string(ps.files), std::to_string(ps.bytes_in), std::to_string(ps.bytes_unique),
                    std::to_string(ps.bytes_stored)});
  return rows;
}

namespace {
std::string listing_line(uint32_t mode, uint64_t size, int64_t mtime_ns, const std::string& target,
                         const std::string& sha) {
  char buf[96];
  snprintf(buf, sizeof buf, "%07o %llu %lld", mode, (unsigned long long)size, (long long)mtime_ns);
  return std::string(buf) + (target.empty() ? "" : " -> " + target) + (sha.empty() ? "" : " " + sha);
}
}  // namespace

Listing tree_listing(const fs::path& root) {
  Listing out;
  for (auto& [rel, n] : scan_tree(root, true))
    out[rel] = rel.empty() ? "root" : listing_line(n.mode, S_ISDIR(n.mode) ? 0 : n.size, n.mtime_ns, n.target,
                                                   S_ISREG(n.mode) ? n.sha256 : "");
  return out;
}

void walk_pack(const Pack& p, const std::function<void(const std::string& path, const Stat& st)>& f) {
  std::vector<std::pair<std::string, uint64_t>> todo{{"", kRootIno}};
  while (!todo.empty()) {
    auto [dir, ino] = todo.back();
    todo.pop_back();
    for (auto& e : p.readdir(ino)) {
      std::string path = dir.empty() ? e.name : dir + "/" + e.name;
      f(path, e.st);
      if (S_ISDIR(e.st.mode)) todo.emplace_back(path, e.st.ino);
    }
  }
}

Listing pack_listing(const Pack& p) {
  Listing out;
  out[""] = "root";
  walk_pack(p, [&](const std::string& path, const Stat& st) {
    std::string target = S_ISLNK(st.mode) ? p.readlink(st.ino) : "";
    std::string sha = S_ISREG(st.mode) ? sha256_hex(pack_read_all(p, st.ino)) : "";
    out[path] = listing_line(st.mode, st.size, st.mtime_ns, target, sha);
  });
  return out;
}

void make_version_tree(const fs::path& root) {
  const fs::path d = root / "data";
  EdgeTreeOptions o;
  o.deep_levels = 20;
  o.big_files = false;
  make_edge_tree(d, o);
  // Files of many chunks, where an edit changes only the chunks around it.
  for (auto& [rel, data] : std::vector<std::pair<std::string, std::string>>{
           {"big/random.bin", random_bytes(2u << 20, 501)}, {"big/text.log", pseudo_text(3u << 19, 502)}}) {
    write_file(d / rel, data);
    set_mtime_ns(d / rel, 1510000000LL * 1000000000 + 17);
  }
  set_mtime_ns(d / "big", 1510000000LL * 1000000000 + 18);
  set_mtime_ns(d, 1510000000LL * 1000000000 + 19);
}

TreeChanges make_next_version(const fs::path& from, const fs::path& to, int step) {
  if (step < 1 || step > 2) throw std::runtime_error("make_next_version: step 1 or 2");
  if (fs::exists(to)) throw std::runtime_error(to.string() + " exists");
  auto r = run("cp -a " + q(from) + " " + q(to));
  if (r.status != 0) throw std::runtime_error("cp -a: " + r.output);
  const fs::path d = to / "data";
  std::map<std::string, int64_t> dir_mtimes;  // edits touch them: put back after
  for (auto& [rel, n] : scan_tree(to, false))
    if (S_ISDIR(n.mode)) dir_mtimes[rel] = n.mtime_ns;
  TreeChanges c;
  const int64_t t = (1560000000LL + step * 1000) * 1000000000;
  int64_t k = 0;
  auto changed = [&](const std::string& rel) {
    c.changed.insert("data/" + rel);
    set_mtime_ns(d / rel, t + k++);
  };
  // In-place edits: bytes overwritten in the random file, text inserted into the other.
  std::string rnd = read_file(d / "big/random.bin");
  rnd.replace(size_t(step) * 600000, 100, random_bytes(100, 600 + uint64_t(step)));
  write_file(d / "big/random.bin", rnd);
  changed("big/random.bin");
  std::string txt = read_file(d / "big/text.log");
  txt.insert(txt.size() / 3 * step, "inserted by version step " + std::to_string(step) + "\n");
  write_file(d / "big/text.log", txt);
  changed("big/text.log");
  // New files in a new directory.
  const std::string added = "added-" + std::to_string(step);
  write_file(d / added / "new.bin", random_bytes(200000, 700 + uint64_t(step)));
  write_file(d / added / "readme.txt", pseudo_text(30000, 800 + uint64_t(step)));
  for (auto rel : {added + "/new.bin", added + "/readme.txt", added}) {
    c.added.insert("data/" + rel);
    set_mtime_ns(d / rel, t + k++);
  }
  // Removed files, a mode and a symlink target changed.
  std::vector<std::string> gone = step == 1 ? std::vector<std::string>{"dup/three", "hard/z_same_content_as_x"}
                                            : std::vector<std::string>{"sizes/rand_65537", "added-1/readme.txt"};
  for (auto& rel : gone) {
    if (!fs::remove(d / rel)) throw std::runtime_error("not in the tree: " + rel);
    c.removed.insert("data/" + rel);
  }
  const std::string mode_file = step == 1 ? "modes/m0640" : "modes/m0755";
  must(chmod((d / mode_file).c_str(), step == 1 ? 0600 : 0700), "chmod");
  changed(mode_file);
  fs::remove(d / "links/rel");
  must(symlink(step == 1 ? "../sizes/rand_63" : "../one_byte", (d / "links/rel").c_str()), "symlink");
  changed("links/rel");
  for (auto& [rel, n] : scan_tree(to, false))
    if (S_ISDIR(n.mode) && dir_mtimes.count(rel)) set_mtime_ns(rel.empty() ? to : to / rel, dir_mtimes[rel]);
  return c;
}

void build_version_pack(const fs::path& out, const fs::path& root, const std::vector<std::string>& extra) {
  std::vector<std::string> a{"-q", "build", "-o", out.string(), "--threads", "2", "--allow-escaping-symlinks"};
  a.insert(a.end(), extra.begin(), extra.end());
  a.push_back("data=" + (root / "data").string());
  kso_pack_ok(a);
}

const VersionPacks& version_packs() {
  static std::unique_ptr<TempDir> dir;
  static VersionPacks vp;
  static std::string error;
  if (!error.empty()) throw std::runtime_error(error);
  if (dir) return vp;
  try {
    auto d = std::make_unique<TempDir>("kso-versions");
    const fs::path& t = d->path();
    VersionPacks v{t / "v0", t / "v1", t / "v2", {}, {}, t / "site/OLD.kso", t / "site/DELTA.kso", t / "site/V2.kso",
                   t / "full/NEW.kso"};
    SourceDateEpoch e(kVersionEpoch);
    make_version_tree(v.v0);
    v.c1 = make_next_version(v.v0, v.v1, 1);
    v.c2 = make_next_version(v.v1, v.v2, 2);
    fs::create_directories(t / "site");
    fs::create_directories(t / "full");
    build_version_pack(v.old_pack, v.v0);
    build_version_pack(v.delta, v.v1, {"--base", v.old_pack.string()});
    build_version_pack(v.v2_pack, v.v2, {"--base", v.delta.string()});
    build_version_pack(v.full_new, v.v1);
    vp = v;
    dir = std::move(d);
  } catch (const std::exception& e) {
    error = std::string("building the version packs failed: ") + e.what();
    throw std::runtime_error(error);
  }
  return vp;
}

std::string open_error(const fs::path& p) {
  try {
    Pack::open(p);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

uint64_t data_end(const fs::path& f) { return Pack::open(f)->meta_offset(); }

std::string read_through(const Pack& p, const FileLayout& f, uint64_t off, size_t len, BlockSource& src) {
  ReadBuffer b;
  p.read(f, off, len, src, b);
  std::string out(b.size(), '\0');
  b.copy_to(out.data());
  return out;
}

void make_wide_tree(const fs::path& root, size_t files, uint64_t seed) {
  constexpr size_t kPerDir = 100, kDirsPerTop = 100;  // 10k files per top-level directory
  for (size_t i = 0; i < files; i++) {
    char rel[64];
    snprintf(rel, sizeof rel, "d%03zu/d%02zu/f%06zu.txt", i / (kPerDir * kDirsPerTop), i / kPerDir % kDirsPerTop, i);
    fs::path p = root / rel;
    if (i % kPerDir == 0) fs::create_directories(p.parent_path());
    FILE* f = fopen(p.c_str(), "wb");
    if (!f) throw std::runtime_error("cannot create " + p.string());
    fprintf(f, "file %zu of seed %llu\n", i, (unsigned long long)seed);
    fclose(f);
    set_mtime_ns(p, 1500000000LL * 1000000000 + int64_t(i));
  }
}

}  // namespace kso::test
