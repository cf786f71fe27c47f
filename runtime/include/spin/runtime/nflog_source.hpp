#pragma once

#include "spin/runtime/dns_cache.hpp"
#include "spin/runtime/queue_bridge.hpp"
#include "spin/runtime/status.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace spin {

/// Reads packets that nftables rules send to NFLOG groups (`log group N`),
/// over nfnetlink_log with libmnl, in its own thread: the live packet source
/// on a stock kernel. Never runs `nft` or any other command: the rules that
/// feed the groups are installed by someone else (spind's own table, or a
/// test).
///
/// Each logged packet's payload starts at the network header; it is parsed
/// with parse_ip and handed to a source_core (interval clock, shard
/// hand-over, DNS extraction, side batches). The IP-layer byte count comes
/// from the IP header, so a short copy range (snap length) still counts the
/// whole packet. The source MAC is taken from NFULA_HWADDR (packets that came
/// in on an Ethernet interface); the destination MAC is left empty (spind
/// resolves it through the neighbour table).
///
/// Intervals follow the wall clock: the reader wakes at every second boundary
/// and closes the interval even when nothing was logged, so the pipeline
/// reports every second. A packet's time is NFULA_TIMESTAMP when the kernel
/// sends one (input and forward hooks) and the receive time otherwise.
///
/// Loss is counted, never fatal: gaps in the per-group sequence numbers
/// (NFULNL_CFG_F_SEQ) are packets the kernel could not deliver (`lost`);
/// ENOBUFS from the socket is counted and logged at most every 10 s;
/// records that find a shard queue full are dropped and counted (`dropped`).
///
/// A packet should be logged to one group only: two groups that both see a
/// packet count it twice (and extract its DNS twice).
class nflog_source {
public:
  /// One NFLOG group to read.
  struct group {
    /// The group number of the nftables rule (`log group N`), 0-65535.
    uint16_t number = 0;
    /// Copy range: bytes of each packet, from the IP header on, that the
    /// kernel copies (it also honours a smaller `snaplen` of the rule).
    /// 0 means the kernel's maximum (65535 minus an attribute header). The
    /// IP header (and the transport ports) must fit: 64 is a good minimum.
    uint32_t snaplen = 0xffff;
    /// True: packets of this group count as traffic. False: only their DNS
    /// (and neighbour discovery) is taken, because another source (such as
    /// conntrack) counts the volume.
    bool count_traffic = true;
    /// True: the group reports packets the firewall dropped (spind's table
    /// logs them to block_group before the drop). They become records
    /// marked flow_flag::blocked, and their DNS is not taken.
    bool blocked = false;
  };

  struct options {
    std::vector<group> groups;
    /// Receives one side batch (DNS records, bindings) per closed interval,
    /// in the reader thread, just before the interval's marker goes to the
    /// shards. When empty, DNS is not extracted.
    std::function<void(side_batch_ptr)> on_side;
    /// See dns_repeat_filter; 0 disables.
    int64_t dns_response_repeat_us = 20'000'000;
    int64_t dns_query_repeat_us = 10'000'000;
    /// Socket receive buffer in bytes. Set with SO_RCVBUFFORCE (needs
    /// CAP_NET_ADMIN, ignores net.core.rmem_max); without it SO_RCVBUF,
    /// capped by rmem_max (a warning says what to set).
    size_t rcvbuf = 8u << 20;
    /// NFULA_CFG_NLBUFSIZ: size of the kernel's per-group batch buffer
    /// (the kernel accepts 4096-131072).
    uint32_t nlbufsiz = 131072;
    /// NFULA_CFG_QTHRESH: packets per netlink message before the kernel
    /// sends the batch.
    uint32_t qthresh = 64;
    /// NFULA_CFG_TIMEOUT: the kernel sends a partial batch after this long
    /// (1/100 s).
    uint32_t flush_timeout_cs = 1;
  };

  /// Records go to `bridge` (with the drop policy: a live source never
  /// waits for the shards); `bridge` must outlive the source.
  nflog_source(options opts, queue_bridge& bridge);
  ~nflog_source();

  nflog_source(const nflog_source&) = delete;
  nflog_source& operator=(const nflog_source&) = delete;

  /// Opens the netfilter netlink socket, sizes its receive buffer, binds
  /// every group (NFULNL_CFG_CMD_BIND) and configures it (copy mode and
  /// range, queue threshold, flush timeout, buffer size, sequence numbers),
  /// then runs the reader thread. Returns false with a message in `error`
  /// when that is impossible: without CAP_NET_ADMIN, or when another process
  /// (another spind, ulogd) has bound one of the groups (the message names
  /// the group). Call once.
  bool start(std::string& error);

  /// Stops the thread, closes the open interval (so its records reach the
  /// shards with their marker), unbinds the groups and closes the socket.
  /// Idempotent; the destructor calls it.
  void stop();

  /// Counters, refreshed by the reader about ten times a second and at every
  /// interval: `packets` (every logged packet received) and `bytes` (the
  /// IP-layer bytes of those that parse), `ip_packets`/`ip_bytes` (those
  /// counted as traffic); loss: `lost` (sequence gaps), `enobufs` (socket
  /// overruns), `dropped` (records that found a shard queue full); packets
  /// skipped: `malformed`, `not_ip`, `no_payload`, `unknown_group`; from the
  /// core: `truncated`, `late`, `intervals` and the DNS counters;
  /// `bad_timestamps` (kernel times replaced by the receive time),
  /// `recv_errors`, `messages` (packet messages) and `datagrams` (kernel
  /// batches read), `rcvbuf` (the size the kernel granted); and per group
  /// `group.N.packets`, `group.N.bytes`, `group.N.lost`. A failed receive is
  /// also `last_error`. Thread-safe.
  status_report status() const;

private:
  struct state;
  std::unique_ptr<state> st_;
  std::thread thread_;
};

} // namespace spin
