#include "tools/progress.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ostream>

#include "fetch/http.h"

namespace kso {

namespace {

constexpr auto kLiveInterval = std::chrono::milliseconds(200);  // terminal redraws
constexpr auto kPlainInterval = std::chrono::seconds(5);        // log lines elsewhere
constexpr int kBarWidth = 30;

// Bytes per second over `secs`, 0 while too early to say.
double rate(uint64_t bytes, double secs) { return secs > 0.5 ? double(bytes) / secs : 0; }

std::string eta(uint64_t done, uint64_t total, double rate) {
  return rate > 0 && total > done ? human_duration(double(total - done) / rate) : "--";
}

}  // namespace

std::string human_duration(double s) {
  char buf[32];
  if (s < 60) snprintf(buf, sizeof buf, "%.0fs", s);
  else if (s < 3600) snprintf(buf, sizeof buf, "%dm%02ds", int(s) / 60, int(s) % 60);
  else snprintf(buf, sizeof buf, "%dh%02dm", int(s) / 3600, int(s) / 60 % 60);
  return buf;
}

// --- ProgressDisplay

ProgressDisplay::ProgressDisplay(ToolIo& io, int mode)
    : err_(io.err),
      live_(mode == 1 || (mode < 0 && io.err_is_terminal)),
      start_(std::chrono::steady_clock::now()),
      last_(start_) {}

ProgressDisplay::~ProgressDisplay() { clear(); }

double ProgressDisplay::elapsed() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void ProgressDisplay::status(const std::string& text, double fraction, bool force) {
  last_text_ = text;
  last_fraction_ = fraction;
  auto now = std::chrono::steady_clock::now();
  if (live_) {
    if (!force && drawn_ && now - last_ < kLiveInterval) return;
    last_ = now;
    std::string bar;
    if (fraction >= 0) {
      int fill = int(std::min(fraction, 1.0) * kBarWidth);
      bar = "[" + std::string(size_t(fill), '#') + std::string(size_t(kBarWidth - fill), ' ') + "] ";
    }
    err_ << "\r\033[K" << bar << text << std::flush;
    drawn_ = true;
  } else {
    if (!force && now - last_ < kPlainInterval) return;
    last_ = now;
    spdlog::info("{}", text);
  }
}

void ProgressDisplay::note(const std::string& line) {
  bool redraw = drawn_;
  clear();
  err_ << line << "\n" << std::flush;
  if (redraw) status(last_text_, last_fraction_, true);
}

void ProgressDisplay::clear() {
  if (live_ && drawn_) {
    err_ << "\r\033[K" << std::flush;
    drawn_ = false;
  }
}

// --- ProgressLine

ProgressLine::ProgressLine(ToolIo& io, std::string what) : what_(std::move(what)), display_(io) {}

void ProgressLine::update(uint64_t bytes_done, uint64_t bytes_total, uint64_t items_done, uint64_t items_total) {
  double r = rate(bytes_done, display_.elapsed());
  double fraction = bytes_total ? double(bytes_done) / double(bytes_total) : 0;
  char line[256];
  snprintf(line, sizeof line, "%s %5.1f%% %s/%s %s/s ETA %s, %llu/%llu files", what_.c_str(), 100 * fraction,
           human_bytes(bytes_done).c_str(), human_bytes(bytes_total).c_str(), human_bytes(uint64_t(r)).c_str(),
           eta(bytes_done, bytes_total, r).c_str(), (unsigned long long)items_done, (unsigned long long)items_total);
  display_.status(line, fraction);
}

void ProgressLine::finish() { display_.clear(); }

// --- DownloadProgress

DownloadProgress::DownloadProgress(ToolIo& io, int mode, std::string what)
    : what_(std::move(what)), err_(io.err), display_(io, mode) {}

DownloadProgress::~DownloadProgress() { display_.clear(); }

void DownloadProgress::on_transfer(const fetch::TransferEvent& e) {
  using Kind = fetch::TransferEvent::Kind;
  switch (e.kind) {
    case Kind::Started:
      active_++;
      if (e.bytes > 0) bytes_expected_ += uint64_t(e.bytes);
      if (!display_.live()) display_.note("GET " + std::string(e.url));
      break;
    case Kind::Size:
      if (e.bytes > 0) bytes_expected_ += uint64_t(e.bytes);
      return;
    case Kind::Bytes:
      bytes_ += uint64_t(e.bytes);
      break;
    case Kind::Retry: {
      active_--;
      char delay[32];
      snprintf(delay, sizeof delay, "%.1fs", e.delay_ms / 1000.0);
      display_.note("retry " + std::to_string(e.attempt) + " for " + std::string(e.url) + ": " + std::string(e.why) +
                    " (in " + delay + ")");
      return redraw(true);
    }
    case Kind::Ended:
      active_--;
      if (!display_.live() && e.ok) display_.note("done " + std::string(e.url) + " (" + human_bytes(uint64_t(e.bytes)) + ")");
      break;
  }
  redraw();
}

void DownloadProgress::add_files(uint64_t n) { files_total_ += n; }

void DownloadProgress::file_from_cache() {
  cached_++;
  redraw();
}

void DownloadProgress::file_downloaded() {
  downloaded_++;
  redraw();
}

void DownloadProgress::file_verified() { verified_++; }

void DownloadProgress::file_failed(const std::string& what) {
  failed_++;
  display_.note("FAILED " + what);
  redraw(true);
}

void DownloadProgress::file_skipped() {
  skipped_++;
  redraw();
}

void DownloadProgress::redraw(bool force) {
  if (finished_) return;
  double r = rate(bytes_, display_.elapsed());
  std::string e = eta(bytes_, bytes_expected_, r);
  uint64_t done = downloaded_ + cached_ + failed_ + skipped_;
  char line[256];
  snprintf(line, sizeof line, "%s %llu/%llu  %s  %s/s  %d active%s%s", what_.c_str(), (unsigned long long)done,
           (unsigned long long)files_total_, human_bytes(bytes_).c_str(), human_bytes(uint64_t(r)).c_str(), active_,
           e == "--" ? "" : " ETA ", e == "--" ? "" : e.c_str());
  display_.status(line, -1, force);
}

void DownloadProgress::finish() {
  if (finished_) return;
  display_.clear();
  finished_ = true;
  std::string skipped = skipped_ ? ", skipped " + std::to_string(skipped_) : "";
  say(err_, "%s: downloaded %llu, from cache %llu, verified %llu, failed %llu%s; %s in %s\n", what_.c_str(),
          (unsigned long long)downloaded_, (unsigned long long)cached_, (unsigned long long)verified_,
          (unsigned long long)failed_, skipped.c_str(), human_bytes(bytes_).c_str(),
          human_duration(display_.elapsed()).c_str());
}

}  // namespace kso
