// The bytes of a pack, wherever they live. Every read the reader makes (header,
// tables, index pages, blocks) goes through one ByteSource, so a mounted pack
// is one immutable thing: nothing is read by path after open. The local file is
// one implementation; a remote one (HTTP ranges with a disk cache) and the
// bases of a delta pack are others.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

namespace kso {

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Total size in bytes, fixed for the source's life.
  virtual uint64_t size() const = 0;
  // Fills out[0, len) with bytes [offset, offset+len). Throws CorruptError if
  // the range lies past the end (a truncated pack) and Error on I/O failure.
  virtual void read(uint64_t offset, size_t len, char* out) const = 0;
  // What to call the source in messages: a path or a URL.
  virtual const std::string& name() const = 0;
  // Bytes [offset, offset+len) failed their checksum. A source that caches
  // (a remote pack's disk cache) drops the range and returns true so the
  // reader reads it once more; a plain file returns false: the damage is real.
  virtual bool drop(uint64_t offset, size_t len) const { return false; }
  // False for a source that has a pack's metadata only (a .kidx view): its
  // data region cannot be read.
  virtual bool holds_data() const { return true; }
};

// A local file, opened once; reads are pread(2) on that descriptor only.
class FileSource : public ByteSource {
 public:
  // Opens `path` read-only (non-blocking, so a fifo cannot hang the open) and
  // refuses anything but a regular file. Throws Error naming the path.
  explicit FileSource(const std::filesystem::path& path);
  ~FileSource() override;
  uint64_t size() const override { return size_; }
  void read(uint64_t offset, size_t len, char* out) const override;
  const std::string& name() const override { return name_; }

 private:
  int fd_ = -1;
  uint64_t size_ = 0;
  std::string name_;
};

// Bytes held in memory (tests, fuzzing, a pack fetched whole).
class MemorySource : public ByteSource {
 public:
  MemorySource(std::string bytes, std::string name = "<memory>")
      : bytes_(std::move(bytes)), name_(std::move(name)) {}
  uint64_t size() const override { return bytes_.size(); }
  void read(uint64_t offset, size_t len, char* out) const override;
  const std::string& name() const override { return name_; }

 private:
  std::string bytes_;
  std::string name_;
};

}  // namespace kso
