#include "tools/pack_kit.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <set>

#include "fetch/digest.h"
#include "fetch/remote.h"
#include "index/error.h"
#include "index/hash.h"
#include "index/pack_index_file.h"
#include "index/pack_open.h"
#include "tools/images/platform.h"
#include "tools/kso_pack.h"
#include "tools/pack_args.h"
#include "tools/pack_export.h"
#include "tools/pack_registry.h"
#include "tools/pack_source.h"
#include "tools/signature.h"

#ifndef KSO_SOURCE_DEPLOY_DIR
#define KSO_SOURCE_DEPLOY_DIR ""
#endif

namespace kso {
namespace fs = std::filesystem;
namespace {

// The deploy files a kit must have (the repository's deploy/, section 3 of docs/DEPLOY.md).
const char* const kDeployFiles[] = {"compose.yaml",   "nginx.conf",   "registry-config.yml",
                                    "srv-kso.mount",  "kso-fs@.service", "kso-switch.sh"};
// Image repositories a kit exports for bootstrap when --image is not given.
const char* const kBootstrapRepos[] = {"library/nginx", "nginx", "library/registry", "registry"};
const char* const kArches[] = {"amd64", "arm64"};

void write_text(const fs::path& p, const std::string& data) {
  std::ofstream f(p, std::ios::binary);
  f << data;
  f.close();
  if (!f) throw Error("cannot write " + p.string() + ": " + strerror(errno));
}

void copy_into(const fs::path& from, const fs::path& to, fs::perms mode) {
  std::error_code ec;
  fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
  if (ec) throw Error("cannot copy " + from.string() + " to " + to.string() + ": " + ec.message());
  fs::permissions(to, mode, ec);
  if (ec) throw Error("cannot chmod " + to.string() + ": " + ec.message());
}

constexpr fs::perms kFile = fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                            fs::perms::others_read;
constexpr fs::perms kExec = kFile | fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec;

// The .deb of `arch` in `dist`: kso_<version>_<arch>.deb, exactly one.
std::optional<fs::path> find_deb(const fs::path& dist, const std::string& arch) {
  std::vector<fs::path> found;
  std::error_code ec;
  for (auto& e : fs::directory_iterator(dist, ec)) {
    std::string n = e.path().filename().string();
    if (n.rfind("kso_", 0) == 0 && n.ends_with("_" + arch + ".deb") && e.is_regular_file()) found.push_back(e.path());
  }
  if (found.empty()) return std::nullopt;
  std::sort(found.begin(), found.end());
  if (found.size() > 1) {
    std::string names;
    for (auto& f : found) names += (names.empty() ? "" : ", ") + f.filename().string();
    throw Error(dist.string() + ": several .debs for " + arch + " (" + names + "): keep one version in it", EEXIST);
  }
  return found.front();
}

std::string image_file_name(const PackImage& img, const images::Platform& p) {
  std::string repo = img.repo;
  std::replace(repo.begin(), repo.end(), '/', '_');
  std::string tag = img.tag.empty() ? img.digest.hex().substr(0, 12) : img.tag;
  return repo + "-" + tag + "-" + p.os + "-" + p.arch + (p.variant.empty() ? "" : "-" + p.variant) + ".tar";
}

std::string offline_yml(const std::string& host) {
  return R"(# kubespray offline.yml for a kso kit: copy it to
# inventory/<cluster>/group_vars/all/offline.yml and set kso_host.
# kso_host serves the kit's pack (deploy/compose.yaml on the mount):
# nginx on :8080 serves files/ (wget -x layout), registry:2 on :5000 serves registry/.
kso_host: ")" + host + R"("
files_repo: "http://{{ kso_host }}:8080/files"
registry_host: "{{ kso_host }}:5000"

# Images: one registry for every source registry (kso-pack strips the source
# host, as kubespray's offline tooling does); amd64 and arm64 nodes pull the
# same references.
kube_image_repo: "{{ registry_host }}"
gcr_image_repo: "{{ registry_host }}"
github_image_repo: "{{ registry_host }}"
docker_image_repo: "{{ registry_host }}"
quay_image_repo: "{{ registry_host }}"

# The registry speaks plain HTTP.
containerd_registries_mirrors:
  - prefix: "{{ registry_host }}"
    mirrors:
      - host: "http://{{ registry_host }}"
        capabilities: ["pull", "resolve"]
        skip_verify: true

# Files: the upstream URL with "https://" replaced by "{{ files_repo }}/"
# (docs/DEPLOY.md section 5; keep your kubespray version's templates).
kubeadm_download_url: "{{ files_repo }}/dl.k8s.io/release/v{{ kube_version }}/bin/linux/{{ image_arch }}/kubeadm"
kubectl_download_url: "{{ files_repo }}/dl.k8s.io/release/v{{ kube_version }}/bin/linux/{{ image_arch }}/kubectl"
kubelet_download_url: "{{ files_repo }}/dl.k8s.io/release/v{{ kube_version }}/bin/linux/{{ image_arch }}/kubelet"
cni_download_url: "{{ files_repo }}/github.com/containernetworking/plugins/releases/download/v{{ cni_version }}/cni-plugins-linux-{{ image_arch }}-v{{ cni_version }}.tgz"
crictl_download_url: "{{ files_repo }}/github.com/kubernetes-sigs/cri-tools/releases/download/v{{ crictl_version }}/crictl-v{{ crictl_version }}-{{ ansible_system | lower }}-{{ image_arch }}.tar.gz"
etcd_download_url: "{{ files_repo }}/github.com/etcd-io/etcd/releases/download/v{{ etcd_version }}/etcd-v{{ etcd_version }}-linux-{{ image_arch }}.tar.gz"
calicoctl_download_url: "{{ files_repo }}/github.com/projectcalico/calico/releases/download/v{{ calico_ctl_version }}/calicoctl-linux-{{ image_arch }}"
calico_crds_download_url: "{{ files_repo }}/github.com/projectcalico/calico/raw/v{{ calico_version }}/manifests/crds.yaml"
helm_download_url: "{{ files_repo }}/get.helm.sh/helm-v{{ helm_version }}-linux-{{ image_arch }}.tar.gz"
runc_download_url: "{{ files_repo }}/github.com/opencontainers/runc/releases/download/v{{ runc_version }}/runc.{{ image_arch }}"
containerd_download_url: "{{ files_repo }}/github.com/containerd/containerd/releases/download/v{{ containerd_version }}/containerd-{{ containerd_version }}-linux-{{ image_arch }}.tar.gz"
nerdctl_download_url: "{{ files_repo }}/github.com/containerd/nerdctl/releases/download/v{{ nerdctl_version }}/nerdctl-{{ nerdctl_version }}-{{ ansible_system | lower }}-{{ image_arch }}.tar.gz"
)";
}

struct KitState {
  std::vector<std::string> mount;    // packs/ names of the packs given (what to mount)
  std::vector<std::string> all_packs;
  std::vector<std::string> images;   // images/ names
  std::vector<std::string> debs;     // deb/ names
  std::vector<std::string> missing;  // what the kit lacks, one line each
  bool have_static = false;
};

std::string readme(const KitState& k, bool signed_) {
  std::string s =
      "kso offline kit (made by kso-pack kit; docs/DEPLOY.md, section \"The offline kit\", has the details)\n"
      "\n"
      "packs/     the packs";
  s += k.all_packs.size() > k.mount.size() ? " and the bases of their delta chains (keep them next to each other)\n"
                                           : "\n";
  s += "bin/      static kso-fs for linux amd64 and arm64 (any distribution with FUSE 3's fusermount3)\n"
       "deb/      kso_<version>_<arch>.deb: kso-pack and kso-fs for Debian 12+ / Ubuntu 24.04+\n"
       "deploy/   compose.yaml, systemd units, nginx.conf, registry-config.yml, kso-switch.sh\n"
       "images/   docker-archives of the nginx and registry images, for 'docker load' / 'podman load'\n"
       "offline.yml  kubespray's inventory/<cluster>/group_vars/all/offline.yml: set kso_host\n"
       "SHA256SUMS   of every file here" +
       std::string(signed_ ? "; SHA256SUMS.sig its Ed25519 signature\n" : "\n");
  s += "\nOn the offline host, as root, in this directory:\n\n";
  s += "1. Check the kit:\n     sha256sum -c SHA256SUMS\n";
  if (signed_)
    s += "     openssl pkeyutl -verify -pubin -inkey builder.pub -rawin -in SHA256SUMS -sigfile SHA256SUMS.sig\n"
         "   (builder.pub: the builder's public key, obtained separately)\n";
  s += "2. Install kso-fs (ARCH: amd64 or arm64, 'uname -m' says x86_64 or aarch64):\n"
       "     Debian 12+ / Ubuntu 24.04+:   apt-get install ./deb/kso_*_ARCH.deb\n"
       "     any other (RHEL 8/9, ...):    install -m 0755 bin/kso-fs-linux-ARCH /usr/local/bin/kso-fs\n"
       "                                   (needs fusermount3: the fuse3 package)\n";
  s += "3. Install and mount the pack:\n";
  s += "     install -m 0644 packs/* /srv/\n";
  for (auto& m : k.mount) s += "     mkdir -p /srv/kso && kso-fs /srv/" + m + " /srv/kso -o allow_other\n";
  s += "   (a delta finds its bases next to it; at boot: docs/DEPLOY.md section 2, deploy/srv-kso.mount)\n";
  s += "4. Load the bootstrap images (ARCH as above):\n";
  if (k.images.empty()) s += "     (none in this kit: the packs hold no nginx or registry image)\n";
  for (auto& i : k.images) s += "     podman load -i images/" + i + "    # or: docker load -i images/" + i + "\n";
  s += "5. Serve: cd deploy && docker compose up -d   (or podman-compose up -d;\n"
       "   compose.yaml runs nginx:1.25 and registry:2: for other tags set KSO_NGINX_IMAGE and\n"
       "   KSO_REGISTRY_IMAGE to the names the loads printed)\n"
       "   then: curl http://localhost:8080/files/   and   curl http://localhost:5000/v2/_catalog\n";
  s += "6. kubespray: cp offline.yml inventory/<cluster>/group_vars/all/offline.yml, set kso_host\n";
  if (!k.missing.empty()) {
    s += "\nMISSING from this kit (made with --allow-missing):\n";
    for (auto& m : k.missing) s += "  " + m + "\n";
  }
  return s;
}

// "HEX  PATH" for every regular file below `dir` but SHA256SUMS*, sorted by path.
std::string sha256sums(const fs::path& dir) {
  std::vector<std::string> rel;
  for (auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file() && !e.is_symlink()) {
      std::string r = fs::relative(e.path(), dir).string();
      if (r != "SHA256SUMS" && r != "SHA256SUMS.sig") rel.push_back(r);
    }
  std::sort(rel.begin(), rel.end());
  std::string out;
  for (auto& r : rel) out += fetch::sha256_file(dir / r) + "  " + r + "\n";
  return out;
}

bool non_empty_dir(const fs::path& p) {
  std::error_code ec;
  return fs::exists(p, ec) && (!fs::is_directory(p, ec) || !fs::is_empty(p, ec));
}

void make_kit(const KitCommand& c, const fs::path& stage, KitState& k, ToolIo& io) {
  for (auto* d : {"packs", "bin", "deb", "deploy", "images"}) fs::create_directories(stage / d);

  // Packs and their chains' bases, each once (by identity), under its own file name.
  std::map<std::string, Digest> named;  // packs/ name -> identity
  std::vector<std::shared_ptr<Pack>> opened;
  auto add_pack = [&](const Pack& p, bool given) {
    std::string name = fs::path(p.name()).filename().string();
    if (auto it = named.find(name); it != named.end()) {
      if (it->second != p.identity())
        throw Error("two packs named " + name + " (" + p.name() + " and another): rename one", EEXIST);
      if (given && std::find(k.mount.begin(), k.mount.end(), name) == k.mount.end()) k.mount.push_back(name);
      return;
    }
    named.emplace(name, p.identity());
    copy_into(p.name(), stage / "packs" / name, kFile);
    if (fs::exists(p.name() + ".sig")) copy_into(p.name() + ".sig", stage / "packs" / (name + ".sig"), kFile);
    k.all_packs.push_back(name);
    if (given) k.mount.push_back(name);
    spdlog::info("kit: packs/{}{}", name, given ? "" : " (a base)");
  };
  for (auto& path : c.packs) {
    auto p = open_pack(path, tool_search(io, c.bases));
    opened.push_back(p);
    add_pack(*p, true);
    for (const Pack* b : base_chain(*p)) add_pack(*b, false);
  }

  // What scripts/package.sh puts in dist/.
  fs::path dist = c.dist;
  auto missing = [&](const fs::path& what) {
    if (!c.allow_missing)
      throw Error(what.string() + " is missing (scripts/package.sh makes it; --dist DIR names another place, "
                                  "--allow-missing makes a kit without it)",
                  ENOENT);
    spdlog::warn("kit: {} is missing: the kit goes without it (--allow-missing)", what.string());
    k.missing.push_back(what.filename().string() + " (not in " + dist.string() + ")");
  };
  for (auto* a : kArches) {
    fs::path bin = dist / ("kso-fs-linux-" + std::string(a));
    if (fs::is_regular_file(bin)) {
      copy_into(bin, stage / "bin" / bin.filename(), kExec);
      k.have_static = true;
    } else {
      missing(bin);
    }
  }
  for (auto* a : kArches) {
    if (auto deb = find_deb(dist, a)) {
      copy_into(*deb, stage / "deb" / deb->filename(), kFile);
      k.debs.push_back(deb->filename().string());
    } else {
      missing(dist / ("kso_<version>_" + std::string(a) + ".deb"));
    }
  }

  // Deploy files: every regular file of the directory, the known ones required.
  fs::path deploy = c.deploy.empty() ? default_deploy_dir() : fs::path(c.deploy);
  if (deploy.empty())
    throw Error("no deploy files found (looked in " + (fs::path("PREFIX") / "share/kso/deploy").string() + ", " +
                    std::string(KSO_SOURCE_DEPLOY_DIR) + ", /usr/share/kso/deploy): name them with --deploy DIR",
                ENOENT);
  for (auto* f : kDeployFiles)
    if (!fs::is_regular_file(deploy / f))
      throw Error((deploy / f).string() + " is missing: --deploy must name the deploy files' directory", ENOENT);
  for (auto& e : fs::directory_iterator(deploy))
    if (e.is_regular_file())
      copy_into(e.path(), stage / "deploy" / e.path().filename(),
                access(e.path().c_str(), X_OK) == 0 ? kExec : kFile);
  spdlog::info("kit: deploy/ from {}", deploy.string());

  // Bootstrap images, for every kit platform each has.
  images::PlatformSet plats =
      c.platforms.empty() ? images::PlatformSet::defaults() : images::PlatformSet::parse(c.platforms);
  if (plats.all) throw UsageError("kit --platform: name the platforms (all is not one)");
  std::vector<std::vector<PackRegistry>> regs;
  for (auto& p : opened) regs.push_back(find_registries(p, pack_paths(*p)));
  std::vector<std::pair<size_t, std::string>> refs;  // (pack, ref)
  if (!c.images.empty()) {
    for (auto& ref : c.images) {
      std::string why;
      size_t found = regs.size();
      for (size_t i = 0; i < regs.size() && found == regs.size(); i++) try {
          find_pack_image(regs[i], ref, c.packs[i]);
          found = i;
        } catch (const Error& e) {
          why = e.what();
        }
      if (found == regs.size()) throw Error("--image " + ref + ": " + why, ENOENT);
      refs.emplace_back(found, ref);
    }
  } else {
    std::set<std::string> seen;
    for (size_t i = 0; i < regs.size(); i++)
      for (auto& r : regs[i])
        for (auto& [rt, d] : r.tags)
          if (std::find(std::begin(kBootstrapRepos), std::end(kBootstrapRepos), rt.first) != std::end(kBootstrapRepos) &&
              seen.insert(rt.first + ":" + rt.second).second)
            refs.emplace_back(i, rt.first + ":" + rt.second);
    if (refs.empty()) {
      spdlog::warn("kit: the packs hold no nginx or registry image: images/ stays empty (--image REF picks others)");
      k.missing.push_back("images/: the packs hold no nginx or registry image");
    }
  }
  for (auto& [i, ref] : refs) {
    PackImage img = find_pack_image(regs[i], ref, c.packs[i]);
    for (auto& want : plats.list) {
      std::optional<std::pair<images::Platform, fetch::OciDigest>> chosen;
      try {
        chosen = choose_image_platform(img, want, true);
      } catch (const Error& e) {
        spdlog::warn("kit: {}", e.what());
        k.missing.push_back(img.str() + " for " + want.str() + " (not in " + c.packs[i] + ")");
        continue;
      }
      std::string name = image_file_name(img, chosen->first);
      std::vector<std::string> tags;
      if (!img.tag.empty()) tags.push_back(load_name(img));
      write_docker_archive(img, chosen->second, tags, stage / "images" / name);
      k.images.push_back(name);
      spdlog::info("kit: images/{}", name);
    }
  }

  write_text(stage / "offline.yml", offline_yml(c.host));
  write_text(stage / "README.txt", readme(k, !c.key.empty()));
  std::string sums = sha256sums(stage);
  write_text(stage / "SHA256SUMS", sums);
  if (!c.key.empty()) write_text(stage / "SHA256SUMS.sig", ed25519_sign(c.key, sums));
}

}  // namespace

fs::path default_deploy_dir() {
  std::vector<fs::path> tries;
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) tries.push_back(exe.parent_path().parent_path() / "share/kso/deploy");
  if (*KSO_SOURCE_DEPLOY_DIR) tries.emplace_back(KSO_SOURCE_DEPLOY_DIR);
  tries.emplace_back("/usr/share/kso/deploy");
  for (auto& t : tries)
    if (fs::is_regular_file(t / "compose.yaml", ec)) return t;
  return {};
}

void add_kit_command(CLI::App& app, KitCommand& cmd, std::string& which) {
  auto* s = app.add_subcommand(
      "kit",
      "Lay out the offline kit in DIR: the packs (and their delta bases), static kso-fs and .debs for amd64 and "
      "arm64, deploy files, a kubespray offline.yml, docker-archives of the nginx and registry images, README.txt "
      "and SHA256SUMS");
  s->add_option("packs", cmd.packs, "Packs to carry (local files); a delta brings its bases")->required();
  s->add_option("-o,--output", cmd.output, "Kit directory to write (must not exist or be empty; see --force)")
      ->required();
  s->add_option("--base", cmd.bases, "A delta's base pack (default: found next to the delta by identity); repeatable")
      ->type_name("PACK")
      ->allow_extra_args(false);
  s->add_option("--dist", cmd.dist,
                "Where scripts/package.sh put kso-fs-linux-{amd64,arm64} and kso_<version>_{amd64,arm64}.deb "
                "(default: dist, i.e. ./dist: run from the source tree)")
      ->type_name("DIR");
  s->add_option("--deploy", cmd.deploy,
                "Deploy files to copy (default: the first holding compose.yaml of PREFIX/share/kso/deploy for "
                "the PREFIX kso-pack runs from (the .deb's /usr/share/kso/deploy), " +
                    std::string(*KSO_SOURCE_DEPLOY_DIR ? KSO_SOURCE_DEPLOY_DIR : "the source tree's deploy/") +
                    " (the source tree it was built from), /usr/share/kso/deploy)")
      ->type_name("DIR");
  s->add_option("--image", cmd.images,
                "Image to export into images/ for docker/podman load, repeatable (default: every tag of nginx and "
                "registry in the packs' registries: library/nginx, nginx, library/registry, registry)")
      ->type_name("REF");
  s->add_option("--platform", cmd.platforms,
                "Platforms to export the images for, comma-separated (default linux/amd64,linux/arm64)")
      ->type_name("OS/ARCH[/VARIANT]");
  s->add_option("--host", cmd.host, "kso_host in offline.yml: the offline host's name or address (default HOST)");
  s->add_option("--key", cmd.key, "PEM Ed25519 private key: also write SHA256SUMS.sig, the raw signature of SHA256SUMS");
  s->add_flag("--allow-missing", cmd.allow_missing,
              "Make the kit even if --dist lacks a static kso-fs or a .deb (warned, and listed in README.txt)");
  s->add_flag("--force", cmd.force, "Replace DIR if it exists and is not empty");
  s->callback([&which, s] { which = s->get_name(); });
}

int run_kit(const KitCommand& c, ToolIo& io) {
  for (auto& p : c.packs) {
    if (fetch::is_url(p)) throw UsageError("kit carries local pack files: " + p + " is a URL");
    if (is_index_file(p)) throw Error(p + " is an index file (.kidx), not a pack", EINVAL);
  }
  fs::path out = fs::path(c.output).lexically_normal();
  if (out.filename().empty()) out = out.parent_path();
  if (non_empty_dir(out) && !c.force)
    throw Error(out.string() + " exists and is not empty (use --force to replace it)", EEXIST);
  // Made next to DIR and renamed into place: no half kit under DIR's name.
  fs::path stage = out.string() + ".tmp-kit-" + std::to_string(getpid());
  std::error_code ec;
  fs::remove_all(stage, ec);
  if (!fs::create_directories(stage, ec) || ec)
    throw Error("cannot create " + stage.string() + ": " + (ec ? ec.message() : "exists"));
  KitState k;
  try {
    make_kit(c, stage, k, io);
    if (fs::exists(out)) fs::remove_all(out);
    fs::rename(stage, out);
  } catch (...) {
    fs::remove_all(stage, ec);
    throw;
  }
  size_t files = 0;
  uint64_t bytes = 0;
  for (auto& e : fs::recursive_directory_iterator(out))
    if (e.is_regular_file()) files++, bytes += e.file_size();
  say(io.out, "kit: %s: %zu packs, %zu images, %zu .debs, %s static kso-fs, %zu files, %llu bytes%s\n", out.c_str(),
         k.all_packs.size(), k.images.size(), k.debs.size(), k.have_static ? "with" : "no", files,
         (unsigned long long)bytes, k.missing.empty() ? "" : ("; MISSING " + std::to_string(k.missing.size()) +
                                                               " (README.txt lists them)")
                                                              .c_str());
  return kExitOk;
}

}  // namespace kso
