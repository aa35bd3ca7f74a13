// Image references as written in images.list ("registry.k8s.io/pause:3.9",
// "nginx:1.25", "quay.io/cilium/cilium:v1.15.8@sha256:...") and the names
// they get in the offline registry.
#pragma once
#include <optional>
#include <string>
#include <string_view>

#include "fetch/digest.h"

namespace kso::images {

// Docker Hub's canonical name; references without a registry host use it.
inline constexpr std::string_view kDockerHub = "docker.io";

struct ImageRef {
  std::string registry;    // "docker.io", "registry.k8s.io", "127.0.0.1:5000"
  std::string repository;  // "library/nginx", "calico/node", "kube-apiserver"
  std::string tag;         // "v1.29.10"; empty only when pinned by digest alone
  std::optional<fetch::OciDigest> digest;  // when pinned

  // Canonical full form: "docker.io/library/nginx:1.25[@sha256:...]".
  std::string str() const;
  // Source repository: "docker.io/library/nginx".
  std::string source_repo() const { return registry + "/" + repository; }
  // Repository name in the offline registry: the source path with the host
  // stripped (kubespray's convention), or kept when keep_host, in lower case
  // and with a port's ':' written '_' ("h:5000" -> "h_5000": no client could
  // parse a ':' inside a repository path).
  std::string local_name(bool keep_host) const;
  // Manifest reference to ask the registry for: the digest if pinned, else the tag.
  std::string manifest_ref() const { return digest ? digest->str() : tag; }
};

// Parses one reference, normalizing Docker Hub short names ("nginx" ->
// docker.io/library/nginx, "index.docker.io" -> "docker.io") and defaulting
// the tag to "latest" when neither tag nor digest is given.
// Throws kso::Error explaining what is wrong.
ImageRef parse_image_ref(std::string_view s);

// Host the Registry API of `registry` lives on: Docker Hub's is registry-1.docker.io.
std::string registry_api_host(const std::string& registry);

// True for hosts on the loopback interface (localhost, 127.x.y.z, [::1]),
// with or without a port; they are spoken to over plain HTTP like docker does.
bool is_loopback_host(const std::string& host_port);

}  // namespace kso::images
