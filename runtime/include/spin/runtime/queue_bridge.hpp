#pragma once

#include "spin/runtime/packet_record.hpp"

#include <concurrentqueue/concurrentqueue.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

namespace spin {

/// Queue traits for records: large blocks, because records always move in
/// bulk (batches of 64-1024) and small blocks would cost a block switch every
/// 32 records.
struct record_queue_traits : moodycamel::ConcurrentQueueDefaultTraits {
  static const size_t BLOCK_SIZE = 256;
  static const size_t EXPLICIT_INITIAL_INDEX_SIZE = 64;
};

using record_queue = moodycamel::ConcurrentQueue<packet_record, record_queue_traits>;

/// The hand-over between source threads (producers) and the flow aggregator
/// shards (consumers): one lock-free queue per shard, plus a signed counter of
/// records enqueued but not yet consumed. A producer wakes a shard only when
/// that counter goes from <= 0 to > 0 (the shard has drained everything and
/// stopped); a shard keeps draining while the counter stays positive. So a busy
/// pipeline sends no wake-up messages at all, and an idle one sends one per
/// burst. (The counter may dip below zero for a moment when a consumer takes
/// records before their producer has counted them; the <= 0 test covers it.)
class queue_bridge {
public:
  /// `shards` queues, each bounded to about `capacity` records: producers
  /// that find a queue this deep wait (capture files) or drop (live sources).
  queue_bridge(size_t shards, size_t capacity);

  queue_bridge(const queue_bridge&) = delete;
  queue_bridge& operator=(const queue_bridge&) = delete;

  size_t shards() const { return shards_.size(); }
  size_t capacity() const { return capacity_; }

  /// The shard that owns a flow, from the record's 32-bit hash (high bits, so
  /// the shard's own table can use the low bits).
  size_t shard_of(uint32_t hash) const {
    return static_cast<size_t>((static_cast<uint64_t>(hash) * shards_.size()) >> 32);
  }

  /// Installs the function that wakes shard `i`'s consumer; called from
  /// producer threads, so it must be thread-safe (CAF's anon_send is).
  void set_waker(size_t i, std::function<void()> wake);

  /// Records enqueued to shard `i` and not yet consumed (may be briefly < 0).
  int64_t depth(size_t i) const {
    return shards_[i]->pending.load(std::memory_order_acquire);
  }

  /// Consumer side: takes up to `max` records of shard `i` into `out`.
  size_t try_dequeue(size_t i, moodycamel::ConsumerToken& tok, packet_record* out,
                     size_t max) {
    return shards_[i]->queue.try_dequeue_bulk(tok, out, max);
  }

  /// Consumer side: reports `n` records of shard `i` consumed; returns how
  /// many remain. The consumer may stop (and will be woken) when it is <= 0.
  int64_t consumed(size_t i, size_t n) {
    auto k = static_cast<int64_t>(n);
    return shards_[i]->pending.fetch_sub(k, std::memory_order_acq_rel) - k;
  }

  /// A consumer token for shard `i` (one per consuming actor).
  moodycamel::ConsumerToken consumer_token(size_t i) {
    return moodycamel::ConsumerToken(shards_[i]->queue);
  }

private:
  friend class queue_producer;

  struct alignas(64) shard_queue {
    explicit shard_queue(size_t initial) : queue(initial) {}
    record_queue queue;
    alignas(64) std::atomic<int64_t> pending{0};
    std::function<void()> wake;
  };

  std::vector<std::unique_ptr<shard_queue>> shards_;
  size_t capacity_;
};

/// One producer (a source thread) of a queue_bridge. Buffers records per shard
/// and hands them over with one bulk enqueue per `batch` records. Not
/// thread-safe: one instance per producing thread.
class queue_producer {
public:
  /// What to do when a shard's queue is at capacity.
  enum class full_policy {
    wait, ///< wait for the shard (capture files: never lose a packet)
    drop, ///< drop the batch and count it (live sources: never stall the kernel)
  };

  queue_producer(queue_bridge& bridge, full_policy policy, size_t batch = 512);
  ~queue_producer();

  queue_producer(const queue_producer&) = delete;
  queue_producer& operator=(const queue_producer&) = delete;

  /// Adds one packet record to its shard's batch.
  void push(const packet_record& r) {
    size_t s = bridge_.shard_of(r.hash);
    auto& b = *bufs_[s];
    b.records[b.size++] = r;
    if (b.size == batch_)
      flush_shard(s);
  }

  /// Adds a control record (interval marker, end of stream) to every shard
  /// and flushes everything, so that it follows all earlier records.
  void broadcast(const packet_record& control);

  /// Hands every partial batch over now.
  void flush();

  /// Stops waiting for full queues (for shutdown); later batches are dropped.
  void cancel() { cancelled_.store(true, std::memory_order_release); }

  /// Records dropped because a queue was full (drop policy) or after cancel().
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

  /// Times the producer had to wait for a full queue (wait policy).
  uint64_t waits() const { return waits_.load(std::memory_order_relaxed); }

private:
  struct buffer {
    std::unique_ptr<packet_record[]> records;
    size_t size = 0;
    std::unique_ptr<moodycamel::ProducerToken> token;
  };

  void flush_shard(size_t s);

  queue_bridge& bridge_;
  full_policy policy_;
  size_t batch_;
  std::vector<std::unique_ptr<buffer>> bufs_;
  std::atomic<bool> cancelled_{false};
  std::atomic<uint64_t> dropped_{0};
  std::atomic<uint64_t> waits_{0};
};

} // namespace spin
