#pragma once

#include "spin/runtime/ip_address.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace spin {

/// Node ids are stable for the life of one spind run and restart at 1.
using node_id = int64_t;

/// What the outside world sees of a node (the SPIN NODE object): a device
/// (a node with a MAC) or a remote service, with its addresses and names.
struct node_info {
  node_id id = 0;
  int64_t lastseen = 0;             ///< UNIX seconds of the last interval with traffic
  std::vector<ip_address> ips;      ///< every address the node has
  std::vector<std::string> domains; ///< DNS names that resolved to its addresses
  std::optional<mac_address> mac;   ///< devices only
  std::string name;                 ///< user or DHCP name; empty when none
  bool is_blocked = false;
  bool is_excepted = false;
};

using node_info_ptr = std::shared_ptr<const node_info>;

/// One line of a traffic report: traffic from one node to another with one
/// protocol and one service port, summed over an interval.
struct report_flow {
  node_id from = 0;
  node_id to = 0;
  uint8_t proto = 0;
  uint16_t port = 0;  ///< service port (see service_port())
  uint64_t size = 0;  ///< IP-layer bytes
  uint64_t count = 0; ///< packets
};

/// Traffic the firewall dropped between two nodes in one interval (one
/// `blocked` message). `from` is the device when one side is a device.
struct blocked_flow {
  node_id from = 0;
  node_id to = 0;
  uint64_t count = 0; ///< dropped packets reported (the kernel rate-limits them)
};

/// The registry's summary of one interval, handed to the publisher.
struct interval_report {
  /// First second of the interval (UNIX seconds).
  int64_t second = 0;
  /// Bytes and packets of every flow of the interval, listed or not.
  uint64_t total_size = 0;
  uint64_t total_count = 0;
  /// Flows, largest first, at most max_flows_per_report of them.
  std::vector<report_flow> flows;
  /// Node flows before the cap, and how many of them the cap left out.
  uint64_t flows_before_cap = 0;
  uint64_t flows_folded = 0;
  /// Packets no shard could attribute to a flow (flow table full).
  uint64_t overflow_packets = 0;
  /// Node pairs with dropped traffic (not part of the totals or flows), in
  /// first-seen order, at most max_flows_per_report of them.
  std::vector<blocked_flow> blocked;
};

using interval_report_ptr = std::shared_ptr<const interval_report>;

} // namespace spin
