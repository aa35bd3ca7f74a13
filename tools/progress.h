// Progress for long tool runs: a live bar on a terminal, a plain log line
// every few seconds otherwise.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace kso {

std::string human_bytes(uint64_t n);  // "1.5 GiB"

class ProgressLine {
 public:
  explicit ProgressLine(std::string what);
  ~ProgressLine();  // ends the bar's line
  // Shows done/total bytes and files, with rate and ETA.
  void update(uint64_t bytes_done, uint64_t bytes_total, uint64_t items_done, uint64_t items_total);
  void finish();    // clears the live line

 private:
  std::string what_;
  bool tty_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace kso
