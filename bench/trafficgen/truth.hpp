// Ground-truth accounting: per-second totals and (optionally) per-second
// flow counters, written as CSV while the capture is generated. Memory is
// bounded by the number of flows in one second.
#pragma once

#include "wire.hpp"
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

namespace tg {

struct FlowKey {
  std::uint8_t family = 0;
  std::uint8_t proto = 0;
  std::uint16_t sport = 0;
  std::uint16_t dport = 0;
  std::array<std::uint8_t, 16> src{};
  std::array<std::uint8_t, 16> dst{};

  bool operator==(const FlowKey& o) const {
    return family == o.family && proto == o.proto && sport == o.sport &&
           dport == o.dport && src == o.src && dst == o.dst;
  }
};

struct FlowKeyHash {
  std::size_t operator()(const FlowKey& k) const {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    auto mix = [&h](std::uint64_t v) {
      h ^= v;
      h *= 0x100000001b3ULL;
      h ^= h >> 29;
    };
    std::uint64_t w[4];
    std::memcpy(w, k.src.data(), 16);
    std::memcpy(w + 2, k.dst.data(), 16);
    mix(w[0]);
    mix(w[1]);
    mix(w[2]);
    mix(w[3]);
    mix((std::uint64_t(k.family) << 56) | (std::uint64_t(k.proto) << 48) |
        (std::uint64_t(k.sport) << 16) | k.dport);
    return static_cast<std::size_t>(h);
  }
};

// Small buffered text writer (faster than fprintf for millions of lines).
class CsvOut {
public:
  bool open(const std::string& path) {
    f_ = std::fopen(path.c_str(), "wb");
    return f_ != nullptr;
  }
  ~CsvOut() { close(); }
  void str(const std::string& s) { raw(s.data(), s.size()); }
  void str(const char* s) { raw(s, std::strlen(s)); }
  void ch(char c) { raw(&c, 1); }
  void num(std::uint64_t v) {
    char b[24];
    auto r = std::to_chars(b, b + sizeof b, v);
    raw(b, static_cast<std::size_t>(r.ptr - b));
  }
  void snum(std::int64_t v) {
    char b[24];
    auto r = std::to_chars(b, b + sizeof b, v);
    raw(b, static_cast<std::size_t>(r.ptr - b));
  }
  void raw(const char* p, std::size_t n) {
    if (buf_.size() + n > kFlush)
      flush();
    buf_.append(p, n);
  }
  bool close() {
    if (!f_)
      return true;
    flush();
    const bool ok = !error_ && std::fclose(f_) == 0;
    f_ = nullptr;
    return ok;
  }
  bool is_open() const { return f_ != nullptr; }

private:
  static constexpr std::size_t kFlush = 1 << 20;
  void flush() {
    if (!buf_.empty() && f_ &&
        std::fwrite(buf_.data(), 1, buf_.size(), f_) != buf_.size())
      error_ = true;
    buf_.clear();
  }
  std::FILE* f_ = nullptr;
  std::string buf_;
  bool error_ = false;
};

class Truth {
public:
  // Totals are always kept (they feed the summary); files only with a prefix.
  bool open(const std::string& prefix, bool flows) {
    files_ = true;
    flows_ = flows;
    if (!seconds_.open(prefix + ".seconds.csv"))
      return false;
    seconds_.str("second,packets,bytes\n");
    if (flows_) {
      if (!flows_out_.open(prefix + ".flows.csv"))
        return false;
      flows_out_.str("second,family,proto,src,dst,sport,dport,packets,bytes\n");
    }
    return true;
  }

  void add(std::int64_t second, const FlowKey& key, std::uint32_t bytes) {
    if (second != cur_) {
      flush_second();
      cur_ = second;
      if (first_ < 0)
        first_ = second;
    }
    ++sec_packets_;
    sec_bytes_ += bytes;
    ++ip_packets_;
    ip_bytes_ += bytes;
    if (!flows_)
      return;
    auto [it, inserted] =
        index_.try_emplace(key, static_cast<std::uint32_t>(flows_in_sec_.size()));
    if (inserted)
      flows_in_sec_.push_back({key, 0, 0});
    auto& f = flows_in_sec_[it->second];
    ++f.packets;
    f.bytes += bytes;
  }

  bool finish() {
    flush_second();
    bool ok = seconds_.close();
    ok = flows_out_.close() && ok;
    return ok;
  }

  std::uint64_t ip_packets() const { return ip_packets_; }
  std::uint64_t ip_bytes() const { return ip_bytes_; }
  std::int64_t first_second() const { return first_; }
  std::int64_t last_second() const { return cur_; }

private:
  struct Flow {
    FlowKey key;
    std::uint64_t packets;
    std::uint64_t bytes;
  };

  const std::string& text(const std::uint8_t* bytes, std::uint8_t family) {
    Addr a;
    a.family = family;
    std::memcpy(a.b.data(), bytes, a.len());
    std::string key(reinterpret_cast<const char*>(a.b.data()), a.len());
    auto it = names_.find(key);
    if (it != names_.end())
      return it->second;
    if (names_.size() > 100000)
      names_.clear(); // bound the cache
    return names_.emplace(std::move(key), addr_string(a)).first->second;
  }

  void flush_second() {
    if (cur_ < 0 || sec_packets_ == 0)
      return;
    if (files_) {
      seconds_.snum(cur_);
      seconds_.ch(',');
      seconds_.num(sec_packets_);
      seconds_.ch(',');
      seconds_.num(sec_bytes_);
      seconds_.ch('\n');
    }
    if (flows_) {
      for (const auto& f : flows_in_sec_) {
        flows_out_.snum(cur_);
        flows_out_.ch(',');
        flows_out_.num(f.key.family);
        flows_out_.ch(',');
        flows_out_.num(f.key.proto);
        flows_out_.ch(',');
        flows_out_.str(text(f.key.src.data(), f.key.family));
        flows_out_.ch(',');
        flows_out_.str(text(f.key.dst.data(), f.key.family));
        flows_out_.ch(',');
        flows_out_.num(f.key.sport);
        flows_out_.ch(',');
        flows_out_.num(f.key.dport);
        flows_out_.ch(',');
        flows_out_.num(f.packets);
        flows_out_.ch(',');
        flows_out_.num(f.bytes);
        flows_out_.ch('\n');
      }
      flows_in_sec_.clear();
      index_.clear();
    }
    sec_packets_ = 0;
    sec_bytes_ = 0;
  }

  bool files_ = false;
  bool flows_ = false;
  CsvOut seconds_;
  CsvOut flows_out_;
  std::int64_t cur_ = -1;
  std::int64_t first_ = -1;
  std::uint64_t sec_packets_ = 0;
  std::uint64_t sec_bytes_ = 0;
  std::uint64_t ip_packets_ = 0;
  std::uint64_t ip_bytes_ = 0;
  std::vector<Flow> flows_in_sec_;
  std::unordered_map<FlowKey, std::uint32_t, FlowKeyHash> index_;
  std::unordered_map<std::string, std::string> names_;
};

} // namespace tg
