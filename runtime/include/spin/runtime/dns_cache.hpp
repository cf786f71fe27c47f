#pragma once

#include "spin/runtime/dns.hpp"
#include "spin/runtime/neighbour_reader.hpp"
#include "spin/runtime/node_table.hpp"

#include <cstdint>
#include <memory>
#include <queue>
#include <string>
#include <string_view>
#include <vector>

namespace spin {

/// What a source learned in one interval besides packet counts: DNS records
/// and address -> MAC bindings (ARP, IPv6 neighbour discovery). A source sends
/// exactly one per interval it closes (also when empty), in band with its
/// interval markers, so the registry knows when it has everything of a second.
struct side_batch {
  int64_t second = 0;
  dns_facts dns;
  std::vector<neighbour_event> bindings;
};
using side_batch_ptr = std::shared_ptr<const side_batch>;

/// What the DNS cache hands the registry for one interval: the answers that
/// change something (a new address or name, or an address that another name
/// claimed last), the queries, and the bindings, in the order seen.
///
/// Compact: the characters of every name are in one string (`text`), each
/// name is referenced with its dns_name_hash (computed once, in the cache),
/// and answers and queries refer to names and addresses by index, so a batch
/// costs a handful of allocations however many answers it carries.
struct names_batch {
  /// One name: `length` characters at `offset` of `text`.
  struct name_ref {
    uint32_t offset = 0;
    uint32_t length = 0;
    uint64_t hash = 0;
  };
  /// One answer group: every name of one response (question and CNAME
  /// aliases, each once, in order) and every address it gave (each once).
  struct answer_ref {
    uint32_t first_name = 0; ///< index into `names`
    uint32_t name_count = 0;
    uint32_t first_address = 0; ///< index into `addresses`
    uint32_t address_count = 0;
  };
  /// A DNS query: the client that asked, and the name (index into `names`).
  struct query_ref {
    ip_address client;
    mac_address client_mac;
    uint32_t name = 0;
  };

  int64_t second = 0;
  std::string text;
  std::vector<name_ref> names;
  std::vector<ip_address> addresses;
  std::vector<answer_ref> answers;
  std::vector<query_ref> queries;
  std::vector<neighbour_event> bindings;

  /// Name `i` of `names`, by reference into `text`.
  dns_name_view name(uint32_t i) const {
    auto& n = names[i];
    return {std::string_view(text).substr(n.offset, n.length), n.hash};
  }
  /// Appends a name; returns its index.
  uint32_t add_name(std::string_view s, uint64_t hash) {
    names.push_back(name_ref{static_cast<uint32_t>(text.size()),
                             static_cast<uint32_t>(s.size()), hash});
    text.append(s);
    return static_cast<uint32_t>(names.size() - 1);
  }
  /// An answer's names as strings (for tests and tools, not the hot path).
  std::vector<std::string> answer_names(size_t i) const;
  /// The name a query asked for, as a string (for tests and tools).
  std::string query_name(size_t i) const {
    return std::string{name(queries[i].name).text};
  }
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
  static constexpr uint32_t no_name = 0xffffffffu;
  struct name_ttl {
    uint32_t name = no_name; ///< id in the name pool
    int64_t expiry = 0;
  };
  struct entry {
    std::vector<name_ttl> names;
    uint32_t owner = no_name; ///< first name of the answer that claimed it last
    int64_t expiry = 0;       ///< latest expiry of its names
    int64_t queued = 0;       ///< expiry last pushed to the heap
  };
  using heap_item = std::pair<int64_t, ip_address>; // expiry, address

  /// Every name an entry refers to, once, with a reference count: entries
  /// hold ids, so comparing names (owner, names of an address) is comparing
  /// integers. A name goes when the last entry lets go of it, so the pool is
  /// bounded by the cache.
  struct pooled_name {
    std::string text;
    uint64_t hash = 0;
    uint32_t refs = 0;
  };
  /// The id of a name (added with no reference if new).
  uint32_t intern(std::string_view text, uint64_t hash);
  void ref(uint32_t id) { ++pool_[id].refs; }
  void unref(uint32_t id);
  void pool_grow();
  /// Drops an entry's references (before it is erased).
  void release(entry& e);

  /// Updates one address with one name (pool id) and TTL of an answer whose
  /// first name is `owner` (pool id); true if the registry must know.
  bool learn(const ip_address& a, uint32_t owner, uint32_t name, uint32_t ttl,
             int64_t now);
  void push(const ip_address& a, entry& e);
  void evict_to_bound();
  void rebuild_heap();

  options opts_;
  flat_map<ip_address, entry, ip_address_hash> entries_{1024};
  std::priority_queue<heap_item, std::vector<heap_item>, std::greater<heap_item>> heap_;
  std::vector<pooled_name> pool_;
  std::vector<uint32_t> pool_free_;
  std::vector<uint32_t> pool_index_; ///< open addressing: id + 1, 0 = empty
  size_t pool_size_ = 0;
  /// Scratch of apply(): the distinct names of one answer group, hashed
  /// and interned once.
  struct group_name {
    std::string_view text;
    uint64_t hash = 0;
    uint32_t id = 0;
    uint32_t offset = 0; ///< where the batch's text has it (a name recurs there)
  };
  std::vector<group_name> group_names_;
  /// learn()'s memo: the entry of the address it saw last.
  entry* last_entry_ = nullptr;
  ip_address last_address_;
  /// Sizes of the last batch, to reserve the next one.
  size_t last_text_ = 0, last_names_ = 0, last_addresses_ = 0, last_answers_ = 0,
         last_queries_ = 0;
  counters stats_;
};

} // namespace spin
