#include "spin/runtime/pcap_source.hpp"

#include "spin/runtime/log.hpp"
#include "spin/runtime/packet_parser.hpp"
#include "spin/runtime/pcap_file.hpp"
#include "spin/runtime/source_core.hpp"

#include <pcap/pcap.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <mutex>
#include <optional>
#include <stdio_ext.h>

namespace spin {

namespace {

int64_t wall_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

constexpr int64_t us_per_s = 1000000;
constexpr size_t read_buffer_size = 1 << 20;
constexpr int64_t paced_flush_us = 100000;

} // namespace

struct pcap_source::state {
  options opts;
  std::atomic<bool> stop{false};
  source_core core;

  // File counters (the core keeps the packet ones): updated locally in the
  // reader thread, published under a mutex every few thousand frames (no
  // atomic operation per packet).
  pcap_source_counters local;
  mutable std::mutex published_mutex;
  pcap_source_counters published;
  std::string last_error;

  // Paced replay clock.
  bool have_base = false;
  int64_t base_us = 0;       // added to file timestamps (paced modes)
  int64_t last_rebased = 0;  // last packet's rebased time
  int64_t last_flush_us = 0; // paced modes: when records were last handed on

  static source_core::options core_options(const options& o, pipeline_gauge* g,
                                           const std::atomic<bool>* stop) {
    source_core::options c;
    c.on_side = o.on_side;
    c.dns_response_repeat_us = o.dns_response_repeat_us;
    c.dns_query_repeat_us = o.dns_query_repeat_us;
    c.policy = queue_producer::full_policy::wait; // a file never loses packets
    c.gauge = g;
    c.max_intervals_in_flight =
        o.mode == replay_mode::fast ? o.max_intervals_in_flight : 0;
    c.stop = stop;
    return c;
  }

  state(options o, queue_bridge& b, pipeline_gauge* g)
      : opts(std::move(o)), core(b, core_options(opts, g, &stop)) {}

  void publish_counters() {
    auto& c = core.counters();
    std::lock_guard<std::mutex> guard{published_mutex};
    published = local;
    published.ip_packets = c.ip_packets;
    published.ip_bytes = c.ip_bytes;
    published.truncated = c.truncated;
    published.late = c.late;
    published.intervals = c.intervals;
    published.gauge_waits = c.gauge_waits;
    published.backlog_waits = c.backlog_waits;
    published.dns_packets = c.dns_packets;
    published.dns_messages = c.dns_messages;
    published.dns_records = c.dns_records;
    published.dns_errors = c.dns_errors;
    published.dns_repeats = c.dns_repeats;
    published.bindings = c.bindings;
  }

  void set_error(std::string e) {
    std::lock_guard<std::mutex> guard{published_mutex};
    last_error = std::move(e);
  }

  bool paced() const { return opts.mode != replay_mode::fast; }

  // Paced modes: sleeps until the packet's time, closing intervals on the
  // wall clock while the file is quiet. Returns false when asked to stop.
  bool wait_until(int64_t target_us) {
    bool flushed = false;
    for (;;) {
      if (stop.load(std::memory_order_relaxed))
        return false;
      int64_t now = wall_us();
      if (core.interval_open()) {
        int64_t boundary = core.interval_end_us();
        if (now >= boundary && target_us >= boundary) {
          core.close_interval();
          continue;
        }
      }
      if (now >= target_us)
        return true;
      if (!flushed && now - last_flush_us >= paced_flush_us) {
        // Paced replay: hand records on at most every paced_flush_us (and at
        // every interval end), not after every packet, so that a quiet
        // capture costs a few wake-ups per second instead of one per packet.
        core.flush();
        publish_counters();
        last_flush_us = now;
        flushed = true;
      }
      int64_t until = target_us;
      if (core.interval_open())
        until = std::min(until, core.interval_end_us());
      // Sleep in slices so that stop() is noticed quickly.
      int64_t nap = std::min<int64_t>(until - now, 100000);
      if (nap > 0)
        std::this_thread::sleep_for(std::chrono::microseconds(nap));
    }
  }

  void handle(const captured_frame& f, link_type lt, bool first_of_pass) {
    ++local.frames;
    int64_t ts = f.ts_us;
    if (paced()) {
      if (first_of_pass) {
        // First pass: the file's start is now. Later passes follow the previous
        // one with a one-second gap, so time never runs backwards.
        base_us = (have_base ? last_rebased + us_per_s : wall_us()) - ts;
        have_base = true;
      }
      ts += base_us;
      last_rebased = ts;
      if (!wait_until(ts))
        return;
    }
    core.at(ts);
    packet_record rec;
    parse_extras extras;
    switch (parse_frame(lt, f.data, f.caplen, f.wirelen, rec, &extras)) {
    case parse_status::ok:
      core.ip_packet(rec, extras, ts, f.caplen < f.wirelen);
      break;
    case parse_status::not_ip: {
      ++local.not_ip;
      address_binding b;
      if (parse_arp(lt, f.data, f.caplen, b))
        core.binding(b);
      break;
    }
    case parse_status::malformed:
      ++local.malformed;
      break;
    }
    if ((local.frames & 4095) == 0)
      publish_counters();
  }

  // Reads the file once. Returns 1 if packets were read, 0 if none, -1 if the
  // file could not be opened or is not readable by spin.
  void log_start(link_type lt, const char* reader) {
    SPIN_INFO("pcap source: reading %s (%s, %s replay, %s)", opts.file.c_str(),
              to_string(lt),
              opts.mode == replay_mode::fast       ? "fast"
              : opts.mode == replay_mode::realtime ? "realtime"
                                                   : "loop",
              reader);
  }

  void fail_open(const std::string& why) {
    ++local.files_failed;
    set_error("cannot read capture file: " + why);
    SPIN_ERROR("pcap source: cannot read capture file %s: %s", opts.file.c_str(),
               why.c_str());
  }

  // The link type of a file, or nullopt (logged, counted) if spin cannot read it.
  std::optional<link_type> check_link_type(int value) {
    auto lt = link_type_from_dlt(value);
    if (!lt) {
      ++local.files_unsupported;
      const char* name = pcap_datalink_val_to_name(value);
      set_error("unsupported link type " + std::to_string(value));
      SPIN_WARN("pcap source: skipping %s: link type %d (%s) is not one spin reads "
                "(Ethernet, Linux cooked v1/v2, raw IP, BSD loopback)",
                opts.file.c_str(), value, name ? name : "unknown");
    }
    return lt;
  }

  void damaged(uint64_t frames_read, const std::string& why) {
    ++local.files_damaged;
    set_error("damaged capture file: " + why);
    SPIN_WARN("pcap source: %s is damaged after %llu frames (%s); keeping what was read",
              opts.file.c_str(), static_cast<unsigned long long>(frames_read),
              why.c_str());
  }

  // Reads the file once. Returns 1 if packets were read, 0 if none, -1 if the
  // file could not be opened, -2 if spin does not read its link type.
  int read_pass() {
    pcap_file_reader fast;
    switch (fast.open(opts.file)) {
    case pcap_file_reader::open_status::ok:
      return read_classic(fast);
    case pcap_file_reader::open_status::failed:
      fail_open(fast.error());
      return -1;
    case pcap_file_reader::open_status::not_classic:
      break;
    }
    return read_libpcap();
  }

  // Classic pcap files: zero-copy through a memory map.
  int read_classic(pcap_file_reader& reader) {
    auto lt = check_link_type(static_cast<int>(reader.link_type()));
    if (!lt)
      return -2;
    log_start(*lt, "memory-mapped");
    uint64_t before = local.frames;
    bool first = true;
    captured_frame f;
    while (!stop.load(std::memory_order_relaxed)) {
      int rc = reader.next(f);
      if (rc == 1) {
        handle(f, *lt, first);
        first = false;
      } else {
        if (rc < 0)
          damaged(local.frames - before, reader.error());
        break;
      }
    }
    return local.frames > before ? 1 : 0;
  }

  // pcapng and everything else libpcap understands.
  int read_libpcap() {
    char errbuf[PCAP_ERRBUF_SIZE] = {0};
    // Open the file ourselves to give stdio a large buffer: libpcap reads
    // each record with fread, and the default 4 KiB buffer costs one read()
    // system call every few dozen packets.
    FILE* fp = std::fopen(opts.file.c_str(), "rb");
    pcap_t* p = nullptr;
    if (!fp) {
      std::snprintf(errbuf, sizeof(errbuf), "%s: %s", opts.file.c_str(),
                    std::strerror(errno));
    } else {
      std::setvbuf(fp, nullptr, _IOFBF, read_buffer_size);
      // Only this thread touches the stream: skip stdio's per-call lock
      // (libpcap calls fread twice per packet).
      __fsetlocking(fp, FSETLOCKING_BYCALLER);
      posix_fadvise(fileno(fp), 0, 0, POSIX_FADV_SEQUENTIAL);
      // On success libpcap owns fp and closes it in pcap_close().
      p = pcap_fopen_offline_with_tstamp_precision(fp, PCAP_TSTAMP_PRECISION_MICRO,
                                                   errbuf);
      if (!p)
        std::fclose(fp);
    }
    if (!p) {
      fail_open(errbuf);
      return -1;
    }
    auto lt = check_link_type(pcap_datalink(p));
    if (!lt) {
      pcap_close(p);
      return -2;
    }
    log_start(*lt, "libpcap");
    pcap_pkthdr* hdr = nullptr;
    const u_char* data = nullptr;
    uint64_t before = local.frames;
    bool first = true;
    captured_frame f;
    while (!stop.load(std::memory_order_relaxed)) {
      int rc = pcap_next_ex(p, &hdr, &data);
      if (rc == 1) {
        f.ts_us = static_cast<int64_t>(hdr->ts.tv_sec) * us_per_s + hdr->ts.tv_usec;
        f.caplen = hdr->caplen;
        f.wirelen = hdr->len;
        f.data = data;
        handle(f, *lt, first);
        first = false;
      } else if (rc == PCAP_ERROR_BREAK) {
        break; // end of file
      } else if (rc == PCAP_ERROR) {
        damaged(local.frames - before, pcap_geterr(p));
        break;
      }
    }
    pcap_close(p);
    return local.frames > before ? 1 : 0;
  }
};

pcap_source::pcap_source(options opts, queue_bridge& bridge, pipeline_gauge* gauge)
    : st_(std::make_unique<state>(std::move(opts), bridge, gauge)) {}

pcap_source::~pcap_source() {
  stop();
}

bool pcap_source::run() {
  auto& s = *st_;
  bool ok = true;
  for (;;) {
    int r = s.read_pass();
    if (r == -1)
      ok = false;
    if (r < 0)
      break;
    ++s.local.loops;
    if (s.opts.mode != replay_mode::loop || s.stop.load())
      break;
    if (r == 0) {
      SPIN_WARN("pcap source: %s holds no packets; not looping over it",
                s.opts.file.c_str());
      break;
    }
  }
  s.core.finish();
  s.publish_counters();
  SPIN_INFO("pcap source: %s done: %llu frames, %llu IP packets, %llu not IP, %llu "
            "malformed, %llu intervals",
            s.opts.file.c_str(), static_cast<unsigned long long>(s.local.frames),
            static_cast<unsigned long long>(s.core.counters().ip_packets),
            static_cast<unsigned long long>(s.local.not_ip),
            static_cast<unsigned long long>(s.local.malformed),
            static_cast<unsigned long long>(s.core.counters().intervals));
  return ok;
}

void pcap_source::start(std::function<void(bool)> on_finished) {
  thread_ = std::thread([this, cb = std::move(on_finished)] {
    bool ok = run();
    if (cb)
      cb(ok);
  });
}

void pcap_source::stop() {
  st_->stop.store(true);
  st_->core.cancel();
  if (thread_.joinable())
    thread_.join();
}

pcap_source_counters pcap_source::counters() const {
  std::lock_guard<std::mutex> guard{st_->published_mutex};
  return st_->published;
}

status_report pcap_source::status() const {
  status_report r;
  r.component = "pcap_source";
  pcap_source_counters c;
  {
    std::lock_guard<std::mutex> guard{st_->published_mutex};
    c = st_->published;
    r.last_error = st_->last_error;
  }
  r.counters = {
      {"frames", static_cast<int64_t>(c.frames)},
      {"ip_packets", static_cast<int64_t>(c.ip_packets)},
      {"ip_bytes", static_cast<int64_t>(c.ip_bytes)},
      {"not_ip", static_cast<int64_t>(c.not_ip)},
      {"malformed", static_cast<int64_t>(c.malformed)},
      {"truncated", static_cast<int64_t>(c.truncated)},
      {"late", static_cast<int64_t>(c.late)},
      {"intervals", static_cast<int64_t>(c.intervals)},
      {"files_failed", static_cast<int64_t>(c.files_failed)},
      {"files_unsupported", static_cast<int64_t>(c.files_unsupported)},
      {"files_damaged", static_cast<int64_t>(c.files_damaged)},
      {"loops", static_cast<int64_t>(c.loops)},
      {"queue_waits", static_cast<int64_t>(st_->core.producer().waits())},
      {"gauge_waits", static_cast<int64_t>(c.gauge_waits)},
      {"backlog_waits", static_cast<int64_t>(c.backlog_waits)},
      {"dns_packets", static_cast<int64_t>(c.dns_packets)},
      {"dns_messages", static_cast<int64_t>(c.dns_messages)},
      {"dns_records", static_cast<int64_t>(c.dns_records)},
      {"dns_errors", static_cast<int64_t>(c.dns_errors)},
      {"bindings", static_cast<int64_t>(c.bindings)},
      {"dns_repeats", static_cast<int64_t>(c.dns_repeats)},
      {"dropped", static_cast<int64_t>(st_->core.producer().dropped())},
  };
  return r;
}

} // namespace spin
