#include "fs/union_tree.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <thread>

#include "index/entry.h"
#include "index/error.h"
#include "index/hash.h"

namespace kso {
namespace {

// Where a registry storage tree keeps a tag's digest:
// PREFIX/docker/registry/v2/repositories/REPO/_manifests/tags/TAG/current/link.
constexpr std::string_view kRegistryRoot = "docker/registry/v2/repositories/";
constexpr std::string_view kTagsDir = "/_manifests/tags/";
constexpr std::string_view kCurrentLink = "/current/link";
// A link file holds "sha256:<64 hex>"; anything longer is not one.
constexpr size_t kMaxLinkBytes = 256;

}  // namespace

struct UnionTree::Build {
  struct Row {
    std::string name, target;  // target: symlinks
    Digest sha256{};           // regular files
    Stat st;
  };
  struct PackRows {
    std::vector<Row> rows;
    std::vector<std::pair<uint32_t, uint32_t>> kids;  // by parent inode: [begin, end) of rows
    std::vector<bool> dir_seen;                        // directories reached (one path each)
  };
  struct Candidate {
    size_t k;
    const Row* row;
  };

  UnionTree& t;
  Prefer prefer;
  std::vector<PackRows> p;
  std::string path;  // of the directory being merged, "" for the root

  // Reads pack k's entries (the index only) into p[k].
  void load(size_t k) {
    const Pack& pack = *t.packs_[k];
    auto bad = [&](const std::string& why) { return CorruptError(pack.name() + ": index: " + why); };
    uint64_t n = pack.inode_count();
    PackRows& pr = p[k];
    pr.kids.assign(n + 1, {0, 0});
    pr.dir_seen.assign(n + 1, false);
    uint64_t last_parent = 0;
    pack.for_each_entry([&](const Pack::EntryRow& e) {
      if (e.parent < 1 || e.parent > n || e.st.ino < 1 || e.st.ino > n)
        throw bad("directory entry with an inode outside 1.." + std::to_string(n));
      if (e.parent < last_parent) throw bad("directory entries out of order");
      if (e.name.empty() || e.name == "." || e.name == ".." || e.name.find('/') != std::string_view::npos ||
          e.name.find('\0') != std::string_view::npos)
        throw bad("invalid file name in directory inode " + std::to_string(e.parent));
      if (S_ISREG(e.st.mode) && !e.sha256)
        throw bad("regular file inode " + std::to_string(e.st.ino) + " without content");
      Row row{std::string(e.name), std::string(e.target), {}, e.st};
      if (e.sha256) memcpy(row.sha256.data(), e.sha256, row.sha256.size());
      uint32_t at = uint32_t(pr.rows.size());
      if (e.parent != last_parent) pr.kids[e.parent] = {at, at};
      pr.kids[e.parent].second = at + 1;
      last_parent = e.parent;
      pr.rows.push_back(std::move(row));
    });
  }

  // What a union entry is, for a conflict line.
  static std::string describe(const Row& r) {
    if (S_ISDIR(r.st.mode)) return "a directory";
    if (S_ISREG(r.st.mode)) return "a file with sha256:" + to_hex(r.sha256);
    if (S_ISLNK(r.st.mode)) return "a symlink to '" + r.target + "'";
    return "a special file";
  }

  static bool same(const Row& a, const Row& b) {
    if ((a.st.mode & S_IFMT) != (b.st.mode & S_IFMT)) return false;
    if (S_ISREG(a.st.mode)) return a.sha256 == b.sha256;
    if (S_ISLNK(a.st.mode)) return a.target == b.target;
    return S_ISDIR(a.st.mode) || a.st.mode == b.st.mode;
  }

  // "PREFIX/REPO:TAG" if `full` is a registry tag's current/link, else "".
  static std::string tag_of(const std::string& full) {
    size_t root = full.find(kRegistryRoot);
    if (root == std::string::npos || full.size() < kCurrentLink.size() ||
        full.compare(full.size() - kCurrentLink.size(), kCurrentLink.size(), kCurrentLink) != 0)
      return {};
    size_t repo = root + kRegistryRoot.size();
    size_t tags = full.rfind(kTagsDir);
    if (tags == std::string::npos || tags <= repo) return {};
    size_t tag = tags + kTagsDir.size(), tag_end = full.size() - kCurrentLink.size();
    if (tag >= tag_end || full.find('/', tag) != tag_end) return {};
    std::string prefix = full.substr(0, root);  // "registry/" or ""
    return prefix + full.substr(repo, tags - repo) + ":" + full.substr(tag, tag_end - tag);
  }

  // A link file's digest (the one place a union reads file data: a conflict
  // on a tag, to say it in the registry's terms).
  std::string link_digest(const Candidate& c) const {
    if (!S_ISREG(c.row->st.mode) || c.row->st.size > kMaxLinkBytes) return describe(*c.row);
    char buf[kMaxLinkBytes];
    try {
      size_t n = t.packs_[c.k]->read(c.row->st.ino, 0, sizeof buf, buf);
      return std::string(buf, n);
    } catch (const std::exception&) {
      return describe(*c.row);
    }
  }

  std::string conflict_line(const std::string& full, const Candidate& a, const Candidate& b) const {
    const std::string &na = t.packs_[a.k]->name(), &nb = t.packs_[b.k]->name();
    std::string tag = tag_of(full);
    if (!tag.empty())
      return "tag " + tag + " is " + link_digest(a) + " in " + na + " and " + link_digest(b) + " in " + nb;
    return full + " is " + describe(*a.row) + " in " + na + " and " + describe(*b.row) + " in " + nb;
  }

  // Records the depth of every symlink below directory `dir` of pack `k`,
  // which only pack k holds, `depth` components below the root.
  void walk_single(size_t k, uint64_t dir, uint32_t depth) {
    PackRows& pr = p[k];
    for (uint32_t i = pr.kids[dir].first; i < pr.kids[dir].second; i++) {
      const Row& r = pr.rows[i];
      if (S_ISLNK(r.st.mode)) t.link_depth_[t.base_[k] + r.st.ino] = depth;
      if (S_ISDIR(r.st.mode)) {
        enter(k, r.st.ino);
        walk_single(k, r.st.ino, depth + 1);
      }
    }
  }

  void enter(size_t k, uint64_t dir) {
    if (p[k].dir_seen[dir])
      throw CorruptError(t.packs_[k]->name() + ": index: directory inode " + std::to_string(dir) +
                         " is reached by two paths");
    p[k].dir_seen[dir] = true;
  }

  // Merges directory `sources` (pack, inode; the winner first) into union
  // directory `self`, `depth` components below the root; recurses into the
  // subdirectories more than one pack holds.
  // Returns the directory's link count (2 + its subdirectories).
  uint32_t merge(const Stat& self, const std::vector<std::pair<size_t, uint64_t>>& sources, uint32_t depth) {
    std::vector<Candidate> all;
    for (auto [k, dir] : sources)
      for (uint32_t i = p[k].kids[dir].first; i < p[k].kids[dir].second; i++) all.push_back({k, &p[k].rows[i]});
    // By name, and by pack order within a name.
    std::stable_sort(all.begin(), all.end(), [](const Candidate& a, const Candidate& b) {
      return a.row->name < b.row->name || (a.row->name == b.row->name && a.k < b.k);
    });
    Merged m;
    m.self = self;
    uint32_t subdirs = 0;
    size_t dir_len = path.size();
    for (size_t i = 0; i < all.size();) {
      size_t j = i + 1;
      while (j < all.size() && all[j].row->name == all[i].row->name) {
        if (all[j].k == all[j - 1].k)
          throw CorruptError(t.packs_[all[j].k]->name() + ": index: duplicate name '" + all[j].row->name + "'");
        j++;
      }
      std::vector<Candidate> group(all.begin() + long(i), all.begin() + long(j));
      i = j;
      const std::string& name = group[0].row->name;
      path.append(dir_len ? "/" : "").append(name);
      // The preferred candidate: the first, or the last with prefer=last.
      const Candidate win = prefer == Prefer::kLast ? group.back() : group.front();
      const Candidate* differs = nullptr;  // from the first candidate
      for (auto& c : group)
        if (!differs && !same(*group[0].row, *c.row)) differs = &c;
      if (differs) {
        if (prefer == Prefer::kNone)
          throw Error("conflict: " + conflict_line(path, group[0], *differs) +
                          " (-o prefer=first or prefer=last picks one)",
                      EEXIST);
        const Candidate* other = nullptr;  // one the winner differs from: there is one
        for (auto& c : group)
          if (!other && !same(*win.row, *c.row)) other = &c;
        t.overrides_.push_back(conflict_line(path, win, *other) + ": taking " + t.packs_[win.k]->name() +
                               "'s (-o prefer=" + (prefer == Prefer::kLast ? "last" : "first") + ")");
      }
      Stat st = t.to_union(win.k, win.row->st);
      if (S_ISLNK(st.mode)) t.link_depth_[st.ino] = depth;
      if (S_ISDIR(st.mode)) {
        subdirs++;
        std::vector<std::pair<size_t, uint64_t>> subs{{win.k, win.row->st.ino}};
        for (auto& c : group)
          if (c.k != win.k && S_ISDIR(c.row->st.mode)) subs.emplace_back(c.k, c.row->st.ino);
        for (auto [k, dir] : subs) enter(k, dir);
        if (subs.size() == 1) walk_single(win.k, win.row->st.ino, depth + 1);
        else st.nlink = merge(st, subs, depth + 1);
      }
      m.entries.push_back({name, st});
      path.resize(dir_len);
    }
    m.self.nlink = 2 + subdirs;
    t.merged_[self.ino] = std::move(m);
    return 2 + subdirs;
  }
};

UnionTree::UnionTree(std::vector<std::shared_ptr<Pack>> packs, Prefer prefer) : packs_(std::move(packs)) {
  if (packs_.empty()) throw Error("a union needs a pack", EINVAL);
  uint64_t next = 0;
  for (auto& pk : packs_) {
    base_.push_back(next);
    next += pk->inode_count();
  }
  if (packs_.size() == 1) return;  // served as it is
  Build b{*this, prefer, std::vector<Build::PackRows>(packs_.size()), {}};
  // The packs' indexes are read side by side (each thread has its own
  // connection to each index).
  std::vector<std::exception_ptr> failed(packs_.size());
  std::vector<std::thread> loaders;
  for (size_t k = 1; k < packs_.size(); k++)
    loaders.emplace_back([&, k] {
      try {
        b.load(k);
      } catch (...) {
        failed[k] = std::current_exception();
      }
    });
  try {
    b.load(0);
  } catch (...) {
    failed[0] = std::current_exception();
  }
  for (auto& th : loaders) th.join();
  for (auto& e : failed)
    if (e) std::rethrow_exception(e);
  std::vector<std::pair<size_t, uint64_t>> roots;
  for (size_t k = 0; k < packs_.size(); k++) {
    roots.emplace_back(k, kRootIno);
    b.enter(k, kRootIno);
  }
  auto root = packs_[0]->stat(kRootIno);
  if (!root) throw CorruptError(packs_[0]->name() + ": index: no root directory");
  b.merge(*root, roots, 0);
}

size_t UnionTree::owner(uint64_t ino) const {
  if (packs_.size() == 1 || ino == 0) return 0;
  return size_t(std::upper_bound(base_.begin(), base_.end(), ino - 1) - base_.begin()) - 1;
}

std::optional<Stat> UnionTree::lookup(uint64_t parent, std::string_view name) const {
  if (packs_.size() == 1) return packs_[0]->lookup(parent, name);
  if (auto it = merged_.find(parent); it != merged_.end()) {
    auto& e = it->second.entries;
    auto at = std::lower_bound(e.begin(), e.end(), name, [](const DirEntry& d, std::string_view n) { return d.name < n; });
    if (at == e.end() || at->name != name) return std::nullopt;
    return at->st;
  }
  size_t k = owner(parent);
  return to_union(k, packs_[k]->lookup(parent - base_[k], name));
}

std::optional<Stat> UnionTree::stat(uint64_t ino) const {
  if (packs_.size() == 1) return packs_[0]->stat(ino);
  if (auto it = merged_.find(ino); it != merged_.end()) return it->second.self;
  size_t k = owner(ino);
  return to_union(k, packs_[k]->stat(ino - base_[k]));
}

std::vector<DirEntry> UnionTree::readdir(uint64_t dir) const {
  if (packs_.size() == 1) return packs_[0]->readdir(dir);
  if (auto it = merged_.find(dir); it != merged_.end()) return it->second.entries;
  size_t k = owner(dir);
  auto out = packs_[k]->readdir(dir - base_[k]);
  for (auto& e : out) e.st.ino += base_[k];
  return out;
}

std::string UnionTree::readlink(uint64_t ino) const {
  size_t k = owner(ino);
  return packs_[k]->readlink(ino - base_[k]);
}

bool UnionTree::escaping_symlink(uint64_t ino, std::string_view target) const {
  if (packs_.size() == 1) return packs_[0]->escaping_symlink(ino, target);
  auto it = link_depth_.find(ino);
  return symlink_escapes(target, it == link_depth_.end() ? 0 : it->second);  // unknown: the strictest
}

std::shared_ptr<const FileLayout> UnionTree::layout(uint64_t ino) const {
  size_t k = owner(ino);
  return packs_[k]->layout(ino - base_[k]);
}

uint64_t UnionTree::inode_count() const { return base_.back() + packs_.back()->inode_count(); }

uint64_t UnionTree::file_size() const {
  uint64_t n = 0;
  for (auto& pk : packs_) n += pk->file_size();
  return n;
}

}  // namespace kso
