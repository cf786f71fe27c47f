#include "spin/runtime/neighbour_reader.hpp"

#include "spin/runtime/log.hpp"

#include <libmnl/libmnl.h>

#include <linux/if_addr.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <poll.h>
#include <unistd.h>

namespace spin {

namespace {

// Attribute validation callback in libmnl's style: fills tb[] with the
// attributes we use, after checking their types and lengths.
int neigh_attr_cb(const struct nlattr* attr, void* data) {
  auto** tb = static_cast<const struct nlattr**>(data);
  int type = mnl_attr_get_type(attr);
  if (mnl_attr_type_valid(attr, NDA_MAX) < 0)
    return MNL_CB_OK;
  if ((type == NDA_DST || type == NDA_LLADDR) &&
      mnl_attr_validate(attr, MNL_TYPE_BINARY) < 0)
    return MNL_CB_OK; // ignore a broken attribute, keep the message
  tb[type] = attr;
  return MNL_CB_OK;
}

struct parse_ctx {
  std::vector<neighbour_event>* out;
  /// The address dump in flight (0: none) and what it has listed so far.
  unsigned addr_dump_seq = 0;
  std::map<ip_address, int>* reading = nullptr;
  /// An address notification arrived: dump the addresses again.
  bool addr_changed = false;
  /// NLMSG_DONE arrived for this sequence number.
  bool done = false;
  unsigned done_seq = 0;
};

int addr_attr_cb(const struct nlattr* attr, void* data) {
  auto** tb = static_cast<const struct nlattr**>(data);
  int type = mnl_attr_get_type(attr);
  if (mnl_attr_type_valid(attr, IFA_MAX) < 0)
    return MNL_CB_OK;
  if ((type == IFA_ADDRESS || type == IFA_LOCAL) &&
      mnl_attr_validate(attr, MNL_TYPE_BINARY) < 0)
    return MNL_CB_OK;
  tb[type] = attr;
  return MNL_CB_OK;
}

// RTM_NEWADDR: a line of our address dump. RTM_NEWADDR / RTM_DELADDR
// notifications only say that something changed (see the header).
int addr_msg(const struct nlmsghdr* nlh, parse_ctx* ctx) {
  if (nlh->nlmsg_seq == 0 || nlh->nlmsg_seq != ctx->addr_dump_seq) {
    ctx->addr_changed = true;
    return MNL_CB_OK;
  }
  if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(struct ifaddrmsg)))
    return MNL_CB_OK;
  auto* ifa = static_cast<const struct ifaddrmsg*>(mnl_nlmsg_get_payload(nlh));
  const struct nlattr* tb[IFA_MAX + 1] = {};
  if (mnl_attr_parse(nlh, sizeof(*ifa), addr_attr_cb, tb) < 0)
    return MNL_CB_OK;
  // IFA_LOCAL is the local address on point-to-point links, else IFA_ADDRESS.
  const struct nlattr* a = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
  if (!a)
    return MNL_CB_OK;
  auto len = mnl_attr_get_payload_len(a);
  auto* p = static_cast<const uint8_t*>(mnl_attr_get_payload(a));
  if (ifa->ifa_family == AF_INET && len == 4)
    (*ctx->reading)[ip_address::v4(p)] = static_cast<int>(ifa->ifa_index);
  else if (ifa->ifa_family == AF_INET6 && len == 16)
    (*ctx->reading)[ip_address::v6(p)] = static_cast<int>(ifa->ifa_index);
  return MNL_CB_OK;
}

int done_cb(const struct nlmsghdr* nlh, void* data) {
  auto* ctx = static_cast<parse_ctx*>(data);
  ctx->done = true;
  ctx->done_seq = nlh->nlmsg_seq;
  return MNL_CB_STOP;
}

int neigh_msg_cb(const struct nlmsghdr* nlh, void* data) {
  auto* ctx = static_cast<parse_ctx*>(data);
  if (nlh->nlmsg_type == RTM_NEWADDR || nlh->nlmsg_type == RTM_DELADDR)
    return addr_msg(nlh, ctx);
  if (nlh->nlmsg_type != RTM_NEWNEIGH && nlh->nlmsg_type != RTM_DELNEIGH)
    return MNL_CB_OK;
  if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(struct ndmsg)))
    return MNL_CB_OK;
  auto* nd = static_cast<const struct ndmsg*>(mnl_nlmsg_get_payload(nlh));
  const struct nlattr* tb[NDA_MAX + 1] = {};
  if (mnl_attr_parse(nlh, sizeof(*nd), neigh_attr_cb, tb) < 0 || !tb[NDA_DST])
    return MNL_CB_OK;
  neighbour_event ev;
  auto len = mnl_attr_get_payload_len(tb[NDA_DST]);
  auto* p = static_cast<const uint8_t*>(mnl_attr_get_payload(tb[NDA_DST]));
  if (nd->ndm_family == AF_INET && len == 4)
    ev.address = ip_address::v4(p);
  else if (nd->ndm_family == AF_INET6 && len == 16)
    ev.address = ip_address::v6(p);
  else
    return MNL_CB_OK;
  ev.ifindex = nd->ndm_ifindex;
  if (tb[NDA_LLADDR] && mnl_attr_get_payload_len(tb[NDA_LLADDR]) == 6)
    std::memcpy(ev.mac.bytes.data(), mnl_attr_get_payload(tb[NDA_LLADDR]), 6);
  bool usable = (nd->ndm_state & (NUD_FAILED | NUD_INCOMPLETE)) == 0 && !ev.mac.empty();
  ev.present = nlh->nlmsg_type == RTM_NEWNEIGH && usable;
  ctx->out->push_back(ev);
  return MNL_CB_OK;
}

} // namespace

neighbour_reader::~neighbour_reader() {
  stop();
}

bool neighbour_reader::request_dump(int type) {
  alignas(struct nlmsghdr) char buf[256]; // a dump request is 28 bytes
  struct nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = static_cast<uint16_t>(type);
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  nlh->nlmsg_seq = ++seq_;
  if (type == RTM_GETNEIGH) {
    auto* nd =
        static_cast<struct ndmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(struct ndmsg)));
    nd->ndm_family = AF_UNSPEC;
  } else {
    auto* ifa = static_cast<struct ifaddrmsg*>(
        mnl_nlmsg_put_extra_header(nlh, sizeof(struct ifaddrmsg)));
    ifa->ifa_family = AF_UNSPEC;
  }
  if (mnl_socket_sendto(nl_, nlh, nlh->nlmsg_len) < 0)
    return false;
  dump_seq_ = seq_;
  dump_type_ = type;
  if (type == RTM_GETADDR)
    reading_.clear();
  dumps_.fetch_add(1);
  return true;
}

void neighbour_reader::want_dump(int type) {
  if (type == RTM_GETNEIGH)
    neigh_dump_wanted_ = true;
  else if (type == RTM_GETADDR)
    addr_dump_wanted_ = true;
  if (dump_seq_ != 0)
    return; // after the one in flight
  if (neigh_dump_wanted_) {
    neigh_dump_wanted_ = false;
    request_dump(RTM_GETNEIGH);
  } else if (addr_dump_wanted_) {
    addr_dump_wanted_ = false;
    request_dump(RTM_GETADDR);
  }
}

void neighbour_reader::address_dump_done(std::vector<neighbour_event>& events) {
  for (auto& [ip, ifindex] : reading_) {
    if (local_.count(ip))
      continue;
    neighbour_event ev;
    ev.address = ip;
    ev.ifindex = ifindex;
    ev.local = true;
    ev.present = true;
    events.push_back(ev);
  }
  for (auto& [ip, ifindex] : local_) {
    if (reading_.count(ip))
      continue;
    neighbour_event ev;
    ev.address = ip;
    ev.ifindex = ifindex;
    ev.local = true;
    ev.present = false;
    events.push_back(ev);
  }
  local_ = std::move(reading_);
  reading_.clear();
}

bool neighbour_reader::start(callback cb, std::string& error) {
  cb_ = std::move(cb);
  nl_ = mnl_socket_open(NETLINK_ROUTE);
  if (!nl_) {
    error = std::string{"cannot open an rtnetlink socket: "} + std::strerror(errno);
    return false;
  }
  unsigned groups = RTMGRP_NEIGH | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;
  if (mnl_socket_bind(nl_, groups, MNL_SOCKET_AUTOPID) < 0) {
    error = std::string{"cannot subscribe to neighbour events: "} + std::strerror(errno);
    mnl_socket_close(nl_);
    nl_ = nullptr;
    return false;
  }
  int rcvbuf = 1 << 20;
  mnl_socket_setsockopt(nl_, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  addr_dump_wanted_ = true; // after the neighbour dump
  if (!request_dump(RTM_GETNEIGH)) {
    error = std::string{"cannot dump the neighbour table: "} + std::strerror(errno);
    mnl_socket_close(nl_);
    nl_ = nullptr;
    return false;
  }
  if (!stop_event_.open()) {
    error = std::string{"cannot create an eventfd: "} + std::strerror(errno);
    mnl_socket_close(nl_);
    nl_ = nullptr;
    return false;
  }
  thread_ = std::thread([this] { run(); });
  return true;
}

void neighbour_reader::run() {
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE * 4);
  int fd = mnl_socket_get_fd(nl_);
  for (;;) {
    struct pollfd fds[2] = {{fd, POLLIN, 0}, {stop_event_.fd(), POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR)
        continue;
      errors_.fetch_add(1);
      break;
    }
    if (fds[1].revents)
      break;
    ssize_t n = mnl_socket_recvfrom(nl_, buf.data(), buf.size());
    if (n < 0) {
      if (errno == ENOBUFS) {
        // Notifications were lost: the table may be stale, read it again.
        overruns_.fetch_add(1);
        dump_seq_ = 0; // a dump in flight may have lost messages too
        want_dump(RTM_GETNEIGH);
        want_dump(RTM_GETADDR);
        continue;
      }
      if (errno == EINTR || errno == EAGAIN)
        continue;
      errors_.fetch_add(1);
      SPIN_WARN("neighbour table: receive failed: %s", std::strerror(errno));
      break;
    }
    std::vector<neighbour_event> events;
    parse_ctx ctx;
    ctx.out = &events;
    ctx.addr_dump_seq = dump_type_ == RTM_GETADDR ? dump_seq_ : 0;
    ctx.reading = &reading_;
    // NLMSG_DONE ends a dump: note which one.
    mnl_cb_t ctl[NLMSG_MIN_TYPE] = {};
    ctl[NLMSG_DONE] = done_cb;
    // Sequence 0: accept both our dump replies and notifications.
    int rc = mnl_cb_run2(buf.data(), static_cast<size_t>(n), 0, 0, neigh_msg_cb, &ctx,
                         ctl, NLMSG_MIN_TYPE);
    if (rc == MNL_CB_ERROR)
      errors_.fetch_add(1);
    if (ctx.done && ctx.done_seq == dump_seq_ && dump_seq_ != 0) {
      if (dump_type_ == RTM_GETADDR)
        address_dump_done(events);
      dump_seq_ = 0;
      want_dump(0); // the next waiting dump, if any
    }
    if (ctx.addr_changed)
      want_dump(RTM_GETADDR);
    if (!events.empty()) {
      events_.fetch_add(events.size());
      cb_(std::move(events));
    }
  }
}

void neighbour_reader::stop() {
  if (thread_.joinable()) {
    stop_event_.signal();
    thread_.join();
  }
  stop_event_.close();
  if (nl_) {
    mnl_socket_close(nl_);
    nl_ = nullptr;
  }
}

neighbour_reader::counters neighbour_reader::stats() const {
  return {events_.load(), dumps_.load(), overruns_.load(), errors_.load()};
}

} // namespace spin
