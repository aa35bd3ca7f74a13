#include "tools/pack_subset.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "index/error.h"
#include "index/pack_open.h"
#include "index/pack_writer.h"
#include "index/schema.h"
#include "tools/images/manifest.h"
#include "tools/images/media_types.h"
#include "tools/images/platform.h"
#include "tools/kso_pack.h"
#include "tools/pack_args.h"
#include "tools/pack_build.h"
#include "tools/pack_source.h"
#include "tools/progress.h"
#include "tools/text.h"

namespace kso {
namespace fs = std::filesystem;
namespace {

using images::Manifest;
using images::Platform;
using images::PlatformSet;
using fetch::OciDigest;

// Canonical architecture names and their aliases as they appear in paths
// (Go's GOARCH names first: kubespray's files use them).
struct Arch {
  const char* name;
  std::vector<const char*> aliases;
};
const std::vector<Arch>& arch_table() {
  static const std::vector<Arch> t = {
      {"amd64", {"amd64", "x86_64"}}, {"arm64", {"arm64", "aarch64"}}, {"arm", {"arm", "armv7"}},
      {"ppc64le", {"ppc64le"}},       {"s390x", {"s390x"}},
  };
  return t;
}

bool is_sep(char c) { return c == '/' || c == '-' || c == '_' || c == '.'; }

// What registry storage holds below one docker/registry/v2 directory.
struct Registry {
  std::string root;                                        // "<prefix>/docker/registry/v2"
  std::map<std::string, std::set<OciDigest>> revisions;    // repo -> manifest digests
  std::map<std::pair<std::string, std::string>, OciDigest> tags;  // (repo, tag) -> current
  std::set<OciDigest> blobs;
};

// A pack path below `root`, split: "repositories/<repo>/_manifests/..." etc.
bool starts(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

std::string read_whole(Pack& p, const std::string& path, uint64_t limit) {
  auto st = p.lookup_path(path);
  if (!st || !S_ISREG(st->mode)) throw Error(p.name() + ": registry storage lacks " + path, ENOENT);
  if (st->size > limit) throw Error(p.name() + ": " + path + " is too large for a manifest", EINVAL);
  std::string out(size_t(st->size), '\0');
  size_t n = p.read(st->ino, 0, out.size(), out.data());
  out.resize(n);
  return out;
}

std::string blob_path(const Registry& r, const OciDigest& d) {
  std::string hex = d.hex();
  return r.root + "/blobs/sha256/" + hex.substr(0, 2) + "/" + hex + "/data";
}

// The digest a link file holds ("sha256:<hex>", maybe with a newline).
std::optional<OciDigest> read_link(Pack& p, const std::string& path) {
  std::string s = read_whole(p, path, 1024);
  while (!s.empty() && isspace((unsigned char)s.back())) s.pop_back();
  return OciDigest::try_parse(s);
}

}  // namespace

std::vector<std::string> archs_named(std::string_view path) {
  std::string s = lower(std::string(path));
  std::set<std::string> found;
  // Aliases with '_' first, bounded by separators; then blanked out.
  for (auto& a : arch_table())
    for (const char* alias : a.aliases) {
      std::string_view al(alias);
      if (al.find('_') == std::string_view::npos) continue;
      for (size_t at = s.find(al); at != std::string::npos; at = s.find(al, at + 1)) {
        size_t end = at + al.size();
        if ((at == 0 || is_sep(s[at - 1])) && (end == s.size() || is_sep(s[end]))) {
          found.insert(a.name);
          std::fill(s.begin() + long(at), s.begin() + long(end), '/');
        }
      }
    }
  for (size_t i = 0; i < s.size();) {
    while (i < s.size() && is_sep(s[i])) i++;
    size_t j = i;
    while (j < s.size() && !is_sep(s[j])) j++;
    std::string_view tok(s.data() + i, j - i);
    for (auto& a : arch_table())
      for (const char* alias : a.aliases)
        if (tok == alias) found.insert(a.name);
    i = j;
  }
  return {found.begin(), found.end()};
}

void add_subset_command(CLI::App& app, SubsetCommand& cmd, std::string& which) {
  auto* s = app.add_subcommand(
      "subset", "Write a pack of only what the given platforms need: files naming other architectures and the "
                "registry manifests and blobs only other platforms use are dropped");
  s->add_option("pack", cmd.pack, "Pack file")->required();
  s->add_option("-o,--output", cmd.output, "Pack file to write (not with --dry-run)");
  s->add_option("--platform", cmd.platforms, "Platform to keep, OS/ARCH[/VARIANT] (repeatable or comma-separated)")
      ->required()
      ->allow_extra_args(false);
  s->add_option("--base", cmd.bases, "A delta input's base pack (default: found next to it by identity); repeatable")
      ->type_name("PACK")
      ->allow_extra_args(false);
  s->add_option("--threads", cmd.threads, "Compression threads (0 = every core)")->check(CLI::Range(0, 1024));
  s->add_flag("--dry-run", cmd.dry_run, "Print what would be dropped; write nothing");
  s->callback([&which, s] { which = s->get_name(); });
}

int run_subset(const SubsetCommand& c) {
  if (c.output.empty() && !c.dry_run) throw UsageError("subset needs -o OUT.kso (or --dry-run)");
  // An empty --platform is no request for the defaults (amd64 + arm64), and a
  // malformed one is a bad command line like any other.
  bool named = false;
  for (auto& spec : c.platforms) named |= spec.find_first_not_of(',') != std::string::npos;
  if (!named) throw UsageError("--platform names no platform: name the platforms to keep, e.g. linux/arm64");
  PlatformSet want;
  try {
    want = PlatformSet::parse(c.platforms);
  } catch (const Error& e) {
    throw UsageError(std::string("--platform: ") + e.what());
  }
  if (want.all) throw UsageError("--platform all keeps everything: name the platforms to keep");
  std::set<std::string> keep_archs;
  for (auto& p : want.list) keep_archs.insert(p.arch == "arm" || p.arch == "armv7" ? "arm" : p.arch);
  auto platform_kept = [&](const Platform& have) {
    Platform h = images::normalize_platform(have);
    for (auto& w : want.list)
      if (images::platform_matches(w, h)) return true;
    return false;
  };

  auto pack = open_pack(c.pack, tool_search(c.bases));
  if (!c.dry_run)  // a delta's bases are read too: replacing one would cut the delta off from it
    for (auto& in : pack_files(*pack)) {
      std::error_code ec;
      if (fs::equivalent(c.output, in, ec))
        throw UsageError("the output " + c.output + (in == pack->name() ? " is the input pack" : " is an input: " + in));
    }
  auto paths = pack_paths(*pack);

  // Registry storage trees, wherever they are in the pack.
  std::vector<Registry> regs;
  const std::string marker = "docker/registry/v2";
  for (auto& [path, st] : paths)
    if (S_ISDIR(st.mode) && (path == marker || (path.size() > marker.size() && path.ends_with("/" + marker))))
      regs.push_back(Registry{path, {}, {}, {}});
  auto reg_of = [&](const std::string& path) -> Registry* {
    for (auto& r : regs)
      if (path.size() > r.root.size() && starts(path, r.root) && path[r.root.size()] == '/') return &r;
    return nullptr;
  };
  for (auto& [path, st] : paths) {
    Registry* r = reg_of(path);
    if (!r || !S_ISREG(st.mode)) continue;
    std::string rel = path.substr(r->root.size() + 1);
    if (starts(rel, "blobs/sha256/") && rel.ends_with("/data")) {
      size_t a = rel.rfind('/', rel.size() - 6);
      if (auto d = OciDigest::try_parse("sha256:" + rel.substr(a + 1, rel.size() - 6 - a))) r->blobs.insert(*d);
      continue;
    }
    if (!starts(rel, "repositories/")) continue;
    size_t m = rel.find("/_manifests/");
    if (m == std::string::npos) continue;
    std::string repo = rel.substr(13, m - 13), rest = rel.substr(m + 12);
    if (starts(rest, "revisions/sha256/") && rest.ends_with("/link")) {
      if (auto d = read_link(*pack, path)) r->revisions[repo].insert(*d);
    } else if (starts(rest, "tags/") && rest.ends_with("/current/link")) {
      std::string tag = rest.substr(5, rest.size() - 5 - 13);
      if (auto d = read_link(*pack, path)) r->tags.insert_or_assign({repo, tag}, *d);
    }
  }

  // Which manifests and blobs stay: indexes always (byte-exact: tags name
  // them); their entries for kept platforms, and attestations of those;
  // single-platform images by their config's platform; blobs any kept
  // manifest uses, and blobs no manifest uses at all.
  std::set<std::string> drop_paths;  // whole subtrees
  std::vector<std::string> report;
  uint64_t dropped_manifests = 0, dropped_blobs = 0, dropped_blob_bytes = 0;
  for (auto& r : regs) {
    std::map<OciDigest, Manifest> parsed;
    for (auto& [repo, ds] : r.revisions)
      for (auto& d : ds) {
        if (parsed.count(d) || !r.blobs.count(d)) continue;
        try {
          parsed.emplace(d, images::parse_manifest(read_whole(*pack, blob_path(r, d), images::kMaxManifestBytes), ""));
        } catch (const Error& e) {
          spdlog::warn("{}: manifest {} is not understood ({}); kept", pack->name(), d.str(), e.what());
        }
      }
    std::set<OciDigest> keep, drop, children;
    for (auto& [d, m] : parsed) {
      if (!m.is_index()) continue;
      keep.insert(d);
      std::set<OciDigest> kept_here;
      // Entries without a platform (artifacts, charts) are not another
      // platform's: they are judged below like single-platform images.
      for (auto& e : m.manifests) {
        if (!e.platform) continue;
        children.insert(e.digest);
        if (platform_kept(*e.platform)) kept_here.insert(e.digest);
      }
      for (auto& e : m.manifests) {
        if (!e.platform) continue;
        auto ref = e.annotations.find(images::kAttestationRefAnnotation);
        bool attestation = e.platform->os == "unknown" && e.platform->arch == "unknown";
        if (kept_here.count(e.digest) ||
            (attestation && ref != e.annotations.end() && OciDigest::try_parse(ref->second) &&
             kept_here.count(*OciDigest::try_parse(ref->second))))
          keep.insert(e.digest);
        else
          drop.insert(e.digest);
      }
    }
    for (auto& [d, m] : parsed) {
      if (m.is_index() || children.count(d)) continue;  // a child with a platform: its index decides
      // A single-platform image (or an index entry naming no platform): its
      // config says which platform, if any.
      bool k = true;
      try {
        auto cfg = nlohmann::json::parse(read_whole(*pack, blob_path(r, m.config->digest), images::kMaxManifestBytes));
        Platform p{cfg.value("os", ""), cfg.value("architecture", ""), cfg.value("variant", "")};
        if (!p.os.empty() && !p.arch.empty()) k = platform_kept(p);
      } catch (const std::exception&) {
      }
      (k ? keep : drop).insert(d);
    }
    for (auto& d : keep) drop.erase(d);  // kept by one index, dropped by none
    std::set<OciDigest> used_by_kept, used_by_dropped;
    for (auto& [d, m] : parsed) {
      auto& into = keep.count(d) ? used_by_kept : drop.count(d) ? used_by_dropped : used_by_kept;
      into.insert(d);
      if (m.config) into.insert(m.config->digest);
      for (auto& l : m.layers) into.insert(l.digest);
    }
    for (auto& d : r.blobs)
      if (used_by_dropped.count(d) && !used_by_kept.count(d) && !keep.count(d)) {
        std::string hex = d.hex();
        drop_paths.insert(r.root + "/blobs/sha256/" + hex.substr(0, 2) + "/" + hex);
        if (auto st = pack->lookup_path(blob_path(r, d))) dropped_blob_bytes += st->size;
        dropped_blobs++;
        for (auto& [repo, ds] : r.revisions)
          drop_paths.insert(r.root + "/repositories/" + repo + "/_layers/sha256/" + hex);
      }
    for (auto& [repo, ds] : r.revisions)
      for (auto& d : ds)
        if (drop.count(d)) {
          drop_paths.insert(r.root + "/repositories/" + repo + "/_manifests/revisions/sha256/" + d.hex());
          report.push_back("manifest " + repo + "@" + d.str());
          dropped_manifests++;
        }
    for (auto& [rt, d] : r.tags)
      if (drop.count(d)) {
        drop_paths.insert(r.root + "/repositories/" + rt.first + "/_manifests/tags/" + rt.second);
        report.push_back("tag " + rt.first + ":" + rt.second + " (" + d.str() + ")");
      } else {
        for (auto& x : drop)
          drop_paths.insert(r.root + "/repositories/" + rt.first + "/_manifests/tags/" + rt.second + "/index/sha256/" +
                            x.hex());
      }
  }

  // Files outside registry storage: dropped when they name an architecture
  // and none of the kept ones.
  auto keep = [&](const std::string& path, const Stat& st) {
    if (drop_paths.count(path)) return false;
    if (reg_of(path)) return true;
    for (auto& r : regs)  // directories above a registry root stay
      if (starts(r.root, path + "/")) return true;
    auto named = archs_named(path);
    if (named.empty()) return true;
    for (auto& a : named)
      if (keep_archs.count(a)) return true;
    return false;
  };
  std::vector<SourceEntry> entries = pack_entries(pack, keep);
  // What went, listed and counted from what stayed: a dropped directory takes
  // what is under it along, and each of those paths is named too.
  std::set<std::string> kept;
  for (auto& e : entries) kept.insert(e.path);
  uint64_t dropped_files = 0, dropped_file_bytes = 0;
  for (auto& [path, st] : paths) {
    if (reg_of(path) || kept.count(path)) continue;
    report.push_back(std::string(S_ISDIR(st.mode) ? "dir " : "file ") + path);
    if (S_ISREG(st.mode)) {
      dropped_files++;
      dropped_file_bytes += st.size;
    }
  }
  for (auto& line : report) printf("drop %s\n", line.c_str());
  printf("%s: %llu files (%s) outside registry storage, %llu manifests and %llu blobs (%s) are only for other "
         "platforms than %s\n",
         c.dry_run ? "would drop" : "dropping", (unsigned long long)dropped_files,
         human_bytes(dropped_file_bytes).c_str(), (unsigned long long)dropped_manifests,
         (unsigned long long)dropped_blobs, human_bytes(dropped_blob_bytes).c_str(), want.str().c_str());
  if (c.dry_run) return kExitOk;
  PackStats s = rewrite_pack(*pack, std::move(entries), c.output, c.threads, "subset");
  spdlog::info("wrote {}: {} files, {} stored ({} of {}), identity {}", c.output, s.files, human_bytes(s.pack_size),
               want.str(), c.pack, to_hex(s.identity));
  return kExitOk;
}

}  // namespace kso
