// `kso-pack sign PACK --key KEY`: a detached Ed25519 signature of the pack's
// identity in PACK.sig; `kso-pack verify PACK --pubkey PUB` checks it before
// the identity chain (tools/signature.h has the format; docs/REVIEW.md the
// equivalent openssl commands).
#pragma once
#include <CLI/CLI.hpp>
#include "cli/tool_io.h"
#include <string>
#include <vector>

#include "index/pack_reader.h"

namespace kso {

struct SignCommand {
  std::string pack, key, output;  // output: default PACK.sig
};

// Registers `sign` on `app`; it sets `which`.
void add_sign_command(CLI::App& app, SignCommand& cmd, std::string& which);
// Runs it; returns the exit code.
int run_sign(const SignCommand& cmd, ToolIo& io);  // prints to io.out / io.err

// Where a pack's signature is unless told: "PACK.sig".
std::string default_signature_path(const std::string& pack);
// Checks `sig` (a signature file) over the identity `p` hashes to against the
// trusted `pubkeys`: prints "ok: signature ..." and returns true when one of
// them signed it, else prints "BAD SIGNATURE: ..." and returns false. Throws
// Error naming the file when the signature or a key cannot be read.
bool verify_pack_signature(const Pack& p, const std::string& sig, const std::vector<std::string>& pubkeys, ToolIo& io);

}  // namespace kso
