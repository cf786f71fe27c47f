// The queue + shard stage: one producer thread (standing in for a source)
// pushes records through the queue_bridge into N flow_aggregator actors on
// CAF's scheduler; the registry is a stub that counts batches. Measures
// records per second end to end through that stage, for 1 and 2 shards.
#include "spin/actors/flow_aggregator.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <benchmark/benchmark.h>

#include <atomic>
#include <random>
#include <thread>

using namespace spin;

namespace {

// A registry stand-in: counts intervals delivered by all shards.
node_registry_actor::behavior_type counting_registry(node_registry_actor::pointer,
                                                     std::atomic<uint64_t>* batches) {
  return {
      [=](atom::interval, flow_batch_ptr&) { batches->fetch_add(1); },
      [=](atom::names, names_batch_ptr&) {},
      [=](atom::eos, uint32_t) {},
      [=](atom::dhcp, device_names_ptr&) {},
      [=](atom::neighbours, neighbour_events_ptr&) {},
      [=](atom::lists, verdict_sets_ptr&) {},
      [=](atom::wire, node_listener_api&) {},
      [=](atom::get, node_id) { return node_info_ptr{}; },
      [=](atom::get, const mac_address&) { return node_info_ptr{}; },
      [=](atom::control, control_request_ptr&) {
        return control_result_ptr{
            std::make_shared<const control_result>(control_result::failure(0, "none"))};
      },
      [=](atom::status) { return status_report{}; },
  };
}

std::vector<packet_record> make_records(size_t n, size_t distinct) {
  std::vector<packet_record> out(n);
  std::mt19937_64 rng{42};
  for (size_t i = 0; i < n; ++i) {
    auto& r = out[i];
    uint64_t f = rng() % distinct;
    uint8_t src[4] = {192, 168, 1, static_cast<uint8_t>(f % 50)};
    uint8_t dst[4] = {203, 0, static_cast<uint8_t>(f >> 8), static_cast<uint8_t>(f)};
    r.key.src = ip_address::v4(src);
    r.key.dst = ip_address::v4(dst);
    r.key.family = 4;
    r.key.proto = 6;
    r.key.sport = static_cast<uint16_t>(32768 + f % 20000);
    r.key.dport = 443;
    r.ip_bytes = 600;
    r.hash = static_cast<uint32_t>(r.key.hash());
  }
  return out;
}

void BM_queue_shards(benchmark::State& state) {
  size_t shards = static_cast<size_t>(state.range(0));
  size_t batch = static_cast<size_t>(state.range(1));
  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", size_t{2});
  caf::actor_system sys{cfg};
  std::atomic<uint64_t> batches{0};
  auto registry = sys.spawn(counting_registry, &batches);
  queue_bridge bridge{shards, 1 << 18};
  std::vector<flow_aggregator_actor> aggs;
  for (size_t i = 0; i < shards; ++i) {
    auto a = sys.spawn(flow_aggregator, &bridge, static_cast<uint32_t>(i),
                       size_t{1 << 20}, registry);
    bridge.set_waker(i, [a] { caf::anon_send(a, atom::wake::value); });
    aggs.push_back(a);
  }
  auto records = make_records(1 << 20, 20000);
  constexpr size_t per_interval = 1 << 20;
  int64_t second = 0;
  uint64_t total = 0;
  for (auto _ : state) {
    queue_producer prod{bridge, queue_producer::full_policy::wait, batch};
    for (auto& r : records)
      prod.push(r);
    prod.broadcast(packet_record::marker(second++));
    uint64_t want = static_cast<uint64_t>(second) * shards;
    while (batches.load() < want)
      std::this_thread::yield();
    total += per_interval;
  }
  state.SetItemsProcessed(static_cast<int64_t>(total));
  for (auto& a : aggs)
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(registry, caf::exit_reason::user_shutdown);
  for (size_t i = 0; i < shards; ++i)
    bridge.set_waker(i, {});
}

} // namespace

BENCHMARK(BM_queue_shards)
    ->ArgNames({"shards", "batch"})
    ->Args({1, 64})
    ->Args({1, 512})
    ->Args({2, 64})
    ->Args({2, 512})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
