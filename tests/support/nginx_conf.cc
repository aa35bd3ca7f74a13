#include "tests/support/nginx_conf.h"

#include "tests/support/testutil.h"

namespace kso::test {

fs::path write_nginx_conf(const fs::path& dir, int port, const fs::path& root, const std::string& locations) {
  fs::create_directories(dir / "logs");
  fs::create_directories(dir / "temp");
  const std::string d = dir.string();
  write_file(dir / "nginx.conf",
             "user root;\n"
             "worker_processes 2;\n"
             "pid " + d + "/nginx.pid;\n"
             "error_log " + d + "/logs/error.log info;\n"
             "events { worker_connections 256; }\n"
             "http {\n"
             "  default_type application/octet-stream;\n"
             "  access_log " + d + "/logs/access.log;\n"
             "  client_body_temp_path " + d + "/temp/body;\n"
             "  proxy_temp_path " + d + "/temp/proxy;\n"
             "  fastcgi_temp_path " + d + "/temp/fastcgi;\n"
             "  uwsgi_temp_path " + d + "/temp/uwsgi;\n"
             "  scgi_temp_path " + d + "/temp/scgi;\n"
             "  sendfile on;\n"
             "  tcp_nopush on;\n"
             "  server {\n"
             "    listen 127.0.0.1:" + std::to_string(port) + ";\n"
             "    root " + root.string() + ";\n"
             "    " + locations +
             "  }\n"
             "}\n");
  return dir / "nginx.conf";
}

}  // namespace kso::test
