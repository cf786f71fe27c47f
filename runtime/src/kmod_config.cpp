#include "spin/runtime/kmod_config.hpp"

#include "spin/runtime/log.hpp"

#include <libmnl/libmnl.h>

#include <linux/netlink.h>
#include <sys/socket.h>

#include "spin_netlink.h"
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <poll.h>

namespace spin {

namespace {

uint8_t command_of(kmod_config::list l, int op) {
  // op: 0 GET, 1 ADD, 2 REMOVE, 3 CLEAR; lists in protocol order.
  int base = l == kmod_config::list::ignore  ? SPIN_CMD_GET_IGNORE
             : l == kmod_config::list::block ? SPIN_CMD_GET_BLOCK
                                             : SPIN_CMD_GET_EXCEPT;
  return static_cast<uint8_t>(base + op);
}

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

} // namespace

kmod_config::kmod_config() = default;

kmod_config::~kmod_config() {
  if (nl_)
    mnl_socket_close(nl_);
}

const char* kmod_config::name(list l) {
  return l == list::ignore ? "ignore" : l == list::block ? "block" : "except";
}

bool kmod_config::open(std::string& error) {
  nl_ = mnl_socket_open2(SPIN_NETLINK_CONFIG, SOCK_CLOEXEC);
  if (!nl_) {
    error =
        errno == EPROTONOSUPPORT
            ? std::string{"the spin kernel module is not loaded (netlink protocol 30 is "
                          "unknown to this kernel)"}
            : std::string{"cannot open netlink protocol 30: "} + std::strerror(errno);
    return false;
  }
  if (mnl_socket_bind(nl_, 0, MNL_SOCKET_AUTOPID) < 0) {
    error = std::string{"cannot bind netlink protocol 30: "} + std::strerror(errno);
    mnl_socket_close(nl_);
    nl_ = nullptr;
    return false;
  }
  seq_ = static_cast<unsigned>(time(nullptr));
  return true;
}

bool kmod_config::get(list l, reply& out, std::string& error) {
  return command(command_of(l, 0), nullptr, out, error);
}
bool kmod_config::add(list l, const ip_address& a, reply& out, std::string& error) {
  return command(command_of(l, 1), &a, out, error);
}
bool kmod_config::remove(list l, const ip_address& a, reply& out, std::string& error) {
  return command(command_of(l, 2), &a, out, error);
}
bool kmod_config::clear(list l, reply& out, std::string& error) {
  return command(command_of(l, 3), nullptr, out, error);
}

bool kmod_config::command(uint8_t cmd, const ip_address* a, reply& out,
                          std::string& error) {
  uint8_t p[SPIN_CMD_MAX_LEN];
  size_t n;
  if (a) {
    bool v4 = a->is_v4();
    n = spin_cmd_pack(p, cmd, v4 ? SPIN_AF_INET : SPIN_AF_INET6,
                      a->bytes.data() + (v4 ? 12 : 0));
  } else {
    n = spin_cmd_pack(p, cmd, 0, nullptr);
  }
  return raw(std::vector<uint8_t>(p, p + n), out, error);
}

bool kmod_config::raw(const std::vector<uint8_t>& payload, reply& out,
                      std::string& error) {
  out = reply{};
  if (!nl_ && !open(error))
    return false;
  std::vector<uint8_t> buf(MNL_SOCKET_BUFFER_SIZE);
  struct nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
  nlh->nlmsg_type = SPIN_NLMSG_TYPE;
  nlh->nlmsg_flags = NLM_F_REQUEST;
  nlh->nlmsg_seq = ++seq_;
  unsigned seq = nlh->nlmsg_seq;
  if (!payload.empty())
    std::memcpy(mnl_nlmsg_put_extra_header(nlh, payload.size()), payload.data(),
                payload.size());
  if (mnl_socket_sendto(nl_, nlh, nlh->nlmsg_len) < 0) {
    error = std::string{"cannot send to the spin kernel module: "} + std::strerror(errno);
    return false;
  }
  int64_t deadline = now_ms() + timeout_ms;
  int fd = mnl_socket_get_fd(nl_);
  while (!out.ended) {
    int64_t left = deadline - now_ms();
    struct pollfd pfd = {fd, POLLIN, 0};
    if (left <= 0 || poll(&pfd, 1, static_cast<int>(left)) <= 0) {
      error = "the spin kernel module did not finish its answer (no END) within " +
              std::to_string(timeout_ms) + " ms";
      return false;
    }
    ssize_t got = recv(fd, buf.data(), buf.size(), 0);
    if (got < 0) {
      if (errno == EINTR)
        continue;
      error = std::string{"receive from the spin kernel module failed: "} +
              std::strerror(errno);
      return false;
    }
    int len = static_cast<int>(got);
    for (auto* h = reinterpret_cast<struct nlmsghdr*>(buf.data()); mnl_nlmsg_ok(h, len);
         h = mnl_nlmsg_next(h, &len)) {
      if (h->nlmsg_seq != seq)
        continue; // an answer to an earlier command that timed out
      auto* d = static_cast<const uint8_t*>(mnl_nlmsg_get_payload(h));
      size_t dlen = mnl_nlmsg_get_payload_len(h);
      if (h->nlmsg_type == NLMSG_ERROR) {
        int e = 0;
        if (dlen >= sizeof(struct nlmsgerr))
          e = -reinterpret_cast<const struct nlmsgerr*>(d)->error;
        error = std::string{"the spin kernel module refused the command: "} +
                std::strerror(e) + (e == EPERM ? " (CAP_NET_ADMIN is needed)" : "");
        return false;
      }
      uint8_t version = 0, resp = 0;
      const uint8_t* data = nullptr;
      size_t n = 0;
      if (spin_resp_unpack(d, dlen, &version, &resp, &data, &n) != 0)
        continue;
      if (resp == SPIN_RESP_END) {
        out.ended = true;
      } else if (resp == SPIN_RESP_ERR) {
        out.errors.emplace_back(reinterpret_cast<const char*>(data), n);
      } else if (resp == SPIN_RESP_IP && n >= 1) {
        unsigned alen = spin_addr_len(data[0]);
        if (alen != 0 && n >= 1 + alen)
          out.addresses.push_back(alen == 4 ? ip_address::v4(data + 1)
                                            : ip_address::v6(data + 1));
      }
    }
  }
  return true;
}

// ------------------------------------------------------------- enforcer

bool kmod_enforcer::ensure_open(std::string& error) {
  if (cfg_)
    return true;
  auto c = std::make_unique<kmod_config>();
  if (!c->open(error))
    return false;
  cfg_ = std::move(c);
  return true;
}

bool kmod_enforcer::run(kmod_config::list l, bool add, const ip_address& a,
                        std::string& error) {
  kmod_config::reply r;
  bool ok = add ? cfg_->add(l, a, r, error) : cfg_->remove(l, a, r, error);
  if (!ok)
    return false;
  if (!r.errors.empty()) {
    error = std::string{"spin.ko: "} + (add ? "add " : "remove ") + a.to_string() + " (" +
            kmod_config::name(l) + "): " + r.errors.front();
    return false;
  }
  return true;
}

bool kmod_enforcer::apply(const set_change& c, std::string& error) {
  if (!ensure_open(error))
    return false;
  using L = kmod_config::list;
  for (auto& a : c.allow_del)
    if (!run(L::except, false, a, error))
      return false;
  for (auto& a : c.block_del)
    if (!run(L::block, false, a, error))
      return false;
  for (auto& a : c.allow_add)
    if (!run(L::except, true, a, error))
      return false;
  for (auto& a : c.block_add)
    if (!run(L::block, true, a, error))
      return false;
  if (!c.pair_add.empty() || !c.pair_del.empty()) {
    unsupported_pairs_ += c.pair_add.size() + c.pair_del.size();
    if (!pair_warned_) {
      SPIN_WARN("kmod: the spin kernel module has no node-pair lists; flow blocks "
                "(set_flow_block) are kept but not enforced");
      pair_warned_ = true;
    }
  }
  return true;
}

bool kmod_enforcer::rebuild(const set_change& all, std::string& error) {
  if (!ensure_open(error))
    return false;
  for (auto l : {kmod_config::list::block, kmod_config::list::except}) {
    kmod_config::reply r;
    if (!cfg_->clear(l, r, error))
      return false;
  }
  set_change adds;
  adds.allow_add = all.allow_add;
  adds.block_add = all.block_add;
  adds.pair_add = all.pair_add;
  return apply(adds, error);
}

} // namespace spin
