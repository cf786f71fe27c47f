#include "spin/actors/node_registry.hpp"

#include "spin/runtime/log.hpp"
#include "spin/runtime/spin_json.hpp"

#include <caf/typed_event_based_actor.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <chrono>

namespace spin {

namespace json = boost::json;

namespace {

using self_ptr = node_registry_actor::stateful_pointer<node_registry_state>;

void send_events(self_ptr self, node_events& ev) {
  auto& pub = self->state.publisher;
  for (auto& [from, into] : ev.merged)
    self->send(pub, atom::merged::value, from, into);
  for (auto id : ev.deleted)
    self->send(pub, atom::deleted::value, id);
  for (auto& n : ev.updated)
    self->send(pub, atom::node::value, std::move(n));
}

// Token bucket per device: true if a dnsquery may be published now.
// A repeat of the same question by the same device within the window says
// nothing new (A and AAAA lookups come in pairs, apps re-resolve often).
bool repeated_query(node_registry_state& st, node_id device, const std::string& name,
                    int64_t second) {
  int64_t window = st.cfg.dnsquery_repeat_window;
  if (window <= 0)
    return false;
  auto& recent = st.recent_queries[device];
  auto it = recent.find(name);
  if (it != recent.end() && second - it->second < window)
    return true;
  if (recent.size() >= registry_max_recent_queries) {
    // Forget what is outside the window; if that is not enough, start over.
    for (auto r = recent.begin(); r != recent.end();)
      r = second - r->second >= window ? recent.erase(r) : std::next(r);
    if (recent.size() >= registry_max_recent_queries)
      recent.clear();
  }
  recent[name] = second;
  return false;
}

// Token bucket per device: true if a dnsquery may be published now.
bool allow_query(node_registry_state& st, node_id device, int64_t second) {
  double rate = st.cfg.dnsquery_rate;
  if (rate <= 0)
    return false;
  auto [it, fresh] = st.query_tokens.try_emplace(device, 2 * rate, second);
  auto& [tokens, last] = it->second;
  if (!fresh && second > last)
    tokens = std::min(2 * rate, tokens + rate * static_cast<double>(second - last));
  last = std::max(last, second);
  if (tokens < 1)
    return false;
  tokens -= 1;
  return true;
}

void build_and_send(self_ptr self, int64_t second, std::vector<flow_batch_ptr> batches,
                    std::vector<dns_query_seen> queries) {
  auto& st = self->state;
  node_events ev;
  auto report = st.table->build_report(second, batches, ev);
  // Node changes go first, so the publisher knows every node a report names.
  send_events(self, ev);
  self->send(st.publisher, atom::report::value, std::move(report));
  for (auto& q : queries) {
    if (repeated_query(st, q.from, q.name, second)) {
      ++st.dnsqueries_repeated;
    } else if (allow_query(st, q.from, second)) {
      ++st.dnsqueries_published;
      self->send(st.publisher, atom::dnsquery::value, q.from, q.queried,
                 std::move(q.name), second);
    } else {
      ++st.dnsqueries_suppressed;
    }
  }
  ++st.intervals;
  st.last_second = second;
  if (st.last_expiry == INT64_MIN)
    st.last_expiry = second;
  if (second - st.last_expiry >= registry_expiry_period) {
    node_events gone;
    st.table->expire(second, gone);
    for (auto id : gone.deleted) {
      st.query_tokens.erase(id);
      st.recent_queries.erase(id);
    }
    send_events(self, gone);
    st.last_expiry = second;
  }
}

void maybe_send_eos(self_ptr self) {
  auto& st = self->state;
  if (!st.eos_sent && st.ended == st.cfg.shards && st.pending.empty()) {
    st.eos_sent = true;
    self->send(st.publisher, atom::eos::value);
  }
}

void try_complete(self_ptr self);

// Returns false when it had to ask the DNS cache first (then the answer
// handler finishes the interval and goes on with the next ones).
bool finish_interval(self_ptr self, int64_t second,
                     node_registry_state::pending_interval p) {
  auto& st = self->state;
  // Shard order, not arrival order: the same input gives the same node ids.
  std::sort(p.batches.begin(), p.batches.end(),
            [](auto& a, auto& b) { return a->shard < b->shard; });
  std::vector<dns_query_seen> queries;
  if (p.names) {
    for (auto& b : p.names->bindings)
      st.table->apply_binding(b.address, b.mac, b.present, second);
    for (auto& a : p.names->answers)
      st.table->apply_answer(a, second);
    for (auto& q : p.names->queries)
      queries.push_back(st.table->apply_query(q.client, q.client_mac, q.name, second));
  }
  // Addresses never seen before may still have valid DNS names (their node
  // expired, the answer did not): ask the cache before creating plain nodes.
  std::vector<ip_address> unknown;
  if (st.dns)
    unknown = st.table->unknown_addresses(p.batches);
  if (unknown.empty()) {
    build_and_send(self, second, std::move(p.batches), std::move(queries));
    return true;
  }
  ++st.lookups;
  auto batches = std::move(p.batches);
  self->request(st.dns, std::chrono::seconds(5), atom::lookup::value, std::move(unknown),
                second)
      .await(
          [=](std::vector<dns_answer_group>& found) mutable {
            for (auto& g : found)
              self->state.table->apply_answer(g, second);
            build_and_send(self, second, std::move(batches), std::move(queries));
            try_complete(self);
          },
          [=](caf::error&) mutable {
            build_and_send(self, second, std::move(batches), std::move(queries));
            try_complete(self);
          });
  return false;
}

void try_complete(self_ptr self) {
  auto& st = self->state;
  // Intervals complete in order: each shard (and the DNS cache) delivers
  // them in order, so the oldest pending one is the next to finish.
  while (!st.pending.empty()) {
    auto it = st.pending.begin();
    auto& p = it->second;
    if (p.batches.size() < st.cfg.shards || (st.cfg.expect_names && !p.has_names))
      return;
    auto second = it->first;
    auto done = std::move(p);
    st.pending.erase(it);
    if (!finish_interval(self, second, std::move(done)))
      return; // waiting for the DNS cache; its answer goes on from here
  }
  maybe_send_eos(self);
}

std::string handle_command(self_ptr self, const std::string& name, const json::value& arg,
                           caf::typed_response_promise<std::string>& rp, bool& deferred) {
  auto& st = self->state;
  auto& t = *st.table;
  if (name == "get_names")
    return names_json(t.names_by_address());
  if (name == "ip2hostname") {
    if (!arg.is_string())
      return error_json("ip2hostname: the argument must be an IP address string");
    auto ip = ip_address::parse(std::string_view{arg.as_string()});
    if (!ip)
      return error_json("ip2hostname: not an IP address: " +
                        std::string{arg.as_string()});
    json::array domains;
    for (auto& d : t.domains_of(*ip))
      domains.emplace_back(d);
    return message_json("ip2hostname", arg, domains);
  }
  if (name == "add_name") {
    if (!arg.is_object())
      return error_json(
          "add_name: the argument must be {\"node_id\": ..., \"name\": ...}");
    auto& o = arg.as_object();
    auto* idv = o.if_contains("node_id");
    auto* namev = o.if_contains("name");
    if (!idv || !namev)
      return error_json("add_name: missing node_id or name");
    auto id = json_node_id(*idv);
    if (!id)
      return error_json("add_name: node_id must be a node number");
    if (!namev->is_string())
      return error_json("add_name: name must be a string");
    std::string new_name{namev->as_string()};
    if (new_name.size() > 255 ||
        std::any_of(new_name.begin(), new_name.end(),
                    [](char c) { return static_cast<unsigned char>(c) < 0x20; }))
      return error_json("add_name: name must be at most 255 printable characters");
    if (!t.set_user_name(*id, new_name))
      return error_json("add_name: unknown node " + std::to_string(*id));
    // Changed nodes are published with the next report; publish this one now.
    if (auto snap = t.snapshot(*id))
      self->send(st.publisher, atom::node::value, std::move(snap));
    auto reply = names_json(t.names_by_address());
    if (!st.store)
      return reply;
    // Acknowledge only once the name is on disk.
    deferred = true;
    auto doc =
        json::serialize(user_names_to_json(t.user_names_by_mac(), t.user_names_by_ip()));
    self->request(st.store, caf::infinite, atom::put::value, std::string{"names"}, doc)
        .then(
            [=](bool ok) mutable {
              rp.deliver(ok ? reply
                            : error_json("add_name: the name could not be saved"));
            },
            [=](caf::error&) mutable {
              rp.deliver(error_json("add_name: the name could not be saved"));
            });
    return {};
  }
  return {}; // not a registry command
}

} // namespace

node_registry_actor::behavior_type
node_registry(node_registry_actor::stateful_pointer<node_registry_state> self,
              node_registry_config cfg, mqtt_publisher_actor publisher,
              dns_cache_actor dns, state_store_actor store) {
  auto& st = self->state;
  if (cfg.shards == 0)
    cfg.shards = 1;
  st.table = std::make_unique<node_table>(cfg.table);
  st.table->set_user_names(cfg.user_names_by_mac, cfg.user_names_by_ip);
  st.cfg = std::move(cfg);
  st.publisher = std::move(publisher);
  st.dns = std::move(dns);
  st.store = std::move(store);
  return {
      [=](atom::interval, flow_batch_ptr& batch) {
        auto& st = self->state;
        ++st.batches;
        auto second = batch->second;
        if (st.intervals > 0 && second <= st.last_second &&
            st.pending.count(second) == 0) {
          // Cannot happen with in-order shards; never report a second twice.
          ++st.late_batches;
          return;
        }
        st.pending[second].batches.push_back(std::move(batch));
        try_complete(self);
      },
      [=](atom::names, names_batch_ptr& names) {
        auto& st = self->state;
        ++st.names_batches;
        auto second = names->second;
        if (st.intervals > 0 && second <= st.last_second &&
            st.pending.count(second) == 0) {
          ++st.late_batches;
          return;
        }
        auto& p = st.pending[second];
        p.names = std::move(names);
        p.has_names = true;
        try_complete(self);
      },
      [=](atom::eos, uint32_t) {
        ++self->state.ended;
        try_complete(self);
      },
      [=](atom::dhcp, device_names_ptr& names) {
        self->state.table->set_dhcp_names(names->by_mac, names->by_ip);
      },
      [=](atom::neighbours, neighbour_events_ptr& events) {
        auto& st = self->state;
        for (auto& e : *events) {
          if (e.local)
            st.table->set_local_address(e.address, e.present);
          else
            st.table->apply_binding(e.address, e.mac, e.present, st.last_second);
        }
      },
      [=](atom::command, const std::string& name,
          const std::string& argument) -> caf::typed_response_promise<std::string> {
        auto& st = self->state;
        ++st.commands;
        auto rp = self->make_response_promise<std::string>();
        boost::system::error_code ec;
        auto arg = argument.empty() ? json::value{} : json::parse(argument, ec);
        if (ec) {
          ++st.command_errors;
          rp.deliver(error_json(name + ": the argument is not JSON"));
          return rp;
        }
        bool deferred = false;
        auto reply = handle_command(self, name, arg, rp, deferred);
        if (!deferred) {
          if (reply.find("\"command\":\"error\"") != std::string::npos)
            ++st.command_errors;
          rp.deliver(std::move(reply));
        }
        return rp;
      },
      [=](atom::status) {
        auto& st = self->state;
        auto& c = st.table->stats();
        status_report r;
        r.component = "node_registry";
        r.counters = {
            {"nodes", static_cast<int64_t>(st.table->size())},
            {"devices", static_cast<int64_t>(st.table->devices())},
            {"intervals", static_cast<int64_t>(st.intervals)},
            {"batches", static_cast<int64_t>(st.batches)},
            {"names_batches", static_cast<int64_t>(st.names_batches)},
            {"late_batches", static_cast<int64_t>(st.late_batches)},
            {"pending_intervals", static_cast<int64_t>(st.pending.size())},
            {"nodes_created", static_cast<int64_t>(c.nodes_created)},
            {"nodes_expired", static_cast<int64_t>(c.nodes_expired)},
            {"nodes_evicted", static_cast<int64_t>(c.nodes_evicted)},
            {"nodes_merged", static_cast<int64_t>(c.nodes_merged)},
            {"ips_moved", static_cast<int64_t>(c.ips_moved)},
            {"ips_dropped", static_cast<int64_t>(c.ips_dropped)},
            {"names_moved", static_cast<int64_t>(c.names_moved)},
            {"names_dropped", static_cast<int64_t>(c.names_dropped)},
            {"dns_answers", static_cast<int64_t>(c.dns_answers)},
            {"dns_queries", static_cast<int64_t>(c.dns_queries)},
            {"bindings", static_cast<int64_t>(c.bindings)},
            {"ignored_packets", static_cast<int64_t>(c.ignored_packets)},
            {"lookups", static_cast<int64_t>(st.lookups)},
            {"dnsqueries_published", static_cast<int64_t>(st.dnsqueries_published)},
            {"dnsqueries_suppressed", static_cast<int64_t>(st.dnsqueries_suppressed)},
            {"dnsqueries_repeated", static_cast<int64_t>(st.dnsqueries_repeated)},
            {"commands", static_cast<int64_t>(st.commands)},
            {"command_errors", static_cast<int64_t>(st.command_errors)},
            {"flows_in", static_cast<int64_t>(c.flows_in)},
            {"flows_folded", static_cast<int64_t>(c.flows_folded)},
            {"last_second", st.last_second},
        };
        return r;
      },
  };
}

} // namespace spin
