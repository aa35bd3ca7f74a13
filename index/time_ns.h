// Nanosecond timestamps as stored in the index, and their timespec form.
#pragma once
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <optional>

namespace kso {

constexpr int64_t kNsPerSec = 1000000000;

// Splits ns since the epoch into a timespec; rounds seconds down so that
// tv_nsec stays in [0, 1e9) for times before 1970 too.
inline timespec to_timespec(int64_t ns) {
  int64_t sec = ns / 1000000000, nsec = ns % 1000000000;
  if (nsec < 0) {
    sec -= 1;
    nsec += 1000000000;
  }
  timespec ts;
  ts.tv_sec = time_t(sec);
  ts.tv_nsec = long(nsec);
  return ts;
}

}  // namespace kso
