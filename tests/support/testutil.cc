#include "tests/support/testutil.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>

#include "fs/kso_fs.h"
#include "tools/kso_pack.h"

namespace kso::test {

TempDir::TempDir(const std::string& tag) {
  const char* base = getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/" + tag + "-XXXXXX";
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string q(const std::string& s) {
  std::string o = "'";
  for (char c : s) {
    if (c == '\'') o += "'\\''";
    else o += c;
  }
  return o + "'";
}

RunResult run(const std::string& cmd) {
  RunResult r;
  std::string full = "( " + cmd + " ) 2>&1";
  FILE* p = popen(full.c_str(), "r");
  if (!p) return r;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return r;
}

Daemon::Daemon(const std::string& cmd, const fs::path& log_file) : log_(log_file) {
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    setpgid(0, 0);
    int fd = open(log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    int nul = open("/dev/null", O_RDONLY);
    if (nul >= 0) dup2(nul, 0);
    std::string full = "exec " + cmd;
    execl("/bin/sh", "sh", "-c", full.c_str(), (char*)nullptr);
    _exit(127);
  }
}

Daemon::~Daemon() { stop(); }

bool Daemon::alive() {
  if (pid_ <= 0) return false;
  int st;
  pid_t r = waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

void Daemon::stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  for (int i = 0; i < 100; i++) {
    int st;
    if (waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(-pid_, SIGKILL);
  kill(pid_, SIGKILL);
  int st;
  waitpid(pid_, &st, 0);
  pid_ = -1;
}

std::string Daemon::log() const { return read_file(log_); }

int free_port() {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  bind(s, (sockaddr*)&a, sizeof a);
  socklen_t len = sizeof a;
  getsockname(s, (sockaddr*)&a, &len);
  int port = ntohs(a.sin_port);
  close(s);
  return port;
}

bool wait_for_port(int port, std::chrono::milliseconds timeout) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    int r = connect(s, (sockaddr*)&a, sizeof a);
    close(s);
    if (r == 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

void write_file(const fs::path& p, const std::string& data) {
  if (p.has_parent_path()) fs::create_directories(p.parent_path());
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(data.data(), std::streamsize(data.size()));
  if (!f) throw std::runtime_error("cannot write " + p.string());
}

std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string random_bytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t v = rng();
    memcpy(&s[i], &v, 8);
  }
  for (; i < n; i++) s[i] = char(rng());
  return s;
}

fs::path build_dir() { return KSO_BUILD_DIR; }
fs::path kso_pack_bin() { return build_dir() / "tools" / "kso-pack"; }
fs::path kso_fs_bin() { return build_dir() / "fs" / "kso-fs"; }

bool have_command(const std::string& name) {
  return run("PATH=$PATH:/usr/sbin:/sbin command -v " + name).status == 0;
}

std::string doc_procedure(const std::string& doc, const std::string& name) {
  const std::string text = read_file(fs::path(KSO_SOURCE_DIR) / "docs" / doc);
  size_t at = text.find("<!-- procedure: " + name + " -->");
  if (at == std::string::npos) return "";
  size_t start = text.find("```sh\n", at);
  if (start == std::string::npos) return "";
  start += 6;
  size_t end = text.find("```", start);
  return end == std::string::npos ? "" : text.substr(start, end - start);
}

namespace {

// What SourceDateEpoch scopes set: under the ToolEnv of every in-process run.
ToolEnv& scoped_env() {
  static ToolEnv env;
  return env;
}

// Runs `main` on string streams and `env` over the scoped variables and the
// process environment: its exit code and what it wrote.
template <class Main>
ToolResult through_seam(const ToolEnv& env, Main main) {
  std::ostringstream out, err;
  ToolEnv over = scoped_env();
  for (auto& [k, v] : env) over[k] = v;
  ToolIo io{out, err, false, [over](const std::string& name) -> std::optional<std::string> {
              if (auto it = over.find(name); it != over.end()) return it->second;
              const char* v = getenv(name.c_str());
              return v ? std::optional<std::string>(v) : std::nullopt;
            }};
  ToolResult r;
  r.status = main(io);
  r.out = out.str();
  r.err = err.str();
  return r;
}

}  // namespace

SourceDateEpoch::SourceDateEpoch(int64_t v) {
  auto& env = scoped_env();
  if (auto it = env.find("SOURCE_DATE_EPOCH"); it != env.end()) previous_ = it->second;
  env["SOURCE_DATE_EPOCH"] = std::to_string(v);
}

SourceDateEpoch::~SourceDateEpoch() {
  if (previous_) scoped_env()["SOURCE_DATE_EPOCH"] = *previous_;
  else scoped_env().erase("SOURCE_DATE_EPOCH");
}

ToolResult kso_pack(const std::vector<std::string>& args, const ToolEnv& env) {
  return through_seam(env, [&](ToolIo& io) { return kso_pack_main(args, io); });
}

ToolResult kso_fs(const std::vector<std::string>& args, const ToolEnv& env) {
  return through_seam(env, [&](ToolIo& io) { return kso_fs_main(args, io); });
}

std::string kso_pack_ok(const std::vector<std::string>& args, const ToolEnv& env) {
  ToolResult r = kso_pack(args, env);
  if (r.status == 0) return r.out;
  std::string cmd = "kso-pack";
  for (auto& a : args) cmd += " " + a;
  throw std::runtime_error(cmd + " exited " + std::to_string(r.status) + ":\n" + r.err);
}

RunResult kso_pack_words(const std::string& words, const ToolEnv& env) {
  if (words.find_first_of("'\"$|<>") != std::string::npos)
    throw std::logic_error("kso_pack_words takes plain words, not a shell command: " + words);
  std::vector<std::string> args;
  for (size_t at = 0; at < words.size();) {
    size_t end = words.find(' ', at);
    if (end == std::string::npos) end = words.size();
    if (end > at) args.push_back(words.substr(at, end - at));
    at = end + 1;
  }
  ToolResult t = kso_pack(args, env);
  return {t.status, t.out + t.err};
}

std::string one_line_error(const std::string& output, const std::string& prefix, const std::vector<std::string>& want) {
  if (output.empty() || output.find('\n') + 1 != output.size()) return "not exactly one line: " + output;
  if (output.rfind(prefix, 0) != 0) return "does not start with '" + prefix + "': " + output;
  for (auto& w : want)
    if (output.find(w) == std::string::npos) return "missing '" + w + "' in: " + output;
  return "";
}

}  // namespace kso::test
