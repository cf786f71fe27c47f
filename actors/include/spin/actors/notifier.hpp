#pragma once

#include "spin/actors/actors.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <deque>
#include <map>
#include <set>
#include <string>

namespace spin {

/// State of the notifier.
struct notifier_state {
  static inline const char* name = "notifier";

  struct notification {
    int64_t id = 0;
    std::string message;
    std::string key; ///< new_device, profile_set_to, profile_error, or "" (user)
    std::vector<std::string> args;
    int64_t timestamp = 0;
    std::string mac;
    std::string device_name;
  };

  state_store_actor store;
  /// Every MAC seen since the state file was made (first second seen).
  std::map<mac_address, int64_t> known;
  /// Devices flagged new (until the user toggles the flag).
  std::set<mac_address> fresh;
  std::deque<notification> notes;
  int64_t next_id = 1;
  /// The configuration document of /spin_api/configuration.
  boost::json::value configuration;
  bool dirty_devices = false;
  bool dirty_notes = false;

  uint64_t new_devices = 0;
  uint64_t created = 0;
  uint64_t deleted = 0;
  uint64_t dropped = 0; ///< oldest notifications dropped at the bound
  uint64_t forgotten =
      0; ///< known devices forgotten at notifier_max_known (oldest first)
  /// A token bucket for new_device notifications: a burst as large as the
  /// notification list (a first start on a busy network announces every
  /// device), then notifier_new_device_rate per minute, so a host inventing
  /// MACs cannot flush the list. Devices beyond it are still remembered.
  double tokens = -1; ///< -1: full, set at the first device
  int64_t tokens_at = 0;
  uint64_t suppressed = 0;
};

/// Devices remembered as known (the oldest first-seen go beyond it).
constexpr size_t notifier_max_known = 4096;
/// new_device notifications per minute once the burst is used up.
constexpr int notifier_new_device_rate = 10;

/// Most notifications kept (the oldest go first).
inline constexpr size_t notifier_max_notifications = 256;
/// Longest user notification message, and the configuration document.
inline constexpr size_t notifier_max_message = 1024;
inline constexpr size_t notifier_max_configuration = 64 * 1024;

/// The notifier: remembers every device (MAC) ever seen, flags devices seen
/// for the first time as new and announces them with a `new_device`
/// notification (persisted, so a restart does not announce them again),
/// keeps the notifications of the REST API (new devices, profile changes,
/// messages users create) and the configuration document. Persists
/// "devices", "notifications" and "configuration" through the state store;
/// changes are acknowledged once saved. `initial` is the loaded state file.
notifier_actor::behavior_type
notifier(notifier_actor::stateful_pointer<notifier_state> self,
         boost::json::object initial, state_store_actor store);

} // namespace spin
