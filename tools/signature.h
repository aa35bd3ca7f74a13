// Detached Ed25519 signatures over a pack's identity (OpenSSL EVP), in a form
// stock `openssl pkeyutl -rawin` checks: PEM keys as `openssl genpkey
// -algorithm ed25519` writes them, the signature file the raw 64 bytes, over
// the identity message below. docs/REVIEW.md shows the openssl commands.
#pragma once
#include <filesystem>
#include <string>

#include "index/hash.h"

namespace kso {

// The signed message: "kso-pack identity v1 <64 lower-case hex>\n" (83 bytes).
std::string identity_message(const Digest& identity);

// The raw Ed25519 signature (64 bytes) of `message` with the PEM private key
// at `key`. Throws Error naming the file: unreadable, not PEM, encrypted (a
// passphrase is never asked for), or not an Ed25519 key.
std::string ed25519_sign(const std::filesystem::path& key, const std::string& message);
// True if `sig` is the Ed25519 signature of `message` by the PEM public key at
// `pubkey`. Throws Error naming the file when the key cannot be used.
bool ed25519_verify(const std::filesystem::path& pubkey, const std::string& message, const std::string& sig);
// "sha256:<hex>" of the DER SubjectPublicKeyInfo of the key at `key` (a PEM
// private or public key): what `openssl pkey -pubout -outform DER | sha256sum`
// prints, to name a key in messages.
std::string key_fingerprint(const std::filesystem::path& key, bool is_public);

}  // namespace kso
