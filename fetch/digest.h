// Content digests as registries and checksum files write them, and the
// SHA-256 helpers of the downloading sources (over index/hash.h).
//
// The one acceptance rule: "sha256:" followed by exactly 64 lower-case hex
// digits (the OCI image spec's only form for sha256). Every digest a source
// reads (image references, manifests, Docker-Content-Digest headers, files
// lists) becomes an OciDigest before it is used, so nothing else parses one.
#pragma once
#include <compare>
#include <filesystem>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

#include "index/hash.h"

namespace kso::fetch {

class OciDigest {
 public:
  static constexpr std::string_view kAlgorithm = "sha256:";

  // Parses "sha256:<64 lower-case hex>"; throws kso::Error saying what is wrong
  // (another algorithm, the wrong length, a character that is not lower-case hex).
  static OciDigest parse(std::string_view s);
  // The same rule without the exception: nullopt for anything parse() refuses.
  static std::optional<OciDigest> try_parse(std::string_view s);
  // The digest of content whose SHA-256 is `d`.
  static OciDigest of(const kso::Digest& d);

  const std::string& str() const { return s_; }                           // "sha256:<hex>"
  std::string hex() const { return s_.substr(kAlgorithm.size()); }       // "<hex>"

  friend bool operator==(const OciDigest&, const OciDigest&) = default;
  friend auto operator<=>(const OciDigest&, const OciDigest&) = default;
  friend bool operator==(const OciDigest& a, std::string_view b) { return a.s_ == b; }
  friend std::ostream& operator<<(std::ostream& o, const OciDigest& d) { return o << d.s_; }

 private:
  explicit OciDigest(std::string s) : s_(std::move(s)) {}
  std::string s_;
};

// Lower-case hex SHA-256 of bytes.
std::string sha256_hex(std::string_view data);
// Lower-case hex SHA-256 of a file's content; throws kso::Error if unreadable.
std::string sha256_file(const std::filesystem::path& p);

}  // namespace kso::fetch
