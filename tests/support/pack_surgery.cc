#include "tests/support/pack_surgery.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stdexcept>

#include "index/sha256.h"
#include "tests/support/testutil.h"
#include "tests/support/tree_gen.h"

namespace kso::test {

PackParts split_pack(const fs::path& pack) {
  std::string all = read_file(pack);
  if (all.size() < kDataStart + kTrailerSize) throw std::runtime_error("not a pack: " + pack.string());
  PackEnds t = decode_trailer(std::string_view(all).substr(all.size() - kTrailerSize));
  Superblock s = decode_superblock(std::string_view(all).substr(t.meta_offset, kSuperblockSize));
  PackParts p;
  p.data = all.substr(kDataStart, t.meta_offset - kDataStart);
  const char* ba = all.data() + t.meta_offset + kSuperblockSize;
  for (uint64_t i = 0; i < s.base_count; i++) p.bases.push_back(decode_base_entry(ba + i * kBaseEntrySize));
  const char* bt = ba + s.base_count * kBaseEntrySize;
  for (uint64_t i = 0; i < s.block_count; i++) p.blocks.push_back(decode_block_entry(bt + i * kBlockEntrySize));
  const char* pt = bt + s.block_count * kBlockEntrySize;
  for (uint64_t i = 0; i < s.page_count; i++) p.pages.push_back(get_le(pt + 8 * i, 8));
  p.index = all.substr(s.index_offset, s.index_size);
  p.version = s.version;
  return p;
}

void write_pack(const fs::path& pack, const PackParts& parts, const Digest* stale_identity) {
  const uint64_t meta_offset = kDataStart + parts.data.size();
  std::string meta = encode_metadata(meta_offset, parts.blocks, parts.pages, parts.index, parts.bases, parts.version);
  PackEnds ends;
  ends.version = parts.version;
  ends.meta_offset = meta_offset;
  ends.identity = stale_identity ? *stale_identity : sha256(meta.data(), meta.size());
  std::string head = encode_header(ends);
  head.resize(kDataStart, '\0');
  write_file(pack, head + parts.data + meta + encode_trailer(ends));
}

void rewrite_index(const fs::path& pack, const std::string& sql) {
  PackParts p = split_pack(pack);
  fs::path db = pack.string() + ".index-edit";
  write_file(db, p.index);
  sqlite3* h = nullptr;
  if (sqlite3_open(db.c_str(), &h) != SQLITE_OK) throw std::runtime_error("cannot open index copy");
  char* err = nullptr;
  int rc = sqlite3_exec(h, ("PRAGMA writable_schema=ON; " + sql).c_str(), nullptr, nullptr, &err);
  std::string msg = err ? err : "";
  sqlite3_free(err);
  sqlite3_close(h);
  if (rc != SQLITE_OK) {
    unlink(db.c_str());
    throw std::runtime_error("index edit failed: " + msg);
  }
  p.index = read_file(db);
  unlink(db.c_str());
  if (p.index.size() % kIndexPageSize) p.index.resize((p.index.size() / kIndexPageSize + 1) * kIndexPageSize, '\0');
  write_pack(pack, p);
}

std::map<uint32_t, std::set<std::string>> base_blocks_used(const Pack& delta, uint16_t base) {
  std::map<uint32_t, std::set<std::string>> out;
  walk_pack(delta, [&](const std::string& path, const Stat& st) {
    if (!S_ISREG(st.mode)) return;
    auto f = delta.layout(st.ino);
    for (auto& c : f->chunks) {
      const BlockEntry& e = delta.block_entry(c.block);
      if (e.base == base) out[uint32_t(e.offset)].insert(path);
    }
  });
  return out;
}

std::set<std::string> damage_base_block(const fs::path& delta_file, const fs::path& base_file,
                                        std::set<std::string>* all_from_base) {
  auto used = base_blocks_used(*Pack::open(delta_file), 1);
  if (used.empty()) throw std::runtime_error(delta_file.string() + " uses no block of its base");
  uint32_t victim = used.begin()->first;
  for (auto& [id, files] : used) {
    if (files.size() < used[victim].size()) victim = id;
    if (all_from_base) all_from_base->insert(files.begin(), files.end());
  }
  const BlockEntry e = Pack::open(base_file)->block_entry(victim);
  xor_byte(base_file, e.offset + e.stored_size / 2, 0xff);
  return used[victim];
}

}  // namespace kso::test
