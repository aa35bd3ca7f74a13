#include "tools/pack_subset.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <set>

#include "index/error.h"
#include "index/pack_open.h"
#include "index/write/pack_writer.h"
#include "tools/images/manifest.h"
#include "tools/images/layout.h"
#include "tools/images/platform.h"
#include "tools/kso_pack.h"
#include "tools/pack_args.h"
#include "tools/pack_build.h"
#include "tools/pack_registry.h"
#include "tools/pack_source.h"
#include "tools/progress.h"
#include "tools/text.h"

namespace kso {
namespace fs = std::filesystem;
namespace {

// What `kso-pack subset --help` says it does.
constexpr const char* kSubsetHelp =
    "Write a pack of only what the given platforms need: files naming other architectures and the "
    "registry manifests and blobs only other platforms use are dropped";

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

bool starts(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// "a/b/link" -> "a/b": a link file's directory, dropped with it.
std::string parent_dir(const std::string& path) { return path.substr(0, path.rfind('/')); }

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
  auto* s = add_pack_command(app, "subset", kSubsetHelp, which, cmd.pack, cmd.bases);
  s->add_option("-o,--output", cmd.output, "Pack file to write (not with --dry-run)");
  s->add_option("--platform", cmd.platforms, "Platform to keep, OS/ARCH[/VARIANT] (repeatable or comma-separated)")
      ->required()
      ->allow_extra_args(false);
  s->add_option("--threads", cmd.threads, "Compression threads (0 = every core)")->check(CLI::Range(0, 1024));
  s->add_flag("--dry-run", cmd.dry_run, "Print what would be dropped; write nothing");
}

int run_subset(const SubsetCommand& c, ToolIo& io) {
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

  auto pack = open_pack(c.pack, tool_search(io, c.bases));
  if (!c.dry_run)  // a delta's bases are read too: replacing one would cut the delta off from it
    for (auto& in : pack_files(*pack)) {
      std::error_code ec;
      if (fs::equivalent(c.output, in, ec))
        throw UsageError("the output " + c.output + (in == pack->name() ? " is the input pack" : " is an input: " + in));
    }
  auto paths = pack_paths(*pack);

  // Registry storage trees, wherever they are in the pack.
  std::vector<PackRegistry> regs = find_registries(pack, paths);
  auto reg_of = [&](const std::string& path) { return registry_of(regs, path); };

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
        if (parsed.count(d) || !r.has_blob(d)) continue;
        try {
          parsed.emplace(d, r.manifest(d));
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
      auto p = r.config_platform(m);
      (!p || platform_kept(*p) ? keep : drop).insert(d);
    }
    for (auto& d : keep) drop.erase(d);  // kept by one index, dropped by none
    std::set<OciDigest> used_by_kept, used_by_dropped;
    for (auto& [d, m] : parsed) {
      auto& into = keep.count(d) ? used_by_kept : drop.count(d) ? used_by_dropped : used_by_kept;
      into.insert(d);
      if (m.config) into.insert(m.config->digest);
      for (auto& l : m.layers) into.insert(l.digest);
    }
    for (auto& [d, size] : r.blobs)
      if (used_by_dropped.count(d) && !used_by_kept.count(d) && !keep.count(d)) {
        drop_paths.insert(images::blob_dir_path(r.root, d));
        dropped_blob_bytes += size;
        dropped_blobs++;
        for (auto& [repo, ds] : r.revisions) drop_paths.insert(parent_dir(images::layer_link_path(r.root, repo, d)));
      }
    for (auto& [repo, ds] : r.revisions)
      for (auto& d : ds)
        if (drop.count(d)) {
          drop_paths.insert(parent_dir(images::revision_link_path(r.root, repo, d)));
          report.push_back("manifest " + repo + "@" + d.str());
          dropped_manifests++;
        }
    for (auto& [rt, d] : r.tags)
      if (drop.count(d)) {
        drop_paths.insert(images::tag_dir_path(r.root, rt.first, rt.second));
        report.push_back("tag " + rt.first + ":" + rt.second + " (" + d.str() + ")");
      } else {
        for (auto& x : drop)
          drop_paths.insert(images::tag_dir_path(r.root, rt.first, rt.second) + "/index/sha256/" + x.hex());
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
  for (auto& line : report) say(io.out, "drop %s\n", line.c_str());
  say(io.out, "%s: %llu files (%s) outside registry storage, %llu manifests and %llu blobs (%s) are only for other "
         "platforms than %s\n",
         c.dry_run ? "would drop" : "dropping", (unsigned long long)dropped_files,
         human_bytes(dropped_file_bytes).c_str(), (unsigned long long)dropped_manifests,
         (unsigned long long)dropped_blobs, human_bytes(dropped_blob_bytes).c_str(), want.str().c_str());
  if (c.dry_run) return kExitOk;
  PackStats s = rewrite_pack(*pack, std::move(entries), c.output, c.threads, "subset", io);
  spdlog::info("wrote {}: {} files, {} stored ({} of {}), identity {}", c.output, s.files, human_bytes(s.pack_size),
               want.str(), c.pack, to_hex(s.identity));
  return kExitOk;
}

}  // namespace kso
