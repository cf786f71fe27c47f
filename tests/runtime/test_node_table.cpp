#include "spin/runtime/node_table.hpp"

#include <catch2/catch.hpp>

#include "../support/frames.hpp"
#include <map>

using namespace spin;
using namespace spin::test;

namespace {

node_table::options lan_options() {
  node_table::options o;
  o.lan_prefixes = {*ip_prefix::parse("192.168.0.0/16"), *ip_prefix::parse("fd00::/8"),
                    *ip_prefix::parse("fe80::/10")};
  o.retain_time = 100;
  o.max_nodes = 1000;
  return o;
}

flow_entry flow(const char* src, const char* dst, uint16_t sport, uint16_t dport,
                uint64_t packets, uint64_t bytes, const char* smac = nullptr,
                const char* dmac = nullptr, uint8_t proto = 6) {
  flow_entry f;
  f.key.src = ip(src);
  f.key.dst = ip(dst);
  f.key.family = f.key.src.family();
  f.key.proto = proto;
  f.key.sport = sport;
  f.key.dport = dport;
  f.packets = packets;
  f.bytes = bytes;
  if (smac)
    f.src_mac = mac(smac);
  if (dmac)
    f.dst_mac = mac(dmac);
  return f;
}

flow_batch_ptr batch(int64_t second, std::vector<flow_entry> flows, uint32_t shard = 0) {
  auto b = std::make_shared<flow_batch>();
  b->second = second;
  b->shard = shard;
  b->flows = std::move(flows);
  return b;
}

const char* dev_mac = "aa:bb:cc:00:00:01";
const char* router_mac = "00:11:22:33:44:55";

} // namespace

TEST_CASE("ephemeral ports fold into one flow per service port", "[node_table]") {
  node_table t{lan_options()};
  node_events ev;
  auto r = t.build_report(
      100,
      {batch(100,
             {flow("192.168.1.2", "203.0.113.1", 40000, 443, 3, 300, dev_mac, router_mac),
              flow("192.168.1.2", "203.0.113.1", 40001, 443, 2, 200, dev_mac, router_mac),
              flow("203.0.113.1", "192.168.1.2", 443, 40000, 4, 4000, router_mac,
                   dev_mac)}),
       batch(100,
             {flow("192.168.1.2", "203.0.113.1", 40002, 80, 1, 60, dev_mac, router_mac)},
             1)},
      ev);
  CHECK(r->second == 100);
  CHECK(r->total_count == 10);
  CHECK(r->total_size == 4560);
  REQUIRE(r->flows.size() == 3);
  // Largest first.
  CHECK(r->flows[0].size == 4000);
  CHECK(r->flows[0].port == 443);
  CHECK(r->flows[1].size == 500);
  CHECK(r->flows[1].count == 5);
  CHECK(r->flows[2].port == 80);
  CHECK(r->flows[1].from == r->flows[0].to);
  // Two nodes, announced once each.
  CHECK(t.size() == 2);
  CHECK(ev.updated.size() == 2);
}

TEST_CASE("a device collects its addresses by MAC; MACs never share a node",
          "[node_table]") {
  node_table t{lan_options()};
  node_events ev;
  t.build_report(
      1,
      {batch(1, {flow("192.168.1.2", "203.0.113.1", 1, 443, 1, 1, dev_mac, router_mac),
                 flow("fd00:1::2", "2001:db8::1", 1, 443, 1, 1, dev_mac, router_mac),
                 flow("192.168.1.3", "203.0.113.1", 1, 443, 1, 1, "aa:bb:cc:00:00:02",
                      router_mac)})},
      ev);
  auto dev = t.find_ip(ip("192.168.1.2"));
  REQUIRE(dev);
  CHECK(t.find_ip(ip("fd00:1::2")) == dev);
  CHECK(t.find_ip(ip("192.168.1.3")) != dev);
  auto snap = t.snapshot(*dev);
  REQUIRE(snap->mac);
  CHECK(snap->mac->to_string() == dev_mac);
  CHECK(snap->ips.size() == 2);
  // The router's MAC is on the remote side of internet traffic: remote
  // addresses are outside the LAN prefixes and never join it.
  CHECK(t.devices() == 2);
  CHECK_FALSE(t.snapshot(*t.find_ip(ip("203.0.113.1")))->mac);
}

TEST_CASE("a plain node merges into the device once its MAC is seen", "[node_table]") {
  node_table t{lan_options()};
  node_events ev;
  t.build_report(1, {batch(1, {flow("192.168.1.2", "203.0.113.1", 1, 443, 1, 1)})}, ev);
  auto plain = *t.find_ip(ip("192.168.1.2"));
  node_events ev2;
  auto r = t.build_report(
      2,
      {batch(2, {flow("192.168.1.2", "203.0.113.1", 1, 443, 1, 1, dev_mac, router_mac)})},
      ev2);
  auto dev = *t.find_ip(ip("192.168.1.2"));
  CHECK(dev != plain);
  REQUIRE(ev2.merged.size() == 1);
  CHECK(ev2.merged[0] == std::make_pair(plain, dev));
  CHECK_FALSE(t.snapshot(plain));
  CHECK(r->flows[0].from == dev);
}

TEST_CASE("a flow never names a node merged away in the same interval", "[node_table]") {
  node_table t{lan_options()};
  node_events ev;
  // The MAC-less flow comes first in the batch.
  auto r = t.build_report(1,
                          {batch(1, {flow("192.168.1.2", "203.0.113.1", 1, 53, 1, 10),
                                     flow("192.168.1.2", "203.0.113.1", 1, 443, 1, 10,
                                          dev_mac, router_mac)})},
                          ev);
  auto dev = *t.find_ip(ip("192.168.1.2"));
  for (auto& f : r->flows)
    CHECK(f.from == dev);
  CHECK(ev.merged.empty());
}

TEST_CASE("an address given to another device moves", "[node_table]") {
  node_table t{lan_options()};
  node_events ev;
  t.build_report(
      1, {batch(1, {flow("192.168.1.2", "203.0.113.1", 1, 443, 1, 1, dev_mac)})}, ev);
  auto first = *t.find_ip(ip("192.168.1.2"));
  t.build_report(
      2,
      {batch(2, {flow("192.168.1.2", "203.0.113.1", 1, 443, 1, 1, "aa:bb:cc:00:00:09")})},
      ev);
  auto second = *t.find_ip(ip("192.168.1.2"));
  CHECK(first != second);
  CHECK(t.snapshot(first)->ips.empty());
  CHECK(t.stats().ips_moved == 1);
}

TEST_CASE("idle nodes expire after the retain time, busy ones stay", "[node_table]") {
  node_table t{lan_options()}; // retain_time 100
  node_events ev;
  t.build_report(1000, {batch(1000, {flow("192.168.1.2", "203.0.113.1", 1, 443, 1, 1)})},
                 ev);
  t.build_report(1090, {batch(1090, {flow("192.168.1.2", "203.0.113.9", 1, 443, 1, 1)})},
                 ev);
  node_events gone;
  t.expire(1099, gone);
  CHECK(gone.deleted.empty());
  t.expire(1101, gone);
  REQUIRE(gone.deleted.size() == 1);
  CHECK(gone.deleted[0] == 2); // 203.0.113.1, idle since 1000
  CHECK_FALSE(t.find_ip(ip("203.0.113.1")));
  CHECK(t.find_ip(ip("192.168.1.2")));
  CHECK(t.stats().nodes_expired == 1);
}

TEST_CASE("beyond max_nodes the longest-idle nodes go first", "[node_table]") {
  auto o = lan_options();
  o.max_nodes = 16;
  o.retain_time = 1000000;
  node_table t{o};
  node_events ev;
  for (int s = 0; s < 30; ++s) {
    auto dst = "203.0.113." + std::to_string(s + 1);
    t.build_report(s, {batch(s, {flow("192.168.1.2", dst.c_str(), 1, 443, 1, 1)})}, ev);
  }
  node_events gone;
  t.expire(30, gone);
  CHECK(t.size() == 16);
  CHECK(t.find_ip(ip("203.0.113.30")));
  CHECK_FALSE(t.find_ip(ip("203.0.113.1")));
  CHECK(t.stats().nodes_evicted == gone.deleted.size());
}

TEST_CASE("a node keeps at most max_ips_per_node addresses", "[node_table]") {
  auto o = lan_options();
  o.max_ips_per_node = 3;
  node_table t{o};
  node_events ev;
  for (int i = 1; i <= 5; ++i) {
    auto src = "fd00:1::" + std::to_string(i);
    t.build_report(
        i, {batch(i, {flow(src.c_str(), "2001:db8::1", 1, 443, 1, 1, dev_mac)})}, ev);
  }
  auto dev = t.find_ip(ip("fd00:1::5"));
  REQUIRE(dev);
  CHECK(t.snapshot(*dev)->ips.size() == 3);
  CHECK_FALSE(t.find_ip(ip("fd00:1::1")));
  CHECK(t.stats().ips_dropped == 2);
}

TEST_CASE("max_flows_per_report keeps the largest and folds the rest", "[node_table]") {
  auto o = lan_options();
  o.max_flows_per_report = 2;
  node_table t{o};
  node_events ev;
  auto r =
      t.build_report(1,
                     {batch(1, {flow("192.168.1.2", "203.0.113.1", 50000, 443, 1, 100),
                                flow("192.168.1.2", "203.0.113.1", 50000, 80, 1, 300),
                                flow("192.168.1.2", "203.0.113.1", 50000, 22, 1, 200)})},
                     ev);
  REQUIRE(r->flows.size() == 2);
  CHECK(r->flows[0].port == 80);
  CHECK(r->flows[1].port == 22);
  CHECK(r->flows_folded == 1);
  CHECK(r->total_size == 600);
  CHECK(r->total_count == 3);
}

TEST_CASE("flat_map finds, overwrites and erases like a map", "[node_table][flat_map]") {
  // A deliberately poor hash (many keys share a home slot) exercises the
  // probe runs and backward-shift erase across the wrap-around.
  struct poor_hash {
    size_t operator()(uint32_t k) const { return (k % 7) + 13; }
  };
  flat_map<uint32_t, int, poor_hash> m{16};
  std::map<uint32_t, int> ref;
  uint64_t x = 12345;
  for (int step = 0; step < 20000; ++step) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    uint32_t k = static_cast<uint32_t>(x >> 40) % 200;
    switch ((x >> 20) % 3) {
    case 0:
      m[k] = step;
      ref[k] = step;
      break;
    case 1:
      CHECK(m.erase(k) == (ref.erase(k) == 1));
      break;
    default: {
      auto* v = m.find(k);
      auto it = ref.find(k);
      REQUIRE((v != nullptr) == (it != ref.end()));
      if (v)
        CHECK(*v == it->second);
    }
    }
    REQUIRE(m.size() == ref.size());
  }
  size_t seen = 0;
  m.for_each([&](uint32_t k, int v) {
    ++seen;
    CHECK(ref.at(k) == v);
  });
  CHECK(seen == ref.size());
}

TEST_CASE("dns_name_hash depends on every character and the length", "[node_table]") {
  CHECK(dns_name_hash("a.example") == dns_name_hash(std::string{"a.example"}));
  CHECK(dns_name_hash("a.example") != dns_name_hash("b.example"));
  CHECK(dns_name_hash("a.example") != dns_name_hash("a.exampl"));
  CHECK(dns_name_hash("") != dns_name_hash(std::string_view("\0", 1)));
  CHECK(dns_name_hash("www.long-name.example.com") !=
        dns_name_hash("www.long-name.example.org"));
}
