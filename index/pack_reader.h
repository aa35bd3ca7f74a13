// Reader library: opens a pack through a ByteSource, validates it once, and
// answers tree and content queries. Safe for concurrent use from many
// threads; kso-fs and every tool read through it.
#pragma once
#include <sys/uio.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "index/byte_buf.h"
#include "index/byte_source.h"
#include "index/format.h"

namespace kso {

constexpr uint64_t kRootIno = 1;  // the pack's root directory

struct Stat {
  uint64_t ino = 0;
  uint32_t mode = 0;   // full st_mode: type bits and permissions
  uint32_t nlink = 1;
  uint64_t size = 0;   // bytes; symlinks: length of the target
  int64_t mtime_ns = 0;
};

struct DirEntry {
  std::string name;
  Stat st;
};

// One stored chunk of a file: bytes [file_offset, file_offset+length) of the
// file are bytes [block_offset, block_offset+length) of block `block`.
struct ChunkRef {
  uint64_t file_offset;
  uint32_t block;
  uint32_t block_offset;
  uint32_t length;
};

// Where a regular file's bytes live; loaded once per open file.
struct FileLayout {
  uint64_t size = 0;
  Digest sha256{};                 // of the whole file
  std::vector<ChunkRef> chunks;    // sorted by file_offset, contiguous
  // Where the last read ended: a read starting there is sequential.
  mutable std::atomic<uint64_t> next_offset{0};
  // Index of the chunk holding byte `offset` (offset < size).
  size_t chunk_at(uint64_t offset) const;
};

// Verified, decoded bytes of one block, shared by the cache and replies.
using BlockData = std::shared_ptr<const std::string>;

// Decoded blocks by id: the pack itself, or a cache in front of it.
class BlockSource {
 public:
  virtual ~BlockSource() = default;
  virtual BlockData block(uint32_t id) = 0;  // verified; throws CorruptError on damage
  virtual uint32_t block_count() const = 0;
  // False for blocks the reader serves in place (raw), which need no decoding.
  virtual bool decodes(uint32_t id) const = 0;
  // A sequential reader of `f` has read through chunk `last`: a source that
  // can decode ahead may start on what comes next.
  virtual void read_ahead(const FileLayout& f, size_t last) {}
};

// The bytes of one read as iovecs into blocks and page buffers this object
// holds until the next read into it. Reuse one per thread: its buffers keep
// their capacity (a fresh 1 MiB buffer costs an mmap and its page faults).
class ReadBuffer {
 public:
  const std::vector<iovec>& iov() const { return iov_; }
  size_t size() const { return size_; }
  void copy_to(char* out) const;  // the bytes, contiguous

 private:
  friend class Pack;
  std::vector<iovec> iov_;
  std::vector<BlockData> held_;
  std::vector<ByteBuf> pages_;  // raw bytes read for this request, not zeroed first
  size_t size_ = 0;
};

class Pack : public BlockSource {
 public:
  // Opens a pack and validates header, trailer, superblock, tables and the
  // index's schema; cost is independent of the data region's size. Index
  // pages are verified as they are read, later. Throws Error naming the pack.
  static std::shared_ptr<Pack> open(std::shared_ptr<ByteSource> src);
  static std::shared_ptr<Pack> open(const std::filesystem::path& path);  // a FileSource
  ~Pack() override;

  const ByteSource& source() const;
  const std::string& name() const;             // the source's name: path or URL
  uint64_t file_size() const;                  // the pack's size in bytes
  uint32_t version() const;                    // its format version
  const Digest& identity() const;              // as recorded; compute_identity() (index/verify.h) proves it
  const Superblock& superblock() const;
  // False for an index-only view (a .kidx): tables and index, no data region.
  bool holds_data() const;

  // Delta packs (v3): the packs this one takes blocks from, by identity.
  // A delta opens without them (its tree can be listed); reading a block a
  // base holds needs attach_bases() first.
  const std::vector<BaseEntry>& bases() const;
  bool is_delta() const { return !bases().empty(); }
  bool bases_attached() const;
  // Gives a delta its bases, in base-table order, each opened (and, if itself
  // a delta, attached) already. Checks each one's identity, size, that it
  // holds data, and that every block this pack takes from it is there with
  // the same sizes, codec and checksums. Call once, before concurrent use.
  // Throws Error naming the base and the identity expected.
  void attach_bases(std::vector<std::shared_ptr<Pack>> bases);
  std::shared_ptr<Pack> base(size_t k) const;  // k < bases().size(); null before attach_bases()
  // The pack whose data region holds block `id` and its id there (this pack
  // and `id` for a block of its own; across a chain, the last pack).
  struct BlockHome {
    const Pack* pack;
    uint32_t id;
  };
  BlockHome home(uint32_t id) const;  // throws Error if the block's base is not attached
  uint64_t meta_offset() const;                // start of the metadata region
  uint64_t inode_count() const;                // inodes 1..inode_count, the root included

  std::optional<Stat> lookup(uint64_t parent, std::string_view name) const;
  std::optional<Stat> lookup_path(std::string_view path) const;  // "a/b/c", "" or "/" = root
  std::optional<Stat> stat(uint64_t ino) const;
  // Up to `limit` entries of `dir` whose names sort after `after` (byte order).
  std::vector<DirEntry> readdir(uint64_t dir, std::string_view after = {}, size_t limit = SIZE_MAX) const;
  std::string readlink(uint64_t ino) const;    // throws Error(EINVAL) if not a symlink
  // True for a symlink that could resolve outside the pack (symlink_escapes()
  // in index/entry.h): front ends refuse to resolve it unless told otherwise.
  bool escaping_symlink(uint64_t ino) const;
  // The same for a symlink whose target the caller has read already.
  bool escaping_symlink(uint64_t ino, std::string_view target) const;
  std::shared_ptr<const FileLayout> layout(uint64_t ino) const;  // throws Error(EISDIR/...) if not a file

  // The one read path: bytes [off, off+len) of `f` (short only at end of
  // file) into `out`, compressed blocks taken from `blocks` (this pack, or a
  // cache in front of it), raw blocks read and verified page by page.
  void read(const FileLayout& f, uint64_t off, size_t len, BlockSource& blocks, ReadBuffer& out) const;
  // The same, copied into `out`; returns the bytes copied (tests, tools).
  size_t read(const FileLayout& f, uint64_t off, size_t len, char* out, BlockSource& blocks) const;
  size_t read(uint64_t ino, uint64_t off, size_t len, char* out) const;  // straight from the pack

  uint32_t block_count() const override;
  bool decodes(uint32_t id) const override;
  const BlockEntry& block_entry(uint32_t id) const;
  BlockData block(uint32_t id) override;        // read, verify, decode: no caching
  // A further check of a block's stored bytes once their XXH3 matched (the
  // SHA-256 one, index/verify.h); throws CorruptError saying what is wrong.
  using StoredCheck = std::function<void(const BlockEntry& e, std::string_view stored)>;
  // Checks block `id` completely (in the base that holds it, for a delta):
  // XXH3, then `also`, page checksums, decoding. Throws CorruptError naming
  // the block and saying what is wrong.
  void check_block(uint32_t id, const StoredCheck& also = {}) const;
  // Reads every index page against its checksum. Throws CorruptError.
  void check_index() const;

  // One directory entry as for_each_entry() hands it out; the views and the
  // digest point into the index's row and last until the callback returns.
  struct EntryRow {
    uint64_t parent;
    std::string_view name;
    Stat st;
    const uint8_t* sha256;    // 32 bytes: a regular file's content digest; null otherwise
    std::string_view target;  // a symlink's target; empty otherwise
  };
  // Every directory entry of the tree in (parent, name) byte order, in one
  // pass over the index and without file data: what a union of packs
  // compares. Names and inode numbers are as stored: the caller checks what it
  // relies on. Throws CorruptError.
  void for_each_entry(const std::function<void(const EntryRow&)>& f) const;

  std::vector<std::pair<std::string, std::string>> meta() const;  // the index's meta table
  // Runs a read-only query on the index; each row as `cols` columns (text as
  // text, blobs as their bytes, numbers in decimal).
  std::vector<std::vector<std::string>> query_rows(const std::string& sql, int cols) const;

 private:
  struct Impl;
  explicit Pack(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kso
