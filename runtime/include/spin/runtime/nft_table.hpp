#pragma once

#include "spin/runtime/ip_address.hpp"

#include <cstdint>
#include <string>
#include <utility>
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

  /// Enforce SPIN's verdict in the kernel: the table gets the allow, block
  /// and node-pair sets and the rules that drop blocked traffic. false is
  /// passive mode: the table only logs (no sets, no drop rules), and apply()
  /// and flush_sets() succeed without sending anything.
  bool enforce = true;
  /// NFLOG group that dropped (blocked) packets are reported to, so spind can
  /// publish them as BLOCKED.
  uint16_t block_group = 2;
  /// Bytes of each dropped packet copied to user space (headers and ports).
  uint32_t block_snaplen = 128;
  /// At most this many dropped packets per second are reported, per rule
  /// (the kernel's `limit`), so a flood to a blocked address cannot flood
  /// spind too. Every matching packet is dropped all the same. At least 1.
  uint32_t block_log_rate = 20;
  /// Reports allowed in a burst above the rate (the limit's bucket size). At
  /// least 1 (the kernel would turn 0 into its own default of 5).
  uint32_t block_log_burst = 40;
};

/// One change of the enforcement sets, applied as one transaction. Addresses
/// go to the IPv4 or the IPv6 set by their family; the two addresses of a
/// pair must have the same family. Duplicates within one list are sent once.
///
/// Deletions are applied before additions, so an address in both a `_del`
/// and an `_add` list ends up in the set. Adding an element that is already
/// there is not an error. Deleting one that is not there is: the kernel then
/// refuses the whole transaction (nothing of the change is applied), so the
/// caller must delete only what it added (the block manager keeps track).
struct set_change {
  /// Addresses for the allow sets (`allow4`, `allow6`): traffic from or to
  /// them is never dropped, whatever the block sets say (allow beats block).
  std::vector<ip_address> allow_add, allow_del;
  /// Addresses for the block sets (`block4`, `block6`): traffic from or to
  /// them is dropped (and reported on `block_group`).
  std::vector<ip_address> block_add, block_del;
  /// (source, destination) pairs for the node-pair sets (`pair4`, `pair6`):
  /// traffic from the first to the second address is dropped. One direction
  /// per element: the caller passes each direction it wants, normally both.
  std::vector<std::pair<ip_address, ip_address>> pair_add, pair_del;

  bool empty() const {
    return allow_add.empty() && allow_del.empty() && block_add.empty() &&
           block_del.empty() && pair_add.empty() && pair_del.empty();
  }
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
///    LAN interfaces, one rule per interface and direction);
///  - with `enforce` (the default), SPIN's verdict: six named sets, `allow4`
///    and `block4` (type ipv4_addr), `allow6` and `block6` (ipv6_addr),
///    `pair4` (ipv4_addr . ipv4_addr) and `pair6` (ipv6_addr . ipv6_addr),
///    and at the top of every base chain, before the DNS rules (so a blocked
///    DNS server is blocked too):
///      ip saddr @allow4 accept       (and daddr, and ip6 with @allow6)
///      C limit rate R/second burst B packets log group G snaplen S
///        queue-threshold Q
///      C drop
///    for each condition C of `ip saddr @block4`, `ip daddr @block4`, the
///    same for ip6 and @block6, `ip saddr . ip daddr @pair4` and `ip6 saddr
///    . ip6 daddr @pair6`. Allow accepts first, so allow beats block; the
///    limit only limits the reports, every matching packet is dropped. The
///    ignore list is not here: it never changes a verdict.
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
  /// the configuration is invalid; then nothing has changed. The sets of a
  /// new table are empty: after an install, the caller applies its elements
  /// again.
  bool install(std::string& error);

  /// Deletes the table if it exists; no error when it is absent. Done as one
  /// batch "add table, delete table", so it does not race with anything.
  bool remove(std::string& error);

  /// True if the table exists (an NFT_MSG_GETTABLE request). False with an
  /// empty `error` when it does not; false with `error` set when the question
  /// could not be answered (for example without CAP_NET_ADMIN, which the
  /// kernel requires even for reading).
  bool exists(std::string& error) const;

  /// Adds and deletes set elements in one transaction (NFT_MSG_NEWSETELEM
  /// without NLM_F_EXCL, NFT_MSG_DELSETELEM), up to 1024 elements per
  /// message, so changes of any size work. The kernel applies all of it or
  /// nothing. An empty change, or any change in passive mode, sends nothing
  /// and returns true. On failure `error` names the element that failed when
  /// the kernel says which one (extended ACK; otherwise the elements of the
  /// failed message), e.g. an element deleted that is not in its set, or a
  /// set that does not exist (table not installed, or installed passive). A
  /// pair that mixes IPv4 and IPv6 is refused before anything is sent.
  bool apply(const set_change& change, std::string& error);

  /// Empties all six sets in one transaction. True without sending anything
  /// in passive mode.
  bool flush_sets(std::string& error);

  const nft_table_config& config() const { return cfg_; }

private:
  nft_table_config cfg_;
};

} // namespace spin
