#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace spin {

/// What spind's own nftables table contains. The table is `inet <name>`: one
/// table for IPv4 and IPv6, so every rule exists once.
struct nft_table_config {
  /// The table is `table inet <name>`; spind never touches any other table.
  std::string name = "spin";
  /// Priority of the three base chains (type filter). -10 runs before the
  /// usual filter tables (priority 0), so spind sees packets they drop.
  int priority = -10;
  /// NFLOG group the DNS rules log to (the DNS reader binds to it).
  uint16_t dns_group = 1;
  /// Bytes of each DNS packet copied to user space: enough for answers with
  /// EDNS (larger than 512 bytes), so the DNS parser sees whole messages.
  uint32_t dns_snaplen = 4096;
  /// Also log every other packet (the traffic source without conntrack).
  bool per_packet = false;
  /// NFLOG group of the per-packet rules.
  uint16_t packet_group = 3;
  /// Bytes of every other packet copied: IPv6 + extension headers + ports.
  uint32_t packet_snaplen = 128;
  /// NFTA_LOG_QTHRESHOLD: the kernel batches this many packets into one
  /// netlink message (it also flushes on its own timer), which keeps the
  /// number of messages per second low at high packet rates.
  uint16_t queue_threshold = 64;
  /// Interfaces on the LAN side. Empty: the per-packet rules log on every
  /// interface. Given: only traffic in or out of these interfaces is logged
  /// packet by packet (DNS is always logged on every interface).
  std::vector<std::string> lan_interfaces;
};

/// spind's own nftables table, `table inet <name>`, managed over netlink with
/// libnftnl and libmnl (never by running `nft`). spind creates and removes it
/// itself and never changes anything outside it.
///
/// Contents (nft_table.cpp lists the exact expressions, which are what `nft`
/// itself writes for the same rules):
///  - base chains `forward`, `input` and `output` (type filter, the configured
///    priority, policy accept);
///  - in each: four DNS rules (UDP and TCP, source port 53 and destination
///    port 53) that log to `dns_group` and then accept, so DNS is logged
///    exactly once; `accept` here only ends this table's say, other tables
///    still see the packet;
///  - with `per_packet`: a last rule that logs to `packet_group` (or, with
///    LAN interfaces, one rule per interface and direction).
///
/// Every change is one nf_tables batch, which the kernel applies all or
/// nothing. Every message in it asks for an acknowledgement; the answers are
/// read until every message is accounted for, and an error names the object
/// (table, chain or rule) that failed. The netlink socket exists only for the
/// duration of one call.
class nft_table {
public:
  explicit nft_table(nft_table_config cfg);

  /// Replaces the table atomically. One batch (1) adds the table (a no-op if
  /// it exists), (2) deletes it, so that a leftover of a crashed run goes,
  /// whatever it contains, and (3) adds it again with its chains and rules.
  /// Returns false with a clear `error` when the kernel refuses (EPERM: the
  /// message says that CAP_NET_ADMIN is needed; EAFNOSUPPORT, EOPNOTSUPP or
  /// ENOENT: nf_tables, or the part of it a rule needs, is not available) or
  /// the configuration is invalid; then nothing has changed.
  bool install(std::string& error);

  /// Deletes the table if it exists; no error when it is absent. Done as one
  /// batch "add table, delete table", so it does not race with anything.
  bool remove(std::string& error);

  /// True if the table exists (an NFT_MSG_GETTABLE request). False with an
  /// empty `error` when it does not; false with `error` set when the question
  /// could not be answered (for example without CAP_NET_ADMIN, which the
  /// kernel requires even for reading).
  bool exists(std::string& error) const;

  const nft_table_config& config() const { return cfg_; }

private:
  nft_table_config cfg_;
};

} // namespace spin
