#include "spin/actors/flow_aggregator.hpp"

#include <caf/typed_event_based_actor.hpp>

#include <chrono>

namespace spin {

namespace {

using self_ptr = flow_aggregator_actor::stateful_pointer<flow_aggregator_state>;

void close_interval(self_ptr self, int64_t second) {
  auto& st = self->state;
  if (second <= st.last_closed) {
    // Another source already closed this second.
    ++st.markers_ignored;
    return;
  }
  st.overflow_packets += st.table->overflow_packets();
  auto batch = st.table->take(second, st.index);
  st.last_closed = second;
  ++st.intervals;
  self->send(st.registry, atom::interval::value, std::move(batch));
}

void drain(self_ptr self) {
  auto& st = self->state;
  size_t budget = aggregator_slice;
  for (;;) {
    size_t n =
        st.bridge->try_dequeue(st.index, *st.token, st.buffer.data(), st.buffer.size());
    if (n == 0) {
      // Counted but not visible yet (cannot happen with moodycamel's ordering,
      // but never leave records behind): look again shortly.
      if (st.bridge->depth(st.index) > 0)
        self->delayed_send(self, std::chrono::milliseconds(1), atom::wake::value);
      return;
    }
    for (size_t i = 0; i < n; ++i) {
      const auto& r = st.buffer[i];
      switch (r.kind) {
      case record_kind::packet:
        st.table->add(r);
        ++st.records;
        break;
      case record_kind::interval_end:
        close_interval(self, r.marker_second());
        break;
      case record_kind::end_of_stream:
        if (!st.ended) {
          st.ended = true;
          self->send(st.registry, atom::eos::value, st.index);
        }
        break;
      }
    }
    if (st.bridge->consumed(st.index, n) <= 0)
      return; // drained: the next producer batch wakes us
    if (n >= budget) {
      // Let other actors run; continue in the next message.
      ++st.slices;
      self->send(self, atom::wake::value);
      return;
    }
    budget -= n;
  }
}

} // namespace

flow_aggregator_actor::behavior_type
flow_aggregator(flow_aggregator_actor::stateful_pointer<flow_aggregator_state> self,
                queue_bridge* bridge, uint32_t index, size_t max_flows,
                node_registry_actor registry) {
  // State is constructed by CAF with no arguments available, so fill it here.
  self->state.bridge = bridge;
  self->state.index = index;
  self->state.registry = std::move(registry);
  self->state.token =
      std::make_unique<moodycamel::ConsumerToken>(bridge->consumer_token(index));
  self->state.table = std::make_unique<flow_table>(max_flows);
  self->state.buffer.resize(aggregator_dequeue_batch);
  return {
      [=](atom::wake) {
        ++self->state.wakeups;
        drain(self);
      },
      [=](atom::status) {
        auto& st = self->state;
        status_report r;
        r.component = "flow_aggregator/" + std::to_string(st.index);
        r.counters = {
            {"records", static_cast<int64_t>(st.records)},
            {"intervals", static_cast<int64_t>(st.intervals)},
            {"flows_open", static_cast<int64_t>(st.table->size())},
            {"overflow_packets",
             static_cast<int64_t>(st.overflow_packets + st.table->overflow_packets())},
            {"markers_ignored", static_cast<int64_t>(st.markers_ignored)},
            {"wakeups", static_cast<int64_t>(st.wakeups)},
            {"slices", static_cast<int64_t>(st.slices)},
            {"queue_depth", st.bridge->depth(st.index)},
            {"table_capacity", static_cast<int64_t>(st.table->capacity())},
        };
        return r;
      },
  };
}

} // namespace spin
