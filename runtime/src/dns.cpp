#include "spin/runtime/dns.hpp"

#include <algorithm>
#include <cstring>

namespace spin {

namespace {

inline uint16_t rd16(const uint8_t* p) {
  return static_cast<uint16_t>((p[0] << 8) | p[1]);
}

inline uint32_t rd32(const uint8_t* p) {
  return (static_cast<uint32_t>(p[0]) << 24) | (static_cast<uint32_t>(p[1]) << 16) |
         (static_cast<uint32_t>(p[2]) << 8) | p[3];
}

inline uint8_t ascii_lower(uint8_t b) {
  return (b >= 'A' && b <= 'Z') ? static_cast<uint8_t>(b + ('a' - 'A')) : b;
}

constexpr uint8_t tcp_fin = 0x01;
constexpr uint8_t tcp_syn = 0x02;
constexpr uint8_t tcp_rst = 0x04;

// How far behind the expected sequence number a segment may start and still
// count as a retransmission; further back it is out of the window.
constexpr uint32_t tcp_window = 1u << 20;

// Largest TCP message with its length prefix: the most a flow buffers.
constexpr size_t tcp_max_buffer = 2 + 65535;
// Buffers of ended flows larger than this are freed rather than kept.
constexpr size_t tcp_small_buffer = 512;

// Walks the labels of a name that parse_dns has checked, following pointers.
// It repeats every bound check (a name that was not checked ends the walk),
// so misuse cannot read out of bounds or loop.
class label_walker {
public:
  label_walker(const uint8_t* data, size_t size, size_t offset)
      : data_(data), size_(size), pos_(offset), segment_(offset) {}

  // The next label; false at the root label (or anything unexpected).
  bool next(const uint8_t*& label, uint8_t& len) {
    for (unsigned jumps = 0; jumps <= dns_max_pointer_jumps; ++jumps) {
      if (pos_ >= size_)
        return false;
      uint8_t c = data_[pos_];
      if ((c & 0xc0) == 0xc0) {
        if (pos_ + 1 >= size_)
          return false;
        size_t target = (static_cast<size_t>(c & 0x3f) << 8) | data_[pos_ + 1];
        if (target >= segment_)
          return false;
        pos_ = segment_ = target;
        continue;
      }
      if (c == 0 || (c & 0xc0) != 0 || pos_ + 1 + c > size_)
        return false;
      label = data_ + pos_ + 1;
      len = c;
      pos_ += 1 + static_cast<size_t>(c);
      return true;
    }
    return false;
  }

private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_;
  size_t segment_;
};

// Case-insensitive equality of two checked names of one message.
bool names_equal(const dns_message& m, size_t a, size_t b) {
  if (a == b)
    return true;
  label_walker wa(m.data, m.size, a), wb(m.data, m.size, b);
  for (;;) {
    const uint8_t *la = nullptr, *lb = nullptr;
    uint8_t na = 0, nb = 0;
    bool more_a = wa.next(la, na);
    bool more_b = wb.next(lb, nb);
    if (more_a != more_b)
      return false;
    if (!more_a)
      return true;
    if (na != nb)
      return false;
    for (uint8_t i = 0; i < na; ++i)
      if (ascii_lower(la[i]) != ascii_lower(lb[i]))
        return false;
  }
}

// FNV-1a over the lower-cased labels, so equal names hash equal.
uint32_t name_hash(const dns_message& m, size_t offset) {
  uint32_t h = 2166136261u;
  label_walker w(m.data, m.size, offset);
  const uint8_t* label = nullptr;
  uint8_t len = 0;
  while (w.next(label, len)) {
    h = (h ^ len) * 16777619u;
    for (uint8_t i = 0; i < len; ++i)
      h = (h ^ ascii_lower(label[i])) * 16777619u;
  }
  return h;
}

// The distinct names of a message's answers (owners and CNAME targets).
constexpr size_t max_names = 2 * dns_max_answers;

struct name_table {
  uint16_t offset[max_names];
  uint32_t hash[max_names];
  size_t count = 0;

  // Index of the name at `off`, added if new.
  size_t intern(const dns_message& m, uint16_t off) {
    uint32_t h = name_hash(m, off);
    for (size_t i = 0; i < count; ++i)
      if (hash[i] == h && names_equal(m, offset[i], off))
        return i;
    offset[count] = off;
    hash[count] = h;
    return count++;
  }
};

// Fills the name of a record; false when its presentation form is too long.
bool set_name(const dns_message& m, size_t offset, dns_record& r) {
  dns_name_result n = dns_read_name(m.data, m.size, offset, r.name, sizeof(r.name));
  if (n.error != dns_error::ok || !n.fits)
    return false;
  r.name_len = static_cast<uint8_t>(n.text_length);
  return true;
}

mac_address device_mac(const mac_address& a) {
  return a.is_group() ? mac_address{} : a;
}

ip_address answer_address(const dns_message& m, const dns_answer& a) {
  return a.type == dns_type::a ? ip_address::v4(m.data + a.rdata)
                               : ip_address::v6(m.data + a.rdata);
}

} // namespace

const char* to_string(dns_error e) {
  switch (e) {
  case dns_error::ok:
    return "ok";
  case dns_error::truncated:
    return "truncated";
  case dns_error::bad_count:
    return "bad_count";
  case dns_error::bad_label_type:
    return "bad_label_type";
  case dns_error::bad_pointer:
    return "bad_pointer";
  case dns_error::too_many_pointers:
    return "too_many_pointers";
  case dns_error::name_too_long:
    return "name_too_long";
  case dns_error::bad_rdlength:
    return "bad_rdlength";
  case dns_error::oversized:
    return "oversized";
  case dns_error::bad_opcode:
    return "bad_opcode";
  case dns_error::direction_mismatch:
    return "direction_mismatch";
  }
  return "unknown";
}

dns_name_result dns_read_name(const uint8_t* data, size_t size, size_t offset, char* text,
                              size_t cap) {
  dns_name_result r;
  size_t pos = offset;
  size_t segment = offset; // start of the labels being read; pointers go before it
  bool jumped = false;
  unsigned jumps = 0;
  size_t wire = 1; // the root octet
  auto put = [&](const char* s, size_t n) {
    if (r.fits && r.text_length + n <= cap)
      std::memcpy(text + r.text_length, s, n);
    else
      r.fits = false;
    r.text_length += n;
  };
  for (;;) {
    if (pos >= size) {
      r.error = dns_error::truncated;
      return r;
    }
    const uint8_t c = data[pos];
    if (c == 0) {
      if (!jumped)
        r.next = pos + 1;
      r.wire_length = wire;
      return r;
    }
    switch (c & 0xc0) {
    case 0x00: {
      if (pos + 1 + c > size) { // label past the end
        r.error = dns_error::truncated;
        return r;
      }
      wire += 1 + static_cast<size_t>(c);
      if (wire > dns_max_name_wire) {
        r.error = dns_error::name_too_long;
        return r;
      }
      if (r.text_length > 0)
        put(".", 1);
      const uint8_t* label = data + pos + 1;
      for (uint8_t i = 0; i < c; ++i) {
        const uint8_t b = ascii_lower(label[i]);
        if (b > 0x20 && b < 0x7f && b != '.' && b != '\\') {
          const char ch = static_cast<char>(b);
          put(&ch, 1);
        } else {
          const char esc[4] = {'\\', static_cast<char>('0' + b / 100),
                               static_cast<char>('0' + (b / 10) % 10),
                               static_cast<char>('0' + b % 10)};
          put(esc, 4);
        }
      }
      pos += 1 + static_cast<size_t>(c);
      break;
    }
    case 0xc0: {
      if (pos + 1 >= size) {
        r.error = dns_error::truncated;
        return r;
      }
      const size_t target = (static_cast<size_t>(c & 0x3f) << 8) | data[pos + 1];
      if (target >= segment) {
        r.error = dns_error::bad_pointer;
        return r;
      }
      if (++jumps > dns_max_pointer_jumps) {
        r.error = dns_error::too_many_pointers;
        return r;
      }
      if (!jumped) {
        r.next = pos + 2;
        jumped = true;
      }
      pos = segment = target;
      break;
    }
    default: // 0x40 extended, 0x80 reserved
      r.error = dns_error::bad_label_type;
      return r;
    }
  }
}

dns_error parse_dns(const uint8_t* data, size_t size, dns_message& m) {
  m.data = data;
  m.size = size;
  m.question_count = m.answer_count = 0;
  m.questions_overflow = m.answers_overflow = m.answers_skipped = 0;
  if (size > 65535)
    return dns_error::oversized;
  if (size < 12)
    return dns_error::truncated;
  dns_header& h = m.header;
  h.id = rd16(data);
  h.flags = rd16(data + 2);
  h.qdcount = rd16(data + 4);
  h.ancount = rd16(data + 6);
  h.nscount = rd16(data + 8);
  h.arcount = rd16(data + 10);
  if (h.opcode() != 0)
    return dns_error::bad_opcode;
  // The smallest question is 5 bytes (root name, type, class), the smallest
  // record 11 (root name, type, class, TTL, RDLENGTH 0).
  if (12 + size_t{h.qdcount} * 5 + size_t{h.ancount} * 11 > size)
    return dns_error::bad_count;

  size_t pos = 12;
  for (unsigned i = 0; i < h.qdcount; ++i) {
    const size_t name = pos;
    dns_name_result n = dns_read_name(data, size, pos, nullptr, 0);
    if (n.error != dns_error::ok)
      return n.error;
    pos = n.next;
    if (size - pos < 4)
      return dns_error::truncated;
    if (m.question_count < dns_max_questions) {
      dns_question& q = m.questions[m.question_count++];
      q.name = static_cast<uint16_t>(name);
      q.qtype = rd16(data + pos);
      q.qclass = rd16(data + pos + 2);
    } else {
      ++m.questions_overflow;
    }
    pos += 4;
  }

  for (unsigned i = 0; i < h.ancount; ++i) {
    const size_t owner = pos;
    dns_name_result n = dns_read_name(data, size, pos, nullptr, 0);
    if (n.error != dns_error::ok)
      return n.error;
    pos = n.next;
    if (size - pos < 10)
      return dns_error::truncated;
    const uint16_t type = rd16(data + pos);
    const uint16_t rclass = rd16(data + pos + 2);
    uint32_t ttl = rd32(data + pos + 4);
    const uint16_t rdlength = rd16(data + pos + 8);
    pos += 10;
    if (rdlength > size - pos)
      return dns_error::truncated;
    const size_t rdata = pos;
    const size_t end = pos + rdlength;
    bool keep = false;
    if (rclass == dns_class_in) {
      switch (type) {
      case dns_type::a:
        if (rdlength != 4)
          return dns_error::bad_rdlength;
        keep = true;
        break;
      case dns_type::aaaa:
        if (rdlength != 16)
          return dns_error::bad_rdlength;
        keep = true;
        break;
      case dns_type::cname: {
        dns_name_result t = dns_read_name(data, size, rdata, nullptr, 0);
        if (t.error != dns_error::ok)
          return t.error;
        if (t.next != end)
          return dns_error::bad_rdlength;
        keep = true;
        break;
      }
      default:
        break;
      }
    }
    if (!keep) {
      ++m.answers_skipped;
    } else if (m.answer_count < dns_max_answers) {
      if (ttl & 0x80000000u) // RFC 2181 8: treat as zero
        ttl = 0;
      dns_answer& a = m.answers[m.answer_count++];
      a.owner = static_cast<uint16_t>(owner);
      a.type = type;
      a.ttl = ttl;
      a.rdata = static_cast<uint16_t>(rdata);
      a.rdlength = rdlength;
    } else {
      ++m.answers_overflow;
    }
    pos = end;
  }
  return dns_error::ok;
}

dns_emit_stats dns_emit_records(const dns_message& m, const dns_message_context& ctx,
                                std::vector<dns_record>& out) {
  dns_emit_stats st;
  // Mark where this message's records begin (see dns_record::flags).
  struct mark_first {
    std::vector<dns_record>& out;
    size_t first;
    ~mark_first() {
      if (out.size() > first)
        out[first].flags |= dns_record::message_start;
    }
  } mark{out, out.size()};
  if (!m.header.response()) {
    for (size_t i = 0; i < m.question_count; ++i) {
      const dns_question& q = m.questions[i];
      if (q.qclass != dns_class_in)
        continue;
      dns_record r;
      r.kind = dns_record_kind::query;
      r.address = ctx.src;
      r.peer = ctx.dst;
      r.client_mac = device_mac(ctx.src_mac);
      r.timestamp_us = ctx.timestamp_us;
      r.qtype = q.qtype;
      if (!set_name(m, q.name, r)) {
        ++st.long_names;
        continue;
      }
      out.push_back(r);
      ++st.records;
    }
    return st;
  }

  // Index the answers: names, address records, CNAME edges.
  name_table names;
  size_t owner_of[dns_max_answers];
  size_t addrs[dns_max_answers];
  size_t n_addrs = 0;
  struct edge {
    size_t from; // alias (owner of the CNAME)
    size_t to;   // target
    uint32_t ttl;
  };
  edge edges[dns_max_answers];
  size_t n_edges = 0;
  for (size_t i = 0; i < m.answer_count; ++i) {
    const dns_answer& a = m.answers[i];
    owner_of[i] = names.intern(m, a.owner);
    if (a.type == dns_type::cname)
      edges[n_edges++] = edge{owner_of[i], names.intern(m, a.rdata), a.ttl};
    else
      addrs[n_addrs++] = i;
  }
  if (n_addrs == 0)
    return st;

  // Per distinct address: the best TTL of every name that reaches it, one
  // CNAME hop per round (values of a round are computed from the previous
  // round only, so the depth bound is exact). A name's value is the
  // smallest TTL on its path; with several paths, the largest such value.
  // Values only grow and never exceed the largest seed, so loops end.
  int64_t best[max_names];
  int64_t pending[max_names];
  bool frontier[max_names];
  ip_address address[dns_max_answers];
  for (size_t k = 0; k < n_addrs; ++k)
    address[k] = answer_address(m, m.answers[addrs[k]]);

  for (size_t k = 0; k < n_addrs; ++k) {
    bool seen = false;
    for (size_t j = 0; j < k && !seen; ++j)
      seen = address[j] == address[k];
    if (seen)
      continue;
    for (size_t i = 0; i < names.count; ++i) {
      best[i] = -1;
      frontier[i] = false;
    }
    for (size_t j = k; j < n_addrs; ++j) {
      if (address[j] != address[k])
        continue;
      const size_t o = owner_of[addrs[j]];
      best[o] = std::max<int64_t>(best[o], m.answers[addrs[j]].ttl);
      frontier[o] = true;
    }
    bool active = true;
    for (unsigned depth = 0; active; ++depth) {
      for (size_t i = 0; i < names.count; ++i)
        pending[i] = -1;
      bool improved = false;
      for (size_t e = 0; e < n_edges; ++e) {
        const edge& g = edges[e];
        if (!frontier[g.to])
          continue;
        const int64_t cand = std::min<int64_t>(g.ttl, best[g.to]);
        if (cand > best[g.from] && cand > pending[g.from]) {
          pending[g.from] = cand;
          improved = true;
        }
      }
      if (!improved)
        break;
      if (depth == dns_max_chain_depth) {
        ++st.chains_cut; // a name further than the bound would be mapped
        break;
      }
      active = false;
      for (size_t i = 0; i < names.count; ++i) {
        frontier[i] = pending[i] > best[i];
        if (frontier[i]) {
          best[i] = pending[i];
          active = true;
        }
      }
    }
    for (size_t i = 0; i < names.count; ++i) {
      if (best[i] < 0)
        continue;
      dns_record r;
      r.kind = dns_record_kind::answer;
      r.address = address[k];
      r.peer = ctx.dst;
      r.client_mac = device_mac(ctx.dst_mac);
      r.timestamp_us = ctx.timestamp_us;
      r.ttl = static_cast<uint32_t>(best[i]);
      r.qtype = address[k].is_v4() ? dns_type::a : dns_type::aaaa;
      if (!set_name(m, names.offset[i], r)) {
        ++st.long_names;
        continue;
      }
      out.push_back(r);
      ++st.records;
    }
  }
  return st;
}

uint64_t dns_counters::errors_total() const {
  uint64_t sum = 0;
  for (uint64_t e : errors)
    sum += e;
  return sum;
}

// ---------------------------------------------------------------- extractor

dns_extractor::dns_extractor() : dns_extractor(options{}) {}

dns_extractor::dns_extractor(options opts) : opts_(opts) {}

size_t dns_extractor::process(const packet_record& pkt, const parse_extras& extras,
                              int64_t timestamp_us, std::vector<dns_record>& out,
                              bool capture_cut) {
  if (pkt.kind != record_kind::packet)
    return 0;
  const flow_key& k = pkt.key;
  if (k.proto != ipproto::udp && k.proto != ipproto::tcp)
    return 0;
  const bool to_server = k.dport == dns_port;
  const bool from_server = k.sport == dns_port;
  if (!to_server && !from_server)
    return 0;
  ++counters_.packets;
  const dns_direction dir = to_server && from_server ? dns_direction::either
                            : to_server              ? dns_direction::to_server
                                                     : dns_direction::from_server;
  dns_message_context ctx;
  ctx.src = k.src;
  ctx.dst = k.dst;
  ctx.src_mac = pkt.src_mac;
  ctx.dst_mac = pkt.dst_mac;
  ctx.timestamp_us = timestamp_us;
  const size_t before = out.size();
  if (k.proto == ipproto::udp) {
    if (extras.l4_payload == nullptr || capture_cut) {
      ++counters_.errors[static_cast<size_t>(dns_error::truncated)];
      return 0;
    }
    process_message(extras.l4_payload, extras.l4_caplen, dir, ctx, out);
  } else {
    flow_key key;
    key.src = k.src;
    key.dst = k.dst;
    key.sport = k.sport;
    key.dport = k.dport;
    key.family = k.family;
    key.proto = k.proto;
    process_tcp(key, extras, dir, ctx, out, capture_cut);
  }
  return out.size() - before;
}

dns_error dns_extractor::process_message(const uint8_t* data, size_t size,
                                         dns_direction dir,
                                         const dns_message_context& ctx,
                                         std::vector<dns_record>& out) {
  dns_message m;
  dns_error e = parse_dns(data, size, m);
  if (e == dns_error::ok) {
    const bool response = m.header.response();
    if ((dir == dns_direction::to_server && response) ||
        (dir == dns_direction::from_server && !response))
      e = dns_error::direction_mismatch;
  }
  if (e != dns_error::ok) {
    ++counters_.errors[static_cast<size_t>(e)];
    return e;
  }
  ++counters_.messages;
  const bool response = m.header.response();
  ++(response ? counters_.responses : counters_.queries);
  counters_.answers_overflow += m.answers_overflow;
  counters_.questions_overflow += m.questions_overflow;
  const dns_emit_stats st = dns_emit_records(m, ctx, out);
  (response ? counters_.answer_records : counters_.query_records) += st.records;
  counters_.long_names += st.long_names;
  counters_.chains_cut += st.chains_cut;
  return e;
}

void dns_extractor::process_tcp(const flow_key& key, const parse_extras& extras,
                                dns_direction dir, const dns_message_context& ctx,
                                std::vector<dns_record>& out, bool capture_cut) {
  ++counters_.tcp_segments;
  const int64_t now = ctx.timestamp_us;
  flow_expire(now);
  // Without the TCP header the segment cannot be placed; if it carried data,
  // the next segment of the flow shows the gap.
  if (extras.l4_payload == nullptr)
    return;
  const uint8_t flags = extras.tcp_flags;
  uint32_t slot = flow_find(key);
  if (flags & tcp_rst) { // data in a RST is not part of the stream
    if (slot != npos) {
      flow_erase(slot);
      ++counters_.tcp_flows_ended;
    }
    return;
  }
  const uint8_t* data = extras.l4_payload;
  size_t len = extras.l4_caplen;
  uint32_t seq = extras.tcp_seq;
  if (flags & tcp_syn) {
    bool repeated = false; // a retransmitted SYN of the running flow
    if (slot != npos) {
      const uint32_t behind = slots_[slot].next_seq - (seq + 1);
      repeated = behind <= tcp_window;
    }
    if (!repeated) {
      if (slot == npos)
        slot = flow_insert(key, now);
      if (slot == npos)
        return;
      tcp_flow& f = slots_[slot];
      f.next_seq = seq + 1;
      f.buffer.clear();
      ++counters_.tcp_flows_started;
    }
    seq += 1; // data on a SYN (TCP Fast Open) follows it
  } else if (slot == npos) {
    if (len > 0)
      ++counters_.tcp_no_flow;
    return;
  }
  flow_touch(slot, now);
  tcp_flow& f = slots_[slot];
  if (len > 0) {
    const uint32_t ahead = seq - f.next_seq;
    if (ahead != 0 && ahead < 0x80000000u) { // a gap: bytes were lost
      ++counters_.tcp_resets;
      flow_erase(slot);
      return;
    }
    if (ahead != 0) {
      const uint32_t behind = f.next_seq - seq;
      if (behind > tcp_window) {
        ++counters_.tcp_resets;
        flow_erase(slot);
        return;
      }
      if (behind >= len) {
        ++counters_.tcp_retransmits;
        len = 0;
      } else {
        data += behind;
        len -= behind;
      }
    }
    if (len > 0) {
      f.next_seq += static_cast<uint32_t>(len);
      feed(f, data, len, dir, ctx, out);
      if (capture_cut) { // the rest of the segment is lost
        ++counters_.errors[static_cast<size_t>(dns_error::truncated)];
        flow_erase(slot);
        return;
      }
    }
  }
  if (flags & tcp_fin) {
    flow_erase(slot);
    ++counters_.tcp_flows_ended;
  }
  return;
}

void dns_extractor::feed(tcp_flow& f, const uint8_t* data, size_t len, dns_direction dir,
                         const dns_message_context& ctx, std::vector<dns_record>& out) {
  std::vector<uint8_t>& buf = f.buffer;
  auto append = [&](size_t n) {
    const size_t need = buf.size() + n;
    if (buf.capacity() < need)
      buf.reserve(need <= tcp_small_buffer ? tcp_small_buffer : tcp_max_buffer);
    buf.insert(buf.end(), data, data + n);
    data += n;
    len -= n;
  };
  while (len > 0) {
    if (buf.empty()) {
      // Whole messages straight from the segment, without copying.
      while (len >= 2) {
        const size_t msg = rd16(data);
        if (len < 2 + msg)
          break;
        process_message(data + 2, msg, dir, ctx, out);
        data += 2 + msg;
        len -= 2 + msg;
      }
      if (len > 0)
        append(len); // the start of a message the next segments complete
      return;
    }
    if (buf.size() < 2) {
      append(std::min<size_t>(2 - buf.size(), len));
      if (buf.size() < 2)
        return;
    }
    const size_t total = 2 + static_cast<size_t>(rd16(buf.data()));
    append(std::min(total - buf.size(), len));
    if (buf.size() < total)
      return;
    process_message(buf.data() + 2, total - 2, dir, ctx, out);
    buf.clear();
  }
}

uint32_t dns_extractor::flow_find(const flow_key& key) const {
  auto it = index_.find(key);
  return it == index_.end() ? npos : it->second;
}

uint32_t dns_extractor::flow_insert(const flow_key& key, int64_t now_us) {
  if (opts_.max_tcp_flows == 0)
    return npos;
  if (slots_.empty()) {
    const size_t n = std::min<size_t>(opts_.max_tcp_flows, 1u << 16);
    index_.reserve(n);
    slots_.reserve(n);
    free_.reserve(n);
  }
  if (index_.size() >= opts_.max_tcp_flows && lru_tail_ != npos) {
    flow_erase(lru_tail_);
    ++counters_.tcp_flows_evicted;
  }
  uint32_t slot;
  if (!free_.empty()) {
    slot = free_.back();
    free_.pop_back();
  } else {
    slot = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  tcp_flow& f = slots_[slot];
  f.key = key;
  f.used = true;
  f.last_seen_us = now_us;
  f.buffer.clear();
  index_.emplace(key, slot);
  lru_push_front(slot);
  counters_.tcp_flows = index_.size();
  return slot;
}

void dns_extractor::flow_erase(uint32_t slot) {
  tcp_flow& f = slots_[slot];
  if (!f.used)
    return;
  index_.erase(f.key);
  lru_unlink(slot);
  f.used = false;
  if (f.buffer.capacity() > tcp_small_buffer)
    std::vector<uint8_t>().swap(f.buffer); // do not keep 64 KiB per idle slot
  else
    f.buffer.clear();
  free_.push_back(slot);
  counters_.tcp_flows = index_.size();
}

void dns_extractor::flow_touch(uint32_t slot, int64_t now_us) {
  slots_[slot].last_seen_us = now_us;
  if (lru_head_ != slot) {
    lru_unlink(slot);
    lru_push_front(slot);
  }
}

void dns_extractor::flow_expire(int64_t now_us) {
  while (lru_tail_ != npos &&
         now_us - slots_[lru_tail_].last_seen_us > opts_.tcp_idle_us) {
    flow_erase(lru_tail_);
    ++counters_.tcp_flows_expired;
  }
}

void dns_extractor::lru_unlink(uint32_t slot) {
  tcp_flow& f = slots_[slot];
  if (f.prev != npos)
    slots_[f.prev].next = f.next;
  else
    lru_head_ = f.next;
  if (f.next != npos)
    slots_[f.next].prev = f.prev;
  else
    lru_tail_ = f.prev;
  f.prev = f.next = npos;
}

void dns_extractor::lru_push_front(uint32_t slot) {
  tcp_flow& f = slots_[slot];
  f.prev = npos;
  f.next = lru_head_;
  if (lru_head_ != npos)
    slots_[lru_head_].prev = slot;
  lru_head_ = slot;
  if (lru_tail_ == npos)
    lru_tail_ = slot;
}

} // namespace spin
