#include "tools/files_list.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "index/error.h"
#include "fetch/remote.h"
#include "fetch/http.h"
#include "tools/pack_prefix.h"
#include "tools/progress.h"
#include "tools/text.h"

namespace kso {

namespace fs = std::filesystem;

namespace {

constexpr size_t kMaxSegment = 255;       // NAME_MAX of the filesystems wget -x writes to
constexpr size_t kMaxListedErrors = 20;   // malformed lines spelled out in the error

bool is_ctl(unsigned char c) { return c < 0x20 || c == 0x7f; }

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes once. Rejects bad escapes, control characters and %25 (a
// literal '%': wget -x decodes such names a second time, so no layout matches).
std::string decode(std::string_view s, const char* what) {
  std::string out;
  for (size_t i = 0; i < s.size(); i++) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) throw Error(std::string("truncated %-escape in ") + what);
      int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
      if (h < 0 || l < 0) throw Error(std::string("bad %-escape in ") + what);
      c = char(h * 16 + l);
      if (c == '%') throw Error(std::string("%25 (a literal '%') in ") + what + " is not supported");
      i += 2;
    }
    if (is_ctl((unsigned char)c)) throw Error(std::string("control character in ") + what);
    out += c;
  }
  return out;
}

// An http(s) URL's scheme (lower case), host and port (empty when it is the
// scheme's default), as libcurl's URL API parses "<scheme>://<auth>/".
struct Origin {
  std::string scheme, host, port;
};

Origin parse_origin(const std::string& scheme, const std::string& auth) {
  std::string origin = scheme + "://" + auth + "/";
  std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> u(curl_url(), curl_url_cleanup);
  if (!u) throw Error("out of memory parsing a URL");
  auto get = [&](CURLUPart what) -> std::string {
    char* p = nullptr;
    if (curl_url_get(u.get(), what, &p, 0) != CURLUE_OK || !p) return "";
    std::string v = p;
    curl_free(p);
    return v;
  };
  switch (CURLUcode rc = curl_url_set(u.get(), CURLUPART_URL, origin.c_str(), CURLU_NON_SUPPORT_SCHEME)) {
    case CURLUE_OK: break;
    case CURLUE_BAD_PORT_NUMBER: throw Error("bad port in '" + auth + "'");
    case CURLUE_NO_HOST: throw Error("no host");
    case CURLUE_BAD_IPV6: throw Error("IPv6 address hosts are not supported");
    case CURLUE_BAD_HOSTNAME: throw Error("bad host '" + auth + "'");
    case CURLUE_BAD_LOGIN:
    case CURLUE_BAD_USER:
    case CURLUE_BAD_PASSWORD: throw Error("credentials in URL are not supported");
    default: throw Error(std::string("malformed URL (") + curl_url_strerror(rc) + ")");
  }
  Origin o{get(CURLUPART_SCHEME), get(CURLUPART_HOST), get(CURLUPART_PORT)};
  if (o.scheme != "http" && o.scheme != "https")
    throw Error("unsupported scheme '" + o.scheme + "' (only http and https)");
  if (!get(CURLUPART_USER).empty() || !get(CURLUPART_PASSWORD).empty() || !get(CURLUPART_OPTIONS).empty())
    throw Error("credentials in URL are not supported");
  if (o.host.empty()) throw Error("no host");
  if (o.host.front() == '[') throw Error("IPv6 address hosts are not supported");
  if (o.port == "0") throw Error("bad port in '" + auth + "'");
  if (o.port == (o.scheme == "http" ? "80" : "443")) o.port.clear();
  return o;
}

}  // namespace

std::string url_to_path(const std::string& url, std::string* canonical) {
  for (unsigned char c : url)
    if (is_ctl(c) || c == ' ') throw Error("control character or space in URL");
  auto sep = url.find("://");
  if (sep == std::string::npos) {
    if (!url.empty() && url[0] == '/') throw Error("a file path, not a URL (only http:// and https:// URLs)");
    throw Error("not a URL (expected http:// or https://)");
  }
  // Scheme, user info, host and port: libcurl's URL parser, given only what
  // comes before the path (the path and query are the wget -x rules below).
  size_t auth_end = url.find_first_of("/?#", sep + 3);
  std::string auth = url.substr(sep + 3, auth_end == std::string::npos ? std::string::npos : auth_end - sep - 3);
  Origin o = parse_origin(url.substr(0, sep), auth);
  const std::string& scheme = o.scheme;
  const std::string& port = o.port;
  std::string host = lower(o.host);
  for (char c : host)
    if (!(isalnum((unsigned char)c) || c == '-' || c == '.' || c == '_'))
      throw Error("bad character in host '" + host + "'");
  if (host.front() == '.' || host.find("..") != std::string::npos) throw Error("bad host '" + host + "'");

  std::string rest = auth_end == std::string::npos ? "" : url.substr(auth_end);
  if (auto hash = rest.find('#'); hash != std::string::npos) rest.resize(hash);  // fragments never reach the server
  std::string raw_path = rest, query;
  bool has_query = false;
  if (auto q = rest.find('?'); q != std::string::npos) {
    raw_path = rest.substr(0, q);
    query = rest.substr(q + 1);
    has_query = true;
  }
  if (raw_path.empty() || raw_path == "/") throw Error("no file path in URL (names a directory listing)");

  std::string out = host + (port.empty() ? "" : ":" + port);
  std::vector<std::string> segs;
  size_t start = 1;
  while (true) {
    size_t slash = raw_path.find('/', start);
    std::string seg = raw_path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (seg.empty())
      throw Error(slash == std::string::npos ? "URL ends in '/' (names a directory, not a file)"
                                             : "empty path segment ('//')");
    std::string d = decode(seg, "path");
    if (d == "." || d == "..") throw Error("'" + d + "' path segment");
    if (d.find('/') != std::string::npos) throw Error("%2F (an encoded '/') in a path segment");
    segs.push_back(d);
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  if (has_query) {
    // wget -x: "name?query", decoded, with '/' written as %2F.
    std::string d = decode(query, "query"), q;
    for (char c : d) q += c == '/' ? std::string("%2F") : std::string(1, c);
    segs.back() += "?" + q;
  }
  for (const auto& s : segs) {
    if (s.size() > kMaxSegment) throw Error("path segment longer than 255 bytes");
    out += "/" + s;
  }
  if (canonical)
    *canonical = scheme + "://" + host + (port.empty() ? "" : ":" + port) + raw_path + (has_query ? "?" + query : "");
  return out;
}

std::optional<std::string> path_to_url(const std::string& path) {
  size_t slash = path.find('/');
  if (slash == std::string::npos || slash == 0) return std::nullopt;
  std::string rest = path.substr(slash + 1), query;
  bool has_query = false;
  if (size_t q = rest.find('?'); q != std::string::npos && rest.find('/', q) == std::string::npos) {
    // "name?query" of the last segment; '/' in the query was written %2F
    for (size_t i = q + 1; i < rest.size(); i++)
      if (rest.compare(i, 3, "%2F") == 0) {
        query += '/';
        i += 2;
      } else {
        query += rest[i];
      }
    rest.resize(q);
    has_query = true;
  }
  // RFC 3986: what a path segment (pchar) and a query may hold unescaped.
  constexpr std::string_view kSubDelims = "!$&'()*+,;=:@";
  std::string url = "https://" + path.substr(0, slash);
  for (size_t s = 0; s <= rest.size();) {
    size_t e = rest.find('/', s);
    if (e == std::string::npos) e = rest.size();
    url += "/" + url_escape(std::string_view(rest).substr(s, e - s), kSubDelims);
    s = e + 1;
  }
  if (has_query) url += "?" + url_escape(query, "!$&'()*+,;=:@/?");
  try {
    if (url_to_path(url) == path) return url;
  } catch (const Error&) {
  }
  return std::nullopt;
}

std::vector<FilesListLine> parse_files_list(const std::string& text, const std::string& name) {
  std::vector<FilesListLine> out;
  std::vector<std::string> errors;
  std::istringstream in(text);
  std::string line;
  for (int no = 1; std::getline(in, line); no++) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (no == 1) strip_utf8_bom(line);
    std::string where = name + ":" + std::to_string(no);
    std::vector<std::string> tok;
    std::istringstream ls(line);
    for (std::string t; ls >> t;) {
      if (t[0] == '#') break;  // comment to the end of the line
      tok.push_back(t);
    }
    if (tok.empty()) {
      // A blank or comment line: still no control characters allowed.
      bool bad = false;
      for (unsigned char c : line) bad |= is_ctl(c) && c != '\t';
      if (bad) errors.push_back(where + ": control character");
      continue;
    }
    try {
      FilesListLine l;
      l.where = where;
      l.path = url_to_path(tok[0], &l.url);
      for (size_t i = 1; i < tok.size(); i++) {
        if (tok[i].compare(0, 7, "sha256:") != 0 || l.digest)
          throw Error("unexpected '" + tok[i] + "' after the URL (only one sha256:HEX allowed)");
        l.digest = fetch::OciDigest::parse(lower(tok[i]));  // lists may write the hex in upper case
      }
      out.push_back(std::move(l));
    } catch (const Error& e) {
      errors.push_back(where + ": " + e.what() + ": " + line.substr(0, 200));
    }
  }
  if (!errors.empty()) throw Error(malformed_lines("files list", errors, kMaxListedErrors), EINVAL);
  return out;
}

std::vector<FilesListLine> read_files_lists(const std::vector<fs::path>& lists) {
  std::vector<FilesListLine> all;
  std::string errors;
  for (const auto& p : lists) {
    std::ifstream f(p, std::ios::binary);
    if (!f) throw Error("cannot read files list " + p.string(), ENOENT);
    std::stringstream ss;
    ss << f.rdbuf();
    try {
      auto v = parse_files_list(ss.str(), p.string());
      all.insert(all.end(), v.begin(), v.end());
    } catch (const Error& e) {
      errors += (errors.empty() ? "" : "\n") + std::string(e.what());
    }
  }
  if (!errors.empty()) throw Error(errors, EINVAL);

  std::vector<FilesListLine> out;
  std::map<std::string, size_t> by_path;
  for (auto& l : all) {
    auto [it, fresh] = by_path.emplace(l.path, out.size());
    if (fresh) {
      out.push_back(l);
      continue;
    }
    auto& first = out[it->second];
    if (l.digest && first.digest && l.digest != first.digest)
      throw Error(l.where + ": " + l.digest->str() + " for " + l.url + " contradicts " + first.where + " (" +
                      first.digest->str() + ")",
                  EINVAL);
    if (!first.digest) first.digest = l.digest;
    if (l.url != first.url) spdlog::warn("{}: {} maps to the same path as {} ({}); using the first", l.where, l.url,
                                         first.url, first.where);
  }
  // A listed file cannot also be a directory on another line's path.
  for (const auto& l : out) {
    for (size_t s = l.path.find('/'); s != std::string::npos; s = l.path.find('/', s + 1)) {
      auto it = by_path.find(l.path.substr(0, s));
      if (it != by_path.end())
        throw Error(l.where + ": " + l.url + " needs " + l.path.substr(0, s) + " to be a directory, but " +
                        out[it->second].where + " makes it a file",
                    EINVAL);
    }
  }
  return out;
}

void add_files_list_selection_options(CLI::App& cmd, FilesListOptions& o) {
  cmd.add_option("--files-list", o.lists, "kubespray files.list: one URL a line (repeatable)")
      ->allow_extra_args(false)
      ->take_all()
      ->check(CLI::ExistingFile)
      ->group("Files lists");
  // --files-prefix pairs with --images-prefix; --prefix is its older name.
  cmd.add_option("--files-prefix,--prefix", o.prefix, "pack dir for the files-list tree (<prefix>/<host>/<path>)")
      ->capture_default_str()
      ->group("Files lists");
}

void add_files_list_options(CLI::App& build, FilesListOptions& o) {
  add_files_list_selection_options(build, o);
  build.add_option("--checksums", o.checksums, "auto: also verify against <url>.sha256 when published; none")
      ->check(CLI::IsMember({"auto", "none"}))
      ->capture_default_str()
      ->group("Files lists");
  build.add_flag("--skip-missing", o.skip_missing, "a 404/410 URL is skipped with a warning instead of failing")
      ->group("Files lists");
}


namespace {

// Holds an exclusive flock on the cache's files/ dir so two runs sharing a
// cache do not write one .part at once.
class CacheLock {
 public:
  explicit CacheLock(const fs::path& p) {
    fd_ = open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw Error("cannot open " + p.string() + ": " + strerror(errno));
    if (flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      spdlog::info("waiting for another kso-pack using the cache {}", p.parent_path().string());
      if (flock(fd_, LOCK_EX) != 0) throw Error("cannot lock " + p.string() + ": " + strerror(errno));
    }
  }
  ~CacheLock() { close(fd_); }

 private:
  int fd_ = -1;
};

// One listed file and its place in the cache: <dir>/<sha256(url)> holds the
// content, <...>.meta a JSON record, <...>.part a download in progress.
struct Item {
  FilesListLine line;
  fs::path content, meta;
  nlohmann::json cached;     // the .meta record, when the content is there and complete
  std::optional<fetch::OciDigest> expect;  // digest the download must match (list or side file)
  std::string verified_by;   // "list", "sidecar" or ""
  bool done = false, missing = false;
  std::string error;
};

std::optional<nlohmann::json> read_meta(const Item& it) {
  std::error_code ec;
  if (!fs::is_regular_file(it.content, ec)) return std::nullopt;
  std::ifstream f(it.meta);
  if (!f) return std::nullopt;
  try {
    auto j = nlohmann::json::parse(f);
    if (j.value("url", "") != it.line.url || j.value("size", uint64_t(0)) != fs::file_size(it.content, ec) || ec)
      return std::nullopt;
    return j;
  } catch (const std::exception&) {
    return std::nullopt;  // torn or foreign: download again
  }
}

void write_meta(const Item& it, const nlohmann::json& j) {
  fs::path tmp = it.meta;
  tmp += ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << j.dump(1) << "\n";
    if (!f) throw Error("cannot write " + tmp.string());
  }
  fs::rename(tmp, it.meta);
}

// First token of a .sha256 side file ("HEX" or "HEX  name", any case), or nullopt if it is not one.
std::optional<fetch::OciDigest> parse_sidecar(const std::string& body) {
  std::istringstream in(body);
  std::string tok;
  in >> tok;
  return fetch::OciDigest::try_parse("sha256:" + lower(tok));
}

bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

class Fetcher {
 public:
  Fetcher(const FilesListOptions& o, const fetch::NetOptions& net, DownloadProgress& p)
      : opts_(o), client_(net), progress_(p) {
    client_.on_progress([this](const fetch::TransferEvent& e) { progress_.on_transfer(e); });
  }

  void plan(Item& it) {
    if (auto m = read_meta(it)) {
      std::string have = m->value("sha256", "");
      if (it.line.digest && have != it.line.digest->hex()) {
        spdlog::info("{}: cached copy has sha256 {}, the list wants {}: downloading again", it.line.url, have,
                     it.line.digest->hex());
      } else if (it.line.digest || m->value("sidecar_checked", false) || !want_sidecar(it)) {
        from_cache(it, *m);
        return;
      } else {
        it.cached = *m;  // complete, but never checked against a side file: check now
      }
    }
    if (want_sidecar(it)) {
      fetch_sidecar(it);
    } else {
      it.expect = it.line.digest;
      it.verified_by = it.expect ? "list" : "";
      fetch_main(it);
    }
  }

  void run() { client_.run(); }

 private:
  bool want_sidecar(const Item& it) const {
    return opts_.checksums == "auto" && !it.line.digest && !ends_with(it.line.url, ".sha256");
  }

  void from_cache(Item& it, const nlohmann::json& m) {
    it.cached = m;
    it.done = true;
    progress_.file_from_cache();
    if (!m.value("verified_by", "").empty()) progress_.file_verified();
  }

  void fail(Item& it, const std::string& msg) {
    it.error = msg;
    progress_.file_failed(msg);
  }

  void fetch_sidecar(Item& it) {
    fetch::Request req;
    req.url = it.line.url + ".sha256";
    req.max_body = 64 << 10;
    client_.add(req, [this, &it](fetch::Response& r) {
      std::optional<fetch::OciDigest> digest;
      if (r.ok()) {
        digest = parse_sidecar(r.body);
        if (!digest) spdlog::warn("{}: not a sha256 file; {} is not verified", r.url, it.line.url);
      } else if (!r.error.empty() || r.status >= 500) {
        return fail(it, r.error.empty() ? r.url + ": HTTP " + std::to_string(r.status) : r.error);
      }  // any 4xx: no side file published
      if (!it.cached.is_null()) {
        if (!digest || it.cached.value("sha256", "") == digest->hex()) {
          it.cached["sidecar_checked"] = true;
          if (digest) it.cached["verified_by"] = "sidecar";
          write_meta(it, it.cached);
          return from_cache(it, it.cached);
        }
        spdlog::info("{}: cached copy does not match {}: downloading again", it.line.url, r.url);
        it.cached = nullptr;
      }
      it.expect = digest;
      it.verified_by = digest ? "sidecar" : "";
      fetch_main(it);
    });
  }

  void fetch_main(Item& it) {
    fetch::Request req;
    req.url = it.line.url;
    req.dest = it.content;
    req.expect_digest = it.expect;
    client_.add(req, [this, &it](fetch::Response& r) {
      if (r.ok()) {
        nlohmann::json m = {{"url", it.line.url},
                            {"size", r.size},
                            {"sha256", r.sha256},
                            {"mtime_ns", r.mtime_ns},
                            {"etag", r.header("ETag").value_or("")},
                            {"effective_url", r.effective_url},
                            {"verified_by", it.verified_by},
                            {"sidecar_checked", opts_.checksums == "auto"}};
        write_meta(it, m);
        it.cached = m;
        it.done = true;
        progress_.file_downloaded();
        if (!it.verified_by.empty()) progress_.file_verified();
      } else if (!r.error.empty()) {
        fail(it, r.error + " (" + it.line.where + ")");
      } else if ((r.status == 404 || r.status == 410) && opts_.skip_missing) {
        it.missing = true;
        spdlog::warn("{}: HTTP {} for {}: skipped (--skip-missing)", it.line.where, r.status, it.line.url);
        progress_.file_skipped();
      } else {
        fail(it, it.line.url + ": HTTP " + std::to_string(r.status) + " (" + it.line.where + ")");
      }
    });
  }

  const FilesListOptions& opts_;
  fetch::Client client_;
  DownloadProgress& progress_;
};

}  // namespace

std::vector<SourceEntry> fetch_files_lists(const FilesListOptions& opts, const fetch::NetOptions& net, ToolIo& io) {
  if (opts.lists.empty()) return {};
  std::string prefix;
  try {
    prefix = pack_prefix(opts.prefix);
  } catch (const Error& e) {
    throw Error(std::string("--files-prefix: ") + e.what(), EINVAL);
  }
  if (opts.checksums != "auto" && opts.checksums != "none") throw Error("--checksums must be auto or none", EINVAL);
  net.validate();
  auto lines = read_files_lists(opts.lists);

  fs::path dir = net.effective_cache_dir() / "files";
  fs::create_directories(dir);
  CacheLock lock(dir / ".lock");

  std::vector<Item> items(lines.size());
  for (size_t i = 0; i < lines.size(); i++) {
    items[i].line = lines[i];
    std::string key = fetch::sha256_hex(lines[i].url);
    items[i].content = dir / key;
    items[i].meta = dir / (key + ".meta");
  }
  spdlog::info("files lists: {} URLs, cache {}", items.size(), dir.string());
  DownloadProgress progress(io, net.progress, "files");
  progress.add_files(items.size());
  {
    Fetcher f(opts, net, progress);
    for (auto& it : items) f.plan(it);
    f.run();
  }
  progress.finish();

  std::vector<std::string> failed;
  for (const auto& it : items)
    if (!it.error.empty()) failed.push_back(it.error);
  if (!failed.empty()) {
    std::string msg = std::to_string(failed.size()) + " of " + std::to_string(items.size()) +
                      " files-list downloads failed (the cache keeps the rest for the next run)";
    for (size_t i = 0; i < failed.size() && i < kMaxListedErrors; i++) msg += "\n  " + failed[i];
    throw Error(msg);
  }

  std::vector<SourceEntry> out;
  for (const auto& it : items) {
    if (it.missing) continue;
    SourceEntry e;
    e.path = prefix + "/" + it.line.path;
    e.type = EntryType::File;
    e.mode = 0644;
    e.mtime_ns = it.cached.value("mtime_ns", int64_t(0));
    e.source_file = it.content;
    e.expect_sha256 = it.cached.value("sha256", std::string());  // verified when downloaded
    // A redirect or a --mirror: the pack records where the bytes came from
    // (without a query string: presigned URLs carry secrets there).
    std::string from = it.cached.value("effective_url", std::string());
    if (!from.empty() && from != it.line.url) e.origin_url = fetch::redact_url(from);
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace kso
