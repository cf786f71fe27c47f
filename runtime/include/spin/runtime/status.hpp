#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace spin {

/// What every component (actor or source thread) answers to a status request:
/// its name, its counters and gauges, and the last error it saw. One format
/// feeds the periodic log line, SPIN/stat/... and the HTTP status endpoint.
struct status_report {
  std::string component;
  std::map<std::string, int64_t> counters;
  std::string last_error;
};

} // namespace spin
