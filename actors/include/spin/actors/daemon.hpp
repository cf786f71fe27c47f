#pragma once

#include "spin/runtime/config.hpp"

#include <atomic>

namespace spin {

/// Exit codes of spind.
enum exit_code : int {
  exit_ok = 0,            ///< done (or stopped by a signal)
  exit_source_failed = 1, ///< no configured source could be read
  exit_usage = 2,         ///< bad command line or config file
  exit_unpublished = 3,   ///< fast replay: reports could not be published
};

/// Builds the actor graph for `cfg` (sources, shards, registry, publisher,
/// status reporter), runs it until the sources are done (capture replay) or
/// `stop` becomes true (signal), shuts everything down cleanly, and returns
/// an exit code.
int run_daemon(const spind_config& cfg, const std::atomic<bool>& stop);

} // namespace spin
