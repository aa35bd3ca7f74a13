// The tools' I/O seam (cli/tool_io.h): kso_pack_main and kso_fs_main print
// only to the streams they are given and read only the environment they are
// given, so tests run them in-process.
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <map>
#include <sstream>
#include <string>

#include "cli/tool_io.h"
#include "fs/kso_fs.h"
#include "index/error.h"
#include "index/index_meta.h"
#include "index/pack_reader.h"
#include "index/time_ns.h"
#include "tests/support/testutil.h"
#include "tools/kso_pack.h"
#include "tools/pack_args.h"

namespace kso {
namespace {

using namespace kso::test;

// What kso-pack's meta table records under `key`.
std::string meta_of(const fs::path& pack, const std::string& key) {
  auto p = Pack::open(pack);
  for (auto& [k, v] : p->meta())
    if (k == key) return v;
  return "";
}

class ToolIoSeam : public ::testing::Test {
 protected:
  void SetUp() override {
    write_file(tmp_ / "tree" / "a.txt", "alpha\n");
    write_file(tmp_ / "tree" / "sub" / "b.bin", random_bytes(200000, 7));
  }
  std::vector<std::string> build_args(const fs::path& out, bool verbose = false) {
    std::vector<std::string> a{verbose ? "-v" : "-q", "build", "--threads", "2", "-o", out.string(),
                               "data=" + (tmp_ / "tree").string()};
    return a;
  }
  TempDir tmp_{"kso-tool-io"};
};

// Everything lands in the given streams: the process's fd 1 and 2 get nothing
// (answers, logs, help, version, refusals of both tools).
TEST_F(ToolIoSeam, OutputGoesToTheGivenStreamsOnly) {
  const fs::path pack = tmp_ / "p.kso";
  fs::create_directories(tmp_ / "mnt");
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  ToolResult build = kso_pack(build_args(pack, true));
  ToolResult info = kso_pack({"info", pack.string()});
  ToolResult ls = kso_pack({"ls", "-R", pack.string()});
  ToolResult cat = kso_pack({"cat", pack.string(), "data/sub/b.bin"});
  ToolResult verify = kso_pack({"verify", pack.string()});
  ToolResult help = kso_pack({"--help"});
  ToolResult version = kso_pack({"--version"});
  ToolResult bad = kso_pack({"info", (tmp_ / "missing.kso").string()});
  ToolResult fs_help = kso_fs({"--help"});
  ToolResult fs_version = kso_fs({"--version"});
  ToolResult fs_usage = kso_fs({});
  ToolResult fs_bad_opt = kso_fs({pack.string(), (tmp_ / "mnt").string(), "-o", "no_such_option_at_all"});
  ToolResult fs_status = kso_fs({"--status", tmp_.path().string()});
  const std::string fd2 = ::testing::internal::GetCapturedStderr();
  const std::string fd1 = ::testing::internal::GetCapturedStdout();
  EXPECT_EQ(fd1, "") << "written to the process's stdout";
  EXPECT_EQ(fd2, "") << "written to the process's stderr";

  ASSERT_EQ(build.status, 0) << build.err;
  EXPECT_EQ(build.out, "");
  EXPECT_NE(build.err.find("kso-pack: info: wrote " + pack.string()), std::string::npos) << build.err;
  EXPECT_EQ(info.status, 0) << info.err;
  EXPECT_NE(info.out.find("identity:      " + to_hex(Pack::open(pack)->identity()) + "\n"), std::string::npos);
  EXPECT_NE(ls.out.find("data/sub/b.bin"), std::string::npos) << ls.out;
  EXPECT_TRUE(cat.out == random_bytes(200000, 7)) << "cat's bytes are not the file's (" << cat.out.size() << " bytes)";
  EXPECT_EQ(verify.status, 0) << verify.err;
  EXPECT_EQ(verify.out.rfind("ok: " + pack.string() + ":", 0), 0u) << verify.out;
  EXPECT_EQ(help.status, 0);
  EXPECT_NE(help.out.find("kso-pack"), std::string::npos) << help.out;
  EXPECT_EQ(version.status, 0);
  EXPECT_EQ(version.out.rfind("kso-pack ", 0), 0u) << version.out;
  EXPECT_EQ(bad.status, 1);
  EXPECT_EQ(one_line_error(bad.err, "kso-pack: error: ", {"missing.kso"}), "");
  EXPECT_EQ(fs_help.status, 0);
  EXPECT_EQ(fs_help.out.rfind("usage: kso-fs PACK", 0), 0u) << fs_help.out;
  EXPECT_NE(fs_help.out.find("-o allow_escaping_symlinks"), std::string::npos);
  EXPECT_NE(fs_help.out.find("max_threads"), std::string::npos) << "libfuse's own help is missing: " << fs_help.out;
  EXPECT_EQ(fs_version.status, 0);
  EXPECT_EQ(fs_version.out.rfind("kso-fs ", 0), 0u) << fs_version.out;
  EXPECT_EQ(fs_usage.status, 2);
  EXPECT_EQ(one_line_error(fs_usage.err, "kso-fs: error: ", {"usage: kso-fs PACK"}), "");
  EXPECT_EQ(fs_bad_opt.status, 2) << fs_bad_opt.err;
  EXPECT_NE(fs_bad_opt.err.find("no_such_option_at_all"), std::string::npos) << fs_bad_opt.err;
  EXPECT_EQ(fs_status.status, 1);
  EXPECT_EQ(one_line_error(fs_status.err, "kso-fs: error: ", {"not a kso-fs mount"}), "");
}

// SOURCE_DATE_EPOCH given through the seam only (the process environment has
// none): it is the recorded build time, and two builds are the same bytes.
TEST_F(ToolIoSeam, EnvironmentThroughTheSeamSetsTheBuildTime) {
  ASSERT_EQ(getenv("SOURCE_DATE_EPOCH"), nullptr) << "the test process must not have SOURCE_DATE_EPOCH set";
  const int64_t epoch = 1600000000;
  const ToolEnv env{{"SOURCE_DATE_EPOCH", std::to_string(epoch)}};
  const fs::path a = tmp_ / "a.kso", b = tmp_ / "b.kso", now = tmp_ / "now.kso";
  ASSERT_EQ(kso_pack(build_args(a), env).status, 0);
  ASSERT_EQ(kso_pack({"-q", "build", "--threads", "1", "-o", b.string(), "data=" + (tmp_ / "tree").string()}, env).status,
            0);
  EXPECT_TRUE(read_file(a) == read_file(b)) << "two builds with the same SOURCE_DATE_EPOCH differ";
  EXPECT_EQ(meta_of(a, kMetaCreated), std::to_string(epoch));
  EXPECT_EQ(Pack::open(a)->stat(kRootIno)->mtime_ns, epoch * kNsPerSec);
  // Source mtimes after it are clamped to it (the tree was written just now).
  EXPECT_EQ(Pack::open(a)->lookup_path("data/a.txt")->mtime_ns, epoch * kNsPerSec);
  // Without it (the same process, the same tree): the time of the build.
  ASSERT_EQ(kso_pack(build_args(now)).status, 0);
  EXPECT_GT(std::stoll(meta_of(now, kMetaCreated)), epoch);
  // A SourceDateEpoch scope gives it the same way, and the process env still has none.
  {
    SourceDateEpoch scope(epoch);
    const fs::path c = tmp_ / "c.kso";
    ASSERT_EQ(kso_pack(build_args(c)).status, 0);
    EXPECT_TRUE(read_file(a) == read_file(c));
    EXPECT_EQ(getenv("SOURCE_DATE_EPOCH"), nullptr);
  }
}

// A bad command line: exit 2, nothing on out, the message and the hint on err.
TEST_F(ToolIoSeam, UsageErrorGoesToErrWithExitTwo) {
  ToolResult r = kso_pack({"info", "--no-such-option", "x.kso"});
  EXPECT_EQ(r.status, kExitUsage);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err.rfind("kso-pack: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("--no-such-option"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.substr(r.err.find('\n') + 1), "Run 'kso-pack --help' for usage.\n") << r.err;
  // One the command (not the parser) refuses: the same two lines.
  ToolResult u = kso_pack({"check", (tmp_ / "x.kso").string()});
  EXPECT_EQ(u.status, kExitUsage) << u.err;
  EXPECT_EQ(u.out, "");
  EXPECT_EQ(u.err, "kso-pack: error: check needs --files-list or --images-list (or both)\n"
                   "Run 'kso-pack --help' for usage.\n");
}

// The log follows each run's own streams: a run after another logs to its
// err, not to the first run's (the logger is replaced per run), and the
// default logger is put back after the run.
TEST_F(ToolIoSeam, EachRunLogsToItsOwnStreams) {
  std::ostringstream out1, err1, out2, err2;
  ToolIo io1{out1, err1, false, {}};
  ToolIo io2{out2, err2, true, {}};  // "a terminal": the level in colour
  auto before = spdlog::default_logger();
  ASSERT_EQ(kso_pack_main(build_args(tmp_ / "1.kso", true), io1), 0) << err1.str();
  const std::string first = err1.str();
  ASSERT_EQ(kso_pack_main(build_args(tmp_ / "2.kso", true), io2), 0) << err2.str();
  EXPECT_EQ(err1.str(), first) << "the second run logged into the first run's stream";
  EXPECT_NE(first.find("kso-pack: info: wrote "), std::string::npos) << first;
  EXPECT_EQ(first.find('\033'), std::string::npos) << "colour codes on a non-terminal";
  EXPECT_NE(err2.str().find("kso-pack: \033[32minfo\033[m: wrote "), std::string::npos) << err2.str();
  EXPECT_EQ(spdlog::default_logger(), before);
  EXPECT_EQ(spdlog::get("kso"), nullptr);
}

// The download cache dir and the netrc file come from the tool's environment
// (the fetch library reads none of it).
TEST_F(ToolIoSeam, CacheDirAndNetrcComeFromTheToolsEnvironment) {
  std::map<std::string, std::string> vars;
  std::ostringstream out, err;
  ToolIo io{out, err, false, [&](const std::string& n) -> std::optional<std::string> {
              auto it = vars.find(n);
              return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
            }};
  vars = {{"XDG_CACHE_HOME", "/x"}, {"HOME", "/h"}, {"NETRC", "/n/netrc"}};
  fetch::NetOptions n = tool_net_options({}, io);
  EXPECT_EQ(n.effective_cache_dir(), fs::path("/x/kso"));
  EXPECT_EQ(n.netrc_file, "/n/netrc");
  vars = {{"XDG_CACHE_HOME", "relative"}, {"HOME", "/h"}};
  n = tool_net_options({}, io);
  EXPECT_EQ(n.effective_cache_dir(), fs::path("/h/.cache/kso"));
  EXPECT_EQ(n.netrc_file, "");
  fetch::NetOptions given;
  given.cache_dir = "/given";
  EXPECT_EQ(tool_net_options(given, io).effective_cache_dir(), fs::path("/given"));
  vars.clear();
  EXPECT_THROW(tool_net_options({}, io).effective_cache_dir(), Error);
  // Through kso-pack: without HOME and XDG_CACHE_HOME in its environment
  // (the test process keeps its own), a command has no cache dir for URLs.
  ToolResult r = kso_pack({"info", (tmp_ / "none.kso").string()}, {{"HOME", std::nullopt}, {"XDG_CACHE_HOME", std::nullopt}});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(one_line_error(r.err, "kso-pack: error: ", {"no cache dir"}), "");
}

// A few runs of the real binaries (main() on ToolIo::process()): the same
// bytes as in-process, on the process's stdout and stderr.
TEST_F(ToolIoSeam, RealBinariesPrintWhatTheInProcessRunsPrint) {
  const std::string pack_bin = q(kso_pack_bin()), fs_bin = q(kso_fs_bin());
  for (const char* a : {"--help", "--version"}) {
    SCOPED_TRACE(a);
    RunResult bin = run(pack_bin + " " + a + " 2>/dev/null");
    ToolResult in = kso_pack({a});
    EXPECT_EQ(bin.status, 0);
    EXPECT_EQ(bin.output, in.out);
    bin = run(fs_bin + " " + a + " 2>/dev/null");
    in = kso_fs({a});
    EXPECT_EQ(bin.status, 0);
    EXPECT_EQ(bin.output, in.out);
  }
  // A usage error: exit 2, the message and the hint on stderr, nothing on stdout.
  RunResult u = run(pack_bin + " info --no-such-option x.kso 2>/dev/null");
  EXPECT_EQ(u.status, 2);
  EXPECT_EQ(u.output, "");
  u = run(pack_bin + " info --no-such-option x.kso 2>&1 >/dev/null");
  EXPECT_EQ(u.output, kso_pack({"info", "--no-such-option", "x.kso"}).err);
  // Build and verify: SOURCE_DATE_EPOCH from the real environment gives the
  // bytes an in-process build with it in its ToolEnv gives.
  const fs::path a = tmp_ / "bin.kso", b = tmp_ / "in.kso";
  RunResult built = run("SOURCE_DATE_EPOCH=1600000000 " + pack_bin + " -q build --threads 2 -o " + q(a) + " data=" +
                        q(tmp_ / "tree"));
  ASSERT_EQ(built.status, 0) << built.output;
  EXPECT_EQ(built.output, "");
  ASSERT_EQ(kso_pack(build_args(b), {{"SOURCE_DATE_EPOCH", "1600000000"}}).status, 0);
  EXPECT_TRUE(read_file(a) == read_file(b)) << "the binary's build differs from the in-process one";
  RunResult v = run(pack_bin + " verify " + q(a) + " 2>/dev/null");
  EXPECT_EQ(v.status, 0) << v.output;
  EXPECT_EQ(v.output, kso_pack({"verify", a.string()}).out);
}

}  // namespace
}  // namespace kso
