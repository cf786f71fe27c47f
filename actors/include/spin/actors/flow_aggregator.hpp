#pragma once

#include "spin/actors/actors.hpp"
#include "spin/runtime/flow_table.hpp"
#include "spin/runtime/queue_bridge.hpp"

#include <cstdint>
#include <memory>
#include <vector>

namespace spin {

/// State of one flow aggregator shard.
struct flow_aggregator_state {
  static inline const char* name = "flow_aggregator";

  queue_bridge* bridge = nullptr;
  uint32_t index = 0;
  std::unique_ptr<moodycamel::ConsumerToken> token;
  std::unique_ptr<flow_table> table;
  node_registry_actor registry;
  std::vector<packet_record> buffer;
  /// Highest interval second closed so far (a repeated marker is ignored).
  int64_t last_closed = INT64_MIN;
  bool ended = false;

  // Counters.
  uint64_t records = 0;
  uint64_t intervals = 0;
  uint64_t markers_ignored = 0;
  uint64_t wakeups = 0;
  uint64_t slices = 0;
  uint64_t overflow_packets = 0;
};

/// Records drained per dequeue, and per message before the shard yields the
/// scheduler thread to other actors (it sends itself a continuation).
inline constexpr size_t aggregator_dequeue_batch = 1024;
inline constexpr size_t aggregator_slice = 64 * 1024;

/// A shard: drains its queue of `bridge` when woken, counts packets into its
/// flow table, and on each interval marker sends the finished table to the
/// registry (also when it is empty, so the registry can count shards).
flow_aggregator_actor::behavior_type
flow_aggregator(flow_aggregator_actor::stateful_pointer<flow_aggregator_state> self,
                queue_bridge* bridge, uint32_t index, size_t max_flows,
                node_registry_actor registry);

} // namespace spin
