// The format is a contract: a fixed tree built with fixed settings gives
// pinned bytes; fixed input gives pinned chunk boundaries; builds are
// reproducible whatever the thread count; the v2 pack, the v3 packs (a
// pack and a delta on it) and the v4 pack (--profile max: executable filters)
// kept in tests/data are read by this and every later kso; and docs/FORMAT.md
// matches the code's field tables, constants, schema and meta keys.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "index/write/chunker.h"
#include "index/exec_filter.h"
#include "index/format.h"
#include "index/hash.h"
#include "index/pack_index_file.h"
#include "index/pack_open.h"
#include "index/pack_reader.h"
#include "index/internal/schema.h"
#include "index/time_ns.h"
#include "index/verify.h"
#include "tests/support/testutil.h"
#include "tests/support/tree_gen.h"

namespace kso {
namespace {

using namespace kso::test;

constexpr int64_t kGoldenEpoch = 1700000000;  // SOURCE_DATE_EPOCH of the golden builds

// The pinned bytes, per library versions that write them (docs/FORMAT.md,
// "Reproducible builds"). A format change must fail here; a new SQLite or
// zstd may too, and then gets a pin of its own once checked.
struct Pin {
  int sqlite;              // SQLITE_VERSION_NUMBER
  unsigned zstd;           // ZSTD_versionNumber()
  const char* pack_sha256; // of the whole pack file
  const char* identity;
  const char* delta_sha256;  // of the delta on it (golden_delta_tree)
};
// The v4 pack (golden tree plus synthetic x86-64 and AArch64 ELF files,
// built with max_profile): pins per library versions, as above.
struct MaxPin {
  int sqlite;
  unsigned zstd;
  const char* pack_sha256;
  const char* identity;
};
constexpr MaxPin kMaxPins[] = {
    {3040001, 10504, "156f90de752ded21f5b67b2d704bf768c3b52e576928638e9cc0ff42952f4d5e", "06673598c3273bae52fd0c25e163501309f1cfbbb42879c0bd5996539f74a779"},  // Debian 12
};
constexpr Pin kPins[] = {
    {3040001, 10504, "d212ba224babc63c3e33f1a0fc4ea070513ae33d9f1e2d241affdad69c97bf7b",
     "3b08ad85500369f2c5f6936b8e08764a1c1aa3008c9ad9b87809f3fbd4238383",
     "5de75f89f64c7af509e34a89cbacfa52e61f7fccf40b391cd4a21699d88719fc"},  // Debian 12
};
// The fixtures are these packs as kso wrote them when their version was new
// (KSO_GOLDEN_OUT=DIR makes the test copy golden.kso and golden-delta.kso it
// builds into DIR); they are never rewritten: a new version adds fixtures of
// its own. Their identities:
constexpr const char* kV2FixtureIdentity = "132cab8b8cb0ebcd1e7e5c0a3e3cd48fb2ddb368959a36cd05650e41e832781a";
constexpr const char* kV3FixtureIdentity = "3b08ad85500369f2c5f6936b8e08764a1c1aa3008c9ad9b87809f3fbd4238383";
constexpr const char* kV3DeltaFixtureIdentity = "59815a26c838d29223cdf11738d0953ec76b8db0e18c1ca03269d509128a8a9e";
constexpr const char* kV4FixtureIdentity = "06673598c3273bae52fd0c25e163501309f1cfbbb42879c0bd5996539f74a779";

fs::path golden_src() { return fs::path(KSO_SOURCE_DIR) / "tests" / "data" / "golden"; }
fs::path v2_fixture() { return fs::path(KSO_SOURCE_DIR) / "tests" / "data" / "v2" / "golden.kso"; }
fs::path v3_fixtures() { return fs::path(KSO_SOURCE_DIR) / "tests" / "data" / "v3"; }
fs::path v4_fixture() { return fs::path(KSO_SOURCE_DIR) / "tests" / "data" / "v4" / "golden-max.kso"; }

// The golden tree: tests/data/golden plus generated files (random bytes, an
// empty dir, a hardlink: what git cannot hold), with modes and mtimes set so
// no checkout or umask changes them.
void make_golden_tree(const fs::path& dir) {
  fs::copy(golden_src(), dir, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
  write_file(dir / "gen" / "random.bin", random_bytes(150000, 7));
  std::string text;
  for (int i = 0; text.size() < 100000; i++) text += "line " + std::to_string(i % 97) + " of generated text\n";
  write_file(dir / "gen" / "text.txt", text);
  fs::create_directories(dir / "gen" / "empty");
  if (link((dir / "gen" / "text.txt").c_str(), (dir / "gen" / "hardlink").c_str()) != 0)
    throw std::runtime_error("link");
  auto tree = scan_tree(dir, false);
  int64_t i = 0;
  for (auto it = tree.rbegin(); it != tree.rend(); ++it, i++) {  // children before parents
    fs::path p = it->first.empty() ? dir : dir / it->first;
    uint32_t mode = it->second.mode;
    if (!S_ISLNK(mode)) chmod(p.c_str(), S_ISDIR(mode) ? 0755 : it->first == "bin/run.sh" ? 0755 : 0644);
    set_mtime_ns(p, (1600000000 + i) * kNsPerSec + i * 1000);
  }
}

// The golden tree after an "upgrade": one file changed in its middle, one
// added, one removed. A delta of it on the golden pack pins the v3 additions.
void make_golden_delta_tree(const fs::path& dir) {
  make_golden_tree(dir);
  std::string r = random_bytes(150000, 7);
  for (size_t i = 70000; i < 71000; i++) r[i] = char(~r[i]);
  write_file(dir / "gen" / "random.bin", r);
  write_file(dir / "gen" / "added.bin", random_bytes(40000, 9));
  fs::remove(dir / "gen" / "hardlink");
  for (const char* f : {"gen/random.bin", "gen/added.bin", "gen"})
    set_mtime_ns(dir / f, 1690000000 * kNsPerSec);
}

// The golden tree plus two synthetic executables: an ELF header naming
// EM_X86_64 or EM_AARCH64, then "code" whose calls (x86 E8 rel32, ARM64 BL and
// ADRP) go to a few fixed targets, so the filters make them repeat.
void make_golden_max_tree(const fs::path& dir) {
  make_golden_tree(dir);
  auto elf = [](uint16_t machine) {
    std::string h(64, '\0');
    h[0] = 0x7f, h[1] = 'E', h[2] = 'L', h[3] = 'F', h[4] = 2, h[5] = 1, h[6] = 1;
    h[16] = 3;  // ET_DYN
    h[18] = char(machine & 0xff), h[19] = char(machine >> 8);
    return h;
  };
  auto put32 = [](std::string& s, uint32_t v) {
    for (int i = 0; i < 4; i++) s += char(v >> (8 * i));
  };
  uint64_t x = 0x6b736f2d62636a31;  // splitmix-like, fixed
  auto next = [&] {
    x += 0x9e3779b97f4a7c15;
    uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
    return z ^ (z >> 27);
  };
  std::string a = elf(62);
  while (a.size() < 90000) {
    for (uint64_t n = next() % 8; n; n--) a += char(0x40 + next() % 8);  // filler
    a += char(0xE8);
    uint32_t target = 0x1000 + uint32_t(next() % 16) * 0x400;
    put32(a, target - uint32_t(a.size() + 4));
  }
  std::string b = elf(183);
  while (b.size() < 90000) {
    uint32_t pc = uint32_t(b.size()), r = uint32_t(next() % 4);
    if (r == 0) put32(b, 0x94000000 | (((0x2000 + uint32_t(next() % 16) * 0x100 - pc) >> 2) & 0x03FFFFFF));  // BL
    else if (r == 1) {                                                              // ADRP x1, page
      uint32_t imm = (uint32_t(next() % 8) + 0x40 - (pc >> 12)) & 0x1FFFFF;
      put32(b, 0x90000001 | (imm & 3) << 29 | (imm >> 2) << 5);
    } else put32(b, 0xd503201f);  // NOP
  }
  write_file(dir / "bin" / "tool-amd64", a);
  write_file(dir / "bin" / "tool-arm64", b);
  for (const char* f : {"bin/tool-amd64", "bin/tool-arm64", "bin"}) set_mtime_ns(dir / f, 1690000000 * kNsPerSec);
}

WriterOptions golden_options(unsigned threads, size_t pending) {
  WriterOptions o;
  o.level = 3;
  o.block_size = 64 * 1024;
  o.raw_block_size = 64 * 1024;
  o.chunk = small_chunks();
  o.threads = threads;
  o.max_pending_blocks = pending;
  o.created_unix = kGoldenEpoch;  // what `kso-pack build` passes for SOURCE_DATE_EPOCH=kGoldenEpoch
  return o;
}

TEST(PackGolden, FixedTreeGivesPinnedBytes) {
  TempDir tmp("kso-golden");
  make_golden_tree(tmp / "tree");
  BuildStats s = build_pack(tmp / "p.kso", {{".", tmp / "tree"}}, golden_options(1, 1));
  const std::string sha = sha256_file_hex(tmp / "p.kso"), id = to_hex(s.identity);
  // The delta: the changed tree on the pack just built.
  make_golden_delta_tree(tmp / "tree2");
  WriterOptions dopt = golden_options(1, 1);
  dopt.bases = {Pack::open(tmp / "p.kso")};
  dopt.base_names = {"golden.kso"};
  BuildStats ds = build_pack(tmp / "d.kso", {{".", tmp / "tree2"}}, dopt);
  const std::string dsha = sha256_file_hex(tmp / "d.kso");
  if (const char* out = getenv("KSO_GOLDEN_OUT")) {
    fs::copy_file(tmp / "p.kso", fs::path(out) / "golden.kso", fs::copy_options::overwrite_existing);
    fs::copy_file(tmp / "d.kso", fs::path(out) / "golden-delta.kso", fs::copy_options::overwrite_existing);
  }
  const Pin* pin = nullptr;
  for (auto& p : kPins)
    if (p.sqlite == sqlite3_libversion_number() && p.zstd == ZSTD_versionNumber()) pin = &p;
  ASSERT_NE(pin, nullptr) << "no golden pin for SQLite " << sqlite3_libversion() << " / zstd " << ZSTD_versionString()
                          << ": this pack is sha256 " << sha << ", identity " << id << ", the delta sha256 " << dsha
                          << ". Check nothing but the library changed (FORMAT.md, 'Reproducible builds'), then add "
                             "a pin.";
  EXPECT_EQ(sha, pin->pack_sha256) << "the pack's bytes moved: bump the format version, update docs/FORMAT.md and "
                                      "the pins together (identity now "
                                   << id << ")";
  EXPECT_EQ(id, pin->identity);
  EXPECT_EQ(dsha, pin->delta_sha256) << "the delta's bytes moved: bump the format version, update docs/FORMAT.md "
                                        "and the pins together";
  // The trees they hold are the trees they were given; the delta stores
  // only what the pack lacks (less than the changed and added files).
  auto pk = Pack::open(tmp / "p.kso");
  EXPECT_EQ(pack_listing(*pk), tree_listing(tmp / "tree"));
  auto dk = open_pack(tmp / "d.kso");
  EXPECT_EQ(pack_listing(*dk), tree_listing(tmp / "tree2"));
  EXPECT_GT(ds.chunks_from_bases, 0u);
  EXPECT_GT(ds.bytes_stored, 0u);
  EXPECT_LT(ds.bytes_stored, 40000u + 150000u);
  EXPECT_GT(s.blocks_raw, 0u);  // both codecs and both streams are pinned
  EXPECT_LT(s.blocks_raw, s.blocks);
  EXPECT_GT(s.files_deduped, 0u);
}

// v4: the max profile's filtered blocks, pinned like the v3 pack above.
TEST(PackGolden, MaxProfileGivesPinnedBytes) {
  TempDir tmp("kso-golden-max");
  make_golden_max_tree(tmp / "tree");
  WriterOptions o = golden_options(1, 1);
  o.max_profile = true;
  BuildStats s = build_pack(tmp / "p.kso", {{".", tmp / "tree"}}, o);
  o.threads = 3;
  o.max_pending_blocks = 8;
  build_pack(tmp / "q.kso", {{".", tmp / "tree"}}, o);
  const std::string sha = sha256_file_hex(tmp / "p.kso"), id = to_hex(s.identity);
  EXPECT_EQ(sha256_file_hex(tmp / "q.kso"), sha) << "thread count changed the bytes";
  if (const char* out = getenv("KSO_GOLDEN_OUT"))
    fs::copy_file(tmp / "p.kso", fs::path(out) / "golden-max.kso", fs::copy_options::overwrite_existing);
  const MaxPin* pin = nullptr;
  for (auto& p : kMaxPins)
    if (p.sqlite == sqlite3_libversion_number() && p.zstd == ZSTD_versionNumber()) pin = &p;
  ASSERT_NE(pin, nullptr) << "no golden v4 pin for SQLite " << sqlite3_libversion() << " / zstd "
                          << ZSTD_versionString() << ": this pack is sha256 " << sha << ", identity " << id;
  EXPECT_EQ(sha, pin->pack_sha256) << "the v4 pack's bytes moved: bump the format version, update docs/FORMAT.md "
                                      "and the pins together (identity now "
                                   << id << ")";
  EXPECT_EQ(id, pin->identity);
  auto pk = Pack::open(tmp / "p.kso");
  EXPECT_EQ(pk->version(), 4u);
  EXPECT_EQ(pack_listing(*pk), tree_listing(tmp / "tree"));
  std::map<uint8_t, int> filters;
  for (uint32_t i = 0; i < pk->block_count(); i++) filters[pk->block_entry(i).filter]++;
  EXPECT_GT(filters[uint8_t(ExecFilter::X86)], 0);  // both filters are pinned
  EXPECT_GT(filters[uint8_t(ExecFilter::Arm64)], 0);
  EXPECT_GT(filters[0], 0);
}

TEST(PackGolden, BuildsAreReproducibleWhateverTheThreads) {
  TempDir tmp("kso-repro");
  make_golden_tree(tmp / "tree");
  // Bigger than the golden tree so several blocks are in flight at once.
  write_file(tmp / "tree" / "gen" / "more.bin", random_bytes(3u << 20, 8) + std::string(1u << 20, 'z'));
  set_mtime_ns(tmp / "tree" / "gen" / "more.bin", 1650000000 * kNsPerSec);
  build_pack(tmp / "a.kso", {{".", tmp / "tree"}}, golden_options(1, 1));
  build_pack(tmp / "b.kso", {{".", tmp / "tree"}}, golden_options(4, 16));
  EXPECT_TRUE(read_file(tmp / "a.kso") == read_file(tmp / "b.kso")) << "thread count changed the bytes";
  // Through the tool, as a site would rebuild: the same bytes again.
  const std::string bin = kso_pack_bin().string();
  for (auto [name, threads] : {std::pair{"c.kso", 1}, std::pair{"d.kso", 3}}) {
    auto r = run("SOURCE_DATE_EPOCH=" + std::to_string(kGoldenEpoch) + " " + bin + " -q build --threads " +
                 std::to_string(threads) + " -o " + (tmp / name).string() + " x=" + (tmp / "tree").string());
    ASSERT_EQ(r.status, 0) << r.output;
  }
  EXPECT_TRUE(read_file(tmp / "c.kso") == read_file(tmp / "d.kso"));
  // README's check: `kso-pack info PACK | grep identity` gives the same line for both.
  auto ic = run(bin + " info " + (tmp / "c.kso").string() + " | grep identity");
  auto id = run(bin + " info " + (tmp / "d.kso").string() + " | grep identity");
  ASSERT_EQ(ic.status, 0) << ic.output;
  EXPECT_EQ(ic.output, id.output);
  EXPECT_EQ(ic.output, "identity:      " + to_hex(Pack::open(tmp / "c.kso")->identity()) + "\n");
  // mtimes after SOURCE_DATE_EPOCH are clamped to it; earlier ones kept.
  set_mtime_ns(tmp / "tree" / "gen" / "more.bin", (kGoldenEpoch + 1000) * kNsPerSec);
  build_pack(tmp / "e.kso", {{".", tmp / "tree"}}, golden_options(2, 4));
  auto pk = Pack::open(tmp / "e.kso");
  EXPECT_EQ(pack_stat(*pk, "gen/more.bin").mtime_ns, kGoldenEpoch * kNsPerSec);
  EXPECT_EQ(pack_stat(*pk, "README.md").mtime_ns, Pack::open(tmp / "a.kso")->lookup_path("README.md")->mtime_ns);
  auto meta = pk->meta();
  std::map<std::string, std::string> m(meta.begin(), meta.end());
  EXPECT_EQ(m[kMetaCreated], std::to_string(kGoldenEpoch));
}

// Cut points depend on the gear table, the masks and the sizes only: pinned.
TEST(PackGolden, ChunkBoundariesArePinned) {
  auto cuts = [](const ChunkerParams& p, const std::string& data) {
    std::vector<size_t> v;
    const auto* d = reinterpret_cast<const uint8_t*>(data.data());
    for (size_t pos = 0; pos < data.size();) {
      size_t n = find_chunk_boundary(p, d + pos, data.size() - pos, true);
      pos += n;
      v.push_back(pos);
    }
    return v;
  };
  auto digest = [](const std::vector<size_t>& v) {
    std::string s;
    for (size_t x : v) s += std::to_string(x) + ",";
    return sha256_hex(s).substr(0, 16);
  };
  const std::string data = random_bytes(2u << 20, 42);
  auto def = cuts(ChunkerParams{}, data);
  auto small = cuts(small_chunks(), data.substr(0, 256 * 1024));
  ASSERT_GE(def.size(), 5u);
  ASSERT_GE(small.size(), 5u);
  EXPECT_EQ(std::vector<size_t>(def.begin(), def.begin() + 5),
            (std::vector<size_t>{78154, 144905, 211400, 284832, 375275}));
  EXPECT_EQ(def.size(), 33u);
  EXPECT_EQ(digest(def), "f888c98a26de3c4e");  // of every cut offset
  EXPECT_EQ(std::vector<size_t>(small.begin(), small.begin() + 5), (std::vector<size_t>{5223, 10539, 14711, 19312, 24084}));
  EXPECT_EQ(small.size(), 57u);
  EXPECT_EQ(digest(small), "83531e9834b92823");
}

// Packs live at sites for years: the v2 pack written when v2 was new still
// opens, verifies, and holds exactly the golden tree.
TEST(PackGolden, V2FixtureIsReadForever) {
  ASSERT_TRUE(fs::exists(v2_fixture())) << v2_fixture();
  TempDir tmp("kso-v2fix");
  make_golden_tree(tmp / "tree");
  auto pk = Pack::open(v2_fixture());
  EXPECT_EQ(pk->version(), 2u);
  EXPECT_EQ(to_hex(pk->identity()), kV2FixtureIdentity);
  EXPECT_EQ(compute_identity(*pk), pk->identity());
  EXPECT_EQ(pack_listing(*pk), tree_listing(tmp / "tree"));
  auto r = kso_pack_words("verify " + v2_fixture().string());
  EXPECT_EQ(r.status, 0) << r.output;
  r = kso_pack_words("extract " + v2_fixture().string() + " " + (tmp / "out").string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(compare_trees(tmp / "tree", tmp / "out").empty());
}

// The v3 pack and the delta on it, as kso wrote them when v3 was new: the
// delta finds its base next to it by identity, under a new name too, and
// both read, verify and extract to their trees.
TEST(PackGolden, V3FixturesAreReadForever) {
  TempDir tmp("kso-v3fix");
  make_golden_tree(tmp / "tree");
  make_golden_delta_tree(tmp / "tree2");
  auto pk = Pack::open(v3_fixtures() / "golden.kso");
  EXPECT_EQ(pk->version(), 3u);
  EXPECT_EQ(to_hex(pk->identity()), kV3FixtureIdentity);
  EXPECT_EQ(compute_identity(*pk), pk->identity());
  EXPECT_EQ(pack_listing(*pk), tree_listing(tmp / "tree"));
  auto dk = open_pack(v3_fixtures() / "golden-delta.kso");
  EXPECT_EQ(to_hex(dk->identity()), kV3DeltaFixtureIdentity);
  ASSERT_EQ(dk->bases().size(), 1u);
  EXPECT_EQ(to_hex(dk->bases()[0].identity), kV3FixtureIdentity);
  EXPECT_EQ(pack_listing(*dk), tree_listing(tmp / "tree2"));
  fs::create_directories(tmp / "site");
  fs::copy_file(v3_fixtures() / "golden.kso", tmp / "site" / "renamed-base.kso");
  fs::copy_file(v3_fixtures() / "golden-delta.kso", tmp / "site" / "new.kso");
  for (const fs::path& p : {v3_fixtures() / "golden.kso", tmp / "site" / "new.kso"}) {
    auto r = kso_pack_words("verify " + p.string());
    EXPECT_EQ(r.status, 0) << r.output;
  }
  auto r = kso_pack_words("extract " + (tmp / "site" / "new.kso").string() + " " + (tmp / "out").string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(compare_trees(tmp / "tree2", tmp / "out").empty());
}

// The v4 pack as kso wrote it when v4 was new: filtered blocks of both
// architectures read back, verify and extract to their tree.
TEST(PackGolden, V4FixtureIsReadForever) {
  ASSERT_TRUE(fs::exists(v4_fixture())) << v4_fixture();
  TempDir tmp("kso-v4fix");
  make_golden_max_tree(tmp / "tree");
  auto pk = Pack::open(v4_fixture());
  EXPECT_EQ(pk->version(), 4u);
  EXPECT_EQ(to_hex(pk->identity()), kV4FixtureIdentity);
  EXPECT_EQ(compute_identity(*pk), pk->identity());
  EXPECT_EQ(pack_listing(*pk), tree_listing(tmp / "tree"));
  std::set<uint8_t> filters;
  for (uint32_t i = 0; i < pk->block_count(); i++) filters.insert(pk->block_entry(i).filter);
  EXPECT_EQ(filters, (std::set<uint8_t>{0, 1, 2}));
  auto r = kso_pack_words("verify " + v4_fixture().string());
  EXPECT_EQ(r.status, 0) << r.output;
  r = kso_pack_words("extract " + v4_fixture().string() + " " + (tmp / "out").string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(compare_trees(tmp / "tree", tmp / "out").empty());
}

// ---- docs/FORMAT.md against the code ----

struct DocRow {
  std::vector<std::string> cells;
};

std::string trim(std::string s) {
  while (!s.empty() && isspace((unsigned char)s.back())) s.pop_back();
  size_t i = 0;
  while (i < s.size() && isspace((unsigned char)s[i])) i++;
  return s.substr(i);
}

// The rows of the first table after the heading that starts with `heading`.
std::vector<DocRow> doc_table(const std::string& doc, const std::string& heading) {
  std::istringstream in(doc);
  std::vector<DocRow> rows;
  bool found = false, in_table = false;
  int row = 0;
  for (std::string line; std::getline(in, line);) {
    if (!found) {
      found = line.rfind(heading, 0) == 0;
      continue;
    }
    if (line.rfind("|", 0) != 0) {
      if (in_table) break;
      if (line.rfind("#", 0) == 0) break;  // next section, no table
      continue;
    }
    in_table = true;
    if (row++ < 2) continue;  // header and separator
    DocRow r;
    std::string cell;
    std::istringstream cells(line.substr(1));
    while (std::getline(cells, cell, '|')) r.cells.push_back(trim(cell));
    rows.push_back(r);
  }
  EXPECT_TRUE(found) << "FORMAT.md has no heading '" << heading << "'";
  return rows;
}

std::string ticked(const std::string& cell) {  // the first `code` in a cell
  size_t a = cell.find('`'), b = cell.find('`', a + 1);
  return a == std::string::npos || b == std::string::npos ? "" : cell.substr(a + 1, b - a - 1);
}

std::string format_doc() { return read_file(fs::path(KSO_SOURCE_DIR) / "docs" / "FORMAT.md"); }

template <size_t N>
void expect_fields(const std::string& doc, const std::string& heading, const Field (&fields)[N], size_t total) {
  SCOPED_TRACE(heading);
  auto rows = doc_table(doc, heading);
  ASSERT_EQ(rows.size(), N);
  uint32_t at = 0;
  for (size_t i = 0; i < N; i++) {
    ASSERT_GE(rows[i].cells.size(), 3u);
    EXPECT_EQ(rows[i].cells[0], std::to_string(fields[i].offset)) << fields[i].name;
    EXPECT_EQ(rows[i].cells[1], std::to_string(fields[i].size)) << fields[i].name;
    EXPECT_EQ(ticked(rows[i].cells[2]), fields[i].name);
    EXPECT_EQ(fields[i].offset, at) << fields[i].name << ": fields must tile the structure";
    at += fields[i].size;
  }
  EXPECT_EQ(at, total);
}

TEST(PackGolden, FormatDocMatchesTheCode) {
  const std::string doc = format_doc();
  expect_fields(doc, "## Header", hdr::all, kHeaderSize);
  expect_fields(doc, "## Trailer", trl::all, kTrailerSize);
  expect_fields(doc, "## Superblock", sb::all, kSuperblockSize);
  expect_fields(doc, "## Block table entry", blk::all, kBlockEntrySize);
  expect_fields(doc, "## Base table entry", bse::all, kBaseEntrySize);
  expect_fields(doc, "### Index file header", kidx::all, kKidxHeaderSize);

  const std::map<std::string, uint64_t> constants = {
      {"kFormatVersion", kFormatVersion}, {"kOldestReadableVersion", kOldestReadableVersion},
      {"kPlainFormatVersion", kPlainFormatVersion}, {"kMaxFilter", kMaxFilter},
      {"kHeaderSize", kHeaderSize},       {"kTrailerSize", kTrailerSize},
      {"kSuperblockSize", kSuperblockSize}, {"kBlockEntrySize", kBlockEntrySize},
      {"kDataStart", kDataStart},         {"kIndexAlign", kIndexAlign},
      {"kIndexPageSize", kIndexPageSize}, {"kRawPageSize", kRawPageSize},
      {"kMaxBlockSize", kMaxBlockSize},   {"kChunkRecordSize", kChunkRecordSize},
      {"kBaseEntrySize", kBaseEntrySize}, {"kMaxBases", kMaxBases},
  };
  auto rows = doc_table(doc, "## Constants");
  std::map<std::string, uint64_t> documented;
  for (auto& r : rows) documented[ticked(r.cells.at(0))] = std::stoull(r.cells.at(1));
  EXPECT_EQ(documented, constants);

  // The schema, to the byte.
  size_t at = doc.find("```sql\n");
  ASSERT_NE(at, std::string::npos);
  size_t end = doc.find("```", at + 7);
  EXPECT_EQ(doc.substr(at + 7, end - at - 7), std::string(kIndexSchema).substr(1));

  // Every meta key with its type.
  std::map<std::string, std::string> keys;
  for (auto& r : doc_table(doc, "### meta")) keys[ticked(r.cells.at(0))] = r.cells.at(1);
  std::map<std::string, std::string> want{{kMetaOrder, "text"}, {kMetaProfile, "text"}, {kMetaSourceUrls, "JSON"}};
  for (const char* k : kMetaIntegerKeys) want[k] = "integer";
  EXPECT_EQ(keys, want);
  // The identity marks of the index.
  char id[16];
  snprintf(id, sizeof id, "0x%08X", unsigned(kIndexApplicationId));
  EXPECT_NE(doc.find(id), std::string::npos) << id;
}

}  // namespace
}  // namespace kso
