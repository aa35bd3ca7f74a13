// The small helpers every source shares (no network): content digests,
// base64, pack prefixes, shell quoting in the tests.
#include <gtest/gtest.h>

#include "index/error.h"
#include "index/sha256.h"
#include "tests/support/testutil.h"
#include "tools/dir_source.h"
#include "fetch/digest.h"
#include "fetch/net_options.h"
#include "tools/files_list.h"
#include "tools/images/images_options.h"
#include "tools/images/pull.h"
#include "tools/pack_prefix.h"
#include "tools/images/manifest.h"
#include "tools/images/reference.h"
#include "tools/text.h"

namespace kso {
namespace {

using fetch::OciDigest;

const std::string kHex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

TEST(OciDigest, AcceptsOnlySha256AndLowerCaseHex) {
  struct Case {
    std::string in;
    bool ok;
    const char* why;  // part of the refusal message
  } cases[] = {
      {"sha256:" + kHex, true, ""},
      {"sha256:" + std::string(64, 'f'), true, ""},
      {"sha256:" + std::string(64, '0'), true, ""},
      {"", false, "no 'sha256:'"},
      {kHex, false, "no 'sha256:'"},
      {":" + kHex, false, "no 'sha256:'"},
      {"sha256" + kHex, false, "no 'sha256:'"},
      {"SHA256:" + kHex, false, "unsupported digest algorithm"},
      {"sha512:" + kHex + kHex, false, "unsupported digest algorithm"},
      {"md5:0123", false, "unsupported digest algorithm"},
      {"sha256:", false, "64 hex digits"},
      {"sha256:" + kHex.substr(1), false, "64 hex digits"},
      {"sha256:" + kHex + "0", false, "64 hex digits"},
      {"sha256:" + kHex + "\n", false, "64 hex digits"},
      {" sha256:" + kHex, false, "unsupported digest algorithm ' sha256'"},
      {"sha256:" + std::string(64, 'F'), false, "lower-case hex"},
      {"sha256:" + kHex.substr(0, 63) + "A", false, "lower-case hex"},
      {"sha256:" + kHex.substr(0, 63) + "g", false, "lower-case hex"},
      {"sha256:" + kHex.substr(0, 63) + " ", false, "lower-case hex"},
      {"sha256:" + kHex.substr(0, 32) + std::string(1, '\0') + kHex.substr(33), false, "lower-case hex"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(OciDigest::try_parse(c.in).has_value(), c.ok) << c.in;
    if (c.ok) {
      auto d = OciDigest::parse(c.in);
      EXPECT_EQ(d.str(), c.in);
      EXPECT_EQ(d.hex(), c.in.substr(7));
      continue;
    }
    try {
      OciDigest::parse(c.in);
      ADD_FAILURE() << "accepted " << c.in;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(c.why), std::string::npos) << c.in << ": " << e.what();
    }
  }
}

TEST(OciDigest, OfContentAndOrdering) {
  std::string data = "hello\n";
  auto d = OciDigest::of(sha256(data.data(), data.size()));
  EXPECT_EQ(d.str(), "sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03");
  EXPECT_EQ(d.hex(), fetch::sha256_hex(data));
  EXPECT_TRUE(d == d.str());
  EXPECT_LT(OciDigest::parse("sha256:" + std::string(64, '0')), d);
}

// Every place a digest comes in applies that one rule.
TEST(OciDigest, EverySourceUsesTheOneRule) {
  std::string upper = "sha256:" + std::string(64, 'A');
  EXPECT_THROW(images::parse_image_ref("nginx@" + upper), Error);
  EXPECT_THROW(images::parse_image_ref("nginx@sha256:" + kHex.substr(1)), Error);
  EXPECT_EQ(images::parse_image_ref("nginx@sha256:" + kHex).digest->hex(), kHex);
  auto manifest = [](const std::string& digest) {
    return R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"digest":")" +
           digest + R"(","size":1}]})";
  };
  EXPECT_NO_THROW(images::parse_manifest(manifest("sha256:" + kHex), ""));
  for (const std::string& bad : {upper, "sha256:" + kHex.substr(1), kHex, std::string("sha512:aa")}) {
    try {
      images::parse_manifest(manifest(bad), "");
      ADD_FAILURE() << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("in index entry"), std::string::npos) << e.what();
    }
  }
}

TEST(Base64, EncodesLikeRfc4648) {
  struct Case {
    std::string data, std, url;
  } cases[] = {
      {"", "", ""},
      {"f", "Zg==", "Zg"},
      {"fo", "Zm8=", "Zm8"},
      {"foo", "Zm9v", "Zm9v"},
      {"foob", "Zm9vYg==", "Zm9vYg"},
      {"fooba", "Zm9vYmE=", "Zm9vYmE"},
      {"foobar", "Zm9vYmFy", "Zm9vYmFy"},
      {"\xfb\xff\xbf", "+/+/", "-_-_"},
      {std::string("a\0b", 3), "YQBi", "YQBi"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(base64_encode(c.data), c.std) << c.data;
    EXPECT_EQ(base64url_encode(c.data), c.url) << c.data;
    EXPECT_EQ(base64_decode(c.std), c.data) << c.std;
  }
  EXPECT_EQ(base64_decode("a3NvOmtzby1zZWNyZXQ="), "kso:kso-secret");
}

TEST(Base64, DecodingIsStrict) {
  for (const char* bad : {"Zg", "Zg=", "Zm8", "Zg===", "Z===", "====", "=Zg=", "Z=g=", "Zg=a", "Zm=v",  // shape
                          "Zh==", "Zm9=", "Zm/=",                 // leftover bits set: not the one encoding
                          " Zg==", "Zg== ", "Zg==\n", "Zm\n9v",  // blanks anywhere
                          "Zm9v-_", "Zm9v-_==", "Zm.v", "Zm9v\x80" "AAA"}) {
    EXPECT_THROW(base64_decode(bad), Error) << bad;
  }
}

TEST(Text, UrlEscapeKeepsOnlyUnreserved) {
  EXPECT_EQ(url_escape("repository:library/nginx:pull"), "repository%3Alibrary%2Fnginx%3Apull");
  EXPECT_EQ(url_escape("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(url_escape(std::string("a b\0\xff+%", 7)), "a%20b%00%FF%2B%25");
  EXPECT_EQ(url_unescape("a%20b%00%FF%2B%25"), std::string("a b\0\xff+%", 7));
  EXPECT_EQ(url_unescape("100%zz%2"), "100%zz%2");  // not an escape: kept
}

TEST(Text, UrlEscapeKeepsWhatItIsTold) {
  EXPECT_EQ(url_escape("a b:c@d/e", ":@"), "a%20b:c@d%2Fe");
  EXPECT_EQ(url_escape("::", ":"), "::");
  EXPECT_EQ(url_escape("", ":"), "");
}

TEST(Text, PrintableEscapesWhatIsNotUtf8) {
  const std::string utf8 = "plain/caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80";
  EXPECT_EQ(printable(utf8), utf8);
  EXPECT_EQ(printable("a\\b\tc\x7f"), "a\\\\b\\x09c\\x7f");
  EXPECT_EQ(printable("\xc2\x85"), "\\xc2\\x85");              // C1 control
  EXPECT_EQ(printable("\xc0\xaf"), "\\xc0\\xaf");              // overlong '/'
  EXPECT_EQ(printable("\xe0\x80\xaf"), "\\xe0\\x80\\xaf");  // overlong, 3 bytes
  EXPECT_EQ(printable("\xed\xa0\x80"), "\\xed\\xa0\\x80");  // a surrogate
  EXPECT_EQ(printable("\xf0\x80\x80\xaf"), "\\xf0\\x80\\x80\\xaf");  // overlong, 4 bytes
  EXPECT_EQ(printable("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");  // above U+10FFFF
  EXPECT_EQ(printable("\xf8\x80\x80"), "\\xf8\\x80\\x80");  // no such lead byte
  EXPECT_EQ(printable("\xe2\x82"), "\\xe2\\x82");              // truncated
}

TEST(Text, LowerIsAscii) {
  EXPECT_EQ(lower("HTTPS://Dl.K8s.IO"), "https://dl.k8s.io");
  EXPECT_EQ(lower("\xC3\x89t\xC3\xA9"), "\xC3\x89t\xC3\xA9");  // bytes above ASCII stay
}

TEST(PackPrefix, OneRule) {
  for (auto [in, want] : std::vector<std::pair<std::string, std::string>>{
           {"files", "files"}, {"registry", "registry"}, {"a/b", "a/b"}, {"files/", "files"}, {"a/b//", "a/b"},
           {"with space", "with space"}, {".hidden", ".hidden"}, {"a..b", "a..b"}}) {
    EXPECT_EQ(pack_prefix(in), want) << in;
  }
  for (const std::string& bad : std::vector<std::string>{"", ".", "..", "/", "//", "/x", "/x/", "a//b", "./a", "a/.",
                                                         "a/./b", "a/../b", "../a", "a/..", std::string("a\0b", 3)}) {
    try {
      pack_prefix(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_EQ(e.errno_value(), EINVAL) << bad;
      EXPECT_NE(std::string(e.what()).find("bad pack path"), std::string::npos) << e.what();
    }
  }
}

// PREFIX=DIR, --files-prefix and --images-prefix refuse the same prefixes.
TEST(PackPrefix, EverySourceUsesTheOneRule) {
  test::TempDir t;
  test::write_file(t / "l.list", "https://dl.k8s.io/x\n");
  fetch::NetOptions net;
  net.cache_dir = t / "cache";
  for (std::string bad : {"", ".", "..", "/", "/abs", "a//b", "a/../b"}) {
    EXPECT_THROW(parse_dir_spec(bad + "=" + t.path().string()), Error) << bad;
    FilesListOptions fo;
    fo.lists = {t / "l.list"};
    fo.prefix = bad;
    try {
      fetch_files_lists(fo, net);
      ADD_FAILURE() << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("--files-prefix: bad pack path"), std::string::npos) << e.what();
    }
    images::ImagesOptions io;
    io.lists = {t / "l.list"};
    io.prefix = bad;
    try {
      images::pull_images(io, net);
      ADD_FAILURE() << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("--images-prefix: bad pack path"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(parse_dir_spec("files/=" + t.path().string()).prefix, "files");
  EXPECT_FALSE(std::filesystem::exists(t / "cache"));  // refused before anything was fetched
}

TEST(ShellQuote, OneWordWhateverItHolds) {
  for (std::string s : {"plain", "", "with space", "it's", "''", "a'b'c", "$HOME `id` $(id) \\ \" *", "line\nbreak",
                        "-n", "'; echo injected; '"}) {
    auto r = test::run("printf '%s' " + test::q(s));
    EXPECT_EQ(r.status, 0) << s;
    EXPECT_EQ(r.output, s);
  }
  EXPECT_EQ(test::q("it's"), "'it'\\''s'");
  EXPECT_EQ(test::q(std::filesystem::path("/tmp/a b")), "'/tmp/a b'");
}

}  // namespace
}  // namespace kso
