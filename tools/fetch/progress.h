// Download progress on stderr: an aggregate bar redrawn in place on a TTY
// (bytes, rate, ETA, files done/total, active transfers), plain log lines
// otherwise, and a one-line summary at the end. Called from one thread.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace kso::fetch {

class Progress {
 public:
  // mode: -1 = bar if stderr is a TTY, 0 = plain lines, 1 = bar.
  explicit Progress(int mode = -1, std::string what = "files");
  ~Progress();

  void add_files(uint64_t n);                   // more work announced (files total)
  void transfer_started(const std::string& url, int64_t size);  // size -1 = unknown
  void transfer_bytes(int64_t delta);           // body bytes received (any transfer)
  void transfer_size(int64_t bytes);            // a started transfer's body size became known
  void transfer_retry(const std::string& url, const std::string& why, int attempt, int delay_ms);
  void transfer_ended(const std::string& url, bool ok, uint64_t bytes);

  void file_from_cache();                       // a file needed no download
  void file_downloaded();                       // a file was downloaded (counted once per file)
  void file_verified();                         // a file's SHA-256 was checked and matched
  void file_failed(const std::string& what);    // a file failed for good (message printed)
  void file_skipped();                          // a file was left out on purpose (--skip-missing)

  // Clears the bar and prints "downloaded N, from cache N, verified N, failed N[, skipped N];
  // X MiB in Ys".
  void finish();

  uint64_t downloaded() const { return downloaded_; }
  uint64_t from_cache() const { return cached_; }
  uint64_t verified() const { return verified_; }
  uint64_t failed() const { return failed_; }

 private:
  void redraw(bool force);
  void clear_line();

  bool bar_;
  std::string what_;
  uint64_t files_total_ = 0, downloaded_ = 0, cached_ = 0, verified_ = 0, failed_ = 0, skipped_ = 0;
  uint64_t bytes_ = 0, bytes_expected_ = 0;
  int active_ = 0;
  bool drawn_ = false, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace kso::fetch
