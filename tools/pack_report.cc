#include "tools/pack_report.h"

#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>

#include "index/error.h"
#include "index/format.h"
#include "index/index_meta.h"

namespace kso {

PackReport pack_report(const Pack& p) {
  PackReport r;
  r.supplied.assign(p.bases().size() + 1, 0);
  PackStats& t = r.totals;
  // Inodes are numbered depth-first, so each root entry's subtree is the
  // run of inode numbers from its own to the next root entry's.
  std::vector<std::pair<uint64_t, std::string>> roots;  // (first ino, name)
  for (auto& row : p.query_rows("SELECT ino, name FROM dirents WHERE parent = 1 ORDER BY ino", 2))
    roots.emplace_back(std::stoull(row[0]), row[1]);
  std::map<std::string, PrefixStats> by_name;
  for (auto& [ino, name] : roots) by_name[name].prefix = name;
  auto prefix_of = [&](uint64_t ino) -> PrefixStats* {
    auto it = std::upper_bound(roots.begin(), roots.end(), ino,
                               [](uint64_t v, const std::pair<uint64_t, std::string>& e) { return v < e.first; });
    if (it == roots.begin()) return nullptr;  // the root itself
    return &by_name[std::prev(it)->second];
  };

  std::unordered_map<uint64_t, std::pair<uint32_t, uint64_t>> kinds;  // ino -> (mode, size)
  std::vector<std::pair<uint64_t, uint64_t>> files;                   // (ino, content id)
  for (auto& row : p.query_rows("SELECT ino, mode, size, content FROM inodes ORDER BY ino", 4)) {
    uint64_t ino = std::stoull(row[0]);
    uint32_t mode = uint32_t(std::stoul(row[1]));
    kinds[ino] = {mode, std::stoull(row[2])};
    if (S_ISREG(mode)) {
      t.files++;
      files.emplace_back(ino, row[3].empty() ? UINT64_MAX : std::stoull(row[3]));
    } else if (S_ISDIR(mode)) {
      t.dirs++;
    } else if (S_ISLNK(mode)) {
      t.symlinks++;
    }
  }
  if (t.dirs) t.dirs--;  // the root
  uint64_t file_paths = 0;
  for (auto& row : p.query_rows("SELECT parent, ino FROM dirents", 2)) {
    uint64_t parent = std::stoull(row[0]), ino = std::stoull(row[1]);
    auto k = kinds.find(ino);
    if (k == kinds.end() || !S_ISREG(k->second.first)) continue;
    file_paths++;
    t.bytes_in += k->second.second;
    if (PrefixStats* ps = prefix_of(parent == kRootIno ? ino : parent)) {
      ps->files++;
      ps->bytes_in += k->second.second;
    }
  }
  t.hardlinks = file_paths - t.files;

  std::unordered_map<uint64_t, std::string> chunk_tables;  // content id -> records
  for (auto& row : p.query_rows("SELECT id, chunks FROM contents", 2)) chunk_tables[std::stoull(row[0])] = row[1];
  t.files_deduped = t.files - std::min<uint64_t>(t.files, chunk_tables.size());
  // A chunk is identified by where it is stored; the first file inode (in
  // inode order) that references it is the one that stored it.
  std::set<std::pair<uint32_t, uint32_t>> seen;
  std::map<std::string, std::unordered_map<uint32_t, uint64_t>> block_bytes;  // prefix -> block -> bytes
  for (auto& [ino, content] : files) {
    auto it = chunk_tables.find(content);
    if (it == chunk_tables.end()) throw CorruptError(p.name() + ": inode " + std::to_string(ino) + " has no content");
    const std::string& rec = it->second;
    PrefixStats* ps = prefix_of(ino);
    for (size_t at = 0; at + kChunkRecordSize <= rec.size(); at += kChunkRecordSize) {
      uint32_t block = uint32_t(get_le(&rec[at], 4)), offset = uint32_t(get_le(&rec[at + 4], 4));
      uint32_t length = uint32_t(get_le(&rec[at + 8], 4));
      t.chunks++;
      if (!seen.insert({block, offset}).second) {
        t.chunks_deduped++;
        continue;
      }
      t.bytes_unique += length;
      r.supplied[p.block_entry(block).base] += length;
      if (ps) {
        ps->bytes_unique += length;
        block_bytes[ps->prefix][block] += length;
      }
    }
  }
  for (uint32_t i = 0; i < p.block_count(); i++) {
    const BlockEntry& e = p.block_entry(i);
    if (e.base) continue;  // stored in a base: costs this pack nothing
    t.bytes_stored += e.stored_size;
    t.blocks++;
    if (e.codec == Codec::Raw) t.blocks_raw++;
  }
  t.pack_size = p.file_size();
  t.identity = p.identity();
  for (auto& [name, blocks] : block_bytes) {
    double stored = 0;
    for (auto& [id, bytes] : blocks) {
      const BlockEntry& e = p.block_entry(id);
      if (e.base) continue;
      stored += double(bytes) * e.stored_size / std::max<uint32_t>(1, e.raw_size);
    }
    by_name[name].bytes_stored = uint64_t(stored + 0.5);
  }
  for (auto& [name, ps] : by_name) r.prefixes.push_back(ps);
  return r;
}

}  // namespace kso
