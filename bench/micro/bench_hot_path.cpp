// Per-record costs of the hot path's pieces, with competing designs side by
// side: parsing a frame, counting into spin's flat table versus
// std::unordered_map, and moving records through moodycamel in batches of
// different sizes (one thread, so this is the queue's own cost).
#include "spin/runtime/flow_table.hpp"
#include "spin/runtime/packet_parser.hpp"
#include "spin/runtime/queue_bridge.hpp"

// GCC 12 reports a false -Wstringop-overflow inside moodycamel when its
// queue is used directly in one function; the queue itself is fine.
#pragma GCC diagnostic ignored "-Wstringop-overflow"

#include <benchmark/benchmark.h>

#include <random>
#include <unordered_map>
#include <vector>

using namespace spin;

namespace {

std::vector<uint8_t> tcp_frame() {
  std::vector<uint8_t> f(14 + 20 + 20, 0);
  f[12] = 0x08;
  f[14] = 0x45;
  f[16] = 0x05;
  f[17] = 0xdc; // total length 1500
  f[23] = 6;
  uint8_t addrs[8] = {192, 168, 1, 2, 203, 0, 113, 9};
  std::copy(addrs, addrs + 8, f.begin() + 26);
  f[34] = 0x9c;
  f[35] = 0x40;
  f[36] = 0x01;
  f[37] = 0xbb;
  f[46] = 0x50;
  return f;
}

void BM_parse_frame(benchmark::State& state) {
  auto f = tcp_frame();
  packet_record r;
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        parse_frame(link_type::ethernet, f.data(), f.size(), 1514, r));
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_parse_frame);

std::vector<packet_record> records(size_t n, size_t distinct) {
  std::vector<packet_record> out(n);
  std::mt19937_64 rng{1};
  for (auto& r : out) {
    uint64_t f = rng() % distinct;
    uint8_t src[4] = {192, 168, 1, static_cast<uint8_t>(f % 50)};
    uint8_t dst[4] = {203, 0, static_cast<uint8_t>(f >> 8), static_cast<uint8_t>(f)};
    r.key.src = ip_address::v4(src);
    r.key.dst = ip_address::v4(dst);
    r.key.family = 4;
    r.key.proto = 6;
    r.key.sport = static_cast<uint16_t>(f);
    r.key.dport = 443;
    r.ip_bytes = 100;
    r.hash = static_cast<uint32_t>(r.key.hash());
  }
  return out;
}

void BM_flow_table_flat(benchmark::State& state) {
  auto recs = records(1 << 16, static_cast<size_t>(state.range(0)));
  flow_table t{1 << 20};
  for (auto _ : state) {
    for (auto& r : recs)
      t.add(r);
    benchmark::DoNotOptimize(t.take(0, 0));
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(recs.size()));
}
BENCHMARK(BM_flow_table_flat)->ArgName("flows")->Arg(100)->Arg(2000)->Arg(50000);

struct key_hash {
  size_t operator()(const flow_key& k) const { return k.hash(); }
};

void BM_flow_table_unordered_map(benchmark::State& state) {
  auto recs = records(1 << 16, static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    std::unordered_map<flow_key, std::pair<uint64_t, uint64_t>, key_hash> m;
    for (auto& r : recs) {
      auto& e = m[r.key];
      e.first += 1;
      e.second += r.ip_bytes;
    }
    benchmark::DoNotOptimize(m);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(recs.size()));
}
BENCHMARK(BM_flow_table_unordered_map)->ArgName("flows")->Arg(100)->Arg(2000)->Arg(50000);

void BM_queue_batch(benchmark::State& state) {
  size_t batch = static_cast<size_t>(state.range(0));
  record_queue q;
  moodycamel::ProducerToken ptok{q};
  moodycamel::ConsumerToken ctok{q};
  std::vector<packet_record> buf(batch), out(batch);
  for (auto _ : state) {
    q.enqueue_bulk(ptok, buf.data(), batch);
    benchmark::DoNotOptimize(q.try_dequeue_bulk(ctok, out.data(), batch));
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(batch));
}
BENCHMARK(BM_queue_batch)
    ->ArgName("batch")
    ->Arg(1)
    ->Arg(16)
    ->Arg(64)
    ->Arg(256)
    ->Arg(1024);

} // namespace
