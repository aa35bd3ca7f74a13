// The offline kit (docs/DEPLOY.md "The offline kit", docs/IMAGES.md "Exporting
// an image"): `kso-pack export-image` checked with real skopeo (inspect,
// copy to dir: and the blob bytes compared) and podman load where podman runs,
// and `kso-pack kit` laid out from a pack and from a delta with its base, then
// sha256sum -c, the openssl signature check docs/REVIEW.md documents, and a
// mount of the kit's pack by the kit's kso-fs. Images are pushed to a
// docker-registry on 127.0.0.1 and its storage packed as `registry=`.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <iostream>
#include <sstream>

#include "tests/support/mount_fixture.h"
#include "tests/support/registry_fixture.h"
#include "tests/support/testutil.h"
#include "tools/pack_export.h"

namespace kso::test {
namespace {

using nlohmann::json;

std::string all(const ToolResult& r) { return r.out + r.err; }
bool contains(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

const std::string kKubelet = "dl.k8s.io/release/v1.29.10/bin/linux/amd64/kubelet";
const std::string kKubectl = "dl.k8s.io/release/v1.29.10/bin/linux/arm64/kubectl";

// Upstream storage with the bootstrap images and one more, and packs of it.
struct KitWorld {
  TempDir tmp{"kso-kit"};
  std::map<std::string, PushedImage> pushed;  // "library/nginx:1.25" -> what was pushed
  std::map<std::string, TestImage> made;
  fs::path pack, delta;  // k8s.kso (files + registry); k8s-new.kso, a delta on it
  std::string error;

  fs::path storage() const { return tmp / "upstream/storage"; }
  fs::path blob(const std::string& digest) const {
    return storage() / "docker/registry/v2/blobs/sha256" / digest.substr(7, 2) / digest.substr(7) / "data";
  }
  json manifest(const std::string& digest) const { return json::parse(read_file(blob(digest))); }

  void make() {
    fs::path scratch = tmp / "scratch";
    TestRegistry upstream(tmp / "upstream", TestRegistry::Options{storage()});
    TestLayer base = make_layer(scratch, {{"etc/os-release", "ID=kso-kit\n"}, {"lib/libc.so", random_bytes(200000, 1)}});
    int seed = 10;
    auto plat = [&](const std::string& arch, const std::string& variant, const std::string& name) {
      TestPlatformImage p;
      p.arch = arch;
      p.variant = variant;
      p.layers = {base, make_layer(scratch, {{"usr/sbin/" + name, "#" + arch + "\n" + random_bytes(150000, seed++)}})};
      return p;
    };
    auto push = [&](TestImage img) {
      made[img.repo + ":" + img.tag] = img;
      pushed[img.repo + ":" + img.tag] = push_image(img, upstream, scratch);
    };
    push({"library/nginx", "1.25", ManifestFormat::Oci, {plat("amd64", "", "nginx"), plat("arm64", "v8", "nginx")}});
    push({"library/registry", "2", ManifestFormat::Docker,
          {plat("amd64", "", "registry"), plat("arm64", "", "registry")}});
    push({"pause", "3.9", ManifestFormat::Oci, {plat("amd64", "", "pause")}, true});
    upstream.stop();
    write_file(tmp / "files" / kKubelet, random_bytes(300000, 2));
    write_file(tmp / "files" / kKubectl, random_bytes(200000, 3));
    pack = tmp / "k8s.kso";
    auto r = kso_pack({"build", "-q", "-o", pack.string(), "--level", "3", "files=" + (tmp / "files").string(),
                       "registry=" + storage().string()});
    if (r.status != 0) throw std::runtime_error("build failed: " + all(r));
    // The delta: one more file; everything else comes from the base.
    write_file(tmp / "files2" / kKubelet, read_file(tmp / "files" / kKubelet));
    write_file(tmp / "files2" / kKubectl, read_file(tmp / "files" / kKubectl));
    write_file(tmp / "files2/dl.k8s.io/release/v1.29.10/bin/linux/amd64/kubeadm", random_bytes(100000, 4));
    delta = tmp / "k8s-new.kso";
    r = kso_pack({"build", "-q", "--base", pack.string(), "-o", delta.string(), "--level", "3",
                  "files=" + (tmp / "files2").string(), "registry=" + storage().string()});
    if (r.status != 0) throw std::runtime_error("delta build failed: " + all(r));
  }
};

KitWorld* g_world = nullptr;

std::string skip_reason() {
  if (!TestRegistry::available()) return "docker-registry or skopeo not installed";
  return "";
}

class PackExport : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!skip_reason().empty() || g_world) return;
    g_world = new KitWorld();
    try {
      g_world->make();
    } catch (const std::exception& e) {
      g_world->error = e.what();
    }
  }
  void SetUp() override {
    if (auto why = skip_reason(); !why.empty()) GTEST_SKIP() << why;
    ASSERT_EQ(g_world->error, "");
    w = g_world;
  }
  KitWorld* w = nullptr;
};

// The image manifest of `ref` for "linux/ARCH[/VARIANT]" as pushed.
std::string platform_digest(const KitWorld& w, const std::string& ref, const std::string& plat) {
  return w.pushed.at(ref).platform_digest.at(plat);
}

// What `skopeo copy docker-archive:TAR dir:OUT` makes of an export must be the
// pushed image: the config byte-identical, each layer the uncompressed bytes of
// the stored (gzip) layer, named by its diff_id.
void expect_same_image(const KitWorld& w, const fs::path& tar, const std::string& manifest_digest,
                       const fs::path& out) {
  json m = w.manifest(manifest_digest);
  std::string config = m["config"]["digest"];
  auto raw = run("skopeo inspect --raw " + q("docker-archive:" + tar.string()));
  ASSERT_EQ(raw.status, 0) << raw.output;
  EXPECT_EQ(json::parse(raw.output)["config"]["digest"], config);
  auto c = run("skopeo copy --quiet " + q("docker-archive:" + tar.string()) + " " + q("dir:" + out.string()));
  ASSERT_EQ(c.status, 0) << c.output;
  EXPECT_EQ(read_file(out / config.substr(7)), read_file(w.blob(config)));
  json cfg = json::parse(read_file(w.blob(config)));
  ASSERT_EQ(cfg["rootfs"]["diff_ids"].size(), m["layers"].size());
  for (size_t i = 0; i < m["layers"].size(); i++) {
    std::string diff = cfg["rootfs"]["diff_ids"][i], layer = m["layers"][i]["digest"];
    fs::path got = out / diff.substr(7);
    ASSERT_TRUE(fs::exists(got)) << diff;
    EXPECT_EQ("sha256:" + sha256_file_hex(got), diff);
    auto cmp = run("gzip -dc " + q(w.blob(layer)) + " | cmp - " + q(got));
    EXPECT_EQ(cmp.status, 0) << layer << ": " << cmp.output;
  }
}

TEST_F(PackExport, ExportEachPlatformAsSkopeoReadsIt) {
  TempDir t{"kso-export"};
  for (std::string ref : {"library/nginx:1.25", "library/registry:2"})
    for (std::string plat : {"linux/amd64", "linux/arm64"}) {
      SCOPED_TRACE(ref + " " + plat);
      std::string key = ref == "library/nginx:1.25" && plat == "linux/arm64" ? "linux/arm64/v8" : plat;
      std::string digest = platform_digest(*w, ref, key);
      fs::path tar = t / (std::to_string(std::hash<std::string>()(ref + plat)) + ".tar");
      auto r = kso_pack({"export-image", w->pack.string(), ref, "--platform", plat, "-o", tar.string()});
      ASSERT_EQ(r.status, 0) << all(r);
      EXPECT_TRUE(contains(r.out, "exported: " + ref + " " + plat + " (" + digest + ") from " + w->pack.string() +
                                      " to " + tar.string()))
          << r.out;
      auto inspect = run("skopeo inspect " + q("docker-archive:" + tar.string()));
      ASSERT_EQ(inspect.status, 0) << inspect.output;
      json j = json::parse(inspect.output);
      EXPECT_EQ(j["Architecture"], plat.substr(6));
      EXPECT_EQ(j["Os"], "linux");
      expect_same_image(*w, tar, digest, t / ("dir-" + std::to_string(std::hash<std::string>()(ref + plat))));
      // In the tar: the stored (compressed) layers byte for byte, and the name.
      fs::path x = t / "x";
      fs::remove_all(x);
      fs::create_directories(x);
      ASSERT_EQ(run("tar -xf " + q(tar) + " -C " + q(x)).status, 0);
      json m = w->manifest(digest);
      for (auto& l : m["layers"]) {
        std::string d = l["digest"];
        EXPECT_EQ(read_file(x / "blobs/sha256" / d.substr(7)), read_file(w->blob(d))) << d;
      }
      json mj = json::parse(read_file(x / "manifest.json"));
      EXPECT_EQ(mj[0]["RepoTags"], json::array({"docker.io/" + ref}));
      EXPECT_EQ(mj[0]["Config"], "blobs/sha256/" + std::string(m["config"]["digest"]).substr(7));
    }
}

TEST_F(PackExport, ExportIsDeterministic) {
  TempDir t{"kso-export"};
  for (auto* n : {"a.tar", "b.tar"}) {
    auto r = kso_pack({"export-image", w->pack.string(), "library/nginx:1.25", "--platform", "linux/arm64", "-o",
                       (t / n).string()});
    ASSERT_EQ(r.status, 0) << all(r);
  }
  EXPECT_EQ(read_file(t / "a.tar"), read_file(t / "b.tar"));
  // The delta exports the same image (its registry read through the base).
  auto r = kso_pack({"export-image", w->delta.string(), "library/nginx:1.25", "--platform", "linux/arm64", "-o",
                     (t / "c.tar").string()});
  ASSERT_EQ(r.status, 0) << all(r);
  EXPECT_EQ(read_file(t / "a.tar"), read_file(t / "c.tar"));
  // Fixed owner and time, sorted names.
  auto list = run("tar -tvf " + q(t / "a.tar"));
  ASSERT_EQ(list.status, 0) << list.output;
  std::istringstream in(list.output);
  std::vector<std::string> names;
  for (std::string line; std::getline(in, line);) {
    EXPECT_TRUE(contains(line, " 0/0 ")) << line;
    EXPECT_TRUE(contains(line, "1970-01-01")) << line;
    names.push_back(line.substr(line.rfind(' ') + 1));
  }
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_EQ(names.back(), "manifest.json");
  EXPECT_FALSE(fs::exists(t / ("a.tar.tmp-" + std::to_string(getpid()))));
}

TEST_F(PackExport, ExportReferencesAndDefaultPlatform) {
  TempDir t{"kso-export"};
  // No --platform: this machine's.
  auto r = kso_pack({"export-image", w->pack.string(), "library/registry:2", "-o", (t / "host.tar").string()});
  ASSERT_EQ(r.status, 0) << all(r);
  auto inspect = run("skopeo inspect " + q("docker-archive:" + (t / "host.tar").string()));
  ASSERT_EQ(inspect.status, 0) << inspect.output;
  EXPECT_EQ(json::parse(inspect.output)["Architecture"], host_platform().arch);
  // Source references map to the pack's names; a digest names a manifest.
  for (std::string ref : std::vector<std::string>{"registry:2", "docker.io/library/registry:2",
                                                  "library/registry@" + w->pushed.at("library/registry:2").digest}) {
    SCOPED_TRACE(ref);
    r = kso_pack({"export-image", w->pack.string(), ref, "--platform", "linux/arm64", "-o", (t / "r.tar").string()});
    ASSERT_EQ(r.status, 0) << all(r);
    EXPECT_TRUE(contains(r.out, platform_digest(*w, "library/registry:2", "linux/arm64"))) << r.out;
  }
  ASSERT_EQ(run("tar -xOf " + q(t / "r.tar") + " manifest.json > " + q(t / "m.json")).status, 0);
  EXPECT_EQ(json::parse(read_file(t / "m.json"))[0]["RepoTags"], json::array());  // by digest: no name
  std::string child = platform_digest(*w, "library/registry:2", "linux/amd64");
  r = kso_pack({"export-image", w->pack.string(), "library/registry@" + child, "--tag", "registry:2", "--tag",
                "kso/registry:2", "-o", (t / "c.tar").string()});
  ASSERT_EQ(r.status, 0) << all(r);
  ASSERT_EQ(run("tar -xOf " + q(t / "c.tar") + " manifest.json > " + q(t / "m.json")).status, 0);
  EXPECT_EQ(json::parse(read_file(t / "m.json"))[0]["RepoTags"], json::array({"registry:2", "kso/registry:2"}));
  expect_same_image(*w, t / "c.tar", child, t / "c-dir");
  // A single-platform image: taken whatever the host is; --platform must match it.
  r = kso_pack({"export-image", w->pack.string(), "pause:3.9", "-o", (t / "p.tar").string()});
  EXPECT_EQ(r.status, 0) << all(r);
  r = kso_pack({"export-image", w->pack.string(), "pause:3.9", "--platform", "linux/arm64", "-o",
                (t / "p.tar").string()});
  EXPECT_EQ(r.status, 1) << all(r);
  EXPECT_EQ(one_line_error(r.err, "kso-pack: error: ",
                           {w->pack.string(), "pause:3.9 has no linux/arm64", "single-platform image for linux/amd64"}),
            "");
}

TEST_F(PackExport, ExportErrors) {
  TempDir t{"kso-export"};
  fs::path out = t / "o.tar";
  auto r = kso_pack({"export-image", w->pack.string(), "library/nginx:9.9", "-o", out.string()});
  EXPECT_EQ(r.status, 1) << all(r);
  EXPECT_EQ(one_line_error(r.err, "kso-pack: error: ",
                           {w->pack.string(), "no image library/nginx:9.9", "library/nginx:1.25", "pause:3.9"}),
            "");
  r = kso_pack({"export-image", w->pack.string(), "library/nginx:1.25", "--platform", "linux/s390x", "-o",
                out.string()});
  EXPECT_EQ(r.status, 1) << all(r);
  EXPECT_EQ(one_line_error(r.err, "kso-pack: error: ",
                           {"library/nginx:1.25 has no linux/s390x", "the pack holds linux/amd64, linux/arm64"}),
            "");
  // Unwritable: a missing directory, and a directory in the way.
  r = kso_pack({"export-image", w->pack.string(), "library/nginx:1.25", "-o", (t / "no/such/dir/o.tar").string()});
  EXPECT_EQ(r.status, 1) << all(r);
  EXPECT_EQ(one_line_error(r.err, "kso-pack: error: ", {"cannot write", (t / "no/such/dir/o.tar").string()}), "");
  fs::create_directories(t / "adir");
  r = kso_pack({"export-image", w->pack.string(), "library/nginx:1.25", "-o", (t / "adir").string()});
  EXPECT_EQ(r.status, 1) << all(r);
  EXPECT_EQ(one_line_error(r.err, "kso-pack: error: ", {"cannot write", (t / "adir").string()}), "");
  EXPECT_TRUE(fs::is_empty(t.path() / "adir"));
  r = kso_pack({"export-image", w->pack.string(), "library/nginx:1.25", "--platform", "linux", "-o", out.string()});
  EXPECT_EQ(r.status, 2) << all(r);
  r = kso_pack({"export-image", w->pack.string(), "library/nginx:1.25"});
  EXPECT_EQ(r.status, 2) << all(r);
  // A pack without registry storage.
  write_file(t / "f/a", "a");
  ASSERT_EQ(kso_pack({"build", "-q", "-o", (t / "f.kso").string(), "files=" + (t / "f").string()}).status, 0);
  r = kso_pack({"export-image", (t / "f.kso").string(), "nginx", "-o", out.string()});
  EXPECT_EQ(r.status, 1) << all(r);
  EXPECT_EQ(one_line_error(r.err, "kso-pack: error: ", {(t / "f.kso").string(), "holds no registry storage"}), "");
  EXPECT_FALSE(fs::exists(out));
  for (auto& e : fs::directory_iterator(t.path()))
    EXPECT_FALSE(contains(e.path().filename().string(), ".tmp-")) << e.path();
}

// A layer whose bytes are not its digest (storage damaged before packing: the
// pack's own checksums are fine) is refused, and nothing is left behind.
TEST_F(PackExport, ExportRefusesABlobThatIsNotItsDigest) {
  TempDir t{"kso-export"};
  fs::copy(w->storage(), t / "storage", fs::copy_options::recursive);
  json m = w->manifest(platform_digest(*w, "library/nginx:1.25", "linux/amd64"));
  std::string layer = m["layers"][1]["digest"];
  fs::path data = t / "storage/docker/registry/v2/blobs/sha256" / layer.substr(7, 2) / layer.substr(7) / "data";
  std::string bytes = read_file(data);
  bytes[bytes.size() / 2] ^= 1;
  write_file(data, bytes);
  ASSERT_EQ(kso_pack({"build", "-q", "-o", (t / "bad.kso").string(), "registry=" + (t / "storage").string()}).status,
            0);
  auto r = kso_pack({"export-image", (t / "bad.kso").string(), "library/nginx:1.25", "--platform", "linux/amd64",
                     "-o", (t / "o.tar").string()});
  EXPECT_EQ(r.status, 1) << all(r);
  EXPECT_EQ(one_line_error(r.err, "kso-pack: error: ", {"blob " + layer, "does not match its digest"}), "");
  EXPECT_FALSE(fs::exists(t / "o.tar"));
  for (auto& e : fs::directory_iterator(t.path()))
    EXPECT_FALSE(contains(e.path().filename().string(), ".tmp-")) << e.path();
}

// podman, as the issue's recipe runs it on this machine kind: its own storage
// under a temp dir, cgroupfs, runc, no default ulimits.
std::string podman_cmd(const fs::path& dir) {
  write_file(dir / "containers.conf",
             "[containers]\ndefault_ulimits = []\n[engine]\ncgroup_manager = \"cgroupfs\"\nruntime = \"runc\"\n");
  return "CONTAINERS_CONF=" + q(dir / "containers.conf") + " podman --root " + q(dir / "root") + " --runroot " +
         q(dir / "run") + " --storage-driver vfs";
}

TEST_F(PackExport, PodmanLoadsTheExport) {
  if (!have_command("podman")) GTEST_SKIP() << "podman is not installed (apt-get install podman runc)";
  TempDir t{"kso-podman"};
  std::string podman = podman_cmd(t.path());
  if (auto v = run(podman + " images"); v.status != 0) GTEST_SKIP() << "podman does not run here: " << v.output;
  for (std::string arch : {"amd64", "arm64"}) {
    SCOPED_TRACE(arch);
    fs::path tar = t / ("nginx-" + arch + ".tar");
    auto r = kso_pack({"export-image", w->pack.string(), "library/nginx:1.25", "--platform", "linux/" + arch, "-o",
                       tar.string()});
    ASSERT_EQ(r.status, 0) << all(r);
    auto load = run(podman + " load -i " + q(tar) + " 2>&1");
    ASSERT_EQ(load.status, 0) << load.output;
    // The name docker would give it (docker.io/library/nginx:1.25 is nginx:1.25), not podman's localhost/.
    EXPECT_TRUE(contains(load.output, "Loaded image: docker.io/library/nginx:1.25")) << load.output;
    auto inspect = run(podman + " image inspect --format '{{.Id}} {{.Architecture}}' docker.io/library/nginx:1.25");
    ASSERT_EQ(inspect.status, 0) << inspect.output;
    std::string key = arch == "arm64" ? "linux/arm64/v8" : "linux/amd64";
    std::string config = w->manifest(platform_digest(*w, "library/nginx:1.25", key))["config"]["digest"];
    EXPECT_EQ(inspect.output, config.substr(7) + " " + arch + "\n");
  }
}

// --- kso-pack kit

// A stand-in for dist/ (what scripts/package.sh writes): the built kso-fs as
// both static binaries, and .debs made with dpkg-deb around it. Only for the
// layout tests below; KitFromRealDist uses the real dist/ when it is there.
fs::path standin_dist(const fs::path& dir) {
  fs::create_directories(dir);
  for (std::string a : {"amd64", "arm64"}) {
    fs::copy_file(kso_fs_bin(), dir / ("kso-fs-linux-" + a));
    fs::path root = dir / ("deb-" + a);
    write_file(root / "DEBIAN/control", "Package: kso\nVersion: 0.0.0~test\nArchitecture: " + a +
                                            "\nMaintainer: kso tests <kso@localhost>\nDescription: kit layout test stand-in\n");
    fs::create_directories(root / "usr/bin");
    fs::copy_file(kso_fs_bin(), root / "usr/bin/kso-fs");
    auto r = run("dpkg-deb --root-owner-group -Zgzip --build " + q(root) + " " +
                 q(dir / ("kso_0.0.0~test_" + a + ".deb")) + " 2>&1");
    if (r.status != 0) throw std::runtime_error("dpkg-deb: " + r.output);
    fs::remove_all(root);
  }
  return dir;
}

void genkey(const fs::path& dir) {
  auto r = run("cd " + q(dir) + " && openssl genpkey -algorithm ed25519 -out builder.key 2>&1 && "
               "openssl pkey -in builder.key -pubout -out builder.pub 2>&1");
  if (r.status != 0) throw std::runtime_error("openssl: " + r.output);
}

// docs/REVIEW.md's command that checks SHA256SUMS.sig, as it stands there.
std::string review_sums_verify_line() {
  std::istringstream in(doc_procedure("REVIEW.md", "review-sums"));
  for (std::string line; std::getline(in, line);)
    if (line.rfind("openssl pkeyutl -verify", 0) == 0) return line;
  return "";
}

class PackKit : public PackExport {
 protected:
  void SetUp() override {
    PackExport::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    if (!have_command("dpkg-deb") || !have_command("openssl") || !have_command("sha256sum"))
      GTEST_SKIP() << "dpkg-deb, openssl or sha256sum missing";
  }
};

TEST_F(PackKit, DeltaWithItsBaseLayoutWithBuiltKsoFsStandingInForDist) {
  if (auto why = fuse_unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
  TempDir t{"kso-kit-layout"};
  fs::path dist = standin_dist(t / "dist");
  genkey(t.path());
  // The delta's signature travels with it.
  ASSERT_EQ(kso_pack({"sign", "-q", w->delta.string(), "--key", (t / "builder.key").string()}).status, 0);
  struct Unsign {
    fs::path sig;
    ~Unsign() { fs::remove(sig); }
  } unsign{w->delta.string() + ".sig"};
  fs::path kit = t / "kit";
  auto r = kso_pack({"kit", "-o", kit.string(), w->delta.string(), "--dist", dist.string(), "--key",
                     (t / "builder.key").string(), "--host", "10.0.0.5"});
  ASSERT_EQ(r.status, 0) << all(r);
  EXPECT_TRUE(contains(r.out, "kit: " + kit.string() + ": 2 packs, 4 images, 2 .debs, with static kso-fs")) << r.out;

  // packs/: the delta and its base, byte for byte.
  EXPECT_EQ(sha256_file_hex(kit / "packs/k8s-new.kso"), sha256_file_hex(w->delta));
  EXPECT_EQ(sha256_file_hex(kit / "packs/k8s.kso"), sha256_file_hex(w->pack));
  auto verify_sig = kso_pack({"verify", (kit / "packs/k8s-new.kso").string(), "--pubkey", (t / "builder.pub").string()});
  EXPECT_EQ(verify_sig.status, 0) << all(verify_sig);
  EXPECT_FALSE(fs::exists(kit / "packs/k8s.kso.sig"));
  for (std::string a : {"amd64", "arm64"}) {
    EXPECT_EQ(sha256_file_hex(kit / ("bin/kso-fs-linux-" + a)), sha256_file_hex(kso_fs_bin()));
    EXPECT_EQ(fs::status(kit / ("bin/kso-fs-linux-" + a)).permissions() & fs::perms::owner_exec, fs::perms::owner_exec);
    EXPECT_EQ(run("dpkg-deb -f " + q(kit / ("deb/kso_0.0.0~test_" + a + ".deb")) + " Architecture").output, a + "\n");
  }
  // deploy/: the repository's files.
  fs::path src = fs::path(KSO_SOURCE_DIR) / "deploy";
  for (auto& e : fs::directory_iterator(src))
    EXPECT_EQ(read_file(kit / "deploy" / e.path().filename()), read_file(e.path())) << e.path();
  EXPECT_EQ(access((kit / "deploy/kso-switch.sh").c_str(), X_OK), 0);
  // images/: both bootstrap images for both arches, loadable.
  for (std::string name : {"library_nginx-1.25-linux-amd64.tar", "library_nginx-1.25-linux-arm64.tar",
                           "library_registry-2-linux-amd64.tar", "library_registry-2-linux-arm64.tar"}) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(fs::exists(kit / "images" / name));
    auto inspect = run("skopeo inspect " + q("docker-archive:" + (kit / "images" / name).string()));
    ASSERT_EQ(inspect.status, 0) << inspect.output;
    EXPECT_TRUE(contains(name, "-" + json::parse(inspect.output)["Architecture"].get<std::string>()));
  }
  EXPECT_FALSE(fs::exists(kit / "images/pause-3.9-linux-amd64.tar"));  // not a bootstrap image

  // SHA256SUMS covers every file, and sha256sum -c agrees; a changed file fails it.
  auto sums = run("cd " + q(kit) + " && sha256sum -c SHA256SUMS 2>&1");
  EXPECT_EQ(sums.status, 0) << sums.output;
  size_t files = 0;
  for (auto& e : fs::recursive_directory_iterator(kit)) files += e.is_regular_file();
  std::string text = read_file(kit / "SHA256SUMS");
  EXPECT_EQ(size_t(std::count(text.begin(), text.end(), '\n')), files - 2);  // all but SHA256SUMS{,.sig}
  EXPECT_TRUE(contains(text, "  packs/k8s.kso\n")) << text;
  EXPECT_TRUE(contains(text, "  README.txt\n")) << text;
  // The signature, checked with docs/REVIEW.md's openssl command as written.
  std::string verify = review_sums_verify_line();
  ASSERT_NE(verify, "") << "docs/REVIEW.md lost its review-sums procedure";
  fs::copy_file(t / "builder.pub", kit / "builder.pub");
  auto v = run("cd " + q(kit) + " && " + verify + " 2>&1");
  fs::remove(kit / "builder.pub");
  EXPECT_EQ(v.status, 0) << verify << "\n" << v.output;
  EXPECT_TRUE(contains(v.output, "Signature Verified Successfully")) << v.output;

  // offline.yml: the host, and the kubelet URL kubespray renders names a file of the mount.
  std::string yml = read_file(kit / "offline.yml");
  EXPECT_TRUE(contains(yml, "kso_host: \"10.0.0.5\"\n")) << yml;
  EXPECT_TRUE(contains(yml, "registry_host: \"{{ kso_host }}:5000\"\n")) << yml;
  EXPECT_TRUE(contains(yml, "kube_image_repo: \"{{ registry_host }}\"\n")) << yml;
  // The URL templates are DEPLOY.md section 5's, line for line.
  std::istringstream deploy_md(read_file(fs::path(KSO_SOURCE_DIR) / "docs/DEPLOY.md"));
  int templates = 0;
  for (std::string line; std::getline(deploy_md, line);)
    if (line.find("_download_url: \"{{ files_repo }}/") != std::string::npos) {
      templates++;
      EXPECT_TRUE(contains(yml, "\n" + line + "\n")) << line;
    }
  EXPECT_GE(templates, 10);
  std::string key = "kubelet_download_url: \"{{ files_repo }}/";
  size_t at = yml.find(key);
  ASSERT_NE(at, std::string::npos) << yml;
  std::string url = yml.substr(at + key.size(), yml.find('"', at + key.size()) - at - key.size());
  for (auto [var, val] : {std::pair{"{{ kube_version }}", "1.29.10"}, {"{{ image_arch }}", "amd64"}})
    url.replace(url.find(var), std::string(var).size(), val);
  EXPECT_EQ(url, kKubelet);

  // The kit's kso-fs mounts the kit's delta (its base found next to it): byte-exact.
  Mount m(kit / "packs/k8s-new.kso", t / "mnt", Mount::Options{"", {}, false, kit / "bin/kso-fs-linux-amd64"});
  EXPECT_EQ(read_file(m / ("files/" + kKubelet)), read_file(w->tmp / "files" / kKubelet));
  EXPECT_EQ(read_file(m / "files/dl.k8s.io/release/v1.29.10/bin/linux/amd64/kubeadm"),
            read_file(w->tmp / "files2/dl.k8s.io/release/v1.29.10/bin/linux/amd64/kubeadm"));

  // README.txt names what to mount and what to load.
  std::string readme = read_file(kit / "README.txt");
  EXPECT_TRUE(contains(readme, "kso-fs /srv/k8s-new.kso /srv/kso -o allow_other")) << readme;
  EXPECT_TRUE(contains(readme, "podman load -i images/library_registry-2-linux-arm64.tar")) << readme;
  EXPECT_TRUE(contains(readme, "SHA256SUMS.sig")) << readme;
  EXPECT_FALSE(contains(readme, "MISSING")) << readme;

  // The same inputs make the same kit.
  r = kso_pack({"kit", "-o", (t / "kit2").string(), w->delta.string(), "--dist", dist.string(), "--key",
                (t / "builder.key").string(), "--host", "10.0.0.5"});
  ASSERT_EQ(r.status, 0) << all(r);
  EXPECT_EQ(read_file(t / "kit2/SHA256SUMS"), text);
  EXPECT_EQ(read_file(t / "kit2/SHA256SUMS.sig"), read_file(kit / "SHA256SUMS.sig"));  // Ed25519 is deterministic
}

TEST_F(PackKit, PacksAndImagesChosenLayoutWithBuiltKsoFsStandingInForDist) {
  TempDir t{"kso-kit-layout"};
  fs::path dist = standin_dist(t / "dist");
  fs::path kit = t / "kit";
  // Two packs given: the base once; one image and one platform asked for.
  auto r = kso_pack({"kit", "-o", kit.string(), w->pack.string(), w->delta.string(), "--dist", dist.string(),
                     "--image", "pause:3.9", "--platform", "linux/amd64"});
  ASSERT_EQ(r.status, 0) << all(r);
  EXPECT_TRUE(contains(r.out, ": 2 packs, 1 images")) << r.out;
  std::vector<std::string> images;
  for (auto& e : fs::directory_iterator(kit / "images")) images.push_back(e.path().filename().string());
  EXPECT_EQ(images, std::vector<std::string>{"pause-3.9-linux-amd64.tar"});
  EXPECT_FALSE(fs::exists(kit / "SHA256SUMS.sig"));
  std::string readme = read_file(kit / "README.txt");
  EXPECT_TRUE(contains(readme, "kso-fs /srv/k8s.kso /srv/kso")) << readme;
  EXPECT_TRUE(contains(readme, "kso-fs /srv/k8s-new.kso /srv/kso")) << readme;
  EXPECT_EQ(run("cd " + q(kit) + " && sha256sum --quiet -c SHA256SUMS").status, 0);
  // An image the packs lack.
  r = kso_pack({"kit", "-q", "-o", (t / "k2").string(), w->pack.string(), "--dist", dist.string(), "--image", "nope:1"});
  EXPECT_EQ(r.status, 1) << all(r);
  EXPECT_EQ(one_line_error(r.err, "kso-pack: error: ", {"--image nope:1", w->pack.string(), "no image nope:1"}), "");
  EXPECT_FALSE(fs::exists(t / "k2"));
}

TEST_F(PackKit, MissingDistPiecesAreNamed) {
  TempDir t{"kso-kit-missing"};
  fs::path dist = standin_dist(t / "dist");
  fs::remove(dist / "kso-fs-linux-arm64");
  auto r = kso_pack({"kit", "-q", "-o", (t / "kit").string(), w->pack.string(), "--dist", dist.string()});
  EXPECT_EQ(r.status, 1) << all(r);
  EXPECT_EQ(one_line_error(r.err, "kso-pack: error: ", {(dist / "kso-fs-linux-arm64").string() + " is missing",
                                                        "--allow-missing"}),
            "");
  EXPECT_FALSE(fs::exists(t / "kit"));
  fs::remove(dist / "kso_0.0.0~test_amd64.deb");
  r = kso_pack({"kit", "-o", (t / "kit").string(), w->pack.string(), "--dist", dist.string(), "--allow-missing"});
  ASSERT_EQ(r.status, 0) << all(r);
  EXPECT_TRUE(contains(r.err, "warning: kit: " + (dist / "kso-fs-linux-arm64").string() + " is missing")) << r.err;
  EXPECT_TRUE(contains(r.err, "kso_<version>_amd64.deb is missing")) << r.err;
  EXPECT_TRUE(contains(r.out, "MISSING 2 (README.txt lists them)")) << r.out;
  std::string readme = read_file(t / "kit/README.txt");
  EXPECT_TRUE(contains(readme, "MISSING from this kit")) << readme;
  EXPECT_TRUE(contains(readme, "kso-fs-linux-arm64 (not in " + dist.string() + ")")) << readme;
  EXPECT_TRUE(contains(readme, "kso_<version>_amd64.deb")) << readme;
  EXPECT_TRUE(fs::exists(t / "kit/bin/kso-fs-linux-amd64"));
  EXPECT_EQ(run("cd " + q(t / "kit") + " && sha256sum --quiet -c SHA256SUMS").status, 0);
  // Two versions of one arch's .deb: which one is meant is not guessed.
  fs::copy_file(dist / "kso_0.0.0~test_arm64.deb", dist / "kso_0.0.1_arm64.deb");
  r = kso_pack({"kit", "-q", "-o", (t / "kit3").string(), w->pack.string(), "--dist", dist.string(), "--allow-missing"});
  EXPECT_EQ(r.status, 1) << all(r);
  EXPECT_EQ(one_line_error(r.err, "kso-pack: error: ", {"several .debs for arm64", "kso_0.0.1_arm64.deb"}), "");
}

TEST_F(PackKit, NeverReplacesADirectoryUnlessForced) {
  TempDir t{"kso-kit-force"};
  fs::path dist = standin_dist(t / "dist");
  write_file(t / "kit/precious", "keep me");
  auto r = kso_pack({"kit", "-q", "-o", (t / "kit").string(), w->pack.string(), "--dist", dist.string()});
  EXPECT_EQ(r.status, 1) << all(r);
  EXPECT_EQ(one_line_error(r.err, "kso-pack: error: ", {(t / "kit").string(), "exists and is not empty", "--force"}),
            "");
  EXPECT_EQ(read_file(t / "kit/precious"), "keep me");
  // An empty directory is fine; --force replaces a full one.
  fs::create_directories(t / "empty");
  EXPECT_EQ(kso_pack({"kit", "-o", (t / "empty").string(), w->pack.string(), "--dist", dist.string()}).status, 0);
  r = kso_pack({"kit", "-o", (t / "kit").string(), w->pack.string(), "--dist", dist.string(), "--force"});
  ASSERT_EQ(r.status, 0) << all(r);
  EXPECT_FALSE(fs::exists(t / "kit/precious"));
  EXPECT_TRUE(fs::exists(t / "kit/SHA256SUMS"));
  // Usage: no pack, a URL, a .kidx; a deploy dir without the deploy files.
  EXPECT_EQ(kso_pack({"kit", "-o", (t / "k").string()}).status, 2);
  EXPECT_EQ(kso_pack({"kit", "-o", (t / "k").string(), "https://packs.invalid/k8s.kso"}).status, 2);
  ASSERT_EQ(kso_pack({"index", w->pack.string(), "-o", (t / "k8s.kidx").string()}).status, 0);
  EXPECT_EQ(kso_pack({"kit", "-o", (t / "k").string(), (t / "k8s.kidx").string()}).status, 1);
  r = kso_pack({"kit", "-q", "-o", (t / "k").string(), w->pack.string(), "--dist", dist.string(), "--deploy",
                dist.string()});
  EXPECT_EQ(r.status, 1) << all(r);
  EXPECT_EQ(one_line_error(r.err, "kso-pack: error: ", {(dist / "compose.yaml").string() + " is missing"}), "");
  for (auto& e : fs::directory_iterator(t.path()))
    EXPECT_FALSE(contains(e.path().filename().string(), ".tmp-kit-")) << e.path();
}

// The real dist/ of scripts/package.sh, when it has been run in this tree.
TEST_F(PackKit, KitFromRealDist) {
  fs::path dist = fs::path(KSO_SOURCE_DIR) / "dist";
  for (auto* f : {"kso-fs-linux-amd64", "kso-fs-linux-arm64"})
    if (!fs::exists(dist / f)) GTEST_SKIP() << dist / f << " not there: run scripts/package.sh first";
  TempDir t{"kso-kit-real"};
  auto r = kso_pack({"kit", "-o", (t / "kit").string(), w->pack.string(), "--dist", dist.string()});
  ASSERT_EQ(r.status, 0) << all(r);
  EXPECT_EQ(run("cd " + q(t / "kit") + " && sha256sum --quiet -c SHA256SUMS").status, 0);
  auto file = run("file " + q(t / "kit/bin/kso-fs-linux-amd64") + " " + q(t / "kit/bin/kso-fs-linux-arm64"));
  EXPECT_TRUE(contains(file.output, "statically linked")) << file.output;
  for (std::string a : {"amd64", "arm64"}) {
    bool found = false;
    for (auto& e : fs::directory_iterator(t / "kit/deb"))
      if (e.path().filename().string().ends_with("_" + a + ".deb")) {
        found = true;
        EXPECT_EQ(run("dpkg-deb -f " + q(e.path()) + " Architecture").output, a + "\n");
      }
    EXPECT_TRUE(found) << a;
  }
}

// The README's "Deploying into the air gap", its procedures run as written.
// Online: in a directory holding k8s.kso, builder.key and a stand-in dist/
// (the layout tests' one: the built kso-fs as the static binaries), with the
// build's kso-pack on PATH. Offline: as root in a private mount namespace
// whose /srv and /usr/local/bin are empty tmpfs (nothing of this machine's is
// touched), so the kit's kso-fs is installed and mounts the pack exactly as
// written; podman loads with its own storage (CONTAINERS_CONF and
// CONTAINERS_STORAGE_CONF), skipped without podman.
TEST_F(PackKit, KitDocProceduresAsWritten) {
  if (auto why = fuse_unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
  if (geteuid() != 0 || !have_command("unshare")) GTEST_SKIP() << "needs root and unshare for a private /srv";
  TempDir t{"kso-kit-doc"};
  fs::path w0 = t / "work";
  standin_dist(w0 / "dist");
  fs::copy_file(w->pack, w0 / "k8s.kso");
  genkey(w0);
  std::map<std::string, std::string> block;
  for (auto* name : {"kit-make", "kit-check", "kit-install", "kit-load"}) {
    block[name] = doc_procedure("../README.md", name);
    ASSERT_NE(block[name], "") << "README.md lost its procedure " << name;
  }
  const std::string path = kso_pack_bin().parent_path().string() + ":" + getenv("PATH");
  auto r = run("cd " + q(w0) + " && PATH=" + q(path) + " bash -euo pipefail -c " + q(block["kit-make"]) + " 2>&1");
  ASSERT_EQ(r.status, 0) << r.output;
  ASSERT_TRUE(fs::exists(w0 / "kso-kit/SHA256SUMS.sig"));
  EXPECT_TRUE(contains(read_file(w0 / "kso-kit/offline.yml"), "kso_host: \"10.0.0.5\"\n"));

  bool podman = have_command("podman");
  std::string env;
  if (podman) {
    fs::path pm = t / "podman";
    write_file(pm / "containers.conf",
               "[containers]\ndefault_ulimits = []\n[engine]\ncgroup_manager = \"cgroupfs\"\nruntime = \"runc\"\n");
    write_file(pm / "storage.conf", "[storage]\ndriver = \"vfs\"\ngraphroot = \"" + (pm / "root").string() +
                                        "\"\nrunroot = \"" + (pm / "run").string() + "\"\n");
    env = "export CONTAINERS_CONF=" + q(pm / "containers.conf") + " CONTAINERS_STORAGE_CONF=" + q(pm / "storage.conf") +
          "\n";
  }
  std::string script = "set -euo pipefail\n"
                       "mount -t tmpfs kso-kit-doc /srv\nmount -t tmpfs kso-kit-doc /usr/local/bin\n"
                       "trap 'umount /srv/kso 2>/dev/null || true' EXIT\n" +
                       env + "cd " + q(w0) + "\n" + "(\n" + block["kit-check"] + ")\n(\n" + block["kit-install"] +
                       ")\n";
  if (podman) script += "(\n" + block["kit-load"] + ")\npodman images --format '{{.Repository}}:{{.Tag}} {{.ID}}'\n";
  // What the host now serves is the pack's: a file byte for byte, through the installed kso-fs.
  script += "cmp /srv/kso/files/" + kKubelet + " " + q(w->tmp / "files" / kKubelet) + "\n";
  // Which binary serves the mount: its daemon's pid from --status, then its
  // executable; under qemu-user (the arm64 suite) exe is the emulator, and
  // the program is the path binfmt_misc put in its command line.
  script += "pid=$(kso-fs --status /srv/kso --json | sed -n 's/.*\"pid\": *\\([0-9]*\\).*/\\1/p')\n"
            "exe=$(readlink /proc/$pid/exe)\n"
            "case $exe in *qemu*|*binfmt*) tr '\\0' '\\n' < /proc/$pid/cmdline | grep -m1 '/kso-fs$' ;; *) echo \"$exe\" ;; esac\n";
  script += "umount /srv/kso\necho kit-doc-ok\n";
  // PATH without the build dir: kso-fs must come from /usr/local/bin, where the procedure put it.
  r = run("unshare --mount --propagation private bash -c " + q(script) + " 2>&1");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "kit-doc-ok")) << r.output;
  EXPECT_TRUE(contains(r.output, "/usr/local/bin/kso-fs\n")) << r.output;
  if (!podman) {
    std::cout << "[ note ] podman not installed: README's kit-load procedure was not run\n";
    return;
  }
  for (std::string ref : {"docker.io/library/nginx:1.25", "docker.io/library/registry:2"})
    EXPECT_TRUE(contains(r.output, ref + " ")) << r.output;
}

}  // namespace
}  // namespace kso::test
