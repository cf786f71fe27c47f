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

int64_t* recent_query_names::find(dns_name_view name) {
  if (items_.empty())
    return nullptr;
  size_t mask = index_.size() - 1;
  for (size_t i = name.hash & mask; index_[i] != 0; i = (i + 1) & mask) {
    auto& it = items_[index_[i] - 1];
    if (it.hash == name.hash &&
        std::string_view(text_).substr(it.offset, it.length) == name.text)
      return &it.second;
  }
  return nullptr;
}

void recent_query_names::insert(dns_name_view name, int64_t second) {
  if ((items_.size() + 1) * 2 > index_.size())
    rehash(std::max<size_t>(16, index_.size() * 2));
  items_.push_back(item{name.hash, second, static_cast<uint32_t>(text_.size()),
                        static_cast<uint32_t>(name.text.size())});
  text_.append(name.text);
  size_t mask = index_.size() - 1;
  size_t i = name.hash & mask;
  while (index_[i] != 0)
    i = (i + 1) & mask;
  index_[i] = static_cast<uint32_t>(items_.size());
}

void recent_query_names::rehash(size_t slots) {
  index_.assign(slots, 0);
  size_t mask = slots - 1;
  for (size_t k = 0; k < items_.size(); ++k) {
    size_t i = items_[k].hash & mask;
    while (index_[i] != 0)
      i = (i + 1) & mask;
    index_[i] = static_cast<uint32_t>(k + 1);
  }
}

void recent_query_names::clear() {
  items_.clear();
  text_.clear();
  std::fill(index_.begin(), index_.end(), 0);
}

namespace {

using self_ptr = node_registry_actor::stateful_pointer<node_registry_state>;

void send_events(self_ptr self, node_events& ev) {
  auto& pub = self->state.publisher;
  for (auto& [from, into] : ev.merged)
    self->send(pub, atom::merged::value, from, into);
  for (auto id : ev.deleted)
    self->send(pub, atom::deleted::value, id);
  if (!self->state.listeners.empty() && !ev.updated.empty()) {
    auto batch = std::make_shared<const std::vector<node_info_ptr>>(ev.updated);
    for (auto& l : self->state.listeners)
      self->send(l, atom::node::value, batch);
  }
  for (auto& n : ev.updated)
    self->send(pub, atom::node::value, std::move(n));
}

// Remembers the interval's flows of devices for list_device_flows.
void record_device_flows(node_registry_state& st, const interval_report& r) {
  auto add = [&](node_id device, node_id peer, uint8_t proto, uint16_t port, bool blocked,
                 uint64_t packets, uint64_t bytes) {
    auto& flows = st.device_flows[device];
    for (auto& f : flows) {
      if (f.peer == peer && f.proto == proto && f.port == port && f.blocked == blocked) {
        f.packets += packets;
        f.bytes += bytes;
        f.lastseen = r.second;
        return;
      }
    }
    node_registry_state::device_flow f{peer,    proto, port,    blocked,
                                       packets, bytes, r.second};
    if (flows.size() < registry_max_device_flows) {
      flows.push_back(f);
      return;
    }
    // Full: the flow seen longest ago makes room.
    auto oldest = std::min_element(flows.begin(), flows.end(), [](auto& a, auto& b) {
      return a.lastseen < b.lastseen;
    });
    *oldest = f;
  };
  auto& t = *st.table;
  for (auto& f : r.flows) {
    if (t.is_device(f.from))
      add(f.from, f.to, f.proto, f.port, false, f.count, f.size);
    if (t.is_device(f.to))
      add(f.to, f.from, f.proto, f.port, false, f.count, f.size);
  }
  for (auto& b : r.blocked)
    if (t.is_device(b.from))
      add(b.from, b.to, 0, 0, true, b.count, 0);
}

// A repeat of the same question by the same device within the window says
// nothing new (A and AAAA lookups come in pairs, apps re-resolve often).
bool repeated_query(node_registry_state& st, node_id device, dns_name_view name,
                    int64_t second) {
  int64_t window = st.cfg.dnsquery_repeat_window;
  if (window <= 0)
    return false;
  auto& recent = st.recent_queries[device];
  if (auto* when = recent.find(name); when && second - *when < window)
    return true;
  if (recent.size() >= registry_max_recent_queries) {
    // Forget what is outside the window; if that is not enough, start over.
    recent.retain([&](int64_t when) { return second - when < window; });
    if (recent.size() >= registry_max_recent_queries)
      recent.clear();
  }
  if (auto* when = recent.find(name))
    *when = second;
  else
    recent.insert(name, second);
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

// A query applied to the node table, waiting for the report to go first.
struct applied_query {
  node_id from = 0;
  node_id queried = 0;
  uint32_t name = 0; ///< index into the names batch
};

void build_and_send(self_ptr self, int64_t second, std::vector<flow_batch_ptr> batches,
                    const std::vector<applied_query>& queries, const names_batch* names) {
  auto& st = self->state;
  node_events ev;
  auto report = st.table->build_report(second, batches, ev);
  // Node changes go first, so the publisher knows every node a report names.
  send_events(self, ev);
  record_device_flows(st, *report);
  self->send(st.publisher, atom::report::value, std::move(report));
  for (auto& q : queries) {
    auto name = names->name(q.name);
    if (repeated_query(st, q.from, name, second)) {
      ++st.dnsqueries_repeated;
    } else if (allow_query(st, q.from, second)) {
      ++st.dnsqueries_published;
      self->send(st.publisher, atom::dnsquery::value, q.from, q.queried,
                 std::string{name.text}, second);
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
      st.device_flows.erase(id);
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
  std::vector<applied_query> queries;
  names_batch_ptr names = p.names;
  if (names) {
    for (auto& b : names->bindings)
      st.table->apply_binding(b.address, b.mac, b.present, second);
    auto& views = st.answer_names;
    for (auto& a : names->answers) {
      views.clear();
      for (uint32_t i = 0; i < a.name_count; ++i)
        views.push_back(names->name(a.first_name + i));
      st.table->apply_answer(views.data(), views.size(),
                             names->addresses.data() + a.first_address, a.address_count,
                             second);
    }
    queries.reserve(names->queries.size());
    for (auto& q : names->queries) {
      auto n = st.table->apply_query(q.client, q.client_mac, names->name(q.name), second);
      queries.push_back(applied_query{n.from, n.queried, q.name});
    }
  }
  // Addresses never seen before may still have valid DNS names (their node
  // expired, the answer did not): ask the cache before creating plain nodes.
  std::vector<ip_address> unknown;
  if (st.dns)
    unknown = st.table->unknown_addresses(p.batches);
  if (unknown.empty()) {
    build_and_send(self, second, std::move(p.batches), queries, names.get());
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
            build_and_send(self, second, std::move(batches), queries, names.get());
            try_complete(self);
          },
          [=](caf::error&) mutable {
            build_and_send(self, second, std::move(batches), queries, names.get());
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

control_result_ptr result(control_result r) {
  return std::make_shared<const control_result>(std::move(r));
}

control_result_ptr failure(int code, std::string message) {
  return result(control_result::failure(code, std::move(message)));
}

std::string unknown_node(node_id id) {
  return "unknown node " + std::to_string(id);
}

json::value device_flows_json(node_registry_state& st, node_id device) {
  json::array out;
  auto it = st.device_flows.find(device);
  if (it == st.device_flows.end())
    return out;
  auto flows = it->second;
  std::sort(flows.begin(), flows.end(),
            [](auto& a, auto& b) { return a.lastseen > b.lastseen; });
  for (auto& f : flows) {
    json::object o;
    if (auto peer = st.table->snapshot(f.peer))
      o["to"] = node_to_json(*peer);
    else
      o["to"] = json::object{{"id", f.peer}};
    bool icmp = f.proto == ipproto::icmp || f.proto == ipproto::icmpv6;
    o["protocol"] = f.proto;
    o["dst_port"] = icmp ? 0 : f.port;
    if (icmp)
      o["icmp_type"] = f.port >> 8;
    else
      o["icmp_type"] = nullptr;
    o["packets"] = f.packets;
    o["bytes"] = f.bytes;
    o["lastseen"] = f.lastseen;
    o["blocked"] = f.blocked;
    out.emplace_back(std::move(o));
  }
  return out;
}

json::object names_object(const node_table& t) {
  json::object o;
  for (auto& [ip, name] : t.names_by_address())
    o[ip.to_string()] = name;
  return o;
}

// Carries out a control request about nodes and names. Returns nullptr when
// the answer comes later through `rp` (a name being saved).
control_result_ptr handle_control(self_ptr self, const control_request& r,
                                  caf::typed_response_promise<control_result_ptr>& rp) {
  auto& st = self->state;
  auto& t = *st.table;
  switch (r.op) {
  case control_op::get_names:
    return result(control_result::success(names_object(t)));
  case control_op::ip2hostname: {
    json::array domains;
    for (auto& d : t.domains_of(r.ip))
      domains.emplace_back(d);
    return result(control_result::success(std::move(domains)));
  }
  case control_op::republish_node: {
    auto snap = t.snapshot(r.node);
    if (!snap)
      return failure(rpc_error::invalid_params, unknown_node(r.node));
    self->send(st.publisher, atom::node::value, std::move(snap));
    return result(control_result::success());
  }
  case control_op::list_devices: {
    json::array out;
    for (auto& n : t.all())
      if (n->mac)
        out.emplace_back(node_to_json(*n));
    return result(control_result::success(std::move(out)));
  }
  case control_op::get_device: {
    auto snap = t.snapshot(r.node);
    if (!snap)
      return failure(rpc_error::invalid_params, unknown_node(r.node));
    return result(control_result::success(node_to_json(*snap)));
  }
  case control_op::list_device_flows: {
    auto id = t.find_mac(r.mac);
    if (!id)
      return failure(rpc_error::invalid_params, "unknown device " + r.mac.to_string());
    return result(control_result::success(device_flows_json(st, *id)));
  }
  case control_op::set_name: {
    if (!t.set_user_name(r.node, r.text))
      return failure(rpc_error::invalid_params, unknown_node(r.node));
    // Changed nodes are published with the next report; publish this one now.
    if (auto snap = t.snapshot(r.node))
      self->send(st.publisher, atom::node::value, std::move(snap));
    // Legacy add_name answers with the names; set_device_name with null.
    json::value value = nullptr;
    if (r.from == control_request::dialect::legacy)
      value = names_object(t);
    if (!st.store)
      return result(control_result::success(std::move(value)));
    // Acknowledge only once the name is on disk.
    auto doc =
        json::serialize(user_names_to_json(t.user_names_by_mac(), t.user_names_by_ip()));
    self->request(st.store, caf::infinite, atom::put::value, std::string{"names"}, doc)
        .then(
            [=](bool ok) mutable {
              rp.deliver(
                  ok ? result(control_result::success(value))
                     : failure(rpc_error::internal_error, "the name could not be saved"));
            },
            [=](caf::error&) mutable {
              rp.deliver(
                  failure(rpc_error::internal_error, "the name could not be saved"));
            });
    return nullptr;
  }
  default:
    return failure(rpc_error::method_not_found, "not a request for the node registry");
  }
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
          if (e.local) {
            if (!st.cfg.ignore_from_lists)
              st.table->set_local_address(e.address, e.present);
          } else
            st.table->apply_binding(e.address, e.mac, e.present, st.last_second);
        }
      },
      [=](atom::lists, verdict_sets_ptr& sets) {
        auto& st = self->state;
        st.table->set_ignored(sets->ignore);
        node_events ev;
        st.table->set_verdict_sets(sets->block, sets->allow, ev);
        send_events(self, ev);
      },
      [=](atom::wire, node_listener_api& listener) {
        self->state.listeners.push_back(std::move(listener));
      },
      [=](atom::get, node_id id) { return self->state.table->snapshot(id); },
      [=](atom::get, const mac_address& mac) {
        auto id = self->state.table->find_mac(mac);
        return id ? self->state.table->snapshot(*id) : node_info_ptr{};
      },
      [=](atom::control,
          control_request_ptr& req) -> caf::typed_response_promise<control_result_ptr> {
        auto& st = self->state;
        ++st.commands;
        auto rp = self->make_response_promise<control_result_ptr>();
        if (auto res = handle_control(self, *req, rp)) {
          if (!res->ok)
            ++st.command_errors;
          rp.deliver(std::move(res));
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
