#include "spin/runtime/queue_bridge.hpp"

#include <chrono>
#include <thread>

namespace spin {

queue_bridge::queue_bridge(size_t shards, size_t capacity)
    : capacity_(capacity < 1024 ? 1024 : capacity) {
  if (shards == 0)
    shards = 1;
  shards_.reserve(shards);
  for (size_t i = 0; i < shards; ++i)
    shards_.push_back(std::make_unique<shard_queue>(4 * record_queue_traits::BLOCK_SIZE));
}

void queue_bridge::set_waker(size_t i, std::function<void()> wake) {
  shards_[i]->wake = std::move(wake);
}

queue_producer::queue_producer(queue_bridge& bridge, full_policy policy, size_t batch)
    : bridge_(bridge), policy_(policy), batch_(batch == 0 ? 1 : batch) {
  for (size_t i = 0; i < bridge_.shards(); ++i) {
    auto b = std::make_unique<buffer>();
    b->records.reset(new packet_record[batch_]);
    b->token = std::make_unique<moodycamel::ProducerToken>(bridge_.shards_[i]->queue);
    bufs_.push_back(std::move(b));
  }
}

queue_producer::~queue_producer() = default;

void queue_producer::broadcast(const packet_record& control) {
  for (size_t s = 0; s < bufs_.size(); ++s) {
    auto& b = *bufs_[s];
    b.records[b.size++] = control;
    flush_shard(s);
  }
}

void queue_producer::flush() {
  for (size_t s = 0; s < bufs_.size(); ++s)
    if (bufs_[s]->size > 0)
      flush_shard(s);
}

void queue_producer::flush_shard(size_t s) {
  auto& b = *bufs_[s];
  auto& q = *bridge_.shards_[s];
  size_t n = b.size;
  b.size = 0;
  packet_record* first = b.records.get();
  auto cap = static_cast<int64_t>(bridge_.capacity());
  auto over = [&] {
    return q.pending.load(std::memory_order_acquire) + static_cast<int64_t>(n) > cap;
  };
  if (over()) {
    // Control records (interval markers, end of stream) always go through:
    // losing one would merge two seconds or never finish. Only a batch's
    // packet records are dropped.
    bool control_last = n > 0 && first[n - 1].kind != record_kind::packet;
    if (policy_ == full_policy::drop || cancelled_.load(std::memory_order_acquire)) {
      size_t lost = control_last ? n - 1 : n;
      dropped_.fetch_add(lost, std::memory_order_relaxed);
      if (!control_last)
        return;
      first += lost;
      n = 1;
    } else {
      waits_.fetch_add(1, std::memory_order_relaxed);
      // Capture files must not lose records: wait for the shard to catch up.
      while (over()) {
        if (cancelled_.load(std::memory_order_acquire)) {
          size_t lost = control_last ? n - 1 : n;
          dropped_.fetch_add(lost, std::memory_order_relaxed);
          if (!control_last)
            return;
          first += lost;
          n = 1;
          break;
        }
        std::this_thread::sleep_for(std::chrono::microseconds(50));
      }
    }
  }
  if (!q.queue.enqueue_bulk(*b.token, first, n)) {
    dropped_.fetch_add(n, std::memory_order_relaxed); // out of memory
    return;
  }
  auto k = static_cast<int64_t>(n);
  int64_t before = q.pending.fetch_add(k, std::memory_order_acq_rel);
  if (before <= 0 && before + k > 0 && q.wake)
    q.wake();
}

} // namespace spin
