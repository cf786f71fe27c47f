#pragma once

#include "spin/actors/actors.hpp"
#include "spin/runtime/node_table.hpp"

#include <map>
#include <memory>
#include <vector>

namespace spin {

/// State of the node registry.
struct node_registry_state {
  static inline const char* name = "node_registry";

  std::unique_ptr<node_table> table;
  mqtt_publisher_actor publisher;
  uint32_t shards = 1;
  /// Batches of intervals that not every shard has delivered yet.
  std::map<int64_t, std::vector<flow_batch_ptr>> pending;
  uint32_t ended = 0;
  int64_t last_expiry = INT64_MIN;

  uint64_t intervals = 0;
  uint64_t batches = 0;
  uint64_t late_batches = 0;
  int64_t last_second = 0;
};

/// How often (event-time seconds) idle nodes are looked for.
inline constexpr int64_t registry_expiry_period = 10;

/// The node registry: merges the shards' tables of each interval once all
/// `shards` have delivered it, attributes flows to nodes, sends node changes
/// and then the report to the publisher, and expires idle nodes.
node_registry_actor::behavior_type
node_registry(node_registry_actor::stateful_pointer<node_registry_state> self,
              node_table::options opts, uint32_t shards, mqtt_publisher_actor publisher);

} // namespace spin
