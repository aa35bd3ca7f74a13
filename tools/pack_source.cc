#include "tools/pack_source.h"

#include <sys/stat.h>

#include <algorithm>

#include "cache/block_cache.h"
#include "index/hash.h"

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

std::vector<SourceEntry> pack_entries(std::shared_ptr<Pack> pack,
                                      const std::function<bool(const std::string&, const Stat&)>& keep) {
  auto cache = std::make_shared<BlockCache>(pack, kSourceCacheBytes, 0);
  std::vector<SourceEntry> out;
  std::vector<std::pair<std::string, uint64_t>> todo{{"", kRootIno}};
  while (!todo.empty()) {
    auto [dir, ino] = todo.back();
    todo.pop_back();
    auto entries = pack->readdir(ino);
    // Depth-first in name order, like the writer numbers them: pushed reversed.
    std::vector<std::pair<std::string, uint64_t>> subdirs;
    for (auto& d : entries) {
      std::string path = dir.empty() ? d.name : dir + "/" + d.name;
      if (keep && !keep(path, d.st)) continue;
      SourceEntry e;
      e.path = path;
      e.mode = d.st.mode & 07777;
      e.mtime_ns = d.st.mtime_ns;
      if (S_ISDIR(d.st.mode)) {
        e.type = EntryType::Dir;
        subdirs.emplace_back(path, d.st.ino);
      } else if (S_ISLNK(d.st.mode)) {
        e.type = EntryType::Symlink;
        e.symlink_target = pack->readlink(d.st.ino);
      } else {
        e.type = EntryType::File;
        if (d.st.nlink > 1) e.hardlink_key = "ino:" + std::to_string(d.st.ino);
        e.expect_sha256 = to_hex(pack->layout(d.st.ino)->sha256);
        e.reader = std::make_shared<PackFileReader>(pack, cache, d.st.ino);
      }
      out.push_back(std::move(e));
    }
    for (auto it = subdirs.rbegin(); it != subdirs.rend(); ++it) todo.push_back(*it);
  }
  return out;
}

}  // namespace kso
