#pragma once

#include "spin/runtime/packet_record.hpp"

#include <cstdint>
#include <memory>
#include <vector>

namespace spin {

/// One flow's counters for one interval, as a shard hands it on.
struct flow_entry {
  flow_key key;
  uint64_t packets = 0;
  uint64_t bytes = 0;
  mac_address src_mac; ///< first non-empty Ethernet source seen for the flow
  mac_address dst_mac; ///< first non-empty Ethernet destination seen
  uint32_t hash = 0;
};

/// The finished table of one shard for one interval. Immutable once sent;
/// travels between actors as `std::shared_ptr<const flow_batch>`.
struct flow_batch {
  /// First second of the interval (UNIX seconds, event time).
  int64_t second = 0;
  /// Index of the shard that produced it.
  uint32_t shard = 0;
  /// One entry per distinct flow key, in first-seen order.
  std::vector<flow_entry> flows;
  /// Packets and bytes that arrived when the table was full: part of the
  /// interval's totals, but attributed to no flow.
  uint64_t overflow_packets = 0;
  uint64_t overflow_bytes = 0;
};

using flow_batch_ptr = std::shared_ptr<const flow_batch>;

/// A flat, open-addressing hash table of the current interval's flows:
/// entries live densely in a vector (so handing them on is a move), and a
/// power-of-two index of 32-bit slots points into it (linear probing, load
/// factor <= 1/2). Lookups compare the stored 32-bit hash before the key.
/// Bounded: once `max_flows` keys exist, packets of new keys are folded into
/// overflow counters. No allocation per packet except when the table grows
/// (amortised; capacity is kept across intervals).
class flow_table {
public:
  /// `max_flows` is the cap of distinct keys per interval (at least 1).
  explicit flow_table(size_t max_flows, size_t initial_capacity = 1024);

  /// Counts one packet record into its flow.
  void add(const packet_record& r) {
    uint32_t h = r.hash;
    size_t i = h & mask_;
    for (;;) {
      uint32_t slot = index_[i];
      if (slot == 0)
        break;
      flow_entry& e = entries_[slot - 1];
      if (e.hash == h && e.key == r.key) {
        e.packets += r.packets();
        e.bytes += r.ip_bytes;
        if (e.src_mac.empty())
          e.src_mac = r.src_mac;
        if (e.dst_mac.empty())
          e.dst_mac = r.dst_mac;
        return;
      }
      i = (i + 1) & mask_;
    }
    insert_at(i, r);
  }

  /// Distinct flows in the current interval.
  size_t size() const { return entries_.size(); }

  /// Packets folded into the overflow counters in the current interval.
  uint64_t overflow_packets() const { return overflow_packets_; }

  /// Moves the current interval out as a batch and starts an empty interval.
  flow_batch_ptr take(int64_t second, uint32_t shard);

  /// Index slots currently allocated (for status and tests).
  size_t capacity() const { return index_.size(); }

private:
  void insert_at(size_t slot, const packet_record& r);
  void grow();

  size_t max_flows_;
  size_t mask_;
  std::vector<uint32_t> index_;
  std::vector<flow_entry> entries_;
  uint64_t overflow_packets_ = 0;
  uint64_t overflow_bytes_ = 0;
  size_t last_size_ = 0;
};

} // namespace spin
