// A source that knows a file's SHA-256 gets it checked by the writer, which
// hashes every file anyway: a mismatch fails the build and leaves no pack.
#include <gtest/gtest.h>

#include "index/error.h"
#include "index/pack_reader.h"
#include "index/pack_writer.h"
#include "tests/support/testutil.h"

namespace kso {
namespace {

SourceEntry file(const std::string& path, const std::string& data, const std::string& expect) {
  SourceEntry e;
  e.path = path;
  e.inline_data = data;
  e.expect_sha256 = expect;
  return e;
}

TEST(PackExpect, MatchingDigestBuilds) {
  test::TempDir dir;
  PackWriter w(dir / "ok.kso", WriterOptions{});
  w.add(file("a", "hello", test::sha256_hex("hello")));
  w.finish();
  auto p = Pack::open(dir / "ok.kso");
  EXPECT_TRUE(p->lookup_path("a"));
}

TEST(PackExpect, MismatchFailsAndLeavesNothing) {
  test::TempDir dir;
  {
    PackWriter w(dir / "bad.kso", WriterOptions{});
    w.add(file("good", "fine", test::sha256_hex("fine")));
    w.add(file("blob", "tampered", test::sha256_hex("original")));
    try {
      w.finish();
      FAIL() << "finish() accepted content with the wrong digest";
    } catch (const Error& e) {
      std::string m = e.what();
      EXPECT_NE(m.find("blob"), std::string::npos) << m;
      EXPECT_NE(m.find(test::sha256_hex("original")), std::string::npos) << m;
      EXPECT_NE(m.find(test::sha256_hex("tampered")), std::string::npos) << m;
    }
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir.path())) << "temp files or a pack were left behind";
}

}  // namespace
}  // namespace kso
