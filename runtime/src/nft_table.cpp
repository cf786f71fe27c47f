#include "spin/runtime/nft_table.hpp"

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/table.h>

#include <arpa/inet.h> // first: glibc's netinet/in.h must precede linux/in.h
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <memory>
#include <poll.h>
#include <utility>

// The rules, in the words `nft` uses (and the expressions it writes for them,
// as `nft --debug=netlink` shows):
//
//   meta l4proto udp udp sport 53 log group G snaplen S queue-threshold Q accept
//     [ meta load l4proto => reg 1 ] [ cmp eq reg 1 0x11 ]
//     [ payload load 2b @ transport header + 0 => reg 1 ] [ cmp eq reg 1 0x3500 ]
//     [ log group G snaplen S qthreshold Q ] [ immediate reg 0 accept ]
//   iifname "eth0" log group G snaplen S queue-threshold Q accept
//     [ meta load iifname => reg 1 ] [ cmp eq reg 1 "eth0" padded to 16 bytes ]
//     [ log ... ] [ immediate reg 0 accept ]
//
// `meta l4proto` (not the IPv4 protocol field) is what the inet family needs:
// it is the transport protocol for IPv4 and IPv6 alike, after any IPv6
// extension headers.

namespace spin {

namespace {

/// How long to wait for the kernel's answers. nfnetlink processes a batch
/// while the sender is still in sendmsg(), so the answers are normally queued
/// before we start to read; this only bounds a kernel that never answers.
constexpr int answer_timeout_ms = 5000;

/// Room reserved for one message while it is built. libnftnl writes
/// attributes without bounds checks; our largest message (a rule with six
/// expressions) is a few hundred bytes.
constexpr size_t max_message_size = 8192;

struct table_deleter {
  void operator()(nftnl_table* t) const { nftnl_table_free(t); }
};
struct chain_deleter {
  void operator()(nftnl_chain* c) const { nftnl_chain_free(c); }
};
struct rule_deleter {
  void operator()(nftnl_rule* r) const { nftnl_rule_free(r); }
};
using table_ptr = std::unique_ptr<nftnl_table, table_deleter>;
using chain_ptr = std::unique_ptr<nftnl_chain, chain_deleter>;
using rule_ptr = std::unique_ptr<nftnl_rule, rule_deleter>;

std::string table_text(const nft_table_config& cfg) {
  return "table inet " + cfg.name;
}

/// A hint for the errors a user can do something about.
const char* errno_hint(int err) {
  switch (err) {
  case EPERM:
  case EACCES:
    return "CAP_NET_ADMIN is needed to manage nftables (run spind as root or give it "
           "CAP_NET_ADMIN)";
  case EAFNOSUPPORT:
  case EOPNOTSUPP:
  case EPROTONOSUPPORT:
  case ENOENT:
    return "nf_tables (or the part of it this object needs, such as the inet family, "
           "filter chains or the log expression) is not available in this kernel";
  default:
    return nullptr;
  }
}

std::string describe_errno(int err) {
  std::string text = std::strerror(err);
  if (const char* hint = errno_hint(err))
    text += std::string{"; "} + hint;
  return text;
}

/// One nf_tables batch under construction: NFNL_MSG_BATCH_BEGIN, the object
/// messages, NFNL_MSG_BATCH_END, in one contiguous buffer that grows as
/// needed. Every object message carries NLM_F_ACK and a sequence number; the
/// description of each is kept so an error can name the object.
class batch_builder {
public:
  explicit batch_builder(uint32_t seq) : seq_(seq) {
    begin_seq_ = seq_++;
    nftnl_batch_begin(reserve(), begin_seq_);
    commit();
  }

  /// Appends one object message of `type` (NFT_MSG_*); `build(nlh)` adds the
  /// payload.
  template <typename Build>
  void add(uint16_t type, uint16_t flags, std::string what, Build&& build) {
    uint32_t seq = seq_++;
    nlmsghdr* nlh =
        nftnl_nlmsg_build_hdr(reserve(), type, NFPROTO_INET, flags | NLM_F_ACK, seq);
    build(nlh);
    commit();
    entries_.push_back(std::move(what));
  }

  void finish() {
    end_seq_ = seq_++;
    nftnl_batch_end(reserve(), end_seq_);
    commit();
  }

  const char* data() const { return buf_.data(); }
  size_t size() const { return len_; }
  uint32_t begin_seq() const { return begin_seq_; }
  uint32_t end_seq() const { return end_seq_; }
  /// Sequence number of the first object message (the others follow).
  uint32_t first_seq() const { return begin_seq_ + 1; }
  const std::vector<std::string>& entries() const { return entries_; }

private:
  char* reserve() {
    if (buf_.size() - len_ < max_message_size)
      buf_.resize(std::max(buf_.size() * 2, len_ + max_message_size));
    return buf_.data() + len_;
  }

  void commit() {
    auto* nlh = reinterpret_cast<nlmsghdr*>(buf_.data() + len_);
    len_ += NLMSG_ALIGN(nlh->nlmsg_len);
  }

  std::vector<char> buf_;
  size_t len_ = 0;
  uint32_t seq_;
  uint32_t begin_seq_ = 0;
  uint32_t end_seq_ = 0;
  std::vector<std::string> entries_;
};

/// Builds one rule's expressions and, alongside, its text in nft's syntax
/// (for error messages). Allocation failures are remembered, not thrown.
class rule_builder {
public:
  rule_builder(const std::string& table, const std::string& chain)
      : rule_(nftnl_rule_alloc()), chain_(chain) {
    if (!rule_) {
      ok_ = false;
      return;
    }
    nftnl_rule_set_u32(rule_.get(), NFTNL_RULE_FAMILY, NFPROTO_INET);
    nftnl_rule_set_str(rule_.get(), NFTNL_RULE_TABLE, table.c_str());
    nftnl_rule_set_str(rule_.get(), NFTNL_RULE_CHAIN, chain.c_str());
  }

  /// meta l4proto <proto> <proto> sport|dport <port>
  rule_builder& l4_port(uint8_t proto, bool source, uint16_t port) {
    const char* name = proto == IPPROTO_UDP ? "udp" : "tcp";
    text_ += std::string{"meta l4proto "} + name + " " + name +
             (source ? " sport " : " dport ") + std::to_string(port) + " ";
    if (auto* e = expr("meta")) {
      nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, NFT_META_L4PROTO);
      nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
    }
    cmp_eq(&proto, sizeof(proto));
    if (auto* e = expr("payload")) {
      // Source and destination port are the first two 16-bit fields of both
      // the UDP and the TCP header.
      nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, NFT_PAYLOAD_TRANSPORT_HEADER);
      nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
      nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, source ? 0 : 2);
      nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, 2);
    }
    uint16_t be = htons(port);
    cmp_eq(&be, sizeof(be));
    return *this;
  }

  /// iifname|oifname "<name>", compared as nft does: IFNAMSIZ bytes, zero
  /// padded (the caller has checked the length).
  rule_builder& ifname(bool incoming, const std::string& name) {
    text_ += std::string{incoming ? "iifname \"" : "oifname \""} + name + "\" ";
    if (auto* e = expr("meta")) {
      nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY,
                         incoming ? NFT_META_IIFNAME : NFT_META_OIFNAME);
      nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
    }
    char padded[IFNAMSIZ] = {};
    std::memcpy(padded, name.data(), std::min(name.size(), sizeof(padded) - 1));
    cmp_eq(padded, sizeof(padded));
    return *this;
  }

  /// log group <group> snaplen <snaplen> queue-threshold <qthreshold>
  rule_builder& log(uint16_t group, uint32_t snaplen, uint16_t qthreshold) {
    text_ += "log group " + std::to_string(group) + " snaplen " +
             std::to_string(snaplen) + " queue-threshold " + std::to_string(qthreshold) +
             " ";
    if (auto* e = expr("log")) {
      nftnl_expr_set_u16(e, NFTNL_EXPR_LOG_GROUP, group);
      nftnl_expr_set_u32(e, NFTNL_EXPR_LOG_SNAPLEN, snaplen);
      nftnl_expr_set_u16(e, NFTNL_EXPR_LOG_QTHRESHOLD, qthreshold);
    }
    return *this;
  }

  /// accept (ends this table's verdict for the packet; other tables still
  /// see it)
  rule_builder& accept() {
    text_ += "accept ";
    if (auto* e = expr("immediate")) {
      nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
      nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, NF_ACCEPT);
    }
    return *this;
  }

  bool ok() const { return ok_; }
  nftnl_rule* get() const { return rule_.get(); }

  /// "rule 'meta l4proto udp udp sport 53 ...' in chain forward"
  std::string describe() const {
    std::string t = text_;
    if (!t.empty() && t.back() == ' ')
      t.pop_back();
    return "rule '" + t + "' in chain " + chain_;
  }

private:
  nftnl_expr* expr(const char* name) {
    if (!ok_)
      return nullptr;
    nftnl_expr* e = nftnl_expr_alloc(name);
    if (!e) {
      ok_ = false;
      return nullptr;
    }
    nftnl_rule_add_expr(rule_.get(), e); // the rule owns it from now on
    return e;
  }

  void cmp_eq(const void* data, uint32_t len) {
    if (auto* e = expr("cmp")) {
      nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
      nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, NFT_CMP_EQ);
      nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
    }
  }

  rule_ptr rule_;
  std::string chain_;
  std::string text_;
  bool ok_ = true;
};

/// What the kernel answered to one request or batch.
struct exchange_result {
  struct failure {
    uint32_t seq;
    int err;             ///< positive errno
    std::string ext_msg; ///< the kernel's extended ACK message, if any
  };
  std::vector<failure> failures;
  bool batch_refused = false; ///< an error for the batch begin/end: nothing applied
  size_t unanswered = 0;      ///< messages without an answer (lost or timed out)
  uint64_t overruns = 0;      ///< ENOBUFS: answers lost in the socket buffer
};

/// Called for every answer that is not an ACK/error (e.g. GETTABLE's reply).
using data_cb = int (*)(const nlmsghdr*, void*);

// Validates the extended ACK attributes after an nlmsgerr into tb[].
int ext_ack_attr_cb(const nlattr* attr, void* data) {
  auto** tb = static_cast<const nlattr**>(data);
  if (mnl_attr_type_valid(attr, NLMSGERR_ATTR_MAX) < 0)
    return MNL_CB_OK;
  int type = mnl_attr_get_type(attr);
  if (type == NLMSGERR_ATTR_MSG && mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) < 0)
    return MNL_CB_OK; // ignore a broken attribute, keep the error itself
  tb[type] = attr;
  return MNL_CB_OK;
}

std::string ext_ack_message(const nlmsghdr* nlh) {
  if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
    return {};
  auto* e = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
  // With NETLINK_CAP_ACK (NLM_F_CAPPED) the original message is not echoed
  // except its header; otherwise it is, and the attributes follow it.
  size_t payload_len = mnl_nlmsg_get_payload_len(nlh);
  size_t offset = sizeof(*e);
  if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) {
    if (e->msg.nlmsg_len < sizeof(e->msg) || e->msg.nlmsg_len > payload_len)
      return {};
    offset += NLMSG_ALIGN(e->msg.nlmsg_len) - sizeof(e->msg);
  }
  if (offset > payload_len)
    return {};
  const nlattr* tb[NLMSGERR_ATTR_MAX + 1] = {};
  auto* attrs = static_cast<const char*>(mnl_nlmsg_get_payload(nlh)) + offset;
  if (mnl_attr_parse_payload(attrs, payload_len - offset, ext_ack_attr_cb, tb) < 0)
    return {};
  return tb[NLMSGERR_ATTR_MSG] ? mnl_attr_get_str(tb[NLMSGERR_ATTR_MSG]) : "";
}

/// A NETLINK_NETFILTER socket for one call: opened, used for one exchange,
/// closed by the destructor.
class nfnl_socket {
public:
  nfnl_socket() = default;
  ~nfnl_socket() {
    if (nl_)
      mnl_socket_close(nl_);
  }
  nfnl_socket(const nfnl_socket&) = delete;
  nfnl_socket& operator=(const nfnl_socket&) = delete;

  /// Opens and binds the socket; sizes its buffers for `messages` answers.
  bool open(size_t messages, size_t request_size, std::string& error) {
    nl_ = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
    if (!nl_) {
      int err = errno;
      error = "cannot open a netfilter netlink socket: " + describe_errno(err);
      return false;
    }
    if (mnl_socket_bind(nl_, 0, MNL_SOCKET_AUTOPID) < 0) {
      error = "cannot bind the netfilter netlink socket: " + describe_errno(errno);
      return false;
    }
    // Errors echo only the header of the failed message, not the whole rule,
    // and may carry the kernel's explanation (extended ACK). Both are
    // optional: older kernels simply ignore them.
    int one = 1;
    mnl_socket_setsockopt(nl_, NETLINK_CAP_ACK, &one, sizeof(one));
    mnl_socket_setsockopt(nl_, NETLINK_EXT_ACK, &one, sizeof(one));
    // Every answer of a batch is queued at once. Make room for all of them
    // (an ACK takes about 1 KiB of buffer accounting) and for the request;
    // the FORCE variants pass rmem_max/wmem_max and need CAP_NET_ADMIN,
    // which nf_tables needs anyway.
    int rcvbuf = static_cast<int>(std::max<size_t>(256 * 1024, messages * 2048));
    if (setsockopt(fd(), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
      mnl_socket_setsockopt(nl_, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    int sndbuf = static_cast<int>(std::max<size_t>(256 * 1024, request_size * 2));
    if (setsockopt(fd(), SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf)) < 0)
      mnl_socket_setsockopt(nl_, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    return true;
  }

  /// Sends `len` bytes and reads the answers until every sequence number in
  /// [first, first + count) is answered (ACK or error), or an error arrives
  /// for `whole_seq_a`/`whole_seq_b` (the batch begin/end: the kernel refused
  /// the batch as a whole). Data messages go to `cb`.
  bool exchange(const char* buf, size_t len, uint32_t first, size_t count,
                uint32_t whole_seq_a, uint32_t whole_seq_b, data_cb cb, void* cb_data,
                exchange_result& result, std::string& error) {
    if (mnl_socket_sendto(nl_, buf, len) < 0) {
      error = "cannot send to nf_tables: " + describe_errno(errno);
      return false;
    }
    uint32_t portid = mnl_socket_get_portid(nl_);
    std::vector<bool> answered(count, false);
    size_t open = count;
    std::vector<char> rx(MNL_SOCKET_BUFFER_SIZE * 4);
    auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(answer_timeout_ms);
    while (open > 0 && !result.batch_refused) {
      int wait_ms = 0;
      if (result.overruns == 0) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        wait_ms = static_cast<int>(std::max<int64_t>(0, left.count()));
      }
      // After an overrun the lost answers never come; what is left is
      // already queued, so only drain it.
      pollfd pfd{fd(), POLLIN, 0};
      int ready = poll(&pfd, 1, wait_ms);
      if (ready < 0 && errno == EINTR)
        continue;
      if (ready < 0) {
        error = "cannot wait for nf_tables' answers: " + describe_errno(errno);
        return false;
      }
      if (ready == 0)
        break;
      ssize_t n = mnl_socket_recvfrom(nl_, rx.data(), rx.size());
      if (n < 0) {
        if (errno == ENOBUFS) {
          ++result.overruns;
          continue;
        }
        if (errno == EINTR || errno == EAGAIN)
          continue;
        error = "cannot read nf_tables' answers: " + describe_errno(errno);
        return false;
      }
      auto* nlh = reinterpret_cast<const nlmsghdr*>(rx.data());
      int left = static_cast<int>(n);
      for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
        if (!mnl_nlmsg_portid_ok(nlh, portid))
          continue;
        uint32_t seq = nlh->nlmsg_seq;
        bool ours = seq - first < count; // unsigned: also rejects seq < first
        bool whole = !ours && (seq == whole_seq_a || seq == whole_seq_b);
        if (!whole && !ours)
          continue; // an answer to something else: not ours to judge
        if (nlh->nlmsg_type != NLMSG_ERROR) {
          if (ours && cb && nlh->nlmsg_type >= NLMSG_MIN_TYPE)
            cb(nlh, cb_data);
          continue;
        }
        if (mnl_nlmsg_get_payload_len(nlh) < sizeof(nlmsgerr))
          continue; // truncated: cannot tell what it answers
        auto* e = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
        if (e->error != 0)
          result.failures.push_back({seq, -e->error, ext_ack_message(nlh)});
        if (whole) {
          if (e->error != 0)
            result.batch_refused = true;
          continue;
        }
        if (!answered[seq - first]) {
          answered[seq - first] = true;
          --open;
        }
      }
    }
    result.unanswered = result.batch_refused ? 0 : open;
    return true;
  }

private:
  int fd() const { return mnl_socket_get_fd(nl_); }

  mnl_socket* nl_ = nullptr;
};

uint32_t clock_seq() {
  return static_cast<uint32_t>(std::time(nullptr));
}

/// Sends a batch and turns the answers into one verdict: true if every
/// message was acknowledged without error; otherwise `error` names the first
/// object that failed (the kernel applies nothing of a failed batch, and
/// later failures are often consequences of the first).
bool run_batch(const batch_builder& batch, const char* action, std::string& error) {
  nfnl_socket sock;
  std::string why;
  auto count = batch.entries().size();
  if (!sock.open(count, batch.size(), why)) {
    error = std::string{action} + ": " + why;
    return false;
  }
  exchange_result result;
  if (!sock.exchange(batch.data(), batch.size(), batch.first_seq(), count,
                     batch.begin_seq(), batch.end_seq(), nullptr, nullptr, result, why)) {
    error = std::string{action} + ": " + why;
    return false;
  }
  if (!result.failures.empty()) {
    // Report the first failure in batch order.
    auto first =
        std::min_element(result.failures.begin(), result.failures.end(),
                         [](const auto& a, const auto& b) { return a.seq < b.seq; });
    std::string what;
    if (first->seq == batch.begin_seq() || first->seq == batch.end_seq()) {
      what = "the kernel refused the batch";
    } else {
      auto index = first->seq - batch.first_seq();
      what = batch.entries()[index] + " (message " + std::to_string(index + 1) + " of " +
             std::to_string(count) + ", sequence " + std::to_string(first->seq) + ")";
    }
    error = std::string{action} + ": " + what + ": " + describe_errno(first->err);
    if (!first->ext_msg.empty())
      error += "; kernel says: " + first->ext_msg;
    if (result.failures.size() > 1)
      error += "; " + std::to_string(result.failures.size() - 1) +
               " later message(s) failed too";
    error += "; nothing was changed";
    return false;
  }
  if (result.unanswered > 0) {
    error = std::string{action} + ": " + std::to_string(result.unanswered) + " of " +
            std::to_string(count) + " messages were not acknowledged" +
            (result.overruns > 0 ? " (answers lost: the netlink receive buffer overran " +
                                       std::to_string(result.overruns) + " time(s))"
                                 : " (no answer from the kernel)") +
            "; the outcome is unknown";
    return false;
  }
  return true;
}

bool check_config(const nft_table_config& cfg, std::string& error) {
  if (cfg.name.empty() || cfg.name.size() >= NFT_TABLE_MAXNAMELEN) {
    error = "invalid nftables table name '" + cfg.name + "' (1 to " +
            std::to_string(NFT_TABLE_MAXNAMELEN - 1) + " characters)";
    return false;
  }
  for (auto& ifname : cfg.lan_interfaces) {
    if (ifname.empty() || ifname.size() >= IFNAMSIZ ||
        ifname.find('\0') != std::string::npos) {
      error = "invalid LAN interface name '" + ifname + "' (1 to " +
              std::to_string(IFNAMSIZ - 1) + " characters)";
      return false;
    }
  }
  return true;
}

/// "add table (a no-op if it exists), delete table": leaves no table, and
/// never fails because the table is absent.
void add_table_reset(batch_builder& batch, const nft_table_config& cfg,
                     nftnl_table* table) {
  batch.add(NFT_MSG_NEWTABLE, NLM_F_CREATE,
            "adding " + table_text(cfg) + " (a no-op if it exists)",
            [&](nlmsghdr* nlh) { nftnl_table_nlmsg_build_payload(nlh, table); });
  batch.add(NFT_MSG_DELTABLE, 0, "deleting " + table_text(cfg),
            [&](nlmsghdr* nlh) { nftnl_table_nlmsg_build_payload(nlh, table); });
}

table_ptr make_table(const nft_table_config& cfg) {
  table_ptr t{nftnl_table_alloc()};
  if (t) {
    nftnl_table_set_u32(t.get(), NFTNL_TABLE_FAMILY, NFPROTO_INET);
    nftnl_table_set_str(t.get(), NFTNL_TABLE_NAME, cfg.name.c_str());
  }
  return t;
}

/// One base chain of the table.
struct chain_spec {
  const char* name;
  uint32_t hook;
};
constexpr chain_spec base_chains[] = {
    {"forward", NF_INET_FORWARD},
    {"input", NF_INET_LOCAL_IN},
    {"output", NF_INET_LOCAL_OUT},
};

/// The rules of one base chain, in order. Returns false on allocation
/// failure.
bool add_chain_rules(batch_builder& batch, const nft_table_config& cfg,
                     const chain_spec& chain) {
  std::vector<rule_builder> rules;
  auto rule = [&]() -> rule_builder& {
    rules.emplace_back(cfg.name, chain.name);
    return rules.back();
  };

  // Room for the next issue: the block/allow/ignore rules go first, matching
  // the address sets added in install() (block: `log group 2` for dropped
  // packets, then drop; allow and ignore: accept before anything is logged),
  // followed by the node-pair rules on concatenated sets. They come before
  // the DNS rules so a blocked DNS server is blocked too.

  // DNS, both directions, UDP and TCP: logged for the DNS reader, then
  // accepted so the per-packet rule below does not log it a second time.
  for (uint8_t proto : {uint8_t{IPPROTO_UDP}, uint8_t{IPPROTO_TCP}}) {
    for (bool source : {true, false}) {
      rule()
          .l4_port(proto, source, 53)
          .log(cfg.dns_group, cfg.dns_snaplen, cfg.queue_threshold)
          .accept();
    }
  }

  if (cfg.per_packet) {
    auto log = [&](rule_builder& r) -> rule_builder& {
      return r.log(cfg.packet_group, cfg.packet_snaplen, cfg.queue_threshold);
    };
    if (cfg.lan_interfaces.empty()) {
      log(rule());
    } else if (chain.hook == NF_INET_FORWARD) {
      // A forwarded packet between two LAN interfaces matches twice; the
      // accept makes it logged once.
      for (auto& ifname : cfg.lan_interfaces) {
        log(rule().ifname(true, ifname)).accept();
        log(rule().ifname(false, ifname)).accept();
      }
    } else {
      bool incoming = chain.hook == NF_INET_LOCAL_IN;
      for (auto& ifname : cfg.lan_interfaces)
        log(rule().ifname(incoming, ifname));
    }
  }

  for (auto& r : rules) {
    if (!r.ok())
      return false;
    batch.add(NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, "adding " + r.describe(),
              [&](nlmsghdr* nlh) { nftnl_rule_nlmsg_build_payload(nlh, r.get()); });
  }
  return true;
}

// Attribute validation callback for GETTABLE's answer, in libmnl's style.
int table_attr_cb(const nlattr* attr, void* data) {
  auto** tb = static_cast<const nlattr**>(data);
  if (mnl_attr_type_valid(attr, NFTA_TABLE_MAX) < 0)
    return MNL_CB_OK;
  int type = mnl_attr_get_type(attr);
  if (type == NFTA_TABLE_NAME && mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) < 0)
    return MNL_CB_OK;
  tb[type] = attr;
  return MNL_CB_OK;
}

struct table_lookup {
  const std::string* name;
  bool found = false;
};

int table_msg_cb(const nlmsghdr* nlh, void* data) {
  auto* lookup = static_cast<table_lookup*>(data);
  if (NFNL_MSG_TYPE(nlh->nlmsg_type) != NFT_MSG_NEWTABLE ||
      NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_NFTABLES)
    return MNL_CB_OK;
  if (mnl_nlmsg_get_payload_len(nlh) < sizeof(nfgenmsg))
    return MNL_CB_OK;
  auto* nfg = static_cast<const nfgenmsg*>(mnl_nlmsg_get_payload(nlh));
  const nlattr* tb[NFTA_TABLE_MAX + 1] = {};
  if (mnl_attr_parse(nlh, sizeof(*nfg), table_attr_cb, tb) < 0)
    return MNL_CB_OK;
  if (nfg->nfgen_family == NFPROTO_INET && tb[NFTA_TABLE_NAME] &&
      *lookup->name == mnl_attr_get_str(tb[NFTA_TABLE_NAME]))
    lookup->found = true;
  return MNL_CB_OK;
}

} // namespace

nft_table::nft_table(nft_table_config cfg) : cfg_(std::move(cfg)) {}

bool nft_table::install(std::string& error) {
  const std::string action = "cannot install " + table_text(cfg_);
  if (!check_config(cfg_, error)) {
    error = action + ": " + error;
    return false;
  }
  table_ptr table = make_table(cfg_);
  if (!table) {
    error = action + ": out of memory";
    return false;
  }

  batch_builder batch{clock_seq()};
  // (1) + (2): whatever a crashed run left behind goes, in the same
  // transaction that builds the new table, so there is no moment without it
  // for other processes to see, and a failure leaves the old one in place.
  add_table_reset(batch, cfg_, table.get());
  // (3) the table again, empty and new (EXCL: it must not exist any more).
  batch.add(NFT_MSG_NEWTABLE, NLM_F_CREATE | NLM_F_EXCL, "adding " + table_text(cfg_),
            [&](nlmsghdr* nlh) { nftnl_table_nlmsg_build_payload(nlh, table.get()); });

  // Room for the next issue: the named sets go here, after the table and
  // before the chains whose rules refer to them: block, allow and ignore
  // address sets (type ipv4_addr and ipv6_addr, flags interval) and the
  // node-pair sets (concatenations such as ipv4_addr . ipv4_addr).

  for (auto& spec : base_chains) {
    chain_ptr chain{nftnl_chain_alloc()};
    if (!chain) {
      error = action + ": out of memory";
      return false;
    }
    nftnl_chain_set_u32(chain.get(), NFTNL_CHAIN_FAMILY, NFPROTO_INET);
    nftnl_chain_set_str(chain.get(), NFTNL_CHAIN_TABLE, cfg_.name.c_str());
    nftnl_chain_set_str(chain.get(), NFTNL_CHAIN_NAME, spec.name);
    nftnl_chain_set_u32(chain.get(), NFTNL_CHAIN_HOOKNUM, spec.hook);
    nftnl_chain_set_s32(chain.get(), NFTNL_CHAIN_PRIO, cfg_.priority);
    nftnl_chain_set_str(chain.get(), NFTNL_CHAIN_TYPE, "filter");
    nftnl_chain_set_u32(chain.get(), NFTNL_CHAIN_POLICY, NF_ACCEPT);
    batch.add(NFT_MSG_NEWCHAIN, NLM_F_CREATE | NLM_F_EXCL,
              std::string{"adding chain "} + spec.name + " (type filter hook " +
                  spec.name + " priority " + std::to_string(cfg_.priority) + ")",
              [&](nlmsghdr* nlh) { nftnl_chain_nlmsg_build_payload(nlh, chain.get()); });
  }
  for (auto& spec : base_chains) {
    if (!add_chain_rules(batch, cfg_, spec)) {
      error = action + ": out of memory";
      return false;
    }
  }
  batch.finish();
  return run_batch(batch, action.c_str(), error);
}

bool nft_table::remove(std::string& error) {
  const std::string action = "cannot remove " + table_text(cfg_);
  if (!check_config(cfg_, error)) {
    error = action + ": " + error;
    return false;
  }
  table_ptr table = make_table(cfg_);
  if (!table) {
    error = action + ": out of memory";
    return false;
  }
  batch_builder batch{clock_seq()};
  add_table_reset(batch, cfg_, table.get());
  batch.finish();
  return run_batch(batch, action.c_str(), error);
}

bool nft_table::exists(std::string& error) const {
  const std::string action = "cannot look up " + table_text(cfg_);
  error.clear();
  if (!check_config(cfg_, error)) {
    error = action + ": " + error;
    return false;
  }
  table_ptr table = make_table(cfg_);
  if (!table) {
    error = action + ": out of memory";
    return false;
  }
  std::vector<char> buf(max_message_size);
  uint32_t seq = clock_seq();
  nlmsghdr* nlh =
      nftnl_nlmsg_build_hdr(buf.data(), NFT_MSG_GETTABLE, NFPROTO_INET, NLM_F_ACK, seq);
  nftnl_table_nlmsg_build_payload(nlh, table.get());

  nfnl_socket sock;
  std::string why;
  if (!sock.open(1, nlh->nlmsg_len, why)) {
    error = action + ": " + why;
    return false;
  }
  table_lookup lookup{&cfg_.name};
  exchange_result result;
  // A plain request, not a batch: its own answer is the only one expected.
  if (!sock.exchange(buf.data(), nlh->nlmsg_len, seq, 1, seq, seq, table_msg_cb, &lookup,
                     result, why)) {
    error = action + ": " + why;
    return false;
  }
  if (!result.failures.empty()) {
    int err = result.failures.front().err;
    if (err == ENOENT)
      return false; // no such table: the answer, not an error
    error = action + ": " + describe_errno(err);
    return false;
  }
  if (result.unanswered > 0) {
    error = action + ": no answer from the kernel";
    return false;
  }
  return lookup.found;
}

} // namespace spin
