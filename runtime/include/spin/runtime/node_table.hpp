#pragma once

#include "spin/runtime/flow_table.hpp"
#include "spin/runtime/report.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace spin {

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

  /// A device (`client`, with its MAC if known) asked for `name`: returns
  /// the device's node and the node carrying the name, creating a node for
  /// the name (without addresses) if none carries it yet.
  dns_query_seen apply_query(const ip_address& client, const mac_address& client_mac,
                             const std::string& name, int64_t now);

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
  struct node {
    node_id id = 0;
    int64_t lastseen = 0;
    std::vector<std::pair<ip_address, int64_t>> ips;      // address, last seen
    std::vector<std::pair<std::string, int64_t>> domains; // DNS name, last answer
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
  void add_name(node& n, const std::string& name, int64_t now);
  void drop_name(node& n, const std::string& name);
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
  std::unordered_map<ip_address, node_id> by_ip_;
  std::unordered_map<mac_address, node_id> by_mac_;
  std::unordered_map<std::string, node_id> by_name_;
  std::unordered_map<ip_address, mac_address> neighbours_;
  std::unordered_set<ip_address> ignored_;
  std::unordered_set<ip_address> block_set_;
  std::unordered_set<ip_address> allow_set_;
  std::map<mac_address, std::string> dhcp_by_mac_;
  std::map<ip_address, std::string> dhcp_by_ip_;
  std::map<mac_address, std::string> user_by_mac_;
  std::map<ip_address, std::string> user_by_ip_;
  std::vector<node_id> dirty_;
  std::vector<std::pair<node_id, node_id>> pending_merges_;
  int64_t last_expiry_ = INT64_MIN;
  counters stats_;
};

} // namespace spin
