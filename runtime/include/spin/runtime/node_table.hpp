#pragma once

#include "spin/runtime/flow_table.hpp"
#include "spin/runtime/ip_address.hpp"
#include "spin/runtime/report.hpp"

#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace spin {

/// 64-bit hash of a DNS name's presentation form. The DNS cache computes it
/// once per name and hands it to the registry with the name, so the name
/// tables on both sides never hash a name twice.
inline uint64_t dns_name_hash(std::string_view s) {
  return hash_bytes(s.data(), s.size());
}

/// A DNS name by reference, with its dns_name_hash.
struct dns_name_view {
  std::string_view text;
  uint64_t hash = 0;
};

/// A cheap hash of an address for the flat tables (two multiplies).
struct ip_address_hash {
  size_t operator()(const ip_address& a) const noexcept {
    uint64_t w[2];
    std::memcpy(w, a.bytes.data(), 16);
    uint64_t h = w[0] * 0x9e3779b97f4a7c15ull + w[1] * 0xc2b2ae3d27d4eb4full;
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ull;
    return static_cast<size_t>(h ^ (h >> 29));
  }
};

/// An open-addressing hash map (linear probing, backward-shift erase, no
/// tombstones) for the tables of the DNS cache and the node table, which are
/// looked up several times per DNS answer: one array, no allocation per
/// entry. Pointers to values stay valid until the next insert or erase.
/// Iteration order is unspecified; users must not depend on it.
template <class Key, class Value, class Hash>
class flat_map {
public:
  explicit flat_map(size_t initial_capacity = 16) { reset(initial_capacity); }

  /// The value for the key that hashes to `h` and satisfies `eq`, or nullptr.
  template <class Eq>
  Value* find_hashed(size_t h, Eq&& eq) {
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      if (!used_[i])
        return nullptr;
      if (eq(slots_[i].key))
        return &slots_[i].value;
    }
  }
  template <class Eq>
  const Value* find_hashed(size_t h, Eq&& eq) const {
    return const_cast<flat_map*>(this)->find_hashed(h, std::forward<Eq>(eq));
  }
  Value* find(const Key& k) {
    return find_hashed(Hash{}(k), [&](const Key& x) { return x == k; });
  }
  const Value* find(const Key& k) const {
    return find_hashed(Hash{}(k), [&](const Key& x) { return x == k; });
  }

  /// Inserts `make_key()` with a default value unless a key satisfying `eq`
  /// (hashing to `h`) is there; returns the value and whether it is new.
  template <class Eq, class MakeKey>
  std::pair<Value*, bool> emplace_hashed(size_t h, Eq&& eq, MakeKey&& make_key) {
    if ((size_ + 1) * 2 > slots_.size())
      grow();
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      if (!used_[i]) {
        slots_[i].key = make_key();
        slots_[i].value = Value{};
        used_[i] = 1;
        ++size_;
        return {&slots_[i].value, true};
      }
      if (eq(slots_[i].key))
        return {&slots_[i].value, false};
    }
  }
  std::pair<Value*, bool> try_emplace(const Key& k) {
    return emplace_hashed(
        Hash{}(k), [&](const Key& x) { return x == k; }, [&] { return k; });
  }
  Value& operator[](const Key& k) { return *try_emplace(k).first; }

  /// Erases the key satisfying `eq` (hashing to `h`); false if absent.
  template <class Eq>
  bool erase_hashed(size_t h, Eq&& eq) {
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      if (!used_[i])
        return false;
      if (eq(slots_[i].key)) {
        erase_slot(i);
        return true;
      }
    }
  }
  bool erase(const Key& k) {
    return erase_hashed(Hash{}(k), [&](const Key& x) { return x == k; });
  }

  /// Calls f(key, value) for every entry.
  template <class F>
  void for_each(F&& f) {
    for (size_t i = 0; i < slots_.size(); ++i)
      if (used_[i])
        f(slots_[i].key, slots_[i].value);
  }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  void clear() { reset(16); }

private:
  struct slot {
    Key key{};
    Value value{};
  };

  void reset(size_t capacity) {
    size_t cap = 16;
    while (cap < capacity)
      cap <<= 1;
    slots_.assign(cap, slot{});
    used_.assign(cap, 0);
    mask_ = cap - 1;
    size_ = 0;
  }

  void grow() {
    std::vector<slot> old;
    std::vector<uint8_t> old_used;
    old.swap(slots_);
    old_used.swap(used_);
    reset(old.size() * 2);
    for (size_t i = 0; i < old.size(); ++i) {
      if (!old_used[i])
        continue;
      size_t j = Hash{}(old[i].key) & mask_;
      while (used_[j])
        j = (j + 1) & mask_;
      slots_[j] = std::move(old[i]);
      used_[j] = 1;
      ++size_;
    }
  }

  // Backward-shift deletion: moves later entries of the probe run into the
  // hole when that brings them no further from their home slot.
  void erase_slot(size_t i) {
    size_t j = i;
    for (;;) {
      j = (j + 1) & mask_;
      if (!used_[j])
        break;
      size_t home = Hash{}(slots_[j].key) & mask_;
      // Entry j may move to i if its home is not in (i, j] (cyclically).
      bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
      if (stays)
        continue;
      slots_[i] = std::move(slots_[j]);
      i = j;
    }
    slots_[i] = slot{};
    used_[i] = 0;
    --size_;
  }

  std::vector<slot> slots_;
  std::vector<uint8_t> used_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

/// What changed in the node table while building a report or expiring nodes;
/// the registry actor turns these into nodeInfo / nodeDeleted / nodeMerged
/// messages, in this order, before it hands on the report.
struct node_events {
  /// Nodes created or changed (addresses, MAC, names), as snapshots.
  std::vector<node_info_ptr> updated;
  /// (merged-away node, node it merged into).
  std::vector<std::pair<node_id, node_id>> merged;
  /// Nodes deleted (expired, evicted).
  std::vector<node_id> deleted;

  bool empty() const { return updated.empty() && merged.empty() && deleted.empty(); }
};

/// One DNS answer as the registry applies it: every name of one response
/// (the question and the CNAME aliases that led to the addresses) and the
/// addresses it gave.
struct dns_answer_group {
  std::vector<std::string> names;
  std::vector<ip_address> addresses;
};

/// The nodes of a DNS query: the device that asked and the node carrying the
/// name.
struct dns_query_nodes {
  node_id from = 0;
  node_id queried = 0;
};

/// A device asked for a name (for the `dnsquery` message).
struct dns_query_seen {
  node_id from = 0;    ///< the device that asked
  node_id queried = 0; ///< the node that carries the name (may have no address yet)
  std::string name;
};

/// The node model: turns addresses (and the Ethernet addresses seen with
/// them) into nodes with stable ids, groups the addresses of DNS names, and
/// turns one interval's flow tables into one report. Plain data structure,
/// owned by the node_registry actor. The rules are in doc/nodes.md:
///
/// - A device is keyed by its MAC: an address inside the LAN prefixes seen
///   with a unicast Ethernet address (in a frame, an ARP/ND message or the
///   kernel's neighbour table) belongs to the device node of that MAC; two
///   MACs are never one node. A plain node that held such an address merges
///   into the device (nodeMerged); an address DHCP gave to another device
///   moves.
/// - A DNS answer puts all of its names and addresses into one node: the node
///   that already carries one of the names, else a new one. Last answer wins
///   per address and per name: an address (or name) that belonged to another
///   node moves; nodes are never merged transitively, so a shared CDN address
///   moves between services instead of joining them. A node left with no
///   address and no name merges into the node that took them. Device
///   addresses never move to a DNS node; the names become the device's
///   domains.
/// - Any other address is a node of its own, created on first sight.
/// - Bounds: at most max_ips_per_node addresses and max_names_per_node names
///   per node (the least recently seen goes); nodes idle for retain_time
///   seconds (event time) are deleted, and the longest-idle ones beyond
///   max_nodes. Nodes seen in the current interval are never deleted.
class node_table {
public:
  struct options {
    std::vector<ip_prefix> lan_prefixes;
    int64_t retain_time = 1800;
    size_t max_nodes = 50000;
    size_t max_ips_per_node = 32;
    size_t max_names_per_node = 16;
    size_t max_flows_per_report = 2000;
  };

  struct counters {
    uint64_t nodes_created = 0;
    uint64_t nodes_expired = 0;
    uint64_t nodes_evicted = 0;
    uint64_t nodes_merged = 0;
    uint64_t ips_moved = 0;
    uint64_t ips_dropped = 0;
    uint64_t names_moved = 0;
    uint64_t names_dropped = 0;
    uint64_t dns_answers = 0;
    uint64_t dns_queries = 0;
    uint64_t bindings = 0;
    uint64_t ignored_packets = 0;
    uint64_t reports = 0;
    uint64_t flows_in = 0;
    uint64_t flows_folded = 0;
  };

  explicit node_table(options opts);
  ~node_table();
  node_table(node_table&&) noexcept;
  node_table& operator=(node_table&&) noexcept;

  /// Builds the report of the interval starting at `second` from the shards'
  /// tables; node changes go to `ev`.
  interval_report_ptr build_report(int64_t second,
                                   const std::vector<flow_batch_ptr>& batches,
                                   node_events& ev);

  /// Deletes nodes idle since before `now - retain_time`, and the longest-idle
  /// ones beyond max_nodes.
  void expire(int64_t now, node_events& ev);

  /// Applies one DNS answer (see the class comment). Changes are reported
  /// with the next build_report().
  void apply_answer(const dns_answer_group& answer, int64_t now);

  /// The same for an answer given by reference (the registry's path: the
  /// names batch holds the names and their hashes).
  void apply_answer(const dns_name_view* names, size_t name_count,
                    const ip_address* addresses, size_t address_count, int64_t now);

  /// A device (`client`, with its MAC if known) asked for `name`: returns
  /// the device's node and the node carrying the name, creating a node for
  /// the name (without addresses) if none carries it yet.
  dns_query_seen apply_query(const ip_address& client, const mac_address& client_mac,
                             const std::string& name, int64_t now);

  /// The same for a name given by reference; returns only the two nodes.
  dns_query_nodes apply_query(const ip_address& client, const mac_address& client_mac,
                              dns_name_view name, int64_t now);

  /// An address -> MAC binding from the neighbour table, ARP or IPv6 ND
  /// (`present` false: the binding is gone). Traffic without an Ethernet
  /// address uses it to find the device.
  void apply_binding(const ip_address& ip, const mac_address& mac, bool present,
                     int64_t now);

  /// One of this machine's own addresses appeared (`present`) or went. Traffic
  /// to or from them is left out of reports (SPIN's default ignore list: the
  /// router's own traffic), counted in ignored_packets.
  void set_local_address(const ip_address& ip, bool present);

  /// Replaces the whole ignore list (the block manager's, which includes the
  /// router's own addresses): traffic to or from these addresses is left out
  /// of reports, blocked traffic too, counted in ignored_packets.
  void set_ignored(std::unordered_set<ip_address> ignored);

  /// The effective block and allow lists, for the nodes' is_blocked (an
  /// address of the node is blocked) and is_excepted (one is allowed) flags.
  /// Nodes whose flags change go to `ev.updated`.
  void set_verdict_sets(std::unordered_set<ip_address> block,
                        std::unordered_set<ip_address> allow, node_events& ev);

  /// Names from the DHCP server (leases, static hosts): a device's `name`
  /// unless the user named it.
  void set_dhcp_names(const std::map<mac_address, std::string>& by_mac,
                      const std::map<ip_address, std::string>& by_ip);

  /// User-set names (persisted by the caller): by MAC for devices, by address
  /// for other nodes. They win over DHCP names.
  void set_user_names(const std::map<mac_address, std::string>& by_mac,
                      const std::map<ip_address, std::string>& by_ip);

  /// Names node `id` as the user asked: returns false if there is no such
  /// node. The caller persists the user names (user_names_*()).
  bool set_user_name(node_id id, const std::string& name);

  const std::map<mac_address, std::string>& user_names_by_mac() const {
    return user_by_mac_;
  }
  const std::map<ip_address, std::string>& user_names_by_ip() const {
    return user_by_ip_;
  }

  /// Every address of a named node with the node's name (the `names` list).
  std::map<ip_address, std::string> names_by_address() const;

  /// The DNS names of the node an address belongs to (`ip2hostname`).
  std::vector<std::string> domains_of(const ip_address& ip) const;

  /// Addresses in `batches` that belong to no node yet (outside the LAN), so
  /// the caller can look their names up before build_report().
  std::vector<ip_address>
  unknown_addresses(const std::vector<flow_batch_ptr>& batches) const;

  /// The node carrying a DNS name, if any.
  std::optional<node_id> find_name(const std::string& name) const;

  /// The node an address belongs to, if any.
  std::optional<node_id> find_ip(const ip_address& ip) const;

  /// The device node of a MAC, if any.
  std::optional<node_id> find_mac(const mac_address& mac) const;

  /// True if node `id` exists and is a device (has a MAC).
  bool is_device(node_id id) const;

  /// A snapshot of a node, or nullptr.
  node_info_ptr snapshot(node_id id) const;

  /// Every node, as snapshots (for republishing).
  std::vector<node_info_ptr> all() const;

  size_t size() const { return nodes_.size(); }
  size_t devices() const { return by_mac_.size(); }
  const counters& stats() const { return stats_; }
  const options& opts() const { return opts_; }

  bool is_lan(const ip_address& ip) const;

private:
  /// A DNS name of a node, with its hash and when it was last answered.
  struct domain {
    std::string name;
    uint64_t hash = 0;
    int64_t seen = 0;
    dns_name_view view() const { return {name, hash}; }
  };
  /// Key of by_name_: the name and its hash.
  struct name_key {
    std::string text;
    uint64_t hash = 0;
  };
  struct name_key_hash {
    size_t operator()(const name_key& k) const noexcept { return k.hash; }
  };
  struct node {
    node_id id = 0;
    int64_t lastseen = 0;
    std::vector<std::pair<ip_address, int64_t>> ips; // address, last seen
    std::vector<domain> domains;
    std::optional<mac_address> mac;
    std::string name; ///< shown: user name, else DHCP name
    bool dirty = false;
    /// The flags of the last snapshot (to see which nodes a list change
    /// affects).
    mutable bool blocked = false;
    mutable bool excepted = false;
  };

  node& create(int64_t now);
  node_id resolve(const ip_address& ip, const mac_address& mac, int64_t now);
  void attach(node& n, const ip_address& ip, int64_t now);
  void detach(node& n, const ip_address& ip);
  void add_name(node& n, dns_name_view name, int64_t now);
  void drop_name(node& n, dns_name_view name);
  node_id* name_owner(dns_name_view name);
  void set_name_owner(dns_name_view name, node_id id);
  void erase_name_owner(dns_name_view name);
  void mark(node& n);
  void merge_if_empty(node& n, node& into);
  std::string display_name(const node& n) const;
  void refresh_name(node& n);
  void merge_into(node& from, node& into);
  void erase(node_id id);
  node_info_ptr make_snapshot(const node& n) const;
  void add_blocked(interval_report& r, node_id from, node_id to, uint64_t packets);

  struct scratch;

  options opts_;
  std::unique_ptr<scratch> scratch_;
  node_id next_id_ = 1;
  std::unordered_map<node_id, node> nodes_;
  flat_map<ip_address, node_id, ip_address_hash> by_ip_{1024};
  std::unordered_map<mac_address, node_id> by_mac_;
  flat_map<name_key, node_id, name_key_hash> by_name_{1024};
  std::unordered_map<ip_address, mac_address> neighbours_;
  std::unordered_set<ip_address> ignored_;
  std::unordered_set<ip_address> block_set_;
  std::unordered_set<ip_address> allow_set_;
  std::map<mac_address, std::string> dhcp_by_mac_;
  std::map<ip_address, std::string> dhcp_by_ip_;
  std::map<mac_address, std::string> user_by_mac_;
  std::map<ip_address, std::string> user_by_ip_;
  std::vector<node_id> dirty_;
  std::vector<node_id> losers_; ///< scratch of apply_answer
  std::vector<std::pair<node_id, node_id>> pending_merges_;
  int64_t last_expiry_ = INT64_MIN;
  counters stats_;
};

} // namespace spin
