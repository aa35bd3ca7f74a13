// Several packs in one kso-fs mount (kso-fs A.kso B.kso MNT, or -o pack=):
// the union equals the merged source trees; a path two packs hold differently
// (content, file against directory, a registry tag) is refused with one line
// naming it and both packs unless -o prefer= picks one; a read-only registry
// on a union of two registry packs serves both packs' images to skopeo; a
// delta with its base; mount(8); unique, stable inode numbers; --status lists
// every pack; docs/DEPLOY.md's rolling-upgrade procedure as written.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "tests/support/http_fixtures.h"
#include "tests/support/mount_fixture.h"
#include "tests/support/nginx_conf.h"
#include "tests/support/registry_fixture.h"

namespace kso::test {
namespace {

using nlohmann::json;

// A file with content and a fixed mtime (so the winner's shows).
void put(const fs::path& p, const std::string& data, int64_t mtime_s) {
  write_file(p, data);
  set_mtime_ns(p, mtime_s * 1000000000 + 7);
}

class FsUnion : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why = fuse_unavailable_reason();
    if (!why.empty()) GTEST_SKIP() << "union mount tests need FUSE: " << why;
  }

  // Two trees that share directories, identical files (with other mtimes in
  // B), a symlink with the same target, and hold files of their own; A has a
  // hardlink pair. Packed as data=A and data=B.
  void make_ab() {
    fs::path a = tmp_ / "A", b = tmp_ / "B";
    put(a / "shared/same.txt", "same in both\n", 1600000000);
    put(b / "shared/same.txt", "same in both\n", 1600000500);
    put(a / "shared/only-a.txt", random_bytes(300000, 1), 1600000001);
    put(b / "shared/only-b.bin", random_bytes(5 << 20, 2), 1600000002);  // several blocks
    put(a / "a-dir/deep/x", "x of a\n", 1600000003);
    put(b / "b-dir/y", "y of b\n", 1600000004);
    put(a / "a-dir/text", pseudo_text(300000, 4), 1600000006);  // compressible: a zstd block of A's
    put(b / "b-dir/text", pseudo_text(300000, 5), 1600000006);  // ... and of B's
    put(a / "shared/sub/both", random_bytes(70000, 3), 1600000005);
    put(b / "shared/sub/both", random_bytes(70000, 3), 1600000005);
    fs::create_hard_link(a / "a-dir/deep/x", a / "a-dir/x-link");
    for (auto& r : {a, b}) {
      fs::create_symlink("same.txt", r / "shared/link");
      fs::create_directories(r / "empty");
    }
    fs::create_symlink("../shared/same.txt", b / "b-dir/up-link");
    for (auto& r : {a, b})
      for (const char* d : {"shared/sub", "shared", "empty", ""}) set_mtime_ns(r / d, 1600001000LL * 1000000000);
    set_mtime_ns(a / "a-dir/deep", 1600002000LL * 1000000000);
    set_mtime_ns(a / "a-dir", 1600002000LL * 1000000000);
    set_mtime_ns(b / "b-dir", 1600003000LL * 1000000000);
    pack_dirs(tmp_ / "A.kso", {"data=" + a.string()});
    pack_dirs(tmp_ / "B.kso", {"data=" + b.string()});
  }

  // Builds a pack of `files` (path -> content) under data=.
  fs::path pack_of(const std::string& name, const std::map<std::string, std::string>& files,
                   const std::string& prefix = "data") {
    fs::path src = tmp_ / ("src-" + name);
    for (auto& [p, d] : files) put(src / p, d, 1600000000);
    fs::path out = tmp_ / (name + ".kso");
    pack_dirs(out, {prefix + "=" + src.string()});
    return out;
  }

  // `kso-fs -f PACKS... MNT [-o opts]` must exit 1 before mounting, printing
  // one line that holds every one of `want`.
  void expect_refused(const std::vector<fs::path>& packs, const std::string& opts, const std::vector<std::string>& want) {
    fs::path mnt = tmp_ / "refused-mnt";
    fs::create_directories(mnt);
    std::string cmd = "timeout 30 " + q(kso_fs_bin()) + " -f";
    for (auto& p : packs) cmd += " " + q(p);
    cmd += " " + q(mnt);
    if (!opts.empty()) cmd += " -o " + q(opts);
    auto r = run(cmd);
    EXPECT_EQ(r.status, 1) << cmd << "\n" << r.output;
    EXPECT_FALSE(is_mounted(mnt));
    force_unmount(mnt);
    EXPECT_EQ(one_line_error(r.output, "kso-fs: error: ", want), "") << cmd;
  }

  // Mounts the union of `first` and `others` (as -o pack=) with extra options.
  std::unique_ptr<Mount> mount_union(const fs::path& first, const std::vector<fs::path>& others, const std::string& name,
                                     const std::string& extra = "") {
    std::string opts = extra;
    for (auto& o : others) opts += std::string(opts.empty() ? "" : ",") + "pack=" + o.string();
    return std::make_unique<Mount>(first, tmp_ / name, Mount::Options{opts, {}, false});
  }

  TempDir tmp_{"kso-fs-union"};
};

TEST_F(FsUnion, DisjointAndSharedFilesGiveTheMergedTree) {
  make_ab();
  // What the union must be: B copied first, then A over it (A is first in
  // the union, so shared paths show A's attributes).
  fs::path merged = tmp_ / "merged";
  fs::create_directories(merged);
  ASSERT_EQ(run("cp -a " + q(tmp_ / "B") + "/. " + q(merged) + " && cp -a " + q(tmp_ / "A") + "/. " + q(merged)).status, 0);
  // The positional form: kso-fs A.kso B.kso MNT.
  fs::path mnt = tmp_ / "mnt";
  fs::create_directories(mnt);
  Daemon d(q(kso_fs_bin()) + " -f " + q(tmp_ / "A.kso") + " " + q(tmp_ / "B.kso") + " " + q(mnt), tmp_ / "mnt.log");
  for (int i = 0; i < 300 && !is_mounted(mnt) && d.alive(); i++) usleep(50000);
  ASSERT_TRUE(is_mounted(mnt)) << d.log();
  auto diffs = compare_trees(merged, mnt / "data");
  EXPECT_TRUE(diffs.empty()) << ::testing::PrintToString(diffs);
  auto r = run("diff -r --no-dereference " + q(merged) + " " + q(mnt / "data"));
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(read_file(mnt / "data/shared/only-b.bin") == random_bytes(5 << 20, 2));
  EXPECT_EQ(read_file(mnt / "data/b-dir/up-link"), "same in both\n");  // a relative symlink below a merged dir
  struct stat st {};
  ASSERT_EQ(stat((mnt / "data/shared").c_str(), &st), 0);
  EXPECT_EQ(st.st_nlink, 3u);  // 2 + its one subdirectory
  EXPECT_NE(d.log().find("A.kso, "), std::string::npos) << d.log();  // "mounted A, B on MNT"
  EXPECT_EQ(run("fusermount3 -u " + q(mnt)).status, 0);
}

TEST_F(FsUnion, ConflictingFileIsRefusedNamingPathAndPacks) {
  fs::path a = pack_of("one", {{"etc/conf", "version 1\n"}, {"same", "s\n"}});
  fs::path b = pack_of("two", {{"etc/conf", "version 2\n"}, {"same", "s\n"}});
  expect_refused({a, b}, "",
                 {"data/etc/conf", a.string(), b.string(), "sha256:" + sha256_hex("version 1\n"),
                  "sha256:" + sha256_hex("version 2\n"), "prefer="});
  // The same through -o pack= (mount(8)'s form).
  expect_refused({a}, "pack=" + b.string(), {"data/etc/conf", a.string(), b.string()});
  auto r = kso_fs({"-f", a.string(), (tmp_ / "refused-mnt").string(), "-o", "prefer=sometimes"});
  EXPECT_EQ(r.status, 2) << r.err;  // usage
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(one_line_error(r.err, "kso-fs: error: ", {"prefer=", "'sometimes'"}), "");
}

TEST_F(FsUnion, PreferPicksTheFirstOrTheLastPack) {
  fs::path a = pack_of("one", {{"etc/conf", "version 1\n"}, {"only-one", "1\n"}});
  fs::path b = pack_of("two", {{"etc/conf", "version 2\n"}, {"only-two", "2\n"}});
  {
    auto m = mount_union(a, {b}, "last", "prefer=last");
    EXPECT_EQ(read_file(*m / "data/etc/conf"), "version 2\n");
    EXPECT_EQ(read_file(*m / "data/only-one"), "1\n");
    EXPECT_EQ(read_file(*m / "data/only-two"), "2\n");
    std::string log = m->log();
    size_t at = log.find("data/etc/conf");
    ASSERT_NE(at, std::string::npos) << log;
    EXPECT_EQ(log.find("data/etc/conf", at + 1), std::string::npos) << "logged once: " << log;
    EXPECT_NE(log.find("taking " + b.string()), std::string::npos) << log;
  }
  auto m = mount_union(a, {b}, "first", "prefer=first");
  EXPECT_EQ(read_file(*m / "data/etc/conf"), "version 1\n");
  EXPECT_NE(m->log().find("taking " + a.string()), std::string::npos) << m->log();
}

TEST_F(FsUnion, FileAgainstDirectoryIsAConflict) {
  fs::path a = pack_of("one", {{"thing", "a file\n"}});
  fs::path b = pack_of("two", {{"thing/inside", "in a dir\n"}});
  expect_refused({a, b}, "", {"data/thing", a.string(), b.string(), "a file", "a directory"});
  expect_refused({b, a}, "", {"data/thing", "a directory in " + b.string(), "a file"});
  auto m = mount_union(a, {b}, "last", "prefer=last");
  EXPECT_TRUE(fs::is_directory(*m / "data/thing"));
  EXPECT_EQ(read_file(*m / "data/thing/inside"), "in a dir\n");
}

TEST_F(FsUnion, DifferentSymlinkTargetsConflict) {
  fs::path sa = tmp_ / "la", sb = tmp_ / "lb";
  fs::create_directories(sa);
  fs::create_directories(sb);
  fs::create_symlink("target-a", sa / "l");
  fs::create_symlink("target-b", sb / "l");
  pack_dirs(tmp_ / "la.kso", {"data=" + sa.string()});
  pack_dirs(tmp_ / "lb.kso", {"data=" + sb.string()});
  expect_refused({tmp_ / "la.kso", tmp_ / "lb.kso"}, "", {"data/l", "'target-a'", "'target-b'"});
}

TEST_F(FsUnion, TagConflictSaysImageAndDigests) {
  const std::string link = "docker/registry/v2/repositories/library/pause/_manifests/tags/3.9/current/link";
  const std::string da = "sha256:" + sha256_hex("a"), db = "sha256:" + sha256_hex("b");
  fs::path sa = tmp_ / "ra", sb = tmp_ / "rb";
  write_file(sa / link, da);
  write_file(sb / link, db);
  pack_dirs(tmp_ / "ra.kso", {"registry=" + sa.string()});
  pack_dirs(tmp_ / "rb.kso", {"registry=" + sb.string()});
  expect_refused({tmp_ / "ra.kso", tmp_ / "rb.kso"}, "",
                 {"tag registry/library/pause:3.9 is " + da + " in " + (tmp_ / "ra.kso").string() + " and " + db +
                  " in " + (tmp_ / "rb.kso").string()});
  auto m = mount_union(tmp_ / "ra.kso", {tmp_ / "rb.kso"}, "last", "prefer=last");
  EXPECT_EQ(read_file(*m / "registry" / link), db);
  EXPECT_NE(m->log().find("tag registry/library/pause:3.9"), std::string::npos) << m->log();
}

// Two kubespray-like versions' images, each pushed to its own upstream
// registry and packed on its own, mounted as one union under the same
// registry prefix and served by one read-only docker-registry: skopeo pulls
// every tag of both, by upstream digest.
// Two kubespray-like versions (files-list trees and registry storage) in one
// mount: nginx serves both versions' files, a read-only registry both
// versions' images, and skopeo pulls every tag and platform of both.
TEST_F(FsUnion, TwoVersionsServedByNginxAndTheRegistry) {
  if (!TestRegistry::available()) GTEST_SKIP() << "docker-registry and skopeo are not installed";
  if (!have_command("nginx") || !have_command("curl")) GTEST_SKIP() << "nginx and curl are not installed";
  fs::path scratch = tmp_ / "scratch";
  fs::create_directories(scratch);
  TestLayer base = make_layer(scratch, {{"etc/os-release", "ID=kso-test\n"}, {"lib/libc.so", random_bytes(40000, 9)}});
  auto image = [&](const std::string& repo, const std::string& tag, std::vector<std::string> arches) {
    TestImage img;
    img.repo = repo;
    img.tag = tag;
    for (auto& arch : arches) {
      TestPlatformImage p;
      p.arch = arch;
      p.layers.push_back(base);  // shared by both versions: the same blob in both packs
      p.layers.push_back(make_layer(scratch, {{"usr/bin/" + repo, repo + tag + arch + random_bytes(9000, tag.size())}}));
      img.platforms.push_back(p);
    }
    return img;
  };
  struct Version {
    std::vector<TestImage> images;
    std::vector<PushedImage> pushed;
  } v[2];
  // Each version's files-list tree: its kubelet for both arches, and a crictl
  // tarball both versions list (the same bytes in both packs).
  const std::string release[2] = {"v1.29.10", "v1.30.0"};
  const std::string crictl = "github.com/kubernetes-sigs/cri-tools/releases/download/v1.30.0/crictl-v1.30.0-linux-amd64.tar.gz";
  const std::string crictl_data = random_bytes(200000, 77);
  std::map<std::string, std::string> served;  // path under files/ -> content, both versions
  fs::path files[2];
  for (int i = 0; i < 2; i++) {
    files[i] = tmp_ / ("files" + std::to_string(i));
    for (const char* arch : {"amd64", "arm64"}) {
      std::string path = "dl.k8s.io/release/" + release[i] + "/bin/linux/" + arch + "/kubelet";
      served[path] = "kubelet " + release[i] + " " + arch + random_bytes(150000, 10 * i + arch[1]);
      put(files[i] / path, served[path], 1600000000);
    }
    put(files[i] / crictl, crictl_data, 1600000000);
  }
  served[crictl] = crictl_data;
  v[0].images = {image("kube-apiserver", "v1.29.10", {"amd64", "arm64"}), image("pause", "3.9", {"amd64"})};
  v[1].images = {image("kube-apiserver", "v1.30.0", {"amd64", "arm64"}), image("pause", "3.9", {"amd64"}),
                 image("site/tools", "1.0", {"arm64"})};
  // pause:3.9 is the same image in both (same layers, same manifest bytes).
  for (int i = 0; i < 2; i++) {
    fs::path storage = tmp_ / ("up" + std::to_string(i)) / "storage";
    TestRegistry up(tmp_ / ("up" + std::to_string(i)), TestRegistry::Options{storage});
    for (auto& img : v[i].images) v[i].pushed.push_back(push_image(img, up, scratch));
    up.stop();
    pack_dirs(tmp_ / ("v" + std::to_string(i) + ".kso"), {"registry=" + storage.string(), "files=" + files[i].string()});
  }
  ASSERT_EQ(v[0].pushed[1].digest, v[1].pushed[1].digest) << "pause:3.9 should be one image";
  auto m = mount_union(tmp_ / "v0.kso", {tmp_ / "v1.kso"}, "mnt", "allow_other");
  // nginx serves files/ of the union: both versions' kubelets, the shared tarball once.
  const int port = free_port();
  fs::path ng = tmp_ / "nginx";
  write_nginx_conf(ng, port, m->path() / "files");
  {
    Daemon nginx("nginx -p " + q(ng) + " -c " + q(ng / "nginx.conf") + " -g 'daemon off;'", ng / "nginx.log");
    ASSERT_TRUE(wait_for_port(port)) << read_file(ng / "nginx.log");
    for (auto& [path, data] : served) {
      SCOPED_TRACE(path);
      fs::path got = tmp_ / "got" / path;
      fs::create_directories(got.parent_path());
      auto r = run("curl -sf -o " + q(got) + " http://127.0.0.1:" + std::to_string(port) + "/" + path);
      ASSERT_EQ(r.status, 0) << r.output << read_file(ng / "logs/error.log");
      EXPECT_TRUE(read_file(got) == data);
    }
  }
  TestRegistry::Options ro{m->path() / "registry"};
  ro.readonly = true;
  TestRegistry reg(tmp_ / "ro", ro);
  for (int i = 0; i < 2; i++)
    for (size_t n = 0; n < v[i].images.size(); n++) {
      const TestImage& img = v[i].images[n];
      for (auto& [plat, digest] : v[i].pushed[n].platform_digest) {
        std::string arch = plat.substr(plat.rfind('/') + 1);
        SCOPED_TRACE(img.repo + ":" + img.tag + " " + plat);
        fs::path out = tmp_ / "pulls" / (std::to_string(i) + img.repo.substr(0, img.repo.find('/')) + img.tag + arch);
        fs::create_directories(out.parent_path());
        std::string cmd = "skopeo copy --quiet " + skopeo_flags(&reg, "src") + " --override-os linux --override-arch " + arch +
                          " " + q("docker://" + reg.host() + "/" + img.repo + ":" + img.tag) + " " + q("dir:" + out.string());
        auto r = run(cmd);
        ASSERT_EQ(r.status, 0) << cmd << "\n" << r.output << reg.log();
        EXPECT_NO_THROW(check_pulled_manifest(out, digest));
      }
    }
}

// A delta (v1 on OLD) and its base in one mount: v1 wins where they differ
// (prefer=first), and what v1 removed is still served from OLD.
TEST_F(FsUnion, DeltaAndItsBase) {
  const VersionPacks* w = nullptr;
  ASSERT_NO_THROW(w = &version_packs());
  expect_refused({w->delta, w->old_pack}, "", {w->delta.string(), w->old_pack.string(), "prefer="});
  auto m = mount_union(w->delta, {w->old_pack}, "mnt", "prefer=first,allow_escaping_symlinks");
  auto r = run("diff -r --no-dereference " + q(w->v1 / "data") + " " + q(m->path() / "data") + " | grep -v '^Only in " +
               (m->path() / "data").string() + "'");
  EXPECT_EQ(r.output, "") << "everything of v1, as v1";
  ASSERT_FALSE(w->c1.removed.empty());
  size_t checked = 0;
  for (auto& rel : w->c1.removed) {
    fs::path old = w->v0 / rel;
    EXPECT_TRUE(fs::exists(fs::symlink_status(*m / rel))) << rel;
    if (fs::is_regular_file(fs::symlink_status(old))) {
      EXPECT_TRUE(read_file(*m / rel) == read_file(old)) << rel;
      checked++;
    }
  }
  for (auto& rel : w->c1.changed) {
    fs::path now = w->v1 / rel;
    if (fs::is_regular_file(fs::symlink_status(now))) {
      EXPECT_TRUE(read_file(*m / rel) == read_file(now)) << rel;
      checked++;
    }
  }
  EXPECT_GT(checked, 2u);
}

// A remote pack (a URL, ranges into -o cache_dir) and a local one in one union.
TEST_F(FsUnion, RemoteAndLocalPack) {
  make_ab();
  FaultServer server;
  FaultRoute route;
  route.body = read_file(tmp_ / "B.kso");
  server.route("/kso/B.kso", route);
  const std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + "/kso/B.kso";
  auto m = mount_union(tmp_ / "A.kso", {}, "mnt", "cache_dir=" + (tmp_ / "cache").string() + ",pack=" + url);
  EXPECT_TRUE(read_file(*m / "data/shared/only-b.bin") == random_bytes(5 << 20, 2));
  EXPECT_TRUE(read_file(*m / "data/b-dir/text") == pseudo_text(300000, 5));
  EXPECT_EQ(read_file(*m / "data/a-dir/deep/x"), "x of a\n");
  json j = json::parse(kso_fs({"--status", m->path().string(), "--json"}).out);
  ASSERT_EQ(j["packs"].size(), 2u);
  EXPECT_EQ(j["packs"][1]["pack"], url);
}

// The fstab/systemd form: mount(8) passes one source, -o pack= the others.
TEST_F(FsUnion, MountCommandWithPackOption) {
  if (!have_command("mount.fuse3") || !have_command("mount")) GTEST_SKIP() << "mount(8) or /sbin/mount.fuse3 missing";
  fs::path a = pack_of("one", {{"a", "from one\n"}, {"s", "shared\n"}});
  fs::path b = pack_of("two", {{"b", "from two\n"}, {"s", "shared\n"}});
  fs::path bin = tmp_ / "bin", mnt = tmp_ / "mnt";
  fs::create_directories(bin);
  fs::create_directories(mnt);
  fs::create_symlink(kso_fs_bin(), bin / "kso-fs");
  const std::string path = "PATH=" + bin.string() + ":/usr/sbin:/usr/bin:/sbin:/bin ";
  auto check_and_umount = [&](const std::string& how) {
    SCOPED_TRACE(how);
    ASSERT_TRUE(is_mounted(mnt));
    EXPECT_EQ(read_file(mnt / "data/a"), "from one\n");
    EXPECT_EQ(read_file(mnt / "data/b"), "from two\n");
    EXPECT_EQ(read_file(mnt / "data/s"), "shared\n");
    EXPECT_EQ(run("umount " + q(mnt)).status, 0);
    force_unmount(mnt);
  };
  const std::string opts = " -o allow_other,nofail,pack=" + b.string();
  // An fstab line: /srv/one.kso /mnt fuse.kso-fs allow_other,nofail,pack=/srv/two.kso 0 0
  auto r = run(path + "mount -t fuse.kso-fs " + q(a) + " " + q(mnt) + opts);
  if (r.status == 0) {
    check_and_umount("mount -t fuse.kso-fs");
  } else {
    EXPECT_NE(r.output.find("kso-fs: not found"), std::string::npos) << r.output;
    std::cerr << "note: mount -t fuse.kso-fs needs kso-fs in mount(8)'s PATH (e.g. /usr/local/bin): " << r.output;
    force_unmount(mnt);
  }
  r = run("mount -t fuse " + q(kso_fs_bin().string() + "#" + a.string()) + " " + q(mnt) + opts);
  ASSERT_EQ(r.status, 0) << r.output;
  check_and_umount("mount -t fuse PROG#PACK");
  r = run(path + "mount.fuse3 " + q(a) + " " + q(mnt) + " -t kso-fs" + opts);
  ASSERT_EQ(r.status, 0) << r.output;
  check_and_umount("mount.fuse3 PACK MNT -t kso-fs");
}

// st_ino: one per distinct path, except a pack's own hardlinks; the same
// numbers after a remount.
TEST_F(FsUnion, InodeNumbersAreUniqueAndStable) {
  make_ab();
  auto inodes = [&](const fs::path& root) {
    std::map<std::string, uint64_t> out;
    for (auto& [rel, n] : lstat_tree(root)) out[rel] = n.ino;
    return out;
  };
  std::map<std::string, uint64_t> first;
  {
    auto m = mount_union(tmp_ / "A.kso", {tmp_ / "B.kso"}, "mnt");
    first = inodes(m->path());
  }
  std::map<uint64_t, std::set<std::string>> by_ino;
  for (auto& [rel, ino] : first) by_ino[ino].insert(rel);
  for (auto& [ino, paths] : by_ino) {
    if (paths.size() == 1) continue;
    EXPECT_EQ(paths, (std::set<std::string>{"data/a-dir/deep/x", "data/a-dir/x-link"})) << "inode " << ino;
  }
  EXPECT_EQ(first.size(), by_ino.size() + 1);  // the one hardlink pair
  auto m = mount_union(tmp_ / "A.kso", {tmp_ / "B.kso"}, "mnt");
  EXPECT_EQ(inodes(m->path()), first);
}

TEST_F(FsUnion, StatusListsEveryPack) {
  make_ab();
  auto m = mount_union(tmp_ / "A.kso", {tmp_ / "B.kso"}, "mnt");
  auto r = kso_fs({"--status", m->path().string(), "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  json j = json::parse(r.out);
  auto id = [&](const fs::path& p) { return json::parse(kso_pack_ok({"info", "--json", p.string()}))["identity"]; };
  EXPECT_EQ(j["pack"], (tmp_ / "A.kso").string());  // the single-pack fields: the first pack's
  EXPECT_EQ(j["identity"], id(tmp_ / "A.kso"));
  ASSERT_EQ(j["packs"].size(), 2u) << j.dump(2);
  EXPECT_EQ(j["packs"][0]["pack"], (tmp_ / "A.kso").string());
  EXPECT_EQ(j["packs"][1]["pack"], (tmp_ / "B.kso").string());
  EXPECT_EQ(j["packs"][1]["identity"], id(tmp_ / "B.kso"));
  EXPECT_EQ(j["packs"][1]["pack_bytes"], fs::file_size(tmp_ / "B.kso"));
  EXPECT_TRUE(j["packs"][1]["bases"].empty());
  r = kso_fs({"--status", m->path().string()});
  EXPECT_NE(r.out.find("union of:       2 packs"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find((tmp_ / "B.kso").string()), std::string::npos) << r.out;
  // Reads of both packs' files count in the one cache.
  EXPECT_TRUE(read_file(*m / "data/shared/only-b.bin") == random_bytes(5 << 20, 2));
  // Both packs' first zstd blocks: keyed by (pack, block), each is its own.
  EXPECT_TRUE(read_file(*m / "data/a-dir/text") == pseudo_text(300000, 4));
  EXPECT_TRUE(read_file(*m / "data/b-dir/text") == pseudo_text(300000, 5));
  j = json::parse(kso_fs({"--status", m->path().string(), "--json"}).out);
  EXPECT_GE(j["cache"]["misses"].get<uint64_t>(), 2u) << j.dump(2);
}

// docs/DEPLOY.md's rolling upgrade, run as written: the old and the new pack
// and a site pack mounted together.
TEST_F(FsUnion, DocumentedRollingUpgradeAsWritten) {
  const std::string block = doc_procedure("DEPLOY.md", "rolling-upgrade");
  ASSERT_FALSE(block.empty()) << "docs/DEPLOY.md lost its rolling-upgrade procedure";
  const std::string k129 = "dl.k8s.io/release/v1.29.10/bin/linux/amd64/kubelet",
                    k130 = "dl.k8s.io/release/v1.30.0/bin/linux/amd64/kubelet";
  fs::path old_pack = pack_of("kubespray-old", {{k129, "kubelet 1.29\n"}, {"crictl.tar.gz", "crictl\n"}}, "files");
  fs::path new_pack = pack_of("kubespray-new", {{k130, "kubelet 1.30\n"}, {"crictl.tar.gz", "crictl\n"}}, "files");
  fs::path site = pack_of("site", {{"site/ca.crt", "our CA\n"}}, "files");
  fs::create_directories(tmp_ / "mnt");
  const std::string path = kso_fs_bin().parent_path().string() + ":" + getenv("PATH");
  auto r = run("OLD=" + q(old_pack) + " NEW=" + q(new_pack) + " SITE=" + q(site) + " MNT=" + q(tmp_ / "mnt") +
               " PATH=" + q(path) + " bash -euo pipefail -c " + q(block));
  force_unmount(tmp_ / "mnt");
  ASSERT_EQ(r.status, 0) << block << "\n" << r.output;
  EXPECT_NE(r.output.find(sha256_hex("kubelet 1.29\n")), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(sha256_hex("kubelet 1.30\n")), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("ca.crt"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("union of:       3 packs"), std::string::npos) << r.output;
}

// Mount time of a union of two N-file packs against one pack's, N from
// $KSO_UNION_SCALE (skipped without it: packing 2 x 100k files takes minutes).
TEST_F(FsUnion, ScaleMountTime) {
  const char* n_env = getenv("KSO_UNION_SCALE");
  if (!n_env) GTEST_SKIP() << "set KSO_UNION_SCALE=100000 to measure";
  size_t n = size_t(strtoull(n_env, nullptr, 10));
  make_wide_tree(tmp_ / "wa", n, 1);
  make_wide_tree(tmp_ / "wb", n, 2);  // the same paths, other content: prefer= decides every file
  put(tmp_ / "wb/extra/only-b", "b\n", 1600000000);
  pack_dirs(tmp_ / "wa.kso", {"data=" + (tmp_ / "wa").string()});
  pack_dirs(tmp_ / "wb.kso", {"data=" + (tmp_ / "wb").string()});
  make_wide_tree(tmp_ / "wc", n, 1);  // A's tree again: every path shared, no conflicts
  pack_dirs(tmp_ / "wc.kso", {"data=" + (tmp_ / "wc").string()});
  auto time_mount = [&](const std::vector<fs::path>& packs, const std::string& opts) {
    fs::path mnt = tmp_ / "mnt";
    fs::create_directories(mnt);
    std::string cmd = q(kso_fs_bin());
    for (auto& p : packs) cmd += " " + q(p);
    cmd += " " + q(mnt) + (opts.empty() ? "" : " -o " + opts);
    // Warm page cache (the packs were just written): the time is the
    // indexes' reading and merging, not the disk's.
    auto t0 = std::chrono::steady_clock::now();
    auto r = run(cmd);  // returns once mounted (it daemonizes after the union is built)
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_TRUE(fs::exists(mnt / "data/d000/d00/f000000.txt"));
    run("umount " + q(mnt));
    force_unmount(mnt);
    return ms;
  };
  double one = time_mount({tmp_ / "wa.kso"}, "");
  double same = time_mount({tmp_ / "wa.kso", tmp_ / "wc.kso"}, "");
  double differ = time_mount({tmp_ / "wa.kso", tmp_ / "wb.kso"}, "prefer=last");
  std::cerr << "mount of " << n << " files: one pack " << one << " ms; union of two equal packs " << same
            << " ms; union of two packs differing in every file (prefer=last) " << differ << " ms\n";
  RecordProperty("one_pack_ms", int(one));
  RecordProperty("union_ms", int(same));
}

}  // namespace
}  // namespace kso::test
