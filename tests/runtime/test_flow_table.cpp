#include "spin/runtime/flow_table.hpp"

#include <catch2/catch.hpp>

#include "../support/frames.hpp"
#include <map>
#include <random>

using namespace spin;
using namespace spin::test;

namespace {

packet_record rec(const char* src, const char* dst, uint16_t sport, uint16_t dport,
                  uint32_t bytes) {
  packet_record r;
  r.key.family = 4;
  r.key.proto = 6;
  r.key.src = ip(src);
  r.key.dst = ip(dst);
  r.key.sport = sport;
  r.key.dport = dport;
  r.ip_bytes = bytes;
  r.hash = static_cast<uint32_t>(r.key.hash());
  return r;
}

} // namespace

TEST_CASE("the flow table sums packets and bytes per key", "[flow_table]") {
  flow_table t{1000};
  t.add(rec("192.168.1.2", "203.0.113.1", 40000, 443, 100));
  t.add(rec("192.168.1.2", "203.0.113.1", 40000, 443, 60));
  t.add(rec("203.0.113.1", "192.168.1.2", 443, 40000, 1500));
  REQUIRE(t.size() == 2);
  auto b = t.take(42, 3);
  CHECK(b->second == 42);
  CHECK(b->shard == 3);
  REQUIRE(b->flows.size() == 2);
  CHECK(b->flows[0].packets == 2);
  CHECK(b->flows[0].bytes == 160);
  CHECK(b->flows[1].packets == 1);
  CHECK(b->flows[1].bytes == 1500);
  CHECK(t.size() == 0);
  // The table is empty and usable after take().
  t.add(rec("192.168.1.2", "203.0.113.1", 40000, 443, 1));
  CHECK(t.take(43, 3)->flows.size() == 1);
}

TEST_CASE("the flow table matches a reference map through growth", "[flow_table]") {
  flow_table t{1u << 20, 16};
  std::map<std::tuple<uint16_t, uint16_t, int>, std::pair<uint64_t, uint64_t>> expect;
  std::mt19937 rng{7};
  for (int i = 0; i < 200000; ++i) {
    uint16_t sport = static_cast<uint16_t>(rng() % 5000);
    uint16_t dport = static_cast<uint16_t>(rng() % 7);
    int host = static_cast<int>(rng() % 3);
    const char* dst = host == 0   ? "203.0.113.1"
                      : host == 1 ? "203.0.113.2"
                                  : "2001:db8::1";
    auto r = rec("192.168.1.2", dst, sport, dport, 10 + i % 90);
    t.add(r);
    auto& e = expect[{sport, dport, host}];
    e.first += 1;
    e.second += r.ip_bytes;
  }
  auto b = t.take(1, 0);
  REQUIRE(b->flows.size() == expect.size());
  uint64_t packets = 0, bytes = 0;
  for (auto& f : b->flows) {
    packets += f.packets;
    bytes += f.bytes;
  }
  uint64_t want_packets = 0, want_bytes = 0;
  for (auto& [k, v] : expect) {
    want_packets += v.first;
    want_bytes += v.second;
  }
  CHECK(packets == want_packets);
  CHECK(bytes == want_bytes);
  CHECK(b->overflow_packets == 0);
}

TEST_CASE("a full flow table folds new keys into overflow counters", "[flow_table]") {
  flow_table t{4};
  for (uint16_t p = 1; p <= 10; ++p)
    t.add(rec("192.168.1.2", "203.0.113.1", p, 80, 100));
  t.add(rec("192.168.1.2", "203.0.113.1", 1, 80, 100)); // existing key still counts
  CHECK(t.size() == 4);
  CHECK(t.overflow_packets() == 6);
  auto b = t.take(1, 0);
  CHECK(b->overflow_packets == 6);
  CHECK(b->overflow_bytes == 600);
  CHECK(b->flows[0].packets == 2);
  CHECK(t.take(2, 0)->overflow_packets == 0);
}

TEST_CASE("the first non-empty MACs of a flow are kept", "[flow_table]") {
  flow_table t{16};
  auto r = rec("192.168.1.2", "203.0.113.1", 1, 80, 100);
  t.add(r);
  r.src_mac = mac("aa:bb:cc:00:00:01");
  t.add(r);
  r.src_mac = mac("aa:bb:cc:00:00:02");
  t.add(r);
  auto b = t.take(1, 0);
  CHECK(b->flows[0].src_mac == mac("aa:bb:cc:00:00:01"));
}

TEST_CASE("records that stand for several packets count them all", "[flow_table]") {
  flow_table t{16};
  auto r = rec("192.168.1.2", "203.0.113.1", 1, 80, 15000);
  r.extra_packets = 9; // ten packets, 15000 bytes (a conntrack delta)
  t.add(r);
  t.add(rec("192.168.1.2", "203.0.113.1", 1, 80, 100));
  auto b = t.take(1, 0);
  REQUIRE(b->flows.size() == 1);
  CHECK(b->flows[0].packets == 11);
  CHECK(b->flows[0].bytes == 15100);
}
