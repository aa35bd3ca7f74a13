#include "tools/pack_inspect.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cctype>
#include <cstring>
#include <ctime>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_map>
#include <utility>

#include "cache/block_cache.h"
#include "index/error.h"
#include "index/sha256.h"
#include "index/pack_index_file.h"
#include "index/pack_open.h"
#include "index/pack_reader.h"
#include "index/index_meta.h"
#include "index/time_ns.h"
#include "index/verify.h"
#include "fetch/remote.h"
#include "tools/kso_pack.h"
#include "tools/pack_args.h"
#include "tools/pack_extract.h"
#include "tools/pack_report.h"
#include "tools/pack_sign.h"
#include "tools/progress.h"
#include "tools/text.h"

namespace kso {
namespace {

// The totals `info --json` reports, by key: the counts a pack's index gives
// back (not what only a build knows, such as the bytes its bases supplied).
constexpr std::pair<const char*, uint64_t PackStats::*> kJsonTotals[] = {
    {"files", &PackStats::files},         {"dirs", &PackStats::dirs},
    {"symlinks", &PackStats::symlinks},   {"hardlinks", &PackStats::hardlinks},
    {"bytes_in", &PackStats::bytes_in},   {"bytes_unique", &PackStats::bytes_unique},
    {"bytes_stored", &PackStats::bytes_stored}, {"files_deduped", &PackStats::files_deduped},
    {"chunks", &PackStats::chunks},       {"chunks_deduped", &PackStats::chunks_deduped},
    {"blocks", &PackStats::blocks},       {"blocks_raw", &PackStats::blocks_raw}};

// Decoded blocks the tools keep while streaming files out: a few blocks are
// enough because they read files front to back.
constexpr uint64_t kToolCacheBytes = 64u << 20;

Stat must_find(const Pack& p, const std::string& path) {
  auto st = p.lookup_path(path);
  if (!st) throw Error("no such path in pack: " + path, ENOENT);
  return *st;
}

// As ls -l shows it, setuid, setgid and sticky bits included.
std::string mode_string(uint32_t m) {
  std::string s = S_ISDIR(m) ? "d" : S_ISLNK(m) ? "l" : "-";
  const char* rwx = "rwxrwxrwx";
  for (int i = 0; i < 9; i++) s += (m & (0400 >> i)) ? rwx[i] : '-';
  auto special = [&](size_t at, uint32_t bit, char set) {
    if (m & bit) s[at] = s[at] == 'x' ? set : char(toupper(set));
  };
  special(3, S_ISUID, 's');
  special(6, S_ISGID, 's');
  special(9, S_ISVTX, 't');
  return s;
}

std::string time_string(int64_t ns) {
  time_t t = to_timespec(ns).tv_sec;
  char buf[32];
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", &tm);
  return buf;
}

std::string join(const std::string& dir, const std::string& name) { return dir.empty() ? name : dir + "/" + name; }

void ls(const Pack& p, const std::string& dir, const Stat& st, const InspectCommand& c, ToolIo& io) {
  auto line = [&](const std::string& path, const Stat& s) {
    if (!c.long_format) {
      say(io.out, "%s\n", printable(path).c_str());
      return;
    }
    std::string target = S_ISLNK(s.mode) ? " -> " + printable(p.readlink(s.ino)) : "";
    say(io.out, "%s %3u %12llu %s %s%s\n", mode_string(s.mode).c_str(), s.nlink, (unsigned long long)s.size,
           time_string(s.mtime_ns).c_str(), printable(path).c_str(), target.c_str());
  };
  if (!S_ISDIR(st.mode)) {
    line(dir, st);
    return;
  }
  for (auto& e : p.readdir(st.ino)) {
    std::string path = join(dir, e.name);
    line(path, e.st);
    if (c.recursive && S_ISDIR(e.st.mode)) ls(p, path, e.st, c, io);
  }
}

// For each base of a delta: where it was found (or why not).
std::vector<std::string> base_status(const Pack& p, const InspectCommand& c, ToolIo& io) {
  std::vector<std::string> out(p.bases().size());
  if (p.bases().empty()) return out;
  try {
    auto full = open_pack(c.pack, tool_search(io, c.bases));
    for (size_t k = 0; k < out.size(); k++) out[k] = "found: " + full->base(k)->name();
  } catch (const Error& e) {
    for (auto& o : out) o = std::string("not usable: ") + e.what();
  }
  return out;
}

int info(const Pack& p, const InspectCommand& c, ToolIo& io) {
  PackReport r = pack_report(p);
  std::vector<std::string> status = base_status(p, c, io);
  const PackStats& t = r.totals;
  auto ratio = [](uint64_t a, uint64_t b) { return b ? double(a) / double(b) : 0.0; };
  const Superblock& sb = p.superblock();
  if (c.json) {
    nlohmann::json j;
    j["pack"] = p.name();
    j["format_version"] = p.version();
    j["identity"] = to_hex(p.identity());
    j["pack_bytes"] = p.file_size();
    j["index_only"] = !p.holds_data();
    j["bases"] = nlohmann::json::array();
    for (size_t k = 0; k < p.bases().size(); k++) {
      const BaseEntry& b = p.bases()[k];
      j["bases"].push_back({{"name", b.name},
                            {"identity", to_hex(b.identity)},
                            {"pack_bytes", b.pack_size},
                            {"supplies_bytes", r.supplied[k + 1]},
                            {"status", status[k]}});
    }
    j["supplied_here_bytes"] = r.supplied[0];
    for (auto& [k, v] : p.meta()) j["meta"][k] = v;
    j["layout"] = {{"data_offset", kDataStart},     {"meta_offset", p.meta_offset()},
                   {"block_count", sb.block_count}, {"page_count", sb.page_count},
                   {"index_offset", sb.index_offset}, {"index_size", sb.index_size}};
    for (auto& [key, field] : kJsonTotals) j["totals"][key] = t.*field;
    j["prefixes"] = nlohmann::json::object();
    for (auto& ps : r.prefixes)
      j["prefixes"][ps.prefix] = {{"files", ps.files},
                                  {"bytes_in", ps.bytes_in},
                                  {"bytes_unique", ps.bytes_unique},
                                  {"bytes_stored", ps.bytes_stored}};
    say(io.out, "%s\n", j.dump(2).c_str());
    return kExitOk;
  }
  auto meta_rows = p.meta();
  std::map<std::string, std::string> meta(meta_rows.begin(), meta_rows.end());
  say(io.out, "pack:          %s (format v%u)\n", p.name().c_str(), p.version());
  say(io.out, "identity:      %s\n", to_hex(p.identity()).c_str());
  if (!p.holds_data()) say(io.out, "kind:          index only (.kidx): no data, for building deltas on this pack\n");
  if (p.is_delta()) {
    say(io.out, "delta of:      %zu base pack(s); of %s of distinct content, %s is stored here\n", p.bases().size(),
           human_bytes(t.bytes_unique).c_str(), human_bytes(r.supplied[0]).c_str());
    for (size_t k = 0; k < p.bases().size(); k++) {
      const BaseEntry& b = p.bases()[k];
      say(io.out, "  base %zu:      %s, identity %s: supplies %s (%.1f%%); %s\n", k + 1, printable(b.name).c_str(),
             to_hex(b.identity).c_str(), human_bytes(r.supplied[k + 1]).c_str(),
             100.0 * ratio(r.supplied[k + 1], t.bytes_unique), status[k].c_str());
    }
  }
  say(io.out, "files:         %llu (+%llu hardlinks), %llu dirs, %llu symlinks\n", (unsigned long long)t.files,
         (unsigned long long)t.hardlinks, (unsigned long long)t.dirs, (unsigned long long)t.symlinks);
  say(io.out, "bytes in:      %s (%llu)\n", human_bytes(t.bytes_in).c_str(), (unsigned long long)t.bytes_in);
  say(io.out, "after dedup:   %s (saved %s, %.1f%%; %llu files and %llu chunks deduplicated)\n",
         human_bytes(t.bytes_unique).c_str(), human_bytes(t.bytes_in - std::min(t.bytes_in, t.bytes_unique)).c_str(),
         100.0 * (1 - ratio(t.bytes_unique, t.bytes_in)), (unsigned long long)t.files_deduped,
         (unsigned long long)t.chunks_deduped);
  say(io.out, "stored:        %s in %llu blocks (%llu raw), pack file %s\n", human_bytes(t.bytes_stored).c_str(),
         (unsigned long long)t.blocks, (unsigned long long)t.blocks_raw, human_bytes(p.file_size()).c_str());
  say(io.out, "ratio:         %.3f (pack / bytes in)\n", ratio(p.file_size(), t.bytes_in));
  say(io.out, "settings:      zstd level %s, blocks %s B (raw %s B), chunks %s/%s/%s B, order %s%s\n",
         meta[kMetaZstdLevel].c_str(), meta[kMetaBlockSize].c_str(), meta[kMetaRawBlockSize].c_str(),
         meta[kMetaChunkMin].c_str(), meta[kMetaChunkAvg].c_str(), meta[kMetaChunkMax].c_str(),
         meta[kMetaOrder].c_str(), meta.count(kMetaProfile) ? (", profile " + meta[kMetaProfile]).c_str() : "");
  say(io.out, "%-20s %10s %14s %14s %8s %14s %7s\n", "prefix", "files", "bytes in", "unique", "unique%", "stored", "ratio");
  for (auto& ps : r.prefixes)
    say(io.out, "%-20s %10llu %14s %14s %7.1f%% %14s %7.3f\n", printable(ps.prefix).c_str(), (unsigned long long)ps.files,
           human_bytes(ps.bytes_in).c_str(), human_bytes(ps.bytes_unique).c_str(),
           100.0 * ratio(ps.bytes_unique, ps.bytes_in), human_bytes(ps.bytes_stored).c_str(),
           ratio(ps.bytes_stored, ps.bytes_in));
  return kExitOk;
}

// The whole chain a site relies on: the identity is the SHA-256 of the
// metadata region, which holds every block's SHA-256; then every block, every
// index page, every chunk digest and every file's SHA-256 through the read path.
int verify(std::shared_ptr<Pack> pk, ToolIo& io) {
  Pack& p = *pk;
  uint64_t problems = 0;
  auto report = [&](const std::string& what) {
    problems++;
    say(io.err, "damaged: %s\n", what.c_str());
  };
  if (p.holds_data()) {
    std::string pad(kDataStart - kHeaderSize, '\0');
    p.source().read(kHeaderSize, pad.size(), pad.data());
    if (pad.find_first_not_of('\0') != std::string::npos) report("non-zero bytes after the header");
  }
  if (compute_identity(p) != p.identity()) report("metadata does not hash to the pack identity");
  try {
    p.check_index();
  } catch (const CorruptError& e) {
    report(e.what());
  }
  if (!p.holds_data()) {  // a .kidx: its identity and index are all there is
    if (problems) {
      say(io.out, "DAMAGED: %s (index file)\n", p.name().c_str());
      return kExitFailure;
    }
    say(io.out, "ok: %s: index file of pack %s (%s), identity and index verified\n", p.name().c_str(),
           to_hex(p.identity()).c_str(), human_bytes(p.file_size()).c_str());
    return kExitOk;
  }
  // A delta: each base of the chain hashes to the identity it was chosen by
  // (its blocks are checked below, through the blocks this pack uses).
  const std::vector<const Pack*> chain = base_chain(p);
  for (const Pack* b : chain)
    if (compute_identity(*b) != b->identity()) report(b->name() + ": metadata does not hash to its identity");
  std::set<uint32_t> bad_blocks;
  uint32_t n = p.block_count();
  ProgressLine bar(io, "verifying blocks");
  uint64_t stored = 0, total = 0;
  for (uint32_t i = 0; i < n; i++) total += p.block_entry(i).stored_size;
  for (uint32_t i = 0; i < n; i++) {
    try {
      verify_block(p, i);
    } catch (const CorruptError& e) {
      bad_blocks.insert(i);
      bar.finish();
      report(e.what());
    }
    stored += p.block_entry(i).stored_size;
    bar.update(stored, total, i + 1, n);
  }
  bar.finish();
  // Chunk digests: what a delta build will trust to find chunks here.
  BlockCache cache(pk, kToolCacheBytes, 0);
  uint64_t chunks = 0, bad_chunks = 0;
  for (auto& row : p.query_rows("SELECT sha256, block, offset, length FROM chunks ORDER BY block, offset", 4)) {
    chunks++;
    uint32_t block = uint32_t(std::stoul(row[1]));
    uint64_t off = std::stoull(row[2]), len = std::stoull(row[3]);
    if (bad_blocks.count(block)) continue;
    try {
      if (block >= n) throw CorruptError("chunk in block " + row[1] + ", which does not exist");
      BlockData b = cache.block(block);
      if (off > b->size() || len > b->size() - off || len == 0) throw CorruptError("chunk outside block " + row[1]);
      Digest d = sha256(b->data() + off, size_t(len));
      if (row[0].size() != 32 || memcmp(d.data(), row[0].data(), 32) != 0)
        throw CorruptError("chunk at block " + row[1] + " offset " + row[2] + " does not match its SHA-256");
    } catch (const CorruptError& e) {
      bad_chunks++;
      report(e.what());
    }
  }
  // Every file: its blocks, and its bytes against its SHA-256.
  uint64_t files = 0, bad_files = 0;
  std::vector<std::pair<std::string, Stat>> todo{{"", *p.stat(kRootIno)}};
  while (!todo.empty()) {
    auto [dir, st] = todo.back();
    todo.pop_back();
    for (auto& e : p.readdir(st.ino)) {
      std::string path = join(dir, e.name);
      if (S_ISDIR(e.st.mode)) todo.emplace_back(path, e.st);
      if (!S_ISREG(e.st.mode)) continue;
      files++;
      try {
        auto f = p.layout(e.st.ino);
        bool hit = false;
        for (auto& ch : f->chunks) hit |= bad_blocks.count(ch.block) > 0;
        if (hit) throw CorruptError("lies in a damaged block");
        copy_file(p, cache, e.st.ino, -1, path);
      } catch (const Error& err) {
        bad_files++;
        problems++;
        say(io.err, "damaged file: %s: %s\n", printable(path).c_str(), err.what());
      }
    }
  }
  if (problems == 0) {
    say(io.out, "ok: %s: %u blocks, %llu chunks and %llu files verified; identity %s\n", p.name().c_str(), n,
           (unsigned long long)chunks, (unsigned long long)files, to_hex(p.identity()).c_str());
    for (const Pack* b : chain) say(io.out, "ok: base %s: identity %s\n", b->name().c_str(), to_hex(b->identity()).c_str());
    return kExitOk;
  }
  say(io.out, "DAMAGED: %s: %zu of %u blocks, %llu of %llu chunks, %llu of %llu files\n", p.name().c_str(),
         bad_blocks.size(), n, (unsigned long long)bad_chunks, (unsigned long long)chunks,
         (unsigned long long)bad_files, (unsigned long long)files);
  return kExitFailure;
}

}  // namespace

void add_inspect_commands(CLI::App& app, InspectCommand& cmd, std::string& which) {
  auto pack_opt = [&](CLI::App* s) { add_pack_options(*s, cmd.pack, cmd.bases); };
  auto* ls = app.add_subcommand("ls", "List a directory (or a file) of a pack");
  pack_opt(ls);
  ls->add_option("path", cmd.paths, "Path inside the pack (default: the root)")->expected(0, 1);
  ls->add_flag("-l,--long", cmd.long_format, "Long format: mode, links, size, mtime");
  ls->add_flag("-R,--recursive", cmd.recursive, "List subdirectories too");
  auto* cat = app.add_subcommand("cat", "Write a file of a pack to standard output");
  pack_opt(cat);
  cat->add_option("path", cmd.paths, "Path inside the pack")->required()->expected(1);
  auto* info = app.add_subcommand("info", "Show what a pack holds: counts, sizes, dedup, ratio per prefix");
  pack_opt(info);
  info->add_flag("--json", cmd.json, "Machine-readable output");
  auto* verify = app.add_subcommand(
      "verify", "Check every block and every file's SHA-256 (and with --pubkey first the signature); exit 1 naming any "
                "damage");
  pack_opt(verify);
  verify->add_option("--pubkey", cmd.pubkeys,
                     "Trusted PEM Ed25519 public key: PACK.sig must be a signature of the identity by it (repeatable: "
                     "any one of them)")
      ->type_name("PUB")
      ->allow_extra_args(false);
  verify->add_option("--sig", cmd.signature, "The signature file (default: PACK.sig); needs --pubkey");
  auto* extract = app.add_subcommand("extract", "Write the pack's tree (or a subtree) to a directory");
  pack_opt(extract);
  extract->add_option("args", cmd.paths, "[PATH] DIR")->required()->expected(1, 2);
  extract->add_flag("--allow-escaping-symlinks", cmd.allow_escaping_symlinks,
                    "Write symlinks that point outside the pack too (default: skip them and fail)");
  for (auto* s : {ls, cat, info, verify, extract}) s->callback([&which, s] { which = s->get_name(); });
}

int run_inspect(const std::string& which, const InspectCommand& c, ToolIo& io) {
  if (which == "verify" && !c.signature.empty() && c.pubkeys.empty())
    throw UsageError("--sig needs --pubkey: the key the signature must be by");
  // The signature before anything else: a pack nobody trusted signed is not
  // worth opening its bases for.
  if (which == "verify" && !c.pubkeys.empty() && fetch::is_url(c.pack) && c.signature.empty())
    throw UsageError("a pack given by URL needs --sig FILE: the signature file, a local copy");
  if (which == "verify" && !c.pubkeys.empty() &&
      !verify_pack_signature(*open_pack_file(c.pack, tool_search(io).open),
                             c.signature.empty() ? default_signature_path(c.pack) : c.signature, c.pubkeys, io))
    return kExitFailure;
  // ls and info need the index only; what reads file bytes needs the bases.
  std::shared_ptr<Pack> p;
  if (which == "ls" || which == "info") {
    p = open_pack_file(c.pack, tool_search(io).open);
  } else {
    if (is_index_file(c.pack) && which != "verify")
      throw Error(c.pack + " is an index file (.kidx): it holds no file data", EINVAL);
    p = is_index_file(c.pack) ? open_pack_file(c.pack) : open_pack(c.pack, tool_search(io, c.bases));
  }
  if (which == "ls") {
    std::string path = c.paths.empty() ? "" : c.paths[0];
    ls(*p, path == "/" ? "" : path, must_find(*p, path), c, io);
    return kExitOk;
  }
  if (which == "cat") {
    Stat st = must_find(*p, c.paths[0]);
    if (!S_ISREG(st.mode)) throw Error(c.paths[0] + " is not a regular file", EISDIR);
    BlockCache cache(p, kToolCacheBytes, 1);
    copy_file(*p, cache, st.ino, io.out, "standard output");
    return kExitOk;
  }
  if (which == "info") return info(*p, c, io);
  if (which == "verify") return verify(p, io);
  // extract [PATH] DIR
  std::string path = c.paths.size() == 2 ? c.paths[0] : "";
  std::string out = c.paths.back();
  Stat st = must_find(*p, path);
  BlockCache cache(p, kToolCacheBytes, 1);
  ExtractOptions xo;
  xo.allow_escaping_symlinks = c.allow_escaping_symlinks;
  ExtractResult r = extract(*p, cache, path, st, out, xo, io);
  if (!r.failed.empty()) {
    say(io.err, "kso-pack: error: %s: %zu entries not extracted (listed above); the other %llu files are in %s\n",
            p->name().c_str(), r.failed.size(), (unsigned long long)(r.files + r.hardlinks), out.c_str());
    return kExitFailure;
  }
  spdlog::info("extracted {} files ({}), {} hardlinks, {} symlinks, {} directories into {}", r.files,
               human_bytes(r.bytes), r.hardlinks, r.symlinks, r.dirs, out);
  return kExitOk;
}

}  // namespace kso
