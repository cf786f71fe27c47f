#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace spin {

/// Log severities, numbered as syslog's (SPIN 1.0's log_loglevel uses them).
enum class log_level : int {
  error = 3,
  warning = 4,
  notice = 5,
  info = 6,
  debug = 7,
};

/// Where log lines go. Debian's CAF is built with its logger compiled out, so
/// spin brings this small one: thread-safe, one line per call, never on the
/// per-packet path.
struct log_settings {
  log_level level = log_level::info;
  bool to_stderr = true;
  bool to_syslog = false;
  std::string file; ///< also append to this file when not empty
  std::string ident = "spind";
};

/// Installs the settings (call once at start-up; safe to call again).
void log_configure(const log_settings& s);

/// True when a line of this level would be written.
bool log_enabled(log_level l);

/// Writes one log line (printf-style format).
void log(log_level l, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

#define SPIN_LOG(lvl, ...)                                                               \
  do {                                                                                   \
    if (::spin::log_enabled(lvl))                                                        \
      ::spin::log(lvl, __VA_ARGS__);                                                     \
  } while (false)
#define SPIN_ERROR(...) SPIN_LOG(::spin::log_level::error, __VA_ARGS__)
#define SPIN_WARN(...) SPIN_LOG(::spin::log_level::warning, __VA_ARGS__)
#define SPIN_NOTICE(...) SPIN_LOG(::spin::log_level::notice, __VA_ARGS__)
#define SPIN_INFO(...) SPIN_LOG(::spin::log_level::info, __VA_ARGS__)
#define SPIN_DEBUG(...) SPIN_LOG(::spin::log_level::debug, __VA_ARGS__)

/// Lets a repeated event through at most once per `period`, and remembers how
/// many were held back so the next line can say so. Not thread-safe: one per
/// thread or actor.
class log_limiter {
public:
  explicit log_limiter(std::chrono::seconds period = std::chrono::seconds(10))
      : period_(period) {}

  /// True if a line may be written now; `suppressed` receives how many events
  /// were held back since the last line.
  bool allow(uint64_t& suppressed);

private:
  std::chrono::steady_clock::duration period_;
  std::chrono::steady_clock::time_point last_{};
  uint64_t held_ = 0;
  bool first_ = true;
};

} // namespace spin
