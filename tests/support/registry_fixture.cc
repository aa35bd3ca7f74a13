#include "tests/support/registry_fixture.h"

#include <nlohmann/json.hpp>
#include <stdexcept>

namespace kso::test {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// bcrypt ($2y$, cost 5) of "kso-secret": registry 2.8 only takes bcrypt
// htpasswd entries, and this saves tests a dependency on apache2-utils.
constexpr const char* kKsoSecretBcrypt = "$2y$05$.UtzwZqtg7hbX5FbdCjHUOfMxZiEwP.RsjQZjlJKnORLrpF.C.vk.";

}  // namespace

bool TestRegistry::available() { return have_command("docker-registry") && have_command("skopeo"); }

TestRegistry::TestRegistry(const fs::path& work, Options o) : work_(work), o_(std::move(o)) {
  fs::create_directories(work_);
  fs::create_directories(o_.storage);
  port_ = free_port();
  std::string cfg = "version: 0.1\n"
                    "log:\n  level: info\n  accesslog:\n    disabled: false\n"
                    "storage:\n"
                    "  filesystem:\n    rootdirectory: " + o_.storage.string() + "\n"
                    "  delete:\n    enabled: false\n"
                    "  maintenance:\n    uploadpurging:\n      enabled: false\n"
                    "    readonly:\n      enabled: " + std::string(o_.readonly ? "true" : "false") + "\n"
                    "http:\n  addr: 127.0.0.1:" + std::to_string(port_) + "\n  secret: kso-test-secret\n";
  if (o_.auth == RegistryAuthMode::Htpasswd) {
    std::string entry;
    if (o_.password == "kso-secret") {
      entry = o_.user + ":" + kKsoSecretBcrypt;
    } else {
      auto r = run("htpasswd -nbB " + q(o_.user) + " " + q(o_.password));
      if (r.status != 0) throw std::runtime_error("htpasswd (apache2-utils) needed for a custom password");
      entry = r.output.substr(0, r.output.find('\n'));
    }
    write_file(work_ / "htpasswd", entry + "\n");
    cfg += "auth:\n  htpasswd:\n    realm: kso-test\n    path: " + (work_ / "htpasswd").string() + "\n";
  } else if (o_.auth == RegistryAuthMode::Token) {
    if (!o_.token) throw std::runtime_error("token registry without a token server");
    cfg += std::string("auth:\n  token:\n    realm: ") + o_.token->realm() + "\n    service: " + TokenServer::kService +
           "\n    issuer: " + TokenServer::kIssuer + "\n    rootcertbundle: " + o_.token->cert().string() + "\n";
  }
  write_file(work_ / "config.yml", cfg);
  daemon_ = std::make_unique<Daemon>("docker-registry serve " + q(work_ / "config.yml"), work_ / "registry.log");
  if (!wait_for_port(port_)) {
    std::string l = log();
    daemon_.reset();
    throw std::runtime_error("docker-registry did not start:\n" + l);
  }
}

TestRegistry::~TestRegistry() { stop(); }

void TestRegistry::stop() { daemon_.reset(); }

std::string TestRegistry::log() const { return read_file(work_ / "registry.log"); }

std::string TestRegistry::creds() const {
  if (o_.auth == RegistryAuthMode::Open) return "";
  return o_.user + ":" + o_.password;
}

std::string skopeo_flags(const TestRegistry* reg, const std::string& side) {
  std::string f = "--" + side + "-tls-verify=false";
  if (reg && !reg->creds().empty()) f += " --" + side + "-creds " + q(reg->creds());
  else f += " --" + side + "-no-creds";
  return f;
}

std::vector<std::string> check_pulled_manifest(const fs::path& out, const std::string& digest) {
  std::string manifest = read_file(out / "manifest.json");
  if ("sha256:" + sha256_hex(manifest) != digest)
    throw std::runtime_error(out.string() + "/manifest.json is not " + digest);
  auto m = json::parse(manifest);
  std::vector<std::string> blobs{m["config"]["digest"].get<std::string>()};
  for (auto& l : m["layers"]) blobs.push_back(l["digest"].get<std::string>());
  for (auto& b : blobs) {
    fs::path f = out / b.substr(7);
    if (!fs::exists(f)) throw std::runtime_error("blob " + b + " was not pulled into " + out.string());
    if ("sha256:" + sha256_file_hex(f) != b) throw std::runtime_error("blob " + b + " pulled with other bytes");
  }
  return blobs;
}

TestImage two_arch_kube_proxy(const fs::path& scratch) {
  TestImage img;
  img.repo = "kube-proxy";
  img.tag = "v1.29.10";
  for (auto* arch : {"amd64", "arm64"}) {
    TestPlatformImage p;
    p.arch = arch;
    p.layers.push_back(make_layer(scratch, {{"usr/local/bin/kube-proxy", std::string("proxy for ") + arch}}));
    img.platforms.push_back(p);
  }
  return img;
}

TestLayer make_layer(const fs::path& scratch, const std::map<std::string, std::string>& files) {
  static int counter = 0;
  fs::path dir = scratch / ("layer-" + std::to_string(counter++));
  fs::remove_all(dir);
  for (auto& [path, content] : files) write_file(dir / "root" / path, content);
  auto r = run("tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C " + q(dir / "root") +
               " -cf " + q(dir / "layer.tar") + " . && gzip -n -c " + q(dir / "layer.tar") + " > " + q(dir / "layer.tgz"));
  if (r.status != 0) throw std::runtime_error("making a layer failed: " + r.output);
  TestLayer l;
  l.data = read_file(dir / "layer.tgz");
  l.diff_id = "sha256:" + sha256_file_hex(dir / "layer.tar");
  fs::remove_all(dir);
  return l;
}

PushedImage push_image(const TestImage& img, const TestRegistry& reg, const fs::path& scratch) {
  bool oci = img.format == ManifestFormat::Oci;
  const std::string index_type = oci ? "application/vnd.oci.image.index.v1+json"
                                     : "application/vnd.docker.distribution.manifest.list.v2+json";
  const std::string manifest_type = oci ? "application/vnd.oci.image.manifest.v1+json"
                                        : "application/vnd.docker.distribution.manifest.v2+json";
  const std::string config_type = oci ? "application/vnd.oci.image.config.v1+json"
                                      : "application/vnd.docker.container.image.v1+json";
  const std::string layer_type = oci ? "application/vnd.oci.image.layer.v1.tar+gzip"
                                     : "application/vnd.docker.image.rootfs.diff.tar.gzip";
  std::string name = img.repo + "-" + img.tag;
  for (auto& c : name)
    if (c == '/' || c == ':') c = '_';
  fs::path dir = scratch / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  write_file(dir / "version", "Directory Transport Version: 1.1\n");

  PushedImage out;
  auto blob = [&](const std::string& data) {
    std::string hex = sha256_hex(data);
    write_file(dir / hex, data);
    return "sha256:" + hex;
  };
  json index_entries = json::array();
  std::string single_manifest;
  for (auto& p : img.platforms) {
    json diff_ids = json::array();
    json layers = json::array();
    const bool attestation = !p.attests.empty();
    if (attestation && (!oci || img.single_arch || !out.platform_digest.count(p.attests)))
      throw std::runtime_error("an attestation needs an OCI index and its platform listed before it: " + p.attests);
    for (auto& l : p.layers) {
      diff_ids.push_back(l.diff_id);
      layers.push_back({{"mediaType", attestation ? "application/vnd.in-toto+json" : layer_type},
                        {"digest", blob(l.data)},
                        {"size", l.data.size()}});
      out.blobs.push_back(l.digest());
    }
    json config = {{"architecture", p.arch},
                   {"os", p.os},
                   {"config", {{"Labels", {{"kso.test.image", img.repo + ":" + img.tag}}}}},
                   {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}}};
    if (!p.variant.empty()) config["variant"] = p.variant;
    std::string config_bytes = config.dump();
    std::string config_digest = blob(config_bytes);
    out.blobs.push_back(config_digest);
    json manifest = {{"schemaVersion", 2},
                     {"mediaType", manifest_type},
                     {"config", {{"mediaType", config_type}, {"digest", config_digest}, {"size", config_bytes.size()}}},
                     {"layers", layers}};
    std::string mbytes = manifest.dump(3);  // indented, as registries keep whatever bytes they get
    std::string mhex = sha256_hex(mbytes);
    json platform = {{"architecture", p.arch}, {"os", p.os}};
    if (!p.variant.empty()) platform["variant"] = p.variant;
    json entry = {{"mediaType", manifest_type}, {"digest", "sha256:" + mhex}, {"size", mbytes.size()},
                  {"platform", platform}};
    if (attestation) {
      entry["annotations"] = {{"vnd.docker.reference.digest", out.platform_digest[p.attests]},
                              {"vnd.docker.reference.type", "attestation-manifest"}};
      out.attestation_digest[p.attests] = "sha256:" + mhex;
    } else {
      out.platform_digest[p.platform()] = "sha256:" + mhex;
    }
    index_entries.push_back(entry);
    if (img.single_arch) {
      single_manifest = mbytes;
    } else {
      write_file(dir / (mhex + ".manifest.json"), mbytes);
    }
  }
  if (img.single_arch) {
    if (img.platforms.size() != 1) throw std::runtime_error("a single-arch test image has one platform");
    out.bytes = single_manifest;
  } else {
    json index = {{"schemaVersion", 2}, {"mediaType", index_type}, {"manifests", index_entries}};
    out.bytes = index.dump(3);
  }
  out.digest = "sha256:" + sha256_hex(out.bytes);
  write_file(dir / "manifest.json", out.bytes);

  std::string cmd = "skopeo copy --quiet --all --preserve-digests " + skopeo_flags(&reg, "dest") + " dir:" + q(dir) +
                    " docker://" + reg.host() + "/" + img.repo + ":" + img.tag;
  auto r = run(cmd);
  if (r.status != 0) throw std::runtime_error("push failed: " + cmd + "\n" + r.output);
  return out;
}

}  // namespace kso::test
