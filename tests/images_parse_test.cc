// Unit tests of the image-list source's parsers and layout writer: no network.
#include <gtest/gtest.h>

#include "index/error.h"
#include "tests/support/testutil.h"
#include "tools/images/auth.h"
#include "tools/images/credentials.h"
#include "tools/images/images_list.h"
#include "tools/images/layout.h"
#include "tools/images/manifest.h"
#include "tools/images/platform.h"
#include "tools/images/reference.h"
#include "tools/text.h"

using namespace kso::images;

TEST(ImagesRef, KubesprayExamples) {
  auto r = parse_image_ref("registry.k8s.io/kube-apiserver:v1.29.10");
  EXPECT_EQ(r.registry, "registry.k8s.io");
  EXPECT_EQ(r.repository, "kube-apiserver");
  EXPECT_EQ(r.tag, "v1.29.10");
  EXPECT_EQ(r.local_name(false), "kube-apiserver");
  EXPECT_EQ(r.local_name(true), "registry.k8s.io/kube-apiserver");

  r = parse_image_ref("docker.io/calico/node:v3.27.3");
  EXPECT_EQ(r.registry, "docker.io");
  EXPECT_EQ(r.repository, "calico/node");
  EXPECT_EQ(registry_api_host(r.registry), "registry-1.docker.io");

  r = parse_image_ref("quay.io/cilium/cilium:v1.15.8");
  EXPECT_EQ(r.local_name(false), "cilium/cilium");
}

TEST(ImagesRef, DockerHubShortNames) {
  auto r = parse_image_ref("nginx:1.25");
  EXPECT_EQ(r.str(), "docker.io/library/nginx:1.25");
  EXPECT_EQ(r.local_name(false), "library/nginx");
  EXPECT_EQ(parse_image_ref("nginx").tag, "latest");
  EXPECT_EQ(parse_image_ref("index.docker.io/library/busybox:1").registry, "docker.io");
  EXPECT_EQ(parse_image_ref("calico/node:v1").str(), "docker.io/calico/node:v1");
}

TEST(ImagesRef, DigestsAndPorts) {
  std::string hex(64, 'a');
  auto r = parse_image_ref("127.0.0.1:5000/calico/node:v1@sha256:" + hex);
  EXPECT_EQ(r.registry, "127.0.0.1:5000");
  EXPECT_EQ(r.repository, "calico/node");
  EXPECT_EQ(r.tag, "v1");
  EXPECT_EQ(r.digest, kso::fetch::OciDigest::parse("sha256:" + hex));
  EXPECT_EQ(r.manifest_ref(), "sha256:" + hex);
  r = parse_image_ref("localhost/pause@sha256:" + hex);
  EXPECT_EQ(r.registry, "localhost");
  EXPECT_TRUE(r.tag.empty());
  EXPECT_EQ(r.str(), "localhost/pause@sha256:" + hex);
  EXPECT_TRUE(is_loopback_host("127.0.0.1:5000"));
  EXPECT_TRUE(is_loopback_host("localhost"));
  EXPECT_TRUE(is_loopback_host("[::1]:5000"));
  EXPECT_FALSE(is_loopback_host("quay.io"));
}

TEST(ImagesRef, Malformed) {
  for (const char* bad : {"", "x/UPPER:1", "nginx:", "nginx@sha256:abc", "nginx@md5:" "0123", "a//b", "-x:1",
                          "nginx:bad tag", "quay.io/", "host:port/x:1", "nginx:t@sha256:" "ZZ"}) {
    EXPECT_THROW(parse_image_ref(bad), kso::Error) << bad;
  }
}

TEST(ImagesRef, ListFileLines) {
  kso::test::TempDir d;
  kso::test::write_file(d / "images.list", "# comment\n\nregistry.k8s.io/pause:3.9  # trailing\n  nginx:1.25\r\nBad//Ref\n");
  try {
    read_images_list(d / "images.list");
    FAIL() << "no error";
  } catch (const kso::Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("images.list:5: malformed image reference 'Bad//Ref'"), std::string::npos) << m;
  }
  // Every bad line is named, not only the first.
  kso::test::write_file(d / "two.list", "Bad//Ref\nnginx:1.25\nx//y:1\n");
  try {
    read_images_list(d / "two.list");
    FAIL() << "no error";
  } catch (const kso::Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("2 malformed line(s) in images list"), std::string::npos) << m;
    EXPECT_NE(m.find("two.list:1: malformed image reference 'Bad//Ref'"), std::string::npos) << m;
    EXPECT_NE(m.find("two.list:3: malformed image reference 'x//y:1'"), std::string::npos) << m;
  }
  // A byte-order mark (Windows editors) is not part of the first reference.
  kso::test::write_file(d / "ok.list", "\xef\xbb\xbfregistry.k8s.io/pause:3.9\nnginx:1.25 # x\n");
  auto v = read_images_list(d / "ok.list");
  EXPECT_EQ(v[0].ref.str(), "registry.k8s.io/pause:3.9");
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[1].ref.str(), "docker.io/library/nginx:1.25");
  EXPECT_NE(v[1].where.find("ok.list:2"), std::string::npos);
}

TEST(ImagesPlatform, ParseAndMatch) {
  auto set = PlatformSet::parse({});
  EXPECT_EQ(set.str(), "linux/amd64,linux/arm64");
  set = PlatformSet::parse({"linux/amd64,linux/arm/v7", "linux/amd64"});
  EXPECT_EQ(set.str(), "linux/amd64,linux/arm/v7");
  EXPECT_TRUE(PlatformSet::parse({"all"}).all);
  EXPECT_THROW(PlatformSet::parse({"linux"}), kso::Error);
  EXPECT_TRUE(platform_matches(parse_platform("linux/arm64"), Platform{"linux", "arm64", "v8"}));
  EXPECT_TRUE(platform_matches(parse_platform("linux/arm64/v8"), Platform{"linux", "arm64", ""}));
  EXPECT_TRUE(platform_matches(parse_platform("linux/arm"), Platform{"linux", "arm", "v7"}));
  EXPECT_FALSE(platform_matches(parse_platform("linux/arm/v6"), Platform{"linux", "arm", "v7"}));
  EXPECT_FALSE(platform_matches(parse_platform("linux/amd64"), Platform{"windows", "amd64", ""}));
  EXPECT_TRUE(platform_matches(parse_platform("linux/x86_64"), Platform{"linux", "amd64", ""}));
}

TEST(ImagesManifest, IndexAndImage) {
  std::string d1 = "sha256:" + std::string(64, '1'), d2 = "sha256:" + std::string(64, '2');
  std::string idx = R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
    {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" + d1 + R"(","size":10,
     "platform":{"os":"linux","architecture":"arm64","variant":"v8"}}]})";
  auto m = parse_manifest(idx, "");
  ASSERT_TRUE(m.is_index());
  ASSERT_EQ(m.manifests.size(), 1u);
  EXPECT_EQ(m.manifests[0].platform->arch, "arm64");
  EXPECT_EQ(m.manifests[0].size, 10u);

  std::string img = R"({"schemaVersion":2,"config":{"mediaType":"x","digest":")" + d1 +
                    R"(","size":3},"layers":[{"mediaType":"y","digest":")" + d2 + R"(","size":4}]})";
  m = parse_manifest(img, "application/vnd.docker.distribution.manifest.v2+json");
  EXPECT_FALSE(m.is_index());
  ASSERT_TRUE(m.config);
  EXPECT_EQ(m.config->digest, kso::fetch::OciDigest::parse(d1));
  ASSERT_EQ(m.layers.size(), 1u);
  m = parse_manifest(img, "");  // OCI without mediaType: inferred
  EXPECT_EQ(m.media_type, "application/vnd.oci.image.manifest.v1+json");
}

TEST(ImagesManifest, Refusals) {
  try {
    parse_manifest(R"({"schemaVersion":1,"name":"x","tag":"1","fsLayers":[]})", "");
    FAIL();
  } catch (const kso::Error& e) {
    EXPECT_NE(std::string(e.what()).find("schema 1"), std::string::npos);
  }
  EXPECT_THROW(parse_manifest(R"({"schemaVersion":2,"mediaType":"application/vnd.example+json"})", ""), kso::Error);
  EXPECT_THROW(parse_manifest("not json", ""), kso::Error);
  EXPECT_THROW(parse_manifest(R"({"schemaVersion":2,"manifests":[{"digest":"sha512:aa","size":1}]})", ""), kso::Error);
}

TEST(ImagesAuth, Challenges) {
  auto c = parse_www_authenticate(
      R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull")");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].scheme, "bearer");
  EXPECT_EQ(c[0].param("realm"), "https://auth.docker.io/token");
  EXPECT_EQ(c[0].param("service"), "registry.docker.io");
  EXPECT_EQ(c[0].param("scope"), "repository:library/nginx:pull");
  c = parse_www_authenticate(R"(Basic realm="kso test", Bearer realm="http://x/t",error="invalid_token")");
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].scheme, "basic");
  EXPECT_EQ(c[0].param("realm"), "kso test");
  EXPECT_EQ(c[1].param("error"), "invalid_token");
  EXPECT_EQ(registry_error_text(R"({"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]})"),
            "MANIFEST_UNKNOWN: manifest unknown");
}

TEST(ImagesAuth, CredentialsSources) {
  kso::test::TempDir d;
  kso::test::write_file(d / "config.json", R"({"auths":{"https://index.docker.io/v1/":{"auth":")" +
                                               kso::base64_encode("hub:pw") + R"("},
      "127.0.0.1:5000":{"username":"u","password":"p:w"}},"credsStore":"desktop"})");
  Credentials c;
  c.load_auth_file(d / "config.json");
  ASSERT_TRUE(c.find("docker.io"));
  EXPECT_EQ(c.find("docker.io")->user, "hub");
  EXPECT_EQ(c.find("docker.io")->password, "pw");
  EXPECT_EQ(c.find("127.0.0.1:5000")->password, "p:w");
  EXPECT_FALSE(c.find("quay.io"));
  c.add_spec("quay.io=robot:tok=en");
  EXPECT_EQ(c.find("quay.io")->password, "tok=en");
  c.add_spec("127.0.0.1:6000=a:b");
  EXPECT_EQ(c.find("127.0.0.1:6000")->user, "a");
  c.add_spec("any:one");
  EXPECT_EQ(c.find("ghcr.io")->user, "any");
  EXPECT_THROW(c.add_spec("nocolon"), kso::Error);
}

TEST(ImagesLayout, RegistryTree) {
  using kso::fetch::OciDigest;
  OciDigest idx = OciDigest::parse("sha256:" + std::string(64, 'a')), m = OciDigest::parse("sha256:" + std::string(64, 'b')),
            l = OciDigest::parse("sha256:" + std::string(64, 'c'));
  RegistryLayout lay("registry", 42);
  lay.add_blob(idx, "/cache/a");
  lay.add_blob(l, "/cache/c");
  lay.add_blob(l, "/cache/c");
  lay.add_revision("calico/node", idx);
  lay.add_revision("calico/node", m);
  lay.add_tag("calico/node", "v1", idx);
  lay.add_layer_link("calico/node", l);
  EXPECT_THROW(lay.add_tag("calico/node", "v1", m), kso::Error);
  auto e = lay.entries();
  std::map<std::string, std::string> got;
  for (auto& x : e) {
    got[x.path] = x.inline_data ? *x.inline_data : "file:" + x.source_file.string();
    EXPECT_EQ(x.mtime_ns, 42);
  }
  std::string root = "registry/docker/registry/v2/";
  EXPECT_EQ(got.size(), 7u);
  EXPECT_EQ(got[root + "blobs/sha256/aa/" + idx.hex() + "/data"], "file:/cache/a");
  EXPECT_EQ(got[root + "repositories/calico/node/_manifests/tags/v1/current/link"], idx.str());
  EXPECT_EQ(got[root + "repositories/calico/node/_manifests/tags/v1/index/sha256/" + idx.hex() + "/link"], idx.str());
  EXPECT_EQ(got[root + "repositories/calico/node/_manifests/revisions/sha256/" + m.hex() + "/link"], m.str());
  EXPECT_EQ(got[root + "repositories/calico/node/_layers/sha256/" + l.hex() + "/link"], l.str());
  EXPECT_EQ(lay.repository_count(), 1u);
}
