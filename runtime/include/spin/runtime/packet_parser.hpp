#pragma once

#include "spin/runtime/packet_record.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace spin {

/// The link-layer framings the parser understands, named by their pcap
/// LINKTYPE_ values (https://www.tcpdump.org/linktypes.html).
enum class link_type : uint16_t {
  null_bsd = 0,     ///< BSD loopback: 4-byte address family in host order
  ethernet = 1,     ///< Ethernet II, with any number (up to 4) of VLAN tags
  raw = 101,        ///< raw IPv4 or IPv6, version from the first nibble
  loop = 108,       ///< OpenBSD loopback: 4-byte address family, network order
  linux_sll = 113,  ///< Linux cooked capture v1 (16-byte header)
  ipv4 = 228,       ///< raw IPv4
  ipv6 = 229,       ///< raw IPv6
  linux_sll2 = 276, ///< Linux cooked capture v2 (20-byte header)
};

/// Maps a libpcap DLT value (what pcap_datalink() returns) to a link_type;
/// nullopt when spin does not read that link type.
std::optional<link_type> link_type_from_dlt(int dlt);

/// Name of a link type for log lines.
const char* to_string(link_type t);

/// Outcome of parsing one frame.
enum class parse_status : uint8_t {
  ok,        ///< an IPv4/IPv6 packet; the record is filled in
  not_ip,    ///< a valid frame that carries no IP (ARP, STP, LLC, ...)
  malformed, ///< an IP header that cannot be right (bad version or lengths)
};

/// Per-packet extras that the record does not carry, for consumers that need
/// the transport payload (DNS extraction).
struct parse_extras {
  /// First byte of the transport payload in the captured data, or nullptr.
  const uint8_t* l4_payload = nullptr;
  /// Bytes of transport payload present in the capture.
  size_t l4_caplen = 0;
  /// True when the capture ended before the transport header did.
  bool truncated = false;
  /// TCP only (when the header was captured): sequence number and flags
  /// (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10), for stream
  /// reassembly of DNS over TCP.
  uint32_t tcp_seq = 0;
  uint8_t tcp_flags = 0;
};

/// Parses one captured frame into `out` (the hash and IP-layer byte count
/// included). Every read is bounds-checked against `caplen`; `wirelen` is the
/// frame's original length, used when the IP header says 0 (TSO/BIG TCP).
/// Never allocates; never reads outside [data, data + caplen).
parse_status parse_frame(link_type lt, const uint8_t* data, size_t caplen, size_t wirelen,
                         packet_record& out, parse_extras* extras = nullptr);

/// An address -> MAC binding announced on the wire.
struct address_binding {
  ip_address address;
  mac_address mac;
};

/// Reads the sender binding of an ARP request or reply (Ethernet/IPv4) from
/// a frame; false if the frame is not such an ARP message.
bool parse_arp(link_type lt, const uint8_t* data, size_t caplen, address_binding& out);

/// Reads the binding an IPv6 neighbour solicitation (source link-layer
/// option, for the packet's source address) or advertisement (target
/// link-layer option, for the target address) announces; `rec` and `extras`
/// come from parse_frame. False if the packet is not such a message.
bool parse_neighbour_discovery(const packet_record& rec, const parse_extras& extras,
                               address_binding& out);

/// Parses an IP packet (the first byte is the version nibble) into `out`.
/// `wirelen` is the packet's original length from this point on.
parse_status parse_ip(const uint8_t* data, size_t caplen, size_t wirelen,
                      packet_record& out, parse_extras* extras = nullptr);

} // namespace spin
