// A growable byte buffer that does not zero what it grows into: the read path
// fills it by pread right after, and zeroing first was a memset per request
// (issue 13's profile). Keeps its capacity across uses.
#pragma once
#include <cstddef>
#include <cstring>
#include <memory>

namespace kso {

class ByteBuf {
 public:
  char* data() { return p_.get(); }
  const char* data() const { return p_.get(); }
  size_t size() const { return size_; }
  // Makes the size n; the bytes below the old size are kept, the rest are unspecified.
  void resize(size_t n) {
    if (n > cap_) {
      std::unique_ptr<char[]> p(new char[n]);  // default-initialised: not zeroed
      if (size_) memcpy(p.get(), p_.get(), size_);
      p_ = std::move(p);
      cap_ = n;
    }
    size_ = n;
  }

 private:
  std::unique_ptr<char[]> p_;
  size_t size_ = 0, cap_ = 0;
};

}  // namespace kso
