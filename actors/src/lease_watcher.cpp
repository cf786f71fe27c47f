#include "spin/actors/lease_watcher.hpp"

#include "spin/runtime/log.hpp"

#include <caf/typed_event_based_actor.hpp>

namespace spin {

namespace {

using self_ptr = lease_watcher_actor::stateful_pointer<lease_watcher_state>;

void check(self_ptr self) {
  auto& st = self->state;
  auto sig = device_name_files_signature(st.sources);
  if (sig == st.signature)
    return;
  st.signature = sig;
  ++st.reads;
  std::vector<std::string> problems;
  auto names = read_device_names(st.sources, problems);
  for (auto& p : problems) {
    ++st.problems;
    if (st.reported.size() < 1000 && st.reported.insert(p).second)
      SPIN_WARN("device names: %s", p.c_str());
  }
  if (names == st.current && st.reads > 1)
    return;
  ++st.changes;
  st.current = names;
  SPIN_INFO("device names: %zu by MAC, %zu by address from the DHCP files",
            names.by_mac.size(), names.by_ip.size());
  self->send(st.registry, atom::dhcp::value,
             std::make_shared<const device_names>(std::move(names)));
}

} // namespace

lease_watcher_actor::behavior_type
lease_watcher(lease_watcher_actor::stateful_pointer<lease_watcher_state> self,
              device_name_sources sources, std::chrono::seconds interval,
              node_registry_actor registry) {
  self->state.sources = std::move(sources);
  self->state.interval = interval;
  self->state.registry = std::move(registry);
  check(self);
  self->delayed_send(self, interval, atom::tick::value);
  return {
      [=](atom::tick) {
        check(self);
        self->delayed_send(self, self->state.interval, atom::tick::value);
      },
      [=](atom::status) {
        auto& st = self->state;
        status_report r;
        r.component = "lease_watcher";
        r.counters = {
            {"reads", static_cast<int64_t>(st.reads)},
            {"changes", static_cast<int64_t>(st.changes)},
            {"problems", static_cast<int64_t>(st.problems)},
            {"names_by_mac", static_cast<int64_t>(st.current.by_mac.size())},
            {"names_by_address", static_cast<int64_t>(st.current.by_ip.size())}};
        return r;
      },
  };
}

} // namespace spin
