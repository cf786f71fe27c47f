#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace spin {

/// An IPv4 or IPv6 address in 16 bytes. IPv4 addresses are stored in the
/// IPv4-mapped form (::ffff:a.b.c.d) so that one type, one hash and one
/// comparison serve both families; the family is always recoverable.
struct ip_address {
  std::array<uint8_t, 16> bytes{};

  /// Builds an IPv4 address from 4 bytes in network order.
  static ip_address v4(const uint8_t* p) {
    ip_address a;
    a.bytes[10] = 0xff;
    a.bytes[11] = 0xff;
    std::memcpy(a.bytes.data() + 12, p, 4);
    return a;
  }

  /// Builds an IPv6 address from 16 bytes in network order.
  static ip_address v6(const uint8_t* p) {
    ip_address a;
    std::memcpy(a.bytes.data(), p, 16);
    return a;
  }

  /// True for the IPv4-mapped form, i.e. an IPv4 address.
  bool is_v4() const {
    static constexpr uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return std::memcmp(bytes.data(), prefix, 12) == 0;
  }

  /// 4 or 6.
  uint8_t family() const { return is_v4() ? 4 : 6; }

  /// Text form as inet_ntop writes it ("192.0.2.1", "2001:db8::1").
  std::string to_string() const;

  /// Parses the text form of an IPv4 or IPv6 address; nullopt if invalid.
  static std::optional<ip_address> parse(std::string_view text);

  friend bool operator==(const ip_address& a, const ip_address& b) {
    // Two word compares; std::array's == is a memcmp call.
    uint64_t x[2], y[2];
    std::memcpy(x, a.bytes.data(), 16);
    std::memcpy(y, b.bytes.data(), 16);
    return ((x[0] ^ y[0]) | (x[1] ^ y[1])) == 0;
  }
  friend bool operator!=(const ip_address& a, const ip_address& b) { return !(a == b); }
  friend bool operator<(const ip_address& a, const ip_address& b) {
    return a.bytes < b.bytes;
  }
};

/// An address prefix such as 192.168.0.0/16 or fc00::/7.
struct ip_prefix {
  ip_address network;
  /// Prefix length counted on the 128-bit form (IPv4 /16 is stored as /112).
  unsigned bits = 0;

  bool contains(const ip_address& a) const;

  /// Parses "addr/len" (a bare address means a host prefix); nullopt if invalid.
  static std::optional<ip_prefix> parse(std::string_view text);

  std::string to_string() const;
};

/// A 48-bit Ethernet address; all zero means "unknown".
struct mac_address {
  std::array<uint8_t, 6> bytes{};

  bool empty() const {
    return (bytes[0] | bytes[1] | bytes[2] | bytes[3] | bytes[4] | bytes[5]) == 0;
  }
  /// Group (multicast or broadcast) addresses never name a device.
  bool is_group() const { return (bytes[0] & 0x01) != 0; }

  /// "aa:bb:cc:dd:ee:ff", lower case.
  std::string to_string() const;
  static std::optional<mac_address> parse(std::string_view text);

  friend bool operator==(const mac_address& a, const mac_address& b) {
    return a.bytes == b.bytes;
  }
  friend bool operator!=(const mac_address& a, const mac_address& b) { return !(a == b); }
  friend bool operator<(const mac_address& a, const mac_address& b) {
    return a.bytes < b.bytes;
  }
};

/// 64-bit mixing of a byte range; good enough for hash tables, not for
/// adversaries (flow tables are bounded, so collisions cost time, not memory).
inline uint64_t hash_bytes(const void* data, size_t len) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint64_t h = 0x9e3779b97f4a7c15ull ^ len;
  while (len >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
    h ^= h >> 31;
    p += 8;
    len -= 8;
  }
  uint64_t w = 0;
  std::memcpy(&w, p, len);
  h = (h ^ w) * 0x94d049bb133111ebull;
  h ^= h >> 29;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 32;
  return h;
}

} // namespace spin

namespace std {
template <>
struct hash<spin::ip_address> {
  size_t operator()(const spin::ip_address& a) const noexcept {
    return spin::hash_bytes(a.bytes.data(), 16);
  }
};
template <>
struct hash<spin::mac_address> {
  size_t operator()(const spin::mac_address& a) const noexcept {
    return spin::hash_bytes(a.bytes.data(), 6);
  }
};
} // namespace std
