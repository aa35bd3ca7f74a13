// Shared test helpers: temp dirs, running commands, background daemons,
// loopback ports. Tests make their own data and talk to 127.0.0.1 only.
#pragma once
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "fetch/digest.h"

namespace kso::test {

namespace fs = std::filesystem;

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it.
class TempDir {
 public:
  explicit TempDir(const std::string& tag = "kso-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& rel) const { return path_ / rel; }

 private:
  fs::path path_;
};

struct RunResult {
  int status = -1;     // exit code, or 128+signal
  std::string output;  // stdout and stderr, interleaved
};

// Runs `sh -c cmd`, waits, and returns exit status and combined output.
RunResult run(const std::string& cmd);

// One word of a `sh -c` command line (run(), Daemon): s in single quotes,
// each ' in it written '\''.
std::string q(const std::string& s);
inline std::string q(const char* s) { return q(std::string(s)); }
inline std::string q(const fs::path& p) { return q(p.string()); }

// A background process started with `sh -c cmd` (exec'd, so the pid is the
// daemon's); killed with SIGTERM then SIGKILL when this object dies.
class Daemon {
 public:
  Daemon(const std::string& cmd, const fs::path& log_file);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;
  pid_t pid() const { return pid_; }
  bool alive();                 // still running?
  void stop();                  // SIGTERM, wait up to 5 s, then SIGKILL
  std::string log() const;      // what it wrote so far

 private:
  pid_t pid_ = -1;
  fs::path log_;
};

int free_port();                                        // an unused TCP port on 127.0.0.1
bool wait_for_port(int port, std::chrono::milliseconds timeout = std::chrono::seconds(15));
void write_file(const fs::path& p, const std::string& data);  // creates parent dirs
std::string read_file(const fs::path& p);
using fetch::sha256_hex;                                // lower-case hex SHA-256 of bytes
inline std::string sha256_file_hex(const fs::path& p) { return fetch::sha256_file(p); }  // ... of a file
std::string random_bytes(size_t n, uint64_t seed);      // deterministic pseudo-random data
fs::path build_dir();                                   // where kso-pack and kso-fs were built
fs::path kso_pack_bin();
fs::path kso_fs_bin();
bool have_command(const std::string& name);
// The shell block that follows `<!-- procedure: NAME -->` in docs/DOC: what a
// test runs exactly as the document gives it; "" if there is none.
std::string doc_procedure(const std::string& doc, const std::string& name);             // on PATH (or in /usr/sbin, /sbin)

// The environment of a tool run in-process (ToolIo::env): the process's own,
// with these variables over it (nullopt: unset for the tool).
using ToolEnv = std::map<std::string, std::optional<std::string>>;

// For one scope, SOURCE_DATE_EPOCH for the tools run in-process (kso_pack()
// and the helpers on it): in their ToolEnv, not in the process environment.
// A real binary spawned in the scope does not see it (give it on its
// command line: "SOURCE_DATE_EPOCH=N kso-pack ...").
struct SourceDateEpoch {
  explicit SourceDateEpoch(int64_t v);
  ~SourceDateEpoch();
  SourceDateEpoch(const SourceDateEpoch&) = delete;
  SourceDateEpoch& operator=(const SourceDateEpoch&) = delete;

 private:
  std::optional<std::string> previous_;
};

// kso-pack run in-process (kso_pack_main, tools/kso_pack.h) through its I/O
// seam (cli/tool_io.h): what it writes to its out and err streams, and `env`
// over the process environment (and any SourceDateEpoch scope) as its own.
struct ToolResult {
  int status = -1;
  std::string out, err;  // ToolIo::out, ToolIo::err
};
ToolResult kso_pack(const std::vector<std::string>& args, const ToolEnv& env = {});
// kso-fs run in-process (kso_fs_main, fs/kso_fs.h) the same way: for what it
// refuses or answers before it mounts (usage, --help, --version, a pack it
// cannot open, --status). A run that mounts must be a process (Mount, Daemon).
ToolResult kso_fs(const std::vector<std::string>& args, const ToolEnv& env = {});
// The same for a run that must succeed: returns its stdout; throws
// std::runtime_error with the command and its stderr if it exits non-zero.
std::string kso_pack_ok(const std::vector<std::string>& args, const ToolEnv& env = {});
// kso_pack() with its arguments as one string of words split at spaces (no
// quoting or redirection: test paths have no spaces; throws std::logic_error
// on a quote, $, |, < or >) and its stdout then its stderr as one output: a
// `run(kso-pack WORDS)` of a test, in-process.
RunResult kso_pack_words(const std::string& words, const ToolEnv& env = {});
// What a tool that refuses must print: `output` is exactly one line, starting
// with `prefix` ("kso-pack: error: ") and holding each of `want`. Returns ""
// if so, else what is wrong (for EXPECT_EQ(..., "")).
std::string one_line_error(const std::string& output, const std::string& prefix, const std::vector<std::string>& want);

}  // namespace kso::test
