#pragma once

#include "spin/runtime/ip_address.hpp"

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace spin {

/// Names of local devices as the router's DHCP server knows them.
struct device_names {
  std::map<mac_address, std::string> by_mac; ///< DHCPv4 leases, static hosts
  std::map<ip_address, std::string> by_ip;   ///< leases and hosts lines without a MAC

  friend bool operator==(const device_names& a, const device_names& b) {
    return a.by_mac == b.by_mac && a.by_ip == b.by_ip;
  }
  friend bool operator!=(const device_names& a, const device_names& b) {
    return !(a == b);
  }
};

/// Where device names come from.
struct device_name_sources {
  /// Lease files in any of the formats below, detected line by line.
  std::vector<std::string> lease_files;
  /// OpenWRT's /etc/config/dhcp (`config host` sections); empty: none.
  std::string dhcp_config;
};

/// Parses lease text, one line at a time, recognising:
/// - dnsmasq (`/var/dhcp.leases`, `/var/lib/misc/dnsmasq.leases`):
///   `EXPIRY MAC IP HOSTNAME CLIENT-ID` (IPv4) and, after a `duid` line,
///   `EXPIRY IAID IPV6 HOSTNAME DUID` (IPv6; the MAC is taken from link-layer
///   DUIDs, types 1 and 3);
/// - odhcpd's lease file: `# IFACE DUID-OR-MAC IAID HOSTNAME VALID ID LEN ADDR/LEN...`;
/// - hosts format (odhcpd's hosts file): `ADDRESS NAME [ALIASES...]`.
/// A hostname of `*` or `-` means none. Lines that fit no format, or carry
/// control characters, are skipped and described in `problems`.
void parse_leases(std::string_view text, std::string_view filename, device_names& out,
                  std::vector<std::string>& problems);

/// Parses OpenWRT's /etc/config/dhcp: `config host` sections with `name` and
/// one or more `mac` (option or list, also space-separated) and `ip`.
void parse_dhcp_config(std::string_view text, std::string_view filename,
                       device_names& out, std::vector<std::string>& problems);

/// Reads every configured file that exists; static hosts win over leases.
device_names read_device_names(const device_name_sources& src,
                               std::vector<std::string>& problems);

/// A fingerprint (modification times and sizes) of the files, to notice changes
/// without reading them.
std::string device_name_files_signature(const device_name_sources& src);

} // namespace spin
