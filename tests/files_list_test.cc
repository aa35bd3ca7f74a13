// Files-list parsing and the URL -> wget -x path mapping (no network).
#include "tools/files_list.h"

#include <gtest/gtest.h>

#include <CLI/CLI.hpp>

#include "index/error.h"
#include "tests/support/testutil.h"
#include "fetch/http.h"
#include "fetch/net_options.h"

using namespace kso;
using kso::test::TempDir;
using kso::test::write_file;

static std::string path_of(const std::string& url) { return url_to_path(url); }

static std::string error_of(const std::string& url) {
  try {
    url_to_path(url);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(FilesListMapping, HostAndPath) {
  EXPECT_EQ(path_of("https://dl.k8s.io/release/v1.29.10/bin/linux/amd64/kubelet"),
            "dl.k8s.io/release/v1.29.10/bin/linux/amd64/kubelet");
  EXPECT_EQ(path_of("https://github.com/containerd/containerd/releases/download/v1.7.22/"
                    "containerd-1.7.22-linux-amd64.tar.gz"),
            "github.com/containerd/containerd/releases/download/v1.7.22/containerd-1.7.22-linux-amd64.tar.gz");
}

TEST(FilesListMapping, PortsLikeWget) {
  EXPECT_EQ(path_of("https://dl.k8s.io:443/x"), "dl.k8s.io/x");  // default port dropped
  EXPECT_EQ(path_of("http://mirror.local:80/x"), "mirror.local/x");
  EXPECT_EQ(path_of("https://mirror.local:8443/x"), "mirror.local:8443/x");
  EXPECT_EQ(path_of("http://mirror.local:443/x"), "mirror.local:443/x");  // not http's default
  // wget 1.21 agrees on these (checked by hand: wget -x against a local server)
  EXPECT_EQ(path_of("http://mirror.local:/x"), "mirror.local/x");        // empty port: the default (RFC 2396)
  EXPECT_EQ(path_of("http://mirror.local:000080/x"), "mirror.local/x");  // leading zeros
  EXPECT_EQ(path_of("https://mirror.local:08443/x"), "mirror.local:8443/x");
}

TEST(FilesListMapping, CaseQueryFragmentEscapes) {
  EXPECT_EQ(path_of("HTTPS://DL.K8S.IO/Release/X"), "dl.k8s.io/Release/X");  // path case kept
  EXPECT_EQ(path_of("https://h/a/f?x=1&y=2"), "h/a/f?x=1&y=2");
  EXPECT_EQ(path_of("https://h/a/f?q=a/b"), "h/a/f?q=a%2Fb");
  EXPECT_EQ(path_of("https://h/a/f?x=%2F%41%20b"), "h/a/f?x=%2FA b");
  EXPECT_EQ(path_of("https://h/a/f?"), "h/a/f?");
  EXPECT_EQ(path_of("https://h/a/f#frag"), "h/a/f");
  EXPECT_EQ(path_of("https://h/a/x%20y.txt"), "h/a/x y.txt");
  EXPECT_EQ(path_of("https://h/a/%C3%A9"), "h/a/\xC3\xA9");
  std::string canon;
  url_to_path("HTTPS://Dl.K8s.io:443/a/f?x#y", &canon);
  EXPECT_EQ(canon, "https://dl.k8s.io/a/f?x");
}

TEST(FilesListMapping, Rejects) {
  EXPECT_NE(error_of("ftp://h/x").find("unsupported scheme"), std::string::npos);
  EXPECT_NE(error_of("file:///etc/passwd").find("unsupported scheme"), std::string::npos);
  EXPECT_NE(error_of("/etc/passwd").find("file path"), std::string::npos);
  EXPECT_NE(error_of("dl.k8s.io/x").find("not a URL"), std::string::npos);
  EXPECT_NE(error_of("https://h/a/../b").find("'..'"), std::string::npos);
  EXPECT_NE(error_of("https://h/a/%2e%2E/b").find("'..'"), std::string::npos);
  EXPECT_NE(error_of("https://h/a/./b").find("'.'"), std::string::npos);
  EXPECT_NE(error_of("https://h/a//b").find("empty path segment"), std::string::npos);
  EXPECT_NE(error_of("https://h/a/").find("directory"), std::string::npos);
  EXPECT_NE(error_of("https://h").find("no file path"), std::string::npos);
  EXPECT_NE(error_of("https://h/").find("no file path"), std::string::npos);
  EXPECT_NE(error_of("https:///x").find("no host"), std::string::npos);
  EXPECT_NE(error_of("https://u:p@h/x").find("credentials"), std::string::npos);
  EXPECT_NE(error_of("https://h:99999/x").find("bad port"), std::string::npos);
  EXPECT_NE(error_of("https://h:0/x").find("bad port"), std::string::npos);
  EXPECT_NE(error_of("https://h:1:2/x").find("bad port"), std::string::npos);
  EXPECT_NE(error_of("https://h!x/y").find("bad host"), std::string::npos);
  EXPECT_NE(error_of("https://.h/y").find("bad host"), std::string::npos);
  EXPECT_NE(error_of("https://u@h/x").find("credentials"), std::string::npos);
  EXPECT_NE(error_of("file:///etc/passwd").find("unsupported scheme 'file'"), std::string::npos);
  EXPECT_NE(error_of("https://h/a%2Fb").find("%2F"), std::string::npos);
  EXPECT_NE(error_of("https://h/a%00b").find("control"), std::string::npos);
  EXPECT_NE(error_of("https://h/a\x01" "b").find("control"), std::string::npos);
  EXPECT_NE(error_of("https://h/a%zz").find("bad %-escape"), std::string::npos);
  EXPECT_NE(error_of("https://h/a%2").find("truncated"), std::string::npos);
  EXPECT_NE(error_of("https://h/a%2541").find("%25"), std::string::npos);
  EXPECT_NE(error_of("https://[::1]/a").find("IPv6"), std::string::npos);
  EXPECT_NE(error_of("https://h/" + std::string(300, 'a')).find("255"), std::string::npos);
}

TEST(FilesListParse, CommentsBlanksAndDigests) {
  std::string sha(64, 'A');
  auto v = parse_files_list(
      "# kubespray files\n"
      "\n"
      "   \n"
      "https://dl.k8s.io/a/kubelet\r\n"
      "  https://dl.k8s.io/a/kubeadm   sha256:" + sha + "  # pinned\n"
      "https://github.com/x/y # trailing comment\n",
      "files-amd64.list");
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[0].where, "files-amd64.list:4");
  EXPECT_EQ(v[0].path, "dl.k8s.io/a/kubelet");
  // A list saved with a UTF-8 byte-order mark reads the same.
  auto bom = parse_files_list("\xef\xbb\xbfhttps://dl.k8s.io/a/kubelet\n", "bom.list");
  ASSERT_EQ(bom.size(), 1u);
  EXPECT_EQ(bom[0].path, "dl.k8s.io/a/kubelet");
  EXPECT_EQ(v[1].digest, fetch::OciDigest::parse("sha256:" + std::string(64, 'a')));  // any case in a list
  EXPECT_EQ(v[1].where, "files-amd64.list:5");
  EXPECT_EQ(v[2].url, "https://github.com/x/y");
}

TEST(FilesListParse, MalformedLinesNamedWithFileAndLine) {
  try {
    parse_files_list("https://ok/x\nnot a url\nhttps://h/a/../b\nhttps://h/x sha256:1234\nftp://h/x\n", "l.list");
    FAIL() << "no error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("4 malformed"), std::string::npos) << m;
    EXPECT_NE(m.find("l.list:2:"), std::string::npos) << m;
    EXPECT_NE(m.find("l.list:3:"), std::string::npos) << m;
    EXPECT_NE(m.find("l.list:4:"), std::string::npos) << m;
    EXPECT_NE(m.find("l.list:5:"), std::string::npos) << m;
    EXPECT_EQ(m.find("l.list:1:"), std::string::npos) << m;
  }
}

TEST(FilesListParse, DedupAcrossListsAndConflicts) {
  TempDir t;
  std::string a(64, 'a'), b(64, 'b');
  write_file(t / "amd64.list", "https://dl.k8s.io/v/amd64/kubelet\nhttps://dl.k8s.io/v/shared.txt\n");
  write_file(t / "arm64.list", "https://dl.k8s.io/v/arm64/kubelet\nHTTPS://dl.k8s.io:443/v/shared.txt sha256:" + a + "\n");
  auto v = read_files_lists({t / "amd64.list", t / "arm64.list"});
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[1].path, "dl.k8s.io/v/shared.txt");
  EXPECT_EQ(v[1].digest, fetch::OciDigest::parse("sha256:" + a));  // digest taken from the repeat

  write_file(t / "conflict.list", "https://dl.k8s.io/v/shared.txt sha256:" + b + "\n");
  EXPECT_THROW(read_files_lists({t / "arm64.list", t / "conflict.list"}), Error);

  write_file(t / "dirfile.list", "https://h/a\nhttps://h/a/b\n");
  try {
    read_files_lists({t / "dirfile.list"});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("dirfile.list:2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(read_files_lists({t / "missing.list"}), Error);
}

TEST(FilesListParse, NothingFetchedOnMalformedList) {
  TempDir t;
  write_file(t / "bad.list", "https://127.0.0.1:1/x\nhttps://h/a//b\n");
  FilesListOptions o;
  o.lists = {t / "bad.list"};
  fetch::NetOptions net;
  net.cache_dir = t / "cache";
  try {
    fetch_files_lists(o, net);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.list:2"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(t / "cache" / "files"));
}

TEST(HttpOptions, ParseAndValidate) {
  CLI::App app;
  fetch::NetOptions net;
  FilesListOptions fl;
  auto* build = app.add_subcommand("build");
  std::vector<std::string> dirs;
  build->add_option("dirs", dirs);
  fetch::add_net_options(*build, net);
  add_files_list_options(*build, fl);
  TempDir t;
  write_file(t / "a.list", "");
  write_file(t / "b.list", "");
  std::vector<std::string> args = {"build",       "--files-list", (t / "a.list").string(), "--files-list",
                                   (t / "b.list").string(), "--mirror", "https://dl.k8s.io/=http://m/k8s/",
                                   "--resolve",   "dl.k8s.io:443:127.0.0.1", "--parallel", "3",
                                   "--checksums", "none", "x=dir", "--skip-missing", "--prefix", "f"};
  std::reverse(args.begin(), args.end());
  app.parse(args);
  EXPECT_EQ(fl.lists.size(), 2u);
  EXPECT_EQ(fl.checksums, "none");
  EXPECT_EQ(fl.prefix, "f");  // --prefix: the older name of --files-prefix
  {
    CLI::App app2;
    FilesListOptions fl2;
    auto* b2 = app2.add_subcommand("build");
    add_files_list_options(*b2, fl2);
    EXPECT_EQ(fl2.prefix, "files");
    app2.parse(std::vector<std::string>{"g", "--files-prefix", "build"});
    EXPECT_EQ(fl2.prefix, "g");
  }
  EXPECT_TRUE(fl.skip_missing);
  EXPECT_EQ(net.parallel, 3);
  ASSERT_EQ(net.mirrors.size(), 1u);
  EXPECT_EQ(net.mirrors[0].to, "http://m/k8s/");
  EXPECT_EQ(dirs, std::vector<std::string>{"x=dir"});
  EXPECT_NO_THROW(net.validate());
  fetch::Client c(net);
  EXPECT_EQ(c.rewrite("https://dl.k8s.io/release/x"), "http://m/k8s/release/x");
  EXPECT_EQ(c.rewrite("https://github.com/x"), "https://github.com/x");

  net.resolve = {"dl.k8s.io:443"};
  EXPECT_THROW(net.validate(), Error);
  EXPECT_THROW(fetch::parse_mirror("nothing"), Error);
}
