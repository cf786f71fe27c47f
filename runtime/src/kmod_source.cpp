#include "spin/runtime/event_fd.hpp"
#include "spin/runtime/kmod_source.hpp"

#include "spin/runtime/log.hpp"
#include "spin/runtime/source_core.hpp"

#include <libmnl/libmnl.h>

#include <linux/netlink.h>
#include <sys/socket.h>

#include "spin_netlink.h"
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <poll.h>
#include <unistd.h>
#include <vector>

namespace spin {

namespace {

constexpr int64_t us_per_s = 1000000;
constexpr size_t recv_buffer_size = 1u << 17; // the module sends <= 64 KiB datagrams
constexpr int max_recvs_per_wake = 64;
constexpr int64_t publish_every_us = 100000;
constexpr int64_t ping_interval_us = us_per_s;
constexpr char hello[] = "Hello!";

int64_t wall_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

bool wire_address(uint8_t family, const uint8_t* p, ip_address& out, uint8_t& fam) {
  if (family == SPIN_AF_INET) {
    // 12 zero bytes, then the address (not ::ffff:a.b.c.d).
    out = ip_address::v4(p + 12);
    fam = 4;
    return true;
  }
  if (family == SPIN_AF_INET6) {
    out = ip_address::v6(p);
    fam = 6;
    return true;
  }
  return false;
}

void decode_flow(const uint8_t* d, size_t len, bool blocked, kmod_sink& sink,
                 kmod_decode_counts& c) {
  spin_flow_record fr;
  if (spin_flow_unpack(d, len, &fr) != 0) {
    ++c.malformed;
    return;
  }
  packet_record r;
  uint8_t fam = 0;
  ip_address dst;
  if (!wire_address(fr.family, fr.src, r.key.src, fam) ||
      !wire_address(fr.family, fr.dst, dst, fam) || fr.packets == 0) {
    ++c.malformed;
    return;
  }
  r.key.dst = dst;
  r.key.family = fam;
  r.key.proto = fr.proto;
  r.key.sport = fr.sport;
  r.key.dport = fr.dport;
  r.ip_bytes = fr.bytes;
  r.extra_packets = static_cast<uint16_t>(fr.packets - 1);
  r.hash = static_cast<uint32_t>(r.key.hash());
  ++(blocked ? c.blocked : c.traffic);
  sink.flow(r, blocked);
}

void decode_dns(const uint8_t* d, size_t len, bool query, kmod_sink& sink,
                kmod_decode_counts& c) {
  spin_dns_record dr;
  if (spin_dns_unpack(d, len, &dr) != 0) {
    ++c.malformed;
    return;
  }
  dns_record r;
  uint8_t fam = 0;
  if (!wire_address(dr.family, dr.addr, r.address, fam) || dr.name_len < 2) {
    ++c.malformed; // no address, or the root name: nothing to learn
    return;
  }
  // The same presentation rules as names parsed from DNS messages.
  auto res = dns_read_name(dr.name, dr.name_len, 0, r.name, sizeof r.name);
  if (res.error != dns_error::ok || !res.fits || res.text_length == 0) {
    ++c.malformed;
    return;
  }
  r.name_len = static_cast<uint8_t>(res.text_length);
  r.flags = dns_record::message_start;
  if (query) {
    r.kind = dns_record_kind::query;
    ++c.dns_queries;
  } else {
    r.kind = dns_record_kind::answer;
    r.ttl = dr.ttl;
    r.qtype = fam == 4 ? 1 : 28;
    ++c.dns_answers;
  }
  sink.dns(r);
}

} // namespace

void kmod_decode(const uint8_t* data, size_t size, kmod_sink& sink,
                 kmod_decode_counts& c) {
  size_t off = 0;
  while (size - off >= sizeof(struct nlmsghdr)) {
    struct nlmsghdr h;
    std::memcpy(&h, data + off, sizeof h);
    if (h.nlmsg_len < sizeof h || h.nlmsg_len > size - off) {
      ++c.malformed; // the rest of the datagram cannot be trusted
      return;
    }
    ++c.messages;
    const uint8_t* p = data + off + NLMSG_HDRLEN;
    size_t plen = h.nlmsg_len >= NLMSG_HDRLEN ? h.nlmsg_len - NLMSG_HDRLEN : 0;
    if (h.nlmsg_type == NLMSG_ERROR) {
      struct nlmsgerr e;
      if (plen >= sizeof e) {
        std::memcpy(&e, p, sizeof e);
        if (e.error != 0)
          c.error = -e.error;
      } else {
        ++c.malformed;
      }
    } else if (h.nlmsg_type != NLMSG_NOOP && h.nlmsg_type != NLMSG_OVERRUN) {
      // A data message (the module sends SPIN_NLMSG_TYPE; the original sent
      // NLMSG_DONE): one record each.
      uint8_t version = 0, type = 0;
      uint16_t dsize = 0;
      if (spin_msg_unpack_header(p, plen, &version, &type, &dsize) != 0) {
        ++c.malformed;
      } else if (version != SPIN_PROTOCOL_VERSION) {
        ++c.bad_version;
      } else {
        const uint8_t* d = p + SPIN_MSG_HDR_LEN;
        switch (type) {
        case SPIN_MSG_TRAFFIC:
          decode_flow(d, dsize, false, sink, c);
          break;
        case SPIN_MSG_BLOCKED:
          decode_flow(d, dsize, true, sink, c);
          break;
        case SPIN_MSG_DNS_ANSWER:
          decode_dns(d, dsize, false, sink, c);
          break;
        case SPIN_MSG_DNS_QUERY:
          decode_dns(d, dsize, true, sink, c);
          break;
        case SPIN_MSG_ERR_BADVERSION:
          ++c.bad_version;
          break;
        default:
          ++c.unknown_type;
        }
      }
    }
    size_t step = NLMSG_ALIGN(h.nlmsg_len);
    if (step > size - off)
      break;
    off += step;
  }
}

struct kmod_source::state final : kmod_sink {
  struct own_counters {
    uint64_t datagrams = 0, pings = 0, enobufs = 0, recv_errors = 0, packets = 0,
             bytes = 0;
  };
  struct published_counters {
    own_counters own;
    kmod_decode_counts dec;
    source_counters core;
    uint64_t dropped = 0;
  };

  state(options o, queue_bridge& bridge)
      : opts(std::move(o)), core(bridge, core_options(opts)), buf(recv_buffer_size) {}

  static source_core::options core_options(const options& o) {
    source_core::options c;
    c.on_side = o.on_side;
    c.policy = queue_producer::full_policy::drop; // never stall on the kernel
    return c;
  }

  // kmod_sink: in the reader thread.
  void flow(const packet_record& r, bool blocked) override {
    int64_t now = recv_us;
    core.at(now);
    if (blocked) {
      core.blocked_packet(r);
      return;
    }
    parse_extras none;
    own.packets += r.packets();
    own.bytes += r.ip_bytes;
    core.ip_packet(r, none, now, false);
  }

  void dns(const dns_record& r) override {
    core.at(recv_us);
    dns_record full = r;
    full.timestamp_us = recv_us;
    core.dns_fact(full);
  }

  bool send_ping() {
    alignas(struct nlmsghdr) uint8_t msg[256];
    struct nlmsghdr* nlh = mnl_nlmsg_put_header(msg);
    nlh->nlmsg_type = SPIN_NLMSG_TYPE;
    nlh->nlmsg_flags = NLM_F_REQUEST;
    nlh->nlmsg_seq = ++seq;
    auto* payload = static_cast<char*>(mnl_nlmsg_put_extra_header(nlh, sizeof hello));
    std::memcpy(payload, hello, sizeof hello);
    if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
      return false;
    ++own.pings;
    since_ping = 0;
    last_ping_us = wall_us();
    return true;
  }

  // Reads one datagram; false when nothing was there (or on an error).
  bool receive_one() {
    ssize_t n = recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return false;
      if (errno == ENOBUFS) {
        ++own.enobufs;
        uint64_t suppressed = 0;
        if (enobufs_log.allow(suppressed))
          SPIN_WARN("kmod: the socket overran (ENOBUFS): records were lost "
                    "(%llu more since the last warning)",
                    static_cast<unsigned long long>(suppressed));
        return true;
      }
      ++own.recv_errors;
      set_error(std::string{"receive failed: "} + std::strerror(errno));
      return false;
    }
    recv_us = wall_us();
    ++own.datagrams;
    uint64_t before = dec.messages;
    kmod_decode(buf.data(), static_cast<size_t>(n), *this, dec);
    since_ping += dec.messages - before;
    if (since_ping >= opts.ping_every)
      send_ping();
    return true;
  }

  bool open(std::string& error) {
    nl = mnl_socket_open2(SPIN_NETLINK_TRAFFIC, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (!nl) {
      error =
          errno == EPROTONOSUPPORT
              ? std::string{"the spin kernel module is not loaded (netlink protocol 31 "
                            "is unknown to this kernel); load spin.ko or choose another "
                            "--source"}
              : std::string{"cannot open netlink protocol 31: "} + std::strerror(errno);
      return false;
    }
    if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
      error = std::string{"cannot bind netlink protocol 31: "} + std::strerror(errno);
      close_socket();
      return false;
    }
    fd = mnl_socket_get_fd(nl);
    int size = static_cast<int>(opts.rcvbuf);
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0)
      (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    if (!stop_event.open()) {
      error = std::string{"cannot create an eventfd: "} + std::strerror(errno);
      close_socket();
      return false;
    }
    core.at(wall_us());
    if (!send_ping()) {
      error = std::string{"cannot register with the spin kernel module: "} +
              std::strerror(errno);
      close_socket();
      return false;
    }
    // The module says nothing to a registration it accepts and sends an
    // error for one it refuses; records may already come in meanwhile.
    int64_t deadline = wall_us() + int64_t(opts.register_wait_ms) * 1000;
    for (int64_t now = wall_us(); now < deadline; now = wall_us()) {
      struct pollfd pfd = {fd, POLLIN, 0};
      if (poll(&pfd, 1, static_cast<int>((deadline - now) / 1000 + 1)) <= 0)
        continue;
      while (receive_one() && dec.error == 0) {
      }
      if (dec.error != 0)
        break;
    }
    if (dec.error != 0) {
      error = "the spin kernel module refused the registration: " +
              std::string{std::strerror(dec.error)} +
              (dec.error == EPERM    ? " (spind needs CAP_NET_ADMIN)"
               : dec.error == ENOSPC ? " (all of the module's listener slots are taken)"
                                     : "");
      close_socket();
      return false;
    }
    SPIN_INFO("kmod: registered with spin.ko on netlink protocol 31");
    publish();
    return true;
  }

  void close_socket() {
    if (nl)
      mnl_socket_close(nl);
    nl = nullptr;
    fd = -1;
    stop_event.close();
  }

  void set_error(const std::string& e) {
    std::lock_guard<std::mutex> guard{published_mutex};
    last_error = e;
  }

  void publish() {
    std::lock_guard<std::mutex> guard{published_mutex};
    published.own = own;
    published.dec = dec;
    published.core = core.counters();
    published.dropped = core.producer().dropped();
  }

  void run() {
    for (;;) {
      int64_t now = wall_us();
      int64_t wait_us =
          std::min(core.interval_end_us(), last_ping_us + ping_interval_us) - now;
      int timeout = wait_us <= 0 ? 0 : static_cast<int>(wait_us / 1000 + 1);
      struct pollfd fds[2] = {{fd, POLLIN, 0}, {stop_event.fd(), POLLIN, 0}};
      int pr = poll(fds, 2, timeout);
      if (pr < 0 && errno != EINTR) {
        set_error(std::string{"poll failed: "} + std::strerror(errno));
        SPIN_ERROR("kmod: poll failed: %s; reader stops", std::strerror(errno));
        break;
      }
      if (pr > 0 && fds[1].revents)
        break;
      if (pr > 0 && (fds[0].revents & (POLLIN | POLLERR))) {
        for (int i = 0; i < max_recvs_per_wake && receive_one(); ++i) {
        }
        core.flush();
      }
      now = wall_us();
      if (now - last_ping_us >= ping_interval_us && !send_ping()) {
        uint64_t suppressed = 0;
        if (ping_log.allow(suppressed))
          SPIN_WARN("kmod: keepalive failed: %s", std::strerror(errno));
        last_ping_us = now; // retry in a second
      }
      uint64_t intervals = core.counters().intervals;
      core.at(now);
      if (core.counters().intervals != intervals ||
          now - last_publish_us >= publish_every_us) {
        publish();
        last_publish_us = now;
      }
    }
  }

  options opts;
  source_core core;
  std::vector<uint8_t> buf;
  struct mnl_socket* nl = nullptr;
  int fd = -1;
  event_fd stop_event;
  unsigned seq = 0;
  uint64_t since_ping = 0;
  int64_t last_ping_us = 0;
  int64_t last_publish_us = 0;
  int64_t recv_us = 0;
  own_counters own;
  kmod_decode_counts dec;
  log_limiter enobufs_log, ping_log;
  bool started = false, stopped = false;

  mutable std::mutex published_mutex;
  published_counters published;
  std::string last_error;
};

kmod_source::kmod_source(options opts, queue_bridge& bridge)
    : st_(std::make_unique<state>(std::move(opts), bridge)) {}

kmod_source::~kmod_source() {
  stop();
}

bool kmod_source::available() {
  int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, SPIN_NETLINK_TRAFFIC);
  if (fd < 0)
    return false;
  ::close(fd);
  return true;
}

bool kmod_source::start(std::string& error) {
  auto& s = *st_;
  if (s.started) {
    error = "the kmod source was started already";
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

void kmod_source::stop() {
  auto& s = *st_;
  if (s.stopped || !s.started)
    return;
  s.stopped = true;
  if (thread_.joinable()) {
    s.stop_event.signal();
    thread_.join();
  }
  s.core.close_interval();
  s.core.flush();
  s.close_socket();
  s.publish();
}

status_report kmod_source::status() const {
  status_report r;
  r.component = "kmod_source";
  state::published_counters p;
  {
    std::lock_guard<std::mutex> guard{st_->published_mutex};
    p = st_->published;
    r.last_error = st_->last_error;
  }
  auto i = [](uint64_t v) { return static_cast<int64_t>(v); };
  r.counters = {
      {"datagrams", i(p.own.datagrams)},
      {"messages", i(p.dec.messages)},
      {"traffic", i(p.dec.traffic)},
      {"blocked", i(p.dec.blocked)},
      {"dns_answers", i(p.dec.dns_answers)},
      {"dns_queries", i(p.dec.dns_queries)},
      {"packets", i(p.own.packets)},
      {"bytes", i(p.own.bytes)},
      {"malformed", i(p.dec.malformed)},
      {"bad_version", i(p.dec.bad_version)},
      {"unknown_type", i(p.dec.unknown_type)},
      {"pings", i(p.own.pings)},
      {"enobufs", i(p.own.enobufs)},
      {"recv_errors", i(p.own.recv_errors)},
      {"dropped", i(p.dropped)},
      {"intervals", i(p.core.intervals)},
      {"late", i(p.core.late)},
      {"dns_records", i(p.core.dns_records)},
  };
  return r;
}

} // namespace spin
