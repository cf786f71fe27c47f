#pragma once

#include "spin/runtime/control_protocol.hpp"
#include "spin/runtime/ip_address.hpp"
#include "spin/runtime/nft_table.hpp"
#include "spin/runtime/report.hpp"

#include <boost/json/object.hpp>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace spin {

/// The device profiles spin ships (../shared/reference/spin-protocols.md
/// s.3): a profile is an enforcement rule applied per MAC.
///  - `allow_all`: nothing (the default);
///  - `deny_all`, `blocked_by_ad`: every address of the device is blocked;
///  - `ipv4_only`: the device's IPv6 addresses are blocked;
///  - `ipv6_only`: the device's IPv4 addresses are blocked.
///
/// User profiles come from JSON files (load_profile_files) and use the same
/// rules: which address families of the device are blocked.
struct device_profile {
  std::string id;
  std::string name;
  std::string description;
  bool block_v4 = false;
  bool block_v6 = false;
  /// From a profile file (CREATED_BY_USER), not shipped.
  bool user = false;
};

/// Every profile, `allow_all` first, then the user's (set_user_profiles).
const std::vector<device_profile>& device_profiles();

/// Reads the user profiles in `dir`: every `*.json` file (in name order) is
/// one profile, `{"id": "kids", "name": "Kids", "description": "...",
/// "block": "none" | "all" | "ipv4" | "ipv6"}`; `id` is 1-64 characters of
/// [a-z0-9_-] and not a shipped profile's id. A file that is unreadable,
/// not such an object, or repeats an id is skipped with a line in
/// `problems`. A missing directory is no problem (no user profiles).
std::vector<device_profile> load_profile_files(const std::string& dir,
                                               std::vector<std::string>& problems);

/// Makes `user` part of device_profiles(). Call before the actors start (not
/// thread-safe against readers).
void set_user_profiles(std::vector<device_profile> user);

/// The profile with this id, or nullptr.
const device_profile* find_device_profile(const std::string& id);

/// The user's lists and what they put into the firewall: the block, allow
/// ("except") and ignore address lists, node entries that follow a node,
/// node-pair blocks and device profiles. Pure data structure (no I/O),
/// owned by the block_manager actor; see doc/control.md.
///
/// Every list is the union of its *sources*: addresses added one by one, and
/// node entries. A node entry remembers the node by stable keys (its MAC for
/// a device, its DNS names for a service, its addresses when it has neither)
/// plus every address it has put on the list, so it
///  - follows the node: each node update (node_changed) that matches the
///    entry adds the node's new addresses (and names);
///  - survives a restart: the persisted addresses are enforced at once, and
///    the keys find the node again when it reappears with a new id;
///  - is removed exactly: each address is reference-counted over its
///    sources, so removing an entry takes out only the addresses no other
///    source holds.
/// Node-pair blocks are two node entries; their firewall elements are every
/// (address of one, address of the other) pair of the same family, in both
/// directions. Profiles are device entries that contribute to the block list
/// for the families the profile blocks.
///
/// The ignore list also holds the router's own addresses (fed with
/// set_local_address) unless the user removed them; reset_ignores returns to
/// exactly that.
///
/// Every change fills a `delta`: the firewall elements to add and delete
/// (net: an element removed and re-added within one change does not appear)
/// and which lists changed, for the caller to enforce, publish and persist.
class block_lists {
public:
  struct limits {
    /// Addresses one node entry may hold (a CDN name can have hundreds).
    size_t max_ips_per_entry = 256;
    /// DNS names one node entry remembers.
    size_t max_domains_per_entry = 32;
    /// Node entries in all lists together (pair sides and profiles count).
    size_t max_entries = 4096;
    /// Addresses added one by one, per list.
    size_t max_ips_per_list = 65536;
    /// Firewall elements of one node-pair block.
    size_t max_pair_elements = 4096;
  };

  /// What a change did.
  struct delta {
    set_change firewall;
    /// The effective ignore list changed (the registry needs the new one).
    bool ignore_changed = false;
    /// The effective list changed (index: list_kind).
    bool list_changed[3] = {false, false, false};
    bool pairs_changed = false;
    bool profiles_changed = false;
    /// Something that is persisted changed.
    bool persist = false;
    /// Addresses a limit kept out (logged by the caller).
    uint64_t dropped = 0;

    bool any_list_changed() const {
      return list_changed[0] || list_changed[1] || list_changed[2];
    }
  };

  /// One node-pair block as get_flow_block shows it.
  struct pair_view {
    node_id node1 = 0; ///< 0: not seen in this run
    node_id node2 = 0;
    size_t elements = 0;
  };

  block_lists();
  explicit block_lists(limits l);
  ~block_lists();
  block_lists(block_lists&&) noexcept;
  block_lists& operator=(block_lists&&) noexcept;

  // --- Commands. On an error (false, `error` says why) nothing changed.

  /// Puts node `n` on list `k` with every address it has now and gains
  /// later. A node already on the list is refreshed (not an error).
  bool add_node(list_kind k, const node_info& n, delta& d, std::string& error);

  /// Takes node `n` off list `k`: every entry that follows it, and the
  /// node's current addresses that were added one by one. Addresses another
  /// source holds stay. An error if the node is not on the list.
  bool remove_node(list_kind k, const node_info& n, delta& d, std::string& error);

  /// Adds one address to list `k`.
  bool add_ip(list_kind k, const ip_address& ip, delta& d, std::string& error);

  /// Takes an address off list `k`: from the addresses added one by one and
  /// from every node entry of the list (which will not add it again). An
  /// error if the address is not on the list. (Profiles are changed with
  /// set_profile only.)
  bool remove_ip(list_kind k, const ip_address& ip, delta& d, std::string& error);

  /// The ignore list becomes the router's own addresses.
  void reset_ignores(delta& d);

  /// Blocks (`block`) or unblocks all traffic between two nodes, both ways.
  /// Unblocking a pair that is not blocked is an error.
  bool set_pair(const node_info& a, const node_info& b, bool block, delta& d,
                std::string& error);

  /// Applies profile `profile` (an id of device_profiles()) to the device
  /// with MAC `mac`; `device` is its node if it has one now. `allow_all`
  /// removes the device's profile entry.
  bool set_profile(const mac_address& mac, const std::string& profile,
                   const node_info* device, delta& d, std::string& error);

  // --- Events.

  /// A node was created or changed (the registry's snapshot): every entry
  /// that follows it takes its new addresses.
  void node_changed(const node_info& n, delta& d);

  /// One of the router's own addresses appeared or went.
  void set_local_address(const ip_address& ip, bool present, delta& d);

  // --- Queries.

  /// The effective list, sorted.
  std::vector<ip_address> list(list_kind k) const;
  bool contains(list_kind k, const ip_address& ip) const;
  /// The effective ignore list as a set (for the registry).
  std::unordered_set<ip_address> ignore_set() const;
  /// The effective block and allow lists as sets (node flags).
  std::unordered_set<ip_address> block_set() const;
  std::unordered_set<ip_address> allow_set() const;
  std::vector<pair_view> pairs() const;
  /// The profile id of a device (`allow_all` when it has none).
  std::string profile_of(const mac_address& mac) const;
  std::map<mac_address, std::string> profiles() const;

  /// The change that puts everything into empty firewall sets (start-up).
  set_change full_firewall() const;

  /// Entries that follow nodes (all lists, pair sides, profiles).
  size_t entries() const;

  // --- Persistence (the "lists" section of the state file).

  boost::json::object to_json() const;

  /// Reads what to_json() wrote. Malformed parts are skipped and described
  /// in `problems`; the rest is kept.
  static block_lists from_json(const boost::json::value& v, limits l,
                               std::vector<std::string>& problems);

private:
  struct impl;
  std::unique_ptr<impl> p_;
};

} // namespace spin
