#include "spin/actors/flow_aggregator.hpp"
#include "spin/actors/node_registry.hpp"

#include <catch2/catch.hpp>

#include "../support/actor_fixture.hpp"
#include "../support/frames.hpp"
#include "recording_publisher.hpp"

using namespace spin;
using namespace spin::test;

namespace {

packet_record packet(const char* src, const char* dst, uint16_t sport, uint16_t dport,
                     uint32_t bytes, const char* smac = nullptr) {
  packet_record r;
  r.key.src = ip(src);
  r.key.dst = ip(dst);
  r.key.family = r.key.src.family();
  r.key.proto = 17;
  r.key.sport = sport;
  r.key.dport = dport;
  r.ip_bytes = bytes;
  if (smac)
    r.src_mac = mac(smac);
  r.hash = static_cast<uint32_t>(r.key.hash());
  return r;
}

/// Two shards, a registry and a recording publisher on the test scheduler.
struct pipeline : actor_fixture {
  queue_bridge bridge{2, 1 << 16};
  std::shared_ptr<recorded> rec = std::make_shared<recorded>();
  mqtt_publisher_actor publisher;
  node_registry_actor registry;
  std::vector<flow_aggregator_actor> shards;

  explicit pipeline(int64_t retain = 1800) {
    publisher = keep(sys.spawn(recording_publisher, rec));
    node_registry_config cfg;
    cfg.table.lan_prefixes = {*ip_prefix::parse("192.168.0.0/16")};
    cfg.table.retain_time = retain;
    cfg.shards = 2;
    registry = keep(
        sys.spawn(node_registry, cfg, publisher, dns_cache_actor{}, state_store_actor{}));
    for (uint32_t i = 0; i < 2; ++i) {
      auto s = keep(sys.spawn(flow_aggregator, &bridge, i, size_t{1000}, registry));
      bridge.set_waker(i, [s] { caf::anon_send(s, atom::wake::value); });
      shards.push_back(s);
    }
  }
};

} // namespace

TEST_CASE("shards close intervals on markers and the registry merges them",
          "[actors][aggregator][registry]") {
  pipeline p;
  queue_producer prod{p.bridge, queue_producer::full_policy::wait, 4};
  // Second 100: many flows, so both shards get some.
  uint64_t bytes100 = 0;
  for (uint16_t port = 1; port <= 40; ++port) {
    prod.push(packet("192.168.1.2", "203.0.113.1", 40000 + port, port, 100 + port));
    bytes100 += 100 + port;
  }
  prod.broadcast(packet_record::marker(100));
  prod.push(packet("192.168.1.2", "203.0.113.1", 40000, 53, 80));
  prod.push(packet("192.168.1.2", "203.0.113.1", 40000, 53, 80));
  prod.broadcast(packet_record::marker(101));
  prod.broadcast(packet_record::end_of_stream());
  p.run();
  REQUIRE(p.rec->reports.size() == 2);
  auto& r0 = *p.rec->reports[0];
  CHECK(r0.second == 100);
  CHECK(r0.total_count == 40);
  CHECK(r0.total_size == bytes100);
  CHECK(r0.flows.size() == 40);
  auto& r1 = *p.rec->reports[1];
  CHECK(r1.second == 101);
  CHECK(r1.total_count == 2);
  REQUIRE(r1.flows.size() == 1);
  CHECK(r1.flows[0].size == 160);
  CHECK(r1.flows[0].port == 53);
  // Node announcements precede the first report; eos comes last, once.
  REQUIRE(p.rec->log.size() >= 4);
  CHECK(p.rec->log[0].rfind("node ", 0) == 0);
  CHECK(p.rec->log[1].rfind("node ", 0) == 0);
  CHECK(p.rec->log[2] == "report 100");
  CHECK(p.rec->log.back() == "eos");
  CHECK(p.rec->eos == 1);
}

TEST_CASE("an empty interval still closes on every shard", "[actors][aggregator]") {
  pipeline p;
  queue_producer prod{p.bridge, queue_producer::full_policy::wait, 64};
  prod.broadcast(packet_record::marker(5));
  prod.push(packet("192.168.1.2", "203.0.113.1", 1, 2, 10));
  prod.broadcast(packet_record::marker(6));
  // A repeated marker (a second source closing the same second) is ignored.
  prod.broadcast(packet_record::marker(6));
  p.run();
  REQUIRE(p.rec->reports.size() == 2);
  CHECK(p.rec->reports[0]->total_count == 0);
  CHECK(p.rec->reports[1]->total_count == 1);
}

TEST_CASE("records wait in the queue until the shard is woken", "[actors][aggregator]") {
  pipeline p;
  p.bridge.set_waker(0, {});
  p.bridge.set_waker(1, {});
  queue_producer prod{p.bridge, queue_producer::full_policy::wait, 64};
  prod.push(packet("192.168.1.2", "203.0.113.1", 1, 2, 10));
  prod.broadcast(packet_record::marker(7));
  p.run();
  CHECK(p.rec->reports.empty());
  caf::anon_send(p.shards[0], atom::wake::value);
  caf::anon_send(p.shards[1], atom::wake::value);
  p.run();
  REQUIRE(p.rec->reports.size() == 1);
  CHECK(p.rec->reports[0]->total_count == 1);
}

TEST_CASE("the registry expires idle nodes on event time", "[actors][registry]") {
  pipeline p{30};
  queue_producer prod{p.bridge, queue_producer::full_policy::wait, 64};
  prod.push(packet("192.168.1.2", "203.0.113.1", 1, 2, 10));
  prod.broadcast(packet_record::marker(1000));
  // The device keeps talking to another server; 203.0.113.1 goes quiet.
  for (int64_t s = 1001; s <= 1050; ++s) {
    prod.push(packet("192.168.1.2", "203.0.113.2", 1, 2, 10));
    prod.broadcast(packet_record::marker(s));
  }
  p.run();
  REQUIRE(p.rec->deleted.size() == 1);
  auto gone = p.rec->deleted[0];
  // The deleted node is the one of 203.0.113.1, announced at the start.
  bool was_first_server = false;
  for (auto& n : p.rec->nodes)
    if (n->id == gone)
      was_first_server = n->ips.size() == 1 && n->ips[0] == ip("203.0.113.1");
  CHECK(was_first_server);
}

TEST_CASE("the aggregator answers status with its counters", "[actors][aggregator]") {
  pipeline p;
  queue_producer prod{p.bridge, queue_producer::full_policy::wait, 64};
  for (int i = 0; i < 10; ++i)
    prod.push(packet("192.168.1.2", "203.0.113.1", 1, static_cast<uint16_t>(i), 10));
  prod.broadcast(packet_record::marker(1));
  p.run();
  caf::scoped_actor self{p.sys};
  int64_t records = 0;
  for (auto& s : p.shards) {
    self->send(s, atom::status::value);
    p.run();
    self->receive([&](status_report& r) { records += r.counters.at("records"); });
  }
  CHECK(records == 10);
}

TEST_CASE("recent query names: exact matches, retain and clear", "[registry]") {
  recent_query_names r;
  auto v = [](const std::string& s) { return dns_name_view{s, dns_name_hash(s)}; };
  std::vector<std::string> names;
  for (int i = 0; i < 300; ++i)
    names.push_back("host" + std::to_string(i) + ".example");
  for (int i = 0; i < 300; ++i) {
    CHECK(r.find(v(names[i])) == nullptr);
    r.insert(v(names[i]), i);
  }
  CHECK(r.size() == 300);
  for (int i = 0; i < 300; ++i) {
    auto* when = r.find(v(names[i]));
    REQUIRE(when);
    CHECK(*when == i);
  }
  // The same hash with other characters is another name.
  CHECK(r.find(dns_name_view{"other.example", dns_name_hash(names[7])}) == nullptr);
  *r.find(v(names[3])) = 1000;
  r.retain([](int64_t when) { return when >= 250; });
  CHECK(r.size() == 51);
  CHECK(r.find(v(names[249])) == nullptr);
  REQUIRE(r.find(v(names[3])));
  CHECK(*r.find(v(names[3])) == 1000);
  REQUIRE(r.find(v(names[299])));
  CHECK(*r.find(v(names[299])) == 299);
  r.clear();
  CHECK(r.size() == 0);
  CHECK(r.find(v(names[3])) == nullptr);
  r.insert(v(names[3]), 5);
  CHECK(*r.find(v(names[3])) == 5);
}
