// The operator's questions (docs/REVIEW.md): `kso-pack check` against files
// and images lists, `kso-pack manifest`, `kso-pack sign` and `verify
// --pubkey`, and the documented procedures run as written, the stock openssl
// ones included. Image tests pull from a docker-registry on 127.0.0.1.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "index/format.h"
#include "index/hash.h"
#include "index/pack_reader.h"
#include "tests/support/mount_fixture.h"
#include "tests/support/pack_surgery.h"
#include "tests/support/registry_fixture.h"
#include "tests/support/testutil.h"
#include "tools/files_list.h"
#include "tools/kso_pack.h"

namespace kso::test {
namespace {

using nlohmann::json;

// Both streams of an in-process kso-pack run (kso_pack(), tests/support/testutil.h), for messages.
std::string all(const ToolResult& r) { return r.out + r.err; }

bool contains(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

// A wget -x tree as kubespray's files would download: dl.k8s.io, github.com,
// a URL with a query, and one more host.
const std::vector<std::pair<std::string, std::string>> kFiles = {
    {"dl.k8s.io/release/v1.29.10/bin/linux/amd64/kubelet",
     "https://dl.k8s.io/release/v1.29.10/bin/linux/amd64/kubelet"},
    {"dl.k8s.io/release/v1.29.10/bin/linux/arm64/kubelet",
     "https://dl.k8s.io/release/v1.29.10/bin/linux/arm64/kubelet"},
    {"github.com/containerd/containerd/releases/download/v1.7.22/containerd-1.7.22-linux-amd64.tar.gz",
     "https://github.com/containerd/containerd/releases/download/v1.7.22/containerd-1.7.22-linux-amd64.tar.gz"},
    {"get.helm.sh/helm-v3.15.4-linux-amd64.tar.gz", "https://get.helm.sh/helm-v3.15.4-linux-amd64.tar.gz"},
    {"example.com:8443/get?version=1.0&arch=amd64", "https://example.com:8443/get?version=1.0&arch=amd64"},
};

void make_files_tree(const fs::path& dir) {
  uint64_t seed = 1;
  for (auto& [path, url] : kFiles) {
    write_file(dir / path, random_bytes(20000 + 1000 * seed, seed));
    seed++;
  }
}

std::string files_list_text() {
  std::string s = "# kubespray files.list\n";
  for (auto& [path, url] : kFiles) s += url + "\n";
  return s;
}

// A pack of the tree under files/, and the lists.
struct FilesPack {
  TempDir t{"kso-review"};
  fs::path pack = t / "k8s.kso", list = t / "files.list";
  FilesPack() {
    make_files_tree(t / "tree");
    write_file(list, files_list_text());
    auto r = kso_pack({"build", "-q", "-o", pack.string(), "--level", "3", "files=" + (t / "tree").string()});
    if (r.status != 0) throw std::runtime_error("build failed: " + all(r));
  }
};

TEST(Review, PathToUrlInvertsTheLayout) {
  for (auto& [path, url] : kFiles) {
    auto u = path_to_url(path);
    ASSERT_TRUE(u) << path;
    EXPECT_EQ(*u, url);
    EXPECT_EQ(url_to_path(*u), path);
  }
  // Escaped where a URL needs it, and back to the same path.
  for (std::string path : {"h.example/a b/c#d", "h.example/dir/x%y", "h.example/caf\xc3\xa9.txt", "h.example/a?b/c",
                           "h.example/q?x=a%2Fb", "h.example/q?"}) {
    SCOPED_TRACE(path);
    auto u = path_to_url(path);
    if (path == "h.example/dir/x%y") {  // no URL maps to a literal '%' (docs/FILES-LISTS.md)
      EXPECT_FALSE(u);
      continue;
    }
    ASSERT_TRUE(u);
    EXPECT_EQ(url_to_path(*u), path) << *u;
  }
  EXPECT_EQ(*path_to_url("h.example/a b/c#d"), "https://h.example/a%20b/c%23d");
  EXPECT_EQ(*path_to_url("h.example/q?x=a%2Fb"), "https://h.example/q?x=a/b");
  for (std::string bad : {"", "nohost", "/abs", "h.example/", "h.example/a//b", "bad_host!/x", "h.example/.."})
    EXPECT_FALSE(path_to_url(bad)) << bad;
}

TEST(Review, CheckFilesCompleteThenMissing) {
  FilesPack f;
  auto r = kso_pack({"check", f.pack.string(), "--files-list", f.list.string()});
  EXPECT_EQ(r.status, 0) << all(r);
  EXPECT_TRUE(contains(r.out, "complete: " + f.pack.string() + " holds all 5 files of the lists\n")) << r.out;

  // A URL the pack lacks, and one whose pinned digest is not the file's.
  write_file(f.list, files_list_text() + "https://dl.k8s.io/release/v1.29.10/bin/linux/amd64/kubeadm\n" +
                         "https://get.helm.sh/helm-v3.15.4-linux-amd64.tar.gz sha256:" + std::string(64, 'a') + "\n");
  r = kso_pack({"check", f.pack.string(), "--files-list", f.list.string()});
  EXPECT_EQ(r.status, 1) << all(r);
  EXPECT_TRUE(contains(r.out,
                       "missing file: https://dl.k8s.io/release/v1.29.10/bin/linux/amd64/kubeadm "
                       "(files/dl.k8s.io/release/v1.29.10/bin/linux/amd64/kubeadm; " +
                           f.list.string() + ":7)"))
      << r.out;
  EXPECT_TRUE(contains(r.out,
                       "wrong file: https://get.helm.sh/helm-v3.15.4-linux-amd64.tar.gz: "
                       "files/get.helm.sh/helm-v3.15.4-linux-amd64.tar.gz has sha256 " +
                           sha256_file_hex(f.t / "tree/get.helm.sh/helm-v3.15.4-linux-amd64.tar.gz")))
      << r.out;
  EXPECT_TRUE(contains(r.out, "INCOMPLETE: " + f.pack.string() + ": missing 2 of 6 files\n")) << r.out;
  EXPECT_TRUE(r.err.empty()) << r.err;

  // Another prefix: every file is missing there.
  write_file(f.list, files_list_text());
  r = kso_pack({"check", f.pack.string(), "--files-list", f.list.string(), "--files-prefix", "srv"});
  EXPECT_EQ(r.status, 1) << all(r);
  EXPECT_TRUE(contains(r.out, "missing 5 of 5 files")) << r.out;
}

TEST(Review, CheckUsageAndErrors) {
  FilesPack f;
  auto r = kso_pack({"check", f.pack.string()});
  EXPECT_EQ(r.status, 2) << all(r);
  EXPECT_TRUE(contains(r.err, "check needs --files-list or --images-list")) << r.err;
  write_file(f.t / "bad.list", "https://ok.example/a\nnot a url\n");
  r = kso_pack({"check", f.pack.string(), "--files-list", (f.t / "bad.list").string()});
  EXPECT_EQ(r.status, 1) << all(r);
  EXPECT_TRUE(contains(r.err, (f.t / "bad.list").string() + ":2")) << r.err;
  write_file(f.t / "bad-images.list", "nginx:1.25\nUPPER CASE\n");
  r = kso_pack({"check", f.pack.string(), "--images-list", (f.t / "bad-images.list").string()});
  EXPECT_EQ(r.status, 1) << all(r);
  EXPECT_TRUE(contains(r.err, (f.t / "bad-images.list").string() + ":2: malformed image reference")) << r.err;
  r = kso_pack({"check", (f.t / "nope.kso").string(), "--files-list", f.list.string()});
  EXPECT_EQ(r.status, 1) << all(r);
  EXPECT_TRUE(contains(r.err, "nope.kso")) << r.err;
  ASSERT_EQ(kso_pack({"index", f.pack.string(), "-o", (f.t / "k8s.kidx").string()}).status, 0);
  r = kso_pack({"check", (f.t / "k8s.kidx").string(), "--files-list", f.list.string()});
  EXPECT_EQ(r.status, 1) << all(r);
  EXPECT_TRUE(contains(r.err, "index file")) << r.err;
  r = kso_pack({"check", f.pack.string(), "--files-list", f.list.string(), "--files-prefix", "../x"});
  EXPECT_EQ(r.status, 2) << all(r);
}

TEST(Review, ManifestOfFiles) {
  FilesPack f;
  ASSERT_EQ(symlink("kubelet", (f.t / "tree/dl.k8s.io/release/v1.29.10/bin/linux/current").c_str()), 0);
  write_file(f.t / "extra/README", "not from a list\n");
  chmod((f.t / "extra/README").c_str(), 0755);
  ASSERT_EQ(kso_pack({"build", "-q", "-o", f.pack.string(), "--level", "3", "files=" + (f.t / "tree").string(),
                      "extra=" + (f.t / "extra").string()})
                .status,
            0);
  auto r = kso_pack({"manifest", f.pack.string(), "--json"});
  ASSERT_EQ(r.status, 0) << all(r);
  json j = json::parse(r.out);
  EXPECT_EQ(j["kso_manifest"], 1);
  auto p = Pack::open(f.pack);
  EXPECT_EQ(j["pack"]["identity"], to_hex(p->identity()));
  EXPECT_EQ(j["pack"]["name"], "k8s.kso");
  EXPECT_EQ(j["pack"]["format_version"], p->version());
  EXPECT_EQ(j["pack"]["pack_bytes"], fs::file_size(f.pack));
  EXPECT_TRUE(j["pack"]["bases"].empty());
  EXPECT_EQ(j["pack"]["build"]["zstd_level"], 3);
  EXPECT_TRUE(j["pack"]["build"]["created_unix"].is_number());
  EXPECT_EQ(j["pack"]["build"]["order"], "tree");
  ASSERT_EQ(j["files"].size(), kFiles.size() + 1);
  std::vector<std::string> paths;
  for (auto& e : j["files"]) paths.push_back(e["path"]);
  EXPECT_TRUE(std::is_sorted(paths.begin(), paths.end()));
  for (auto& [path, url] : kFiles) {
    SCOPED_TRACE(path);
    auto it = std::find(paths.begin(), paths.end(), "files/" + path);
    ASSERT_NE(it, paths.end());
    auto& e = j["files"][size_t(it - paths.begin())];
    EXPECT_EQ(e["url"], url);
    EXPECT_EQ(e["sha256"], sha256_file_hex(f.t / "tree" / path));
    EXPECT_EQ(e["size"], fs::file_size(f.t / "tree" / path));
    EXPECT_EQ(e["mode"], "0644");
  }
  auto& readme = j["files"][0];
  EXPECT_EQ(readme["path"], "extra/README");
  EXPECT_FALSE(readme.contains("url"));  // not under --files-prefix
  EXPECT_EQ(readme["mode"], "0755");
  ASSERT_EQ(j["symlinks"].size(), 1u);
  EXPECT_EQ(j["symlinks"][0]["path"], "files/dl.k8s.io/release/v1.29.10/bin/linux/current");
  EXPECT_EQ(j["symlinks"][0]["target"], "kubelet");
  EXPECT_TRUE(j["images"].empty());
  EXPECT_TRUE(j["registries"].empty());
  // Stable: the same bytes again, and the text form says the same.
  EXPECT_EQ(kso_pack({"manifest", f.pack.string(), "--json"}).out, r.out);
  auto text = kso_pack({"manifest", f.pack.string()});
  ASSERT_EQ(text.status, 0) << all(text);
  EXPECT_TRUE(contains(text.out, "pack k8s.kso identity " + to_hex(p->identity()) + " format v")) << text.out;
  EXPECT_TRUE(contains(text.out, "file " + sha256_file_hex(f.t / "tree" / kFiles[0].first) + " " +
                                     std::to_string(fs::file_size(f.t / "tree" / kFiles[0].first)) + " 0644 files/" +
                                     kFiles[0].first + " " + kFiles[0].second + "\n"))
      << text.out;
  EXPECT_TRUE(contains(text.out, "symlink files/dl.k8s.io/release/v1.29.10/bin/linux/current -> kubelet\n"));
  EXPECT_TRUE(contains(text.out, "build block_size=")) << text.out;
}

TEST(Review, CheckAndManifestOfADelta) {
  FilesPack f;
  write_file(f.t / "tree/dl.k8s.io/release/v1.29.10/bin/linux/amd64/kubeadm", random_bytes(30000, 77));
  fs::path delta = f.t / "k8s-new.kso";
  auto r =
      kso_pack({"build", "-q", "--base", f.pack.string(), "-o", delta.string(), "files=" + (f.t / "tree").string()});
  ASSERT_EQ(r.status, 0) << all(r);
  write_file(f.list, files_list_text() + "https://dl.k8s.io/release/v1.29.10/bin/linux/amd64/kubeadm\n");
  r = kso_pack({"check", delta.string(), "--files-list", f.list.string()});
  EXPECT_EQ(r.status, 0) << all(r);
  EXPECT_TRUE(contains(r.out, "holds all 6 files")) << r.out;
  r = kso_pack({"manifest", delta.string(), "--json"});
  ASSERT_EQ(r.status, 0) << all(r);
  json j = json::parse(r.out);
  ASSERT_EQ(j["pack"]["bases"].size(), 1u);
  EXPECT_EQ(j["pack"]["bases"][0]["identity"], to_hex(Pack::open(f.pack)->identity()));
  EXPECT_EQ(j["pack"]["bases"][0]["name"], "k8s.kso");
  EXPECT_EQ(j["files"].size(), 6u);
  // The base elsewhere: found with --base, refused without it.
  fs::create_directories(f.t / "elsewhere");
  fs::rename(f.pack, f.t / "elsewhere/old.kso");
  r = kso_pack({"check", delta.string(), "--files-list", f.list.string()});
  EXPECT_EQ(r.status, 1) << all(r);
  EXPECT_TRUE(contains(r.err, "base")) << r.err;
  r = kso_pack(
      {"check", delta.string(), "--files-list", f.list.string(), "--base", (f.t / "elsewhere/old.kso").string()});
  EXPECT_EQ(r.status, 0) << all(r);
}

// --- signatures

bool have_openssl() { return have_command("openssl"); }

// Changes the pack's build time in its index and recomputes every checksum and
// the identity: what someone altering a signed pack would make of it.
void change_and_reseal(const fs::path& pack) {
  rewrite_index(pack, "UPDATE meta SET value = CAST(value + 1 AS TEXT) WHERE key = 'created_unix'");
}

void genkey(const fs::path& dir, const std::string& name) {
  auto r = run("cd " + q(dir) + " && openssl genpkey -algorithm ed25519 -out " + name + ".key && openssl pkey -in " +
               name + ".key -pubout -out " + name + ".pub");
  if (r.status != 0) throw std::runtime_error("openssl: " + r.output);
}

TEST(Review, SignAndVerify) {
  if (!have_openssl()) GTEST_SKIP() << "openssl is not installed";
  FilesPack f;
  genkey(f.t.path(), "builder");
  genkey(f.t.path(), "other");
  std::string key = (f.t / "builder.key").string(), pub = (f.t / "builder.pub").string();
  auto r = kso_pack({"sign", f.pack.string(), "--key", key});
  ASSERT_EQ(r.status, 0) << all(r);
  fs::path sig = f.t / "k8s.kso.sig";
  ASSERT_TRUE(fs::exists(sig));
  EXPECT_EQ(fs::file_size(sig), 64u);
  std::string id = to_hex(Pack::open(f.pack)->identity());
  auto fp = run("openssl pkey -in " + q(pub) + " -pubin -outform DER | sha256sum");
  std::string fingerprint = "sha256:" + fp.output.substr(0, 64);
  EXPECT_TRUE(contains(r.out, "signed: " + f.pack.string() + ": identity " + id + ", key " + fingerprint +
                                  "; signature in " + sig.string()))
      << r.out;

  r = kso_pack({"verify", f.pack.string(), "--pubkey", pub});
  EXPECT_EQ(r.status, 0) << all(r);
  EXPECT_TRUE(contains(r.out, "ok: signature " + sig.string() + ": identity " + id + " signed by key " + fingerprint))
      << r.out;
  EXPECT_TRUE(contains(r.out, "ok: " + f.pack.string() + ": ")) << r.out;  // then the chain
  // Any one of several keys.
  r = kso_pack({"verify", f.pack.string(), "--pubkey", (f.t / "other.pub").string(), "--pubkey", pub});
  EXPECT_EQ(r.status, 0) << all(r);
  // Another key: refused before the chain is checked.
  r = kso_pack({"verify", f.pack.string(), "--pubkey", (f.t / "other.pub").string()});
  EXPECT_EQ(r.status, 1) << all(r);
  EXPECT_TRUE(contains(
      r.out, "BAD SIGNATURE: " + f.pack.string() + ": " + sig.string() + " is not a signature of identity " + id))
      << r.out;
  EXPECT_FALSE(contains(r.out, "ok: " + f.pack.string())) << r.out;
  // A pack given by URL: the signature file must be named (it is local).
  r = kso_pack({"sign", "https://packs.invalid/k8s.kso", "--key", key});
  EXPECT_EQ(r.status, 2) << all(r);
  EXPECT_TRUE(contains(r.err, "a pack given by URL needs -o SIG")) << r.err;
  r = kso_pack({"verify", "https://packs.invalid/k8s.kso", "--pubkey", pub});
  EXPECT_EQ(r.status, 2) << all(r);
  EXPECT_TRUE(contains(r.err, "a pack given by URL needs --sig FILE")) << r.err;
  // A signature file elsewhere, --sig; and --sig alone is a usage error.
  fs::copy_file(sig, f.t / "elsewhere.sig");
  EXPECT_EQ(kso_pack({"verify", f.pack.string(), "--pubkey", pub, "--sig", (f.t / "elsewhere.sig").string()}).status,
            0);
  EXPECT_EQ(kso_pack({"verify", f.pack.string(), "--sig", (f.t / "elsewhere.sig").string()}).status, 2);
  // A damaged signature, a truncated one, none.
  std::string bytes = read_file(sig);
  bytes[10] ^= 1;
  write_file(f.t / "flipped.sig", bytes);
  r = kso_pack({"verify", f.pack.string(), "--pubkey", pub, "--sig", (f.t / "flipped.sig").string()});
  EXPECT_EQ(r.status, 1) << all(r);
  EXPECT_TRUE(contains(r.out, "BAD SIGNATURE")) << r.out;
  write_file(f.t / "short.sig", bytes.substr(0, 63));
  r = kso_pack({"verify", f.pack.string(), "--pubkey", pub, "--sig", (f.t / "short.sig").string()});
  EXPECT_EQ(r.status, 1) << all(r);
  EXPECT_TRUE(contains(r.out, "is not an Ed25519 signature (64 bytes)")) << r.out;
  r = kso_pack({"verify", f.pack.string(), "--pubkey", pub, "--sig", (f.t / "none.sig").string()});
  EXPECT_EQ(r.status, 1) << all(r);
  EXPECT_TRUE(contains(r.err, "cannot read signature " + (f.t / "none.sig").string())) << r.err;

  // A pack changed after signing, and sealed again (a valid pack of another identity).
  fs::path tampered = f.t / "tampered.kso";
  fs::copy_file(f.pack, tampered);
  fs::copy_file(sig, f.t / "tampered.kso.sig");
  change_and_reseal(tampered);
  r = kso_pack({"verify", tampered.string(), "--pubkey", pub});
  EXPECT_EQ(r.status, 1) << all(r);
  EXPECT_TRUE(contains(r.out, "BAD SIGNATURE: " + tampered.string())) << r.out;
  // Its metadata changed but its header still naming the signed identity: refused
  // by verify, and sign never signs such a pack.
  fs::path stale = f.t / "stale.kso";
  Digest signed_id = Pack::open(f.pack)->identity();
  write_pack(stale, split_pack(tampered), &signed_id);
  r = kso_pack({"verify", stale.string(), "--pubkey", pub, "--sig", sig.string()});
  EXPECT_EQ(r.status, 1) << all(r);
  EXPECT_TRUE(contains(r.out, "BAD SIGNATURE: " + stale.string())) << r.out;
  r = kso_pack({"sign", stale.string(), "--key", key, "-o", (f.t / "never.sig").string()});
  EXPECT_EQ(r.status, 1) << all(r);
  EXPECT_TRUE(contains(r.err, stale.string() + ": its metadata does not hash to its identity")) << r.err;
  EXPECT_FALSE(fs::exists(f.t / "never.sig"));

  // Keys sign refuses: encrypted, not Ed25519, not a key, a public key.
  ASSERT_EQ(run("cd " + q(f.t.path()) +
                " && openssl genpkey -algorithm ed25519 -aes256 -pass pass:secret -out enc.key 2>&1"
                " && openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:P-256 -out ec.key 2>&1")
                .status,
            0);
  r = kso_pack({"sign", f.pack.string(), "--key", (f.t / "enc.key").string(), "-o", (f.t / "x.sig").string()});
  EXPECT_EQ(r.status, 1) << all(r);
  EXPECT_TRUE(contains(r.err, "enc.key: the private key is encrypted")) << r.err;
  r = kso_pack({"sign", f.pack.string(), "--key", (f.t / "ec.key").string(), "-o", (f.t / "x.sig").string()});
  EXPECT_EQ(r.status, 1) << all(r);
  EXPECT_TRUE(contains(r.err, "ec.key: not an Ed25519 private key")) << r.err;
  r = kso_pack({"sign", f.pack.string(), "--key", f.list.string(), "-o", (f.t / "x.sig").string()});
  EXPECT_EQ(r.status, 1) << all(r);
  EXPECT_TRUE(contains(r.err, "files.list: not a PEM private key")) << r.err;
  r = kso_pack({"verify", f.pack.string(), "--pubkey", key});
  EXPECT_EQ(r.status, 1) << all(r);
  EXPECT_TRUE(contains(r.err, "builder.key: not a PEM public key")) << r.err;
  EXPECT_FALSE(fs::exists(f.t / "x.sig"));

  // A delta is signed and verified like any pack (its bases through its identity).
  write_file(f.t / "tree/new-file", "new\n");
  fs::path delta = f.t / "k8s-new.kso";
  ASSERT_EQ(
      kso_pack({"build", "-q", "--base", f.pack.string(), "-o", delta.string(), "files=" + (f.t / "tree").string()})
          .status,
      0);
  ASSERT_EQ(kso_pack({"sign", delta.string(), "--key", key}).status, 0);
  r = kso_pack({"verify", delta.string(), "--pubkey", pub});
  EXPECT_EQ(r.status, 0) << all(r);
  EXPECT_TRUE(contains(r.out, "ok: base ")) << r.out;
}

// docs/REVIEW.md's review-switch: deploy/kso-switch.sh --pubkey switches a
// kso-fs mount only to a pack signed by the key.
TEST(Review, SwitchOnlyToASignedPack) {
  if (!have_openssl()) GTEST_SKIP() << "openssl is not installed";
  if (auto why = fuse_unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
  if (!have_command("mountpoint")) GTEST_SKIP() << "mountpoint is not installed";
  const std::string block = doc_procedure("REVIEW.md", "review-switch");
  ASSERT_FALSE(block.empty()) << "docs/REVIEW.md lost its review-switch procedure";
  FilesPack f;  // the served pack
  const fs::path srv = f.t / "srv", work = f.t / "work";
  fs::create_directories(srv / "kso");
  fs::create_directories(work);
  fs::rename(f.pack, srv / "k8s.kso");
  const std::string old_sha = sha256_file_hex(srv / "k8s.kso");
  auto r = run(q(kso_fs_bin()) + " " + q(srv / "k8s.kso") + " " + q(srv / "kso"));
  ASSERT_EQ(r.status, 0) << r.output;
  struct Unmount {
    fs::path p;
    ~Unmount() { force_unmount(p); }
  } unmount{srv / "kso"};
  genkey(work, "builder");
  genkey(work, "other");
  write_file(f.t / "tree/dl.k8s.io/release/v1.29.10/bin/linux/amd64/kubeadm", random_bytes(30000, 5));
  ASSERT_EQ(kso_pack({"build", "-q", "-o", (work / "k8s-new.kso").string(), "files=" + (f.t / "tree").string()}).status,
            0);
  const std::string path = kso_pack_bin().parent_path().string() + ":" + kso_fs_bin().parent_path().string() + ":" +
                           (fs::path(KSO_SOURCE_DIR) / "deploy").string() + ":" + getenv("PATH");
  auto switch_ = [&] {
    return run("cd " + q(work) + " && SRV=" + q(srv) + " PATH=" + q(path) + " bash -euo pipefail -c " + q(block) +
               " 2>&1");
  };
  // No signature, then one by another key: refused, nothing changed.
  r = switch_();
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "k8s-new.kso.sig: no such file")) << r.output;
  ASSERT_EQ(kso_pack({"sign", (work / "k8s-new.kso").string(), "--key", (work / "other.key").string()}).status, 0);
  r = switch_();
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "BAD SIGNATURE")) << r.output;
  EXPECT_TRUE(contains(r.output, "kso-pack verify failed")) << r.output;
  EXPECT_EQ(sha256_file_hex(srv / "k8s.kso"), old_sha);
  EXPECT_FALSE(fs::exists(srv / "k8s.kso.new"));
  EXPECT_FALSE(fs::exists(srv / "kso/files/dl.k8s.io/release/v1.29.10/bin/linux/amd64/kubeadm"));
  // Signed by the builder: switched, the mount serves the new pack.
  ASSERT_EQ(kso_pack({"sign", (work / "k8s-new.kso").string(), "--key", (work / "builder.key").string()}).status, 0);
  r = switch_();
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "ok: signature k8s-new.kso.sig")) << r.output;
  EXPECT_EQ(sha256_file_hex(srv / "k8s.kso"), sha256_file_hex(work / "k8s-new.kso"));
  EXPECT_EQ(read_file(srv / "kso/files/dl.k8s.io/release/v1.29.10/bin/linux/amd64/kubeadm"),
            read_file(f.t / "tree/dl.k8s.io/release/v1.29.10/bin/linux/amd64/kubeadm"));
}

// --- images: a registry, a pack pulled from it, and the lists

struct ImagesSite {
  TempDir tmp{"kso-review-img"};
  std::unique_ptr<TestRegistry> reg;
  std::map<std::string, PushedImage> pushed;  // by list line
  std::vector<std::string> lines;             // images.list as written

  ImagesSite() {
    reg = std::make_unique<TestRegistry>(tmp / "reg", TestRegistry::Options{tmp / "reg/storage"});
    fs::path scratch = tmp / "scratch";
    int seed = 1;
    auto layer = [&](const std::string& arch) {
      return make_layer(scratch, {{"bin/app", "#" + arch + "\n" + random_bytes(20000, uint64_t(seed++))}});
    };
    auto push = [&](TestImage img, const std::string& line) {
      pushed[line] = push_image(img, *reg, scratch);
      lines.push_back(line);
    };
    std::string h = reg->host();
    push({"calico/node",
          "v1",
          ManifestFormat::Oci,
          {{"linux", "amd64", "", {layer("amd64")}}, {"linux", "arm64", "v8", {layer("arm64")}}}},
         h + "/calico/node:v1");
    push({"kube-apiserver",
          "v1.29.10",
          ManifestFormat::Docker,
          {{"linux", "amd64", "", {layer("amd64")}}, {"linux", "arm64", "", {layer("arm64")}}}},
         h + "/kube-apiserver:v1.29.10");
    push({"pause", "3.9", ManifestFormat::Oci, {{"linux", "amd64", "", {layer("amd64")}}}, true}, h + "/pause:3.9");
    push({"cilium/cilium",
          "v1.15.8",
          ManifestFormat::Oci,
          {{"linux", "amd64", "", {layer("amd64")}},
           {"linux", "arm64", "", {layer("arm64")}},
           {"linux", "s390x", "", {layer("s390x")}}}},
         h + "/cilium/cilium:v1.15.8");
    TestImage cni{"calico/cni",
                  "v1",
                  ManifestFormat::Docker,
                  {{"linux", "amd64", "", {layer("amd64")}}, {"linux", "arm64", "", {layer("arm64")}}}};
    PushedImage c = push_image(cni, *reg, scratch);
    std::string pin = h + "/calico/cni@" + c.digest;
    pushed[pin] = c;
    lines.push_back(pin);
  }
  std::string list_text() const {
    std::string s = "# kubespray images.list\n";
    for (auto& l : lines) s += l + "\n";
    return s;
  }
  // Builds `out` from the files tree `tree` and images.list `list`.
  void build(const fs::path& out, const fs::path& tree, const fs::path& list) const {
    auto r = kso_pack({"build", "-q", "-o", out.string(), "--level", "3", "--images-list", list.string(), "--cache",
                       (tmp / "cache").string(), "--progress", "plain", "files=" + tree.string()});
    if (r.status != 0) throw std::runtime_error("build failed: " + all(r));
  }
};

ImagesSite* g_site = nullptr;

class ReviewImages : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (TestRegistry::available()) g_site = new ImagesSite();
  }
  static void TearDownTestSuite() {
    delete g_site;
    g_site = nullptr;
  }
  void SetUp() override {
    if (!g_site) GTEST_SKIP() << "docker-registry or skopeo not installed";
  }
};

TEST_F(ReviewImages, CheckImagesPlatformsSubsetsDeltas) {
  TempDir t{"kso-review-check"};
  make_files_tree(t / "tree");
  write_file(t / "images.list", g_site->list_text());
  write_file(t / "files.list", files_list_text());
  fs::path pack = t / "k8s.kso";
  g_site->build(pack, t / "tree", t / "images.list");
  const std::string h = g_site->reg->host();

  auto r = kso_pack({"check", pack.string(), "--files-list", (t / "files.list").string(), "--images-list",
                     (t / "images.list").string()});
  EXPECT_EQ(r.status, 0) << all(r);
  EXPECT_TRUE(contains(
      r.out, "complete: " + pack.string() + " holds all 5 files and 5 images (linux/amd64,linux/arm64) of the lists"))
      << r.out;

  // Missing tags and repositories, a wrong pin, a platform the build did not
  // pull and one no index has.
  write_file(t / "more.list", g_site->list_text() + h + "/calico/node:v2\n" + h + "/nothere:1\n" + h +
                                  "/pause:3.9@sha256:" + std::string(64, 'b') + "\n");
  r = kso_pack({"check", pack.string(), "--images-list", (t / "more.list").string(), "--platform",
                "linux/amd64,linux/arm64,linux/s390x"});
  EXPECT_EQ(r.status, 1) << all(r);
  const std::string more = (t / "more.list").string();
  EXPECT_TRUE(contains(r.out, "missing image: " + h + "/calico/node:v2 (no tag calico/node:v2; " + more + ":7)"))
      << r.out;
  EXPECT_TRUE(contains(r.out, "missing image: " + h + "/nothere:1 (no tag nothere:1; " + more + ":8)")) << r.out;
  EXPECT_TRUE(contains(r.out, "missing image: " + h + "/pause:3.9@sha256:" + std::string(64, 'b') +
                                  " (tag pause:3.9 names " + g_site->pushed.at(h + "/pause:3.9").digest +
                                  ", the list pins sha256:" + std::string(64, 'b')))
      << r.out;
  const PushedImage& cilium = g_site->pushed.at(h + "/cilium/cilium:v1.15.8");
  EXPECT_TRUE(contains(r.out, "missing platform: " + h + "/cilium/cilium:v1.15.8: linux/s390x (" +
                                  cilium.platform_digest.at("linux/s390x") + "): no revision link for " +
                                  cilium.platform_digest.at("linux/s390x")))
      << r.out;
  EXPECT_TRUE(contains(r.out, "missing platform: " + h +
                                  "/calico/node:v1: the index has no linux/s390x (it has linux/amd64, linux/arm64; " +
                                  more + ":2)"))
      << r.out;
  // pause is single-arch: not asked about platforms.
  EXPECT_FALSE(contains(r.out, "missing platform: " + h + "/pause:3.9")) << r.out;
  EXPECT_TRUE(contains(r.out, "INCOMPLETE: " + pack.string() +
                                  ": missing 3 of 8 images, 4 platforms of present images "
                                  "(linux/amd64,linux/arm64,linux/s390x)"))
      << r.out;

  // --platform all: every entry of each index, so cilium's s390x is missing.
  r = kso_pack({"check", pack.string(), "--images-list", (t / "images.list").string(), "--platform", "all"});
  EXPECT_EQ(r.status, 1) << all(r);
  EXPECT_TRUE(contains(r.out, "1 platform of present images (all)")) << r.out;

  // Another --images-prefix: nothing there, and a note says where registry storage is.
  r = kso_pack({"check", pack.string(), "--images-list", (t / "images.list").string(), "--images-prefix", "reg2"});
  EXPECT_EQ(r.status, 1) << all(r);
  EXPECT_TRUE(contains(r.out, "note: " + pack.string() +
                                  " has no registry storage at reg2/docker/registry/v2 (it has "
                                  "registry/docker/registry/v2; see --images-prefix)"))
      << r.out;
  EXPECT_TRUE(contains(r.out, "5 of 5 images")) << r.out;

  // A subset for amd64 lacks every arm64 manifest, and is complete for amd64.
  fs::path sub = t / "k8s-amd64.kso";
  r = kso_pack({"subset", "-q", pack.string(), "--platform", "linux/amd64", "-o", sub.string()});
  ASSERT_EQ(r.status, 0) << all(r);
  r = kso_pack({"check", sub.string(), "--files-list", (t / "files.list").string(), "--images-list",
                (t / "images.list").string()});
  EXPECT_EQ(r.status, 1) << all(r);
  const PushedImage& node = g_site->pushed.at(h + "/calico/node:v1");
  EXPECT_TRUE(contains(r.out, "missing platform: " + h + "/calico/node:v1: linux/arm64 (" +
                                  node.platform_digest.at("linux/arm64/v8") + "): no revision link"))
      << r.out;
  EXPECT_TRUE(contains(r.out, "missing file: https://dl.k8s.io/release/v1.29.10/bin/linux/arm64/kubelet")) << r.out;
  EXPECT_TRUE(contains(r.out, "missing 1 of 5 files, 0 of 5 images, 4 platforms of present images")) << r.out;
  r = kso_pack({"check", sub.string(), "--images-list", (t / "images.list").string(), "--platform", "linux/amd64"});
  EXPECT_EQ(r.status, 0) << all(r);

  // A blob gone from registry storage (a pack built by hand): the platform is incomplete.
  ASSERT_EQ(kso_pack({"extract", "-q", pack.string(), (t / "x").string()}).status, 0);
  // The last blob pushed: the arm64 image's config (each platform's layers, then its config).
  const std::string gone = node.blobs.back();
  fs::path dir = t / "x/registry/docker/registry/v2/blobs/sha256" / gone.substr(7, 2) / gone.substr(7);
  ASSERT_TRUE(fs::exists(dir));
  fs::remove_all(dir);
  fs::path hand = t / "hand.kso";
  ASSERT_EQ(kso_pack({"build", "-q", "-o", hand.string(), "files=" + (t / "x/files").string(),
                      "registry=" + (t / "x/registry").string()})
                .status,
            0);
  r = kso_pack({"check", hand.string(), "--images-list", (t / "images.list").string()});
  EXPECT_EQ(r.status, 1) << all(r);
  EXPECT_TRUE(contains(r.out, "missing platform: " + h + "/calico/node:v1: linux/arm64 (" +
                                  node.platform_digest.at("linux/arm64/v8") +
                                  "): 1 of its 2 blobs are not in the pack (" + gone + ")"))
      << r.out;

  // A delta on the pack: images read through the base.
  write_file(t / "tree/dl.k8s.io/release/v1.29.10/bin/linux/amd64/kubeadm", random_bytes(30000, 99));
  fs::path delta = t / "k8s-new.kso";
  r = kso_pack({"build", "-q", "--base", pack.string(), "-o", delta.string(), "--images-list",
                (t / "images.list").string(), "--cache", (g_site->tmp / "cache").string(), "--progress", "plain",
                "files=" + (t / "tree").string()});
  ASSERT_EQ(r.status, 0) << all(r);
  write_file(t / "files.list", files_list_text() + "https://dl.k8s.io/release/v1.29.10/bin/linux/amd64/kubeadm\n");
  r = kso_pack({"check", delta.string(), "--files-list", (t / "files.list").string(), "--images-list",
                (t / "images.list").string()});
  EXPECT_EQ(r.status, 0) << all(r);
  EXPECT_TRUE(contains(r.out, "holds all 6 files and 5 images")) << r.out;
}

TEST_F(ReviewImages, ManifestNamesEveryImageAndPlatform) {
  TempDir t{"kso-review-manifest"};
  make_files_tree(t / "tree");
  write_file(t / "images.list", g_site->list_text());
  fs::path pack = t / "k8s.kso";
  g_site->build(pack, t / "tree", t / "images.list");
  const std::string h = g_site->reg->host();
  auto r = kso_pack({"manifest", pack.string(), "--json"});
  ASSERT_EQ(r.status, 0) << all(r);
  json j = json::parse(r.out);
  ASSERT_EQ(j["images"].size(), 5u) << j["images"].dump(2);
  std::map<std::string, json> by_ref;
  std::vector<std::string> order;
  for (auto& i : j["images"]) {
    by_ref[i["reference"]] = i;
    order.push_back(std::string(i["repository"]) + " " + (i["tag"].is_null() ? "" : std::string(i["tag"])));
    EXPECT_EQ(i["registry"], "registry/docker/registry/v2");
    EXPECT_TRUE(i["in_pack"].get<bool>());
  }
  EXPECT_TRUE(std::is_sorted(order.begin(), order.end()));
  auto expect_index = [&](const std::string& ref, const std::string& line,
                          std::map<std::string, std::string> plat_key) {
    SCOPED_TRACE(ref);
    ASSERT_TRUE(by_ref.count(ref));
    const json& i = by_ref[ref];
    const PushedImage& p = g_site->pushed.at(line);
    EXPECT_EQ(i["digest"], p.digest);
    ASSERT_EQ(i["manifests"].size(), p.platform_digest.size());
    for (auto& m : i["manifests"]) {
      std::string plat = m["platform"];
      std::string key = plat_key.count(plat) ? plat_key[plat] : plat;
      EXPECT_EQ(m["digest"], p.platform_digest.at(key)) << plat;
      EXPECT_EQ(m["in_pack"].get<bool>(), plat != "linux/s390x") << plat;
    }
  };
  expect_index("calico/node:v1", h + "/calico/node:v1", {{"linux/arm64", "linux/arm64/v8"}});
  EXPECT_EQ(by_ref["calico/node:v1"]["media_type"], "application/vnd.oci.image.index.v1+json");
  expect_index("kube-apiserver:v1.29.10", h + "/kube-apiserver:v1.29.10", {});
  EXPECT_EQ(by_ref["kube-apiserver:v1.29.10"]["media_type"],
            "application/vnd.docker.distribution.manifest.list.v2+json");
  expect_index("cilium/cilium:v1.15.8", h + "/cilium/cilium:v1.15.8", {});
  const PushedImage& cni = g_site->pushed.at(g_site->lines.back());
  expect_index("calico/cni@" + cni.digest, g_site->lines.back(), {});
  EXPECT_TRUE(by_ref["calico/cni@" + cni.digest]["tag"].is_null());
  // Single-arch: one entry, its config's platform, the tag's own digest.
  const json& pause = by_ref["pause:3.9"];
  ASSERT_EQ(pause["manifests"].size(), 1u);
  EXPECT_EQ(pause["manifests"][0]["platform"], "linux/amd64");
  EXPECT_EQ(pause["manifests"][0]["digest"], g_site->pushed.at(h + "/pause:3.9").digest);
  EXPECT_EQ(pause["digest"], g_site->pushed.at(h + "/pause:3.9").digest);
  // Registry storage: not in files; every blob accounted for.
  for (auto& f : j["files"]) EXPECT_EQ(std::string(f["path"]).rfind("files/", 0), 0u) << f["path"];
  ASSERT_EQ(j["registries"].size(), 1u);
  EXPECT_EQ(j["registries"][0]["root"], "registry/docker/registry/v2");
  EXPECT_TRUE(j["registries"][0]["unreferenced_blobs"].empty());
  EXPECT_GT(j["registries"][0]["blobs"].get<int>(), 10);
  // Text form: an image line and its platform lines.
  auto text = kso_pack({"manifest", pack.string()});
  ASSERT_EQ(text.status, 0) << all(text);
  const PushedImage& cil = g_site->pushed.at(h + "/cilium/cilium:v1.15.8");
  EXPECT_TRUE(contains(text.out, "image cilium/cilium:v1.15.8 " + cil.digest + "\n")) << text.out;
  EXPECT_TRUE(contains(text.out, "  linux/s390x " + cil.platform_digest.at("linux/s390x") + " (not in pack)\n"))
      << text.out;
  EXPECT_TRUE(contains(text.out, "registry registry/docker/registry/v2 ")) << text.out;
}

// docs/REVIEW.md's procedures, run as written in a directory holding k8s.kso,
// files.list and images.list; then what they say when something is wrong.
TEST_F(ReviewImages, ProceduresAsDocumented) {
  if (!have_openssl()) GTEST_SKIP() << "openssl is not installed";
  TempDir t{"kso-review-doc"};
  make_files_tree(t / "tree");
  fs::path w = t / "work";
  write_file(w / "images.list", g_site->list_text());
  write_file(w / "files.list", files_list_text());
  g_site->build(w / "k8s.kso", t / "tree", w / "images.list");
  const std::string path = kso_pack_bin().parent_path().string() + ":" + getenv("PATH");
  auto procedure = [&](const std::string& name) {
    std::string block = doc_procedure("REVIEW.md", name);
    EXPECT_FALSE(block.empty()) << "docs/REVIEW.md lost its procedure " << name;
    return run("cd " + q(w) + " && PATH=" + q(path) + " bash -euo pipefail -c " + q(block) + " 2>&1");
  };

  // The README shows the review commands: each is a line of these procedures.
  std::string blocks;
  for (auto name :
       {"review-check", "review-manifest", "review-sign", "review-verify", "review-verify-openssl", "review-sums"})
    blocks += doc_procedure("REVIEW.md", name);
  std::istringstream readme(read_file(fs::path(KSO_SOURCE_DIR) / "README.md"));
  int shown = 0;
  for (std::string line; std::getline(readme, line);)
    for (auto cmd : {"kso-pack check ", "kso-pack manifest ", "kso-pack sign ", "kso-pack verify k8s.kso --pubkey"})
      if (line.rfind(cmd, 0) == 0) {
        shown++;
        EXPECT_TRUE(contains(blocks, line + "\n")) << "README.md: " << line;
      }
  EXPECT_EQ(shown, 4);

  auto r = procedure("review-check");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "complete: k8s.kso holds all 5 files and 5 images (linux/amd64,linux/arm64)"))
      << r.output;
  r = procedure("review-manifest");
  EXPECT_EQ(r.status, 0) << r.output;
  json m = json::parse(read_file(w / "k8s.manifest.json"));
  EXPECT_EQ(m["pack"]["identity"], to_hex(Pack::open(w / "k8s.kso")->identity()));
  EXPECT_TRUE(contains(r.output, "image calico/node:v1 sha256:")) << r.output;
  r = procedure("review-sign");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(fs::file_size(w / "k8s.kso.sig"), 64u);
  // The fingerprint sign printed is the one the documented openssl command gives.
  auto fp = run("cd " + q(w) + " && openssl pkey -in builder.pub -pubin -outform DER | sha256sum");
  ASSERT_EQ(fp.status, 0) << fp.output;
  EXPECT_TRUE(contains(r.output, "key sha256:" + fp.output.substr(0, 64))) << r.output << fp.output;
  r = procedure("review-verify");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "ok: signature k8s.kso.sig: identity ")) << r.output;
  r = procedure("review-verify-openssl");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "Signature Verified Successfully")) << r.output;
  EXPECT_EQ(read_file(w / "k8s.kso.msg"),
            "kso-pack identity v1 " + to_hex(Pack::open(w / "k8s.kso")->identity()) + "\n");
  r = procedure("review-sums");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "Signature Verified Successfully")) << r.output;
  EXPECT_TRUE(contains(r.output, "k8s.kso: OK")) << r.output;

  // check catches a missing file and a missing image.
  std::string h = g_site->reg->host();
  write_file(w / "files.list", files_list_text() + "https://dl.k8s.io/release/v1.29.10/bin/linux/arm64/kubeadm\n");
  write_file(w / "images.list", g_site->list_text() + h + "/coredns/coredns:v1.11.1\n");
  r = procedure("review-check");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_TRUE(contains(r.output,
                       "missing file: https://dl.k8s.io/release/v1.29.10/bin/linux/arm64/kubeadm "
                       "(files/dl.k8s.io/release/v1.29.10/bin/linux/arm64/kubeadm; files.list:7)"))
      << r.output;
  EXPECT_TRUE(contains(
      r.output, "missing image: " + h + "/coredns/coredns:v1.11.1 (no tag coredns/coredns:v1.11.1; images.list:7)"))
      << r.output;
  EXPECT_TRUE(contains(r.output, "INCOMPLETE: k8s.kso: missing 1 of 6 files, 1 of 6 images")) << r.output;
  std::cout << "[ check catching a missing file and image, as docs/REVIEW.md runs it ]\n" << r.output;

  // A pack changed after it was signed: both verifications refuse it.
  change_and_reseal(w / "k8s.kso");
  r = procedure("review-verify");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "BAD SIGNATURE: k8s.kso: k8s.kso.sig is not a signature of identity")) << r.output;
  r = procedure("review-verify-openssl");
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "Signature Verification Failure")) << r.output;
}

}  // namespace
}  // namespace kso::test
