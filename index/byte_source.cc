#include "index/byte_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "index/error.h"

namespace kso {
namespace {

void check_range(const ByteSource& s, uint64_t offset, size_t len) {
  if (offset > s.size() || len > s.size() - offset)
    throw CorruptError(s.name() + ": pack is truncated (read of " + std::to_string(len) + " bytes at " +
                       std::to_string(offset) + " past its end)");
}

}  // namespace

FileSource::FileSource(const std::filesystem::path& path) : name_(path.string()) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd_ < 0) throw Error("cannot open " + name_ + ": " + strerror(errno), errno);
  struct stat st;
  if (fstat(fd_, &st) != 0) {
    int e = errno;
    ::close(fd_);
    throw Error("cannot stat " + name_ + ": " + strerror(e), e);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd_);
    throw Error(name_ + " is not a regular file", EINVAL);
  }
  int fl = fcntl(fd_, F_GETFL);
  if (fl >= 0) fcntl(fd_, F_SETFL, fl & ~O_NONBLOCK);
  size_ = uint64_t(st.st_size);
}

FileSource::~FileSource() {
  if (fd_ >= 0) ::close(fd_);
}

void FileSource::read(uint64_t offset, size_t len, char* out) const {
  check_range(*this, offset, len);
  size_t got = 0;
  while (got < len) {
    ssize_t n = pread(fd_, out + got, len - got, off_t(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error("reading " + name_ + ": " + strerror(errno), EIO);
    // The file shrank under us (rewritten in place): damage, never zeros.
    if (n == 0) throw CorruptError(name_ + ": pack is truncated (it shrank while open)");
    got += size_t(n);
  }
}

void MemorySource::read(uint64_t offset, size_t len, char* out) const {
  check_range(*this, offset, len);
  memcpy(out, bytes_.data() + offset, len);
}

}  // namespace kso
