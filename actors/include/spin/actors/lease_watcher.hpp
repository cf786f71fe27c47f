#pragma once

#include "spin/actors/actors.hpp"
#include "spin/runtime/device_names.hpp"

#include <chrono>
#include <set>
#include <string>

namespace spin {

/// State of the lease watcher.
struct lease_watcher_state {
  static inline const char* name = "lease_watcher";

  device_name_sources sources;
  node_registry_actor registry;
  std::chrono::seconds interval{2};
  std::string signature;
  device_names current;
  /// Problems already logged (each is logged once, not every re-read).
  std::set<std::string> reported;
  uint64_t reads = 0;
  uint64_t changes = 0;
  uint64_t problems = 0;
};

/// Re-reads the lease files and /etc/config/dhcp whenever their modification
/// time or size changes (checked every `interval`), and sends the registry
/// the names when they differ. Malformed lines are skipped with one log line
/// each. Spawn it detached: it reads files.
lease_watcher_actor::behavior_type
lease_watcher(lease_watcher_actor::stateful_pointer<lease_watcher_state> self,
              device_name_sources sources, std::chrono::seconds interval,
              node_registry_actor registry);

} // namespace spin
