#include "index/pack_index_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>

#include "index/error.h"
#include "index/pack_reader.h"

namespace kso {
namespace fs = std::filesystem;

namespace {
// Bytes per copy when writing the export.
constexpr size_t kCopyChunk = 1u << 20;

void write_all(int fd, const char* p, size_t n, const std::string& name) {
  while (n) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) throw Error("writing " + name + ": " + strerror(errno), errno);
    p += w;
    n -= size_t(w);
  }
}
}  // namespace

void write_index_file(const Pack& pack, const fs::path& out) {
  const ByteSource& src = pack.source();
  std::string h(kKidxHeaderSize, '\0');
  memcpy(h.data(), kKidxMagic, 8);
  put_le(&h[kidx::version.offset], kKidxVersion, kidx::version.size);
  put_le(&h[kidx::pack_size.offset], pack.file_size(), kidx::pack_size.size);
  put_le(&h[kidx::meta_offset.offset], pack.meta_offset(), kidx::meta_offset.size);
  put_le(&h[kidx::xxh3.offset], xxh3(h.data(), kidx::xxh3.offset), kidx::xxh3.size);
  fs::path dir = out.has_parent_path() ? out.parent_path() : fs::path(".");
  fs::path tmp = dir / ("." + out.filename().string() + ".tmp-" + std::to_string(getpid()));
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw Error("cannot create " + tmp.string() + ": " + strerror(errno), errno);
  try {
    write_all(fd, h.data(), h.size(), tmp.string());
    std::string buf(kHeaderSize, '\0');
    src.read(0, kHeaderSize, buf.data());
    write_all(fd, buf.data(), buf.size(), tmp.string());
    for (uint64_t off = pack.meta_offset(); off < pack.file_size(); off += kCopyChunk) {
      size_t n = size_t(std::min<uint64_t>(kCopyChunk, pack.file_size() - off));
      buf.resize(n);
      src.read(off, n, buf.data());
      write_all(fd, buf.data(), n, tmp.string());
    }
    if (fsync(fd) != 0) throw Error("fsync " + tmp.string() + ": " + strerror(errno), errno);
    ::close(fd);
    fd = -1;
    if (rename(tmp.c_str(), out.c_str()) != 0)
      throw Error("cannot rename to " + out.string() + ": " + strerror(errno), errno);
  } catch (...) {
    if (fd >= 0) ::close(fd);
    unlink(tmp.c_str());
    throw;
  }
}

IndexFileSource::IndexFileSource(const fs::path& path) : file_(path) {
  auto bad = [&](const std::string& why) { return Error(file_.name() + ": " + why, EINVAL); };
  if (file_.size() < kKidxHeaderSize + kHeaderSize + kTrailerSize) throw bad("not a kso index file (too short)");
  std::string h(kKidxHeaderSize, '\0');
  file_.read(0, h.size(), h.data());
  if (memcmp(h.data(), kKidxMagic, 8) != 0) throw bad("not a kso index file (bad magic)");
  if (get_le(&h[kidx::xxh3.offset], 8) != xxh3(h.data(), kidx::xxh3.offset))
    throw CorruptError(file_.name() + ": index file header checksum mismatch");
  uint32_t v = uint32_t(get_le(&h[kidx::version.offset], 4));
  if (v != kKidxVersion)
    throw bad("index file version " + std::to_string(v) + " is not read by this kso (it reads " +
              std::to_string(kKidxVersion) + ")");
  if (get_le(&h[kidx::flags.offset], 4) != 0) throw CorruptError(file_.name() + ": index file has unknown flags");
  for (uint32_t i = 0; i < kidx::reserved.size; i++)
    if (h[kidx::reserved.offset + i]) throw CorruptError(file_.name() + ": index file has non-zero reserved bytes");
  pack_size_ = get_le(&h[kidx::pack_size.offset], 8);
  meta_offset_ = get_le(&h[kidx::meta_offset.offset], 8);
  if (meta_offset_ < kDataStart || meta_offset_ > pack_size_ ||
      pack_size_ - meta_offset_ != file_.size() - kKidxHeaderSize - kHeaderSize)
    throw CorruptError(file_.name() + ": index file sizes do not add up (truncated or damaged)");
}

void IndexFileSource::read(uint64_t offset, size_t len, char* out) const {
  if (offset > pack_size_ || len > pack_size_ - offset)
    throw CorruptError(name() + ": read past the end of the pack it describes");
  if (len == 0) return;
  if (offset + len <= kHeaderSize) {
    file_.read(kKidxHeaderSize + offset, len, out);
  } else if (offset >= meta_offset_) {
    file_.read(kKidxHeaderSize + kHeaderSize + (offset - meta_offset_), len, out);
  } else {
    throw Error(name() + ": an index file holds no data (bytes " + std::to_string(offset) + ".." +
                    std::to_string(offset + len) + " of the pack were asked)",
                EIO);
  }
}

bool is_index_file(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return false;
  char m[8];
  bool yes = pread(fd, m, 8, 0) == 8 && memcmp(m, kKidxMagic, 8) == 0;
  ::close(fd);
  return yes;
}

}  // namespace kso
