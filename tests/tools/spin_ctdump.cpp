// spin_ctdump: runs spin's conntrack source for SECONDS seconds (or until
// SIGINT/SIGTERM) with a one-shard queue bridge and a consumer thread that
// adds the records up per interval. At the end it prints one line per
// (second, family, protocol, source, destination, source port, destination
// port) on standard output:
//
//   SECOND FAMILY PROTO SRC DST SPORT DPORT PACKETS BYTES
//
// and the source's status counters on standard error. While it runs, stderr
// also gets "spin_ctdump: ready" once the baseline dump is done, and one
// "spin_ctdump: interval SECOND" line per closed interval. Used by
// tests/integration/test_conntrack.py inside a network namespace.
#include "spin/runtime/conntrack_source.hpp"
#include "spin/runtime/log.hpp"
#include "spin/runtime/queue_bridge.hpp"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

namespace {

void usage(FILE* to) {
  std::fputs("usage: spin_ctdump SECONDS [--dump-interval-ms MS] [--max-connections N]\n"
             "                   [--rcvbuf BYTES]\n"
             "Runs spin's conntrack source (needs CAP_NET_ADMIN) for SECONDS seconds\n"
             "or until SIGINT/SIGTERM, then prints per second and flow:\n"
             "  SECOND FAMILY PROTO SRC DST SPORT DPORT PACKETS BYTES\n"
             "and the source's counters on stderr.\n",
             to);
}

// Sorts the output by second, then by the flow's fields.
using flow_id = std::tuple<int, int, std::string, std::string, int, int>;

struct volume {
  unsigned long long packets = 0;
  unsigned long long bytes = 0;
};

flow_id id_of(const spin::flow_key& k) {
  return {k.family, k.proto, k.src.to_string(), k.dst.to_string(), k.sport, k.dport};
}

bool parse_number(const char* text, long long& out) {
  char* end = nullptr;
  errno = 0;
  out = std::strtoll(text, &end, 10);
  return errno == 0 && end != text && *end == '\0' && out >= 0;
}

} // namespace

int main(int argc, char** argv) {
  spin::conntrack_source::options opts;
  long long seconds = -1;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    long long n = 0;
    if (a == "-h" || a == "--help") {
      usage(stdout);
      return 0;
    }
    if ((a == "--dump-interval-ms" || a == "--max-connections" || a == "--rcvbuf") &&
        i + 1 < argc && parse_number(argv[i + 1], n)) {
      ++i;
      if (a == "--dump-interval-ms")
        opts.dump_interval_ms = n;
      else if (a == "--max-connections")
        opts.max_connections = static_cast<size_t>(n);
      else
        opts.rcvbuf = static_cast<size_t>(n);
    } else if (seconds < 0 && parse_number(argv[i], n)) {
      seconds = n;
    } else {
      usage(stderr);
      return 2;
    }
  }
  if (seconds < 0) {
    usage(stderr);
    return 2;
  }

  // SIGINT/SIGTERM end the run early; block them before any thread starts so
  // that only sigtimedwait() below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  spin::queue_bridge bridge(1, 1u << 20);
  spin::conntrack_source source(opts, bridge);

  std::map<long long, std::map<flow_id, volume>> result;
  std::atomic<bool> done{false};
  std::thread consumer([&] {
    auto token = bridge.consumer_token(0);
    std::vector<spin::packet_record> batch(1024);
    std::map<flow_id, volume> open;
    for (;;) {
      size_t n = bridge.try_dequeue(0, token, batch.data(), batch.size());
      if (n == 0) {
        if (done.load(std::memory_order_acquire) && bridge.depth(0) <= 0)
          break;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        continue;
      }
      bridge.consumed(0, n);
      for (size_t i = 0; i < n; ++i) {
        const auto& r = batch[i];
        if (r.kind == spin::record_kind::packet) {
          auto& v = open[id_of(r.key)];
          v.packets += r.packets();
          v.bytes += r.ip_bytes;
        } else if (r.kind == spin::record_kind::interval_end) {
          auto& sec = result[r.marker_second()];
          for (auto& [id, v] : open) {
            sec[id].packets += v.packets;
            sec[id].bytes += v.bytes;
          }
          std::fprintf(stderr, "spin_ctdump: interval %lld flows %zu\n",
                       static_cast<long long>(r.marker_second()), open.size());
          std::fflush(stderr);
          open.clear();
        }
      }
    }
    // Records without a marker would be a bug of the source: show them.
    for (auto& [id, v] : open)
      result[-1][id] = v;
  });

  std::string error;
  if (!source.start(error)) {
    std::fprintf(stderr, "spin_ctdump: %s\n", error.c_str());
    done = true;
    consumer.join();
    return 1;
  }
  std::fprintf(stderr, "spin_ctdump: ready\n");
  std::fflush(stderr);

  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  for (;;) {
    auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::nanoseconds(0))
      break;
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
    timespec ts{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
    int sig = sigtimedwait(&stop_signals, nullptr, &ts);
    if (sig == SIGINT || sig == SIGTERM)
      break;
  }

  source.stop();
  done.store(true, std::memory_order_release);
  consumer.join();

  for (auto& [second, flows] : result)
    for (auto& [id, v] : flows)
      std::printf("%lld %d %d %s %s %d %d %llu %llu\n", second, std::get<0>(id),
                  std::get<1>(id), std::get<2>(id).c_str(), std::get<3>(id).c_str(),
                  std::get<4>(id), std::get<5>(id), v.packets, v.bytes);
  std::fflush(stdout);

  auto status = source.status();
  std::fprintf(stderr, "spin_ctdump: status");
  for (auto& [name, value] : status.counters)
    std::fprintf(stderr, " %s=%lld", name.c_str(), static_cast<long long>(value));
  std::fprintf(stderr, "\n");
  if (!status.last_error.empty())
    std::fprintf(stderr, "spin_ctdump: last error: %s\n", status.last_error.c_str());
  return 0;
}
