#include "spin/runtime/packet_parser.hpp"

namespace spin {

namespace {

inline uint16_t rd16(const uint8_t* p) {
  return static_cast<uint16_t>((p[0] << 8) | p[1]);
}

constexpr uint16_t ethertype_ipv4 = 0x0800;
constexpr uint16_t ethertype_ipv6 = 0x86dd;
constexpr uint16_t ethertype_vlan = 0x8100;
constexpr uint16_t ethertype_qinq = 0x88a8;
constexpr uint16_t ethertype_qinq_old = 0x9100;
constexpr int max_vlan_tags = 4;
constexpr int max_ipv6_ext_headers = 8;

// Fills ports for protocols that have them, from the transport header at `l4`.
inline void read_ports(const uint8_t* l4, size_t avail, uint8_t proto, packet_record& out,
                       parse_extras* extras) {
  switch (proto) {
  case 6:   // TCP
  case 17:  // UDP
  case 33:  // DCCP
  case 132: // SCTP
  case 136: // UDP-Lite
    if (avail >= 4) {
      out.key.sport = rd16(l4);
      out.key.dport = rd16(l4 + 2);
    } else if (extras) {
      extras->truncated = true;
    }
    if (extras) {
      size_t hdr = 0;
      if (proto == 17 || proto == 136)
        hdr = 8;
      else if (proto == 6 && avail >= 14) {
        hdr = static_cast<size_t>(l4[12] >> 4) * 4;
        extras->tcp_seq = (static_cast<uint32_t>(l4[4]) << 24) |
                          (static_cast<uint32_t>(l4[5]) << 16) |
                          (static_cast<uint32_t>(l4[6]) << 8) | l4[7];
        extras->tcp_flags = l4[13];
      }
      if (hdr >= 8 && avail >= hdr) {
        extras->l4_payload = l4 + hdr;
        extras->l4_caplen = avail - hdr;
      } else if (hdr != 0 || proto == 6) {
        extras->truncated = true;
      }
    }
    break;
  case 1:  // ICMP
  case 58: // ICMPv6
    if (avail >= 2)
      out.key.dport = static_cast<uint16_t>((l4[0] << 8) | l4[1]);
    if (extras) {
      extras->l4_payload = l4; // the ICMP header: neighbour discovery reads it
      extras->l4_caplen = avail;
    } else if (extras)
      extras->truncated = true;
    break;
  default:
    break;
  }
}

parse_status parse_ipv4(const uint8_t* p, size_t caplen, size_t wirelen,
                        packet_record& out, parse_extras* extras) {
  if (caplen < 20)
    return parse_status::malformed;
  size_t ihl = static_cast<size_t>(p[0] & 0x0f) * 4;
  if (ihl < 20)
    return parse_status::malformed;
  size_t total = rd16(p + 2);
  if (total == 0) // TSO / BIG TCP captures leave it 0: use the frame length
    total = wirelen;
  if (total < ihl)
    return parse_status::malformed;
  out.key.family = 4;
  out.key.proto = p[9];
  out.key.src = ip_address::v4(p + 12);
  out.key.dst = ip_address::v4(p + 16);
  out.ip_bytes = static_cast<uint32_t>(total > 0xffffffffu ? 0xffffffffu : total);
  uint16_t frag_offset = rd16(p + 6) & 0x1fff;
  if (frag_offset != 0)
    return parse_status::ok; // no transport header in later fragments
  if (caplen < ihl) {
    if (extras)
      extras->truncated = true;
    return parse_status::ok;
  }
  size_t avail = (caplen < total ? caplen : total) - ihl;
  read_ports(p + ihl, avail, out.key.proto, out, extras);
  return parse_status::ok;
}

parse_status parse_ipv6(const uint8_t* p, size_t caplen, size_t wirelen,
                        packet_record& out, parse_extras* extras) {
  if (caplen < 40)
    return parse_status::malformed;
  size_t payload = rd16(p + 4);
  size_t total = payload + 40;
  if (payload == 0 && wirelen > 40) // jumbogram (or BIG TCP): frame length
    total = wirelen;
  out.key.family = 6;
  out.key.src = ip_address::v6(p + 8);
  out.key.dst = ip_address::v6(p + 24);
  out.ip_bytes = static_cast<uint32_t>(total > 0xffffffffu ? 0xffffffffu : total);
  size_t end = caplen < total ? caplen : total;
  uint8_t next = p[6];
  size_t off = 40;
  for (int i = 0; i < max_ipv6_ext_headers; ++i) {
    switch (next) {
    case 0:   // hop-by-hop options
    case 43:  // routing
    case 60:  // destination options
    case 135: // mobility
    case 139: // HIP
    case 140: // shim6
      if (off + 2 > end) {
        out.key.proto = next;
        if (extras)
          extras->truncated = true;
        return parse_status::ok;
      }
      {
        uint8_t nh = p[off];
        off += (static_cast<size_t>(p[off + 1]) + 1) * 8;
        next = nh;
      }
      continue;
    case 51: // authentication header
      if (off + 2 > end) {
        out.key.proto = next;
        if (extras)
          extras->truncated = true;
        return parse_status::ok;
      }
      {
        uint8_t nh = p[off];
        off += (static_cast<size_t>(p[off + 1]) + 2) * 4;
        next = nh;
      }
      continue;
    case 44: // fragment
      if (off + 8 > end) {
        out.key.proto = next;
        if (extras)
          extras->truncated = true;
        return parse_status::ok;
      }
      {
        uint8_t nh = p[off];
        uint16_t frag_offset = rd16(p + off + 2) >> 3;
        off += 8;
        next = nh;
        if (frag_offset != 0) {
          out.key.proto = next;
          return parse_status::ok;
        }
      }
      continue;
    default:
      break;
    }
    break;
  }
  out.key.proto = next;
  if (off > end) {
    if (extras)
      extras->truncated = true;
    return parse_status::ok;
  }
  read_ports(p + off, end - off, next, out, extras);
  return parse_status::ok;
}

} // namespace

parse_status parse_ip(const uint8_t* data, size_t caplen, size_t wirelen,
                      packet_record& out, parse_extras* extras) {
  if (caplen < 1)
    return parse_status::malformed;
  parse_status st;
  switch (data[0] >> 4) {
  case 4:
    st = parse_ipv4(data, caplen, wirelen, out, extras);
    break;
  case 6:
    st = parse_ipv6(data, caplen, wirelen, out, extras);
    break;
  default:
    return parse_status::malformed;
  }
  if (st == parse_status::ok)
    out.hash = static_cast<uint32_t>(out.key.hash());
  return st;
}

namespace {

// Reads the link-layer header of a frame: the ethertype it carries and where
// the network header starts, and (when `macs` is given) the Ethernet
// addresses. False if the frame is too short for its header. Raw IP link
// types have no header: the ethertype follows from the version nibble.
bool link_header(link_type lt, const uint8_t* data, size_t caplen, uint16_t& ethertype,
                 size_t& off, packet_record* macs) {
  switch (lt) {
  case link_type::ethernet:
    if (caplen < 14)
      return false;
    if (macs) {
      std::memcpy(macs->dst_mac.bytes.data(), data, 6);
      std::memcpy(macs->src_mac.bytes.data(), data + 6, 6);
    }
    ethertype = rd16(data + 12);
    off = 14;
    for (int i = 0; i < max_vlan_tags &&
                    (ethertype == ethertype_vlan || ethertype == ethertype_qinq ||
                     ethertype == ethertype_qinq_old);
         ++i) {
      if (caplen < off + 4)
        return false;
      ethertype = rd16(data + off + 2);
      off += 4;
    }
    return true;
  case link_type::linux_sll:
    if (caplen < 16)
      return false;
    // ARPHRD_ETHER with a 6-byte address: the sender's MAC.
    if (macs && rd16(data + 2) == 1 && rd16(data + 4) == 6)
      std::memcpy(macs->src_mac.bytes.data(), data + 6, 6);
    ethertype = rd16(data + 14);
    off = 16;
    return true;
  case link_type::linux_sll2:
    if (caplen < 20)
      return false;
    if (macs && rd16(data + 8) == 1 && data[11] == 6)
      std::memcpy(macs->src_mac.bytes.data(), data + 12, 6);
    ethertype = rd16(data);
    off = 20;
    return true;
  case link_type::null_bsd:
  case link_type::loop:
    // The family's numeric value differs per OS (AF_INET6 is 10, 24, 28 or
    // 30), so look at the IP version nibble instead.
    if (caplen < 5)
      return false;
    off = 4;
    ethertype = (data[4] >> 4) == 6 ? ethertype_ipv6 : ethertype_ipv4;
    return true;
  case link_type::raw:
  case link_type::ipv4:
  case link_type::ipv6:
    off = 0;
    ethertype = caplen > 0 && (data[0] >> 4) == 6 ? ethertype_ipv6 : ethertype_ipv4;
    return true;
  }
  return false;
}

} // namespace

parse_status parse_frame(link_type lt, const uint8_t* data, size_t caplen, size_t wirelen,
                         packet_record& out, parse_extras* extras) {
  out = packet_record{};
  if (wirelen < caplen)
    wirelen = caplen;
  size_t off = 0;
  uint16_t ethertype = 0;
  if (!link_header(lt, data, caplen, ethertype, off, &out))
    return parse_status::malformed;
  if (ethertype != ethertype_ipv4 && ethertype != ethertype_ipv6)
    return parse_status::not_ip;
  return parse_ip(data + off, caplen - off, wirelen - off, out, extras);
}

std::optional<link_type> link_type_from_dlt(int dlt) {
  switch (dlt) {
  case 0:
    return link_type::null_bsd;
  case 1:
    return link_type::ethernet;
  case 12:  // DLT_RAW on most systems (LINKTYPE_RAW in files)
  case 14:  // DLT_RAW on OpenBSD
  case 101: // LINKTYPE_RAW, if a libpcap passes it through
    return link_type::raw;
  case 108:
    return link_type::loop;
  case 113:
    return link_type::linux_sll;
  case 228:
    return link_type::ipv4;
  case 229:
    return link_type::ipv6;
  case 276:
    return link_type::linux_sll2;
  default:
    return std::nullopt;
  }
}

const char* to_string(link_type t) {
  switch (t) {
  case link_type::null_bsd:
    return "NULL (BSD loopback)";
  case link_type::ethernet:
    return "Ethernet";
  case link_type::raw:
    return "raw IP";
  case link_type::loop:
    return "LOOP (OpenBSD loopback)";
  case link_type::linux_sll:
    return "Linux cooked v1";
  case link_type::ipv4:
    return "raw IPv4";
  case link_type::ipv6:
    return "raw IPv6";
  case link_type::linux_sll2:
    return "Linux cooked v2";
  }
  return "unknown";
}

bool parse_arp(link_type lt, const uint8_t* data, size_t caplen, address_binding& out) {
  size_t off = 0;
  uint16_t ethertype = 0;
  if (!link_header(lt, data, caplen, ethertype, off, nullptr))
    return false;
  // htype 1 (Ethernet), ptype IPv4, hlen 6, plen 4, then SHA SPA THA TPA.
  if (ethertype != 0x0806 || caplen < off + 28)
    return false;
  const uint8_t* a = data + off;
  if (rd16(a) != 1 || rd16(a + 2) != ethertype_ipv4 || a[4] != 6 || a[5] != 4)
    return false;
  std::memcpy(out.mac.bytes.data(), a + 8, 6);
  out.address = ip_address::v4(a + 14);
  // A probe (sender 0.0.0.0) announces nothing.
  return !out.mac.empty() && !(a[14] == 0 && a[15] == 0 && a[16] == 0 && a[17] == 0);
}

bool parse_neighbour_discovery(const packet_record& rec, const parse_extras& extras,
                               address_binding& out) {
  if (rec.key.proto != 58 || !extras.l4_payload || extras.l4_caplen < 24)
    return false;
  const uint8_t* p = extras.l4_payload;
  uint8_t type = p[0];
  if (type != 135 && type != 136)
    return false;
  // Options follow the 24-byte message (type, code, checksum, flags, target).
  size_t off = 24;
  uint8_t want = type == 135 ? 1 : 2; // source / target link-layer address
  while (off + 2 <= extras.l4_caplen) {
    size_t len = static_cast<size_t>(p[off + 1]) * 8;
    if (len == 0 || off + len > extras.l4_caplen)
      return false;
    if (p[off] == want && len >= 8) {
      std::memcpy(out.mac.bytes.data(), p + off + 2, 6);
      out.address = type == 135 ? rec.key.src : ip_address::v6(p + 8);
      // A solicitation from :: (duplicate address detection) binds nothing.
      static const uint8_t zero[16] = {};
      if (type == 135 && std::memcmp(rec.key.src.bytes.data(), zero, 16) == 0)
        return false;
      return !out.mac.empty();
    }
    off += len;
  }
  return false;
}

} // namespace spin
