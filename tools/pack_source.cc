#include "tools/pack_source.h"

#include <nlohmann/json.hpp>
#include <sys/stat.h>

#include <algorithm>
#include <unordered_set>

#include "cache/block_cache.h"
#include "index/error.h"
#include "index/hash.h"
#include "index/pack_open.h"
#include "index/write/pack_writer.h"
#include "index/index_meta.h"
#include "tools/pack_build.h"
#include "tools/progress.h"

namespace kso {
namespace {

// Decoded blocks shared by every file of one pack source: files are read
// front to back, one after another, so a few blocks suffice.
constexpr uint64_t kSourceCacheBytes = 64u << 20;

class PackFileReader : public ContentReader {
 public:
  PackFileReader(std::shared_ptr<Pack> p, std::shared_ptr<BlockCache> cache, uint64_t ino)
      : p_(std::move(p)), cache_(std::move(cache)), ino_(ino) {}
  uint64_t size() const override { return layout().size; }
  size_t read(uint64_t offset, size_t len, char* out) override {
    return p_->read(layout(), offset, len, out, *cache_);
  }

 private:
  // Loaded on first use: a source of 100k files holds no 100k layouts.
  const FileLayout& layout() const {
    if (!f_) f_ = p_->layout(ino_);
    return *f_;
  }
  std::shared_ptr<Pack> p_;
  std::shared_ptr<BlockCache> cache_;
  uint64_t ino_;
  mutable std::shared_ptr<const FileLayout> f_;
};

}  // namespace

std::vector<std::pair<std::string, Stat>> pack_paths(const Pack& pack) {
  std::vector<std::pair<std::string, Stat>> out;
  std::vector<std::pair<std::string, uint64_t>> todo{{"", kRootIno}};
  while (!todo.empty()) {
    auto [dir, ino] = todo.back();
    todo.pop_back();
    std::vector<std::pair<std::string, uint64_t>> subdirs;
    for (auto& d : pack.readdir(ino)) {
      std::string path = dir.empty() ? d.name : dir + "/" + d.name;
      if (S_ISDIR(d.st.mode)) subdirs.emplace_back(path, d.st.ino);
      out.emplace_back(std::move(path), d.st);
    }
    for (auto it = subdirs.rbegin(); it != subdirs.rend(); ++it) todo.push_back(*it);
  }
  return out;
}

std::vector<std::string> pack_files(const Pack& pack) {
  std::vector<std::string> out{pack.name()};
  for (const Pack* b : base_chain(pack)) out.push_back(b->name());
  return out;
}

std::map<std::string, std::string> source_urls(const Pack& pack) {
  std::map<std::string, std::string> out;
  for (auto& [k, v] : pack.meta()) {
    if (k != kMetaSourceUrls) continue;
    nlohmann::json j = nlohmann::json::parse(v, nullptr, false);
    if (!j.is_object()) throw CorruptError(pack.name() + ": index: meta key 'source_urls' is not a JSON object");
    for (auto& [path, url] : j.items()) {
      if (!url.is_string() || url.get<std::string>().empty())
        throw CorruptError(pack.name() + ": index: meta key 'source_urls' has a bad URL for " + path);
      out[path] = url.get<std::string>();
    }
  }
  return out;
}

std::vector<SourceEntry> pack_entries(std::shared_ptr<Pack> pack,
                                      const std::function<bool(const std::string&, const Stat&)>& keep) {
  auto cache = std::make_shared<BlockCache>(pack, kSourceCacheBytes, 0);
  const auto origins = source_urls(*pack);  // kept with the files they describe
  std::vector<SourceEntry> out;
  std::unordered_set<std::string> dropped_dirs;  // what is under them goes with them
  for (auto& [path, st] : pack_paths(*pack)) {
    size_t slash = path.rfind('/');
    bool parent_dropped = slash != std::string::npos && dropped_dirs.count(path.substr(0, slash));
    if (parent_dropped || (keep && !keep(path, st))) {
      if (S_ISDIR(st.mode)) dropped_dirs.insert(path);
      continue;
    }
    SourceEntry e;
    e.path = path;
    e.mode = st.mode & 07777;
    e.mtime_ns = st.mtime_ns;
    if (S_ISDIR(st.mode)) {
      e.type = EntryType::Dir;
    } else if (S_ISLNK(st.mode)) {
      e.type = EntryType::Symlink;
      e.symlink_target = pack->readlink(st.ino);
    } else {
      e.type = EntryType::File;
      if (st.nlink > 1) e.hardlink_key = "ino:" + std::to_string(st.ino);
      e.expect_sha256 = to_hex(pack->layout(st.ino)->sha256);
      e.reader = std::make_shared<PackFileReader>(pack, cache, st.ino);
      if (auto o = origins.find(path); o != origins.end()) e.origin_url = o->second;
    }
    out.push_back(std::move(e));
  }
  return out;
}

PackStats rewrite_pack(const Pack& from, std::vector<SourceEntry> entries, const std::string& out, unsigned threads,
                       const char* label, ToolIo& io) {
  WriterOptions wo = recorded_options(from);
  wo.threads = threads;
  // The pack holds its symlinks already (its build allowed any escaping one):
  // the tree is kept as it is; kso-fs still refuses to resolve them.
  wo.allow_escaping_symlinks = true;
  for (auto& [k, v] : from.meta())
    if (k == kMetaCreated) wo.created_unix = std::stoll(v);
  PackWriter w(out, wo);
  for (auto& e : entries) w.add(std::move(e));
  ProgressLine bar(io, label);
  w.on_progress([&](const BuildProgress& pr) { bar.update(pr.bytes_done, pr.bytes_total, pr.files_done, pr.files_total); });
  PackStats s = w.finish();
  bar.finish();
  return s;
}

}  // namespace kso
