// Executable filters (format v4, issue 13): the x86 and ARM64 BCJ transforms
// are exact inverses on any bytes and on real code, at block edges too;
// encode_block keeps a filtered frame only where it is smaller; `--profile
// max` packs real x86-64 and AArch64 binaries into filtered blocks that read
// back byte-identical (reader, tools, a kso-fs mount, merge == build); a
// crafted filter code, a filter on a raw block or in a v3 pack, a damaged
// filtered frame are refused or give EIO, never wrong bytes.
#include <gtest/gtest.h>
#include <zstd.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "index/block.h"
#include "index/error.h"
#include "index/exec_filter.h"
#include "index/format.h"
#include "index/pack_open.h"
#include "index/pack_reader.h"
#include "index/sha256.h"
#include "index/index_meta.h"
#include "index/time_ns.h"
#include "tests/support/mount_fixture.h"
#include "tests/support/pack_surgery.h"
#include "tests/support/testutil.h"
#include "tests/support/tree_gen.h"

namespace kso {
namespace {

using namespace kso::test;

std::string encoded(ExecFilter f, std::string s) {
  exec_encode(f, s.data(), s.size());
  return s;
}
std::string decoded(ExecFilter f, std::string s) {
  exec_decode(f, s.data(), s.size());
  return s;
}

// Bytes dense in what the filters touch: E8/E9 opcodes, 00/FF high bytes,
// BL and ADRP words, mixed with noise.
std::string code_like(size_t n, uint64_t seed) {
  std::mt19937_64 g(seed);
  std::string s(n, '\0');
  for (size_t i = 0; i < n; i++) {
    switch (g() % 6) {
      case 0: s[i] = char(0xE8); break;
      case 1: s[i] = char(0xE9); break;
      case 2: s[i] = char(0x00); break;
      case 3: s[i] = char(0xFF); break;
      case 4: s[i] = char(0x94 | (g() & 1 ? 0x00 : 0x90)); break;  // BL / ADRP top bytes
      default: s[i] = char(g());
    }
  }
  return s;
}

// A real binary of this machine or its cross toolchain, or "" if missing.
std::string real_binary(const std::vector<std::string>& candidates, ExecFilter want) {
  for (auto& c : candidates) {
    std::error_code ec;
    if (!fs::is_regular_file(c, ec)) continue;
    std::string b = read_file(c);
    if (elf_exec_filter(b) == want) return b;
  }
  return "";
}
const std::vector<std::string> kX86Bins = {"/usr/lib/x86_64-linux-gnu/libc.so.6", "/usr/bin/ssh", "/usr/bin/gpg",
                                           "/bin/bash"};
const std::vector<std::string> kArm64Bins = {"/usr/aarch64-linux-gnu/lib/libc.so.6",
                                             "/usr/aarch64-linux-gnu/lib/libstdc++.so.6",
                                             "/usr/lib/aarch64-linux-gnu/libc.so.6"};

size_t zstd_size(const std::string& s, int level) {
  std::string out(ZSTD_compressBound(s.size()), '\0');
  size_t n = ZSTD_compress(out.data(), out.size(), s.data(), s.size(), level);
  EXPECT_FALSE(ZSTD_isError(n));
  return n;
}

TEST(ExecFilter, DetectsElfByMachine) {
  std::string h(64, '\0');
  h[0] = 0x7f, h[1] = 'E', h[2] = 'L', h[3] = 'F', h[4] = 2, h[5] = 1;
  h[18] = 62;
  EXPECT_EQ(elf_exec_filter(h), ExecFilter::X86);
  h[18] = char(183);
  EXPECT_EQ(elf_exec_filter(h), ExecFilter::Arm64);
  h[18] = 40;  // EM_ARM (32-bit)
  EXPECT_EQ(elf_exec_filter(h), ExecFilter::None);
  h[18] = 62;
  h[4] = 1;  // ELFCLASS32
  EXPECT_EQ(elf_exec_filter(h), ExecFilter::None);
  h[4] = 2;
  h[5] = 2;  // big-endian
  EXPECT_EQ(elf_exec_filter(h), ExecFilter::None);
  h[5] = 1;
  EXPECT_EQ(elf_exec_filter(h.substr(0, 19)), ExecFilter::None);  // too short for e_machine
  EXPECT_EQ(elf_exec_filter("#!/bin/sh\necho hello world\n"), ExecFilter::None);
  EXPECT_STREQ(exec_filter_name(1), "x86");
  EXPECT_STREQ(exec_filter_name(2), "arm64");
  EXPECT_STREQ(exec_filter_name(3), "unknown");
  std::string b = "abc";
  EXPECT_THROW(exec_encode(ExecFilter(3), b.data(), b.size()), Error);
  EXPECT_THROW(exec_decode(ExecFilter(7), b.data(), b.size()), Error);
}

TEST(ExecFilter, InverseOnRandomAndCodeLikeBytesOfEveryLength) {
  for (ExecFilter f : {ExecFilter::X86, ExecFilter::Arm64}) {
    SCOPED_TRACE(exec_filter_name(uint8_t(f)));
    size_t changed = 0;
    for (size_t n = 0; n <= 64; n++)
      for (uint64_t seed = 0; seed < 8; seed++) {
        for (const std::string& x : {random_bytes(n, seed + 100 * n), code_like(n, seed + 100 * n)}) {
          std::string e = encoded(f, x);
          ASSERT_EQ(e.size(), x.size());
          ASSERT_TRUE(decoded(f, e) == x) << "length " << n << " seed " << seed;
          changed += e != x;
        }
      }
    EXPECT_GT(changed, 100u) << "the filter never changed anything";
    for (size_t n : {4095u, 4096u, 4097u, 65539u, 1u << 20}) {
      std::string x = code_like(n, n), r = random_bytes(n, n);
      EXPECT_TRUE(decoded(f, encoded(f, x)) == x) << n;
      EXPECT_TRUE(decoded(f, encoded(f, r)) == r) << n;
      EXPECT_NE(encoded(f, x), x) << n;
    }
    // None leaves bytes alone.
    std::string x = code_like(1000, 5);
    EXPECT_EQ(encoded(ExecFilter::None, x), x);
  }
}

TEST(ExecFilter, InstructionsAtTheBlockEdges) {
  // x86: a call whose 4-byte operand ends exactly at the block end is
  // converted (relative 0x10 at position 7 becomes 7+5+0x10); one that would
  // run past the end (opcode in the last 4 bytes) is left as it is.
  std::string x(16, 'A');
  x[11] = char(0xE8);  // operand bytes 12..15: the last 4 of the block
  x[12] = 0x10, x[13] = x[14] = x[15] = 0;
  std::string e = encoded(ExecFilter::X86, x);
  EXPECT_EQ(uint8_t(e[11]), 0xE8);
  EXPECT_EQ(uint8_t(e[12]), 11 + 5 + 0x10);
  EXPECT_EQ(e.substr(0, 11), x.substr(0, 11));
  EXPECT_EQ(decoded(ExecFilter::X86, e), x);
  std::string y(16, 'A');
  y[12] = char(0xE8);  // operand would be bytes 13..16: past the end
  y[13] = 0x10, y[14] = y[15] = 0;
  EXPECT_EQ(encoded(ExecFilter::X86, y), y);
  std::string tiny = "\xE8\x01\x00\x00";  // shorter than one call
  EXPECT_EQ(encoded(ExecFilter::X86, tiny), tiny);

  // ARM64: BL #0 at word 3 becomes BL #3 (absolute, in words); a trailing
  // partial word is left alone, whatever it holds.
  auto word = [](uint32_t v) { return std::string{char(v), char(v >> 8), char(v >> 16), char(v >> 24)}; };
  std::string a = word(0xd503201f) + word(0xd503201f) + word(0xd503201f) + word(0x94000000) + "\x00\x00\x94";
  std::string ae = encoded(ExecFilter::Arm64, a);
  EXPECT_EQ(ae.substr(12, 4), word(0x94000003));
  EXPECT_EQ(ae.substr(16), a.substr(16));
  EXPECT_EQ(ae.substr(0, 12), a.substr(0, 12));
  EXPECT_EQ(decoded(ExecFilter::Arm64, ae), a);
  // ADRP x0, #0 at byte 0x3000 (page 3) becomes ADRP with page 3; one far
  // outside +-512 MiB (immhi top bits mixed) is left alone.
  std::string p(0x3004, '\0');
  p.replace(0x3000, 4, word(0x90000000));
  std::string pe = encoded(ExecFilter::Arm64, p);
  EXPECT_EQ(pe.substr(0x3000, 4), word(0x90000000 | (3u << 29)));
  EXPECT_EQ(decoded(ExecFilter::Arm64, pe), p);
  std::string far = word(0x90000000 | (1u << 22));  // imm21 = 0x80000: outside the range
  EXPECT_EQ(encoded(ExecFilter::Arm64, far), far);
}

TEST(ExecFilter, InverseOnRealCodeAndSmallerUnderZstd) {
  for (auto [f, bins] : {std::pair{ExecFilter::X86, kX86Bins}, std::pair{ExecFilter::Arm64, kArm64Bins}}) {
    SCOPED_TRACE(exec_filter_name(uint8_t(f)));
    std::string b = real_binary(bins, f);
    if (b.empty()) {
      ADD_FAILURE() << "no " << exec_filter_name(uint8_t(f)) << " ELF binary on this machine (" << bins[0] << ")";
      continue;
    }
    std::string e = encoded(f, b);
    EXPECT_TRUE(decoded(f, e) == b);
    // Every block of it, as the writer filters blocks (each from position 0),
    // including a block cut at an odd offset.
    for (size_t off : {size_t(0), size_t(4093), b.size() / 2 + 1}) {
      std::string part = b.substr(off, 1u << 20);
      EXPECT_TRUE(decoded(f, encoded(f, part)) == part) << off;
    }
    EXPECT_LT(zstd_size(e, 9), zstd_size(b, 9) * 0.98) << "the filter does not help zstd on real code";
  }
}

TEST(ExecFilter, EncodeBlockKeepsTheFilterOnlyWhereSmaller) {
  std::string code = real_binary(kX86Bins, ExecFilter::X86).substr(0, 1u << 20);
  ASSERT_FALSE(code.empty());
  EncodedBlock b = encode_block(code, 3, uint8_t(ExecFilter::X86));
  EXPECT_EQ(b.codec, Codec::Zstd);
  EXPECT_EQ(b.filter, uint8_t(ExecFilter::X86));
  EXPECT_LT(b.stored.size(), encode_block(code, 3).stored.size());
  BlockEntry e{kDataStart, uint32_t(b.stored.size()), uint32_t(code.size()), b.xxh3, b.codec, b.filter};
  EXPECT_TRUE(decode_block(0, e, std::string(b.stored)) == code);
  // The same frame read as unfiltered (or with the other filter) is not the
  // block: the filter byte matters, and the block table's checksum guards it.
  BlockEntry nofilter = e;
  nofilter.filter = 0;
  EXPECT_FALSE(decode_block(0, nofilter, std::string(b.stored)) == code);
  // Incompressible bytes: raw, no filter, whatever was asked.
  std::string noise = random_bytes(1u << 18, 3);
  EncodedBlock r = encode_block(noise, 3, uint8_t(ExecFilter::Arm64));
  EXPECT_EQ(r.codec, Codec::Raw);
  EXPECT_EQ(r.filter, 0);
  // Text: the filter is tried and dropped when it does not help.
  std::string text = pseudo_text(1u << 18, 4);
  EncodedBlock t = encode_block(text, 3, uint8_t(ExecFilter::X86));
  EXPECT_EQ(t.codec, Codec::Zstd);
  EXPECT_LE(t.stored.size(), encode_block(text, 3).stored.size());
  EXPECT_THROW(encode_block(text, 3, 9), Error);
}

TEST(ExecFilter, DecodeRefusesWhatNoWriterWrites) {
  std::string code = real_binary(kArm64Bins, ExecFilter::Arm64).substr(0, 1u << 19);
  ASSERT_FALSE(code.empty());
  EncodedBlock b = encode_block(code, 3, uint8_t(ExecFilter::Arm64));
  ASSERT_EQ(b.filter, uint8_t(ExecFilter::Arm64));
  BlockEntry e{kDataStart, uint32_t(b.stored.size()), uint32_t(code.size()), b.xxh3, b.codec, b.filter};
  BlockEntry bad = e;
  bad.filter = kMaxFilter + 1;  // unknown filter code
  EXPECT_THROW(decode_stored(0, bad, std::string(b.stored)), CorruptError);
  bad = e;
  bad.raw_size += 1;  // the frame does not decode to the size the entry says
  EXPECT_THROW(decode_stored(0, bad, std::string(b.stored)), CorruptError);
  // A truncated filtered frame (sizes and checksum made to match it).
  std::string cut = b.stored.substr(0, b.stored.size() / 2);
  bad = e;
  bad.stored_size = uint32_t(cut.size());
  bad.xxh3 = xxh3(cut.data(), cut.size());
  EXPECT_THROW(decode_block(0, bad, std::string(cut)), CorruptError);
  // A raw block naming a filter.
  BlockEntry raw{kDataStart, 100, 100, 0, Codec::Raw, uint8_t(ExecFilter::X86)};
  EXPECT_THROW(decode_stored(0, raw, std::string(100, 'x')), CorruptError);
}

// ---- packs ----

// A tree of real binaries of both architectures, text, a gzip file and a
// second copy of one binary (dedup still works across filtered blocks).
void make_exec_tree(const fs::path& root) {
  std::string x86 = real_binary(kX86Bins, ExecFilter::X86), arm = real_binary(kArm64Bins, ExecFilter::Arm64);
  if (x86.empty() || arm.empty()) throw std::runtime_error("no x86-64 or aarch64 binary on this machine");
  write_file(root / "amd64" / "bin" / "tool", x86);
  write_file(root / "arm64" / "bin" / "tool", arm);
  write_file(root / "arm64" / "bin" / "tool-copy", arm);
  write_file(root / "arm64" / "bin" / "small", arm.substr(0, 3000));  // an ELF shorter than a chunk
  write_file(root / "doc" / "README", pseudo_text(300000, 9));
  write_file(root / "doc" / "data.gz", std::string("\x1f\x8b", 2) + random_bytes(200000, 10));
  write_file(root / "amd64" / "bin" / "odd", "\x7f" "ELF" + random_bytes(5000, 11));  // ELF magic, no machine
  auto tree = scan_tree(root, false);
  for (auto it = tree.rbegin(); it != tree.rend(); ++it)  // children first; before SOURCE_DATE_EPOCH
    set_mtime_ns(it->first.empty() ? root : root / it->first, 1600000000 * kNsPerSec);
}

std::map<uint8_t, size_t> filters_used(const Pack& p) {
  std::map<uint8_t, size_t> n;
  for (uint32_t i = 0; i < p.block_count(); i++) n[p.block_entry(i).filter]++;
  return n;
}

class MaxProfile : public ::testing::Test {
 protected:
  void SetUp() override {
    make_exec_tree(tmp_ / "tree");
    SourceDateEpoch e(1700000000);
    kso_pack_ok({"-q", "build", "--threads", "2", "-o", max_.string(), "--profile", "max", "--level", "6",
                 "data=" + (tmp_ / "tree").string()});
    kso_pack_ok({"-q", "build", "--threads", "2", "-o", fast_.string(), "--level", "6",
                 "data=" + (tmp_ / "tree").string()});
  }
  TempDir tmp_{"kso-bcj"};
  fs::path max_ = tmp_ / "max.kso", fast_ = tmp_ / "fast.kso";
};

TEST_F(MaxProfile, RealBinariesRoundTripThroughFilteredBlocks) {
  auto m = Pack::open(max_), f = Pack::open(fast_);
  EXPECT_EQ(m->version(), 4u);
  EXPECT_EQ(f->version(), 3u);  // the default profile writes what kso wrote before filters
  auto used = filters_used(*m);
  EXPECT_GT(used[uint8_t(ExecFilter::X86)], 0u);
  EXPECT_GT(used[uint8_t(ExecFilter::Arm64)], 0u);
  EXPECT_EQ(filters_used(*f).size(), 1u);
  std::map<std::string, std::string> meta;
  for (auto& [k, v] : m->meta()) meta[k] = v;
  EXPECT_EQ(meta[kMetaProfile], "max");
  EXPECT_EQ(meta[kMetaZstdLevel], "6");
  for (auto& [k, v] : f->meta()) EXPECT_NE(k, kMetaProfile);
  // Byte-identical through the reader, the tools and their file checks.
  size_t files = 0;
  for (auto& ent : fs::recursive_directory_iterator(tmp_ / "tree")) {
    if (!ent.is_regular_file()) continue;
    std::string rel = fs::relative(ent.path(), tmp_ / "tree").string();
    EXPECT_TRUE(pack_read_all(*m, pack_stat(*m, "data/" + rel).ino) == read_file(ent.path())) << rel;
    files++;
  }
  EXPECT_EQ(files, 7u);
  kso_pack_ok({"verify", max_.string()});
  kso_pack_ok({"-q", "extract", max_.string(), (tmp_ / "x").string()});
  EXPECT_EQ(compare_trees(tmp_ / "tree", tmp_ / "x" / "data"), std::vector<std::string>{});
  EXPECT_TRUE(kso_pack_ok({"cat", max_.string(), "data/arm64/bin/tool"}) == read_file(tmp_ / "tree/arm64/bin/tool"));
  // Smaller than the default profile's pack, even at the same level.
  EXPECT_LT(fs::file_size(max_), fs::file_size(fast_));
  std::string info = kso_pack_ok({"info", max_.string()});
  EXPECT_NE(info.find("profile max"), std::string::npos) << info;
}

TEST_F(MaxProfile, MountServesTheSameBytes) {
  std::string why = fuse_unavailable_reason();
  if (!why.empty()) GTEST_SKIP() << "needs FUSE: " << why;
  Mount mnt(max_, tmp_ / "mnt");
  EXPECT_EQ(compare_trees(tmp_ / "tree", mnt / "data"), std::vector<std::string>{});
  // A read that starts inside a filtered block and crosses into the next.
  std::string tool = read_file(tmp_ / "tree/amd64/bin/tool");
  EXPECT_TRUE(read_file(mnt / "data/amd64/bin/tool") == tool);
}

TEST_F(MaxProfile, BuildsAreReproducibleAndMergeEqualsBuild) {
  SourceDateEpoch e(1700000000);
  fs::path again = tmp_ / "again.kso";
  kso_pack_ok({"-q", "build", "--threads", "1", "-o", again.string(), "--profile", "max", "--level", "6",
               "data=" + (tmp_ / "tree").string()});
  EXPECT_EQ(sha256_file_hex(again), sha256_file_hex(max_)) << "thread count changed the bytes";
  // A delta on the max pack (parameters taken from its base), merged, is a
  // fresh max build of the new tree.
  fs::copy(tmp_ / "tree", tmp_ / "tree2", fs::copy_options::recursive);
  write_file(tmp_ / "tree2" / "amd64" / "bin" / "tool2", read_file(tmp_ / "tree/amd64/bin/tool") + "tail");
  fs::path delta = tmp_ / "d.kso", merged = tmp_ / "m.kso", fresh = tmp_ / "f.kso";
  kso_pack_ok({"-q", "build", "-o", delta.string(), "--base", max_.string(), "data=" + (tmp_ / "tree2").string()});
  EXPECT_EQ(Pack::open(delta)->version(), 4u);
  kso_pack_ok({"-q", "merge", delta.string(), "-o", merged.string()});
  kso_pack_ok({"-q", "build", "-o", fresh.string(), "--profile", "max", "--level", "6",
               "data=" + (tmp_ / "tree2").string()});
  EXPECT_EQ(sha256_file_hex(merged), sha256_file_hex(fresh)) << "merge differs from a fresh --profile max build";
  EXPECT_EQ(filters_used(*Pack::open(merged)), filters_used(*Pack::open(fresh)));
  // A default-profile delta on the max pack names its filtered blocks: it is
  // v4 too (profile fast), and reads back.
  fs::path fd = tmp_ / "fd.kso";
  kso_pack_ok({"-q", "build", "-o", fd.string(), "--profile", "fast", "--base", max_.string(),
               "data=" + (tmp_ / "tree2").string()});
  auto fdp = open_pack(fd);
  EXPECT_EQ(fdp->version(), 4u);
  EXPECT_GT(filters_used(*fdp)[uint8_t(ExecFilter::X86)], 0u);
  std::map<std::string, std::string> meta;
  for (auto& [k, v] : fdp->meta()) meta[k] = v;
  EXPECT_EQ(meta[kMetaProfile], "fast");
  EXPECT_TRUE(pack_read_all(*fdp, pack_stat(*fdp, "data/amd64/bin/tool2").ino) ==
              read_file(tmp_ / "tree2/amd64/bin/tool2"));
}

TEST_F(MaxProfile, CraftedFiltersAreRefused) {
  PackParts good = split_pack(max_);
  ASSERT_EQ(good.version, 4u);
  size_t filtered = 0, raw = 0;
  while (good.blocks[filtered].filter == 0) filtered++;
  while (good.blocks[raw].codec != Codec::Raw) raw++;
  auto refused = [&](PackParts p, const std::string& name, const std::string& want) {
    fs::path f = tmp_ / name;
    write_pack(f, p);
    std::string err = open_error(f);
    EXPECT_NE(err.find(want), std::string::npos) << name << ": " << err;
  };
  PackParts p = good;
  p.blocks[filtered].filter = kMaxFilter + 1;
  refused(p, "unknown.kso", "unknown filter");
  p = good;
  p.blocks[raw].filter = uint8_t(ExecFilter::X86);
  refused(p, "raw.kso", "names a filter but is not zstd-compressed");
  p = good;
  p.version = 3;  // a v3 pack has no filters (and no profile key)
  refused(p, "v3.kso", "unknown filter");
  // A v4 pack without its profile key.
  fs::copy_file(max_, tmp_ / "noprofile.kso");
  rewrite_index(tmp_ / "noprofile.kso", "DELETE FROM meta WHERE key='profile'");
  EXPECT_NE(open_error(tmp_ / "noprofile.kso").find("profile"), std::string::npos);
  // A filtered block whose frame is damaged: the checksum catches it on
  // read (EIO), never wrong bytes.
  fs::copy_file(max_, tmp_ / "damaged.kso");
  const BlockEntry& be = good.blocks[filtered];
  xor_byte(tmp_ / "damaged.kso", be.offset + be.stored_size / 2, 0x40);
  auto d = Pack::open(tmp_ / "damaged.kso");
  EXPECT_THROW(d->block(uint32_t(filtered)), CorruptError);
  // The same damage with the checksums recomputed (a crafted frame): zstd's
  // own check or the size check refuses it, or it decodes to other bytes
  // that the file's SHA-256 (verify, cat, extract) refuses.
  p = good;
  p.data[be.offset - kDataStart + be.stored_size / 2] ^= 0x40;
  std::string s = p.data.substr(be.offset - kDataStart, be.stored_size);
  p.blocks[filtered].xxh3 = xxh3(s.data(), s.size());
  p.blocks[filtered].sha256 = sha256(s.data(), s.size());
  write_pack(tmp_ / "crafted.kso", p);
  auto r = kso_pack({"verify", (tmp_ / "crafted.kso").string()});
  EXPECT_NE(r.status, 0) << r.out << r.err;
}

TEST(ExecFilterCli, ProfileIsAUsageOptionDocumentedInHelp) {
  TempDir tmp("kso-bcj-cli");
  write_file(tmp / "t" / "a", "a\n");
  auto r = kso_pack({"build", "-o", (tmp / "p.kso").string(), "--profile", "smallest", "x=" + (tmp / "t").string()});
  EXPECT_EQ(r.status, 2) << r.err;
  r = kso_pack({"build", "--help"});
  EXPECT_EQ(r.status, 0);
  EXPECT_NE((r.out + r.err).find("--profile"), std::string::npos);
  EXPECT_NE((r.out + r.err).find("max"), std::string::npos);
}

}  // namespace
}  // namespace kso
