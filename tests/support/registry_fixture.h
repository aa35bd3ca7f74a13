// Test registries and test images: Debian's docker-registry (registry:2) on a
// free loopback port (open, htpasswd Basic auth, or Bearer tokens from a
// TokenServer; read-write or read-only), and small multi-arch OCI / Docker
// images assembled from local files and pushed with `skopeo copy --all`.
#pragma once
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/testutil.h"
#include "tests/support/token_server.h"

namespace kso::test {

enum class RegistryAuthMode { Open, Htpasswd, Token };

class TestRegistry {
 public:
  struct Options {
    std::filesystem::path storage;          // rootdirectory (docker/registry/v2 below); created
    RegistryAuthMode auth = RegistryAuthMode::Open;
    std::string user = "kso", password = "kso-secret";  // Htpasswd credentials
    const TokenServer* token = nullptr;     // Token mode: who signs the tokens
    bool readonly = false;                  // maintenance.readonly, no upload purging
  };
  // Writes config.yml (and htpasswd) into `work`, starts the registry and
  // waits for its port. Throws std::runtime_error with its log on failure.
  TestRegistry(const std::filesystem::path& work, Options o);
  ~TestRegistry();
  TestRegistry(const TestRegistry&) = delete;
  TestRegistry& operator=(const TestRegistry&) = delete;

  int port() const { return port_; }
  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }  // for references
  std::string url() const { return "http://" + host(); }
  const Options& options() const { return o_; }
  // "USER:PASS" skopeo and kso-pack need here, or "" for open registries.
  std::string creds() const;
  std::string log() const;
  void stop();

  // True when docker-registry and skopeo are installed (tests skip otherwise).
  static bool available();

 private:
  std::filesystem::path work_;
  Options o_;
  int port_ = 0;
  std::unique_ptr<Daemon> daemon_;
};

// One layer: a deterministic tar of `files` (path -> content), gzip'd.
struct TestLayer {
  std::string data;     // tar.gz bytes
  std::string diff_id;  // "sha256:" of the uncompressed tar
  std::string digest() const { return "sha256:" + sha256_hex(data); }
};
TestLayer make_layer(const std::filesystem::path& scratch, const std::map<std::string, std::string>& files);

enum class ManifestFormat { Oci, Docker };

struct TestPlatformImage {
  std::string os = "linux", arch, variant;
  std::vector<TestLayer> layers;
  // Set: an attestation manifest as BuildKit writes them (os and arch
  // "unknown", in-toto layers: raw JSON, not make_layer tars). Its index entry
  // names the manifest of the platform given here ("linux/arm64", listed
  // before it) in vnd.docker.reference.digest. OCI indexes only.
  std::string attests{};
  std::string platform() const { return os + "/" + arch + (variant.empty() ? "" : "/" + variant); }
};

struct TestImage {
  std::string repo;  // "calico/node"
  std::string tag;   // "v1"
  ManifestFormat format = ManifestFormat::Oci;
  std::vector<TestPlatformImage> platforms;
  bool single_arch = false;  // push the one platform's manifest alone, no index
};

struct PushedImage {
  std::string digest;  // "sha256:..." of what the tag names (index, or the manifest)
  std::string bytes;   // its exact bytes
  std::map<std::string, std::string> platform_digest;  // "linux/arm64" -> image manifest digest
  std::map<std::string, std::string> attestation_digest;  // attested "linux/arm64" -> attestation manifest digest
  std::vector<std::string> blobs;                      // every config and layer digest
};

// kube-proxy:v1.29.10 for linux/amd64 and linux/arm64, one small layer each
// ("proxy for ARCH" at usr/local/bin/kube-proxy): the deployment tests' image.
TestImage two_arch_kube_proxy(const std::filesystem::path& scratch);

// Lays `img` out as a skopeo dir: image under scratch/<repo>-<tag> and pushes
// it to reg with `skopeo copy --all --preserve-digests`. Throws on failure.
PushedImage push_image(const TestImage& img, const TestRegistry& reg, const std::filesystem::path& scratch);

// Checks what `skopeo copy ... dir:OUT` wrote for one image manifest: its
// bytes hash to `digest`, and every blob it names (config, layers) is in OUT
// and hashes to its name. Returns those blob digests; throws
// std::runtime_error saying what is wrong.
std::vector<std::string> check_pulled_manifest(const std::filesystem::path& out, const std::string& digest);

// `skopeo` flags for talking to a loopback test registry as source or dest
// ("--src-tls-verify=false --src-creds u:p").
std::string skopeo_flags(const TestRegistry* reg, const std::string& side);

}  // namespace kso::test
