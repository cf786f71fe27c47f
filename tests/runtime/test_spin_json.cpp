#include "spin/runtime/spin_json.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>

#include "../support/frames.hpp"

using namespace spin;
using namespace spin::test;
namespace json = boost::json;

TEST_CASE("NODE objects carry the reference fields in order", "[json]") {
  node_info n;
  n.id = 10;
  n.lastseen = 1497622511;
  n.ips = {ip("192.0.2.1"), ip("2001:db8::1")};
  n.domains = {"www.example.nl"};
  n.mac = mac("e4:11:e0:1a:11:6b");
  n.name = "thermostat \"living\"";
  CHECK(json::serialize(node_to_json(n)) ==
        R"({"id":10,"lastseen":1497622511,"ips":["192.0.2.1","2001:db8::1"],)"
        R"("domains":["www.example.nl"],"mac":"e4:11:e0:1a:11:6b",)"
        R"("name":"thermostat \"living\""})");
  node_info bare;
  bare.id = 3;
  CHECK(json::serialize(node_to_json(bare)) ==
        R"({"id":3,"lastseen":0,"ips":[],"domains":[]})");
}

TEST_CASE("traffic messages splice cached node tails", "[json]") {
  node_info a;
  a.id = 1;
  a.ips = {ip("192.168.1.2")};
  a.mac = mac("aa:bb:cc:00:00:01");
  node_info b;
  b.id = 2;
  b.ips = {ip("203.0.113.1")};
  std::string ta = node_tail_json(a), tb = node_tail_json(b);
  interval_report r;
  r.second = 1700000000;
  r.total_size = 700;
  r.total_count = 7;
  r.flows = {{1, 2, 6, 443, 500, 5}, {2, 1, 17, 53, 200, 2}};
  std::string out;
  append_traffic_json(out, r, [&](node_id id) -> const std::string* {
    return id == 1 ? &ta : id == 2 ? &tb : nullptr;
  });
  auto v = json::parse(out);
  auto& o = v.as_object();
  CHECK(o.at("command") == "traffic");
  CHECK(o.at("argument") == "");
  auto& res = o.at("result").as_object();
  CHECK(res.at("timestamp") == 1700000000);
  CHECK(res.at("total_size") == 700);
  CHECK(res.at("total_count") == 7);
  auto& flows = res.at("flows").as_array();
  REQUIRE(flows.size() == 2);
  auto& f0 = flows[0].as_object();
  // The flow's node equals the nodeInfo object (lastseen = the interval).
  a.lastseen = r.second;
  CHECK(f0.at("from") == json::value(node_to_json(a)));
  CHECK(f0.at("size") == 500);
  CHECK(f0.at("count") == 5);
  CHECK(f0.at("protocol") == 6);
  CHECK(f0.at("port") == 443);
  // An unknown node still yields a complete (empty) node object.
  r.flows = {{9, 2, 6, 443, 1, 1}};
  out.clear();
  append_traffic_json(out, r, [&](node_id) -> const std::string* { return nullptr; });
  auto v2 = json::parse(out);
  auto& from = v2.at("result").at("flows").at(0).at("from").as_object();
  CHECK(from.at("id") == 9);
  CHECK(from.at("ips").as_array().empty());
}

TEST_CASE("messages have command, argument and result", "[json]") {
  CHECK(message_json("serverRestart", "", "") ==
        R"({"command":"serverRestart","argument":"","result":""})");
}
