#include "spin/runtime/queue_bridge.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

using namespace spin;

namespace {

packet_record numbered(uint32_t n, uint32_t hash) {
  packet_record r;
  r.ip_bytes = n;
  r.hash = hash;
  return r;
}

} // namespace

TEST_CASE("records reach their shard in order, with one wake-up per burst",
          "[queue_bridge]") {
  queue_bridge bridge{2, 1 << 16};
  int wakes[2] = {0, 0};
  bridge.set_waker(0, [&] { ++wakes[0]; });
  bridge.set_waker(1, [&] { ++wakes[1]; });
  queue_producer prod{bridge, queue_producer::full_policy::wait, 8};
  // hash 0 goes to shard 0, hash 0xffffffff to shard 1.
  for (uint32_t i = 0; i < 20; ++i)
    prod.push(numbered(i, 0));
  prod.push(numbered(100, 0xffffffffu));
  prod.flush();
  CHECK(bridge.depth(0) == 20);
  CHECK(bridge.depth(1) == 1);
  CHECK(wakes[0] == 1); // 3 batches of 8/8/4, but only the first woke the shard
  CHECK(wakes[1] == 1);
  auto tok = bridge.consumer_token(0);
  packet_record buf[64];
  size_t n = bridge.try_dequeue(0, tok, buf, 64);
  REQUIRE(n == 20);
  for (uint32_t i = 0; i < 20; ++i)
    CHECK(buf[i].ip_bytes == i);
  CHECK(bridge.consumed(0, n) == 0);
  // Drained: the next batch wakes the shard again.
  prod.push(numbered(21, 0));
  prod.flush();
  CHECK(wakes[0] == 2);
}

TEST_CASE("broadcast puts a control record behind every shard's data", "[queue_bridge]") {
  queue_bridge bridge{3, 1 << 16};
  queue_producer prod{bridge, queue_producer::full_policy::wait, 64};
  prod.push(numbered(1, 0));
  prod.broadcast(packet_record::marker(1234));
  for (size_t s = 0; s < 3; ++s) {
    auto tok = bridge.consumer_token(s);
    packet_record buf[8];
    size_t n = bridge.try_dequeue(s, tok, buf, 8);
    REQUIRE(n == (s == 0 ? 2u : 1u));
    CHECK(buf[n - 1].kind == record_kind::interval_end);
    CHECK(buf[n - 1].marker_second() == 1234);
  }
}

TEST_CASE("the drop policy drops whole batches when a queue is full", "[queue_bridge]") {
  queue_bridge bridge{1, 1024};
  queue_producer prod{bridge, queue_producer::full_policy::drop, 256};
  for (uint32_t i = 0; i < 2048; ++i)
    prod.push(numbered(i, 0));
  prod.flush();
  CHECK(bridge.depth(0) == 1024);
  CHECK(prod.dropped() == 1024);
}

TEST_CASE("a full queue never loses an interval marker", "[queue_bridge]") {
  queue_bridge bridge{1, 1024};
  queue_producer prod{bridge, queue_producer::full_policy::drop, 256};
  for (uint32_t i = 0; i < 1024; ++i)
    prod.push(numbered(i, 0));
  prod.push(numbered(5000, 0)); // no room: will be dropped
  prod.broadcast(packet_record::marker(77));
  CHECK(prod.dropped() == 1);
  CHECK(bridge.depth(0) == 1025); // the marker went in over the bound
  auto tok = bridge.consumer_token(0);
  std::vector<packet_record> buf(2048);
  size_t n = bridge.try_dequeue(0, tok, buf.data(), buf.size());
  REQUIRE(n == 1025);
  CHECK(buf[n - 1].kind == record_kind::interval_end);
  CHECK(buf[n - 1].marker_second() == 77);
}

TEST_CASE("a concurrent producer and consumer lose nothing and never stall",
          "[queue_bridge]") {
  queue_bridge bridge{1, 4096};
  std::atomic<int> wakes{0};
  std::atomic<bool> woken{false};
  bridge.set_waker(0, [&] {
    ++wakes;
    woken.store(true);
  });
  constexpr uint32_t total = 2000000;
  std::thread producer([&] {
    queue_producer prod{bridge, queue_producer::full_policy::wait, 256};
    for (uint32_t i = 0; i < total; ++i)
      prod.push(numbered(i, 0));
    prod.flush();
  });
  // The consumer behaves like a shard: it runs only after a wake-up and stops
  // when the counter says everything is consumed.
  auto tok = bridge.consumer_token(0);
  std::vector<packet_record> buf(1024);
  uint32_t expected = 0;
  bool in_order = true;
  while (expected < total) {
    while (!woken.exchange(false))
      std::this_thread::yield();
    for (;;) {
      size_t n = bridge.try_dequeue(0, tok, buf.data(), buf.size());
      for (size_t i = 0; i < n; ++i)
        in_order = in_order && buf[i].ip_bytes == expected++;
      if (n == 0 || bridge.consumed(0, n) <= 0)
        break;
    }
  }
  producer.join();
  CHECK(in_order);
  CHECK(expected == total);
  CHECK(bridge.depth(0) == 0);
  CHECK(wakes.load() >= 1);
}
