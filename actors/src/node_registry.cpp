#include "spin/actors/node_registry.hpp"

#include <caf/typed_event_based_actor.hpp>

#include <algorithm>

namespace spin {

namespace {

using self_ptr = node_registry_actor::stateful_pointer<node_registry_state>;

void send_events(self_ptr self, node_events& ev) {
  auto& pub = self->state.publisher;
  for (auto& [from, into] : ev.merged)
    self->send(pub, atom::merged::value, from, into);
  for (auto id : ev.deleted)
    self->send(pub, atom::deleted::value, id);
  for (auto& n : ev.updated)
    self->send(pub, atom::node::value, std::move(n));
}

void finish_interval(self_ptr self, int64_t second, std::vector<flow_batch_ptr> batches) {
  auto& st = self->state;
  node_events ev;
  auto report = st.table->build_report(second, batches, ev);
  // Node changes go first, so the publisher knows every node a report names.
  send_events(self, ev);
  self->send(st.publisher, atom::report::value, std::move(report));
  ++st.intervals;
  st.last_second = second;
  if (st.last_expiry == INT64_MIN)
    st.last_expiry = second;
  if (second - st.last_expiry >= registry_expiry_period) {
    node_events gone;
    st.table->expire(second, gone);
    send_events(self, gone);
    st.last_expiry = second;
  }
}

} // namespace

node_registry_actor::behavior_type
node_registry(node_registry_actor::stateful_pointer<node_registry_state> self,
              node_table::options opts, uint32_t shards, mqtt_publisher_actor publisher) {
  self->state.table = std::make_unique<node_table>(std::move(opts));
  self->state.shards = shards == 0 ? 1 : shards;
  self->state.publisher = std::move(publisher);
  return {
      [=](atom::interval, flow_batch_ptr& batch) {
        auto& st = self->state;
        ++st.batches;
        auto second = batch->second;
        if (st.intervals > 0 && second <= st.last_second &&
            st.pending.count(second) == 0) {
          // Cannot happen with in-order shards; never report a second twice.
          ++st.late_batches;
          return;
        }
        auto& slot = st.pending[second];
        slot.push_back(std::move(batch));
        if (slot.size() < st.shards)
          return;
        auto batches = std::move(slot);
        st.pending.erase(second);
        // Shard order, not arrival order: the same input gives the same node ids.
        std::sort(batches.begin(), batches.end(),
                  [](auto& a, auto& b) { return a->shard < b->shard; });
        finish_interval(self, second, std::move(batches));
      },
      [=](atom::eos, uint32_t) {
        auto& st = self->state;
        if (++st.ended == st.shards)
          self->send(st.publisher, atom::eos::value);
      },
      [=](atom::status) {
        auto& st = self->state;
        auto& c = st.table->stats();
        status_report r;
        r.component = "node_registry";
        r.counters = {
            {"nodes", static_cast<int64_t>(st.table->size())},
            {"devices", static_cast<int64_t>(st.table->devices())},
            {"intervals", static_cast<int64_t>(st.intervals)},
            {"batches", static_cast<int64_t>(st.batches)},
            {"late_batches", static_cast<int64_t>(st.late_batches)},
            {"pending_intervals", static_cast<int64_t>(st.pending.size())},
            {"nodes_created", static_cast<int64_t>(c.nodes_created)},
            {"nodes_expired", static_cast<int64_t>(c.nodes_expired)},
            {"nodes_evicted", static_cast<int64_t>(c.nodes_evicted)},
            {"nodes_merged", static_cast<int64_t>(c.nodes_merged)},
            {"ips_moved", static_cast<int64_t>(c.ips_moved)},
            {"ips_dropped", static_cast<int64_t>(c.ips_dropped)},
            {"flows_in", static_cast<int64_t>(c.flows_in)},
            {"flows_folded", static_cast<int64_t>(c.flows_folded)},
            {"last_second", st.last_second},
        };
        return r;
      },
  };
}

} // namespace spin
