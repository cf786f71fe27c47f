#include "spin/runtime/log.hpp"

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <syslog.h>
#include <unistd.h>

namespace spin {

namespace {

std::mutex log_mutex;
log_settings settings;
FILE* log_file = nullptr;
bool syslog_open = false;
std::atomic<int> current_level{static_cast<int>(log_level::info)};

const char* level_name(log_level l) {
  switch (l) {
  case log_level::error:
    return "error";
  case log_level::warning:
    return "warning";
  case log_level::notice:
    return "notice";
  case log_level::info:
    return "info";
  case log_level::debug:
    return "debug";
  }
  return "?";
}

} // namespace

void log_configure(const log_settings& s) {
  std::lock_guard<std::mutex> guard{log_mutex};
  settings = s;
  current_level.store(static_cast<int>(s.level), std::memory_order_relaxed);
  if (log_file) {
    fclose(log_file);
    log_file = nullptr;
  }
  if (!settings.file.empty()) {
    log_file = fopen(settings.file.c_str(), "a");
    if (!log_file)
      fprintf(stderr, "%s: cannot open log file %s; logging to stderr only\n",
              settings.ident.c_str(), settings.file.c_str());
  }
  if (settings.to_syslog && !syslog_open) {
    openlog(settings.ident.c_str(), LOG_PID, LOG_DAEMON);
    syslog_open = true;
  }
}

bool log_enabled(log_level l) {
  return static_cast<int>(l) <= current_level.load(std::memory_order_relaxed);
}

void log(log_level l, const char* fmt, ...) {
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  tm tmv;
  gmtime_r(&ts.tv_sec, &tmv);
  char when[32];
  strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tmv);
  std::lock_guard<std::mutex> guard{log_mutex};
  if (settings.to_stderr)
    fprintf(stderr, "%s.%03ldZ %s[%d] %s: %s\n", when, ts.tv_nsec / 1000000,
            settings.ident.c_str(), static_cast<int>(getpid()), level_name(l), msg);
  if (log_file) {
    fprintf(log_file, "%s.%03ldZ %s: %s\n", when, ts.tv_nsec / 1000000, level_name(l),
            msg);
    fflush(log_file);
  }
  if (settings.to_syslog)
    syslog(static_cast<int>(l), "%s", msg);
}

bool log_limiter::allow(uint64_t& suppressed) {
  auto now = std::chrono::steady_clock::now();
  if (first_ || now - last_ >= period_) {
    first_ = false;
    last_ = now;
    suppressed = held_;
    held_ = 0;
    return true;
  }
  ++held_;
  return false;
}

} // namespace spin
