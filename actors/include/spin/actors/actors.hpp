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

/// Turns the shards' per-interval tables into nodes and reports.
using node_registry_actor = status_api::extend<
    // A shard's finished table of one interval.
    caf::reacts_to<atom::interval, flow_batch_ptr>,
    // Shard `i` reached the end of its record stream.
    caf::reacts_to<atom::eos, uint32_t>>;

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
    // No more reports will come: flush, then tell whoever waits.
    caf::reacts_to<atom::eos>,
    // Publish a retained status document under <root>/stat/<name>.
    caf::reacts_to<atom::publish, std::string, std::string>,
    // From the MQTT network thread: connection up (CONNACK code).
    caf::reacts_to<atom::connected, int>,
    // From the MQTT network thread: connection lost (0 = requested).
    caf::reacts_to<atom::disconnected, int>,
    // From the MQTT network thread: a message (topic, payload, retained).
    caf::reacts_to<atom::message, std::string, std::string, bool>,
    // Periodic housekeeping (connect timeout, flushing at the end).
    caf::reacts_to<atom::tick>>;

/// Polls every component for its status, logs a one-line summary and has the
/// publisher publish the whole status document.
using status_reporter_actor = status_api::extend<
    // Time for the next summary.
    caf::reacts_to<atom::tick>>;

} // namespace spin
