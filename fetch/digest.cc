#include "fetch/digest.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "index/error.h"
#include "index/sha256.h"

namespace kso::fetch {

namespace {

constexpr size_t kHexDigits = 64;

// Why s is not a digest; empty if it is one.
std::string refusal(std::string_view s) {
  if (s.substr(0, OciDigest::kAlgorithm.size()) != OciDigest::kAlgorithm) {
    auto colon = s.find(':');
    if (colon == std::string_view::npos || colon == 0) return "no 'sha256:' algorithm prefix";
    return "unsupported digest algorithm '" + std::string(s.substr(0, std::min<size_t>(colon, 20))) + "' (only sha256)";
  }
  std::string_view hex = s.substr(OciDigest::kAlgorithm.size());
  if (hex.size() != kHexDigits) return "want 64 hex digits after 'sha256:'";
  for (char c : hex)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return "not lower-case hex";
  return "";
}

}  // namespace

OciDigest OciDigest::parse(std::string_view s) {
  if (std::string why = refusal(s); !why.empty()) {
    std::string shown(s.substr(0, 100));  // what the message quotes: printable
    for (auto& c : shown)
      if ((unsigned char)c < 0x20 || (unsigned char)c >= 0x7f) c = '?';
    throw Error("malformed digest '" + shown + "': " + why);
  }
  return OciDigest(std::string(s));
}

std::optional<OciDigest> OciDigest::try_parse(std::string_view s) {
  if (!refusal(s).empty()) return std::nullopt;
  return OciDigest(std::string(s));
}

OciDigest OciDigest::of(const kso::Digest& d) { return OciDigest(std::string(kAlgorithm) + to_hex(d)); }

std::string sha256_hex(std::string_view data) { return to_hex(sha256(data.data(), data.size())); }

std::string sha256_file(const std::filesystem::path& p) {
  int fd = open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error("cannot open " + p.string() + ": " + strerror(errno));
  Sha256 sha;
  std::string buf(1 << 20, '\0');
  ssize_t n;
  while ((n = read(fd, buf.data(), buf.size())) > 0) sha.update(buf.data(), size_t(n));
  int err = errno;
  close(fd);
  if (n < 0) throw Error("cannot read " + p.string() + ": " + strerror(err));
  return to_hex(sha.finish());
}

}  // namespace kso::fetch
