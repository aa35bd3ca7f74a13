#include "tools/progress.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>

namespace kso {

// How often a non-terminal gets a progress line.
constexpr auto kPlainInterval = std::chrono::seconds(5);
// How often the terminal bar is redrawn.
constexpr auto kTtyInterval = std::chrono::milliseconds(200);

std::string human_bytes(uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = double(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    u++;
  }
  char buf[32];
  snprintf(buf, sizeof buf, u ? "%.1f %s" : "%.0f %s", v, units[u]);
  return buf;
}

ProgressLine::ProgressLine(std::string what)
    : what_(std::move(what)), tty_(isatty(STDERR_FILENO)), start_(std::chrono::steady_clock::now()), last_(start_) {}

ProgressLine::~ProgressLine() { finish(); }

void ProgressLine::update(uint64_t bytes_done, uint64_t bytes_total, uint64_t items_done, uint64_t items_total) {
  auto now = std::chrono::steady_clock::now();
  if (now - last_ < (tty_ ? std::chrono::duration_cast<std::chrono::steady_clock::duration>(kTtyInterval)
                          : std::chrono::duration_cast<std::chrono::steady_clock::duration>(kPlainInterval)))
    return;
  last_ = now;
  double secs = std::chrono::duration<double>(now - start_).count();
  double rate = secs > 0 ? double(bytes_done) / secs : 0;
  double pct = bytes_total ? 100.0 * double(bytes_done) / double(bytes_total) : 0;
  std::string eta = "--";
  if (rate > 0 && bytes_total > bytes_done) {
    int s = int(double(bytes_total - bytes_done) / rate);
    eta = std::to_string(s / 60) + "m" + std::to_string(s % 60) + "s";
  }
  char line[256];
  snprintf(line, sizeof line, "%s %5.1f%% %s/%s %s/s ETA %s, %llu/%llu files", what_.c_str(), pct,
           human_bytes(bytes_done).c_str(), human_bytes(bytes_total).c_str(), human_bytes(uint64_t(rate)).c_str(),
           eta.c_str(), (unsigned long long)items_done, (unsigned long long)items_total);
  if (tty_) {
    int width = 30, fill = int(pct * width / 100);
    fprintf(stderr, "\r\033[K[%s%s] %s", std::string(size_t(fill), '#').c_str(),
            std::string(size_t(width - fill), ' ').c_str(), line);
    fflush(stderr);
    drawn_ = true;
  } else {
    spdlog::info("{}", line);
  }
}

void ProgressLine::finish() {
  if (tty_ && drawn_) {
    fprintf(stderr, "\r\033[K");
    fflush(stderr);
    drawn_ = false;
  }
}

}  // namespace kso
