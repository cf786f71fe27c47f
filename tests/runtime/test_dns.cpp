#define CATCH_CONFIG_ENABLE_TUPLE_STRINGMAKER
#include "spin/runtime/dns.hpp"
#include "spin/runtime/packet_parser.hpp"

#include <catch2/catch.hpp>

#include "../support/frames.hpp"
#include <cstddef>
#include <memory>
#include <set>
#include <string>
#include <tuple>

using namespace spin;
using namespace spin::test;

namespace {

// ---------------------------------------------------------------- builders

// A name as written on the wire: labels (dotted, no escapes), then either a
// compression pointer to `ptr` or the root label.
struct nm {
  std::string labels;
  int ptr = -1;
  nm(const char* l, int p = -1) : labels(l), ptr(p) {} // NOLINT: implicit on purpose
};

// Builds a DNS message byte by byte; counts are filled in by done() unless
// the test overrides them.
struct dns_builder {
  bytes b;
  uint16_t counts[4] = {0, 0, 0, 0};

  explicit dns_builder(uint16_t flags = 0x8180, uint16_t id = 0x1234) {
    put16(b, id);
    put16(b, flags);
    b.resize(12, 0);
  }

  void u8(uint8_t v) { b.push_back(v); }
  void u16(uint16_t v) { put16(b, v); }
  void u32(uint32_t v) {
    put16(b, static_cast<uint16_t>(v >> 16));
    put16(b, static_cast<uint16_t>(v));
  }
  void raw(const bytes& r) { b.insert(b.end(), r.begin(), r.end()); }

  size_t name(const nm& n) {
    size_t at = b.size();
    size_t p = 0;
    const std::string& s = n.labels;
    while (p < s.size()) {
      size_t dot = s.find('.', p);
      if (dot == std::string::npos)
        dot = s.size();
      u8(static_cast<uint8_t>(dot - p));
      b.insert(b.end(), s.begin() + static_cast<std::ptrdiff_t>(p),
               s.begin() + static_cast<std::ptrdiff_t>(dot));
      p = dot + 1;
    }
    if (n.ptr >= 0)
      u16(static_cast<uint16_t>(0xc000 | n.ptr));
    else
      u8(0);
    return at;
  }

  size_t question(const nm& n, uint16_t qtype = 1, uint16_t qclass = 1) {
    size_t at = name(n);
    u16(qtype);
    u16(qclass);
    ++counts[0];
    return at;
  }

  // A record in section 1 (answer), 2 (authority) or 3 (additional).
  size_t rr(const nm& owner, uint16_t type, uint16_t cls, uint32_t ttl,
            const bytes& rdata, int section = 1) {
    size_t at = name(owner);
    u16(type);
    u16(cls);
    u32(ttl);
    u16(static_cast<uint16_t>(rdata.size()));
    raw(rdata);
    ++counts[section];
    return at;
  }

  size_t addr(const nm& owner, const char* text, uint32_t ttl = 300) {
    ip_address a = ip(text);
    if (a.is_v4())
      return rr(owner, 1, 1, ttl, bytes(a.bytes.begin() + 12, a.bytes.end()));
    return rr(owner, 28, 1, ttl, bytes(a.bytes.begin(), a.bytes.end()));
  }

  // Returns the offset of the target name (for later pointers).
  size_t cname(const nm& owner, const nm& target, uint32_t ttl = 300) {
    name(owner);
    u16(5);
    u16(1);
    u32(ttl);
    size_t len_at = b.size();
    u16(0);
    size_t target_at = name(target);
    size_t len = b.size() - target_at;
    b[len_at] = static_cast<uint8_t>(len >> 8);
    b[len_at + 1] = static_cast<uint8_t>(len);
    ++counts[1];
    return target_at;
  }

  void opt() { rr("", 41, 4096, 0, {0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8}, 3); }

  bytes done() {
    for (int i = 0; i < 4; ++i) {
      b[4 + 2 * i] = static_cast<uint8_t>(counts[i] >> 8);
      b[5 + 2 * i] = static_cast<uint8_t>(counts[i]);
    }
    return b;
  }
};

// A response with the question `q` (A, IN) at offset 12.
dns_builder response(const char* q = "www.example.com", uint16_t qtype = 1) {
  dns_builder d(0x8180);
  d.question(q, qtype);
  return d;
}

using triple = std::tuple<std::string, std::string, uint32_t>;

dns_message_context context() {
  dns_message_context c;
  c.src = ip("192.0.2.53");
  c.dst = ip("192.168.1.10");
  c.src_mac = mac("00:11:22:33:44:55");
  c.dst_mac = mac("aa:bb:cc:dd:ee:01");
  c.timestamp_us = 1767225600123456;
  return c;
}

struct result {
  dns_error error = dns_error::ok;
  std::vector<dns_record> records;
  dns_emit_stats stats;

  std::set<triple> triples() const {
    std::set<triple> s;
    for (const auto& r : records)
      s.emplace(r.address.to_string(), std::string(r.name_view()), r.ttl);
    return s;
  }
};

// Parses `msg` from an exactly-sized heap copy (so ASan sees any over-read)
// and emits its records.
result run(const bytes& msg) {
  std::unique_ptr<uint8_t[]> copy(new uint8_t[msg.size()]);
  std::copy(msg.begin(), msg.end(), copy.get());
  result r;
  dns_message m;
  r.error = parse_dns(copy.get(), msg.size(), m);
  if (r.error == dns_error::ok)
    r.stats = dns_emit_records(m, context(), r.records);
  return r;
}

dns_error error_of(const bytes& msg) {
  return run(msg).error;
}

std::string name_at(const bytes& msg, size_t offset, dns_error* err = nullptr) {
  char text[256];
  dns_name_result n = dns_read_name(msg.data(), msg.size(), offset, text, sizeof(text));
  if (err)
    *err = n.error;
  return std::string(text, n.fits ? n.text_length : 0);
}

} // namespace

// ---------------------------------------------------------------- the parser

TEST_CASE("a simple A response yields the address with its name and TTL", "[dns]") {
  auto d = response("www.Example.COM");
  d.addr(nm("", 12), "93.184.216.34", 3600);
  result r = run(d.done());
  REQUIRE(r.error == dns_error::ok);
  REQUIRE(r.records.size() == 1);
  const dns_record& rec = r.records[0];
  CHECK(rec.kind == dns_record_kind::answer);
  CHECK(rec.address == ip("93.184.216.34"));
  CHECK(rec.name_view() == "www.example.com");
  CHECK(rec.ttl == 3600);
  CHECK(rec.qtype == dns_type::a);
  CHECK(rec.peer == ip("192.168.1.10"));
  CHECK(rec.client_mac == mac("aa:bb:cc:dd:ee:01"));
  CHECK(rec.timestamp_us == 1767225600123456);
}

TEST_CASE("an AAAA response yields the IPv6 address", "[dns]") {
  auto d = response("v6.example.net", 28);
  d.addr(nm("", 12), "2001:db8::1", 60);
  d.addr(nm("", 12), "2001:db8::2", 60);
  result r = run(d.done());
  REQUIRE(r.error == dns_error::ok);
  CHECK(r.triples() == std::set<triple>{{"2001:db8::1", "v6.example.net", 60},
                                        {"2001:db8::2", "v6.example.net", 60}});
  CHECK(r.records[0].qtype == dns_type::aaaa);
}

TEST_CASE("a query yields one record per question", "[dns]") {
  dns_builder d(0x0100);
  d.question("a.example", 1);
  d.question("b.example", 28);
  d.question("c.example", 16, 3); // CHAOS class: not reported
  d.question("D.Example", 65);
  result r = run(d.done());
  REQUIRE(r.error == dns_error::ok);
  REQUIRE(r.records.size() == 3);
  CHECK(r.records[0].kind == dns_record_kind::query);
  CHECK(r.records[0].name_view() == "a.example");
  CHECK(r.records[0].qtype == 1);
  CHECK(r.records[1].name_view() == "b.example");
  CHECK(r.records[1].qtype == 28);
  CHECK(r.records[2].name_view() == "d.example");
  CHECK(r.records[2].qtype == 65);
  // A query reports the client (IP source) and the server asked.
  CHECK(r.records[0].address == ip("192.0.2.53"));
  CHECK(r.records[0].peer == ip("192.168.1.10"));
  CHECK(r.records[0].client_mac == mac("00:11:22:33:44:55"));
  CHECK(r.records[0].ttl == 0);
}

TEST_CASE("a response with several questions parses all of them", "[dns]") {
  dns_builder d(0x8180);
  d.question("one.example");
  d.question("two.example");
  d.addr(nm("", 12), "192.0.2.1");
  d.addr(nm("two.example"), "192.0.2.2");
  result r = run(d.done());
  REQUIRE(r.error == dns_error::ok);
  CHECK(r.triples() == std::set<triple>{{"192.0.2.1", "one.example", 300},
                                        {"192.0.2.2", "two.example", 300}});
}

TEST_CASE("more questions than kept are checked and counted", "[dns]") {
  dns_builder d(0x0100);
  for (int i = 0; i < 20; ++i)
    d.question(("q" + std::to_string(i) + ".example").c_str());
  bytes msg = d.done();
  dns_message m;
  REQUIRE(parse_dns(msg.data(), msg.size(), m) == dns_error::ok);
  CHECK(m.question_count == dns_max_questions);
  CHECK(m.questions_overflow == 20 - dns_max_questions);
}

TEST_CASE("a CNAME chain maps the address to every name on it", "[dns][cname]") {
  SECTION("in order, TTL is the smallest along the chain") {
    auto d = response("q.example");
    size_t a1 = d.cname(nm("", 12), "a1.cdn.example", 600);
    size_t a2 =
        d.cname(nm("", static_cast<int>(a1)), nm("a2", static_cast<int>(a1 + 3)), 120);
    d.addr(nm("", static_cast<int>(a2)), "1.2.3.4", 300);
    result r = run(d.done());
    REQUIRE(r.error == dns_error::ok);
    CHECK(r.triples() == std::set<triple>{{"1.2.3.4", "a2.cdn.example", 300},
                                          {"1.2.3.4", "a1.cdn.example", 120},
                                          {"1.2.3.4", "q.example", 120}});
  }
  SECTION("reversed order") {
    auto d = response("q.example");
    d.addr(nm("a2.example"), "1.2.3.4", 50);
    d.cname(nm("a1.example"), nm("a2.example"), 100);
    d.cname(nm("", 12), nm("a1.example"), 200);
    result r = run(d.done());
    REQUIRE(r.error == dns_error::ok);
    CHECK(r.triples() == std::set<triple>{{"1.2.3.4", "a2.example", 50},
                                          {"1.2.3.4", "a1.example", 50},
                                          {"1.2.3.4", "q.example", 50}});
  }
  SECTION("names compare case-insensitively") {
    auto d = response("Q.Example");
    d.cname(nm("", 12), nm("A1.EXAMPLE"));
    d.addr(nm("a1.example"), "1.2.3.4");
    result r = run(d.done());
    REQUIRE(r.error == dns_error::ok);
    CHECK(r.triples() == std::set<triple>{{"1.2.3.4", "a1.example", 300},
                                          {"1.2.3.4", "q.example", 300}});
  }
  SECTION("branching: both targets of an alias are followed") {
    auto d = response("q.example");
    d.cname(nm("", 12), nm("x.example"), 100);
    d.cname(nm("", 12), nm("y.example"), 200);
    d.addr(nm("x.example"), "10.0.0.1", 1000);
    d.addr(nm("y.example"), "10.0.0.2", 1000);
    d.addr(nm("y.example"), "10.0.0.1", 1000); // a second path to 10.0.0.1
    result r = run(d.done());
    REQUIRE(r.error == dns_error::ok);
    // One record per (address, name); with two paths the better TTL wins.
    CHECK(r.records.size() == 5);
    CHECK(r.triples() == std::set<triple>{{"10.0.0.1", "x.example", 1000},
                                          {"10.0.0.1", "y.example", 1000},
                                          {"10.0.0.1", "q.example", 200},
                                          {"10.0.0.2", "y.example", 1000},
                                          {"10.0.0.2", "q.example", 200}});
  }
  SECTION("a loop ends") {
    auto d = response("q.example");
    d.cname(nm("", 12), nm("b.example"));
    d.cname(nm("b.example"), nm("q.example"));
    d.cname(nm("c.example"), nm("c.example")); // to itself
    d.addr(nm("b.example"), "10.0.0.9");
    result r = run(d.done());
    REQUIRE(r.error == dns_error::ok);
    CHECK(r.triples() == std::set<triple>{{"10.0.0.9", "b.example", 300},
                                          {"10.0.0.9", "q.example", 300}});
    CHECK(r.stats.chains_cut == 0);
  }
  SECTION("too deep: names beyond the bound are not mapped, and counted") {
    auto d = response("n0.example");
    for (int i = 0; i < 20; ++i)
      d.cname(nm(("n" + std::to_string(i) + ".example").c_str()),
              nm(("n" + std::to_string(i + 1) + ".example").c_str()));
    d.addr(nm("n20.example"), "10.0.0.20");
    result r = run(d.done());
    REQUIRE(r.error == dns_error::ok);
    // The owner plus dns_max_chain_depth aliases: n20 .. n4.
    CHECK(r.records.size() == 1 + dns_max_chain_depth);
    auto t = r.triples();
    CHECK(t.count({"10.0.0.20", "n4.example", 300}) == 1);
    CHECK(t.count({"10.0.0.20", "n3.example", 300}) == 0);
    CHECK(r.stats.chains_cut == 1);
  }
  SECTION("a CNAME without an address yields nothing") {
    auto d = response("q.example");
    d.cname(nm("", 12), nm("nowhere.example"));
    result r = run(d.done());
    REQUIRE(r.error == dns_error::ok);
    CHECK(r.records.empty());
  }
  SECTION("a duplicated A record gives one record") {
    auto d = response("q.example");
    d.addr(nm("", 12), "10.1.1.1", 10);
    d.addr(nm("Q.example"), "10.1.1.1", 20);
    result r = run(d.done());
    REQUIRE(r.error == dns_error::ok);
    CHECK(r.triples() == std::set<triple>{{"10.1.1.1", "q.example", 20}});
  }
}

TEST_CASE("answers beyond the bound are counted, the first ones used", "[dns]") {
  auto d = response("many.example");
  for (int i = 0; i < 70; ++i)
    d.addr(nm("", 12), ("10.0.1." + std::to_string(i)).c_str());
  bytes msg = d.done();
  dns_message m;
  REQUIRE(parse_dns(msg.data(), msg.size(), m) == dns_error::ok);
  CHECK(m.answer_count == dns_max_answers);
  CHECK(m.answers_overflow == 70 - dns_max_answers);
  result r = run(msg);
  CHECK(r.records.size() == dns_max_answers);
}

TEST_CASE("other types and classes are skipped by rdlength", "[dns]") {
  auto d = response("q.example");
  d.rr(nm("", 12), 16, 1, 300, {3, 'a', 'b', 'c'});   // TXT
  d.rr(nm("", 12), 1, 3, 300, {1, 2, 3, 4, 5, 6, 7}); // CHAOS "A"
  d.rr(nm("", 12), 46, 1, 300, bytes(40, 0xee));      // RRSIG
  d.rr(nm("", 12), 5, 4, 300, {0xff, 0xff});          // Hesiod CNAME
  d.addr(nm("", 12), "192.0.2.77");
  result r = run(d.done());
  REQUIRE(r.error == dns_error::ok);
  CHECK(r.triples() == std::set<triple>{{"192.0.2.77", "q.example", 300}});
}

TEST_CASE("an EDNS OPT record in the additional section parses fine", "[dns]") {
  auto d = response("q.example");
  d.addr(nm("", 12), "192.0.2.8");
  d.rr(nm("example"), 2, 1, 3600, {2, 'n', 's', 0}, 2); // NS in authority
  d.opt();
  result r = run(d.done());
  REQUIRE(r.error == dns_error::ok);
  CHECK(r.triples() == std::set<triple>{{"192.0.2.8", "q.example", 300}});
}

TEST_CASE("a TTL with the top bit set counts as 0", "[dns]") {
  auto d = response("q.example");
  d.addr(nm("", 12), "192.0.2.9", 0x80000001u);
  d.addr(nm("", 12), "192.0.2.10", 0x7fffffffu);
  result r = run(d.done());
  REQUIRE(r.error == dns_error::ok);
  CHECK(r.triples() == std::set<triple>{{"192.0.2.9", "q.example", 0},
                                        {"192.0.2.10", "q.example", 0x7fffffffu}});
}

TEST_CASE("a response with an error RCODE still yields its answers", "[dns]") {
  dns_builder d(0x8183); // NXDOMAIN
  d.question("q.example");
  d.addr(nm("", 12), "192.0.2.11");
  result r = run(d.done());
  REQUIRE(r.error == dns_error::ok);
  CHECK(r.records.size() == 1);
}

TEST_CASE("opcodes other than QUERY are rejected", "[dns]") {
  dns_builder d(0x8180 | (5 << 11)); // UPDATE
  d.question("zone.example", 6);
  CHECK(error_of(d.done()) == dns_error::bad_opcode);
}

TEST_CASE("counts larger than the message are rejected", "[dns]") {
  auto d = response("q.example");
  d.addr(nm("", 12), "192.0.2.1");
  bytes msg = d.done();
  msg[7] = 200; // ANCOUNT 200 in a 43-byte message
  CHECK(error_of(msg) == dns_error::bad_count);
  msg[7] = 1;
  msg[4] = 0xff; // QDCOUNT 65281
  CHECK(error_of(msg) == dns_error::bad_count);
  msg[4] = 0;
  msg[7] = 2; // one record more than present, but fits the count check
  CHECK(error_of(msg) == dns_error::truncated);
}

TEST_CASE("short headers and empty messages are truncated", "[dns]") {
  CHECK(error_of(bytes{}) == dns_error::truncated);
  CHECK(error_of(bytes(11, 0)) == dns_error::truncated);
  CHECK(error_of(bytes(12, 0)) == dns_error::ok); // a header alone is a message
}

TEST_CASE("bad rdlengths are rejected", "[dns]") {
  SECTION("A with 5 bytes") {
    auto d = response("q.example");
    d.rr(nm("", 12), 1, 1, 300, {1, 2, 3, 4, 5});
    CHECK(error_of(d.done()) == dns_error::bad_rdlength);
  }
  SECTION("AAAA with 4 bytes") {
    auto d = response("q.example");
    d.rr(nm("", 12), 28, 1, 300, {1, 2, 3, 4});
    CHECK(error_of(d.done()) == dns_error::bad_rdlength);
  }
  SECTION("CNAME with bytes after the name") {
    auto d = response("q.example");
    d.rr(nm("", 12), 5, 1, 300, {1, 'x', 0, 0xaa});
    CHECK(error_of(d.done()) == dns_error::bad_rdlength);
  }
  SECTION("CNAME whose name runs past its rdata") {
    auto d = response("q.example");
    d.rr(nm("", 12), 5, 1, 300, {3, 'a', 'b'});
    d.raw({'c', 0}); // the name goes on after RDLENGTH
    CHECK(error_of(d.done()) == dns_error::bad_rdlength);
  }
  SECTION("rdata past the end of the message") {
    auto d = response("q.example");
    d.rr(nm("", 12), 1, 1, 300, {1, 2, 3, 4});
    bytes msg = d.done();
    msg.pop_back();
    CHECK(error_of(msg) == dns_error::truncated);
  }
}

TEST_CASE("compression pointers", "[dns][names]") {
  SECTION("valid: suffixes and whole names") {
    auto d = response("www.example.com");
    // "cdn" + pointer to "example.com" (offset 16), then an A for it.
    size_t t = d.cname(nm("", 12), nm("cdn", 16));
    d.addr(nm("", static_cast<int>(t)), "192.0.2.44");
    bytes msg = d.done();
    result r = run(msg);
    REQUIRE(r.error == dns_error::ok);
    CHECK(r.triples() == std::set<triple>{{"192.0.2.44", "cdn.example.com", 300},
                                          {"192.0.2.44", "www.example.com", 300}});
    CHECK(name_at(msg, 16) == "example.com");
    CHECK(name_at(msg, t) == "cdn.example.com");
  }
  SECTION("a pointer to itself") {
    dns_builder d(0x0100);
    d.question(nm("", 12));
    CHECK(error_of(d.done()) == dns_error::bad_pointer);
  }
  SECTION("a loop through labels") {
    dns_builder d(0x0100);
    d.question(nm("a", 12)); // label "a" at 12, then a pointer back to 12
    CHECK(error_of(d.done()) == dns_error::bad_pointer);
  }
  SECTION("two pointers to each other") {
    dns_builder d(0x8180);
    d.question("q.example");
    d.u16(0xc000 | 29); // owner at 27 -> 29
    d.u16(0xc000 | 27); // 29 -> 27
    d.counts[1] = 1;
    CHECK(error_of(d.done()) == dns_error::bad_pointer);
  }
  SECTION("a pointer forwards") {
    dns_builder d(0x8180);
    d.question(nm("www", 30)); // 30 is inside the answer that follows
    d.addr(nm("x.example"), "192.0.2.1");
    bytes msg = d.done();
    REQUIRE(msg.size() > 32);
    CHECK(error_of(msg) == dns_error::bad_pointer);
  }
  SECTION("a pointer past the end") {
    dns_builder d(0x0100);
    d.question(nm("www", 0x3fff));
    CHECK(error_of(d.done()) == dns_error::bad_pointer);
  }
  SECTION("a pointer cut after its first byte") {
    dns_builder d(0x0100);
    d.name("www");
    d.b.pop_back();
    d.u8(0xc0);
    d.counts[0] = 1;
    CHECK(error_of(d.done()) == dns_error::truncated);
  }
  SECTION("a label past the end") {
    dns_builder d(0x0100);
    d.u8(10);
    d.raw({'a', 'b', 'c', 0, 0, 1, 0, 1});
    d.counts[0] = 1;
    CHECK(error_of(d.done()) == dns_error::truncated);
  }
  SECTION("a chain of pointers longer than the bound") {
    // A name at 12, then (in the rdata of a record of a private type, which
    // the parser skips) pointer after pointer, each to the one before; the
    // owner of the A record points to the last one: n jumps in all.
    for (unsigned n : {dns_max_pointer_jumps, dns_max_pointer_jumps + 1}) {
      dns_builder d(0x8180);
      d.question("q.example");
      bytes chain;
      size_t prev = 12;
      size_t rdata = d.b.size() + 2 + 10;
      for (unsigned i = 1; i < n; ++i) {
        put16(chain, static_cast<uint16_t>(0xc000 | prev));
        prev = rdata + 2 * (i - 1);
      }
      d.rr(nm("", 12), 65280, 1, 0, chain);
      d.name(nm("", static_cast<int>(prev)));
      d.u16(1);
      d.u16(1);
      d.u32(60);
      d.u16(4);
      d.raw({192, 0, 2, 1});
      ++d.counts[1];
      result r = run(d.done());
      if (n <= dns_max_pointer_jumps) {
        REQUIRE(r.error == dns_error::ok);
        CHECK(r.triples() == std::set<triple>{{"192.0.2.1", "q.example", 60}});
      } else {
        CHECK(r.error == dns_error::too_many_pointers);
      }
    }
  }
  SECTION("label types 0x40 and 0x80") {
    for (uint8_t t : {uint8_t{0x41}, uint8_t{0x80}}) {
      dns_builder d(0x0100);
      d.u8(t);
      d.raw({'x', 0, 0, 1, 0, 1});
      d.counts[0] = 1;
      CHECK(error_of(d.done()) == dns_error::bad_label_type);
    }
  }
}

TEST_CASE("names longer than 255 octets are rejected", "[dns][names]") {
  const std::string l63(63, 'a');
  // 4 x (1 + 63) = 256 > 255 octets with the root; 3 x 64 + 1 + 61 + 1 = 255.
  const std::string too_long = l63 + "." + l63 + "." + l63 + "." + l63;
  const std::string longest = l63 + "." + l63 + "." + l63 + "." + std::string(61, 'b');
  {
    dns_builder d(0x0100);
    d.question(too_long.c_str());
    CHECK(error_of(d.done()) == dns_error::name_too_long);
  }
  {
    dns_builder d(0x0100);
    d.question(longest.c_str());
    bytes msg = d.done();
    result r = run(msg);
    REQUIRE(r.error == dns_error::ok);
    REQUIRE(r.records.size() == 1);
    CHECK(r.records[0].name_view() == longest);
    CHECK(r.records[0].name_len == 253);
  }
  {
    // Too long only when the pointer target is added.
    dns_builder d(0x8180);
    d.question(longest.c_str());
    d.addr(nm("x", 12), "192.0.2.1");
    CHECK(error_of(d.done()) == dns_error::name_too_long);
  }
}

TEST_CASE("label bytes are escaped as dig does", "[dns][names]") {
  dns_builder d(0x0100);
  d.u8(8);
  d.raw({'A', '.', 'b', '\\', ' ', 0x00, 0xff, '~'});
  d.u8(3);
  d.raw({'C', 'o', 'M'});
  d.u8(0);
  d.u16(1);
  d.u16(1);
  d.counts[0] = 1;
  bytes msg = d.done();
  CHECK(name_at(msg, 12) == "a\\046b\\092\\032\\000\\255~.com");
  result r = run(msg);
  REQUIRE(r.error == dns_error::ok);
  REQUIRE(r.records.size() == 1);
  CHECK(r.records[0].name_view() == "a\\046b\\092\\032\\000\\255~.com");
}

TEST_CASE("the root name is empty", "[dns][names]") {
  dns_builder d(0x0100);
  d.question("", 2);
  bytes msg = d.done();
  CHECK(name_at(msg, 12) == "");
  result r = run(msg);
  REQUIRE(r.error == dns_error::ok);
  REQUIRE(r.records.size() == 1);
  CHECK(r.records[0].name_len == 0);
  CHECK(r.records[0].qtype == 2);
}

TEST_CASE("a name whose escaped form exceeds the record is left out", "[dns][names]") {
  // 63 + 63 + 60 bytes of 0xff: 189 octets on the wire, 746 characters.
  dns_builder d(0x8180);
  for (int len : {63, 63, 60}) {
    d.u8(static_cast<uint8_t>(len));
    d.raw(bytes(static_cast<size_t>(len), 0xff));
  }
  d.u8(0);
  d.u16(1);
  d.u16(1);
  d.counts[0] = 1;
  d.addr(nm("", 12), "192.0.2.1");
  d.addr(nm("ok.example"), "192.0.2.2");
  bytes msg = d.done();
  char small[16];
  dns_name_result n = dns_read_name(msg.data(), msg.size(), 12, small, sizeof(small));
  CHECK(n.error == dns_error::ok);
  CHECK_FALSE(n.fits);
  CHECK(n.text_length == 186 * 4 + 2);
  CHECK(n.wire_length == 190);
  result r = run(msg);
  REQUIRE(r.error == dns_error::ok);
  CHECK(r.stats.long_names == 1);
  CHECK(r.triples() == std::set<triple>{{"192.0.2.2", "ok.example", 300}});
}

TEST_CASE("every prefix of a valid message is rejected or parsed in bounds",
          "[dns][robustness]") {
  std::vector<bytes> messages;
  {
    auto d = response("www.shop.example");
    size_t t1 = d.cname(nm("", 12), nm("shop.edge-cdn", 21));
    size_t t2 = d.cname(nm("", static_cast<int>(t1)), nm("e123.cdn", 21));
    d.addr(nm("", static_cast<int>(t2)), "203.0.113.7", 20);
    d.addr(nm("", static_cast<int>(t2)), "2001:db8::7", 20);
    messages.push_back(d.done());
  }
  {
    auto d = response("q.example");
    d.addr(nm("", 12), "192.0.2.1");
    d.opt();
    messages.push_back(d.done());
  }
  {
    dns_builder d(0x0100);
    d.question("a.example");
    d.question(nm("b", 12));
    messages.push_back(d.done());
  }
  for (const bytes& msg : messages) {
    REQUIRE(error_of(msg) == dns_error::ok);
    bool has_additional = msg[11] != 0;
    for (size_t len = 0; len < msg.size(); ++len) {
      bytes prefix(msg.begin(), msg.begin() + static_cast<std::ptrdiff_t>(len));
      result r = run(prefix);
      // Without sections after the answers, every cut loses a needed byte.
      if (!has_additional)
        CHECK(r.error != dns_error::ok);
    }
  }
}

TEST_CASE("random corruption never reads out of bounds or hangs", "[dns][robustness]") {
  auto d = response("www.shop.example");
  size_t t1 = d.cname(nm("", 12), nm("shop.edge-cdn", 21));
  d.addr(nm("", static_cast<int>(t1)), "203.0.113.7", 20);
  d.addr(nm("", 12), "2001:db8::7", 20);
  d.opt();
  const bytes base = d.done();
  uint64_t s = 0x9e3779b97f4a7c15ull;
  auto next = [&s] {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  };
  size_t ok = 0;
  for (int i = 0; i < 20000; ++i) {
    bytes m = base;
    int flips = 1 + static_cast<int>(next() % 4);
    for (int f = 0; f < flips; ++f)
      m[next() % m.size()] = static_cast<uint8_t>(next());
    if (next() % 4 == 0)
      m.resize(next() % m.size());
    result r = run(m);
    if (r.error == dns_error::ok)
      ++ok;
  }
  CHECK(ok > 0);
}

TEST_CASE("dns_record is a fixed 312-byte value with the documented layout", "[dns]") {
  CHECK(sizeof(dns_record) == 312);
  CHECK(offsetof(dns_record, address) == 0);
  CHECK(offsetof(dns_record, peer) == 16);
  CHECK(offsetof(dns_record, timestamp_us) == 32);
  CHECK(offsetof(dns_record, ttl) == 40);
  CHECK(offsetof(dns_record, qtype) == 44);
  CHECK(offsetof(dns_record, client_mac) == 46);
  CHECK(offsetof(dns_record, kind) == 52);
  CHECK(offsetof(dns_record, name_len) == 53);
  CHECK(offsetof(dns_record, name) == 54);
  CHECK(offsetof(dns_record, flags) == 309);
  CHECK(std::string(to_string(dns_error::bad_pointer)) == "bad_pointer");
}

TEST_CASE("the first record of each message is marked", "[dns]") {
  // Two responses emitted into one vector: the consumer must be able to tell
  // where the second begins.
  std::vector<dns_record> out;
  for (const char* addr : {"1.2.3.4", "5.6.7.8"}) {
    auto d = response("q.example");
    d.cname(nm("", 12), "a1.cdn.example", 600);
    d.addr(nm("a1.cdn.example"), addr, 300);
    d.addr(nm("a1.cdn.example"), "9.9.9.9", 300);
    auto msg = d.done();
    dns_message m;
    REQUIRE(parse_dns(msg.data(), msg.size(), m) == dns_error::ok);
    dns_emit_records(m, context(), out);
  }
  REQUIRE(out.size() == 8); // 2 addresses x 2 names, twice
  std::vector<bool> starts;
  for (auto& r : out)
    starts.push_back(r.starts_message());
  CHECK(starts ==
        std::vector<bool>{true, false, false, false, true, false, false, false});
}

// ---------------------------------------------------------------- the extractor

namespace {

const char* const client = "192.168.1.10";
const char* const server = "192.168.1.1";
const char* const client_mac = "aa:bb:cc:dd:ee:01";
const char* const router_mac = "00:11:22:33:44:55";

bytes udp(uint16_t sport, uint16_t dport, const bytes& payload) {
  bytes b;
  put16(b, sport);
  put16(b, dport);
  put16(b, static_cast<uint16_t>(8 + payload.size()));
  put16(b, 0);
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

constexpr uint8_t fin = 0x01, syn = 0x02, rst = 0x04, psh = 0x08, ack = 0x10;

bytes tcp(uint16_t sport, uint16_t dport, uint32_t seq, uint8_t flags,
          const bytes& payload = {}) {
  bytes b;
  put16(b, sport);
  put16(b, dport);
  put16(b, static_cast<uint16_t>(seq >> 16));
  put16(b, static_cast<uint16_t>(seq));
  put16(b, 0);
  put16(b, 0);
  b.push_back(0x50);
  b.push_back(flags);
  put16(b, 65535);
  put16(b, 0);
  put16(b, 0);
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

// A frame from the server (port 53) to the client, or the other way.
bytes from_server(uint8_t proto, const bytes& l4) {
  return ethernet(client_mac, router_mac, 0x0800, ipv4(server, client, proto, l4));
}
bytes to_server(uint8_t proto, const bytes& l4) {
  return ethernet(router_mac, client_mac, 0x0800, ipv4(client, server, proto, l4));
}

bytes length_prefixed(const bytes& msg) {
  bytes b;
  put16(b, static_cast<uint16_t>(msg.size()));
  b.insert(b.end(), msg.begin(), msg.end());
  return b;
}

bytes slice(const bytes& b, size_t from, size_t to) {
  return bytes(b.begin() + static_cast<std::ptrdiff_t>(from),
               b.begin() + static_cast<std::ptrdiff_t>(to));
}

bytes answer_for(const char* name, const char* address, uint32_t ttl = 300) {
  auto d = response(name);
  d.addr(nm("", 12), address, ttl);
  return d.done();
}

struct feeder {
  dns_extractor ex;
  std::vector<dns_record> out;

  feeder() = default;
  explicit feeder(dns_extractor::options o) : ex(o) {}

  // Parses the frame as parse_frame would from a capture that kept `caplen`
  // bytes (0: all) and hands it to the extractor.
  size_t send(const bytes& frame, int64_t ts = 1000000, size_t caplen = 0) {
    size_t cap = caplen ? caplen : frame.size();
    std::unique_ptr<uint8_t[]> copy(new uint8_t[cap]);
    std::copy(frame.begin(), frame.begin() + static_cast<std::ptrdiff_t>(cap),
              copy.get());
    packet_record r;
    parse_extras e;
    REQUIRE(parse_frame(link_type::ethernet, copy.get(), cap, frame.size(), r, &e) ==
            parse_status::ok);
    return ex.process(r, e, ts, out, cap < frame.size());
  }

  std::set<triple> triples() const {
    std::set<triple> s;
    for (const auto& r : out)
      if (r.kind == dns_record_kind::answer)
        s.emplace(r.address.to_string(), std::string(r.name_view()), r.ttl);
    return s;
  }
  uint64_t errors(dns_error e) const {
    return ex.counters().errors[static_cast<size_t>(e)];
  }
};

} // namespace

TEST_CASE("UDP: responses from port 53 and queries to it", "[dns][extractor]") {
  feeder f;
  dns_builder q(0x0100);
  q.question("www.example.com");
  CHECK(f.send(to_server(17, udp(40000, 53, q.done()))) == 1);
  CHECK(f.send(from_server(
            17, udp(53, 40000, answer_for("www.example.com", "192.0.2.5")))) == 1);
  REQUIRE(f.out.size() == 2);
  const dns_record& query = f.out[0];
  CHECK(query.kind == dns_record_kind::query);
  CHECK(query.address == ip(client));
  CHECK(query.peer == ip(server));
  CHECK(query.client_mac == mac(client_mac));
  CHECK(query.name_view() == "www.example.com");
  const dns_record& ans = f.out[1];
  CHECK(ans.kind == dns_record_kind::answer);
  CHECK(ans.address == ip("192.0.2.5"));
  CHECK(ans.peer == ip(client));
  CHECK(ans.client_mac == mac(client_mac));
  CHECK(ans.timestamp_us == 1000000);
  const dns_counters& c = f.ex.counters();
  CHECK(c.packets == 2);
  CHECK(c.messages == 2);
  CHECK(c.queries == 1);
  CHECK(c.responses == 1);
  CHECK(c.query_records == 1);
  CHECK(c.answer_records == 1);
  CHECK(c.errors_total() == 0);
}

TEST_CASE("UDP over IPv6, and other ports are ignored", "[dns][extractor]") {
  feeder f;
  bytes msg = answer_for("v6.example", "2001:db8::53");
  auto frame = ethernet(client_mac, router_mac, 0x86dd,
                        ipv6("fd00:1::1", "fd00:1::10", 17, {}, udp(53, 41000, msg)));
  CHECK(f.send(frame) == 1);
  CHECK(f.out[0].peer == ip("fd00:1::10"));
  CHECK(f.send(from_server(17, udp(5353, 5353, msg))) == 0);
  CHECK(f.send(from_server(17, udp(8053, 40000, msg))) == 0);
  CHECK(f.ex.counters().packets == 1);
}

TEST_CASE("the QR bit must match the direction; both ports 53: QR decides",
          "[dns][extractor]") {
  feeder f;
  bytes ans = answer_for("x.example", "192.0.2.6");
  dns_builder q(0x0100);
  q.question("x.example");
  bytes query = q.done();
  CHECK(f.send(to_server(17, udp(40000, 53, ans))) == 0);
  CHECK(f.send(from_server(17, udp(53, 40000, query))) == 0);
  CHECK(f.errors(dns_error::direction_mismatch) == 2);
  CHECK(f.send(from_server(17, udp(53, 53, ans))) == 1);
  CHECK(f.send(to_server(17, udp(53, 53, query))) == 1);
  CHECK(f.out[0].kind == dns_record_kind::answer);
  CHECK(f.out[1].kind == dns_record_kind::query);
}

TEST_CASE("a response cut by the capture's snap length is truncated",
          "[dns][extractor]") {
  feeder f;
  bytes frame = from_server(17, udp(53, 40000, answer_for("cut.example", "192.0.2.7")));
  CHECK(f.send(frame, 1000000, frame.size() - 3) == 0);
  CHECK(f.send(frame, 1000000, 14 + 20 + 4) == 0); // not even the UDP header
  CHECK(f.errors(dns_error::truncated) == 2);
  CHECK(f.out.empty());
}

TEST_CASE("a malformed message is counted by its error", "[dns][extractor]") {
  feeder f;
  dns_builder d(0x8180);
  d.question(nm("", 12));
  CHECK(f.send(from_server(17, udp(53, 40000, d.done()))) == 0);
  CHECK(f.errors(dns_error::bad_pointer) == 1);
  CHECK(f.ex.counters().messages == 0);
}

TEST_CASE("a broadcast destination MAC is not a client MAC", "[dns][extractor]") {
  feeder f;
  auto frame = ethernet(
      "ff:ff:ff:ff:ff:ff", router_mac, 0x0800,
      ipv4(server, client, 17, udp(53, 40000, answer_for("b.example", "192.0.2.8"))));
  REQUIRE(f.send(frame) == 1);
  CHECK(f.out[0].client_mac.empty());
}

TEST_CASE("TCP: one length-prefixed message after the handshake",
          "[dns][extractor][tcp]") {
  feeder f;
  const uint32_t isn = 0xfffffff0u; // wraps around during the stream
  bytes stream = length_prefixed(answer_for("tcp.example", "192.0.2.20"));
  CHECK(f.send(from_server(6, tcp(53, 40001, isn, syn | ack))) == 0);
  CHECK(f.send(from_server(6, tcp(53, 40001, isn + 1, psh | ack, stream))) == 1);
  CHECK(f.triples() == std::set<triple>{{"192.0.2.20", "tcp.example", 300}});
  CHECK(
      f.send(from_server(6, tcp(53, 40001, isn + 1 + static_cast<uint32_t>(stream.size()),
                                fin | ack))) == 0);
  const dns_counters& c = f.ex.counters();
  CHECK(c.tcp_flows_started == 1);
  CHECK(c.tcp_flows_ended == 1);
  CHECK(c.tcp_flows == 0);
}

TEST_CASE("TCP: two messages in one segment", "[dns][extractor][tcp]") {
  feeder f;
  bytes stream = length_prefixed(answer_for("one.example", "192.0.2.21"));
  bytes second = length_prefixed(answer_for("two.example", "192.0.2.22"));
  stream.insert(stream.end(), second.begin(), second.end());
  f.send(from_server(6, tcp(53, 40002, 1000, syn | ack)));
  CHECK(f.send(from_server(6, tcp(53, 40002, 1001, ack, stream))) == 2);
  CHECK(f.triples() == std::set<triple>{{"192.0.2.21", "one.example", 300},
                                        {"192.0.2.22", "two.example", 300}});
}

TEST_CASE("TCP: a message split over three segments", "[dns][extractor][tcp]") {
  bytes stream = length_prefixed(answer_for("split.example", "192.0.2.23"));
  bytes second = length_prefixed(answer_for("next.example", "192.0.2.24"));
  stream.insert(stream.end(), second.begin(), second.end());
  // Cut inside the length prefix, inside the first message, and inside the
  // second message's prefix.
  const size_t first_end = stream.size() - second.size();
  const std::pair<size_t, size_t> cut_points[] = {
      {1, 20}, {10, first_end + 1}, {2, first_end}};
  for (const auto& cuts : cut_points) {
    feeder f;
    f.send(from_server(6, tcp(53, 40003, 5000, syn | ack)));
    CHECK(f.send(from_server(
              6, tcp(53, 40003, 5001, ack, slice(stream, 0, cuts.first)))) == 0);
    f.send(from_server(6, tcp(53, 40003, 5001 + static_cast<uint32_t>(cuts.first), ack,
                              slice(stream, cuts.first, cuts.second))));
    f.send(from_server(6, tcp(53, 40003, 5001 + static_cast<uint32_t>(cuts.second), ack,
                              slice(stream, cuts.second, stream.size()))));
    CHECK(f.triples() == std::set<triple>{{"192.0.2.23", "split.example", 300},
                                          {"192.0.2.24", "next.example", 300}});
    CHECK(f.ex.counters().tcp_resets == 0);
  }
}

TEST_CASE("TCP: retransmissions are ignored, overlaps trimmed", "[dns][extractor][tcp]") {
  feeder f;
  bytes stream = length_prefixed(answer_for("re.example", "192.0.2.25"));
  f.send(from_server(6, tcp(53, 40004, 7000, syn | ack)));
  f.send(from_server(6, tcp(53, 40004, 7000, syn | ack))); // SYN again: no reset
  f.send(from_server(6, tcp(53, 40004, 7001, ack, slice(stream, 0, 10))));
  f.send(from_server(6, tcp(53, 40004, 7001, ack, slice(stream, 0, 10)))); // old
  // Overlaps the first 10 bytes, brings the rest.
  CHECK(f.send(from_server(6, tcp(53, 40004, 7001, ack, stream))) == 1);
  f.send(from_server(6, tcp(53, 40004, 7001, ack, stream))); // old again
  CHECK(f.out.size() == 1);
  CHECK(f.ex.counters().tcp_retransmits == 2);
  CHECK(f.ex.counters().tcp_flows_started == 1);
}

TEST_CASE("TCP: a gap resets the flow until the next SYN", "[dns][extractor][tcp]") {
  feeder f;
  bytes stream = length_prefixed(answer_for("gap.example", "192.0.2.26"));
  f.send(from_server(6, tcp(53, 40005, 100, syn | ack)));
  f.send(from_server(6, tcp(53, 40005, 101, ack, slice(stream, 0, 10))));
  // Bytes 10..19 are lost.
  CHECK(f.send(from_server(
            6, tcp(53, 40005, 121, ack, slice(stream, 20, stream.size())))) == 0);
  CHECK(f.ex.counters().tcp_resets == 1);
  CHECK(f.ex.counters().tcp_flows == 0);
  CHECK(f.send(from_server(6, tcp(53, 40005, 111, ack, slice(stream, 10, 20)))) == 0);
  CHECK(f.ex.counters().tcp_no_flow == 1);
  // A far-away sequence number on a new flow is out of the window.
  f.send(from_server(6, tcp(53, 40005, 100000000, syn | ack)));
  CHECK(f.send(from_server(6, tcp(53, 40005, 1, ack, stream))) == 0);
  CHECK(f.ex.counters().tcp_resets == 2);
  // A new connection works again.
  f.send(from_server(6, tcp(53, 40005, 9000, syn | ack)));
  CHECK(f.send(from_server(6, tcp(53, 40005, 9001, ack, stream))) == 1);
}

TEST_CASE("TCP: data without a SYN, RST and FIN", "[dns][extractor][tcp]") {
  feeder f;
  bytes stream = length_prefixed(answer_for("x.example", "192.0.2.27"));
  CHECK(f.send(from_server(6, tcp(53, 40006, 1, ack, stream))) == 0);
  CHECK(f.ex.counters().tcp_no_flow == 1);
  f.send(from_server(6, tcp(53, 40006, 10, syn | ack)));
  f.send(from_server(6, tcp(53, 40006, 11, ack, slice(stream, 0, 5))));
  CHECK(f.send(from_server(
            6, tcp(53, 40006, 16, rst, slice(stream, 5, stream.size())))) == 0);
  CHECK(f.ex.counters().tcp_flows == 0);
  // A FIN with the last bytes delivers them, then ends the flow.
  f.send(from_server(6, tcp(53, 40006, 20, syn | ack)));
  f.send(from_server(6, tcp(53, 40006, 21, ack, slice(stream, 0, 5))));
  CHECK(f.send(from_server(
            6, tcp(53, 40006, 26, fin | ack, slice(stream, 5, stream.size())))) == 1);
  CHECK(f.ex.counters().tcp_flows == 0);
  CHECK(f.ex.counters().tcp_flows_ended == 2);
}

TEST_CASE("TCP: queries from the client side", "[dns][extractor][tcp]") {
  feeder f;
  dns_builder q(0x0100);
  q.question("tcpq.example", 28);
  bytes stream = length_prefixed(q.done());
  f.send(to_server(6, tcp(40007, 53, 42, syn)));
  CHECK(f.send(to_server(6, tcp(40007, 53, 43, psh | ack, stream))) == 1);
  CHECK(f.out[0].kind == dns_record_kind::query);
  CHECK(f.out[0].qtype == 28);
  CHECK(f.out[0].client_mac == mac(client_mac));
}

TEST_CASE("TCP: a segment cut by the capture is truncated", "[dns][extractor][tcp]") {
  feeder f;
  bytes stream = length_prefixed(answer_for("cut.example", "192.0.2.28"));
  f.send(from_server(6, tcp(53, 40008, 300, syn | ack)));
  bytes frame = from_server(6, tcp(53, 40008, 301, ack, stream));
  CHECK(f.send(frame, 1000000, frame.size() - 4) == 0);
  CHECK(f.errors(dns_error::truncated) == 1);
  CHECK(f.ex.counters().tcp_flows == 0);
}

TEST_CASE("TCP: the flow table is bounded and idle flows expire",
          "[dns][extractor][tcp]") {
  dns_extractor::options o;
  o.max_tcp_flows = 4;
  feeder f(o);
  bytes stream = length_prefixed(answer_for("lru.example", "192.0.2.29"));
  // Six flows, each with the first 5 bytes of a message.
  for (uint16_t i = 0; i < 6; ++i) {
    f.send(from_server(6, tcp(53, static_cast<uint16_t>(41000 + i), 1000, syn | ack)),
           1000000 + i);
    f.send(from_server(6, tcp(53, static_cast<uint16_t>(41000 + i), 1001, ack,
                              slice(stream, 0, 5))),
           1000000 + i);
  }
  CHECK(f.ex.counters().tcp_flows == 4);
  CHECK(f.ex.counters().tcp_flows_evicted == 2);
  // The two oldest flows are gone; the newest completes.
  CHECK(f.send(from_server(6, tcp(53, 41000, 1006, ack, slice(stream, 5, stream.size()))),
               1000010) == 0);
  CHECK(f.send(from_server(6, tcp(53, 41005, 1006, ack, slice(stream, 5, stream.size()))),
               1000010) == 1);
  // 31 s later every flow has expired.
  CHECK(f.send(from_server(6, tcp(53, 41004, 1006, ack, slice(stream, 5, stream.size()))),
               32000000) == 0);
  CHECK(f.ex.counters().tcp_flows_expired == 4);
  CHECK(f.ex.counters().tcp_flows == 0);
}

TEST_CASE("TCP: a stream of many messages in odd segment sizes",
          "[dns][extractor][tcp]") {
  bytes stream;
  std::set<triple> expected;
  for (int i = 0; i < 50; ++i) {
    std::string n = "m" + std::to_string(i) + ".example";
    std::string a = "10.9.0." + std::to_string(i);
    bytes m = length_prefixed(answer_for(n.c_str(), a.c_str(), 100 + i));
    stream.insert(stream.end(), m.begin(), m.end());
    expected.emplace(a, n, 100 + i);
  }
  for (size_t seg : {1u, 7u, 13u, 100u, 1400u}) {
    feeder f;
    f.send(from_server(6, tcp(53, 42000, 77, syn | ack)));
    for (size_t off = 0; off < stream.size(); off += seg)
      f.send(from_server(6, tcp(53, 42000, 78 + static_cast<uint32_t>(off), ack,
                                slice(stream, off, std::min(stream.size(), off + seg)))));
    CHECK(f.triples() == expected);
    CHECK(f.ex.counters().messages == 50);
  }
}

TEST_CASE("random segments and datagrams never break the extractor",
          "[dns][extractor][robustness]") {
  dns_extractor::options o;
  o.max_tcp_flows = 3;
  feeder f(o);
  bytes stream;
  for (int i = 0; i < 8; ++i) {
    bytes m = length_prefixed(answer_for("r.example", "192.0.2.90", 10));
    stream.insert(stream.end(), m.begin(), m.end());
  }
  uint64_t s = 0x243f6a8885a308d3ull;
  auto next = [&s] {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  };
  const uint8_t flag_choices[] = {ack,       ack,       ack, psh | ack,
                                  syn | ack, fin | ack, rst, syn};
  int64_t ts = 1000000;
  for (int i = 0; i < 20000; ++i) {
    const uint16_t port = static_cast<uint16_t>(43000 + next() % 5);
    const size_t from = next() % stream.size();
    const size_t to = std::min(stream.size(), from + next() % 300);
    bytes payload = slice(stream, from, to);
    if (next() % 8 == 0 && !payload.empty())
      payload[next() % payload.size()] = static_cast<uint8_t>(next());
    const uint32_t seq =
        next() % 2 ? 1000 + static_cast<uint32_t>(from) : static_cast<uint32_t>(next());
    const uint8_t flags = flag_choices[next() % 8];
    ts += static_cast<int64_t>(next() % 3000000);
    bytes frame = next() % 2 ? from_server(6, tcp(53, port, seq, flags, payload))
                             : to_server(6, tcp(port, 53, seq, flags, payload));
    if (next() % 10 == 0)
      frame = from_server(17, udp(53, port, payload));
    const size_t cap = next() % 16 == 0 ? 14 + 20 + next() % (frame.size() - 34) : 0;
    f.send(frame, ts, cap);
    REQUIRE(f.ex.counters().tcp_flows <= 3);
  }
  CHECK(f.ex.counters().tcp_segments > 0);
}
