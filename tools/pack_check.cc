#include "tools/pack_check.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <map>
#include <set>

#include "index/error.h"
#include "index/hash.h"
#include "index/pack_index_file.h"
#include "index/pack_open.h"
#include "tools/images/images_list.h"
#include "tools/images/layout.h"
#include "tools/images/manifest.h"
#include "tools/images/platform.h"
#include "tools/kso_pack.h"
#include "tools/pack_args.h"
#include "tools/pack_prefix.h"
#include "tools/pack_registry.h"
#include "tools/pack_source.h"

namespace kso {
namespace {

using fetch::OciDigest;
using images::Manifest;

// What was missing, by kind, and the lines that say so.
struct Findings {
  std::ostream& out;  // where the lines go (ToolIo::out)
  size_t files = 0, files_missing = 0, images = 0, images_missing = 0, platforms_missing = 0;
  void say(const std::string& line) { out << line << "\n"; }
};

std::string prefix_option(const std::string& opt, const std::string& value) {
  try {
    return pack_prefix(value);
  } catch (const Error& e) {
    throw UsageError(opt + ": " + e.what());
  }
}

void check_files(Pack& p, const std::vector<FilesListLine>& lines, const std::string& prefix, Findings& f) {
  for (auto& l : lines) {
    f.files++;
    std::string path = prefix + "/" + l.path;
    auto st = p.lookup_path(path);
    if (!st || !S_ISREG(st->mode)) {
      f.files_missing++;
      f.say("missing file: " + l.url + " (" + path + "; " + l.where + ")");
    } else if (l.digest && to_hex(p.layout(st->ino)->sha256) != l.digest->hex()) {
      f.files_missing++;
      f.say("wrong file: " + l.url + ": " + path + " has sha256 " + to_hex(p.layout(st->ino)->sha256) + ", " + l.where +
            " wants " + l.digest->hex());
    }
  }
}

// One image of the lists as the offline registry must serve it.
class ImageCheck {
 public:
  ImageCheck(const PackRegistry& r, const std::string& repo) : r_(r), repo_(repo) {}

  // "" if registry:2 serves manifest `d` of the repository, else why not.
  std::string manifest_problem(const OciDigest& d) const {
    auto revs = r_.revisions.find(repo_);
    if (revs == r_.revisions.end() || !revs->second.count(d)) return "no revision link for " + d.str();
    if (!r_.has_blob(d)) return "manifest blob " + d.str() + " is not in the pack";
    return "";
  }
  // "" if the config and every layer of image manifest `m` are served, else
  // how many are not and the first.
  std::string blobs_problem(const Manifest& m) const {
    std::vector<OciDigest> need;
    if (m.config) need.push_back(m.config->digest);
    for (auto& l : m.layers)
      if (!images::is_foreign_layer(l)) need.push_back(l.digest);
    auto links = r_.layers.find(repo_);
    size_t missing = 0;
    std::string first;
    for (auto& d : need)
      if (!r_.has_blob(d) || links == r_.layers.end() || !links->second.count(d)) {
        if (!missing++) first = d.str() + (r_.has_blob(d) ? " (no _layers link)" : "");
      }
    if (!missing) return "";
    return std::to_string(missing) + " of its " + std::to_string(need.size()) + " blobs are not in the pack (" + first +
           (missing > 1 ? ", ..." : "") + ")";
  }
  Manifest manifest(const OciDigest& d) const { return r_.manifest(d); }

 private:
  const PackRegistry& r_;
  const std::string& repo_;
};

void check_images(const std::shared_ptr<Pack>& p, const std::vector<images::ListedImage>& listed,
                  const std::string& root, const CheckCommand& c, Findings& f) {
  std::vector<PackRegistry> regs = find_registries(p, pack_paths(*p));
  const PackRegistry* reg = nullptr;
  std::string roots;
  for (auto& r : regs) {
    if (r.root == root) reg = &r;
    roots += (roots.empty() ? "" : ", ") + r.root;
  }
  static const PackRegistry kEmpty;
  if (!reg) {
    f.say("note: " + p->name() + " has no registry storage at " + root +
          (roots.empty() ? " (nor anywhere else)" : " (it has " + roots + "; see --images-prefix)"));
    reg = &kEmpty;
  }
  images::PlatformSet want = images::PlatformSet::parse(c.images.platforms);
  std::set<std::string> seen;
  for (auto& li : listed) {
    if (!seen.insert(li.ref.str()).second) continue;
    f.images++;
    const std::string ref = li.ref.str();
    const std::string repo = li.ref.local_name(c.images.keep_registry_host);
    ImageCheck ic(*reg, repo);
    auto missing_image = [&](const std::string& why) {
      f.images_missing++;
      f.say("missing image: " + ref + " (" + why + "; " + li.where + ")");
    };
    // What the tag names (or the pin, for digest-only references).
    std::optional<OciDigest> top = li.ref.digest;
    if (!li.ref.tag.empty()) {
      auto t = reg->tags.find({repo, li.ref.tag});
      if (t == reg->tags.end()) {
        missing_image("no tag " + repo + ":" + li.ref.tag);
        continue;
      }
      if (li.ref.digest && t->second != *li.ref.digest) {
        missing_image("tag " + repo + ":" + li.ref.tag + " names " + t->second.str() + ", the list pins " +
                      li.ref.digest->str());
        continue;
      }
      top = t->second;
    }
    if (auto why = ic.manifest_problem(*top); !why.empty()) {
      missing_image(repo + ": " + why);
      continue;
    }
    Manifest m;
    try {
      m = ic.manifest(*top);
    } catch (const Error& e) {
      missing_image(repo + ": manifest " + top->str() + " is not understood: " + e.what());
      continue;
    }
    if (!m.is_index()) {  // single-arch: stored as it is, whatever --platform says
      if (auto why = ic.blobs_problem(m); !why.empty()) missing_image(repo + ": " + why);
      continue;
    }
    auto choice = images::choose_platforms(m, want);
    for (auto& plat : choice.missing) {
      f.platforms_missing++;
      f.say("missing platform: " + ref + ": the index has no " + plat + " (it has " + images::index_platforms(m) +
            "; " + li.where + ")");
    }
    for (auto* d : choice.chosen) {
      std::string plat = d->platform ? images::normalize_platform(*d->platform).str() : "unknown";
      std::string why = ic.manifest_problem(d->digest);
      if (why.empty()) {
        try {
          Manifest child = ic.manifest(d->digest);
          if (!child.is_index()) why = ic.blobs_problem(child);
        } catch (const Error& e) {
          why = "manifest not understood: " + std::string(e.what());
        }
      }
      if (why.empty()) continue;
      f.platforms_missing++;
      f.say("missing platform: " + ref + ": " + plat + " (" + d->digest.str() + "): " + why + " (" + li.where + ")");
    }
  }
}

}  // namespace

// What `kso-pack check --help` says it does.
constexpr const char* kCheckHelp =
    "Check that the pack holds everything files and images lists need (kubespray's contrib/offline "
    "lists): list every missing URL, image and platform; exit 1 if any";

void add_check_command(CLI::App& app, CheckCommand& cmd, std::string& which) {
  auto* s = add_pack_command(app, "check", kCheckHelp, which, cmd.pack, cmd.bases);
  add_files_list_selection_options(*s, cmd.files);
  images::add_images_selection_options(*s, cmd.images);
}

int run_check(const CheckCommand& c, ToolIo& io) {
  if (c.files.lists.empty() && c.images.lists.empty())
    throw UsageError("check needs --files-list or --images-list (or both)");
  if (is_index_file(c.pack)) throw Error(c.pack + " is an index file (.kidx): check the pack itself", EINVAL);
  // Options and lists first: a malformed line is reported before the pack is opened.
  std::string files_prefix = prefix_option("--files-prefix", c.files.prefix);
  std::string registry_root = prefix_option("--images-prefix", c.images.prefix) + "/docker/registry/v2";
  std::vector<FilesListLine> lines;
  if (!c.files.lists.empty()) lines = read_files_lists(c.files.lists);
  std::vector<images::ListedImage> listed;
  for (auto& l : c.images.lists) {
    auto v = images::read_images_list(l);
    listed.insert(listed.end(), v.begin(), v.end());
  }
  auto p = open_pack(c.pack, tool_search(io, c.bases));
  Findings f{io.out};
  check_files(*p, lines, files_prefix, f);
  if (!c.images.lists.empty()) check_images(p, listed, registry_root, c, f);
  // The summary names what was checked: files, images, or both.
  std::string plats = " (" + images::PlatformSet::parse(c.images.platforms).str() + ")";
  bool files = !c.files.lists.empty(), imgs = !c.images.lists.empty();
  if (!f.files_missing && !f.images_missing && !f.platforms_missing) {
    std::string what = (files ? std::to_string(f.files) + " files" : "") + (files && imgs ? " and " : "") +
                       (imgs ? std::to_string(f.images) + " images" + plats : "");
    kso::say(io.out, "complete: %s holds all %s of the lists\n", c.pack.c_str(), what.c_str());
    return kExitOk;
  }
  std::string what = (files ? std::to_string(f.files_missing) + " of " + std::to_string(f.files) + " files" : "") +
                     (files && imgs ? ", " : "") +
                     (imgs ? std::to_string(f.images_missing) + " of " + std::to_string(f.images) + " images, " +
                                 std::to_string(f.platforms_missing) +
                                 (f.platforms_missing == 1 ? " platform" : " platforms") + " of present images" + plats
                           : "");
  kso::say(io.out, "INCOMPLETE: %s: missing %s\n", c.pack.c_str(), what.c_str());
  return kExitFailure;
}

}  // namespace kso
