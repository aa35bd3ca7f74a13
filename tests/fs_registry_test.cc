// kso-fs acceptance with a real peer: a registry:2 storage tree (pushed to an
// upstream docker-registry with skopeo) packed, mounted, and served by a
// read-only docker-registry whose rootdirectory is on the mount. Pulls of
// every platform must give the upstream digests and bytes.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "tests/support/mount_fixture.h"
#include "tests/support/registry_fixture.h"

namespace kso::test {
namespace {

using nlohmann::json;

struct Pushed {
  TestImage img;
  PushedImage out;
  std::string ref() const { return img.repo + ":" + img.tag; }
};

// One upstream registry with the test images, its storage packed and mounted,
// and a read-only registry on the mount; shared by the tests of this file.
struct RegistryWorld {
  TempDir tmp{"kso-fs-registry"};
  std::unique_ptr<TestRegistry> upstream, ro;
  std::unique_ptr<Mount> mount;
  std::vector<Pushed> images;
  std::string error;  // set when the setup failed
};

RegistryWorld* g_world = nullptr;

class FsRegistry : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fuse_unavailable_reason().empty() || !TestRegistry::available() || !have_command("curl")) return;
    g_world = new RegistryWorld;
    try {
      build(*g_world);
    } catch (const std::exception& e) {
      g_world->error = e.what();
    }
  }
  static void TearDownTestSuite() {
    if (!g_world) return;
    g_world->ro.reset();
    g_world->mount.reset();
    g_world->upstream.reset();
    delete g_world;
    g_world = nullptr;
  }

  static TestPlatformImage platform(const fs::path& scratch, const std::string& arch, const std::string& variant,
                                    const std::string& name, const TestLayer& shared) {
    TestPlatformImage p;
    p.arch = arch;
    p.variant = variant;
    p.layers.push_back(shared);  // the same base layer in every arch: deduped in the registry
    p.layers.push_back(make_layer(scratch, {{"usr/bin/" + name, "binary of " + name + " for " + arch + "\n" +
                                                                    random_bytes(20000, std::hash<std::string>()(name + arch))},
                                            {"etc/" + name + ".conf", "arch=" + arch + "\n"}}));
    return p;
  }

  static void build(RegistryWorld& w) {
    fs::path scratch = w.tmp / "scratch";
    fs::create_directories(scratch);
    w.upstream = std::make_unique<TestRegistry>(w.tmp / "upstream", TestRegistry::Options{w.tmp / "upstream/storage"});
    TestLayer base = make_layer(scratch, {{"etc/os-release", "ID=kso-test\n"}, {"lib/libc.so", random_bytes(50000, 1)}});

    auto add = [&](std::string repo, std::string tag, ManifestFormat f, std::vector<std::string> arches,
                   bool single = false) {
      TestImage img;
      img.repo = repo;
      img.tag = tag;
      img.format = f;
      img.single_arch = single;
      for (auto& a : arches) {
        std::string arch = a, variant;
        if (auto s = a.find('/'); s != std::string::npos) {
          arch = a.substr(0, s);
          variant = a.substr(s + 1);
        }
        img.platforms.push_back(platform(scratch, arch, variant, repo + tag, base));
      }
      w.images.push_back({img, push_image(img, *w.upstream, scratch)});
    };
    add("kube-apiserver", "v1.29.10", ManifestFormat::Oci, {"amd64", "arm64"});
    add("calico/node", "v3.27.3", ManifestFormat::Docker, {"amd64", "arm64", "arm/v7"});
    add("coredns/coredns", "v1.11.1", ManifestFormat::Oci, {"amd64", "arm64"});
    add("pause", "3.9", ManifestFormat::Oci, {"amd64"}, true);
    add("kube-apiserver", "v1.30.0", ManifestFormat::Oci, {"amd64", "arm64"});  // a second tag

    fs::path pack = w.tmp / "registry.kso";
    pack_dirs(pack, {"registry=" + (w.tmp / "upstream/storage").string()});
    w.mount = std::make_unique<Mount>(pack, w.tmp / "mnt", Mount::Options{"allow_other", {}});
    TestRegistry::Options ro{w.mount->path() / "registry"};
    ro.readonly = true;
    w.ro = std::make_unique<TestRegistry>(w.tmp / "ro", ro);
  }

  void SetUp() override {
    std::string why = fuse_unavailable_reason();
    if (!why.empty()) GTEST_SKIP() << "kso-fs + registry tests need FUSE: " << why;
    if (!TestRegistry::available()) GTEST_SKIP() << "docker-registry and skopeo are not installed";
    if (!have_command("curl")) GTEST_SKIP() << "curl is not installed";
    ASSERT_NE(g_world, nullptr);
    ASSERT_EQ(g_world->error, "") << "setup failed";
    w_ = g_world;
  }

  std::string inspect_raw(const TestRegistry& reg, const std::string& ref) {
    auto r = run("skopeo inspect --raw --tls-verify=false --no-creds " + q("docker://" + reg.host() + "/" + ref));
    EXPECT_EQ(r.status, 0) << ref << ": " << r.output << w_->ro->log();
    return r.output;
  }

  RegistryWorld* w_ = nullptr;
};

TEST_F(FsRegistry, MountHoldsTheRegistryLayout) {
  fs::path v2 = w_->mount->path() / "registry/docker/registry/v2";
  EXPECT_TRUE(fs::is_directory(v2 / "blobs/sha256"));
  EXPECT_TRUE(fs::is_directory(v2 / "repositories/calico/node/_manifests"));
  auto d = run("diff -r --no-dereference " + q(w_->tmp / "upstream/storage") + " " + q(w_->mount->path() / "registry"));
  EXPECT_EQ(d.status, 0) << d.output;
  // Link files are exact: "sha256:<hex>", no newline.
  auto& k = w_->images[0];
  std::string link = read_file(v2 / "repositories" / k.img.repo / "_manifests/tags" / k.img.tag / "current/link");
  EXPECT_EQ(link, k.out.digest);
}

TEST_F(FsRegistry, PullEveryPlatformWithUpstreamDigests) {
  for (auto& p : w_->images) {
    for (auto& [plat, digest] : p.out.platform_digest) {
      std::string arch = plat.substr(plat.find('/') + 1), variant;
      if (auto s = arch.find('/'); s != std::string::npos) {
        variant = arch.substr(s + 1);
        arch = arch.substr(0, s);
      }
      SCOPED_TRACE(p.ref() + " " + plat);
      fs::path out = w_->tmp / "pulls" / (p.img.repo + "_" + p.img.tag + "_" + arch + variant);
      fs::create_directories(out.parent_path());
      std::string cmd = "skopeo copy --quiet " + skopeo_flags(w_->ro.get(), "src") + " --override-os linux --override-arch " +
                        arch + (variant.empty() ? "" : " --override-variant " + variant) + " " +
                        q("docker://" + w_->ro->host() + "/" + p.ref()) + " " + q("dir:" + out.string());
      auto r = run(cmd);
      ASSERT_EQ(r.status, 0) << cmd << "\n" << r.output << w_->ro->log();
      // The platform manifest and every blob, byte-exact.
      std::vector<std::string> blobs;
      ASSERT_NO_THROW(blobs = check_pulled_manifest(out, digest));
      for (auto& b : blobs)
        EXPECT_TRUE(std::find(p.out.blobs.begin(), p.out.blobs.end(), b) != p.out.blobs.end()) << b;
    }
  }
}

TEST_F(FsRegistry, RawManifestsAndDigestsEqualUpstream) {
  std::string accept = "-H 'Accept: application/vnd.oci.image.index.v1+json' "
                       "-H 'Accept: application/vnd.oci.image.manifest.v1+json' "
                       "-H 'Accept: application/vnd.docker.distribution.manifest.list.v2+json' "
                       "-H 'Accept: application/vnd.docker.distribution.manifest.v2+json' ";
  for (auto& p : w_->images) {
    SCOPED_TRACE(p.ref());
    std::string up = inspect_raw(*w_->upstream, p.ref());
    std::string ro = inspect_raw(*w_->ro, p.ref());
    EXPECT_TRUE(ro == up) << "index bytes differ";
    EXPECT_TRUE(ro == p.out.bytes);
    EXPECT_EQ("sha256:" + sha256_hex(ro), p.out.digest);
    // By digest too, and each child manifest.
    EXPECT_TRUE(inspect_raw(*w_->ro, p.img.repo + "@" + p.out.digest) == up);
    for (auto& [plat, digest] : p.out.platform_digest) {
      std::string child = inspect_raw(*w_->ro, p.img.repo + "@" + digest);
      EXPECT_EQ("sha256:" + sha256_hex(child), digest) << plat;
      EXPECT_TRUE(child == inspect_raw(*w_->upstream, p.img.repo + "@" + digest)) << plat;
    }
    // The registry's own digest header (HEAD and GET read the same files).
    auto r = run("curl -sS --fail -I " + accept + q(w_->ro->url() + "/v2/" + p.img.repo + "/manifests/" + p.img.tag));
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("Docker-Content-Digest: " + p.out.digest), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("Content-Length: " + std::to_string(p.out.bytes.size())), std::string::npos) << r.output;
  }
}

TEST_F(FsRegistry, CopyAllAndBlobRanges) {
  auto& p = w_->images[1];  // calico/node, three platforms
  fs::path out = w_->tmp / "all";
  auto r = run("skopeo copy --quiet --all " + skopeo_flags(w_->ro.get(), "src") + " " +
               q("docker://" + w_->ro->host() + "/" + p.ref()) + " " + q("dir:" + out.string()));
  ASSERT_EQ(r.status, 0) << r.output << w_->ro->log();
  EXPECT_TRUE(read_file(out / "manifest.json") == p.out.bytes);
  for (auto& b : p.out.blobs) {
    ASSERT_TRUE(fs::exists(out / b.substr(7))) << b;
    EXPECT_EQ("sha256:" + sha256_file_hex(out / b.substr(7)), b);
  }
  // Blob GET with a Range (Go's ServeContent over the mount) and HEAD sizes.
  std::string blob = p.out.blobs[0];
  std::string data = read_file(out / blob.substr(7));
  ASSERT_GT(data.size(), 200u);
  std::string burl = w_->ro->url() + "/v2/" + p.img.repo + "/blobs/" + blob;
  r = run("curl -sS --fail -L -r 100-199 " + q(burl));
  EXPECT_TRUE(r.output == data.substr(100, 100));
  r = run("curl -sS --fail -I " + q(burl));
  EXPECT_NE(r.output.find("Content-Length: " + std::to_string(data.size())), std::string::npos) << r.output;
}

TEST_F(FsRegistry, CatalogAndTagsListEverything) {
  auto r = run("curl -sS --fail " + q(w_->ro->url() + "/v2/_catalog"));
  ASSERT_EQ(r.status, 0) << r.output;
  auto up = run("curl -sS --fail " + q(w_->upstream->url() + "/v2/_catalog"));
  EXPECT_EQ(r.output, up.output);
  std::set<std::string> got, want;
  auto catalog = json::parse(r.output);
  for (auto& n : catalog["repositories"]) got.insert(n.get<std::string>());
  std::map<std::string, std::set<std::string>> tags;
  for (auto& p : w_->images) {
    want.insert(p.img.repo);
    tags[p.img.repo].insert(p.img.tag);
  }
  EXPECT_EQ(got, want);
  for (auto& [repo, t] : tags) {
    r = run("curl -sS --fail " + q(w_->ro->url() + "/v2/" + repo + "/tags/list"));
    ASSERT_EQ(r.status, 0) << r.output;
    auto j = json::parse(r.output);
    EXPECT_EQ(j["name"], repo);
    std::set<std::string> gt;
    for (auto& x : j["tags"]) gt.insert(x.get<std::string>());
    EXPECT_EQ(gt, t) << repo;
  }
}

TEST_F(FsRegistry, ReadOnlyRegistryRefusesPushes) {
  auto& p = w_->images[0];
  auto r = run("skopeo copy --quiet " + skopeo_flags(w_->upstream.get(), "src") + " " +
               skopeo_flags(w_->ro.get(), "dest") + " " + q("docker://" + w_->upstream->host() + "/" + p.ref()) +
               " " + q("docker://" + w_->ro->host() + "/pushed/here:v1"));
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_TRUE(w_->mount->alive());
  EXPECT_FALSE(fs::exists(w_->mount->path() / "registry/docker/registry/v2/repositories/pushed"));
}

}  // namespace
}  // namespace kso::test
