#include "spin/runtime/event_fd.hpp"
#include "spin/runtime/nflog_source.hpp"

#include "spin/runtime/log.hpp"
#include "spin/runtime/packet_parser.hpp"
#include "spin/runtime/source_core.hpp"

#include <libmnl/libmnl.h>

#include <arpa/inet.h>
#include <linux/capability.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>
#include <endian.h>
#include <mutex>
#include <poll.h>
#include <unistd.h>

namespace spin {

namespace {

constexpr int64_t us_per_s = 1000000;
// One recv returns one kernel batch (at most nlbufsiz, or one packet of up
// to 64 KiB with its attributes); 1 MiB leaves room for any of them.
constexpr size_t recv_buffer_size = 1u << 20;
// Datagrams read per wake-up before the clock and the stop flag are checked.
constexpr int max_recvs_per_wake = 64;
// How long start() waits for the kernel to acknowledge a configuration.
constexpr int ack_timeout_ms = 5000;
// A kernel timestamp further than this from the receive time is not trusted
// (a driver clock that is not the wall clock).
constexpr int64_t max_timestamp_skew_us = 5 * us_per_s;
// Counters are published for status() at most this often (and per interval).
constexpr int64_t publish_every_us = 100000;
// Consecutive receive errors (other than ENOBUFS) after which the socket is
// given up; the interval clock keeps running.
constexpr int max_consecutive_errors = 100;
// A configuration request (header, nfgenmsg and five attributes) is < 100 bytes.
constexpr size_t config_message_size = 256;

constexpr uint16_t ethertype_ipv4 = 0x0800;
constexpr uint16_t ethertype_ipv6 = 0x86dd;

int64_t wall_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

// The IP-layer length the header announces (IPv4 total length, IPv6 payload
// length + 40), or `caplen` when the header does not say (0: TSO / BIG TCP,
// or a copy too short to hold it).
size_t ip_length(const uint8_t* p, size_t caplen) {
  if (caplen >= 20 && (p[0] >> 4) == 4) {
    size_t total = (static_cast<size_t>(p[2]) << 8) | p[3];
    return total != 0 ? total : caplen;
  }
  if (caplen >= 40 && (p[0] >> 4) == 6) {
    size_t payload = (static_cast<size_t>(p[4]) << 8) | p[5];
    return payload != 0 ? payload + 40 : caplen;
  }
  return caplen;
}

// True when this process holds CAP_NET_ADMIN in its effective set (the
// kernel checks it for every nfnetlink message).
bool have_net_admin() {
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (syscall(SYS_capget, &hdr, data) != 0)
    return true; // cannot tell: do not blame the capability
  return (data[CAP_NET_ADMIN / 32].effective & (1u << (CAP_NET_ADMIN % 32))) != 0;
}

// Attribute validation in libmnl's style: every attribute spin reads is
// checked for its type and length before it goes into tb[]; anything else
// (and anything broken) is left out.
int packet_attr_cb(const struct nlattr* attr, void* data) {
  auto** tb = static_cast<const struct nlattr**>(data);
  if (mnl_attr_type_valid(attr, NFULA_MAX) < 0)
    return MNL_CB_OK; // newer than this header: skip
  int type = mnl_attr_get_type(attr);
  int rc = 0;
  switch (type) {
  case NFULA_PACKET_HDR:
    rc = mnl_attr_validate2(attr, MNL_TYPE_UNSPEC, sizeof(struct nfulnl_msg_packet_hdr));
    break;
  case NFULA_TIMESTAMP:
    rc = mnl_attr_validate2(attr, MNL_TYPE_UNSPEC,
                            sizeof(struct nfulnl_msg_packet_timestamp));
    break;
  case NFULA_HWADDR:
    rc = mnl_attr_validate2(attr, MNL_TYPE_UNSPEC, sizeof(struct nfulnl_msg_packet_hw));
    break;
  case NFULA_SEQ:
  case NFULA_IFINDEX_INDEV:
  case NFULA_IFINDEX_OUTDEV:
    rc = mnl_attr_validate(attr, MNL_TYPE_U32);
    break;
  case NFULA_HWTYPE:
  case NFULA_HWLEN:
    rc = mnl_attr_validate(attr, MNL_TYPE_U16);
    break;
  case NFULA_PAYLOAD:
  case NFULA_HWHEADER:
    rc = mnl_attr_validate(attr, MNL_TYPE_BINARY);
    break;
  default:
    return MNL_CB_OK; // not used by spin
  }
  if (rc < 0)
    return MNL_CB_OK; // ignore the broken attribute, keep the packet
  tb[type] = attr;
  return MNL_CB_OK;
}

struct group_state {
  nflog_source::group cfg;
  bool bound = false;
  uint32_t next_seq = 0; // a fresh instance numbers its packets from 0
  uint64_t packets = 0;
  uint64_t bytes = 0;
  uint64_t lost = 0;
};

// Reader-thread counters beyond the core's (plain integers, published).
struct nflog_counters {
  uint64_t packets = 0;
  uint64_t bytes = 0;
  uint64_t lost = 0;
  uint64_t enobufs = 0;
  uint64_t malformed = 0;
  uint64_t not_ip = 0;
  uint64_t no_payload = 0;
  uint64_t unknown_group = 0;
  uint64_t bad_timestamps = 0;
  uint64_t messages = 0;
  uint64_t datagrams = 0;
  uint64_t recv_errors = 0;
  int64_t rcvbuf = 0;
};

struct published_counters {
  nflog_counters own;
  source_counters core;
  uint64_t dropped = 0;
  std::vector<group_state> groups;
};

} // namespace

struct nflog_source::state {
  options opts;
  source_core core;
  std::vector<group_state> groups;

  ::mnl_socket* nl = nullptr;
  int fd = -1;
  unsigned portid = 0;
  unsigned seq = 0;
  event_fd stop_event;
  bool started = false;
  bool stopped = false;
  std::vector<char> buf;

  // While start() waits for an acknowledgement.
  unsigned ack_seq = 0;
  bool acked = false;
  int ack_errno = 0;

  // Receive time of the datagram being parsed: the time of packets without
  // a kernel timestamp.
  int64_t recv_us = 0;
  int last_errno = 0; // of the last failed receive

  nflog_counters local;
  log_limiter enobufs_log;
  log_limiter error_log;
  int64_t last_publish_us = 0;

  mutable std::mutex published_mutex;
  published_counters published;
  std::string last_error;

  static source_core::options core_options(const options& o) {
    source_core::options c;
    c.on_side = o.on_side;
    c.dns_response_repeat_us = o.dns_response_repeat_us;
    c.dns_query_repeat_us = o.dns_query_repeat_us;
    // A live source never makes the kernel wait: full queues drop and count.
    c.policy = queue_producer::full_policy::drop;
    return c;
  }

  state(options o, queue_bridge& bridge)
      : opts(std::move(o)), core(bridge, core_options(opts)) {
    for (auto& g : opts.groups)
      groups.push_back(group_state{g});
  }

  group_state* find_group(uint16_t number) {
    for (auto& g : groups)
      if (g.cfg.number == number)
        return &g;
    return nullptr;
  }

  void set_error(std::string e) {
    std::lock_guard<std::mutex> guard{published_mutex};
    last_error = std::move(e);
  }

  void publish() {
    published_counters p;
    p.own = local;
    p.core = core.counters();
    p.dropped = core.producer().dropped();
    p.groups = groups;
    std::lock_guard<std::mutex> guard{published_mutex};
    published = std::move(p);
  }

  // --- packets ---------------------------------------------------------

  void packet(const struct nlmsghdr* nlh) {
    if (mnl_nlmsg_get_payload_len(nlh) < sizeof(struct nfgenmsg)) {
      ++local.malformed;
      return;
    }
    auto* nfg = static_cast<const struct nfgenmsg*>(mnl_nlmsg_get_payload(nlh));
    const struct nlattr* tb[NFULA_MAX + 1] = {};
    if (mnl_attr_parse(nlh, sizeof(*nfg), packet_attr_cb, tb) < 0) {
      ++local.malformed;
      return;
    }
    group_state* g = find_group(ntohs(nfg->res_id));
    if (!g) {
      ++local.unknown_group;
      return;
    }
    ++g->packets;
    ++local.packets;
    if (tb[NFULA_SEQ]) {
      // The instance numbers every packet it logs; a gap is packets that
      // never reached us (socket overrun, or a batch the kernel dropped).
      uint32_t s = ntohl(mnl_attr_get_u32(tb[NFULA_SEQ]));
      uint32_t gap = s - g->next_seq;
      if (gap != 0 && gap < 0x80000000u) {
        g->lost += gap;
        local.lost += gap;
      }
      g->next_seq = s + 1;
    }

    int64_t ts = recv_us;
    if (tb[NFULA_TIMESTAMP]) {
      struct nfulnl_msg_packet_timestamp t;
      std::memcpy(&t, mnl_attr_get_payload(tb[NFULA_TIMESTAMP]), sizeof(t));
      int64_t k = static_cast<int64_t>(be64toh(t.sec)) * us_per_s +
                  static_cast<int64_t>(be64toh(t.usec));
      if (k > recv_us - max_timestamp_skew_us && k < recv_us + max_timestamp_skew_us)
        ts = k;
      else
        ++local.bad_timestamps;
    }
    core.at(ts);

    if (tb[NFULA_PACKET_HDR]) {
      struct nfulnl_msg_packet_hdr ph;
      std::memcpy(&ph, mnl_attr_get_payload(tb[NFULA_PACKET_HDR]), sizeof(ph));
      uint16_t proto = ntohs(ph.hw_protocol);
      // 0: not known (some output paths); otherwise it must be IP.
      if (proto != 0 && proto != ethertype_ipv4 && proto != ethertype_ipv6) {
        ++local.not_ip;
        return;
      }
    }
    if (!tb[NFULA_PAYLOAD]) {
      ++local.no_payload; // copy mode "meta", or a rule without payload
      return;
    }
    auto* data = static_cast<const uint8_t*>(mnl_attr_get_payload(tb[NFULA_PAYLOAD]));
    size_t caplen = mnl_attr_get_payload_len(tb[NFULA_PAYLOAD]);
    size_t iplen = ip_length(data, caplen);
    packet_record rec;
    parse_extras extras;
    if (parse_ip(data, caplen, iplen, rec, &extras) != parse_status::ok) {
      ++local.malformed;
      return;
    }
    if (tb[NFULA_HWADDR]) {
      struct nfulnl_msg_packet_hw hw;
      std::memcpy(&hw, mnl_attr_get_payload(tb[NFULA_HWADDR]), sizeof(hw));
      if (ntohs(hw.hw_addrlen) == 6)
        std::memcpy(rec.src_mac.bytes.data(), hw.hw_addr, 6);
    }
    g->bytes += rec.ip_bytes;
    local.bytes += rec.ip_bytes;
    if (g->cfg.blocked)
      core.blocked_packet(rec);
    else
      core.ip_packet(rec, extras, ts, caplen < rec.ip_bytes, g->cfg.count_traffic);
  }

  static int data_cb(const struct nlmsghdr* nlh, void* data) {
    auto* st = static_cast<state*>(data);
    ++st->local.messages;
    if (nlh->nlmsg_type == ((NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET))
      st->packet(nlh);
    return MNL_CB_OK;
  }

  // NLMSG_ERROR while start() waits: the acknowledgement (error 0) or the
  // refusal of our request; errors of other requests are ignored.
  static int error_cb(const struct nlmsghdr* nlh, void* data) {
    auto* st = static_cast<state*>(data);
    if (nlh->nlmsg_seq != st->ack_seq)
      return MNL_CB_OK;
    st->acked = true;
    if (mnl_nlmsg_get_payload_len(nlh) < sizeof(struct nlmsgerr)) {
      st->ack_errno = EBADMSG;
    } else {
      auto* err = static_cast<const struct nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
      st->ack_errno = err->error < 0 ? -err->error : err->error;
    }
    return MNL_CB_STOP;
  }

  // A batch of packets ends with NLMSG_DONE: keep reading.
  static int done_cb(const struct nlmsghdr*, void*) { return MNL_CB_OK; }

  // --- receiving -------------------------------------------------------

  enum class recv_result { data, empty, failed };

  // Reads one datagram and runs its messages through the callbacks.
  recv_result receive_one(bool want_ack) {
    ssize_t n = mnl_socket_recvfrom(nl, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return recv_result::empty;
      if (errno == ENOBUFS) {
        // The kernel could not queue a batch: its packets are lost (the
        // sequence gap counts them once the next packet of the group comes).
        ++local.enobufs;
        uint64_t suppressed = 0;
        if (enobufs_log.allow(suppressed))
          SPIN_WARN("NFLOG: receive buffer overrun (ENOBUFS), logged packets were lost "
                    "(%llu overruns so far, %llu such lines suppressed); raise the "
                    "receive buffer (rcvbuf) or log fewer packets",
                    static_cast<unsigned long long>(local.enobufs),
                    static_cast<unsigned long long>(suppressed));
        return recv_result::data;
      }
      last_errno = errno;
      ++local.recv_errors;
      set_error(std::string{"receive failed: "} + std::strerror(last_errno));
      return recv_result::failed;
    }
    recv_us = wall_us();
    ++local.datagrams;
    mnl_cb_t ctl[NLMSG_MIN_TYPE] = {};
    ctl[NLMSG_ERROR] = want_ack ? error_cb : nullptr;
    ctl[NLMSG_DONE] = done_cb;
    int rc = mnl_cb_run2(buf.data(), static_cast<size_t>(n), 0, portid, data_cb, this,
                         ctl, NLMSG_MIN_TYPE);
    if (rc < 0)
      ++local.malformed;
    return recv_result::data;
  }

  // --- configuration -----------------------------------------------------

  struct nlmsghdr* put_config(char* b, uint16_t group, bool ack) {
    struct nlmsghdr* nlh = mnl_nlmsg_put_header(b);
    nlh->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG;
    nlh->nlmsg_flags = NLM_F_REQUEST | (ack ? NLM_F_ACK : 0);
    nlh->nlmsg_seq = ++seq;
    auto* nfg = static_cast<struct nfgenmsg*>(
        mnl_nlmsg_put_extra_header(nlh, sizeof(struct nfgenmsg)));
    nfg->nfgen_family = AF_UNSPEC;
    nfg->version = NFNETLINK_V0;
    nfg->res_id = htons(group);
    return nlh;
  }

  // Sends a request and waits for its acknowledgement, handling packets
  // that arrive meanwhile. Returns 0 or the errno the kernel answered.
  int transact(struct nlmsghdr* nlh) {
    if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
      return errno;
    ack_seq = nlh->nlmsg_seq;
    acked = false;
    ack_errno = 0;
    auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(ack_timeout_ms);
    while (!acked) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                      deadline - std::chrono::steady_clock::now())
                      .count();
      if (left <= 0)
        return ETIMEDOUT;
      struct pollfd pfd = {fd, POLLIN, 0};
      int pr = poll(&pfd, 1, static_cast<int>(left));
      if (pr < 0 && errno != EINTR)
        return errno;
      if (pr <= 0)
        continue;
      if (receive_one(true) == recv_result::failed)
        return last_errno != 0 ? last_errno : EIO;
    }
    return ack_errno;
  }

  std::string group_error(uint16_t group, const char* what, int err) {
    std::string g = "NFLOG group " + std::to_string(group);
    if (err == EPERM && !have_net_admin())
      return "cannot " + std::string{what} + " " + g +
             ": permission denied; reading NFLOG needs CAP_NET_ADMIN (run as root or "
             "grant the capability)";
    if (err == EBUSY || err == EPERM)
      // The kernel answers EPERM when another socket owns the group's
      // instance (and EBUSY when this one does already).
      return "cannot " + std::string{what} + " " + g +
             ": the group is already bound by another process (another spind, "
             "ulogd, ...); stop it or choose another group";
    return "cannot " + std::string{what} + " " + g + ": " + std::strerror(err);
  }

  bool bind_and_configure(group_state& g, std::string& error) {
    alignas(struct nlmsghdr) char b[config_message_size];
    uint16_t number = g.cfg.number;

    struct nlmsghdr* nlh = put_config(b, number, true);
    struct nfulnl_msg_config_cmd cmd = {NFULNL_CFG_CMD_BIND};
    mnl_attr_put(nlh, NFULA_CFG_CMD, sizeof(cmd), &cmd);
    int err = transact(nlh);
    if (err != 0) {
      error = group_error(number, "bind", err);
      return false;
    }
    g.bound = true;

    nlh = put_config(b, number, true);
    struct nfulnl_msg_config_mode mode = {};
    mode.copy_range = htonl(g.cfg.snaplen);
    mode.copy_mode = NFULNL_COPY_PACKET;
    mnl_attr_put(nlh, NFULA_CFG_MODE, sizeof(mode), &mode);
    mnl_attr_put_u32(nlh, NFULA_CFG_NLBUFSIZ, htonl(opts.nlbufsiz));
    mnl_attr_put_u32(nlh, NFULA_CFG_QTHRESH, htonl(opts.qthresh));
    mnl_attr_put_u32(nlh, NFULA_CFG_TIMEOUT, htonl(opts.flush_timeout_cs));
    mnl_attr_put_u16(nlh, NFULA_CFG_FLAGS, htons(NFULNL_CFG_F_SEQ));
    err = transact(nlh);
    if (err != 0) {
      error = group_error(number, "configure", err);
      return false;
    }
    return true;
  }

  void unbind_all() {
    alignas(struct nlmsghdr) char b[config_message_size];
    for (auto& g : groups) {
      if (!g.bound)
        continue;
      // No acknowledgement: the kernel handles the request inside sendto(),
      // and closing the socket would release the group anyway.
      struct nlmsghdr* nlh = put_config(b, g.cfg.number, false);
      struct nfulnl_msg_config_cmd cmd = {NFULNL_CFG_CMD_UNBIND};
      mnl_attr_put(nlh, NFULA_CFG_CMD, sizeof(cmd), &cmd);
      mnl_socket_sendto(nl, nlh, nlh->nlmsg_len);
      g.bound = false;
    }
  }

  void size_buffer() {
    size_t want = opts.rcvbuf;
    if (want > static_cast<size_t>(INT_MAX / 2))
      want = INT_MAX / 2;
    int v = static_cast<int>(want);
    bool forced = setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)) == 0;
    if (!forced)
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
    int got = 0;
    socklen_t len = sizeof(got);
    getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &len);
    local.rcvbuf = got;
    // The kernel doubles the value for its bookkeeping: half is what we asked.
    if (static_cast<size_t>(got) / 2 < want)
      SPIN_WARN("NFLOG: the receive buffer is %d bytes instead of %zu: net.core.rmem_max "
                "caps it without CAP_NET_ADMIN; bursts will lose packets. Set "
                "'sysctl -w net.core.rmem_max=%zu' (or give spind CAP_NET_ADMIN)",
                got / 2, want, want);
  }

  void close_socket() {
    if (nl) {
      mnl_socket_close(nl);
      nl = nullptr;
      fd = -1;
    }
    stop_event.close();
  }

  bool open(std::string& error) {
    if (groups.empty()) {
      error = "no NFLOG group to read";
      return false;
    }
    buf.resize(recv_buffer_size);
    nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (!nl) {
      error =
          std::string{"cannot open a netfilter netlink socket: "} + std::strerror(errno);
      return false;
    }
    if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
      error = std::string{"cannot bind the netfilter netlink socket: "} +
              std::strerror(errno);
      close_socket();
      return false;
    }
    fd = mnl_socket_get_fd(nl);
    portid = mnl_socket_get_portid(nl);
    seq = static_cast<unsigned>(time(nullptr));
    size_buffer();
    if (!stop_event.open()) {
      error = std::string{"cannot create an eventfd: "} + std::strerror(errno);
      close_socket();
      return false;
    }
    // The first interval starts now, packets or not.
    core.at(wall_us());
    for (auto& g : groups) {
      if (!bind_and_configure(g, error)) {
        unbind_all();
        close_socket();
        return false;
      }
    }
    std::string list;
    for (auto& g : groups) {
      if (!list.empty())
        list += ", ";
      list += std::to_string(g.cfg.number) + " (snaplen " +
              std::to_string(g.cfg.snaplen) +
              (g.cfg.blocked         ? ", blocked)"
               : g.cfg.count_traffic ? ", traffic)"
                                     : ", DNS only)");
    }
    SPIN_INFO("NFLOG: reading group%s %s; receive buffer %lld bytes",
              groups.size() == 1 ? "" : "s", list.c_str(),
              static_cast<long long>(local.rcvbuf));
    publish();
    return true;
  }

  // --- the reader thread ------------------------------------------------

  void run() {
    int consecutive_errors = 0;
    bool socket_ok = true;
    for (;;) {
      int64_t now = wall_us();
      // Wake just after the open interval's second ends.
      int64_t wait_us = core.interval_end_us() - now;
      int timeout = wait_us <= 0 ? 0 : static_cast<int>(wait_us / 1000 + 1);
      struct pollfd fds[2] = {{socket_ok ? fd : -1, POLLIN, 0}, {stop_event.fd(), POLLIN, 0}};
      int pr = poll(fds, 2, timeout);
      if (pr < 0 && errno != EINTR) {
        set_error(std::string{"poll failed: "} + std::strerror(errno));
        SPIN_ERROR("NFLOG: poll failed: %s; reader stops", std::strerror(errno));
        break;
      }
      if (pr > 0 && fds[1].revents)
        break;
      if (pr > 0 && (fds[0].revents & (POLLIN | POLLERR))) {
        bool drained = false;
        for (int i = 0; i < max_recvs_per_wake; ++i) {
          auto r = receive_one(false);
          if (r == recv_result::empty) {
            drained = true;
            break;
          }
          if (r == recv_result::failed) {
            uint64_t suppressed = 0;
            if (error_log.allow(suppressed))
              SPIN_WARN("NFLOG: receive failed: %s", std::strerror(last_errno));
            if (++consecutive_errors >= max_consecutive_errors) {
              SPIN_ERROR("NFLOG: giving up the socket after %d receive errors; "
                         "intervals go on without packets",
                         consecutive_errors);
              socket_ok = false;
            }
            drained = true;
            break;
          }
          consecutive_errors = 0;
        }
        // Nothing more to read: hand the partial batches on rather than
        // keep them until the interval ends.
        if (drained)
          core.flush();
      }
      now = wall_us();
      uint64_t intervals = core.counters().intervals;
      core.at(now); // closes the interval when its second is over
      if (core.counters().intervals != intervals ||
          now - last_publish_us >= publish_every_us) {
        publish();
        last_publish_us = now;
      }
    }
  }
};

nflog_source::nflog_source(options opts, queue_bridge& bridge)
    : st_(std::make_unique<state>(std::move(opts), bridge)) {}

nflog_source::~nflog_source() {
  stop();
}

bool nflog_source::start(std::string& error) {
  auto& s = *st_;
  if (s.started) {
    error = "the NFLOG source was started already";
    return false;
  }
  s.started = true;
  if (!s.open(error)) {
    s.set_error(error);
    s.stopped = true;
    return false;
  }
  thread_ = std::thread([this] { st_->run(); });
  return true;
}

void nflog_source::stop() {
  auto& s = *st_;
  if (s.stopped || !s.started)
    return;
  s.stopped = true;
  if (thread_.joinable()) {
    s.stop_event.signal();
    thread_.join();
  }
  // The thread is gone: this thread owns the core now.
  s.core.close_interval();
  s.core.flush();
  s.unbind_all();
  s.close_socket();
  s.publish();
}

status_report nflog_source::status() const {
  status_report r;
  r.component = "nflog_source";
  published_counters p;
  {
    std::lock_guard<std::mutex> guard{st_->published_mutex};
    p = st_->published;
    r.last_error = st_->last_error;
  }
  auto i = [](uint64_t v) { return static_cast<int64_t>(v); };
  r.counters = {
      {"packets", i(p.own.packets)},
      {"bytes", i(p.own.bytes)},
      {"ip_packets", i(p.core.ip_packets)},
      {"ip_bytes", i(p.core.ip_bytes)},
      {"lost", i(p.own.lost)},
      {"enobufs", i(p.own.enobufs)},
      {"dropped", i(p.dropped)},
      {"malformed", i(p.own.malformed)},
      {"not_ip", i(p.own.not_ip)},
      {"no_payload", i(p.own.no_payload)},
      {"unknown_group", i(p.own.unknown_group)},
      {"bad_timestamps", i(p.own.bad_timestamps)},
      {"messages", i(p.own.messages)},
      {"datagrams", i(p.own.datagrams)},
      {"recv_errors", i(p.own.recv_errors)},
      {"rcvbuf", p.own.rcvbuf},
      {"truncated", i(p.core.truncated)},
      {"late", i(p.core.late)},
      {"intervals", i(p.core.intervals)},
      {"dns_packets", i(p.core.dns_packets)},
      {"dns_messages", i(p.core.dns_messages)},
      {"dns_records", i(p.core.dns_records)},
      {"blocked", i(p.core.blocked)},
      {"dns_errors", i(p.core.dns_errors)},
      {"dns_repeats", i(p.core.dns_repeats)},
      {"bindings", i(p.core.bindings)},
  };
  for (auto& g : p.groups) {
    std::string prefix = "group." + std::to_string(g.cfg.number) + ".";
    r.counters[prefix + "packets"] = i(g.packets);
    r.counters[prefix + "bytes"] = i(g.bytes);
    r.counters[prefix + "lost"] = i(g.lost);
  }
  return r;
}

} // namespace spin
