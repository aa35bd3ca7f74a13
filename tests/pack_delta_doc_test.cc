// docs/DELTA.md's round trip, run as written: the site exports its pack's
// index, the builder builds a delta on the .kidx, the site verifies it with
// its base and switches to it with deploy/kso-switch.sh; the mount then serves
// the new tree and the base is kept.
#include <gtest/gtest.h>

#include <cstdlib>
#include <sstream>
#include <string>

#include "index/pack_open.h"
#include "tests/support/mount_fixture.h"
#include "tests/support/testutil.h"
#include "tests/support/tree_gen.h"

namespace kso::test {
namespace {

// A kubespray-like tree, version `v`: files and a registry-like storage dir;
// version 2 changes two files, adds one and removes one.
void make_tree(const fs::path& dir, int v) {
  for (int i = 0; i < 12; i++) {
    if (v == 2 && i == 11) continue;  // removed
    uint64_t seed = (v == 2 && (i == 3 || i == 7)) ? 900 + uint64_t(i) : uint64_t(i);
    write_file(dir / "files" / ("dl.k8s.io/v1/bin/f" + std::to_string(i)), random_bytes(200000 + 1000 * i, seed));
  }
  write_file(dir / "registry/docker/registry/v2/blobs/sha256/ab/layer", random_bytes(900000, 77));
  if (v == 2) write_file(dir / "files/github.com/new-tool.tar.gz", random_bytes(300000, 99));
}

TEST(DeltaDoc, RoundTripAsDocumented) {
  if (auto why = fuse_unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
  if (!have_command("mountpoint")) GTEST_SKIP() << "mountpoint is not installed";
  const std::string block = doc_procedure("DELTA.md", "delta-round-trip");
  ASSERT_FALSE(block.empty()) << "docs/DELTA.md lost its round-trip procedure";
  TempDir tmp("kso-delta-doc");
  make_tree(tmp / "old", 1);
  make_tree(tmp / "new", 2);
  const fs::path srv = tmp / "srv", work = tmp / "work";
  fs::create_directories(srv / "kso");
  fs::create_directories(work);
  pack_dirs(srv / "k8s.kso", {"files=" + (tmp / "old/files").string(), "registry=" + (tmp / "old/registry").string()});
  const std::string old_sha = sha256_file_hex(srv / "k8s.kso");
  auto r = run(q(kso_fs_bin()) + " " + q(srv / "k8s.kso") + " " + q(srv / "kso") + " -o allow_other");
  ASSERT_EQ(r.status, 0) << r.output;
  struct Unmount {
    fs::path p;
    ~Unmount() { force_unmount(p); }
  } unmount{srv / "kso"};

  const std::string path = kso_pack_bin().parent_path().string() + ":" + kso_fs_bin().parent_path().string() + ":" +
                           (fs::path(KSO_SOURCE_DIR) / "deploy").string() + ":" + getenv("PATH");
  r = run("cd " + q(work) + " && SRV=" + q(srv) + " NEW=" + q(tmp / "new") + " PATH=" + q(path) +
          " bash -euo pipefail -c " + q(block));
  ASSERT_EQ(r.status, 0) << block << "\n" << r.output;

  // The .kidx is small, the delta holds about what changed, and the mount
  // serves the new tree; the old pack is kept as the delta's base.
  EXPECT_LT(fs::file_size(work / "k8s-old.kidx"), fs::file_size(work / "k8s-new.kso"));
  EXPECT_LT(fs::file_size(work / "k8s-new.kso"), 2 * (200000 + 1000 * 3 + 200000 + 1000 * 7 + 300000) + 200000);
  EXPECT_TRUE(compare_trees(tmp / "new", srv / "kso").empty());
  auto served = open_pack(srv / "k8s.kso");
  ASSERT_TRUE(served->is_delta());
  const fs::path kept = srv / ("k8s.kso.base-" + to_hex(served->bases()[0].identity).substr(0, 16));
  ASSERT_TRUE(fs::exists(kept)) << r.output;
  EXPECT_EQ(sha256_file_hex(kept), old_sha);
  EXPECT_NE(r.output.find("supplies"), std::string::npos) << "info shows what the base supplies: " << r.output;
}

// docs/DELTA.md's --base-min-use block, run as written: OLD holds two text
// files in zstd blocks; NEW keeps one whole and 600 KiB of the other, so the
// base block holding the rest of that one is left out and its chunks stored
// again; the delta verifies with its base and reads as NEW.
TEST(DeltaDoc, BaseMinUseAsDocumented) {
  const std::string block = doc_procedure("DELTA.md", "delta-min-use");
  ASSERT_FALSE(block.empty()) << "docs/DELTA.md lost its --base-min-use procedure";
  TempDir tmp("kso-delta-doc-min-use");
  const std::string a = pseudo_text(3u << 20, 11), b = pseudo_text(3u << 20, 12);
  write_file(tmp / "old/files/a.txt", a);
  write_file(tmp / "old/files/b.txt", b);
  write_file(tmp / "new/files/a.txt", a);
  write_file(tmp / "new/files/b-part.txt", b.substr(3u << 19, 600u << 10));
  const fs::path old_pack = tmp / "srv/k8s.kso", work = tmp / "work";
  fs::create_directories(old_pack.parent_path());
  fs::create_directories(work);
  pack_dirs(old_pack, {"files=" + (tmp / "old/files").string()});

  const std::string path = kso_pack_bin().parent_path().string() + ":" + getenv("PATH");
  auto r = run("cd " + q(work) + " && OLD=" + q(old_pack) + " NEW=" + q(tmp / "new") + " PATH=" + q(path) +
               " bash -euo pipefail -c " + q(block));
  ASSERT_EQ(r.status, 0) << block << "\n" << r.output;
  const std::string said = "delta: base blocks used for less than 50%: ";
  size_t at = r.output.find(said);
  ASSERT_NE(at, std::string::npos) << r.output;
  EXPECT_NE(r.output[at + said.size()], '0') << "a sparse base block must be left out: " << r.output;

  BaseSearch given;
  given.paths = {old_pack};
  auto d = open_pack(work / "k8s-new.kso", given);
  ASSERT_TRUE(d->is_delta());
  Listing want = tree_listing(tmp / "new/files"), got;
  for (auto& [p, line] : pack_listing(*d))
    if (p.rfind("files/", 0) == 0) got[p.substr(6)] = line;
  want.erase("");
  EXPECT_EQ(got, want);
}

}  // namespace
}  // namespace kso::test
