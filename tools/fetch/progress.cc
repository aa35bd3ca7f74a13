#include "tools/fetch/progress.h"

#include "tools/progress.h"

#include <unistd.h>

#include <cstdio>

namespace kso::fetch {

namespace {

constexpr auto kRedrawEvery = std::chrono::milliseconds(200);  // bar refresh rate limit

std::string human(double b) { return human_bytes(uint64_t(b)); }

std::string duration(double s) {
  char buf[32];
  if (s < 60) snprintf(buf, sizeof buf, "%.0fs", s);
  else if (s < 3600) snprintf(buf, sizeof buf, "%dm%02ds", int(s) / 60, int(s) % 60);
  else snprintf(buf, sizeof buf, "%dh%02dm", int(s) / 3600, int(s) / 60 % 60);
  return buf;
}

}  // namespace

Progress::Progress(int mode, std::string what)
    : bar_(mode == 1 || (mode < 0 && isatty(2))), what_(std::move(what)), start_(std::chrono::steady_clock::now()) {}

Progress::~Progress() { clear_line(); }

void Progress::add_files(uint64_t n) { files_total_ += n; }

void Progress::transfer_started(const std::string& url, int64_t size) {
  active_++;
  if (size > 0) bytes_expected_ += uint64_t(size);
  if (!bar_) fprintf(stderr, "GET %s\n", url.c_str());
  redraw(false);
}

void Progress::transfer_size(int64_t bytes) {
  if (bytes > 0) bytes_expected_ += uint64_t(bytes);
}

void Progress::transfer_bytes(int64_t delta) {
  bytes_ += uint64_t(delta);
  redraw(false);
}

void Progress::transfer_retry(const std::string& url, const std::string& why, int attempt, int delay_ms) {
  active_--;
  clear_line();
  fprintf(stderr, "retry %d for %s: %s (in %.1fs)\n", attempt, url.c_str(), why.c_str(), delay_ms / 1000.0);
  redraw(true);
}

void Progress::transfer_ended(const std::string& url, bool ok, uint64_t bytes) {
  active_--;
  if (!bar_ && ok) fprintf(stderr, "done %s (%s)\n", url.c_str(), human(double(bytes)).c_str());
  redraw(false);
}

void Progress::file_from_cache() {
  cached_++;
  redraw(false);
}

void Progress::file_downloaded() {
  downloaded_++;
  redraw(false);
}

void Progress::file_verified() { verified_++; }

void Progress::file_failed(const std::string& what) {
  failed_++;
  clear_line();
  fprintf(stderr, "FAILED %s\n", what.c_str());
  redraw(true);
}

void Progress::file_skipped() {
  skipped_++;
  redraw(false);
}

void Progress::clear_line() {
  if (bar_ && drawn_) {
    fputs("\r\033[K", stderr);
    drawn_ = false;
  }
}

void Progress::redraw(bool force) {
  if (!bar_ || finished_) return;
  auto now = std::chrono::steady_clock::now();
  if (!force && drawn_ && now - last_draw_ < kRedrawEvery) return;
  last_draw_ = now;
  double secs = std::chrono::duration<double>(now - start_).count();
  double rate = secs > 0.5 ? double(bytes_) / secs : 0;
  std::string eta;
  if (rate > 0 && bytes_expected_ > bytes_) eta = " ETA " + duration(double(bytes_expected_ - bytes_) / rate);
  uint64_t done = downloaded_ + cached_ + failed_ + skipped_;
  fprintf(stderr, "\r\033[K%s %llu/%llu  %s  %s/s  %d active%s", what_.c_str(), (unsigned long long)done,
          (unsigned long long)files_total_, human(double(bytes_)).c_str(), human(rate).c_str(), active_,
          eta.c_str());
  fflush(stderr);
  drawn_ = true;
}

void Progress::finish() {
  if (finished_) return;
  clear_line();
  finished_ = true;
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::string skipped = skipped_ ? ", skipped " + std::to_string(skipped_) : "";
  fprintf(stderr, "%s: downloaded %llu, from cache %llu, verified %llu, failed %llu%s; %s in %s\n", what_.c_str(),
          (unsigned long long)downloaded_, (unsigned long long)cached_, (unsigned long long)verified_,
          (unsigned long long)failed_, skipped.c_str(), human(double(bytes_)).c_str(), duration(secs).c_str());
}

}  // namespace kso::fetch
