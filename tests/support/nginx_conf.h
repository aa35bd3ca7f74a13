// A stock nginx serving a directory on 127.0.0.1, everything it writes kept
// under one test directory: the config the mount tests share.
#pragma once
#include <filesystem>
#include <string>

namespace kso::test {

// Writes DIR/nginx.conf (and DIR/logs, DIR/temp) for nginx listening on
// 127.0.0.1:`port` with `root` as its document root and `locations` (nginx
// location blocks) in the server. Workers run as root: test trees hold 0600
// files. Returns the config's path; the pid file is DIR/nginx.pid.
std::filesystem::path write_nginx_conf(const std::filesystem::path& dir, int port, const std::filesystem::path& root,
                                       const std::string& locations = "location / { autoindex on; }\n");

}  // namespace kso::test
