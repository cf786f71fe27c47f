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

// The presentation form of every label byte: the lower-cased character, or 0
// when the byte is written as \DDD (see dns_read_name).
struct name_char_table {
  char c[256];
};

constexpr name_char_table make_name_chars() {
  name_char_table t{};
  for (int b = 0; b < 256; ++b) {
    const int l = (b >= 'A' && b <= 'Z') ? b + ('a' - 'A') : b;
    t.c[b] = (l > 0x20 && l < 0x7f && l != '.' && l != '\\') ? static_cast<char>(l) : 0;
  }
  return t;
}

constexpr name_char_table name_chars = make_name_chars();

// Writes \DDD for the byte `b` at `o` (four characters).
inline void write_escape(char* o, uint8_t b) {
  o[0] = '\\';
  o[1] = static_cast<char>('0' + b / 100);
  o[2] = static_cast<char>('0' + (b / 10) % 10);
  o[3] = static_cast<char>('0' + b % 10);
}

// Writes the presentation form of a label (1-63 bytes) at `o`, which has
// room for 4 characters a byte; returns its end.
inline char* put_label(const uint8_t* label, size_t len, char* o) {
  const uint8_t* const end = label + len;
  do {
    const char ch = name_chars.c[*label];
    if (ch != 0) {
      *o++ = ch;
    } else {
      write_escape(o, *label);
      o += 4;
    }
  } while (++label != end);
  return o;
}

// The label (with its dot) piece by piece, each piece (a character, or a
// \DDD) written only while it fits: the buffer holds a prefix of the form.
void put_label_partial(const uint8_t* label, uint8_t len, size_t dot, char* text,
                       size_t cap, size_t& length, bool& fits) {
  auto put = [&](const char* s, size_t n) {
    if (fits && length + n <= cap)
      std::memcpy(text + length, s, n);
    else
      fits = false;
    length += n;
  };
  if (dot)
    put(".", 1);
  for (uint8_t i = 0; i < len; ++i) {
    const char ch = name_chars.c[label[i]];
    if (ch != 0) {
      put(&ch, 1);
    } else {
      char esc[4];
      write_escape(esc, label[i]);
      put(esc, 4);
    }
  }
}

// Characters of the presentation form of one label.
inline size_t label_text_length(const uint8_t* label, uint8_t len) {
  size_t n = len;
  for (uint8_t i = 0; i < len; ++i)
    if (name_chars.c[label[i]] == 0)
      n += 3;
  return n;
}

// Names parse_dns has checked, where their labels start: a pointer to one
// of them ends the check of a later name (most owners are a pointer to the
// question or to a CNAME target).
struct checked_names {
  static constexpr size_t capacity = 8;
  uint16_t offset[capacity];
  uint8_t wire[capacity];  // octets, root included (<= 255)
  uint8_t jumps[capacity]; // pointers followed (<= dns_max_pointer_jumps)
  size_t count = 0;

  // The usual owner name: nothing but a pointer to a checked name. Then the
  // name is fine (the check would pass) and continues at offset + 2.
  bool pointer_to_known(const uint8_t* data, size_t size, size_t off,
                        size_t& next) const {
    if (off + 1 >= size || data[off] < 0xc0)
      return false;
    const size_t target = (static_cast<size_t>(data[off] & 0x3f) << 8) | data[off + 1];
    if (target >= off)
      return false;
    for (size_t k = 0; k < count; ++k)
      if (offset[k] == target) {
        if (jumps[k] + 1u > dns_max_pointer_jumps)
          return false;
        next = off + 2;
        return true;
      }
    return false;
  }

  void add(size_t off, size_t w, unsigned j) {
    if (count < capacity) {
      offset[count] = static_cast<uint16_t>(off);
      wire[count] = static_cast<uint8_t>(w);
      jumps[count] = static_cast<uint8_t>(j);
      ++count;
    }
  }
};
static_assert(dns_max_name_wire <= 0xff && dns_max_pointer_jumps <= 0xff,
              "checked_names keeps them in one byte");

// dns_read_name without the presentation form: the same checks in the same
// order, so the same error, and where the record continues (`next`). A
// pointer to a name in `known` finishes the walk when that name, continued
// from here, stays within the bounds: the walk would then pass every check.
dns_error check_name(const uint8_t* data, size_t size, size_t offset, size_t& next,
                     checked_names& known) {
  size_t pos = offset;
  size_t segment = offset;
  bool jumped = false;
  unsigned jumps = 0;
  size_t wire = 1;
  for (;;) {
    if (pos >= size)
      return dns_error::truncated;
    const uint8_t c = data[pos];
    if (c == 0) {
      if (!jumped)
        next = pos + 1;
      if (data[offset] != 0 && data[offset] < 0x40) // labels first: a pointer target
        known.add(offset, wire, jumps);
      return dns_error::ok;
    }
    if (c < 0x40) {
      if (pos + 1 + c > size)
        return dns_error::truncated;
      wire += 1 + static_cast<size_t>(c);
      if (wire > dns_max_name_wire)
        return dns_error::name_too_long;
      pos += 1 + static_cast<size_t>(c);
    } else if (c >= 0xc0) {
      if (pos + 1 >= size)
        return dns_error::truncated;
      const size_t target = (static_cast<size_t>(c & 0x3f) << 8) | data[pos + 1];
      if (target >= segment)
        return dns_error::bad_pointer;
      if (++jumps > dns_max_pointer_jumps)
        return dns_error::too_many_pointers;
      if (!jumped) {
        next = pos + 2;
        jumped = true;
      }
      for (size_t k = 0; k < known.count; ++k) {
        if (known.offset[k] != target)
          continue;
        const size_t total_wire = wire - 1 + known.wire[k];
        const unsigned total_jumps = jumps + known.jumps[k];
        if (total_wire <= dns_max_name_wire && total_jumps <= dns_max_pointer_jumps) {
          if (data[offset] < 0x40) // labels first (not the root, which has no pointer)
            known.add(offset, total_wire, total_jumps);
          return dns_error::ok;
        }
        break;
      }
      pos = segment = target;
    } else { // 0x40 extended, 0x80 reserved
      return dns_error::bad_label_type;
    }
  }
}

// Where the labels of the name at `offset` begin: its leading compression
// pointers followed. Names with the same start are the same name. Stops at
// anything a checked name cannot hold (the walk from there then fails).
size_t name_start(const dns_message& m, size_t offset) {
  size_t segment = offset;
  for (unsigned jumps = 0; jumps < dns_max_pointer_jumps; ++jumps) {
    if (offset + 1 >= m.size || (m.data[offset] & 0xc0) != 0xc0)
      return offset;
    const size_t target =
        (static_cast<size_t>(m.data[offset] & 0x3f) << 8) | m.data[offset + 1];
    if (target >= segment)
      return offset;
    offset = segment = target;
  }
  return offset;
}

// The distinct names of a message's answers (owners and CNAME targets), each
// decoded once. Two answers name the same name when their names start at the
// same offset (after leading pointers); names that start elsewhere are
// compared by their presentation forms, which are equal exactly when the
// names are (lower-cased, and the escapes make the form unambiguous).
constexpr size_t max_names = 2 * dns_max_answers;

dns_name_result read_name(const uint8_t* data, size_t size, size_t offset, char* text,
                          size_t cap);

// The first distinct names keep their presentation form zero-padded to the
// size of dns_record::name, ready to be copied into records whole; further
// names are decoded again for each of their records.
constexpr size_t name_slots = 6;
constexpr size_t name_slot_size = 256;
static_assert(name_slot_size >= dns_max_name_text, "a slot holds a record's name");

struct name_table {
  enum state_t : uint8_t {
    stored,   // form in a slot
    unstored, // fits a record, but every slot was taken
    too_long, // form longer than a record holds
    broken,   // the name did not read (only for a message parse_dns did not check)
  };
  uint16_t start[max_names];
  uint16_t text_length[max_names];
  state_t state[max_names];
  uint8_t slot[max_names]; // (stored)
  size_t count = 0;
  // Every name start seen, with its name: most answers repeat a start (a
  // pointer to the question or to a CNAME target), found here without
  // reading the name again.
  uint16_t alias_start[max_names];
  uint8_t alias_name[max_names];
  size_t alias_count = 0;
  size_t slots_used = 0;
  char slots[name_slots][name_slot_size];
  char scratch[name_slot_size]; // a new name when every slot is taken

  const char* text(size_t i) const { return slots[slot[i]]; }

  // Whether name i is the name at `start_b`, whose form (when it fits) is
  // at `text_b`.
  bool same(const dns_message& m, size_t i, size_t start_b, state_t state_b,
            size_t length_b, const char* text_b) const {
    if (state[i] == broken || state_b == broken)
      return names_equal(m, start[i], start_b);
    if (text_length[i] != length_b)
      return false;
    if (state[i] == stored && (state_b == stored || state_b == unstored))
      return std::memcmp(text(i), text_b, length_b) == 0;
    return names_equal(m, start[i], start_b);
  }

  // Index of the name at `off`, added if new.
  size_t intern(const dns_message& m, uint16_t off) {
    const size_t s = name_start(m, off);
    for (size_t a = 0; a < alias_count; ++a)
      if (alias_start[a] == s)
        return alias_name[a];
    return add(m, s);
  }

  // A start not seen yet: decodes the name (into the next slot, which it
  // keeps if it is new).
  size_t add(const dns_message& m, size_t s) {
    const bool slot_free = slots_used < name_slots;
    char* buf = slot_free ? slots[slots_used] : scratch;
    const dns_name_result n = read_name(m.data, m.size, s, buf, dns_max_name_text);
    state_t st;
    if (n.error != dns_error::ok)
      st = broken;
    else if (!n.fits)
      st = too_long;
    else
      st = slot_free ? stored : unstored;
    size_t idx = count;
    for (size_t i = 0; i < count; ++i)
      if (same(m, i, s, st, n.text_length, buf)) {
        idx = i;
        break;
      }
    if (idx == count) {
      start[idx] = static_cast<uint16_t>(s);
      text_length[idx] = static_cast<uint16_t>(std::min<size_t>(n.text_length, 0xffff));
      state[idx] = st;
      if (st == stored) {
        slot[idx] = static_cast<uint8_t>(slots_used++);
        std::memset(buf + n.text_length, 0, name_slot_size - n.text_length);
      }
      ++count;
    }
    alias_start[alias_count] = static_cast<uint16_t>(s);
    alias_name[alias_count] = static_cast<uint8_t>(idx);
    ++alias_count;
    return idx;
  }
};

// A record being filled: the fields every record of a message shares are set
// once, each record changes only what differs. Every name is written with the
// zero bytes after it.
struct record_builder {
  dns_record r;
  size_t current = static_cast<size_t>(-1); // name index r.name holds

  // A name from a slot, zero-padded.
  void set_name(const char* slot, size_t len) {
    std::memcpy(r.name, slot, sizeof(r.name));
    r.name_len = static_cast<uint8_t>(len);
  }

  // Reads the name at `offset` straight into the record; false when it does
  // not read or its form is too long (the record is then not used).
  bool decode_name(const dns_message& m, size_t offset) {
    const dns_name_result n =
        dns_read_name(m.data, m.size, offset, r.name, sizeof(r.name));
    current = static_cast<size_t>(-1);
    if (n.error != dns_error::ok || !n.fits)
      return false;
    std::memset(r.name + n.text_length, 0, sizeof(r.name) - n.text_length);
    r.name_len = static_cast<uint8_t>(n.text_length);
    return true;
  }
};

mac_address device_mac(const mac_address& a) {
  return a.is_group() ? mac_address{} : a;
}

ip_address answer_address(const dns_message& m, const dns_answer& a) {
  return a.type == dns_type::a ? ip_address::v4(m.data + a.rdata)
                               : ip_address::v6(m.data + a.rdata);
}

// Where dns_emit_records writes: whole dns_records (record_sink) or compact
// facts (fact_sink). The emitter selects a name, sets an address, and emits
// one answer per (address, name); a sink writes each name the way it keeps
// them.
struct record_sink {
  std::vector<dns_record>& out;
  record_builder rb;

  size_t size() const { return out.size(); }
  void mark(size_t i) { out[i].flags |= dns_record::message_start; }

  // One question; false when its name does not fit a record.
  bool query(const dns_message& m, const dns_message_context& ctx, const dns_question& q) {
    // Fills a zeroed record; false when the name does not fit.
    auto fill = [&](dns_record& r) {
      r.kind = dns_record_kind::query;
      r.address = ctx.src;
      r.peer = ctx.dst;
      r.client_mac = device_mac(ctx.src_mac);
      r.timestamp_us = ctx.timestamp_us;
      r.qtype = q.qtype;
      const dns_name_result n = read_name(m.data, m.size, q.name, r.name, sizeof(r.name));
      if (n.error != dns_error::ok || !n.fits)
        return false;
      r.name_len = static_cast<uint8_t>(n.text_length);
      return true;
    };
    if (out.size() < out.capacity()) {
      // Straight into the vector: the name is written once, the record is
      // not copied.
      if (fill(out.emplace_back()))
        return true;
      out.pop_back();
      return false;
    }
    dns_record r; // the vector grows only for a record that is kept
    if (!fill(r))
      return false;
    out.push_back(r);
    return true;
  }

  void begin_answers(const dns_message_context& ctx, size_t) {
    rb.r.kind = dns_record_kind::answer;
    rb.r.peer = ctx.dst;
    rb.r.client_mac = device_mac(ctx.dst_mac);
    rb.r.timestamp_us = ctx.timestamp_us;
  }
  void set_address(const void* a16) {
    std::memcpy(rb.r.address.bytes.data(), a16, 16);
    rb.r.qtype = rb.r.address.is_v4() ? dns_type::a : dns_type::aaaa;
  }
  // Name `i` for the next answers; false when it cannot be written.
  bool select_name(const name_table& names, const dns_message& m, size_t i) {
    if (i == rb.current)
      return true;
    switch (names.state[i]) {
    case name_table::stored:
      rb.set_name(names.text(i), names.text_length[i]);
      rb.current = i;
      return true;
    case name_table::unstored:
      if (!rb.decode_name(m, names.start[i]))
        return false;
      rb.current = i;
      return true;
    default:
      return false;
    }
  }
  void answer(uint32_t ttl) {
    rb.r.ttl = ttl;
    out.push_back(rb.r);
  }
};

struct fact_sink {
  dns_facts& out;
  dns_fact f;
  size_t current = static_cast<size_t>(-1);
  // Names of this message already in out.text.
  uint32_t offset_of[max_names];
  uint8_t length_of[max_names];
  bool written[max_names];

  size_t size() const { return out.facts.size(); }
  void mark(size_t i) { out.mark_start(i); }

  bool query(const dns_message& m, const dns_message_context& ctx, const dns_question& q) {
    char buf[dns_max_name_text];
    const dns_name_result n = read_name(m.data, m.size, q.name, buf, sizeof(buf));
    if (n.error != dns_error::ok || !n.fits)
      return false;
    dns_fact& x = out.facts.emplace_back();
    x.kind = dns_record_kind::query;
    x.address = ctx.src;
    x.client_mac = device_mac(ctx.src_mac);
    x.name_offset = static_cast<uint32_t>(out.text.size());
    x.name_len = static_cast<uint8_t>(n.text_length);
    out.text.append(buf, n.text_length);
    return true;
  }

  void begin_answers(const dns_message_context& ctx, size_t name_count) {
    f.kind = dns_record_kind::answer;
    f.client_mac = device_mac(ctx.dst_mac);
    for (size_t i = 0; i < name_count; ++i)
      written[i] = false;
    current = static_cast<size_t>(-1);
  }
  void set_address(const void* a16) { std::memcpy(f.address.bytes.data(), a16, 16); }
  bool select_name(const name_table& names, const dns_message& m, size_t i) {
    if (i == current)
      return true;
    if (!written[i]) {
      const uint32_t offset = static_cast<uint32_t>(out.text.size());
      switch (names.state[i]) {
      case name_table::stored:
        out.text.append(names.text(i), names.text_length[i]);
        length_of[i] = static_cast<uint8_t>(names.text_length[i]);
        break;
      case name_table::unstored: {
        char buf[dns_max_name_text];
        const dns_name_result n =
            dns_read_name(m.data, m.size, names.start[i], buf, sizeof(buf));
        if (n.error != dns_error::ok || !n.fits)
          return false;
        out.text.append(buf, n.text_length);
        length_of[i] = static_cast<uint8_t>(n.text_length);
        break;
      }
      default:
        return false;
      }
      offset_of[i] = offset;
      written[i] = true;
    }
    f.name_offset = offset_of[i];
    f.name_len = length_of[i];
    current = i;
    return true;
  }
  void answer(uint32_t ttl) {
    f.ttl = ttl;
    out.facts.push_back(f);
  }
};

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

namespace {

// dns_read_name in full: every case, piece by piece.
dns_name_result read_name_general(const uint8_t* data, size_t size, size_t offset,
                                  char* text, size_t cap) {
  // The state lives in locals (not in the result, which the caller's buffer
  // could alias as far as the compiler knows).
  dns_error error = dns_error::ok;
  size_t next = 0;
  size_t wire = 1;   // the root octet
  size_t length = 0; // characters of the presentation form so far
  bool fits = true;
  size_t pos = offset;
  size_t segment = offset; // start of the labels being read; pointers go before it
  bool jumped = false;
  unsigned jumps = 0;
  for (;;) {
    if (pos >= size) {
      error = dns_error::truncated;
      break;
    }
    const uint8_t c = data[pos];
    if (c == 0) {
      if (!jumped)
        next = pos + 1;
      dns_name_result r;
      r.next = next;
      r.wire_length = wire;
      r.text_length = length;
      r.fits = fits;
      return r;
    }
    if (c < 0x40) {
      if (pos + 1 + c > size) { // label past the end
        error = dns_error::truncated;
        break;
      }
      wire += 1 + static_cast<size_t>(c);
      if (wire > dns_max_name_wire) {
        error = dns_error::name_too_long;
        break;
      }
      const uint8_t* label = data + pos + 1;
      pos += 1 + static_cast<size_t>(c);
      const size_t dot = length > 0 ? 1 : 0;
      if (fits && length + dot + 4 * size_t{c} <= cap) {
        char* o = text + length;
        if (dot)
          *o++ = '.';
        length = static_cast<size_t>(put_label(label, c, o) - text);
      } else if (!fits) { // only counting now
        length += dot + label_text_length(label, c);
      } else { // near the end of the buffer: piece by piece, as far as it fits
        put_label_partial(label, c, dot, text, cap, length, fits);
      }
    } else if (c >= 0xc0) {
      if (pos + 1 >= size) {
        error = dns_error::truncated;
        break;
      }
      const size_t target = (static_cast<size_t>(c & 0x3f) << 8) | data[pos + 1];
      if (target >= segment) {
        error = dns_error::bad_pointer;
        break;
      }
      if (++jumps > dns_max_pointer_jumps) {
        error = dns_error::too_many_pointers;
        break;
      }
      if (!jumped) {
        next = pos + 2;
        jumped = true;
      }
      pos = segment = target;
    } else { // 0x40 extended, 0x80 reserved
      error = dns_error::bad_label_type;
      break;
    }
  }
  dns_name_result r;
  r.error = error;
  r.next = next;
  r.text_length = length;
  r.fits = fits;
  return r;
}

// dns_read_name for the usual case: a valid name whose every label has room
// in `cap` even if each of its bytes needs \DDD. Anything else (an error, a
// form near the end of the buffer, no buffer) starts over in
// read_name_general, which writes the same characters to the same places
// before it goes further.
dns_name_result read_name(const uint8_t* data, size_t size, size_t offset, char* text,
                          size_t cap) {
  if (text != nullptr) {
    size_t pos = offset;
    size_t segment = offset;
    size_t next = 0; // 0: no pointer followed yet
    size_t wire = 1;
    unsigned jumps = 0;
    char* o = text;
    char* const o_end = text + cap;
    while (pos < size) {
      const size_t c = data[pos];
      if (c - 1 < 0x3f) { // a label of 1-63 bytes
        const uint8_t* l = data + pos + 1;
        pos += 1 + c;
        wire += 1 + c;
        const size_t dot = o != text ? 1 : 0;
        if (pos > size || wire > dns_max_name_wire ||
            static_cast<size_t>(o_end - o) < dot + 4 * c)
          break;
        if (dot)
          *o++ = '.';
        o = put_label(l, c, o);
      } else if (c == 0) {
        dns_name_result r;
        r.next = next != 0 ? next : pos + 1;
        r.wire_length = wire;
        r.text_length = static_cast<size_t>(o - text);
        return r;
      } else if (c >= 0xc0) {
        if (pos + 1 >= size)
          break;
        const size_t target = ((c & 0x3f) << 8) | data[pos + 1];
        if (target >= segment || ++jumps > dns_max_pointer_jumps)
          break;
        if (next == 0)
          next = pos + 2;
        pos = segment = target;
      } else {
        break;
      }
    }
  }
  return read_name_general(data, size, offset, text, cap);
}

} // namespace

dns_name_result dns_read_name(const uint8_t* data, size_t size, size_t offset, char* text,
                              size_t cap) {
  return read_name(data, size, offset, text, cap);
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
  checked_names known;
  for (unsigned i = 0; i < h.qdcount; ++i) {
    const size_t name = pos;
    const dns_error e = check_name(data, size, name, pos, known);
    if (e != dns_error::ok)
      return e;
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
    if (!known.pointer_to_known(data, size, owner, pos)) {
      const dns_error e = check_name(data, size, owner, pos, known);
      if (e != dns_error::ok)
        return e;
    }
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
        size_t next = 0;
        const dns_error t = check_name(data, size, rdata, next, known);
        if (t != dns_error::ok)
          return t;
        if (next != end)
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

namespace {

template <class Sink>
dns_emit_stats emit_records(const dns_message& m, const dns_message_context& ctx,
                            Sink& out) {
  dns_emit_stats st;
  // Mark where this message's records begin (see dns_record::flags).
  struct mark_first {
    Sink& out;
    size_t first;
    ~mark_first() {
      if (out.size() > first)
        out.mark(first);
    }
  } mark{out, out.size()};
  if (!m.header.response()) {
    for (size_t i = 0; i < m.question_count; ++i) {
      const dns_question& q = m.questions[i];
      if (q.qclass != dns_class_in)
        continue;
      if (!out.query(m, ctx, q)) {
        ++st.long_names;
        continue;
      }
      ++st.records;
    }
    return st;
  }

  // The address records and CNAME edges; without an address there is
  // nothing to report, and the names need not be read.
  uint8_t addrs[dns_max_answers];
  size_t n_addrs = 0;
  for (size_t i = 0; i < m.answer_count; ++i)
    if (m.answers[i].type != dns_type::cname)
      addrs[n_addrs++] = static_cast<uint8_t>(i);
  if (n_addrs == 0)
    return st;

  // Index the answers: names (each distinct one decoded once), CNAME edges.
  name_table names;
  uint8_t owner_of[dns_max_answers];
  struct edge {
    uint8_t from; // alias (owner of the CNAME)
    uint8_t to;   // target
    uint32_t ttl;
  };
  edge edges[dns_max_answers];
  size_t n_edges = 0;
  for (size_t i = 0; i < m.answer_count; ++i) {
    const dns_answer& a = m.answers[i];
    owner_of[i] = static_cast<uint8_t>(names.intern(m, a.owner));
    if (a.type == dns_type::cname)
      edges[n_edges++] =
          edge{owner_of[i], static_cast<uint8_t>(names.intern(m, a.rdata)), a.ttl};
  }

  // The addresses in their 16-byte form (not ip_address, whose zeroing
  // constructor would run for every slot), and which of them are equal: for
  // the first record of each distinct address, the later ones follow as a
  // chain in message order (found through a small hash table, not by
  // comparing every pair).
  struct addr16 {
    uint64_t w[2];
    bool operator==(const addr16& o) const { return w[0] == o.w[0] && w[1] == o.w[1]; }
  };
  static_assert(sizeof(addr16) == sizeof(ip_address), "16 bytes");
  constexpr uint8_t none = 0xff;
  constexpr size_t addr_buckets = 2 * dns_max_answers; // at most half full
  static_assert(dns_max_answers < none && (addr_buckets & (addr_buckets - 1)) == 0,
                "indices fit a byte, buckets a mask");
  addr16 address[dns_max_answers];
  bool repeated[dns_max_answers];     // an earlier record has the same address
  uint8_t next_same[dns_max_answers]; // the next record with the same address
  uint8_t last_same[dns_max_answers]; // (first of an address) the last one so far
  uint8_t bucket[addr_buckets] = {};  // index + 1 of a first record; 0: empty
  for (size_t k = 0; k < n_addrs; ++k) {
    const ip_address a = answer_address(m, m.answers[addrs[k]]);
    addr16& x = address[k];
    std::memcpy(&x, a.bytes.data(), sizeof(addr16));
    size_t b = static_cast<size_t>(((x.w[0] ^ x.w[1]) * 0x9e3779b97f4a7c15ull) >> 56) &
               (addr_buckets - 1);
    while (bucket[b] != 0 && !(address[bucket[b] - 1] == x))
      b = (b + 1) & (addr_buckets - 1);
    next_same[k] = none;
    if (bucket[b] == 0) {
      bucket[b] = static_cast<uint8_t>(k + 1);
      repeated[k] = false;
      last_same[k] = static_cast<uint8_t>(k);
    } else {
      const size_t first = bucket[b] - 1u;
      repeated[k] = true;
      next_same[last_same[first]] = static_cast<uint8_t>(k);
      last_same[first] = static_cast<uint8_t>(k);
    }
  }

  // Per distinct address: the best TTL of every name that reaches it, one
  // CNAME hop per round (values of a round are computed from the previous
  // round only, so the depth bound is exact). A name's value is the
  // smallest TTL on its path; with several paths, the largest such value.
  // Values only grow and never exceed the largest seed, so loops end.
  struct name_value {
    int64_t best;
    int64_t pending;
  };
  name_value v[max_names];
  // The names whose value changed in the last round, one bit each.
  struct name_bits {
    uint64_t w[(max_names + 63) / 64];
    void clear() {
      for (uint64_t& x : w)
        x = 0;
    }
    bool test(size_t i) const { return (w[i / 64] >> (i % 64)) & 1; }
    void set(size_t i) { w[i / 64] |= uint64_t{1} << (i % 64); }
  } frontier;

  // The address records (owner, TTL) of an address seed its values; when
  // they are the same as those of the previous address (several addresses
  // of one name), so is the outcome, which is then used again.
  auto same_seeds = [&](size_t a, size_t b) {
    for (; a != none && b != none; a = next_same[a], b = next_same[b])
      if (owner_of[addrs[a]] != owner_of[addrs[b]] ||
          m.answers[addrs[a]].ttl != m.answers[addrs[b]].ttl)
        return false;
    return a == none && b == none;
  };
  size_t prev = none; // the previous distinct address
  bool prev_cut = false;

  out.begin_answers(ctx, names.count);

  for (size_t k = 0; k < n_addrs; ++k) {
    if (repeated[k])
      continue;
    if (prev == none || !same_seeds(k, prev)) {
      for (size_t i = 0; i < names.count; ++i)
        v[i].best = -1;
      frontier.clear();
      for (size_t j = k; j != none; j = next_same[j]) {
        const size_t o = owner_of[addrs[j]];
        v[o].best = std::max<int64_t>(v[o].best, m.answers[addrs[j]].ttl);
        frontier.set(o);
      }
      bool cut = false;
      bool active = n_edges > 0;
      for (unsigned depth = 0; active; ++depth) {
        for (size_t i = 0; i < names.count; ++i)
          v[i].pending = -1;
        bool improved = false;
        for (size_t e = 0; e < n_edges; ++e) {
          const edge& g = edges[e];
          if (!frontier.test(g.to))
            continue;
          const int64_t cand = std::min<int64_t>(g.ttl, v[g.to].best);
          if (cand > v[g.from].best && cand > v[g.from].pending) {
            v[g.from].pending = cand;
            improved = true;
          }
        }
        if (!improved)
          break;
        if (depth == dns_max_chain_depth) {
          cut = true; // a name further than the bound would be mapped
          break;
        }
        active = false;
        frontier.clear();
        for (size_t i = 0; i < names.count; ++i) {
          if (v[i].pending > v[i].best) {
            frontier.set(i);
            v[i].best = v[i].pending;
            active = true;
          }
        }
      }
      prev_cut = cut;
    }
    prev = k;
    if (prev_cut)
      ++st.chains_cut;

    out.set_address(&address[k]);
    for (size_t i = 0; i < names.count; ++i) {
      if (v[i].best < 0)
        continue;
      if (!out.select_name(names, m, i)) {
        ++st.long_names;
        continue;
      }
      out.answer(static_cast<uint32_t>(v[i].best));
      ++st.records;
    }
  }
  return st;
}

} // namespace

dns_emit_stats dns_emit_records(const dns_message& m, const dns_message_context& ctx,
                                std::vector<dns_record>& out) {
  record_sink sink{out, {}};
  return emit_records(m, ctx, sink);
}

dns_emit_stats dns_emit_records(const dns_message& m, const dns_message_context& ctx,
                                dns_facts& out) {
  fact_sink sink{out, {}, static_cast<size_t>(-1), {}, {}, {}};
  return emit_records(m, ctx, sink);
}

void dns_facts::push_back(const dns_record& r) {
  dns_fact f;
  f.address = r.address;
  f.client_mac = r.client_mac;
  f.kind = r.kind;
  f.flags = r.flags & dns_record::message_start;
  f.ttl = r.ttl;
  f.name_offset = static_cast<uint32_t>(text.size());
  f.name_len = r.name_len;
  text.append(r.name, r.name_len);
  facts.push_back(f);
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

template <class Out>
size_t dns_extractor::process(const packet_record& pkt, const parse_extras& extras,
                              int64_t timestamp_us, Out& out, bool capture_cut) {
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

template <class Out>
dns_error dns_extractor::process_message(const uint8_t* data, size_t size,
                                         dns_direction dir,
                                         const dns_message_context& ctx, Out& out) {
  // dns_message zeroes its 80 question and answer slots (about 900 bytes)
  // when constructed; parse_dns writes every field that is read afterwards
  // (the counts, and the slots below them), so one message object is kept and
  // reused instead of constructing one per packet.
  dns_message& m = *message_;
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

template <class Out>
void dns_extractor::process_tcp(const flow_key& key, const parse_extras& extras,
                                dns_direction dir, const dns_message_context& ctx,
                                Out& out, bool capture_cut) {
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

template <class Out>
void dns_extractor::feed(tcp_flow& f, const uint8_t* data, size_t len, dns_direction dir,
                         const dns_message_context& ctx, Out& out) {
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

// The two outputs: whole records (tests, tools) and compact facts (sources).
template size_t dns_extractor::process(const packet_record&, const parse_extras&, int64_t,
                                       std::vector<dns_record>&, bool);
template size_t dns_extractor::process(const packet_record&, const parse_extras&, int64_t,
                                       dns_facts&, bool);
template dns_error dns_extractor::process_message(const uint8_t*, size_t, dns_direction,
                                                  const dns_message_context&,
                                                  std::vector<dns_record>&);
template dns_error dns_extractor::process_message(const uint8_t*, size_t, dns_direction,
                                                  const dns_message_context&, dns_facts&);

} // namespace spin
