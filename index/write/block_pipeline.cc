#include "index/write/internal/block_pipeline.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "index/error.h"
#include "index/sha256.h"

namespace kso {

BlockPipeline::BlockPipeline(int fd, uint64_t offset, unsigned threads, size_t max_pending)
    : fd_(fd), offset_(offset), start_(offset), max_pending_(max_pending < 1 ? 1 : max_pending) {
  if (threads < 1) threads = 1;
  for (unsigned i = 0; i < threads; i++) threads_.emplace_back([this] { worker(); });
  threads_.emplace_back([this] { writer(); });
}

BlockPipeline::~BlockPipeline() {
  {
    std::lock_guard lk(mu_);
    if (!closing_) aborted_ = true;
    closing_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

void BlockPipeline::fail(std::exception_ptr e) {
  std::lock_guard lk(mu_);
  if (!error_) error_ = e;
  aborted_ = true;
  cv_.notify_all();
}

void BlockPipeline::rethrow_locked() {
  if (error_) std::rethrow_exception(error_);
}

void BlockPipeline::submit(uint32_t id, std::string raw, int level, uint8_t filter) {
  std::unique_lock lk(mu_);
  cv_.wait(lk, [&] { return aborted_ || next_seq_ - written_seq_ < max_pending_; });
  rethrow_locked();
  if (aborted_) throw Error("block pipeline aborted");
  jobs_.push_back(Job{next_seq_++, id, std::move(raw), level, filter});
  cv_.notify_all();
}

void BlockPipeline::worker() {
  for (;;) {
    Job job;
    {
      std::unique_lock lk(mu_);
      cv_.wait(lk, [&] { return aborted_ || closing_ || !jobs_.empty(); });
      if (aborted_ || jobs_.empty()) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    try {
      Done d{job.id, uint32_t(job.raw.size()), encode_block(job.raw, job.level, job.filter), {}};
      d.sha256 = sha256(d.enc.stored.data(), d.enc.stored.size());  // the cryptographic chain
      std::lock_guard lk(mu_);
      done_.emplace(job.seq, std::move(d));
      cv_.notify_all();
    } catch (...) {
      fail(std::current_exception());
      return;
    }
  }
}

void BlockPipeline::writer() {
  for (;;) {
    Done d;
    {
      std::unique_lock lk(mu_);
      cv_.wait(lk, [&] {
        return aborted_ || done_.count(written_seq_) || (closing_ && written_seq_ == next_seq_);
      });
      if (aborted_ || (closing_ && written_seq_ == next_seq_ && !done_.count(written_seq_))) return;
      auto it = done_.find(written_seq_);
      d = std::move(it->second);
      done_.erase(it);
    }
    try {
      const std::string& s = d.enc.stored;
      size_t off = 0;
      while (off < s.size()) {
        ssize_t n = pwrite(fd_, s.data() + off, s.size() - off, off_t(offset_ + off));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw Error(std::string("writing pack: ") + strerror(errno), errno);
        off += size_t(n);
      }
      BlockEntry e;
      e.offset = offset_;
      e.stored_size = uint32_t(s.size());
      e.raw_size = d.raw_size;
      e.xxh3 = d.enc.xxh3;
      e.codec = d.enc.codec;
      e.filter = d.enc.filter;
      e.sha256 = d.sha256;
      std::lock_guard lk(mu_);
      if (table_.size() <= d.id) {
        table_.resize(d.id + 1);
        page_sums_.resize(d.id + 1);
      }
      table_[d.id] = e;
      page_sums_[d.id] = std::move(d.enc.page_sums);
      offset_ += s.size();
      written_seq_++;
      cv_.notify_all();
    } catch (...) {
      fail(std::current_exception());
      return;
    }
  }
}

std::vector<BlockEntry> BlockPipeline::finish(std::vector<uint64_t>& pages) {
  {
    std::unique_lock lk(mu_);
    closing_ = true;
    cv_.notify_all();
    cv_.wait(lk, [&] { return aborted_ || written_seq_ == next_seq_; });
    rethrow_locked();
    if (aborted_) throw Error("block pipeline aborted");
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
  pages.clear();
  for (size_t id = 0; id < table_.size(); id++) {
    if (table_[id].codec != Codec::Raw) continue;
    table_[id].first_page = uint32_t(pages.size());
    pages.insert(pages.end(), page_sums_[id].begin(), page_sums_[id].end());
  }
  return std::move(table_);
}

uint64_t BlockPipeline::bytes_written() const {
  std::lock_guard lk(mu_);
  return offset_ - start_;
}

}  // namespace kso
