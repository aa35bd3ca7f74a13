// The shipped deployment configs (deploy/nginx.conf, deploy/registry-config.yml)
// run unchanged but for paths and ports against a mounted pack laid out as
// kso-pack builds it (files/<host>/<path>, registry/docker/registry/v2), the
// way kubespray's offline.yml addresses it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>

#include "tests/support/mount_fixture.h"
#include "tests/support/registry_fixture.h"

namespace kso::test {
namespace {

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  size_t n = 0;
  for (size_t i = 0; (i = s.find(from, i)) != std::string::npos; i += to.size(), n++) s.replace(i, from.size(), to);
  if (n == 0) throw std::runtime_error("deploy config no longer contains '" + from + "'");
  return s;
}

fs::path deploy_dir() { return fs::path(KSO_SOURCE_DIR) / "deploy"; }

TEST(FsDeploy, ShippedNginxAndRegistryConfigsServeAMountedPack) {
  std::string why = fuse_unavailable_reason();
  if (!why.empty()) GTEST_SKIP() << "needs FUSE: " << why;
  if (!TestRegistry::available() || !have_command("nginx") || !have_command("curl"))
    GTEST_SKIP() << "needs docker-registry, skopeo, nginx and curl";
  TempDir tmp("kso-fs-deploy");
  // Other users must reach the mount point: nginx workers run as nobody here.
  fs::permissions(tmp.path(), fs::perms(0755));

  // files/ as a files list would lay it out, registry/ from a real push.
  const std::string kubelet_rel = "dl.k8s.io/release/v1.29.10/bin/linux/amd64/kubelet";
  const std::string kubelet = random_bytes((6u << 20) + 17, 77);
  write_file(tmp / "files" / kubelet_rel, kubelet);
  write_file(tmp / "files/github.com/containerd/nerdctl/releases/download/v1.7.7/nerdctl-1.7.7-linux-arm64.tar.gz",
             random_bytes(300000, 78));
  PushedImage pushed;
  {
    TestRegistry up(tmp / "upstream", TestRegistry::Options{tmp / "upstream/storage"});
    pushed = push_image(two_arch_kube_proxy(tmp / "scratch"), up, tmp / "scratch");
  }
  // A pack from elsewhere may hold symlinks into the host; one that stays
  // inside is refused by the shipped nginx config too (it follows no links).
  ASSERT_EQ(symlink("/etc/passwd", (tmp / "files" / "passwd").c_str()), 0);
  ASSERT_EQ(symlink("dl.k8s.io", (tmp / "files" / "latest").c_str()), 0);
  fs::path pack = tmp / "k8s.kso";
  auto built = kso_pack_words("-q build -o " + pack.string() + " files=" + (tmp / "files").string() +
                              " registry=" + (tmp / "upstream/storage").string());
  EXPECT_EQ(built.status, 1) << "a symlink to /etc/passwd was packed without being asked";
  EXPECT_NE(built.output.find("files/passwd"), std::string::npos) << built.output;
  pack_dirs(pack, {"files=" + (tmp / "files").string(), "registry=" + (tmp / "upstream/storage").string()},
            "--level 3 --allow-escaping-symlinks");
  // The fstab / mount unit options; kso-fs's default for links that leave the pack.
  Mount m(pack, tmp / "kso", {"allow_other,ro,cache_size=64M", {}, false});
  {
    std::error_code ec;
    EXPECT_FALSE(fs::exists(m / "files/passwd", ec) && read_file(m / "files/passwd").find("root:") != std::string::npos);
    char buf[64];
    EXPECT_EQ(readlink((m / "files/passwd").c_str(), buf, sizeof buf), -1);
    EXPECT_EQ(errno, EACCES);
    EXPECT_EQ(fs::read_symlink(m / "files/latest"), "dl.k8s.io");  // inside the pack: resolved
  }

  // deploy/nginx.conf inside a minimal main config, as the nginx image's
  // /etc/nginx/nginx.conf includes conf.d/default.conf.
  int http_port = free_port();
  fs::path ng = tmp / "nginx";
  fs::create_directories(ng / "logs");
  std::string server = read_file(deploy_dir() / "nginx.conf");
  server = replace_all(server, "listen 8080;", "listen 127.0.0.1:" + std::to_string(http_port) + ";");
  server = replace_all(server, "listen [::]:8080;", "");
  server = replace_all(server, "root /srv/kso;", "root " + m.path().string() + ";");
  write_file(ng / "default.conf", server);
  write_file(ng / "nginx.conf", "pid " + (ng / "nginx.pid").string() + ";\nerror_log " + (ng / "logs/error.log").string() +
                                    ";\nevents {}\nhttp {\n  access_log off;\n  client_body_temp_path " + (ng / "t1").string() +
                                    ";\n  proxy_temp_path " + (ng / "t2").string() + ";\n  fastcgi_temp_path " +
                                    (ng / "t3").string() + ";\n  uwsgi_temp_path " + (ng / "t4").string() +
                                    ";\n  scgi_temp_path " + (ng / "t5").string() + ";\n  include " +
                                    (ng / "default.conf").string() + ";\n}\n");
  Daemon nginx("nginx -p " + q(ng) + " -c " + q(ng / "nginx.conf") + " -g 'daemon off;'", ng / "stderr.log");
  ASSERT_TRUE(wait_for_port(http_port)) << read_file(ng / "stderr.log") << read_file(ng / "logs/error.log");
  const std::string files_repo = "http://127.0.0.1:" + std::to_string(http_port) + "/files";

  // kubespray: {{ files_repo }}/dl.k8s.io/release/v{{ kube_version }}/bin/linux/{{ image_arch }}/kubelet
  auto r = run("curl -sS --fail -o " + q(tmp / "kubelet") + " " + files_repo + "/" + kubelet_rel);
  ASSERT_EQ(r.status, 0) << r.output << read_file(ng / "logs/error.log");
  EXPECT_EQ(sha256_file_hex(tmp / "kubelet"), sha256_hex(kubelet));
  r = run("curl -sS --fail -r 4194300-4194400 " + files_repo + "/" + kubelet_rel);
  EXPECT_TRUE(r.output == kubelet.substr(4194300, 101));
  r = run("curl -sS --fail " + files_repo + "/github.com/containerd/nerdctl/releases/download/v1.7.7/");
  EXPECT_NE(r.output.find("nerdctl-1.7.7-linux-arm64.tar.gz"), std::string::npos) << r.output;  // autoindex
  for (auto* link : {"/files/passwd", "/files/latest/release/v1.29.10/bin/linux/amd64/kubelet"}) {
    r = run("curl -s -o " + q(tmp / "via-link") + " -w '%{http_code}' " + "http://127.0.0.1:" +
            std::to_string(http_port) + link);
    EXPECT_NE(r.output, "200") << link;
    EXPECT_EQ(read_file(tmp / "via-link").find("root:"), std::string::npos) << link << ": served the host's file";
  }
  r = run("curl -s -o /dev/null -w '%{http_code} %{redirect_url}' http://127.0.0.1:" + std::to_string(http_port) + "/");
  EXPECT_EQ(r.output.substr(0, 3), "302") << r.output;
  r = run("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:" + std::to_string(http_port) +
          "/registry/docker/registry/v2/");
  EXPECT_EQ(r.output, "404");

  // deploy/registry-config.yml as `docker-registry serve` (registry:2) runs it.
  int reg_port = free_port();
  std::string cfg = read_file(deploy_dir() / "registry-config.yml");
  cfg = replace_all(cfg, "rootdirectory: /srv/kso/registry", "rootdirectory: " + (m.path() / "registry").string());
  cfg = replace_all(cfg, "addr: :5000", "addr: 127.0.0.1:" + std::to_string(reg_port));
  write_file(tmp / "registry/config.yml", cfg);
  Daemon reg("docker-registry serve " + q(tmp / "registry/config.yml"), tmp / "registry/registry.log");
  ASSERT_TRUE(wait_for_port(reg_port)) << read_file(tmp / "registry/registry.log");
  const std::string registry_host = "127.0.0.1:" + std::to_string(reg_port);
  for (auto& [plat, digest] : pushed.platform_digest) {
    std::string arch = plat.substr(plat.find('/') + 1);
    fs::path out = tmp / ("pull-" + arch);
    r = run("skopeo copy --quiet --src-tls-verify=false --override-arch " + arch + " docker://" + registry_host +
            "/kube-proxy:v1.29.10 dir:" + q(out));
    ASSERT_EQ(r.status, 0) << r.output << read_file(tmp / "registry/registry.log");
    EXPECT_EQ("sha256:" + sha256_file_hex(out / "manifest.json"), digest) << plat;
  }
  r = run("skopeo inspect --raw --tls-verify=false docker://" + registry_host + "/kube-proxy:v1.29.10");
  EXPECT_TRUE(r.output == pushed.bytes);
  r = run("curl -sS --fail http://" + registry_host + "/v2/_catalog");
  EXPECT_EQ(r.output, "{\"repositories\":[\"kube-proxy\"]}\n");
  EXPECT_TRUE(m.alive());
}

}  // namespace
}  // namespace kso::test
