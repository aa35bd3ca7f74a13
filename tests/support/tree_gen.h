// Test trees for the pack tests: a generator covering the pack's edge cases
// (modes, ns mtimes, symlinks, hardlinks, odd names, deep trees, sizes), a
// tree comparator (what `diff -r` does not check: modes, mtimes, inodes) and
// small helpers to build packs in-process.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "index/format.h"
#include "index/pack_reader.h"
#include "index/write/pack_writer.h"

namespace kso::test {

namespace fs = std::filesystem;

struct EdgeTreeOptions {
  int deep_levels = 300;       // depth of the deep/ chain
  bool big_files = true;       // add multi-MiB files (random and compressible)
  bool foreign_owner = true;   // chown some files to 1234:1234 (when root)
};

// Writes a tree under `root` (which must exist) with every edge case the pack
// must keep. Sets modes and ns-precision mtimes bottom-up, root included.
void make_edge_tree(const fs::path& root, const EdgeTreeOptions& o = {});

// Sets atime+mtime of `p` to `ns` (not following symlinks).
void set_mtime_ns(const fs::path& p, int64_t ns);

// What lstat says about one path of a tree, relative to the tree's root.
struct NodeInfo {
  uint32_t mode = 0;      // full st_mode
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  uint64_t nlink = 0;
  uint64_t ino = 0;
  uint32_t uid = 0;
  std::string target;     // symlinks
  std::string sha256;     // regular files (hex)
};

// Every path under `root` ("" = root itself) with its lstat data.
std::map<std::string, NodeInfo> scan_tree(const fs::path& root, bool hash_files = true);

// Differences between two trees (type, mode, size, mtime, symlink target,
// content, nlink, hardlink grouping); empty when equal. The roots' own mode and
// mtime are compared only with `compare_root`.
std::vector<std::string> compare_trees(const fs::path& a, const fs::path& b, bool compare_root = false);

// Writer options that keep test packs small and fast: 2 threads, level 3.
WriterOptions small_writer_options();
// The same, allowing symlinks that point outside the pack: the edge tree
// holds an absolute one on purpose.
WriterOptions edge_writer_options();

// Chunk sizes small enough that KiB-sized test files span many chunks.
ChunkerParams small_chunks();  // 1K/4K/16K

// Scans PREFIX=DIR sources like `kso-pack build` and writes a pack.
BuildStats build_pack(const fs::path& out, const std::vector<std::pair<std::string, fs::path>>& sources,
                      WriterOptions o = small_writer_options());

// Whole content of file `ino` of `p`, read straight from the pack.
std::string pack_read_all(const Pack& p, uint64_t ino);
// Stat of `path` in `p`; fails the calling test (throws) when missing.
Stat pack_stat(const Pack& p, const std::string& path);
// XORs byte `off` of file `f` with `mask` in place.
void xor_byte(const fs::path& f, uint64_t off, uint8_t mask);
// `kso-pack info`'s per-prefix rows: {prefix, files, bytes_in, bytes_unique, bytes_stored}.
std::vector<std::vector<std::string>> prefix_rows(const Pack& p);
// One line per path ("" = the root) describing what a reader must reproduce:
// mode, size, mtime, symlink target, content SHA-256 (the root: type only,
// since the writer makes its own root). Equal listings: equal trees.
using Listing = std::map<std::string, std::string>;
Listing tree_listing(const fs::path& root);
Listing pack_listing(const Pack& p);  // reads every file through the read path
// Calls `f` for every path of `p` ("a/b", no root), depth-first, parents first.
void walk_pack(const Pack& p, const std::function<void(const std::string& path, const Stat& st)>& f);

// Versions of one tree, for delta packs. Version 0 is a small edge tree
// (make_edge_tree without big files) plus a 2 MiB random and a 1.5 MiB text
// file, under ROOT/data: pack it as data=ROOT/data, and tree_listing(ROOT)
// lists what the pack lists. Every mtime is before 2020, so a
// SOURCE_DATE_EPOCH after that clamps none.
void make_version_tree(const fs::path& root);
// What a version step changed, as pack paths ("data/...").
struct TreeChanges {
  std::set<std::string> added, removed, changed;
};
// Writes `to` (which must not exist) as a copy of `from` (cp -a) with step
// `step` (1 or 2) applied: a few bytes of the big random file overwritten and
// text inserted into the big text file (so only the chunks around the edits
// change), data/added-STEP/ with two new files, two files removed, a mode
// and a symlink target changed; the rest untouched. Returns what changed.
TreeChanges make_next_version(const fs::path& from, const fs::path& to, int step);
// `kso-pack build -o OUT --threads 2 --allow-escaping-symlinks [extra]
// data=ROOT/data` in-process: a pack of a version tree (the edge tree holds
// an absolute symlink). Throws with the tool's stderr if it fails.
void build_version_pack(const fs::path& out, const fs::path& root, const std::vector<std::string>& extra = {});

// SOURCE_DATE_EPOCH of the version packs below (after every mtime of the trees).
constexpr int64_t kVersionEpoch = 1700000000;
// Versions v0, v1, v2 of a tree (make_version_tree, then steps 1 and 2) and
// their packs, default parameters, built once per test process under
// SOURCE_DATE_EPOCH=kVersionEpoch: site/OLD.kso (v0), site/DELTA.kso (v1 on
// OLD), site/V2.kso (v2 on DELTA) side by side, and full/NEW.kso (v1,
// standalone). Tests that damage or rename work on copies. Removed at exit;
// throws (every call) if the build failed.
struct VersionPacks {
  fs::path v0, v1, v2;       // tree roots: ROOT/data
  TreeChanges c1, c2;        // v0 -> v1, v1 -> v2
  fs::path old_pack, delta, v2_pack, full_new;
};
const VersionPacks& version_packs();
// What Pack::open says of `p`: "" if it opens, else the error's message.
std::string open_error(const fs::path& p);
// Where the data region of pack file `f` ends (its metadata region starts).
uint64_t data_end(const fs::path& f);
// `n` bytes of pseudo-text (words picked by random_bytes(.., seed)):
// compressible, so packed into zstd blocks, but not trivially so.
std::string pseudo_text(size_t n, uint64_t seed);
// Writes `files` small regular files under `root` (created), 100 to a
// directory in a two-level fan-out (d000/d00/f0000.txt ...), content and
// mtimes derived from `seed` and the index: trees for scale measurements.
// Two calls with the same `files` and different seeds give the same paths.
void make_wide_tree(const fs::path& root, size_t files, uint64_t seed);
// Bytes [off, off+len) of `f` through the reader's read path with `src`.
std::string read_through(const Pack& p, const FileLayout& f, uint64_t off, size_t len, BlockSource& src);

}  // namespace kso::test
