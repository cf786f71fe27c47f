// The DNS and naming rules of node_table (doc/nodes.md).
#include "spin/runtime/node_table.hpp"

#include <catch2/catch.hpp>

#include "../support/frames.hpp"
#include <set>

using namespace spin;
using namespace spin::test;

namespace {

node_table::options opts() {
  node_table::options o;
  o.lan_prefixes = {*ip_prefix::parse("192.168.0.0/16"), *ip_prefix::parse("fd00::/8")};
  o.max_ips_per_node = 8;
  o.max_names_per_node = 4;
  return o;
}

dns_answer_group answer(std::vector<std::string> names, std::vector<const char*> addrs) {
  dns_answer_group g;
  g.names = std::move(names);
  for (auto a : addrs)
    g.addresses.push_back(ip(a));
  return g;
}

std::set<std::string> domains(node_table& t, node_id id) {
  auto s = t.snapshot(id);
  return {s->domains.begin(), s->domains.end()};
}

flow_batch_ptr one_flow(int64_t second, const char* src, const char* dst,
                        const char* smac = nullptr) {
  auto b = std::make_shared<flow_batch>();
  b->second = second;
  flow_entry f;
  f.key.src = ip(src);
  f.key.dst = ip(dst);
  f.key.family = f.key.src.family();
  f.key.proto = 6;
  f.key.sport = 40000;
  f.key.dport = 443;
  f.packets = 1;
  f.bytes = 100;
  if (smac)
    f.src_mac = mac(smac);
  b->flows.push_back(f);
  return b;
}

} // namespace

TEST_CASE("a CNAME chain and all its addresses make one node", "[names]") {
  node_table t{opts()};
  t.apply_answer(answer({"www.shop.example", "shop.edge-cdn.example", "e123.cdn.example"},
                        {"198.51.100.7", "198.51.100.8", "2001:db8::7"}),
                 100);
  auto n = t.find_name("www.shop.example");
  REQUIRE(n);
  CHECK(t.find_name("e123.cdn.example") == n);
  CHECK(t.find_ip(ip("198.51.100.8")) == n);
  CHECK(t.find_ip(ip("2001:db8::7")) == n);
  CHECK(domains(t, *n) == std::set<std::string>{"www.shop.example",
                                                "shop.edge-cdn.example",
                                                "e123.cdn.example"});
  // A second answer of the same name adds its addresses to the same node.
  t.apply_answer(answer({"www.shop.example"}, {"198.51.100.9"}), 110);
  CHECK(t.find_ip(ip("198.51.100.9")) == n);
  CHECK(t.size() == 1);
}

TEST_CASE("CDN-like overlaps: last answer wins per address, no super-node", "[names]") {
  node_table t{opts()};
  // 40 services, each answered with 3 addresses of a pool of 10 shared ones.
  for (int round = 0; round < 3; ++round)
    for (int s = 0; s < 40; ++s) {
      std::vector<std::string> addrs;
      for (int k = 0; k < 3; ++k)
        addrs.push_back("203.0.113." + std::to_string(1 + (s + k * 7) % 10));
      dns_answer_group g;
      g.names = {"svc" + std::to_string(s) + ".example",
                 "svc" + std::to_string(s) + ".cdn.example"};
      for (auto& a : addrs)
        g.addresses.push_back(ip(a.c_str()));
      t.apply_answer(g, 100 + round * 40 + s);
      // Right after its answer, a service's addresses belong to its node.
      auto n = t.find_name(g.names[0]);
      REQUIRE(n);
      for (auto& a : g.addresses)
        CHECK(t.find_ip(a) == n);
    }
  // Every service keeps its own node: 40 names, never merged together.
  std::set<node_id> ids;
  for (int s = 0; s < 40; ++s)
    ids.insert(*t.find_name("svc" + std::to_string(s) + ".example"));
  CHECK(ids.size() == 40);
  for (auto id : ids) {
    auto snap = t.snapshot(id);
    CHECK(snap->domains.size() <= 4);
    CHECK(snap->ips.size() <= 8);
  }
  for (auto& n : t.all()) {
    CHECK(n->domains.size() <= 4);
    CHECK(n->ips.size() <= 8);
  }
}

TEST_CASE("a long chain of shared names stays bounded", "[names]") {
  node_table t{opts()}; // at most 4 names per node
  std::vector<std::string> chain;
  for (int i = 0; i < 30; ++i)
    chain.push_back("hop" + std::to_string(i) + ".example");
  t.apply_answer(answer(chain, {"198.51.100.1"}), 100);
  auto n = t.find_ip(ip("198.51.100.1"));
  REQUIRE(n);
  CHECK(t.snapshot(*n)->domains.size() == 4);
  CHECK(t.stats().names_dropped == 26);
}

TEST_CASE("traffic before the answer keeps its node id; empty nodes merge", "[names]") {
  node_table t{opts()};
  node_events ev;
  t.build_report(
      100, {one_flow(100, "192.168.1.2", "198.51.100.50", "aa:bb:cc:00:00:01")}, ev);
  auto plain = *t.find_ip(ip("198.51.100.50"));
  // The answer arrives: the plain node takes the name, same id.
  t.apply_answer(answer({"api.thermo.example"}, {"198.51.100.50"}), 101);
  CHECK(t.find_name("api.thermo.example") == plain);
  // Another plain node whose only address moves to a named node merges into it.
  t.build_report(
      102, {one_flow(102, "192.168.1.2", "198.51.100.51", "aa:bb:cc:00:00:01")}, ev);
  auto other = *t.find_ip(ip("198.51.100.51"));
  t.apply_answer(answer({"api.thermo.example"}, {"198.51.100.51"}), 103);
  CHECK(t.find_ip(ip("198.51.100.51")) == plain);
  node_events ev2;
  t.build_report(104, {}, ev2);
  REQUIRE(ev2.merged.size() == 1);
  CHECK(ev2.merged[0] == std::make_pair(other, plain));
  CHECK_FALSE(t.snapshot(other));
}

TEST_CASE("device addresses never move to a DNS node; MACs never share", "[names]") {
  node_table t{opts()};
  node_events ev;
  t.build_report(100, {one_flow(100, "192.168.1.2", "198.51.100.1", "aa:bb:cc:00:00:01")},
                 ev);
  t.build_report(100, {one_flow(100, "192.168.1.3", "198.51.100.1", "aa:bb:cc:00:00:02")},
                 ev);
  auto dev1 = *t.find_ip(ip("192.168.1.2"));
  auto dev2 = *t.find_ip(ip("192.168.1.3"));
  // A local name answered with both devices' addresses.
  t.apply_answer(answer({"printer.lan"}, {"192.168.1.2", "192.168.1.3"}), 101);
  CHECK(t.find_ip(ip("192.168.1.2")) == dev1);
  CHECK(t.find_ip(ip("192.168.1.3")) == dev2);
  CHECK(t.snapshot(dev1)->mac != t.snapshot(dev2)->mac);
  CHECK(t.find_name("printer.lan") == dev1);
}

TEST_CASE("queries name the asking device and a node for the name", "[names]") {
  node_table t{opts()};
  auto q =
      t.apply_query(ip("192.168.1.2"), mac("aa:bb:cc:00:00:01"), "time.ntp.example", 100);
  CHECK(t.snapshot(q.from)->mac == mac("aa:bb:cc:00:00:01"));
  auto queried = t.snapshot(q.queried);
  CHECK(queried->ips.empty());
  CHECK(queried->domains == std::vector<std::string>{"time.ntp.example"});
  // The answer then fills the same node.
  t.apply_answer(answer({"time.ntp.example"}, {"198.51.100.123"}), 100);
  CHECK(t.find_ip(ip("198.51.100.123")) == q.queried);
}

TEST_CASE("neighbour bindings name traffic that has no Ethernet header", "[names]") {
  node_table t{opts()};
  t.apply_binding(ip("192.168.1.9"), mac("aa:bb:cc:00:00:09"), true, 100);
  node_events ev;
  t.build_report(101, {one_flow(101, "192.168.1.9", "198.51.100.1")}, ev);
  auto dev = t.find_ip(ip("192.168.1.9"));
  REQUIRE(dev);
  CHECK(t.snapshot(*dev)->mac == mac("aa:bb:cc:00:00:09"));
  t.apply_binding(ip("192.168.1.9"), {}, false, 102);
  // Non-LAN addresses never become devices.
  t.apply_binding(ip("198.51.100.1"), mac("aa:bb:cc:00:00:0a"), true, 103);
  CHECK_FALSE(t.snapshot(*t.find_ip(ip("198.51.100.1")))->mac);
}

TEST_CASE("user names win over DHCP names, by MAC for devices", "[names]") {
  node_table t{opts()};
  node_events ev;
  t.build_report(100, {one_flow(100, "192.168.1.2", "198.51.100.1", "aa:bb:cc:00:00:01")},
                 ev);
  auto dev = *t.find_ip(ip("192.168.1.2"));
  t.set_dhcp_names({{mac("aa:bb:cc:00:00:01"), "thermostat"}}, {});
  CHECK(t.snapshot(dev)->name == "thermostat");
  REQUIRE(t.set_user_name(dev, "hallway thermostat"));
  CHECK(t.snapshot(dev)->name == "hallway thermostat");
  CHECK(t.user_names_by_mac().at(mac("aa:bb:cc:00:00:01")) == "hallway thermostat");
  t.set_dhcp_names({{mac("aa:bb:cc:00:00:01"), "thermo-2"}}, {});
  CHECK(t.snapshot(dev)->name == "hallway thermostat");
  CHECK(t.names_by_address().at(ip("192.168.1.2")) == "hallway thermostat");
  // A remote node is named by its addresses.
  auto remote = *t.find_ip(ip("198.51.100.1"));
  REQUIRE(t.set_user_name(remote, "the cloud"));
  CHECK(t.user_names_by_ip().at(ip("198.51.100.1")) == "the cloud");
  CHECK_FALSE(t.set_user_name(9999, "nobody"));
  // Clearing the user name shows the DHCP name again.
  REQUIRE(t.set_user_name(dev, ""));
  CHECK(t.snapshot(dev)->name == "thermo-2");
}

TEST_CASE("the router's own addresses are left out of reports", "[names]") {
  node_table t{opts()};
  t.set_local_address(ip("192.168.1.1"), true);
  node_events ev;
  auto r =
      t.build_report(100,
                     {one_flow(100, "192.168.1.2", "192.168.1.1", "aa:bb:cc:00:00:01"),
                      one_flow(100, "192.168.1.2", "198.51.100.1", "aa:bb:cc:00:00:01")},
                     ev);
  REQUIRE(r->flows.size() == 1);
  CHECK(r->total_count == 1);
  CHECK(t.stats().ignored_packets == 1);
  CHECK_FALSE(t.find_ip(ip("192.168.1.1")));
  // Gone from the machine: counted again.
  t.set_local_address(ip("192.168.1.1"), false);
  auto r2 = t.build_report(
      101, {one_flow(101, "192.168.1.2", "192.168.1.1", "aa:bb:cc:00:00:01")}, ev);
  CHECK(r2->total_count == 1);
}
