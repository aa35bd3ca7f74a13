// The tree kso-fs serves: one pack, or the union of several (kso-fs A.kso
// B.kso MNT). A union is built at mount from the packs' indexes alone (no file
// data): directories merge; a path that two packs hold must be the same thing
// in both (files by the content SHA-256 the index records, symlinks by target),
// else the mount is refused naming the path and both packs, unless `prefer`
// picks the first or the last pack holding it. A tag of a registry storage
// tree (docker/registry/v2/.../_manifests/tags/T/current/link) that differs is
// refused the same way, in the registry's terms.
//
// Inode numbers: pack k's inode i is union inode base(k) + i, base(k) the sum
// of the inode counts of the packs before it (pack 0's root is the root, 1).
// An entry keeps the inode of the pack it is served from (a merged directory:
// the first pack holding it), so numbers are unique, stable across mounts of
// the same packs in the same order, and a pack's hardlinks stay hardlinks.
// A single pack is served as it is (no table, inodes unchanged).
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "index/pack_reader.h"

namespace kso {

enum class Prefer { kNone, kFirst, kLast };  // -o prefer=: who wins a conflict

class UnionTree {
 public:
  // Builds the union of `packs` (at least one; order matters for `prefer`).
  // Throws Error (one line: the path and both packs) on a conflict `prefer`
  // does not settle.
  UnionTree(std::vector<std::shared_ptr<Pack>> packs, Prefer prefer = Prefer::kNone);

  size_t pack_count() const { return packs_.size(); }
  const std::shared_ptr<Pack>& pack(size_t k) const { return packs_[k]; }
  // The pack union inode `ino` is served from, and its inode there.
  size_t owner(uint64_t ino) const;
  uint64_t pack_ino(uint64_t ino) const { return ino - base_[owner(ino)]; }
  // One line per path where `prefer` settled a conflict (to be logged once).
  const std::vector<std::string>& overrides() const { return overrides_; }

  // The tree queries of Pack, in union inodes.
  std::optional<Stat> lookup(uint64_t parent, std::string_view name) const;
  std::optional<Stat> stat(uint64_t ino) const;
  std::vector<DirEntry> readdir(uint64_t dir) const;
  std::string readlink(uint64_t ino) const;
  bool escaping_symlink(uint64_t ino, std::string_view target) const;
  std::shared_ptr<const FileLayout> layout(uint64_t ino) const;  // blocks of pack owner(ino)
  uint64_t inode_count() const;  // upper bound of the union's inode numbers
  uint64_t file_size() const;    // all packs' bytes

 private:
  // A directory of the union held by more than one pack: its merged listing.
  // Entries of a directory only one pack holds are that pack's (translated).
  struct Merged {
    Stat self;                      // its own attributes (nlink: 2 + its subdirectories)
    std::vector<DirEntry> entries;  // by name, union inodes
  };
  struct Build;
  Stat to_union(size_t k, Stat st) const {
    st.ino += base_[k];
    return st;
  }
  // The same for what pack k answered, if anything.
  std::optional<Stat> to_union(size_t k, const std::optional<Stat>& st) const {
    return st ? std::optional<Stat>(to_union(k, *st)) : std::nullopt;
  }

  std::vector<std::shared_ptr<Pack>> packs_;
  std::vector<uint64_t> base_;  // base_[k]: union inode = base_[k] + pack inode
  std::unordered_map<uint64_t, Merged> merged_;  // by union inode
  // Depth (components of the parent directory) of every symlink of the union
  // below a merged directory: the packs never saw those paths looked up.
  std::unordered_map<uint64_t, uint32_t> link_depth_;
  std::vector<std::string> overrides_;
};

}  // namespace kso
