// The index of a pack without its data (a .kidx file): what a delta build
// needs from a base the builder does not have — identity, block table, chunk
// digests and locations — in a few MB, and provably the pack's own: its
// identity is recomputed from these very bytes.
//
//   [kidx header 64 B][the pack's header 64 B][the pack's bytes from
//    meta_offset to its end: metadata region and trailer]
//
// Read back, a .kidx is a ByteSource that has the pack's bytes at their
// offsets in the pack, except the data region, so Pack::open validates it
// exactly as it validates the pack. docs/FORMAT.md describes the header.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "index/byte_source.h"
#include "index/format.h"

namespace kso {

class Pack;

constexpr char kKidxMagic[8] = {'K', 'S', 'O', 'K', 'I', 'D', 'X', '\0'};
constexpr uint32_t kKidxVersion = 1;
constexpr size_t kKidxHeaderSize = 64;

namespace kidx {
constexpr Field magic{"magic", 0, 8}, version{"version", 8, 4}, flags{"flags", 12, 4},
    pack_size{"pack_size", 16, 8}, meta_offset{"meta_offset", 24, 8}, reserved{"reserved", 32, 24},
    xxh3{"xxh3", 56, 8};
constexpr Field all[] = {magic, version, flags, pack_size, meta_offset, reserved, xxh3};
}  // namespace kidx

// Writes `pack`'s index-only export to `out` (temp file, fsync, rename).
// Throws Error naming the file.
void write_index_file(const Pack& pack, const std::filesystem::path& out);

// A .kidx read as the pack it describes: size() is the pack's size, reads of
// header, metadata and trailer come from the file, reads of the data region
// throw Error. holds_data() is false.
class IndexFileSource : public ByteSource {
 public:
  explicit IndexFileSource(const std::filesystem::path& path);  // throws Error on a bad header
  uint64_t size() const override { return pack_size_; }
  void read(uint64_t offset, size_t len, char* out) const override;
  const std::string& name() const override { return file_.name(); }
  bool holds_data() const override { return false; }

 private:
  FileSource file_;
  uint64_t pack_size_ = 0, meta_offset_ = 0;
};

// True if the file at `path` starts with the .kidx magic.
bool is_index_file(const std::filesystem::path& path);

}  // namespace kso
