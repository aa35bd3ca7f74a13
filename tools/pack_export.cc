#include "tools/pack_export.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "index/error.h"
#include "index/pack_index_file.h"
#include "index/pack_open.h"
#include "tools/images/media_types.h"
#include "tools/images/reference.h"
#include "tools/kso_pack.h"
#include "tools/pack_args.h"
#include "tools/pack_source.h"
#include "tools/text.h"

namespace kso {
namespace fs = std::filesystem;
namespace {

using fetch::OciDigest;
using images::Manifest;
using images::Platform;
using nlohmann::json;

// A ustar archive written to a file: fixed mode, owner and mtime, entries in
// the order given (callers give them sorted), so the same input makes the
// same bytes.
class TarWriter {
 public:
  explicit TarWriter(const fs::path& path) : path_(path) {
    fd_ = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) fail(errno);
  }
  ~TarWriter() {
    if (fd_ >= 0) close(fd_);
  }
  TarWriter(const TarWriter&) = delete;
  TarWriter& operator=(const TarWriter&) = delete;

  void dir(const std::string& name) { header(name, 0, '5', 0755); }
  // A file of `size` bytes whose content `fill` writes through put().
  void file(const std::string& name, uint64_t size, const std::function<void()>& fill) {
    header(name, size, '0', 0644);
    uint64_t before = written_;
    fill();
    if (written_ - before != size) throw Error(path_.string() + ": " + name + ": size changed while writing", EIO);
    pad();
  }
  void put(const char* p, size_t n) {
    while (n > 0) {
      ssize_t w = ::write(fd_, p, n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) fail(w < 0 ? errno : EIO);
      p += w;
      n -= size_t(w);
      written_ += uint64_t(w);
    }
  }
  void finish() {
    std::string end(1024, '\0');  // two zero blocks end the archive
    put(end.data(), end.size());
    if (fsync(fd_) != 0) fail(errno);
    int fd = fd_;
    fd_ = -1;
    if (close(fd) != 0) fail(errno);
  }
  uint64_t bytes() const { return written_; }

 private:
  [[noreturn]] void fail(int err) { throw Error("cannot write " + path_.string() + ": " + strerror(err), err); }
  static void octal(char* field, size_t width, uint64_t v) {  // width includes the NUL
    snprintf(field, width, "%0*llo", int(width - 1), (unsigned long long)v);
  }
  void header(const std::string& name, uint64_t size, char type, uint32_t mode) {
    if (name.size() >= 100) throw Error("tar entry name too long: " + name, EINVAL);
    if (size >= (1ull << 33)) throw Error(name + ": too large for a ustar entry (8 GiB)", EFBIG);
    char h[512] = {};
    memcpy(h, name.data(), name.size());
    octal(h + 100, 8, mode);
    octal(h + 108, 8, 0);     // uid
    octal(h + 116, 8, 0);     // gid
    octal(h + 124, 12, size);
    octal(h + 136, 12, 0);    // mtime: fixed
    memset(h + 148, ' ', 8);  // checksum field counts as blanks
    h[156] = type;
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    unsigned sum = 0;
    for (unsigned char c : h) sum += c;
    snprintf(h + 148, 8, "%06o", sum);
    h[155] = ' ';
    put(h, sizeof h);
  }
  void pad() {
    static const char zeros[512] = {};
    if (size_t r = size_t(written_ % 512)) put(zeros, 512 - r);
  }

  fs::path path_;
  int fd_ = -1;
  uint64_t written_ = 0;
};

std::string blob_entry(const OciDigest& d) { return "blobs/sha256/" + d.hex(); }

// "REPO[:TAG]" / "REPO@DIGEST" split without normalizing: the pack's own names.
std::pair<std::string, std::string> split_ref(const std::string& ref) {
  if (size_t at = ref.find('@'); at != std::string::npos) return {ref.substr(0, at), ref.substr(at + 1)};
  size_t colon = ref.rfind(':');
  if (colon != std::string::npos && ref.find('/', colon) == std::string::npos)
    return {ref.substr(0, colon), ref.substr(colon + 1)};
  return {ref, "latest"};
}

bool is_attestation(const images::Descriptor& d) { return d.annotations.count(images::kAttestationRefAnnotation) > 0; }

std::string platform_list(const PackImage& img) {
  std::string s;
  for (auto& [p, d] : img.platforms) s += (s.empty() ? "" : ", ") + p.str();
  return s.empty() ? "none" : s;
}

}  // namespace

std::string load_name(const PackImage& img) {
  std::string name = img.repo + ":" + img.tag;
  try {
    return images::parse_image_ref(name).str();
  } catch (const Error&) {
    return name;
  }
}

std::string PackImage::str() const { return repo + (tag.empty() ? "@" + digest.str() : ":" + tag); }

PackImage find_pack_image(const std::vector<PackRegistry>& regs, const std::string& ref,
                          const std::string& pack_name) {
  if (regs.empty()) throw Error(pack_name + " holds no registry storage (no docker/registry/v2 tree)", ENOENT);
  // The pack's own name first, then what a source reference maps to.
  std::vector<std::pair<std::string, std::string>> tries{split_ref(ref)};
  try {
    images::ImageRef r = images::parse_image_ref(ref);
    for (bool keep : {false, true}) tries.emplace_back(r.local_name(keep), r.manifest_ref());
  } catch (const Error&) {
    // not a docker reference: only the literal name can match
  }
  for (auto& [repo, what] : tries)
    for (auto& reg : regs)
      if (auto d = reg.resolve(repo, what)) {
        PackImage img{&reg, repo, OciDigest::try_parse(what) ? "" : what, *d,
                      images::parse_manifest(reg.read_blob(*d, images::kMaxManifestBytes), ""), {}};
        if (!img.top.is_index()) {
          img.platforms.emplace_back(reg.config_platform(img.top).value_or(Platform{"unknown", "unknown", ""}), *d);
        } else {
          for (auto& e : img.top.manifests)
            if (!is_attestation(e) && reg.resolve(repo, e.digest.str()))
              img.platforms.emplace_back(
                  e.platform ? images::normalize_platform(*e.platform) : Platform{"unknown", "unknown", ""}, e.digest);
        }
        return img;
      }
  // Say what there is, a few names at most.
  std::string have;
  size_t n = 0;
  for (auto& reg : regs)
    for (auto& [rt, d] : reg.tags)
      if (n++ < 20) have += (have.empty() ? "" : ", ") + printable(rt.first) + ":" + printable(rt.second);
  if (n > 20) have += ", ... (" + std::to_string(n) + " tags; kso-pack manifest lists them)";
  throw Error(pack_name + ": no image " + printable(ref) + " in its registry storage (it has " +
                  (have.empty() ? std::string("no tags") : have) + ")",
              ENOENT);
}

Platform host_platform() {
  struct utsname u;
  if (uname(&u) != 0) return Platform{"linux", "amd64", ""};
  std::string m = u.machine;
  if (m.rfind("armv7", 0) == 0) return Platform{"linux", "arm", "v7"};
  if (m.rfind("armv6", 0) == 0) return Platform{"linux", "arm", "v6"};
  try {
    return images::parse_platform("linux/" + m);
  } catch (const Error&) {
    return Platform{"linux", m, ""};
  }
}

std::pair<Platform, OciDigest> choose_image_platform(const PackImage& img, const Platform& want, bool strict) {
  for (auto& pd : img.platforms)
    if (images::platform_matches(want, pd.first)) return pd;
  if (!img.top.is_index() && !strict) return img.platforms.front();
  std::string why = img.top.is_index() ? "its index has " + images::index_platforms(img.top) + "; the pack holds " +
                                             platform_list(img)
                                       : "it is a single-platform image for " + platform_list(img);
  throw Error(img.registry->pack->name() + ": image " + printable(img.str()) + " has no " + want.str() + " (" + why +
                  "; choose one with --platform)",
              ENOENT);
}

uint64_t write_docker_archive(const PackImage& img, const OciDigest& manifest_digest,
                              const std::vector<std::string>& repo_tags, const fs::path& out) {
  const PackRegistry& reg = *img.registry;
  Manifest m = manifest_digest == img.digest
                   ? img.top
                   : images::parse_manifest(reg.read_blob(manifest_digest, images::kMaxManifestBytes), "");
  if (m.is_index() || !m.config)
    throw Error(reg.pack->name() + ": " + manifest_digest.str() + " of " + img.str() + " is not an image manifest",
                EINVAL);
  std::string config = reg.read_blob(m.config->digest, images::kMaxManifestBytes);
  json layers = json::array();
  std::map<OciDigest, uint64_t> files;  // every layer once, sorted
  for (auto& l : m.layers) {
    if (images::is_foreign_layer(l) && !reg.has_blob(l.digest))
      throw Error(reg.pack->name() + ": " + img.str() + " has a foreign layer " + l.digest.str() +
                      " the pack does not hold (a docker-archive needs every layer)",
                  ENOENT);
    auto it = reg.blobs.find(l.digest);
    if (it == reg.blobs.end())
      throw Error(reg.pack->name() + ": registry storage lacks layer " + l.digest.str() + " of " + img.str(), ENOENT);
    files.emplace(l.digest, it->second);
    layers.push_back(blob_entry(l.digest));
  }
  json tags = json::array();
  for (auto& t : repo_tags) tags.push_back(t);
  json doc = json::array({json{{"Config", blob_entry(m.config->digest)}, {"RepoTags", tags}, {"Layers", layers}}});
  std::string manifest_json = doc.dump() + "\n";

  // Entries in sorted order: blobs/, blobs/sha256/, the blobs by digest, manifest.json.
  files.erase(m.config->digest);  // a config that is also a layer (never in practice) goes in once
  fs::path tmp = out.string() + ".tmp-" + std::to_string(getpid());
  try {
    TarWriter tar(tmp);
    tar.dir("blobs/");
    tar.dir("blobs/sha256/");
    std::map<std::string, std::pair<OciDigest, uint64_t>> blobs;  // by entry name
    blobs.emplace(blob_entry(m.config->digest), std::pair{m.config->digest, uint64_t(config.size())});
    for (auto& [d, size] : files) blobs.emplace(blob_entry(d), std::pair{d, size});
    for (auto& [name, ds] : blobs) {
      const OciDigest& d = ds.first;
      if (d == m.config->digest) {
        tar.file(name, config.size(), [&] { tar.put(config.data(), config.size()); });
        continue;
      }
      tar.file(name, ds.second, [&] { reg.copy_blob(d, [&](const char* p, size_t n) { tar.put(p, n); }); });
    }
    tar.file("manifest.json", manifest_json.size(), [&] { tar.put(manifest_json.data(), manifest_json.size()); });
    tar.finish();
    uint64_t n = tar.bytes();
    if (rename(tmp.c_str(), out.c_str()) != 0) {
      int err = errno;
      throw Error("cannot write " + out.string() + ": " + strerror(err), err);
    }
    return n;
  } catch (...) {
    unlink(tmp.c_str());
    throw;
  }
}

// What `kso-pack export-image --help` says it does.
constexpr const char* kExportImageHelp =
    "Write one image of the pack's registry storage as a docker-archive tar for 'docker load' / 'podman load' "
    "(the bootstrap images of an offline host: nginx, registry:2)";

void add_export_image_command(CLI::App& app, ExportImageCommand& cmd, std::string& which) {
  auto* s = add_pack_command(app, "export-image", kExportImageHelp, which, cmd.pack, cmd.bases);
  s->add_option("ref", cmd.ref,
                "Image as the pack's registry names it (library/nginx:1.25, kube-apiserver:v1.29.10, "
                "REPO@sha256:...), or a source reference mapping to it (nginx:1.25, registry.k8s.io/pause:3.9); "
                "no tag means latest")
      ->required();
  s->add_option("--platform", cmd.platform,
                "OS/ARCH[/VARIANT] to take from a multi-platform image (default: this machine's, " +
                    host_platform().str() + ")");
  s->add_option("-o,--output", cmd.output, "Archive to write (FILE.tar); written through a temp file")->required();
  s->add_option("--tag", cmd.tags,
                "Name it gets in 'docker load' (RepoTags), repeatable (default: the pack's REPO:TAG as docker "
                "names it, written out: docker.io/library/nginx:1.25; none for a digest reference)")
      ->type_name("NAME:TAG");
}

int run_export_image(const ExportImageCommand& c, ToolIo& io) {
  if (is_index_file(c.pack)) throw Error(c.pack + " is an index file (.kidx): it holds no image data", EINVAL);
  std::optional<Platform> want;
  if (!c.platform.empty()) try {
      want = images::parse_platform(c.platform);
    } catch (const Error& e) {
      throw UsageError(std::string("--platform: ") + e.what());
    }
  auto p = open_pack(c.pack, tool_search(io, c.bases));
  auto regs = find_registries(p, pack_paths(*p));
  PackImage img = find_pack_image(regs, c.ref, c.pack);
  auto [plat, digest] = choose_image_platform(img, want.value_or(host_platform()), want.has_value());
  if (!want && !img.top.is_index() && !images::platform_matches(host_platform(), plat))
    spdlog::warn("{} is a single-platform image for {}, not this machine's {}", img.str(), plat.str(),
                 host_platform().str());
  std::vector<std::string> tags = c.tags;
  if (tags.empty() && !img.tag.empty()) tags.push_back(load_name(img));
  uint64_t n = write_docker_archive(img, digest, tags, c.output);
  say(io.out, "exported: %s %s (%s) from %s to %s, %llu bytes\n", img.str().c_str(), plat.str().c_str(),
         digest.str().c_str(), c.pack.c_str(), c.output.c_str(), (unsigned long long)n);
  return kExitOk;
}

}  // namespace kso
