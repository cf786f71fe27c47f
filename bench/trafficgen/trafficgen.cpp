// spin-trafficgen: deterministic generator of realistic home-network
// captures (pcap) plus the ground truth the spin daemon must reproduce.
//
// Only the C++17 standard library is used. See README.md for the options,
// the network model and the ground-truth formats.
#include "model.hpp"
#include "rng.hpp"
#include "truth.hpp"
#include "wire.hpp"
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <queue>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace tg {
namespace {

constexpr std::int64_t kMs = 1000;
constexpr std::int64_t kSec = 1000000;

// ====================================================================== options

struct Options {
  std::uint64_t packets = 0;
  std::string out;
  std::string truth;
  bool truth_flows = false;
  std::uint64_t seed = 1;
  double rate = 15000;
  std::int64_t start = 1767225600; // 2026-01-01T00:00:00Z
  int devices = 36;
  std::uint32_t snaplen = 128;
  int vlan = -1;
  bool cdn_overlap = false;
  double dns_share = -1; // --dns-share F; < 0: not given
  std::vector<std::string> argv;
};

const char* kUsage =
    "usage: spin-trafficgen --packets N --out FILE.pcap [options]\n"
    "\n"
    "Writes a deterministic, realistic home-network capture (pcap, Ethernet)\n"
    "and optionally its ground truth.\n"
    "\n"
    "  --packets N          number of frames to write (required, >= 1)\n"
    "  --out FILE           output pcap file (required)\n"
    "  --truth PREFIX       write PREFIX.seconds.csv, PREFIX.devices.csv,\n"
    "                       PREFIX.dns.csv and PREFIX.summary.json\n"
    "  --truth-flows        also write PREFIX.flows.csv (per-second flows; big)\n"
    "  --seed S             random seed (default 1); same seed + arguments =>\n"
    "                       byte-identical output\n"
    "  --rate PPS           mean packets per second (default 15000)\n"
    "  --start SECONDS      Unix time of the first packet (default 1767225600)\n"
    "  --devices N          LAN devices besides the router, 1..250 (default 36)\n"
    "  --snaplen N          store at most N bytes of frames other than DNS/mDNS\n"
    "                       and DHCP, 14..65535 (default 128)\n"
    "  --vlan ID            tag every frame with 802.1Q VLAN ID (1..4094)\n"
    "  --cdn-overlap        add dozens of CDN-hosted names whose answers share\n"
    "                       addresses (CNAME chains into shared edge hosts)\n"
    "  --dns-share F        DNS-heavy capture: about a fraction F (0..0.6) of the\n"
    "                       frames are DNS responses (each after its query) for\n"
    "                       thousands of generated names; see README.md\n"
    "  --help               show this help\n";

[[noreturn]] void usage_error(const std::string& msg) {
  std::fprintf(stderr, "spin-trafficgen: %s\n(try --help)\n", msg.c_str());
  std::exit(2);
}

bool parse_u64(const std::string& s, std::uint64_t& v) {
  if (s.empty())
    return false;
  int base = 10;
  std::size_t i = 0;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    i = 2;
  }
  std::uint64_t r = 0;
  for (; i < s.size(); ++i) {
    int d;
    const char c = s[i];
    if (c >= '0' && c <= '9')
      d = c - '0';
    else if (base == 16 && c >= 'a' && c <= 'f')
      d = c - 'a' + 10;
    else if (base == 16 && c >= 'A' && c <= 'F')
      d = c - 'A' + 10;
    else
      return false;
    if (r >
        (UINT64_MAX - static_cast<std::uint64_t>(d)) / static_cast<std::uint64_t>(base))
      return false;
    r = r * static_cast<std::uint64_t>(base) + static_cast<std::uint64_t>(d);
  }
  v = r;
  return true;
}

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 0; i < argc; ++i)
    o.argv.emplace_back(argv[i]);
  bool have_packets = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string val;
    bool has_inline = false;
    if (arg.rfind("--", 0) == 0) {
      const auto eq = arg.find('=');
      if (eq != std::string::npos) {
        val = arg.substr(eq + 1);
        arg = arg.substr(0, eq);
        has_inline = true;
      }
    }
    auto value = [&]() -> std::string {
      if (has_inline)
        return val;
      if (i + 1 >= argc)
        usage_error("option " + arg + " needs a value");
      return argv[++i];
    };
    auto number = [&](std::uint64_t lo, std::uint64_t hi) -> std::uint64_t {
      const std::string v = value();
      std::uint64_t n = 0;
      if (!parse_u64(v, n) || n < lo || n > hi)
        usage_error("bad value for " + arg + ": '" + v + "' (expected " +
                    std::to_string(lo) + ".." + std::to_string(hi) + ")");
      return n;
    };
    auto flag = [&]() {
      if (has_inline)
        usage_error("option " + arg + " takes no value");
    };
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (arg == "--packets") {
      o.packets = number(1, UINT64_MAX);
      have_packets = true;
    } else if (arg == "--out") {
      o.out = value();
      if (o.out.empty())
        usage_error("--out needs a file name");
    } else if (arg == "--truth") {
      o.truth = value();
      if (o.truth.empty())
        usage_error("--truth needs a prefix");
    } else if (arg == "--truth-flows") {
      flag();
      o.truth_flows = true;
    } else if (arg == "--seed") {
      o.seed = number(0, UINT64_MAX);
    } else if (arg == "--rate") {
      const std::string v = value();
      char* end = nullptr;
      const double r = std::strtod(v.c_str(), &end);
      if (v.empty() || !end || *end != '\0' || !(r >= 0.1) || !(r <= 1e8))
        usage_error("bad value for --rate: '" + v + "' (expected a number 0.1..1e8)");
      o.rate = r;
    } else if (arg == "--start") {
      o.start = static_cast<std::int64_t>(number(0, 4000000000ULL));
    } else if (arg == "--devices") {
      o.devices = static_cast<int>(number(1, 250));
    } else if (arg == "--snaplen") {
      o.snaplen = static_cast<std::uint32_t>(number(14, 65535));
    } else if (arg == "--vlan") {
      o.vlan = static_cast<int>(number(1, 4094));
    } else if (arg == "--cdn-overlap") {
      flag();
      o.cdn_overlap = true;
    } else if (arg == "--dns-share") {
      const std::string v = value();
      char* end = nullptr;
      const double f = std::strtod(v.c_str(), &end);
      if (v.empty() || !end || *end != '\0' || !(f >= 0.0) || !(f <= 0.6))
        usage_error("bad value for --dns-share: '" + v + "' (expected a number 0..0.6)");
      o.dns_share = f;
    } else {
      usage_error("unknown argument '" + std::string(argv[i]) + "'");
    }
  }
  if (!have_packets)
    usage_error("--packets is required");
  if (o.out.empty())
    usage_error("--out is required");
  if (o.truth_flows && o.truth.empty())
    usage_error("--truth-flows needs --truth PREFIX");
  return o;
}

// ====================================================================== events

enum TcpFlag : std::uint8_t { FIN = 1, SYN = 2, RST = 4, PSH = 8, ACKF = 16 };

// Kinds of planned packets.
enum class PK : std::uint8_t {
  Tick,   // no packet; an action (aux: 0 nothing, 1 device online, 2 spawn,
          // 3 DNS-heavy lookup burst)
  DnsQ,   // UDP DNS query (aux: query index; x: 1 = NX name)
  DnsR,   // UDP DNS response
  DnsTcp, // TCP segment of a DNS-over-TCP connection (aux: query index, off: stream
          // offset, x: 0 query 1 response)
  Tcp,    // main TCP connection
  Udp,    // main UDP flow (x: 0 data, 1 QUIC ack/control)
  Icmp,   // echo request/reply (seq)
  Dhcp,   // aux: DHCP message type; x: 0 initial, 1 renew (unicast), 2 init-reboot
  Arp,    // x: 0 router asks device, 1 device asks router, 2 probe, 3 announcement; dir 0
          // request 1 reply
  Ns,     // x: 0 device->router, 1 router->device, 2 DAD
  Na,     // x: 0 router->device, 1 device->router
  Rs,
  Ra,         // x: 0 multicast unsolicited, 1 solicited
  MdnsQ,      // aux: service type index; x: 4 or 6
  MdnsR,      // announcement / answer from dev; x: 4 or 6
  SsdpSearch, // from dev
  SsdpNotify, // from dev
  SsdpReply,  // from dev to device aux (port off)
  IgmpQuery,
  IgmpReport, // aux: group index
  Bcast,      // UDP broadcast from an IoT device
};

struct PP {
  std::int64_t t = 0;
  std::uint32_t seq = 0;
  std::uint32_t ack = 0;
  std::uint32_t len = 0;
  std::uint16_t aux = 0;
  std::uint16_t off = 0;
  std::uint16_t dev = 0;
  PK kind = PK::Tick;
  std::uint8_t dir = 0; // 0: device/client -> remote, 1: remote -> device
  std::uint8_t flags = 0;
  std::uint8_t x = 0;
};

enum class SK : std::uint8_t { Flow, Life, Spawner, Noise, DnsSpawner };
enum class NoiseKind : std::uint8_t { Arp, Mdns, Ssdp, Nd, Ra, Igmp, Bcast };
enum class Transport : std::uint8_t { Tcp, Quic, UdpMsg, Stream, Icmp, DnsOnly };
// What a new session does with its service: the service's own protocol, a
// ping, a lookup of a non-existent name, or a lookup without a connection
// (browser prefetch, an app resolving a name it then does not use).
enum class Mode : std::uint8_t { Normal, Icmp, NxLookup, Lookup };
enum Phase : std::uint8_t {
  PH_DNS,
  PH_OPEN,
  PH_XFER,
  PH_CLOSE,
  PH_CLOSED,
  PH_UDPX,
  PH_STREAM,
  PH_PING,
  PH_DONE
};

struct Exchange {
  std::uint32_t req = 0;
  std::uint32_t resp = 0;
  std::uint32_t body = 0;     // HTTP: body length inside resp
  std::int32_t think_us = 0;  // client idle time after the response
  std::int32_t server_us = 0; // server processing time before the response
};

struct Session {
  SK kind = SK::Flow;
  NoiseKind noise = NoiseKind::Arp;
  int dev = -1;
  int svc = -1;
  Transport tr = Transport::Tcp;
  bool controlled = false;
  bool persistent = false;
  std::uint8_t phase = PH_DNS;
  std::int64_t tnext = 0;
  // DNS lookup
  bool do_dns = false, dns_tcp = false, dns_v6 = false, dns_edns = false;
  std::uint8_t dns_nq = 0;
  std::uint16_t dns_id[2] = {0, 0};
  std::uint16_t dns_sport = 0;
  std::int64_t dns_done = 0; // last answer of the lookup written at
  int nx = -1;               // NX name index for DNS-only sessions
  bool nx_aaaa = false;      // the NX lookup also asks for AAAA (--dns-share)
  bool aaaa_ok = true;       // the device knows the service's AAAA records
  bool heavy = false;        // started by the --dns-share lookup process
  // flow-key accounting (summary.json "flow_keys"): 0 keys that can recur
  // (fixed ports, ICMP), 1 keys of a port no earlier session of the device
  // used for this destination, 2 such a port reused after a full cycle
  std::uint8_t kmode_flow = 0, kmode_dns = 0;
  std::uint8_t kseen = 0; // keys counted: 1 flow up, 2 flow down, 4 DNS up, 8 DNS down
  // main flow
  bool v6 = false;
  Addr remote;
  std::uint16_t sport = 0, dport = 0;
  int rtt = 20000;
  double us_per_byte_down = 0.2, us_per_byte_up = 0.8;
  std::uint32_t cseq = 0, sseq = 0;
  std::uint16_t ipid_c = 0, ipid_s = 0;
  std::vector<Exchange> ex;
  std::size_t ex_i = 0;
  std::uint64_t xfer_left = 0;
  std::uint8_t xfer_dir = 0;
  bool xfer_first = false;
  std::uint32_t cwnd = 10;
  std::int64_t ntp_sent = 0;
  bool quic_seen_server = false;
  std::uint16_t icmp_id = 0;
  int icmp_count = 0;
  std::int64_t stream_end = 0;
  // controller accounting
  std::int64_t est = 0;
  std::int64_t emitted = 0;
  // planned packets
  std::vector<PP> q;
  std::size_t qi = 0;
  int life_state = 0;
};

struct HeapEntry {
  std::int64_t t;
  std::uint64_t seq;
  std::uint32_t idx;
  bool operator>(const HeapEntry& o) const { return t != o.t ? t > o.t : seq > o.seq; }
};

// ====================================================================== helpers

// days since 1970-01-01 -> civil date (H. Hinnant's algorithm)
void civil_from_days(std::int64_t z, int& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t yy = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<int>(yy + (m <= 2));
}

std::string http_date(std::int64_t unix_seconds) {
  static const char* wd[] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
  static const char* mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::int64_t days = unix_seconds / 86400;
  const std::int64_t secs = unix_seconds % 86400;
  int y;
  unsigned m, d;
  civil_from_days(days, y, m, d);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02u %s %04d %02d:%02d:%02d GMT", wd[days % 7], d,
                mon[m - 1], y, static_cast<int>(secs / 3600),
                static_cast<int>(secs / 60 % 60), static_cast<int>(secs % 60));
  return buf;
}

Mac mac_from(std::uint32_t oui, std::uint32_t nic) {
  Mac m;
  m.b = {static_cast<std::uint8_t>(oui >> 16), static_cast<std::uint8_t>(oui >> 8),
         static_cast<std::uint8_t>(oui),       static_cast<std::uint8_t>(nic >> 16),
         static_cast<std::uint8_t>(nic >> 8),  static_cast<std::uint8_t>(nic)};
  return m;
}

// fe80::/64 with a modified EUI-64 interface identifier.
Addr link_local(const Mac& m) {
  Addr a;
  a.family = 6;
  a.b[0] = 0xfe;
  a.b[1] = 0x80;
  a.b[8] = static_cast<std::uint8_t>(m.b[0] ^ 0x02);
  a.b[9] = m.b[1];
  a.b[10] = m.b[2];
  a.b[11] = 0xff;
  a.b[12] = 0xfe;
  a.b[13] = m.b[3];
  a.b[14] = m.b[4];
  a.b[15] = m.b[5];
  return a;
}

Addr solicited_node(const Addr& target) {
  Addr a = Addr::v6({0xff02, 0, 0, 0, 0, 1, 0xff00, 0});
  a.b[13] = target.b[13];
  a.b[14] = target.b[14];
  a.b[15] = target.b[15];
  return a;
}

Mac multicast_mac(const Addr& group) {
  Mac m;
  if (group.family == 6) {
    m.b = {0x33, 0x33, group.b[12], group.b[13], group.b[14], group.b[15]};
  } else {
    m.b = {0x01,       0x00,      0x5e, static_cast<std::uint8_t>(group.b[1] & 0x7f),
           group.b[2], group.b[3]};
  }
  return m;
}

const Mac kBroadcastMac{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
const Mac kZeroMac{{0, 0, 0, 0, 0, 0}};

struct MdnsType {
  const char* type;
  std::uint16_t port;
};
const MdnsType kMdnsTypes[] = {
    {"_googlecast._tcp.local", 8009},
    {"_airplay._tcp.local", 7000},
    {"_spotify-connect._tcp.local", 4070},
    {"_ipp._tcp.local", 631},
    {"_hap._tcp.local", 8080},
};
constexpr int kMdnsTypeCount = sizeof kMdnsTypes / sizeof kMdnsTypes[0];

const char* kNxNames[] = {"wpad.lan", "_dns.resolver.arpa", "isatap.lan",
                          "router.lan.lan", "time.local-ntp.lan"};
constexpr int kNxCount = sizeof kNxNames / sizeof kNxNames[0];

// Share of the activities of phones, laptops, TVs, consoles and speakers
// that are a lookup without a connection (prefetch, unused answers).
constexpr double kLookupShare = 0.3;

// ====================================================================== generator

class Generator {
public:
  explicit Generator(const Options& o) : o_(o), rng_(o.seed) {
    eth_len_ = o_.vlan >= 0 ? 18 : 14;
    bscale_ = std::clamp(o_.rate / 40000.0, 0.02, 2.0);
    stream_scale_ = std::clamp(bscale_ * 5.0, 0.1, 1.0);
    pace_scale_ = std::clamp(bscale_ * 3.0, 0.1, 1.0);
    static const std::uint16_t kSkip[] = {
        34962, 34980, 37008, 41170, 44321, 44322, 44818, 45564, 47000,
        47808, 48049, 48898, 49999, 54328, 56000, 56001, 56500, 56501,
        57000, 57001, 57032, 57033, 57500, 57501, 57532, 57533, 59000,
        59001, 59032, 59033, 59500, 59501, 59532, 59533, 60001};
    for (std::uint32_t port = 32768; port <= 60999; ++port)
      if (std::find(std::begin(kSkip), std::end(kSkip), port) == std::end(kSkip))
        eph_ports_.push_back(static_cast<std::uint16_t>(port));
    nx_names_.assign(std::begin(kNxNames), std::end(kNxNames));
    heavy_ = o_.dns_share > 0;
  }

  int run();

private:
  // ---------------------------------------------------------------- model
  void build_model();
  int add_name(const std::string& n, std::uint32_t ttl);
  int find_name(const std::string& n) const;
  int find_service(const std::string& n) const;
  void add_service(const std::string& name, Profile p, std::uint16_t port, bool quic);
  void add_service_id(int name_id, Profile p, std::uint16_t port, bool quic, Rng& rng);
  void build_devices();
  void build_dns_catalogue();

  // ---------------------------------------------------------------- scheduling
  std::uint32_t new_session(SK kind);
  void schedule(std::uint32_t idx);
  void finish_session(std::uint32_t idx);
  bool plan(std::uint32_t idx, std::int64_t now);
  static void push(Session& s, const PP& p) { s.q.push_back(p); }
  static void sort_queue(Session& s);

  // flows
  struct Intent {
    int svc;
    std::int64_t delay; // after the spawn
    Mode mode;
    int nx = -1; // NxLookup: the name (index into nx_names_), -1: any base one
  };
  void spawn_flow(std::int64_t now);
  void plan_spawn(int dev, std::vector<Intent>& out);
  void spawn_dns_event(std::int64_t now);
  double dns_lambda(std::int64_t now);
  int pick_variant(int family);
  std::int64_t start_flow(int dev, int svc, std::int64_t now, bool controlled,
                          bool persistent, Mode mode, bool force_dns);
  void configure_flow(Session& s, int dev, int svc, bool persistent, Mode mode);
  void init_controller();
  std::uint16_t alloc_port(int dev, const Addr& dst, std::uint8_t proto,
                           std::uint16_t dport, std::uint8_t& kmode);
  static std::uint8_t key_class(Session& s, std::uint8_t bit, std::uint8_t kmode) {
    if (kmode != 1)
      return kmode;
    if (s.kseen & bit)
      return 2;
    s.kseen = static_cast<std::uint8_t>(s.kseen | bit);
    return 1;
  }
  void make_exchanges(Session& s);
  Exchange persistent_exchange(const Session& s);
  std::int64_t estimate(const Session& s) const;
  bool plan_flow(Session& s, std::int64_t now);
  void plan_dns(Session& s, std::int64_t t);
  void open_flow(Session& s, std::int64_t t);
  void plan_window(Session& s, std::int64_t t);
  void plan_close(Session& s, std::int64_t t);
  bool plan_stream_chunk(Session& s, std::int64_t t);
  void begin_exchange(Session& s);
  double ctrl_lambda(std::int64_t now);

  // device life & noise
  bool plan_life(Session& s, std::int64_t now);
  bool plan_noise(Session& s, std::int64_t now);
  void device_online(int dev, std::int64_t now);
  int pick_online(const std::function<bool(const Device&)>& pred);

  // ---------------------------------------------------------------- emission
  void emit(Session& s, const PP& p);
  void emit_flow_tcp(Session& s, const PP& p);
  void emit_flow_udp(Session& s, const PP& p);
  void emit_icmp(Session& s, const PP& p);
  void emit_dns_udp(Session& s, const PP& p);
  void emit_dns_tcp(Session& s, const PP& p);
  void emit_dhcp(const PP& p);
  void emit_arp(const PP& p);
  void emit_nd(const PP& p);
  void emit_mdns(const PP& p);
  void emit_ssdp(const PP& p);
  void emit_igmp(const PP& p);
  void emit_bcast(const PP& p);

  // frame building
  struct IpArgs {
    const Mac* smac;
    const Mac* dmac;
    const Addr* src;
    const Addr* dst;
    std::uint8_t proto;
    std::uint8_t ttl;
    std::uint16_t ipid;
    bool df;
    std::uint8_t tos;
    bool ra;    // IPv4 router alert option
    bool whole; // never truncated (DNS, DHCP)
    bool pad;   // pad to 60 bytes (frames not sent by the router itself)
    std::uint16_t sport, dport;
    // flow key: 0 may recur (looked up in fixed_keys_), 1 new, 2 seen before
    std::uint8_t keyc;
  };
  std::size_t l4_offset(bool v6, bool ra) const {
    return eth_len_ + (v6 ? 40 : ra ? 24 : 20);
  }
  std::uint8_t* l4_ptr(bool v6, bool ra = false) { return frame_ + l4_offset(v6, ra); }
  void write_eth(const Mac& dst, const Mac& src, std::uint16_t ethertype);
  void send_ip(const IpArgs& a, std::size_t l4_written, std::size_t l4_total,
               int csum_off);
  void finish_frame(std::size_t orig, std::size_t written, bool whole, bool pad);
  void send_udp(IpArgs a, std::size_t payload_written, std::size_t payload_total);
  void send_tcp(IpArgs a, std::uint32_t seq, std::uint32_t ack, std::uint8_t flags,
                std::uint16_t win, bool syn_opts, std::uint16_t mss,
                std::size_t payload_written, std::size_t payload_total);

  // payload builders (return length)
  std::size_t dns_query(std::uint8_t* out, std::size_t cap, std::string_view qname,
                        std::uint16_t qtype, std::uint16_t id, bool edns);
  std::size_t dns_response(std::uint8_t* out, std::size_t cap, int name_id,
                           std::string_view qname, std::uint16_t qtype, std::uint16_t id,
                           bool edns, bool mark);
  std::size_t dns_message(const Session& s, int qi, bool response, std::uint8_t* out,
                          std::size_t cap, bool mark);
  std::size_t dhcp_payload(std::uint8_t* out, const Device& d, int msg, int mode);
  std::string http_request(const Session& s) const;
  std::string http_response(const Session& s, std::uint32_t body) const;

  const Addr& dev_addr(const Device& d, bool v6) const { return v6 ? d.ula : d.ip4; }
  std::int64_t lan_delay() { return rng_.range(300, 3500); }

  // ---------------------------------------------------------------- output
  bool write_truth_files();

  // ---------------------------------------------------------------- state
  Options o_;
  Rng rng_;
  std::size_t eth_len_;
  double bscale_, stream_scale_, pace_scale_;

  std::vector<DnsName> names_;
  std::vector<Service> services_;
  std::vector<Device> devices_;
  Mac router_mac_;
  Addr router4_, router6_, router_ll_;
  int ntp_service_ = -1;
  int conncheck_service_ = -1;

  std::vector<Session> pool_;
  std::vector<std::uint32_t> free_;
  std::priority_queue<HeapEntry, std::vector<HeapEntry>, std::greater<HeapEntry>> heap_;
  std::uint64_t heap_seq_ = 0;

  std::vector<int> online_;
  std::vector<double> online_cum_;
  std::vector<Intent> intents_;

  // Ephemeral ports (32768-60999 minus the ports Wireshark maps to
  // dissectors of its own, so tshark decodes every flow by its service
  // port). Each device walks its own permutation of them per destination
  // (family, protocol, address, port), as RFC 6056 port selection does;
  // a port comes back for a destination only after all others were used.
  struct PortSeq {
    std::uint32_t off = 0, stride = 1, count = 0;
  };
  std::vector<std::uint16_t> eph_ports_;
  std::unordered_map<FlowKey, PortSeq, FlowKeyHash> port_seqs_;
  // distinct flow keys of the file: counted when a session first sends in a
  // direction from a fresh port; keys that can recur are kept in a set
  // (bounded by devices x destinations)
  std::unordered_set<FlowKey, FlowKeyHash> fixed_keys_;
  std::uint64_t flow_keys_ = 0;

  // controller
  bool ctrl_started_ = false;
  std::int64_t ctrl_t0_ = 0;
  double m_avg_ = 60.0;
  std::uint64_t ctrl_spawns_ = 0;
  std::int64_t ctrl_last_ = 0;
  double pending_ema_ = 0;
  std::int64_t pending_ = 0;

  // --dns-share: generated names (families of variants of catalogue
  // services), the lookup-burst process and its controller
  struct DnsFamily {
    int base_svc = -1;
    int first = 0; // first generated service of the family
    int count = 0;
    std::vector<double> cum; // Zipf popularity within the family
    float kind_w[5] = {0, 0, 0, 0, 0};
  };
  bool heavy_ = false;
  std::vector<DnsFamily> families_;
  std::vector<int> family_of_;       // per service: family of its variants, or -1
  std::vector<int> heavy_svcs_;      // all generated services
  std::vector<double> heavy_cum_[5]; // per non-IoT device kind: popularity
  std::vector<std::string> nx_names_;
  int next_nx_ = -1;        // start_flow: NX name of the next lookup (heavy)
  bool next_heavy_ = false; // start_flow: the next session is a heavy one
  double connect_p_ = 0;    // share of heavy lookups followed by a connection
  double dns_resp_avg_ = 4, dns_frames_avg_ = 10;
  std::uint64_t dns_events_ = 0;
  std::uint64_t heavy_resp_planned_ = 0;
  std::uint64_t heavy_written_ = 0, heavy_last_ = 0;
  double heavy_rate_ema_ = 0;
  double written_rate_ema_ = 0; // frames per second (for the lookup process)
  std::int64_t dns_last_t_ = 0;
  std::uint64_t dns_last_written_ = 0;
  std::vector<Intent> heavy_intents_;

  // output
  PcapWriter pcap_;
  Truth truth_;
  bool want_truth_ = false;
  alignas(8) std::uint8_t frame_[4096] = {};
  std::uint64_t written_ = 0;
  std::int64_t last_t_ = 0;
  std::int64_t first_t_ = -1;
  std::uint64_t dns_responses_ = 0;
  std::uint64_t dns_answers_ = 0;
  std::uint64_t dns_query_frames_ = 0;
  std::uint64_t dns_nx_responses_ = 0;
  std::uint64_t dns_nodata_responses_ = 0;
  std::uint64_t sessions_started_ = 0;
  std::uint64_t clamped_ = 0;
  std::int64_t start_us_ = 0;
  std::vector<std::uint8_t> scratch_ = std::vector<std::uint8_t>(4096);
  std::string text_; // scratch for payload text
};

// ====================================================================== model

int Generator::add_name(const std::string& n, std::uint32_t ttl) {
  DnsName d;
  d.name = n;
  d.ttl = ttl;
  names_.push_back(std::move(d));
  return static_cast<int>(names_.size()) - 1;
}

int Generator::find_name(const std::string& n) const {
  for (std::size_t i = 0; i < names_.size(); ++i)
    if (names_[i].name == n)
      return static_cast<int>(i);
  return -1;
}

int Generator::find_service(const std::string& n) const {
  for (std::size_t i = 0; i < services_.size(); ++i)
    if (names_[static_cast<std::size_t>(services_[i].name)].name == n)
      return static_cast<int>(i);
  return -1;
}

void Generator::add_service(const std::string& name, Profile p, std::uint16_t port,
                            bool quic) {
  const int id = find_name(name);
  if (id < 0) {
    std::fprintf(stderr, "internal error: unknown service name %s\n", name.c_str());
    std::exit(1);
  }
  add_service_id(id, p, port, quic, rng_);
}

void Generator::add_service_id(int name_id, Profile p, std::uint16_t port, bool quic,
                               Rng& rng) {
  Service s;
  s.name = name_id;
  s.profile = p;
  s.port = port;
  s.quic = quic;
  int cur = s.name;
  std::uint32_t min_ttl = names_[static_cast<std::size_t>(cur)].ttl;
  int guard = 0;
  while (names_[static_cast<std::size_t>(cur)].cname >= 0 && guard++ < 8) {
    cur = names_[static_cast<std::size_t>(cur)].cname;
    min_ttl = std::min(min_ttl, names_[static_cast<std::size_t>(cur)].ttl);
  }
  s.final_name = cur;
  s.min_ttl = min_ttl;
  const bool cdn =
      names_[static_cast<std::size_t>(cur)].name.find("cdn") != std::string::npos;
  s.rtt_us = static_cast<int>(cdn ? rng.range(4000, 18000) : rng.range(12000, 95000));
  static const std::uint8_t initial[] = {64, 64, 64, 128, 255};
  const std::uint8_t init = initial[rng.below(5)];
  s.hops_ttl4 = static_cast<std::uint8_t>(init - rng.range(6, 18));
  s.hops_ttl6 = static_cast<std::uint8_t>(init == 255 ? 64 - rng.range(6, 18)
                                                      : s.hops_ttl4 + rng.range(-2, 2));
  services_.push_back(s);
}

void Generator::build_model() {
  AddressAllocator alloc(rng_);

  // ---- base zone
  for (const auto& z : base_zone())
    add_name(z.name, z.ttl);
  for (const auto& z : base_zone()) {
    DnsName& n = names_[static_cast<std::size_t>(find_name(z.name))];
    if (z.cname) {
      n.cname = find_name(z.cname);
    } else {
      for (int i = 0; i < z.n4; ++i)
        n.a.push_back(alloc.v4());
      for (int i = 0; i < z.n6; ++i)
        n.aaaa.push_back(alloc.v6());
    }
  }
  for (const auto& s : base_services())
    add_service(s.name, s.profile, s.port, s.quic);

  // ---- CDN overlap: shared pools, shared edge names, overlapping windows
  std::vector<int> cdn_services;
  if (o_.cdn_overlap) {
    std::vector<Addr> pool_a, pool_a6, pool_b;
    for (int i = 0; i < 16; ++i)
      pool_a.push_back(alloc.v4());
    for (int i = 0; i < 6; ++i)
      pool_a6.push_back(alloc.v6());
    for (int i = 0; i < 10; ++i)
      pool_b.push_back(alloc.v4());
    std::vector<int> edges, swift;
    for (int k = 0; k < 8; ++k) {
      const int id =
          add_name("e" + std::to_string(100 + 7 * k) + ".cdn-a.example", k % 2 ? 30 : 60);
      const int n4 = 2 + k % 3;
      for (int j = 0; j < n4; ++j)
        names_[static_cast<std::size_t>(id)].a.push_back(
            pool_a[static_cast<std::size_t>((3 * k + j) % 16)]);
      if (k % 2 == 0)
        for (int j = 0; j < 1 + k % 4 / 2; ++j)
          names_[static_cast<std::size_t>(id)].aaaa.push_back(
              pool_a6[static_cast<std::size_t>((k + j) % 6)]);
      edges.push_back(id);
    }
    for (int k = 0; k < 6; ++k) {
      const int id = add_name("s" + std::to_string(k + 1) + ".swiftcdn.example", 30);
      for (int j = 0; j < 3; ++j)
        names_[static_cast<std::size_t>(id)].a.push_back(
            pool_b[static_cast<std::size_t>((2 * k + j) % 10)]);
      swift.push_back(id);
    }
    const auto& sites = cdn_sites();
    static const std::uint32_t cname_ttls[] = {300, 600, 3600};
    for (std::size_t i = 0; i < sites.size(); ++i) {
      const std::string site = sites[i];
      // www.SITE.example -> SITE.cdn-a.example -> eNNN.cdn-a.example
      const int www = add_name("www." + site + ".example", cname_ttls[i % 3]);
      const int mid = add_name(site + ".cdn-a.example", 300);
      names_[static_cast<std::size_t>(www)].cname = mid;
      names_[static_cast<std::size_t>(mid)].cname = edges[(i * 5) % edges.size()];
      add_service("www." + site + ".example", Profile::Web, 443, i % 2 == 0);
      cdn_services.push_back(static_cast<int>(services_.size()) - 1);
      // static.SITE.example: either direct A records out of a pool, or a
      // CNAME into the second CDN
      const int st = add_name("static." + site + ".example", i % 3 == 0 ? 300 : 1800);
      if (i % 3 == 0) {
        for (std::size_t j = 0; j < 2; ++j)
          names_[static_cast<std::size_t>(st)].a.push_back(
              pool_a[(i + 4 * j) % pool_a.size()]);
      } else {
        names_[static_cast<std::size_t>(st)].cname = swift[i % swift.size()];
      }
      add_service("static." + site + ".example", Profile::Media, 443, false);
      cdn_services.push_back(static_cast<int>(services_.size()) - 1);
    }
    const int fonts = add_name("fonts.web-fonts.example", 3600);
    const int fonts_mid = add_name("fonts.cdn-a.example", 600);
    names_[static_cast<std::size_t>(fonts)].cname = fonts_mid;
    names_[static_cast<std::size_t>(fonts_mid)].cname = edges[3];
    add_service("fonts.web-fonts.example", Profile::Api, 443, true);
    cdn_services.push_back(static_cast<int>(services_.size()) - 1);
    const int js = add_name("js.libs-cdn.example", 300);
    for (std::size_t j = 0; j < 3; ++j)
      names_[static_cast<std::size_t>(js)].a.push_back(
          pool_a[(5 + 3 * j) % pool_a.size()]);
    names_[static_cast<std::size_t>(js)].aaaa.push_back(pool_a6[1]);
    add_service("js.libs-cdn.example", Profile::Api, 443, false);
    cdn_services.push_back(static_cast<int>(services_.size()) - 1);
    const int an = add_name("analytics.site-stats.example", 120);
    names_[static_cast<std::size_t>(an)].cname = swift[2];
    add_service("analytics.site-stats.example", Profile::Beacon, 443, false);
    cdn_services.push_back(static_cast<int>(services_.size()) - 1);
  }
  // sub-resource connections of pages and app screens
  auto add_subs = [this](const std::string& page, int lo, int hi,
                         const std::vector<Affinity>& to) {
    Service& sv = services_[static_cast<std::size_t>(find_service(page))];
    sv.sub_min = lo;
    sv.sub_max = hi;
    double total = 0;
    for (const auto& a : to) {
      const int t = find_service(a.service);
      if (t < 0)
        continue;
      sv.sub.push_back(t);
      total += a.weight;
      sv.sub_cum.push_back(total);
    }
  };
  for (const auto& def : page_subresources())
    add_subs(def.service, def.min, def.max, def.to);
  if (o_.cdn_overlap)
    for (const std::string site : cdn_sites()) {
      const std::string st = "static." + site + ".example";
      add_subs("www." + site + ".example", 2, 9,
               {{st.c_str(), 5},
                {"fonts.web-fonts.example", 1},
                {"js.libs-cdn.example", 1},
                {"analytics.site-stats.example", 1},
                {"ads.tracker-net.example", 1},
                {"metrics.tracker-net.example", 1}});
    }
  if (heavy_)
    build_dns_catalogue(); // own random stream: the rest of the model is unchanged
  for (auto& n : names_) {
    n.a_seen.assign(n.a.size(), 0);
    n.aaaa_seen.assign(n.aaaa.size(), 0);
  }
  ntp_service_ = find_service("time.ntp-pool.example");
  conncheck_service_ = find_service("connectivity-check.mobile-os.example");

  // ---- router
  router_mac_ = mac_from(0x9483c4, static_cast<std::uint32_t>(rng_.below(1 << 24)));
  router4_ = Addr::v4(192, 168, 1, 1);
  router6_ = Addr::v6({0xfd00, 1, 0, 0, 0, 0, 0, 1});
  router_ll_ = link_local(router_mac_);

  build_devices();
  for (auto& d : devices_) {
    // services + weights
    std::vector<Affinity> aff;
    const auto& tpl = device_templates()[static_cast<std::size_t>(&d - devices_.data()) %
                                         device_templates().size()];
    aff = tpl.services.empty() ? default_affinities(d.kind) : tpl.services;
    double total = 0;
    for (const auto& a : aff) {
      const int s = find_service(a.service);
      if (s < 0)
        continue;
      d.services.push_back(s);
      total += a.weight;
      d.cum.push_back(total);
    }
    if (o_.cdn_overlap &&
        (d.kind == Kind::Phone || d.kind == Kind::Laptop || d.kind == Kind::Tv)) {
      for (int s : cdn_services) {
        d.services.push_back(s);
        const bool page =
            names_[static_cast<std::size_t>(services_[static_cast<std::size_t>(s)].name)]
                .name.rfind("www.", 0) == 0;
        total += (d.kind == Kind::Tv ? 0.25 : 1.0) * (page ? 0.6 : 0.15);
        d.cum.push_back(total);
      }
    }
    if (tpl.persistent)
      d.persistent = find_service(tpl.persistent);
    d.dns_expiry.assign(services_.size(), -1);
    d.dns_ready.assign(services_.size(), 0);
    d.dns_aaaa.assign(services_.size(), 0);
  }
}

// --dns-share: the generated names of dns_families(), with their own random
// stream and address allocator (so the catalogue, the devices and the rest
// of the model stay what they are without the option). Queried names either
// own address records or start a CNAME chain of 1-3 aliases into load
// balancers, cloud distributions and two CDNs whose edge names are shared.
void Generator::build_dns_catalogue() {
  std::uint64_t sm = o_.seed ^ 0x646e732d73686172ULL;
  Rng zr(splitmix64(sm));
  AddressAllocator alloc(zr);
  std::unordered_set<std::string> taken;
  for (const auto& n : names_) {
    taken.insert(n.name);
    for (const Addr& a : n.a)
      alloc.reserve(a);
    for (const Addr& a : n.aaaa)
      alloc.reserve(a);
  }
  auto unique = [&taken](std::string n) {
    if (taken.insert(n).second)
      return n;
    const std::size_t dot = n.find('.');
    for (int k = 2;; ++k) {
      std::string m = n.substr(0, dot) + "-" + std::to_string(k) + n.substr(dot);
      if (taken.insert(m).second)
        return m;
    }
  };
  auto split = [](const char* list) {
    std::vector<std::string> out(1);
    for (const char* c = list; *c; ++c) {
      if (*c == '|')
        out.emplace_back();
      else
        out.back() += *c;
    }
    return out;
  };
  auto rand_label = [&zr](int len, bool digits) {
    static const char al[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    std::string l;
    for (int i = 0; i < len; ++i)
      l += al[zr.below(digits ? 36 : 26)];
    return l;
  };
  auto ttl_of = [&zr](int cls) -> std::uint32_t {
    static const std::uint32_t t[5][10] = {
        {30, 30, 60, 60, 60, 120, 120, 300, 300, 600},                    // short
        {60, 300, 300, 300, 600, 600, 1800, 3600, 3600, 7200},            // medium
        {300, 3600, 3600, 3600, 7200, 14400, 21600, 43200, 86400, 86400}, // long
        {30, 300, 600, 1800, 3600, 7200, 14400, 21600, 43200, 86400},     // wide
        {1800, 1800, 1800, 3600, 3600, 3600, 3600, 7200, 7200, 21600},    // video
    };
    return t[std::min(cls, 4)][zr.below(10)];
  };
  auto give = [&](int id, int n4, int n6) {
    for (int i = 0; i < n4; ++i)
      names_[static_cast<std::size_t>(id)].a.push_back(alloc.v4());
    for (int i = 0; i < n6; ++i)
      names_[static_cast<std::size_t>(id)].aaaa.push_back(alloc.v6());
  };
  static const char* pops[] = {"ams", "fra", "lhr", "cdg", "mad", "mxp", "arn", "waw"};

  // the two CDNs: edge names shared by many aliases
  std::vector<int> edges, fast;
  for (int j = 0; j < 48; ++j) {
    std::string n;
    do
      n = "e" + std::to_string(zr.range(1000, 9999)) + ".a.edge-cdn-a.example";
    while (!taken.insert(n).second);
    const int id = add_name(n, zr.chance(0.5) ? 30 : 60);
    give(id, 2, zr.chance(0.9) ? 2 : 0);
    edges.push_back(id);
  }
  for (int j = 0; j < 24; ++j) {
    const int id =
        add_name(unique("n" + std::to_string(j + 1) + ".fastlane-cdn.example"), 30);
    give(id, 4, 4);
    fast.push_back(id);
  }
  std::unordered_map<std::string, int> fast_maps; // per parent domain

  family_of_.assign(services_.size(), -1);
  for (const DnsFamilyDef& def : dns_families()) {
    const int base = find_service(def.base);
    if (base < 0)
      continue;
    const Service base_sv = services_[static_cast<std::size_t>(base)];
    const auto stems = split(def.stems);
    const auto doms = split(def.domains);
    DnsFamily fam;
    fam.base_svc = base;
    fam.first = static_cast<int>(services_.size());
    std::vector<int> lbs, clouds; // the family's load balancers and distributions
    double wsum = 0;
    for (const float x : def.how)
      wsum += x;
    double zsum = 0;
    for (int i = 0; i < def.count; ++i) {
      const std::string& stem = stems[static_cast<std::size_t>(i) % stems.size()];
      const std::size_t j = static_cast<std::size_t>(i) / stems.size();
      const std::string& dom = doms[j % doms.size()];
      const std::size_t k = j / doms.size();
      std::string label;
      switch (def.style) {
      case 0:
        label = stem + std::to_string(k + 1);
        break;
      case 1:
        label = stem + "-" + pops[k % 8] + std::to_string(k / 8 + 1);
        break;
      case 2:
        label = "rr" + std::to_string(k % 8 + 1) + "---sn-" + rand_label(8, true);
        break;
      default:
        label = k == 0 ? stem : stem + std::to_string(k + 1);
        break;
      }
      const std::string qname = unique(label + "." + dom);
      const int q = add_name(qname, ttl_of(def.ttl));
      // how it resolves
      const double r = zr.uniform() * wsum;
      int how = -1;
      double acc = 0;
      for (int h = 0; h < 6; ++h) {
        if (def.how[h] <= 0)
          continue;
        how = h; // the last one with a weight, should rounding leave r >= acc
        acc += def.how[h];
        if (r < acc)
          break;
      }
      int target = -1;
      switch (how) {
      case 1: // load balancer of the family (1 alias)
        if (lbs.size() < 6 && (lbs.empty() || zr.chance(0.3))) {
          const std::size_t n = lbs.size();
          const int id = add_name(unique("lb-" + std::string(pops[n % 8]) +
                                         std::to_string(n + 1) + "." + doms[0]),
                                  zr.chance(0.5) ? 60 : 300);
          give(id, static_cast<int>(zr.range(2, 4)), static_cast<int>(zr.range(1, 2)));
          lbs.push_back(id);
        }
        target = lbs[zr.below(lbs.size())];
        break;
      case 2: // cloud distribution (1 alias, 4-8 addresses)
        if (clouds.size() < 8 && (clouds.empty() || zr.chance(0.3))) {
          const int id =
              add_name(unique("d" + rand_label(13, true) + ".cloudedge.example"), 60);
          give(id, static_cast<int>(zr.range(4, 8)),
               zr.chance(0.75) ? static_cast<int>(zr.range(4, 8)) : 0);
          clouds.push_back(id);
        }
        target = clouds[zr.below(clouds.size())];
        break;
      case 3:   // NAME -> NAME.edgekey-cdn.example -> eNNNN.a.edge-cdn-a.example
      case 4: { // TM name -> NAME.edgekey-cdn.example -> eNNNN...
        static const std::uint32_t key_ttl[] = {300, 3600, 21600, 21600};
        const int key =
            add_name(unique(qname + ".edgekey-cdn.example"), key_ttl[zr.below(4)]);
        names_[static_cast<std::size_t>(key)].cname = edges[zr.below(edges.size())];
        target = key;
        if (how == 4) {
          const int tmn = add_name(unique(label + "-" + dom.substr(0, dom.find('.')) +
                                          ".trafficmgr-lb.example"),
                                   zr.chance(0.5) ? 60 : 300);
          names_[static_cast<std::size_t>(tmn)].cname = key;
          target = tmn;
        }
        break;
      }
      case 5: { // NAME -> DOMAIN.map.fastlane-cdn.example -> nN.fastlane-cdn.example
        const std::string dl = dom.substr(0, dom.find('.'));
        auto it = fast_maps.find(dl);
        if (it == fast_maps.end()) {
          const int id = add_name(unique(dl + ".map.fastlane-cdn.example"), 300);
          names_[static_cast<std::size_t>(id)].cname = fast[zr.below(fast.size())];
          it = fast_maps.emplace(dl, id).first;
        }
        target = it->second;
        break;
      }
      default: { // address records of its own
        const int n4 = static_cast<int>(zr.range(def.a_min, def.a_max));
        give(q, n4,
             zr.chance(def.dual) ? static_cast<int>(zr.range(1, std::min(n4, 2))) : 0);
        break;
      }
      }
      names_[static_cast<std::size_t>(q)].cname = target;
      add_service_id(q, base_sv.profile, base_sv.port, base_sv.quic, zr);
      heavy_svcs_.push_back(static_cast<int>(services_.size()) - 1);
      zsum += 1.0 / std::pow(static_cast<double>(i + 1), 0.9);
      fam.cum.push_back(zsum);
    }
    fam.count = static_cast<int>(services_.size()) - fam.first;
    std::copy(std::begin(def.kind_w), std::end(def.kind_w), fam.kind_w);
    family_of_[static_cast<std::size_t>(base)] = static_cast<int>(families_.size());
    families_.push_back(std::move(fam));
  }
  family_of_.resize(services_.size(), -1);

  // popularity of the generated names per device kind: the kind's family
  // weight, Zipf within the family
  for (int k = 0; k < 5; ++k) {
    auto& cum = heavy_cum_[k];
    cum.clear();
    double total = 0;
    for (const DnsFamily& fam : families_) {
      const double w = fam.kind_w[k] / fam.cum.back();
      for (int i = 0; i < fam.count; ++i) {
        total += w * (fam.cum[static_cast<std::size_t>(i)] -
                      (i ? fam.cum[static_cast<std::size_t>(i - 1)] : 0.0));
        cum.push_back(total);
      }
    }
  }

  // names that do not exist: browsers' random intranet probes (bare and
  // with the DHCP search domain), typos, stale hosts, search-domain tries
  for (int i = 0; i < 120; ++i)
    nx_names_.push_back(rand_label(static_cast<int>(zr.range(7, 15)), false) +
                        (i % 2 ? ".lan" : ""));
  const std::size_t nbase = std::min(base_services().size(), services_.size());
  for (std::size_t i = 0; i < nbase; ++i) {
    const std::string& n = names_[static_cast<std::size_t>(services_[i].name)].name;
    nx_names_.push_back(n.substr(0, n.rfind('.')) + ".exmaple");
    nx_names_.push_back("old-" + n);
    nx_names_.push_back(n + ".lan");
  }

  // Lookups followed by a connection: so many that those connections stay
  // about a fifth of the traffic that is not DNS (the rest are prefetches)
  const double f = o_.dns_share;
  connect_p_ = std::clamp(0.2 * (1.0 - 2.0 * f) * 1.6 / (20.0 * f), 0.005, 0.35);
  heavy_rate_ema_ = std::min(0.95, 2.1 * f) * o_.rate;
  written_rate_ema_ = o_.rate;
}

void Generator::build_devices() {
  const auto& tpls = device_templates();
  static const std::uint32_t iot_ouis[] = {0x240ac4, 0x84f3eb, 0x500291, 0xd8f15b,
                                           0x18b430, 0x641666, 0x70ee50, 0xecfabc,
                                           0x001788, 0xa47733};
  static const std::uint32_t tv_ouis[] = {0xa823fe, 0xf4f5d8, 0x8c79f5, 0x7c6456};
  static const std::uint32_t speaker_ouis[] = {0x44650d, 0xf0ef86, 0xb8e937};
  static const std::uint32_t pc_ouis[] = {0x3c7c3f, 0xf8e43b, 0x18c04d};
  std::vector<int> used_hosts(256, 0);
  std::set<std::uint64_t> used_macs;
  std::set<std::uint16_t> used_iids;
  for (int i = 0; i < o_.devices; ++i) {
    const auto& t = tpls[static_cast<std::size_t>(i) % tpls.size()];
    const int round = i / static_cast<int>(tpls.size());
    Device d;
    d.host = t.host;
    if (round > 0)
      d.host += "-" + std::to_string(round + 1);
    d.kind = t.kind;
    d.v6 = t.v6;
    // MAC: phones and tablets use randomised (locally administered) MACs,
    // everything else a vendor OUI.
    for (;;) {
      std::uint32_t oui;
      switch (d.kind) {
      case Kind::Phone: {
        static const std::uint8_t first[] = {0x02, 0x0a, 0x1e, 0x3a, 0x5e, 0x6a,
                                             0x9e, 0xae, 0xd2, 0xda, 0xee, 0xf6};
        oui = (std::uint32_t(first[rng_.below(sizeof first)]) << 16) |
              static_cast<std::uint32_t>(rng_.below(1 << 16));
        break;
      }
      case Kind::Laptop:
        oui = pc_ouis[rng_.below(3)];
        break;
      case Kind::Tv:
      case Kind::Console:
        oui = tv_ouis[rng_.below(4)];
        break;
      case Kind::Speaker:
        oui = speaker_ouis[rng_.below(3)];
        break;
      case Kind::Iot:
      default:
        oui = iot_ouis[rng_.below(10)];
        break;
      }
      d.mac = mac_from(oui, static_cast<std::uint32_t>(rng_.below(1 << 24)));
      std::uint64_t key = 0;
      for (auto b : d.mac.b)
        key = (key << 8) | b;
      if (key != 0 && used_macs.insert(key).second)
        break;
    }
    // IPv4 from the DHCP pool .100-.249, then the rest of the subnet
    int host = 0;
    for (int tries = 0; tries < 64; ++tries) {
      const int h = static_cast<int>(rng_.range(100, 249));
      if (!used_hosts[static_cast<std::size_t>(h)]) {
        host = h;
        break;
      }
    }
    if (!host)
      for (int h = 2; h < 255; ++h)
        if (!used_hosts[static_cast<std::size_t>(h)]) {
          host = h;
          break;
        }
    used_hosts[static_cast<std::size_t>(host)] = 1;
    d.ip4 = Addr::v4(192, 168, 1, host);
    d.ll = link_local(d.mac);
    if (d.v6) {
      std::uint16_t iid;
      do
        iid = static_cast<std::uint16_t>(rng_.range(0x10, 0xfff));
      while (!used_iids.insert(iid).second);
      d.ula = Addr::v6({0xfd00, 1, 0, 0, 0, 0, 0, iid});
    }
    switch (d.kind) {
    case Kind::Phone:
      d.activity = 3.0;
      d.dhcp_vendor = "android-dhcp-14";
      d.edns = true;
      d.mdns_browser = true;
      d.ssdp_searcher = true;
      break;
    case Kind::Laptop:
      d.activity = 4.0;
      d.dhcp_vendor = d.host.find("desktop") != std::string::npos ? "MSFT 5.0" : "";
      d.ip_ttl = d.host.find("desktop") != std::string::npos ? 128 : 64;
      d.edns = true;
      d.mdns_browser = true;
      d.ssdp_searcher = d.ip_ttl == 128;
      break;
    case Kind::Tv:
      d.activity = 2.0;
      d.dhcp_vendor = "udhcp 1.36.1";
      d.edns = rng_.chance(0.5);
      d.mdns_type = kMdnsTypes[0].type;
      d.mdns_port = kMdnsTypes[0].port;
      d.ssdp_responder = true;
      break;
    case Kind::Console:
      d.activity = 1.5;
      d.dhcp_vendor = "";
      d.edns = true;
      d.ssdp_responder = true;
      break;
    case Kind::Speaker:
      d.activity = 1.0;
      d.dhcp_vendor = "udhcp 1.31.1";
      d.mdns_type = kMdnsTypes[2].type;
      d.mdns_port = kMdnsTypes[2].port;
      d.ssdp_responder = true;
      break;
    case Kind::Iot:
      d.activity = 0.3;
      d.dhcp_vendor = rng_.chance(0.5) ? "udhcp 1.30.1" : "";
      d.ip_ttl = rng_.chance(0.4) ? 255 : 64;
      d.dhcp_broadcast = rng_.chance(0.5);
      if (d.host.rfind("printer", 0) == 0) {
        d.mdns_type = kMdnsTypes[3].type;
        d.mdns_port = kMdnsTypes[3].port;
        d.ssdp_responder = true;
      } else if (d.host.rfind("light-bridge", 0) == 0) {
        d.mdns_type = kMdnsTypes[4].type;
        d.mdns_port = kMdnsTypes[4].port;
      }
      break;
    }
    d.igmp = is_multicast_capable(d.kind) || d.mdns_type != nullptr;
    d.ipid = rng_.u16();
    devices_.push_back(std::move(d));
  }
}

// ====================================================================== scheduling

std::uint32_t Generator::new_session(SK kind) {
  std::uint32_t idx;
  if (!free_.empty()) {
    idx = free_.back();
    free_.pop_back();
  } else {
    idx = static_cast<std::uint32_t>(pool_.size());
    pool_.emplace_back();
  }
  Session& s = pool_[idx];
  std::vector<PP> q = std::move(s.q);
  std::vector<Exchange> ex = std::move(s.ex);
  q.clear();
  ex.clear();
  s = Session();
  s.q = std::move(q);
  s.ex = std::move(ex);
  s.kind = kind;
  return idx;
}

void Generator::sort_queue(Session& s) {
  // insertion sort: plans are nearly sorted already; stable for equal times
  auto& q = s.q;
  for (std::size_t i = s.qi + 1; i < q.size(); ++i) {
    PP v = q[i];
    std::size_t j = i;
    while (j > s.qi && q[j - 1].t > v.t) {
      q[j] = q[j - 1];
      --j;
    }
    q[j] = v;
  }
}

void Generator::schedule(std::uint32_t idx) {
  Session& s = pool_[idx];
  heap_.push({s.q[s.qi].t, heap_seq_++, idx});
}

void Generator::finish_session(std::uint32_t idx) {
  Session& s = pool_[idx];
  if (s.controlled && s.emitted < s.est)
    pending_ -= s.est - s.emitted;
  s.q.clear();
  s.qi = 0;
  s.controlled = false;
  free_.push_back(idx);
}

bool Generator::plan(std::uint32_t idx, std::int64_t now) {
  Session& s = pool_[idx];
  s.q.clear();
  s.qi = 0;
  bool more = false;
  switch (s.kind) {
  case SK::Flow:
    more = plan_flow(s, now);
    break;
  case SK::Life:
    more = plan_life(s, now);
    break;
  case SK::Noise:
    more = plan_noise(s, now);
    break;
  case SK::Spawner: {
    const double lam = ctrl_lambda(now);
    std::int64_t gap = static_cast<std::int64_t>(rng_.exponential(1e6 / lam));
    if (!ctrl_started_)
      gap = 2 * kMs;
    PP p;
    p.t = now + std::max<std::int64_t>(1, gap);
    p.kind = PK::Tick;
    p.aux = 2;
    push(s, p);
    more = true;
    break;
  }
  case SK::DnsSpawner: {
    std::int64_t gap = 2 * kMs;
    if (ctrl_started_)
      gap = static_cast<std::int64_t>(rng_.exponential(1e6 / dns_lambda(now)));
    PP p;
    p.t = now + std::max<std::int64_t>(1, gap);
    p.kind = PK::Tick;
    p.aux = 3;
    push(s, p);
    more = true;
    break;
  }
  }
  if (!more || s.q.empty())
    return false;
  sort_queue(s);
  return true;
}

// Session arrival rate. Integral control on "committed" packets: those
// written plus those still planned by running sessions, minus the smoothed
// steady-state backlog (so the written count, not the backlog, tracks
// rate * elapsed while sudden big sessions still damp new arrivals).
double Generator::ctrl_lambda(std::int64_t now) {
  const double el = static_cast<double>(now - ctrl_t0_) / 1e6;
  const double dt = static_cast<double>(now - ctrl_last_) / 1e6;
  ctrl_last_ = now;
  pending_ema_ +=
      (static_cast<double>(pending_) - pending_ema_) * (1.0 - std::exp(-dt / 2.0));
  const double committed =
      static_cast<double>(written_) + static_cast<double>(pending_) - pending_ema_;
  double err = (o_.rate * el - committed) / (o_.rate * 2.0);
  err = std::clamp(err, -2.5, 1.5);
  if (!heavy_)
    return std::max(1e-3, o_.rate / m_avg_ * std::exp(err));
  // --dns-share: the lookup-burst process takes its part of the rate (its
  // frames, measured as a rate with the same 2 s smoothing); the activities
  // fill the rest
  if (dt > 0) {
    const double dh = static_cast<double>(heavy_written_ - heavy_last_);
    heavy_last_ = heavy_written_;
    heavy_rate_ema_ += (dh / dt - heavy_rate_ema_) * (1.0 - std::exp(-dt / 2.0));
  }
  const double base = std::max(o_.rate - heavy_rate_ema_, 0.03 * o_.rate);
  return std::max(1e-3, base / m_avg_ * std::exp(err));
}

// --dns-share: rate of lookup bursts. Integral control of the response
// frames written (all of them, also those of the ordinary sessions) towards
// F x frames written, around F x the measured frame rate (2 s smoothing);
// never more bursts than would fill 95 % of --rate on their own (a response
// needs its query, so F above ~0.45 cannot be met).
double Generator::dns_lambda(std::int64_t now) {
  const double dt = static_cast<double>(now - dns_last_t_) / 1e6;
  if (dt > 0) {
    const double dw = static_cast<double>(written_ - dns_last_written_);
    dns_last_t_ = now;
    dns_last_written_ = written_;
    written_rate_ema_ += (dw / dt - written_rate_ema_) * (1.0 - std::exp(-dt / 2.0));
  }
  const double f = o_.dns_share;
  double err = (f * static_cast<double>(written_) - static_cast<double>(dns_responses_)) /
               std::max(1.0, f * o_.rate * 2.0);
  err = std::clamp(err, -8.0, 1.5);
  double lam =
      f * std::max(written_rate_ema_, 0.05 * o_.rate) / dns_resp_avg_ * std::exp(err);
  lam = std::min(lam, 0.95 * o_.rate / dns_frames_avg_);
  return std::max(1e-3, lam);
}

// ====================================================================== flows

// Next source port of device dev towards (dst, proto, dport). TCP walks the
// ports upwards in steps of two from a per-destination offset (as Linux
// connect() does), UDP in a pseudo-random order. kmode: 1 while the port is
// new for this destination, 2 once the permutation starts over.
std::uint16_t Generator::alloc_port(int dev, const Addr& dst, std::uint8_t proto,
                                    std::uint16_t dport, std::uint8_t& kmode) {
  FlowKey k;
  k.family = dst.family;
  k.proto = proto;
  k.sport = static_cast<std::uint16_t>(dev);
  k.dport = dport;
  std::memcpy(k.dst.data(), dst.b.data(), dst.len());
  const auto n = static_cast<std::uint32_t>(eph_ports_.size());
  auto [it, inserted] = port_seqs_.try_emplace(k);
  PortSeq& ps = it->second;
  if (inserted) {
    ps.off = static_cast<std::uint32_t>(rng_.below(n));
    if (proto == 6) {
      ps.stride = 2;
    } else {
      auto gcd = [](std::uint32_t a, std::uint32_t b) {
        while (b) {
          const std::uint32_t t = a % b;
          a = b;
          b = t;
        }
        return a;
      };
      do
        ps.stride = static_cast<std::uint32_t>(rng_.range(n / 5, n - n / 5));
      while (gcd(ps.stride, n) != 1);
    }
  }
  kmode = ps.count < n ? 1 : 2;
  const std::uint64_t i =
      (ps.off + static_cast<std::uint64_t>(ps.stride) * (ps.count % n)) % n;
  ++ps.count;
  return eph_ports_[static_cast<std::size_t>(i)];
}

void Generator::spawn_flow(std::int64_t now) {
  if (online_.empty())
    return;
  // device by activity
  const double r = rng_.uniform() * online_cum_.back();
  std::size_t k = static_cast<std::size_t>(
      std::upper_bound(online_cum_.begin(), online_cum_.end(), r) - online_cum_.begin());
  if (k >= online_.size())
    k = online_.size() - 1;
  const int dev = online_[k];
  plan_spawn(dev, intents_);
  if (intents_.empty())
    return;
  if (heavy_) {
    // --dns-share: half of the sessions of services with generated variants
    // (CDN shards, tracker and API hosts, video caches) use one of those
    for (Intent& in : intents_) {
      if (in.mode != Mode::Normal)
        continue;
      const int fam = family_of_[static_cast<std::size_t>(in.svc)];
      if (fam < 0)
        continue;
      const Profile pr = services_[static_cast<std::size_t>(in.svc)].profile;
      if (pr != Profile::Media && pr != Profile::Beacon && pr != Profile::Api &&
          pr != Profile::Video)
        continue;
      if (rng_.chance(0.5))
        in.svc = pick_variant(fam);
    }
  }
  std::int64_t total = 0;
  for (const Intent& in : intents_)
    total += start_flow(dev, in.svc, now + in.delay, true, false, in.mode, false);
  // the controller's mean: planned packets per spawn
  ++ctrl_spawns_;
  const double w = std::max(0.01, 1.0 / static_cast<double>(ctrl_spawns_ + 50));
  m_avg_ = (1 - w) * m_avg_ + w * static_cast<double>(total);
}

int Generator::pick_variant(int family) {
  const DnsFamily& f = families_[static_cast<std::size_t>(family)];
  const double r = rng_.uniform() * f.cum.back();
  const std::size_t i = static_cast<std::size_t>(
      std::upper_bound(f.cum.begin(), f.cum.end(), r) - f.cum.begin());
  return f.first + static_cast<int>(std::min<std::size_t>(i, f.cum.size() - 1));
}

// --dns-share: one burst of lookups of a device. Phones, laptops, TVs,
// consoles and speakers resolve 1-6 (1-3) generated names a few ms apart,
// as a page or app screen does for its hosts, 2.5 % of them non-existent
// names; a few are followed by a connection (connect_p_), the others are
// prefetches. IoT devices look up their own cloud names again.
void Generator::spawn_dns_event(std::int64_t now) {
  if (online_.empty())
    return;
  const double r = rng_.uniform() * online_cum_.back();
  std::size_t k = static_cast<std::size_t>(
      std::upper_bound(online_cum_.begin(), online_cum_.end(), r) - online_cum_.begin());
  if (k >= online_.size())
    k = online_.size() - 1;
  const int dev = online_[k];
  const Device& d = devices_[static_cast<std::size_t>(dev)];
  auto& out = heavy_intents_;
  out.clear();
  if (d.kind == Kind::Iot) {
    if (d.services.empty())
      return;
    const int n = rng_.chance(0.3) ? 2 : 1;
    std::int64_t t = 0;
    for (int i = 0; i < n; ++i) {
      const double rs = rng_.uniform() * d.cum.back();
      const std::size_t si = static_cast<std::size_t>(
          std::upper_bound(d.cum.begin(), d.cum.end(), rs) - d.cum.begin());
      out.push_back({d.services[std::min(si, d.services.size() - 1)], t, Mode::Lookup});
      t += rng_.range(1 * kMs, 2 * kSec);
    }
  } else {
    const auto& cum = heavy_cum_[static_cast<int>(d.kind)];
    if (cum.empty() || !(cum.back() > 0))
      return;
    const bool browser = d.kind == Kind::Phone || d.kind == Kind::Laptop;
    const int n = static_cast<int>(rng_.range(1, browser ? 6 : 3));
    std::int64_t t = 0;
    for (int i = 0; i < n; ++i) {
      const double rs = rng_.uniform() * cum.back();
      const std::size_t si = static_cast<std::size_t>(
          std::upper_bound(cum.begin(), cum.end(), rs) - cum.begin());
      const int svc = heavy_svcs_[std::min(si, heavy_svcs_.size() - 1)];
      if (rng_.chance(0.025)) {
        const int nx = static_cast<int>(kNxCount) +
                       static_cast<int>(rng_.below(nx_names_.size() - kNxCount));
        out.push_back({svc, t, Mode::NxLookup, nx});
      } else {
        const Profile pr = services_[static_cast<std::size_t>(svc)].profile;
        const bool light =
            pr == Profile::Media || pr == Profile::Beacon || pr == Profile::Api;
        out.push_back(
            {svc, t, light && rng_.chance(connect_p_) ? Mode::Normal : Mode::Lookup});
      }
      t += rng_.chance(0.7) ? rng_.range(100, 20 * kMs) : rng_.range(20 * kMs, 600 * kMs);
    }
  }
  const std::uint64_t resp0 = heavy_resp_planned_;
  std::int64_t total = 0;
  for (const Intent& in : out) {
    next_heavy_ = true;
    next_nx_ = in.nx;
    total += start_flow(dev, in.svc, now + in.delay, true, false, in.mode, false);
  }
  next_heavy_ = false;
  next_nx_ = -1;
  ++dns_events_;
  const double w = std::max(0.01, 1.0 / static_cast<double>(dns_events_ + 50));
  dns_resp_avg_ = std::max(0.5, (1 - w) * dns_resp_avg_ +
                                    w * static_cast<double>(heavy_resp_planned_ - resp0));
  dns_frames_avg_ =
      std::max(1.0, (1 - w) * dns_frames_avg_ + w * static_cast<double>(total));
}

// What one activity of a device starts: a session with one of its
// services, plus the sub-resource connections of a page or app screen, or
// a lookup without a connection, a lookup of a non-existent name, a ping.
void Generator::plan_spawn(int dev, std::vector<Intent>& out) {
  const Device& d = devices_[static_cast<std::size_t>(dev)];
  out.clear();
  if (d.services.empty())
    return;
  auto pick = [this](const std::vector<int>& list, const std::vector<double>& cum) {
    const double rs = rng_.uniform() * cum.back();
    std::size_t si = static_cast<std::size_t>(
        std::upper_bound(cum.begin(), cum.end(), rs) - cum.begin());
    return list[std::min(si, list.size() - 1)];
  };
  const int svc = pick(d.services, d.cum);
  if (d.kind != Kind::Iot) {
    const double r = rng_.uniform();
    if (r < 0.01) {
      out.push_back({svc, 0, Mode::NxLookup});
      return;
    }
    if (r < 0.01 + kLookupShare) {
      out.push_back({svc, 0, Mode::Lookup});
      return;
    }
    if ((d.kind == Kind::Laptop || d.kind == Kind::Phone) && r < 0.035 + kLookupShare) {
      out.push_back({svc, 0, Mode::Icmp});
      return;
    }
  }
  out.push_back({svc, 0, Mode::Normal});
  const Service& sv = services_[static_cast<std::size_t>(svc)];
  if (sv.sub.empty())
    return;
  const int n = static_cast<int>(rng_.range(sv.sub_min, sv.sub_max));
  // sub-resources follow once the page's first bytes are in
  std::int64_t t = sv.rtt_us * 4 + rng_.range(20 * kMs, 300 * kMs);
  for (int i = 0; i < n; ++i) {
    out.push_back({pick(sv.sub, sv.sub_cum), t, Mode::Normal});
    t += rng_.chance(0.6) ? rng_.range(1 * kMs, 40 * kMs)
                          : rng_.range(50 * kMs, 900 * kMs);
  }
}

// Starts a session at time now; returns its planned packet count.
std::int64_t Generator::start_flow(int dev, int svc, std::int64_t now, bool controlled,
                                   bool persistent, Mode mode, bool force_dns) {
  const std::uint32_t idx = new_session(SK::Flow);
  Session& s = pool_[idx];
  Device& d = devices_[static_cast<std::size_t>(dev)];
  const Service& sv = services_[static_cast<std::size_t>(svc)];
  const auto si = static_cast<std::size_t>(svc);
  s.controlled = controlled;
  s.heavy = next_heavy_;
  s.tnext = now;
  configure_flow(s, dev, svc, persistent, mode);

  // DNS: when the device cache expired, and sometimes anyway (apps with
  // their own resolver, browsers prefetching, ...). Without a lookup the
  // connection waits for the answer of the one that filled the cache (it
  // may still be under way), so no address is used before its answer.
  const std::int64_t exp = d.dns_expiry[si];
  s.do_dns = force_dns || s.tr == Transport::DnsOnly || exp < 0 || exp <= now ||
             rng_.chance(0.4);
  if (!s.do_dns) {
    // (with --dns-share 1 us after the answer: at the same microsecond the
    // heap may write the connection's first packet before the answer)
    s.tnext = std::max(now, d.dns_ready[si] + (heavy_ ? 1 : 0));
    s.aaaa_ok = d.dns_aaaa[si] != 0;
  }
  s.phase = PH_DNS;
  std::int64_t est = 0;
  if (controlled) {
    est = estimate(s);
    s.est = est;
    pending_ += est;
  }
  ++sessions_started_;
  const bool more = plan(idx, now);
  if (s.do_dns && s.nx < 0) {
    const std::int64_t cache =
        std::min<std::int64_t>(sv.min_ttl, d.kind == Kind::Iot ? 3600 : 600);
    d.dns_expiry[si] = now + cache * kSec;
    d.dns_ready[si] = s.dns_done;
    d.dns_aaaa[si] = s.dns_nq == 2;
  }
  if (more)
    schedule(idx);
  else
    finish_session(idx);
  return est;
}

// Transport, timing and the exchange plan of a new flow.
void Generator::configure_flow(Session& s, int dev, int svc, bool persistent, Mode mode) {
  const Device& d = devices_[static_cast<std::size_t>(dev)];
  const Service& sv = services_[static_cast<std::size_t>(svc)];
  s.dev = dev;
  s.svc = svc;
  s.persistent = persistent;
  s.rtt = static_cast<int>(sv.rtt_us * rng_.uniform(0.85, 1.3));
  const double mbps = rng_.lognormal(40.0, 0.6) * pace_scale_;
  s.us_per_byte_down = 8.0 / std::clamp(mbps, 0.5, 400.0);
  s.us_per_byte_up = 8.0 / std::clamp(mbps / 4.0, 0.5, 100.0);

  switch (sv.profile) {
  case Profile::Ntp:
  case Profile::IotUdp:
    s.tr = Transport::UdpMsg;
    break;
  case Profile::Call:
  case Profile::Game:
    s.tr = Transport::Stream;
    break;
  default:
    s.tr = Transport::Tcp;
    if (sv.quic && !persistent && d.kind != Kind::Iot && rng_.chance(0.5))
      s.tr = Transport::Quic;
    break;
  }
  s.nx = -1;
  if (mode == Mode::Icmp)
    s.tr = Transport::Icmp;
  if (mode == Mode::NxLookup || mode == Mode::Lookup)
    s.tr = Transport::DnsOnly;
  if (mode == Mode::NxLookup) {
    if (next_nx_ >= 0) {
      s.nx = next_nx_;
      s.nx_aaaa = true;
    } else {
      s.nx = static_cast<int>(rng_.below(kNxCount));
    }
  }
  make_exchanges(s);
}

// Prior for the mean packets per spawn: sample the spawn mix with a copy of
// the generator state (the real random sequence is not consumed).
void Generator::init_controller() {
  const Rng saved = rng_;
  double total_w = 0;
  for (const auto& d : devices_)
    total_w += d.activity;
  double sum = 0;
  const int n = 400;
  Session tmp;
  std::vector<Intent> intents;
  for (int i = 0; i < n; ++i) {
    double r = rng_.uniform() * total_w;
    std::size_t k = 0;
    while (k + 1 < devices_.size() && r >= devices_[k].activity)
      r -= devices_[k++].activity;
    plan_spawn(static_cast<int>(k), intents);
    for (const Intent& in : intents) {
      configure_flow(tmp, static_cast<int>(k), in.svc, false, in.mode);
      tmp.do_dns =
          in.mode == Mode::NxLookup || in.mode == Mode::Lookup || rng_.chance(0.4);
      sum += static_cast<double>(estimate(tmp));
    }
  }
  rng_ = saved;
  m_avg_ = std::max(4.0, sum / n);
}

void Generator::make_exchanges(Session& s) {
  const Service& sv = services_[static_cast<std::size_t>(s.svc)];
  auto& ex = s.ex;
  ex.clear();
  auto clampu = [](double v, double lo, double hi) {
    return static_cast<std::uint32_t>(std::clamp(v, lo, hi));
  };
  const bool tls = s.tr == Transport::Tcp && sv.port != 80;
  const bool quic = s.tr == Transport::Quic;
  if (s.tr == Transport::Icmp) {
    s.icmp_count = static_cast<int>(rng_.range(1, 5));
    s.icmp_id = rng_.u16();
    return;
  }
  if (s.tr == Transport::DnsOnly)
    return;
  if (s.tr == Transport::Stream) {
    double secs =
        sv.profile == Profile::Call ? rng_.uniform(15, 150) : rng_.uniform(20, 120);
    s.stream_end =
        static_cast<std::int64_t>(secs * stream_scale_ * kSec); // relative; fixed at open
    return;
  }
  if (s.persistent) {
    // TLS handshake then lazily generated periodic exchanges
    if (s.tr == Transport::Tcp && sv.port != 80)
      ex.push_back({517, clampu(rng_.uniform(2500, 5200), 0, 1e9), 0,
                    static_cast<std::int32_t>(rng_.range(5 * kMs, 200 * kMs)),
                    static_cast<std::int32_t>(rng_.range(1 * kMs, 20 * kMs))});
    return;
  }
  auto hs = [&]() {
    // full TLS handshake (certificate chain), or a resumed session
    if (tls && rng_.chance(0.35))
      ex.push_back({517, clampu(rng_.uniform(150, 400), 0, 1e9), 0,
                    static_cast<std::int32_t>(rng_.range(200, 3 * kMs)),
                    static_cast<std::int32_t>(rng_.range(500, 15 * kMs))});
    else if (tls)
      ex.push_back({517, clampu(rng_.uniform(2500, 5200), 0, 1e9), 0,
                    static_cast<std::int32_t>(rng_.range(200, 3 * kMs)),
                    static_cast<std::int32_t>(rng_.range(500, 15 * kMs))});
    if (quic)
      ex.push_back({1250, clampu(rng_.uniform(3000, 5200), 0, 1e9), 0,
                    static_cast<std::int32_t>(rng_.range(200, 3 * kMs)),
                    static_cast<std::int32_t>(rng_.range(500, 15 * kMs))});
  };
  auto add = [&](double req, double resp, std::int64_t think, std::int64_t server) {
    ex.push_back({static_cast<std::uint32_t>(std::max(1.0, req)),
                  static_cast<std::uint32_t>(std::max(0.0, resp)), 0,
                  static_cast<std::int32_t>(think), static_cast<std::int32_t>(server)});
  };
  const double b = bscale_;
  switch (sv.profile) {
  case Profile::Web: {
    hs();
    const int n = static_cast<int>(rng_.range(1, 3));
    for (int i = 0; i < n; ++i)
      add(rng_.uniform(300, 1400), std::clamp(rng_.lognormal(9000, 1.0), 200.0, 2e6),
          rng_.range(5 * kMs, 800 * kMs), rng_.range(1 * kMs, 60 * kMs));
    break;
  }
  case Profile::Api:
  case Profile::Mqtt:
  case Profile::Push: {
    hs();
    const int n = static_cast<int>(rng_.range(1, 3));
    for (int i = 0; i < n; ++i)
      add(rng_.uniform(150, 1500), std::clamp(rng_.lognormal(1500, 0.9), 60.0, 60000.0),
          rng_.range(20 * kMs, 2 * kSec), rng_.range(1 * kMs, 80 * kMs));
    break;
  }
  case Profile::Beacon: {
    hs();
    const int n = rng_.chance(0.3) ? 2 : 1;
    for (int i = 0; i < n; ++i)
      add(rng_.uniform(250, 1400), rng_.uniform(30, 700), rng_.range(20 * kMs, 1 * kSec),
          rng_.range(1 * kMs, 60 * kMs));
    break;
  }
  case Profile::Media: {
    hs();
    const int n = rng_.chance(0.7) ? 1 : static_cast<int>(rng_.range(2, 3));
    for (int i = 0; i < n; ++i)
      add(rng_.uniform(400, 900), std::clamp(rng_.lognormal(20000 * b, 1.0), 1500.0, 4e6),
          rng_.range(20 * kMs, 2 * kSec), rng_.range(1 * kMs, 30 * kMs));
    break;
  }
  case Profile::Video: {
    hs();
    add(rng_.uniform(500, 900), rng_.uniform(2000, 9000), rng_.range(5 * kMs, 100 * kMs),
        rng_.range(5 * kMs, 40 * kMs)); // manifest
    const int n = static_cast<int>(rng_.range(8, 30));
    for (int i = 0; i < n; ++i)
      add(rng_.uniform(500, 900),
          std::clamp(rng_.lognormal(1.2e6 * b, 0.5), 12000.0, 2e7),
          rng_.range(1500 * kMs, 4 * kSec), rng_.range(2 * kMs, 30 * kMs));
    break;
  }
  case Profile::Audio: {
    hs();
    const int n = static_cast<int>(rng_.range(2, 8));
    for (int i = 0; i < n; ++i)
      add(rng_.uniform(400, 700),
          std::clamp(rng_.lognormal(220000 * b, 0.4), 6000.0, 5e6),
          rng_.range(4 * kSec, 9 * kSec), rng_.range(2 * kMs, 30 * kMs));
    break;
  }
  case Profile::Download: {
    hs();
    add(rng_.uniform(400, 900),
        std::clamp(rng_.lognormal(6e6 * b, 0.8), 30000.0, 8e7 * b + 30000.0),
        rng_.range(10 * kMs, 500 * kMs), rng_.range(5 * kMs, 40 * kMs));
    break;
  }
  case Profile::Upload: {
    hs();
    const int n = static_cast<int>(rng_.range(1, 3));
    for (int i = 0; i < n; ++i)
      add(std::clamp(rng_.lognormal(8e5 * b, 0.7), 8000.0, 3e7), rng_.uniform(200, 600),
          rng_.range(100 * kMs, 2 * kSec), rng_.range(5 * kMs, 50 * kMs));
    break;
  }
  case Profile::Http: {
    Exchange e;
    e.req = static_cast<std::uint32_t>(http_request(s).size());
    e.body = 0;
    e.resp = static_cast<std::uint32_t>(http_response(s, 0).size());
    e.think_us = static_cast<std::int32_t>(rng_.range(10 * kMs, 300 * kMs));
    e.server_us = static_cast<std::int32_t>(rng_.range(1 * kMs, 10 * kMs));
    ex.push_back(e);
    break;
  }
  case Profile::HttpDownload: {
    Exchange e;
    e.req = static_cast<std::uint32_t>(http_request(s).size());
    e.body = static_cast<std::uint32_t>(
        std::clamp(rng_.lognormal(2.5e6 * b, 0.5), 20000.0, 5e7));
    e.resp = static_cast<std::uint32_t>(http_response(s, e.body).size()) + e.body;
    e.think_us = static_cast<std::int32_t>(rng_.range(10 * kMs, 300 * kMs));
    e.server_us = static_cast<std::int32_t>(rng_.range(2 * kMs, 30 * kMs));
    ex.push_back(e);
    break;
  }
  case Profile::Ntp: {
    const int n = rng_.chance(0.3) ? static_cast<int>(rng_.range(2, 4)) : 1;
    for (int i = 0; i < n; ++i)
      add(48, 48, rng_.range(1 * kSec, 2 * kSec), rng_.range(50, 400));
    break;
  }
  case Profile::IotUdp: {
    const int n = static_cast<int>(rng_.range(1, 3));
    for (int i = 0; i < n; ++i)
      add(rng_.uniform(40, 300), rng_.uniform(20, 200), rng_.range(500 * kMs, 5 * kSec),
          rng_.range(1 * kMs, 20 * kMs));
    break;
  }
  case Profile::Call:
  case Profile::Game:
    break;
  }
}

// Periodic exchange of a long-lived connection.
Exchange Generator::persistent_exchange(const Session& s) {
  const Service& sv = services_[static_cast<std::size_t>(s.svc)];
  Exchange e;
  e.server_us = static_cast<std::int32_t>(rng_.range(1 * kMs, 30 * kMs));
  switch (sv.profile) {
  case Profile::Mqtt:
    e.req = static_cast<std::uint32_t>(rng_.range(40, 300));
    e.resp = static_cast<std::uint32_t>(rng_.range(29, 60));
    e.think_us = static_cast<std::int32_t>(rng_.range(20 * kSec, 60 * kSec));
    break;
  case Profile::Push:
    e.req = static_cast<std::uint32_t>(rng_.range(30, 80));
    e.resp = static_cast<std::uint32_t>(rng_.chance(0.3) ? rng_.range(200, 2000)
                                                         : rng_.range(30, 80));
    e.think_us = static_cast<std::int32_t>(rng_.range(60 * kSec, 300 * kSec));
    break;
  case Profile::Upload:
    if (rng_.chance(0.3)) {
      e.req = static_cast<std::uint32_t>(
          std::clamp(rng_.lognormal(3e5 * bscale_, 0.6), 5000.0, 1e7));
      e.resp = static_cast<std::uint32_t>(rng_.range(200, 500));
    } else {
      e.req = static_cast<std::uint32_t>(rng_.range(100, 400));
      e.resp = static_cast<std::uint32_t>(rng_.range(40, 200));
    }
    e.think_us = static_cast<std::int32_t>(rng_.range(20 * kSec, 120 * kSec));
    break;
  case Profile::IotUdp:
    e.req = static_cast<std::uint32_t>(rng_.range(40, 200));
    e.resp = static_cast<std::uint32_t>(rng_.range(20, 120));
    e.think_us = static_cast<std::int32_t>(rng_.range(5 * kSec, 30 * kSec));
    break;
  default:
    e.req = static_cast<std::uint32_t>(rng_.range(40, 400));
    e.resp = static_cast<std::uint32_t>(rng_.range(40, 600));
    e.think_us = static_cast<std::int32_t>(rng_.range(15 * kSec, 60 * kSec));
    break;
  }
  return e;
}

std::int64_t Generator::estimate(const Session& s) const {
  std::int64_t n = 0;
  if (s.do_dns) {
    const int nq = devices_[static_cast<std::size_t>(s.dev)].v6 ? 2 : 1;
    n += 2 * nq;
  }
  const bool v6 = devices_[static_cast<std::size_t>(s.dev)].v6;
  switch (s.tr) {
  case Transport::DnsOnly:
    return std::max<std::int64_t>(n, 2);
  case Transport::Icmp:
    return n + 2 * s.icmp_count;
  case Transport::Stream: {
    const Service& sv = services_[static_cast<std::size_t>(s.svc)];
    const double pps = sv.profile == Profile::Call ? 100 : 60;
    return n + static_cast<std::int64_t>(pps * static_cast<double>(s.stream_end) / 1e6);
  }
  case Transport::UdpMsg:
    return n + 2 * static_cast<std::int64_t>(s.ex.size());
  case Transport::Tcp:
  case Transport::Quic: {
    const std::int64_t mss =
        s.tr == Transport::Quic ? (v6 ? 1232 : 1252) : (v6 ? 1440 : 1460);
    n += s.tr == Transport::Tcp ? 6 : 1;
    for (const auto& e : s.ex) {
      const std::int64_t a = (e.req + mss - 1) / mss, b = (e.resp + mss - 1) / mss;
      n += a + b + (a + 1) / 2 + (b + 1) / 2;
    }
    return n;
  }
  }
  return n;
}

void Generator::plan_dns(Session& s, std::int64_t t) {
  Device& d = devices_[static_cast<std::size_t>(s.dev)];
  const bool v6 = d.v6_at(t);
  s.dns_v6 = v6 && rng_.chance(0.35);
  s.dns_tcp = rng_.chance(0.03);
  s.dns_sport = alloc_port(s.dev, s.dns_v6 ? router6_ : router4_, s.dns_tcp ? 6 : 17, 53,
                           s.kmode_dns);
  s.dns_edns = d.edns;
  s.dns_nq = static_cast<std::uint8_t>(v6 && (s.nx < 0 || s.nx_aaaa) ? 2 : 1);
  if (s.heavy)
    heavy_resp_planned_ += s.dns_nq;
  s.aaaa_ok = s.dns_nq == 2;
  for (int i = 0; i < s.dns_nq; ++i)
    s.dns_id[i] = rng_.u16();
  const bool hit = rng_.chance(0.7);
  auto rtt = [&]() {
    return hit ? rng_.range(150, 1200) : rng_.range(4 * kMs, 45 * kMs);
  };
  std::int64_t end = t;
  if (!s.dns_tcp) {
    std::int64_t tq = t;
    for (int i = 0; i < s.dns_nq; ++i) {
      PP q;
      q.t = tq;
      q.kind = PK::DnsQ;
      q.aux = static_cast<std::uint16_t>(i);
      push(s, q);
      PP r = q;
      r.kind = PK::DnsR;
      r.dir = 1;
      r.t = tq + rtt();
      push(s, r);
      end = std::max(end, r.t);
      tq += rng_.range(30, 400);
    }
  } else {
    std::uint32_t c = rng_.u32(), r = rng_.u32();
    std::int64_t tt = t;
    PP p;
    p.kind = PK::DnsTcp;
    auto seg = [&](std::uint8_t dir, std::uint32_t seq, std::uint32_t ack,
                   std::uint8_t flags, std::uint32_t len, std::uint16_t aux,
                   std::uint16_t off, std::uint8_t x) {
      p.t = tt;
      p.dir = dir;
      p.seq = seq;
      p.ack = ack;
      p.flags = flags;
      p.len = len;
      p.aux = aux;
      p.off = off;
      p.x = x;
      push(s, p);
    };
    seg(0, c, 0, SYN, 0, 0, 0, 0);
    tt += rng_.range(80, 400);
    seg(1, r, c + 1, SYN | ACKF, 0, 0, 0, 0);
    tt += rng_.range(30, 300);
    ++c;
    ++r;
    seg(0, c, r, ACKF, 0, 0, 0, 0);
    for (int i = 0; i < s.dns_nq; ++i) {
      const std::uint32_t ql = static_cast<std::uint32_t>(
          2 + dns_message(s, i, false, scratch_.data(), scratch_.size(), false));
      const std::uint32_t rl = static_cast<std::uint32_t>(
          2 + dns_message(s, i, true, scratch_.data(), scratch_.size(), false));
      tt += rng_.range(20, 200);
      seg(0, c, r, PSH | ACKF, ql, static_cast<std::uint16_t>(i), 0, 0);
      c += ql;
      tt += rtt();
      if (rng_.chance(0.3) && rl > 3) {
        // answer split over two segments (length prefix first, as some
        // servers do, or an arbitrary cut)
        const std::uint32_t k =
            rng_.chance(0.5) ? 2 : static_cast<std::uint32_t>(rng_.range(3, rl - 1));
        seg(1, r, c, ACKF, k, static_cast<std::uint16_t>(i), 0, 1);
        tt += rng_.range(20, 300);
        seg(1, r + k, c, PSH | ACKF, rl - k, static_cast<std::uint16_t>(i),
            static_cast<std::uint16_t>(k), 1);
      } else {
        seg(1, r, c, PSH | ACKF, rl, static_cast<std::uint16_t>(i), 0, 1);
      }
      r += rl;
      tt += rng_.range(40, 400);
      seg(0, c, r, ACKF, 0, 0, 0, 0);
    }
    tt += rng_.range(50, 2000);
    seg(0, c, r, FIN | ACKF, 0, 0, 0, 0);
    tt += rng_.range(80, 400);
    seg(1, r, c + 1, FIN | ACKF, 0, 0, 0, 0);
    tt += rng_.range(30, 300);
    seg(0, c + 1, r + 1, ACKF, 0, 0, 0, 0);
    end = tt;
  }
  s.dns_done = end;
  s.tnext = end + rng_.range(100, 3 * kMs);
}

void Generator::open_flow(Session& s, std::int64_t t) {
  Device& d = devices_[static_cast<std::size_t>(s.dev)];
  const Service& sv = services_[static_cast<std::size_t>(s.svc)];
  const DnsName& fin = names_[static_cast<std::size_t>(sv.final_name)];
  s.v6 = s.aaaa_ok && d.v6_at(t) && !fin.aaaa.empty() && rng_.chance(0.6);
  const auto& list = s.v6 ? fin.aaaa : fin.a;
  s.remote = list[rng_.below(list.size())];
  s.dport = s.tr == Transport::Quic ? 443 : sv.port;
  if (sv.profile == Profile::Call)
    s.dport = static_cast<std::uint16_t>(sv.port + rng_.range(0, 19));
  if (s.tr == Transport::Icmp) {
    s.sport = 0;
    s.kmode_flow = 0; // echo keys recur (same device, same address)
  } else if (sv.profile == Profile::Ntp && d.kind == Kind::Iot && rng_.chance(0.5)) {
    s.sport = 123; // ntpd
    s.kmode_flow = 0;
  } else {
    s.sport = alloc_port(s.dev, s.remote, s.tr == Transport::Tcp ? 6 : 17, s.dport,
                         s.kmode_flow);
  }
  s.ipid_c = rng_.u16();
  s.ipid_s = rng_.u16();
}

void Generator::begin_exchange(Session& s) {
  if (s.persistent && s.ex_i >= 8) { // keep long-lived connections small
    s.ex.erase(s.ex.begin(), s.ex.begin() + static_cast<std::ptrdiff_t>(s.ex_i - 1));
    s.ex_i = 1;
  }
  if (s.ex_i >= s.ex.size() && s.persistent)
    s.ex.push_back(persistent_exchange(s));
  if (s.ex_i >= s.ex.size()) {
    s.phase = PH_CLOSE;
    return;
  }
  const Exchange& e = s.ex[s.ex_i];
  s.xfer_dir = 0;
  s.xfer_left = e.req;
  s.xfer_first = true;
  s.cwnd = 10;
  s.phase = PH_XFER;
}

// One congestion window of the current transfer, with the receiver's ACKs.
void Generator::plan_window(Session& s, std::int64_t t) {
  const bool tcp = s.tr == Transport::Tcp;
  const std::uint32_t mss = tcp ? (s.v6 ? 1440 : 1460) : (s.v6 ? 1232 : 1252);
  const std::uint8_t snd = s.xfer_dir;
  const double upb = snd == 0 ? s.us_per_byte_up : s.us_per_byte_down;
  std::int64_t ts = t;
  std::int64_t last = t;
  std::uint32_t n = 0, unacked = 0;
  while (s.xfer_left > 0 && n < s.cwnd) {
    std::uint32_t len =
        static_cast<std::uint32_t>(std::min<std::uint64_t>(mss, s.xfer_left));
    // keep every TLS segment large enough for its record header
    if (tcp && s.dport != 80 && s.xfer_left > len && s.xfer_left - len < 6)
      len -= 6;
    s.xfer_left -= len;
    if (!tcp)
      len = std::max<std::uint32_t>(len, 42); // QUIC datagrams are never tiny
    ++n;
    const bool end = s.xfer_left == 0;
    PP p;
    p.t = ts;
    p.dir = snd;
    p.len = len;
    p.aux = s.xfer_first ? 1 : 0;
    p.off = static_cast<std::uint16_t>(
        std::min<std::size_t>(s.ex_i, 0xffff)); // exchange index
    if (tcp) {
      p.kind = PK::Tcp;
      p.seq = snd == 0 ? s.cseq : s.sseq;
      p.ack = snd == 0 ? s.sseq : s.cseq;
      p.flags = static_cast<std::uint8_t>(ACKF | (end || n == s.cwnd ? PSH : 0));
      (snd == 0 ? s.cseq : s.sseq) += len;
    } else {
      p.kind = PK::Udp;
      p.x = 0;
    }
    push(s, p);
    last = ts;
    s.xfer_first = false;
    ++unacked;
    const bool request_end = end && snd == 0;
    if ((unacked >= 2 || end || n == s.cwnd) && !request_end) {
      PP a;
      a.dir = static_cast<std::uint8_t>(1 - snd);
      a.t = ts + (snd == 1 ? lan_delay() : s.rtt);
      if (tcp) {
        a.kind = PK::Tcp;
        a.seq = snd == 1 ? s.cseq : s.sseq;
        a.ack = snd == 1 ? s.sseq : s.cseq;
        a.flags = ACKF;
      } else {
        a.kind = PK::Udp;
        a.x = 1;
        a.off = p.off;
        a.len = static_cast<std::uint32_t>(rng_.range(30, 48));
      }
      push(s, a);
      unacked = 0;
    }
    ts += std::max<std::int64_t>(
        1, static_cast<std::int64_t>(len * upb * rng_.uniform(0.9, 1.2)));
  }
  if (s.xfer_left > 0) {
    s.cwnd = std::min<std::uint32_t>(s.cwnd * 2, 64);
    s.tnext = std::max(ts, t + s.rtt);
    return;
  }
  const Exchange& e = s.ex[s.ex_i];
  if (snd == 0) {
    // request complete: server answers after RTT + processing
    s.tnext = last + s.rtt + e.server_us;
    if (tcp && e.server_us > 8 * kMs) {
      PP a;
      a.kind = PK::Tcp;
      a.dir = 1;
      a.t = last + s.rtt;
      a.seq = s.sseq;
      a.ack = s.cseq;
      a.flags = ACKF;
      push(s, a);
    }
    s.xfer_dir = 1;
    s.xfer_left = e.resp;
    s.xfer_first = true;
    s.cwnd = 10;
    if (s.xfer_left == 0) {
      ++s.ex_i;
      s.tnext = last + e.think_us;
      begin_exchange(s);
    }
  } else {
    ++s.ex_i;
    s.tnext = last + e.think_us;
    begin_exchange(s);
  }
}

void Generator::plan_close(Session& s, std::int64_t t) {
  if (s.tr == Transport::Quic) {
    if (rng_.chance(0.5)) {
      PP p;
      p.t = t;
      p.kind = PK::Udp;
      p.dir = 0;
      p.x = 1;
      p.off = static_cast<std::uint16_t>(std::min<std::size_t>(s.ex_i, 0xffff));
      p.len = static_cast<std::uint32_t>(rng_.range(30, 60));
      push(s, p);
    }
    return;
  }
  PP p;
  p.kind = PK::Tcp;
  const double r = rng_.uniform();
  if (r < 0.05) {
    p.t = t;
    p.dir = 0;
    p.seq = s.cseq;
    p.ack = s.sseq;
    p.flags = RST | ACKF;
    push(s, p);
  } else if (r < 0.17) {
    // server closes first
    p.t = t;
    p.dir = 1;
    p.seq = s.sseq;
    p.ack = s.cseq;
    p.flags = FIN | ACKF;
    push(s, p);
    p.t += lan_delay();
    p.dir = 0;
    p.seq = s.cseq;
    p.ack = s.sseq + 1;
    push(s, p);
    p.t += s.rtt;
    p.dir = 1;
    p.seq = s.sseq + 1;
    p.ack = s.cseq + 1;
    p.flags = ACKF;
    push(s, p);
  } else {
    p.t = t;
    p.dir = 0;
    p.seq = s.cseq;
    p.ack = s.sseq;
    p.flags = FIN | ACKF;
    push(s, p);
    p.t += s.rtt;
    p.dir = 1;
    p.seq = s.sseq;
    p.ack = s.cseq + 1;
    push(s, p);
    p.t += lan_delay();
    p.dir = 0;
    p.seq = s.cseq + 1;
    p.ack = s.sseq + 1;
    p.flags = ACKF;
    push(s, p);
  }
}

bool Generator::plan_stream_chunk(Session& s, std::int64_t t) {
  if (t >= s.stream_end)
    return false;
  const Service& sv = services_[static_cast<std::size_t>(s.svc)];
  const bool call = sv.profile == Profile::Call;
  const std::int64_t iv = call ? 20 * kMs : 33 * kMs;
  const std::int64_t chunk_end = std::min(t + kSec, s.stream_end);
  for (int dir = 0; dir < 2; ++dir) {
    std::int64_t ts = t + (dir ? s.rtt / 2 : 0) + rng_.range(0, 5 * kMs);
    while (ts < chunk_end) {
      PP p;
      p.t = ts;
      p.kind = PK::Udp;
      p.dir = static_cast<std::uint8_t>(dir);
      if (call)
        p.len = static_cast<std::uint32_t>(s.icmp_count ? rng_.range(700, 1200)
                                                        : rng_.range(90, 220));
      else
        p.len =
            static_cast<std::uint32_t>(dir ? rng_.range(100, 600) : rng_.range(50, 180));
      push(s, p);
      ts += iv + rng_.range(-3 * kMs, 3 * kMs);
    }
  }
  s.tnext = chunk_end;
  return true;
}

bool Generator::plan_flow(Session& s, std::int64_t now) {
  for (int guard = 0; guard < 16; ++guard) {
    const std::int64_t t = std::max(now, s.tnext);
    switch (s.phase) {
    case PH_DNS:
      s.phase = PH_OPEN;
      if (s.do_dns) {
        plan_dns(s, t);
        return true;
      }
      break;
    case PH_OPEN:
      if (s.tr == Transport::DnsOnly)
        return false;
      open_flow(s, t);
      if (s.tr == Transport::Tcp) {
        s.cseq = rng_.u32();
        s.sseq = rng_.u32();
        PP p;
        p.kind = PK::Tcp;
        p.t = t;
        p.dir = 0;
        p.seq = s.cseq;
        p.flags = SYN;
        push(s, p);
        p.t = t + s.rtt;
        p.dir = 1;
        p.seq = s.sseq;
        p.ack = s.cseq + 1;
        p.flags = SYN | ACKF;
        push(s, p);
        p.t += lan_delay();
        p.dir = 0;
        p.seq = s.cseq + 1;
        p.ack = s.sseq + 1;
        p.flags = ACKF;
        push(s, p);
        ++s.cseq;
        ++s.sseq;
        s.tnext = p.t + rng_.range(50, 800);
        begin_exchange(s);
        return true;
      }
      if (s.tr == Transport::Quic) {
        s.cseq = rng_.u32();
        s.sseq = rng_.u32();
        begin_exchange(s);
        break;
      }
      if (s.tr == Transport::UdpMsg) {
        s.phase = PH_UDPX;
        break;
      }
      if (s.tr == Transport::Stream) {
        s.stream_end += t;
        s.icmp_count = rng_.chance(0.5) ? 1 : 0; // video call flag
        s.phase = PH_STREAM;
        break;
      }
      s.phase = PH_PING;
      break;
    case PH_XFER:
      plan_window(s, t);
      return true;
    case PH_CLOSE:
      plan_close(s, t);
      s.phase = PH_DONE;
      if (!s.q.empty())
        return true;
      return false;
    case PH_UDPX: {
      if (s.ex_i >= s.ex.size()) {
        if (!s.persistent)
          return false;
        s.ex.push_back(persistent_exchange(s));
      }
      const Exchange& e = s.ex[s.ex_i++];
      PP p;
      p.kind = PK::Udp;
      p.t = t;
      p.len = e.req;
      p.aux = 1;
      push(s, p);
      p.t = t + s.rtt + e.server_us;
      p.dir = 1;
      p.len = e.resp;
      push(s, p);
      s.tnext = p.t + e.think_us;
      if (s.persistent && s.ex.size() > 4) {
        s.ex.erase(s.ex.begin());
        --s.ex_i;
      }
      return true;
    }
    case PH_STREAM:
      return plan_stream_chunk(s, t);
    case PH_PING: {
      for (int i = 0; i < s.icmp_count; ++i) {
        PP p;
        p.kind = PK::Icmp;
        p.t = t + i * kSec + rng_.range(0, 2 * kMs);
        p.seq = static_cast<std::uint32_t>(i + 1);
        push(s, p);
        p.t += s.rtt;
        p.dir = 1;
        push(s, p);
      }
      s.phase = PH_DONE;
      return true;
    }
    case PH_DONE:
    default:
      return false;
    }
  }
  return false;
}

// ====================================================================== device life &
// noise

void Generator::device_online(int dev, std::int64_t now) {
  Device& d = devices_[static_cast<std::size_t>(dev)];
  if (d.online)
    return;
  d.online = true;
  d.online_at = now;
  d.v6_ready = now + rng_.range(1200 * kMs, 1800 * kMs); // RS/RA, then DAD (1 s)
  online_.push_back(dev);
  online_cum_.push_back((online_cum_.empty() ? 0.0 : online_cum_.back()) + d.activity);
  if (!ctrl_started_) {
    ctrl_started_ = true;
    ctrl_t0_ = now;
    ctrl_last_ = now;
  }
  // long-lived connection, boot-time NTP and connectivity check
  if (d.persistent >= 0)
    start_flow(dev, d.persistent, now + rng_.range(200 * kMs, 3 * kSec), false, true,
               Mode::Normal, true);
  if (ntp_service_ >= 0 && (d.kind == Kind::Iot || d.kind == Kind::Speaker ||
                            d.kind == Kind::Tv || rng_.chance(0.3)))
    start_flow(dev, ntp_service_, now + rng_.range(50 * kMs, 2 * kSec), false, false,
               Mode::Normal, true);
  if (conncheck_service_ >= 0 && (d.kind == Kind::Phone || d.kind == Kind::Laptop))
    start_flow(dev, conncheck_service_, now + rng_.range(20 * kMs, 500 * kMs), false,
               false, Mode::Normal, true);
}

bool Generator::plan_life(Session& s, std::int64_t now) {
  Device& d = devices_[static_cast<std::size_t>(s.dev)];
  PP p;
  p.dev = static_cast<std::uint16_t>(s.dev);
  switch (s.life_state) {
  case 0: { // DHCP DISCOVER / OFFER / REQUEST / ACK
    d.xid = rng_.u32();
    std::int64_t t = std::max(now, s.tnext);
    p.kind = PK::Dhcp;
    p.aux = 1;
    p.t = t;
    push(s, p);
    p.aux = 2;
    p.t = t += rng_.range(800, 3 * kMs);
    push(s, p);
    p.aux = 3;
    p.t = t += rng_.range(2 * kMs, 30 * kMs);
    push(s, p);
    p.aux = 5;
    p.t = t += rng_.range(400, 2500);
    push(s, p);
    PP tick;
    tick.kind = PK::Tick;
    tick.aux = 1;
    tick.dev = p.dev;
    tick.t = t;
    push(s, tick);
    s.life_state = 1;
    return true;
  }
  case 1: { // joining: ARP probe/announce, IPv6 RS/RA/DAD, IGMP, mDNS, SSDP
    std::int64_t t = now + rng_.range(5 * kMs, 150 * kMs);
    p.kind = PK::Arp;
    p.x = 2;
    p.t = t;
    push(s, p);
    p.x = 3;
    p.t = t + rng_.range(1 * kSec, 2 * kSec);
    push(s, p);
    if (d.v6) {
      PP q = p;
      q.kind = PK::Rs;
      q.t = t + rng_.range(1 * kMs, 60 * kMs);
      push(s, q);
      q.kind = PK::Ra;
      q.x = 1;
      q.t += rng_.range(300, 3 * kMs);
      push(s, q);
      q.kind = PK::Ns;
      q.x = 2;
      q.t += rng_.range(1 * kMs, 20 * kMs);
      push(s, q);
    }
    if (d.igmp) {
      PP q = p;
      q.kind = PK::IgmpReport;
      q.aux = 0;
      q.t = t + rng_.range(10 * kMs, 400 * kMs);
      push(s, q);
      q.aux = 1;
      q.t += rng_.range(1 * kMs, 50 * kMs);
      push(s, q);
    }
    if (d.mdns_type) {
      PP q = p;
      q.kind = PK::MdnsR;
      q.x = 4;
      q.t = t + rng_.range(500 * kMs, 2 * kSec);
      push(s, q);
      if (d.v6) {
        q.x = 6;
        q.t += rng_.range(50, 500);
        push(s, q);
      }
    }
    if (d.ssdp_responder) {
      PP q = p;
      q.kind = PK::SsdpNotify;
      q.t = t + rng_.range(1 * kSec, 3 * kSec);
      push(s, q);
    }
    s.life_state = 2;
    // next: renewal at T1 (lease 3600 s) or, for phones, a Wi-Fi reconnect
    const std::int64_t renew =
        d.online_at + 1800 * kSec + rng_.range(-60 * kSec, 60 * kSec);
    s.tnext = renew;
    if (d.kind == Kind::Phone)
      s.tnext = std::min(renew,
                         now + static_cast<std::int64_t>(rng_.exponential(900.0 * kSec)) +
                             5 * kSec);
    return true;
  }
  default: { // renew / reconnect
    const std::int64_t t = std::max(now, s.tnext);
    const bool reconnect = d.kind == Kind::Phone && t < d.online_at + 1700 * kSec;
    d.xid = rng_.u32();
    p.kind = PK::Dhcp;
    p.x = reconnect ? 2 : 1;
    p.aux = 3;
    p.t = t;
    push(s, p);
    p.aux = 5;
    p.t = t + rng_.range(400, 3 * kMs);
    push(s, p);
    if (reconnect) {
      p.kind = PK::Arp;
      p.x = 3;
      p.t += rng_.range(50 * kMs, 500 * kMs);
      push(s, p);
    } else {
      d.online_at = t;
    }
    s.tnext = d.online_at + 1800 * kSec + rng_.range(-60 * kSec, 60 * kSec);
    if (d.kind == Kind::Phone)
      s.tnext = std::min(s.tnext,
                         t + static_cast<std::int64_t>(rng_.exponential(900.0 * kSec)) +
                             5 * kSec);
    return true;
  }
  }
}

int Generator::pick_online(const std::function<bool(const Device&)>& pred) {
  int count = 0;
  for (int id : online_)
    if (pred(devices_[static_cast<std::size_t>(id)]))
      ++count;
  if (!count)
    return -1;
  int k = static_cast<int>(rng_.below(static_cast<std::uint64_t>(count)));
  for (int id : online_)
    if (pred(devices_[static_cast<std::size_t>(id)]) && k-- == 0)
      return id;
  return -1;
}

bool Generator::plan_noise(Session& s, std::int64_t now) {
  const double n_online = static_cast<double>(std::max<std::size_t>(1, online_.size()));
  PP p;
  auto noop = [&](std::int64_t t) {
    p.kind = PK::Tick;
    p.aux = 0;
    p.t = t;
    push(s, p);
    return true;
  };
  switch (s.noise) {
  case NoiseKind::Arp: {
    const std::int64_t t =
        now + static_cast<std::int64_t>(rng_.exponential(45.0 * kSec / n_online));
    const int dev = pick_online([](const Device&) { return true; });
    if (dev < 0)
      return noop(t);
    p.kind = PK::Arp;
    p.dev = static_cast<std::uint16_t>(dev);
    p.x = rng_.chance(0.5) ? 0 : 1;
    p.t = t;
    push(s, p);
    p.dir = 1;
    p.t += rng_.range(200, 6 * kMs);
    push(s, p);
    return true;
  }
  case NoiseKind::Mdns: {
    const std::int64_t t =
        now + static_cast<std::int64_t>(rng_.exponential(30.0 * kSec / n_online));
    auto part = [](const Device& d) { return d.mdns_browser || d.mdns_type != nullptr; };
    const int dev = pick_online(part);
    if (dev < 0)
      return noop(t);
    const Device& d = devices_[static_cast<std::size_t>(dev)];
    p.dev = static_cast<std::uint16_t>(dev);
    p.t = t;
    if (d.mdns_browser) {
      const int ty = static_cast<int>(rng_.below(kMdnsTypeCount));
      p.kind = PK::MdnsQ;
      p.aux = static_cast<std::uint16_t>(ty);
      p.x = 4;
      push(s, p);
      if (d.v6) {
        p.x = 6;
        p.t += rng_.range(20, 300);
        push(s, p);
      }
      // every announcer of that type answers
      for (int id : online_) {
        const Device& r = devices_[static_cast<std::size_t>(id)];
        if (!r.mdns_type || std::strcmp(r.mdns_type, kMdnsTypes[ty].type) != 0)
          continue;
        PP a;
        a.kind = PK::MdnsR;
        a.dev = static_cast<std::uint16_t>(id);
        a.x = 4;
        a.t = t + rng_.range(20 * kMs, 120 * kMs);
        push(s, a);
        if (r.v6) {
          a.x = 6;
          a.t += rng_.range(20, 300);
          push(s, a);
        }
      }
    } else {
      p.kind = PK::MdnsR;
      p.x = 4;
      push(s, p);
      if (d.v6) {
        p.x = 6;
        p.t += rng_.range(20, 300);
        push(s, p);
      }
    }
    return true;
  }
  case NoiseKind::Ssdp: {
    const std::int64_t t =
        now + static_cast<std::int64_t>(rng_.exponential(40.0 * kSec / n_online));
    auto part = [](const Device& d) { return d.ssdp_searcher || d.ssdp_responder; };
    const int dev = pick_online(part);
    if (dev < 0)
      return noop(t);
    const Device& d = devices_[static_cast<std::size_t>(dev)];
    p.dev = static_cast<std::uint16_t>(dev);
    p.t = t;
    if (d.ssdp_searcher) {
      p.kind = PK::SsdpSearch;
      static const Addr group = Addr::v4(239, 255, 255, 250);
      p.off = alloc_port(dev, group, 17, 1900, p.x); // searcher's source port
      push(s, p);
      for (int id : online_) {
        const Device& r = devices_[static_cast<std::size_t>(id)];
        if (!r.ssdp_responder)
          continue;
        PP a;
        a.kind = PK::SsdpReply;
        a.dev = static_cast<std::uint16_t>(id);
        a.aux = static_cast<std::uint16_t>(dev);
        a.off = p.off;
        a.x = p.x;
        a.t = t + rng_.range(5 * kMs, 900 * kMs);
        push(s, a);
      }
    } else {
      p.kind = PK::SsdpNotify;
      push(s, p);
    }
    return true;
  }
  case NoiseKind::Nd: {
    int n6 = 0;
    for (int id : online_)
      n6 += devices_[static_cast<std::size_t>(id)].v6 ? 1 : 0;
    const std::int64_t t =
        now + static_cast<std::int64_t>(rng_.exponential(40.0 * kSec / std::max(1, n6)));
    const int dev = pick_online([now](const Device& d) { return d.v6_at(now); });
    if (dev < 0)
      return noop(t);
    p.dev = static_cast<std::uint16_t>(dev);
    p.t = t;
    const bool from_dev = rng_.chance(0.5);
    p.kind = PK::Ns;
    p.x = from_dev ? 0 : 1;
    push(s, p);
    p.kind = PK::Na;
    p.x = from_dev ? 0 : 1;
    p.t += rng_.range(200, 5 * kMs);
    push(s, p);
    return true;
  }
  case NoiseKind::Ra: {
    const std::int64_t t = now + (s.tnext == 0 ? rng_.range(300 * kMs, 2 * kSec)
                                               : rng_.range(180 * kSec, 600 * kSec));
    s.tnext = 1;
    p.kind = PK::Ra;
    p.x = 0;
    p.t = t;
    push(s, p);
    return true;
  }
  case NoiseKind::Igmp: {
    const std::int64_t t =
        now + (s.tnext == 0 ? rng_.range(5 * kSec, 15 * kSec) : 125 * kSec);
    s.tnext = 1;
    p.kind = PK::IgmpQuery;
    p.t = t;
    push(s, p);
    for (int id : online_) {
      if (!devices_[static_cast<std::size_t>(id)].igmp)
        continue;
      for (std::uint16_t g = 0; g < 2; ++g) {
        PP r;
        r.kind = PK::IgmpReport;
        r.dev = static_cast<std::uint16_t>(id);
        r.aux = g;
        r.t = t + rng_.range(100 * kMs, 10 * kSec);
        push(s, r);
      }
    }
    return true;
  }
  case NoiseKind::Bcast: {
    const std::int64_t t = now + static_cast<std::int64_t>(rng_.exponential(20.0 * kSec));
    const int dev = pick_online([](const Device& d) { return d.kind == Kind::Iot; });
    if (dev < 0)
      return noop(t);
    p.kind = PK::Bcast;
    p.dev = static_cast<std::uint16_t>(dev);
    p.t = t;
    push(s, p);
    return true;
  }
  }
  return false;
}

// ====================================================================== frames

void Generator::write_eth(const Mac& dst, const Mac& src, std::uint16_t ethertype) {
  std::memcpy(frame_, dst.b.data(), 6);
  std::memcpy(frame_ + 6, src.b.data(), 6);
  if (o_.vlan >= 0) {
    put16(frame_ + 12, 0x8100);
    put16(frame_ + 14, static_cast<std::uint32_t>(o_.vlan));
    put16(frame_ + 16, ethertype);
  } else {
    put16(frame_ + 12, ethertype);
  }
}

void Generator::finish_frame(std::size_t orig, std::size_t written, bool whole,
                             bool pad) {
  if (pad && orig < 60)
    orig = 60;
  const std::size_t incl = whole ? orig : std::min<std::size_t>(o_.snaplen, orig);
  pcap_.record(static_cast<std::uint64_t>(start_us_ + last_t_), frame_,
               static_cast<std::uint32_t>(incl), static_cast<std::uint32_t>(orig));
  std::memset(frame_, 0, std::min(written, sizeof frame_));
  ++written_;
}

void Generator::send_ip(const IpArgs& a, std::size_t l4_written, std::size_t l4_total,
                        int csum_off) {
  const bool v6 = a.src->family == 6;
  write_eth(*a.dmac, *a.smac, v6 ? 0x86dd : 0x0800);
  std::uint8_t* ip = frame_ + eth_len_;
  const std::size_t l4o = l4_offset(v6, a.ra);
  std::uint8_t* l4 = frame_ + l4o;
  std::uint32_t ip_len;
  std::uint32_t acc = 0;
  if (!v6) {
    const std::size_t hl = a.ra ? 24 : 20;
    ip_len = static_cast<std::uint32_t>(hl + l4_total);
    ip[0] = static_cast<std::uint8_t>(0x40 | (hl / 4));
    ip[1] = a.tos;
    put16(ip + 2, ip_len);
    put16(ip + 4, a.ipid);
    put16(ip + 6, a.df ? 0x4000 : 0);
    ip[8] = a.ttl;
    ip[9] = a.proto;
    put16(ip + 10, 0);
    std::memcpy(ip + 12, a.src->b.data(), 4);
    std::memcpy(ip + 16, a.dst->b.data(), 4);
    if (a.ra) {
      ip[20] = 0x94;
      ip[21] = 0x04;
      ip[22] = 0;
      ip[23] = 0;
    }
    put16(ip + 10, csum_fold(csum_add(0, ip, hl)));
    if (a.proto == 6 || a.proto == 17) {
      acc = csum_add(acc, ip + 12, 8);
      acc += a.proto;
      acc += static_cast<std::uint32_t>(l4_total);
    }
  } else {
    ip_len = static_cast<std::uint32_t>(40 + l4_total);
    put32(ip, 0x60000000u | (static_cast<std::uint32_t>(a.tos) << 20));
    put16(ip + 4, static_cast<std::uint32_t>(l4_total));
    ip[6] = a.proto;
    ip[7] = a.ttl;
    std::memcpy(ip + 8, a.src->b.data(), 16);
    std::memcpy(ip + 24, a.dst->b.data(), 16);
    acc = csum_add(acc, ip + 8, 32);
    acc += static_cast<std::uint32_t>(l4_total >> 16);
    acc += static_cast<std::uint32_t>(l4_total & 0xffff);
    acc += a.proto;
  }
  if (csum_off >= 0) {
    acc = csum_add(acc, l4, l4_written);
    std::uint16_t c = csum_fold(acc);
    if (a.proto == 17 && c == 0)
      c = 0xffff;
    put16(l4 + csum_off, c);
  }
  const std::size_t orig = l4o + l4_total;
  if (want_truth_) {
    FlowKey k;
    k.family = v6 ? 6 : 4;
    k.proto = a.proto;
    std::memcpy(k.src.data(), a.src->b.data(), a.src->len());
    std::memcpy(k.dst.data(), a.dst->b.data(), a.dst->len());
    if (a.proto == 6 || a.proto == 17) {
      k.sport = a.sport;
      k.dport = a.dport;
    } else if (a.proto == 1 || a.proto == 58) {
      k.sport = 0;
      k.dport = static_cast<std::uint16_t>((l4[0] << 8) | l4[1]);
    }
    if (a.keyc == 1 || (a.keyc == 0 && fixed_keys_.insert(k).second))
      ++flow_keys_;
    truth_.add((start_us_ + last_t_) / kSec, k, ip_len);
  }
  finish_frame(orig, l4o + l4_written, a.whole, a.pad);
}

void Generator::send_udp(IpArgs a, std::size_t payload_written,
                         std::size_t payload_total) {
  a.proto = 17;
  std::uint8_t* u = l4_ptr(a.src->family == 6, a.ra);
  put16(u, a.sport);
  put16(u + 2, a.dport);
  put16(u + 4, static_cast<std::uint32_t>(8 + payload_total));
  put16(u + 6, 0);
  send_ip(a, 8 + payload_written, 8 + payload_total, 6);
}

void Generator::send_tcp(IpArgs a, std::uint32_t seq, std::uint32_t ack,
                         std::uint8_t flags, std::uint16_t win, bool syn_opts,
                         std::uint16_t mss, std::size_t payload_written,
                         std::size_t payload_total) {
  a.proto = 6;
  std::uint8_t* t = l4_ptr(a.src->family == 6);
  const std::size_t hl = syn_opts ? 32 : 20;
  if (payload_written && hl != 20)
    std::memmove(t + hl, t + 20, payload_written);
  put16(t, a.sport);
  put16(t + 2, a.dport);
  put32(t + 4, seq);
  put32(t + 8, (flags & ACKF) ? ack : 0);
  t[12] = static_cast<std::uint8_t>((hl / 4) << 4);
  t[13] = flags;
  put16(t + 14, win);
  put16(t + 16, 0);
  put16(t + 18, 0);
  if (syn_opts) {
    std::uint8_t* o = t + 20;
    o[0] = 2; // MSS
    o[1] = 4;
    put16(o + 2, mss);
    o[4] = 1; // NOP
    o[5] = 3; // window scale
    o[6] = 3;
    o[7] = 7;
    o[8] = 1;
    o[9] = 1;
    o[10] = 4; // SACK permitted
    o[11] = 2;
  }
  send_ip(a, hl + payload_written, hl + payload_total, 16);
}

// ====================================================================== payloads

std::size_t Generator::dns_query(std::uint8_t* out, std::size_t cap,
                                 std::string_view qname, std::uint16_t qtype,
                                 std::uint16_t id, bool edns) {
  DnsWriter w(out, cap);
  w.u16(id);
  w.u16(0x0100); // RD
  w.u16(1);
  w.u16(0);
  w.u16(0);
  w.u16(edns ? 1 : 0);
  w.name(qname);
  w.u16(qtype);
  w.u16(1);
  if (edns) {
    w.u8(0);
    w.u16(41);
    w.u16(1232);
    w.u32(0);
    w.u16(0);
  }
  return w.size();
}

std::size_t Generator::dns_response(std::uint8_t* out, std::size_t cap, int name_id,
                                    std::string_view qname, std::uint16_t qtype,
                                    std::uint16_t id, bool edns, bool mark) {
  DnsWriter w(out, cap);
  // walk the chain
  int chain[10];
  int nchain = 0;
  int cur = name_id;
  while (cur >= 0 && names_[static_cast<std::size_t>(cur)].cname >= 0 && nchain < 8) {
    chain[nchain++] = cur;
    cur = names_[static_cast<std::size_t>(cur)].cname;
  }
  const DnsName* fin = cur >= 0 ? &names_[static_cast<std::size_t>(cur)] : nullptr;
  const std::vector<Addr>* addrs = fin ? (qtype == 28 ? &fin->aaaa : &fin->a) : nullptr;
  const std::size_t naddr = addrs ? addrs->size() : 0;
  const bool nx = name_id < 0;
  const std::uint32_t ancount = static_cast<std::uint32_t>(nchain + naddr);
  const bool soa = !nx && naddr == 0;
  w.u16(id);
  w.u16(0x8180u | (nx ? 3u : 0u));
  w.u16(1);
  w.u16(ancount);
  w.u16(soa ? 1 : 0);
  w.u16(edns ? 1 : 0);
  w.name(qname);
  w.u16(qtype);
  w.u16(1);
  for (int i = 0; i < nchain; ++i) {
    DnsName& n = names_[static_cast<std::size_t>(chain[i])];
    w.name(n.name);
    w.u16(5);
    w.u16(1);
    w.u32(n.ttl);
    const std::size_t h = w.hole16();
    w.name(names_[static_cast<std::size_t>(n.cname)].name);
    w.patch16(h, static_cast<std::uint32_t>(w.size() - h - 2));
    if (mark)
      n.cname_seen = true;
  }
  const std::size_t rot = naddr ? static_cast<std::size_t>(id) % naddr : 0;
  for (std::size_t i = 0; i < naddr; ++i) {
    const std::size_t k = (i + rot) % naddr;
    const Addr& a = (*addrs)[k];
    w.name(fin->name);
    w.u16(qtype);
    w.u16(1);
    w.u32(fin->ttl);
    w.u16(static_cast<std::uint32_t>(a.len()));
    w.bytes(a.b.data(), a.len());
    if (mark) {
      DnsName& fm = names_[static_cast<std::size_t>(cur)];
      (qtype == 28 ? fm.aaaa_seen : fm.a_seen)[k] = 1;
    }
  }
  if (soa) {
    // zone apex = last two labels of the final name
    std::string_view fn = fin->name;
    std::size_t dot = fn.rfind('.');
    dot = dot == std::string_view::npos ? 0 : fn.rfind('.', dot - 1);
    const std::string_view zone = dot == std::string_view::npos ? fn : fn.substr(dot + 1);
    text_ = "ns1.";
    text_ += zone;
    text_ += '\0';
    text_ += "hostmaster.";
    text_ += zone;
    const std::string_view mname(text_.data(), zone.size() + 4);
    const std::string_view rname(text_.data() + zone.size() + 5, zone.size() + 11);
    w.name(zone);
    w.u16(6);
    w.u16(1);
    w.u32(300);
    const std::size_t h = w.hole16();
    w.name(mname);
    w.name(rname);
    w.u32(2025120101);
    w.u32(7200);
    w.u32(3600);
    w.u32(1209600);
    w.u32(300);
    w.patch16(h, static_cast<std::uint32_t>(w.size() - h - 2));
  }
  if (edns) {
    w.u8(0);
    w.u16(41);
    w.u16(1232);
    w.u32(0);
    w.u16(0);
  }
  if (mark) {
    ++dns_responses_;
    dns_answers_ += ancount;
    if (nx)
      ++dns_nx_responses_;
    else if (naddr == 0)
      ++dns_nodata_responses_;
  }
  return w.size();
}

// Query or response i of session s (deterministic: can be rebuilt).
std::size_t Generator::dns_message(const Session& s, int qi, bool response,
                                   std::uint8_t* out, std::size_t cap, bool mark) {
  const std::uint16_t qtype = qi == 0 ? 1 : 28;
  if (s.nx >= 0) {
    const std::string_view q = nx_names_[static_cast<std::size_t>(s.nx)];
    return response ? dns_response(out, cap, -1, q, qtype, s.dns_id[qi], s.dns_edns, mark)
                    : dns_query(out, cap, q, qtype, s.dns_id[qi], s.dns_edns);
  }
  const Service& sv = services_[static_cast<std::size_t>(s.svc)];
  const std::string_view q = names_[static_cast<std::size_t>(sv.name)].name;
  return response
             ? dns_response(out, cap, sv.name, q, qtype, s.dns_id[qi], s.dns_edns, mark)
             : dns_query(out, cap, q, qtype, s.dns_id[qi], s.dns_edns);
}

// BOOTP/DHCP message. mode: 0 initial (selecting), 1 renewing, 2 init-reboot.
std::size_t Generator::dhcp_payload(std::uint8_t* out, const Device& d, int msg,
                                    int mode) {
  std::memset(out, 0, 300);
  const bool client = msg == 1 || msg == 3;
  out[0] = client ? 1 : 2;
  out[1] = 1;
  out[2] = 6;
  put32(out + 4, d.xid);
  put16(out + 8, client && mode == 0 ? 3 : 0);
  put16(out + 10, d.dhcp_broadcast && mode != 1 ? 0x8000 : 0);
  if (mode == 1)
    std::memcpy(out + 12, d.ip4.b.data(), 4); // ciaddr
  if (!client)
    std::memcpy(out + 16, d.ip4.b.data(), 4); // yiaddr
  std::memcpy(out + 28, d.mac.b.data(), 6);
  put32(out + 236, 0x63825363);
  std::size_t o = 240;
  auto opt = [&](std::uint8_t code, const void* data, std::size_t n) {
    out[o++] = code;
    out[o++] = static_cast<std::uint8_t>(n);
    std::memcpy(out + o, data, n);
    o += n;
  };
  auto opt32 = [&](std::uint8_t code, std::uint32_t v) {
    std::uint8_t b[4];
    put32(b, v);
    opt(code, b, 4);
  };
  const std::uint8_t type = static_cast<std::uint8_t>(msg);
  opt(53, &type, 1);
  if (client) {
    std::uint8_t cid[7] = {1};
    std::memcpy(cid + 1, d.mac.b.data(), 6);
    opt(61, cid, 7);
    if (msg == 3 && mode != 1)
      opt(50, d.ip4.b.data(), 4);
    if (msg == 3 && mode == 0)
      opt(54, router4_.b.data(), 4);
    std::uint8_t mx[2];
    put16(mx, 1500);
    opt(57, mx, 2);
    static const std::uint8_t prl[] = {1, 3, 6, 15, 26, 28, 51, 58, 59, 43};
    opt(55, prl, sizeof prl);
    opt(12, d.host.data(), d.host.size());
    if (!d.dhcp_vendor.empty())
      opt(60, d.dhcp_vendor.data(), d.dhcp_vendor.size());
  } else {
    opt(54, router4_.b.data(), 4);
    opt32(51, 3600);
    opt32(58, 1800);
    opt32(59, 3150);
    opt32(1, 0xffffff00u);
    std::uint8_t bc[4] = {192, 168, 1, 255};
    opt(28, bc, 4);
    opt(3, router4_.b.data(), 4);
    opt(6, router4_.b.data(), 4);
    opt(15, "lan", 3);
    if (msg == 5)
      opt(12, d.host.data(), d.host.size());
  }
  out[o++] = 255;
  return std::max<std::size_t>(o, 300);
}

std::string Generator::http_request(const Session& s) const {
  const Service& sv = services_[static_cast<std::size_t>(s.svc)];
  const std::string& host = names_[static_cast<std::size_t>(sv.name)].name;
  if (sv.profile == Profile::HttpDownload)
    return "GET /fw/v2.4.1/image.bin HTTP/1.1\r\nHost: " + host +
           "\r\nUser-Agent: ESP32HTTPClient\r\nConnection: close\r\n\r\n";
  return "GET /generate_204 HTTP/1.1\r\nHost: " + host +
         "\r\nUser-Agent: Dalvik/2.1.0 (Linux; U; Android 14)\r\nConnection: "
         "Keep-Alive\r\n"
         "Accept-Encoding: gzip\r\n\r\n";
}

std::string Generator::http_response(const Session& s, std::uint32_t body) const {
  const std::string date = http_date(o_.start + (last_t_ / kSec));
  if (services_[static_cast<std::size_t>(s.svc)].profile == Profile::HttpDownload)
    return "HTTP/1.1 200 OK\r\nContent-Type: "
           "application/octet-stream\r\nContent-Length: " +
           std::to_string(body) + "\r\nDate: " + date + "\r\nConnection: close\r\n\r\n";
  return "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nDate: " + date + "\r\n\r\n";
}

// ====================================================================== emission

void Generator::emit(Session& s, const PP& p) {
  if (p.t < last_t_)
    ++clamped_;
  last_t_ = std::max(last_t_, p.t);
  if (first_t_ < 0)
    first_t_ = last_t_;
  if (s.kind == SK::Flow && s.controlled && p.kind != PK::Tick) {
    if (s.emitted < s.est)
      --pending_;
    ++s.emitted;
    if (s.heavy)
      ++heavy_written_;
  }
  switch (p.kind) {
  case PK::Tick:
    if (p.aux == 1)
      device_online(p.dev, p.t);
    else if (p.aux == 2)
      spawn_flow(p.t);
    else if (p.aux == 3)
      spawn_dns_event(p.t);
    return;
  case PK::DnsQ:
  case PK::DnsR:
    emit_dns_udp(s, p);
    return;
  case PK::DnsTcp:
    emit_dns_tcp(s, p);
    return;
  case PK::Tcp:
    emit_flow_tcp(s, p);
    return;
  case PK::Udp:
    emit_flow_udp(s, p);
    return;
  case PK::Icmp:
    emit_icmp(s, p);
    return;
  case PK::Dhcp:
    emit_dhcp(p);
    return;
  case PK::Arp:
    emit_arp(p);
    return;
  case PK::Ns:
  case PK::Na:
  case PK::Rs:
  case PK::Ra:
    emit_nd(p);
    return;
  case PK::MdnsQ:
  case PK::MdnsR:
    emit_mdns(p);
    return;
  case PK::SsdpSearch:
  case PK::SsdpNotify:
  case PK::SsdpReply:
    emit_ssdp(p);
    return;
  case PK::IgmpQuery:
  case PK::IgmpReport:
    emit_igmp(p);
    return;
  case PK::Bcast:
    emit_bcast(p);
    return;
  }
}

void Generator::emit_dns_udp(Session& s, const PP& p) {
  Device& d = devices_[static_cast<std::size_t>(s.dev)];
  const bool v6 = s.dns_v6;
  const bool resp = p.kind == PK::DnsR;
  IpArgs a{};
  const Addr& dev = dev_addr(d, v6);
  const Addr& rtr = v6 ? router6_ : router4_;
  a.src = resp ? &rtr : &dev;
  a.dst = resp ? &dev : &rtr;
  a.smac = resp ? &router_mac_ : &d.mac;
  a.dmac = resp ? &d.mac : &router_mac_;
  a.ttl = resp ? 64 : d.ip_ttl;
  a.ipid = resp ? rng_.u16() : d.ipid++;
  a.df = true;
  a.whole = true;
  a.pad = !resp;
  a.sport = resp ? 53 : s.dns_sport;
  a.dport = resp ? s.dns_sport : 53;
  a.keyc = key_class(s, resp ? 8 : 4, s.kmode_dns);
  std::uint8_t* pl = l4_ptr(v6) + 8;
  const std::size_t n = dns_message(s, p.aux, resp, pl, 1400, resp);
  if (!resp)
    ++dns_query_frames_;
  send_udp(a, n, n);
}

void Generator::emit_dns_tcp(Session& s, const PP& p) {
  Device& d = devices_[static_cast<std::size_t>(s.dev)];
  const bool v6 = s.dns_v6;
  const bool from_dev = p.dir == 0;
  IpArgs a{};
  const Addr& dev = dev_addr(d, v6);
  const Addr& rtr = v6 ? router6_ : router4_;
  a.src = from_dev ? &dev : &rtr;
  a.dst = from_dev ? &rtr : &dev;
  a.smac = from_dev ? &d.mac : &router_mac_;
  a.dmac = from_dev ? &router_mac_ : &d.mac;
  a.ttl = from_dev ? d.ip_ttl : 64;
  a.ipid = from_dev ? d.ipid++ : rng_.u16();
  a.df = true;
  a.whole = true;
  a.pad = from_dev;
  a.sport = from_dev ? s.dns_sport : 53;
  a.dport = from_dev ? 53 : s.dns_sport;
  a.keyc = key_class(s, from_dev ? 4 : 8, s.kmode_dns);
  std::size_t written = 0;
  if (p.len) {
    // rebuild the length-prefixed message and copy the slice of this segment
    const bool response = p.x == 1;
    const bool last =
        p.off + p.len >= 2 + dns_message(s, p.aux, response, scratch_.data() + 2,
                                         scratch_.size() - 2, false);
    const std::size_t n = dns_message(s, p.aux, response, scratch_.data() + 2,
                                      scratch_.size() - 2, response && last);
    if (!response && last)
      ++dns_query_frames_;
    put16(scratch_.data(), static_cast<std::uint32_t>(n));
    written = std::min<std::size_t>(p.len, n + 2 - p.off);
    std::memcpy(l4_ptr(v6) + ((p.flags & SYN) ? 32 : 20), scratch_.data() + p.off,
                written);
  }
  const bool syn = p.flags & SYN;
  send_tcp(a, p.seq, p.ack, p.flags,
           syn ? (from_dev ? 64240 : 65160) : (from_dev ? 502 : 509), syn,
           v6 ? 1440 : 1460, written, p.len);
}

void Generator::emit_flow_tcp(Session& s, const PP& p) {
  Device& d = devices_[static_cast<std::size_t>(s.dev)];
  const Service& sv = services_[static_cast<std::size_t>(s.svc)];
  const bool up = p.dir == 0;
  IpArgs a{};
  const Addr& dev = dev_addr(d, s.v6);
  a.src = up ? &dev : &s.remote;
  a.dst = up ? &s.remote : &dev;
  a.smac = up ? &d.mac : &router_mac_;
  a.dmac = up ? &router_mac_ : &d.mac;
  a.ttl = up ? d.ip_ttl : (s.v6 ? sv.hops_ttl6 : sv.hops_ttl4);
  a.ipid = up ? s.ipid_c++ : s.ipid_s++;
  a.df = true;
  a.pad = up;
  a.sport = up ? s.sport : s.dport;
  a.dport = up ? s.dport : s.sport;
  a.keyc = key_class(s, up ? 1 : 2, s.kmode_flow);
  const bool syn = p.flags & SYN;
  std::uint8_t* pl = l4_ptr(s.v6) + 20;
  std::size_t written = 0;
  if (p.len) {
    if (s.dport == 80) {
      if (p.aux == 1) {
        const Exchange& e = s.ex[std::min<std::size_t>(p.off, s.ex.size() - 1)];
        text_ = up ? http_request(s) : http_response(s, e.body);
        written = std::min<std::size_t>(text_.size(), p.len);
        std::memcpy(pl, text_.data(), written);
      }
    } else if (p.len >= 6) {
      // each segment carries one TLS application-data record
      pl[0] = 0x17;
      pl[1] = 0x03;
      pl[2] = 0x03;
      put16(pl + 3, p.len - 5);
      written = 5;
    }
  }
  std::uint16_t win;
  if (syn)
    win = up ? 64240 : 65535;
  else
    win = up ? 2048 : 1050;
  send_tcp(a, p.seq, p.ack, p.flags, win, syn, s.v6 ? 1440 : 1460, written, p.len);
}

void Generator::emit_flow_udp(Session& s, const PP& p) {
  Device& d = devices_[static_cast<std::size_t>(s.dev)];
  const Service& sv = services_[static_cast<std::size_t>(s.svc)];
  const bool up = p.dir == 0;
  IpArgs a{};
  const Addr& dev = dev_addr(d, s.v6);
  a.src = up ? &dev : &s.remote;
  a.dst = up ? &s.remote : &dev;
  a.smac = up ? &d.mac : &router_mac_;
  a.dmac = up ? &router_mac_ : &d.mac;
  a.ttl = up ? d.ip_ttl : (s.v6 ? sv.hops_ttl6 : sv.hops_ttl4);
  a.ipid = up ? s.ipid_c++ : s.ipid_s++;
  a.df = sv.profile != Profile::Ntp;
  a.pad = up;
  a.sport = up ? s.sport : s.dport;
  a.dport = up ? s.dport : s.sport;
  a.keyc = key_class(s, up ? 1 : 2, s.kmode_flow);
  std::uint8_t* pl = l4_ptr(s.v6) + 8;
  std::size_t written = 0;
  if (sv.profile == Profile::Ntp) {
    // NTPv4 client request / server reply
    const std::int64_t now_us = start_us_ + last_t_;
    auto ntp_ts = [](std::uint8_t* o, std::int64_t us) {
      const std::uint64_t sec = static_cast<std::uint64_t>(us / kSec) + 2208988800ULL;
      const std::uint64_t frac =
          (static_cast<std::uint64_t>(us % kSec) << 32) / 1000000ULL;
      put32(o, static_cast<std::uint32_t>(sec));
      put32(o + 4, static_cast<std::uint32_t>(frac));
    };
    std::memset(pl, 0, 48);
    if (up) {
      pl[0] = 0x23; // LI 0, VN 4, client
      pl[2] = 6;
      pl[3] = 0xec;
      ntp_ts(pl + 40, now_us);
      s.ntp_sent = now_us;
    } else {
      pl[0] = 0x24; // server
      pl[1] = 2;
      pl[2] = 6;
      pl[3] = 0xe9;
      put32(pl + 4, 0x00000180);
      put32(pl + 8, 0x00000290);
      std::memcpy(pl + 12,
                  s.remote.family == 4 ? s.remote.b.data() : s.remote.b.data() + 12, 4);
      pl[12] ^= 0x5a;
      ntp_ts(pl + 16, now_us - 37 * kSec);
      ntp_ts(pl + 24, s.ntp_sent);
      ntp_ts(pl + 32, now_us - s.rtt / 2);
      ntp_ts(pl + 40, now_us - s.rtt / 2 + 25);
    }
    written = 48;
  } else if (s.tr == Transport::Quic) {
    // QUIC v1 as Chrome does it: zero-length client connection ID, 8-byte
    // server connection ID. Handshake exchange: long headers (the first
    // datagram of each side an Initial, then Handshake packets); later
    // 1-RTT short headers. The protected part stays zero.
    std::uint8_t dcid0[8], scid[8];
    for (int i = 0; i < 8; ++i) {
      dcid0[i] = static_cast<std::uint8_t>((s.cseq >> (i % 4 * 8)) + 17 * i);
      scid[i] = static_cast<std::uint8_t>((s.sseq >> (i % 4 * 8)) + 29 * i);
    }
    if (p.off == 0) {
      const bool initial = p.aux == 1 || (up && !s.quic_seen_server);
      std::size_t o = 0;
      pl[o++] = static_cast<std::uint8_t>(
          initial ? 0xc1 : 0xe1); // Initial / Handshake, 2-byte PN
      put32(pl + o, 1);
      o += 4;
      if (up) { // DCID = server CID once known, SCID empty
        pl[o++] = 8;
        std::memcpy(pl + o, s.quic_seen_server ? scid : dcid0, 8);
        o += 8;
        pl[o++] = 0;
      } else {
        pl[o++] = 0;
        pl[o++] = 8;
        std::memcpy(pl + o, scid, 8);
        o += 8;
      }
      if (initial)
        pl[o++] = 0; // token length
      const std::size_t rest = p.len - o - 2;
      put16(pl + o, static_cast<std::uint32_t>(0x4000 | rest));
      o += 2;
      put16(pl + o,
            static_cast<std::uint32_t>(s.ipid_c + s.ipid_s)); // packet number bytes
      o += 2;
      written = o;
      if (!up)
        s.quic_seen_server = true;
    } else {
      pl[0] = static_cast<std::uint8_t>(
          0x41 | (rng_.u8() & 0x04)); // short header, spin/key bits
      std::size_t o = 1;
      if (up) {
        std::memcpy(pl + 1, scid, 8);
        o += 8;
      }
      put16(pl + o, static_cast<std::uint32_t>(s.ipid_c + s.ipid_s));
      written = o + 2;
    }
  }
  send_udp(a, written, p.len);
}

void Generator::emit_icmp(Session& s, const PP& p) {
  Device& d = devices_[static_cast<std::size_t>(s.dev)];
  const Service& sv = services_[static_cast<std::size_t>(s.svc)];
  const bool up = p.dir == 0;
  IpArgs a{};
  const Addr& dev = dev_addr(d, s.v6);
  a.src = up ? &dev : &s.remote;
  a.dst = up ? &s.remote : &dev;
  a.smac = up ? &d.mac : &router_mac_;
  a.dmac = up ? &router_mac_ : &d.mac;
  a.ttl = up ? d.ip_ttl : (s.v6 ? sv.hops_ttl6 : sv.hops_ttl4);
  a.ipid = up ? s.ipid_c++ : s.ipid_s++;
  a.df = true;
  a.pad = up;
  a.proto = s.v6 ? 58 : 1;
  std::uint8_t* m = l4_ptr(s.v6);
  m[0] = s.v6 ? (up ? 128 : 129) : (up ? 8 : 0);
  m[1] = 0;
  put16(m + 2, 0);
  put16(m + 4, s.icmp_id);
  put16(m + 6, p.seq);
  // 56 data bytes: a timestamp then zeros
  const std::int64_t us = start_us_ + last_t_ - (up ? 0 : s.rtt);
  put32(m + 8, static_cast<std::uint32_t>(us / kSec));
  put32(m + 12, static_cast<std::uint32_t>(us % kSec));
  if (!s.v6) {
    put16(m + 2, csum_fold(csum_add(0, m, 16)));
    send_ip(a, 16, 64, -1);
  } else {
    send_ip(a, 16, 64, 2);
  }
}

void Generator::emit_dhcp(const PP& p) {
  const Device& d = devices_[p.dev];
  const int msg = p.aux;
  const int mode = p.x;
  const bool client = msg == 1 || msg == 3;
  static const Addr any = Addr::v4(0u);
  static const Addr bcast = Addr::v4(0xffffffffu);
  IpArgs a{};
  a.whole = true;
  a.ttl = client ? d.ip_ttl : 64;
  a.ipid = client ? 0 : rng_.u16();
  a.tos = client ? 0 : 0xc0;
  if (client) {
    a.sport = 68;
    a.dport = 67;
    a.smac = &d.mac;
    a.pad = true;
    if (mode == 1) {
      a.src = &d.ip4;
      a.dst = &router4_;
      a.dmac = &router_mac_;
    } else {
      a.src = &any;
      a.dst = &bcast;
      a.dmac = &kBroadcastMac;
    }
  } else {
    a.sport = 67;
    a.dport = 68;
    a.src = &router4_;
    a.smac = &router_mac_;
    const bool b = d.dhcp_broadcast && mode != 1;
    a.dst = b ? &bcast : &d.ip4;
    a.dmac = b ? &kBroadcastMac : &d.mac;
  }
  std::uint8_t* pl = l4_ptr(false) + 8;
  const std::size_t n = dhcp_payload(pl, d, msg, mode);
  send_udp(a, n, n);
}

void Generator::emit_arp(const PP& p) {
  const Device& d = devices_[p.dev];
  // x: 0 router asks device, 1 device asks router, 2 probe, 3 announcement
  const bool req = p.dir == 0;
  const Mac* sha;
  const Addr* spa;
  const Mac* tha;
  const Addr* tpa;
  const Mac* dst;
  static const Addr zero4 = Addr::v4(0u);
  bool pad = true;
  if (p.x == 2 || p.x == 3) {
    sha = &d.mac;
    spa = p.x == 2 ? &zero4 : &d.ip4;
    tha = &kZeroMac;
    tpa = &d.ip4;
    dst = &kBroadcastMac;
  } else {
    const bool router_asks = p.x == 0;
    const bool router_sends = router_asks == req;
    if (router_sends) {
      sha = &router_mac_;
      spa = &router4_;
      tha = req ? &kZeroMac : &d.mac;
      tpa = &d.ip4;
      pad = false;
    } else {
      sha = &d.mac;
      spa = &d.ip4;
      tha = req ? &kZeroMac : &router_mac_;
      tpa = &router4_;
    }
    dst = req ? &kBroadcastMac : (router_sends ? &d.mac : &router_mac_);
  }
  write_eth(*dst, *sha, 0x0806);
  std::uint8_t* a = frame_ + eth_len_;
  put16(a, 1);
  put16(a + 2, 0x0800);
  a[4] = 6;
  a[5] = 4;
  put16(a + 6, req ? 1 : 2);
  std::memcpy(a + 8, sha->b.data(), 6);
  std::memcpy(a + 14, spa->b.data(), 4);
  std::memcpy(a + 18, tha->b.data(), 6);
  std::memcpy(a + 24, tpa->b.data(), 4);
  finish_frame(eth_len_ + 28, eth_len_ + 28, false, pad);
}

void Generator::emit_nd(const PP& p) {
  const Device& d = devices_[p.dev];
  static const Addr all_nodes = Addr::v6({0xff02, 0, 0, 0, 0, 0, 0, 1});
  static const Addr all_routers = Addr::v6({0xff02, 0, 0, 0, 0, 0, 0, 2});
  static const Addr unspecified = Addr::v6({0, 0, 0, 0, 0, 0, 0, 0});
  IpArgs a{};
  a.proto = 58;
  a.ttl = 255;
  std::uint8_t* m = l4_ptr(true);
  std::size_t n = 0;
  Addr dst;
  Mac dmac;
  auto lla_opt = [&](std::uint8_t type, const Mac& mac) {
    m[n] = type;
    m[n + 1] = 1;
    std::memcpy(m + n + 2, mac.b.data(), 6);
    n += 8;
  };
  switch (p.kind) {
  case PK::Rs:
    a.src = &d.ll;
    dst = all_routers;
    a.smac = &d.mac;
    a.pad = true;
    m[0] = 133;
    n = 8;
    lla_opt(1, d.mac);
    break;
  case PK::Ra: {
    a.src = &router_ll_;
    dst = all_nodes;
    a.smac = &router_mac_;
    m[0] = 134;
    m[4] = 64; // cur hop limit
    m[5] = 0;
    put16(m + 6, 1800);
    n = 16;
    lla_opt(1, router_mac_);
    m[n] = 5; // MTU
    m[n + 1] = 1;
    put32(m + n + 4, 1500);
    n += 8;
    m[n] = 3; // prefix information
    m[n + 1] = 4;
    m[n + 2] = 64;
    m[n + 3] = 0xc0;
    put32(m + n + 4, 7200);
    put32(m + n + 8, 3600);
    std::memcpy(m + n + 16, router6_.b.data(), 8);
    n += 32;
    m[n] = 25; // RDNSS
    m[n + 1] = 3;
    put32(m + n + 4, 1800);
    std::memcpy(m + n + 8, router6_.b.data(), 16);
    n += 24;
    break;
  }
  case PK::Ns: {
    m[0] = 135;
    if (p.x == 2) { // DAD for the ULA
      a.src = &unspecified;
      a.smac = &d.mac;
      a.pad = true;
      dst = solicited_node(d.ula);
      std::memcpy(m + 8, d.ula.b.data(), 16);
      n = 24;
    } else if (p.x == 0) { // device resolves the router
      a.src = &d.ula;
      a.smac = &d.mac;
      a.pad = true;
      dst = solicited_node(router6_);
      std::memcpy(m + 8, router6_.b.data(), 16);
      n = 24;
      lla_opt(1, d.mac);
    } else { // router checks reachability of the device (unicast)
      a.src = &router6_;
      a.smac = &router_mac_;
      dst = d.ula;
      dmac = d.mac;
      std::memcpy(m + 8, d.ula.b.data(), 16);
      n = 24;
      lla_opt(1, router_mac_);
    }
    break;
  }
  case PK::Na:
  default: {
    m[0] = 136;
    if (p.x == 0) { // router answers the device
      a.src = &router6_;
      a.smac = &router_mac_;
      dst = d.ula;
      dmac = d.mac;
      put32(m + 4, 0xe0000000u); // router, solicited, override
      std::memcpy(m + 8, router6_.b.data(), 16);
      n = 24;
      lla_opt(2, router_mac_);
    } else { // device answers the router
      a.src = &d.ula;
      a.smac = &d.mac;
      a.pad = true;
      dst = router6_;
      dmac = router_mac_;
      put32(m + 4, 0x40000000u); // solicited
      std::memcpy(m + 8, d.ula.b.data(), 16);
      n = 24;
    }
    break;
  }
  }
  a.dst = &dst;
  if (dst.b[0] == 0xff)
    dmac = multicast_mac(dst);
  a.dmac = &dmac;
  send_ip(a, n, n, 2);
}

void Generator::emit_mdns(const PP& p) {
  const Device& d = devices_[p.dev];
  static const Addr g4 = Addr::v4(224, 0, 0, 251);
  static const Addr g6 = Addr::v6({0xff02, 0, 0, 0, 0, 0, 0, 0xfb});
  const bool v6 = p.x == 6;
  IpArgs a{};
  a.src = v6 ? &d.ll : &d.ip4;
  a.dst = v6 ? &g6 : &g4;
  const Mac gm = multicast_mac(*a.dst);
  a.smac = &d.mac;
  a.dmac = &gm;
  a.ttl = 255;
  a.ipid = 0;
  a.df = true;
  a.pad = true;
  a.whole = true;
  a.sport = 5353;
  a.dport = 5353;
  std::uint8_t* pl = l4_ptr(v6) + 8;
  DnsWriter w(pl, 1400);
  if (p.kind == PK::MdnsQ) {
    w.u16(0);
    w.u16(0);
    w.u16(1);
    w.u16(0);
    w.u16(0);
    w.u16(0);
    w.name(kMdnsTypes[p.aux].type);
    w.u16(12);
    w.u16(rng_.chance(0.3) ? 0x8001 : 0x0001); // QU bit sometimes
  } else {
    const char* type = d.mdns_type ? d.mdns_type : kMdnsTypes[0].type;
    text_ = d.host + "." + type;
    text_ += '\0';
    text_ += d.host + ".local";
    const std::string_view instance(text_.data(), d.host.size() + 1 + std::strlen(type));
    const std::string_view target(text_.data() + instance.size() + 1, d.host.size() + 6);
    w.u16(0);
    w.u16(0x8400);
    w.u16(0);
    w.u16(3);
    w.u16(0);
    w.u16(0);
    w.name(type);
    w.u16(12); // PTR
    w.u16(1);
    w.u32(4500);
    std::size_t h = w.hole16();
    w.name(instance);
    w.patch16(h, static_cast<std::uint32_t>(w.size() - h - 2));
    w.name(instance);
    w.u16(33); // SRV
    w.u16(0x8001);
    w.u32(120);
    h = w.hole16();
    w.u16(0);
    w.u16(0);
    w.u16(d.mdns_port);
    w.name(target);
    w.patch16(h, static_cast<std::uint32_t>(w.size() - h - 2));
    w.name(instance);
    w.u16(16); // TXT
    w.u16(0x8001);
    w.u32(4500);
    h = w.hole16();
    const std::string id = "id=" + mac_string(d.mac).substr(9);
    const std::string fn = "fn=" + d.host;
    const std::string ve = "ve=05";
    for (const std::string* t : {&id, &fn, &ve}) {
      w.u8(static_cast<std::uint32_t>(t->size()));
      w.bytes(t->data(), t->size());
    }
    w.patch16(h, static_cast<std::uint32_t>(w.size() - h - 2));
  }
  const std::size_t n = w.size();
  send_udp(a, n, n);
}

void Generator::emit_ssdp(const PP& p) {
  const Device& d = devices_[p.dev];
  static const Addr g = Addr::v4(239, 255, 255, 250);
  static const Mac gm = multicast_mac(g);
  IpArgs a{};
  a.src = &d.ip4;
  a.smac = &d.mac;
  a.pad = true;
  a.ipid = rng_.u16();
  a.df = true;
  std::string msg;
  const std::string uuid = "uuid:" + std::string("2f402f80-da50-11e1-9b23-") + [&] {
    std::string m = mac_string(d.mac);
    m.erase(std::remove(m.begin(), m.end(), ':'), m.end());
    return m;
  }();
  const std::string loc = "http://" + addr_string(d.ip4) + ":8008/ssdp/device-desc.xml";
  if (p.kind == PK::SsdpSearch) {
    a.dst = &g;
    a.dmac = &gm;
    a.ttl = 4;
    a.sport = p.off;
    a.dport = 1900;
    a.keyc = p.x; // the searcher's fresh port
    msg = "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "
          "\"ssdp:discover\"\r\nMX: 1\r\n"
          "ST: urn:dial-multiscreen-org:service:dial:1\r\nUSER-AGENT: Android/14 "
          "UPnP/1.1 Cast/1.0\r\n\r\n";
  } else if (p.kind == PK::SsdpNotify) {
    a.dst = &g;
    a.dmac = &gm;
    a.ttl = 4;
    a.sport = 1900;
    a.dport = 1900;
    msg = "NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nCACHE-CONTROL: "
          "max-age=1800\r\nLOCATION: " +
          loc +
          "\r\nNT: upnp:rootdevice\r\nNTS: ssdp:alive\r\nSERVER: Linux/5.10 UPnP/1.0 "
          "spin-sim/1.0\r\nUSN: " +
          uuid + "::upnp:rootdevice\r\n\r\n";
  } else {
    const Device& to = devices_[p.aux];
    a.dst = &to.ip4;
    a.dmac = &to.mac;
    a.ttl = d.ip_ttl;
    a.sport = 1900;
    a.dport = p.off;
    a.keyc = p.x; // one reply per responder and search
    msg = "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=1800\r\nDATE: " +
          http_date(o_.start + last_t_ / kSec) + "\r\nEXT:\r\nLOCATION: " + loc +
          "\r\nSERVER: Linux/5.10 UPnP/1.0 spin-sim/1.0\r\nST: "
          "urn:dial-multiscreen-org:service:dial:1\r\nUSN: " +
          uuid + "::urn:dial-multiscreen-org:service:dial:1\r\n\r\n";
  }
  std::uint8_t* pl = l4_ptr(false) + 8;
  std::memcpy(pl, msg.data(), msg.size());
  send_udp(a, msg.size(), msg.size());
}

void Generator::emit_igmp(const PP& p) {
  static const Addr all_hosts = Addr::v4(224, 0, 0, 1);
  static const Addr groups[2] = {Addr::v4(224, 0, 0, 251), Addr::v4(239, 255, 255, 250)};
  IpArgs a{};
  a.proto = 2;
  a.ttl = 1;
  a.tos = 0xc0;
  a.ra = true;
  a.ipid = 0;
  a.df = false;
  std::uint8_t* m = l4_ptr(false, true);
  Mac dmac;
  if (p.kind == PK::IgmpQuery) {
    a.src = &router4_;
    a.smac = &router_mac_;
    a.dst = &all_hosts;
    m[0] = 0x11;
    m[1] = 100; // 10 s
    std::memset(m + 4, 0, 4);
  } else {
    const Device& d = devices_[p.dev];
    a.src = &d.ip4;
    a.smac = &d.mac;
    a.pad = true;
    a.dst = &groups[p.aux & 1];
    m[0] = 0x16;
    m[1] = 0;
    std::memcpy(m + 4, a.dst->b.data(), 4);
  }
  dmac = multicast_mac(*a.dst);
  a.dmac = &dmac;
  put16(m + 2, 0);
  put16(m + 2, csum_fold(csum_add(0, m, 8)));
  send_ip(a, 8, 8, -1);
}

void Generator::emit_bcast(const PP& p) {
  const Device& d = devices_[p.dev];
  static const Addr b = Addr::v4(0xffffffffu);
  IpArgs a{};
  a.src = &d.ip4;
  a.dst = &b;
  a.smac = &d.mac;
  a.dmac = &kBroadcastMac;
  a.pad = true;
  a.ttl = d.ip_ttl;
  a.ipid = rng_.u16();
  a.sport = 63145;
  a.dport = 6667;
  std::uint8_t* pl = l4_ptr(false) + 8;
  put32(pl, 0x000055aa); // discovery frame header
  put32(pl + 4, 0);
  put32(pl + 8, 0x13);
  put32(pl + 12, 156);
  send_udp(a, 16, 172);
}

// ====================================================================== run & truth

int Generator::run() {
  build_model();
  init_controller();
  start_us_ = o_.start * kSec;
  if (!pcap_.open(o_.out, 65535)) {
    std::fprintf(stderr, "spin-trafficgen: cannot write %s: %s\n", o_.out.c_str(),
                 std::strerror(errno));
    return 1;
  }
  want_truth_ = !o_.truth.empty();
  if (want_truth_ && !truth_.open(o_.truth, o_.truth_flows)) {
    std::fprintf(stderr, "spin-trafficgen: cannot write truth files with prefix %s: %s\n",
                 o_.truth.c_str(), std::strerror(errno));
    return 1;
  }

  // device boot times: staggered over a window that scales with the run
  const double duration = static_cast<double>(o_.packets) / o_.rate;
  const std::int64_t window =
      static_cast<std::int64_t>(std::clamp(duration * 0.05, 0.02, 3.0) * kSec);
  std::vector<std::int64_t> boot(devices_.size());
  for (std::size_t i = 0; i < boot.size(); ++i)
    boot[i] = i == 0 ? 0 : rng_.range(0, window);
  for (std::size_t i = 0; i < devices_.size(); ++i) {
    const std::uint32_t idx = new_session(SK::Life);
    pool_[idx].dev = static_cast<int>(i);
    pool_[idx].tnext = boot[i];
    if (plan(idx, boot[i]))
      schedule(idx);
  }
  const NoiseKind kinds[] = {NoiseKind::Arp,  NoiseKind::Mdns, NoiseKind::Ssdp,
                             NoiseKind::Nd,   NoiseKind::Ra,   NoiseKind::Igmp,
                             NoiseKind::Bcast};
  for (NoiseKind k : kinds) {
    const std::uint32_t idx = new_session(SK::Noise);
    pool_[idx].noise = k;
    if (plan(idx, 0))
      schedule(idx);
  }
  {
    const std::uint32_t idx = new_session(SK::Spawner);
    if (plan(idx, 0))
      schedule(idx);
  }
  if (heavy_) {
    const std::uint32_t idx = new_session(SK::DnsSpawner);
    if (plan(idx, 0))
      schedule(idx);
  }

  while (written_ < o_.packets && !heap_.empty()) {
    const HeapEntry e = heap_.top();
    heap_.pop();
    Session* s = &pool_[e.idx];
    const PP p = s->q[s->qi++];
    emit(*s, p);
    s = &pool_[e.idx]; // emit may have grown the pool
    if (written_ >= o_.packets)
      break;
    if (s->qi < s->q.size()) {
      schedule(e.idx);
    } else if (plan(e.idx, p.t)) {
      schedule(e.idx);
    } else {
      finish_session(e.idx);
    }
  }

  bool ok = pcap_.close();
  if (!ok)
    std::fprintf(stderr, "spin-trafficgen: write error on %s\n", o_.out.c_str());
  if (want_truth_) {
    ok = truth_.finish() && ok;
    ok = write_truth_files() && ok;
    if (!ok)
      std::fprintf(stderr, "spin-trafficgen: write error on truth files\n");
  }
  if (heavy_ && o_.dns_share > 0.45 && written_ >= 20000 && // not for boot-only runs
      static_cast<double>(dns_responses_) <
          (o_.dns_share - 0.01) * static_cast<double>(written_))
    std::fprintf(stderr,
                 "spin-trafficgen: note: --dns-share %g cannot be met (every response "
                 "follows its query); response share %.3f\n",
                 o_.dns_share,
                 static_cast<double>(dns_responses_) / static_cast<double>(written_));
  if (clamped_)
    std::fprintf(stderr,
                 "spin-trafficgen: warning: %llu out-of-order timestamps clamped\n",
                 static_cast<unsigned long long>(clamped_));
  return ok ? 0 : 1;
}

// Shortest of %.15g / %.17g that reads back as the same double.
std::string fmt_double(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.15g", v);
  if (std::strtod(b, nullptr) != v)
    std::snprintf(b, sizeof b, "%.17g", v);
  return b;
}

std::string json_escape(const std::string& s) {
  std::string o;
  for (const char c : s) {
    switch (c) {
    case '"':
      o += "\\\"";
      break;
    case '\\':
      o += "\\\\";
      break;
    case '\n':
      o += "\\n";
      break;
    case '\t':
      o += "\\t";
      break;
    case '\r':
      o += "\\r";
      break;
    default:
      if (static_cast<unsigned char>(c) < 0x20) {
        char b[8];
        std::snprintf(b, sizeof b, "\\u%04x", c);
        o += b;
      } else {
        o += c;
      }
    }
  }
  return o;
}

bool Generator::write_truth_files() {
  bool ok = true;
  // devices
  {
    CsvOut f;
    if (!f.open(o_.truth + ".devices.csv"))
      return false;
    f.str("mac,ipv4,ipv6,hostname\n");
    f.str(mac_string(router_mac_) + "," + addr_string(router4_) + "," +
          addr_string(router6_) + ",router\n");
    for (const auto& d : devices_)
      f.str(mac_string(d.mac) + "," + addr_string(d.ip4) + "," +
            (d.v6 ? addr_string(d.ula) : std::string()) + "," + d.host + "\n");
    ok = f.close() && ok;
  }
  // dns records seen in answers
  std::size_t records = 0;
  {
    std::vector<std::size_t> order(names_.size());
    for (std::size_t i = 0; i < order.size(); ++i)
      order[i] = i;
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      return names_[a].name < names_[b].name;
    });
    CsvOut f;
    if (!f.open(o_.truth + ".dns.csv"))
      return false;
    f.str("name,type,value,ttl\n");
    for (std::size_t i : order) {
      const DnsName& n = names_[i];
      const std::string ttl = std::to_string(n.ttl);
      if (n.cname_seen) {
        f.str(n.name + ",CNAME," + names_[static_cast<std::size_t>(n.cname)].name + "," +
              ttl + "\n");
        ++records;
      }
      for (std::size_t k = 0; k < n.a.size(); ++k)
        if (n.a_seen[k]) {
          f.str(n.name + ",A," + addr_string(n.a[k]) + "," + ttl + "\n");
          ++records;
        }
      for (std::size_t k = 0; k < n.aaaa.size(); ++k)
        if (n.aaaa_seen[k]) {
          f.str(n.name + ",AAAA," + addr_string(n.aaaa[k]) + "," + ttl + "\n");
          ++records;
        }
    }
    ok = f.close() && ok;
  }
  // summary
  {
    CsvOut f;
    if (!f.open(o_.truth + ".summary.json"))
      return false;
    std::string j = "{\n";
    j += "  \"packets\": " + std::to_string(written_) + ",\n";
    j += "  \"ip_packets\": " + std::to_string(truth_.ip_packets()) + ",\n";
    j += "  \"ip_bytes\": " + std::to_string(truth_.ip_bytes()) + ",\n";
    j += "  \"first_second\": " + std::to_string(truth_.first_second()) + ",\n";
    j += "  \"last_second\": " + std::to_string(truth_.last_second()) + ",\n";
    j += "  \"first_timestamp_us\": " +
         std::to_string(start_us_ + std::max<std::int64_t>(first_t_, 0)) + ",\n";
    j += "  \"last_timestamp_us\": " + std::to_string(start_us_ + last_t_) + ",\n";
    j += "  \"devices\": " + std::to_string(devices_.size()) + ",\n";
    j += "  \"services\": " + std::to_string(services_.size()) + ",\n";
    j += "  \"dns_names\": " + std::to_string(names_.size()) + ",\n";
    j += "  \"dns_responses\": " + std::to_string(dns_responses_) + ",\n";
    j += "  \"dns_answers\": " + std::to_string(dns_answers_) + ",\n";
    j += "  \"dns_records\": " + std::to_string(records) + ",\n";
    if (o_.dns_share >= 0) {
      // frames with a complete response of the resolver (UDP source port 53
      // or the TCP segment completing one), and likewise queries
      j += "  \"dns_response_frames\": " + std::to_string(dns_responses_) + ",\n";
      j += "  \"dns_query_frames\": " + std::to_string(dns_query_frames_) + ",\n";
      j += "  \"dns_nxdomain_responses\": " + std::to_string(dns_nx_responses_) + ",\n";
      j += "  \"dns_nodata_responses\": " + std::to_string(dns_nodata_responses_) + ",\n";
    }
    j += "  \"sessions\": " + std::to_string(sessions_started_) + ",\n";
    j += "  \"flow_keys\": " + std::to_string(flow_keys_) + ",\n";
    j += "  \"options\": {\"packets\": " + std::to_string(o_.packets) +
         ", \"seed\": " + std::to_string(o_.seed) + ", \"rate\": " +
         [&] {
           char b[32];
           std::snprintf(b, sizeof b, "%.17g", o_.rate);
           return std::string(b);
         }() +
         ", \"start\": " + std::to_string(o_.start) +
         ", \"devices\": " + std::to_string(o_.devices) +
         ", \"snaplen\": " + std::to_string(o_.snaplen) +
         ", \"vlan\": " + (o_.vlan >= 0 ? std::to_string(o_.vlan) : "null") +
         ", \"cdn_overlap\": " + (o_.cdn_overlap ? "true" : "false") +
         (o_.dns_share >= 0 ? ", \"dns_share\": " + fmt_double(o_.dns_share)
                            : std::string()) +
         ", \"truth_flows\": " + (o_.truth_flows ? "true" : "false") + "},\n";
    j += "  \"args\": [";
    for (std::size_t i = 1; i < o_.argv.size(); ++i)
      j += (i > 1 ? ", \"" : "\"") + json_escape(o_.argv[i]) + "\"";
    j += "]\n}\n";
    f.str(j);
    ok = f.close() && ok;
  }
  return ok;
}

} // namespace
} // namespace tg

int main(int argc, char** argv) {
  const tg::Options o = tg::parse_args(argc, argv);
  tg::Generator g(o);
  return g.run();
}
