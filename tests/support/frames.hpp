#pragma once

// Builders of hand-made frames for parser and pipeline tests.

#include "spin/runtime/ip_address.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace spin::test {

using bytes = std::vector<uint8_t>;

inline void put16(bytes& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}

inline ip_address ip(const char* text) {
  return *ip_address::parse(text);
}

inline mac_address mac(const char* text) {
  return *mac_address::parse(text);
}

/// An L4 header (ports only matter to spin) plus zero payload.
inline bytes l4_ports(uint16_t sport, uint16_t dport, size_t header_len, size_t payload) {
  bytes b;
  put16(b, sport);
  put16(b, dport);
  b.resize(header_len + payload, 0);
  if (header_len == 20) // TCP: data offset 5 words
    b[12] = 0x50;
  return b;
}

/// An IPv4 packet with the given protocol and L4 bytes.
inline bytes ipv4(const char* src, const char* dst, uint8_t proto, const bytes& l4,
                  uint16_t frag_field = 0) {
  bytes b;
  uint16_t total = static_cast<uint16_t>(20 + l4.size());
  b.push_back(0x45);
  b.push_back(0);
  put16(b, total);
  put16(b, 0x1234);
  put16(b, frag_field);
  b.push_back(64);
  b.push_back(proto);
  put16(b, 0);
  auto s = ip(src), d = ip(dst);
  b.insert(b.end(), s.bytes.begin() + 12, s.bytes.end());
  b.insert(b.end(), d.bytes.begin() + 12, d.bytes.end());
  b.insert(b.end(), l4.begin(), l4.end());
  return b;
}

/// An IPv6 packet; `ext` are extension headers placed before the L4 bytes
/// (their next-header fields must already be right), `first_next` is the
/// next-header value of the fixed header.
inline bytes ipv6(const char* src, const char* dst, uint8_t first_next, const bytes& ext,
                  const bytes& l4) {
  bytes b;
  b.push_back(0x60);
  b.push_back(0);
  b.push_back(0);
  b.push_back(0);
  put16(b, static_cast<uint16_t>(ext.size() + l4.size()));
  b.push_back(first_next);
  b.push_back(64);
  auto s = ip(src), d = ip(dst);
  b.insert(b.end(), s.bytes.begin(), s.bytes.end());
  b.insert(b.end(), d.bytes.begin(), d.bytes.end());
  b.insert(b.end(), ext.begin(), ext.end());
  b.insert(b.end(), l4.begin(), l4.end());
  return b;
}

/// An Ethernet frame around `payload`, with optional VLAN tags.
inline bytes ethernet(const char* dst_mac, const char* src_mac, uint16_t ethertype,
                      const bytes& payload, std::vector<uint16_t> vlan_tpids = {}) {
  bytes b;
  auto d = mac(dst_mac), s = mac(src_mac);
  b.insert(b.end(), d.bytes.begin(), d.bytes.end());
  b.insert(b.end(), s.bytes.begin(), s.bytes.end());
  for (auto tpid : vlan_tpids) {
    put16(b, tpid);
    put16(b, 7); // VLAN id 7
  }
  put16(b, ethertype);
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

} // namespace spin::test
