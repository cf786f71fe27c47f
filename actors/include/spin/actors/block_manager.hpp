#pragma once

#include "spin/actors/actors.hpp"
#include "spin/runtime/block_lists.hpp"
#include "spin/runtime/control_protocol.hpp"
#include "spin/runtime/enforcer.hpp"
#include "spin/runtime/log.hpp"

#include <chrono>
#include <memory>
#include <string>

namespace spin {

/// How the block manager is wired.
struct block_manager_config {
  /// The lists as loaded from the state file (already in the firewall: the
  /// daemon applies them before any source starts).
  std::shared_ptr<block_lists> lists;
  /// Where the lists are enforced (spind's nftables table), or nullptr when
  /// nothing is (capture replay, `firewall monitor` or `passive`): the lists
  /// are still kept, persisted and published. Owned by the daemon, which
  /// outlives the actor.
  enforcer* firewall = nullptr;
  /// Commands per second per client, and the burst above it.
  double command_rate = 20;
  double command_burst = 40;
  /// How often a firewall that refused a change is rebuilt.
  std::chrono::seconds retry_interval{10};
};

/// State of the block manager.
struct block_manager_state {
  static inline const char* name = "block_manager";

  std::shared_ptr<block_lists> lists;
  enforcer* firewall = nullptr;
  /// False after the firewall refused a change; the tick rebuilds it.
  bool firewall_ok = true;
  bool retry_armed = false;
  std::chrono::seconds retry_interval{10};
  mqtt_publisher_actor publisher;
  state_store_actor store;
  node_registry_actor registry;
  std::unique_ptr<command_rate_limiter> limiter;
  log_limiter rate_log;
  log_limiter error_log;
  log_limiter drop_log;

  uint64_t commands = 0;
  uint64_t jsonrpc = 0;
  uint64_t rejected = 0;
  uint64_t rate_limited = 0;
  uint64_t changes = 0;
  uint64_t node_updates = 0;
  uint64_t followed = 0; ///< changes made because a followed node changed
  uint64_t firewall_changes = 0;
  uint64_t firewall_elements = 0;
  uint64_t firewall_errors = 0;
  uint64_t firewall_rebuilds = 0;
  uint64_t save_errors = 0;
  uint64_t dropped = 0; ///< addresses a limit kept off a list
  std::string last_error;
};

/// The block manager (doc/control.md): owns the block, allow and ignore
/// lists, node-pair blocks and device profiles (block_lists); carries out
/// every control request (legacy commands and JSON-RPC, parsed with
/// control_protocol, rate-limited per client), asking the registry about
/// nodes and forwarding the requests about names and devices to it. Each
/// change is enforced in the firewall (one nftables transaction), saved in
/// the state file, and only then acknowledged; the changed lists are then
/// broadcast in both vocabularies and the registry gets the new ignore,
/// block and allow sets. Followed nodes (node updates from the registry)
/// and the router's own addresses (neighbour events) change the lists too.
/// Runs detached: firewall changes are blocking netlink round trips.
block_manager_actor::behavior_type
block_manager(block_manager_actor::stateful_pointer<block_manager_state> self,
              block_manager_config cfg, mqtt_publisher_actor publisher,
              state_store_actor store);

} // namespace spin
