#include "tools/signature.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <memory>

#include "index/error.h"
#include "index/sha256.h"

namespace kso {
namespace {

using PKey = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

// OpenSSL's reason for the last failure, its error queue emptied.
std::string openssl_error() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (!e) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

// PEM_read_bio_* ask this instead of prompting on the terminal: no passphrase.
int no_passphrase(char*, int, int, void* encrypted) {
  *static_cast<bool*>(encrypted) = true;
  return -1;
}

PKey load_key(const std::filesystem::path& path, bool is_public) {
  const char* what = is_public ? "public key" : "private key";
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_file(path.c_str(), "r"), BIO_free);
  if (!bio) {
    ERR_clear_error();
    throw Error("cannot read " + std::string(what) + " " + path.string(), ENOENT);
  }
  bool encrypted = false;
  PKey k(is_public ? PEM_read_bio_PUBKEY(bio.get(), nullptr, no_passphrase, &encrypted)
                   : PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, &encrypted),
         EVP_PKEY_free);
  if (!k) {
    std::string why = openssl_error();
    if (encrypted)
      throw Error(path.string() +
                      ": the private key is encrypted; kso-pack asks for no passphrase (decrypt it "
                      "with 'openssl pkey' into a file only the signer can read)",
                  EINVAL);
    throw Error(path.string() + ": not a PEM " + what + " (" + why + ")", EINVAL);
  }
  if (EVP_PKEY_id(k.get()) != EVP_PKEY_ED25519)
    throw Error(path.string() + ": not an Ed25519 " + std::string(what) +
                    " (make one with 'openssl genpkey "
                    "-algorithm ed25519')",
                EINVAL);
  return k;
}

}  // namespace

std::string identity_message(const Digest& identity) { return "kso-pack identity v1 " + to_hex(identity) + "\n"; }

std::string ed25519_sign(const std::filesystem::path& key, const std::string& message) {
  PKey k = load_key(key, false);
  MdCtx ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  std::string sig(64, '\0');
  size_t len = sig.size();
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, k.get()) != 1 ||
      EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1)
    throw Error(key.string() + ": signing failed (" + openssl_error() + ")");
  sig.resize(len);
  return sig;
}

bool ed25519_verify(const std::filesystem::path& pubkey, const std::string& message, const std::string& sig) {
  PKey k = load_key(pubkey, true);
  MdCtx ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, k.get()) != 1)
    throw Error(pubkey.string() + ": cannot verify with this key (" + openssl_error() + ")");
  int rc = EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                            reinterpret_cast<const unsigned char*>(message.data()), message.size());
  ERR_clear_error();  // a bad signature leaves its reason queued
  return rc == 1;
}

std::string key_fingerprint(const std::filesystem::path& key, bool is_public) {
  PKey k = load_key(key, is_public);
  unsigned char* der = nullptr;
  int n = i2d_PUBKEY(k.get(), &der);
  if (n <= 0) throw Error(key.string() + ": cannot encode the public key (" + openssl_error() + ")");
  std::string out = "sha256:" + to_hex(sha256(der, size_t(n)));
  OPENSSL_free(der);
  return out;
}

}  // namespace kso
