#include "tools/images/pull.h"
#include "tools/progress.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sstream>

#include "index/error.h"
#include "index/time_ns.h"
#include "fetch/http.h"
#include "tools/images/auth.h"
#include "tools/images/credentials.h"
#include "tools/images/images_list.h"
#include "tools/images/layout.h"
#include "tools/images/manifest.h"
#include "tools/images/media_types.h"
#include "tools/images/platform.h"
#include "tools/pack_prefix.h"
#include "tools/text.h"

namespace kso::images {

namespace {

namespace fs = std::filesystem;
using fetch::OciDigest;
using fetch::Request;
using fetch::Response;

// Attempts at one request that keep coming back 401 before giving up; a
// token that expired mid-run costs one.
constexpr int kMaxAuthRounds = 3;

struct Image {
  ImageRef ref;
  std::string where;                   // "images.list:3"
  std::string local;                   // repository name in the offline registry
  std::optional<OciDigest> top;        // the manifest or index the reference names, once known
  std::vector<OciDigest> manifests;    // revisions: top, then the selected children
  std::vector<OciDigest> blobs;        // configs and layers: _layers links
  std::vector<std::string> platforms;  // selected platforms, for the log

  std::string name() const { return ref.str() + " (" + where + ")"; }
};

struct ManifestState {
  bool done = false;
  Manifest m;
  fs::path file;
  std::vector<std::function<void(const Manifest&)>> waiters;
};

struct BlobState {
  uint64_t size = 0;
  fs::path file;
  std::string first_image;  // for messages
};

std::string trim(std::string s) {
  while (!s.empty() && std::isspace((unsigned char)s.back())) s.pop_back();
  size_t b = 0;
  while (b < s.size() && std::isspace((unsigned char)s[b])) b++;
  return s.substr(b);
}

int64_t build_mtime_ns(const ToolIo& io) {
  if (auto sde = source_date_epoch(io)) return *sde * kNsPerSec;
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class Puller {
 public:
  Puller(const ImagesOptions& o, const fetch::NetOptions& net, ToolIo& io)
      : opts_(o), net_(net), io_(io), http_(net), auth_(http_, creds_), progress_(io, net.progress, "blobs") {
    platforms_ = PlatformSet::parse(o.platforms);
    for (auto& c : o.creds) creds_.add_spec(c);
    if (!o.auth_file.empty()) {
      creds_.load_auth_file(o.auth_file);
    } else if (auto f = creds_.load_default_auth_file(io.env)) {
      spdlog::info("images: using credentials from {}", f->string());
    }
    for (auto& h : o.insecure_registries) insecure_.push_back(Credentials::normalize_host(h));
    cache_ = net.effective_cache_dir() / "blobs" / "sha256";
    fs::create_directories(cache_);
    http_.on_progress([this](const fetch::TransferEvent& e) { progress_.on_transfer(e); });
  }

  std::vector<SourceEntry> pull(PullStats* stats);

 private:
  using OnResponse = std::function<void(Response&)>;

  [[noreturn]] void fail(const Image& img, const std::string& msg) { throw Error(img.name() + ": " + msg); }
  void read_lists();
  std::string base_url(const ImageRef& r) const;
  std::string manifest_url(const Image& img, const std::string& reference) const {
    return base_url(img.ref) + "/v2/" + img.ref.repository + "/manifests/" + reference;
  }
  fs::path cache_path(const OciDigest& digest) const { return cache_ / digest.hex(); }

  void send(Image& img, Request req, OnResponse cb, int round = 0);
  void start(Image& img);
  void get_by_tag(Image& img);
  void want_manifest(Image& img, const OciDigest& digest, std::optional<uint64_t> size,
                     std::function<void(const Manifest&)> cb);
  void manifest_ready(Image& img, const OciDigest& digest);
  void on_top(Image& img, const Manifest& m);
  void on_image_manifest(Image& img, const OciDigest& digest, const Manifest& m);
  void want_blob(Image& img, const Descriptor& d);
  std::string http_failure(const Response& r) const;

  const ImagesOptions& opts_;
  const fetch::NetOptions& net_;
  ToolIo& io_;
  Credentials creds_;
  fetch::Client http_;
  RegistryAuth auth_;
  DownloadProgress progress_;
  PlatformSet platforms_;
  std::vector<std::string> insecure_;
  fs::path cache_;
  std::vector<Image> images_;  // fixed before the first request: callbacks hold references
  std::map<OciDigest, ManifestState> manifests_;
  std::map<OciDigest, BlobState> blobs_;
  size_t downloaded_ = 0, from_cache_ = 0, resumed_ = 0;
  uint64_t bytes_downloaded_ = 0;
};

void Puller::read_lists() {
  std::map<std::string, size_t> seen;                             // canonical reference -> index
  std::map<std::string, std::pair<std::string, std::string>> names;  // local name -> (source repo, image)
  for (auto& list : opts_.lists) {
    for (auto& li : read_images_list(list)) {
      std::string key = li.ref.str();
      if (seen.count(key)) continue;
      Image img;
      img.ref = li.ref;
      img.where = li.where;
      img.local = li.ref.local_name(opts_.keep_registry_host);
      auto [it, fresh] = names.try_emplace(img.local, li.ref.source_repo(), img.name());
      if (!fresh && it->second.first != li.ref.source_repo())
        throw Error(img.name() + " and " + it->second.second + " both map to repository '" + img.local +
                    "' (use --keep-registry-host, or drop one)");
      seen[key] = images_.size();
      images_.push_back(std::move(img));
    }
  }
}

std::string Puller::base_url(const ImageRef& r) const {
  bool plain = is_loopback_host(r.registry);
  for (auto& h : insecure_) plain |= h == r.registry;
  return (plain ? "http://" : "https://") + registry_api_host(r.registry);
}

std::string Puller::http_failure(const Response& r) const {
  std::string text = registry_error_text(r.body);
  return "HTTP " + std::to_string(r.status) + (text.empty() ? "" : " " + text);
}

void Puller::send(Image& img, Request req, OnResponse cb, int round) {
  std::string auth;
  try {
    auth = auth_.header(img.ref.registry, img.ref.repository);
  } catch (const Error& e) {
    fail(img, e.what());
  }
  Request sent = req;
  if (!auth.empty()) sent.headers.push_back(auth);
  http_.add(std::move(sent), [this, &img, req = std::move(req), cb = std::move(cb), round, auth](Response& r) mutable {
    if (r.error.empty() && r.status == 401) {
      if (round + 1 >= kMaxAuthRounds) fail(img, "authentication failed: " + http_failure(r));
      try {
        auth_.unauthorized(img.ref.registry, img.ref.repository, r, auth);
      } catch (const Error& e) {
        fail(img, e.what());
      }
      send(img, std::move(req), std::move(cb), round + 1);
      return;
    }
    cb(r);
  });
}

void Puller::start(Image& img) {
  if (img.ref.digest) {
    // pinned: the tag is not consulted; the digest is verified while it streams
    img.top = img.ref.digest;
    want_manifest(img, *img.top, std::nullopt, [this, &img](const Manifest& m) { on_top(img, m); });
    return;
  }
  // HEAD first: a re-run learns the tag's digest and finds the manifest in the cache
  Request req;
  req.url = manifest_url(img, img.ref.tag);
  req.head = true;
  req.headers.emplace_back(kManifestAccept);
  send(img, std::move(req), [this, &img](Response& r) {
    if (!r.error.empty()) fail(img, "manifest request failed: " + r.error);
    std::string ct = trim(r.header("Content-Type").value_or(""));
    ct = ct.substr(0, ct.find(';'));
    if (r.ok() && (ct == kDockerSchema1 || ct == kDockerSchema1Signed))
      fail(img, "Docker schema 1 manifest refused (deprecated; re-push the image with a current tool)");
    auto dcd = OciDigest::try_parse(trim(r.header("Docker-Content-Digest").value_or("")));
    if (r.ok() && dcd) {
      img.top = dcd;
      want_manifest(img, *img.top, std::nullopt, [this, &img](const Manifest& m) { on_top(img, m); });
    } else {
      get_by_tag(img);  // no digest header, or an error: a GET tells more
    }
  });
}

void Puller::get_by_tag(Image& img) {
  Request req;
  req.url = manifest_url(img, img.ref.tag);
  req.headers.emplace_back(kManifestAccept);
  req.max_body = kMaxManifestBytes;
  send(img, std::move(req), [this, &img](Response& r) {
    if (!r.error.empty()) fail(img, "manifest request failed: " + r.error);
    if (r.status == 404) fail(img, "unknown tag or repository (" + http_failure(r) + ")");
    if (!r.ok()) fail(img, "manifest request failed: " + http_failure(r));
    OciDigest digest = OciDigest::parse("sha256:" + r.sha256);
    std::string dcd = trim(r.header("Docker-Content-Digest").value_or(""));
    if (!dcd.empty() && digest != dcd)
      fail(img, "digest mismatch: the registry says " + dcd + ", the manifest it sent is " + digest.str());
    // validates the media type before anything is stored
    try {
      parse_manifest(r.body, r.header("Content-Type").value_or(""));
    } catch (const Error& e) {
      fail(img, e.what());
    }
    fs::path file = cache_path(digest);
    if (!fs::exists(file)) {
      fs::path tmp = file;
      tmp += ".tmp";
      {
        std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
        f.write(r.body.data(), std::streamsize(r.body.size()));
        if (!f) throw Error("cannot write " + tmp.string());
      }
      fs::rename(tmp, file);
    }
    img.top = digest;
    auto cb = [this, &img](const Manifest& m) { on_top(img, m); };
    ManifestState& st = manifests_[digest];
    if (!st.done && st.waiters.empty()) {  // new: count it as downloaded, not as a cache hit
      st.file = file;
      st.waiters.push_back(cb);
      progress_.add_files(1);
      progress_.file_downloaded();
      progress_.file_verified();
      downloaded_++;
      bytes_downloaded_ += r.body.size();
      manifest_ready(img, digest);
      return;
    }
    want_manifest(img, digest, r.body.size(), cb);
  });
}

void Puller::want_manifest(Image& img, const OciDigest& digest, std::optional<uint64_t> size,
                           std::function<void(const Manifest&)> cb) {
  ManifestState& st = manifests_[digest];
  if (st.done) {
    cb(st.m);
    return;
  }
  st.waiters.push_back(std::move(cb));
  if (st.waiters.size() > 1) return;  // already on its way
  st.file = cache_path(digest);
  progress_.add_files(1);
  std::error_code ec;
  auto have = fs::file_size(st.file, ec);
  if (!ec && (!size || have == *size)) {
    from_cache_++;
    progress_.file_from_cache();
    manifest_ready(img, digest);
    return;
  }
  Request req;
  req.url = manifest_url(img, digest.str());
  req.headers.emplace_back(kManifestAccept);
  req.dest = st.file;
  req.expect_digest = digest;
  if (size) req.expect_size = *size;
  send(img, std::move(req), [this, &img, digest](Response& r) {
    if (!r.error.empty()) fail(img, "manifest download failed: " + r.error);
    if (r.status == 404) fail(img, "manifest " + digest.str() + " not found (" + http_failure(r) + ")");
    if (!r.ok()) fail(img, "manifest " + digest.str() + ": " + http_failure(r));
    downloaded_++;
    bytes_downloaded_ += r.size;
    progress_.file_downloaded();
    progress_.file_verified();
    manifest_ready(img, digest);
  });
}

void Puller::manifest_ready(Image& img, const OciDigest& digest) {
  ManifestState& st = manifests_[digest];
  std::ifstream f(st.file, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  if (!f) throw Error("cannot read " + st.file.string());
  try {
    st.m = parse_manifest(ss.str(), "");
  } catch (const Error& e) {
    fail(img, "manifest " + digest.str() + ": " + e.what());
  }
  st.done = true;
  auto waiters = std::move(st.waiters);
  st.waiters.clear();
  for (auto& w : waiters) w(st.m);
}

void Puller::on_top(Image& img, const Manifest& m) {
  img.manifests.push_back(*img.top);
  if (!m.is_index()) {
    img.platforms.push_back("single-arch");
    on_image_manifest(img, *img.top, m);
    return;
  }
  auto [chosen, missing] = choose_platforms(m, platforms_);
  for (auto& p : missing) {
    if (!opts_.skip_missing_platforms)
      fail(img, "platform " + p + " is not in the index (it has " + index_platforms(m) +
                  "); use --skip-missing-platforms to allow");
    spdlog::warn("images: {}: platform {} is not in the index (it has {}); skipped", img.name(), p, index_platforms(m));
  }
  for (auto* c : chosen) {
    if (c->media_type == kOciIndex || c->media_type == kDockerList)
      fail(img, "nested index " + c->digest.str() + " is not supported");
    img.manifests.push_back(c->digest);
    img.platforms.push_back(c->platform ? normalize_platform(*c->platform).str() : "unknown");
    OciDigest d = c->digest;
    want_manifest(img, d, c->size, [this, &img, d](const Manifest& cm) { on_image_manifest(img, d, cm); });
  }
}

void Puller::on_image_manifest(Image& img, const OciDigest& digest, const Manifest& m) {
  if (m.is_index()) fail(img, "nested index " + digest.str() + " is not supported");
  want_blob(img, *m.config);
  for (auto& l : m.layers) {
    if (is_foreign_layer(l)) {
      spdlog::warn("images: {}: foreign layer {} is not distributable; skipped", img.name(), l.digest.str());
      continue;
    }
    want_blob(img, l);
  }
}

void Puller::want_blob(Image& img, const Descriptor& d) {
  img.blobs.push_back(d.digest);
  auto [it, fresh] = blobs_.try_emplace(d.digest);
  BlobState& st = it->second;
  if (!fresh) {
    if (st.size != d.size)
      fail(img, "blob " + d.digest.str() + " has size " + std::to_string(d.size) + " here but " + std::to_string(st.size) +
                    " in " + st.first_image);
    return;
  }
  st.size = d.size;
  st.file = cache_path(d.digest);
  st.first_image = img.name();
  progress_.add_files(1);
  std::error_code ec;
  auto have = fs::file_size(st.file, ec);
  if (!ec && have == d.size) {
    from_cache_++;
    progress_.file_from_cache();
    return;
  }
  if (!ec) fs::remove(st.file, ec);  // wrong size: not ours to trust
  Request req;
  req.url = base_url(img.ref) + "/v2/" + img.ref.repository + "/blobs/" + d.digest.str();
  req.dest = st.file;
  req.expect_digest = d.digest;
  req.expect_size = d.size;
  OciDigest digest = d.digest;
  send(img, std::move(req), [this, &img, digest](Response& r) {
    // the fetch layer's errors name the URL (and both digests on a mismatch)
    if (!r.error.empty()) fail(img, "blob download failed: " + r.error);
    if (r.status == 404)
      fail(img, "blob " + digest.str() + " not found in " + img.ref.source_repo() + " (" + http_failure(r) + ")");
    if (!r.ok()) fail(img, "blob " + digest.str() + ": " + http_failure(r));
    downloaded_++;
    bytes_downloaded_ += r.size;
    resumed_ += r.resumed;
    progress_.file_downloaded();
    progress_.file_verified();
  });
}

std::vector<SourceEntry> Puller::pull(PullStats* stats) {
  read_lists();
  if (images_.empty()) return {};
  spdlog::info("images: pulling {} images for {} from {} list(s)", images_.size(), platforms_.str(), opts_.lists.size());
  auto t0 = std::chrono::steady_clock::now();
  for (auto& img : images_) start(img);
  http_.run();
  progress_.finish();

  RegistryLayout layout(opts_.prefix, build_mtime_ns(io_));
  uint64_t blob_bytes = 0;
  for (auto& img : images_) {
    for (auto& d : img.manifests) {
      layout.add_blob(d, manifests_.at(d).file);
      layout.add_revision(img.local, d);
    }
    try {
      if (!img.ref.tag.empty()) layout.add_tag(img.local, img.ref.tag, *img.top);
    } catch (const Error& e) {
      fail(img, e.what());
    }
    for (auto& d : img.blobs) {
      layout.add_blob(d, blobs_.at(d).file);
      layout.add_layer_link(img.local, d);
    }
    std::string plats;
    for (auto& p : img.platforms) plats += (plats.empty() ? "" : ", ") + p;
    spdlog::debug("images: {} -> {} [{}]", img.ref.str(), img.local, plats);
  }
  for (auto& [d, st] : blobs_) blob_bytes += st.size;
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  spdlog::info("images: {} images in {} repositories: {} manifests, {} blobs ({}); downloaded {} ({}, {} resumed), "
               "{} from cache, {} tokens; {:.1f} s",
               images_.size(), layout.repository_count(), manifests_.size(), blobs_.size(), human_bytes(blob_bytes),
               downloaded_, human_bytes(bytes_downloaded_), resumed_, from_cache_, auth_.tokens_fetched(), secs);
  if (stats) {
    stats->images = images_.size();
    stats->repositories = layout.repository_count();
    stats->manifests = manifests_.size();
    stats->blobs = blobs_.size();
    stats->blob_bytes = blob_bytes;
    stats->downloaded = downloaded_;
    stats->from_cache = from_cache_;
    stats->bytes_downloaded = bytes_downloaded_;
    stats->resumed = resumed_;
  }
  return layout.entries();
}

}  // namespace

std::vector<SourceEntry> pull_images(const ImagesOptions& opts, const fetch::NetOptions& net, PullStats* stats, ToolIo& io) {
  if (!opts.enabled()) return {};
  ImagesOptions o = opts;
  try {
    o.prefix = pack_prefix(opts.prefix);
  } catch (const Error& e) {
    throw Error(std::string("--images-prefix: ") + e.what(), EINVAL);
  }
  Puller p(o, net, io);
  return p.pull(stats);
}

}  // namespace kso::images
