#pragma once

#include "spin/runtime/ip_address.hpp"

#include <cstdint>
#include <cstring>

namespace spin {

/// Identity of a unidirectional flow within one interval: (family, protocol,
/// source, destination, source port, destination port). 40 bytes, no implicit
/// padding, so equality and hashing work on the raw bytes.
///
/// Port conventions (shared by every source and by the traffic generator):
/// TCP, UDP, UDP-Lite, SCTP and DCCP carry their ports; ICMP and ICMPv6 carry
/// sport = 0 and dport = type * 256 + code; any other protocol, and IP
/// fragments after the first, carry 0/0.
struct flow_key {
  ip_address src;
  ip_address dst;
  uint16_t sport = 0;
  uint16_t dport = 0;
  uint8_t family = 0; ///< 4 or 6
  uint8_t proto = 0;  ///< IP protocol number
  /// flow_flag bits: what kind of traffic this is. Part of the identity, so
  /// blocked packets aggregate apart from traffic of the same addresses.
  uint16_t flags = 0;

  /// Word-wise comparison (the hot path compares keys for every packet;
  /// a memcmp call costs more than the five loads it needs).
  friend bool operator==(const flow_key& a, const flow_key& b) {
    uint64_t x[5], y[5];
    std::memcpy(x, &a, sizeof(x));
    std::memcpy(y, &b, sizeof(y));
    return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3]) |
            (x[4] ^ y[4])) == 0;
  }
  friend bool operator!=(const flow_key& a, const flow_key& b) { return !(a == b); }

  /// A 64-bit hash for tables and shard selection: five independent
  /// multiplications (no dependency chain between words), then a final
  /// avalanche so that every output bit depends on every input bit.
  uint64_t hash() const {
    uint64_t w[5];
    std::memcpy(w, this, sizeof(w));
    uint64_t h = w[0] * 0x9e3779b97f4a7c15ull + w[1] * 0xc2b2ae3d27d4eb4full +
                 w[2] * 0x165667b19e3779f9ull + w[3] * 0xd6e8feb86659fd93ull +
                 w[4] * 0xff51afd7ed558ccdull;
    h ^= h >> 32;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 29;
    return h;
  }
};
static_assert(sizeof(flow_key) == 40, "flow_key must stay 40 bytes without padding");

/// Bits of flow_key::flags.
namespace flow_flag {
/// The firewall dropped the packet (it came from the blocked-traffic NFLOG
/// group): reported as `blocked`, not counted as traffic.
constexpr uint16_t blocked = 1;
} // namespace flow_flag

/// IP protocol numbers spin treats specially.
namespace ipproto {
constexpr uint8_t icmp = 1;
constexpr uint8_t tcp = 6;
constexpr uint8_t udp = 17;
constexpr uint8_t icmpv6 = 58;
} // namespace ipproto

/// The port a viewer cares about: the server's port of the connection,
/// whichever direction the packet goes. For ICMP it is the type/code value
/// (dport); otherwise the lower of the two ports, because clients pick
/// ephemeral ports above the service's port (32768-60999 on Linux,
/// 49152-65535 on others, while services sit below). See doc/mqtt.md.
inline uint16_t service_port(const flow_key& k) {
  if (k.proto == ipproto::icmp || k.proto == ipproto::icmpv6)
    return k.dport;
  return k.sport < k.dport ? k.sport : k.dport;
}

/// What a record in a shard queue means.
enum class record_kind : uint8_t {
  /// One packet: key, IP-layer bytes and the link-layer addresses.
  packet = 0,
  /// An interval marker: every record before it belongs to the interval
  /// starting at `marker_second()` or earlier; closes that interval.
  interval_end = 1,
  /// The source has no more data (end of a capture file).
  end_of_stream = 2,
};

/// The fixed-size unit that moves through the hot path: 64 bytes, one cache
/// line, parsed once in the reader thread, never allocated per packet.
struct packet_record {
  flow_key key;      ///< 40 bytes; for markers, bytes 0-7 hold the second
  uint32_t hash = 0; ///< low 32 bits of key.hash(), computed by the reader
  /// IP-layer bytes (IPv4 total length, IPv6 payload + 40) of the packet,
  /// or of all `packets` packets for sources that count in bulk.
  uint32_t ip_bytes = 0;
  mac_address src_mac; ///< Ethernet source, or all zero when unknown
  mac_address dst_mac; ///< Ethernet destination, or all zero when unknown
  record_kind kind = record_kind::packet;
  uint8_t flags = 0;
  /// Packets this record stands for, minus one: 0 for one packet (every
  /// per-packet source), more for sources that report counts (conntrack
  /// deltas, the kernel module's per-second records).
  uint16_t extra_packets = 0;

  /// Packets this record stands for.
  uint32_t packets() const { return 1u + extra_packets; }

  /// Builds an interval marker that closes the interval starting at `second`.
  static packet_record marker(int64_t second) {
    packet_record r;
    r.kind = record_kind::interval_end;
    std::memcpy(r.key.src.bytes.data(), &second, sizeof(second));
    return r;
  }

  /// Builds the end-of-stream marker.
  static packet_record end_of_stream() {
    packet_record r;
    r.kind = record_kind::end_of_stream;
    return r;
  }

  /// The interval start second carried by an interval marker.
  int64_t marker_second() const {
    int64_t s;
    std::memcpy(&s, key.src.bytes.data(), sizeof(s));
    return s;
  }
};
static_assert(sizeof(packet_record) == 64, "packet_record must stay one cache line");

} // namespace spin
