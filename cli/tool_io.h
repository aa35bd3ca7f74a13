// The tools' I/O seam: where kso-pack and kso-fs write and which environment
// they read. The binaries pass ToolIo::process(); tests run the *_main
// functions in-process with string streams and an environment of their own.
#pragma once
#include <cstdint>
#include <functional>
#include <ostream>
#include <memory>
#include <optional>
#include <string>

namespace spdlog {
class logger;
}

namespace kso {

struct ToolIo {
  // Standard output: what a command answers (listings, reports, JSON, cat's bytes).
  std::ostream& out;
  // Standard error: errors, log lines and the progress display.
  std::ostream& err;
  // True if `err` is a terminal: the live progress line and coloured log levels.
  bool err_is_terminal = false;
  // The environment: a variable's value, or nullopt if it is not set.
  std::function<std::optional<std::string>(const std::string&)> env;

  // std::cout, std::cerr, isatty(2) and getenv: what the binaries run with.
  static ToolIo& process();
  // env(name), or nullopt when no lookup is set.
  std::optional<std::string> getenv(const std::string& name) const { return env ? env(name) : std::nullopt; }
};

// printf into a stream: the tools' formatted output, byte for byte what
// printf gave.
void say(std::ostream& os, const char* format, ...) __attribute__((format(printf, 2, 3)));

// SOURCE_DATE_EPOCH from `io` (reproducible builds), Unix seconds, when set to a number.
std::optional<int64_t> source_date_epoch(const ToolIo& io);

// For the duration of one tool run: spdlog logger `name` (also the default
// logger) writes to io.err with `pattern`, its level colours on only when
// io.err_is_terminal. The destructor drops it and puts back the default
// logger that was there, so a tool run again in the same process (tests)
// gets a fresh one bound to its own streams.
class ToolLogger {
 public:
  ToolLogger(ToolIo& io, const std::string& name, const std::string& pattern);
  ~ToolLogger();
  ToolLogger(const ToolLogger&) = delete;
  ToolLogger& operator=(const ToolLogger&) = delete;

 private:
  std::string name_;
  std::shared_ptr<spdlog::logger> previous_;
};

}  // namespace kso
