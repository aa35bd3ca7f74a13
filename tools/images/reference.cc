#include "tools/images/reference.h"

#include <algorithm>
#include <cctype>

#include "index/error.h"

namespace kso::images {

namespace {

bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// One path component: [a-z0-9]+ separated by '.', '_', "__" or runs of '-'.
bool valid_component(std::string_view c) {
  if (c.empty() || !is_lower_alnum(c.front()) || !is_lower_alnum(c.back())) return false;
  for (size_t i = 0; i < c.size(); i++) {
    char ch = c[i];
    if (is_lower_alnum(ch)) continue;
    if (ch == '-') continue;  // any run of dashes
    if (ch == '.' || ch == '_') {
      // separators other than '-' may not repeat, except "__"
      if (i + 1 < c.size() && !is_lower_alnum(c[i + 1])) {
        if (!(ch == '_' && c[i + 1] == '_' && i + 2 < c.size() && is_lower_alnum(c[i + 2]))) return false;
        i++;
      }
      continue;
    }
    return false;
  }
  return true;
}

// A registry host: DNS-ish labels or an IPv4/[IPv6] address, optional :port.
bool valid_host(std::string_view h) {
  if (h.empty()) return false;
  std::string_view host = h, port;
  if (h.front() == '[') {
    auto close = h.find(']');
    if (close == std::string_view::npos) return false;
    host = h.substr(0, close + 1);
    std::string_view rest = h.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      port = rest.substr(1);
      if (port.empty()) return false;
    }
  } else {
    auto colon = h.rfind(':');
    if (colon != std::string_view::npos) {
      host = h.substr(0, colon);
      port = h.substr(colon + 1);
      if (port.empty()) return false;
    }
    if (host.empty()) return false;
    for (char c : host)
      if (!(std::isalnum((unsigned char)c) || c == '.' || c == '-')) return false;
  }
  for (char c : port)
    if (!std::isdigit((unsigned char)c)) return false;
  return true;
}

bool valid_tag(std::string_view t) {
  if (t.empty() || t.size() > 128) return false;
  if (!(std::isalnum((unsigned char)t[0]) || t[0] == '_')) return false;
  for (char c : t)
    if (!(std::isalnum((unsigned char)c) || c == '_' || c == '.' || c == '-')) return false;
  return true;
}

}  // namespace

std::string ImageRef::str() const {
  std::string s = registry + "/" + repository;
  if (!tag.empty()) s += ":" + tag;
  if (digest) s += "@" + digest->str();
  return s;
}

std::string ImageRef::local_name(bool keep_host) const {
  std::string n = keep_host ? registry + "/" + repository : repository;
  for (auto& c : n) c = c == ':' ? '_' : char(std::tolower((unsigned char)c));
  return n;
}

ImageRef parse_image_ref(std::string_view s) {
  if (s.empty()) throw Error("empty image reference");
  for (char c : s)
    if (std::isspace((unsigned char)c) || std::iscntrl((unsigned char)c))
      throw Error("image reference contains whitespace");
  ImageRef r;
  std::string_view rest = s;

  // digest: everything after '@'
  if (auto at = rest.find('@'); at != std::string_view::npos) {
    r.digest = fetch::OciDigest::parse(rest.substr(at + 1));
    rest = rest.substr(0, at);
  }

  // registry host: the first component, if it looks like one and more follow
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    std::string_view first = rest.substr(0, slash);
    if (first.find('.') != std::string_view::npos || first.find(':') != std::string_view::npos ||
        first == "localhost" || std::any_of(first.begin(), first.end(), [](char c) { return std::isupper((unsigned char)c); })) {
      if (!valid_host(first)) throw Error("malformed registry host '" + std::string(first) + "'");
      r.registry = std::string(first);
      rest = rest.substr(slash + 1);
    }
  }
  if (r.registry.empty() || r.registry == "index.docker.io" || r.registry == "registry-1.docker.io")
    r.registry = std::string(kDockerHub);

  // tag: after the last ':' of the path part
  if (auto colon = rest.rfind(':'); colon != std::string_view::npos) {
    std::string_view t = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
    if (!valid_tag(t)) throw Error("malformed tag '" + std::string(t) + "'");
    r.tag = std::string(t);
  }
  if (rest.empty()) throw Error("missing repository name");
  size_t start = 0;
  while (true) {
    size_t slash = rest.find('/', start);
    std::string_view comp = rest.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (!valid_component(comp))
      throw Error("malformed repository name '" + std::string(rest) +
                  "' (lower-case letters, digits and . _ - separators)");
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  r.repository = std::string(rest);
  if (r.registry == kDockerHub && r.repository.find('/') == std::string::npos)
    r.repository = "library/" + r.repository;
  // The limit applies to the name as it is stored and sent (library/ included),
  // so a reference's canonical form always parses again.
  if (r.repository.size() > 255) throw Error("repository name longer than 255 characters");
  if (r.tag.empty() && !r.digest) r.tag = "latest";
  return r;
}

std::string registry_api_host(const std::string& registry) {
  return registry == kDockerHub ? "registry-1.docker.io" : registry;
}

bool is_loopback_host(const std::string& host_port) {
  std::string host = host_port;
  if (!host.empty() && host.front() == '[') {
    host = host.substr(0, host.find(']') + 1);
    return host == "[::1]";
  }
  if (auto colon = host.rfind(':'); colon != std::string::npos) host = host.substr(0, colon);
  return host == "localhost" || host.rfind("127.", 0) == 0;
}

}  // namespace kso::images
