#include "spin/runtime/nft_table.hpp"

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
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
#include <iterator>
#include <memory>
#include <poll.h>
#include <string>
#include <utility>
#include <vector>

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
//
// The enforcement rules (`enforce`), first in every base chain:
//
//   ip saddr @allow4 accept
//     [ meta load nfproto => reg 1 ] [ cmp eq reg 1 0x02 ]
//     [ payload load 4b @ network header + 12 => reg 1 ]
//     [ lookup reg 1 set allow4 ] [ immediate reg 0 accept ]
//   (daddr: offset 16; ip6: nfproto 0x0a, 16 bytes at offset 8 or 24)
//   ip saddr @block4 limit rate R/second burst B packets log group G ...
//     [ ... lookup reg 1 set block4 ] [ limit rate R/second burst B type
//     packets flags 0x0 ] [ log group G snaplen S qthreshold Q ]
//   ip saddr @block4 drop
//     [ ... lookup reg 1 set block4 ] [ immediate reg 0 drop ]
//   ip saddr . ip daddr @pair4 drop
//     [ meta load nfproto => reg 1 ] [ cmp eq reg 1 0x02 ]
//     [ payload load 4b @ network header + 12 => reg 1 ]
//     [ payload load 4b @ network header + 16 => reg 9 ]
//     [ lookup reg 1 set pair4 ] [ immediate reg 0 drop ]
//   ip6 saddr . ip6 daddr @pair6 drop
//     [ ... payload load 16b @ network header + 8 => reg 1 ]
//     [ payload load 16b @ network header + 24 => reg 2 ] [ lookup reg 1 ... ]
//
// A concatenation is laid out in consecutive registers: the second IPv4
// address goes to the 32-bit register right after the first (reg 9, i.e.
// NFT_REG32_01, the second word of reg 1), the second IPv6 address to reg 2.
// The lookup then reads key_len bytes from reg 1 on.

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

/// Set elements per NEWSETELEM/DELSETELEM message. The elements of a message
/// are one nested attribute, whose length is a 16-bit field: 1024 of the
/// largest element (a pair of IPv6 addresses: element nest, key nest and a
/// 32-byte value, 44 bytes) make 45 KiB, safely below 64 KiB.
constexpr size_t elements_per_message = 1024;
constexpr size_t max_element_size = 4 + 4 + 4 + 32;
static_assert(elements_per_message * max_element_size + 64 < 65535,
              "the element list must fit a 16-bit attribute length");
/// Room reserved for one element message while libnftnl writes it.
constexpr size_t max_element_message_size =
    elements_per_message * max_element_size + 1024;

struct table_deleter {
  void operator()(nftnl_table* t) const { nftnl_table_free(t); }
};
struct chain_deleter {
  void operator()(nftnl_chain* c) const { nftnl_chain_free(c); }
};
struct rule_deleter {
  void operator()(nftnl_rule* r) const { nftnl_rule_free(r); }
};
struct set_deleter {
  void operator()(nftnl_set* s) const { nftnl_set_free(s); }
};
using table_ptr = std::unique_ptr<nftnl_table, table_deleter>;
using chain_ptr = std::unique_ptr<nftnl_chain, chain_deleter>;
using rule_ptr = std::unique_ptr<nftnl_rule, rule_deleter>;
using set_ptr = std::unique_ptr<nftnl_set, set_deleter>;

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

/// strerror and a hint; `enoent` replaces the hint for ENOENT where it means
/// something more specific (an element or a set that is not there).
std::string describe_errno(int err, const char* enoent = nullptr) {
  std::string text = std::strerror(err);
  const char* hint = err == ENOENT && enoent ? enoent : errno_hint(err);
  if (hint)
    text += std::string{"; "} + hint;
  return text;
}

/// What one message of a batch is, for error messages.
struct batch_entry {
  /// "adding rule '...' in chain forward", "deleting 3 elements from set
  /// block4".
  std::string what;
  /// Where the message starts in the batch buffer.
  size_t offset = 0;
  /// For element messages: one description per element, in the order of the
  /// nested NFTA_SET_ELEM_LIST_ELEMENTS attributes ("deleting element
  /// 192.0.2.1 from set block4"), so the kernel's pointer to the failed
  /// attribute names the element.
  std::vector<std::string> items;
  /// What ENOENT means for this message, if more specific than the default.
  const char* enoent = nullptr;
};

/// One nf_tables batch under construction: NFNL_MSG_BATCH_BEGIN, the object
/// messages, NFNL_MSG_BATCH_END, in one contiguous buffer that grows as
/// needed. Every object message carries NLM_F_ACK and a sequence number; the
/// description of each is kept so an error can name the object.
class batch_builder {
public:
  explicit batch_builder(uint32_t seq) : seq_(seq) {
    begin_seq_ = seq_++;
    nftnl_batch_begin(reserve(max_message_size), begin_seq_);
    commit();
  }

  /// Appends one object message of `type` (NFT_MSG_*); `build(nlh)` adds the
  /// payload, at most `room` bytes in all.
  template <typename Build>
  void add(uint16_t type, uint16_t flags, batch_entry entry, Build&& build,
           size_t room = max_message_size) {
    uint32_t seq = seq_++;
    entry.offset = len_;
    nlmsghdr* nlh =
        nftnl_nlmsg_build_hdr(reserve(room), type, NFPROTO_INET, flags | NLM_F_ACK, seq);
    build(nlh);
    commit();
    entries_.push_back(std::move(entry));
  }

  template <typename Build>
  void add(uint16_t type, uint16_t flags, std::string what, Build&& build) {
    batch_entry entry;
    entry.what = std::move(what);
    add(type, flags, std::move(entry), std::forward<Build>(build));
  }

  void finish() {
    end_seq_ = seq_++;
    nftnl_batch_end(reserve(max_message_size), end_seq_);
    commit();
  }

  const char* data() const { return buf_.data(); }
  size_t size() const { return len_; }
  uint32_t begin_seq() const { return begin_seq_; }
  uint32_t end_seq() const { return end_seq_; }
  /// Sequence number of the first object message (the others follow).
  uint32_t first_seq() const { return begin_seq_ + 1; }
  const std::vector<batch_entry>& entries() const { return entries_; }

private:
  char* reserve(size_t room) {
    if (buf_.size() - len_ < room)
      buf_.resize(std::max(buf_.size() * 2, len_ + room));
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
  std::vector<batch_entry> entries_;
};

/// One of the enforcement sets.
struct named_set {
  const char* name;
  /// NFTA_SET_ID: names the set within the batch that creates it.
  uint32_t id;
  /// NFTA_SET_KEY_TYPE: nft's data type, so `nft list` shows the type. A
  /// concatenation is encoded as (first << 6) | second.
  uint32_t key_type;
  /// Bytes of one element's key.
  uint32_t key_len;
  /// The type in nft's words, for error messages.
  const char* type_text;
};

constexpr uint32_t type_ipv4_addr = 7; // nft's TYPE_IPADDR
constexpr uint32_t type_ipv6_addr = 8; // nft's TYPE_IP6ADDR

constexpr named_set allow4_set{"allow4", 1, type_ipv4_addr, 4, "ipv4_addr"};
constexpr named_set allow6_set{"allow6", 2, type_ipv6_addr, 16, "ipv6_addr"};
constexpr named_set block4_set{"block4", 3, type_ipv4_addr, 4, "ipv4_addr"};
constexpr named_set block6_set{"block6", 4, type_ipv6_addr, 16, "ipv6_addr"};
constexpr named_set pair4_set{"pair4", 5, type_ipv4_addr << 6 | type_ipv4_addr, 8,
                              "ipv4_addr . ipv4_addr"};
constexpr named_set pair6_set{"pair6", 6, type_ipv6_addr << 6 | type_ipv6_addr, 32,
                              "ipv6_addr . ipv6_addr"};
/// All of them, in this order (apply() indexes it).
constexpr const named_set* enforcement_sets[] = {&allow4_set, &allow6_set, &block4_set,
                                                 &block6_set, &pair4_set,  &pair6_set};
constexpr size_t set_count = std::size(enforcement_sets);

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

  /// ip|ip6 saddr|daddr @<set>: the address is in the named set.
  rule_builder& address_in(uint8_t family, bool source, const named_set& set) {
    text_ += std::string{family == 4 ? "ip " : "ip6 "} +
             (source ? "saddr @" : "daddr @") + set.name + " ";
    nfproto(family);
    address(family, source, NFT_REG_1);
    lookup(set);
    return *this;
  }

  /// ip saddr . ip daddr @<set> (or ip6): the (source, destination) pair is
  /// in the named set. The two addresses go to consecutive registers, where
  /// the lookup reads them as one key.
  rule_builder& pair_in(uint8_t family, const named_set& set) {
    const char* ip = family == 4 ? "ip" : "ip6";
    text_ += std::string{ip} + " saddr . " + ip + " daddr @" + set.name + " ";
    nfproto(family);
    address(family, true, NFT_REG_1);
    address(family, false, family == 4 ? NFT_REG32_01 : NFT_REG_2);
    lookup(set);
    return *this;
  }

  /// limit rate <rate>/second burst <burst> packets
  rule_builder& limit(uint32_t rate, uint32_t burst) {
    text_ += "limit rate " + std::to_string(rate) + "/second burst " +
             std::to_string(burst) + " packets ";
    if (auto* e = expr("limit")) {
      nftnl_expr_set_u64(e, NFTNL_EXPR_LIMIT_RATE, rate);
      nftnl_expr_set_u64(e, NFTNL_EXPR_LIMIT_UNIT, 1); // seconds
      nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_BURST, burst);
      nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_TYPE, NFT_LIMIT_PKTS);
      nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_FLAGS, 0);
    }
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
  rule_builder& accept() { return verdict("accept", NF_ACCEPT); }

  /// drop
  rule_builder& drop() { return verdict("drop", NF_DROP); }

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

  rule_builder& verdict(const char* text, uint32_t code) {
    text_ += std::string{text} + " ";
    if (auto* e = expr("immediate")) {
      nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
      nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, code);
    }
    return *this;
  }

  /// meta nfproto ipv4|ipv6, implied by `ip`/`ip6` in an inet table: the
  /// network header is only read for packets of that family.
  void nfproto(uint8_t family) {
    if (auto* e = expr("meta")) {
      nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, NFT_META_NFPROTO);
      nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
    }
    uint8_t proto = family == 4 ? NFPROTO_IPV4 : NFPROTO_IPV6;
    cmp_eq(&proto, sizeof(proto));
  }

  /// Loads the source or destination address into `reg`.
  void address(uint8_t family, bool source, uint32_t reg) {
    if (auto* e = expr("payload")) {
      // IPv4: saddr at 12, daddr at 16; IPv6: saddr at 8, daddr at 24.
      uint32_t offset = family == 4 ? (source ? 12 : 16) : (source ? 8 : 24);
      nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, NFT_PAYLOAD_NETWORK_HEADER);
      nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, reg);
      nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
      nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, family == 4 ? 4 : 16);
    }
  }

  /// Looks register 1 up in a set of the same batch (by name, and by the
  /// batch-local id as nft does).
  void lookup(const named_set& set) {
    if (auto* e = expr("lookup")) {
      nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
      nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set.name);
      nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, set.id);
    }
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
    /// Extended ACK: offset of the offending attribute from the start of
    /// the failed message (0: not given).
    uint32_t bad_attr = 0;
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
  if (type == NLMSGERR_ATTR_OFFS && mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
    return MNL_CB_OK;
  tb[type] = attr;
  return MNL_CB_OK;
}

/// The extended ACK of an error: the kernel's message and the offset of the
/// attribute it blames.
struct ext_ack {
  std::string message;
  uint32_t bad_attr = 0;
};

ext_ack parse_ext_ack(const nlmsghdr* nlh) {
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
  ext_ack ack;
  if (tb[NLMSGERR_ATTR_MSG])
    ack.message = mnl_attr_get_str(tb[NLMSGERR_ATTR_MSG]);
  if (tb[NLMSGERR_ATTR_OFFS])
    ack.bad_attr = mnl_attr_get_u32(tb[NLMSGERR_ATTR_OFFS]);
  return ack;
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
        if (e->error != 0) {
          ext_ack ack = parse_ext_ack(nlh);
          result.failures.push_back(
              {seq, -e->error, std::move(ack.message), ack.bad_attr});
        }
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

const char* const set_missing_hint =
    "the set does not exist (is the table installed, and not in passive mode?)";
const char* const element_missing_hint =
    "the element is not in the set (only elements that were added may be deleted)";

/// What the kernel's pointer into a failed element message points at.
constexpr long blamed_nothing = -1; ///< no pointer, or not into an element
constexpr long blamed_set = -2;     ///< the table or set name: no such set

/// Which element of an element message the kernel blamed (the index of the
/// nested attribute that contains `bad_attr`, an offset from the message
/// start), or blamed_set / blamed_nothing.
long blamed_item(const batch_builder& batch, const batch_entry& entry,
                 uint32_t bad_attr) {
  if (bad_attr == 0)
    return blamed_nothing;
  const char* base = batch.data() + entry.offset;
  auto* nlh = reinterpret_cast<const nlmsghdr*>(base);
  auto contains = [&](const nlattr* a) {
    auto begin = static_cast<uint32_t>(reinterpret_cast<const char*>(a) - base);
    return bad_attr >= begin && bad_attr < begin + a->nla_len;
  };
  // The attributes in [begin, end), as mnl_attr_for_each walks them.
  auto find = [&](const void* begin, const void* end, long& index) -> const nlattr* {
    auto* a = static_cast<const nlattr*>(begin);
    index = 0;
    while (mnl_attr_ok(a, static_cast<int>(static_cast<const char*>(end) -
                                           reinterpret_cast<const char*>(a)))) {
      if (contains(a))
        return a;
      a = mnl_attr_next(a);
      ++index;
    }
    return nullptr;
  };
  long index = 0;
  const nlattr* attr = find(mnl_nlmsg_get_payload_offset(nlh, sizeof(nfgenmsg)),
                            mnl_nlmsg_get_payload_tail(nlh), index);
  if (!attr)
    return blamed_nothing;
  auto type = mnl_attr_get_type(attr);
  if (type == NFTA_SET_ELEM_LIST_TABLE || type == NFTA_SET_ELEM_LIST_SET)
    return blamed_set;
  if (type != NFTA_SET_ELEM_LIST_ELEMENTS)
    return blamed_nothing;
  const auto* payload = static_cast<const char*>(mnl_attr_get_payload(attr));
  if (!find(payload, payload + mnl_attr_get_payload_len(attr), index))
    return blamed_nothing;
  return index < static_cast<long>(entry.items.size()) ? index : blamed_nothing;
}

/// An element message without the kernel's pointer to the element: its
/// description and the first few of its elements.
std::string with_items(const batch_entry& entry) {
  constexpr size_t shown = 8;
  std::string text = entry.what + " (one of: ";
  for (size_t i = 0; i < entry.items.size() && i < shown; ++i) {
    if (i > 0)
      text += "; ";
    text += entry.items[i];
  }
  if (entry.items.size() > shown)
    text += "; and " + std::to_string(entry.items.size() - shown) + " more";
  return text + ")";
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
    const char* enoent = nullptr;
    if (first->seq == batch.begin_seq() || first->seq == batch.end_seq()) {
      what = "the kernel refused the batch";
    } else {
      auto index = first->seq - batch.first_seq();
      const batch_entry& entry = batch.entries()[index];
      enoent = entry.enoent;
      long blamed = blamed_item(batch, entry, first->bad_attr);
      if (blamed >= 0) {
        what = entry.items[blamed];
      } else if (blamed == blamed_set) {
        what = entry.what;
        enoent = set_missing_hint;
      } else if (!entry.items.empty()) {
        what = with_items(entry);
      } else {
        what = entry.what;
      }
      what += " (message " + std::to_string(index + 1) + " of " + std::to_string(count) +
              ", sequence " + std::to_string(first->seq) + ")";
    }
    error = std::string{action} + ": " + what + ": " + describe_errno(first->err, enoent);
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
  if (cfg.enforce && (cfg.block_log_rate == 0 || cfg.block_log_burst == 0)) {
    error = "invalid block report limit " + std::to_string(cfg.block_log_rate) +
            "/second burst " + std::to_string(cfg.block_log_burst) +
            " (both must be at least 1)";
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

/// A set object naming one of the enforcement sets of the table.
set_ptr make_set(const nft_table_config& cfg, const named_set& spec) {
  set_ptr s{nftnl_set_alloc()};
  if (s) {
    nftnl_set_set_u32(s.get(), NFTNL_SET_FAMILY, NFPROTO_INET);
    nftnl_set_set_str(s.get(), NFTNL_SET_TABLE, cfg.name.c_str());
    nftnl_set_set_str(s.get(), NFTNL_SET_NAME, spec.name);
  }
  return s;
}

/// One set element: its key as the set stores it and its text.
struct element {
  std::string key;
  std::string text;
};

/// Elements for the six sets (in enforcement_sets order), per operation.
struct element_lists {
  std::vector<element> del[set_count];
  std::vector<element> add[set_count];
};

/// The key of an address in an address set: 4 or 16 bytes, network order.
std::string address_key(const ip_address& a) {
  const auto* p = reinterpret_cast<const char*>(a.bytes.data());
  return a.is_v4() ? std::string{p + 12, 4} : std::string{p, 16};
}

/// Appends NEWSETELEM (create, no EXCL: an existing element is fine) or
/// DELSETELEM messages for `elems` (deduplicated here) to `batch`, at most
/// elements_per_message per message. False on allocation failure.
bool add_element_messages(batch_builder& batch, const nft_table_config& cfg,
                          const named_set& spec, bool add, std::vector<element>& elems) {
  std::sort(elems.begin(), elems.end(),
            [](const element& a, const element& b) { return a.key < b.key; });
  elems.erase(
      std::unique(elems.begin(), elems.end(),
                  [](const element& a, const element& b) { return a.key == b.key; }),
      elems.end());
  const std::string verb = add ? "adding " : "deleting ";
  const std::string where = std::string{add ? " to set " : " from set "} + spec.name;
  for (size_t first = 0; first < elems.size(); first += elements_per_message) {
    size_t n = std::min(elements_per_message, elems.size() - first);
    set_ptr set = make_set(cfg, spec);
    if (!set)
      return false;
    batch_entry entry;
    entry.what = verb + std::to_string(n) + (n == 1 ? " element" : " elements") + where;
    entry.enoent = add ? set_missing_hint : element_missing_hint;
    entry.items.reserve(n);
    for (size_t i = first; i < first + n; ++i) {
      nftnl_set_elem* e = nftnl_set_elem_alloc();
      if (!e)
        return false;
      nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, elems[i].key.data(),
                         static_cast<uint32_t>(elems[i].key.size()));
      nftnl_set_elem_add(set.get(), e); // the set owns it from now on
      entry.items.push_back(verb + "element " + elems[i].text + where);
    }
    batch.add(
        add ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM, add ? NLM_F_CREATE : 0,
        std::move(entry),
        [&](nlmsghdr* nlh) { nftnl_set_elems_nlmsg_build_payload(nlh, set.get()); },
        max_element_message_size);
  }
  return true;
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

  // SPIN's verdict first, so a blocked DNS server is blocked too: allow
  // accepts (allow beats block), then every drop condition reports a limited
  // number of its packets and drops all of them. The ignore list is not
  // here: it never changes a verdict.
  if (cfg.enforce) {
    for (uint8_t family : {uint8_t{4}, uint8_t{6}}) {
      const named_set& allow = family == 4 ? allow4_set : allow6_set;
      for (bool source : {true, false})
        rule().address_in(family, source, allow).accept();
    }
    auto report = [&](rule_builder& r) {
      r.limit(cfg.block_log_rate, cfg.block_log_burst)
          .log(cfg.block_group, cfg.block_snaplen, cfg.queue_threshold);
    };
    for (uint8_t family : {uint8_t{4}, uint8_t{6}}) {
      const named_set& block = family == 4 ? block4_set : block6_set;
      for (bool source : {true, false}) {
        report(rule().address_in(family, source, block));
        rule().address_in(family, source, block).drop();
      }
    }
    for (uint8_t family : {uint8_t{4}, uint8_t{6}}) {
      const named_set& pair = family == 4 ? pair4_set : pair6_set;
      report(rule().pair_in(family, pair));
      rule().pair_in(family, pair).drop();
    }
  }

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

  // The enforcement sets, after the table and before the rules that refer to
  // them: plain hash sets of single addresses (flags 0, no size limit).
  if (cfg_.enforce) {
    for (const named_set* spec : enforcement_sets) {
      set_ptr set = make_set(cfg_, *spec);
      if (!set) {
        error = action + ": out of memory";
        return false;
      }
      nftnl_set_set_u32(set.get(), NFTNL_SET_FLAGS, 0);
      nftnl_set_set_u32(set.get(), NFTNL_SET_KEY_TYPE, spec->key_type);
      nftnl_set_set_u32(set.get(), NFTNL_SET_KEY_LEN, spec->key_len);
      nftnl_set_set_u32(set.get(), NFTNL_SET_ID, spec->id);
      batch.add(NFT_MSG_NEWSET, NLM_F_CREATE | NLM_F_EXCL,
                std::string{"adding set "} + spec->name + " (type " + spec->type_text +
                    ")",
                [&](nlmsghdr* nlh) { nftnl_set_nlmsg_build_payload(nlh, set.get()); });
    }
  }

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

bool nft_table::apply(const set_change& change, std::string& error) {
  const std::string action = "cannot change the sets of " + table_text(cfg_);
  error.clear();
  if (!cfg_.enforce || change.empty())
    return true;
  if (!check_config(cfg_, error)) {
    error = action + ": " + error;
    return false;
  }
  // Indexes into enforcement_sets.
  enum : size_t { allow4, allow6, block4, block6, pair4, pair6 };
  static_assert(pair6 + 1 == set_count);
  element_lists lists;
  auto addresses = [](const std::vector<ip_address>& from, size_t set4,
                      std::vector<element>* to) {
    for (const ip_address& a : from)
      to[a.is_v4() ? set4 : set4 + 1].push_back({address_key(a), a.to_string()});
  };
  addresses(change.allow_del, allow4, lists.del);
  addresses(change.allow_add, allow4, lists.add);
  addresses(change.block_del, block4, lists.del);
  addresses(change.block_add, block4, lists.add);
  for (bool add : {false, true}) {
    for (const auto& [from, to] : add ? change.pair_add : change.pair_del) {
      std::string text = from.to_string() + " . " + to.to_string();
      if (from.is_v4() != to.is_v4()) {
        error = action + ": the pair " + text + " mixes IPv4 and IPv6";
        return false;
      }
      (add ? lists.add : lists.del)[from.is_v4() ? pair4 : pair6].push_back(
          {address_key(from) + address_key(to), std::move(text)});
    }
  }

  // Deletions first, then additions; the kernel applies the whole batch or
  // nothing, so the order only matters for an element in both lists.
  batch_builder batch{clock_seq()};
  for (bool add : {false, true}) {
    for (size_t i = 0; i < set_count; ++i) {
      auto& elems = add ? lists.add[i] : lists.del[i];
      if (!add_element_messages(batch, cfg_, *enforcement_sets[i], add, elems)) {
        error = action + ": out of memory";
        return false;
      }
    }
  }
  batch.finish();
  return run_batch(batch, action.c_str(), error);
}

bool nft_table::flush_sets(std::string& error) {
  const std::string action = "cannot flush the sets of " + table_text(cfg_);
  error.clear();
  if (!cfg_.enforce)
    return true;
  if (!check_config(cfg_, error)) {
    error = action + ": " + error;
    return false;
  }
  batch_builder batch{clock_seq()};
  for (const named_set* spec : enforcement_sets) {
    set_ptr set = make_set(cfg_, *spec);
    if (!set) {
      error = action + ": out of memory";
      return false;
    }
    // DELSETELEM without an element list empties the set (nft's `flush set`).
    batch_entry entry;
    entry.what = std::string{"flushing set "} + spec->name;
    entry.enoent = set_missing_hint;
    batch.add(NFT_MSG_DELSETELEM, 0, std::move(entry), [&](nlmsghdr* nlh) {
      nftnl_set_elems_nlmsg_build_payload(nlh, set.get());
    });
  }
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
