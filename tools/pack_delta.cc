#include "tools/pack_delta.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <unordered_map>
#include <unordered_set>

#include "index/error.h"
#include "index/hash.h"
#include "index/pack_index_file.h"
#include "index/pack_open.h"
#include "index/write/pack_writer.h"
#include "index/verify.h"
#include "tools/kso_pack.h"
#include "tools/pack_args.h"
#include "tools/pack_build.h"
#include "tools/pack_source.h"
#include "tools/progress.h"

namespace kso {
namespace fs = std::filesystem;
namespace {

// A path of a tree as diff compares it.
struct Node {
  uint32_t mode = 0;
  uint64_t size = 0;
  std::string content;  // files: SHA-256; symlinks: the target
};

std::map<std::string, Node> tree_of(const Pack& p) {
  std::map<std::string, Node> out;
  for (auto& [path, st] : pack_paths(p)) {
    Node n{st.mode, st.size, {}};
    if (S_ISLNK(st.mode)) n.content = p.readlink(st.ino);
    else if (S_ISREG(st.mode)) n.content = to_hex(p.layout(st.ino)->sha256);
    out.emplace(path, std::move(n));
  }
  return out;
}

std::unordered_set<Digest, DigestHash> chunk_digests(const Pack& p) {
  std::unordered_set<Digest, DigestHash> out;
  for (auto& r : p.query_rows("SELECT sha256 FROM chunks", 1)) {
    if (r[0].size() != 32) throw CorruptError(p.name() + ": index: bad chunk digest");
    Digest d;
    memcpy(d.data(), r[0].data(), 32);
    out.insert(d);
  }
  return out;
}

int run_diff(const DeltaCommand& c, ToolIo& io) {
  auto old_p = open_pack_file(c.pack, tool_search(io).open);
  auto new_p = open_pack_file(c.other, tool_search(io).open);
  auto a = tree_of(*old_p), b = tree_of(*new_p);
  nlohmann::json added = nlohmann::json::array(), removed = nlohmann::json::array(),
                 changed = nlohmann::json::array();
  uint64_t add_bytes = 0, rm_bytes = 0, ch_old = 0, ch_new = 0, same = 0;
  auto kind = [](uint32_t m) { return S_ISDIR(m) ? "dir" : S_ISLNK(m) ? "symlink" : "file"; };
  for (auto& [path, n] : b) {
    auto it = a.find(path);
    if (it == a.end()) {
      added.push_back({{"path", path}, {"type", kind(n.mode)}, {"size", n.size}});
      add_bytes += n.size;
      continue;
    }
    const Node& o = it->second;
    if ((o.mode & S_IFMT) == (n.mode & S_IFMT) && o.content == n.content && o.mode == n.mode) {
      same++;
      continue;
    }
    std::string what = (o.mode & S_IFMT) != (n.mode & S_IFMT) ? "type"
                       : o.content != n.content                 ? "content"
                                                                : "mode";
    changed.push_back({{"path", path},
                       {"type", kind(n.mode)},
                       {"change", what},
                       {"old_size", o.size},
                       {"new_size", n.size},
                       {"old_mode", o.mode & 07777},
                       {"new_mode", n.mode & 07777}});
    ch_old += o.size;
    ch_new += n.size;
  }
  for (auto& [path, o] : a)
    if (!b.count(path)) {
      removed.push_back({{"path", path}, {"type", kind(o.mode)}, {"size", o.size}});
      rm_bytes += o.size;
    }
  // What a delta of NEW on OLD would store: NEW's chunks OLD does not hold,
  // at the compression NEW's blocks got; plus NEW's metadata region.
  auto have = chunk_digests(*old_p);
  uint64_t new_chunks = 0, new_bytes = 0;
  double stored = 0;
  for (auto& r : new_p->query_rows("SELECT sha256, block, length FROM chunks", 3)) {
    Digest d;
    if (r[0].size() != 32) throw CorruptError(new_p->name() + ": index: bad chunk digest");
    memcpy(d.data(), r[0].data(), 32);
    if (have.count(d)) continue;
    uint64_t len = std::stoull(r[2]);
    const BlockEntry& e = new_p->block_entry(uint32_t(std::stoul(r[1])));
    new_chunks++;
    new_bytes += len;
    stored += double(len) * e.stored_size / std::max<uint32_t>(1, e.raw_size);
  }
  uint64_t index_bytes = new_p->file_size() - new_p->meta_offset();
  uint64_t estimate = uint64_t(stored + 0.5) + kDataStart + index_bytes;
  auto params = [](const Pack& p) {
    auto o = recorded_options(p);
    return std::to_string(o.chunk.min_size) + "/" + std::to_string(o.chunk.avg_size) + "/" +
           std::to_string(o.chunk.max_size);
  };
  bool same_chunking = params(*old_p) == params(*new_p);
  if (c.json) {
    nlohmann::json j;
    j["old"] = {{"pack", old_p->name()}, {"identity", to_hex(old_p->identity())}};
    j["new"] = {{"pack", new_p->name()}, {"identity", to_hex(new_p->identity())}};
    j["added"] = added;
    j["removed"] = removed;
    j["changed"] = changed;
    j["unchanged"] = same;
    j["delta"] = {{"new_chunks", new_chunks},
                  {"new_chunk_bytes", new_bytes},
                  {"estimated_data_bytes", uint64_t(stored + 0.5)},
                  {"index_bytes", index_bytes},
                  {"estimated_pack_bytes", estimate},
                  {"same_chunking", same_chunking}};
    say(io.out, "%s\n", j.dump(2).c_str());
    return kExitOk;
  }
  for (auto& e : added) say(io.out, "A %s %llu\n", e["path"].get<std::string>().c_str(), (unsigned long long)e["size"]);
  for (auto& e : removed) say(io.out, "D %s %llu\n", e["path"].get<std::string>().c_str(), (unsigned long long)e["size"]);
  for (auto& e : changed)
    say(io.out, "M %s %llu -> %llu (%s)\n", e["path"].get<std::string>().c_str(), (unsigned long long)e["old_size"],
           (unsigned long long)e["new_size"], e["change"].get<std::string>().c_str());
  say(io.out, "%zu added (%s), %zu removed (%s), %zu changed (%s -> %s), %llu unchanged\n", added.size(),
         human_bytes(add_bytes).c_str(), removed.size(), human_bytes(rm_bytes).c_str(), changed.size(),
         human_bytes(ch_old).c_str(), human_bytes(ch_new).c_str(), (unsigned long long)same);
  say(io.out, "a delta of %s on %s would be about %s: %s of data (%llu chunks, %s, that %s lacks) and %s of index\n",
         new_p->name().c_str(), old_p->name().c_str(), human_bytes(estimate).c_str(),
         human_bytes(uint64_t(stored + 0.5)).c_str(), (unsigned long long)new_chunks, human_bytes(new_bytes).c_str(),
         old_p->name().c_str(), human_bytes(index_bytes).c_str());
  if (!same_chunking)
    say(io.out, "note: the packs were chunked with different sizes (%s vs %s); a delta built with the base's sizes would "
           "find more in common than this counts\n",
           params(*old_p).c_str(), params(*new_p).c_str());
  return kExitOk;
}

int run_index(const DeltaCommand& c, ToolIo& io) {
  auto p = open_pack_file(c.pack, tool_search(io).open);
  if (!p->holds_data()) throw Error(c.pack + " is an index file already", EINVAL);
  if (compute_identity(*p) != p->identity())
    throw Error(c.pack + ": its metadata does not hash to its identity (damaged); run 'kso-pack verify' on it", EIO);
  write_index_file(*p, c.output);
  uint64_t size = fs::file_size(c.output);
  spdlog::info("wrote {}: the index of {} ({} for a {} pack), identity {}", c.output, c.pack, human_bytes(size),
               human_bytes(p->file_size()), to_hex(p->identity()));
  return kExitOk;
}

// Every base of the chain, each once: "IDENTITY PATH" per line (scripts
// keep these files; deploy/kso-switch.sh does).
int run_bases(const DeltaCommand& c, ToolIo& io) {
  auto p = open_pack(c.pack, tool_search(io, c.bases));
  for (const Pack* b : base_chain(*p)) say(io.out, "%s %s\n", to_hex(b->identity()).c_str(), b->name().c_str());
  return kExitOk;
}

int run_merge(const DeltaCommand& c, ToolIo& io) {
  auto p = open_pack(c.pack, tool_search(io, c.bases));
  std::vector<std::string> inputs = pack_files(*p);  // the output may be none of them
  for (auto& in : inputs) {
    std::error_code ec;
    if (fs::equivalent(in, c.output, ec)) throw UsageError("the output " + c.output + " is an input of the merge: " + in);
  }
  PackStats s = rewrite_pack(*p, pack_entries(p), c.output, c.threads, "merging", io);
  spdlog::info("wrote {}: {} files, {} stored, a standalone pack of {} ({} base pack(s) merged in), identity {}",
               c.output, s.files, human_bytes(s.bytes_stored), c.pack, inputs.size() - 1, to_hex(s.identity));
  return kExitOk;
}

}  // namespace

void add_delta_commands(CLI::App& app, DeltaCommand& cmd, std::string& which) {
  auto* idx = app.add_subcommand(
      "index", "Write a pack's index without its data (.kidx): enough to build deltas on it elsewhere");
  idx->add_option("pack", cmd.pack, "Pack file")->required();
  idx->add_option("-o,--output", cmd.output, "Index file to write (e.g. OLD.kidx)")->required();
  auto* diff = app.add_subcommand(
      "diff", "Paths added, removed and changed from OLD to NEW, and what a delta of NEW on OLD would weigh");
  diff->add_option("old", cmd.pack, "The old pack (or its .kidx)")->required();
  diff->add_option("new", cmd.other, "The new pack")->required();
  diff->add_flag("--json", cmd.json, "Machine-readable output");
  auto* merge = app.add_subcommand(
      "merge", "Flatten a delta pack and its bases into a standalone pack, with the parameters the delta records");
  add_pack_options(*merge, cmd.pack, cmd.bases, "Delta pack");
  merge->add_option("-o,--output", cmd.output, "Pack file to write")->required();
  merge->add_option("--threads", cmd.threads, "Compression threads (0 = every core)")->check(CLI::Range(0, 1024));
  auto* bases = app.add_subcommand(
      "bases", "List every base pack a delta needs, through its chain: 'IDENTITY PATH' per line; exit 1 if one is "
               "missing");
  add_pack_options(*bases, cmd.pack, cmd.bases);
  for (auto* s : {idx, diff, merge, bases}) s->callback([&which, s] { which = s->get_name(); });
}

bool is_delta_command(const std::string& which) {
  return which == "index" || which == "diff" || which == "merge" || which == "bases";
}

int run_delta(const std::string& which, const DeltaCommand& c, ToolIo& io) {
  if (which == "index") return run_index(c, io);
  if (which == "bases") return run_bases(c, io);
  if (which == "diff") return run_diff(c, io);
  return run_merge(c, io);
}

}  // namespace kso
