// The DNS path of the reader thread, per message: parse_dns plus
// dns_emit_records on typical hand-built responses (as resolvers write them,
// with compression pointers) and a query, and dns_extractor::process on whole
// UDP frames. Times are per message; the output vector is reused, as the
// reader thread reuses its side batch, so no iteration allocates.
#include "spin/runtime/dns.hpp"
#include "spin/runtime/packet_parser.hpp"

#include <benchmark/benchmark.h>

#include <string>
#include <vector>

using namespace spin;

namespace {

using bytes = std::vector<uint8_t>;

void put16(bytes& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}

void put32(bytes& b, uint32_t v) {
  put16(b, static_cast<uint16_t>(v >> 16));
  put16(b, static_cast<uint16_t>(v));
}

// Writes `labels` (dotted) and then a pointer to `ptr`, or the root label when
// ptr < 0; returns the offset of the name.
size_t put_name(bytes& b, const std::string& labels, int ptr = -1) {
  const size_t at = b.size();
  size_t p = 0;
  while (p < labels.size()) {
    size_t dot = labels.find('.', p);
    if (dot == std::string::npos)
      dot = labels.size();
    b.push_back(static_cast<uint8_t>(dot - p));
    b.insert(b.end(), labels.begin() + static_cast<std::ptrdiff_t>(p),
             labels.begin() + static_cast<std::ptrdiff_t>(dot));
    p = dot + 1;
  }
  if (ptr >= 0)
    put16(b, static_cast<uint16_t>(0xc000 | ptr));
  else
    b.push_back(0);
  return at;
}

struct message {
  bytes b;
  uint16_t qd = 0, an = 0, ar = 0;

  explicit message(uint16_t flags) {
    put16(b, 0x4a21);
    put16(b, flags);
    b.resize(12, 0);
  }
  size_t question(const std::string& name, uint16_t qtype) {
    const size_t at = put_name(b, name);
    put16(b, qtype);
    put16(b, 1);
    ++qd;
    return at;
  }
  void header(uint16_t type, uint32_t ttl, uint16_t rdlength) {
    put16(b, type);
    put16(b, 1);
    put32(b, ttl);
    put16(b, rdlength);
  }
  void a(int owner, uint8_t last, uint32_t ttl = 60) {
    put_name(b, "", owner);
    header(dns_type::a, ttl, 4);
    b.insert(b.end(), {203, 0, 113, last});
    ++an;
  }
  void aaaa(int owner, uint8_t last, uint32_t ttl = 300) {
    put_name(b, "", owner);
    header(dns_type::aaaa, ttl, 16);
    b.insert(b.end(), {0x20, 0x01, 0x0d, 0xb8, 0x40, 0x05, 0x08, 0x0f, 0, 0, 0, 0, 0, 0,
                       0x20, last});
    ++an;
  }
  // Returns the offset of the target (for the pointers of later records).
  size_t cname(int owner, const std::string& target, int target_ptr, uint32_t ttl) {
    put_name(b, "", owner);
    const size_t len_at = b.size();
    header(dns_type::cname, ttl, 0);
    const size_t at = put_name(b, target, target_ptr);
    const size_t len = b.size() - at;
    b[len_at + 8] = static_cast<uint8_t>(len >> 8);
    b[len_at + 9] = static_cast<uint8_t>(len);
    ++an;
    return at;
  }
  void opt() {
    b.push_back(0);
    put16(b, dns_type::opt);
    put16(b, 1232);
    put32(b, 0);
    put16(b, 0);
    ++ar;
  }
  bytes done() {
    b[4] = static_cast<uint8_t>(qd >> 8);
    b[5] = static_cast<uint8_t>(qd);
    b[6] = static_cast<uint8_t>(an >> 8);
    b[7] = static_cast<uint8_t>(an);
    b[10] = static_cast<uint8_t>(ar >> 8);
    b[11] = static_cast<uint8_t>(ar);
    return b;
  }
};

// www.example.com A: two addresses.
bytes a_only() {
  message m(0x8180);
  const int q = static_cast<int>(m.question("www.example.com", dns_type::a));
  m.a(q, 10);
  m.a(q, 11);
  m.opt();
  return m.done();
}

// A CDN answer: two CNAME hops, then four addresses.
bytes cname_chain() {
  message m(0x8180);
  const int q = static_cast<int>(m.question("www.shop.example.com", dns_type::a));
  const int t1 =
      static_cast<int>(m.cname(q, "www.shop.example.com.edgekey.net", -1, 300));
  // "e1234.a.akamaiedge" + pointer to "net" inside the first target
  const int net = t1 + 1 + 3 + 1 + 4 + 1 + 7 + 1 + 3 + 1 + 7;
  const int t2 = static_cast<int>(m.cname(t1, "e1234.a.akamaiedge", net, 120));
  for (uint8_t i = 0; i < 4; ++i)
    m.a(t2, static_cast<uint8_t>(20 + i), 20);
  m.opt();
  return m.done();
}

// Both families for one name: four AAAA and four A records.
bytes mixed8() {
  message m(0x8180);
  const int q = static_cast<int>(m.question("www.google.com", dns_type::aaaa));
  for (uint8_t i = 0; i < 4; ++i) {
    m.aaaa(q, static_cast<uint8_t>(0x60 + i));
    m.a(q, static_cast<uint8_t>(100 + i));
  }
  m.opt();
  return m.done();
}

bytes query() {
  message m(0x0100);
  m.question("connectivity-check.ubuntu.com", dns_type::aaaa);
  m.opt();
  return m.done();
}

dns_message_context context() {
  dns_message_context c;
  c.src = *ip_address::parse("192.168.1.1");
  c.dst = *ip_address::parse("192.168.1.10");
  c.src_mac = *mac_address::parse("00:11:22:33:44:55");
  c.dst_mac = *mac_address::parse("aa:bb:cc:dd:ee:01");
  c.timestamp_us = 1767225600123456;
  return c;
}

void parse_emit(benchmark::State& state, bytes (*make)()) {
  const bytes msg = make();
  const dns_message_context ctx = context();
  std::vector<dns_record> out;
  out.reserve(64);
  size_t records = 0;
  for (auto _ : state) {
    out.clear();
    dns_message m;
    if (parse_dns(msg.data(), msg.size(), m) != dns_error::ok) {
      state.SkipWithError("message does not parse");
      break;
    }
    dns_emit_records(m, ctx, out);
    records = out.size();
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.counters["records"] = static_cast<double>(records);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(parse_emit, a_only, a_only);
BENCHMARK_CAPTURE(parse_emit, cname2_a4, cname_chain);
BENCHMARK_CAPTURE(parse_emit, aaaa4_a4, mixed8);
BENCHMARK_CAPTURE(parse_emit, query, query);

// An Ethernet + IPv4 + UDP frame around `payload`.
bytes udp_frame(const bytes& payload, bool from_server) {
  bytes f = {0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x01, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55};
  if (!from_server)
    for (size_t i = 0; i < 6; ++i)
      std::swap(f[i], f[6 + i]);
  put16(f, 0x0800);
  f.push_back(0x45);
  f.push_back(0);
  put16(f, static_cast<uint16_t>(20 + 8 + payload.size()));
  put16(f, 0x1234);
  put16(f, 0);
  f.push_back(64);
  f.push_back(17);
  put16(f, 0);
  const bytes server = {192, 168, 1, 1}, client = {192, 168, 1, 10};
  const bytes& src = from_server ? server : client;
  const bytes& dst = from_server ? client : server;
  f.insert(f.end(), src.begin(), src.end());
  f.insert(f.end(), dst.begin(), dst.end());
  put16(f, from_server ? 53 : 40000);
  put16(f, from_server ? 40000 : 53);
  put16(f, static_cast<uint16_t>(8 + payload.size()));
  put16(f, 0);
  f.insert(f.end(), payload.begin(), payload.end());
  return f;
}

void extractor_udp(benchmark::State& state, bytes (*make)(), bool from_server) {
  const bytes frame = udp_frame(make(), from_server);
  packet_record rec;
  parse_extras extras;
  if (parse_frame(link_type::ethernet, frame.data(), frame.size(), frame.size(), rec,
                  &extras) != parse_status::ok) {
    state.SkipWithError("frame does not parse");
    return;
  }
  dns_extractor ex;
  std::vector<dns_record> out;
  out.reserve(64);
  int64_t ts = 1767225600000000;
  for (auto _ : state) {
    out.clear();
    benchmark::DoNotOptimize(ex.process(rec, extras, ts++, out));
    benchmark::ClobberMemory();
  }
  if (ex.counters().errors_total() != 0)
    state.SkipWithError("extractor rejected the message");
  state.counters["records"] = static_cast<double>(out.size());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(extractor_udp, cname2_a4, cname_chain, true);
BENCHMARK_CAPTURE(extractor_udp, aaaa4_a4, mixed8, true);
BENCHMARK_CAPTURE(extractor_udp, query, query, false);

} // namespace
