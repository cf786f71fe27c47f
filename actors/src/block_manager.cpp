#include "spin/actors/block_manager.hpp"

#include "spin/runtime/spin_json.hpp"

#include <caf/typed_event_based_actor.hpp>

#include <boost/json.hpp>

#include <functional>
#include <optional>

namespace spin {

namespace json = boost::json;

namespace {

using self_ptr = block_manager_actor::stateful_pointer<block_manager_state>;
using done_fn = std::function<void(control_result)>;

constexpr list_kind all_lists[] = {list_kind::block, list_kind::allow, list_kind::ignore};

/// Publishes a list in both vocabularies (`blocks` is the same in both).
void broadcast_list(self_ptr self, list_kind k) {
  auto& st = self->state;
  auto ips = st.lists->list(k);
  self->send(st.publisher, atom::publish::value,
             list_message(k, list_vocabulary::documented, ips));
  if (k != list_kind::block)
    self->send(st.publisher, atom::publish::value,
               list_message(k, list_vocabulary::web_client, ips));
}

/// Hands the registry the lists it applies (ignored addresses, node flags).
void send_sets(self_ptr self) {
  auto& st = self->state;
  if (!st.registry)
    return;
  auto s = std::make_shared<verdict_sets>();
  s->ignore = st.lists->ignore_set();
  s->block = st.lists->block_set();
  s->allow = st.lists->allow_set();
  self->send(st.registry, atom::lists::value, verdict_sets_ptr{std::move(s)});
}

void arm_retry(self_ptr self) {
  auto& st = self->state;
  if (st.retry_armed)
    return;
  st.retry_armed = true;
  self->delayed_send(self, st.retry_interval, atom::tick::value);
}

/// Recreates the table and puts every element back: after the kernel
/// refused a change (someone removed or flushed the table, say).
bool rebuild(self_ptr self, std::string& error) {
  auto& st = self->state;
  ++st.firewall_rebuilds;
  if (st.firewall->rebuild(st.lists->full_firewall(), error)) {
    if (!st.firewall_ok)
      SPIN_NOTICE("firewall: %s rebuilt with every list element",
                  st.firewall->name().c_str());
    st.firewall_ok = true;
    return true;
  }
  st.firewall_ok = false;
  st.last_error = "firewall: " + error;
  uint64_t held = 0;
  if (st.error_log.allow(held))
    SPIN_ERROR("firewall: cannot rebuild %s: %s; retrying every %lld s",
               st.firewall->name().c_str(), error.c_str(),
               static_cast<long long>(st.retry_interval.count()));
  arm_retry(self);
  return false;
}

/// Applies a change to the firewall. False with `error` if it is not in
/// effect (it will be once a rebuild succeeds).
bool enforce(self_ptr self, const set_change& c, std::string& error) {
  auto& st = self->state;
  if (!st.firewall || c.empty())
    return true;
  if (!st.firewall_ok)
    return rebuild(self, error);
  ++st.firewall_changes;
  st.firewall_elements += c.allow_add.size() + c.allow_del.size() + c.block_add.size() +
                          c.block_del.size() + c.pair_add.size() + c.pair_del.size();
  if (st.firewall->apply(c, error))
    return true;
  ++st.firewall_errors;
  SPIN_WARN("firewall: a change was refused (%s); rebuilding %s", error.c_str(),
            st.firewall->name().c_str());
  return rebuild(self, error);
}

/// After a change of the lists: enforce it, tell the registry, save it, and
/// once it is on disk broadcast the changed lists (and `commanded`, the list
/// a command was about, which acknowledges it) and call `done`.
void commit(self_ptr self, block_lists::delta d, std::optional<list_kind> commanded,
            done_fn done) {
  auto& st = self->state;
  ++st.changes;
  if (d.dropped > 0) {
    st.dropped += d.dropped;
    uint64_t held = 0;
    if (st.drop_log.allow(held))
      SPIN_WARN("lists: %llu addresses were not added: a node entry or pair is at its "
                "limit (see doc/control.md)",
                static_cast<unsigned long long>(d.dropped));
  }
  std::string error;
  bool enforced = enforce(self, d.firewall, error);
  if (d.any_list_changed() || d.ignore_changed)
    send_sets(self);
  std::vector<list_kind> kinds;
  for (auto k : all_lists)
    if (d.list_changed[static_cast<size_t>(k)] || commanded == k)
      kinds.push_back(k);
  auto finish = [self, kinds, enforced, error, done](bool saved) {
    for (auto k : kinds)
      broadcast_list(self, k);
    if (!saved)
      done(control_result::failure(rpc_error::internal_error,
                                   "the change is in effect but could not be saved"));
    else if (!enforced)
      done(control_result::failure(rpc_error::internal_error,
                                   "the change is saved, but the firewall refused it (" +
                                       error + "); spind keeps trying to rebuild it"));
    else
      done(control_result::success());
  };
  if (!d.persist || !st.store) {
    finish(true);
    return;
  }
  self->request(st.store, caf::infinite, atom::put::value, std::string{"lists"},
                json::serialize(st.lists->to_json()))
      .then(
          [self, finish](bool ok) {
            if (!ok)
              ++self->state.save_errors;
            finish(ok);
          },
          [self, finish](caf::error&) {
            ++self->state.save_errors;
            finish(false);
          });
}

/// Asks the registry for node `id`; `then` gets nullptr if there is none.
void with_node(self_ptr self, node_id id, std::function<void(node_info_ptr)> then) {
  auto& st = self->state;
  if (!st.registry) {
    then(nullptr);
    return;
  }
  self->request(st.registry, std::chrono::seconds(10), atom::get::value, id)
      .then([then](node_info_ptr& n) { then(std::move(n)); },
            [then](caf::error&) { then(nullptr); });
}

control_result unknown_node(node_id id) {
  return control_result::failure(rpc_error::invalid_params,
                                 "unknown node " + std::to_string(id));
}

json::value node_id_json(node_id id) {
  return id > 0 ? json::value(id) : json::value(nullptr);
}

/// Carries out a parsed request; `done` gets the result.
void execute(self_ptr self, control_request_ptr req, done_fn done) {
  auto& st = self->state;
  auto& lists = *st.lists;
  std::string error;
  block_lists::delta d;
  auto k = req->list;
  switch (req->op) {
  case control_op::get_list: {
    json::array a;
    for (auto& ip : lists.list(k))
      a.emplace_back(ip.to_string());
    done(control_result::success(std::move(a)));
    return;
  }
  case control_op::add_list_ip:
  case control_op::remove_list_ip: {
    bool ok = req->op == control_op::add_list_ip ? lists.add_ip(k, req->ip, d, error)
                                                 : lists.remove_ip(k, req->ip, d, error);
    if (!ok) {
      done(control_result::failure(rpc_error::invalid_params, error));
      return;
    }
    commit(self, std::move(d), k, done);
    return;
  }
  case control_op::reset_ignores:
    lists.reset_ignores(d);
    commit(self, std::move(d), list_kind::ignore, done);
    return;
  case control_op::add_list_node:
  case control_op::remove_list_node:
    with_node(self, req->node, [self, req, done](node_info_ptr n) {
      if (!n) {
        done(unknown_node(req->node));
        return;
      }
      block_lists::delta d;
      std::string error;
      auto& lists = *self->state.lists;
      bool ok = req->op == control_op::add_list_node
                    ? lists.add_node(req->list, *n, d, error)
                    : lists.remove_node(req->list, *n, d, error);
      if (!ok) {
        done(control_result::failure(rpc_error::invalid_params, error));
        return;
      }
      commit(self, std::move(d), req->list, done);
    });
    return;
  case control_op::set_flow_block:
    with_node(self, req->node, [self, req, done](node_info_ptr a) {
      if (!a) {
        done(unknown_node(req->node));
        return;
      }
      with_node(self, req->node2, [self, req, done, a](node_info_ptr b) {
        if (!b) {
          done(unknown_node(req->node2));
          return;
        }
        block_lists::delta d;
        std::string error;
        if (!self->state.lists->set_pair(*a, *b, req->flag, d, error)) {
          done(control_result::failure(rpc_error::invalid_params, error));
          return;
        }
        commit(self, std::move(d), std::nullopt, done);
      });
    });
    return;
  case control_op::get_flow_blocks: {
    json::array a;
    for (auto& p : lists.pairs())
      a.emplace_back(json::object{{"node1", node_id_json(p.node1)},
                                  {"node2", node_id_json(p.node2)},
                                  {"elements", p.elements}});
    done(control_result::success(std::move(a)));
    return;
  }
  case control_op::list_methods:
    done(control_result::success(rpc_methods_description()));
    return;
  case control_op::set_profile: {
    auto apply = [self, req, done](node_info_ptr device) {
      block_lists::delta d;
      std::string error;
      if (!self->state.lists->set_profile(req->mac, req->text, device.get(), d, error)) {
        done(control_result::failure(rpc_error::invalid_params, error));
        return;
      }
      commit(self, std::move(d), std::nullopt, done);
    };
    if (!st.registry) {
      apply(nullptr);
      return;
    }
    self->request(st.registry, std::chrono::seconds(10), atom::get::value, req->mac)
        .then([apply](node_info_ptr& n) { apply(std::move(n)); },
              [apply](caf::error&) { apply(nullptr); });
    return;
  }
  case control_op::get_profiles: {
    json::array profiles;
    for (auto& p : device_profiles())
      profiles.emplace_back(
          json::object{{"id", p.id},
                       {"name", p.name},
                       {"description", p.description},
                       {"type", p.user ? "CREATED_BY_USER" : "CREATED_BY_SYSTEM"}});
    json::object devices;
    for (auto& [mac, id] : lists.profiles())
      devices[mac.to_string()] = id;
    done(control_result::success(json::object{{"profiles", std::move(profiles)},
                                              {"devices", std::move(devices)}}));
    return;
  }
  default:
    break;
  }
  // Names, nodes and devices: the registry's.
  if (!st.registry) {
    done(control_result::failure(rpc_error::internal_error, "spind is still starting"));
    return;
  }
  self->request(st.registry, std::chrono::seconds(10), atom::control::value, req)
      .then([done](control_result_ptr& r) { done(*r); },
            [done](caf::error&) {
              done(control_result::failure(rpc_error::internal_error,
                                           "no answer from the node registry"));
            });
}

/// True if `client` may send another request now.
bool admit(self_ptr self, const std::string& client) {
  auto& st = self->state;
  // Socket clients are "unix:uid=U,pid=P": every spinctl run is a new
  // process, so the user is the client the limit applies to.
  auto key = client.substr(0, client.find(",pid="));
  if (st.limiter->allow(key, std::chrono::steady_clock::now()))
    return true;
  ++st.rate_limited;
  uint64_t held = 0;
  if (st.rate_log.allow(held))
    SPIN_WARN("control: %s sends more than %g requests per second; refusing (%llu more "
              "refused since the last message)",
              client.c_str(), 0.0 + st.limiter->rate(),
              static_cast<unsigned long long>(held));
  return false;
}

/// The message of an `error` reply, for the log.
std::string error_message(const std::string& reply) {
  boost::system::error_code ec;
  auto v = json::parse(reply, ec);
  if (!ec && v.is_object())
    if (auto* a = v.as_object().if_contains("argument"); a && a->is_string())
      return std::string{a->as_string()};
  return reply;
}

std::string rate_text(self_ptr self) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "too many requests: at most %g per second",
                self->state.limiter->rate());
  return buf;
}

void log_outcome(self_ptr self, const std::string& client, const control_request& r,
                 const control_result& res) {
  if (!control_op_changes_state(r.op) && res.ok)
    return;
  if (res.ok) {
    if (r.from == control_request::dialect::legacy)
      SPIN_INFO("control: %s %s from %s: done", r.name.c_str(),
                json::serialize(r.argument).c_str(), client.c_str());
    else
      SPIN_INFO("control: %s from %s: done", r.name.c_str(), client.c_str());
  } else {
    ++self->state.rejected;
    uint64_t held = 0;
    if (self->state.error_log.allow(held))
      SPIN_NOTICE("control: %s from %s failed: %s", r.name.c_str(), client.c_str(),
                  res.message.c_str());
  }
}

} // namespace

block_manager_actor::behavior_type
block_manager(block_manager_actor::stateful_pointer<block_manager_state> self,
              block_manager_config cfg, mqtt_publisher_actor publisher,
              state_store_actor store) {
  auto& st = self->state;
  st.lists = cfg.lists ? std::move(cfg.lists) : std::make_shared<block_lists>();
  st.firewall = cfg.firewall;
  st.retry_interval = cfg.retry_interval;
  st.publisher = std::move(publisher);
  st.store = std::move(store);
  st.limiter =
      std::make_unique<command_rate_limiter>(cfg.command_rate, cfg.command_burst);
  return {
      [=](atom::command, const std::string& client,
          const std::string& payload) -> caf::typed_response_promise<std::string> {
        auto& st = self->state;
        ++st.commands;
        auto rp = self->make_response_promise<std::string>();
        if (!admit(self, client)) {
          rp.deliver(error_json(rate_text(self)));
          return rp;
        }
        auto parsed = parse_legacy_command(payload);
        if (auto* e = std::get_if<std::string>(&parsed)) {
          ++st.rejected;
          uint64_t held = 0;
          if (st.error_log.allow(held))
            SPIN_NOTICE("control: rejected a command from %s: %s", client.c_str(),
                        error_message(*e).c_str());
          rp.deliver(std::move(*e));
          return rp;
        }
        auto req = std::make_shared<const control_request>(
            std::get<control_request>(std::move(parsed)));
        execute(self, req, [self, rp, req, client](control_result r) mutable {
          log_outcome(self, client, *req, r);
          rp.deliver(legacy_reply(*req, r));
        });
        return rp;
      },
      [=](atom::jsonrpc, const std::string& client,
          const std::string& payload) -> caf::typed_response_promise<std::string> {
        auto& st = self->state;
        ++st.jsonrpc;
        auto rp = self->make_response_promise<std::string>();
        if (!admit(self, client)) {
          // Refused: answer with the request's id if it has one.
          json::value id = nullptr;
          boost::system::error_code ec;
          auto v = json::parse(payload, ec);
          if (!ec && v.is_object())
            if (auto* i = v.as_object().if_contains("id");
                i && (i->is_string() || i->is_int64() || i->is_uint64()))
              id = *i;
          json::object err{{"code", -32000}, {"message", rate_text(self)}};
          rp.deliver(json::serialize(json::object{
              {"jsonrpc", "2.0"}, {"id", std::move(id)}, {"error", std::move(err)}}));
          return rp;
        }
        auto parsed = parse_jsonrpc_request(payload);
        if (auto* e = std::get_if<std::string>(&parsed)) {
          ++st.rejected;
          rp.deliver(std::move(*e));
          return rp;
        }
        auto req = std::make_shared<const control_request>(
            std::get<control_request>(std::move(parsed)));
        execute(self, req, [self, rp, req, client](control_result r) mutable {
          log_outcome(self, client, *req, r);
          rp.deliver(jsonrpc_reply(*req, r));
        });
        return rp;
      },
      [=](atom::node, node_batch_ptr& batch) {
        auto& st = self->state;
        ++st.node_updates;
        if (st.lists->entries() == 0)
          return;
        block_lists::delta d;
        for (auto& n : *batch)
          st.lists->node_changed(*n, d);
        if (d.firewall.empty() && !d.any_list_changed() && !d.persist)
          return;
        ++st.followed;
        commit(self, std::move(d), std::nullopt, [](control_result) {});
      },
      [=](atom::neighbours, neighbour_events_ptr& events) {
        auto& st = self->state;
        block_lists::delta d;
        for (auto& e : *events)
          if (e.local)
            st.lists->set_local_address(e.address, e.present, d);
        if (d.ignore_changed)
          commit(self, std::move(d), std::nullopt, [](control_result) {});
      },
      [=](atom::wire, node_registry_actor& registry) {
        auto& st = self->state;
        st.registry = std::move(registry);
        // The registry starts with the lists as loaded; clients get them too
        // (the publisher holds them until the broker connection is ready).
        send_sets(self);
        for (auto k : all_lists)
          broadcast_list(self, k);
      },
      [=](atom::tick) {
        auto& st = self->state;
        st.retry_armed = false;
        if (st.firewall && !st.firewall_ok) {
          std::string error;
          rebuild(self, error);
        }
      },
      [=](atom::status) {
        auto& st = self->state;
        status_report r;
        r.component = "block_manager";
        auto i = [](uint64_t v) { return static_cast<int64_t>(v); };
        r.counters = {
            {"blocked_addresses", i(st.lists->list(list_kind::block).size())},
            {"allowed_addresses", i(st.lists->list(list_kind::allow).size())},
            {"ignored_addresses", i(st.lists->list(list_kind::ignore).size())},
            {"node_entries", i(st.lists->entries())},
            {"pairs", i(st.lists->pairs().size())},
            {"commands", i(st.commands)},
            {"jsonrpc_requests", i(st.jsonrpc)},
            {"rejected", i(st.rejected)},
            {"rate_limited", i(st.rate_limited)},
            {"changes", i(st.changes)},
            {"node_updates", i(st.node_updates)},
            {"followed", i(st.followed)},
            {"firewall_changes", i(st.firewall_changes)},
            {"firewall_elements", i(st.firewall_elements)},
            {"firewall_errors", i(st.firewall_errors)},
            {"firewall_rebuilds", i(st.firewall_rebuilds)},
            {"firewall_ok", st.firewall ? (st.firewall_ok ? 1 : 0) : -1},
            {"save_errors", i(st.save_errors)},
            {"dropped_addresses", i(st.dropped)},
        };
        r.last_error = st.last_error;
        return r;
      },
  };
}

} // namespace spin
