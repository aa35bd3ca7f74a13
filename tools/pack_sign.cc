#include "tools/pack_sign.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "fetch/remote.h"
#include "index/error.h"
#include "index/hash.h"
#include "index/pack_open.h"
#include "index/verify.h"
#include "tools/kso_pack.h"
#include "tools/pack_args.h"
#include "tools/signature.h"

namespace kso {
namespace fs = std::filesystem;
namespace {

constexpr size_t kSignatureBytes = 64;  // Ed25519

std::string read_signature(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("cannot read signature " + path, ENOENT);
  std::string s(kSignatureBytes + 1, '\0');
  f.read(s.data(), std::streamsize(s.size()));
  s.resize(size_t(f.gcount()));
  return s;
}

// Writes `data` to `path` by a temp file next to it and a rename.
void write_atomically(const std::string& path, const std::string& data) {
  std::string tmp = path + ".tmp-" + std::to_string(getpid());
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw Error("cannot write " + path + ": " + strerror(errno));
  bool ok = write(fd, data.data(), data.size()) == ssize_t(data.size());
  ok &= fsync(fd) == 0;
  ok &= close(fd) == 0;
  if (!ok || rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    unlink(tmp.c_str());
    throw Error("cannot write " + path + ": " + strerror(err));
  }
}

}  // namespace

std::string default_signature_path(const std::string& pack) { return pack + ".sig"; }

void add_sign_command(CLI::App& app, SignCommand& cmd, std::string& which) {
  auto* s =
      app.add_subcommand("sign", "Sign the pack's identity with an Ed25519 key: a detached signature in PACK.sig");
  s->add_option("pack", cmd.pack, "Pack file (or its .kidx: the same identity)")->required();
  s->add_option("--key", cmd.key, "PEM Ed25519 private key ('openssl genpkey -algorithm ed25519 -out KEY')")
      ->required();
  s->add_option("-o,--output", cmd.output, "Signature file to write (default: PACK.sig)");
  s->callback([&which, s] { which = s->get_name(); });
}

int run_sign(const SignCommand& c, ToolIo& io) {
  if (fetch::is_url(c.pack) && c.output.empty())
    throw UsageError("a pack given by URL needs -o SIG: the signature file to write");
  auto p = open_pack_file(c.pack, tool_search(io).open);
  // Never sign what does not hash to its identity: a damaged pack would carry
  // a valid signature of the pack it was.
  Digest id = compute_identity(*p);
  if (id != p->identity())
    throw Error(c.pack + ": its metadata does not hash to its identity (damaged); run 'kso-pack verify' on it");
  std::string sig = ed25519_sign(c.key, identity_message(id));
  std::string out = c.output.empty() ? default_signature_path(c.pack) : c.output;
  write_atomically(out, sig);
  say(io.out, "signed: %s: identity %s, key %s; signature in %s\n", c.pack.c_str(), to_hex(id).c_str(),
         key_fingerprint(c.key, false).c_str(), out.c_str());
  return kExitOk;
}

bool verify_pack_signature(const Pack& p, const std::string& sig_path, const std::vector<std::string>& pubkeys,
                           ToolIo& io) {
  std::string sig = read_signature(sig_path);
  Digest id = compute_identity(p);
  std::string keys;
  for (auto& k : pubkeys) {
    keys += (keys.empty() ? "" : ", ") + k;
    if (sig.size() == kSignatureBytes && ed25519_verify(k, identity_message(id), sig)) {
      say(io.out, "ok: signature %s: identity %s signed by key %s (%s)\n", sig_path.c_str(), to_hex(id).c_str(),
             key_fingerprint(k, true).c_str(), k.c_str());
      return true;
    }
  }
  std::string why = sig.size() == kSignatureBytes ? "is not a signature of identity " + to_hex(id) + " by " + keys
                                                  : "is not an Ed25519 signature (64 bytes)";
  say(io.out, "BAD SIGNATURE: %s: %s %s\n", p.name().c_str(), sig_path.c_str(), why.c_str());
  return false;
}

}  // namespace kso
