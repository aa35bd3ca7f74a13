// kso-fs acceptance with a real peer: stock nginx (sendfile, autoindex) serving
// a mounted pack on loopback; curl and wget downloads, Range requests and
// directory listings must match the source tree byte for byte.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <set>
#include <sstream>

#include "index/pack_reader.h"
#include "tests/support/mount_fixture.h"
#include "tests/support/nginx_conf.h"
#include "tools/text.h"

namespace kso::test {
namespace {

// Percent-encodes a path for a URL (keeps '/' and unreserved characters).
std::string url_path(const std::string& p) {
  std::string o;
  for (size_t start = 0;;) {
    size_t slash = p.find('/', start);
    o += url_escape(p.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
    if (slash == std::string::npos) return o;
    o += '/';
    start = slash + 1;
  }
}

std::string html_unescape(std::string s) {
  for (auto [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"&quot;", "\""}, {"&lt;", "<"}, {"&gt;", ">"}, {"&#39;", "'"}, {"&amp;", "&"}}) {
    for (size_t i = 0; (i = s.find(from, i)) != std::string::npos; i += to.size()) s.replace(i, from.size(), to);
  }
  return s;
}

// A curl config string value.
std::string curl_str(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    o += c;
  }
  return o + "\"";
}

class FsNginx : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why = fuse_unavailable_reason();
    if (!why.empty()) GTEST_SKIP() << "kso-fs + nginx tests need FUSE: " << why;
    for (auto* tool : {"nginx", "curl", "wget"})
      if (!have_command(tool)) GTEST_SKIP() << tool << " is not installed";
    tp_ = &shared_tree_pack();
    mount_ = std::make_unique<Mount>(tp_->pack, tmp_ / "mnt", Mount::Options{"allow_other", {}});
    port_ = free_port();
    fs::path ng = tmp_ / "nginx";
    // Stock nginx, everything it writes inside the temp dir.
    write_nginx_conf(ng, port_, mount_->path());
    nginx_ = std::make_unique<Daemon>("nginx -p " + q(ng) + " -c " + q(ng / "nginx.conf") + " -g 'daemon off;'",
                                      ng / "stderr.log");
    ASSERT_TRUE(wait_for_port(port_)) << read_file(ng / "stderr.log") << read_file(ng / "logs/error.log");
  }
  void TearDown() override {
    nginx_.reset();  // before the mount goes
    mount_.reset();
  }

  std::string url(const std::string& rel) const {
    return "http://127.0.0.1:" + std::to_string(port_) + url_path("/data/" + rel);
  }
  const fs::path& tree() const { return tp_->tree; }
  std::string nginx_errors() const { return read_file(tmp_ / "nginx/logs/error.log"); }

  // Regular files of the source tree (relative paths).
  std::vector<std::string> regular_files() const {
    std::vector<std::string> out;
    for (auto& [rel, n] : lstat_tree(tree()))
      if (S_ISREG(n.mode)) out.push_back(rel);
    return out;
  }

  const TreePack* tp_ = nullptr;
  TempDir tmp_{"kso-fs-nginx"};
  std::unique_ptr<Mount> mount_;
  std::unique_ptr<Daemon> nginx_;
  int port_ = 0;
};

TEST_F(FsNginx, CurlDownloadsEveryFileExactly) {
  auto files = regular_files();
  ASSERT_GT(files.size(), 320u);
  fs::path out = tmp_ / "curl";
  std::string cfg;
  for (auto& rel : files) cfg += "url = " + curl_str(url(rel)) + "\noutput = " + curl_str((out / rel).string()) + "\n";
  write_file(tmp_ / "curl.cfg", cfg);
  auto r = run("curl -sS --fail --create-dirs -K " + q(tmp_ / "curl.cfg"));
  ASSERT_EQ(r.status, 0) << r.output << nginx_errors();
  for (auto& rel : files) {
    SCOPED_TRACE(rel);
    ASSERT_TRUE(fs::exists(out / rel));
    EXPECT_EQ(sha256_file_hex(out / rel), sha256_file_hex(tree() / rel));
  }
  // Symlinks are followed by nginx; dangling ones are 404.
  r = run("curl -sS --fail " + q(url("links/chain")));
  EXPECT_EQ(r.status, 0);
  EXPECT_TRUE(r.output == read_file(tree() / "sizes/4096"));
  r = run("curl -s -o /dev/null -w '%{http_code}' " + q(url("links/dangling")));
  EXPECT_EQ(r.output, "404");
  r = run("curl -s -o /dev/null -w '%{http_code}' " + q(url("no/such/file")));
  EXPECT_EQ(r.output, "404");
  // HEAD: exact Content-Length of a multi-block file.
  const std::string big = mount_tree_big_files()[0];
  r = run("curl -sS --fail -I " + q(url(big)));
  EXPECT_NE(r.output.find("Content-Length: " + std::to_string(fs::file_size(tree() / big))), std::string::npos)
      << r.output;
}

TEST_F(FsNginx, WgetDownloadsEveryFileExactly) {
  auto files = regular_files();
  std::string list;
  for (auto& rel : files) list += url(rel) + "\n";
  write_file(tmp_ / "urls.txt", list);
  fs::path out = tmp_ / "wget";
  auto r = run("wget -q -x -nH --restrict-file-names=nocontrol -P " + q(out) + " -i " + q(tmp_ / "urls.txt"));
  ASSERT_EQ(r.status, 0) << r.output << nginx_errors();
  for (auto& rel : files) {
    SCOPED_TRACE(rel);
    ASSERT_TRUE(fs::exists(out / "data" / rel));
    EXPECT_EQ(sha256_file_hex(out / "data" / rel), sha256_file_hex(tree() / rel));
  }
}

TEST_F(FsNginx, RangeRequestsReturnExactBytes) {
  const std::string big = mount_tree_big_files()[0];
  const std::string content = read_file(tree() / big);
  // A block boundary inside the file, from the pack's own layout.
  uint64_t boundary = 0;
  {
    auto p = Pack::open(tp_->pack);
    auto layout = p->layout(p->lookup_path("data/" + big)->ino);
    for (size_t i = 1; i < layout->chunks.size() && !boundary; i++)
      if (layout->chunks[i].block != layout->chunks[i - 1].block) boundary = layout->chunks[i].file_offset;
  }
  ASSERT_GT(boundary, 1000u) << "the big file should span blocks";
  struct Case {
    std::string range;
    uint64_t off, len;
  };
  const uint64_t n = content.size();
  std::vector<Case> cases = {
      {"100-199", 100, 100},
      {"-500", n - 500, 500},  // suffix
      {std::to_string(boundary - 1000) + "-" + std::to_string(boundary + 999), boundary - 1000, 2000},
      {std::to_string(n - 10) + "-", n - 10, 10},  // open-ended
      {"0-0", 0, 1},
      {std::to_string(boundary) + "-" + std::to_string(boundary + (5u << 20)), boundary, (5u << 20) + 1},
  };
  for (auto& c : cases) {
    SCOPED_TRACE(c.range);
    fs::path out = tmp_ / "range.bin";
    auto r = run("curl -sS -r " + c.range + " -o " + q(out) + " -w '%{http_code}' " + q(url(big)));
    EXPECT_EQ(r.output, "206") << nginx_errors();
    std::string got = read_file(out);
    EXPECT_EQ(got.size(), c.len);
    EXPECT_TRUE(got == content.substr(c.off, c.len)) << "wrong bytes";
  }
  // Ranges of a compressible multi-block file and a small file too.
  const std::string text = read_file(tree() / mount_tree_big_files()[1]);
  auto r = run("curl -sS -r 4194000-4195000 " + q(url(mount_tree_big_files()[1])));
  EXPECT_TRUE(r.output == text.substr(4194000, 1001));
  r = run("curl -sS -r 4090-4096 " + q(url("sizes/4097")));
  EXPECT_TRUE(r.output == read_file(tree() / "sizes/4097").substr(4090, 7));
  r = run("curl -s -o /dev/null -w '%{http_code}' -r 5000-6000 " + q(url("sizes/4097")));
  EXPECT_EQ(r.output, "416");
}

TEST_F(FsNginx, AutoindexListsTheTree) {
  int dirs = 0;
  for (auto& [rel, n] : lstat_tree(tree())) {
    if (!S_ISDIR(n.mode)) continue;
    SCOPED_TRACE("dir '" + rel + "'");
    std::set<std::string> want;
    for (auto& e : fs::directory_iterator(tree() / rel)) {
      std::string name = e.path().filename().string();
      if (name[0] == '.') continue;  // autoindex hides dot files
      want.insert(name);
    }
    auto r = run("curl -sS --fail " + q(url(rel.empty() ? "" : rel + "/")));
    ASSERT_EQ(r.status, 0) << r.output;
    std::set<std::string> got;
    const std::string& html = r.output;
    for (size_t i = 0; (i = html.find("<a href=\"", i)) != std::string::npos;) {
      i += 9;
      size_t e = html.find('"', i);
      std::string href = url_unescape(html_unescape(html.substr(i, e - i)));
      i = e;
      if (href == "../") continue;
      if (!href.empty() && href.back() == '/') href.pop_back();
      got.insert(href);
    }
    EXPECT_EQ(got, want);
    dirs++;
  }
  EXPECT_GT(dirs, 15);
  // A hidden file is still served when asked for by name.
  auto r = run("curl -sS --fail " + q(url("odd/.hidden")));
  EXPECT_EQ(r.output, "dot file\n");
}

}  // namespace
}  // namespace kso::test
