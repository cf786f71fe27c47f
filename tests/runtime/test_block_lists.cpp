#include "spin/runtime/block_lists.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "../support/frames.hpp"
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <unistd.h>

using namespace spin;
using namespace spin::test;

namespace {

node_info service(node_id id, std::vector<const char*> ips,
                  std::vector<std::string> domains) {
  node_info n;
  n.id = id;
  for (auto* s : ips)
    n.ips.push_back(ip(s));
  n.domains = std::move(domains);
  return n;
}

node_info device(node_id id, const char* m, std::vector<const char*> ips) {
  auto n = service(id, std::move(ips), {});
  n.mac = mac(m);
  return n;
}

std::vector<ip_address> ips(std::vector<const char*> v) {
  std::vector<ip_address> out;
  for (auto* s : v)
    out.push_back(ip(s));
  std::sort(out.begin(), out.end());
  return out;
}

template <class T>
std::vector<T> sorted(std::vector<T> v) {
  std::sort(v.begin(), v.end());
  return v;
}

} // namespace

TEST_CASE("blocking a node blocks its addresses and follows new ones", "[block_lists]") {
  block_lists bl;
  std::string err;
  block_lists::delta d;
  auto s = service(7, {"203.0.113.1", "2001:db8::1"}, {"example.com"});
  REQUIRE(bl.add_node(list_kind::block, s, d, err));
  CHECK(sorted(d.firewall.block_add) == ips({"203.0.113.1", "2001:db8::1"}));
  CHECK(d.list_changed[0]);
  CHECK(d.persist);
  CHECK(bl.list(list_kind::block) == ips({"203.0.113.1", "2001:db8::1"}));

  // A new DNS answer gives the node another address: it is blocked too.
  block_lists::delta d2;
  s.ips.push_back(ip("203.0.113.2"));
  bl.node_changed(s, d2);
  CHECK(d2.firewall.block_add == ips({"203.0.113.2"}));
  CHECK(d2.firewall.block_del.empty());

  // The same node with a new id (after a restart, or merged) is found by name.
  block_lists::delta d3;
  auto again = service(99, {"203.0.113.9"}, {"example.com"});
  bl.node_changed(again, d3);
  CHECK(d3.firewall.block_add == ips({"203.0.113.9"}));

  // Unblocking removes exactly what the block added.
  block_lists::delta d4;
  REQUIRE(bl.remove_node(list_kind::block, again, d4, err));
  CHECK(sorted(d4.firewall.block_del) ==
        ips({"203.0.113.1", "2001:db8::1", "203.0.113.2", "203.0.113.9"}));
  CHECK(bl.list(list_kind::block).empty());
  CHECK_FALSE(bl.remove_node(list_kind::block, again, d4, err));
  CHECK(err == "node 99 is not on the block list");
}

TEST_CASE("an address held by two sources stays until both are gone", "[block_lists]") {
  block_lists bl;
  std::string err;
  block_lists::delta d;
  auto a = service(1, {"198.51.100.1", "198.51.100.2"}, {"a.example"});
  auto b = service(2, {"198.51.100.2"}, {"b.example"});
  REQUIRE(bl.add_node(list_kind::block, a, d, err));
  REQUIRE(bl.add_node(list_kind::block, b, d, err));
  REQUIRE(bl.add_ip(list_kind::block, ip("198.51.100.1"), d, err));
  block_lists::delta r;
  REQUIRE(bl.remove_node(list_kind::block, a, r, err));
  // .1 was also added one by one... but remove_node also takes the node's
  // one-by-one addresses; .2 is still held by b.
  CHECK(r.firewall.block_del == ips({"198.51.100.1"}));
  CHECK(bl.list(list_kind::block) == ips({"198.51.100.2"}));
}

TEST_CASE("remove_ip takes an address off and the node entry does not re-add it",
          "[block_lists]") {
  block_lists bl;
  std::string err;
  block_lists::delta d;
  auto s = service(3, {"192.0.2.1", "192.0.2.2"}, {"x.example"});
  REQUIRE(bl.add_node(list_kind::block, s, d, err));
  block_lists::delta r;
  REQUIRE(bl.remove_ip(list_kind::block, ip("192.0.2.1"), r, err));
  CHECK(r.firewall.block_del == ips({"192.0.2.1"}));
  block_lists::delta again;
  bl.node_changed(s, again);
  CHECK(again.firewall.block_add.empty());
  CHECK(bl.list(list_kind::block) == ips({"192.0.2.2"}));
  CHECK_FALSE(bl.remove_ip(list_kind::block, ip("192.0.2.1"), r, err));
  CHECK(err == "192.0.2.1 is not on the block list");
  // Blocking the node again takes every address it has, that one too.
  block_lists::delta readd;
  REQUIRE(bl.add_node(list_kind::block, s, readd, err));
  CHECK(readd.firewall.block_add == ips({"192.0.2.1"}));
}

TEST_CASE("allow and ignore lists are separate from block", "[block_lists]") {
  block_lists bl;
  std::string err;
  block_lists::delta d;
  auto dev = device(5, "aa:bb:cc:00:00:05", {"192.168.1.5"});
  REQUIRE(bl.add_node(list_kind::allow, dev, d, err));
  CHECK(d.firewall.allow_add == ips({"192.168.1.5"}));
  CHECK(d.firewall.block_add.empty());
  // The device gets an IPv6 address: allowed too.
  block_lists::delta d2;
  dev.ips.push_back(ip("fd00::5"));
  bl.node_changed(dev, d2);
  CHECK(d2.firewall.allow_add == ips({"fd00::5"}));
  // A different device never matches the MAC entry.
  block_lists::delta d3;
  bl.node_changed(device(5, "aa:bb:cc:00:00:06", {"192.168.1.6"}), d3);
  CHECK(d3.firewall.allow_add.empty());

  block_lists::delta d4;
  REQUIRE(bl.add_ip(list_kind::ignore, ip("192.168.1.1"), d4, err));
  CHECK(d4.firewall.empty());
  CHECK(d4.ignore_changed);
  CHECK(bl.contains(list_kind::ignore, ip("192.168.1.1")));
}

TEST_CASE("the router's own addresses are ignored until the user says otherwise",
          "[block_lists]") {
  block_lists bl;
  std::string err;
  block_lists::delta d;
  bl.set_local_address(ip("192.168.1.1"), true, d);
  bl.set_local_address(ip("fd00::1"), true, d);
  CHECK(d.ignore_changed);
  CHECK(bl.list(list_kind::ignore) == ips({"192.168.1.1", "fd00::1"}));
  block_lists::delta r;
  REQUIRE(bl.remove_ip(list_kind::ignore, ip("fd00::1"), r, err));
  CHECK(bl.list(list_kind::ignore) == ips({"192.168.1.1"}));
  // The address going and coming back does not undo the user's choice.
  bl.set_local_address(ip("fd00::1"), false, r);
  bl.set_local_address(ip("fd00::1"), true, r);
  CHECK(bl.list(list_kind::ignore) == ips({"192.168.1.1"}));
  REQUIRE(bl.add_ip(list_kind::ignore, ip("203.0.113.5"), r, err));
  block_lists::delta reset;
  bl.reset_ignores(reset);
  CHECK(reset.ignore_changed);
  CHECK(bl.list(list_kind::ignore) == ips({"192.168.1.1", "fd00::1"}));
}

TEST_CASE("a node-pair block blocks both directions of that pair only", "[block_lists]") {
  block_lists bl;
  std::string err;
  block_lists::delta d;
  auto dev = device(1, "aa:bb:cc:00:00:01", {"192.168.1.2", "fd00::2"});
  auto srv = service(2, {"203.0.113.7", "2001:db8::7"}, {"srv.example"});
  REQUIRE(bl.set_pair(dev, srv, true, d, err));
  using P = std::pair<ip_address, ip_address>;
  CHECK(sorted(d.firewall.pair_add) == sorted(std::vector<P>{
                                           {ip("192.168.1.2"), ip("203.0.113.7")},
                                           {ip("203.0.113.7"), ip("192.168.1.2")},
                                           {ip("fd00::2"), ip("2001:db8::7")},
                                           {ip("2001:db8::7"), ip("fd00::2")},
                                       }));
  CHECK(d.firewall.block_add.empty());
  CHECK(d.pairs_changed);
  auto pv = bl.pairs();
  REQUIRE(pv.size() == 1);
  CHECK(pv[0].node1 == 1);
  CHECK(pv[0].node2 == 2);
  CHECK(pv[0].elements == 4);

  // The server gains an address: two more elements.
  block_lists::delta d2;
  srv.ips.push_back(ip("203.0.113.8"));
  bl.node_changed(srv, d2);
  CHECK(sorted(d2.firewall.pair_add) ==
        sorted(std::vector<P>{{ip("192.168.1.2"), ip("203.0.113.8")},
                              {ip("203.0.113.8"), ip("192.168.1.2")}}));

  // Blocking the same pair again (either order) is not a second pair.
  block_lists::delta d3;
  REQUIRE(bl.set_pair(srv, dev, true, d3, err));
  CHECK(bl.pairs().size() == 1);

  block_lists::delta r;
  REQUIRE(bl.set_pair(srv, dev, false, r, err));
  CHECK(r.firewall.pair_del.size() == 6);
  CHECK(bl.pairs().empty());
  CHECK_FALSE(bl.set_pair(srv, dev, false, r, err));
  CHECK_FALSE(bl.set_pair(srv, srv, true, r, err));
}

TEST_CASE("profiles block the families they name", "[block_lists]") {
  block_lists bl;
  std::string err;
  block_lists::delta d;
  auto dev = device(4, "aa:bb:cc:00:00:04", {"192.168.1.4", "fd00::4"});
  REQUIRE(bl.set_profile(*dev.mac, "ipv4_only", &dev, d, err));
  CHECK(d.firewall.block_add == ips({"fd00::4"}));
  CHECK(bl.profile_of(*dev.mac) == "ipv4_only");
  block_lists::delta d2;
  REQUIRE(bl.set_profile(*dev.mac, "deny_all", &dev, d2, err));
  CHECK(d2.firewall.block_add == ips({"192.168.1.4"}));
  CHECK(d2.firewall.block_del.empty()); // fd00::4 stays blocked: net change only
  block_lists::delta d3;
  REQUIRE(bl.set_profile(*dev.mac, "allow_all", &dev, d3, err));
  CHECK(sorted(d3.firewall.block_del) == ips({"192.168.1.4", "fd00::4"}));
  CHECK(bl.profiles().empty());
  CHECK_FALSE(bl.set_profile(*dev.mac, "nonsense", &dev, d3, err));
  CHECK(err == "unknown profile: nonsense");
}

TEST_CASE("lists survive a JSON round trip and are enforced at once", "[block_lists]") {
  block_lists bl;
  std::string err;
  block_lists::delta d;
  auto srv = service(2, {"203.0.113.7"}, {"srv.example"});
  auto dev = device(1, "aa:bb:cc:00:00:01", {"192.168.1.2"});
  REQUIRE(bl.add_node(list_kind::block, srv, d, err));
  REQUIRE(bl.add_ip(list_kind::block, ip("198.51.100.9"), d, err));
  REQUIRE(bl.add_node(list_kind::allow, dev, d, err));
  REQUIRE(bl.set_pair(dev, service(3, {"192.0.2.3"}, {}), true, d, err));
  REQUIRE(bl.set_profile(mac("aa:bb:cc:00:00:09"), "deny_all", nullptr, d, err));
  bl.set_local_address(ip("192.168.1.1"), true, d);
  REQUIRE(bl.remove_ip(list_kind::ignore, ip("192.168.1.1"), d, err));

  auto text = boost::json::serialize(bl.to_json());
  std::vector<std::string> problems;
  auto back = block_lists::from_json(boost::json::parse(text), {}, problems);
  CHECK(problems.empty());
  CHECK(boost::json::serialize(back.to_json()) == text);
  auto fw = back.full_firewall();
  CHECK(fw.block_add == ips({"198.51.100.9", "203.0.113.7"}));
  CHECK(fw.allow_add == ips({"192.168.1.2"}));
  CHECK(fw.pair_add.size() == 2);
  CHECK(back.profile_of(mac("aa:bb:cc:00:00:09")) == "deny_all");
  // The local address the user removed stays removed.
  block_lists::delta l;
  back.set_local_address(ip("192.168.1.1"), true, l);
  CHECK_FALSE(back.contains(list_kind::ignore, ip("192.168.1.1")));
  // The reloaded entry finds its node again by name, with a new id.
  block_lists::delta f;
  back.node_changed(service(42, {"203.0.113.8"}, {"srv.example"}), f);
  CHECK(f.firewall.block_add == ips({"203.0.113.8"}));
}

TEST_CASE("malformed persisted lists are skipped with a reason", "[block_lists]") {
  std::vector<std::string> problems;
  auto v = boost::json::parse(R"({"block":{"ips":["192.0.2.1","bogus",7],
     "nodes":[{"mac":"ff:ff:ff:ff:ff:ff"},{"domains":[]},"x",{"ips":["192.0.2.2"]}]},
     "allow":[],"pairs":[{"a":{}}],"profiles":[{"mac":"aa:bb:cc:00:00:01","profile":"zzz"}]})");
  auto bl = block_lists::from_json(v, {}, problems);
  CHECK(bl.list(list_kind::block) == ips({"192.0.2.1", "192.0.2.2"}));
  CHECK(problems.size() >= 6);
  std::vector<std::string> none;
  auto empty = block_lists::from_json(boost::json::parse("[1,2]"), {}, none);
  CHECK(none.size() == 1);
  CHECK(empty.list(list_kind::block).empty());
}

TEST_CASE("limits bound what one entry and one pair may add", "[block_lists]") {
  block_lists::limits lim;
  lim.max_ips_per_entry = 3;
  lim.max_pair_elements = 4;
  block_lists bl{lim};
  std::string err;
  block_lists::delta d;
  auto s = service(1, {"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5"},
                   {"cdn.example"});
  REQUIRE(bl.add_node(list_kind::block, s, d, err));
  CHECK(d.firewall.block_add.size() == 3);
  CHECK(d.dropped == 2);
  block_lists::delta p;
  auto t = service(2, {"198.51.100.1", "198.51.100.2", "198.51.100.3"}, {"t.example"});
  REQUIRE(bl.set_pair(s, t, true, p, err));
  CHECK(p.firewall.pair_add.size() == 4);
}

TEST_CASE("random command sequences keep the firewall equal to the lists",
          "[block_lists]") {
  // Replays every delta into a model of the kernel's sets and checks that
  // it always equals what the lists say, whatever the order of operations.
  std::mt19937 rng(12345);
  block_lists bl;
  std::set<ip_address> fw_block, fw_allow;
  std::set<std::pair<ip_address, ip_address>> fw_pair;
  auto apply = [&](const block_lists::delta& d) {
    for (auto& x : d.firewall.block_add)
      REQUIRE(fw_block.insert(x).second); // never added twice
    for (auto& x : d.firewall.block_del)
      REQUIRE(fw_block.erase(x) == 1); // never deleted when absent
    for (auto& x : d.firewall.allow_add)
      REQUIRE(fw_allow.insert(x).second);
    for (auto& x : d.firewall.allow_del)
      REQUIRE(fw_allow.erase(x) == 1);
    for (auto& x : d.firewall.pair_add)
      REQUIRE(fw_pair.insert(x).second);
    for (auto& x : d.firewall.pair_del)
      REQUIRE(fw_pair.erase(x) == 1);
  };
  auto rand_ip = [&] {
    return ip(("192.0.2." + std::to_string(1 + rng() % 12)).c_str());
  };
  std::vector<node_info> nodes;
  for (node_id i = 1; i <= 6; ++i)
    nodes.push_back(service(i, {}, {"n" + std::to_string(i) + ".example"}));
  nodes.push_back(device(7, "aa:bb:cc:00:00:07", {}));
  for (int step = 0; step < 3000; ++step) {
    block_lists::delta d;
    std::string err;
    auto& n = nodes[rng() % nodes.size()];
    auto k = static_cast<list_kind>(rng() % 2); // block or allow
    switch (rng() % 8) {
    case 0:
      bl.add_node(k, n, d, err);
      break;
    case 1:
      bl.remove_node(k, n, d, err);
      break;
    case 2:
      bl.add_ip(k, rand_ip(), d, err);
      break;
    case 3:
      bl.remove_ip(k, rand_ip(), d, err);
      break;
    case 4: {
      auto newip = rand_ip();
      if (std::find(n.ips.begin(), n.ips.end(), newip) == n.ips.end())
        n.ips.push_back(newip);
      bl.node_changed(n, d);
      break;
    }
    case 5:
      bl.set_pair(n, nodes[rng() % nodes.size()], rng() % 2, d, err);
      break;
    case 6:
      bl.set_profile(*nodes.back().mac, rng() % 2 ? "deny_all" : "allow_all",
                     &nodes.back(), d, err);
      break;
    case 7:
      if (!n.ips.empty())
        n.ips.erase(n.ips.begin());
      bl.node_changed(n, d);
      break;
    }
    apply(d);
    auto want = bl.full_firewall();
    REQUIRE(std::vector<ip_address>(fw_block.begin(), fw_block.end()) == want.block_add);
    REQUIRE(std::vector<ip_address>(fw_allow.begin(), fw_allow.end()) == want.allow_add);
    REQUIRE(std::vector<std::pair<ip_address, ip_address>>(
                fw_pair.begin(), fw_pair.end()) == want.pair_add);
  }
}

TEST_CASE("user profiles from JSON files", "[block_lists]") {
  auto dir = std::filesystem::temp_directory_path() /
             ("spin-profiles-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
  };
  write("a-kids.json",
        R"({"id":"kids","name":"Kids","description":"no IPv6","block":"ipv6"})");
  write("b-guest.json", R"({"id":"guest","name":"Guest","block":"none"})");
  write("c-bad-json.json", "{not json");
  write("d-taken.json", R"({"id":"deny_all","name":"Mine","block":"all"})");
  write("e-bad-id.json", R"({"id":"Bad Id!","name":"x","block":"all"})");
  write("f-bad-block.json", R"({"id":"odd","name":"Odd","block":"sometimes"})");
  write("g-repeat.json", R"({"id":"kids","name":"Kids again","block":"all"})");
  write("notes.txt", "not a profile");
  std::vector<std::string> problems;
  auto user = load_profile_files(dir.string(), problems);
  REQUIRE(user.size() == 2);
  CHECK(user[0].id == "kids");
  CHECK(user[0].name == "Kids");
  CHECK(user[0].description == "no IPv6");
  CHECK_FALSE(user[0].block_v4);
  CHECK(user[0].block_v6);
  CHECK(user[0].user);
  CHECK(user[1].id == "guest");
  CHECK_FALSE(user[1].block_v4);
  CHECK_FALSE(user[1].block_v6);
  REQUIRE(problems.size() == 5);
  CHECK(problems[0].find("c-bad-json.json") != std::string::npos);
  CHECK(problems[1].find("taken") != std::string::npos);
  CHECK(problems[2].find("\"id\"") != std::string::npos);
  CHECK(problems[3].find("\"block\"") != std::string::npos);
  CHECK(problems[4].find("taken") != std::string::npos);

  size_t shipped = device_profiles().size();
  set_user_profiles(user);
  CHECK(device_profiles().size() == shipped + 2);
  REQUIRE(find_device_profile("kids") != nullptr);
  CHECK(find_device_profile("kids")->user);
  // A user profile is enforced like a shipped one: IPv6 addresses only.
  block_lists bl;
  auto mac = *mac_address::parse("02:00:00:00:00:07");
  std::string error;
  block_lists::delta d;
  CHECK(bl.set_profile(mac, "kids", nullptr, d, error));
  CHECK(bl.profile_of(mac) == "kids");
  set_user_profiles({});
  CHECK(device_profiles().size() == shipped);
  CHECK(find_device_profile("kids") == nullptr);
  std::vector<std::string> none;
  CHECK(load_profile_files((dir / "missing").string(), none).empty());
  CHECK(none.empty());
  std::filesystem::remove_all(dir);
}
