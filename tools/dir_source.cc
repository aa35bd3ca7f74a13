#include "tools/dir_source.h"

#include <dirent.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "index/error.h"
#include "tools/pack_prefix.h"

namespace kso {
namespace fs = std::filesystem;

DirSpec parse_dir_spec(const std::string& arg) {
  size_t eq = arg.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == arg.size())
    throw Error("bad source '" + arg + "': expected PREFIX=DIR (e.g. files=/opt/k8s/files)", EINVAL);
  try {
    return DirSpec{pack_prefix(arg.substr(0, eq)), arg.substr(eq + 1)};
  } catch (const Error& e) {
    throw Error("bad source '" + arg + "': prefix " + e.what(), EINVAL);
  }
}

namespace {

int64_t mtime_ns(const struct stat& st) { return int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec; }

std::string join(const std::string& a, const std::string& b) { return a.empty() || a == "." ? b : a + "/" + b; }

}  // namespace

std::vector<SourceEntry> scan_dir(const DirSpec& spec) {
  struct stat st;
  if (lstat(spec.dir.c_str(), &st) != 0)
    throw Error("source directory " + spec.dir.string() + ": " + strerror(errno), errno);
  if (!S_ISDIR(st.st_mode)) throw Error("source " + spec.dir.string() + " is not a directory", ENOTDIR);
  std::vector<SourceEntry> out;
  if (spec.prefix != ".") {
    SourceEntry root;
    root.path = spec.prefix;
    root.type = EntryType::Dir;
    root.mode = st.st_mode & 07777;
    root.mtime_ns = mtime_ns(st);
    out.push_back(std::move(root));
  }
  // Explicit stack: deep trees must not exhaust the call stack.
  std::vector<std::pair<fs::path, std::string>> todo{{spec.dir, spec.prefix}};
  while (!todo.empty()) {
    auto [dir, prefix] = std::move(todo.back());
    todo.pop_back();
    DIR* d = opendir(dir.c_str());
    if (!d) throw Error("cannot read directory " + dir.string() + ": " + strerror(errno), errno);
    std::vector<std::string> names;
    errno = 0;
    while (dirent* de = readdir(d)) {
      if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
      names.emplace_back(de->d_name);
    }
    int err = errno;
    closedir(d);
    if (err) throw Error("cannot read directory " + dir.string() + ": " + strerror(err), err);
    std::sort(names.begin(), names.end());
    for (auto& name : names) {
      fs::path p = dir / name;
      if (lstat(p.c_str(), &st) != 0) throw Error("cannot stat " + p.string() + ": " + strerror(errno), errno);
      SourceEntry e;
      e.path = join(prefix, name);
      e.mode = st.st_mode & 07777;
      e.mtime_ns = mtime_ns(st);
      if (S_ISDIR(st.st_mode)) {
        e.type = EntryType::Dir;
        todo.emplace_back(p, e.path);
      } else if (S_ISREG(st.st_mode)) {
        if (access(p.c_str(), R_OK) != 0) throw Error("cannot read " + p.string() + ": " + strerror(errno), errno);
        e.type = EntryType::File;
        e.source_file = p;
        if (st.st_nlink > 1) e.hardlink_key = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
      } else if (S_ISLNK(st.st_mode)) {
        e.type = EntryType::Symlink;
        std::string target(size_t(st.st_size) + 1, '\0');
        ssize_t n = readlink(p.c_str(), target.data(), target.size());
        if (n < 0) throw Error("cannot read link " + p.string() + ": " + strerror(errno), errno);
        target.resize(size_t(n));
        e.symlink_target = target;
      } else {
        spdlog::warn("skipping {}: not a file, directory or symlink", p.string());
        continue;
      }
      out.push_back(std::move(e));
    }
  }
  return out;
}

}  // namespace kso
