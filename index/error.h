// Errors raised inside the libraries; the tools turn them into one-line
// messages and exit codes, kso-fs into errno.
#pragma once
#include <cerrno>
#include <stdexcept>
#include <string>

namespace kso {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what, int err = EIO) : std::runtime_error(what), errno_(err) {}
  int errno_value() const { return errno_; }  // what the FUSE boundary replies with

 private:
  int errno_;
};

// Damaged or truncated pack data: a checksum mismatch, a short read, a bad frame.
class CorruptError : public Error {
 public:
  explicit CorruptError(const std::string& what) : Error(what, EIO) {}
};

// A bad request from the command line (options that cannot go together):
// the tools exit with their usage code.
class UsageError : public Error {
 public:
  explicit UsageError(const std::string& what) : Error(what, EINVAL) {}
};

}  // namespace kso
