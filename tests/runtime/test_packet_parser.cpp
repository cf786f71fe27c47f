#include "spin/runtime/packet_parser.hpp"

#include <catch2/catch.hpp>

#include "../support/frames.hpp"

using namespace spin;
using namespace spin::test;

namespace {

parse_status parse(link_type lt, const bytes& b, packet_record& r,
                   parse_extras* ex = nullptr, size_t wirelen = 0) {
  return parse_frame(lt, b.data(), b.size(), wirelen ? wirelen : b.size(), r, ex);
}

} // namespace

TEST_CASE("an Ethernet IPv4 TCP frame becomes a complete record", "[parser]") {
  auto pkt = ipv4("192.168.1.10", "203.0.113.5", 6, l4_ports(40000, 443, 20, 100));
  auto frame = ethernet("00:11:22:33:44:55", "aa:bb:cc:dd:ee:01", 0x0800, pkt);
  packet_record r;
  parse_extras ex;
  REQUIRE(parse(link_type::ethernet, frame, r, &ex) == parse_status::ok);
  CHECK(r.key.family == 4);
  CHECK(r.key.proto == 6);
  CHECK(r.key.src == ip("192.168.1.10"));
  CHECK(r.key.dst == ip("203.0.113.5"));
  CHECK(r.key.sport == 40000);
  CHECK(r.key.dport == 443);
  CHECK(r.ip_bytes == 140); // IP total length: 20 + 20 + 100
  CHECK(r.src_mac == mac("aa:bb:cc:dd:ee:01"));
  CHECK(r.dst_mac == mac("00:11:22:33:44:55"));
  CHECK(r.hash == static_cast<uint32_t>(r.key.hash()));
  CHECK(ex.l4_caplen == 100);
  CHECK_FALSE(ex.truncated);
}

TEST_CASE("a frame truncated by the capture still counts its full IP length",
          "[parser]") {
  auto pkt = ipv4("10.0.0.1", "198.51.100.7", 17, l4_ports(5353, 53, 8, 1400));
  auto frame = ethernet("00:11:22:33:44:55", "aa:bb:cc:dd:ee:01", 0x0800, pkt);
  size_t wire = frame.size();
  frame.resize(14 + 20 + 8); // snaplen cut after the UDP header
  packet_record r;
  REQUIRE(parse(link_type::ethernet, frame, r, nullptr, wire) == parse_status::ok);
  CHECK(r.ip_bytes == 20 + 8 + 1400);
  CHECK(r.key.sport == 5353);
  CHECK(r.key.dport == 53);
  frame.resize(14 + 20 + 2); // not even the ports
  parse_extras ex;
  REQUIRE(parse(link_type::ethernet, frame, r, &ex, wire) == parse_status::ok);
  CHECK(r.ip_bytes == 20 + 8 + 1400);
  CHECK(r.key.sport == 0);
  CHECK(r.key.dport == 0);
  CHECK(ex.truncated);
}

TEST_CASE("VLAN tags (802.1Q, 802.1ad, stacked) are skipped", "[parser]") {
  auto pkt = ipv4("192.168.1.10", "203.0.113.5", 17, l4_ports(1234, 123, 8, 48));
  for (auto tags : {std::vector<uint16_t>{0x8100}, std::vector<uint16_t>{0x88a8, 0x8100},
                    std::vector<uint16_t>{0x9100, 0x8100, 0x8100}}) {
    auto frame = ethernet("00:11:22:33:44:55", "aa:bb:cc:dd:ee:01", 0x0800, pkt, tags);
    packet_record r;
    REQUIRE(parse(link_type::ethernet, frame, r) == parse_status::ok);
    CHECK(r.key.dport == 123);
    CHECK(r.ip_bytes == 76);
  }
  // A VLAN tag cut off by the capture is malformed, not a crash.
  auto frame = ethernet("00:11:22:33:44:55", "aa:bb:cc:dd:ee:01", 0x0800, pkt, {0x8100});
  frame.resize(16);
  packet_record r;
  CHECK(parse(link_type::ethernet, frame, r) == parse_status::malformed);
}

TEST_CASE("non-IP frames are recognised and not counted as IP", "[parser]") {
  bytes arp(28, 0);
  auto frame = ethernet("ff:ff:ff:ff:ff:ff", "aa:bb:cc:dd:ee:01", 0x0806, arp);
  packet_record r;
  CHECK(parse(link_type::ethernet, frame, r) == parse_status::not_ip);
  bytes stp(40, 0);
  auto llc = ethernet("01:80:c2:00:00:00", "aa:bb:cc:dd:ee:01", 40, stp); // 802.3 length
  CHECK(parse(link_type::ethernet, llc, r) == parse_status::not_ip);
}

TEST_CASE("IPv6 with extension headers finds the transport header", "[parser]") {
  // hop-by-hop (8 bytes) -> destination options (16 bytes) -> UDP
  bytes ext(24, 0);
  ext[0] = 60; // next: destination options
  ext[1] = 0;  // 8 bytes
  ext[8] = 17; // next: UDP
  ext[9] = 1;  // 16 bytes
  auto pkt = ipv6("fd00:1::17", "2001:db8::1", 0, ext, l4_ports(40001, 443, 8, 10));
  auto frame = ethernet("00:11:22:33:44:55", "aa:bb:cc:dd:ee:01", 0x86dd, pkt);
  packet_record r;
  REQUIRE(parse(link_type::ethernet, frame, r) == parse_status::ok);
  CHECK(r.key.family == 6);
  CHECK(r.key.proto == 17);
  CHECK(r.key.sport == 40001);
  CHECK(r.key.dport == 443);
  CHECK(r.ip_bytes == 40 + 24 + 18);
}

TEST_CASE("fragments after the first carry no ports", "[parser]") {
  auto v4 = ipv4("192.168.1.10", "203.0.113.5", 17, l4_ports(1, 2, 8, 8), 0x0010);
  packet_record r;
  REQUIRE(parse(link_type::raw, v4, r) == parse_status::ok);
  CHECK(r.key.proto == 17);
  CHECK(r.key.sport == 0);
  CHECK(r.key.dport == 0);
  bytes frag(8, 0);
  frag[0] = 6;    // next: TCP
  frag[2] = 0x01; // offset 32 (in 8-byte units: 0x0100 >> 3)
  auto v6 = ipv6("fd00::1", "fd00::2", 44, frag, l4_ports(1, 2, 20, 0));
  REQUIRE(parse(link_type::raw, v6, r) == parse_status::ok);
  CHECK(r.key.proto == 6);
  CHECK(r.key.sport == 0);
}

TEST_CASE("ICMP type and code go into dport", "[parser]") {
  bytes icmp = {8, 0, 0, 0, 0, 1, 0, 1}; // echo request
  auto v4 = ipv4("192.168.1.10", "203.0.113.5", 1, icmp);
  packet_record r;
  REQUIRE(parse(link_type::ipv4, v4, r) == parse_status::ok);
  CHECK(r.key.sport == 0);
  CHECK(r.key.dport == 8 * 256);
  CHECK(service_port(r.key) == 8 * 256);
  bytes icmp6 = {129, 0, 0, 0}; // echo reply
  auto v6 = ipv6("fd00::1", "fd00::2", 58, {}, icmp6);
  REQUIRE(parse(link_type::ipv6, v6, r) == parse_status::ok);
  CHECK(r.key.dport == 129 * 256);
}

TEST_CASE("Linux cooked captures v1 and v2 carry the sender's MAC", "[parser]") {
  auto pkt = ipv4("192.168.1.10", "203.0.113.5", 6, l4_ports(40000, 80, 20, 0));
  bytes sll = {0, 4, 0, 1, 0, 6, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x01, 0, 0, 0x08, 0x00};
  sll.insert(sll.end(), pkt.begin(), pkt.end());
  packet_record r;
  REQUIRE(parse(link_type::linux_sll, sll, r) == parse_status::ok);
  CHECK(r.src_mac == mac("aa:bb:cc:dd:ee:01"));
  CHECK(r.key.dport == 80);
  bytes sll2 = {0x08, 0x00, 0,    0,    0,    0,    0,    2,    0, 1,
                4,    6,    0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x02, 0, 0};
  sll2.insert(sll2.end(), pkt.begin(), pkt.end());
  REQUIRE(parse(link_type::linux_sll2, sll2, r) == parse_status::ok);
  CHECK(r.src_mac == mac("aa:bb:cc:dd:ee:02"));
  CHECK(r.ip_bytes == 40);
}

TEST_CASE("BSD loopback and raw links read the version nibble", "[parser]") {
  auto pkt = ipv6("::1", "::1", 17, {}, l4_ports(1000, 2000, 8, 4));
  bytes null_frame = {30, 0, 0, 0};
  null_frame.insert(null_frame.end(), pkt.begin(), pkt.end());
  packet_record r;
  REQUIRE(parse(link_type::null_bsd, null_frame, r) == parse_status::ok);
  CHECK(r.key.family == 6);
  CHECK(r.key.dport == 2000);
}

TEST_CASE("malformed IP headers are rejected, never read past the end", "[parser]") {
  packet_record r;
  auto good = ipv4("192.168.1.10", "203.0.113.5", 6, l4_ports(1, 2, 20, 0));
  auto bad_ihl = good;
  bad_ihl[0] = 0x44; // header length 16 < 20
  CHECK(parse(link_type::raw, bad_ihl, r) == parse_status::malformed);
  auto bad_len = good;
  bad_len[2] = 0;
  bad_len[3] = 10; // total length < header length
  CHECK(parse(link_type::raw, bad_len, r) == parse_status::malformed);
  auto bad_version = good;
  bad_version[0] = 0x55;
  CHECK(parse(link_type::raw, bad_version, r) == parse_status::malformed);
  // A header longer than the whole packet is malformed.
  auto long_ihl = good;
  long_ihl[0] = 0x4f; // 60 bytes > total length 40
  CHECK(parse(link_type::raw, long_ihl, r) == parse_status::malformed);
  // Options beyond the captured bytes: counted, ports unknown.
  long_ihl[3] = 100; // total length 100, but only 40 bytes captured
  parse_extras ex;
  REQUIRE(parse(link_type::raw, long_ihl, r, &ex, 100) == parse_status::ok);
  CHECK(r.ip_bytes == 100);
  CHECK(r.key.sport == 0);
  CHECK(ex.truncated);
  // Every prefix of a frame parses without reading past it (run under ASan).
  auto frame =
      ethernet("00:11:22:33:44:55", "aa:bb:cc:dd:ee:01", 0x86dd,
               ipv6("fd00::1", "fd00::2", 0, bytes(8, 0), l4_ports(1, 2, 20, 0)));
  frame[14 + 40] = 6;
  for (size_t n = 0; n <= frame.size(); ++n) {
    std::vector<uint8_t> cut(frame.begin(), frame.begin() + static_cast<ptrdiff_t>(n));
    parse_frame(link_type::ethernet, cut.data(), cut.size(), frame.size(), r, &ex);
  }
  // An IPv6 extension header that claims more bytes than there are.
  bytes ext = {6, 255, 0, 0, 0, 0, 0, 0};
  auto liar = ipv6("fd00::1", "fd00::2", 0, ext, {});
  REQUIRE(parse(link_type::raw, liar, r, &ex) == parse_status::ok);
  CHECK(ex.truncated);
}

TEST_CASE("IPv4 total length 0 (TSO capture) uses the frame length", "[parser]") {
  auto pkt = ipv4("192.168.1.10", "203.0.113.5", 6, l4_ports(1, 2, 20, 3000));
  pkt[2] = 0;
  pkt[3] = 0;
  packet_record r;
  REQUIRE(parse(link_type::raw, pkt, r) == parse_status::ok);
  CHECK(r.ip_bytes == pkt.size());
}

TEST_CASE("link types map from libpcap DLT values", "[parser]") {
  CHECK(link_type_from_dlt(1) == link_type::ethernet);
  CHECK(link_type_from_dlt(12) == link_type::raw);
  CHECK(link_type_from_dlt(113) == link_type::linux_sll);
  CHECK(link_type_from_dlt(276) == link_type::linux_sll2);
  CHECK(link_type_from_dlt(228) == link_type::ipv4);
  CHECK_FALSE(link_type_from_dlt(105).has_value()); // 802.11
}

TEST_CASE("the service port is the lower port, whichever the direction", "[parser]") {
  flow_key k;
  k.proto = 6;
  k.sport = 51234;
  k.dport = 443;
  CHECK(service_port(k) == 443);
  std::swap(k.sport, k.dport);
  CHECK(service_port(k) == 443);
}
