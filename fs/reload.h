// Remount-free reload of remote packs' URL and headers: SIGHUP makes kso-fs
// re-read its -o reload_file=FILE and point every remote source at what it
// says (an expiring presigned URL or bearer token replaced). A new URL must
// serve the same pack (HttpSource::set_endpoint checks its last bytes), so a
// reload can never mix two packs. Without reload_file, SIGHUP is logged and
// ignored (libfuse's default would unmount).
#pragma once
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "index/byte_source.h"

namespace kso {

// A reload file: "url=URL" (at most once; replaces the pack's URL) and
// "header=NAME: VALUE" lines (any number; added to -o header=), blank lines
// and '#' comments. Throws Error naming the file and line.
struct ReloadSpec {
  std::string url;
  std::vector<std::string> headers;
};
ReloadSpec read_reload_file(const std::string& path);

class Reloader {
 public:
  // `file` may be empty (SIGHUP then only logs); `pack_url` is the URL the
  // pack was opened from; `remotes` every remote source (pack and bases)
  // with the URL it was opened from.
  Reloader(std::string file, std::string pack_url,
           std::vector<std::pair<std::string, std::shared_ptr<ByteSource>>> remotes);
  ~Reloader();  // stops the thread, restores SIGHUP's default

  // Takes SIGHUP over (call after fuse_set_signal_handlers) and starts the
  // thread that reloads (call after fuse_daemonize: it forks).
  void start();
  // One reload now: what SIGHUP does. False if the file or an endpoint was
  // refused (logged; the old endpoints stay).
  bool reload();

 private:
  std::string file_, pack_url_;
  std::vector<std::pair<std::string, std::shared_ptr<ByteSource>>> remotes_;
  int pipe_[2] = {-1, -1};
  std::thread thread_;
};

}  // namespace kso
