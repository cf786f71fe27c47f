#pragma once

#include "spin/runtime/flow_table.hpp"
#include "spin/runtime/report.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <unordered_map>
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

/// The node model: turns addresses (and the Ethernet addresses seen with
/// them) into nodes with stable ids, and one interval's flow tables into one
/// report. Plain data structure, owned by the node_registry actor.
///
/// Rules (see doc/nodes.md):
/// - An address inside the LAN prefixes seen with a unicast Ethernet address
///   belongs to the device node of that MAC. A device collects all of its
///   addresses (IPv4, IPv6, link-local); two MACs are never one node. If the
///   address was a plain node before, that node merges into the device
///   (nodeMerged); if it belonged to another device, it moves.
/// - Any other address is a node of its own, created on first sight.
/// - A node keeps at most max_ips_per_node addresses (least recently seen
///   goes first).
/// - A node idle for retain_time seconds (event time) is deleted; beyond
///   max_nodes, the longest-idle nodes are deleted first. Nodes seen in the
///   current interval are never deleted.
class node_table {
public:
  struct options {
    std::vector<ip_prefix> lan_prefixes;
    int64_t retain_time = 1800;
    size_t max_nodes = 50000;
    size_t max_ips_per_node = 32;
    size_t max_flows_per_report = 2000;
  };

  struct counters {
    uint64_t nodes_created = 0;
    uint64_t nodes_expired = 0;
    uint64_t nodes_evicted = 0;
    uint64_t nodes_merged = 0;
    uint64_t ips_moved = 0;
    uint64_t ips_dropped = 0;
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

  /// The node an address belongs to, if any.
  std::optional<node_id> find_ip(const ip_address& ip) const;

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
    std::vector<std::pair<ip_address, int64_t>> ips; // address, last seen
    std::vector<std::string> domains;
    std::optional<mac_address> mac;
    std::string name;
    bool dirty = false;
  };

  node& create(int64_t now);
  node_id resolve(const ip_address& ip, const mac_address& mac, int64_t now);
  void attach(node& n, const ip_address& ip, int64_t now);
  void detach(node& n, const ip_address& ip);
  void merge_into(node& from, node& into);
  void erase(node_id id);
  node_info_ptr make_snapshot(const node& n) const;

  struct scratch;

  options opts_;
  std::unique_ptr<scratch> scratch_;
  node_id next_id_ = 1;
  std::unordered_map<node_id, node> nodes_;
  std::unordered_map<ip_address, node_id> by_ip_;
  std::unordered_map<mac_address, node_id> by_mac_;
  std::vector<node_id> dirty_;
  std::vector<std::pair<node_id, node_id>> pending_merges_;
  int64_t last_expiry_ = INT64_MIN;
  counters stats_;
};

} // namespace spin
