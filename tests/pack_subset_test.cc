// kso-pack subset (tools/pack_subset.cc): a pack of only what some platforms
// need, written from a two-arch pack. The input holds a kubespray files tree
// in wget -x layout and registry:2 storage with multi-arch images (an OCI
// index with attestations, a Docker manifest list, single-platform images);
// each subset is mounted with kso-fs and checked through real peers: nginx
// serves every kept file and 404s the dropped ones, a read-only registry:2 on
// the mount serves the kept platform to skopeo by tag and by digest and says
// "manifest unknown" for the other, and the subset is smaller than its input
// by what only the dropped arch used. docs/DELTA.md's "Subsets" procedure is
// run as written.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <functional>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "tests/support/mount_fixture.h"
#include "tests/support/nginx_conf.h"
#include "tests/support/registry_fixture.h"
#include "tests/support/testutil.h"
#include "tests/support/tree_gen.h"
#include "index/pack_open.h"
#include "tools/kso_pack.h"
#include "tools/pack_subset.h"

namespace kso::test {
namespace {

using nlohmann::json;
using Archs = std::vector<std::string>;

using PackRun = ToolResult;  // kso_pack() (tests/support/testutil.h): in-process, through the I/O seam

bool has_line(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

// ---------------------------------------------------------------------------
// archs_named(): which architectures a path names.

TEST(PackSubsetArchs, PathSegmentsAndFilenameTokens) {
  const std::vector<std::pair<std::string, Archs>> cases = {
      {"dl.k8s.io/release/v1.31.0/bin/linux/amd64/kubelet", {"amd64"}},
      {"dl.k8s.io/release/v1.31.0/bin/linux/arm64/kubelet", {"arm64"}},
      {"github.com/containerd/containerd/releases/download/v1.7.22/containerd-1.7.22-linux-arm64.tar.gz", {"arm64"}},
      {"github.com/opencontainers/runc/releases/download/v1.1.14/runc.amd64", {"amd64"}},
      {"storage.googleapis.com/gvisor/releases/release/20240305/x86_64/runsc", {"amd64"}},
      {"storage.googleapis.com/gvisor/releases/release/20240305/aarch64/runsc", {"arm64"}},
      {"x86_64", {"amd64"}},
      {"foo.x86_64.rpm", {"amd64"}},
      {"libfoo_x86_64.so", {"amd64"}},
      {"youki-0.4.1-x86_64-musl.tar.gz", {"amd64"}},
      {"el9/foo-1.0-1.el9.aarch64.rpm", {"arm64"}},
      {"cni-plugins-linux-arm-v1.5.1.tgz", {"arm"}},
      {"linux/armv7/tool", {"arm"}},
      {"helm-v3.16.1-linux-ppc64le.tar.gz", {"ppc64le"}},
      {"dl.k8s.io/release/v1.31.0/bin/linux/s390x/kubectl", {"s390x"}},
      {"KUBELET-AMD64", {"amd64"}},  // any case
      // Aliases fold into one name; several architectures are all named.
      {"amd64/x86_64/tool", {"amd64"}},
      {"bundle-amd64-arm64.tar", {"amd64", "arm64"}},
      {"x86_64_x86_64.aarch64", {"amd64", "arm64"}},
  };
  for (auto& [path, archs] : cases) EXPECT_EQ(archs_named(path), archs) << path;
}

TEST(PackSubsetArchs, AnArchInsideAWordIsNone) {
  for (const char* p : {"", "armory.txt", "charm", "files/charm/charm.tar.gz", "farm/harmony.md", "x86_64abc",
                        "abcx86_64", "x86_64abc/tool", "tool-x86_64abc.tar", "amd64x", "xamd64.rpm", "arm64e",
                        "aarch64x/y", "s390", "ppc64", "x86/64", "linux/x86/kubelet", "swarm-v1.tar.gz",
                        "github.com/kubernetes-sigs/gateway-api/releases/download/v1.1.0/standard-install.yaml"})
    EXPECT_EQ(archs_named(p), Archs{}) << p;
}

// ---------------------------------------------------------------------------
// The two-arch pack, its subsets, and the peers serving them.

// One file of the files tree: its path below files/, the arch it is for
// ("" = every arch) and its content.
struct TreeFile {
  std::string path, arch, data;
};

std::vector<TreeFile> kubespray_files() {
  std::vector<TreeFile> t;
  uint64_t seed = 100;
  auto add = [&](const std::string& path, const std::string& arch, size_t size) {
    t.push_back({path, arch, random_bytes(size, seed++)});
  };
  for (std::string a : {"amd64", "arm64"}) {
    const std::string gnu = a == "amd64" ? "x86_64" : "aarch64";
    add("dl.k8s.io/release/v1.31.0/bin/linux/" + a + "/kubelet", a, 2000000);
    add("dl.k8s.io/release/v1.31.0/bin/linux/" + a + "/kubectl", a, 1000000);
    add("github.com/containerd/containerd/releases/download/v1.7.22/containerd-1.7.22-linux-" + a + ".tar.gz", a,
        600000);
    add("github.com/kubernetes-sigs/cri-tools/releases/download/v1.31.1/crictl-v1.31.1-linux-" + a + ".tar.gz", a,
        300000);
    add("github.com/opencontainers/runc/releases/download/v1.1.14/runc." + a, a, 400000);
    add("storage.googleapis.com/gvisor/releases/release/20240305/" + gnu + "/runsc", a, 300000);
    add("github.com/containers/youki/releases/download/v0.4.1/youki-0.4.1-" + gnu + "-musl.tar.gz", a, 200000);
    add("mirror.example/el9/socat-1.7.4.1-5.el9." + gnu + ".rpm", a, 100000);
  }
  add("github.com/kubernetes-sigs/gateway-api/releases/download/v1.1.0/standard-install.yaml", "", 150000);
  add("github.com/containerd/containerd/releases/download/v1.7.22/SHA256SUMS", "", 2000);
  add("github.com/projectcalico/calico/archive/v3.28.1.tar.gz", "", 500000);
  add("armory.txt", "", 3000);
  add("charm/charm.tar.gz", "", 40000);
  add("x86_64abc/tool", "", 20000);
  add("mirror.example/bundle-amd64-arm64.tar", "", 60000);  // names both: kept by either
  return t;
}

bool kept_by(const TreeFile& f, const std::string& arch) { return f.arch.empty() || f.arch == arch; }

// One pushed test image.
struct WorldImage {
  TestImage img;
  PushedImage pushed;
  std::string ref() const { return img.repo + ":" + img.tag; }
  bool multi() const { return !img.single_arch; }
  std::string single_arch() const { return img.single_arch ? img.platforms[0].arch : ""; }
};

// One subset (`--platform linux/ARCH`): the pack, what the command printed,
// and (during the PackSubset suite) a kso-fs mount of it with nginx and a
// read-only registry:2 serving the mount.
struct Side {
  std::string arch, other;
  fs::path pack;
  PackRun made;
  std::unique_ptr<Mount> mount;
  std::unique_ptr<TestRegistry> ro;
  std::unique_ptr<Daemon> nginx;
  int nginx_port = 0;
};

// The input pack and its two subsets, made once per test process (removed at
// exit); the upstream registry's storage stays for the tests to read.
struct World {
  std::unique_ptr<TempDir> tmp = std::make_unique<TempDir>("kso-subset");
  std::vector<TreeFile> files;
  std::vector<WorldImage> images;
  fs::path input;
  std::map<std::string, Side> sides;  // by the arch kept
  std::string error;                  // set when making it failed
  fs::path dir() const { return tmp->path(); }
  fs::path storage() const { return dir() / "upstream/storage"; }
  fs::path blob(const std::string& digest) const {
    return storage() / "docker/registry/v2/blobs/sha256" / digest.substr(7, 2) / digest.substr(7) / "data";
  }
};

// The digests a manifest in `w`'s upstream storage uses: itself, its config, its layers.
std::vector<std::string> manifest_blobs(const World& w, const std::string& digest) {
  auto m = json::parse(read_file(w.blob(digest)));
  std::vector<std::string> out{digest, m["config"]["digest"].get<std::string>()};
  for (auto& l : m["layers"]) out.push_back(l["digest"].get<std::string>());
  return out;
}

// Every manifest of the world's images with the arch it is for ("" for the
// indexes, which every subset keeps): attestations are for what they attest.
std::vector<std::pair<std::string, std::string>> manifests_by_arch(const World& w) {
  std::vector<std::pair<std::string, std::string>> out;
  for (auto& i : w.images) {
    if (!i.multi()) {
      out.emplace_back(i.pushed.digest, i.single_arch());
      continue;
    }
    out.emplace_back(i.pushed.digest, "");
    for (auto& [plat, d] : i.pushed.platform_digest) out.emplace_back(d, plat.substr(plat.find('/') + 1));
    for (auto& [plat, d] : i.pushed.attestation_digest) out.emplace_back(d, plat.substr(plat.find('/') + 1));
  }
  return out;
}

// The blobs only manifests for `arch` use (what a subset without it drops).
std::set<std::string> arch_only_blobs(const World& w, const std::string& arch) {
  std::set<std::string> mine, others;
  for (auto& [d, a] : manifests_by_arch(w)) {
    if (a.empty()) {
      others.insert(d);
      continue;
    }
    for (auto& b : manifest_blobs(w, d)) (a == arch ? mine : others).insert(b);
  }
  std::set<std::string> out;
  for (auto& b : mine)
    if (!others.count(b)) out.insert(b);
  return out;
}

void make_world(World& w) {
  fs::path scratch = w.dir() / "scratch";
  w.files = kubespray_files();
  for (auto& f : w.files) write_file(w.dir() / "files" / f.path, f.data);

  TestRegistry upstream(w.dir() / "upstream", TestRegistry::Options{w.storage()});
  // A base layer every platform of every image has, an arch's library layer
  // two images share, and each image's own layer per arch.
  TestLayer base = make_layer(scratch, {{"etc/os-release", "ID=kso-subset\n"}, {"lib/libc.so", random_bytes(300000, 1)}});
  std::map<std::string, TestLayer> libs;
  for (std::string a : {"amd64", "arm64"})
    libs[a] = make_layer(scratch, {{"usr/lib/libarch.so", random_bytes(400000, std::hash<std::string>()(a))}});
  auto platform = [&](const std::string& name, const std::string& arch, bool with_libs) {
    TestPlatformImage p;
    p.arch = arch;
    p.layers.push_back(base);
    if (with_libs) p.layers.push_back(libs[arch]);
    p.layers.push_back(
        make_layer(scratch, {{"usr/bin/" + name, random_bytes(250000, std::hash<std::string>()(name + arch))}}));
    return p;
  };
  // BuildKit's provenance attestation of one platform: an in-toto statement.
  auto attestation = [&](const std::string& name, const std::string& arch) {
    TestPlatformImage p;
    p.os = p.arch = "unknown";
    p.attests = "linux/" + arch;
    json statement = {{"_type", "https://in-toto.io/Statement/v0.1"},
                      {"predicateType", "https://slsa.dev/provenance/v0.2"},
                      {"subject", {{{"name", name}, {"digest", {{"sha256", sha256_hex(name + arch)}}}}}},
                      {"predicate", {{"buildType", "https://mobyproject.org/buildkit@v1"}}}};
    std::string data = statement.dump() + std::string(30000, ' ');
    p.layers.push_back(TestLayer{data, "sha256:" + sha256_hex(data)});
    return p;
  };
  auto push = [&](TestImage img) { w.images.push_back({img, push_image(img, upstream, scratch)}); };

  TestImage apiserver{"kube-apiserver", "v1.31.0", ManifestFormat::Oci, {}, false};
  apiserver.platforms = {platform("kube-apiserver", "amd64", true), platform("kube-apiserver", "arm64", true),
                         attestation("kube-apiserver", "amd64"), attestation("kube-apiserver", "arm64")};
  push(apiserver);
  TestImage calico{"calico/node", "v3.28.1", ManifestFormat::Docker, {}, false};
  calico.platforms = {platform("calico-node", "amd64", true), platform("calico-node", "arm64", true)};
  push(calico);
  TestImage pause{"pause", "3.10", ManifestFormat::Oci, {platform("pause", "amd64", false)}, true};
  push(pause);
  TestImage tool{"kubespray/arm-tool", "v1", ManifestFormat::Docker, {platform("arm-tool", "arm64", false)}, true};
  push(tool);
  upstream.stop();

  w.input = w.dir() / "k8s.kso";
  auto r = kso_pack({"build", "-o", w.input.string(), "--level", "3", "files=" + (w.dir() / "files").string(),
                     "registry=" + w.storage().string()});
  if (r.status != 0) throw std::runtime_error("kso-pack build failed: " + r.out + r.err);
  for (auto [arch, other] : {std::pair<std::string, std::string>{"amd64", "arm64"}, {"arm64", "amd64"}}) {
    Side& s = w.sides[arch];
    s.arch = arch;
    s.other = other;
    s.pack = w.dir() / ("k8s-" + arch + ".kso");
    s.made = kso_pack({"subset", "--platform", "linux/" + arch, w.input.string(), "-o", s.pack.string()});
    if (s.made.status != 0) throw std::runtime_error("kso-pack subset failed: " + s.made.out + s.made.err);
  }
}

std::string skip_reason() {
  if (auto why = fuse_unavailable_reason(); !why.empty()) return "needs FUSE: " + why;
  if (!TestRegistry::available()) return "docker-registry and skopeo are not installed";
  for (auto* tool : {"nginx", "curl"})
    if (!have_command(tool)) return std::string(tool) + " is not installed";
  return "";
}

World& world() {
  static std::unique_ptr<World> w;
  if (!w) {
    w = std::make_unique<World>();
    try {
      make_world(*w);
    } catch (const std::exception& e) {
      w->error = e.what();
    }
  }
  return *w;
}

class PackSubset : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    if (!skip_reason().empty()) return;
    World& w = world();
    if (!w.error.empty()) return;
    try {
      for (auto& [arch, s] : w.sides) {
        s.mount = std::make_unique<Mount>(s.pack, w.dir() / ("mnt-" + arch), Mount::Options{"allow_other", {}});
        TestRegistry::Options ro{s.mount->path() / "registry"};
        ro.readonly = true;
        s.ro = std::make_unique<TestRegistry>(w.dir() / ("ro-" + arch), ro);
        s.nginx_port = free_port();
        fs::path ng = w.dir() / ("nginx-" + arch);
        write_nginx_conf(ng, s.nginx_port, s.mount->path());
        s.nginx = std::make_unique<Daemon>("nginx -p " + q(ng) + " -c " + q(ng / "nginx.conf") + " -g 'daemon off;'",
                                           ng / "stderr.log");
        if (!wait_for_port(s.nginx_port))
          throw std::runtime_error("nginx did not start: " + read_file(ng / "stderr.log"));
      }
    } catch (const std::exception& e) {
      w.error = e.what();
    }
  }
  static void TearDownTestSuite() {
    if (!skip_reason().empty()) return;
    for (auto& [a, s] : world().sides) {  // the peers before the mount they serve
      s.nginx.reset();
      s.ro.reset();
      s.mount.reset();
    }
  }
  void SetUp() override {
    if (auto why = skip_reason(); !why.empty()) GTEST_SKIP() << why;
    w_ = &world();
    ASSERT_EQ(w_->error, "") << "setup failed";
    s_ = &w_->sides.at(GetParam());
    ASSERT_TRUE(s_->mount && s_->ro && s_->nginx);
  }

  // `skopeo copy` from the side's read-only registry into a fresh dir.
  RunResult pull(const std::string& ref, const std::string& arch, const std::string& flags = "") {
    static int n = 0;
    last_pull_ = w_->dir() / "pulls" / std::to_string(n++);
    fs::create_directories(last_pull_.parent_path());
    return run("skopeo copy --quiet " + skopeo_flags(s_->ro.get(), "src") + " --override-os linux --override-arch " +
               arch + " " + flags + " " + q("docker://" + s_->ro->host() + "/" + ref) + " " +
               q("dir:" + last_pull_.string()));
  }
  RunResult inspect_raw(const std::string& ref) {
    return run("skopeo inspect --raw --tls-verify=false --no-creds " + q("docker://" + s_->ro->host() + "/" + ref));
  }
  // The HTTP status the side's registry gives a HEAD of blob `digest` in `repo`.
  std::string blob_status(const std::string& repo, const std::string& digest) {
    return run("curl -s -o /dev/null -I -w '%{http_code}' " + q(s_->ro->url() + "/v2/" + repo + "/blobs/" + digest))
        .output;
  }
  // The image pulled last is exactly manifest `digest` and its blobs.
  void expect_pulled(const std::string& digest) {
    std::string manifest = read_file(last_pull_ / "manifest.json");
    EXPECT_EQ("sha256:" + sha256_hex(manifest), digest);
    for (auto& b : manifest_blobs(*w_, digest)) {
      if (b == digest) continue;
      ASSERT_TRUE(fs::exists(last_pull_ / b.substr(7))) << b;
      EXPECT_EQ("sha256:" + sha256_file_hex(last_pull_ / b.substr(7)), b);
    }
  }

  World* w_ = nullptr;
  Side* s_ = nullptr;
  fs::path last_pull_;
};

INSTANTIATE_TEST_SUITE_P(Arch, PackSubset, ::testing::Values("amd64", "arm64"),
                         [](const auto& info) { return info.param; });

TEST_P(PackSubset, SubsetVerifiesAndSaysWhatWent) {
  EXPECT_EQ(kso_pack({"verify", s_->pack.string()}).status, 0);
  const std::string& out = s_->made.out;
  for (auto& f : w_->files)
    EXPECT_EQ(has_line(out, "drop file files/" + f.path), !kept_by(f, s_->arch)) << f.path << "\n" << out;
  for (auto& i : w_->images) {
    if (i.multi()) {
      EXPECT_TRUE(has_line(out, "drop manifest " + i.img.repo + "@" + i.pushed.platform_digest.at("linux/" + s_->other)))
          << out;
      EXPECT_FALSE(has_line(out, "drop manifest " + i.img.repo + "@" + i.pushed.platform_digest.at("linux/" + s_->arch)))
          << out;
    } else if (i.single_arch() == s_->other) {
      EXPECT_TRUE(has_line(out, "drop tag " + i.ref() + " (" + i.pushed.digest + ")")) << out;
    }
  }
}

TEST_P(PackSubset, NginxServesEveryKeptFileAndNoDroppedOne) {
  size_t kept = 0, dropped = 0;
  for (auto& f : w_->files) {
    SCOPED_TRACE(f.path);
    fs::path got = w_->dir() / ("http-" + s_->arch) / f.path;
    fs::create_directories(got.parent_path());
    auto r = run("curl -s -o " + q(got) + " -w '%{http_code}' " +
                 q("http://127.0.0.1:" + std::to_string(s_->nginx_port) + "/files/" + f.path));
    if (kept_by(f, s_->arch)) {
      kept++;
      ASSERT_EQ(r.output, "200");
      EXPECT_EQ(sha256_file_hex(got), sha256_hex(f.data));
    } else {
      dropped++;
      EXPECT_EQ(r.output, "404");
    }
  }
  EXPECT_EQ(kept, 7u + 8u);
  EXPECT_EQ(dropped, 8u);
  // And the mount holds no other file.
  std::set<std::string> want, have;
  for (auto& f : w_->files)
    if (kept_by(f, s_->arch)) want.insert(f.path);
  for (auto& [rel, n] : lstat_tree(s_->mount->path() / "files"))
    if (S_ISREG(n.mode)) have.insert(rel);
  EXPECT_EQ(have, want);
}

TEST_P(PackSubset, RegistryServesTheKeptPlatformOnly) {
  for (auto& i : w_->images) {
    SCOPED_TRACE(i.ref());
    if (!i.multi()) continue;
    // The index, byte-exact by tag and by digest.
    auto r = inspect_raw(i.ref());
    ASSERT_EQ(r.status, 0) << r.output << s_->ro->log();
    EXPECT_TRUE(r.output == i.pushed.bytes) << "index bytes differ";
    EXPECT_EQ("sha256:" + sha256_hex(r.output), i.pushed.digest);
    r = inspect_raw(i.img.repo + "@" + i.pushed.digest);
    EXPECT_TRUE(r.output == i.pushed.bytes);
    // The kept platform by tag, by the index's digest and by its own.
    const std::string mine = i.pushed.platform_digest.at("linux/" + s_->arch);
    r = pull(i.ref(), s_->arch);
    ASSERT_EQ(r.status, 0) << r.output << s_->ro->log();
    expect_pulled(mine);
    r = pull(i.img.repo + "@" + i.pushed.digest, s_->arch);
    ASSERT_EQ(r.status, 0) << r.output;
    expect_pulled(mine);
    r = pull(i.img.repo + "@" + mine, s_->arch);
    ASSERT_EQ(r.status, 0) << r.output;
    expect_pulled(mine);
    // The other one: by tag and by digest, the registry's "manifest unknown".
    const std::string theirs = i.pushed.platform_digest.at("linux/" + s_->other);
    r = pull(i.ref(), s_->other);
    EXPECT_NE(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("manifest unknown"), std::string::npos) << r.output;
    r = pull(i.img.repo + "@" + theirs, s_->other);
    EXPECT_NE(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("manifest unknown"), std::string::npos) << r.output;
    // A whole-index copy fails by design (docs/DELTA.md, "Subsets").
    r = pull(i.ref(), s_->arch, "--all");
    EXPECT_NE(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("manifest unknown"), std::string::npos) << r.output;
  }
}

TEST_P(PackSubset, AttestationsStayWithWhatTheyAttest) {
  const WorldImage& i = w_->images[0];
  ASSERT_EQ(i.pushed.attestation_digest.size(), 2u);
  const std::string mine = i.pushed.attestation_digest.at("linux/" + s_->arch);
  const std::string theirs = i.pushed.attestation_digest.at("linux/" + s_->other);
  auto r = inspect_raw(i.img.repo + "@" + mine);
  ASSERT_EQ(r.status, 0) << r.output << s_->ro->log();
  EXPECT_TRUE(r.output == read_file(w_->blob(mine)));
  for (auto& b : manifest_blobs(*w_, mine))  // its config and in-toto layer (the manifest is no blob of the repo)
    if (b != mine) {
      EXPECT_EQ(blob_status(i.img.repo, b), "200") << b;
    }
  r = inspect_raw(i.img.repo + "@" + theirs);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("manifest unknown"), std::string::npos) << r.output;
  for (auto& b : manifest_blobs(*w_, theirs))
    if (b != theirs) {
      EXPECT_EQ(blob_status(i.img.repo, b), "404") << b;
    }
}

TEST_P(PackSubset, SinglePlatformImagesOfTheOtherArchGoWithTheirTags) {
  for (auto& i : w_->images) {
    if (i.multi()) continue;
    SCOPED_TRACE(i.ref());
    auto r = pull(i.ref(), i.single_arch());
    if (i.single_arch() == s_->arch) {
      ASSERT_EQ(r.status, 0) << r.output << s_->ro->log();
      expect_pulled(i.pushed.digest);
    } else {
      EXPECT_NE(r.status, 0) << r.output;
      EXPECT_NE(r.output.find("manifest unknown"), std::string::npos) << r.output;
      EXPECT_FALSE(fs::exists(s_->mount->path() / "registry/docker/registry/v2/repositories" / i.img.repo /
                              "_manifests/tags" / i.img.tag));
    }
  }
}

TEST_P(PackSubset, BlobsOnlyTheOtherArchUsesAreGone) {
  std::set<std::string> gone = arch_only_blobs(*w_, s_->other);
  ASSERT_GE(gone.size(), 12u);  // manifests, configs, own layers, the shared lib layer, attestation
  fs::path v2 = s_->mount->path() / "registry/docker/registry/v2";
  for (auto& e : fs::recursive_directory_iterator(w_->storage() / "docker/registry/v2/blobs")) {
    if (e.path().filename() != "data") continue;
    std::string digest = "sha256:" + e.path().parent_path().filename().string();
    fs::path there = v2 / fs::relative(e.path(), w_->storage() / "docker/registry/v2");
    EXPECT_EQ(fs::exists(there), !gone.count(digest)) << digest;
  }
}

TEST_P(PackSubset, SmallerByWhatTheDroppedArchAloneHeld) {
  uint64_t only = 0;
  for (auto& f : w_->files)
    if (f.arch == s_->other) only += f.data.size();
  for (auto& b : arch_only_blobs(*w_, s_->other)) only += fs::file_size(w_->blob(b));
  const uint64_t in = fs::file_size(w_->input), out = fs::file_size(s_->pack);
  const uint64_t slack = 64 * 1024;
  ASSERT_GT(in, only);
  EXPECT_LE(out, in - only + slack) << "in " << in << ", out " << out << ", only the other arch " << only;
  EXPECT_GE(out, in - only - slack) << "in " << in << ", out " << out << ", only the other arch " << only;
}

// --dry-run lists the same drops and writes nothing, with -o or without.
TEST_P(PackSubset, DryRunPrintsTheDropsAndWritesNothing) {
  const fs::path never = w_->dir() / ("never-" + s_->arch + ".kso");
  const std::string before = sha256_file_hex(w_->input);
  for (bool with_out : {true, false}) {
    std::vector<std::string> args{"subset", "--platform", "linux/" + s_->arch, "--dry-run", w_->input.string()};
    if (with_out) args.insert(args.end(), {"-o", never.string()});
    auto r = kso_pack(args);
    ASSERT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_FALSE(fs::exists(never));
    for (auto& f : w_->files)
      EXPECT_EQ(has_line(r.out, "drop file files/" + f.path), !kept_by(f, s_->arch)) << f.path << "\n" << r.out;
    // The same list the real run printed; only the summary's verb differs.
    EXPECT_EQ(r.out.substr(0, r.out.rfind("would drop")), s_->made.out.substr(0, s_->made.out.rfind("dropping")));
    EXPECT_NE(r.out.find("would drop: 8 files"), std::string::npos) << r.out;
  }
  EXPECT_EQ(sha256_file_hex(w_->input), before);
  for (auto& e : fs::directory_iterator(w_->dir()))
    EXPECT_EQ(e.path().filename().string().find(".never"), std::string::npos) << "temp file left: " << e.path();
}

// Keeping every platform the pack has drops nothing.
TEST_P(PackSubset, BothArchsKeepEverything) {
  auto r = kso_pack({"subset", "--platform", "linux/" + s_->arch + ",linux/" + s_->other, "--dry-run",
                     w_->input.string()});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.find("drop "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("would drop: 0 files (0 B) outside registry storage, 0 manifests and 0 blobs"),
            std::string::npos)
      << r.out;
  auto again = kso_pack({"subset", "--platform", "linux/" + s_->arch, "--platform", "linux/" + s_->other,
                         "--dry-run", w_->input.string()});
  EXPECT_EQ(again.out, r.out);
}

// docs/DELTA.md's "Subsets" procedure, run as written on the two-arch pack:
// its subset is the one this suite checked, byte for byte.
TEST(PackSubsetDoc, ProcedureAsDocumented) {
  if (auto why = skip_reason(); !why.empty()) GTEST_SKIP() << why;
  const World& w = world();
  ASSERT_EQ(w.error, "") << "setup failed";
  const std::string block = doc_procedure("DELTA.md", "subset");
  ASSERT_FALSE(block.empty()) << "docs/DELTA.md lost its subset procedure";
  TempDir work("kso-subset-doc");
  fs::create_hard_link(w.input, work / "k8s.kso");
  const std::string path = kso_pack_bin().parent_path().string() + ":" + getenv("PATH");
  auto r = run("cd " + q(work.path()) + " && PATH=" + q(path) + " bash -euo pipefail -c " + q(block));
  ASSERT_EQ(r.status, 0) << block << "\n" << r.output;
  EXPECT_NE(r.output.find("drop file files/dl.k8s.io/release/v1.31.0/bin/linux/amd64/kubelet"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("would drop: 8 files"), std::string::npos) << r.output;
  ASSERT_TRUE(fs::exists(work / "k8s-arm64.kso"));
  EXPECT_EQ(sha256_file_hex(work / "k8s-arm64.kso"), sha256_file_hex(w.sides.at("arm64").pack))
      << "the documented run wrote another subset than the one PackSubset checks";
}

// ---------------------------------------------------------------------------
// Bad command lines: exit 2, nothing written.

class PackSubsetCli : public ::testing::Test {
 protected:
  void SetUp() override {
    write_file(tmp_ / "tree/linux/amd64/kubelet", random_bytes(5000, 1));
    write_file(tmp_ / "tree/linux/arm64/kubelet", random_bytes(5000, 2));
    write_file(tmp_ / "tree/README", "neutral\n");
    in_ = tmp_ / "in.kso";
    auto r = kso_pack({"build", "-o", in_.string(), "files=" + (tmp_ / "tree").string()});
    ASSERT_EQ(r.status, 0) << r.out << r.err;
    sha_ = sha256_file_hex(in_);
  }
  void expect_refused(const std::vector<std::string>& args, const std::string& says) {
    auto r = kso_pack(args);
    EXPECT_EQ(r.status, kExitUsage) << r.out << r.err;
    EXPECT_NE(r.err.find(says), std::string::npos) << r.err;
    EXPECT_EQ(sha256_file_hex(in_), sha_) << "the input changed";
  }
  TempDir tmp_{"kso-subset-cli"};
  fs::path in_;
  std::string sha_;
};

TEST_F(PackSubsetCli, NoPlatformIsAUsageError) {
  expect_refused({"subset", in_.string(), "-o", (tmp_ / "out.kso").string()}, "--platform");
  expect_refused({"subset", "--platform", "all", in_.string(), "-o", (tmp_ / "out.kso").string()}, "--platform all");
  EXPECT_FALSE(fs::exists(tmp_ / "out.kso"));
}

TEST_F(PackSubsetCli, AnEmptyOrMalformedPlatformIsAUsageError) {
  // Not the image lists' default (amd64 + arm64): that would keep everything here.
  expect_refused({"subset", "--platform", "", in_.string(), "-o", (tmp_ / "out.kso").string()}, "names no platform");
  expect_refused({"subset", "--platform", ",", in_.string(), "-o", (tmp_ / "out.kso").string()}, "names no platform");
  expect_refused({"subset", "--platform", "arm64", in_.string(), "-o", (tmp_ / "out.kso").string()},
                 "malformed platform 'arm64'");
  EXPECT_FALSE(fs::exists(tmp_ / "out.kso"));
}

TEST_F(PackSubsetCli, NoOutputWithoutDryRunIsAUsageError) {
  expect_refused({"subset", "--platform", "linux/arm64", in_.string()}, "needs -o");
}

TEST_F(PackSubsetCli, TheInputIsNeverTheOutput) {
  expect_refused({"subset", "--platform", "linux/arm64", in_.string(), "-o", in_.string()}, "is the input");
  expect_refused({"subset", "--platform", "linux/arm64", in_.string(), "-o", (tmp_ / "." / "in.kso").string()},
                 "is the input");
  fs::create_symlink(in_, tmp_ / "link.kso");
  expect_refused({"subset", "--platform", "linux/arm64", in_.string(), "-o", (tmp_ / "link.kso").string()},
                 "is the input");
  EXPECT_TRUE(fs::is_symlink(tmp_ / "link.kso"));
}

// A delta's base supplies the subset's bytes: writing the subset over it
// would leave the delta without its base.
TEST_F(PackSubsetCli, ADeltaInputsBaseIsNeverTheOutput) {
  write_file(tmp_ / "tree/linux/arm64/kubectl", random_bytes(5000, 3));
  const fs::path delta = tmp_ / "delta.kso";
  auto r = kso_pack({"build", "--base", in_.string(), "-o", delta.string(), "files=" + (tmp_ / "tree").string()});
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  const std::string delta_sha = sha256_file_hex(delta);
  expect_refused({"subset", "--platform", "linux/arm64", delta.string(), "-o", in_.string()}, "is an input");
  EXPECT_EQ(sha256_file_hex(delta), delta_sha);
  // With the base in place the subset of the delta works, and is standalone.
  r = kso_pack({"subset", "--platform", "linux/arm64", delta.string(), "-o", (tmp_ / "arm64.kso").string()});
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_TRUE(has_line(r.out, "drop dir files/linux/amd64")) << r.out;
  EXPECT_TRUE(has_line(r.out, "drop file files/linux/amd64/kubelet")) << r.out;
  fs::create_directories(tmp_ / "alone");
  fs::rename(tmp_ / "arm64.kso", tmp_ / "alone/arm64.kso");
  EXPECT_EQ(kso_pack({"verify", (tmp_ / "alone/arm64.kso").string()}).status, 0);
  r = kso_pack({"ls", "-R", (tmp_ / "alone/arm64.kso").string()});
  EXPECT_EQ(r.out.find("amd64"), std::string::npos) << r.out;
  r = kso_pack({"cat", (tmp_ / "alone/arm64.kso").string(), "files/linux/arm64/kubectl"});  // no base needed
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(r.out == read_file(tmp_ / "tree/linux/arm64/kubectl"));
}

// ---------------------------------------------------------------------------
// Index shapes push_image does not make, in registry storage written by hand
// (the files registry:2 keeps): entries that name no platform.

// registry:2's storage layout below ROOT/docker/registry/v2.
class HandStorage {
 public:
  explicit HandStorage(const fs::path& root) : v2_(root / "docker/registry/v2") {}
  std::string blob(const std::string& data) {
    std::string hex = sha256_hex(data);
    write_file(v2_ / "blobs/sha256" / hex.substr(0, 2) / hex / "data", data);
    return "sha256:" + hex;
  }
  // An image manifest with `config` and one layer, linked into `repo`.
  std::string image(const std::string& repo, const std::string& config, const std::string& layer) {
    std::string c = blob(config), l = blob(layer);
    for (auto& d : {c, l}) write_file(v2_ / "repositories" / repo / "_layers/sha256" / d.substr(7) / "link", d);
    json m = {{"schemaVersion", 2},
              {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
              {"config", {{"mediaType", "application/vnd.oci.image.config.v1+json"}, {"digest", c}, {"size", config.size()}}},
              {"layers", {{{"mediaType", "application/vnd.oci.image.layer.v1.tar+gzip"}, {"digest", l},
                           {"size", layer.size()}}}}};
    return manifest(repo, m.dump());
  }
  std::string manifest(const std::string& repo, const std::string& bytes) {
    std::string d = blob(bytes);
    write_file(v2_ / "repositories" / repo / "_manifests/revisions/sha256" / d.substr(7) / "link", d);
    return d;
  }
  void tag(const std::string& repo, const std::string& tag, const std::string& d) {
    fs::path t = v2_ / "repositories" / repo / "_manifests/tags" / tag;
    write_file(t / "current/link", d);
    write_file(t / "index/sha256" / d.substr(7) / "link", d);
  }
  static std::string blob_path(const std::string& d) {
    return "registry/docker/registry/v2/blobs/sha256/" + d.substr(7, 2) + "/" + d.substr(7) + "/data";
  }
  static std::string revision_path(const std::string& repo, const std::string& d) {
    return "registry/docker/registry/v2/repositories/" + repo + "/_manifests/revisions/sha256/" + d.substr(7) + "/link";
  }

 private:
  fs::path v2_;
};

TEST(PackSubsetIndexes, EntriesWithoutAPlatformAreJudgedByTheirConfig) {
  TempDir tmp("kso-subset-hand");
  HandStorage st(tmp / "storage");
  auto config = [](const std::string& os, const std::string& arch) {
    return json{{"architecture", arch}, {"os", os}, {"rootfs", {{"type", "layers"}, {"diff_ids", json::array()}}}}
        .dump();
  };
  const std::string amd = st.image("app", config("linux", "amd64"), random_bytes(30000, 1));
  const std::string arm = st.image("app", config("linux", "arm64"), random_bytes(30000, 2));
  // A chart (no platform at all) and an image whose index entry omits the platform its config names.
  const std::string chart = st.image("app", R"({"name":"app-chart","version":"1.0.0"})", random_bytes(30000, 3));
  const std::string unplaced = st.image("app", config("linux", "amd64"), random_bytes(30000, 4));
  auto entry = [](const std::string& d, std::optional<std::pair<std::string, std::string>> platform) {
    json e = {{"mediaType", "application/vnd.oci.image.manifest.v1+json"}, {"digest", d}, {"size", 1}};
    if (platform) e["platform"] = {{"os", platform->first}, {"architecture", platform->second}};
    return e;
  };
  json index = {{"schemaVersion", 2},
                {"mediaType", "application/vnd.oci.image.index.v1+json"},
                {"manifests",
                 {entry(amd, std::pair{"linux", "amd64"}), entry(arm, std::pair{"linux", "arm64"}),
                  entry(chart, std::nullopt), entry(unplaced, std::nullopt)}}};
  const std::string idx = st.manifest("app", index.dump());
  st.tag("app", "v1", idx);
  const fs::path in = tmp / "in.kso", out = tmp / "arm64.kso";
  auto r = kso_pack({"build", "-o", in.string(), "registry=" + (tmp / "storage").string()});
  ASSERT_EQ(r.status, 0) << r.err;
  r = kso_pack({"subset", "--platform", "linux/arm64", in.string(), "-o", out.string()});
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_TRUE(has_line(r.out, "drop manifest app@" + amd)) << r.out;
  EXPECT_TRUE(has_line(r.out, "drop manifest app@" + unplaced)) << r.out;
  EXPECT_EQ(r.out.find("app@" + chart), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("app@" + arm), std::string::npos) << r.out;
  auto p = open_pack(out);
  auto held = [&](const std::string& path) { return bool(p->lookup_path(path)); };
  for (auto& d : {idx, arm, chart}) {
    EXPECT_TRUE(held(HandStorage::revision_path("app", d))) << d;
    EXPECT_TRUE(held(HandStorage::blob_path(d))) << d;
  }
  for (auto& d : {amd, unplaced}) {
    EXPECT_FALSE(held(HandStorage::revision_path("app", d))) << d;
    EXPECT_FALSE(held(HandStorage::blob_path(d))) << d;
  }
  // The chart's config and layer stay; so does the index, byte-exact.
  auto chart_m = json::parse(read_file(tmp / "storage" / HandStorage::blob_path(chart).substr(9)));
  EXPECT_TRUE(held(HandStorage::blob_path(chart_m["layers"][0]["digest"])));
  EXPECT_TRUE(held(HandStorage::blob_path(chart_m["config"]["digest"])));
  EXPECT_EQ(pack_read_all(*p, pack_stat(*p, HandStorage::blob_path(idx)).ino), index.dump());
}

}  // namespace
}  // namespace kso::test
