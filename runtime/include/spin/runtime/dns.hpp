#pragma once

// DNS answers and queries from packets: a bounds-checked, allocation-free
// wire parser (RFC 1035, with the RFC 2181 clarifications), the CNAME chain
// resolution that maps every answered address to every name that led to it,
// and an extractor that finds DNS in parsed packets (UDP and TCP port 53,
// with per-flow reassembly of DNS over TCP).
//
// Two output forms say the same: `dns_record`, one fixed-size, trivially
// copyable record per fact (what the kernel module's messages decode to, and
// what tests and tools read), and `dns_facts`, the compact form the sources
// hand the DNS cache (40 bytes per fact, each name's characters once per
// message).

#include "spin/runtime/ip_address.hpp"
#include "spin/runtime/packet_parser.hpp"
#include "spin/runtime/packet_record.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <vector>

namespace spin {

// ---------------------------------------------------------------- limits

/// The DNS server port; the only port the extractor looks at.
constexpr uint16_t dns_port = 53;

/// Longest name in wire form, uncompressed, root octet included (RFC 1035
/// 3.1). Longer names are an error.
constexpr size_t dns_max_name_wire = 255;

/// Longest presentation form spin keeps (the size of dns_record::name). A
/// valid name whose escaped form is longer (\DDD makes one octet four
/// characters) is not an error of the message; records that would carry it
/// are left out and counted (`long_names`).
constexpr size_t dns_max_name_text = 255;

/// Most compression pointers followed while reading one name. Pointers must
/// also point strictly backwards (see dns_error::bad_pointer), which alone
/// rules out loops; this bound caps the work of pointer-to-pointer chains.
/// 128 is more than the labels a 255-octet name can have.
constexpr unsigned dns_max_pointer_jumps = 128;

/// Questions kept per message; further questions are still checked but not
/// reported (counted as `questions_overflow`).
constexpr size_t dns_max_questions = 16;

/// Answer records considered per message: class IN records of type A, AAAA
/// or CNAME (other answers do not use a slot). Further ones are still
/// checked but ignored for the output (counted as `answers_overflow`).
constexpr size_t dns_max_answers = 64;

/// Most CNAME hops between a name and the address record it leads to. Names
/// further away are not mapped to the address (counted as `chains_cut`).
constexpr unsigned dns_max_chain_depth = 16;

/// DNS record types and classes the parser uses.
namespace dns_type {
constexpr uint16_t a = 1;
constexpr uint16_t cname = 5;
constexpr uint16_t aaaa = 28;
constexpr uint16_t opt = 41;
} // namespace dns_type
constexpr uint16_t dns_class_in = 1;

// ---------------------------------------------------------------- errors

/// Why a DNS message was rejected. Any of these rejects the whole message:
/// nothing of it is reported. Callers count them (dns_counters::errors).
enum class dns_error : uint8_t {
  /// No error: the message parsed.
  ok = 0,
  /// The message ends inside its header, a name, a label or a record (a
  /// label or rdata past the end), or the capture cut the packet short.
  truncated,
  /// QDCOUNT/ANCOUNT claim more records than the message has bytes for, even
  /// at the smallest possible record sizes.
  bad_count,
  /// A label type 0x40 (extended, RFC 6891 deprecates it) or 0x80 (reserved).
  bad_label_type,
  /// A compression pointer that does not point strictly backwards, i.e.
  /// before the start of the labels it continues: a pointer to itself,
  /// forwards, past the end, or into a loop.
  bad_pointer,
  /// More than dns_max_pointer_jumps compression pointers in one name.
  too_many_pointers,
  /// A name longer than 255 octets in (uncompressed) wire form.
  name_too_long,
  /// An RDLENGTH that does not fit the type: A not 4, AAAA not 16, CNAME not
  /// exactly the length of the name it holds.
  bad_rdlength,
  /// Longer than 65535 bytes, which no DNS message can be.
  oversized,
  /// OPCODE is not QUERY (0): the sections of NOTIFY and UPDATE messages do
  /// not mean answers.
  bad_opcode,
  /// The QR bit contradicts the ports: a query from port 53 to another port,
  /// or a response to port 53 from another port. (Both ports 53: QR decides.)
  direction_mismatch,
};

/// Number of dns_error values (for counter arrays indexed by the error).
constexpr size_t dns_error_count = 11;

/// Short name of an error for logs and counters ("truncated", "bad_pointer").
const char* to_string(dns_error e);

// ---------------------------------------------------------------- wire parser

/// The fixed header of a message (RFC 1035 4.1.1).
struct dns_header {
  uint16_t id = 0;
  uint16_t flags = 0; ///< QR, OPCODE, AA, TC, RD, RA, Z, AD, CD, RCODE
  uint16_t qdcount = 0;
  uint16_t ancount = 0;
  uint16_t nscount = 0;
  uint16_t arcount = 0;

  /// QR: true for a response, false for a query.
  bool response() const { return (flags & 0x8000) != 0; }
  uint8_t opcode() const { return static_cast<uint8_t>((flags >> 11) & 0x0f); }
  /// TC: the server truncated the answer (the client will retry over TCP).
  bool truncated() const { return (flags & 0x0200) != 0; }
  /// The 4-bit RCODE of the header (EDNS extended bits are not read).
  uint8_t rcode() const { return static_cast<uint8_t>(flags & 0x0f); }
};

/// One question, by reference into the message (zero-copy).
struct dns_question {
  uint16_t name = 0; ///< offset of QNAME in the message
  uint16_t qtype = 0;
  uint16_t qclass = 0;
};

/// One answer record the parser keeps: class IN, type A, AAAA or CNAME; by
/// reference into the message.
struct dns_answer {
  uint16_t owner = 0; ///< offset of the owner name
  uint16_t type = 0;  ///< dns_type::a, aaaa or cname
  uint32_t ttl = 0;   ///< seconds; a TTL with the top bit set reads as 0 (RFC 2181 8)
  uint16_t rdata = 0; ///< offset of RDATA: the address, or the CNAME target's name
  uint16_t rdlength = 0;
};

/// A parsed message: the header plus the questions and the address/CNAME
/// answers, as offsets into the caller's buffer (which must outlive it).
/// About 1 KiB, meant for the stack; parse_dns never allocates. Every name
/// an offset refers to has been checked, so reading it again cannot fail
/// except for the length of its presentation form.
struct dns_message {
  const uint8_t* data = nullptr;
  size_t size = 0;
  dns_header header;
  uint16_t question_count = 0;     ///< questions kept (<= dns_max_questions)
  uint16_t answer_count = 0;       ///< answers kept (<= dns_max_answers)
  uint16_t questions_overflow = 0; ///< questions beyond dns_max_questions
  uint16_t answers_overflow = 0;   ///< IN A/AAAA/CNAME answers beyond dns_max_answers
  uint16_t answers_skipped = 0;    ///< answers of other types or classes
  dns_question questions[dns_max_questions];
  dns_answer answers[dns_max_answers];
};

/// Parses the header, every question and every answer record of a message
/// (authority and additional sections, EDNS OPT included, are not read: the
/// answer section is all spin needs). Reads only inside [data, data + size)
/// and never allocates or recurses. On an error, `out` is unspecified.
dns_error parse_dns(const uint8_t* data, size_t size, dns_message& out);

/// What reading one name found.
struct dns_name_result {
  dns_error error = dns_error::ok;
  /// Offset just past the name where it starts (past its first pointer, or
  /// its root label): where the record continues.
  size_t next = 0;
  /// Octets of the uncompressed wire form, root octet included (1 .. 255).
  size_t wire_length = 0;
  /// Characters of the presentation form, also when it did not fit.
  size_t text_length = 0;
  /// True when the whole presentation form was written to the buffer.
  bool fits = true;
};

/// Reads the name at `offset` of the message, following compression
/// pointers, and writes its presentation form into `text` (at most `cap`
/// characters, no terminating NUL; `text` may be nullptr with `cap` 0 to
/// only check the name). The presentation form is lower-cased (ASCII),
/// labels joined with '.', without a trailing dot; the root name is "". A
/// label byte outside printable ASCII (0x21-0x7e), and '.' or '\' inside a
/// label, are written as \DDD (three decimal digits, as dig writes them).
/// When the form does not fit, `fits` is false and the buffer holds a
/// prefix.
dns_name_result dns_read_name(const uint8_t* data, size_t size, size_t offset, char* text,
                              size_t cap);

// ---------------------------------------------------------------- records

/// What a dns_record reports.
enum class dns_record_kind : uint8_t {
  /// An address from the answer section of a response, with one name that
  /// leads to it (the owner of the A/AAAA record or a CNAME alias before it).
  answer = 1,
  /// A question of a query: a client asked for a name.
  query = 2,
};

/// One fact learned from DNS, the same for every source (capture files,
/// NFLOG, the kernel module). Fixed-size and trivially copyable: no
/// pointers, no std::string, zero bytes after the name. Layout (312 bytes,
/// no implicit padding):
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 16 | address |
/// | 16 | 16 | peer |
/// | 32 | 8 | timestamp_us |
/// | 40 | 4 | ttl |
/// | 44 | 2 | qtype |
/// | 46 | 6 | client_mac |
/// | 52 | 1 | kind |
/// | 53 | 1 | name_len |
/// | 54 | 255 | name |
/// | 309 | 1 | flags (dns_record::message_start) |
/// | 310 | 2 | reserved (zero) |
struct dns_record {
  /// Answer: the A/AAAA value. Query: the client that asked (IP source).
  ip_address address;
  /// Answer: the client the response went to (IP destination). Query: the
  /// server that was asked (IP destination).
  ip_address peer;
  /// When the packet was seen (Unix time, microseconds).
  int64_t timestamp_us = 0;
  /// Answer: seconds the mapping stays valid: the smallest TTL along the
  /// CNAME chain from `name` to the address record, that record included
  /// (for the owner of the address record, simply its TTL; when several
  /// chains lead there, the largest of their minimums). Query: 0.
  uint32_t ttl = 0;
  /// Query: QTYPE. Answer: the record type (1 = A, 28 = AAAA).
  uint16_t qtype = 0;
  /// The client's Ethernet address (answer: Ethernet destination; query:
  /// Ethernet source); all zero when unknown or a group address.
  mac_address client_mac;
  dns_record_kind kind = dns_record_kind::answer;
  /// Characters used in `name`.
  uint8_t name_len = 0;
  /// Presentation form (see dns_read_name), not NUL-terminated.
  char name[dns_max_name_text] = {};
  /// message_start: the first record of a DNS message. The records of one
  /// message follow each other; consumers that need "every name and address
  /// of one answer" (the registry) group them by this flag.
  uint8_t flags = 0;
  uint8_t reserved[2] = {};

  static constexpr uint8_t message_start = 0x01;
  bool starts_message() const { return (flags & message_start) != 0; }

  std::string_view name_view() const { return std::string_view(name, name_len); }
};
static_assert(sizeof(dns_record) == 312, "dns_record layout changed: update the table");
static_assert(std::is_trivially_copyable<dns_record>::value,
              "dns_record must stay trivially copyable");
static_assert(std::is_standard_layout<dns_record>::value,
              "dns_record must stay standard layout");

/// The DNS facts of one interval in the form the DNS cache reads, compact:
/// a 40-byte fact per (address, name) pair or question, with the name's
/// characters once per message in one string. What the extractor writes on
/// the hot path (a dns_record is 312 bytes, mostly name, and a response with
/// four addresses and a three-name chain makes twelve). Sources that get
/// whole dns_records (the kernel module) append them with push_back().
struct dns_fact {
  /// Answer: the A/AAAA value. Query: the client that asked.
  ip_address address;
  /// The client's Ethernet address (as in dns_record).
  mac_address client_mac;
  dns_record_kind kind = dns_record_kind::answer;
  /// dns_record::message_start on the first fact of a message.
  uint8_t flags = 0;
  /// Answer: as dns_record::ttl. Query: 0.
  uint32_t ttl = 0;
  /// The name: `name_len` characters at `name_offset` of dns_facts::text.
  uint32_t name_offset = 0;
  uint8_t name_len = 0;
  uint8_t reserved[7] = {};

  bool starts_message() const { return (flags & dns_record::message_start) != 0; }
};
static_assert(sizeof(dns_fact) == 40, "dns_fact layout changed");

struct dns_facts {
  std::vector<dns_fact> facts;
  std::string text;

  size_t size() const { return facts.size(); }
  bool empty() const { return facts.empty(); }
  void clear() {
    facts.clear();
    text.clear();
  }
  std::string_view name(const dns_fact& f) const {
    return std::string_view(text).substr(f.name_offset, f.name_len);
  }
  /// Appends a whole record (its name is copied into `text`).
  void push_back(const dns_record& r);
  /// Sets the message_start flag of fact `i`.
  void mark_start(size_t i) { facts[i].flags |= dns_record::message_start; }
};

/// Where a message was seen: the IP and Ethernet addresses of its packet.
struct dns_message_context {
  ip_address src;
  ip_address dst;
  mac_address src_mac; ///< all zero when unknown
  mac_address dst_mac; ///< all zero when unknown
  int64_t timestamp_us = 0;
};

/// What dns_emit_records found besides the records.
struct dns_emit_stats {
  uint32_t records = 0;    ///< records appended
  uint32_t long_names = 0; ///< records left out: name form longer than 255 characters
  uint32_t chains_cut = 0; ///< addresses with names beyond dns_max_chain_depth hops
};

/// Appends the records of a parsed message to `out`.
///
/// Response (QR = 1, any RCODE): one `answer` record per (address, name)
/// pair, where the names of an address are the owners of its A/AAAA records
/// and every name that reaches one of them through CNAME records of the
/// answer section: q -> a1 -> a2 -> A 1.2.3.4 gives 1.2.3.4 with q, a1 and
/// a2. Chains may come in any order, branch (both targets of a name are
/// followed), loop, and are followed for at most dns_max_chain_depth hops.
/// Names compare case-insensitively. Work is bounded by dns_max_answers and
/// done in fixed-size arrays on the stack (about 7 KiB); the only
/// allocation is `out` growing, which a caller that reuses it avoids.
///
/// Query (QR = 0): one `query` record per kept question of class IN.
dns_emit_stats dns_emit_records(const dns_message& m, const dns_message_context& ctx,
                                std::vector<dns_record>& out);
/// The same facts, compact (what the sources hand the DNS cache).
dns_emit_stats dns_emit_records(const dns_message& m, const dns_message_context& ctx,
                                dns_facts& out);

// ---------------------------------------------------------------- extractor

/// Counters of a dns_extractor (plain integers; read them from the thread
/// that feeds it).
struct dns_counters {
  uint64_t packets = 0;        ///< UDP/TCP packets with source or destination port 53
  uint64_t messages = 0;       ///< messages parsed without error
  uint64_t responses = 0;      ///< ... of which responses
  uint64_t queries = 0;        ///< ... of which queries
  uint64_t answer_records = 0; ///< `answer` records produced
  uint64_t query_records = 0;  ///< `query` records produced
  /// Rejected messages by error, indexed by dns_error (index 0 stays 0).
  uint64_t errors[dns_error_count] = {};
  uint64_t answers_overflow = 0;   ///< answers beyond dns_max_answers, ignored
  uint64_t questions_overflow = 0; ///< questions beyond dns_max_questions, ignored
  uint64_t long_names = 0; ///< records left out for a name form over 255 characters
  uint64_t chains_cut = 0; ///< addresses with CNAME chains beyond the depth bound

  uint64_t tcp_segments = 0;      ///< TCP segments to or from port 53
  uint64_t tcp_flows = 0;         ///< flows tracked now
  uint64_t tcp_flows_started = 0; ///< SYNs that started (or restarted) a flow
  uint64_t tcp_flows_ended = 0;   ///< flows ended by FIN or RST
  uint64_t tcp_flows_evicted = 0; ///< least recently used flows dropped for a new one
  uint64_t tcp_flows_expired = 0; ///< flows idle longer than the idle time
  /// Reassembly drops: a gap in the sequence numbers or an out-of-window
  /// segment threw away the flow's buffer (the flow waits for a new SYN).
  uint64_t tcp_resets = 0;
  uint64_t tcp_retransmits = 0; ///< segments holding only data already seen
  uint64_t tcp_no_flow = 0;     ///< data segments of flows whose SYN was not seen

  /// Sum of errors[].
  uint64_t errors_total() const;
};

/// Which way a message went, as the ports say.
enum class dns_direction : uint8_t {
  to_server,   ///< destination port 53: must be a query
  from_server, ///< source port 53: must be a response
  either,      ///< both ports 53: the QR bit decides
};

/// Finds DNS in parsed packets and turns it into dns_records.
///
/// UDP: one message per datagram. TCP: every message has a two-byte length
/// prefix; one segment may hold several messages and one message may span
/// several segments, so the byte stream of each unidirectional flow (src,
/// dst, sport, dport) is rebuilt from the sequence numbers: a SYN starts a
/// flow, in-order data is appended, data already seen is ignored, a gap or
/// a segment far outside the window drops the flow (counted, it resumes
/// with the next SYN), FIN and RST end it. At most `max_tcp_flows` flows
/// are tracked (the least recently used one makes room), each buffering at
/// most one message (65535 + 2 bytes), and flows idle for `tcp_idle_us` of
/// packet time are dropped. The flow table is the only thing that
/// allocates, and only per TCP flow (a slot and at most two buffer sizes),
/// never per packet.
///
/// IP fragments are not reassembled: the first fragment of a large UDP
/// response usually fails as `truncated`, later ones carry no ports.
///
/// Not thread-safe: one extractor per reader thread.
class dns_extractor {
public:
  struct options {
    /// Most TCP flows reassembled at once.
    size_t max_tcp_flows = 1024;
    /// A TCP flow without packets for this long (packet time) is dropped.
    int64_t tcp_idle_us = 30'000'000;
  };

  dns_extractor();
  explicit dns_extractor(options opts);

  /// Looks at one packet parsed by parse_frame (with its parse_extras) and
  /// appends the records of any complete DNS message in it (or completed
  /// by it) to `out`; returns how many. `capture_cut` tells that the
  /// capture kept less of the frame than was on the wire (pcap caplen <
  /// len): a message that loses bytes that way is a `truncated` error, and
  /// nothing of it is reported.
  /// `Out`: std::vector<dns_record> or dns_facts.
  template <class Out>
  size_t process(const packet_record& pkt, const parse_extras& extras,
                 int64_t timestamp_us, Out& out, bool capture_cut = false);

  /// Parses one whole DNS message (for sources that see messages, not
  /// packets), checks it against `dir`, counts, and appends its records.
  template <class Out>
  dns_error process_message(const uint8_t* data, size_t size, dns_direction dir,
                            const dns_message_context& ctx, Out& out);

  const dns_counters& counters() const { return counters_; }

private:
  struct tcp_flow {
    flow_key key;
    uint32_t next_seq = 0; ///< sequence number of the next byte expected
    int64_t last_seen_us = 0;
    uint32_t prev = 0xffffffffu; ///< LRU neighbours (slot indices; none = npos)
    uint32_t next = 0xffffffffu;
    bool used = false;
    /// The part of one message seen so far: length prefix and bytes.
    std::vector<uint8_t> buffer;
  };
  struct key_hash {
    size_t operator()(const flow_key& k) const { return static_cast<size_t>(k.hash()); }
  };
  static constexpr uint32_t npos = 0xffffffffu;

  template <class Out>
  void process_tcp(const flow_key& key, const parse_extras& extras, dns_direction dir,
                   const dns_message_context& ctx, Out& out, bool capture_cut);
  template <class Out>
  void feed(tcp_flow& f, const uint8_t* data, size_t len, dns_direction dir,
            const dns_message_context& ctx, Out& out);
  uint32_t flow_find(const flow_key& key) const;
  uint32_t flow_insert(const flow_key& key, int64_t now_us);
  void flow_erase(uint32_t slot);
  void flow_touch(uint32_t slot, int64_t now_us);
  void flow_expire(int64_t now_us);
  void lru_unlink(uint32_t slot);
  void lru_push_front(uint32_t slot);

  options opts_;
  dns_counters counters_;
  /// Reused by process_message (constructing one zeroes ~1 KiB per packet).
  std::unique_ptr<dns_message> message_ = std::make_unique<dns_message>();
  std::unordered_map<flow_key, uint32_t, key_hash> index_;
  std::vector<tcp_flow> slots_;
  std::vector<uint32_t> free_;
  uint32_t lru_head_ = npos; ///< most recently used
  uint32_t lru_tail_ = npos; ///< least recently used
};

} // namespace spin
