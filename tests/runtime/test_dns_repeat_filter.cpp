#include "spin/runtime/dns_repeat_filter.hpp"

#include <catch2/catch.hpp>

#include "../support/frames.hpp"

using namespace spin;
using namespace spin::test;

namespace {

// A response: question q.example A, answers q.example A <addrs> with `ttl`.
bytes response(uint16_t id, std::vector<std::array<uint8_t, 4>> addrs, uint32_t ttl) {
  bytes m;
  put16(m, id);
  put16(m, 0x8180);
  put16(m, 1);
  put16(m, static_cast<uint16_t>(addrs.size()));
  put16(m, 0);
  put16(m, 0);
  for (const char* l : {"\x01q", "\x07"
                                 "example"})
    m.insert(m.end(), l, l + std::char_traits<char>::length(l));
  m.push_back(0);
  put16(m, 1);
  put16(m, 1);
  for (auto& a : addrs) {
    put16(m, 0xc00c); // pointer to the question name
    put16(m, 1);
    put16(m, 1);
    put16(m, static_cast<uint16_t>(ttl >> 16));
    put16(m, static_cast<uint16_t>(ttl));
    put16(m, 4);
    m.insert(m.end(), a.begin(), a.end());
  }
  return m;
}

bytes query(uint16_t id, uint16_t qtype) {
  bytes m;
  put16(m, id);
  put16(m, 0x0100);
  put16(m, 1);
  put16(m, 0);
  put16(m, 0);
  put16(m, 0);
  for (const char* l : {"\x01q", "\x07"
                                 "example"})
    m.insert(m.end(), l, l + std::char_traits<char>::length(l));
  m.push_back(0);
  put16(m, qtype);
  put16(m, 1);
  return m;
}

constexpr int64_t s = 1000000;

} // namespace

TEST_CASE("repeated answers are skipped within the window, whatever ID, TTL or order",
          "[dns_repeat]") {
  dns_repeat_filter f{20 * s, 10 * s};
  auto client = ip("192.168.1.2");
  auto a = response(1, {{{1, 2, 3, 4}}, {{5, 6, 7, 8}}}, 300);
  CHECK_FALSE(f.repeated(a.data(), a.size(), client, 100 * s));
  auto b = response(2, {{{5, 6, 7, 8}}, {{1, 2, 3, 4}}}, 250); // new ID, TTL, order
  CHECK(f.repeated(b.data(), b.size(), client, 105 * s));
  // After the window it goes through again (the cache's TTL gets refreshed).
  CHECK_FALSE(f.repeated(b.data(), b.size(), client, 126 * s));
  // Different content is never a repeat.
  auto c = response(3, {{{1, 2, 3, 4}}}, 300);
  CHECK_FALSE(f.repeated(c.data(), c.size(), client, 127 * s));
  CHECK(f.skipped() == 1);
}

TEST_CASE("an answer is not a repeat once another claimed its address", "[dns_repeat]") {
  dns_repeat_filter f{20 * s, 10 * s};
  auto client = ip("192.168.1.2");
  auto a = response(1, {{{1, 2, 3, 4}}}, 300);
  auto other = response(2, {{{1, 2, 3, 4}}, {{9, 9, 9, 9}}}, 300);
  CHECK_FALSE(f.repeated(a.data(), a.size(), client, 1 * s));
  CHECK_FALSE(f.repeated(other.data(), other.size(), client, 2 * s));
  // `a` again: the last answer for 1.2.3.4 was `other`, so `a` must go through.
  CHECK_FALSE(f.repeated(a.data(), a.size(), client, 3 * s));
  CHECK(f.repeated(a.data(), a.size(), client, 4 * s));
}

TEST_CASE("queries repeat per client and name, A and AAAA alike", "[dns_repeat]") {
  dns_repeat_filter f{20 * s, 10 * s};
  auto q_a = query(1, 1);
  auto q_aaaa = query(2, 28);
  CHECK_FALSE(f.repeated(q_a.data(), q_a.size(), ip("192.168.1.2"), 1 * s));
  CHECK(f.repeated(q_aaaa.data(), q_aaaa.size(), ip("192.168.1.2"), 1 * s));
  CHECK_FALSE(
      f.repeated(q_a.data(), q_a.size(), ip("192.168.1.3"), 1 * s)); // other client
  CHECK_FALSE(
      f.repeated(q_a.data(), q_a.size(), ip("192.168.1.2"), 12 * s)); // window over
}

TEST_CASE("what the walk does not understand is never skipped", "[dns_repeat]") {
  dns_repeat_filter f{20 * s, 10 * s};
  auto a = response(1, {{{1, 2, 3, 4}}}, 300);
  a.resize(a.size() - 2); // rdata cut
  CHECK_FALSE(f.repeated(a.data(), a.size(), ip("192.168.1.2"), 1 * s));
  CHECK_FALSE(f.repeated(a.data(), a.size(), ip("192.168.1.2"), 2 * s));
  for (size_t n = 0; n < 12; ++n)
    CHECK_FALSE(f.repeated(a.data(), n, ip("192.168.1.2"), 3 * s));
  dns_repeat_filter off{0, 0};
  auto b = response(1, {{{1, 2, 3, 4}}}, 300);
  CHECK_FALSE(off.repeated(b.data(), b.size(), ip("192.168.1.2"), 1 * s));
  CHECK_FALSE(off.repeated(b.data(), b.size(), ip("192.168.1.2"), 1 * s));
}
