#include "tools/pack_build.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>

#include "index/error.h"
#include "index/pack_open.h"
#include "index/pack_reader.h"
#include "index/write/pack_writer.h"
#include "index/index_meta.h"
#include "index/verify.h"
#include "tools/dir_source.h"
#include "tools/pack_args.h"
#include "tools/files_list.h"
#include "tools/images/pull.h"
#include "tools/kso_pack.h"
#include "tools/progress.h"
#include "cli/size_arg.h"

namespace kso {
namespace fs = std::filesystem;
namespace {

// Temp files of the build under way, removed by the signal handler: an
// interrupted build never leaves anything named OUT or half-written files.
char g_tmp[4096], g_tmp_index[4096];

void on_signal(int sig) {
  if (g_tmp[0]) unlink(g_tmp);
  if (g_tmp_index[0]) unlink(g_tmp_index);
  signal(sig, SIG_DFL);
  raise(sig);
}

struct SignalGuard {
  struct sigaction old_int {}, old_term {}, old_hup {};
  explicit SignalGuard(const std::string& tmp) {
    snprintf(g_tmp, sizeof g_tmp, "%s", tmp.c_str());
    snprintf(g_tmp_index, sizeof g_tmp_index, "%s-index", tmp.c_str());
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGHUP, &sa, &old_hup);
  }
  ~SignalGuard() {
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGTERM, &old_term, nullptr);
    sigaction(SIGHUP, &old_hup, nullptr);
    g_tmp[0] = g_tmp_index[0] = 0;
  }
};

}  // namespace

ChunkerParams parse_chunk(const std::string& s) {
  ChunkerParams p;
  size_t a = s.find('/'), b = a == std::string::npos ? a : s.find('/', a + 1);
  if (b == std::string::npos) throw Error("bad --chunk '" + s + "': expected MIN/AVG/MAX, e.g. 16K/64K/256K", EINVAL);
  auto u32 = [&](const std::string& part) {
    uint64_t v = parse_size(part);
    if (v > UINT32_MAX) throw Error("chunk size '" + part + "' is too large", EINVAL);
    return uint32_t(v);
  };
  p.min_size = u32(s.substr(0, a));
  p.avg_size = u32(s.substr(a + 1, b - a - 1));
  p.max_size = u32(s.substr(b + 1));
  p.validate();
  return p;
}

namespace {

std::string ratio(uint64_t a, uint64_t b) {
  char buf[32];
  snprintf(buf, sizeof buf, "%.3f", b ? double(a) / double(b) : 0.0);
  return buf;
}

// CLI11 checks, so a malformed value is a usage error (exit 2) found before
// any work starts.
std::string check_block_size(const std::string& v) {
  try {
    uint64_t n = parse_size(v);
    if (n < 64 * 1024 || n > (64u << 20)) return "block sizes must be between 64K and 64M: '" + v + "'";
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::string check_chunk(const std::string& v) {
  try {
    parse_chunk(v);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

CLI::App* add_build_command(CLI::App& app, BuildCommand& cmd) {
  auto* b = app.add_subcommand("build", "Build a pack from local directories (and other sources)");
  b->add_option("-o,--output", cmd.output, "Pack file to write (written to a temp file, then renamed)")->required();
  b->add_option("--level", cmd.level, "zstd level for compressible blocks (1-22)")
      ->check(CLI::Range(1, 22))
      ->capture_default_str();
  b->add_option("--block-size", cmd.block_size, "Uncompressed bytes per block (64K-64M)")
      ->check(CLI::Validator(check_block_size, "SIZE"))
      ->capture_default_str();
  b->add_option("--raw-block-size", cmd.raw_block_size,
                "Bytes per block of already-compressed content (gzip, xz, zstd, ...), stored raw (64K-64M)")
      ->check(CLI::Validator(check_block_size, "SIZE"))
      ->capture_default_str();
  b->add_option("--chunk", cmd.chunk, "Content-defined chunk sizes MIN/AVG/MAX")
      ->check(CLI::Validator(check_chunk, "MIN/AVG/MAX"))
      ->capture_default_str();
  b->add_option("--threads", cmd.threads, "Compression threads (0 = every core)")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
  b->add_option("--order", cmd.order,
                "Content order: 'tree' (depth-first, names in byte order: smallest packs, measured), 'similar' groups "
                "files by architecture ('path' is an old name for 'tree')")
      ->check(CLI::IsMember({"tree", "similar", "path"}))
      ->capture_default_str();
  b->add_option("--profile", cmd.profile,
                "'fast': zstd at --level, reads at zstd speed (format v3). 'max': smaller, slower to build: x86-64 "
                "and AArch64 ELF files get blocks of their own with a branch filter (BCJ) before zstd, kept where "
                "smaller, and --level defaults to " + std::to_string(kMaxProfileLevel) +
                    " (format v4, which kso before 4 does not read). Recorded in the pack (merge and deltas reuse it)")
      ->check(CLI::IsMember({"fast", "max"}))
      ->capture_default_str();
  b->add_flag("--allow-escaping-symlinks", cmd.allow_escaping_symlinks,
              "Pack symlinks that point outside the pack (absolute, or above its root); kso-fs still refuses to "
              "resolve them unless mounted with -o allow_escaping_symlinks");
  b->add_flag("--strict", cmd.strict, "Fail when a source file changes while it is packed (default: a warning)");
  b->add_option("--base", cmd.bases,
                "Write a delta pack: chunks this pack (or its .kidx, see 'kso-pack index') holds are referenced, not "
                "stored; repeat for several bases. Unless given, build parameters are the first base's")
      ->type_name("PACK|KIDX")
      ->allow_extra_args(false);
  b->add_option("--base-min-use", cmd.base_min_use,
                "Delta packs: a compressed base block the new tree uses for less than PCT % of its bytes is not "
                "referenced; its chunks are stored again (a bigger delta that reads faster cold: every cold read "
                "decodes a base block whole). 0 (default): every chunk a base holds is referenced")
      ->type_name("PCT")
      ->check(CLI::Range(0, 100))
      ->capture_default_str();
  cmd.given = [b](const std::string& name) { return b->count(name) > 0; };
  b->add_option("sources", cmd.dirs, "Local trees as PREFIX=DIR (e.g. files=/opt/k8s/files registry=/var/lib/registry)");
  fetch::add_net_options(*b, cmd.net);
  add_files_list_options(*b, cmd.files);
  images::add_images_options(*b, cmd.images);
  return b;
}

WriterOptions recorded_options(const Pack& p) {
  std::map<std::string, std::string> meta;
  for (auto& [k, v] : p.meta()) meta[k] = v;
  auto num = [&](const char* k) -> uint64_t {
    try {
      return std::stoull(meta.at(k));
    } catch (const std::exception&) {
      throw CorruptError(p.name() + ": index: meta key '" + k + "' is missing or not a number");
    }
  };
  auto u32 = [&](const char* k) {
    uint64_t v = num(k);
    if (v > UINT32_MAX) throw CorruptError(p.name() + ": index: meta key '" + k + "' is out of range");
    return uint32_t(v);
  };
  WriterOptions wo;
  wo.level = int(std::min<uint64_t>(num(kMetaZstdLevel), 1000));
  wo.block_size = u32(kMetaBlockSize);
  wo.raw_block_size = u32(kMetaRawBlockSize);
  wo.chunk.min_size = u32(kMetaChunkMin);
  wo.chunk.avg_size = u32(kMetaChunkAvg);
  wo.chunk.max_size = u32(kMetaChunkMax);
  wo.similarity_order = meta[kMetaOrder] == "similar";
  wo.max_profile = meta[kMetaProfile] == "max";
  return wo;
}

int run_build(const BuildCommand& cmd, ToolIo& io) {
  // A delta: its bases, opened for their indexes only (no data is read).
  std::vector<std::shared_ptr<const Pack>> bases;
  std::vector<std::string> base_names;
  for (auto& b : cmd.bases) {
    std::error_code ec;
    if (fs::equivalent(b, cmd.output, ec))
      throw UsageError("the output " + cmd.output + " is the base " + b + ": a delta never overwrites its base");
    auto p = open_pack_file(b, tool_search(io).open);
    if (compute_identity(*p) != p->identity())
      throw Error(b + ": its metadata does not hash to its identity (damaged); run 'kso-pack verify' on it", EIO);
    std::string name = fs::path(b).filename().string();
    if (!p->holds_data() && fs::path(name).extension() == ".kidx") name = fs::path(name).stem().string() + ".kso";
    bases.push_back(std::move(p));
    base_names.push_back(name);
  }
  WriterOptions wo = bases.empty() ? WriterOptions{} : recorded_options(*bases[0]);
  auto take = [&](const char* opt) { return bases.empty() || cmd.given(opt); };
  if (take("--profile")) {
    wo.max_profile = cmd.profile == "max";
    if (wo.max_profile && !cmd.given("--level")) wo.level = kMaxProfileLevel;
  }
  if (take("--level") && (cmd.given("--level") || !wo.max_profile)) wo.level = cmd.level;
  if (take("--block-size")) {
    uint64_t bs = parse_size(cmd.block_size);
    if (bs > UINT32_MAX) throw Error("--block-size is too large", EINVAL);
    wo.block_size = uint32_t(bs);
  }
  if (take("--raw-block-size")) {
    uint64_t rbs = parse_size(cmd.raw_block_size);
    if (rbs > UINT32_MAX) throw Error("--raw-block-size is too large", EINVAL);
    wo.raw_block_size = uint32_t(rbs);
  }
  if (take("--chunk")) wo.chunk = parse_chunk(cmd.chunk);
  if (take("--order")) wo.similarity_order = cmd.order == "similar";
  if (!bases.empty() && cmd.given("--chunk")) {
    auto base_chunk = recorded_options(*bases[0]).chunk;
    if (base_chunk.min_size != wo.chunk.min_size || base_chunk.avg_size != wo.chunk.avg_size ||
        base_chunk.max_size != wo.chunk.max_size)
      spdlog::warn("--chunk differs from the base's chunk sizes: files the base holds will be cut differently and "
                   "mostly stored again");
  }
  if (cmd.given("--base-min-use") && bases.empty())
    throw UsageError("--base-min-use applies to delta packs: give --base too");
  wo.bases = std::move(bases);
  wo.base_names = std::move(base_names);
  wo.base_min_use = cmd.base_min_use;
  wo.threads = cmd.threads;
  for (uint32_t b : {wo.block_size, wo.raw_block_size})
    if (b < wo.chunk.max_size)
      throw UsageError("block sizes must be at least the maximum chunk size (" + std::to_string(wo.chunk.max_size) +
                       " B); raise --block-size/--raw-block-size or lower --chunk");
  wo.allow_escaping_symlinks = cmd.allow_escaping_symlinks;
  wo.strict = cmd.strict;
  wo.created_unix = source_date_epoch(io);  // reproducible builds: the build time, and no mtime after it
  // The output's directory must exist before any download or packing starts.
  {
    fs::path out(cmd.output);
    fs::path dir = out.has_parent_path() ? out.parent_path() : fs::path(".");
    std::error_code ec;
    if (!fs::is_directory(dir, ec))
      throw Error("cannot write " + cmd.output + ": directory " + dir.string() + " does not exist", ENOENT);
    if (access(dir.c_str(), W_OK) != 0)
      throw Error("cannot write " + cmd.output + ": directory " + dir.string() + " is not writable", EACCES);
    if (fs::is_directory(out, ec)) throw Error("cannot write " + cmd.output + ": it is a directory", EISDIR);
  }

  std::vector<DirSpec> specs;
  for (auto& d : cmd.dirs) specs.push_back(parse_dir_spec(d));
  // --- sources: local directories
  std::vector<SourceEntry> entries;
  for (auto& s : specs) {
    auto v = scan_dir(s);
    spdlog::info("{}: {} entries from {}", s.prefix, v.size(), s.dir.string());
    entries.insert(entries.end(), std::make_move_iterator(v.begin()), std::make_move_iterator(v.end()));
  }
  // The downloading sources' options, with the defaults of the tool's environment.
  const fetch::NetOptions net = tool_net_options(cmd.net, io);
  // --- sources: files lists (tools/files_list), downloaded into the cache dir
  if (!cmd.files.lists.empty()) {
    auto v = fetch_files_lists(cmd.files, net, io);
    spdlog::info("{}: {} files from {} files list(s)", cmd.files.prefix, v.size(), cmd.files.lists.size());
    entries.insert(entries.end(), std::make_move_iterator(v.begin()), std::make_move_iterator(v.end()));
  }
  // --- sources: image lists (tools/images), pulled into a registry:2 layout
  if (cmd.images.enabled()) {
    net.validate();
    auto v = images::pull_images(cmd.images, net, nullptr, io);
    entries.insert(entries.end(), std::make_move_iterator(v.begin()), std::make_move_iterator(v.end()));
  }
  // --- (further sources append to `entries` here)
  if (entries.empty()) throw Error("nothing to pack: give at least one source (PREFIX=DIR)", EINVAL);

  auto t0 = std::chrono::steady_clock::now();
  PackWriter w(cmd.output, wo);
  for (auto& e : entries) w.add(std::move(e));
  ProgressLine bar(io, "packing");
  w.on_progress([&](const BuildProgress& p) { bar.update(p.bytes_done, p.bytes_total, p.files_done, p.files_total); });
  SignalGuard guard(w.temp_path().string());
  BuildStats s = w.finish();
  bar.finish();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  spdlog::info("wrote {}: {} files, {} dirs, {} symlinks, {} hardlinks; {} in, {} unique, {} stored ({} blocks, {} raw); "
               "ratio {}; {:.1f}s",
               cmd.output, s.files, s.dirs, s.symlinks, s.hardlinks, human_bytes(s.bytes_in),
               human_bytes(s.bytes_unique), human_bytes(s.pack_size), s.blocks, s.blocks_raw,
               ratio(s.pack_size, s.bytes_in), secs);
  if (!wo.bases.empty())
    spdlog::info("delta: {} of the new tree's distinct bytes ({} chunks) come from the base(s), {} are stored here",
                 human_bytes(s.bytes_from_bases), s.chunks_from_bases, human_bytes(s.bytes_unique));
  if (wo.base_min_use)
    spdlog::info("delta: base blocks used for less than {}%: {} left out, {} of theirs stored here again",
                 wo.base_min_use, s.base_blocks_sparse, human_bytes(s.bytes_stored_again));
  return kExitOk;
}

}  // namespace kso
