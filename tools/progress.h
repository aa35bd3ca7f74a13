// The progress display of kso-pack's long runs, on the tool's stderr (ToolIo::err), and what draws on
// it. Libraries report progress through callbacks (PackWriter::on_progress,
// fetch::Client::on_progress); only the tool turns them into lines.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

#include "cli/human.h"  // human_bytes
#include "cli/tool_io.h"

namespace kso {

namespace fetch {
struct TransferEvent;
}

std::string human_duration(double secs);  // "42s", "3m07s", "2h05m"

// One status line: redrawn in place on a terminal (at most every 200 ms), a
// plain log line at most every 5 s elsewhere. Notes (one line each: retries,
// failures, per-file lines) print above the live line.
class ProgressDisplay {
 public:
  // Draws on io.err. mode: -1 = live line if io.err is a terminal, 0 = plain
  // lines, 1 = live line.
  explicit ProgressDisplay(ToolIo& io, int mode = -1);
  ~ProgressDisplay();  // clears the live line
  ProgressDisplay(const ProgressDisplay&) = delete;
  ProgressDisplay& operator=(const ProgressDisplay&) = delete;

  bool live() const { return live_; }
  double elapsed() const;  // seconds since construction
  // Shows `text` now if `force` or the interval has passed; `fraction` in
  // [0, 1] puts a bar in front of it on a terminal.
  void status(const std::string& text, double fraction = -1, bool force = false);
  void note(const std::string& line);  // on a line of its own, the live line redrawn below it
  void clear();                        // removes the live line until the next status()

 private:
  std::ostream& err_;
  bool live_;
  bool drawn_ = false;
  std::string last_text_;
  double last_fraction_ = -1;
  std::chrono::steady_clock::time_point start_, last_;
};

// Bytes and items of one job with a known total (packing, verifying):
// "packing  42.0% 1.2 GiB/2.9 GiB 310.2 MiB/s ETA 6s, 1234/5000 files".
class ProgressLine {
 public:
  ProgressLine(ToolIo& io, std::string what);
  void update(uint64_t bytes_done, uint64_t bytes_total, uint64_t items_done, uint64_t items_total);
  void finish();  // clears the live line

 private:
  std::string what_;
  ProgressDisplay display_;
};

// Downloads (files lists, image blobs): files done/total, bytes, rate, ETA
// and active transfers, from fetch::Client's events and the source's own
// per-file outcomes; in plain mode a "GET url"/"done url" line per transfer;
// a one-line summary at the end. Called from one thread.
class DownloadProgress {
 public:
  // On io.err; mode as ProgressDisplay's (NetOptions::progress).
  explicit DownloadProgress(ToolIo& io, int mode = -1, std::string what = "files");
  ~DownloadProgress();

  void on_transfer(const fetch::TransferEvent& e);  // what fetch::Client::on_progress reports

  void add_files(uint64_t n);                 // more work announced (files total)
  void file_from_cache();                     // a file needed no download
  void file_downloaded();                     // a file was downloaded (counted once per file)
  void file_verified();                       // a file's SHA-256 was checked and matched
  void file_failed(const std::string& what);  // a file failed for good (message printed)
  void file_skipped();                        // a file was left out on purpose (--skip-missing)

  // Clears the live line and prints "WHAT: downloaded N, from cache N,
  // verified N, failed N[, skipped N]; X MiB in Ys".
  void finish();

  uint64_t downloaded() const { return downloaded_; }
  uint64_t from_cache() const { return cached_; }
  uint64_t verified() const { return verified_; }
  uint64_t failed() const { return failed_; }

 private:
  void redraw(bool force = false);

  std::string what_;
  std::ostream& err_;
  ProgressDisplay display_;
  uint64_t files_total_ = 0, downloaded_ = 0, cached_ = 0, verified_ = 0, failed_ = 0, skipped_ = 0;
  uint64_t bytes_ = 0, bytes_expected_ = 0;
  int active_ = 0;
  bool finished_ = false;
};

}  // namespace kso
