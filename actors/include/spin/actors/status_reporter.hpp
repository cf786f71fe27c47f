#pragma once

#include "spin/actors/actors.hpp"

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace spin {

/// Something that is not an actor but has counters (a source thread).
using status_provider = std::function<status_report()>;

/// State of the status reporter.
struct status_reporter_state {
  static inline const char* name = "status_reporter";

  std::vector<status_api> actors;
  std::vector<status_provider> providers;
  mqtt_publisher_actor publisher;
  int interval = 10;

  /// The round being collected and the previous complete one (for rates).
  uint64_t round = 0;
  size_t outstanding = 0;
  std::map<std::string, status_report> current;
  std::map<std::string, status_report> previous;
  int64_t previous_time_ms = 0;
  uint64_t rounds_done = 0;
};

/// Every `interval` seconds asks every actor and provider for its status, logs
/// a one-line summary (records/s, drops, flows, nodes) and sends the whole
/// document to the publisher for <root>/stat/spind (retained).
status_reporter_actor::behavior_type
status_reporter(status_reporter_actor::stateful_pointer<status_reporter_state> self,
                std::vector<status_api> actors, std::vector<status_provider> providers,
                mqtt_publisher_actor publisher, int interval);

/// Sums a counter over every report whose component starts with `prefix`.
int64_t sum_counter(const std::map<std::string, status_report>& reports,
                    const std::string& prefix, const std::string& counter);

} // namespace spin
