#include "cli/tool_io.h"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <mutex>

namespace kso {

namespace {

// A log sink on a std::ostream, the level in ANSI colours when asked (what
// spdlog's stderr_color sink does on a terminal).
class OstreamSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  OstreamSink(std::ostream& os, bool colour) : os_(os), colour_(colour) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t buf;
    formatter_->format(msg, buf);
    const char* d = buf.data();
    if (colour_ && msg.color_range_end > msg.color_range_start) {
      os_.write(d, std::streamsize(msg.color_range_start));
      os_ << level_colour(msg.level);
      os_.write(d + msg.color_range_start, std::streamsize(msg.color_range_end - msg.color_range_start));
      os_ << "\033[m";
      os_.write(d + msg.color_range_end, std::streamsize(buf.size() - msg.color_range_end));
    } else {
      os_.write(d, std::streamsize(buf.size()));
    }
    os_.flush();
  }
  void flush_() override { os_.flush(); }

 private:
  static const char* level_colour(spdlog::level::level_enum l) {
    switch (l) {
      case spdlog::level::trace: return "\033[37m";
      case spdlog::level::debug: return "\033[36m";
      case spdlog::level::info: return "\033[32m";
      case spdlog::level::warn: return "\033[33m\033[1m";
      case spdlog::level::err: return "\033[31m\033[1m";
      case spdlog::level::critical: return "\033[1m\033[41m";
      default: return "";
    }
  }
  std::ostream& os_;
  bool colour_;
};

}  // namespace

ToolIo& ToolIo::process() {
  static ToolIo io{std::cout, std::cerr, isatty(STDERR_FILENO) != 0, [](const std::string& name) {
                     const char* v = ::getenv(name.c_str());
                     return v ? std::optional<std::string>(v) : std::nullopt;
                   }};
  return io;
}

void say(std::ostream& os, const char* format, ...) {
  char small[1024];
  va_list ap;
  va_start(ap, format);
  int n = vsnprintf(small, sizeof small, format, ap);
  va_end(ap);
  if (n < 0) return;
  if (size_t(n) < sizeof small) {
    os.write(small, n);
    return;
  }
  std::string big(size_t(n) + 1, '\0');
  va_start(ap, format);
  vsnprintf(big.data(), big.size(), format, ap);
  va_end(ap);
  os.write(big.data(), n);
}

std::optional<int64_t> source_date_epoch(const ToolIo& io) {
  auto v = io.getenv("SOURCE_DATE_EPOCH");
  if (!v || v->empty()) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  long long n = strtoll(v->c_str(), &end, 10);
  if (*end || errno) return std::nullopt;
  return int64_t(n);
}

ToolLogger::ToolLogger(ToolIo& io, const std::string& name, const std::string& pattern)
    : name_(name), previous_(spdlog::default_logger()) {
  spdlog::drop(name_);  // one left by an earlier run in this process
  auto logger = std::make_shared<spdlog::logger>(name_, std::make_shared<OstreamSink>(io.err, io.err_is_terminal));
  logger->set_pattern(pattern);
  spdlog::register_logger(logger);
  spdlog::set_default_logger(logger);
}

ToolLogger::~ToolLogger() {
  spdlog::set_default_logger(previous_);  // also drops ours when it was the default
  spdlog::drop(name_);
}

}  // namespace kso
