#pragma once

#include "spin/runtime/dns.hpp"
#include "spin/runtime/neighbour_reader.hpp"
#include "spin/runtime/node_table.hpp"

#include <cstdint>
#include <memory>
#include <queue>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace spin {

/// What a source learned in one interval besides packet counts: DNS records
/// and address -> MAC bindings (ARP, IPv6 neighbour discovery). A source sends
/// exactly one per interval it closes (also when empty), in band with its
/// interval markers, so the registry knows when it has everything of a second.
struct side_batch {
  int64_t second = 0;
  std::vector<dns_record> dns;
  std::vector<neighbour_event> bindings;
};
using side_batch_ptr = std::shared_ptr<const side_batch>;

/// A DNS query as the registry needs it.
struct dns_query_record {
  ip_address client;
  mac_address client_mac;
  std::string name;
};

/// What the DNS cache hands the registry for one interval: the answers that
/// change something (a new address or name, or an address that another name
/// claimed last), the queries, and the bindings, in the order seen.
struct names_batch {
  int64_t second = 0;
  std::vector<dns_answer_group> answers;
  std::vector<dns_query_record> queries;
  std::vector<neighbour_event> bindings;
};
using names_batch_ptr = std::shared_ptr<const names_batch>;

/// IP -> {names, expiry} with the TTLs of the answers (clamped to
/// [ttl_min, ttl_max]), bounded: beyond max_entries the entries that expire
/// soonest go first. Expired names stop naming new traffic (lookup() no
/// longer returns them); nodes keep the names they already have. Time is
/// event time (seconds), as everywhere in spind. Owned by the dns_cache actor.
class dns_cache {
public:
  struct options {
    uint32_t ttl_min = 60;
    uint32_t ttl_max = 86400;
    size_t max_entries = 100000;
    /// Names kept per address (a shared CDN address collects many).
    size_t max_names_per_address = 8;
  };

  struct counters {
    uint64_t answer_records = 0;
    uint64_t query_records = 0;
    uint64_t answers_forwarded = 0; ///< answer groups that changed something
    uint64_t refreshes = 0;         ///< records that only extended a TTL
    uint64_t expired = 0;
    uint64_t evicted = 0;
    uint64_t ttl_clamped = 0;
    uint64_t lookups = 0;
    uint64_t lookup_hits = 0;
  };

  explicit dns_cache(options opts);

  /// Takes one source interval: updates the cache and returns what the
  /// registry must apply. `now` is the interval's second.
  names_batch_ptr apply(const side_batch& in);

  /// The valid names of each address (addresses without any are left out), as
  /// answer groups the registry can apply.
  std::vector<dns_answer_group> lookup(const std::vector<ip_address>& addrs, int64_t now);

  /// Drops entries whose names have all expired by `now`.
  void expire(int64_t now);

  size_t size() const { return entries_.size(); }
  const counters& stats() const { return stats_; }

private:
  struct name_ttl {
    std::string name;
    int64_t expiry = 0;
  };
  struct entry {
    std::vector<name_ttl> names;
    std::string owner;  ///< first name of the answer that claimed it last
    int64_t expiry = 0; ///< latest expiry of its names
    int64_t queued = 0; ///< expiry last pushed to the heap
  };
  using heap_item = std::pair<int64_t, ip_address>; // expiry, address

  /// Updates one address with one (name, TTL) of an answer whose first name
  /// is `owner`; true if the registry must know.
  bool learn(const ip_address& a, std::string_view owner, std::string_view name,
             uint32_t ttl, int64_t now);
  void push(const ip_address& a, entry& e);
  void evict_to_bound();
  void rebuild_heap();

  options opts_;
  std::unordered_map<ip_address, entry> entries_;
  std::priority_queue<heap_item, std::vector<heap_item>, std::greater<heap_item>> heap_;
  counters stats_;
};

} // namespace spin
