// spin-udp-blast: a rate-paced UDP sender for the live-capture rig and the
// NFLOG benchmark (bench/run-nflog.sh, tests/integration/test_live.py).
//
//   spin-udp-blast --dst ADDR --port P [--pps N] [--seconds S] [--count N]
//                  [--size BYTES] [--batch N] [--src-port P]
//
// Sends datagrams of --size payload bytes to ADDR:P (IPv4 or IPv6, from the
// address's form) with sendmmsg(), in batches of at most --batch, paced so
// that after t seconds about t * pps datagrams have been handed to the
// kernel (0: as fast as possible). Stops after --count datagrams or
// --seconds seconds, whichever comes first; both are bounded (a missing
// --count means "as many as the time allows", a missing --seconds 10 s), so
// a test never floods without end. Prints one line on stdout:
//
//   sent=N seconds=T pps=R errors=E port=LOCALPORT
//
// `sent` counts datagrams the kernel accepted; `errors` the sendmmsg() calls
// that failed (ENOBUFS, ECONNREFUSED after an ICMP error, ...), which the
// sender survives. What actually crossed the router is the router's business
// (the tests read nftables counters). Exit code 0, or 2 on a bad command line
// or a socket that cannot be opened.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

struct options {
  std::string dst;
  uint16_t port = 0;
  uint16_t src_port = 0;
  double pps = 0;      // 0: unpaced
  double seconds = 10; // always bounded
  uint64_t count = 0;  // 0: unbounded in count (still bounded in time)
  size_t size = 18;    // payload bytes
  unsigned batch = 64; // datagrams per sendmmsg()
};

void usage() {
  std::fprintf(stderr,
               "usage: spin-udp-blast --dst ADDR --port P [--pps N] [--seconds S]\n"
               "                      [--count N] [--size BYTES] [--batch N]\n"
               "                      [--src-port P]\n");
}

bool parse_number(const char* text, double min, double max, double& out) {
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(text, &end);
  if (errno != 0 || end == text || *end != '\0' || !(v >= min && v <= max))
    return false;
  out = v;
  return true;
}

bool parse_args(int argc, char** argv, options& o) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "spin-udp-blast: %s needs a value\n", arg.c_str());
      return false;
    }
    const char* value = argv[++i];
    double v = 0;
    bool ok = true;
    if (arg == "--dst") {
      o.dst = value;
    } else if (arg == "--port" && (ok = parse_number(value, 1, 65535, v))) {
      o.port = static_cast<uint16_t>(v);
    } else if (arg == "--src-port" && (ok = parse_number(value, 0, 65535, v))) {
      o.src_port = static_cast<uint16_t>(v);
    } else if (arg == "--pps" && (ok = parse_number(value, 0, 1e9, v))) {
      o.pps = v;
    } else if (arg == "--seconds" && (ok = parse_number(value, 0.001, 3600, v))) {
      o.seconds = v;
    } else if (arg == "--count" && (ok = parse_number(value, 0, 1e12, v))) {
      o.count = static_cast<uint64_t>(v);
    } else if (arg == "--size" && (ok = parse_number(value, 0, 65507, v))) {
      o.size = static_cast<size_t>(v);
    } else if (arg == "--batch" && (ok = parse_number(value, 1, 1024, v))) {
      o.batch = static_cast<unsigned>(v);
    } else {
      ok = false;
    }
    if (!ok) {
      std::fprintf(stderr, "spin-udp-blast: bad argument %s %s\n", arg.c_str(), value);
      return false;
    }
  }
  if (o.dst.empty() || o.port == 0) {
    std::fprintf(stderr, "spin-udp-blast: --dst and --port are required\n");
    return false;
  }
  return true;
}

double now_s() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

void sleep_s(double s) {
  struct timespec ts;
  ts.tv_sec = static_cast<time_t>(s);
  ts.tv_nsec = static_cast<long>((s - static_cast<double>(ts.tv_sec)) * 1e9);
  nanosleep(&ts, nullptr);
}

// A connected UDP socket to dst:port (and bound to src_port if given), or -1
// with a message on stderr.
int open_socket(const options& o) {
  struct sockaddr_storage dst = {};
  struct sockaddr_storage src = {};
  socklen_t len = 0;
  auto* d4 = reinterpret_cast<struct sockaddr_in*>(&dst);
  auto* d6 = reinterpret_cast<struct sockaddr_in6*>(&dst);
  if (inet_pton(AF_INET, o.dst.c_str(), &d4->sin_addr) == 1) {
    d4->sin_family = AF_INET;
    d4->sin_port = htons(o.port);
    auto* s4 = reinterpret_cast<struct sockaddr_in*>(&src);
    s4->sin_family = AF_INET;
    s4->sin_port = htons(o.src_port);
    len = sizeof(struct sockaddr_in);
  } else if (inet_pton(AF_INET6, o.dst.c_str(), &d6->sin6_addr) == 1) {
    d6->sin6_family = AF_INET6;
    d6->sin6_port = htons(o.port);
    auto* s6 = reinterpret_cast<struct sockaddr_in6*>(&src);
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(o.src_port);
    len = sizeof(struct sockaddr_in6);
  } else {
    std::fprintf(stderr, "spin-udp-blast: '%s' is not an IPv4 or IPv6 address\n",
                 o.dst.c_str());
    return -1;
  }
  int fd = socket(dst.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    std::fprintf(stderr, "spin-udp-blast: socket: %s\n", std::strerror(errno));
    return -1;
  }
  // A big send buffer: at high rates the batch must not wait for the one
  // before it to leave the socket.
  int sndbuf = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
  if (o.src_port != 0 && bind(fd, reinterpret_cast<struct sockaddr*>(&src), len) < 0) {
    std::fprintf(stderr, "spin-udp-blast: bind to port %u: %s\n", o.src_port,
                 std::strerror(errno));
    close(fd);
    return -1;
  }
  if (connect(fd, reinterpret_cast<struct sockaddr*>(&dst), len) < 0) {
    std::fprintf(stderr, "spin-udp-blast: connect to %s port %u: %s\n", o.dst.c_str(),
                 o.port, std::strerror(errno));
    close(fd);
    return -1;
  }
  return fd;
}

uint16_t local_port(int fd) {
  struct sockaddr_storage a = {};
  socklen_t len = sizeof(a);
  if (getsockname(fd, reinterpret_cast<struct sockaddr*>(&a), &len) < 0)
    return 0;
  if (a.ss_family == AF_INET)
    return ntohs(reinterpret_cast<struct sockaddr_in*>(&a)->sin_port);
  return ntohs(reinterpret_cast<struct sockaddr_in6*>(&a)->sin6_port);
}

} // namespace

int main(int argc, char** argv) {
  options o;
  if (!parse_args(argc, argv, o)) {
    usage();
    return 2;
  }
  int fd = open_socket(o);
  if (fd < 0)
    return 2;

  // Every datagram of a batch points at the same payload.
  std::vector<char> payload(o.size > 0 ? o.size : 1, 'x');
  struct iovec iov = {payload.data(), o.size};
  std::vector<struct mmsghdr> msgs(o.batch);
  for (auto& m : msgs) {
    std::memset(&m, 0, sizeof(m));
    m.msg_hdr.msg_iov = &iov;
    m.msg_hdr.msg_iovlen = 1;
  }

  uint64_t sent = 0, errors = 0;
  double start = now_s();
  double end = start + o.seconds;
  for (;;) {
    double now = now_s();
    if (now >= end || (o.count != 0 && sent >= o.count))
      break;
    // How many datagrams are due by now (the pace), capped by the count.
    uint64_t due =
        o.pps > 0 ? static_cast<uint64_t>((now - start) * o.pps) + 1 : sent + o.batch;
    if (o.count != 0 && due > o.count)
      due = o.count;
    if (due <= sent) {
      // Ahead of the pace: wait for the next datagram's time (at least a
      // little, so a slow rate does not spin a core).
      double next = start + static_cast<double>(sent) / o.pps;
      double wait = next - now;
      sleep_s(wait > 50e-6 ? wait : 50e-6);
      continue;
    }
    uint64_t n = due - sent;
    unsigned todo = n < o.batch ? static_cast<unsigned>(n) : o.batch;
    int r = sendmmsg(fd, msgs.data(), todo, 0);
    if (r < 0) {
      ++errors;
      if (errno != ENOBUFS && errno != EAGAIN && errno != ECONNREFUSED &&
          errno != EINTR) {
        std::fprintf(stderr, "spin-udp-blast: sendmmsg: %s\n", std::strerror(errno));
        break;
      }
      continue;
    }
    sent += static_cast<uint64_t>(r);
  }
  double elapsed = now_s() - start;
  std::printf("sent=%llu seconds=%.3f pps=%.0f errors=%llu port=%u\n",
              static_cast<unsigned long long>(sent), elapsed,
              elapsed > 0 ? static_cast<double>(sent) / elapsed : 0.0,
              static_cast<unsigned long long>(errors), local_port(fd));
  close(fd);
  return 0;
}
