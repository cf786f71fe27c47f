#pragma once

#include "spin/runtime/dns.hpp"
#include "spin/runtime/dns_cache.hpp"
#include "spin/runtime/dns_repeat_filter.hpp"
#include "spin/runtime/packet_parser.hpp"
#include "spin/runtime/pipeline_gauge.hpp"
#include "spin/runtime/queue_bridge.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>

namespace spin {

/// Counters every packet source keeps (plain integers, reader thread only).
struct source_counters {
  uint64_t ip_packets = 0;   ///< IPv4/IPv6 packets handed to the shards
  uint64_t ip_bytes = 0;     ///< their IP-layer bytes
  uint64_t truncated = 0;    ///< IP packets captured without their ports
  uint64_t late = 0;         ///< packets older than the open interval (counted in it)
  uint64_t intervals = 0;    ///< intervals closed
  uint64_t gauge_waits = 0;  ///< fast replay: waits for the publisher to catch up
  uint64_t backlog_waits = 0; ///< ... of which for the broker (MQTT backlog)
  uint64_t dns_packets = 0;  ///< packets to or from port 53
  uint64_t dns_messages = 0; ///< DNS messages parsed
  uint64_t dns_records = 0;  ///< DNS records handed on
  uint64_t dns_errors = 0;   ///< DNS messages rejected (malformed, truncated)
  uint64_t dns_repeats = 0;  ///< DNS messages skipped as recent repeats
  uint64_t bindings = 0;     ///< ARP / neighbour discovery bindings seen
  uint64_t blocked = 0;      ///< dropped packets reported by the firewall
};

/// What every packet source does with parsed packets, whatever it reads
/// (capture files, NFLOG): keeps the event clock and puts an interval marker
/// into every shard queue when a second ends; hands packet records to the
/// shards in bulk; extracts DNS (skipping recent repeats) and address
/// bindings into one side batch per interval, sent just before the marker.
/// One instance per reader thread; not thread-safe.
class source_core {
public:
  struct options {
    /// Receives one side batch per closed interval (in the reader thread).
    /// Empty: no DNS or bindings are extracted.
    std::function<void(side_batch_ptr)> on_side;
    /// See dns_repeat_filter; 0 disables.
    int64_t dns_response_repeat_us = 20'000'000;
    int64_t dns_query_repeat_us = 10'000'000;
    /// Full shard queues: wait (capture files) or drop and count (live).
    queue_producer::full_policy policy = queue_producer::full_policy::wait;
    /// Counts intervals in flight (may be null).
    pipeline_gauge* gauge = nullptr;
    /// Wait before closing an interval while this many are in flight (fast
    /// replays only; 0: never wait).
    int64_t max_intervals_in_flight = 0;
    /// Set when the source should stop (ends waits).
    const std::atomic<bool>* stop = nullptr;
  };

  source_core(queue_bridge& bridge, options opts);

  /// Moves the event clock to `ts_us` (a packet's time): closes the open
  /// interval when a later second starts. Packets older than the open
  /// interval count in it (`late`).
  void at(int64_t ts_us);

  /// True while an interval has records, and when its second ends (us).
  bool interval_open() const { return have_interval_; }
  int64_t interval_end_us() const { return (cur_sec_ + 1) * 1000000; }

  /// Closes the open interval (its side batch, then its marker).
  void close_interval();

  /// Counts one IP packet (parsed by parse_frame / parse_ip) into the open
  /// interval. With `count` false (a packet that another source counts) only
  /// its DNS and neighbour discovery are taken. `capture_cut`: the capture
  /// kept less than was on the wire.
  void ip_packet(const packet_record& rec, const parse_extras& extras, int64_t ts_us,
                 bool capture_cut, bool count = true);

  /// A packet the firewall dropped (the blocked-traffic NFLOG group): handed
  /// to the shards marked flow_flag::blocked; its DNS is not taken (the
  /// packet never arrived).
  void blocked_packet(packet_record rec);

  /// An address binding seen on the wire (ARP).
  void binding(const address_binding& b);

  /// A DNS fact a source extracted itself (the kernel module sends answers
  /// and queries, not packets): goes into the open interval's side batch
  /// (bounded like extracted ones). Ignored without `on_side`.
  void dns_fact(const dns_record& r);

  /// Hands every partial batch to the shards now.
  void flush() { producer_.flush(); }

  /// Closes the open interval and ends the record stream.
  void finish();

  /// Stops waiting for full queues (shutdown).
  void cancel() { producer_.cancel(); }

  const source_counters& counters();
  const queue_producer& producer() const { return producer_; }

private:
  void side_facts(const packet_record& rec, const parse_extras& extras, int64_t ts_us,
                  bool capture_cut);
  /// A side batch for the next interval: one the consumer gave back (its
  /// record memory already touched, so filling it costs no page faults) or a
  /// new one.
  std::shared_ptr<side_batch> make_side();

  struct side_pool;

  options opts_;
  queue_producer producer_;
  dns_extractor dns_;
  dns_repeat_filter repeats_;
  /// Side batches the consumer has released, for reuse (shared with their
  /// deleters, which run in the consumer's thread).
  std::shared_ptr<side_pool> side_pool_;
  std::shared_ptr<side_batch> side_;
  size_t last_side_size_ = 0;
  bool have_interval_ = false;
  int64_t cur_sec_ = 0;
  source_counters counters_;
};

} // namespace spin
