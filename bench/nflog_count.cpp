// spin-nflog-count: the smallest useful NFLOG reader, as the yardstick for
// spind's NFLOG source (bench/run-nflog.sh). It binds one group over libmnl
// and only counts: packets, IP-layer bytes (from the copied IP header) and
// the packets the kernel could not deliver (gaps in the per-group sequence
// numbers), with the settings that measured best on these machines: a big
// receive buffer set with SO_RCVBUFFORCE, a queue threshold of 64, a 128 KiB
// kernel batch buffer and a 10 ms flush timeout.
//
//   spin-nflog-count GROUP [--rcvbuf BYTES] [--snaplen N] [--qthresh N]
//                    [--seconds S]
//
// It prints "ready" on stderr once the group is bound, a progress line on
// stderr every second while the numbers change, and when stopped (SIGINT,
// SIGTERM, or after --seconds, default 3600) one line on stdout:
//
//   packets=N bytes=B lost=L enobufs=E datagrams=D
//
// Exit code 0; 1 when the group cannot be bound (the message says why: no
// CAP_NET_ADMIN, or another process owns the group); 2 on a bad command line.
#include <libmnl/libmnl.h>

#include <arpa/inet.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <sys/socket.h>

#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <poll.h>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

volatile std::sig_atomic_t stop_requested = 0;

void on_signal(int) {
  stop_requested = 1;
}

struct options {
  uint16_t group = 0;
  size_t rcvbuf = 8u << 20; // spind's default nflog_rcvbuf
  uint32_t snaplen = 128;   // spind's default nflog_packet_snaplen
  uint32_t qthresh = 64;
  double seconds = 3600;
};

struct counters {
  uint64_t packets = 0;
  uint64_t bytes = 0;
  uint64_t lost = 0;
  uint64_t enobufs = 0;
  uint64_t datagrams = 0;
  uint32_t next_seq = 0;
};

void usage() {
  std::fprintf(stderr, "usage: spin-nflog-count GROUP [--rcvbuf BYTES] [--snaplen N]\n"
                       "                        [--qthresh N] [--seconds S]\n");
}

bool parse_number(const char* text, double min, double max, double& out) {
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(text, &end);
  if (errno != 0 || end == text || *end != '\0' || !(v >= min && v <= max))
    return false;
  out = v;
  return true;
}

bool parse_args(int argc, char** argv, options& o) {
  double v = 0;
  if (argc < 2 || !parse_number(argv[1], 0, 65535, v))
    return false;
  o.group = static_cast<uint16_t>(v);
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string arg = argv[i];
    if (!parse_number(argv[i + 1], 0, 1e9, v))
      return false;
    if (arg == "--rcvbuf")
      o.rcvbuf = static_cast<size_t>(v);
    else if (arg == "--snaplen")
      o.snaplen = static_cast<uint32_t>(v);
    else if (arg == "--qthresh")
      o.qthresh = static_cast<uint32_t>(v);
    else if (arg == "--seconds" && v > 0)
      o.seconds = v;
    else
      return false;
  }
  return argc % 2 == 0;
}

// Attribute validation into tb[], in libmnl's style: only attributes this
// reader uses are checked; unknown types are skipped.
int attr_cb(const struct nlattr* attr, void* data) {
  auto** tb = static_cast<const struct nlattr**>(data);
  if (mnl_attr_type_valid(attr, NFULA_MAX) < 0)
    return MNL_CB_OK;
  int type = mnl_attr_get_type(attr);
  switch (type) {
  case NFULA_SEQ:
    if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
      return MNL_CB_OK;
    break;
  case NFULA_PACKET_HDR:
    if (mnl_attr_validate2(attr, MNL_TYPE_UNSPEC, sizeof(struct nfulnl_msg_packet_hdr)) <
        0)
      return MNL_CB_OK;
    break;
  default:
    break;
  }
  tb[type] = attr;
  return MNL_CB_OK;
}

struct reader {
  uint16_t group;
  counters c;
};

// The IP-layer length from the copied header (IPv4 total length, IPv6
// payload length + 40), 0 if the copy is too short to tell.
uint64_t ip_length(const uint8_t* p, size_t len) {
  if (len >= 20 && (p[0] >> 4) == 4)
    return (static_cast<uint64_t>(p[2]) << 8) | p[3];
  if (len >= 40 && (p[0] >> 4) == 6)
    return ((static_cast<uint64_t>(p[4]) << 8) | p[5]) + 40;
  return 0;
}

int data_cb(const struct nlmsghdr* nlh, void* data) {
  auto* r = static_cast<reader*>(data);
  if (nlh->nlmsg_type != ((NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET))
    return MNL_CB_OK;
  if (mnl_nlmsg_get_payload_len(nlh) < sizeof(struct nfgenmsg))
    return MNL_CB_OK;
  auto* nfg = static_cast<const struct nfgenmsg*>(mnl_nlmsg_get_payload(nlh));
  if (ntohs(nfg->res_id) != r->group)
    return MNL_CB_OK;
  const struct nlattr* tb[NFULA_MAX + 1] = {};
  if (mnl_attr_parse(nlh, sizeof(*nfg), attr_cb, tb) < 0)
    return MNL_CB_OK;
  ++r->c.packets;
  if (tb[NFULA_SEQ]) {
    uint32_t s = ntohl(mnl_attr_get_u32(tb[NFULA_SEQ]));
    uint32_t gap = s - r->c.next_seq;
    if (gap != 0 && gap < 0x80000000u)
      r->c.lost += gap;
    r->c.next_seq = s + 1;
  }
  if (tb[NFULA_PAYLOAD])
    r->c.bytes +=
        ip_length(static_cast<const uint8_t*>(mnl_attr_get_payload(tb[NFULA_PAYLOAD])),
                  mnl_attr_get_payload_len(tb[NFULA_PAYLOAD]));
  return MNL_CB_OK;
}

// The kernel's acknowledgement of a configuration request: 0 or its errno.
int ack_errno(const char* buf, int n, uint32_t seq, uint32_t portid) {
  for (auto* nlh = reinterpret_cast<const struct nlmsghdr*>(buf); mnl_nlmsg_ok(nlh, n);
       nlh = mnl_nlmsg_next(nlh, &n)) {
    if (nlh->nlmsg_type != NLMSG_ERROR || nlh->nlmsg_seq != seq ||
        nlh->nlmsg_pid != portid)
      continue;
    if (mnl_nlmsg_get_payload_len(nlh) < sizeof(struct nlmsgerr))
      return EBADMSG;
    auto* err = static_cast<const struct nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
    return err->error < 0 ? -err->error : err->error;
  }
  return -1; // not in this datagram
}

struct nlmsghdr* put_config(char* buf, uint16_t group, uint32_t seq) {
  struct nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  nlh->nlmsg_seq = seq;
  auto* nfg = static_cast<struct nfgenmsg*>(
      mnl_nlmsg_put_extra_header(nlh, sizeof(struct nfgenmsg)));
  nfg->nfgen_family = AF_UNSPEC;
  nfg->version = NFNETLINK_V0;
  nfg->res_id = htons(group);
  return nlh;
}

// Sends a configuration request and waits (2 s at most) for its
// acknowledgement; returns 0 or the errno.
int transact(struct mnl_socket* nl, struct nlmsghdr* nlh, std::vector<char>& buf) {
  if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
    return errno;
  uint32_t seq = nlh->nlmsg_seq;
  uint32_t portid = mnl_socket_get_portid(nl);
  struct pollfd pfd = {mnl_socket_get_fd(nl), POLLIN, 0};
  for (int tries = 0; tries < 100; ++tries) {
    if (poll(&pfd, 1, 20) <= 0)
      continue;
    ssize_t n = mnl_socket_recvfrom(nl, buf.data(), buf.size());
    if (n < 0)
      return errno;
    int e = ack_errno(buf.data(), static_cast<int>(n), seq, portid);
    if (e >= 0)
      return e;
  }
  return ETIMEDOUT;
}

double now_s() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

void print_counters(FILE* f, const char* prefix, const counters& c) {
  std::fprintf(f, "%spackets=%llu bytes=%llu lost=%llu enobufs=%llu datagrams=%llu\n",
               prefix, static_cast<unsigned long long>(c.packets),
               static_cast<unsigned long long>(c.bytes),
               static_cast<unsigned long long>(c.lost),
               static_cast<unsigned long long>(c.enobufs),
               static_cast<unsigned long long>(c.datagrams));
  std::fflush(f);
}

} // namespace

int main(int argc, char** argv) {
  options o;
  if (!parse_args(argc, argv, o)) {
    usage();
    return 2;
  }
  struct sigaction sa = {};
  sa.sa_handler = on_signal; // no SA_RESTART: poll() returns EINTR
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  struct mnl_socket* nl =
      mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
    std::fprintf(stderr, "spin-nflog-count: netfilter netlink socket: %s\n",
                 std::strerror(errno));
    return 1;
  }
  int fd = mnl_socket_get_fd(nl);
  int want = o.rcvbuf > static_cast<size_t>(INT_MAX / 2) ? INT_MAX / 2
                                                         : static_cast<int>(o.rcvbuf);
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof(want)) < 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof(want));

  // One read takes many kernel batches' worth of messages.
  std::vector<char> buf(1u << 20);
  alignas(struct nlmsghdr) char msg[8192]; // one configuration request
  uint32_t seq = static_cast<uint32_t>(time(nullptr));

  struct nlmsghdr* nlh = put_config(msg, o.group, ++seq);
  struct nfulnl_msg_config_cmd cmd = {NFULNL_CFG_CMD_BIND};
  mnl_attr_put(nlh, NFULA_CFG_CMD, sizeof(cmd), &cmd);
  int err = transact(nl, nlh, buf);
  if (err != 0) {
    std::fprintf(stderr, "spin-nflog-count: cannot bind NFLOG group %u: %s%s\n", o.group,
                 std::strerror(err),
                 err == EPERM ? " (needs CAP_NET_ADMIN, or the group is taken)" : "");
    mnl_socket_close(nl);
    return 1;
  }
  nlh = put_config(msg, o.group, ++seq);
  struct nfulnl_msg_config_mode mode = {};
  mode.copy_range = htonl(o.snaplen);
  mode.copy_mode = NFULNL_COPY_PACKET;
  mnl_attr_put(nlh, NFULA_CFG_MODE, sizeof(mode), &mode);
  mnl_attr_put_u32(nlh, NFULA_CFG_NLBUFSIZ, htonl(131072));
  mnl_attr_put_u32(nlh, NFULA_CFG_QTHRESH, htonl(o.qthresh));
  mnl_attr_put_u32(nlh, NFULA_CFG_TIMEOUT, htonl(1));
  mnl_attr_put_u16(nlh, NFULA_CFG_FLAGS, htons(NFULNL_CFG_F_SEQ));
  err = transact(nl, nlh, buf);
  if (err != 0) {
    std::fprintf(stderr, "spin-nflog-count: cannot configure NFLOG group %u: %s\n",
                 o.group, std::strerror(err));
    mnl_socket_close(nl);
    return 1;
  }
  int granted = 0;
  socklen_t len = sizeof(granted);
  getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &granted, &len);
  std::fprintf(stderr, "ready group=%u rcvbuf=%d\n", o.group, granted);

  reader r{o.group, {}};
  uint32_t portid = mnl_socket_get_portid(nl);
  double end = now_s() + o.seconds;
  double next_progress = now_s() + 1;
  uint64_t shown = 0;
  struct pollfd pfd = {fd, POLLIN, 0};
  while (!stop_requested && now_s() < end) {
    int pr = poll(&pfd, 1, 200);
    if (pr > 0) {
      // Drain everything queued before polling again.
      for (;;) {
        ssize_t n = mnl_socket_recvfrom(nl, buf.data(), buf.size());
        if (n < 0) {
          if (errno == ENOBUFS) {
            ++r.c.enobufs; // the sequence gap counts the packets
            continue;
          }
          break; // EAGAIN: drained (or EINTR: stop requested)
        }
        ++r.c.datagrams;
        mnl_cb_run(buf.data(), static_cast<size_t>(n), 0, portid, data_cb, &r);
      }
    }
    double now = now_s();
    if (now >= next_progress) {
      next_progress = now + 1;
      uint64_t sum = r.c.packets + r.c.lost + r.c.enobufs;
      if (sum != shown) {
        shown = sum;
        print_counters(stderr, "progress ", r.c);
      }
    }
  }
  print_counters(stderr, "progress ", r.c);
  print_counters(stdout, "", r.c);

  nlh = put_config(msg, o.group, ++seq);
  cmd.command = NFULNL_CFG_CMD_UNBIND;
  mnl_attr_put(nlh, NFULA_CFG_CMD, sizeof(cmd), &cmd);
  mnl_socket_sendto(nl, nlh, nlh->nlmsg_len);
  mnl_socket_close(nl);
  return 0;
}
