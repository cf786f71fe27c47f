// Wire-format helpers: addresses, checksums, big-endian stores, the DNS
// message writer (with name compression) and the pcap file writer.
#pragma once

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace tg {

// ---------------------------------------------------------------- addresses

struct Mac {
  std::array<std::uint8_t, 6> b{};
};

struct Addr {
  std::uint8_t family = 0; // 4 or 6
  std::array<std::uint8_t, 16> b{};

  static Addr v4(std::uint32_t host_order) {
    Addr a;
    a.family = 4;
    a.b[0] = static_cast<std::uint8_t>(host_order >> 24);
    a.b[1] = static_cast<std::uint8_t>(host_order >> 16);
    a.b[2] = static_cast<std::uint8_t>(host_order >> 8);
    a.b[3] = static_cast<std::uint8_t>(host_order);
    return a;
  }
  static Addr v4(int a, int b, int c, int d) {
    return v4((std::uint32_t(a) << 24) | (std::uint32_t(b) << 16) |
              (std::uint32_t(c) << 8) | std::uint32_t(d));
  }
  // From eight 16-bit groups.
  static Addr v6(std::array<std::uint16_t, 8> g) {
    Addr a;
    a.family = 6;
    for (int i = 0; i < 8; ++i) {
      a.b[2 * i] = static_cast<std::uint8_t>(g[i] >> 8);
      a.b[2 * i + 1] = static_cast<std::uint8_t>(g[i]);
    }
    return a;
  }
  std::size_t len() const { return family == 6 ? 16 : 4; }
  bool operator==(const Addr& o) const {
    return family == o.family && std::memcmp(b.data(), o.b.data(), len()) == 0;
  }
  bool operator!=(const Addr& o) const { return !(*this == o); }
};

inline constexpr char kHex[] = "0123456789abcdef";

inline std::string mac_string(const Mac& m) {
  std::string s;
  for (int i = 0; i < 6; ++i) {
    if (i)
      s += ':';
    s += kHex[m.b[i] >> 4];
    s += kHex[m.b[i] & 15];
  }
  return s;
}

// inet_ntop style text (RFC 5952 for IPv6: lowercase, no leading zeros, the
// longest run of two or more zero groups - the first one on a tie - is "::").
inline std::string addr_string(const Addr& a) {
  std::string s;
  if (a.family == 4) {
    for (int i = 0; i < 4; ++i) {
      if (i)
        s += '.';
      s += std::to_string(a.b[i]);
    }
    return s;
  }
  std::uint16_t g[8];
  for (int i = 0; i < 8; ++i)
    g[i] = static_cast<std::uint16_t>((a.b[2 * i] << 8) | a.b[2 * i + 1]);
  int best = -1, best_len = 0;
  for (int i = 0; i < 8;) {
    if (g[i] != 0) {
      ++i;
      continue;
    }
    int j = i;
    while (j < 8 && g[j] == 0)
      ++j;
    if (j - i > best_len) {
      best = i;
      best_len = j - i;
    }
    i = j;
  }
  if (best_len < 2)
    best = -1;
  for (int i = 0; i < 8; ++i) {
    if (i == best) {
      s += "::";
      i += best_len - 1;
      continue;
    }
    if (!s.empty() && s.back() != ':')
      s += ':';
    char buf[8];
    std::snprintf(buf, sizeof buf, "%x", g[i]);
    s += buf;
  }
  return s;
}

// ---------------------------------------------------------------- bytes

inline void put16(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}
inline void put32(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}

// One's complement sum of n bytes (big-endian 16-bit words, odd tail padded
// with zero). Trailing zero bytes do not change the sum, which is why data
// packets can carry all-zero payloads without being materialised.
inline std::uint32_t csum_add(std::uint32_t acc, const std::uint8_t* p, std::size_t n) {
  std::size_t i = 0;
  for (; i + 1 < n; i += 2)
    acc += (std::uint32_t(p[i]) << 8) | p[i + 1];
  if (i < n)
    acc += std::uint32_t(p[i]) << 8;
  return acc;
}
inline std::uint16_t csum_fold(std::uint32_t acc) {
  while (acc >> 16)
    acc = (acc & 0xffff) + (acc >> 16);
  return static_cast<std::uint16_t>(~acc & 0xffff);
}

// ---------------------------------------------------------------- DNS writer

// Writes a DNS message into a caller-provided buffer. Names are compressed
// the way real servers do it: every suffix already present in the message
// (at an offset < 0x4000) is replaced by a pointer.
class DnsWriter {
public:
  DnsWriter(std::uint8_t* out, std::size_t cap) : out_(out), cap_(cap) {}

  std::size_t size() const { return len_; }
  std::uint8_t* data() { return out_; }
  bool ok() const { return !overflow_; }

  void u8(std::uint32_t v) {
    if (!room(1))
      return;
    out_[len_++] = static_cast<std::uint8_t>(v);
  }
  void u16(std::uint32_t v) {
    if (!room(2))
      return;
    put16(out_ + len_, v);
    len_ += 2;
  }
  void u32(std::uint32_t v) {
    if (!room(4))
      return;
    put32(out_ + len_, v);
    len_ += 4;
  }
  void bytes(const void* p, std::size_t n) {
    if (!room(n))
      return;
    std::memcpy(out_ + len_, p, n);
    len_ += n;
  }
  // Reserve a 16-bit field (e.g. RDLENGTH) and return its offset.
  std::size_t hole16() {
    const std::size_t at = len_;
    u16(0);
    return at;
  }
  void patch16(std::size_t at, std::uint32_t v) {
    if (at + 2 <= len_)
      put16(out_ + at, v);
  }

  // Domain name with compression. `name` must outlive the writer.
  void name(std::string_view name, bool compress = true) {
    std::size_t pos = 0;
    while (pos < name.size()) {
      const std::string_view suffix = name.substr(pos);
      if (compress) {
        for (const auto& e : dict_) {
          if (e.suffix == suffix) {
            u16(0xc000u | e.offset);
            return;
          }
        }
        if (len_ < 0x3fff)
          dict_.push_back({suffix, static_cast<std::uint16_t>(len_)});
      }
      std::size_t dot = name.find('.', pos);
      if (dot == std::string_view::npos)
        dot = name.size();
      const std::size_t label = dot - pos;
      u8(static_cast<std::uint32_t>(label));
      bytes(name.data() + pos, label);
      pos = dot + 1;
    }
    u8(0);
  }

private:
  bool room(std::size_t n) {
    if (len_ + n > cap_) {
      overflow_ = true;
      return false;
    }
    return true;
  }
  struct Entry {
    std::string_view suffix;
    std::uint16_t offset;
  };
  std::uint8_t* out_;
  std::size_t cap_;
  std::size_t len_ = 0;
  bool overflow_ = false;
  std::vector<Entry> dict_;
};

// ---------------------------------------------------------------- pcap

// Classic libpcap format, microsecond timestamps, little-endian host order
// written explicitly so the file is identical on any host.
class PcapWriter {
public:
  PcapWriter() = default;
  PcapWriter(const PcapWriter&) = delete;
  PcapWriter& operator=(const PcapWriter&) = delete;
  ~PcapWriter() { close(); }

  bool open(const std::string& path, std::uint32_t snaplen) {
    f_ = std::fopen(path.c_str(), "wb");
    if (!f_)
      return false;
    buf_.resize(kBuf);
    std::uint8_t h[24];
    le32(h + 0, 0xa1b2c3d4u);
    le16(h + 4, 2);
    le16(h + 6, 4);
    le32(h + 8, 0);  // thiszone
    le32(h + 12, 0); // sigfigs
    le32(h + 16, snaplen);
    le32(h + 20, 1); // LINKTYPE_ETHERNET
    append(h, sizeof h);
    return true;
  }

  void record(std::uint64_t ts_us, const std::uint8_t* data, std::uint32_t incl,
              std::uint32_t orig) {
    std::uint8_t h[16];
    le32(h + 0, static_cast<std::uint32_t>(ts_us / 1000000));
    le32(h + 4, static_cast<std::uint32_t>(ts_us % 1000000));
    le32(h + 8, incl);
    le32(h + 12, orig);
    append(h, sizeof h);
    append(data, incl);
  }

  bool close() {
    if (!f_)
      return true;
    flush();
    const bool ok = !error_ && std::fclose(f_) == 0;
    f_ = nullptr;
    return ok;
  }
  bool failed() const { return error_; }
  std::uint64_t bytes_written() const { return total_; }

private:
  static constexpr std::size_t kBuf = 1 << 22;
  static void le16(std::uint8_t* p, std::uint32_t v) {
    p[0] = static_cast<std::uint8_t>(v);
    p[1] = static_cast<std::uint8_t>(v >> 8);
  }
  static void le32(std::uint8_t* p, std::uint32_t v) {
    for (int i = 0; i < 4; ++i)
      p[i] = static_cast<std::uint8_t>(v >> (8 * i));
  }
  void append(const std::uint8_t* p, std::size_t n) {
    total_ += n;
    if (used_ + n > buf_.size())
      flush();
    if (n > buf_.size()) {
      if (std::fwrite(p, 1, n, f_) != n)
        error_ = true;
      return;
    }
    std::memcpy(buf_.data() + used_, p, n);
    used_ += n;
  }
  void flush() {
    if (used_ && std::fwrite(buf_.data(), 1, used_, f_) != used_)
      error_ = true;
    used_ = 0;
  }
  std::FILE* f_ = nullptr;
  std::vector<std::uint8_t> buf_;
  std::size_t used_ = 0;
  std::uint64_t total_ = 0;
  bool error_ = false;
};

} // namespace tg
