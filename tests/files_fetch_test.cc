// Files lists against real servers on loopback: nginx over TLS with virtual
// hosts named like the real ones (a CA made with openssl, --resolve/--cacert
// or --connect-to), plus a fault-injecting server for retries and resumes.
// The result is compared with `wget -x` of the same lists.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "index/error.h"
#include "index/pack_reader.h"
#include "tests/support/http_fixtures.h"
#include "tests/support/testutil.h"
#include "fetch/http.h"
#include "tools/files_list.h"

// Designated initializers leave the other fields at their defaults on purpose.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

using namespace kso;
using namespace kso::test;

namespace {

const std::vector<std::string> kHosts = {"dl.k8s.io", "github.com", "objects.githubusercontent.com"};
const std::string kK8s = "https://dl.k8s.io/release/v1.29.10/bin/linux/";
const std::string kContainerd = "https://github.com/containerd/containerd/releases/download/v1.7.22/";
const std::string kCalico = "https://github.com/projectcalico/calico/releases/download/v3.27.3/calicoctl-linux-";

// One nginx for the whole suite (certs and startup take a second or two).
struct Site {
  TempDir dir{"kso-http"};
  std::string addr;  // 127.x.y.z listening on 443, or 127.0.0.1 with port
  int port = 443;
  std::unique_ptr<Nginx> nginx;
  std::unique_ptr<ConnectProxy> proxy;
  std::map<std::string, std::string> content;  // URL -> bytes served

  fs::path www() const { return dir / "www"; }
  fs::path ca() const { return dir / "tls" / "ca.pem"; }

  void put(const std::string& host_path, const std::string& data) { write_file(www() / host_path, data); }

  Site() {
    make_tls_certs(dir / "tls", kHosts);
    addr = loopback_addr_for_443();
    if (addr.empty()) {
      addr = "127.0.0.1";
      port = free_port();
    }
    uint64_t seed = 1;
    for (std::string arch : {"amd64", "arm64"}) {
      for (std::string bin : {"kubelet", "kubeadm", "kubectl"}) {
        std::string data = random_bytes(200000 + seed * 37000, seed);
        seed++;
        std::string p = "dl.k8s.io/release/v1.29.10/bin/linux/" + arch + "/" + bin;
        put(p, data);
        content[kK8s + arch + "/" + bin] = data;
        if (bin != "kubectl") put(p + ".sha256", sha256_hex(data));  // kubectl: no side file published
      }
      std::string tgz = random_bytes(600000, seed++);
      put("objects/github-production-release-asset/containerd/containerd/v1.7.22/containerd-1.7.22-linux-" + arch +
              ".tar.gz",
          tgz);
      content[kContainerd + "containerd-1.7.22-linux-" + arch + ".tar.gz"] = tgz;
      std::string calico = random_bytes(150000, seed++);
      put("objects/github-production-release-asset/projectcalico/calico/v3.27.3/calicoctl-linux-" + arch, calico);
      content[kCalico + arch] = calico;
    }
    // A side file that disagrees with its file.
    put("dl.k8s.io/release/bad/kubelet", "tampered");
    put("dl.k8s.io/release/bad/kubelet.sha256", sha256_hex("original") + "  kubelet\n");

    std::string listen = "listen " + addr + ":" + std::to_string(port) + " ssl http2;\n" +
                         "  ssl_certificate " + (dir / "tls/server.pem").string() + ";\n" +
                         "  ssl_certificate_key " + (dir / "tls/server.key").string() + ";\n";
    std::string w = www().string();
    std::string conf =
        "server { " + listen + "  server_name dl.k8s.io;\n  root " + w + "/dl.k8s.io;\n}\n" +
        // github.com release downloads answer 302 to a signed URL on another host.
        "server { " + listen +
        "  server_name github.com;\n"
        "  location ~ ^/([^/]+)/([^/]+)/releases/download/([^/]+)/(.+)$ {\n"
        "    return 302 https://objects.githubusercontent.com/github-production-release-asset/$1/$2/$3/$4"
        "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=0123abcd&response-content-disposition=attachment;\n"
        "  }\n  location / { return 404; }\n}\n" +
        "server { " + listen + "  server_name objects.githubusercontent.com;\n  root " + w + "/objects;\n}\n";
    // nginx workers may run as nobody: the tree must be world-readable (mkdtemp makes 0700).
    run("chmod -R a+rX " + dir.path().string());
    nginx = std::make_unique<Nginx>(dir / "nginx", conf, addr, port);
    proxy = std::make_unique<ConnectProxy>(addr, port);
  }

  // --resolve when nginx has port 443 on its own address, else --connect-to.
  void net_for(fetch::NetOptions& net) const {
    net.cacert = ca();
    for (const auto& h : kHosts) {
      if (port == 443) net.resolve.push_back(h + ":443:" + addr);
      else net.connect_to.push_back(h + ":443:127.0.0.1:" + std::to_string(port));
    }
    net.retry_delay_ms = 50;
    net.progress = 0;
  }
  std::string cli_net_args() const {
    fetch::NetOptions n;
    net_for(n);
    std::string s = " --cacert " + ca().string() + " --retry-delay 50 --progress plain";
    for (const auto& r : n.resolve) s += " --resolve " + r;
    for (const auto& r : n.connect_to) s += " --connect-to " + r;
    return s;
  }
  // wget -x of a plain list, through the CONNECT proxy (no /etc/hosts games).
  RunResult wget(const fs::path& list, const fs::path& out) const {
    return run("cd " + out.string() + " && https_proxy=http://127.0.0.1:" + std::to_string(proxy->port()) +
               " wget --no-config -nv -x --ca-certificate=" + ca().string() + " -i " + list.string());
  }
};

Site* site = nullptr;

class FilesFetch : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (have_command("nginx") && !site) site = new Site();
  }
  static void TearDownTestSuite() {
    delete site;
    site = nullptr;
  }
  void SetUp() override {
    if (!have_command("nginx")) GTEST_SKIP() << "nginx not installed: the download tests need it";
    ASSERT_NE(site, nullptr);
    site->net_for(net);
    net.cache_dir = t / "cache";
  }
  std::vector<SourceEntry> fetch(const std::vector<fs::path>& lists) {
    opts.lists = lists;
    return fetch_files_lists(opts, net);
  }
  std::string fetch_error(const std::vector<fs::path>& lists) {
    try {
      fetch(lists);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }

  TempDir t{"kso-fetch"};
  FilesListOptions opts;
  fetch::NetOptions net;
};

std::string arch_list(const std::string& arch) {
  return "# kubespray files list, " + arch + "\n" + kK8s + arch + "/kubelet\n" + kK8s + arch + "/kubeadm\n" + kK8s +
         arch + "/kubectl\n\n" + kContainerd + "containerd-1.7.22-linux-" + arch + ".tar.gz\n" + kCalico + "amd64\n" +
         kCalico + "arm64\n";
}

// SourceEntry list -> {pack path: sha256 of the cached source file}.
std::map<std::string, std::string> entry_digests(const std::vector<SourceEntry>& v, const std::string& prefix) {
  std::map<std::string, std::string> m;
  for (const auto& e : v) m[e.path.substr(prefix.size() + 1)] = sha256_file_hex(e.source_file);
  return m;
}

}  // namespace

TEST_F(FilesFetch, TreeMatchesWgetXAndRerunUsesCache) {
  write_file(t / "files-amd64.list", arch_list("amd64"));
  write_file(t / "files-arm64.list", arch_list("arm64"));
  auto v = fetch({t / "files-amd64.list", t / "files-arm64.list"});
  ASSERT_EQ(v.size(), 10u);  // the calicoctl URLs are in both lists: fetched once
  for (const auto& e : v) EXPECT_EQ(e.path.substr(0, 6), "files/");
  auto got = entry_digests(v, "files");
  EXPECT_EQ(got.count("github.com/containerd/containerd/releases/download/v1.7.22/containerd-1.7.22-linux-arm64.tar.gz"),
            1u);  // stored under the original URL, not the redirect target

  // wget -x of the same lists against the same server.
  fs::create_directories(t / "wget");
  for (std::string arch : {"amd64", "arm64"}) {
    std::string plain;
    std::istringstream in(arch_list(arch));
    for (std::string l; std::getline(in, l);)
      if (!l.empty() && l[0] != '#') plain += l + "\n";
    write_file(t / ("plain-" + arch + ".list"), plain);
    auto r = site->wget(t / ("plain-" + arch + ".list"), t / "wget");
    ASSERT_EQ(r.status, 0) << r.output;
  }
  auto want = tree_digests(t / "wget");
  EXPECT_EQ(got, want);
  for (const auto& [url, data] : site->content) {
    auto p = url_to_path(url);
    if (want.count(p)) {
      EXPECT_EQ(want[p], sha256_hex(data)) << url;
    }
  }

  // curl negotiated HTTP/2 with nginx (wget speaks HTTP/1.1).
  EXPECT_NE(site->nginx->access_log().find("HTTP/2.0"), std::string::npos);

  // The cache makes a re-run download nothing.
  int before = site->nginx->requests_logged();
  auto again = fetch({t / "files-amd64.list", t / "files-arm64.list"});
  EXPECT_EQ(entry_digests(again, "files"), want);
  EXPECT_EQ(site->nginx->requests_logged(), before);
}

TEST_F(FilesFetch, ListDigestsAndSideFilesAreVerified) {
  std::string good = sha256_hex(site->content[kK8s + "amd64/kubectl"]);
  write_file(t / "ok.list", kK8s + "amd64/kubectl sha256:" + good + "\n" + kK8s + "amd64/kubelet\n");
  EXPECT_EQ(fetch({t / "ok.list"}).size(), 2u);

  std::string wrong(64, '0');
  write_file(t / "bad.list", "\n" + kK8s + "arm64/kubectl sha256:" + wrong + "\n");
  std::string err = fetch_error({t / "bad.list"});
  EXPECT_NE(err.find(kK8s + "arm64/kubectl"), std::string::npos) << err;
  EXPECT_NE(err.find("expected " + wrong), std::string::npos) << err;
  EXPECT_NE(err.find("got " + sha256_hex(site->content[kK8s + "arm64/kubectl"])), std::string::npos) << err;
  EXPECT_NE(err.find("bad.list:2"), std::string::npos) << err;

  write_file(t / "side.list", "https://dl.k8s.io/release/bad/kubelet\n");
  err = fetch_error({t / "side.list"});
  EXPECT_NE(err.find("expected " + sha256_hex("original")), std::string::npos) << err;
  EXPECT_NE(err.find("got " + sha256_hex("tampered")), std::string::npos) << err;
  // Bad bytes never stay in the cache.
  for (auto& e : fs::recursive_directory_iterator(t / "cache"))
    if (e.is_regular_file() && e.path().extension() != ".meta" && e.path().filename() != ".lock") {
      EXPECT_NE(sha256_file_hex(e.path()), sha256_hex("tampered")) << e.path();
    }

  opts.checksums = "none";
  EXPECT_EQ(fetch({t / "side.list"}).size(), 1u);
}

TEST_F(FilesFetch, MissingFailsWithLineOrIsSkipped) {
  write_file(t / "m.list", kK8s + "amd64/kubelet\n# gone\n" + kK8s + "amd64/kube-proxy\n");
  std::string err = fetch_error({t / "m.list"});
  EXPECT_NE(err.find(kK8s + "amd64/kube-proxy: HTTP 404"), std::string::npos) << err;
  EXPECT_NE(err.find("m.list:3"), std::string::npos) << err;
  opts.skip_missing = true;
  auto v = fetch({t / "m.list"});
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].path, "files/dl.k8s.io/release/v1.29.10/bin/linux/amd64/kubelet");
}

TEST_F(FilesFetch, MalformedLinesFetchNothing) {
  write_file(t / "bad.list", kK8s + "amd64/kubelet\nhttps://dl.k8s.io/release/../etc/passwd\n/etc/passwd\n"
                             "ftp://dl.k8s.io/x\nhttps://dl.k8s.io//x\nhttps://dl.k8s.io/a\x07" "b\n");
  int before = site->nginx->requests_logged();
  std::string err = fetch_error({t / "bad.list"});
  for (int line = 2; line <= 6; line++)
    EXPECT_NE(err.find("bad.list:" + std::to_string(line) + ":"), std::string::npos) << err;
  EXPECT_EQ(site->nginx->requests_logged(), before);
}

TEST_F(FilesFetch, RetriesTransientFailures) {
  FaultServer fs;
  std::string body = random_bytes(300000, 77);
  fs.route("/flaky/kubelet", {.body = body, .fail_first = 3});
  fs.route("/down/kubelet", {.body = body, .fail_first = 100, .fail_status = 502});
  std::string host = "flaky.test:" + std::to_string(fs.port());
  net.resolve.push_back(host + ":127.0.0.1");
  write_file(t / "f.list", "http://" + host + "/flaky/kubelet sha256:" + sha256_hex(body) + "\n");
  auto v = fetch({t / "f.list"});
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].path, "files/" + host + "/flaky/kubelet");
  EXPECT_EQ(sha256_file_hex(v[0].source_file), sha256_hex(body));
  EXPECT_EQ(fs.hits("/flaky/kubelet"), 4);

  net.retries = 2;
  write_file(t / "d.list", "http://" + host + "/down/kubelet\n");
  std::string err = fetch_error({t / "d.list"});
  EXPECT_NE(err.find("HTTP 502 (after 3 attempts)"), std::string::npos) << err;
  EXPECT_EQ(fs.hits("/down/kubelet"), 3);
}

TEST_F(FilesFetch, CutDownloadResumesWithRange) {
  FaultServer fs;
  std::string body = random_bytes(3 << 20, 78);
  fs.route("/cut/containerd.tar.gz", {.body = body, .cut_first = 1});
  fs.route("/cut2/containerd.tar.gz", {.body = body, .cut_first = 1});
  std::string host = "cut.test:" + std::to_string(fs.port());
  net.resolve.push_back(host + ":127.0.0.1");

  // Within one run: the retry asks for the rest only.
  write_file(t / "c.list", "http://" + host + "/cut/containerd.tar.gz sha256:" + sha256_hex(body) + "\n");
  auto v = fetch({t / "c.list"});
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(sha256_file_hex(v[0].source_file), sha256_hex(body));
  auto seen = fs.seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].headers.count("range"), 0u);
  EXPECT_EQ(seen[1].headers["range"], "bytes=" + std::to_string(body.size() / 2) + "-");

  // Across runs: a failed run keeps the partial in the cache; the next resumes it.
  net.retries = 0;
  write_file(t / "c2.list", "http://" + host + "/cut2/containerd.tar.gz\n");
  EXPECT_NE(fetch_error({t / "c2.list"}).find("cut2/containerd.tar.gz"), std::string::npos);
  std::string key = fetch::sha256_hex("http://" + host + "/cut2/containerd.tar.gz");
  EXPECT_EQ(fs::file_size(t / "cache/files" / (key + ".part")), body.size() / 2);
  v = fetch({t / "c2.list"});
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(sha256_file_hex(v[0].source_file), sha256_hex(body));
  seen = fs.seen();
  EXPECT_EQ(seen.back().headers["range"], "bytes=" + std::to_string(body.size() / 2) + "-");
  EXPECT_FALSE(fs::exists(t / "cache/files" / (key + ".part")));
}

TEST_F(FilesFetch, ChangedUpstreamIsNotSplicedOnResume) {
  FaultServer fs;
  std::string v1 = random_bytes(1 << 20, 81), v2 = random_bytes(1 << 20, 82);
  fs.route("/c/file", {.body = v1, .cut_first = 1});
  std::string host = "c.test:" + std::to_string(fs.port());
  net.resolve.push_back(host + ":127.0.0.1");
  net.retries = 0;
  opts.checksums = "none";  // no digest to catch a splice: If-Range must
  write_file(t / "c.list", "http://" + host + "/c/file\n");
  EXPECT_NE(fetch_error({t / "c.list"}), "");
  fs.route("/c/file", {.body = v2});  // a new release under the same URL
  auto v = fetch({t / "c.list"});
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(sha256_file_hex(v[0].source_file), sha256_hex(v2));
  auto seen = fs.seen();
  EXPECT_EQ(seen.back().headers.count("if-range"), 1u);
  EXPECT_EQ(seen.back().headers["range"], "bytes=" + std::to_string(v1.size() / 2) + "-");
}

TEST_F(FilesFetch, CorruptPartialIsReplaced) {
  FaultServer fs;
  std::string body = random_bytes(500000, 79);
  fs.route("/p/file", {.body = body});
  std::string host = "p.test:" + std::to_string(fs.port());
  net.resolve.push_back(host + ":127.0.0.1");
  std::string url = "http://" + host + "/p/file";
  write_file(t / "cache/files" / (fetch::sha256_hex(url) + ".part"), random_bytes(1000, 1));  // not a prefix
  write_file(t / "p.list", url + " sha256:" + sha256_hex(body) + "\n");
  auto v = fetch({t / "p.list"});
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(sha256_file_hex(v[0].source_file), sha256_hex(body));
  EXPECT_EQ(fs.hits("/p/file"), 2);  // the resumed attempt failed verification, then one from scratch
}

TEST_F(FilesFetch, MirrorKeepsOriginalPath) {
  FaultServer fs;
  std::string body = site->content[kK8s + "arm64/kubeadm"];
  fs.route("/k8s/release/v1.29.10/bin/linux/arm64/kubeadm", {.body = body});
  net.mirrors.push_back({"https://dl.k8s.io/", "http://127.0.0.1:" + std::to_string(fs.port()) + "/k8s/"});
  opts.checksums = "none";
  write_file(t / "m.list", kK8s + "arm64/kubeadm\n");
  auto v = fetch({t / "m.list"});
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].path, "files/dl.k8s.io/release/v1.29.10/bin/linux/arm64/kubeadm");
  EXPECT_EQ(sha256_file_hex(v[0].source_file), sha256_hex(body));
  EXPECT_EQ(fs.hits("/k8s/release/v1.29.10/bin/linux/arm64/kubeadm"), 1);
}

TEST_F(FilesFetch, ProxyFromEnvironment) {
  // libcurl reads https_proxy itself; the CONNECT proxy sends every host to nginx.
  fetch::NetOptions plain;
  plain.cacert = site->ca();
  plain.cache_dir = t / "cache";
  plain.progress = 0;
  setenv("https_proxy", ("http://127.0.0.1:" + std::to_string(site->proxy->port())).c_str(), 1);
  write_file(t / "p.list", kK8s + "amd64/kubelet\n");
  opts.lists = {t / "p.list"};
  int tunnels = site->proxy->tunnels();
  std::vector<SourceEntry> v;
  EXPECT_NO_THROW(v = fetch_files_lists(opts, plain));
  unsetenv("https_proxy");
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(sha256_file_hex(v[0].source_file), sha256_hex(site->content[kK8s + "amd64/kubelet"]));
  EXPECT_GT(site->proxy->tunnels(), tunnels);
}

// The Client API the image puller uses: headers both ways, memory bodies,
// verified file bodies, redirects to another host without Authorization.
TEST(HttpClient, HeadersRedirectsAndVerifiedFiles) {
  FaultServer fs;
  std::string blob = random_bytes(700000, 80);
  fs.route("/v2/token", {.body = R"({"token":"abc"})"});
  fs.route("/v2/lib/blobs/sha256:x", {.redirect = "http://cdn.test:" + std::to_string(fs.port()) + "/blob/x"});
  fs.route("/blob/x", {.body = blob});
  fs.route("/v2/private", {.status = 404});
  TempDir t;
  fetch::NetOptions net;
  net.resolve = {"reg.test:" + std::to_string(fs.port()) + ":127.0.0.1",
                 "cdn.test:" + std::to_string(fs.port()) + ":127.0.0.1"};
  net.retry_delay_ms = 10;
  fetch::Client c(net);
  std::string base = "http://reg.test:" + std::to_string(fs.port());

  auto tok = c.fetch({.url = base + "/v2/token", .headers = {"Accept: application/json"}});
  EXPECT_TRUE(tok.ok()) << tok.error;
  EXPECT_EQ(tok.body, R"({"token":"abc"})");
  EXPECT_EQ(tok.header("content-length"), "15");
  EXPECT_GT(tok.mtime_ns, 0);

  auto miss = c.fetch({.url = base + "/v2/private"});
  EXPECT_EQ(miss.status, 404);
  EXPECT_TRUE(miss.error.empty());
  EXPECT_FALSE(miss.ok());

  // Batch: the first answer's callback queues the next.
  std::vector<fetch::Response> done;
  fetch::Request blob_req{.url = base + "/v2/lib/blobs/sha256:x",
                          .headers = {"Authorization: Bearer abc"},
                          .dest = t / "blob",
                          .expect_digest = fetch::OciDigest::parse("sha256:" + sha256_hex(blob)),
                          .expect_size = blob.size()};
  c.add({.url = base + "/v2/token"}, [&](fetch::Response& r) {
    done.push_back(r);
    c.add(blob_req, [&](fetch::Response& r2) { done.push_back(r2); });
  });
  c.run();
  ASSERT_EQ(done.size(), 2u);
  EXPECT_TRUE(done[1].ok()) << done[1].error;
  EXPECT_EQ(done[1].effective_url, "http://cdn.test:" + std::to_string(fs.port()) + "/blob/x");
  EXPECT_EQ(sha256_file_hex(t / "blob"), sha256_hex(blob));
  for (const auto& s : fs.seen()) {
    if (s.path == "/v2/lib/blobs/sha256:x") {
      EXPECT_EQ(s.headers.count("authorization"), 1u);
    }
    if (s.path == "/blob/x") {
      EXPECT_EQ(s.headers.count("authorization"), 0u) << "Authorization leaked to the CDN";
    }
  }

  // A wrong digest: error naming both, no file, no partial.
  blob_req.dest = t / "blob2";
  blob_req.expect_digest = fetch::OciDigest::parse("sha256:" + std::string(64, 'e'));
  auto bad = c.fetch(blob_req);
  EXPECT_NE(bad.error.find("expected " + std::string(64, 'e') + ", got " + sha256_hex(blob)), std::string::npos)
      << bad.error;
  EXPECT_FALSE(fs::exists(t / "blob2"));
  EXPECT_FALSE(fs::exists(t / "blob2.part"));

  // A memory body over its limit is an error, not a crash.
  auto big = c.fetch({.url = base + "/blob/x", .max_body = 1000});
  EXPECT_NE(big.error.find("larger than"), std::string::npos) << big.error;
}

// The whole path through the CLI: kso-pack build from two lists, extract,
// compare with wget -x; a failing build leaves no pack and keeps the cache.
TEST_F(FilesFetch, KsoPackBuildMatchesWgetX) {
  write_file(t / "files-amd64.list", arch_list("amd64"));
  write_file(t / "files-arm64.list", arch_list("arm64"));
  std::string lists = " --files-list " + (t / "files-amd64.list").string() + " --files-list " +
                      (t / "files-arm64.list").string();
  std::string common = " --cache " + (t / "cache").string() + site->cli_net_args();
  auto r = kso_pack_words("build -o " + (t / "out.kso").string() + lists + common);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("downloaded 10, from cache 0, verified 4, failed 0"), std::string::npos) << r.output;
  r = kso_pack_words("extract " + (t / "out.kso").string() + " " + (t / "x").string());
  ASSERT_EQ(r.status, 0) << r.output;

  fs::create_directories(t / "wget");
  for (std::string arch : {"amd64", "arm64"}) {
    std::string plain;
    std::istringstream in(arch_list(arch));
    for (std::string l; std::getline(in, l);)
      if (!l.empty() && l[0] != '#') plain += l + "\n";
    write_file(t / ("plain-" + arch + ".list"), plain);
    ASSERT_EQ(site->wget(t / ("plain-" + arch + ".list"), t / "wget").status, 0);
  }
  auto want = tree_digests(t / "wget");
  ASSERT_EQ(want.size(), 10u);
  EXPECT_EQ(tree_digests(t / "x" / "files"), want);

  // A 404 fails the build: no pack, the cache keeps what completed.
  write_file(t / "more.list", kK8s + "amd64/kube-proxy\n");
  r = kso_pack_words("build -o " + (t / "out2.kso").string() + lists + " --files-list " +
          (t / "more.list").string() + common);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find(kK8s + "amd64/kube-proxy: HTTP 404"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("more.list:1"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("from cache 10"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(t / "out2.kso"));

  // Malformed lines: nothing built, the line named.
  write_file(t / "bad.list", "https://dl.k8s.io/a/../b\n");
  r = kso_pack_words("build -o " + (t / "out3.kso").string() + " --files-list " +
          (t / "bad.list").string() + common);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("bad.list:1"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(t / "out3.kso"));
  // A cache file damaged after it was verified: the writer's own SHA-256 of
  // what it packs catches it; no pack, and the message says what to do.
  fs::path victim;
  for (auto& de : fs::directory_iterator(t / "cache" / "files"))
    if (de.is_regular_file() && de.path().extension().empty() && fs::file_size(de.path()) > 0) victim = de.path();
  ASSERT_FALSE(victim.empty());
  std::string bytes = read_file(victim);
  bytes[bytes.size() / 2] ^= 0x01;
  write_file(victim, bytes);
  r = kso_pack_words("build -o " + (t / "out4.kso").string() + lists + common);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("was expected"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(victim.string()), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(t / "out4.kso"));
}

namespace {

// {path: file object} of a `kso-pack manifest --json`.
std::map<std::string, nlohmann::json> manifest_files(const fs::path& pack) {
  auto r = kso_pack({"manifest", "--json", pack.string()});
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  std::map<std::string, nlohmann::json> m;
  nlohmann::json j = nlohmann::json::parse(r.out);
  for (auto& f : j["files"]) m[f["path"].get<std::string>()] = f;
  return m;
}

}  // namespace

TEST_F(FilesFetch, PackRecordsWhereRedirectedDownloadsCameFrom) {
  // github.com answers 302 to a signed URL on objects.githubusercontent.com.
  write_file(t / "files-amd64.list", arch_list("amd64"));
  auto v = fetch({t / "files-amd64.list"});
  const std::string tgz = "containerd-1.7.22-linux-amd64.tar.gz";
  const std::string real =
      "https://objects.githubusercontent.com/github-production-release-asset/containerd/containerd/v1.7.22/" + tgz;
  std::map<std::string, std::string> origin;
  for (auto& e : v) origin[e.path] = e.origin_url;
  EXPECT_EQ(origin.at("files/github.com/containerd/containerd/releases/download/v1.7.22/" + tgz), real);  // no query
  EXPECT_EQ(origin.at("files/dl.k8s.io/release/v1.29.10/bin/linux/amd64/kubelet"), "");  // fetched where it says

  std::string args = " --files-list " + (t / "files-amd64.list").string() + " --cache " + (t / "cache").string() +
                     site->cli_net_args();
  auto r = kso_pack_words("build -o " + (t / "a.kso").string() + args);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(Pack::open(t / "a.kso")->version(), 4u);  // source_urls is a v4 key
  auto files = manifest_files(t / "a.kso");
  auto& c = files.at("files/github.com/containerd/containerd/releases/download/v1.7.22/" + tgz);
  EXPECT_EQ(c["url"], kContainerd + tgz);
  EXPECT_EQ(c["downloaded_from"], real);
  EXPECT_FALSE(files.at("files/dl.k8s.io/release/v1.29.10/bin/linux/amd64/kubelet").contains("downloaded_from"));
  size_t redirected = 0;
  for (auto& [path, f] : files) redirected += f.contains("downloaded_from");
  EXPECT_EQ(redirected, 3u);  // containerd and both calicoctl files
  auto text = kso_pack({"manifest", (t / "a.kso").string()});
  EXPECT_NE(text.out.find(kContainerd + tgz + " from " + real + "\n"), std::string::npos) << text.out;
  EXPECT_EQ(text.out.find("X-Amz-Signature"), std::string::npos) << "presigned secrets stay out of the pack";
  EXPECT_EQ(read_file(t / "a.kso").find("X-Amz-Signature"), std::string::npos);

  // A rebuild from the cache records the same (the cache keeps each download's
  // effective URL). Not byte for byte: the build time differs, no SOURCE_DATE_EPOCH here.
  r = kso_pack_words("build -o " + (t / "b.kso").string() + args);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("from cache 6"), std::string::npos) << r.output;
  EXPECT_EQ(manifest_files(t / "b.kso"), files);

  // A pack written from it keeps what it keeps: subset to amd64 drops the arm64 calicoctl and its record.
  r = kso_pack_words("subset --platform linux/amd64 " + (t / "a.kso").string() + " -o " + (t / "s.kso").string());
  ASSERT_EQ(r.status, 0) << r.output;
  auto sub = manifest_files(t / "s.kso");
  EXPECT_EQ(sub.at("files/github.com/containerd/containerd/releases/download/v1.7.22/" + tgz)["downloaded_from"], real);
  EXPECT_EQ(sub.count("files/github.com/projectcalico/calico/releases/download/v3.27.3/calicoctl-linux-arm64"), 0u);
  EXPECT_EQ(sub.at("files/github.com/projectcalico/calico/releases/download/v3.27.3/calicoctl-linux-amd64")
                .value("downloaded_from", ""),
            "https://objects.githubusercontent.com/github-production-release-asset/projectcalico/calico/v3.27.3/"
            "calicoctl-linux-amd64");
}

TEST_F(FilesFetch, PackRecordsTheMirrorADownloadCameFrom) {
  FaultServer fs;
  std::string body = site->content[kK8s + "arm64/kubeadm"];
  fs.route("/k8s/release/v1.29.10/bin/linux/arm64/kubeadm", {.body = body});
  std::string mirror = "http://127.0.0.1:" + std::to_string(fs.port()) + "/k8s/";
  write_file(t / "m.list", kK8s + "arm64/kubeadm\n");
  auto r = kso_pack_words("build -o " + (t / "m.kso").string() + " --files-list " + (t / "m.list").string() +
                          " --checksums none --mirror https://dl.k8s.io/=" + mirror + " --cache " +
                          (t / "cache").string() + " --progress plain");
  ASSERT_EQ(r.status, 0) << r.output;
  auto files = manifest_files(t / "m.kso");
  auto& f = files.at("files/dl.k8s.io/release/v1.29.10/bin/linux/arm64/kubeadm");
  EXPECT_EQ(f["url"], kK8s + "arm64/kubeadm");
  EXPECT_EQ(f["downloaded_from"], mirror + "release/v1.29.10/bin/linux/arm64/kubeadm");
}
