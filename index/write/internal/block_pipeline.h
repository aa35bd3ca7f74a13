// Compresses sealed blocks on worker threads and appends them to the pack in
// submission order, with a bounded number in flight (bounded memory).
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "index/block.h"
#include "index/format.h"

namespace kso {

class BlockPipeline {
 public:
  // Writes blocks to `fd` starting at `offset`.
  BlockPipeline(int fd, uint64_t offset, unsigned threads, size_t max_pending);
  ~BlockPipeline();  // aborts if finish() was not called
  // Queues block `id` (raw bytes) for compression at `level`; blocks while
  // too many are in flight; rethrows a worker's or the writer's error.
  // `filter`: an executable filter to try (format v4), 0: none.
  void submit(uint32_t id, std::string raw, int level, uint8_t filter = 0);
  // Waits for everything queued; returns the block table indexed by id and
  // fills `pages` with the raw blocks' page checksums in block order.
  std::vector<BlockEntry> finish(std::vector<uint64_t>& pages);
  uint64_t end_offset() const { return offset_; }  // end of what was written
  uint64_t bytes_written() const;                 // data bytes written so far

 private:
  struct Job {
    uint64_t seq;
    uint32_t id;
    std::string raw;
    int level;
    uint8_t filter;
  };
  struct Done {
    uint32_t id;
    uint32_t raw_size;
    EncodedBlock enc;
    Digest sha256;  // of enc.stored
  };
  void worker();
  void writer();
  void fail(std::exception_ptr e);
  void rethrow_locked();

  int fd_;
  uint64_t offset_;
  uint64_t start_;
  size_t max_pending_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;            // FIFO by seq (front = oldest)
  std::map<uint64_t, Done> done_;   // compressed, waiting for their turn
  uint64_t next_seq_ = 0, written_seq_ = 0;
  bool closing_ = false, aborted_ = false;
  std::exception_ptr error_;
  std::vector<BlockEntry> table_;
  std::vector<std::vector<uint64_t>> page_sums_;  // by block id
  std::vector<std::thread> threads_;
};

}  // namespace kso
