#include "spin/actors/status_reporter.hpp"

#include "spin/runtime/log.hpp"
#include "spin/runtime/spin_json.hpp"

#include <caf/typed_event_based_actor.hpp>

#include <boost/json/serialize.hpp>

#include <chrono>

namespace spin {

namespace json = boost::json;

int64_t sum_counter(const std::map<std::string, status_report>& reports,
                    const std::string& prefix, const std::string& counter) {
  int64_t sum = 0;
  for (auto& [name, r] : reports) {
    if (name.compare(0, prefix.size(), prefix) != 0)
      continue;
    auto it = r.counters.find(counter);
    if (it != r.counters.end())
      sum += it->second;
  }
  return sum;
}

namespace {

using self_ptr = status_reporter_actor::stateful_pointer<status_reporter_state>;

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

void complete_round(self_ptr self) {
  auto& st = self->state;
  int64_t t = now_ms();
  // The first round measures from the start (all counters began at zero).
  double secs = (t - st.previous_time_ms) / 1000.0;
  auto rate = [&](const std::string& prefix, const std::string& counter) -> double {
    if (secs <= 0)
      return 0.0;
    return (sum_counter(st.current, prefix, counter) -
            sum_counter(st.previous, prefix, counter)) /
           secs;
  };
  auto& c = st.current;
  int64_t drops = sum_counter(c, "pcap_source", "dropped") +
                  sum_counter(c, "mqtt_publisher", "reports_dropped") +
                  sum_counter(c, "flow_aggregator", "overflow_packets");
  SPIN_INFO(
      "status: %.0f records/s, %lld drops, %.0f flows/s, %lld nodes (%lld devices), "
      "%.1f reports/s, broker %s",
      rate("flow_aggregator", "records"), static_cast<long long>(drops),
      rate("node_registry", "flows_in"),
      static_cast<long long>(sum_counter(c, "node_registry", "nodes")),
      static_cast<long long>(sum_counter(c, "node_registry", "devices")),
      rate("mqtt_publisher", "reports_published"),
      sum_counter(c, "mqtt_publisher", "connected") ? "connected" : "not connected");
  json::object components;
  for (auto& [name, r] : c)
    components[name] = status_to_json(r);
  json::object rates;
  rates["records_per_s"] = rate("flow_aggregator", "records");
  rates["flows_per_s"] = rate("node_registry", "flows_in");
  rates["reports_per_s"] = rate("mqtt_publisher", "reports_published");
  json::object doc;
  doc["timestamp"] = t / 1000;
  doc["components"] = std::move(components);
  doc["rates"] = std::move(rates);
  doc["drops"] = drops;
  self->send(st.publisher, atom::publish::value, std::string{"spind"},
             message_json("status", "", doc));
  st.previous = std::move(st.current);
  st.current.clear();
  st.previous_time_ms = t;
  ++st.rounds_done;
}

void start_round(self_ptr self) {
  auto& st = self->state;
  ++st.round;
  st.current.clear();
  for (auto& p : st.providers) {
    auto r = p();
    st.current[r.component] = std::move(r);
  }
  st.outstanding = st.actors.size();
  if (st.outstanding == 0) {
    complete_round(self);
    return;
  }
  auto round = st.round;
  for (auto& a : st.actors) {
    self->request(a, std::chrono::seconds(2), atom::status::value)
        .then(
            [=](status_report& r) {
              auto& st = self->state;
              if (round != st.round)
                return;
              st.current[r.component] = std::move(r);
              if (--st.outstanding == 0)
                complete_round(self);
            },
            [=](caf::error&) {
              auto& st = self->state;
              if (round != st.round)
                return;
              if (--st.outstanding == 0)
                complete_round(self);
            });
  }
}

} // namespace

status_reporter_actor::behavior_type
status_reporter(status_reporter_actor::stateful_pointer<status_reporter_state> self,
                std::vector<status_api> actors, std::vector<status_provider> providers,
                mqtt_publisher_actor publisher, int interval) {
  auto& st = self->state;
  st.actors = std::move(actors);
  st.providers = std::move(providers);
  st.publisher = std::move(publisher);
  st.interval = interval;
  st.previous_time_ms = now_ms();
  if (interval > 0)
    self->delayed_send(self, std::chrono::seconds(interval), atom::tick::value);
  return {
      [=](atom::tick) {
        start_round(self);
        self->delayed_send(self, std::chrono::seconds(self->state.interval),
                           atom::tick::value);
      },
      [=](atom::status) {
        status_report r;
        r.component = "status_reporter";
        r.counters = {{"rounds", static_cast<int64_t>(self->state.rounds_done)}};
        return r;
      },
  };
}

} // namespace spin
