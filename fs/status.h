// kso-fs --status: which pack a running daemon serves and how its mount is
// doing. The daemon answers read-only extended attributes of the mount root
// (as DwarFS does); `kso-fs --status MNT` reads them with getxattr(2), so it
// needs no pack, no kso-pack and no socket: only the mount point.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kso {

struct FsContext;
struct ToolIo;

// Everything below as one JSON object (docs/DEPLOY.md, "Status and health").
inline constexpr const char* kStatusXattr = "user.kso.status";
// Single values, for `getfattr -n NAME --only-values MNT`.
inline constexpr const char* kPackXattr = "user.kso.pack";          // path, or URL without its query
inline constexpr const char* kIdentityXattr = "user.kso.identity";  // hex SHA-256, as kso-pack info prints it
inline constexpr const char* kVersionXattr = "user.kso.format_version";

// The value of attribute `name` of the mount root; nullopt for other names.
std::optional<std::string> status_xattr(const FsContext& c, std::string_view name);
// The names above, each NUL-terminated, as listxattr(2) returns them.
const std::string& status_xattr_names();
// The user.kso.status document: pack, identity, format version, bases,
// mount time and uptime, cache use, bytes served, reads, EIO replies, and for
// a remote pack what it fetched; `packs`: every pack of the mount (a union's
// in order; the single-pack fields above are the first pack's).
std::string status_json(const FsContext& c);

// kso-fs --status MNT [--json] [--max-eio N] [--timeout SECS] (`args`: kso-fs's
// arguments, without the program name), printing to io.out / io.err. A daemon
// that does not answer within the timeout ends the process (_exit 1): its
// getxattr cannot be interrupted. Exit status: 0 healthy, 1 MNT is not a kso-fs mount or its
// daemon does not answer, 2 usage, 3 degraded (more than N EIO replies since
// mount, or a remote pack whose object changed).
int status_main(const std::vector<std::string>& args, ToolIo& io);

}  // namespace kso
