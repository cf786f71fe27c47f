// spin_nflogdump: runs spin's NFLOG source on the given groups for SECONDS
// seconds (or until SIGINT/SIGTERM), with a one-shard queue bridge and a
// consumer thread that adds up the records of every interval. At the end it
// prints on stdout one line per (second, flow, source MAC):
//
//   SECOND FAMILY PROTO SRC DST SPORT DPORT PACKETS BYTES SRC_MAC
//
// (FAMILY 4 or 6, PROTO the IP protocol number, BYTES IP-layer bytes, SRC_MAC
// "-" when unknown), then one `dns ANSWER|QUERY ADDRESS NAME TTL` line per
// DNS record of the side batches and a `dns_records N` line. On stderr:
// `ready` once every group is bound, an `interval SECOND packets N bytes B
// dns_records D received R lost L enobufs E dropped X` line per closed
// interval (the interval's records; then running totals: DNS records, packets
// received by the source, its loss counters), and at the end a `status` line
// with every counter of the source (key=value). For tests (run it inside a
// network namespace: NFLOG groups are per namespace).

#include "spin/runtime/log.hpp"
#include "spin/runtime/nflog_source.hpp"
#include "spin/runtime/queue_bridge.hpp"

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <mutex>
#include <pthread.h>
#include <signal.h>
#include <string>
#include <thread>
#include <vector>

namespace {

void usage(FILE* to) {
  std::fputs(
      "usage: spin_nflogdump [options] SECONDS GROUP[:SNAPLEN]...\n"
      "Reads the NFLOG groups for SECONDS seconds (or until SIGINT/SIGTERM) and\n"
      "prints per second and flow: SECOND FAMILY PROTO SRC DST SPORT DPORT PACKETS\n"
      "BYTES SRC_MAC, then the DNS records and their count; counters on stderr.\n"
      "options:\n"
      "  --no-count GROUP        take only DNS from GROUP (another source counts)\n"
      "  --rcvbuf BYTES          socket receive buffer (default 8 MiB)\n"
      "  --qthresh N             packets per netlink message (default 64)\n"
      "  --queue-capacity N      shard queue bound in records (default 262144)\n"
      "  --slow-consumer-us N    the consumer sleeps N us after every batch\n",
      to);
}

bool parse_number(const char* s, unsigned long long max, unsigned long long& out) {
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v > max)
    return false;
  out = v;
  return true;
}

// One output line's identity: second, flow key and source MAC.
struct line_key {
  int64_t second = 0;
  spin::flow_key key;
  spin::mac_address mac;

  bool operator<(const line_key& o) const {
    if (second != o.second)
      return second < o.second;
    int c = std::memcmp(&key, &o.key, sizeof(key));
    if (c != 0)
      return c < 0;
    return std::memcmp(mac.bytes.data(), o.mac.bytes.data(), 6) < 0;
  }
};

struct totals {
  uint64_t packets = 0;
  uint64_t bytes = 0;
};

// Drains the shard queue and adds records up per interval.
class consumer {
public:
  consumer(spin::queue_bridge& bridge, unsigned slow_us)
      : bridge_(bridge), slow_us_(slow_us) {
    bridge_.set_waker(0, [this] {
      std::lock_guard<std::mutex> guard{mutex_};
      woken_ = true;
      cv_.notify_one();
    });
    thread_ = std::thread([this] { run(); });
  }

  // Drains what is left (the source has stopped) and joins.
  void finish() {
    {
      std::lock_guard<std::mutex> guard{mutex_};
      done_ = true;
      cv_.notify_one();
    }
    thread_.join();
    bridge_.set_waker(0, {});
  }

  // Records after the last marker (none when the source closed its interval).
  const std::map<line_key, totals>& results() const { return results_; }
  const std::map<line_key, totals>& unclosed() const { return current_; }

  void add_dns(uint64_t n) {
    std::lock_guard<std::mutex> guard{mutex_};
    dns_seen_ += n;
  }

  /// Adds the source's loss counters to the interval lines.
  void set_source(const spin::nflog_source* s) {
    std::lock_guard<std::mutex> guard{mutex_};
    source_ = s;
  }

private:
  void run() {
    auto tok = bridge_.consumer_token(0);
    std::vector<spin::packet_record> buf(1024);
    for (;;) {
      size_t n = bridge_.try_dequeue(0, tok, buf.data(), buf.size());
      if (n > 0) {
        for (size_t i = 0; i < n; ++i)
          handle(buf[i]);
        bridge_.consumed(0, n);
        if (slow_us_ > 0)
          std::this_thread::sleep_for(std::chrono::microseconds(slow_us_));
        continue;
      }
      std::unique_lock<std::mutex> lock{mutex_};
      if (done_ && bridge_.depth(0) <= 0)
        break;
      if (bridge_.depth(0) > 0)
        continue; // counted but not yet visible: try again
      cv_.wait_for(lock, std::chrono::milliseconds(50),
                   [this] { return woken_ || done_; });
      woken_ = false;
    }
  }

  void handle(const spin::packet_record& r) {
    switch (r.kind) {
    case spin::record_kind::packet: {
      line_key k;
      k.key = r.key;
      k.mac = r.src_mac;
      auto& t = current_[k];
      t.packets += r.packets();
      t.bytes += r.ip_bytes;
      break;
    }
    case spin::record_kind::interval_end: {
      int64_t sec = r.marker_second();
      totals sum;
      for (auto& [k, t] : current_) {
        line_key key = k;
        key.second = sec;
        auto& out = results_[key];
        out.packets += t.packets;
        out.bytes += t.bytes;
        sum.packets += t.packets;
        sum.bytes += t.bytes;
      }
      current_.clear();
      uint64_t dns;
      std::map<std::string, int64_t> c;
      {
        std::lock_guard<std::mutex> guard{mutex_};
        dns = dns_seen_;
        if (source_)
          c = source_->status().counters;
      }
      std::fprintf(
          stderr,
          "interval %lld packets %llu bytes %llu dns_records %llu received %lld "
          "lost %lld enobufs %lld dropped %lld\n",
          static_cast<long long>(sec), static_cast<unsigned long long>(sum.packets),
          static_cast<unsigned long long>(sum.bytes),
          static_cast<unsigned long long>(dns), static_cast<long long>(c["packets"]),
          static_cast<long long>(c["lost"]), static_cast<long long>(c["enobufs"]),
          static_cast<long long>(c["dropped"]));
      break;
    }
    case spin::record_kind::end_of_stream:
      break;
    }
  }

  spin::queue_bridge& bridge_;
  unsigned slow_us_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool woken_ = false;
  bool done_ = false;
  uint64_t dns_seen_ = 0;
  const spin::nflog_source* source_ = nullptr;
  std::map<line_key, totals> current_;
  std::map<line_key, totals> results_;
};

void print_line(const line_key& k, const totals& t, const char* second) {
  std::string mac = k.mac.empty() ? "-" : k.mac.to_string();
  std::printf("%s %u %u %s %s %u %u %llu %llu %s\n", second,
              static_cast<unsigned>(k.key.family), static_cast<unsigned>(k.key.proto),
              k.key.src.to_string().c_str(), k.key.dst.to_string().c_str(),
              static_cast<unsigned>(k.key.sport), static_cast<unsigned>(k.key.dport),
              static_cast<unsigned long long>(t.packets),
              static_cast<unsigned long long>(t.bytes), mac.c_str());
}

} // namespace

int main(int argc, char** argv) {
  spin::log_settings ls;
  ls.ident = "spin_nflogdump";
  spin::log_configure(ls);

  unsigned long long seconds = 0, v = 0;
  bool have_seconds = false;
  std::vector<spin::nflog_source::group> groups;
  std::vector<unsigned> no_count;
  spin::nflog_source::options opts;
  size_t capacity = 1u << 18;
  unsigned slow_us = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](unsigned long long max) {
      if (i + 1 >= argc || !parse_number(argv[i + 1], max, v)) {
        std::fprintf(stderr, "spin_nflogdump: %s needs a number up to %llu\n", a.c_str(),
                     max);
        std::exit(2);
      }
      ++i;
      return v;
    };
    if (a == "--help" || a == "-h") {
      usage(stdout);
      return 0;
    } else if (a == "--no-count") {
      no_count.push_back(static_cast<unsigned>(value(65535)));
    } else if (a == "--rcvbuf") {
      opts.rcvbuf = static_cast<size_t>(value(1ull << 30));
    } else if (a == "--qthresh") {
      opts.qthresh = static_cast<uint32_t>(value(1u << 20));
    } else if (a == "--queue-capacity") {
      capacity = static_cast<size_t>(value(1ull << 30));
    } else if (a == "--slow-consumer-us") {
      slow_us = static_cast<unsigned>(value(1000000));
    } else if (!a.empty() && a[0] == '-') {
      usage(stderr);
      return 2;
    } else if (!have_seconds) {
      if (!parse_number(a.c_str(), 86400, seconds)) {
        usage(stderr);
        return 2;
      }
      have_seconds = true;
    } else {
      spin::nflog_source::group g;
      auto colon = a.find(':');
      unsigned long long number = 0, snaplen = 0xffff;
      if (!parse_number(a.substr(0, colon).c_str(), 65535, number) ||
          (colon != std::string::npos &&
           !parse_number(a.substr(colon + 1).c_str(), 0xffff, snaplen))) {
        std::fprintf(stderr, "spin_nflogdump: bad group '%s' (GROUP or GROUP:SNAPLEN)\n",
                     a.c_str());
        return 2;
      }
      g.number = static_cast<uint16_t>(number);
      g.snaplen = static_cast<uint32_t>(snaplen);
      groups.push_back(g);
    }
  }
  if (!have_seconds || groups.empty()) {
    usage(stderr);
    return 2;
  }
  for (unsigned n : no_count) {
    bool found = false;
    for (auto& g : groups)
      if (g.number == n) {
        g.count_traffic = false;
        found = true;
      }
    if (!found) {
      std::fprintf(stderr, "spin_nflogdump: --no-count %u names no group given\n", n);
      return 2;
    }
  }
  opts.groups = groups;

  // Signals are taken by sigtimedwait() below, in this thread only.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  spin::queue_bridge bridge(1, capacity);
  consumer cons(bridge, slow_us);
  std::mutex dns_mutex;
  spin::dns_facts dns;
  opts.on_side = [&](spin::side_batch_ptr b) {
    cons.add_dns(b->dns.size());
    std::lock_guard<std::mutex> guard{dns_mutex};
    for (auto& f : b->dns.facts) {
      spin::dns_fact copy = f;
      copy.name_offset = static_cast<uint32_t>(dns.text.size());
      dns.text.append(b->dns.name(f));
      dns.facts.push_back(copy);
    }
  };

  spin::nflog_source source(opts, bridge);
  std::string error;
  if (!source.start(error)) {
    std::fprintf(stderr, "spin_nflogdump: %s\n", error.c_str());
    cons.finish();
    return 1;
  }
  cons.set_source(&source);
  std::fprintf(stderr, "ready\n");

  struct timespec deadline;
  clock_gettime(CLOCK_MONOTONIC, &deadline);
  deadline.tv_sec += static_cast<time_t>(seconds);
  for (;;) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t left_ns =
        (deadline.tv_sec - now.tv_sec) * 1000000000ll + (deadline.tv_nsec - now.tv_nsec);
    if (left_ns <= 0)
      break;
    struct timespec wait = {static_cast<time_t>(left_ns / 1000000000ll),
                            static_cast<long>(left_ns % 1000000000ll)};
    int sig = sigtimedwait(&sigs, nullptr, &wait);
    if (sig == SIGINT || sig == SIGTERM)
      break;
  }

  source.stop();
  cons.finish();
  cons.set_source(nullptr);

  for (auto& [k, t] : cons.results()) {
    std::string sec = std::to_string(k.second);
    print_line(k, t, sec.c_str());
  }
  for (auto& [k, t] : cons.unclosed())
    print_line(k, t, "open");
  {
    std::lock_guard<std::mutex> guard{dns_mutex};
    for (auto& r : dns.facts) {
      auto name = dns.name(r);
      std::printf("dns %s %s %.*s %u\n",
                  r.kind == spin::dns_record_kind::answer ? "ANSWER" : "QUERY",
                  r.address.to_string().c_str(), static_cast<int>(name.size()),
                  name.data(), static_cast<unsigned>(r.ttl));
    }
    std::printf("dns_records %zu\n", dns.size());
  }
  int status = std::fflush(stdout) == 0 ? 0 : 1;

  auto st = source.status();
  std::fprintf(stderr, "status");
  for (auto& [k, val] : st.counters)
    std::fprintf(stderr, " %s=%lld", k.c_str(), static_cast<long long>(val));
  std::fprintf(stderr, "\n");
  if (!st.last_error.empty())
    std::fprintf(stderr, "last_error %s\n", st.last_error.c_str());
  return status;
}
