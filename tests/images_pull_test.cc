// End-to-end tests of the image-list source against real peers on 127.0.0.1:
// Debian's docker-registry as upstream (open, htpasswd Basic auth, Bearer
// tokens from a test token server), images assembled here and pushed with
// skopeo; kso-pack pulls them into a pack, the pack is served by a second,
// read-only docker-registry, and skopeo checks what clients get.
#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>

#include "index/error.h"
#include "index/write/pack_writer.h"
#include "tests/support/mini_http.h"
#include "tests/support/registry_fixture.h"
#include "tests/support/registry_proxy.h"
#include "tests/support/testutil.h"
#include "fetch/net_options.h"
#include "tools/images/pull.h"

namespace {

using namespace kso::test;
namespace fs = std::filesystem;
using nlohmann::json;

// The pack is served from a kso-fs mount when kso-fs is built, else from
// `kso-pack extract` of it: this is the one line that picks.
bool serve_by_mount() { return fs::exists(kso_fs_bin()) && fs::exists("/dev/fuse"); }

// A pack made visible as a directory (mounted or extracted), gone with the object.
class ServedPack {
 public:
  ServedPack(const fs::path& pack, const fs::path& dir) : dir_(dir) {
    fs::create_directories(dir_);
    if (serve_by_mount()) {
      daemon_ = std::make_unique<Daemon>(q(kso_fs_bin()) + " " + q(pack) + " " + q(dir_) + " -f",
                                         dir_.string() + ".log");
      for (int i = 0; i < 200 && !fs::exists(dir_ / "registry"); i++) usleep(50000);
      mounted_ = fs::exists(dir_ / "registry");
      if (!mounted_) throw std::runtime_error("kso-fs mount failed: " + daemon_->log());
    } else {
      auto r = kso_pack_words("extract " + pack.string() + " " + dir_.string());
      if (r.status != 0) throw std::runtime_error("kso-pack extract failed: " + r.output);
    }
  }
  ~ServedPack() {
    if (mounted_) run("fusermount3 -u " + q(dir_));
  }
  const fs::path& dir() const { return dir_; }

 private:
  fs::path dir_;
  bool mounted_ = false;
  std::unique_ptr<Daemon> daemon_;
};

// Upstream registries and what was pushed to them, shared by the tests of one process.
struct Upstreams {
  TempDir tmp{"kso-images"};
  std::unique_ptr<TokenServer> token;
  std::unique_ptr<TestRegistry> open, basic, bearer;
  struct Listed {
    std::string line;      // as written in images.list
    std::string local;     // repository name in the pack
    std::string tag;       // tag in the pack ("" when pinned by digest only)
    const TestRegistry* reg;
    std::string upstream;  // "host/repo:tag" upstream, for skopeo
    PushedImage pushed;
    std::vector<std::string> platforms;  // every platform of the index
  };
  std::vector<Listed> images;

  Upstreams() {
    token = std::make_unique<TokenServer>(tmp / "token", "kso", "kso-secret");
    open = std::make_unique<TestRegistry>(tmp / "open", TestRegistry::Options{tmp / "open/storage"});
    TestRegistry::Options bo{tmp / "basic/storage"};
    bo.auth = RegistryAuthMode::Htpasswd;
    basic = std::make_unique<TestRegistry>(tmp / "basic", bo);
    TestRegistry::Options to{tmp / "bearer/storage"};
    to.auth = RegistryAuthMode::Token;
    to.token = token.get();
    bearer = std::make_unique<TestRegistry>(tmp / "bearer", to);

    fs::path scratch = tmp / "scratch";
    // base layers shared by images (per platform), one shared across platforms
    TestLayer base_amd64 = make_layer(scratch, {{"etc/os-release", "ID=test\nARCH=amd64\n"}, {"bin/sh", random_bytes(300000, 1)}});
    TestLayer base_arm64 = make_layer(scratch, {{"etc/os-release", "ID=test\nARCH=arm64\n"}, {"bin/sh", random_bytes(300000, 2)}});
    TestLayer base_s390x = make_layer(scratch, {{"etc/os-release", "ID=test\nARCH=s390x\n"}, {"bin/sh", random_bytes(200000, 3)}});
    TestLayer data = make_layer(scratch, {{"usr/share/data.txt", std::string(100000, 'd')}});
    int seed = 100;
    auto app = [&](const std::string& name, const std::string& arch) {
      return make_layer(scratch, {{"usr/bin/" + name, "#" + arch + "\n" + random_bytes(50000, seed++)}});
    };
    auto two = [&](const std::string& name, bool arm_variant = false) {
      return std::vector<TestPlatformImage>{
          {"linux", "amd64", "", {base_amd64, data, app(name, "amd64")}},
          {"linux", "arm64", arm_variant ? "v8" : "", {base_arm64, data, app(name, "arm64")}}};
    };
    auto add = [&](const TestRegistry& reg, TestImage img, const std::string& line, const std::string& tag_in_pack) {
      Listed l;
      l.pushed = push_image(img, reg, scratch);
      l.line = line;
      l.local = img.repo;
      l.tag = tag_in_pack;
      l.reg = &reg;
      l.upstream = reg.host() + "/" + img.repo + ":" + img.tag;
      for (auto& p : img.platforms) l.platforms.push_back(p.platform());
      images.push_back(l);
    };
    std::string o = open->host();
    add(*open, {"calico/node", "v1", ManifestFormat::Oci, two("calico-node", true)}, o + "/calico/node:v1", "v1");
    add(*open, {"kube-apiserver", "v1.29.10", ManifestFormat::Docker, two("kube-apiserver")},
        o + "/kube-apiserver:v1.29.10", "v1.29.10");
    add(*open, {"pause", "3.9", ManifestFormat::Oci, {{"linux", "amd64", "", {base_amd64, app("pause", "amd64")}}}, true},
        o + "/pause:3.9", "3.9");
    // a Docker Hub short name, pulled through --mirror from the open registry
    add(*open, {"library/nginx", "1.25", ManifestFormat::Oci, two("nginx")}, "nginx:1.25", "1.25");
    TestImage cni{"calico/cni", "v1", ManifestFormat::Docker, two("calico-cni")};
    auto pushed_cni = push_image(cni, *open, scratch);
    add(*open, cni, o + "/calico/cni@" + pushed_cni.digest, "");
    // a third platform the default selection leaves out, behind Basic auth
    auto cilium = two("cilium");
    cilium.push_back({"linux", "s390x", "", {base_s390x, app("cilium", "s390x")}});
    add(*basic, {"cilium/cilium", "v1.15.8", ManifestFormat::Oci, cilium}, basic->host() + "/cilium/cilium:v1.15.8",
        "v1.15.8");
    // Bearer tokens; shares base layers with the open registry's images
    add(*bearer, {"coredns/coredns", "v1.11.1", ManifestFormat::Docker, two("coredns")},
        bearer->host() + "/coredns/coredns:v1.11.1", "v1.11.1");
  }

  std::string list_text() const {
    std::string s = "# kso test images\n\n";
    for (auto& l : images) s += l.line + "\n";
    return s;
  }
  // kso-pack options every pull of the list needs: credentials, the Docker Hub mirror.
  std::vector<std::string> net_args(const fs::path& cache) const {
    return {"--cache", cache.string(), "--mirror", "https://registry-1.docker.io=" + open->url(), "--creds",
            basic->host() + "=kso:kso-secret", "--auth-file", write_auth_file().string(), "--progress", "plain"};
  }
  fs::path write_auth_file() const {
    fs::path p = tmp / "auth.json";
    json j = {{"auths", {{bearer->host(), {{"auth", "a3NvOmtzby1zZWNyZXQ="}}}}}};  // kso:kso-secret
    write_file(p, j.dump());
    return p;
  }
  void fill(kso::images::ImagesOptions& io, kso::fetch::NetOptions& net, const fs::path& list, const fs::path& cache) const {
    io.lists = {list};
    io.creds = {basic->host() + "=kso:kso-secret"};
    io.auth_file = write_auth_file();
    net.cache_dir = cache;
    net.progress = 0;
    net.retries = 1;
    net.retry_delay_ms = 50;
    net.mirrors.push_back({"https://registry-1.docker.io", open->url()});
  }
};

Upstreams* g_up = nullptr;

class ImagesPull : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!TestRegistry::available()) return;
    g_up = new Upstreams();
  }
  static void TearDownTestSuite() {
    delete g_up;
    g_up = nullptr;
  }
  void SetUp() override {
    if (!g_up) GTEST_SKIP() << "docker-registry or skopeo not installed";
  }

  // Runs kso-pack build with the test list and extra args; returns its result.
  RunResult kso_pack_build(const fs::path& out, const fs::path& list, const fs::path& cache,
                           const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"build", "-o", out.string(), "--images-list", list.string()};
    for (auto& a : g_up->net_args(cache)) args.push_back(a);
    for (auto& a : extra) args.push_back(a);
    ToolResult r = kso_pack(args);
    return {r.status, r.out + r.err};
  }

  // In-process pull (no pack): for error cases and stats.
  std::string pull_error(const std::string& list_text, std::function<void(kso::images::ImagesOptions&)> tweak = {}) {
    TempDir t{"kso-img-err"};
    write_file(t / "images.list", list_text);
    kso::images::ImagesOptions io;
    kso::fetch::NetOptions net;
    g_up->fill(io, net, t / "images.list", t / "cache");
    if (tweak) tweak(io);
    try {
      kso::images::pull_images(io, net);
    } catch (const kso::Error& e) {
      return e.what();
    }
    return "";
  }
};

std::string skopeo_raw(const std::string& ref, const TestRegistry* creds_from) {
  auto r = run("skopeo inspect --raw --tls-verify=false " +
               (creds_from && !creds_from->creds().empty() ? "--creds " + q(creds_from->creds()) : std::string("--no-creds")) +
               " docker://" + ref);
  if (r.status != 0) throw std::runtime_error("skopeo inspect failed: " + r.output);
  return r.output;
}

TEST_F(ImagesPull, EndToEndMultiArchServedFromPack) {
  TempDir t{"kso-img-e2e"};
  write_file(t / "images.list", g_up->list_text());
  auto r = kso_pack_build(t / "out.kso", t / "images.list", t / "cache");
  ASSERT_EQ(r.status, 0) << r.output;
  ServedPack served(t / "out.kso", t / "served");
  TestRegistry::Options so{served.dir() / "registry"};
  so.readonly = true;
  TestRegistry kso_reg(t / "kso-registry", so);

  for (auto& img : g_up->images) {
    SCOPED_TRACE(img.line);
    std::string ref = kso_reg.host() + "/" + img.local + (img.tag.empty() ? "@" + img.pushed.digest : ":" + img.tag);
    // the index (or single manifest) byte for byte, as upstream serves it
    std::string upstream_raw = skopeo_raw(img.upstream, img.reg);
    EXPECT_EQ(upstream_raw, img.pushed.bytes);
    EXPECT_EQ(skopeo_raw(ref, nullptr), upstream_raw);
    for (std::string arch : {"amd64", "arm64"}) {
      fs::path dest = t / ("copy-" + std::to_string(&img - &g_up->images[0]) + "-" + arch);
      auto c = run("skopeo copy --quiet --override-arch " + arch + " --src-tls-verify=false --src-no-creds docker://" +
                   ref + " " + q("dir:" + dest.string()));
      bool single = img.pushed.platform_digest.size() == 1 && img.pushed.digest == img.pushed.platform_digest.begin()->second;
      if (single && arch == "arm64") continue;  // the amd64-only image has nothing for arm64 to check
      ASSERT_EQ(c.status, 0) << c.output;
      std::string want = single ? img.pushed.digest : img.pushed.platform_digest.at("linux/" + arch + (arch == "arm64" && img.local == "calico/node" ? "/v8" : ""));
      EXPECT_EQ("sha256:" + sha256_file_hex(dest / "manifest.json"), want);
    }
  }
  // the third platform was not asked for: absent from the pack, its index kept whole
  auto s390 = run("skopeo copy --quiet --override-arch s390x --src-tls-verify=false --src-no-creds docker://" +
                  kso_reg.host() + "/cilium/cilium:v1.15.8 " + q("dir:" + (t / "s390x").string()));
  EXPECT_NE(s390.status, 0) << s390.output;

  auto cat = run("curl -sf " + kso_reg.url() + "/v2/_catalog");
  ASSERT_EQ(cat.status, 0) << cat.output;
  auto repos = json::parse(cat.output)["repositories"];
  std::set<std::string> got(repos.begin(), repos.end());
  std::set<std::string> want = {"calico/node", "calico/cni", "kube-apiserver", "pause", "library/nginx", "cilium/cilium",
                                "coredns/coredns"};
  EXPECT_EQ(got, want);
}

TEST_F(ImagesPull, CacheMakesRerunFetchNothing) {
  TempDir t{"kso-img-cache"};
  write_file(t / "images.list", g_up->list_text());
  kso::images::ImagesOptions io;
  kso::fetch::NetOptions net;
  g_up->fill(io, net, t / "images.list", t / "cache");
  kso::images::PullStats s1, s2;
  auto e1 = kso::images::pull_images(io, net, &s1);
  EXPECT_EQ(s1.images, g_up->images.size());
  EXPECT_EQ(s1.from_cache, 0u);
  EXPECT_EQ(s1.downloaded, s1.manifests + s1.blobs);
  // shared layers are fetched once: base per platform, data once for every image
  std::set<std::string> all;
  for (auto& img : g_up->images)
    for (auto& b : img.pushed.blobs) all.insert(b);
  EXPECT_EQ(s1.blobs + 3, all.size());  // cilium's s390x config and two layers were not asked for
  auto e2 = kso::images::pull_images(io, net, &s2);
  EXPECT_EQ(s2.downloaded, 0u);
  EXPECT_EQ(s2.from_cache, s1.manifests + s1.blobs);
  ASSERT_EQ(e1.size(), e2.size());
  for (size_t i = 0; i < e1.size(); i++) {
    EXPECT_EQ(e1[i].path, e2[i].path);
    EXPECT_EQ(e1[i].inline_data, e2[i].inline_data);
  }
}

TEST_F(ImagesPull, ResumesPartialBlobs) {
  TempDir t{"kso-img-resume"};
  auto& node = g_up->images[0];
  write_file(t / "images.list", node.line + "\n");
  // an earlier run left the first half of the amd64 base layer (and garbage would not verify)
  fs::path blobs = t / "cache/blobs/sha256";
  std::string base = node.pushed.blobs[0];
  std::string data = run("curl -sf " + g_up->open->url() + "/v2/calico/node/blobs/" + base).output;
  ASSERT_GT(data.size(), 1000u);
  write_file(blobs / (base.substr(7) + ".part"), data.substr(0, data.size() / 2));
  kso::images::ImagesOptions io;
  kso::fetch::NetOptions net;
  g_up->fill(io, net, t / "images.list", t / "cache");
  kso::images::PullStats st;
  kso::images::pull_images(io, net, &st);
  EXPECT_EQ(st.resumed, 1u);
  EXPECT_EQ(sha256_file_hex(blobs / base.substr(7)), base.substr(7));
  EXPECT_FALSE(fs::exists(blobs / (base.substr(7) + ".part")));
}

TEST_F(ImagesPull, AllPlatformsAndKeptHosts) {
  TempDir t{"kso-img-all"};
  auto& cil = g_up->images[5];
  write_file(t / "images.list", cil.line + "\n");
  kso::images::ImagesOptions io;
  kso::fetch::NetOptions net;
  g_up->fill(io, net, t / "images.list", t / "cache");
  io.platforms = {"all"};
  io.keep_registry_host = true;
  auto entries = kso::images::pull_images(io, net);
  std::set<std::string> paths;
  for (auto& e : entries) paths.insert(e.path);
  std::string repo = "registry/docker/registry/v2/repositories/127.0.0.1_" + std::to_string(g_up->basic->port()) +
                     "/cilium/cilium/_manifests/revisions/sha256/";
  for (auto& [plat, digest] : cil.pushed.platform_digest) EXPECT_TRUE(paths.count(repo + digest.substr(7) + "/link")) << plat;
  EXPECT_TRUE(paths.count(repo + cil.pushed.digest.substr(7) + "/link"));
}

// A registry named by host name, reached through --resolve, spoken to over
// plain HTTP because of --insecure-registry; combined with a local dir source.
TEST_F(ImagesPull, NamedRegistryThroughResolveWithOtherSources) {
  TempDir t{"kso-img-resolve"};
  std::string host = "kso-upstream.test:" + std::to_string(g_up->open->port());
  write_file(t / "images.list", host + "/pause:3.9\n");
  write_file(t / "files/readme.txt", "hello\n");
  auto r = kso_pack_build(t / "out.kso", t / "images.list", t / "cache",
                          {"--resolve", host + ":127.0.0.1", "--insecure-registry", host, "--platform", "linux/amd64",
                           "files=" + (t / "files").string()});
  ASSERT_EQ(r.status, 0) << r.output;
  auto ls = kso_pack_words("ls " + (t / "out.kso").string() +
                " registry/docker/registry/v2/repositories/pause/_manifests/tags/3.9/current");
  EXPECT_EQ(ls.status, 0) << ls.output;
  auto cat = kso_pack_words("cat " + (t / "out.kso").string() + " files/readme.txt");
  EXPECT_EQ(cat.output, "hello\n");
}

TEST_F(ImagesPull, BlobRedirectsToAnotherHost) {
  RegistryProxy proxy(g_up->open->host(), {true, "", "", ""});
  TempDir t{"kso-img-redir"};
  write_file(t / "images.list", proxy.host() + "/calico/node:v1\n" + proxy.host() + "/pause:3.9\n");
  kso::images::ImagesOptions io;
  kso::fetch::NetOptions net;
  g_up->fill(io, net, t / "images.list", t / "cache");
  kso::images::PullStats st;
  kso::images::pull_images(io, net, &st);
  EXPECT_EQ(proxy.redirects(), st.blobs);
  EXPECT_GT(st.blobs, 4u);
}

// Blobs of a registry with Basic auth redirected to a "CDN" on another host
// name: the CDN must never see the registry credentials.
TEST_F(ImagesPull, RedirectsDropTheAuthorizationHeader) {
  RegistryProxy cdn(g_up->basic->host(), {false, "", "", "kso:kso-secret"});
  std::string cdn_url = "http://localhost:" + cdn.host().substr(cdn.host().rfind(':') + 1);
  RegistryProxy front(g_up->basic->host(), {true, cdn_url, "", ""});
  TempDir t{"kso-img-cdn"};
  write_file(t / "images.list", front.host() + "/cilium/cilium:v1.15.8\n");
  kso::images::ImagesOptions io;
  kso::fetch::NetOptions net;
  g_up->fill(io, net, t / "images.list", t / "cache");
  io.creds = {front.host() + "=kso:kso-secret"};
  kso::images::PullStats st;
  kso::images::pull_images(io, net, &st);
  EXPECT_GT(front.with_authorization(), 0u);
  EXPECT_EQ(front.redirects(), st.blobs);
  EXPECT_EQ(cdn.requests(), st.blobs);
  EXPECT_EQ(cdn.with_authorization(), 0u);
}

TEST_F(ImagesPull, CorruptBlobFailsTheBuild) {
  auto& node = g_up->images[0];
  std::string layer = node.pushed.blobs[2];  // calico/node's amd64 app layer
  RegistryProxy proxy(g_up->open->host(), {false, "", layer, ""});
  TempDir t{"kso-img-corrupt"};
  write_file(t / "images.list", proxy.host() + "/calico/node:v1\n");
  auto r = kso_pack_build(t / "out.kso", t / "images.list", t / "cache", {"--retries", "1", "--retry-delay", "10"});
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_GT(proxy.corrupted(), 0u);
  EXPECT_NE(r.output.find(proxy.host() + "/calico/node:v1"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(layer.substr(7)), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(t / "out.kso"));
  for (auto& e : fs::directory_iterator(t.path())) EXPECT_EQ(e.path().filename().string().find("out.kso"), std::string::npos) << e.path();

  // a pinned index that comes back different is refused too
  RegistryProxy bad_index(g_up->open->host(), {false, "", node.pushed.digest, ""});
  std::string msg = pull_error(bad_index.host() + "/calico/node@" + node.pushed.digest + "\n");
  EXPECT_NE(msg.find("calico/node@" + node.pushed.digest), std::string::npos) << msg;
  EXPECT_NE(msg.find("mismatch"), std::string::npos) << msg;
}

TEST_F(ImagesPull, ClearErrors) {
  std::string o = g_up->open->host(), b = g_up->basic->host(), br = g_up->bearer->host();
  auto has = [](const std::string& msg, const std::string& part) {
    return msg.find(part) != std::string::npos && msg.find('\n') == std::string::npos;
  };
  std::string m = pull_error(o + "/calico/node:v9\n");
  EXPECT_TRUE(has(m, o + "/calico/node:v9") && has(m, "unknown tag")) << m;
  m = pull_error(o + "/nope/nothing:v1\n");
  EXPECT_TRUE(has(m, "nope/nothing:v1") && has(m, "unknown")) << m;
  m = pull_error("ok:1\n" + o + "/Bad Ref\n");
  EXPECT_TRUE(has(m, "images.list:2: malformed image reference")) << m;

  // auth: none given, wrong ones, token server refusing
  m = pull_error(b + "/cilium/cilium:v1.15.8\n", [](auto& io) { io.creds.clear(); });
  EXPECT_TRUE(has(m, "cilium/cilium:v1.15.8") && has(m, "requires credentials")) << m;
  m = pull_error(b + "/cilium/cilium:v1.15.8\n", [&](auto& io) { io.creds = {b + "=kso:wrong"}; });
  EXPECT_TRUE(has(m, "cilium/cilium:v1.15.8") && has(m, "rejected")) << m;
  m = pull_error(br + "/coredns/coredns:v1.11.1\n", [&](auto& io) {
    io.auth_file.clear();
    io.creds = {br + "=kso:wrong"};
  });
  EXPECT_TRUE(has(m, "coredns/coredns:v1.11.1") && has(m, "refused")) << m;

  // a platform asked for and missing
  m = pull_error(b + "/cilium/cilium:v1.15.8\n", [](auto& io) { io.platforms = {"linux/arm/v7"}; });
  EXPECT_TRUE(has(m, "cilium/cilium:v1.15.8") && has(m, "linux/arm/v7") && has(m, "--skip-missing-platforms")) << m;
  m = pull_error(b + "/cilium/cilium:v1.15.8\n", [](auto& io) {
    io.platforms = {"linux/arm/v7,linux/s390x"};
    io.skip_missing_platforms = true;
  });
  EXPECT_EQ(m, "");

  // two sources, one name
  m = pull_error(o + "/calico/node:v1\n" + b + "/calico/node:v1\n");
  EXPECT_TRUE(has(m, o + "/calico/node:v1") && has(m, b + "/calico/node:v1") && has(m, "'calico/node'")) << m;
}

TEST_F(ImagesPull, RefusesSchema1AndUnknownMediaTypes) {
  // a fake registry: schema 1 for one repository, an unknown type for another
  MiniHttpServer fake([](const HttpRequest& req) {
    HttpReply r;
    if (req.path == "/v2/" || req.path == "/v2") return r;
    if (req.path.find("/old/manifests/") != std::string::npos) {
      r.headers = {{"Content-Type", "application/vnd.docker.distribution.manifest.v1+prettyjws"}};
      r.body = R"({"schemaVersion":1,"name":"old","tag":"1","fsLayers":[],"history":[]})";
    } else {
      r.headers = {{"Content-Type", "application/vnd.example.thing+json"}};
      r.body = R"({"schemaVersion":2,"mediaType":"application/vnd.example.thing+json"})";
    }
    if (req.method == "HEAD") {
      r.content_length = r.body.size();
      r.headers.emplace_back("Docker-Content-Digest", "sha256:" + sha256_hex(r.body));
    }
    return r;
  });
  std::string m = pull_error(fake.host() + "/old:1\n");
  EXPECT_NE(m.find(fake.host() + "/old:1"), std::string::npos) << m;
  EXPECT_NE(m.find("schema 1"), std::string::npos) << m;
  m = pull_error(fake.host() + "/thing:1\n");
  EXPECT_NE(m.find(fake.host() + "/thing:1"), std::string::npos) << m;
  EXPECT_NE(m.find("unsupported manifest media type"), std::string::npos) << m;
}

// A fake registry whose first token is already expired: the pull must get a
// fresh one on "invalid_token" and go on. Anonymous tokens, one repository,
// no Docker-Content-Digest on HEAD.
TEST(ImagesAuthFlow, ExpiredTokenIsRefreshed) {
  std::string layer = "layer-bytes", config = R"({"architecture":"amd64","os":"linux"})";
  std::string ld = "sha256:" + sha256_hex(layer), cd = "sha256:" + sha256_hex(config);
  std::string manifest = json{{"schemaVersion", 2},
                              {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                              {"config", {{"mediaType", "application/vnd.oci.image.config.v1+json"}, {"digest", cd}, {"size", config.size()}}},
                              {"layers", json::array({{{"mediaType", "application/vnd.oci.image.layer.v1.tar"}, {"digest", ld}, {"size", layer.size()}}})}}
                             .dump();
  std::string md = "sha256:" + sha256_hex(manifest);
  std::atomic<int> tokens{0}, rejected{0};
  std::unique_ptr<MiniHttpServer> fake;
  fake = std::make_unique<MiniHttpServer>([&](const HttpRequest& req) {
    HttpReply r;
    if (req.path == "/token") {
      EXPECT_EQ(req.query_param("scope"), "repository:app/one:pull");
      r.body = json{{"token", "tok-" + std::to_string(++tokens)}}.dump();
      return r;
    }
    std::string auth = req.header("authorization");
    if (auth != "Bearer tok-2") {
      rejected++;
      std::string ch = "Bearer realm=\"" + fake->url() + "/token\",service=\"fake\"";
      if (!auth.empty()) ch += ",error=\"invalid_token\"";
      return HttpReply{401, {{"WWW-Authenticate", ch}}, R"({"errors":[{"code":"UNAUTHORIZED"}]})", std::nullopt};
    }
    if (req.path.find("/manifests/") != std::string::npos) {
      // no digest on HEAD (some registries): the pull falls back to GET by tag
      r.headers = {{"Content-Type", "application/vnd.oci.image.manifest.v1+json"}};
      if (req.method == "GET") r.headers.emplace_back("Docker-Content-Digest", md);
      r.body = manifest;
    } else if (req.path.find(ld) != std::string::npos) {
      r.body = layer;
    } else if (req.path.find(cd) != std::string::npos) {
      r.body = config;
    } else {
      r.status = 404;
    }
    if (req.method == "HEAD") r.content_length = r.body.size();
    return r;
  });
  TempDir t{"kso-img-token"};
  write_file(t / "images.list", fake->host() + "/app/one:1\n");
  kso::images::ImagesOptions io;
  io.lists = {t / "images.list"};
  io.auth_file = t / "none.json";
  write_file(io.auth_file, "{}");
  kso::fetch::NetOptions net;
  net.cache_dir = t / "cache";
  net.progress = 0;
  kso::images::PullStats st;
  auto entries = kso::images::pull_images(io, net, &st);
  EXPECT_EQ(tokens.load(), 2);
  EXPECT_EQ(st.blobs, 2u);
  EXPECT_EQ(st.manifests, 1u);
  EXPECT_EQ(st.downloaded, 3u);
  EXPECT_EQ(st.from_cache, 0u);
  EXPECT_EQ(entries.size(), 3u + 1 + 2 + 2);  // 3 blobs, 1 revision, 2 tag links, 2 _layers links
}

}  // namespace
