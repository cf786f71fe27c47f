#include "spin/runtime/device_capture.hpp"

#include <pcap/pcap.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <poll.h>

namespace spin {

struct device_capture::impl {
  pcap_t* pcap = nullptr;
  int linktype = 0;
  std::chrono::steady_clock::time_point started;
};

device_capture::device_capture() : p_(std::make_unique<impl>()) {}

device_capture::~device_capture() {
  if (p_->pcap)
    pcap_close(p_->pcap);
}

std::string device_capture::filter_for(const options& o) {
  if (o.interface != "any")
    return "ether host " + o.mac.to_string();
  std::string f;
  for (auto& ip : o.addresses) {
    if (!f.empty())
      f += " or ";
    f += (ip.is_v4() ? "host " : "ip6 host ") + ip.to_string();
  }
  return f;
}

bool device_capture::open(const options& o, std::string& error) {
  opts_ = o;
  filter_ = filter_for(o);
  if (filter_.empty()) {
    error = "the device has no address to capture on interface any";
    return false;
  }
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  auto* p = pcap_create(o.interface.c_str(), errbuf);
  if (!p) {
    error = "cannot capture on " + o.interface + ": " + errbuf;
    return false;
  }
  pcap_set_snaplen(p, static_cast<int>(o.snaplen));
  pcap_set_promisc(p, 0);
  pcap_set_timeout(p, 500);
  pcap_set_immediate_mode(p, 1);
  int rc = pcap_activate(p);
  if (rc < 0) {
    error = "cannot capture on " + o.interface + ": " + pcap_geterr(p);
    if (rc == PCAP_ERROR_PERM_DENIED)
      error += " (spind needs CAP_NET_RAW to capture)";
    pcap_close(p);
    return false;
  }
  struct bpf_program prog;
  if (pcap_compile(p, &prog, filter_.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
    error = "cannot compile the capture filter '" + filter_ + "': " + pcap_geterr(p);
    pcap_close(p);
    return false;
  }
  rc = pcap_setfilter(p, &prog);
  pcap_freecode(&prog);
  if (rc != 0) {
    error = std::string{"cannot set the capture filter: "} + pcap_geterr(p);
    pcap_close(p);
    return false;
  }
  // Non-blocking, and next() polls the descriptor with a timeout: with
  // immediate mode on Linux, pcap_dispatch() blocks until a packet arrives
  // (the read timeout is not honoured), so a quiet device would hold the
  // stream's thread and never see its client leave or its time limit.
  if (pcap_setnonblock(p, 1, errbuf) != 0 || pcap_get_selectable_fd(p) < 0) {
    error = "cannot make the capture on " + o.interface + " non-blocking: " + errbuf;
    pcap_close(p);
    return false;
  }
  p_->pcap = p;
  p_->linktype = pcap_datalink(p);
  p_->started = std::chrono::steady_clock::now();
  return true;
}

namespace {

template <class T>
void put(std::string& out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out.append(b, sizeof(T));
}

struct dispatch_ctx {
  std::string* out;
};

void on_packet(u_char* user, const struct pcap_pkthdr* h, const u_char* bytes) {
  auto* ctx = reinterpret_cast<dispatch_ctx*>(user);
  put<uint32_t>(*ctx->out, static_cast<uint32_t>(h->ts.tv_sec));
  put<uint32_t>(*ctx->out, static_cast<uint32_t>(h->ts.tv_usec));
  put<uint32_t>(*ctx->out, h->caplen);
  put<uint32_t>(*ctx->out, h->len);
  ctx->out->append(reinterpret_cast<const char*>(bytes), h->caplen);
}

} // namespace

bool device_capture::next(std::string& chunk) {
  chunk.clear();
  if (stopped_.load() || !p_->pcap)
    return false;
  if (!header_sent_) {
    // The classic pcap file header, in host byte order (readers handle both).
    put<uint32_t>(chunk, 0xa1b2c3d4);
    put<uint16_t>(chunk, 2);
    put<uint16_t>(chunk, 4);
    put<int32_t>(chunk, 0);
    put<uint32_t>(chunk, 0);
    put<uint32_t>(chunk, opts_.snaplen);
    put<uint32_t>(chunk, static_cast<uint32_t>(p_->linktype));
    header_sent_ = true;
    bytes_ += chunk.size();
    return true;
  }
  auto elapsed = std::chrono::steady_clock::now() - p_->started;
  if (elapsed >= std::chrono::seconds(opts_.max_seconds) ||
      bytes_.load() >= opts_.max_bytes) {
    stopped_ = true;
    return false;
  }
  // Wait up to half a second for packets, so the caller gets control back
  // regularly (an empty chunk) whether or not the device sends anything.
  struct pollfd pfd = {pcap_get_selectable_fd(p_->pcap), POLLIN, 0};
  int pr = ::poll(&pfd, 1, 500);
  if (pr < 0 && errno != EINTR) {
    stopped_ = true;
    return false;
  }
  if (stopped_.load())
    return false;
  if (pr <= 0)
    return true; // nothing yet
  dispatch_ctx ctx{&chunk};
  int n = pcap_dispatch(p_->pcap, 256, on_packet, reinterpret_cast<u_char*>(&ctx));
  if (n < 0 && n != PCAP_ERROR_BREAK) {
    stopped_ = true;
    return false;
  }
  bytes_ += chunk.size();
  return true;
}

void device_capture::stop() {
  stopped_ = true;
  if (p_->pcap)
    pcap_breakloop(p_->pcap);
}

} // namespace spin
