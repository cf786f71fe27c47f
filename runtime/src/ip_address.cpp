#include "spin/runtime/ip_address.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstdio>

namespace spin {

std::string ip_address::to_string() const {
  char buf[INET6_ADDRSTRLEN];
  if (is_v4())
    inet_ntop(AF_INET, bytes.data() + 12, buf, sizeof(buf));
  else
    inet_ntop(AF_INET6, bytes.data(), buf, sizeof(buf));
  return buf;
}

std::optional<ip_address> ip_address::parse(std::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN)
    return std::nullopt;
  char buf[INET6_ADDRSTRLEN];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  uint8_t raw[16];
  if (inet_pton(AF_INET, buf, raw) == 1)
    return ip_address::v4(raw);
  if (inet_pton(AF_INET6, buf, raw) == 1)
    return ip_address::v6(raw);
  return std::nullopt;
}

bool ip_prefix::contains(const ip_address& a) const {
  unsigned full = bits / 8;
  if (std::memcmp(a.bytes.data(), network.bytes.data(), full) != 0)
    return false;
  unsigned rest = bits % 8;
  if (rest == 0)
    return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a.bytes[full] & mask) == (network.bytes[full] & mask);
}

std::optional<ip_prefix> ip_prefix::parse(std::string_view text) {
  auto slash = text.find('/');
  auto addr = ip_address::parse(text.substr(0, slash));
  if (!addr)
    return std::nullopt;
  unsigned max_len = addr->is_v4() ? 32 : 128;
  unsigned len = max_len;
  if (slash != std::string_view::npos) {
    auto num = text.substr(slash + 1);
    auto [ptr, ec] = std::from_chars(num.data(), num.data() + num.size(), len);
    if (ec != std::errc{} || ptr != num.data() + num.size() || num.empty() ||
        len > max_len)
      return std::nullopt;
  }
  ip_prefix p;
  p.bits = addr->is_v4() ? len + 96 : len;
  p.network = *addr;
  // Zero the host bits so that to_string() shows the canonical network.
  for (unsigned i = 0; i < 16; ++i) {
    unsigned lo = i * 8;
    if (lo >= p.bits)
      p.network.bytes[i] = 0;
    else if (lo + 8 > p.bits)
      p.network.bytes[i] &= static_cast<uint8_t>(0xff << (8 - (p.bits - lo)));
  }
  return p;
}

std::string ip_prefix::to_string() const {
  return network.to_string() + "/" + std::to_string(network.is_v4() ? bits - 96 : bits);
}

std::string mac_address::to_string() const {
  char buf[18];
  std::snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", bytes[0], bytes[1],
                bytes[2], bytes[3], bytes[4], bytes[5]);
  return buf;
}

std::optional<mac_address> mac_address::parse(std::string_view text) {
  if (text.size() != 17)
    return std::nullopt;
  mac_address m;
  for (size_t i = 0; i < 6; ++i) {
    if (i > 0 && text[i * 3 - 1] != ':' && text[i * 3 - 1] != '-')
      return std::nullopt;
    auto part = text.substr(i * 3, 2);
    unsigned v = 0;
    auto [ptr, ec] = std::from_chars(part.data(), part.data() + 2, v, 16);
    if (ec != std::errc{} || ptr != part.data() + 2)
      return std::nullopt;
    m.bytes[i] = static_cast<uint8_t>(v);
  }
  return m;
}

} // namespace spin
