#include "fs/reload.h"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "fetch/remote.h"
#include "index/error.h"

namespace kso {
namespace {

int g_wake_fd = -1;  // the signal handler's end of the pipe

void on_sighup(int) {
  const int saved = errno;
  char c = 'h';
  if (g_wake_fd >= 0 && write(g_wake_fd, &c, 1) < 0) {
    // the pipe is full: a reload is pending anyway
  }
  errno = saved;
}

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\r"), b = s.find_last_not_of(" \t\r");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

}  // namespace

ReloadSpec read_reload_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error("reload file " + path + ": " + strerror(errno), errno ? errno : EIO);
  ReloadSpec spec;
  std::string line;
  for (int n = 1; std::getline(in, line); n++) {
    line = trim(line);
    if (line.empty() || line[0] == '#') continue;
    auto bad = [&](const std::string& why) { return Error("reload file " + path + ":" + std::to_string(n) + ": " + why, EINVAL); };
    size_t eq = line.find('=');
    if (eq == std::string::npos) throw bad("expected url=URL or header=NAME: VALUE");
    std::string key = trim(line.substr(0, eq)), value = trim(line.substr(eq + 1));
    if (key == "url") {
      if (!spec.url.empty()) throw bad("url= given twice");
      if (!fetch::is_url(value)) throw bad("url= must be an http:// or https:// URL");
      spec.url = value;
    } else if (key == "header") {
      if (value.find(':') == std::string::npos || value.find_first_of("\r\n") != std::string::npos)
        throw bad("header= must be 'NAME: VALUE'");
      spec.headers.push_back(value);
    } else {
      throw bad("unknown key '" + key + "' (url= or header=)");
    }
  }
  if (in.bad()) throw Error("reload file " + path + ": read error", EIO);
  return spec;
}

Reloader::Reloader(std::string file, std::string pack_url,
                   std::vector<std::pair<std::string, std::shared_ptr<ByteSource>>> remotes)
    : file_(std::move(file)), pack_url_(std::move(pack_url)), remotes_(std::move(remotes)) {}

Reloader::~Reloader() {
  if (pipe_[1] >= 0) {
    signal(SIGHUP, SIG_DFL);
    g_wake_fd = -1;
    close(pipe_[1]);  // the thread sees EOF and ends
  }
  if (thread_.joinable()) thread_.join();
  if (pipe_[0] >= 0) close(pipe_[0]);
}

void Reloader::start() {
  if (pipe2(pipe_, O_CLOEXEC) != 0) throw Error(std::string("pipe: ") + strerror(errno), errno);
  fcntl(pipe_[1], F_SETFL, O_NONBLOCK);
  g_wake_fd = pipe_[1];
  struct sigaction sa {};
  sa.sa_handler = on_sighup;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGHUP, &sa, nullptr);
  thread_ = std::thread([this] {
    char c;
    for (;;) {
      ssize_t n = read(pipe_[0], &c, 1);
      if (n == 0) return;
      if (n < 0) {
        if (errno == EINTR) continue;
        return;
      }
      reload();
    }
  });
}

bool Reloader::reload() {
  if (file_.empty()) {
    spdlog::info("SIGHUP: nothing to reload (no -o reload_file=)");
    return true;
  }
  ReloadSpec spec;
  try {
    spec = read_reload_file(file_);
  } catch (const std::exception& e) {
    spdlog::error("SIGHUP: {}; nothing changed", e.what());
    return false;
  }
  bool ok = true;
  for (auto& [where, src] : remotes_) {
    const std::string url = where == pack_url_ && !spec.url.empty() ? spec.url : where;
    try {
      if (fetch::set_endpoint(*src, url, spec.headers)) {
        spdlog::info("SIGHUP: {} now fetched from {} with {} header(s) from {}", fetch::redact_url(where),
                     fetch::redact_url(url), spec.headers.size(), file_);
      }
    } catch (const std::exception& e) {
      spdlog::error("SIGHUP: {}", e.what());
      ok = false;
    }
  }
  return ok;
}

}  // namespace kso
