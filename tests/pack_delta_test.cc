// Delta packs (format v3, issue 10) through the library and kso-pack run
// in-process: a delta stores exactly the chunks its bases lack, reads as the
// full new tree, merges to the bytes a fresh build gives, builds the same
// from a .kidx as from the pack, and refuses missing, wrong, damaged,
// duplicated and cyclic bases with one line naming them.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "index/error.h"
#include "index/sha256.h"
#include "index/pack_open.h"
#include "index/pack_reader.h"
#include "index/internal/schema.h"
#include "tests/support/pack_surgery.h"
#include "tests/support/testutil.h"
#include "tests/support/tree_gen.h"
#include "tools/pack_report.h"

namespace kso {
namespace {

using namespace kso::test;
using nlohmann::json;

// The chunks table: digest (hex) -> {block, offset, length}.
struct ChunkRow {
  uint32_t block, offset, length;
};
std::map<std::string, ChunkRow> chunk_rows(const Pack& p) {
  std::map<std::string, ChunkRow> out;
  for (auto& r : p.query_rows("SELECT sha256, block, offset, length FROM chunks", 4))
    out[to_hex(reinterpret_cast<const uint8_t*>(r[0].data()), r[0].size())] = {
        uint32_t(std::stoul(r[1])), uint32_t(std::stoul(r[2])), uint32_t(std::stoul(r[3]))};
  return out;
}

// Sums over the block entries a pack stores itself (base == 0).
struct OwnBlocks {
  uint64_t count = 0, stored = 0, raw = 0;
};
OwnBlocks own_blocks(const Pack& p) {
  OwnBlocks o;
  for (uint32_t i = 0; i < p.block_count(); i++) {
    const BlockEntry& e = p.block_entry(i);
    if (e.base) continue;
    o.count++;
    o.stored += e.stored_size;
    o.raw += e.raw_size;
  }
  return o;
}

// The error open_pack gives, "" if it opens.
std::string open_pack_error(const fs::path& p, const BaseSearch& s = {}) {
  try {
    open_pack(p, s);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// A failed kso-pack run: exit 1, and stderr is exactly one error line holding
// every one of `want`.
void expect_one_error_line(const ToolResult& r, const std::vector<std::string>& want) {
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(one_line_error(r.err, "kso-pack: error: ", want), "");
}

// Most tests share the version packs (tree_gen.h): OLD (v0) and DELTA (v1 on
// OLD) side by side, V2 (v2 on DELTA) next to them, NEW (v1, full) apart.
class DeltaPack : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NO_THROW(w_ = &version_packs()); }
  // The delta with its base attached (found next to it).
  std::shared_ptr<Pack> delta() const { return open_pack(w_->delta); }

  const VersionPacks* w_ = nullptr;
  TempDir tmp_{"kso-delta-case"};
};

TEST_F(DeltaPack, StoresExactlyTheChunksTheBaseLacks) {
  auto old_p = Pack::open(w_->old_pack), d = Pack::open(w_->delta), full = Pack::open(w_->full_new);
  auto old_chunks = chunk_rows(*old_p), d_chunks = chunk_rows(*d), full_chunks = chunk_rows(*full);
  ASSERT_EQ(d->bases().size(), 1u);
  EXPECT_EQ(d->bases()[0].identity, old_p->identity());
  EXPECT_EQ(d->bases()[0].pack_size, old_p->file_size());
  EXPECT_EQ(d->bases()[0].name, "OLD.kso");

  // The delta's index lists every chunk of the new tree: those a full build finds.
  std::set<std::string> d_set, full_set;
  for (auto& [k, _] : d_chunks) d_set.insert(k);
  for (auto& [k, _] : full_chunks) full_set.insert(k);
  EXPECT_EQ(d_set, full_set);

  uint64_t new_bytes = 0, shared = 0, fresh = 0;
  for (auto& [digest, c] : d_chunks) {
    SCOPED_TRACE("chunk " + digest);
    const BlockEntry& e = d->block_entry(c.block);
    auto in_old = old_chunks.find(digest);
    if (in_old == old_chunks.end()) {
      EXPECT_EQ(e.base, 0) << "a chunk the base lacks must be stored in the delta";
      new_bytes += c.length;
      fresh++;
      continue;
    }
    shared++;
    ASSERT_EQ(e.base, 1) << "a chunk the base holds must not be stored again";
    // It names the very block and offset of the base, with the base's checksums.
    EXPECT_EQ(e.offset, in_old->second.block);
    EXPECT_EQ(c.offset, in_old->second.offset);
    EXPECT_EQ(c.length, in_old->second.length);
    EXPECT_TRUE(same_block_content(e, old_p->block_entry(in_old->second.block)));
  }
  EXPECT_GT(shared, 50u);
  EXPECT_GT(fresh, 3u);

  // The delta's own blocks hold exactly those chunks: raw bytes equal, and
  // they tile its data region.
  OwnBlocks own = own_blocks(*d);
  EXPECT_EQ(own.raw, new_bytes);
  EXPECT_EQ(d->meta_offset() - kDataStart, own.stored);
  // The new chunks are at least the added random file (incompressible, absent
  // from OLD) and far less than the tree.
  const uint64_t added_random = fs::file_size(w_->v1 / "data/added-1/new.bin");
  EXPECT_GE(new_bytes, added_random);
  EXPECT_LT(own.stored, (fs::file_size(w_->old_pack) - kDataStart) / 5);
  // Less than a full build by about what the base holds.
  EXPECT_LT(fs::file_size(w_->delta) * 4, fs::file_size(w_->full_new));
}

TEST_F(DeltaPack, UnchangedRebuildStoresNoData) {
  SourceDateEpoch e(kVersionEpoch);
  fs::path same = tmp_ / "SAME.kso";
  build_version_pack(same, w_->v0, {"--base", w_->old_pack.string()});
  auto p = Pack::open(same);
  EXPECT_EQ(p->meta_offset(), kDataStart) << "an unchanged tree needs no data blocks";
  EXPECT_EQ(own_blocks(*p).count, 0u);
  ASSERT_GT(p->block_count(), 0u);
  for (uint32_t i = 0; i < p->block_count(); i++) EXPECT_EQ(p->block_entry(i).base, 1) << "block " << i;
  // Its blocks are the base's blocks it uses: every chunk of OLD.
  auto base_chunks = chunk_rows(*Pack::open(w_->old_pack));
  auto chunks = chunk_rows(*p);
  EXPECT_EQ(chunks.size(), base_chunks.size());
  // And it reads as v0.
  fs::copy_file(w_->old_pack, tmp_ / "OLD.kso");
  EXPECT_EQ(pack_listing(*open_pack(same)), tree_listing(w_->v0));
}

TEST_F(DeltaPack, ReadsAsTheFullNewTree) {
  // Bases found next to the delta, and given by path from elsewhere.
  EXPECT_EQ(pack_listing(*delta()), tree_listing(w_->v1));
  fs::copy_file(w_->delta, tmp_ / "d.kso");
  BaseSearch given;
  given.paths = {w_->old_pack};
  EXPECT_EQ(pack_listing(*open_pack(tmp_ / "d.kso", given)), tree_listing(w_->v1));
  // Hardlinks keep their link counts.
  auto d = delta();
  EXPECT_EQ(pack_stat(*d, "data/hard/a").nlink, 3u);
  EXPECT_EQ(pack_stat(*d, "data/hard/x").nlink, 2u);
  EXPECT_EQ(pack_stat(*d, "data/hard/a").ino, pack_stat(*d, "data/hard/sub/c").ino);

  // Opened without its base, the tree lists, but bytes the base holds cannot be read.
  auto bare = Pack::open(w_->delta);
  EXPECT_FALSE(bare->bases_attached());
  EXPECT_EQ(pack_stat(*bare, "data/sizes/rand_1048583").size, 1048583u);
  try {
    pack_read_all(*bare, pack_stat(*bare, "data/sizes/rand_1048583").ino);
    ADD_FAILURE() << "a base's bytes were read with no base attached";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'OLD.kso'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(to_hex(bare->bases()[0].identity)), std::string::npos) << e.what();
  }
  // Its own bytes can (new.bin is stored in the delta alone).
  EXPECT_TRUE(pack_read_all(*bare, pack_stat(*bare, "data/added-1/new.bin").ino) ==
              read_file(w_->v1 / "data/added-1/new.bin"));

  // kso-pack cat and ls take deltas: a file made of base and own chunks.
  std::string cat =
      kso_pack_ok({"cat", (tmp_ / "d.kso").string(), "data/big/random.bin", "--base", w_->old_pack.string()});
  EXPECT_TRUE(cat == read_file(w_->v1 / "data/big/random.bin"));
  std::string ls = kso_pack_ok({"ls", (tmp_ / "d.kso").string(), "data/added-1"});
  EXPECT_NE(ls.find("new.bin"), std::string::npos) << ls;
}

TEST_F(DeltaPack, MergeEqualsBuildOfItsExtractedTreeAndAFreshBuild) {
  SourceDateEpoch e(kVersionEpoch);
  fs::path merged = tmp_ / "M.kso", x = tmp_ / "x", rebuilt = tmp_ / "R.kso";
  kso_pack_ok({"-q", "merge", w_->delta.string(), "-o", merged.string(), "--threads", "2"});
  kso_pack_ok({"-q", "extract", w_->delta.string(), x.string(), "--allow-escaping-symlinks"});
  EXPECT_EQ(compare_trees(w_->v1 / "data", x / "data"), std::vector<std::string>{});
  build_version_pack(rebuilt, x);
  auto m = Pack::open(merged);
  EXPECT_FALSE(m->is_delta());
  EXPECT_EQ(sha256_file_hex(merged), sha256_file_hex(rebuilt)) << "merge differs from a build of the extracted tree";
  EXPECT_EQ(sha256_file_hex(merged), sha256_file_hex(w_->full_new)) << "merge differs from a fresh build of v1";
  EXPECT_EQ(pack_listing(*m), tree_listing(w_->v1));
  // The merged pack stands alone: it reads with no base anywhere.
  fs::path alone = tmp_ / "alone";
  fs::create_directories(alone);
  fs::rename(merged, alone / "M.kso");
  EXPECT_EQ(open_pack_error(alone / "M.kso"), "");
}

TEST_F(DeltaPack, MergeKeepsTheParametersTheDeltaRecords) {
  SourceDateEpoch e(kVersionEpoch);
  const std::vector<std::string> params{"--level", "3", "--chunk", "8K/32K/128K", "--order", "similar"};
  fs::path base = tmp_ / "B.kso", d = tmp_ / "D.kso", merged = tmp_ / "M.kso", x = tmp_ / "x";
  build_version_pack(base, w_->v0, params);
  build_version_pack(d, w_->v1, {"--base", base.string()});  // parameters taken from the base
  std::map<std::string, std::string> meta;
  for (auto& [k, v] : Pack::open(d)->meta()) meta[k] = v;
  EXPECT_EQ(meta[kMetaZstdLevel], "3");
  EXPECT_EQ(meta[kMetaChunkMin], "8192");
  EXPECT_EQ(meta[kMetaChunkAvg], "32768");
  EXPECT_EQ(meta[kMetaChunkMax], "131072");
  EXPECT_EQ(meta[kMetaOrder], "similar");
  // Same chunking as its base: most of the tree comes from there.
  EXPECT_LT(own_blocks(*Pack::open(d)).raw * 4, pack_report(*open_pack(d)).totals.bytes_unique);

  kso_pack_ok({"-q", "merge", d.string(), "-o", merged.string(), "--threads", "2"});
  kso_pack_ok({"-q", "extract", d.string(), x.string(), "--allow-escaping-symlinks"});
  fs::path with_params = tmp_ / "P.kso", with_defaults = tmp_ / "F.kso";
  build_version_pack(with_params, x, params);
  build_version_pack(with_defaults, x);
  EXPECT_EQ(sha256_file_hex(merged), sha256_file_hex(with_params));
  // The parameters matter (else the line above would show nothing).
  EXPECT_NE(sha256_file_hex(with_params), sha256_file_hex(with_defaults));
}

TEST_F(DeltaPack, KidxBuildsTheSameDeltaAndIsRefusedForReading) {
  SourceDateEpoch e(kVersionEpoch);
  fs::path kidx = tmp_ / "OLD.kidx";
  kso_pack_ok({"-q", "index", w_->old_pack.string(), "-o", kidx.string()});
  // The pack's header and metadata region, behind a header of its own: no data.
  auto old_p = Pack::open(w_->old_pack);
  EXPECT_EQ(fs::file_size(kidx), 64 + kHeaderSize + (old_p->file_size() - old_p->meta_offset()));
  EXPECT_LT(fs::file_size(kidx) * 4, fs::file_size(w_->old_pack));
  ToolResult v = kso_pack({"verify", kidx.string()});
  EXPECT_EQ(v.status, 0) << v.err;
  EXPECT_NE(v.out.find("index file of pack " + to_hex(old_p->identity())), std::string::npos) << v.out;
  auto info = json::parse(kso_pack_ok({"info", "--json", kidx.string()}));
  EXPECT_EQ(info["index_only"], true);
  EXPECT_EQ(info["identity"], to_hex(old_p->identity()));

  // A delta built on the .kidx is the delta built on the pack, byte for byte.
  fs::create_directories(tmp_ / "k");
  fs::path d = tmp_ / "k" / "DELTA.kso";
  build_version_pack(d, w_->v1, {"--base", kidx.string()});
  EXPECT_EQ(sha256_file_hex(d), sha256_file_hex(w_->delta));
  EXPECT_EQ(Pack::open(d)->bases()[0].name, "OLD.kso") << "the hint names the pack, not its .kidx";

  // Reading needs the pack itself: a .kidx given as the base is refused, clearly.
  BaseSearch s;
  s.paths = {kidx};
  std::string err = open_pack_error(d, s);
  EXPECT_NE(err.find(kidx.string()), std::string::npos) << err;
  EXPECT_NE(err.find("index only"), std::string::npos) << err;
  expect_one_error_line(kso_pack({"cat", d.string(), "data/big/random.bin", "--base", kidx.string()}),
                        {kidx.string(), "index only"});
  expect_one_error_line(kso_pack({"cat", kidx.string(), "data/big/random.bin"}),
                        {kidx.string(), "index file (.kidx): it holds no file data"});
  // Next to the delta, a .kidx does not stand in for its pack either.
  fs::copy_file(kidx, tmp_ / "k" / "OLD.kidx");
  err = open_pack_error(d);
  EXPECT_NE(err.find(to_hex(old_p->identity())), std::string::npos) << err;
  EXPECT_NE(err.find("not found"), std::string::npos) << err;
}

TEST_F(DeltaPack, MissingBaseIsRefusedWithOneLine) {
  fs::path d = tmp_ / "DELTA.kso";
  fs::copy_file(w_->delta, d);
  const std::string id = to_hex(Pack::open(w_->old_pack)->identity());
  std::string err = open_pack_error(d);
  EXPECT_NE(err.find("'OLD.kso'"), std::string::npos) << err;
  EXPECT_NE(err.find(id), std::string::npos) << err;
  EXPECT_NE(err.find("not found"), std::string::npos) << err;
  EXPECT_EQ(err.find('\n'), std::string::npos) << err;
  expect_one_error_line(kso_pack({"cat", d.string(), "data/one_byte"}), {"'OLD.kso'", id, "not found"});
  expect_one_error_line(kso_pack({"-q", "extract", d.string(), (tmp_ / "x").string()}), {"'OLD.kso'", id});
  EXPECT_FALSE(fs::exists(tmp_ / "x")) << "extract wrote something before refusing";
  expect_one_error_line(kso_pack({"-q", "merge", d.string(), "-o", (tmp_ / "M.kso").string()}), {"'OLD.kso'", id});
  EXPECT_FALSE(fs::exists(tmp_ / "M.kso"));
  // info needs the index only: it works, and says the base is not usable.
  auto info = json::parse(kso_pack_ok({"info", "--json", d.string()}));
  std::string status = info["bases"][0]["status"];
  EXPECT_EQ(status.rfind("not usable: ", 0), 0u) << status;
  EXPECT_NE(status.find(id), std::string::npos) << status;
}

TEST_F(DeltaPack, WrongBaseUnderTheRightNameIsRefused) {
  fs::path d = tmp_ / "DELTA.kso";
  fs::copy_file(w_->delta, d);
  fs::copy_file(w_->full_new, tmp_ / "OLD.kso");  // another pack where the base should be
  const std::string want = to_hex(Pack::open(w_->old_pack)->identity());
  const std::string other = to_hex(Pack::open(w_->full_new)->identity());
  std::string err = open_pack_error(d);
  EXPECT_NE(err.find(want), std::string::npos) << err;
  EXPECT_NE(err.find((tmp_ / "OLD.kso").string() + " is another pack (identity " + other + ")"), std::string::npos)
      << err;
  EXPECT_EQ(err.find('\n'), std::string::npos) << err;
  // Given by path: the same.
  BaseSearch s;
  s.paths = {w_->full_new};
  err = open_pack_error(d, s);
  EXPECT_NE(err.find(want), std::string::npos) << err;
  EXPECT_NE(err.find(w_->full_new.string()), std::string::npos) << err;
  EXPECT_NE(err.find(other), std::string::npos) << err;
  expect_one_error_line(kso_pack({"cat", d.string(), "data/one_byte", "--base", w_->full_new.string()}),
                        {want, other, w_->full_new.string()});
}

TEST_F(DeltaPack, DamagedBaseFailsOnlyTheFilesItsBlockSupplies) {
  SourceDateEpoch e(kVersionEpoch);
  // Small blocks, so one damaged block is a small part of the base.
  fs::path base = tmp_ / "B.kso", d = tmp_ / "D.kso";
  build_version_pack(base, w_->v0, {"--block-size", "64K", "--raw-block-size", "64K", "--chunk", "4K/16K/64K"});
  build_version_pack(d, w_->v1, {"--base", base.string()});
  std::set<std::string> from_base;
  const std::set<std::string> hit = damage_base_block(d, base, &from_base);
  ASSERT_GE(hit.size(), 1u);
  ASSERT_LT(hit.size() + 20, from_base.size()) << "the base supplies many more files than the damaged block";

  auto p = open_pack(d);  // opening reads no data: the damage shows on reads
  size_t failed = 0, good_from_base = 0;
  walk_pack(*p, [&](const std::string& path, const Stat& st) {
    if (!S_ISREG(st.mode)) return;
    SCOPED_TRACE(path);
    try {
      std::string bytes = pack_read_all(*p, st.ino);
      EXPECT_FALSE(hit.count(path)) << "read a file whose bytes the damaged block holds";
      EXPECT_TRUE(bytes == read_file(w_->v1 / path)) << "wrong bytes";
      good_from_base += from_base.count(path);
    } catch (const CorruptError& err) {
      EXPECT_TRUE(hit.count(path)) << err.what();
      EXPECT_NE(std::string(err.what()).find(base.string()), std::string::npos) << "names the base: " << err.what();
      failed++;
    }
  });
  EXPECT_EQ(failed, hit.size());
  // Every other file with bytes in the base still reads (and they are many).
  EXPECT_EQ(good_from_base, from_base.size() - hit.size());
  EXPECT_GT(good_from_base, 20u);
  ToolResult v = kso_pack({"verify", d.string()});
  EXPECT_EQ(v.status, 1) << v.out << v.err;
  EXPECT_NE(v.err.find("damaged: " + base.string()), std::string::npos) << v.err;
  EXPECT_NE(v.out.find("DAMAGED: " + d.string()), std::string::npos) << v.out;
}

TEST_F(DeltaPack, ChainOfThreeResolvesThroughEveryPack) {
  SourceDateEpoch e(kVersionEpoch);
  fs::path dir = tmp_ / "chain";
  fs::create_directories(dir);
  fs::copy_file(w_->old_pack, dir / "OLD.kso");
  fs::copy_file(w_->delta, dir / "DELTA.kso");
  fs::path v2 = dir / "V2.kso";
  fs::copy_file(w_->v2_pack, v2);
  auto p = open_pack(v2);
  ASSERT_EQ(p->bases().size(), 1u);
  EXPECT_EQ(p->bases()[0].identity, Pack::open(w_->delta)->identity());
  EXPECT_EQ(pack_listing(*p), tree_listing(w_->v2));
  // Its blocks live in all three packs.
  std::map<std::string, int> homes;
  for (uint32_t i = 0; i < p->block_count(); i++) homes[fs::path(p->home(i).pack->name()).filename()]++;
  EXPECT_GT(homes["OLD.kso"], 0);
  EXPECT_GT(homes["DELTA.kso"], 0);
  EXPECT_GT(homes["V2.kso"], 0);
  EXPECT_EQ(homes.size(), 3u);
  ToolResult v = kso_pack({"verify", v2.string()});
  EXPECT_EQ(v.status, 0) << v.err;
  EXPECT_NE(v.out.find("ok: base " + (dir / "DELTA.kso").string()), std::string::npos) << v.out;
  EXPECT_NE(v.out.find("ok: base " + (dir / "OLD.kso").string()), std::string::npos) << v.out;
  // Flattened, the chain is a fresh build of v2.
  kso_pack_ok({"-q", "merge", v2.string(), "-o", (tmp_ / "M.kso").string(), "--threads", "2"});
  build_version_pack(tmp_ / "F.kso", w_->v2);
  EXPECT_EQ(sha256_file_hex(tmp_ / "M.kso"), sha256_file_hex(tmp_ / "F.kso"));
  // Without the pack in the middle, the chain is refused naming it.
  fs::remove(dir / "DELTA.kso");
  std::string err = open_pack_error(v2);
  EXPECT_NE(err.find("'DELTA.kso'"), std::string::npos) << err;
  EXPECT_NE(err.find(to_hex(p->bases()[0].identity)), std::string::npos) << err;
}

TEST_F(DeltaPack, BasesAreFoundByIdentityWhateverTheirNames) {
  fs::path dir = tmp_ / "installed";
  fs::create_directories(dir / "a-directory");
  fs::copy_file(w_->old_pack, dir / "site-install-0001.pack");
  fs::copy_file(w_->delta, dir / "whatever");
  fs::copy_file(w_->full_new, dir / "OLD.kso");  // the hint's name, on another pack
  kso_pack_ok({"-q", "index", w_->old_pack.string(), "-o", (dir / "OLD.kidx").string()});
  write_file(dir / "notes.txt", "not a pack\n");
  auto p = open_pack(dir / "whatever");
  ASSERT_NE(p->base(0), nullptr);
  EXPECT_EQ(p->base(0)->name(), (dir / "site-install-0001.pack").string());
  EXPECT_EQ(pack_listing(*p), tree_listing(w_->v1));
  auto info = json::parse(kso_pack_ok({"info", "--json", (dir / "whatever").string()}));
  EXPECT_EQ(info["bases"][0]["name"], "OLD.kso");
  EXPECT_EQ(info["bases"][0]["status"], "found: " + (dir / "site-install-0001.pack").string());
}

TEST_F(DeltaPack, DuplicateBasesAndCyclesAreRefusedAtOpen) {
  const Digest old_id = Pack::open(w_->old_pack)->identity(), delta_id = Pack::open(w_->delta)->identity();
  {  // A base table naming one identity twice.
    PackParts parts = split_pack(w_->delta);
    parts.bases.push_back(parts.bases[0]);
    parts.bases.back().name = "OLD-again.kso";
    write_pack(tmp_ / "twice.kso", parts);
    std::string err = open_error(tmp_ / "twice.kso");
    EXPECT_NE(err.find("names base " + to_hex(old_id) + " twice"), std::string::npos) << err;
  }
  {  // A delta naming itself.
    PackParts parts = split_pack(w_->delta);
    Digest self = sha256("self", 4);
    parts.bases[0].identity = self;
    write_pack(tmp_ / "self.kso", parts, &self);
    std::string err = open_error(tmp_ / "self.kso");
    EXPECT_NE(err.find("names itself as its own base"), std::string::npos) << err;
  }
  {  // A cycle: OLD rewritten to name DELTA as its base, keeping OLD's identity.
    fs::path dir = tmp_ / "cycle";
    fs::create_directories(dir);
    fs::copy_file(w_->delta, dir / "DELTA.kso");
    PackParts parts = split_pack(w_->old_pack);
    BaseEntry b;
    b.identity = delta_id;
    b.pack_size = fs::file_size(w_->delta);
    b.name = "DELTA.kso";
    parts.bases.push_back(b);
    write_pack(dir / "OLD.kso", parts, &old_id);
    EXPECT_EQ(open_error(dir / "OLD.kso"), "") << "by itself it is a well-formed pack";
    for (auto* top : {"DELTA.kso", "OLD.kso"}) {
      std::string err = open_pack_error(dir / top);
      EXPECT_NE(err.find("cycle"), std::string::npos) << top << ": " << err;
    }
  }
  {  // The same base given twice to a build, under two names.
    fs::copy_file(w_->old_pack, tmp_ / "copy.kso");
    fs::create_directories(tmp_ / "out");
    ToolResult r = kso_pack({"-q", "build", "-o", (tmp_ / "out/D.kso").string(), "--base", w_->old_pack.string(),
                             "--base", (tmp_ / "copy.kso").string(), "--allow-escaping-symlinks",
                             "data=" + (w_->v1 / "data").string()});
    expect_one_error_line(r, {"given twice"});
    EXPECT_TRUE(fs::is_empty(tmp_ / "out")) << "a refused build left a file";
  }
}

// The distinct chunk bytes of a delta, by where they are stored.
struct ChunkSplit {
  uint64_t own_bytes = 0, own_chunks = 0, base_bytes = 0;
};
ChunkSplit split_chunks(const Pack& d) {
  ChunkSplit s;
  for (auto& [digest, c] : chunk_rows(d)) {
    if (d.block_entry(c.block).base) {
      s.base_bytes += c.length;
    } else {
      s.own_bytes += c.length;
      s.own_chunks++;
    }
  }
  return s;
}

TEST_F(DeltaPack, DiffListsTheChangesAndWeighsTheDelta) {
  auto j = json::parse(kso_pack_ok({"diff", w_->old_pack.string(), w_->full_new.string(), "--json"}));
  auto paths = [&](const char* key) {
    std::set<std::string> out;
    for (auto& e : j[key]) out.insert(e["path"].get<std::string>());
    return out;
  };
  EXPECT_EQ(paths("added"), w_->c1.added);
  EXPECT_EQ(paths("removed"), w_->c1.removed);
  EXPECT_EQ(paths("changed"), w_->c1.changed);
  std::map<std::string, std::string> kind;
  for (auto& e : j["changed"]) kind[e["path"]] = e["change"];
  EXPECT_EQ(kind["data/modes/m0640"], "mode");
  EXPECT_EQ(kind["data/big/random.bin"], "content");
  EXPECT_EQ(kind["data/links/rel"], "content");
  std::map<std::string, uint64_t> added_size;
  for (auto& e : j["added"]) added_size[e["path"]] = e["size"];
  EXPECT_EQ(added_size["data/added-1/new.bin"], 200000u);
  size_t new_paths = 0;
  walk_pack(*Pack::open(w_->full_new), [&](const std::string&, const Stat&) { new_paths++; });
  EXPECT_EQ(j["unchanged"], new_paths - w_->c1.added.size() - w_->c1.changed.size());

  // The weight, against the delta actually built.
  auto d = Pack::open(w_->delta);
  ChunkSplit split = split_chunks(*d);
  const uint64_t stored = own_blocks(*d).stored;
  EXPECT_EQ(j["delta"]["new_chunk_bytes"], split.own_bytes);
  EXPECT_EQ(j["delta"]["new_chunks"], split.own_chunks);
  EXPECT_EQ(j["delta"]["same_chunking"], true);
  const double est = j["delta"]["estimated_data_bytes"].get<double>();
  EXPECT_GE(est, 0.5 * double(stored)) << "actual " << stored;
  EXPECT_LE(est, 1.5 * double(stored)) << "actual " << stored;
  EXPECT_GT(j["delta"]["estimated_pack_bytes"].get<uint64_t>(), j["delta"]["estimated_data_bytes"].get<uint64_t>());

  // From the base's .kidx, the same answer.
  kso_pack_ok({"-q", "index", w_->old_pack.string(), "-o", (tmp_ / "OLD.kidx").string()});
  auto k = json::parse(kso_pack_ok({"diff", (tmp_ / "OLD.kidx").string(), w_->full_new.string(), "--json"}));
  EXPECT_EQ(k["added"], j["added"]);
  EXPECT_EQ(k["removed"], j["removed"]);
  EXPECT_EQ(k["changed"], j["changed"]);
  EXPECT_EQ(k["delta"], j["delta"]);
}

TEST_F(DeltaPack, InfoShowsWhatEachBaseSupplies) {
  auto j = json::parse(kso_pack_ok({"info", "--json", w_->delta.string()}));
  auto old_p = Pack::open(w_->old_pack);
  ASSERT_EQ(j["bases"].size(), 1u);
  auto& b = j["bases"][0];
  EXPECT_EQ(b["identity"], to_hex(old_p->identity()));
  EXPECT_EQ(b["name"], "OLD.kso");
  EXPECT_EQ(b["pack_bytes"], old_p->file_size());
  EXPECT_EQ(b["status"], "found: " + w_->old_pack.string());
  auto d = Pack::open(w_->delta);
  ChunkSplit split = split_chunks(*d);
  EXPECT_EQ(b["supplies_bytes"], split.base_bytes);
  EXPECT_EQ(j["supplied_here_bytes"], split.own_bytes);
  EXPECT_EQ(j["supplied_here_bytes"].get<uint64_t>() + b["supplies_bytes"].get<uint64_t>(),
            j["totals"]["bytes_unique"].get<uint64_t>());
  // What the delta stores is its own blocks only.
  OwnBlocks own = own_blocks(*d);
  EXPECT_EQ(j["totals"]["bytes_stored"], own.stored);
  EXPECT_EQ(j["totals"]["blocks"], own.count);
  EXPECT_EQ(j["supplied_here_bytes"], own.raw);
  // The text form names the base and its share.
  std::string text = kso_pack_ok({"info", w_->delta.string()});
  EXPECT_NE(text.find("base 1:      OLD.kso, identity " + to_hex(old_p->identity())), std::string::npos) << text;
}

}  // namespace
}  // namespace kso
