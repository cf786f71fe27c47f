#pragma once

#include "spin/actors/atoms.hpp"
#include "spin/actors/type_ids.hpp"

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <cstdint>
#include <string>

/// Every typed actor interface of spind, one line of doc per handler. The
/// graph (doc/architecture.md):
///
///   source thread -> queue_bridge -> flow_aggregator x N -> node_registry
///     -> mqtt_publisher -> broker;   status_reporter polls everyone.
///   mqtt_publisher / control socket -> block_manager (commands) <-> node_registry
namespace spin {

/// A status request: every actor answers it with its counters.
using status_api = caf::typed_actor<
    // Reports counters, gauges and the last error.
    caf::replies_to<atom::status>::with<status_report>>;

/// One shard of the flow aggregation. Owns a flat flow table for the current
/// interval and drains its queue of the queue_bridge.
using flow_aggregator_actor = status_api::extend<
    // Records are waiting in this shard's queue: drain them.
    caf::reacts_to<atom::wake>>;

/// Owns the persistent state file; coalesces writes.
using state_store_actor = status_api::extend<
    // Replace one section (name, JSON text); the response comes once it is on
    // disk, so whoever acknowledges a change to a user can wait for it.
    caf::replies_to<atom::put, std::string, std::string>::with<bool>,
    // Write everything pending now (at shutdown).
    caf::replies_to<atom::flush>::with<bool>,
    // Coalescing timer.
    caf::reacts_to<atom::tick>>;

/// Whoever carries out control requests (the block manager): legacy SPIN
/// commands and JSON-RPC 2.0 requests as received, with the name of the
/// client (for rate limits and logs, e.g. "mqtt", "unix:uid=0,pid=42").
/// The reply is the text to send back; empty when there is none.
using control_api = caf::typed_actor<
    // A <root>/commands payload (client, payload).
    caf::replies_to<atom::command, std::string, std::string>::with<std::string>,
    // A JSON-RPC 2.0 request (client, payload).
    caf::replies_to<atom::jsonrpc, std::string, std::string>::with<std::string>>;

/// Receives the node snapshots that changed, once per interval.
using node_listener_api = caf::typed_actor<caf::reacts_to<atom::node, node_batch_ptr>>;

/// Turns the shards' per-interval tables and the DNS cache's names into
/// nodes and reports; answers the naming commands.
using node_registry_actor = status_api::extend<
    // A shard's finished table of one interval.
    caf::reacts_to<atom::interval, flow_batch_ptr>,
    // The DNS cache's names of one interval.
    caf::reacts_to<atom::names, names_batch_ptr>,
    // Shard `i` reached the end of its record stream.
    caf::reacts_to<atom::eos, uint32_t>,
    // Names from the DHCP server.
    caf::reacts_to<atom::dhcp, device_names_ptr>,
    // Changes of the kernel's neighbour table.
    caf::reacts_to<atom::neighbours, neighbour_events_ptr>,
    // The effective ignore, block and allow lists (from the block manager).
    caf::reacts_to<atom::lists, verdict_sets_ptr>,
    // One more listener for changed nodes (block manager, notifier).
    caf::reacts_to<atom::wire, node_listener_api>,
    // A node by id (nullptr if there is none).
    caf::replies_to<atom::get, node_id>::with<node_info_ptr>,
    // A device by MAC (nullptr if there is none).
    caf::replies_to<atom::get, mac_address>::with<node_info_ptr>,
    // The control requests about nodes and names (get_names, set_name,
    // republish_node, ip2hostname, list_devices, get_device,
    // list_device_flows).
    caf::replies_to<atom::control, control_request_ptr>::with<control_result_ptr>>;

/// Keeps IP -> DNS names with their TTLs; turns each source interval's DNS
/// records into the changes the registry must apply.
using dns_cache_actor = status_api::extend<
    // A source's DNS records and bindings of one interval (exactly one per
    // interval it closes).
    caf::reacts_to<atom::side, side_batch_ptr>,
    // Where the names batches go (the registry, spawned after the cache).
    caf::reacts_to<atom::command, node_registry_actor>,
    // The valid names of addresses that have no node yet (second = now).
    caf::replies_to<atom::lookup, std::vector<ip_address>,
                    int64_t>::with<std::vector<dns_answer_group>>>;

/// Publishes reports and node state over MQTT; receives commands.
using mqtt_publisher_actor = status_api::extend<
    // One interval's report, to publish on <root>/traffic.
    caf::reacts_to<atom::report, interval_report_ptr>,
    // A node was created or changed: retained nodeInfo.
    caf::reacts_to<atom::node, node_info_ptr>,
    // A node was deleted: nodeDeleted and an emptied retained topic.
    caf::reacts_to<atom::deleted, node_id>,
    // A node merged into another: nodeMerged and an emptied retained topic.
    caf::reacts_to<atom::merged, node_id, node_id>,
    // A device asked for a name: dnsquery (from, queried node, name, second).
    caf::reacts_to<atom::dnsquery, node_id, node_id, std::string, int64_t>,
    // No more reports will come: flush, then tell whoever waits.
    caf::reacts_to<atom::eos>,
    // Publish a retained status document under <root>/stat/<name>.
    caf::reacts_to<atom::publish, std::string, std::string>,
    // Publish a message (already JSON) on <root>/traffic, not retained.
    caf::reacts_to<atom::publish, std::string>,
    // Who answers <root>/commands and <root>/jsonrpc/q.
    caf::reacts_to<atom::command, control_api>,
    // From the MQTT network thread: connection up (CONNACK code).
    caf::reacts_to<atom::connected, int>,
    // From the MQTT network thread: connection lost (0 = requested).
    caf::reacts_to<atom::disconnected, int>,
    // From the MQTT network thread: a message (topic, payload, retained).
    caf::reacts_to<atom::message, std::string, std::string, bool>,
    // Periodic housekeeping (connect timeout, flushing at the end).
    caf::reacts_to<atom::tick>>;

/// Owns the block, allow and ignore lists, node-pair blocks and profiles;
/// enforces them in the firewall, persists them and carries out every
/// control request (doc/control.md).
using block_manager_actor =
    status_api::extend_with<control_api, node_listener_api>::extend<
        // Changes of the kernel's neighbour table (the router's own addresses).
        caf::reacts_to<atom::neighbours, neighbour_events_ptr>,
        // The registry (spawned after the block manager).
        caf::reacts_to<atom::wire, node_registry_actor>,
        // Retry timer for a firewall that refused a change.
        caf::reacts_to<atom::tick>>;

/// Devices ever seen (new-device flags), notifications and the REST API's
/// configuration document; all persisted.
using notifier_actor = status_api::extend_with<node_listener_api>::extend<
    // Every notification, as a JSON array.
    caf::replies_to<atom::notes>::with<std::string>,
    // Adds one (message, message key, message args, device MAC or ""): its id.
    caf::replies_to<atom::notes, std::string, std::string, std::vector<std::string>,
                    std::string>::with<int64_t>,
    // Deletes one by id: false if there is none.
    caf::replies_to<atom::deleted, int64_t>::with<bool>,
    // Flips a device's `new` flag: the new value, or -1 for a MAC never seen.
    caf::replies_to<atom::toggle, mac_address>::with<int>,
    // The devices flagged new, as a JSON array of MACs.
    caf::replies_to<atom::lookup>::with<std::string>,
    // The configuration document (JSON text; null when never set).
    caf::replies_to<atom::config>::with<std::string>,
    // Replaces it (JSON text): true once saved.
    caf::replies_to<atom::config, std::string>::with<bool>>;

/// Watches the DHCP server's files (leases, static hosts) and hands the
/// registry the device names whenever they change.
using lease_watcher_actor = status_api::extend<
    // Time to look at the files again.
    caf::reacts_to<atom::tick>>;

/// Polls every component for its status, logs a one-line summary and has the
/// publisher publish the whole status document.
using status_reporter_actor = status_api::extend<
    // Time for the next summary.
    caf::reacts_to<atom::tick>>;

} // namespace spin
