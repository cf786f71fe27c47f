#pragma once

#include <caf/atom.hpp>

/// Every atom spin's actors use, in one place. CAF 0.17 atoms hold at most
/// 10 characters, and equal text means the same atom.
namespace spin::atom {

/// Records are waiting in a shard's queue.
using wake = caf::atom_constant<caf::atom("wake")>;
/// Ask for a component's counters.
using status = caf::atom_constant<caf::atom("status")>;
/// A shard's finished interval.
using interval = caf::atom_constant<caf::atom("interval")>;
/// End of the record stream (capture file done).
using eos = caf::atom_constant<caf::atom("eos")>;
/// An interval report for publishing.
using report = caf::atom_constant<caf::atom("report")>;
/// A node was created or changed.
using node = caf::atom_constant<caf::atom("node")>;
/// A node was deleted.
using deleted = caf::atom_constant<caf::atom("deleted")>;
/// A node was merged into another.
using merged = caf::atom_constant<caf::atom("merged")>;
/// A periodic timer fired.
using tick = caf::atom_constant<caf::atom("tick")>;
/// The broker connection came up (with the CONNACK code).
using connected = caf::atom_constant<caf::atom("connected")>;
/// The broker connection went away.
using disconnected = caf::atom_constant<caf::atom("disconn")>;
/// An MQTT message arrived.
using message = caf::atom_constant<caf::atom("message")>;
/// Publish a status document.
using publish = caf::atom_constant<caf::atom("publish")>;
/// The pipeline has published everything it will (fast replay finished).
using done = caf::atom_constant<caf::atom("done")>;
/// A source's side batch (DNS records, bindings) of one interval.
using side = caf::atom_constant<caf::atom("side")>;
/// The DNS cache's names batch of one interval.
using names = caf::atom_constant<caf::atom("names")>;
/// Look up the DNS names of addresses.
using lookup = caf::atom_constant<caf::atom("lookup")>;
/// A device asked for a name (dnsquery).
using dnsquery = caf::atom_constant<caf::atom("dnsquery")>;
/// Names from the DHCP server (lease files, static hosts).
using dhcp = caf::atom_constant<caf::atom("dhcp")>;
/// A SPIN command (from SPIN/commands).
using command = caf::atom_constant<caf::atom("command")>;
/// Store a section of the persistent state.
using put = caf::atom_constant<caf::atom("put")>;
/// Write pending state now.
using flush = caf::atom_constant<caf::atom("flush")>;
/// Neighbour table events.
using neighbours = caf::atom_constant<caf::atom("neighbours")>;
/// A JSON-RPC 2.0 request.
using jsonrpc = caf::atom_constant<caf::atom("jsonrpc")>;
/// A parsed control request for the actor that carries it out.
using control = caf::atom_constant<caf::atom("control")>;
/// Ask for one thing by key (a node by id).
using get = caf::atom_constant<caf::atom("get")>;
/// The effective lists (ignore, block, allow) for the registry.
using lists = caf::atom_constant<caf::atom("lists")>;
/// Who to talk to: a handle sent after spawning (breaks spawn-order cycles).
using wire = caf::atom_constant<caf::atom("wire")>;
/// Notifications (list, add).
using notes = caf::atom_constant<caf::atom("notes")>;
/// Flip a flag (a device's `new`).
using toggle = caf::atom_constant<caf::atom("toggle")>;
/// The configuration document of the REST API.
using config = caf::atom_constant<caf::atom("config")>;

} // namespace spin::atom
