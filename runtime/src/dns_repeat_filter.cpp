#include "spin/runtime/dns_repeat_filter.hpp"

#include <cstring>

namespace spin {

namespace {

constexpr uint64_t k0 = 0x9e3779b97f4a7c15ull;
constexpr uint64_t k1 = 0xbf58476d1ce4e5b9ull;

inline uint64_t mix(uint64_t h, uint64_t v) {
  h = (h ^ v) * k1;
  return h ^ (h >> 31);
}

// Hashes [p, p + n) into h, 8 bytes at a time: a multiply-add per word (no
// dependency on the previous word's mixing), one mix at the end.
inline uint64_t hash_range(uint64_t h, const uint8_t* p, size_t n) {
  uint64_t acc = h ^ (static_cast<uint64_t>(n) * k0);
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    acc = (acc + w) * k0;
    acc ^= acc >> 29;
    p += 8;
    n -= 8;
  }
  uint64_t w = 0;
  std::memcpy(&w, p, n);
  return mix(acc, w);
}

// Skips a (possibly compressed) name at `off`; returns the offset after it,
// or 0 if it runs past the end or is not a valid label sequence.
size_t skip_name(const uint8_t* m, size_t len, size_t off) {
  for (int labels = 0; labels < 128; ++labels) {
    if (off >= len)
      return 0;
    uint8_t b = m[off];
    if (b == 0)
      return off + 1;
    if ((b & 0xc0) == 0xc0)
      return off + 2 <= len ? off + 2 : 0;
    if (b & 0xc0)
      return 0;
    off += 1 + b;
  }
  return 0;
}

} // namespace

dns_repeat_filter::dns_repeat_filter(int64_t response_window_us, int64_t query_window_us,
                                     size_t slots)
    : response_window_us_(response_window_us), query_window_us_(query_window_us) {
  size_t n = 16;
  while (n < slots)
    n <<= 1;
  slots_.assign(n, slot{});
  mask_ = n - 1;
  claims_.assign(n, claim{});
  claim_mask_ = n - 1;
}

bool dns_repeat_filter::repeated(const uint8_t* m, size_t len, const ip_address& client,
                                 int64_t now_us) {
  if (len < 12)
    return false;
  bool response = (m[2] & 0x80) != 0;
  int64_t window = response ? response_window_us_ : query_window_us_;
  if (window <= 0)
    return false;
  unsigned qd = static_cast<unsigned>(m[4] << 8 | m[5]);
  unsigned an = static_cast<unsigned>(m[6] << 8 | m[7]);
  if (qd > 16 || an > 64)
    return false; // unusual: let the parser judge
  // Queries: the client and the names asked (A and AAAA questions for one
  // name are one question to spind). Responses: the flags and counts, the
  // questions, and the answers as an unordered set (resolvers rotate the
  // order of round-robin addresses), TTLs masked.
  uint64_t h =
      response ? hash_range(k0, m + 2, 10) : hash_range(k0, client.bytes.data(), 16);
  size_t off = 12;
  uint64_t addrs[64];
  unsigned n_addrs = 0;
  for (unsigned i = 0; i < qd; ++i) {
    size_t end = skip_name(m, len, off);
    if (end == 0 || end + 4 > len)
      return false;
    h = hash_range(h, m + off, (response ? end + 4 : end) - off);
    off = end + 4;
  }
  uint64_t answers = 0;
  for (unsigned i = 0; i < an; ++i) {
    size_t end = skip_name(m, len, off);
    if (end == 0 || end + 10 > len)
      return false;
    size_t rdlen = static_cast<size_t>(m[end + 8] << 8 | m[end + 9]);
    if (end + 10 + rdlen > len)
      return false;
    // name, type, class; then rdlength and rdata (the TTL is skipped)
    uint64_t r =
        hash_range(hash_range(k1, m + off, end + 4 - off), m + end + 8, 2 + rdlen);
    answers += r; // order-insensitive
    unsigned type = static_cast<unsigned>(m[end] << 8 | m[end + 1]);
    if (response && ((type == 1 && rdlen == 4) || (type == 28 && rdlen == 16)))
      addrs[n_addrs++] = hash_range(k1, m + end + 10, rdlen);
    off = end + 10 + rdlen;
  }
  h = mix(h, answers);
  if (h == 0)
    h = 1;
  auto& s = slots_[h & mask_];
  if (s.hash == h && now_us - s.when < window && now_us >= s.when) {
    // Not a repeat if another answer claimed one of its addresses since: the
    // last answer must win (doc/nodes.md).
    bool claimed_by_other = false;
    for (unsigned i = 0; i < n_addrs && !claimed_by_other; ++i) {
      auto& c = claims_[addrs[i] & claim_mask_];
      claimed_by_other = c.address == addrs[i] && c.message != h;
    }
    if (!claimed_by_other) {
      ++skipped_;
      return true;
    }
  }
  s.hash = h;
  s.when = now_us;
  for (unsigned i = 0; i < n_addrs; ++i) {
    auto& c = claims_[addrs[i] & claim_mask_];
    c.address = addrs[i];
    c.message = h;
  }
  return false;
}

} // namespace spin
