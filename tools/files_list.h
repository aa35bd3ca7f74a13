// The files-list source: kubespray `files.list` files (one URL a line),
// downloaded through the shared fetch layer into the cache dir and laid out
// like `wget -x`: <prefix>/<host>/<url path>. docs/FILES-LISTS.md has the rules.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "cli/tool_io.h"
#include "index/entry.h"
#include "fetch/digest.h"
#include "fetch/net_options.h"

namespace CLI {
class App;
}

namespace kso {

struct FilesListOptions {
  std::vector<std::filesystem::path> lists;  // --files-list, repeatable
  std::string prefix = "files";              // --files-prefix: pack dir the <host>/<path> tree goes under
  std::string checksums = "auto";            // "auto": also try <url>.sha256; "none": only list digests
  bool skip_missing = false;                 // 404/410 warns and skips instead of failing
};

// One URL of a list, parsed and mapped.
struct FilesListLine {
  std::string url;     // canonical: lower-case scheme and host, default port and fragment dropped
  std::string path;    // wget -x layout without prefix: "dl.k8s.io/release/v1.29.10/bin/linux/amd64/kubelet"
  std::optional<fetch::OciDigest> digest;  // from a "sha256:HEX" field (any case in the list)
  std::string where;   // "LIST:LINE" for messages
};

// Maps a URL to its wget -x path ("host[:port]/seg/seg[?query]") and
// canonical URL. Throws Error (no location in the message) if malformed.
std::string url_to_path(const std::string& url, std::string* canonical = nullptr);

// The inverse: a URL whose wget -x path is `path` ("host[:port]/seg/..."),
// https:// (the layout does not keep the scheme; kubespray downloads over
// https), each segment percent-encoded where a URL needs it; url_to_path() of
// the result gives `path` back. nullopt when no URL maps to `path`.
std::optional<std::string> path_to_url(const std::string& path);

// Parses one list's text; `name` is used in "name:line: ..." errors. Throws
// Error listing every malformed line.
std::vector<FilesListLine> parse_files_list(const std::string& text, const std::string& name);

// Reads and parses all lists, dropping repeats (same path) and rejecting
// conflicts (two digests for one file, a file where another line needs a dir).
std::vector<FilesListLine> read_files_lists(const std::vector<std::filesystem::path>& lists);

// Registers --files-list and --files-prefix (alias --prefix): build, check.
void add_files_list_selection_options(CLI::App& cmd, FilesListOptions& opts);
// Registers --files-list --checksums --skip-missing --files-prefix (alias --prefix) on `build`.
void add_files_list_options(CLI::App& build, FilesListOptions& opts);

// Downloads (or finds in the cache) every listed file, verifies digests, and
// returns one File entry per URL whose source_file is the cached copy. Throws
// Error when a list is malformed or any file failed; the cache keeps what
// completed and partial downloads for the next run.
// The progress display is on io.err.
std::vector<SourceEntry> fetch_files_lists(const FilesListOptions& opts, const fetch::NetOptions& net,
                                           ToolIo& io = ToolIo::process());

}  // namespace kso
