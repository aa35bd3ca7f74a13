#include "index/pack_open.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <optional>

#include "index/error.h"
#include "index/pack_index_file.h"

namespace kso {
namespace fs = std::filesystem;

namespace {

// The identity a pack's header names, without opening it further; nullopt
// for anything that is not a readable pack (a .kidx included).
std::optional<Digest> header_identity(const fs::path& p) {
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return std::nullopt;
  struct stat st;
  std::string h(kHeaderSize, '\0');
  bool ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && pread(fd, h.data(), h.size(), 0) == ssize_t(h.size());
  ::close(fd);
  if (!ok) return std::nullopt;
  try {
    return decode_header(h).identity;
  } catch (const Error&) {
    return std::nullopt;
  }
}

bool is_remote(const std::string& s) { return s.rfind("http://", 0) == 0 || s.rfind("https://", 0) == 0; }

// The identity a pack's header names, read through `open`.
std::optional<Digest> source_identity(const std::string& where, const SourceOpener& open) {
  if (!is_remote(where)) return header_identity(where);
  auto src = open(where);
  std::string h(kHeaderSize, '\0');
  src->read(0, h.size(), h.data());
  try {
    return decode_header(h).identity;
  } catch (const Error&) {
    return std::nullopt;
  }
}

class Resolver {
 public:
  Resolver(const std::string& top, const BaseSearch& s) : search_(s) {
    if (is_remote(top)) url_dir_ = top.substr(0, top.substr(0, top.find('?')).rfind('/') + 1);
    for (auto& p : s.paths) {
      // A .kidx has its pack's identity but none of its data.
      if (!is_remote(p) && is_index_file(p))
        throw Error("base " + p.string() + " is an index only (.kidx): reading needs the pack itself", EINVAL);
      auto id = source_identity(p.string(), s.open);
      if (!id) {
        std::error_code ec;
        throw Error("base " + p.string() + ": " + (is_remote(p) || fs::exists(p, ec) ? "not a kso pack" : "no such file"),
                    ENOENT);
      }
      given_.emplace_back(p, *id);
      by_identity_.emplace(*id, p);
    }
    if (s.next_to_pack && !url_dir_.empty()) {
      // A URL has no directory to list: its bases are tried by the names the
      // delta recorded, next to it (checked by identity all the same).
    } else if (s.next_to_pack) {
      fs::path tp(top);
      dir_ = tp.has_parent_path() ? tp.parent_path() : fs::path(".");
      std::error_code ec;
      struct stat self {};
      stat(top.c_str(), &self);
      for (auto it = fs::directory_iterator(dir_, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
        const fs::path& p = it->path();
        if (p.filename().string().rfind(".", 0) == 0) continue;  // temp files of builds and installs
        struct stat st {};
        if (stat(p.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
        if (st.st_dev == self.st_dev && st.st_ino == self.st_ino) continue;
        if (auto id = header_identity(p)) {
          by_identity_.emplace(*id, p);  // given bases keep precedence
          found_.emplace_back(p, *id);
        }
      }
    }
  }

  std::shared_ptr<Pack> attach(std::shared_ptr<Pack> p) {
    if (!p->is_delta()) return p;
    chain_.push_back(p->identity());
    std::vector<std::shared_ptr<Pack>> bases;
    for (size_t k = 0; k < p->bases().size(); k++) {
      const BaseEntry& b = p->bases()[k];
      for (auto& c : chain_)
        if (c == b.identity)
          throw Error(p->name() + ": its bases form a cycle (base '" + b.name + "', identity " + to_hex(b.identity) +
                          ", needs this pack again)",
                      EINVAL);
      auto done = opened_.find(b.identity);
      if (done != opened_.end()) {
        bases.push_back(done->second);
        continue;
      }
      auto it = by_identity_.find(b.identity);
      if (it == by_identity_.end() && !url_dir_.empty() && !b.name.empty() && b.name.find('/') == std::string::npos) {
        std::string guess = url_dir_ + b.name;
        if (auto id = source_identity(guess, search_.open)) {
          found_.emplace_back(guess, *id);
          if (*id == b.identity) it = by_identity_.emplace(*id, guess).first;
        }
      }
      if (it == by_identity_.end()) throw Error(missing(*p, b), ENOENT);
      std::shared_ptr<Pack> q = attach(Pack::open(search_.open(it->second.string())));
      opened_.emplace(b.identity, q);
      bases.push_back(q);
    }
    p->attach_bases(std::move(bases));
    chain_.pop_back();
    return p;
  }

 private:
  // One line: which base, which identity, where it was looked for, and what
  // stands under its name instead, if anything.
  std::string missing(const Pack& p, const BaseEntry& b) const {
    std::string msg = p.name() + ": base pack '" + b.name + "' (identity " + to_hex(b.identity) + ") not found";
    std::vector<std::string> where;
    if (!search_.paths.empty()) where.push_back("among the given bases");
    if (search_.next_to_pack) where.push_back("in " + (url_dir_.empty() ? dir_.string() : url_dir_));
    for (size_t i = 0; i < where.size(); i++) msg += (i ? " or " : " ") + where[i];
    for (auto* list : {&given_, &found_})
      for (auto& [path, id] : *list)
        if (path.filename() == b.name || list == &given_) {
          msg += "; " + path.string() + " is another pack (identity " + to_hex(id) + ")";
          return msg;
        }
    return msg + "; give it with base=PATH (kso-fs) or --base PATH";
  }

  BaseSearch search_;
  fs::path dir_;
  std::string url_dir_;  // a remote delta's "directory" URL, with the trailing '/' 
  std::vector<std::pair<fs::path, Digest>> given_, found_;
  std::map<Digest, fs::path> by_identity_;
  std::map<Digest, std::shared_ptr<Pack>> opened_;
  std::vector<Digest> chain_;
};

}  // namespace

std::shared_ptr<Pack> open_pack_file(const std::string& where, const SourceOpener& open) {
  if (!is_remote(where) && is_index_file(where)) return Pack::open(std::make_shared<IndexFileSource>(where));
  return Pack::open(open(where));
}

std::shared_ptr<ByteSource> open_local_file(const std::string& where) { return std::make_shared<FileSource>(where); }

std::shared_ptr<Pack> open_pack(const std::string& path, const BaseSearch& search) {
  auto p = Pack::open(search.open(path));
  if (!p->is_delta()) return p;
  return Resolver(path, search).attach(std::move(p));
}

std::vector<const Pack*> base_chain(const Pack& p) {
  std::vector<const Pack*> out, todo{&p};
  for (size_t i = 0; i < todo.size(); i++)  // breadth-first: nearest first
    for (size_t k = 0; k < todo[i]->bases().size(); k++) {
      const Pack* b = todo[i]->base(k).get();
      if (!b || std::find(out.begin(), out.end(), b) != out.end()) continue;
      out.push_back(b);
      todo.push_back(b);
    }
  return out;
}

}  // namespace kso
