#pragma once

#include "spin/runtime/report.hpp"
#include "spin/runtime/status.hpp"

#include <boost/json/value.hpp>

#include <functional>
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

/// A status report as a JSON object {"counters": {...}, "last_error": ...}.
boost::json::object status_to_json(const status_report& s);

} // namespace spin
