#pragma once

#include "spin/actors/actors.hpp"
#include "spin/runtime/node_table.hpp"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace spin {

/// How the registry is wired.
struct node_registry_config {
  node_table::options table;
  uint32_t shards = 1;
  /// True when the sources send side batches (through the DNS cache): an
  /// interval is complete only with its names batch.
  bool expect_names = false;
  /// dnsquery messages per device per second (token bucket, burst 2x).
  double dnsquery_rate = 10;
  /// A device asking for the same name again within this many seconds is
  /// not published again (0: publish every query).
  int64_t dnsquery_repeat_window = 10;
  /// True when the block manager owns the ignore list (it sends it with
  /// `lists`); the router's own addresses from neighbour events are then
  /// left to it. False (tests without a block manager): they are ignored
  /// here directly.
  bool ignore_from_lists = false;
  /// User names loaded from the state file.
  std::map<mac_address, std::string> user_names_by_mac;
  std::map<ip_address, std::string> user_names_by_ip;
};

/// The names one device asked for recently, with the second of the last time
/// (for dnsquery repeat suppression): an open-addressing index over items
/// whose characters sit in one string, so remembering a name costs no
/// allocation of its own. Names compare exactly (hash, then characters).
class recent_query_names {
public:
  /// The second `name` was last remembered, or nullptr.
  int64_t* find(dns_name_view name);
  /// Remembers `name` (not present) at `second`.
  void insert(dns_name_view name, int64_t second);
  /// Keeps the names for which keep(second) is true, in their order.
  template <class Keep>
  void retain(Keep&& keep) {
    auto old = std::move(items_);
    auto old_text = std::move(text_);
    clear();
    for (auto& it : old)
      if (keep(it.second))
        insert({std::string_view(old_text).substr(it.offset, it.length), it.hash},
               it.second);
  }
  void clear();
  size_t size() const { return items_.size(); }

private:
  struct item {
    uint64_t hash = 0;
    int64_t second = 0;
    uint32_t offset = 0;
    uint32_t length = 0;
  };
  void rehash(size_t slots);
  std::vector<item> items_;
  std::vector<uint32_t> index_; ///< item index + 1; 0 = empty
  std::string text_;
};

/// State of the node registry.
struct node_registry_state {
  static inline const char* name = "node_registry";

  /// What has arrived of one interval.
  struct pending_interval {
    std::vector<flow_batch_ptr> batches;
    names_batch_ptr names;
    bool has_names = false;
  };

  std::unique_ptr<node_table> table;
  node_registry_config cfg;
  mqtt_publisher_actor publisher;
  /// Who hears about changed nodes (block manager, notifier).
  std::vector<node_listener_api> listeners;
  /// Recent flows of each device (list_device_flows), at most
  /// registry_max_device_flows per device.
  struct device_flow {
    node_id peer = 0;
    uint8_t proto = 0;
    uint16_t port = 0;
    bool blocked = false;
    uint64_t packets = 0;
    uint64_t bytes = 0;
    int64_t lastseen = 0;
  };
  std::unordered_map<node_id, std::vector<device_flow>> device_flows;
  dns_cache_actor dns;
  state_store_actor store;
  std::map<int64_t, pending_interval> pending;
  uint32_t ended = 0;
  bool eos_sent = false;
  int64_t last_expiry = INT64_MIN;
  /// dnsquery token buckets per device: tokens, last second.
  std::unordered_map<node_id, std::pair<double, int64_t>> query_tokens;
  /// Names each device asked for recently, with the second.
  std::unordered_map<node_id, recent_query_names> recent_queries;
  /// Scratch: the names of one answer being applied.
  std::vector<dns_name_view> answer_names;

  uint64_t intervals = 0;
  uint64_t batches = 0;
  uint64_t late_batches = 0;
  uint64_t names_batches = 0;
  uint64_t lookups = 0;
  uint64_t dnsqueries_published = 0;
  uint64_t dnsqueries_suppressed = 0;
  uint64_t dnsqueries_repeated = 0;
  uint64_t commands = 0;
  uint64_t command_errors = 0;
  int64_t last_second = 0;
};

/// Most names remembered per device for dnsquery repeat suppression.
inline constexpr size_t registry_max_recent_queries = 256;

/// Most recent flows kept per device for list_device_flows.
inline constexpr size_t registry_max_device_flows = 128;

/// How often (event-time seconds) idle nodes are looked for.
inline constexpr int64_t registry_expiry_period = 10;

/// The node registry: once every shard (and, with DNS, the DNS cache) has
/// delivered an interval, it applies the interval's DNS answers, queries and
/// bindings, looks up names for addresses it has never seen, attributes
/// flows to nodes, sends node changes, the report and the dnsquery events to
/// the publisher (and the changed nodes to the listener, the block manager),
/// and expires idle nodes. It applies the block manager's lists (ignored
/// addresses, node flags), answers the control requests about nodes and
/// names, and keeps user names persistent through the state store. `dns`
/// and `store` may be invalid handles.
node_registry_actor::behavior_type
node_registry(node_registry_actor::stateful_pointer<node_registry_state> self,
              node_registry_config cfg, mqtt_publisher_actor publisher,
              dns_cache_actor dns, state_store_actor store);

} // namespace spin
