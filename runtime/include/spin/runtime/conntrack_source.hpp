#pragma once

#include "spin/runtime/queue_bridge.hpp"
#include "spin/runtime/status.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

namespace spin {

/// Counts traffic volume from the kernel's connection tracking instead of per
/// packet: the live source for gateways where every forwarded packet passes
/// conntrack anyway. Talks ctnetlink (NETLINK_NETFILTER) with libmnl in its
/// own thread; never runs `conntrack` or any other command.
///
/// What it reads: NEW, UPDATE and DESTROY events, and once per dump interval
/// (wall clock, on the second boundary, also when no event comes) a dump of
/// every connection of both families with its counters (CTA_COUNTERS_ORIG,
/// CTA_COUNTERS_REPLY: packets and IP-layer bytes, which is spin's byte
/// convention). It keeps the last counters it saw per connection and turns
/// their growth into per-second deltas. It never zeroes the kernel's counters
/// (no IPCTNL_MSG_CT_GET_CTRZERO): other readers on the router (nlbwmon, the
/// `conntrack` tool) see them unchanged.
///
/// What it produces, per connection and interval, as packet records for the
/// shards (through a source_core, with the drop policy of live sources):
/// - the original direction: (orig src -> orig dst, orig ports) with the
///   growth of the ORIG counters;
/// - the reply direction: the same tuple reversed (orig dst -> orig src,
///   ports swapped) with the growth of the REPLY counters, so that a NATed
///   connection shows the device's view. ICMP/ICMPv6 follow flow_key's
///   convention (sport 0, dport type * 256 + code; the identifier is
///   ignored): the reply direction carries the reply's type (echo reply).
/// A delta larger than one record holds (65536 packets, 4 GiB) is split over
/// several records; zero deltas are not pushed. After each dump the interval
/// that just ended is closed (its marker goes to every shard), so the
/// pipeline reports every second.
///
/// Per-connection state is keyed by CTA_ID plus the original tuple:
/// - a NEW event creates it with counters 0, so the connection's first
///   second counts in full;
/// - a DESTROY event carries the final counters: the remaining growth counts
///   in the open interval and the connection is forgotten;
/// - the first dump (in start()) is a baseline: traffic from before spin
///   started is not reported;
/// - a connection missing from a dump without a DESTROY event (events lost,
///   table overflow) is forgotten (`vanished`);
/// - a connection first seen in a later dump (its NEW event was lost) counts
///   from zero; but right after connections were refused for the bound below,
///   unknown connections are taken as a new baseline instead (they may be
///   old ones that were not tracked, whose whole history would otherwise land
///   in one second); a DESTROY event of a connection never seen counts in
///   full, for the same reason and with the same exception.
/// DESTROY events that arrive while a dump runs (it starts on the boundary)
/// count in the interval that dump closes. Connections that existed before
/// accounting was turned on have no counters and are never reported.
/// Fragmented packets count once, as the reassembled packet (conntrack sees
/// packets after defragmentation), unlike per-packet sources.
///
/// Loss is counted, never fatal: ENOBUFS on the event socket (`enobufs`,
/// logged at most every 10 s; the next dump resynchronises every counter),
/// records that find a shard queue full (`dropped`), connections beyond
/// `max_connections` (`untracked`).
class conntrack_source {
public:
  struct options {
    /// Period of the counter dumps, rounded to whole seconds (at least 1).
    /// Dumps happen on wall-clock boundaries that are multiples of it; the
    /// seconds in between still close (with DESTROY deltas only).
    int64_t dump_interval_ms = 1000;
    /// Bound of the per-connection state (about 120 bytes each); further
    /// connections are not tracked and counted as `untracked`.
    size_t max_connections = 262144;
    /// Receive buffer of the event socket in bytes. Set with SO_RCVBUFFORCE
    /// (CAP_NET_ADMIN, ignores net.core.rmem_max); without it SO_RCVBUF,
    /// capped by rmem_max (a warning says what to set).
    size_t rcvbuf = 8u << 20;
    /// The accounting switch (per network namespace); turned on if it is 0.
    std::string acct_sysctl = "/proc/sys/net/netfilter/nf_conntrack_acct";
    /// Longest wait for one dump (the baseline in start(), the last one in
    /// stop(), and a stalled periodic dump, which is then abandoned).
    int64_t dump_timeout_ms = 10000;
  };

  /// Records go to `bridge`, which must outlive the source.
  conntrack_source(options opts, queue_bridge& bridge);
  ~conntrack_source();

  conntrack_source(const conntrack_source&) = delete;
  conntrack_source& operator=(const conntrack_source&) = delete;

  /// Opens ctnetlink twice (an event socket subscribed to
  /// NFNLGRP_CONNTRACK_NEW, _UPDATE and _DESTROY, and a socket for dumps, so
  /// that event overruns never disturb a dump), sizes the event socket's
  /// receive buffer, turns on nf_conntrack_acct if it is off (and logs that
  /// it did), takes the baseline dump and starts the reader thread. Returns
  /// false with a message in `error` when that is impossible: without
  /// CAP_NET_ADMIN (EPERM), when the accounting sysctl cannot be written (the
  /// message names it), or when conntrack is not available. Call once.
  bool start(std::string& error);

  /// Stops the thread after a last dump (so the open second's traffic is
  /// counted), closes the open interval (its records reach the shards with
  /// their marker; no end-of-stream record) and closes the sockets.
  /// Idempotent; the destructor calls it.
  void stop();

  /// Counters, refreshed after every netlink read. Events: `events_new`,
  /// `events_update`, `events_destroy`, `enobufs` (overruns: events lost),
  /// `event_errors` (other receive errors), `malformed`. Dumps: `dumps`,
  /// `dump_overruns` (a dump was still running at the next boundary),
  /// `dump_errors`, `resyncs` (dumps after lost events). Connections:
  /// `connections` (tracked now), `vanished` (gone without a DESTROY event),
  /// `untracked` (new connections refused for the bound), `untracked_now`
  /// (connections the last dump found no room for), `adopted` (first seen
  /// without a NEW event), `stale` (dump entries of connections already
  /// destroyed), `counter_resets` (counters that went down: someone zeroed
  /// them). Output: `records`, `packets`, `bytes` (the deltas reported),
  /// `intervals`, `late`, `dropped` (full shard queues). Set-up: `rcvbuf`
  /// (bytes granted), `acct_enabled` (1 if this source turned accounting
  /// on). Thread-safe.
  status_report status() const;

private:
  struct state;
  std::unique_ptr<state> st_;
  std::thread thread_;
};

} // namespace spin
