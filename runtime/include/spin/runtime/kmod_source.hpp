#pragma once

#include "spin/runtime/dns.hpp"
#include "spin/runtime/dns_cache.hpp"
#include "spin/runtime/packet_record.hpp"
#include "spin/runtime/queue_bridge.hpp"
#include "spin/runtime/status.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

namespace spin {

/// What the decoder of the module's traffic channel counts.
struct kmod_decode_counts {
  uint64_t messages = 0;     ///< netlink messages walked
  uint64_t traffic = 0;      ///< TRAFFIC records
  uint64_t blocked = 0;      ///< BLOCKED records
  uint64_t dns_answers = 0;  ///< DNS_ANSWER records
  uint64_t dns_queries = 0;  ///< DNS_QUERY records
  uint64_t malformed = 0;    ///< records or messages that do not parse (skipped)
  uint64_t bad_version = 0;  ///< records of another protocol version (skipped)
  uint64_t unknown_type = 0; ///< record types this version does not know (skipped)
  /// The errno of the last NLMSG_ERROR the module sent (0: none), e.g.
  /// EPERM for a registration without CAP_NET_ADMIN.
  int error = 0;
};

/// Receives what kmod_decode finds, in order.
class kmod_sink {
public:
  virtual ~kmod_sink() = default;
  /// A TRAFFIC (blocked false) or BLOCKED record as a packet record: key,
  /// IP-layer bytes, packets (extra_packets = packets - 1), hash; MACs
  /// unknown (zero). ICMP carries ports 0/0, as the module sends them.
  virtual void flow(const packet_record& r, bool blocked) = 0;
  /// A DNS_ANSWER (kind answer: address, ttl, qtype 1/28, name) or DNS_QUERY
  /// (kind query: the client's address, name) record; timestamp, peer and
  /// MAC are left for the caller.
  virtual void dns(const dns_record& r) = 0;
};

/// Walks every netlink message of one datagram from the module (protocol
/// 31, ../shared/reference/spin-protocols.md s.1.1) and every record in
/// each, checking every length against what was received: a short or
/// inconsistent message or record is counted and skipped, never read past.
/// Pure function of its input (tested on hand-built datagrams).
void kmod_decode(const uint8_t* data, size_t size, kmod_sink& sink,
                 kmod_decode_counts& c);

/// Reads spin.ko's traffic channel (netlink protocol 31) with libmnl in its
/// own thread: the module aggregates per flow and second in the kernel, so
/// this source receives one record per flow per second instead of one per
/// packet, and hands them to the shards through a source_core like every
/// other source (everything downstream is unchanged).
///
/// Protocol: registers by sending "Hello!" (the module answers a refusal
/// with a netlink error: EPERM without CAP_NET_ADMIN, ENOSPC when its
/// listener slots are taken, which start() reports), then pings every
/// `ping_every` messages and at least once a second, as the protocol
/// requires. Intervals follow the wall clock (the module's records carry no
/// time; it flushes once a second): records count in the second they
/// arrive in, and every second is closed, records or not. DNS answers and
/// queries go into the side batch (names converted from wire form with the
/// same rules as the DNS parser). Loss is counted, never fatal: ENOBUFS
/// (`enobufs`), full shard queues (`dropped`); the module's own drop counter
/// is in /proc/net/spin.
class kmod_source {
public:
  struct options {
    /// Receives one side batch per interval (DNS records); empty: DNS is
    /// not taken.
    std::function<void(side_batch_ptr)> on_side;
    /// Socket receive buffer (SO_RCVBUFFORCE with CAP_NET_ADMIN).
    size_t rcvbuf = 4u << 20;
    /// Keepalive every this many received netlink messages (old clients: 50).
    unsigned ping_every = 50;
    /// How long start() waits for a refusal of the registration.
    int register_wait_ms = 300;
  };

  kmod_source(options opts, queue_bridge& bridge);
  ~kmod_source();
  kmod_source(const kmod_source&) = delete;
  kmod_source& operator=(const kmod_source&) = delete;

  /// True when the running kernel has the module's traffic protocol (a
  /// netlink socket of protocol 31 opens): spin.ko is loaded.
  static bool available();

  /// Opens the socket, registers, and starts the reader thread. False with
  /// a clear `error`: module not loaded, registration refused (and why).
  bool start(std::string& error);

  /// Stops the thread, closes the open interval, closes the socket (which
  /// unregisters). Idempotent.
  void stop();

  /// Counters: `datagrams`, `messages`, `traffic`, `blocked`, `dns_answers`,
  /// `dns_queries`, `packets`, `bytes` (what the traffic records carried),
  /// `malformed`, `bad_version`, `unknown_type`, `pings`, `enobufs`,
  /// `recv_errors`, `dropped`, `intervals`, `late`, `dns_records`.
  status_report status() const;

private:
  struct state;
  std::unique_ptr<state> st_;
  std::thread thread_;
};

} // namespace spin
