// The libraries by role (index/CMakeLists.txt): what each folder's sources may
// include, read from the tree itself, so a new include across a line fails
// here rather than in a link that happens to drop it.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

struct Include {
  std::string file;    // relative to the source tree
  std::string target;  // what is between the quotes or angle brackets
};

// Every #include of every .cc/.h under `dir` (relative to the source tree).
std::vector<Include> includes_under(const std::string& dir) {
  const fs::path root(KSO_SOURCE_DIR);
  std::vector<Include> out;
  for (auto& e : fs::recursive_directory_iterator(root / dir)) {
    auto ext = e.path().extension();
    if (!e.is_regular_file() || (ext != ".cc" && ext != ".h")) continue;
    std::ifstream in(e.path());
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("#include ", 0) != 0) continue;
      size_t open = line.find_first_of("\"<"), close = line.find_first_of("\">", open + 1);
      if (open == std::string::npos || close == std::string::npos) continue;
      out.push_back({fs::relative(e.path(), root).string(), line.substr(open + 1, close - open - 1)});
    }
  }
  return out;
}

bool starts(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }

// The sources of kso_reader: index/, without write/ and the kso_hash files.
bool reader_file(const std::string& f) {
  return starts(f, "index/") && !starts(f, "index/write/") && !starts(f, "index/sha256.") &&
         !starts(f, "index/verify.");
}

// Project headers `folder`'s sources may include: their own folder's and the
// folders below it in the graph.
void expect_only(const std::string& folder, const std::vector<std::string>& allowed) {
  int checked = 0;
  for (auto& i : includes_under(folder)) {
    if (i.target.find('/') == std::string::npos || !fs::exists(fs::path(KSO_SOURCE_DIR) / i.target)) continue;
    checked++;
    bool ok = false;
    for (auto& a : allowed) ok = ok || starts(i.target, a);
    EXPECT_TRUE(ok) << i.file << " includes " << i.target;
  }
  EXPECT_GT(checked, 0) << folder << ": no project includes found (wrong source dir?)";
}

TEST(Layering, FoldersIncludeOnlyWhatIsBelowThem) {
  expect_only("index", {"index/"});
  expect_only("cli", {"cli/", "index/"});
  expect_only("cache", {"cache/", "index/"});
  // cache/lru.h is the one LRU template (header only) the remote source's disk cache uses too.
  expect_only("fetch", {"fetch/", "index/", "cache/lru.h"});
  expect_only("fs", {"fs/", "cache/", "fetch/", "cli/", "index/"});
  // The registry code: the HTTP client and the tools' common helpers, not the writer.
  expect_only("tools/images", {"tools/images/", "tools/text.h", "tools/pack_prefix.h", "tools/progress.h", "fetch/",
                               "cli/", "index/"});
  for (auto& i : includes_under("tools/images"))
    EXPECT_FALSE(starts(i.target, "index/write/")) << i.file << " includes " << i.target;
}

TEST(Layering, InternalHeadersStayInTheirLibrary) {
  for (const char* folder : {"index", "cli", "cache", "fetch", "fs", "tools"}) {
    for (auto& i : includes_under(folder)) {
      if (starts(i.target, "index/write/internal/")) {
        EXPECT_TRUE(starts(i.file, "index/write/")) << i.file << " includes the writer's internal " << i.target;
      } else if (starts(i.target, "index/internal/")) {
        EXPECT_TRUE(starts(i.file, "index/")) << i.file << " includes the index's internal " << i.target;
      }
    }
  }
}

TEST(Layering, TheReaderComputesNoSha256) {
  int checked = 0;
  for (auto& i : includes_under("index")) {
    if (!reader_file(i.file)) continue;
    checked++;
    EXPECT_FALSE(starts(i.target, "index/write/")) << i.file << " (reader) includes " << i.target;
    EXPECT_NE(i.target, "index/sha256.h") << i.file << " (reader) computes SHA-256";
    EXPECT_NE(i.target, "index/verify.h") << i.file;
    EXPECT_FALSE(starts(i.target, "openssl/")) << i.file << " (reader) includes " << i.target;
  }
  EXPECT_GT(checked, 10);
}

TEST(Layering, TheMountNeedsNoWriterAndNoTools) {
  for (auto& i : includes_under("fs")) {
    EXPECT_FALSE(starts(i.target, "index/write/")) << i.file << " includes " << i.target;
    EXPECT_FALSE(starts(i.target, "tools/")) << i.file << " includes " << i.target;
    EXPECT_NE(i.target, "index/sha256.h") << i.file << " includes " << i.target;
  }
}

}  // namespace
