#pragma once

#include "spin/runtime/report.hpp"
#include "spin/runtime/status.hpp"

#include <boost/json/value.hpp>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace spin {

/// JSON encodings of the SPIN MQTT messages (../doc/mqtt.md). Everything is a
/// `{"command": ..., "argument": ..., "result": ...}` object.

/// The NODE object: id, lastseen, ips, domains always; mac, name, is_blocked,
/// is_excepted only when set.
boost::json::object node_to_json(const node_info& n);

/// The NODE object without its leading `{"id":..,"lastseen":..,` part: the
/// text that follows it, starting at `"ips"` and ending with `}`. A node's tail
/// changes only when the node does, so the publisher caches it and writes a
/// flow's node objects as `{"id":N,"lastseen":T,` + tail.
std::string node_tail_json(const node_info& n);

/// Serialises a whole message.
std::string message_json(std::string_view command, const boost::json::value& argument,
                         const boost::json::value& result);

/// Appends a complete `traffic` message for `r` to `out`. `tail_of(id)`
/// returns the cached node tail for a node id (or nullptr if the node is
/// unknown, in which case a minimal node object is written).
void append_traffic_json(std::string& out, const interval_report& r,
                         const std::function<const std::string*(node_id)>& tail_of);

/// Appends a `dnsquery` message: {"from": NODE, "queriednode": NODE,
/// "query": name}, node objects written from the cached tails as in traffic.
void append_dnsquery_json(std::string& out, node_id from, node_id queried,
                          std::string_view name, int64_t lastseen,
                          const std::function<const std::string*(node_id)>& tail_of);

/// Appends a `blocked` message: {"timestamp": T, "from": NODE, "to": NODE},
/// node objects written from the cached tails as in traffic.
void append_blocked_json(std::string& out, int64_t timestamp, node_id from, node_id to,
                         const std::function<const std::string*(node_id)>& tail_of);

/// A status report as a JSON object {"counters": {...}, "last_error": ...}.
boost::json::object status_to_json(const status_report& s);

/// `{"command":"error","argument":"<message>","result":""}`, the reply to a
/// command that cannot be carried out.
std::string error_json(std::string_view message);

/// A node id given as a JSON number or a numeric string ("12"); nullopt for
/// anything else (negative, fractional, too large, other types).
std::optional<node_id> json_node_id(const boost::json::value& v);

/// The SPIN `names` message: {address: user or DHCP name}.
std::string names_json(const std::map<ip_address, std::string>& names);

/// User names as stored in the state file: {"by_mac": {...}, "by_ip": {...}}.
boost::json::object user_names_to_json(const std::map<mac_address, std::string>& by_mac,
                                       const std::map<ip_address, std::string>& by_ip);

/// Reads user names stored by user_names_to_json(); skips malformed entries
/// and says so in `problems`.
void user_names_from_json(const boost::json::value& v,
                          std::map<mac_address, std::string>& by_mac,
                          std::map<ip_address, std::string>& by_ip,
                          std::vector<std::string>& problems);

} // namespace spin
