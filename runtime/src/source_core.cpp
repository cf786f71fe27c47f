#include "spin/runtime/source_core.hpp"

#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

namespace spin {

namespace {

int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

constexpr int64_t us_per_s = 1000000;
// Bounds of one interval's side batch (a DNS flood cannot grow it further).
constexpr size_t max_dns_records_per_interval = 1u << 20;
constexpr size_t max_bindings_per_interval = 4096;
// Released side batches kept for reuse, and the largest record capacity kept
// (a DNS flood's huge batch is freed, not kept).
constexpr size_t max_pooled_sides = 2;
constexpr size_t max_pooled_dns_capacity = 32768;

} // namespace

struct source_core::side_pool {
  std::mutex mutex;
  std::vector<std::unique_ptr<side_batch>> free;
};

std::shared_ptr<side_batch> source_core::make_side() {
  std::unique_ptr<side_batch> b;
  {
    std::lock_guard<std::mutex> guard{side_pool_->mutex};
    if (!side_pool_->free.empty()) {
      b = std::move(side_pool_->free.back());
      side_pool_->free.pop_back();
    }
  }
  if (!b)
    b = std::make_unique<side_batch>();
  auto pool = side_pool_;
  return std::shared_ptr<side_batch>(b.release(), [pool](side_batch* p) {
    std::unique_ptr<side_batch> owned{p};
    if (p->dns.facts.capacity() > max_pooled_dns_capacity)
      return;
    p->second = 0;
    p->dns.clear();
    p->bindings.clear();
    std::lock_guard<std::mutex> guard{pool->mutex};
    if (pool->free.size() < max_pooled_sides)
      pool->free.push_back(std::move(owned));
  });
}

source_core::source_core(queue_bridge& bridge, options opts)
    : opts_(std::move(opts)), producer_(bridge, opts_.policy),
      repeats_(opts_.dns_response_repeat_us, opts_.dns_query_repeat_us),
      side_pool_(std::make_shared<side_pool>()), side_(make_side()) {}

void source_core::at(int64_t ts_us) {
  int64_t sec = floor_div(ts_us, us_per_s);
  if (!have_interval_) {
    // After a quiet gap the new interval starts at this packet's second,
    // unless that second was closed already (out-of-order timestamps).
    if (counters_.intervals == 0 || sec > cur_sec_) {
      cur_sec_ = sec;
    } else {
      cur_sec_ += 1; // never reopen a closed interval
      ++counters_.late;
    }
    have_interval_ = true;
  } else if (sec > cur_sec_) {
    close_interval();
    cur_sec_ = sec;
    have_interval_ = true;
  } else if (sec < cur_sec_) {
    ++counters_.late;
  }
}

void source_core::close_interval() {
  if (!have_interval_)
    return;
  if (auto* gauge = opts_.gauge) {
    if (opts_.max_intervals_in_flight > 0) {
      // Fast replay: let the publisher catch up instead of queueing reports.
      producer_.flush();
      auto busy = [&] {
        return gauge->open() >= opts_.max_intervals_in_flight ||
               gauge->backlog() > pipeline_gauge::backlog_limit;
      };
      if (busy())
        ++counters_.gauge_waits;
      if (gauge->backlog() > pipeline_gauge::backlog_limit)
        ++counters_.backlog_waits;
      while (busy() &&
             !(opts_.stop && opts_.stop->load(std::memory_order_relaxed)))
        std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    gauge->opened();
  }
  if (opts_.on_side) {
    side_->second = cur_sec_;
    last_side_size_ = side_->dns.size();
    opts_.on_side(std::move(side_));
    side_ = make_side();
    side_->dns.facts.reserve(last_side_size_ + last_side_size_ / 4);
  }
  producer_.broadcast(packet_record::marker(cur_sec_));
  have_interval_ = false;
  ++counters_.intervals;
}

void source_core::ip_packet(const packet_record& rec, const parse_extras& extras,
                            int64_t ts_us, bool capture_cut, bool count) {
  if (count) {
    ++counters_.ip_packets;
    counters_.ip_bytes += rec.ip_bytes;
    if (extras.truncated)
      ++counters_.truncated;
    producer_.push(rec);
  }
  if (opts_.on_side)
    side_facts(rec, extras, ts_us, capture_cut);
}

void source_core::blocked_packet(packet_record rec) {
  ++counters_.blocked;
  rec.key.flags |= flow_flag::blocked;
  rec.hash = static_cast<uint32_t>(rec.key.hash());
  producer_.push(rec);
}

void source_core::binding(const address_binding& b) {
  if (!opts_.on_side)
    return;
  ++counters_.bindings;
  if (side_->bindings.size() < max_bindings_per_interval)
    side_->bindings.push_back(neighbour_event{b.address, b.mac, 0, true});
}

void source_core::dns_fact(const dns_record& r) {
  if (!opts_.on_side)
    return;
  ++counters_.dns_messages;
  if (side_->dns.size() < max_dns_records_per_interval) {
    side_->dns.push_back(r);
    ++counters_.dns_records;
  }
}

void source_core::side_facts(const packet_record& rec, const parse_extras& extras,
                             int64_t ts_us, bool capture_cut) {
  if ((rec.key.proto == ipproto::udp || rec.key.proto == ipproto::tcp) &&
      (rec.key.sport == dns_port || rec.key.dport == dns_port)) {
    // A whole UDP message that repeats a recent one is not parsed again.
    if (rec.key.proto == ipproto::udp && extras.l4_payload && !capture_cut) {
      const uint8_t* p = extras.l4_payload;
      bool response = extras.l4_caplen > 2 && (p[2] & 0x80);
      if (repeats_.repeated(p, extras.l4_caplen, response ? rec.key.dst : rec.key.src,
                            ts_us)) {
        ++counters_.dns_repeats;
        return;
      }
    }
    auto before = side_->dns.size();
    if (before < max_dns_records_per_interval)
      dns_.process(rec, extras, ts_us, side_->dns, capture_cut);
    counters_.dns_records += side_->dns.size() - before;
  } else if (rec.key.proto == ipproto::icmpv6) {
    address_binding b;
    if (parse_neighbour_discovery(rec, extras, b))
      binding(b);
  }
}

void source_core::finish() {
  close_interval();
  producer_.broadcast(packet_record::end_of_stream());
}

const source_counters& source_core::counters() {
  auto& c = dns_.counters();
  counters_.dns_packets = c.packets;
  counters_.dns_messages = c.messages;
  counters_.dns_errors = c.errors_total();
  return counters_;
}

} // namespace spin
