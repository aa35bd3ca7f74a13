// deploy/compose.yaml run for real (issue 12, part 6): podman-compose starts
// the shipped nginx and registry services (images made from this host's own
// binaries by tests/support/host_images.sh, no registry or network needed)
// against a kso-fs mount, nginx serves a file byte-exact, skopeo pulls both
// archs of a multi-arch image from the registry; then the pack is unmounted
// and another mounted under the running containers, and what each bind
// propagation does is asserted: rslave (the shipped default) follows the
// host's mounts, rprivate (Docker's and podman's default) keeps the mount
// table of its start, the old daemon and pack included.
//
// podman needs no daemon; a CONTAINERS_CONF of our own (no default ulimits,
// cgroupfs, runc: crun fails on hybrid cgroups) and storage, network configs
// and run state under the test's temp dir keep it off the host's podman.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "tests/support/mount_fixture.h"
#include "tests/support/registry_fixture.h"
#include "tests/support/testutil.h"

namespace kso::test {
namespace {

// Why the test cannot run here, or "".
std::string compose_unavailable_reason() {
  if (auto why = fuse_unavailable_reason(); !why.empty()) return "needs FUSE: " + why;
  if (geteuid() != 0) return "needs root (podman as root, mount --make-shared)";
  for (auto* c : {"podman", "podman-compose", "runc", "skopeo", "nginx", "curl", "docker-registry", "ldd", "ip"})
    if (!have_command(c)) return std::string("needs ") + c + " (scripts/deps.sh installs podman, podman-compose, runc)";
  return "";
}

// HTTP status and body of GET url ("000" when nothing answers).
struct Got {
  std::string code, body;
};
Got http_get(const std::string& url, const fs::path& body_file) {
  fs::remove(body_file);
  auto r = run("curl -s -m 10 -o " + q(body_file) + " -w '%{http_code}' " + q(url));
  std::error_code ec;
  return {r.output, fs::exists(body_file, ec) ? read_file(body_file) : ""};
}

// Polls until GET url answers `code` (nginx needs a moment after the port opens).
bool wait_for_http(const std::string& url, const std::string& code, const fs::path& scratch, int tries = 100) {
  for (int i = 0; i < tries; i++) {
    if (http_get(url, scratch).code == code) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

// One compose project (podman-compose -p NAME) of deploy/compose.yaml with
// its own ports, images and propagation; `down` when destroyed.
class Project {
 public:
  Project(std::string env, std::string name, std::string propagation)
      : env_(std::move(env)), name_(std::move(name)), files_port_(free_port()), registry_port_(free_port()) {
    env_ += " KSO_FILES_PORT=" + std::to_string(files_port_) + " KSO_REGISTRY_PORT=" + std::to_string(registry_port_);
    if (!propagation.empty()) env_ += " KSO_PROPAGATION=" + propagation;
  }
  // Containers, then the project's network and its bridge: CNI leaves the
  // bridge (and its subnet taken) behind when the network config goes.
  ~Project() {
    compose("down -t 2");
    const std::string net = name_ + "_default";
    RunResult iface = podman("network inspect --format '{{.NetworkInterface}}' " + net);
    podman("network rm -f " + net);
    std::string dev = iface.output.substr(0, iface.output.find('\n'));
    if (iface.status == 0 && dev.rfind("cni-podman", 0) == 0 && run("ip link show " + q(dev)).status == 0)
      run("ip link delete " + q(dev));
  }
  Project(const Project&) = delete;
  Project& operator=(const Project&) = delete;

  RunResult compose(const std::string& args) const {
    return run(env_ + " podman-compose -p " + name_ + " -f " + q(fs::path(KSO_SOURCE_DIR) / "deploy/compose.yaml") +
               " " + args + " 2>&1");
  }
  RunResult podman(const std::string& args) const { return run(env_ + " podman " + args + " 2>&1"); }
  std::string files_url(const std::string& rel) const {
    return "http://127.0.0.1:" + std::to_string(files_port_) + "/files/" + rel;
  }
  std::string registry() const { return "127.0.0.1:" + std::to_string(registry_port_); }
  int registry_port() const { return registry_port_; }
  const std::string& name() const { return name_; }

 private:
  std::string env_, name_;
  int files_port_, registry_port_;
};

TEST(FsCompose, ComposeServesAMountedPackAndFollowsRemounts) {
  if (auto why = compose_unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
  const auto t0 = std::chrono::steady_clock::now();
  TempDir tmp("kso-compose");
  fs::permissions(tmp.path(), fs::perms(0755));

  // Two packs of one layout, files/ and registry/ as kso-pack build lays
  // them out from lists; VERSION tells them apart through the containers.
  const std::string kubelet_rel = "dl.k8s.io/release/v1.29.10/bin/linux/amd64/kubelet";
  const std::string kubelet = random_bytes((5u << 20) + 3, 91);
  write_file(tmp / "files" / kubelet_rel, kubelet);
  for (auto* n : {"1", "2", "3", "4"}) write_file(tmp / "files/probe" / n, std::string("probe ") + n);  // read once each
  PushedImage pushed;
  {
    TestRegistry up(tmp / "upstream", TestRegistry::Options{tmp / "upstream/storage"});
    pushed = push_image(two_arch_kube_proxy(tmp / "scratch"), up, tmp / "scratch");
  }
  for (auto* v : {"1", "2"}) {
    write_file(tmp / "files/VERSION", v);
    pack_dirs(tmp / ("k8s-" + std::string(v) + ".kso"),
              {"files=" + (tmp / "files").string(), "registry=" + (tmp / "upstream/storage").string()});
  }

  // podman's configuration and state, all under tmp.
  const fs::path pc = tmp / "podman";
  write_file(pc / "containers.conf", "[containers]\ndefault_ulimits = []\n[engine]\ncgroup_manager = \"cgroupfs\"\n"
                                     "runtime = \"runc\"\nevents_logger = \"file\"\n[network]\nnetwork_config_dir = \"" +
                                         (pc / "net").string() + "\"\n");
  // vfs: no overlay mounts to leave behind, whatever file system tmp is on.
  write_file(pc / "storage.conf", "[storage]\ndriver = \"vfs\"\ngraphroot = \"" + (pc / "storage").string() +
                                      "\"\nrunroot = \"" + (pc / "run").string() + "\"\n");
  const std::string tag = std::to_string(getpid());
  const std::string nginx_image = "localhost/kso-test-nginx:" + tag, registry_image = "localhost/kso-test-registry:" + tag;
  const fs::path srv = tmp / "srv";
  const std::string env = "CONTAINERS_CONF=" + q(pc / "containers.conf") + " CONTAINERS_STORAGE_CONF=" +
                          q(pc / "storage.conf") + " KSO_NGINX_IMAGE=" + nginx_image +
                          " KSO_REGISTRY_IMAGE=" + registry_image + " KSO_SRV=" + q(srv);
  auto t_images = std::chrono::steady_clock::now();
  auto r = run(env + " bash " + q(fs::path(KSO_SOURCE_DIR) / "tests/support/host_images.sh") + " " + q(tmp / "img") +
               " " + nginx_image + " " + registry_image + " 2>&1");
  ASSERT_EQ(r.status, 0) << r.output;
  const double images_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_images).count();

  // /srv as on a systemd host: a shared mount, so that mounts under it
  // propagate to rslave binds (here / is private: bind srv onto itself).
  fs::create_directories(srv / "kso");
  ASSERT_EQ(run("mount --bind " + q(srv) + " " + q(srv) + " && mount --make-shared " + q(srv)).status, 0);
  struct Unbind {
    fs::path p;
    ~Unbind() { run("umount -l " + q(p)); }
  } unbind{srv};
  auto m1 = std::make_unique<Mount>(tmp / "k8s-1.kso", srv / "kso", Mount::Options{"allow_other", tmp / "kso-1.log", false});
  std::unique_ptr<Mount> m2, m3;
  // Destroyed first: containers go before the mounts and the bind.
  Project slave(env, "kso-rslave-" + tag, "");  // the compose file's own default
  Project priv(env, "kso-rprivate-" + tag, "rprivate");
  struct Everything {
    const Project& p;
    ~Everything() { p.podman("rm -af -t 1"); }  // whatever compose down left behind
  } everything{slave};

  for (Project* p : {&slave, &priv}) {
    r = p->compose("up -d");
    ASSERT_EQ(r.status, 0) << p->name() << ":\n" << r.output;
  }
  const fs::path body = tmp / "body";
  for (Project* p : {&slave, &priv}) {
    ASSERT_TRUE(wait_for_http(p->files_url("VERSION"), "200", body))
        << p->name() << ": " << p->podman("logs " + p->name() + "_files_1").output;
    ASSERT_TRUE(wait_for_port(p->registry_port())) << p->podman("logs " + p->name() + "_registry_1").output;
  }
  auto inspect = slave.podman("inspect --format '{{range .Mounts}}{{.Destination}} {{.Propagation}};{{end}}' " +
                              slave.name() + "_files_1 " + priv.name() + "_files_1");
  EXPECT_NE(inspect.output.find("/srv rslave"), std::string::npos) << inspect.output;
  EXPECT_NE(inspect.output.find("/srv rprivate"), std::string::npos) << inspect.output;

  // nginx in the container: the file byte-exact, over 127.0.0.1.
  Got g = http_get(slave.files_url(kubelet_rel), body);
  EXPECT_EQ(g.code, "200");
  EXPECT_EQ(sha256_hex(g.body), sha256_hex(kubelet));
  EXPECT_EQ(http_get(slave.files_url("VERSION"), body).body, "1");
  EXPECT_EQ(http_get(priv.files_url("VERSION"), body).body, "1");
  // registry in the container: skopeo pulls each arch of the index.
  auto pull_all = [&](const Project& p, const std::string& when) {
    for (auto& [plat, digest] : pushed.platform_digest) {
      std::string arch = plat.substr(plat.find('/') + 1);
      fs::path out = tmp / ("pull-" + p.name() + "-" + when + "-" + arch);
      auto s = run("skopeo copy --quiet --src-tls-verify=false --override-os linux --override-arch " + arch +
                   " docker://" + p.registry() + "/kube-proxy:v1.29.10 dir:" + q(out) + " 2>&1");
      ASSERT_EQ(s.status, 0) << p.name() << " " << when << " " << arch << ": " << s.output
                             << p.podman("logs " + p.name() + "_registry_1").output;
      EXPECT_EQ("sha256:" + sha256_file_hex(out / "manifest.json"), digest) << plat;
    }
  };
  pull_all(slave, "first");
  auto raw = run("skopeo inspect --raw --tls-verify=false docker://" + slave.registry() + "/kube-proxy:v1.29.10");
  EXPECT_TRUE(raw.output == pushed.bytes) << "the upstream index, byte-exact";

  // Unmount under the running containers. rslave sees it at once (an empty
  // /srv/kso: 404); rprivate still holds its copy of the mount, and that
  // copy keeps the FUSE connection, so the old daemon lives on serving it.
  r = run("fusermount3 -u " + q(srv / "kso") + " 2>&1");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(http_get(slave.files_url("VERSION"), body).code, "404");
  g = http_get(priv.files_url("VERSION"), body);
  EXPECT_EQ(g.code + " " + g.body, "200 1") << "rprivate: the old mount, still served";
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_TRUE(m1->alive()) << "unmounted on the host, the daemon still serves the rprivate containers";

  // Mount the other pack at the same place: rslave serves it, rprivate does not.
  m2 = std::make_unique<Mount>(tmp / "k8s-2.kso", srv / "kso", Mount::Options{"allow_other", tmp / "kso-2.log", false});
  g = http_get(slave.files_url("VERSION"), body);
  EXPECT_EQ(g.code + " " + g.body, "200 2") << "rslave follows the remount";
  g = http_get(slave.files_url(kubelet_rel), body);
  EXPECT_EQ(sha256_hex(g.body), sha256_hex(kubelet));
  pull_all(slave, "remounted");
  g = http_get(priv.files_url("VERSION"), body);
  EXPECT_EQ(g.code + " " + g.body, "200 1") << "rprivate keeps the pack of its start";

  // Restarting the rprivate containers gives them the new mount; their copy
  // of the old one goes, and with it the old daemon.
  r = priv.compose("restart -t 2");
  ASSERT_EQ(r.status, 0) << r.output;
  ASSERT_TRUE(wait_for_http(priv.files_url("VERSION"), "200", body));
  EXPECT_EQ(http_get(priv.files_url("VERSION"), body).body, "2");
  for (int i = 0; i < 100 && m1->alive(); i++) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(m1->alive()) << "the last copy of the old mount is gone: its daemon exits";

  // A daemon that dies: a dead mount (ENOTCONN: nginx answers 500) for
  // everything the kernel does not hold; what it holds (lookups, attributes
  // and pages of files read before: kso-fs lets the kernel keep them) is
  // still served from the page cache. A new kso-fs on the mount point
  // detaches the dead mount and mounts again: rslave follows, rprivate keeps
  // the dead one (it needs a restart after every remount).
  m2->kill9();
  EXPECT_EQ(http_get(slave.files_url("probe/1"), body).code, "500");
  EXPECT_EQ(http_get(priv.files_url("probe/2"), body).code, "500");
  g = http_get(slave.files_url("VERSION"), body);
  EXPECT_EQ(g.code + " " + g.body, "200 2") << "read before the crash: from the page cache";
  m3 = std::make_unique<Mount>(tmp / "k8s-2.kso", srv / "kso", Mount::Options{"allow_other", tmp / "kso-3.log", false});
  EXPECT_NE(m3->log().find("stale mount of a dead daemon, detaching it"), std::string::npos) << m3->log();
  g = http_get(slave.files_url("probe/3"), body);
  EXPECT_EQ(g.code + " " + g.body, "200 probe 3") << "rslave: the restarted daemon";
  g = http_get(slave.files_url("probe/1"), body);
  EXPECT_EQ(g.code + " " + g.body, "200 probe 1") << "rslave: the restarted daemon";
  EXPECT_EQ(http_get(priv.files_url("probe/4"), body).code, "500") << "rprivate: still the dead mount";
  g = http_get(priv.files_url("VERSION"), body);
  EXPECT_EQ(g.code + " " + g.body, "200 2") << "rprivate: the dead mount's page cache";
  r = priv.compose("restart -t 2");
  ASSERT_EQ(r.status, 0) << r.output;
  ASSERT_TRUE(wait_for_http(priv.files_url("probe/4"), "200", body)) << "rprivate, restarted: the new mount";

  const double total_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "[ timing ] images " << images_s << " s, whole test " << total_s << " s\n";
  EXPECT_LT(total_s, 120.0);
}

}  // namespace
}  // namespace kso::test
