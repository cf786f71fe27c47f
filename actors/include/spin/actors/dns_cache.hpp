#pragma once

#include "spin/actors/actors.hpp"
#include "spin/runtime/dns_cache.hpp"

#include <memory>

namespace spin {

/// State of the DNS cache actor.
struct dns_cache_state {
  static inline const char* name = "dns_cache";

  std::unique_ptr<dns_cache> cache;
  node_registry_actor registry;
  uint64_t batches = 0;
  uint64_t queries_forwarded = 0;
};

/// The DNS cache: takes each source interval's DNS records, keeps IP ->
/// names with clamped TTLs (bounded, soonest-expiring evicted first), and
/// hands the registry one names batch per interval (the changes only), in
/// the interval's order. Answers lookups for addresses that have no node.
dns_cache_actor::behavior_type
dns_cache_actor_fn(dns_cache_actor::stateful_pointer<dns_cache_state> self,
                   dns_cache::options opts, node_registry_actor registry);

} // namespace spin
