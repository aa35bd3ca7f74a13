// `kso-pack export-image PACK REF [--platform P] -o FILE.tar`: one image of
// the pack's registry storage as a docker-archive (what `docker save` writes
// and `docker load` / `podman load` / `skopeo ... docker-archive:` read):
// manifest.json, the config and the layers as stored (compressed), every blob
// checked against its digest as it is copied, in a deterministic tar. How the
// bootstrap images (nginx, registry:2) of an offline kit get onto a host that
// has no registry yet (docs/IMAGES.md, docs/DEPLOY.md).
#pragma once
#include <CLI/CLI.hpp>
#include "cli/tool_io.h"
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "fetch/digest.h"
#include "tools/images/manifest.h"
#include "tools/images/platform.h"
#include "tools/pack_registry.h"

namespace kso {

struct ExportImageCommand {
  std::string pack, ref, platform, output;
  std::vector<std::string> bases, tags;
};

void add_export_image_command(CLI::App& app, ExportImageCommand& cmd, std::string& which);
int run_export_image(const ExportImageCommand& cmd, ToolIo& io);  // prints to io.out / io.err

// An image of a pack's registry storage, as a reference names it.
struct PackImage {
  const PackRegistry* registry = nullptr;
  std::string repo, tag;     // tag "" when the reference is a digest
  fetch::OciDigest digest;   // what the reference names: an index or an image manifest
  images::Manifest top;      // its parsed bytes
  // The image manifests the pack holds for it, with their platforms (an index's
  // entries that are in the pack, attestations left out; a single-arch image's
  // config platform, "unknown/unknown" if it names none).
  std::vector<std::pair<images::Platform, fetch::OciDigest>> platforms;
  std::string str() const;   // "repo:tag" or "repo@sha256:..."
};

// Finds `ref` in `regs`: "REPO[:TAG]" or "REPO@sha256:<hex>" as the offline
// registry names the repository ("library/nginx:1.25", "kube-apiserver:v1.29.10"),
// or a source reference that maps to one ("nginx:1.25",
// "registry.k8s.io/kube-apiserver:v1.29.10"; docs/IMAGES.md). No tag means
// "latest". Throws Error naming `pack_name` and the images it has.
PackImage find_pack_image(const std::vector<PackRegistry>& regs, const std::string& ref, const std::string& pack_name);

// The name `docker load` gives a tagged image of the pack: REPO:TAG by docker's
// rules, written out ("library/nginx:1.25" -> "docker.io/library/nginx:1.25"),
// so that podman, which would prefix a bare name with localhost/, agrees.
std::string load_name(const PackImage& img);

// The platform of this machine ("linux/amd64" on x86_64, "linux/arm64" on aarch64).
images::Platform host_platform();

// The manifest of `img` for `want` (variant rules of docs/IMAGES.md). Throws
// Error listing the platforms the pack holds for it when none matches; a
// single-arch image matches any platform when `strict` is false.
std::pair<images::Platform, fetch::OciDigest> choose_image_platform(const PackImage& img, const images::Platform& want,
                                                                    bool strict);

// Writes image manifest `manifest` of `img` to `out` as a docker-archive with
// `repo_tags` (may be empty), through a temp file renamed into place. Returns
// the bytes written. Throws Error naming `out` or the blob at fault.
uint64_t write_docker_archive(const PackImage& img, const fetch::OciDigest& manifest,
                              const std::vector<std::string>& repo_tags, const std::filesystem::path& out);

}  // namespace kso
