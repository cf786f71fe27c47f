#include "spin/runtime/dns_cache.hpp"

#include <catch2/catch.hpp>

#include "../support/frames.hpp"
#include <cstring>

using namespace spin;
using namespace spin::test;

namespace {

dns_record answer(const char* addr, const char* name, uint32_t ttl, bool first) {
  dns_record r;
  r.kind = dns_record_kind::answer;
  r.address = ip(addr);
  r.ttl = ttl;
  r.name_len = static_cast<uint8_t>(std::strlen(name));
  std::memcpy(r.name, name, r.name_len);
  if (first)
    r.flags = dns_record::message_start;
  return r;
}

side_batch batch(int64_t second, std::vector<dns_record> recs) {
  side_batch b;
  b.second = second;
  for (auto& r : recs)
    b.dns.push_back(r);
  return b;
}

} // namespace

TEST_CASE("one message is one answer group; repeats only refresh", "[dns_cache]") {
  dns_cache c{{}};
  auto out = c.apply(batch(100, {answer("198.51.100.1", "q.example", 300, true),
                                 answer("198.51.100.1", "cdn.example", 300, false),
                                 answer("198.51.100.2", "q.example", 300, false),
                                 answer("198.51.100.2", "cdn.example", 300, false),
                                 answer("203.0.113.9", "other.example", 300, true)}));
  REQUIRE(out->answers.size() == 2);
  CHECK(out->answer_names(0) == std::vector<std::string>{"q.example", "cdn.example"});
  CHECK(out->answers[0].address_count == 2);
  CHECK(out->answer_names(1) == std::vector<std::string>{"other.example"});
  // The same answer again changes nothing the registry needs to know.
  auto again = c.apply(batch(110, {answer("198.51.100.1", "q.example", 300, true),
                                   answer("198.51.100.1", "cdn.example", 300, false)}));
  CHECK(again->answers.empty());
  CHECK(c.stats().refreshes == 1);
  // Another name claiming a known address is forwarded (last answer wins).
  auto claim = c.apply(batch(120, {answer("198.51.100.1", "x.example", 300, true)}));
  CHECK(claim->answers.size() == 1);
}

TEST_CASE("TTLs are clamped and expired names stop naming", "[dns_cache]") {
  dns_cache::options o;
  o.ttl_min = 60;
  o.ttl_max = 3600;
  dns_cache c{o};
  c.apply(batch(1000, {answer("198.51.100.1", "short.example", 5, true),
                       answer("198.51.100.2", "long.example", 999999, true)}));
  CHECK(c.stats().ttl_clamped == 2);
  CHECK(c.lookup({ip("198.51.100.1")}, 1059).size() == 1); // raised to 60 s
  CHECK(c.lookup({ip("198.51.100.1")}, 1061).empty());
  CHECK(c.lookup({ip("198.51.100.2")}, 1000 + 3599).size() == 1); // cut to 1 h
  CHECK(c.lookup({ip("198.51.100.2")}, 1000 + 3601).empty());
  c.expire(1000 + 3601);
  CHECK(c.size() == 0);
  CHECK(c.stats().expired == 2);
}

TEST_CASE("beyond the bound the soonest-expiring entries go", "[dns_cache]") {
  dns_cache::options o;
  o.ttl_min = 1;
  o.max_entries = 3;
  dns_cache c{o};
  c.apply(batch(100, {answer("198.51.100.1", "a.example", 500, true),
                      answer("198.51.100.2", "b.example", 100, true),
                      answer("198.51.100.3", "c.example", 300, true),
                      answer("198.51.100.4", "d.example", 400, true)}));
  CHECK(c.size() == 3);
  CHECK(c.stats().evicted == 1);
  CHECK(c.lookup({ip("198.51.100.2")}, 101).empty()); // TTL 100 went first
  CHECK(c.lookup({ip("198.51.100.1"), ip("198.51.100.3"), ip("198.51.100.4")}, 101)
            .size() == 3);
}

TEST_CASE("queries and bindings pass through in order", "[dns_cache]") {
  dns_cache c{{}};
  dns_record q;
  q.kind = dns_record_kind::query;
  q.address = ip("192.168.1.2");
  q.client_mac = mac("aa:bb:cc:00:00:01");
  q.name_len = 9;
  std::memcpy(q.name, "q.example", 9);
  auto b = batch(5, {q});
  b.bindings.push_back(
      neighbour_event{ip("192.168.1.2"), mac("aa:bb:cc:00:00:01"), 0, true});
  auto out = c.apply(b);
  REQUIRE(out->queries.size() == 1);
  CHECK(out->query_name(0) == "q.example");
  CHECK(out->queries[0].client_mac == mac("aa:bb:cc:00:00:01"));
  CHECK(out->bindings.size() == 1);
  CHECK(out->second == 5);
}

TEST_CASE("names of one answer go once per group, in order, with their hashes",
          "[dns_cache]") {
  dns_cache c{{}};
  // q -> cdn -> two addresses: four records, two names, two addresses.
  auto out = c.apply(batch(100, {answer("198.51.100.1", "q.example", 300, true),
                                 answer("198.51.100.1", "cdn.example", 300, false),
                                 answer("198.51.100.2", "q.example", 300, false),
                                 answer("198.51.100.2", "cdn.example", 300, false)}));
  REQUIRE(out->answers.size() == 1);
  auto& g = out->answers[0];
  REQUIRE(g.name_count == 2);
  CHECK(out->name(g.first_name).text == "q.example");
  CHECK(out->name(g.first_name).hash == dns_name_hash("q.example"));
  CHECK(out->name(g.first_name + 1).text == "cdn.example");
  REQUIRE(g.address_count == 2);
  CHECK(out->addresses[g.first_address] == ip("198.51.100.1"));
  CHECK(out->addresses[g.first_address + 1] == ip("198.51.100.2"));
}

TEST_CASE("the owner of an address is the first name of the answer that claimed it",
          "[dns_cache]") {
  dns_cache c{{}};
  c.apply(batch(100, {answer("198.51.100.1", "a.example", 300, true),
                      answer("198.51.100.1", "shared.example", 300, false)}));
  c.apply(batch(101, {answer("198.51.100.1", "b.example", 300, true),
                      answer("198.51.100.1", "shared.example", 300, false)}));
  auto found = c.lookup({ip("198.51.100.1")}, 102);
  REQUIRE(found.size() == 1);
  // The last claimer first, then the others in the order they came.
  CHECK(found[0].names ==
        std::vector<std::string>{"b.example", "a.example", "shared.example"});
  // The same answer again only refreshes; the earlier owner claiming it back
  // is a change again.
  CHECK(c.apply(batch(103, {answer("198.51.100.1", "b.example", 300, true)}))
            ->answers.empty());
  CHECK(c.apply(batch(104, {answer("198.51.100.1", "a.example", 300, true)}))
            ->answers.size() == 1);
}

TEST_CASE("names an address no longer has are forgotten; new ones are learned again",
          "[dns_cache]") {
  dns_cache::options o;
  o.ttl_min = 1;
  o.max_names_per_address = 2;
  dns_cache c{o};
  // Many names rotate through one address: the cache keeps two, and every
  // name that comes back after being pushed out is news again.
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 50; ++i) {
      auto name = "n" + std::to_string(i) + ".example";
      auto out = c.apply(batch(100 + round * 50 + i,
                               {answer("198.51.100.1", name.c_str(), 1000, true)}));
      CHECK(out->answers.size() == 1);
    }
  }
  auto found = c.lookup({ip("198.51.100.1")}, 300);
  REQUIRE(found.size() == 1);
  CHECK(found[0].names == std::vector<std::string>{"n49.example", "n48.example"});
  // Everything expires: the cache is empty and a name is news again.
  c.expire(100000);
  CHECK(c.size() == 0);
  CHECK(c.apply(batch(100001, {answer("198.51.100.1", "n49.example", 1000, true)}))
            ->answers.size() == 1);
}
