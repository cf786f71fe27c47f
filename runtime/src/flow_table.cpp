#include "spin/runtime/flow_table.hpp"

#include <algorithm>
#include <cstring>

namespace spin {

namespace {

size_t round_up_pow2(size_t n) {
  size_t p = 16;
  while (p < n)
    p <<= 1;
  return p;
}

} // namespace

flow_table::flow_table(size_t max_flows, size_t initial_capacity)
    : max_flows_(std::max<size_t>(max_flows, 1)) {
  size_t cap = round_up_pow2(std::min(initial_capacity, 2 * max_flows_));
  index_.assign(cap, 0);
  mask_ = cap - 1;
}

void flow_table::insert_at(size_t slot, const packet_record& r) {
  if (entries_.size() >= max_flows_) {
    overflow_packets_ += r.packets();
    overflow_bytes_ += r.ip_bytes;
    return;
  }
  if ((entries_.size() + 1) * 2 > index_.size()) {
    grow();
    // The probe position is stale after a rehash: find the free slot again.
    slot = r.hash & mask_;
    while (index_[slot] != 0)
      slot = (slot + 1) & mask_;
  }
  flow_entry e;
  e.key = r.key;
  e.packets = r.packets();
  e.bytes = r.ip_bytes;
  e.src_mac = r.src_mac;
  e.dst_mac = r.dst_mac;
  e.hash = r.hash;
  entries_.push_back(e);
  index_[slot] = static_cast<uint32_t>(entries_.size());
}

void flow_table::grow() {
  size_t cap = index_.size() * 2;
  index_.assign(cap, 0);
  mask_ = cap - 1;
  for (size_t n = 0; n < entries_.size(); ++n) {
    size_t i = entries_[n].hash & mask_;
    while (index_[i] != 0)
      i = (i + 1) & mask_;
    index_[i] = static_cast<uint32_t>(n + 1);
  }
}

flow_batch_ptr flow_table::take(int64_t second, uint32_t shard) {
  auto batch = std::make_shared<flow_batch>();
  batch->second = second;
  batch->shard = shard;
  batch->flows = std::move(entries_);
  batch->overflow_packets = overflow_packets_;
  batch->overflow_bytes = overflow_bytes_;
  last_size_ = batch->flows.size();
  entries_ = std::vector<flow_entry>();
  entries_.reserve(last_size_ + last_size_ / 4);
  std::memset(index_.data(), 0, index_.size() * sizeof(uint32_t));
  overflow_packets_ = 0;
  overflow_bytes_ = 0;
  return batch;
}

} // namespace spin
