#pragma once

#include "spin/actors/actors.hpp"

#include <caf/typed_response_promise.hpp>

#include <boost/json/object.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace spin {

/// State of the state store.
struct state_store_state {
  static inline const char* name = "state_store";

  std::string path;
  boost::json::object doc;
  bool dirty = false;
  bool timer_armed = false;
  std::chrono::seconds interval{2};
  std::chrono::steady_clock::time_point last_write{};
  /// Puts waiting for the write that makes them durable.
  std::vector<caf::typed_response_promise<bool>> waiting;
  uint64_t writes = 0;
  uint64_t failures = 0;
  uint64_t puts = 0;
  std::string last_error;
};

/// The state store: owns `<state_dir>/state.json` (see state_file). A put
/// replaces one section and is answered once the document is on disk. Writes
/// are coalesced: at most one every `interval` (to spare a router's flash),
/// the first change after a quiet period is written at once.
state_store_actor::behavior_type
state_store(state_store_actor::stateful_pointer<state_store_state> self, std::string path,
            boost::json::object initial, std::chrono::seconds interval);

} // namespace spin
