// Delta packs under a real FUSE mount (kso-fs): the mount of a delta is the
// full new tree, with its bases given (-o base=) or found next to it by
// identity through a chain; stock nginx and a read-only registry:2 serve it;
// a missing, wrong or index-only base is refused before mounting with one
// line; a damaged base gives EIO only for the files its block supplies.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <cstring>
#include <set>
#include <sstream>

#include "index/hash.h"
#include "index/pack_open.h"
#include "index/pack_reader.h"
#include "tests/support/mount_fixture.h"
#include "tests/support/nginx_conf.h"
#include "tests/support/pack_surgery.h"
#include "tests/support/registry_fixture.h"

namespace kso::test {
namespace {

// Reads all of `p` with read(2); returns 0, or the errno that stopped it.
int read_errno(const fs::path& p, std::string* out) {
  int fd = open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  out->clear();
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) {
      int e = errno;
      close(fd);
      return e;
    }
    if (n == 0) break;
    out->append(buf, size_t(n));
  }
  close(fd);
  return 0;
}

// The version packs (tree_gen.h), copied into the layouts each test mounts.
class FsDelta : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why = fuse_unavailable_reason();
    if (!why.empty()) GTEST_SKIP() << "delta mount tests need FUSE: " << why;
    ASSERT_NO_THROW(w_ = &version_packs());
  }

  // Copies `from` to DIR/name (DIR created).
  fs::path place(const fs::path& from, const fs::path& dir, const std::string& name) {
    fs::create_directories(dir);
    fs::copy_file(from, dir / name);
    return dir / name;
  }
  // The mount holds exactly the tree at ROOT (a version tree): diff -r, and
  // mode, size, mtime, nlink, hardlink groups and symlink targets.
  void expect_tree(const Mount& m, const fs::path& root) {
    EXPECT_EQ(compare_trees(root / "data", m / "data"), std::vector<std::string>{});
    auto d = run("diff -r --no-dereference " + q(root / "data") + " " + q(m / "data"));
    EXPECT_EQ(d.status, 0) << d.output;
  }
  // `kso-fs -f PACK MNT [-o opts]` must exit 1 before mounting, printing one
  // line that holds every one of `want`.
  void expect_refused(const fs::path& pack, const std::string& opts, const std::vector<std::string>& want) {
    fs::path mnt = tmp_ / "refused-mnt";
    fs::create_directories(mnt);
    std::string cmd = "timeout 30 " + q(kso_fs_bin()) + " -f " + q(pack) + " " + q(mnt);
    if (!opts.empty()) cmd += " -o " + q(opts);
    auto r = run(cmd);
    EXPECT_EQ(r.status, 1) << cmd << "\n" << r.output;
    EXPECT_FALSE(is_mounted(mnt));
    force_unmount(mnt);
    EXPECT_EQ(one_line_error(r.output, "kso-fs: error: ", want), "") << cmd;
  }

  const VersionPacks* w_ = nullptr;
  TempDir tmp_{"kso-fs-delta-case"};
};

TEST_F(FsDelta, MountWithBaseOptionIsTheNewTree) {
  fs::path old_pack = place(w_->old_pack, tmp_ / "elsewhere", "kept-as.kso");
  fs::path delta = place(w_->delta, tmp_ / "site", "DELTA.kso");
  Mount m(delta, tmp_ / "mnt", {"base=" + old_pack.string(), {}});
  expect_tree(m, w_->v1);
  // A file made of base and own chunks, read whole.
  std::string got;
  EXPECT_EQ(read_errno(m / "data/big/random.bin", &got), 0);
  EXPECT_TRUE(got == read_file(w_->v1 / "data/big/random.bin"));
}

TEST_F(FsDelta, MountFindsTheChainNextToItByIdentity) {
  // Installed under other names than the ones the deltas recorded.
  fs::path dir = tmp_ / "installed";
  place(w_->old_pack, dir, "pack-0");
  fs::path d1 = place(w_->delta, dir, "pack-1.kso");
  fs::path d2 = place(w_->v2_pack, dir, "current.kso");
  Mount top(d2, tmp_ / "mnt2");
  expect_tree(top, w_->v2);
  Mount middle(d1, tmp_ / "mnt1");  // the middle of the chain mounts by itself too
  expect_tree(middle, w_->v1);
  // The whole chain given with -o base=A:B, from another directory.
  fs::path alone = place(w_->v2_pack, tmp_ / "alone", "V2.kso");
  Mount given(alone, tmp_ / "mnt3", {"base=" + d1.string() + ":" + (dir / "pack-0").string(), {}});
  expect_tree(given, w_->v2);
}

TEST_F(FsDelta, MissingWrongOrIndexOnlyBaseIsRefusedBeforeMounting) {
  const std::string old_id = to_hex(Pack::open(w_->old_pack)->identity());
  fs::path delta = place(w_->delta, tmp_ / "alone", "DELTA.kso");
  expect_refused(delta, "", {"'OLD.kso'", old_id, "not found"});
  // Another pack given as the base.
  expect_refused(delta, "base=" + w_->full_new.string(),
                 {old_id, w_->full_new.string(), to_hex(Pack::open(w_->full_new)->identity())});
  // Another pack under the base's name, next to the delta.
  place(w_->full_new, tmp_ / "alone", "OLD.kso");
  expect_refused(delta, "", {old_id, "is another pack"});
  // The base's index only.
  fs::path kidx = tmp_ / "OLD.kidx";
  kso_pack_ok({"-q", "index", w_->old_pack.string(), "-o", kidx.string()});
  expect_refused(delta, "base=" + kidx.string(), {kidx.string(), "index only"});
}

TEST_F(FsDelta, DamagedBaseGivesEioOnlyForTheFilesItSupplies) {
  SourceDateEpoch e(kVersionEpoch);
  fs::path dir = tmp_ / "site", base = dir / "B.kso", d = dir / "D.kso";
  fs::create_directories(dir);
  build_version_pack(base, w_->v0, {"--block-size", "64K", "--raw-block-size", "64K", "--chunk", "4K/16K/64K"});
  build_version_pack(d, w_->v1, {"--base", base.string()});
  std::set<std::string> from_base;
  const std::set<std::string> hit = damage_base_block(d, base, &from_base);
  ASSERT_GE(hit.size(), 1u);
  Mount m(d, tmp_ / "mnt");  // mounts: the damage is in data only a read meets
  size_t eio = 0, good = 0;
  for (auto& [rel, n] : lstat_tree(w_->v1 / "data")) {
    if (!S_ISREG(n.mode)) continue;
    const std::string path = "data/" + rel;
    SCOPED_TRACE(path);
    std::string got;
    int err = read_errno(m / path, &got);
    if (hit.count(path)) {
      EXPECT_EQ(err, EIO);
      eio += err == EIO;
    } else {
      EXPECT_EQ(err, 0) << strerror(err);
      EXPECT_TRUE(got == read_file(w_->v1 / path)) << "wrong bytes";
      good += from_base.count(path);
    }
  }
  EXPECT_EQ(eio, hit.size());
  EXPECT_GT(good, 20u) << "files the base supplies from undamaged blocks";
  // Read the damaged files again: still EIO, and the damage is logged once.
  for (auto& path : hit) {
    std::string got;
    EXPECT_EQ(read_errno(m / path, &got), EIO) << path;
  }
  EXPECT_TRUE(m.alive());
  std::istringstream log(m.log());
  std::map<std::string, int> damage;
  for (std::string l; std::getline(log, l);)
    if (l.find("damaged pack data") != std::string::npos) damage[l]++;
  ASSERT_FALSE(damage.empty()) << m.log();
  for (auto& [line, count] : damage) {
    EXPECT_EQ(count, 1) << line;
    EXPECT_NE(line.find(base.string()), std::string::npos) << "names the base: " << line;
  }
}

TEST_F(FsDelta, NginxServesADeltaMount) {
  for (auto* tool : {"nginx", "curl"})
    if (!have_command(tool)) GTEST_SKIP() << tool << " is not installed";
  fs::path dir = tmp_ / "site";
  place(w_->old_pack, dir, "OLD.kso");
  fs::path delta = place(w_->delta, dir, "DELTA.kso");
  Mount m(delta, tmp_ / "mnt", {"allow_other", {}});
  const int port = free_port();
  fs::path ng = tmp_ / "nginx";
  write_nginx_conf(ng, port, m.path());
  Daemon nginx("nginx -p " + q(ng) + " -c " + q(ng / "nginx.conf") + " -g 'daemon off;'", ng / "stderr.log");
  ASSERT_TRUE(wait_for_port(port)) << read_file(ng / "stderr.log") << read_file(ng / "logs/error.log");
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/";
  // Bytes from both packs, from the delta alone, from the base alone.
  for (auto* rel : {"data/big/random.bin", "data/added-1/new.bin", "data/sizes/rand_1048583", "data/big/text.log"}) {
    SCOPED_TRACE(rel);
    fs::path out = tmp_ / "got";
    auto r = run("curl -sS --fail -o " + q(out) + " " + q(url + rel));
    ASSERT_EQ(r.status, 0) << r.output << read_file(ng / "logs/error.log");
    EXPECT_EQ(sha256_file_hex(out), sha256_file_hex(w_->v1 / rel));
  }
  // A range across the bytes v1 rewrote (at 600000).
  const std::string rnd = read_file(w_->v1 / "data/big/random.bin");
  auto r = run("curl -sS --fail -r 590000-610999 " + q(url + "data/big/random.bin"));
  EXPECT_TRUE(r.output == rnd.substr(590000, 21000));
  nginx.stop();  // before the mount goes
}

// Two versions of a registry:2 storage tree sharing layers: v1 holds app:1.0
// (amd64, arm64) and pause:3.9; v2 adds app:2.0, whose base layer is v1's.
TEST_F(FsDelta, RegistryServesBothImageVersionsFromADelta) {
  if (!TestRegistry::available()) GTEST_SKIP() << "docker-registry and skopeo are not installed";
  SourceDateEpoch e(kVersionEpoch);
  fs::path scratch = tmp_ / "scratch";
  fs::create_directories(scratch);
  TestRegistry upstream(tmp_ / "upstream", TestRegistry::Options{tmp_ / "upstream/storage"});
  const TestLayer base_layer =
      make_layer(scratch, {{"lib/libc.so", random_bytes(400000, 1)}, {"etc/os-release", "ID=t\n"}});
  auto image = [&](const std::string& repo, const std::string& tag, std::vector<std::string> arches) {
    TestImage img;
    img.repo = repo;
    img.tag = tag;
    img.single_arch = arches.size() == 1;
    for (auto& a : arches) {
      TestPlatformImage p;
      p.arch = a;
      const std::string bin = random_bytes(60000, std::hash<std::string>()(repo + tag + a));
      p.layers = {base_layer, make_layer(scratch, {{"usr/bin/" + repo, bin}})};
      img.platforms.push_back(p);
    }
    return push_image(img, upstream, scratch);
  };
  PushedImage app1 = image("app", "1.0", {"amd64", "arm64"});
  image("pause", "3.9", {"amd64"});
  fs::path dir = tmp_ / "site", reg1 = dir / "REG1.kso", reg2 = dir / "REG2.kso";
  fs::create_directories(dir);
  const std::string storage = "registry=" + (tmp_ / "upstream/storage").string();
  kso_pack_ok({"-q", "build", "-o", reg1.string(), "--threads", "2", storage});
  PushedImage app2 = image("app", "2.0", {"amd64", "arm64"});
  kso_pack_ok({"-q", "build", "-o", reg2.string(), "--threads", "2", "--base", reg1.string(), storage});

  // The shared base layer costs the delta nothing; app:2.0's own layers are stored in it.
  auto d = Pack::open(reg2);
  auto blob_blocks = [&](const std::string& digest) {
    std::string hex = digest.substr(7);
    auto st = d->lookup_path("registry/docker/registry/v2/blobs/sha256/" + hex.substr(0, 2) + "/" + hex + "/data");
    if (!st) throw std::runtime_error("no blob " + digest);
    std::set<uint16_t> bases;
    auto f = d->layout(st->ino);
    for (auto& c : f->chunks) bases.insert(d->block_entry(c.block).base);
    return bases;
  };
  EXPECT_EQ(blob_blocks(base_layer.digest()), std::set<uint16_t>{1});
  const std::string v2_layer = app2.blobs[1];  // amd64's own layer (blobs: layers, then config)
  ASSERT_EQ(std::count(app1.blobs.begin(), app1.blobs.end(), v2_layer), 0);
  EXPECT_EQ(blob_blocks(v2_layer), std::set<uint16_t>{0});

  Mount m(reg2, tmp_ / "mnt", {"allow_other", {}});
  auto diff = run("diff -r --no-dereference " + q(tmp_ / "upstream/storage") + " " + q(m / "registry"));
  EXPECT_EQ(diff.status, 0) << diff.output;
  TestRegistry::Options ro{m / "registry"};
  ro.readonly = true;
  TestRegistry served(tmp_ / "ro", ro);
  for (auto* img : {&app1, &app2}) {
    ASSERT_EQ(img->platform_digest.size(), 2u);
    for (auto& [plat, digest] : img->platform_digest) {
      SCOPED_TRACE(plat + " " + digest);
      fs::path out = tmp_ / "pulls" / digest.substr(7);
      fs::create_directories(out.parent_path());
      std::string cmd = "skopeo copy --quiet " + skopeo_flags(&served, "src") + " " +
                        q("docker://" + served.host() + "/app@" + digest) + " " + q("dir:" + out.string());
      auto r = run(cmd);
      ASSERT_EQ(r.status, 0) << cmd << "\n" << r.output << served.log();
      std::vector<std::string> blobs;
      ASSERT_NO_THROW(blobs = check_pulled_manifest(out, digest));
      EXPECT_EQ(blobs[1], base_layer.digest());
    }
  }
  served.stop();  // before the mount goes
}

}  // namespace
}  // namespace kso::test
