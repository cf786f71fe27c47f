// The decoder of spin.ko's traffic channel (netlink protocol 31) on
// hand-built datagrams: every record type, several messages per datagram,
// and every malformed shape skipped without reading past the buffer.
#include "spin/runtime/kmod_source.hpp"

#include <catch2/catch.hpp>

#include <linux/netlink.h>

#include "spin_netlink.h"
#include <cstring>
#include <string>
#include <vector>

using namespace spin;

namespace {

struct collect final : kmod_sink {
  std::vector<std::pair<packet_record, bool>> flows;
  std::vector<dns_record> dns_records;
  void flow(const packet_record& r, bool blocked) override {
    flows.emplace_back(r, blocked);
  }
  void dns(const dns_record& r) override { dns_records.push_back(r); }
};

// Appends one netlink message carrying `payload` to `dg`.
void add_message(std::vector<uint8_t>& dg, const std::vector<uint8_t>& payload,
                 uint16_t type = SPIN_NLMSG_TYPE) {
  struct nlmsghdr h {};
  h.nlmsg_len = static_cast<uint32_t>(NLMSG_HDRLEN + payload.size());
  h.nlmsg_type = type;
  size_t at = dg.size();
  dg.resize(at + NLMSG_ALIGN(h.nlmsg_len), 0);
  std::memcpy(dg.data() + at, &h, sizeof h);
  std::memcpy(dg.data() + at + NLMSG_HDRLEN, payload.data(), payload.size());
}

std::vector<uint8_t> flow_payload(uint8_t type, uint8_t family,
                                  const std::vector<uint8_t>& src,
                                  const std::vector<uint8_t>& dst, uint8_t proto,
                                  uint16_t sport, uint16_t dport, uint16_t packets,
                                  uint32_t bytes) {
  spin_flow_record r{};
  r.family = family;
  r.proto = proto;
  size_t off = family == SPIN_AF_INET ? 12 : 0;
  std::memcpy(r.src + off, src.data(), src.size());
  std::memcpy(r.dst + off, dst.data(), dst.size());
  r.sport = sport;
  r.dport = dport;
  r.packets = packets;
  r.bytes = bytes;
  r.payload_offset = 28;
  std::vector<uint8_t> p(SPIN_MSG_HDR_LEN + SPIN_FLOW_DATA_LEN);
  spin_flow_pack(p.data(), type, &r);
  return p;
}

std::vector<uint8_t> dns_payload(uint8_t type, const std::vector<uint8_t>& addr4,
                                 uint32_t ttl, const std::vector<uint8_t>& wire_name) {
  spin_dns_record r{};
  r.family = SPIN_AF_INET;
  std::memcpy(r.addr + 12, addr4.data(), 4);
  r.ttl = ttl;
  r.name_len = static_cast<uint8_t>(wire_name.size());
  std::memcpy(r.name, wire_name.data(), wire_name.size());
  std::vector<uint8_t> p(SPIN_MSG_MAX_LEN);
  p.resize(spin_dns_pack(p.data(), type, &r));
  return p;
}

const std::vector<uint8_t> www_example_com = {3,   'w', 'w', 'w', 7,   'E', 'x', 'a', 'm',
                                              'p', 'l', 'e', 3,   'c', 'o', 'm', 0};

} // namespace

TEST_CASE("kmod: traffic, blocked and DNS records, many per datagram", "[kmod]") {
  std::vector<uint8_t> dg;
  add_message(dg, dns_payload(SPIN_MSG_DNS_ANSWER, {192, 0, 2, 7}, 300, www_example_com));
  add_message(dg, dns_payload(SPIN_MSG_DNS_QUERY, {10, 1, 0, 2}, 0, www_example_com));
  add_message(dg, flow_payload(SPIN_MSG_TRAFFIC, SPIN_AF_INET, {10, 1, 0, 2},
                               {192, 0, 2, 7}, 17, 40001, 53, 3, 300));
  std::vector<uint8_t> a6(16, 0), b6(16, 0);
  a6[0] = 0x20, a6[1] = 0x01, a6[15] = 1;
  b6[0] = 0x20, b6[1] = 0x01, b6[15] = 2;
  add_message(
      dg, flow_payload(SPIN_MSG_BLOCKED, SPIN_AF_INET6, a6, b6, 6, 50000, 443, 1, 60));
  collect sink;
  kmod_decode_counts c;
  kmod_decode(dg.data(), dg.size(), sink, c);
  CHECK(c.messages == 4);
  CHECK(c.dns_answers == 1);
  CHECK(c.dns_queries == 1);
  CHECK(c.traffic == 1);
  CHECK(c.blocked == 1);
  CHECK(c.malformed == 0);
  REQUIRE(sink.dns_records.size() == 2);
  auto& ans = sink.dns_records[0];
  CHECK(ans.kind == dns_record_kind::answer);
  CHECK(ans.name_view() == "www.example.com"); // lower-cased like parsed names
  CHECK(ans.ttl == 300);
  CHECK(ans.qtype == 1);
  CHECK(ans.address.to_string() == "192.0.2.7");
  CHECK(sink.dns_records[1].kind == dns_record_kind::query);
  CHECK(sink.dns_records[1].address.to_string() == "10.1.0.2");
  REQUIRE(sink.flows.size() == 2);
  auto& t = sink.flows[0].first;
  CHECK_FALSE(sink.flows[0].second);
  CHECK(t.key.family == 4);
  CHECK(t.key.src.to_string() == "10.1.0.2");
  CHECK(t.key.dst.to_string() == "192.0.2.7");
  CHECK(t.key.sport == 40001);
  CHECK(t.key.dport == 53);
  CHECK(t.packets() == 3);
  CHECK(t.ip_bytes == 300);
  CHECK(t.hash == static_cast<uint32_t>(t.key.hash()));
  CHECK(sink.flows[1].second);
  CHECK(sink.flows[1].first.key.family == 6);
  CHECK(sink.flows[1].first.key.dst.to_string() == "2001::2");
}

TEST_CASE("kmod: malformed messages and records are skipped", "[kmod]") {
  collect sink;
  kmod_decode_counts c;
  auto good = flow_payload(SPIN_MSG_TRAFFIC, SPIN_AF_INET, {10, 0, 0, 1}, {10, 0, 0, 2},
                           17, 1, 2, 1, 100);
  SECTION("a record shorter than its type needs") {
    std::vector<uint8_t> dg;
    auto p = good;
    p.resize(SPIN_MSG_HDR_LEN + 20);
    spin_put_be16(p.data() + 2, 20);
    add_message(dg, p);
    add_message(dg, good);
    kmod_decode(dg.data(), dg.size(), sink, c);
    CHECK(c.malformed == 1);
    CHECK(sink.flows.size() == 1);
  }
  SECTION("a size field larger than the message") {
    std::vector<uint8_t> dg;
    auto p = good;
    spin_put_be16(p.data() + 2, 4000);
    add_message(dg, p);
    kmod_decode(dg.data(), dg.size(), sink, c);
    CHECK(c.malformed == 1);
    CHECK(sink.flows.empty());
  }
  SECTION("nlmsg_len past the datagram: the rest is not trusted") {
    std::vector<uint8_t> dg;
    add_message(dg, good);
    uint32_t big = 100000;
    std::memcpy(dg.data(), &big, 4);
    kmod_decode(dg.data(), dg.size(), sink, c);
    CHECK(c.malformed == 1);
    CHECK(sink.flows.empty());
  }
  SECTION("a truncated datagram") {
    std::vector<uint8_t> dg;
    add_message(dg, good);
    add_message(dg, good);
    kmod_decode(dg.data(), dg.size() - 10, sink, c);
    CHECK(sink.flows.size() == 1);
    CHECK(c.malformed == 1);
  }
  SECTION("another version, an unknown type, an unknown family, zero packets") {
    std::vector<uint8_t> dg;
    auto v2 = good;
    v2[0] = 2;
    add_message(dg, v2);
    auto t9 = good;
    t9[1] = 9;
    add_message(dg, t9);
    auto fam = good;
    fam[SPIN_MSG_HDR_LEN + SPIN_FLOW_OFF_FAMILY] = 7;
    add_message(dg, fam);
    add_message(dg, flow_payload(SPIN_MSG_TRAFFIC, SPIN_AF_INET, {10, 0, 0, 1},
                                 {10, 0, 0, 2}, 17, 1, 2, 0, 0));
    kmod_decode(dg.data(), dg.size(), sink, c);
    CHECK(c.bad_version == 1);
    CHECK(c.unknown_type == 1);
    CHECK(c.malformed == 2);
    CHECK(sink.flows.empty());
  }
  SECTION("DNS names that are not well-formed wire names") {
    std::vector<uint8_t> dg;
    auto bad_label = dns_payload(SPIN_MSG_DNS_ANSWER, {1, 2, 3, 4}, 5, {3, 'a', 'b', 0});
    add_message(dg, bad_label); // a label running into the end byte
    auto root = dns_payload(SPIN_MSG_DNS_ANSWER, {1, 2, 3, 4}, 5, {0});
    add_message(dg, root); // the root name names nothing
    auto p = dns_payload(SPIN_MSG_DNS_ANSWER, {1, 2, 3, 4}, 5, www_example_com);
    p[SPIN_MSG_HDR_LEN + SPIN_DNS_OFF_NAME_LEN] = 200; // longer than the data
    add_message(dg, p);
    kmod_decode(dg.data(), dg.size(), sink, c);
    CHECK(c.malformed == 3);
    CHECK(sink.dns_records.empty());
  }
  SECTION("an error message carries the module's errno") {
    std::vector<uint8_t> dg;
    struct nlmsgerr e {};
    e.error = -1; // EPERM
    std::vector<uint8_t> p(sizeof e);
    std::memcpy(p.data(), &e, sizeof e);
    add_message(dg, p, NLMSG_ERROR);
    kmod_decode(dg.data(), dg.size(), sink, c);
    CHECK(c.error == 1);
  }
  SECTION("random bytes never crash") {
    uint32_t x = 12345;
    for (int round = 0; round < 2000; ++round) {
      std::vector<uint8_t> dg;
      add_message(dg, good);
      add_message(dg, dns_payload(SPIN_MSG_DNS_ANSWER, {1, 2, 3, 4}, 5, www_example_com));
      for (int flips = 0; flips < 4; ++flips) {
        x = x * 1664525u + 1013904223u;
        dg[x % dg.size()] = static_cast<uint8_t>(x >> 24);
      }
      x = x * 1664525u + 1013904223u;
      kmod_decode(dg.data(), dg.size() - (x % 8), sink, c);
    }
    CHECK(c.messages > 0);
  }
}
