// The static build's opener (KSO_STATIC): no libcurl, so no remote packs. A
// static glibc binary cannot resolve host names without the host's NSS
// libraries, and Debian ships no static Kerberos or LDAP for libcurl; remote
// packs stay with the dynamic kso-fs (the .deb).
#include "fetch/remote.h"
#include "index/error.h"

namespace kso::fetch {

bool remote_supported() { return false; }

std::optional<RemoteStats> remote_stats(const ByteSource&) { return std::nullopt; }

bool set_endpoint(ByteSource&, const std::string&, const std::vector<std::string>&) { return false; }

SourceOpener source_opener(const RemoteOptions&) {
  return [](const std::string& where) -> std::shared_ptr<ByteSource> {
    if (is_url(where))
      throw Error(redact_url(where) + ": this kso-fs is the static build, which reads local packs only; "
                  "mount remote packs with the kso-fs of the .deb (or a dynamic build)");
    return open_local_file(where);
  };
}

}  // namespace kso::fetch
