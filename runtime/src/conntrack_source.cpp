#include "spin/runtime/event_fd.hpp"
#include "spin/runtime/conntrack_source.hpp"

#include "spin/runtime/log.hpp"
#include "spin/runtime/packet_parser.hpp"
#include "spin/runtime/source_core.hpp"

#include <libmnl/libmnl.h>

#include <arpa/inet.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <sys/socket.h>
#include <sys/timerfd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>
#include <ctime>
#include <endian.h>
#include <fcntl.h>
#include <mutex>
#include <poll.h>
#include <unistd.h>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace spin {

namespace {

constexpr int64_t us_per_s = 1000000;
// Dump replies come in skbs of at most 32 KiB (the kernel sizes them after
// the reader's buffer, capped there); events are a few hundred bytes each.
constexpr size_t recv_buffer_size = 64 * 1024;
// Netlink reads per wake-up and socket, so that a flood of events cannot
// starve the dump socket or the timer.
constexpr int reads_per_wakeup = 64;
// Reads of pending events before a dump's missing connections are judged
// (their DESTROY events may still be queued).
constexpr int drain_reads = 1024;
constexpr uint64_t max_record_packets = 65536;     // extra_packets is uint16
constexpr uint64_t max_record_bytes = 0xffffffffu; // ip_bytes is uint32

int64_t wall_us() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * us_per_s + ts.tv_nsec / 1000;
}

int64_t floor_sec(int64_t us) {
  int64_t q = us / us_per_s;
  return (us % us_per_s != 0 && us < 0) ? q - 1 : q;
}

bool carries_ports(uint8_t proto) {
  // TCP, UDP, DCCP, SCTP, UDP-Lite (flow_key's convention).
  return proto == ipproto::tcp || proto == ipproto::udp || proto == 33 || proto == 132 ||
         proto == 136;
}

bool is_icmp(uint8_t proto) {
  return proto == ipproto::icmp || proto == ipproto::icmpv6;
}

// The type of the answer to an ICMP query, for connections whose message
// lacks the reply tuple (the kernel always sends it; this is a fallback).
uint8_t icmp_reply_type(uint8_t proto, uint8_t type) {
  if (proto == ipproto::icmp) {
    switch (type) {
    case 8: // echo
      return 0;
    case 13: // timestamp
      return 14;
    case 15: // information
      return 16;
    case 17: // address mask
      return 18;
    }
  } else {
    switch (type) {
    case 128: // echo
      return 129;
    case 139: // node information
      return 140;
    }
  }
  return type;
}

// --- Attribute validation (libmnl style: one callback per nesting level
// fills a tb[] table with the attributes of the expected type and size;
// anything else is ignored). ---

int ip_attr_cb(const struct nlattr* attr, void* data) {
  auto** tb = static_cast<const struct nlattr**>(data);
  if (mnl_attr_type_valid(attr, CTA_IP_MAX) < 0)
    return MNL_CB_OK;
  int type = mnl_attr_get_type(attr);
  switch (type) {
  case CTA_IP_V4_SRC:
  case CTA_IP_V4_DST:
    if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
      return MNL_CB_OK;
    break;
  case CTA_IP_V6_SRC:
  case CTA_IP_V6_DST:
    if (mnl_attr_validate2(attr, MNL_TYPE_BINARY, 16) < 0)
      return MNL_CB_OK;
    break;
  default:
    return MNL_CB_OK;
  }
  tb[type] = attr;
  return MNL_CB_OK;
}

int proto_attr_cb(const struct nlattr* attr, void* data) {
  auto** tb = static_cast<const struct nlattr**>(data);
  if (mnl_attr_type_valid(attr, CTA_PROTO_MAX) < 0)
    return MNL_CB_OK;
  int type = mnl_attr_get_type(attr);
  switch (type) {
  case CTA_PROTO_NUM:
  case CTA_PROTO_ICMP_TYPE:
  case CTA_PROTO_ICMP_CODE:
  case CTA_PROTO_ICMPV6_TYPE:
  case CTA_PROTO_ICMPV6_CODE:
    if (mnl_attr_validate(attr, MNL_TYPE_U8) < 0)
      return MNL_CB_OK;
    break;
  case CTA_PROTO_SRC_PORT:
  case CTA_PROTO_DST_PORT:
    if (mnl_attr_validate(attr, MNL_TYPE_U16) < 0)
      return MNL_CB_OK;
    break;
  default:
    return MNL_CB_OK;
  }
  tb[type] = attr;
  return MNL_CB_OK;
}

int nested_attr_cb(const struct nlattr* attr, void* data, int max) {
  auto** tb = static_cast<const struct nlattr**>(data);
  if (mnl_attr_type_valid(attr, static_cast<uint16_t>(max)) < 0)
    return MNL_CB_OK;
  if (mnl_attr_validate(attr, MNL_TYPE_NESTED) < 0)
    return MNL_CB_OK;
  tb[mnl_attr_get_type(attr)] = attr;
  return MNL_CB_OK;
}

int tuple_attr_cb(const struct nlattr* attr, void* data) {
  int type = mnl_attr_get_type(attr);
  if (type != CTA_TUPLE_IP && type != CTA_TUPLE_PROTO)
    return MNL_CB_OK;
  return nested_attr_cb(attr, data, CTA_TUPLE_MAX);
}

int counters_attr_cb(const struct nlattr* attr, void* data) {
  auto** tb = static_cast<const struct nlattr**>(data);
  if (mnl_attr_type_valid(attr, CTA_COUNTERS_MAX) < 0)
    return MNL_CB_OK;
  int type = mnl_attr_get_type(attr);
  if (type != CTA_COUNTERS_PACKETS && type != CTA_COUNTERS_BYTES)
    return MNL_CB_OK;
  if (mnl_attr_validate(attr, MNL_TYPE_U64) < 0)
    return MNL_CB_OK;
  tb[type] = attr;
  return MNL_CB_OK;
}

int ct_attr_cb(const struct nlattr* attr, void* data) {
  auto** tb = static_cast<const struct nlattr**>(data);
  if (mnl_attr_type_valid(attr, CTA_MAX) < 0)
    return MNL_CB_OK;
  int type = mnl_attr_get_type(attr);
  switch (type) {
  case CTA_TUPLE_ORIG:
  case CTA_TUPLE_REPLY:
  case CTA_COUNTERS_ORIG:
  case CTA_COUNTERS_REPLY:
    return nested_attr_cb(attr, data, CTA_MAX);
  case CTA_ID:
    if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
      return MNL_CB_OK;
    tb[type] = attr;
    return MNL_CB_OK;
  default:
    return MNL_CB_OK;
  }
}

// One direction of a connection as conntrack describes it.
struct ct_tuple {
  ip_address src;
  ip_address dst;
  uint8_t proto = 0;
  uint16_t sport = 0; // host order
  uint16_t dport = 0;
  bool has_icmp = false;
  uint8_t icmp_type = 0;
  uint8_t icmp_code = 0;
};

bool parse_tuple(const struct nlattr* nest, uint8_t family, ct_tuple& out) {
  const struct nlattr* tb[CTA_TUPLE_MAX + 1] = {};
  if (mnl_attr_parse_nested(nest, tuple_attr_cb, tb) < 0 || !tb[CTA_TUPLE_IP] ||
      !tb[CTA_TUPLE_PROTO])
    return false;

  const struct nlattr* ip[CTA_IP_MAX + 1] = {};
  if (mnl_attr_parse_nested(tb[CTA_TUPLE_IP], ip_attr_cb, ip) < 0)
    return false;
  if (family == AF_INET && ip[CTA_IP_V4_SRC] && ip[CTA_IP_V4_DST]) {
    out.src = ip_address::v4(
        static_cast<const uint8_t*>(mnl_attr_get_payload(ip[CTA_IP_V4_SRC])));
    out.dst = ip_address::v4(
        static_cast<const uint8_t*>(mnl_attr_get_payload(ip[CTA_IP_V4_DST])));
  } else if (family == AF_INET6 && ip[CTA_IP_V6_SRC] && ip[CTA_IP_V6_DST]) {
    out.src = ip_address::v6(
        static_cast<const uint8_t*>(mnl_attr_get_payload(ip[CTA_IP_V6_SRC])));
    out.dst = ip_address::v6(
        static_cast<const uint8_t*>(mnl_attr_get_payload(ip[CTA_IP_V6_DST])));
  } else {
    return false;
  }

  const struct nlattr* pr[CTA_PROTO_MAX + 1] = {};
  if (mnl_attr_parse_nested(tb[CTA_TUPLE_PROTO], proto_attr_cb, pr) < 0 ||
      !pr[CTA_PROTO_NUM])
    return false;
  out.proto = mnl_attr_get_u8(pr[CTA_PROTO_NUM]);
  if (pr[CTA_PROTO_SRC_PORT])
    out.sport = ntohs(mnl_attr_get_u16(pr[CTA_PROTO_SRC_PORT]));
  if (pr[CTA_PROTO_DST_PORT])
    out.dport = ntohs(mnl_attr_get_u16(pr[CTA_PROTO_DST_PORT]));
  int type_attr =
      out.proto == ipproto::icmp ? CTA_PROTO_ICMP_TYPE : CTA_PROTO_ICMPV6_TYPE;
  int code_attr =
      out.proto == ipproto::icmp ? CTA_PROTO_ICMP_CODE : CTA_PROTO_ICMPV6_CODE;
  if (is_icmp(out.proto) && pr[type_attr]) {
    out.has_icmp = true;
    out.icmp_type = mnl_attr_get_u8(pr[type_attr]);
    out.icmp_code = pr[code_attr] ? mnl_attr_get_u8(pr[code_attr]) : 0;
  }
  return true;
}

struct ct_counters {
  bool present = false;
  uint64_t packets = 0;
  uint64_t bytes = 0;
};

void parse_counters(const struct nlattr* nest, ct_counters& out) {
  const struct nlattr* tb[CTA_COUNTERS_MAX + 1] = {};
  if (mnl_attr_parse_nested(nest, counters_attr_cb, tb) < 0 ||
      !tb[CTA_COUNTERS_PACKETS] || !tb[CTA_COUNTERS_BYTES])
    return;
  out.present = true;
  out.packets = be64toh(mnl_attr_get_u64(tb[CTA_COUNTERS_PACKETS]));
  out.bytes = be64toh(mnl_attr_get_u64(tb[CTA_COUNTERS_BYTES]));
}

// What one ctnetlink message says about one connection.
struct ct_message {
  flow_key orig;           ///< the original direction, flow_key convention
  uint16_t reply_icmp = 0; ///< ICMP: the reply's type * 256 + code
  uint32_t id = 0;         ///< CTA_ID (0 when the kernel does not send it)
  ct_counters counters[2]; ///< [0] original, [1] reply direction
};

enum class parse_result { ok, ignored, malformed };

parse_result parse_ct_message(const struct nlmsghdr* nlh, ct_message& m) {
  if ((nlh->nlmsg_type >> 8) != NFNL_SUBSYS_CTNETLINK)
    return parse_result::ignored;
  int msg = nlh->nlmsg_type & 0xff;
  if (msg != IPCTNL_MSG_CT_NEW && msg != IPCTNL_MSG_CT_DELETE)
    return parse_result::ignored;
  if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(struct nfgenmsg)))
    return parse_result::malformed;
  auto* nfg = static_cast<const struct nfgenmsg*>(mnl_nlmsg_get_payload(nlh));
  uint8_t family = nfg->nfgen_family;
  if (family != AF_INET && family != AF_INET6)
    return parse_result::ignored;

  const struct nlattr* tb[CTA_MAX + 1] = {};
  if (mnl_attr_parse(nlh, sizeof(*nfg), ct_attr_cb, tb) < 0 || !tb[CTA_TUPLE_ORIG])
    return parse_result::malformed;
  ct_tuple orig;
  if (!parse_tuple(tb[CTA_TUPLE_ORIG], family, orig))
    return parse_result::malformed;

  flow_key& k = m.orig;
  k = flow_key{};
  k.src = orig.src;
  k.dst = orig.dst;
  k.family = family == AF_INET ? 4 : 6;
  k.proto = orig.proto;
  if (carries_ports(orig.proto)) {
    k.sport = orig.sport;
    k.dport = orig.dport;
  } else if (is_icmp(orig.proto) && orig.has_icmp) {
    k.dport = static_cast<uint16_t>(orig.icmp_type * 256 + orig.icmp_code);
  }
  if (is_icmp(orig.proto)) {
    ct_tuple reply;
    if (tb[CTA_TUPLE_REPLY] && parse_tuple(tb[CTA_TUPLE_REPLY], family, reply) &&
        reply.has_icmp)
      m.reply_icmp = static_cast<uint16_t>(reply.icmp_type * 256 + reply.icmp_code);
    else
      m.reply_icmp = static_cast<uint16_t>(
          icmp_reply_type(orig.proto, orig.icmp_type) * 256 + orig.icmp_code);
  }
  m.id = tb[CTA_ID] ? ntohl(mnl_attr_get_u32(tb[CTA_ID])) : 0;
  m.counters[0] = ct_counters{};
  m.counters[1] = ct_counters{};
  if (tb[CTA_COUNTERS_ORIG])
    parse_counters(tb[CTA_COUNTERS_ORIG], m.counters[0]);
  if (tb[CTA_COUNTERS_REPLY])
    parse_counters(tb[CTA_COUNTERS_REPLY], m.counters[1]);
  return parse_result::ok;
}

// The per-connection state's key: CTA_ID alone is not unique over time
// (it is derived from the object's address), the tuple alone not at all
// (ICMP identifiers, zones).
struct ct_key {
  flow_key tuple;
  uint32_t id = 0;

  friend bool operator==(const ct_key& a, const ct_key& b) {
    return a.id == b.id && a.tuple == b.tuple;
  }
};

struct ct_key_hash {
  size_t operator()(const ct_key& k) const {
    return static_cast<size_t>(k.tuple.hash() ^ (k.id * 0x9e3779b97f4a7c15ull));
  }
};

// The last counters seen for one connection, and the dump that last saw it.
struct ct_entry {
  uint64_t packets[2] = {0, 0};
  uint64_t bytes[2] = {0, 0};
  uint64_t seen_gen = 0;
};

std::string errno_text(int err) {
  std::string s = std::strerror(err);
  if (err == EPERM || err == EACCES)
    s += " (needs CAP_NET_ADMIN)";
  return s;
}

} // namespace

struct conntrack_source::state {
  state(options o, queue_bridge& bridge)
      : opts(std::move(o)), core(bridge, core_options()), buf(recv_buffer_size) {
    dump_every_s = std::max<int64_t>(1, (opts.dump_interval_ms + 500) / 1000);
  }

  static source_core::options core_options() {
    source_core::options o;
    o.policy = queue_producer::full_policy::drop; // never stall on the kernel
    return o;
  }

  options opts;
  source_core core;
  std::vector<char> buf;
  int64_t dump_every_s = 1;

  mnl_socket* ev = nullptr;   // events (NEW, UPDATE, DESTROY)
  mnl_socket* dump = nullptr; // counter dumps
  unsigned dump_portid = 0;
  unsigned dump_seq = 0;
  int timer_fd = -1;
  event_fd stop_event;

  std::unordered_map<ct_key, ct_entry, ct_key_hash> table;
  // Connections destroyed since the last dump ended: a dump that still lists
  // one (the kernel reports the destruction just before unlinking the entry)
  // must not bring it back.
  std::unordered_set<ct_key, ct_key_hash> destroyed;

  uint64_t gen = 0;              // dump generation
  bool dumping = false;          // a dump request is being answered
  bool baseline = false;         // the running dump is the first one
  bool baseline_unknown = false; // unknown connections in this dump: no delta
  bool lost_events = false;      // ENOBUFS since the last dump started
  uint64_t refusals = 0;         // connections refused for the bound, ever
  uint64_t refusals_before = 0;  // `refusals` when the last dump started
  uint64_t dump_refusals = 0;    // refused by the running dump
  std::chrono::steady_clock::time_point dump_deadline;
  int64_t open_sec = 0; // the interval records go to
  log_limiter enobufs_log;

  // Counters (written by the reader, read by status()).
  struct counters {
    std::atomic<uint64_t> events_new{0}, events_update{0}, events_destroy{0}, dumps{0},
        dump_overruns{0}, dump_errors{0}, event_errors{0}, connections{0}, records{0},
        packets{0}, bytes{0}, enobufs{0}, resyncs{0}, vanished{0}, untracked{0},
        untracked_now{0}, adopted{0}, stale{0}, counter_resets{0}, malformed{0},
        intervals{0}, late{0}, rcvbuf{0}, acct_enabled{0};
  } c;
  mutable std::mutex error_mutex;
  std::string last_error;

  static void bump(std::atomic<uint64_t>& a, uint64_t n = 1) {
    a.fetch_add(n, std::memory_order_relaxed);
  }

  void set_error(std::string e) {
    std::lock_guard<std::mutex> guard{error_mutex};
    last_error = std::move(e);
  }

  void publish() {
    c.connections.store(table.size(), std::memory_order_relaxed);
    auto& cc = core.counters();
    c.intervals.store(cc.intervals, std::memory_order_relaxed);
    c.late.store(cc.late, std::memory_order_relaxed);
  }

  // --- sockets ---

  bool open_dump_socket(std::string& error) {
    dump = mnl_socket_open2(NETLINK_NETFILTER, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (!dump || mnl_socket_bind(dump, 0, MNL_SOCKET_AUTOPID) < 0) {
      error = "cannot open a ctnetlink socket: " + errno_text(errno);
      if (dump)
        mnl_socket_close(dump);
      dump = nullptr;
      return false;
    }
    dump_portid = mnl_socket_get_portid(dump);
    return true;
  }

  bool open_event_socket(std::string& error) {
    ev = mnl_socket_open2(NETLINK_NETFILTER, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (!ev || mnl_socket_bind(ev, 0, MNL_SOCKET_AUTOPID) < 0) {
      error = "cannot open a ctnetlink socket: " + errno_text(errno);
      return false;
    }
    for (int group :
         {NFNLGRP_CONNTRACK_NEW, NFNLGRP_CONNTRACK_UPDATE, NFNLGRP_CONNTRACK_DESTROY}) {
      if (mnl_socket_setsockopt(ev, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)) < 0) {
        error = "cannot subscribe to conntrack events: " + errno_text(errno);
        return false;
      }
    }
    size_rcvbuf();
    return true;
  }

  void size_rcvbuf() {
    int fd = mnl_socket_get_fd(ev);
    int want = static_cast<int>(std::min<size_t>(opts.rcvbuf, INT_MAX / 2));
    bool forced = setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof(want)) == 0;
    if (!forced)
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof(want));
    int got = 0;
    socklen_t len = sizeof(got);
    getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &len);
    int granted = got / 2; // the kernel doubles the value for its bookkeeping
    c.rcvbuf.store(static_cast<uint64_t>(granted), std::memory_order_relaxed);
    if (granted < want)
      SPIN_WARN("conntrack source: the event socket's receive buffer is %d KiB instead "
                "of %d KiB: SO_RCVBUFFORCE was refused (no CAP_NET_ADMIN), so "
                "net.core.rmem_max caps SO_RCVBUF; set net.core.rmem_max=%d, or events "
                "will be lost under load (counted as enobufs)",
                granted / 1024, want / 1024, want);
  }

  // Turns nf_conntrack_acct on (it is per network namespace and applies to
  // connections created afterwards).
  bool enable_accounting(std::string& error) {
    const std::string& path = opts.acct_sysctl;
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      int err = errno;
      if (err == ENOENT)
        error = "connection tracking is not available in this network namespace (" +
                path + " is missing)";
      else
        error = "cannot read " + path + ": " + std::strerror(err);
      return false;
    }
    char value[16] = {};
    ssize_t n = read(fd, value, sizeof(value) - 1);
    close(fd);
    if (n > 0 && value[0] != '0')
      return true;
    fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, "1", 1) != 1) {
      int err = errno;
      if (fd >= 0)
        close(fd);
      error = "conntrack accounting is off and cannot be turned on: writing 1 to " +
              path + " failed: " + std::strerror(err) +
              " (set net.netfilter.nf_conntrack_acct=1)";
      return false;
    }
    close(fd);
    c.acct_enabled.store(1, std::memory_order_relaxed);
    SPIN_NOTICE("conntrack source: turned on connection tracking accounting "
                "(net.netfilter.nf_conntrack_acct was 0, %s is now 1); connections "
                "that existed before have no counters",
                path.c_str());
    return true;
  }

  // Events are enabled by default (2: when someone listens); 0 turns them
  // off, and short connections are then lost between dumps.
  void check_events_sysctl() {
    std::string path = opts.acct_sysctl;
    auto slash = path.rfind('/');
    if (slash == std::string::npos)
      return;
    path = path.substr(0, slash + 1) + "nf_conntrack_events";
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      return;
    char value[16] = {};
    ssize_t n = read(fd, value, sizeof(value) - 1);
    close(fd);
    if (n > 0 && value[0] == '0')
      SPIN_WARN("conntrack source: net.netfilter.nf_conntrack_events is 0: no "
                "DESTROY events, so a connection's traffic after its last dump is "
                "lost; set it to 1 or 2");
  }

  // --- dumps ---

  bool start_dump() {
    if (lost_events) {
      bump(c.resyncs);
      lost_events = false;
    }
    if (!dump) {
      std::string error;
      if (!open_dump_socket(error)) {
        bump(c.dump_errors);
        set_error(error);
        return false;
      }
    }
    if (!baseline) {
      // NEW events still queued would otherwise come after the dump has
      // listed their connections (two sockets, no common order).
      read_events(drain_reads);
    }
    baseline_unknown = refusals != refusals_before;
    refusals_before = refusals;
    dump_refusals = 0;
    ++gen;

    alignas(struct nlmsghdr) char req[64];
    struct nlmsghdr* nlh = mnl_nlmsg_put_header(req);
    nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    nlh->nlmsg_seq = ++dump_seq;
    auto* nfg = static_cast<struct nfgenmsg*>(
        mnl_nlmsg_put_extra_header(nlh, sizeof(struct nfgenmsg)));
    nfg->nfgen_family = AF_UNSPEC; // both IPv4 and IPv6
    nfg->version = NFNETLINK_V0;
    nfg->res_id = 0;
    if (mnl_socket_sendto(dump, nlh, nlh->nlmsg_len) < 0) {
      std::string e = "cannot request a conntrack dump: " + errno_text(errno);
      bump(c.dump_errors);
      set_error(e);
      SPIN_WARN("conntrack source: %s", e.c_str());
      return false;
    }
    dumping = true;
    dump_deadline = std::chrono::steady_clock::now() +
                    std::chrono::milliseconds(opts.dump_timeout_ms);
    return true;
  }

  // Reads dump replies; returns -1 on an error, 1 when the dump is complete,
  // 0 when more is to come.
  int read_dump() {
    for (int i = 0; i < reads_per_wakeup; ++i) {
      ssize_t n = mnl_socket_recvfrom(dump, buf.data(), buf.size());
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
          return 0;
        if (errno == EINTR)
          continue;
        dump_failed("receiving a conntrack dump failed: " + errno_text(errno));
        return -1;
      }
      if (!dumping)
        continue; // a stray reply (cannot happen: abandoned dumps reopen the socket)
      reading_dump = true;
      int rc = mnl_cb_run(buf.data(), static_cast<size_t>(n), dump_seq, dump_portid,
                          on_message, this);
      reading_dump = false;
      if (rc == MNL_CB_ERROR) {
        dump_failed("conntrack dump failed: " + errno_text(errno));
        return -1;
      }
      if (rc == MNL_CB_STOP) {
        finish_dump(true);
        return 1;
      }
    }
    return 0;
  }

  void dump_failed(const std::string& why) {
    bump(c.dump_errors);
    set_error(why);
    SPIN_WARN("conntrack source: %s", why.c_str());
    reopen_dump_socket();
    finish_dump(false);
  }

  // Drops a dump in progress: a new socket discards its remaining replies.
  void reopen_dump_socket() {
    if (dump)
      mnl_socket_close(dump);
    dump = nullptr;
    std::string error;
    if (!open_dump_socket(error)) {
      set_error(error);
      SPIN_ERROR("conntrack source: %s", error.c_str());
    }
  }

  // A dump ended (complete or not): judges the connections it did not list,
  // closes the interval the dump counted.
  void finish_dump(bool complete) {
    dumping = false;
    bump(c.dumps);
    if (!baseline) {
      // DESTROY events of connections missing from the dump may still be
      // queued: count them before the missing ones are judged.
      read_events(drain_reads);
    }
    if (complete) {
      c.untracked_now.store(dump_refusals, std::memory_order_relaxed);
      for (auto it = table.begin(); it != table.end();) {
        if (it->second.seen_gen != gen) {
          it = table.erase(it);
          bump(c.vanished);
        } else {
          ++it;
        }
      }
    }
    destroyed.clear();
    if (!baseline)
      close_open_interval(floor_sec(wall_us()));
    baseline = false;
    publish();
  }

  void close_open_interval(int64_t now_sec) {
    core.at(open_sec * us_per_s); // opens it if nothing came: every second has a marker
    core.close_interval();
    open_sec = std::max(now_sec, open_sec + 1);
  }

  void on_boundary() {
    int64_t now_sec = floor_sec(wall_us());
    if (dumping) {
      bump(c.dump_overruns); // the running dump closes the interval when it ends
      return;
    }
    if (now_sec % dump_every_s == 0) {
      if (!start_dump())
        close_open_interval(now_sec);
    } else {
      close_open_interval(now_sec);
    }
  }

  // --- events ---

  void read_events(int max_reads) {
    for (int i = 0; i < max_reads; ++i) {
      ssize_t n = mnl_socket_recvfrom(ev, buf.data(), buf.size());
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
          return;
        if (errno == EINTR)
          continue;
        if (errno == ENOBUFS) {
          // Events were lost; the next dump puts every counter right again
          // (only connections that came and went unseen are missing).
          bump(c.enobufs);
          lost_events = true;
          uint64_t suppressed = 0;
          if (enobufs_log.allow(suppressed))
            SPIN_WARN("conntrack source: events lost (ENOBUFS, %llu times so far, %llu "
                      "not logged); the next dump resynchronises; a larger receive "
                      "buffer helps",
                      static_cast<unsigned long long>(c.enobufs.load()),
                      static_cast<unsigned long long>(suppressed));
          continue;
        }
        bump(c.event_errors);
        set_error("receiving conntrack events failed: " + errno_text(errno));
        SPIN_WARN("conntrack source: receiving events failed: %s", std::strerror(errno));
        return;
      }
      mnl_cb_run(buf.data(), static_cast<size_t>(n), 0, 0, on_message, this);
    }
  }

  bool reading_dump = false;

  static int on_message(const struct nlmsghdr* nlh, void* data) {
    auto* self = static_cast<state*>(data);
    ct_message m;
    switch (parse_ct_message(nlh, m)) {
    case parse_result::ignored:
      return MNL_CB_OK;
    case parse_result::malformed:
      bump(self->c.malformed);
      return MNL_CB_OK;
    case parse_result::ok:
      break;
    }
    if (self->reading_dump) {
      self->on_dump_entry(m);
    } else if ((nlh->nlmsg_type & 0xff) == IPCTNL_MSG_CT_DELETE) {
      bump(self->c.events_destroy);
      self->on_destroy(m);
    } else if (nlh->nlmsg_flags & (NLM_F_CREATE | NLM_F_EXCL)) {
      bump(self->c.events_new);
      self->on_new(m);
    } else {
      bump(self->c.events_update);
      self->on_update(m);
    }
    return MNL_CB_OK;
  }

  // Room for one more connection? Counts the refusal otherwise.
  // (`untracked` counts connections whose NEW event was refused, each once;
  // `untracked_now` those a complete dump could not take.)
  bool room(bool in_dump) {
    if (table.size() < opts.max_connections)
      return true;
    ++refusals;
    if (in_dump)
      ++dump_refusals;
    else
      bump(c.untracked);
    return false;
  }

  // Unknown connections may be old ones that were refused for the bound.
  bool refused_recently() const {
    return baseline_unknown || refusals != refusals_before;
  }

  void on_dump_entry(const ct_message& m) {
    ct_key key{m.orig, m.id};
    if (destroyed.count(key) != 0) {
      bump(c.stale);
      return;
    }
    auto it = table.find(key);
    if (it == table.end()) {
      if (!room(true))
        return;
      it = table.emplace(key, ct_entry{}).first;
      it->second.seen_gen = gen;
      if (baseline || baseline_unknown) {
        remember(it->second, m);
        return;
      }
      bump(c.adopted); // its NEW event was lost: count it from zero
    }
    it->second.seen_gen = gen;
    account(it->second, m);
  }

  void on_new(const ct_message& m) {
    ct_key key{m.orig, m.id};
    destroyed.erase(key); // the same id and tuple again: a new connection
    auto it = table.find(key);
    if (it != table.end())
      return; // a dump saw it first
    if (!room(false))
      return;
    it = table.emplace(key, ct_entry{}).first;
    it->second.seen_gen = gen;
    account(it->second, m);
  }

  void on_update(const ct_message& m) {
    // Current kernels send no counters with updates; use them if some do.
    // An unknown connection is left to the next dump.
    auto it = table.find(ct_key{m.orig, m.id});
    if (it != table.end())
      account(it->second, m);
  }

  void on_destroy(const ct_message& m) {
    ct_key key{m.orig, m.id};
    if (destroyed.size() < opts.max_connections && !destroyed.insert(key).second)
      return; // reported twice
    auto it = table.find(key);
    if (it != table.end()) {
      account(it->second, m);
      table.erase(it);
      return;
    }
    if (refused_recently())
      return;        // maybe a connection that was never tracked: its history is unknown
    bump(c.adopted); // its NEW event was lost and no dump saw it: all of it is new
    ct_entry fresh;
    account(fresh, m);
  }

  static void remember(ct_entry& e, const ct_message& m) {
    for (int d = 0; d < 2; ++d) {
      if (m.counters[d].present) {
        e.packets[d] = m.counters[d].packets;
        e.bytes[d] = m.counters[d].bytes;
      }
    }
  }

  // Reports the growth of a connection's counters and remembers them.
  void account(ct_entry& e, const ct_message& m) {
    for (int d = 0; d < 2; ++d) {
      const ct_counters& now = m.counters[d];
      if (!now.present)
        continue;
      uint64_t dp, db;
      if (now.packets < e.packets[d] || now.bytes < e.bytes[d]) {
        // Someone zeroed the counters (CTRZERO): what they show is new.
        bump(c.counter_resets);
        dp = now.packets;
        db = now.bytes;
      } else {
        dp = now.packets - e.packets[d];
        db = now.bytes - e.bytes[d];
      }
      e.packets[d] = now.packets;
      e.bytes[d] = now.bytes;
      if (dp == 0)
        continue;
      if (d == 0) {
        emit(m.orig, dp, db);
      } else {
        flow_key k = m.orig;
        std::swap(k.src, k.dst);
        if (is_icmp(k.proto)) {
          k.sport = 0;
          k.dport = m.reply_icmp;
        } else {
          std::swap(k.sport, k.dport);
        }
        emit(k, dp, db);
      }
    }
  }

  // Hands a delta to the shards, split over as many records as it needs.
  void emit(const flow_key& k, uint64_t packets, uint64_t bytes) {
    uint64_t n = std::max((packets + max_record_packets - 1) / max_record_packets,
                          (bytes + max_record_bytes - 1) / max_record_bytes);
    n = std::min(n, packets);
    packet_record r;
    r.key = k;
    r.hash = static_cast<uint32_t>(k.hash());
    int64_t ts = open_sec * us_per_s;
    core.at(ts);
    parse_extras none;
    for (uint64_t i = 0; i < n; ++i) {
      uint64_t p = packets / n + (i < packets % n ? 1 : 0);
      uint64_t b = bytes / n + (i < bytes % n ? 1 : 0);
      r.extra_packets = static_cast<uint16_t>(p - 1);
      r.ip_bytes = static_cast<uint32_t>(std::min(b, max_record_bytes));
      core.ip_packet(r, none, ts, false);
    }
    bump(c.records, n);
    bump(c.packets, packets);
    bump(c.bytes, bytes);
  }

  // --- the thread ---

  void arm_timer() {
    itimerspec its{};
    its.it_value.tv_sec = static_cast<time_t>(floor_sec(wall_us()) + 1);
    timerfd_settime(timer_fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its, nullptr);
  }

  void run() {
    bool stopping = false;
    bool final_started = false;
    for (;;) {
      if (stopping && !dumping) {
        // The last dump counts the open second's traffic; then we are done.
        if (final_started || !start_dump())
          break;
        final_started = true;
      }
      int timeout = -1;
      if (dumping) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                        dump_deadline - std::chrono::steady_clock::now())
                        .count();
        timeout = static_cast<int>(std::max<int64_t>(0, left) + 1);
      }
      struct pollfd fds[4] = {{mnl_socket_get_fd(ev), POLLIN, 0},
                              {dump ? mnl_socket_get_fd(dump) : -1, POLLIN, 0},
                              {timer_fd, POLLIN, 0},
                              {stop_event.fd(), POLLIN, 0}};
      if (poll(fds, 4, timeout) < 0) {
        if (errno == EINTR)
          continue;
        set_error(std::string{"poll failed: "} + std::strerror(errno));
        SPIN_ERROR("conntrack source: poll failed: %s", std::strerror(errno));
        break;
      }
      if (fds[3].revents) {
        stop_event.clear();
        stopping = true;
      }
      if (fds[2].revents) {
        uint64_t expirations;
        (void)!read(timer_fd, &expirations, sizeof(expirations)); // ECANCELED: clock set
        arm_timer();
        if (!stopping)
          on_boundary();
      }
      if (fds[0].revents)
        read_events(reads_per_wakeup);
      if (fds[1].revents)
        read_dump();
      if (dumping && std::chrono::steady_clock::now() >= dump_deadline)
        dump_failed("a conntrack dump took longer than " +
                    std::to_string(opts.dump_timeout_ms) + " ms; abandoned");
      publish();
    }
    core.close_interval(); // records counted after the last dump, if any
    core.flush();
    publish();
  }

  // The baseline dump, before the thread runs.
  bool baseline_dump(std::string& error) {
    baseline = true;
    if (!start_dump()) {
      std::lock_guard<std::mutex> guard{error_mutex};
      error = last_error;
      return false;
    }
    while (dumping) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                      dump_deadline - std::chrono::steady_clock::now())
                      .count();
      if (left <= 0) {
        error = "the first conntrack dump did not finish within " +
                std::to_string(opts.dump_timeout_ms) + " ms";
        return false;
      }
      struct pollfd pfd = {mnl_socket_get_fd(dump), POLLIN, 0};
      if (poll(&pfd, 1, static_cast<int>(left)) < 0 && errno != EINTR) {
        error = std::string{"poll failed: "} + std::strerror(errno);
        return false;
      }
      if (read_dump() < 0) {
        std::lock_guard<std::mutex> guard{error_mutex};
        error = last_error;
        return false;
      }
    }
    return true;
  }

  void close_all() {
    if (ev)
      mnl_socket_close(ev);
    if (dump)
      mnl_socket_close(dump);
    if (timer_fd >= 0)
      close(timer_fd);
    stop_event.close();
    ev = dump = nullptr;
    timer_fd = -1;
  }
};

conntrack_source::conntrack_source(options opts, queue_bridge& bridge)
    : st_(std::make_unique<state>(std::move(opts), bridge)) {}

conntrack_source::~conntrack_source() {
  stop();
}

bool conntrack_source::start(std::string& error) {
  auto& s = *st_;
  auto fail = [&] {
    s.set_error(error);
    s.close_all();
    return false;
  };
  // Subscribe first, so that nothing created during the baseline dump is
  // missed.
  if (!s.open_event_socket(error) || !s.open_dump_socket(error))
    return fail();
  if (!s.enable_accounting(error))
    return fail();
  s.check_events_sysctl();
  s.timer_fd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
  if (s.timer_fd < 0 || !s.stop_event.open()) {
    error = std::string{"cannot create a timer: "} + std::strerror(errno);
    return fail();
  }
  if (!s.baseline_dump(error))
    return fail();
  s.open_sec = floor_sec(wall_us());
  s.arm_timer();
  s.publish();
  SPIN_INFO("conntrack source: %zu connections in the baseline, dump every %lld s, "
            "event buffer %llu KiB",
            s.table.size(), static_cast<long long>(s.dump_every_s),
            static_cast<unsigned long long>(s.c.rcvbuf.load() / 1024));
  thread_ = std::thread([this] { st_->run(); });
  return true;
}

void conntrack_source::stop() {
  if (thread_.joinable()) {
    st_->stop_event.signal();
    thread_.join();
  }
  st_->close_all();
}

status_report conntrack_source::status() const {
  const auto& c = st_->c;
  status_report r;
  r.component = "conntrack_source";
  {
    std::lock_guard<std::mutex> guard{st_->error_mutex};
    r.last_error = st_->last_error;
  }
  auto v = [](const std::atomic<uint64_t>& a) {
    return static_cast<int64_t>(a.load(std::memory_order_relaxed));
  };
  r.counters = {
      {"events_new", v(c.events_new)},
      {"events_update", v(c.events_update)},
      {"events_destroy", v(c.events_destroy)},
      {"dumps", v(c.dumps)},
      {"dump_overruns", v(c.dump_overruns)},
      {"dump_errors", v(c.dump_errors)},
      {"event_errors", v(c.event_errors)},
      {"connections", v(c.connections)},
      {"records", v(c.records)},
      {"packets", v(c.packets)},
      {"bytes", v(c.bytes)},
      {"enobufs", v(c.enobufs)},
      {"resyncs", v(c.resyncs)},
      {"vanished", v(c.vanished)},
      {"untracked", v(c.untracked)},
      {"untracked_now", v(c.untracked_now)},
      {"adopted", v(c.adopted)},
      {"stale", v(c.stale)},
      {"counter_resets", v(c.counter_resets)},
      {"malformed", v(c.malformed)},
      {"intervals", v(c.intervals)},
      {"late", v(c.late)},
      {"dropped", static_cast<int64_t>(st_->core.producer().dropped())},
      {"rcvbuf", v(c.rcvbuf)},
      {"acct_enabled", v(c.acct_enabled)},
  };
  return r;
}

} // namespace spin
