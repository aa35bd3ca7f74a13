// Remote packs (issue 11): kso-fs mounting a pack from an HTTP(S) URL through
// a disk cache. The origin is the tests' FaultServer (ranges, failures, cut
// bodies, wrong Content-Range, the object replaced) or nginx with TLS from a
// CA of our own; every byte read through a mount is compared with the tree.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <signal.h>

#include <cerrno>
#include <chrono>
#include <thread>

#include <cstdio>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "index/pack_reader.h"
#include "tests/support/http_fixtures.h"
#include "tests/support/mount_fixture.h"
#include "tests/support/registry_fixture.h"
#include "tests/support/testutil.h"
#include "tests/support/tree_gen.h"

namespace kso::test {
namespace {

class FsRemote : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = fuse_unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
  }
  TempDir tmp_{"kso-fs-remote"};

  std::string url(const FaultServer& s, const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(s.port()) + path;
  }
  Mount mount(const std::string& u, const std::string& cache, const std::string& extra = "") {
    Mount::Options o;
    o.opts = "cache_dir=" + (tmp_ / cache).string() + ",remote_timeout=5" + extra;
    return Mount(u, tmp_ / ("mnt-" + cache), o);
  }
  // kso-fs URL MNT -o OPTS in the foreground of a shell: its exit code and output (for refusals).
  RunResult try_mount(const std::string& u, const std::string& opts) {
    fs::create_directories(tmp_ / "refused");
    return run(q(kso_fs_bin()) + " " + q(u) + " " + q(tmp_ / "refused") + " -o " + q(opts));
  }
};

FaultRoute route_of(std::string body) {
  FaultRoute f;
  f.body = std::move(body);
  return f;
}

// `body`, served only to requests with "Authorization: Bearer TOKEN".
FaultRoute route_with_token(const std::string& body, const std::string& token) {
  FaultRoute f = route_of(body);
  f.authorization = "Bearer " + token;
  return f;
}

// `kso-fs --status MNT --json`'s "remote" object.
nlohmann::json remote_status(const fs::path& mnt) {
  ToolResult r = kso_fs({"--status", mnt.string(), "--json"});  // in-process
  EXPECT_EQ(r.status, 0) << r.err;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  return j.is_object() && j.contains("remote") ? j["remote"] : nlohmann::json();
}

// [first, last] byte ranges of the range requests the server saw, sorted;
// the pack's last bytes (bytes=-N) are left out.
std::vector<std::pair<uint64_t, uint64_t>> ranges_seen(FaultServer& s) {
  std::vector<std::pair<uint64_t, uint64_t>> v;
  for (auto& r : s.seen()) {
    auto it = r.headers.find("range");
    unsigned long long a, b;
    if (it != r.headers.end() && sscanf(it->second.c_str(), "bytes=%llu-%llu", &a, &b) == 2) v.emplace_back(a, b);
  }
  std::sort(v.begin(), v.end());
  return v;
}

// Body bytes the server was asked for, from the Range headers it saw.
uint64_t ranged_bytes(FaultServer& s) {
  uint64_t n = 0;
  for (auto& r : s.seen()) {
    auto it = r.headers.find("range");
    if (it == r.headers.end()) continue;
    unsigned long long a, b;
    if (sscanf(it->second.c_str(), "bytes=%llu-%llu", &a, &b) == 2) n += b - a + 1;
    else if (sscanf(it->second.c_str(), "bytes=-%llu", &a) == 1) n += a;
  }
  return n;
}

TEST_F(FsRemote, MountIsTheTreeFetchesItOnceAndRestartsOffline) {
  const TreePack& tp = shared_tree_pack();
  const std::string bytes = read_file(tp.pack);
  auto server = std::make_unique<FaultServer>();
  server->route("/k8s.kso", route_of(bytes));
  const std::string u = url(*server, "/k8s.kso");
  {
    Mount m = mount(u, "c");
    EXPECT_TRUE(compare_trees(tp.tree, m / "data").empty());
  }
  const uint64_t first = ranged_bytes(*server);
  EXPECT_GE(first, bytes.size() - 4096) << "a full read fetches (nearly) the whole pack";
  EXPECT_LE(double(first), 1.05 * double(bytes.size())) << "and no more than 1.05x of it";
  {
    Mount m = mount(u, "c");  // the same cache: a second full read fetches nothing
    EXPECT_TRUE(compare_trees(tp.tree, m / "data").empty());
  }
  EXPECT_LE(ranged_bytes(*server) - first, 64u) << "only the pack's last bytes are asked again";
  // The origin goes away: a restart mounts the cached identity and serves every file.
  const size_t port = server->port();
  server.reset();
  {
    Mount m = mount("http://127.0.0.1:" + std::to_string(port) + "/k8s.kso", "c");
    EXPECT_TRUE(compare_trees(tp.tree, m / "data").empty());
    EXPECT_NE(m.log().find("origin unreachable"), std::string::npos) << m.log();
  }
  // Nothing cached, no origin: refused with one line.
  auto r = try_mount("http://127.0.0.1:" + std::to_string(port) + "/k8s.kso", "cache_dir=" + (tmp_ / "empty").string());
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("cannot reach the origin"), std::string::npos) << r.output;
}

TEST_F(FsRemote, TransientFaultsAreRetriedAndBadAnswersAreNeverData) {
  const TreePack& tp = shared_tree_pack();
  FaultServer server;
  // 503s first, then Content-Ranges one byte off, then bodies cut in half.
  server.route("/flaky.kso", [&] {
    FaultRoute f = route_of(read_file(tp.pack));
    f.fail_first = 2;
    f.bad_range_first = 3;
    f.cut_range_first = 3;
    return f;
  }());
  {
    Mount m = mount(url(server, "/flaky.kso"), "flaky");
    EXPECT_TRUE(compare_trees(tp.tree, m / "data").empty()) << m.log();
  }
  // A server that ignores Range is refused at mount.
  server.route("/norange.kso", [&] {
    FaultRoute f = route_of(read_file(tp.pack));
    f.ignore_ranges = true;
    return f;
  }());
  auto r = try_mount(url(server, "/norange.kso"), "cache_dir=" + (tmp_ / "nr").string());
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("range requests"), std::string::npos) << r.output;
  server.route("/missing.kso", [] {
    FaultRoute f;
    f.status = 404;
    return f;
  }());
  r = try_mount(url(server, "/missing.kso"), "cache_dir=" + (tmp_ / "nf").string());
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("404"), std::string::npos) << r.output;
  // No cache dir: a usage error.
  r = try_mount(url(server, "/flaky.kso"), "remote_timeout=5");
  EXPECT_EQ(r.status, 2) << r.output;
}

TEST_F(FsRemote, ReplacedObjectGivesEioNeverAMixOfTwoPacks) {
  TempDir t("kso-remote-swap");
  for (int i = 0; i < 12; i++) write_file(t / "a" / ("f" + std::to_string(i)), random_bytes(1500000, uint64_t(i)));
  for (int i = 0; i < 12; i++) write_file(t / "b" / ("f" + std::to_string(i)), random_bytes(1500000, uint64_t(100 + i)));
  pack_dirs(t / "a.kso", {"d=" + (t / "a").string()});
  pack_dirs(t / "b.kso", {"d=" + (t / "b").string()});
  FaultServer server;
  server.route("/p.kso", route_of(read_file(t / "a.kso")));
  const std::string u = url(server, "/p.kso");
  {
    Mount m = mount(u, "swap", ",readahead_blocks=0");
    EXPECT_EQ(read_file(m / "d/f0"), read_file(t / "a/f0"));
    server.route("/p.kso", route_of(read_file(t / "b.kso")));  // replaced under the mount
    int eio = 0, right = 0;
    for (int i = 0; i < 12; i++) {
      std::string got;
      int err = 0;
      int fd = ::open((m / ("d/f" + std::to_string(i))).c_str(), O_RDONLY);
      char buf[65536];
      for (ssize_t n; fd >= 0 && (n = ::read(fd, buf, sizeof buf)) != 0;) {
        if (n < 0) {
          err = errno;
          break;
        }
        got.append(buf, size_t(n));
      }
      if (fd >= 0) ::close(fd);
      if (err) {
        EXPECT_EQ(err, EIO) << "f" << i;
        eio++;
        continue;
      }
      EXPECT_EQ(got, read_file(t / "a" / ("f" + std::to_string(i)))) << "f" << i << ": bytes of another pack";
      right++;
    }
    EXPECT_GT(eio, 0) << "uncached files of the old pack cannot be read any more";
    EXPECT_GT(right, 0) << "cached ones still are";
    EXPECT_NE(m.log().find("the object changed"), std::string::npos) << m.log();
  }
  // A restart that reaches the new pack refuses it, unless told to switch.
  auto r = try_mount(u, "cache_dir=" + (tmp_ / "swap").string());
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("now holds another pack"), std::string::npos) << r.output;
  Mount m = mount(u, "swap", ",switch");
  EXPECT_TRUE(compare_trees(t / "b", m / "d").empty());
  // A second daemon on the same cache dir is refused.
  r = try_mount(u, "cache_dir=" + (tmp_ / "swap").string());
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("in use by another kso-fs"), std::string::npos) << r.output;
}

TEST_F(FsRemote, HttpsWithOwnCaAndABearerToken) {
  if (!have_command("nginx") || !have_command("openssl")) GTEST_SKIP() << "needs nginx and openssl";
  const TreePack& tp = shared_tree_pack();
  fs::permissions(tmp_.path(), fs::perms(0755));  // nginx's workers read the pack
  make_tls_certs(tmp_ / "tls", {"localhost"});
  fs::create_directories(tmp_ / "www");
  fs::copy_file(tp.pack, tmp_ / "www" / "k8s.kso");
  const int port = free_port();
  const std::string t = (tmp_ / "tls").string();
  Nginx ng(tmp_ / "nginx",
           "server { listen 127.0.0.1:" + std::to_string(port) + " ssl http2; server_name localhost;\n"
           "  ssl_certificate " + t + "/server.pem; ssl_certificate_key " + t + "/server.key;\n"
           "  root " + (tmp_ / "www").string() + ";\n"
           "  location / { if ($http_authorization != \"Bearer s3cret\") { return 401; } }\n}\n",
           "127.0.0.1", port);
  const std::string u = "https://localhost:" + std::to_string(port) + "/k8s.kso";
  const std::string cache = "cache_dir=" + (tmp_ / "tc").string();
  auto r = try_mount(u, cache + ",header=Authorization: Bearer s3cret");
  EXPECT_EQ(r.status, 1) << "our CA is not trusted without cacert: " << r.output;
  r = try_mount(u, cache + ",cacert=" + t + "/ca.pem");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("401"), std::string::npos) << "no token: " << r.output;
  Mount m = mount(u, "tc", ",cacert=" + t + "/ca.pem,header=Authorization: Bearer s3cret");
  EXPECT_TRUE(compare_trees(tp.tree, m / "data").empty());
  EXPECT_NE(ng.access_log().find(" 206 "), std::string::npos) << "range requests over TLS";
  EXPECT_NE(ng.access_log().find("HTTP/2.0\" 206 "), std::string::npos) << "HTTP/2 where offered: " << ng.access_log();
  EXPECT_EQ(ng.access_log().find("HTTP/1.1\" 206 "), std::string::npos) << ng.access_log();
}

// Read-ahead: a sequential read makes the daemon fetch the extents after it
// in the background, adjacent ones coalesced into one range; no byte is asked
// twice, and off (-o remote_readahead=0) nothing is fetched ahead.
TEST_F(FsRemote, ReadaheadFetchesAheadOnceAndCoalesces) {
  TempDir t("kso-remote-ra");
  write_file(t / "tree/big", random_bytes(24 << 20, 7));  // random: stored as is, 24 extents
  write_file(t / "tree/small", "tail\n");
  pack_dirs(t / "k8s.kso", {"files=" + (t / "tree").string()});
  const std::string body = read_file(t / "k8s.kso");
  const std::string want = read_file(t / "tree/big");
  for (unsigned ra : {4u, 0u}) {
    FaultServer server;
    server.route("/k8s.kso", route_of(body));
    Mount m = mount(url(server, "/k8s.kso"), "ra" + std::to_string(ra), ",remote_readahead=" + std::to_string(ra));
    EXPECT_TRUE(read_file(m / "files/big") == want);
    auto st = remote_status(m.path());
    auto seen = ranges_seen(server);
    for (size_t i = 1; i < seen.size(); i++)
      EXPECT_GT(seen[i].first, seen[i - 1].second) << "bytes " << seen[i].first << ".. asked twice (readahead " << ra << ")";
    uint64_t longest = 0;
    for (auto& [a, b] : seen) {
      EXPECT_EQ(a % (1u << 20), 0u) << "ranges start on extents";
      longest = std::max<uint64_t>(longest, b - a + 1);
    }
    if (ra) {
      EXPECT_GT(st.value("readahead_requests", 0), 0) << st.dump();
      EXPECT_GT(st.value("readahead_bytes", 0), 8 << 20) << "most of the file came ahead of the reader: " << st.dump();
      EXPECT_GT(longest, 1u << 20) << "adjacent extents are asked as one range";
    } else {
      EXPECT_EQ(st.value("readahead_requests", -1), 0) << st.dump();
      EXPECT_EQ(longest, 1u << 20) << "one extent per request without read-ahead";
    }
    EXPECT_LE(double(ranged_bytes(server)), 1.05 * double(body.size()));
  }
}

// Faults spread over a whole read (503s, wrong Content-Ranges, cut bodies on
// every 3rd range answer) hit read-ahead too: a failed read-ahead leaves its
// extents uncached, the reader fetches them itself; never a wrong byte.
TEST_F(FsRemote, ReadaheadFaultsAreNeverData) {
  const TreePack& tp = shared_tree_pack();
  FaultServer server;
  FaultRoute f = route_of(read_file(tp.pack));
  f.fault_every = 3;
  server.route("/k8s.kso", f);
  Mount m = mount(url(server, "/k8s.kso"), "raf", ",remote_readahead=4");
  EXPECT_TRUE(compare_trees(tp.tree, m / "data").empty()) << m.log();
  EXPECT_GT(server.faults(), 3);
  auto st = remote_status(m.path());
  EXPECT_GT(st.value("readahead_requests", 0), 0) << st.dump();
  EXPECT_FALSE(st.value("object_changed", true)) << st.dump();
}

// The acceptance: nginx serves the pack over TLS (our own CA) and the
// remote mount is byte-identical to the local mount of the same file.
TEST_F(FsRemote, RemoteMountIsByteIdenticalToTheLocalMount) {
  if (!have_command("nginx") || !have_command("openssl") || !have_command("diff")) GTEST_SKIP() << "needs nginx, openssl, diff";
  const TreePack& tp = shared_tree_pack();
  fs::permissions(tmp_.path(), fs::perms(0755));
  make_tls_certs(tmp_ / "tls", {"localhost"});
  fs::create_directories(tmp_ / "www");
  fs::copy_file(tp.pack, tmp_ / "www" / "k8s.kso");
  const int port = free_port();
  const std::string t = (tmp_ / "tls").string();
  Nginx ng(tmp_ / "nginx",
           "server { listen 127.0.0.1:" + std::to_string(port) + " ssl http2; server_name localhost;\n"
           "  ssl_certificate " + t + "/server.pem; ssl_certificate_key " + t + "/server.key;\n"
           "  root " + (tmp_ / "www").string() + ";\n}\n",
           "127.0.0.1", port);
  Mount local(tp.pack, tmp_ / "mnt-local");
  Mount remote = mount("https://localhost:" + std::to_string(port) + "/k8s.kso", "tls", ",cacert=" + t + "/ca.pem");
  RunResult r = run("diff -r --no-dereference " + q(local.path()) + " " + q(remote.path()));
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output, "");
  EXPECT_TRUE(compare_trees(tp.tree, remote / "data").empty()) << "and both are the tree";
}

// nginx and a read-only registry:2 (Debian's docker-registry) serve from a
// remote mount: a file byte-exact, and skopeo pulls both archs of a
// multi-arch image with the upstream digests. The origin is nginx on loopback.
TEST_F(FsRemote, NginxAndReadOnlyRegistryServeFromTheRemoteMount) {
  if (!TestRegistry::available() || !have_command("nginx") || !have_command("curl"))
    GTEST_SKIP() << "needs docker-registry, skopeo, nginx and curl";
  fs::permissions(tmp_.path(), fs::perms(0755));  // nginx workers (nobody) read the pack and the mount
  const std::string kubelet_rel = "dl.k8s.io/release/v1.29.10/bin/linux/amd64/kubelet";
  const std::string kubelet = random_bytes((5u << 20) + 33, 91);
  write_file(tmp_ / "files" / kubelet_rel, kubelet);
  PushedImage pushed;
  {
    TestRegistry up(tmp_ / "upstream", TestRegistry::Options{tmp_ / "upstream/storage"});
    TestImage img;
    img.repo = "kube-proxy";
    img.tag = "v1.29.10";
    for (auto* arch : {"amd64", "arm64"}) {
      TestPlatformImage p;
      p.arch = arch;
      p.layers.push_back(make_layer(tmp_ / "scratch", {{"usr/local/bin/kube-proxy", std::string("proxy for ") + arch + "\n" +
                                                                                        random_bytes(200000, uint64_t(arch[1]))}}));
      img.platforms.push_back(p);
    }
    pushed = push_image(img, up, tmp_ / "scratch");
  }
  fs::create_directories(tmp_ / "www");
  pack_dirs(tmp_ / "www/k8s.kso", {"files=" + (tmp_ / "files").string(), "registry=" + (tmp_ / "upstream/storage").string()});
  const int origin_port = free_port();
  Nginx origin(tmp_ / "origin", "server { listen 127.0.0.1:" + std::to_string(origin_port) + "; root " + (tmp_ / "www").string() + "; }\n",
               "127.0.0.1", origin_port);
  Mount m = mount("http://127.0.0.1:" + std::to_string(origin_port) + "/k8s.kso", "reg", ",allow_other");
  const int files_port = free_port();
  Nginx files(tmp_ / "files-nginx", "server { listen 127.0.0.1:" + std::to_string(files_port) + "; root " + m.path().string() + "; }\n",
              "127.0.0.1", files_port);
  fs::path got = tmp_ / "kubelet";
  auto r = run("curl -sS --fail -o " + q(got) + " http://127.0.0.1:" + std::to_string(files_port) + "/files/" + kubelet_rel);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(read_file(got) == kubelet) << "nginx serves the file byte-exact from the remote mount";

  TestRegistry::Options ro{m.path() / "registry"};
  ro.readonly = true;
  TestRegistry reg(tmp_ / "ro", ro);
  for (auto& [plat, digest] : pushed.platform_digest) {
    std::string arch = plat.substr(plat.find('/') + 1);
    fs::path out = tmp_ / ("pull-" + arch);
    r = run("skopeo copy --quiet " + skopeo_flags(&reg, "src") + " --override-os linux --override-arch " + arch +
            " docker://" + reg.host() + "/kube-proxy:v1.29.10 dir:" + q(out));
    ASSERT_EQ(r.status, 0) << r.output << reg.log();
    EXPECT_NO_THROW(check_pulled_manifest(out, digest)) << plat;
  }
  r = run("skopeo inspect --raw --tls-verify=false --no-creds docker://" + reg.host() +
          "/kube-proxy:v1.29.10");
  EXPECT_TRUE(r.output == pushed.bytes) << r.output;
  auto st = remote_status(m.path());
  EXPECT_GT(st.value("bytes_fetched", 0), 0) << st.dump();
  EXPECT_FALSE(st.value("object_changed", true)) << st.dump();
}

// An expiring presigned URL and its token replaced with SIGHUP and -o
// reload_file, no remount; a reload to a URL serving another pack is refused
// and the old endpoint keeps serving (never a mix of two packs).
TEST_F(FsRemote, SighupReloadReplacesUrlAndTokenNeverThePack) {
  TempDir t("kso-remote-reload");
  for (int i = 0; i < 3; i++) write_file(t / "tree" / std::string(1, char('a' + i)), random_bytes(3 << 20, 40 + i));
  pack_dirs(t / "k8s.kso", {"files=" + (t / "tree").string()});
  write_file(t / "other/x", "another pack\n");
  pack_dirs(t / "other.kso", {"files=" + (t / "other").string()});
  const std::string body = read_file(t / "k8s.kso");
  FaultServer server;
  server.route("/k8s.kso?sig=1", route_with_token(body, "one"));
  const fs::path conf = t / "reload.conf";
  write_file(conf, "# kso-fs reload file\nurl=" + url(server, "/k8s.kso?sig=1") + "\nheader=Authorization: Bearer one\n");
  // PACK names the object; the file's url= (with its signature) is what is fetched.
  Mount m = mount(url(server, "/k8s.kso"), "rc", ",reload_file=" + conf.string());
  EXPECT_EQ(read_file(m / "files/a"), read_file(t / "tree/a"));
  EXPECT_EQ(server.hits("/k8s.kso"), 0) << "the reload file's url= is used from the mount on";

  // The URL and token expire; a new URL wants a new token.
  server.route("/k8s.kso?sig=1", route_with_token(body, "expired"));
  server.route("/v2/k8s.kso?sig=2", route_with_token(body, "two"));
  write_file(conf, "url=" + url(server, "/v2/k8s.kso?sig=2") + "\nheader=Authorization: Bearer two\n");
  ASSERT_EQ(kill(m.pid(), SIGHUP), 0);
  const std::string want_b = read_file(t / "tree/b");
  std::string got;
  for (int i = 0; i < 100 && got != want_b; i++) {  // the reload runs on the daemon's own thread
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    got = read_file(m / "files/b");  // short on EIO
  }
  EXPECT_TRUE(got == want_b) << "b not served after the reload";
  bool token_two = false;
  for (auto& r : server.seen())
    if (r.path == "/v2/k8s.kso?sig=2" && r.headers.count("range")) token_two |= r.headers["authorization"] == "Bearer two";
  EXPECT_TRUE(token_two) << "ranges went to the new URL with the new token";

  // A URL serving another pack: refused after one look at its last bytes.
  server.route("/other.kso", route_of(read_file(t / "other.kso")));
  write_file(conf, "url=" + url(server, "/other.kso") + "\n");
  ASSERT_EQ(kill(m.pid(), SIGHUP), 0);
  for (int i = 0; i < 100 && server.hits("/other.kso") == 0; i++) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(read_file(m / "files/c"), read_file(t / "tree/c")) << "the old endpoint keeps serving";
  EXPECT_EQ(server.hits("/other.kso"), 1) << "only the check, no data, from the other pack";
}

// docs/REMOTE.md's reload, run as written: the old token stops working, the
// block swaps in the new URL and token, and uncached files read again.
TEST_F(FsRemote, DocumentedReloadAsWritten) {
  const std::string block = doc_procedure("REMOTE.md", "remote-reload");
  ASSERT_FALSE(block.empty()) << "docs/REMOTE.md lost its reload procedure";
  TempDir t("kso-remote-reload-doc");
  write_file(t / "tree/a", random_bytes(3 << 20, 7));
  write_file(t / "tree/b", random_bytes(3 << 20, 8));
  pack_dirs(t / "k8s.kso", {"files=" + (t / "tree").string()});
  const std::string body = read_file(t / "k8s.kso");
  FaultServer server;
  server.route("/k8s.kso?X-Amz-Signature=1", route_with_token(body, "one"));
  const fs::path conf = t / "reload.conf";
  write_file(conf, "url=" + url(server, "/k8s.kso?X-Amz-Signature=1") + "\nheader=Authorization: Bearer one\n");
  Mount m = mount(url(server, "/k8s.kso"), "rd", ",reload_file=" + conf.string() + ",readahead_blocks=0");
  server.route("/k8s.kso?X-Amz-Signature=1", route_with_token(body, "expired"));
  server.route("/k8s.kso?X-Amz-Signature=2", route_with_token(body, "two"));
  const std::string path = kso_fs_bin().parent_path().string() + ":" + getenv("PATH");
  auto r = run("URL2=" + q(url(server, "/k8s.kso?X-Amz-Signature=2")) + " TOKEN2=two CONF=" + q(conf) +
               " MNT=" + q(m.path()) + " PATH=" + q(path) + " bash -euo pipefail -c " + q(block));
  ASSERT_EQ(r.status, 0) << block << "\n" << r.output;
  const std::string want = read_file(t / "tree/b");
  std::string got;
  for (int i = 0; i < 100 && got != want; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    got = read_file(m / "files/b");  // short on EIO
  }
  EXPECT_TRUE(got == want) << "b not served after the documented reload";
  EXPECT_GT(server.hits("/k8s.kso?X-Amz-Signature=2"), 1) << "the trailer check, then ranges";
}

// SIGHUP without a reload file is logged and ignored: libfuse's own handler
// would have unmounted (logrotate and friends send it).
TEST_F(FsRemote, SighupWithoutReloadFileKeepsTheMount) {
  const TreePack& tp = shared_tree_pack();
  Mount m(tp.pack, tmp_ / "mnt-hup");
  ASSERT_EQ(kill(m.pid(), SIGHUP), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_TRUE(compare_trees(tp.tree, m / "data").empty()) << "the mount survived SIGHUP";
  auto r = try_mount(tp.pack.string(), "reload_file=/nonexistent");
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("remote"), std::string::npos) << r.output;
}

// docs/REMOTE.md's mount, run as written against a presigned-style URL.
TEST_F(FsRemote, DocumentedMountAsWritten) {
  const std::string block = doc_procedure("REMOTE.md", "remote-mount");
  ASSERT_FALSE(block.empty()) << "docs/REMOTE.md lost its procedure";
  TempDir t("kso-remote-doc");
  write_file(t / "tree/dl.k8s.io/kubelet", random_bytes(300000, 5));
  write_file(t / "tree/README", "hello\n");
  pack_dirs(t / "k8s.kso", {"files=" + (t / "tree").string()});
  FaultServer server;
  const std::string target = "/kso/k8s.kso?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=604800&X-Amz-Signature=0123abcd";
  server.route(target, route_of(read_file(t / "k8s.kso")));
  fs::create_directories(t / "mnt");
  const std::string path = kso_pack_bin().parent_path().string() + ":" + kso_fs_bin().parent_path().string() + ":" +
                           getenv("PATH");
  auto r = run("URL=" + q(url(server, target)) + " MNT=" + q(t / "mnt") + " CACHE=" + q(t / "cache") +
               " XDG_CACHE_HOME=" + q(t / "xdg") + " PATH=" + q(path) + " bash -euo pipefail -c " + q(block));
  force_unmount(t / "mnt");
  ASSERT_EQ(r.status, 0) << block << "\n" << r.output;
  EXPECT_NE(r.output.find("files/dl.k8s.io"), std::string::npos) << r.output;  // kso-pack ls
  EXPECT_NE(r.output.find("README"), std::string::npos) << r.output;           // ls of the mount
  EXPECT_EQ(r.output.find("X-Amz-Signature"), std::string::npos) << "the signature leaked: " << r.output;
}

}  // namespace
}  // namespace kso::test
