// kso-pack as users run it: bad input gives one clear line, a non-zero exit
// and no OUT; interrupted builds leave nothing; ls/cat/info/extract output.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "index/error.h"
#include "index/pack_reader.h"
#include "index/write/pack_writer.h"
#include "tests/support/testutil.h"
#include "tests/support/tree_gen.h"

namespace kso {
namespace {

using namespace kso::test;

std::string bin() { return kso_pack_bin().string(); }

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> v;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) v.push_back(l);
  return v;
}

// Names in `dir` (no recursion).
std::vector<std::string> list_dir(const fs::path& dir) {
  std::vector<std::string> v;
  for (auto& e : fs::directory_iterator(dir)) v.push_back(e.path().filename().string());
  std::sort(v.begin(), v.end());
  return v;
}

// A failed build: non-zero, exactly one error line naming `expect`, and no
// OUT or temp file next to it.
void expect_clean_failure(const RunResult& r, const fs::path& out_dir, const std::string& expect, int status = 1) {
  EXPECT_EQ(r.status, status) << r.output;
  int errors = 0;
  for (auto& l : lines_of(r.output)) {
    if (l.rfind("kso-pack: error: ", 0) == 0) {
      errors++;
      EXPECT_NE(l.find(expect), std::string::npos) << "error line: " << l;
    } else if (status == 1) {
      EXPECT_EQ(l.rfind("kso-pack: info: ", 0), 0u) << "unexpected output line: " << l;
    }
  }
  if (status == 1) {
    EXPECT_EQ(errors, 1) << r.output;
  }
  if (status == 2) {
    EXPECT_NE(r.output.find(expect), std::string::npos) << r.output;
  }
  if (fs::exists(out_dir)) {
    EXPECT_TRUE(list_dir(out_dir).empty()) << "left behind: " << list_dir(out_dir).front();
  }
}

// Holds every open(2) of one file until answered (fanotify FAN_OPEN_PERM):
// stops a process at a known point without guessing how long it takes to
// get there. Needs CAP_SYS_ADMIN; error() says why not when unavailable.
// Opens still pending when it goes are allowed by the kernel.
class OpenGate {
 public:
  explicit OpenGate(const fs::path& file) {
    fd_ = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC, O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) {
      error_ = std::string("fanotify_init: ") + strerror(errno);
    } else if (fanotify_mark(fd_, FAN_MARK_ADD, FAN_OPEN_PERM, AT_FDCWD, file.c_str()) != 0) {
      error_ = std::string("fanotify_mark: ") + strerror(errno);
    }
  }
  ~OpenGate() {
    if (pending_ >= 0) answer(FAN_ALLOW);
    if (fd_ >= 0) close(fd_);
  }
  OpenGate(const OpenGate&) = delete;
  OpenGate& operator=(const OpenGate&) = delete;
  const std::string& error() const { return error_; }

  // Waits up to `timeout` for process `pid` to open the file and holds it
  // there (other processes' opens are let through). False on timeout.
  bool wait_open(pid_t pid, std::chrono::milliseconds timeout) {
    auto until = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, int(left.count())) <= 0) continue;
      fanotify_event_metadata ev[8];
      ssize_t n = read(fd_, ev, sizeof ev);
      if (n <= 0) continue;
      for (auto* m = ev; FAN_EVENT_OK(m, n); m = FAN_EVENT_NEXT(m, n)) {
        if (m->fd < 0) continue;
        if (m->pid == pid && pending_ < 0) {
          pending_ = m->fd;  // held
        } else {
          fanotify_response r{m->fd, FAN_ALLOW};
          (void)!write(fd_, &r, sizeof r);
          close(m->fd);
        }
      }
      if (pending_ >= 0) return true;
    }
  }
  // Lets the held open go on.
  void release() {
    if (pending_ >= 0) answer(FAN_ALLOW);
  }

 private:
  void answer(uint32_t how) {
    fanotify_response r{pending_, how};
    (void)!write(fd_, &r, sizeof r);  // fails if the opener is gone: nothing to answer
    close(pending_);
    pending_ = -1;
  }
  int fd_ = -1;
  int pending_ = -1;
  std::string error_;
};

class Cli : public ::testing::Test {
 protected:
  TempDir tmp{"kso-cli"};
  fs::path a = tmp / "a", b = tmp / "b", out_dir = tmp / "out", out = out_dir / "p.kso";
  void SetUp() override {
    write_file(a / "x", "x from a\n");
    write_file(a / "sub" / "y", "y\n");
    write_file(b / "x", "x from b\n");
    fs::create_directories(out_dir);
  }
  RunResult build(const std::string& args) { return kso_pack_words("build -o " + out.string() + " " + args); }
};

TEST_F(Cli, BadSourcesFailWithOneLineAndNoOutput) {
  expect_clean_failure(build("files=" + (tmp / "missing").string()), out_dir,
                       "source directory " + (tmp / "missing").string() + ": No such file or directory");
  expect_clean_failure(build("files=" + (a / "x").string()), out_dir, "is not a directory");
  expect_clean_failure(build("files"), out_dir, "bad source 'files': expected PREFIX=DIR");
  expect_clean_failure(build("=" + a.string()), out_dir, "bad source '=" + a.string() + "'");
  expect_clean_failure(build("files="), out_dir, "bad source 'files='");
  expect_clean_failure(build("../x=" + a.string()), out_dir, "bad source '../x=" + a.string() + "'");
  expect_clean_failure(build("files/../x=" + a.string()), out_dir, "'.' or '..'");
  expect_clean_failure(build("/abs=" + a.string()), out_dir, "absolute");
  expect_clean_failure(build("a//b=" + a.string()), out_dir, "empty segment");
  expect_clean_failure(build(""), out_dir, "nothing to pack");
  // The same path from two sources.
  expect_clean_failure(build("files=" + a.string() + " files=" + b.string()), out_dir, "duplicate path 'files'");
  // The prefix rule (tools/pack_prefix.h): no "." (the pack root), "/" or empty prefix either.
  expect_clean_failure(build(".=" + a.string()), out_dir, "bad source '.=" + a.string() + "': prefix");
  expect_clean_failure(build("/=" + a.string()), out_dir, "absolute");
  expect_clean_failure(build("files/./x=" + a.string()), out_dir, "'.' or '..'");
  // A source's file where another source's directory goes.
  expect_clean_failure(build("t=" + a.string() + " t/x/deeper=" + b.string()), out_dir, "not a directory");
  // Nothing was written: a good build afterwards works.
  auto r = build("files=" + a.string() + " more=" + b.string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(list_dir(out_dir), std::vector<std::string>{"p.kso"});
}

TEST_F(Cli, MissingOutputDirFails) {
  fs::path o = tmp / "no" / "such" / "dir" / "p.kso";
  auto r = kso_pack_words("build -o " + o.string() + " files=" + a.string());
  EXPECT_EQ(r.status, 1) << r.output;
  int errors = 0;
  for (auto& l : lines_of(r.output)) errors += l.rfind("kso-pack: error: ", 0) == 0;
  EXPECT_EQ(errors, 1) << r.output;
  EXPECT_NE(r.output.find((tmp / "no" / "such" / "dir").string()), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("entries from"), std::string::npos) << "sources were read first: " << r.output;
  EXPECT_FALSE(fs::exists(tmp / "no"));
}

TEST_F(Cli, OptionsAreValidated) {
  struct Case {
    std::string args, expect;
    int status;
  } cases[] = {
      {"--block-size 1K", "must be between 64K and 64M", 2},
      {"--block-size 65M", "must be between 64K and 64M", 2},
      {"--raw-block-size 63K", "must be between 64K and 64M", 2},
      {"--raw-block-size 128M", "must be between 64K and 64M", 2},
      {"--raw-block-size 5G", "must be between 64K and 64M", 2},
      {"--raw-block-size 128K", "must be at least the maximum chunk size", 2},
      {"--block-size 5G", "between 64K and 64M", 2},
      {"--block-size abc", "bad size 'abc'", 2},
      {"--block-size 4X", "bad size unit", 2},
      {"--block-size 3X", "bad size unit", 2},
      {"--raw-block-size 1K", "between 64K and 64M", 2},
      {"--block-size 128K", "must be at least the maximum chunk size", 2},
      {"--chunk 16K/60K/256K", "bad chunk sizes", 2},
      {"--chunk 16K/64K", "bad --chunk '16K/64K'", 2},
      {"--chunk 64K/16K/256K", "bad chunk sizes", 2},
      {"--chunk 32/64/128", "bad chunk sizes", 2},
      {"--chunk 1K/4K/128M", "bad chunk sizes", 2},
      {"--chunk a/b/c", "bad size 'a'", 2},
      {"--level 0", "not in range", 2},
      {"--level 23", "not in range", 2},
      {"--level -3", "not in range", 2},
      {"--level x", "level", 2},
      {"--order random", "order", 2},
      {"--threads -1", "threads", 2},
  };
  for (auto& c : cases) {
    SCOPED_TRACE(c.args);
    expect_clean_failure(build(c.args + " files=" + a.string()), out_dir, c.expect, c.status);
  }
  // Valid non-default settings are used and recorded.
  auto r = build("--block-size 64K --chunk 1K/4K/16K --level 1 --threads 1 --order path files=" + a.string());
  ASSERT_EQ(r.status, 0) << r.output;
  r = kso_pack_words("info " + out.string());
  EXPECT_NE(r.output.find("settings:      zstd level 1, blocks 65536 B (raw 1048576 B), chunks 1024/4096/16384 B, "
                          "order tree"),
            std::string::npos)
      << r.output;
}

TEST_F(Cli, UsageErrorsExit2) {
  auto r = kso_pack_words("");
  EXPECT_EQ(r.status, 2) << r.output;
  r = kso_pack_words("frobnicate");
  EXPECT_EQ(r.status, 2) << r.output;
  r = kso_pack_words("build files=" + a.string());  // no -o
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("--output"), std::string::npos) << r.output;
  // A pack that is not there is a failure naming it, not a usage error.
  r = kso_pack_words("cat " + (tmp / "nope.kso").string() + " x");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("cannot open " + (tmp / "nope.kso").string() + ": No such file"), std::string::npos)
      << r.output;
  ASSERT_EQ(build("files=" + a.string()).status, 0);
  r = kso_pack_words("cat " + out.string());  // no path
  EXPECT_EQ(r.status, 2) << r.output;
  r = kso_pack_words("extract " + out.string() + " a b c");
  EXPECT_EQ(r.status, 2) << r.output;
  r = kso_pack_words("--help");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.output.find("build"), std::string::npos);
}

// Root ignores permissions, so an unreadable file is made by running kso-pack
// as nobody; the library path is covered with a file that vanishes after the
// scan (what a concurrent `rm` does mid-build).
TEST_F(Cli, UnreadableSourceFileFailsCleanly) {
  write_file(a / "secret", "no\n");
  chmod((a / "secret").c_str(), 0);
  if (geteuid() == 0 && have_command("setpriv")) {
    chmod(tmp.path().c_str(), 0777);
    chmod(out_dir.c_str(), 0777);
    auto probe = run("setpriv --reuid=65534 --regid=65534 --clear-groups " + bin() + " --help");
    if (probe.status == 0) {
      auto r = run("setpriv --reuid=65534 --regid=65534 --clear-groups " + bin() + " build -o " + out.string() +
                   " files=" + a.string());
      expect_clean_failure(r, out_dir, "cannot read " + (a / "secret").string() + ": Permission denied");
    } else {
      std::cerr << "note: cannot run kso-pack as nobody (" << probe.output << "); CLI case skipped\n";
    }
  } else if (geteuid() != 0) {
    auto r = build("files=" + a.string());
    expect_clean_failure(r, out_dir, "cannot read " + (a / "secret").string());
  }

  // Library: the file disappears between scan and finish().
  fs::remove(a / "secret");
  write_file(a / "vanishing", "here for the scan\n");
  {
    PackWriter w(out, small_writer_options());
    SourceEntry e;
    e.path = "files/ok";
    e.source_file = a / "x";
    w.add(e);
    e.path = "files/vanishing";
    e.source_file = a / "vanishing";
    w.add(e);
    fs::remove(a / "vanishing");
    try {
      w.finish();
      ADD_FAILURE() << "finish() succeeded without a source file";
    } catch (const Error& err) {
      EXPECT_NE(std::string(err.what()).find("cannot read " + (a / "vanishing").string()), std::string::npos)
          << err.what();
      EXPECT_EQ(err.errno_value(), ENOENT);
    }
    EXPECT_TRUE(list_dir(out_dir).empty()) << list_dir(out_dir).front();
  }
  EXPECT_TRUE(list_dir(out_dir).empty());
  // A writer dropped without finish() leaves nothing either.
  {
    PackWriter w(out, small_writer_options());
    SourceEntry e;
    e.path = "x";
    e.inline_data = "inline";
    w.add(e);
  }
  EXPECT_TRUE(list_dir(out_dir).empty());
}

TEST_F(Cli, WriterRejectsBadPaths) {
  PackWriter w(out, small_writer_options());
  SourceEntry e;
  e.inline_data = "d";
  for (std::string bad : std::vector<std::string>{"", "/abs", "a//b", "a/./b", "../x", "a/..", std::string("nul\0byte", 8), "a/"}) {
    e.path = bad;
    EXPECT_THROW(w.add(e), Error) << "'" << bad << "'";
  }
  e.path = "file";
  w.add(e);
  EXPECT_THROW(w.add(e), Error);  // duplicate
  e.path = "file/below";
  EXPECT_THROW(w.add(e), Error);  // through a file... once the file is known
  SourceEntry link;
  link.type = EntryType::Symlink;
  link.path = "empty_link";
  w.add(link);
  EXPECT_THROW(w.finish(), Error);  // a symlink needs a target
  EXPECT_TRUE(list_dir(out_dir).empty());
}

TEST_F(Cli, InterruptedBuildLeavesNothing) {
  // The build is held where it reads its sources, after it has created its
  // temp file: its open() of the second file waits on the gate. The signal
  // is sent, then the open is let go, and the signal is delivered on its
  // way out (a handled signal does not end that wait early). No timing
  // assumption.
  fs::path src = tmp / "src";
  write_file(src / "a", pseudo_text(3 << 20, 7));
  write_file(src / "b", pseudo_text(1 << 20, 8));
  for (int sig : {SIGINT, SIGTERM}) {
    SCOPED_TRACE(sig);
    OpenGate gate(src / "b");
    if (!gate.error().empty()) GTEST_SKIP() << "needs fanotify (root): " << gate.error();
    Daemon d(bin() + " build --level 3 -o " + out.string() + " files=" + src.string(), tmp / "build.log");
    ASSERT_GT(d.pid(), 0);
    ASSERT_TRUE(gate.wait_open(d.pid(), std::chrono::seconds(60))) << "the build never opened its source: " << d.log();
    const std::string temp = ".p.kso.tmp-" + std::to_string(d.pid());
    EXPECT_EQ(list_dir(out_dir), std::vector<std::string>{temp}) << "the build is under way with its temp file";
    ASSERT_EQ(kill(d.pid(), sig), 0);
    gate.release();
    for (int i = 0; i < 3000 && d.alive(); i++) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_FALSE(d.alive());
    EXPECT_EQ(d.log().find("wrote "), std::string::npos) << d.log();  // it did not finish
    EXPECT_TRUE(list_dir(out_dir).empty()) << "left behind: " << list_dir(out_dir).front();
  }
}

TEST_F(Cli, LsCatAndInfo) {
  fs::path src = tmp / "src";
  write_file(src / "dir" / "f.txt", "hello\n");
  write_file(src / "dir" / "bin", random_bytes(3u << 20, 1));
  write_file(src / "dir" / "empty", "");
  write_file(src / "with space" / "ü.txt", "utf8\n");
  ASSERT_EQ(symlink("dir/f.txt", (src / "link").c_str()), 0);
  ASSERT_EQ(link((src / "dir" / "f.txt").c_str(), (src / "hard").c_str()), 0);
  chmod((src / "dir" / "f.txt").c_str(), 0640);
  set_mtime_ns(src / "dir" / "f.txt", 1700000000123456789);  // 2023-11-14 22:13:20 UTC
  set_mtime_ns(src / "link", 1600000000000000000);           // 2020-09-13 12:26:40 UTC
  auto r = kso_pack_words("-q build -o " + out.string() + " t=" + src.string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output, "");  // -q: nothing but errors
  build_pack(out, {{".", src}});  // the tree at the pack root (the API allows it, the command line does not)

  r = kso_pack_words("ls " + out.string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output, "dir\nhard\nlink\nwith space\n");
  r = kso_pack_words("ls -R " + out.string());
  EXPECT_EQ(r.output, "dir\ndir/bin\ndir/empty\ndir/f.txt\nhard\nlink\nwith space\nwith space/ü.txt\n");
  r = kso_pack_words("ls -l " + out.string() + " dir");
  ASSERT_EQ(r.status, 0) << r.output;
  auto ls = lines_of(r.output);
  ASSERT_EQ(ls.size(), 3u) << r.output;
  EXPECT_EQ(ls[0].substr(0, 10), "-rw-r--r--");
  EXPECT_NE(ls[0].find(" 3145728 "), std::string::npos) << ls[0];
  EXPECT_EQ(ls[2], "-rw-r-----   2            6 2023-11-14 22:13 dir/f.txt");
  r = kso_pack_words("ls -l " + out.string() + " link");
  EXPECT_EQ(r.output, "lrwxrwxrwx   1            9 2020-09-13 12:26 link -> dir/f.txt\n");
  r = kso_pack_words("ls -l " + out.string());
  EXPECT_EQ(lines_of(r.output).at(0).substr(0, 14), "drwxr-xr-x   2") << r.output;
  r = kso_pack_words("ls " + out.string() + " nope");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("no such path in pack: nope"), std::string::npos) << r.output;

  for (std::string p : {"dir/f.txt", "dir/bin", "dir/empty", "hard", "with space/ü.txt"}) {
    ToolResult got = kso_pack({"cat", out.string(), p});
    ASSERT_EQ(got.status, 0) << p << ": " << got.err;
    EXPECT_EQ(sha256_hex(got.out), sha256_file_hex(src / p)) << p;
    EXPECT_EQ(got.out.size(), fs::file_size(src / p)) << p;
  }
  r = kso_pack_words("cat " + out.string() + " dir");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("dir is not a regular file"), std::string::npos) << r.output;
  r = kso_pack_words("cat " + out.string() + " link");
  EXPECT_EQ(r.status, 1);
  r = kso_pack_words("cat " + out.string() + " missing");
  EXPECT_EQ(r.status, 1);

  r = kso_pack_words("info " + out.string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("files:         4 (+1 hardlinks), 2 dirs, 1 symlinks"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("bytes in:      3.0 MiB (" + std::to_string((3u << 20) + 6 + 6 + 5) + ")"),
            std::string::npos)
      << r.output;
  // One line per prefix (first path component), each path counted under its
  // own prefix, the hardlink "hard" too.
  std::map<std::string, std::string> files_per_prefix;
  for (auto& l : lines_of(r.output)) {
    for (std::string p : {"dir", "hard", "with space"})
      if (l.rfind(p + "  ", 0) == 0) files_per_prefix[p] = l.substr(20, 11);
  }
  EXPECT_EQ(files_per_prefix["dir"], "          3") << r.output;
  EXPECT_EQ(files_per_prefix["hard"], "          1") << r.output;
  EXPECT_EQ(files_per_prefix["with space"], "          1") << r.output;
}

TEST_F(Cli, RebuildReplacesThePackAtomically) {
  ASSERT_EQ(build("files=" + a.string()).status, 0);
  auto old = Pack::open(out);
  ASSERT_EQ(build("files=" + b.string()).status, 0);
  // The open pack still reads the old file (rename, not rewrite in place).
  EXPECT_EQ(pack_read_all(*old, pack_stat(*old, "files/x").ino), "x from a\n");
  auto fresh = Pack::open(out);
  EXPECT_EQ(pack_read_all(*fresh, pack_stat(*fresh, "files/x").ino), "x from b\n");
  EXPECT_FALSE(fresh->lookup_path("files/sub").has_value());
  EXPECT_EQ(list_dir(out_dir), std::vector<std::string>{"p.kso"});
}

}  // namespace
}  // namespace kso
