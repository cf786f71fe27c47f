#pragma once

#include "spin/runtime/config.hpp"
#include "spin/runtime/dns_cache.hpp"
#include "spin/runtime/pipeline_gauge.hpp"
#include "spin/runtime/queue_bridge.hpp"
#include "spin/runtime/status.hpp"

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

namespace spin {

/// Counters of a capture source (a consistent-enough snapshot: each value is
/// exact, the set is refreshed every few thousand packets and at the end).
struct pcap_source_counters {
  uint64_t frames = 0;       ///< frames read from the file(s)
  uint64_t ip_packets = 0;   ///< IPv4/IPv6 packets handed to the shards
  uint64_t ip_bytes = 0;     ///< their IP-layer bytes
  uint64_t not_ip = 0;       ///< valid frames without IP (ARP, STP, ...)
  uint64_t malformed = 0;    ///< frames whose headers cannot be right (skipped)
  uint64_t truncated = 0;    ///< IP packets captured without their ports
  uint64_t late = 0;         ///< packets older than the open interval (counted in it)
  uint64_t intervals = 0;    ///< intervals closed
  uint64_t files_failed = 0; ///< files that could not be opened
  uint64_t files_unsupported = 0; ///< files of a link type spin does not read
  uint64_t files_damaged = 0;     ///< files that ended with a read error
  uint64_t loops = 0;             ///< completed passes over the file
  uint64_t gauge_waits = 0;       ///< fast replay: waits for the publisher to catch up
  uint64_t backlog_waits = 0;     ///< ... of which for the broker (MQTT backlog)
  uint64_t dns_packets = 0;       ///< packets to or from port 53
  uint64_t dns_messages = 0;      ///< DNS messages parsed
  uint64_t dns_records = 0;       ///< DNS records handed on
  uint64_t dns_errors = 0;        ///< DNS messages rejected (malformed, truncated)
  uint64_t bindings = 0;          ///< ARP / neighbour discovery bindings seen
  uint64_t dns_repeats = 0;       ///< DNS messages skipped as recent repeats
};

/// Reads a pcap or pcapng file with libpcap in its own thread, parses every
/// frame into a packet record and hands records to the shards in bulk, with
/// interval markers whenever the event clock passes a second boundary.
///
/// Modes (`replay_mode`): `fast` keeps the file's timestamps and runs as fast
/// as the pipeline allows (waiting on full queues and on the pipeline gauge,
/// never dropping); `realtime` and `loop` keep the recorded gaps between
/// packets, move timestamps to the present, and close intervals on the wall
/// clock even while the file is quiet.
///
/// A file that cannot be opened, has an unsupported link type or is damaged
/// is logged and counted, never fatal: the source then ends its stream.
class pcap_source {
public:
  struct options {
    std::string file;
    replay_mode mode = replay_mode::fast;
    /// Fast mode: most intervals closed but not yet published.
    int64_t max_intervals_in_flight = 8;
    /// Receives one side batch (DNS records, ARP/ND bindings) per closed
    /// interval, just before the interval's marker goes to the shards; runs in
    /// the reader thread. When empty, DNS is not extracted at all.
    std::function<void(side_batch_ptr)> on_side;
    /// DNS messages repeating one seen less than this long ago are not parsed
    /// again (see dns_repeat_filter); responses and queries. 0: parse all.
    int64_t dns_response_repeat_us = 20'000'000;
    int64_t dns_query_repeat_us = 10'000'000;
  };

  /// `gauge` may be null (no end-to-end flow control).
  pcap_source(options opts, queue_bridge& bridge, pipeline_gauge* gauge);
  ~pcap_source();

  pcap_source(const pcap_source&) = delete;
  pcap_source& operator=(const pcap_source&) = delete;

  /// Starts the reader thread. `on_finished(ok)` runs in that thread after the
  /// end-of-stream marker was queued; `ok` is false if the file could not be
  /// opened at all.
  void start(std::function<void(bool ok)> on_finished = {});

  /// Asks the thread to stop and joins it (also called by the destructor).
  void stop();

  /// Reads the whole file on the calling thread (start() uses this).
  /// Returns false if the file could not be opened.
  bool run();

  pcap_source_counters counters() const;
  status_report status() const;

private:
  struct state;
  std::unique_ptr<state> st_;
  std::thread thread_;
};

} // namespace spin
