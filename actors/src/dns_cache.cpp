#include "spin/actors/dns_cache.hpp"

#include <caf/typed_event_based_actor.hpp>

namespace spin {

dns_cache_actor::behavior_type
dns_cache_actor_fn(dns_cache_actor::stateful_pointer<dns_cache_state> self,
                   dns_cache::options opts, node_registry_actor registry) {
  self->state.cache = std::make_unique<dns_cache>(opts);
  self->state.registry = std::move(registry);
  return {
      [=](atom::side, side_batch_ptr& batch) {
        auto& st = self->state;
        ++st.batches;
        auto names = st.cache->apply(*batch);
        st.queries_forwarded += names->queries.size();
        self->send(st.registry, atom::names::value, std::move(names));
      },
      [=](atom::command, node_registry_actor& registry) {
        self->state.registry = std::move(registry);
      },
      [=](atom::lookup, std::vector<ip_address>& addrs, int64_t now) {
        return self->state.cache->lookup(addrs, now);
      },
      [=](atom::status) {
        auto& st = self->state;
        auto& c = st.cache->stats();
        status_report r;
        r.component = "dns_cache";
        r.counters = {
            {"entries", static_cast<int64_t>(st.cache->size())},
            {"batches", static_cast<int64_t>(st.batches)},
            {"answer_records", static_cast<int64_t>(c.answer_records)},
            {"query_records", static_cast<int64_t>(c.query_records)},
            {"answers_forwarded", static_cast<int64_t>(c.answers_forwarded)},
            {"refreshes", static_cast<int64_t>(c.refreshes)},
            {"expired", static_cast<int64_t>(c.expired)},
            {"evicted", static_cast<int64_t>(c.evicted)},
            {"ttl_clamped", static_cast<int64_t>(c.ttl_clamped)},
            {"lookups", static_cast<int64_t>(c.lookups)},
            {"lookup_hits", static_cast<int64_t>(c.lookup_hits)},
        };
        return r;
      },
  };
}

} // namespace spin
