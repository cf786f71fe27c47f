#include "spin/actors/mqtt_publisher.hpp"

#include "spin/runtime/spin_json.hpp"

#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <chrono>

namespace spin {

namespace json = boost::json;

mqtt_publisher_state::~mqtt_publisher_state() {
  if (client)
    client->stop();
}

namespace {

using self_ptr = mqtt_publisher_actor::stateful_pointer<mqtt_publisher_state>;
using clock_type = std::chrono::steady_clock;

std::string node_topic(const mqtt_publisher_state& st, node_id id) {
  return st.topic_node_prefix + std::to_string(id);
}

bool can_publish(const mqtt_publisher_state& st) {
  return st.connected && st.ph == mqtt_publisher_state::phase::ready;
}

// Tells a fast replay how far the broker is behind (see pipeline_gauge).
// Without a connection nothing is waited for: reports are dropped instead.
void update_backlog(mqtt_publisher_state& st) {
  if (st.gauge && st.client)
    st.gauge->set_backlog(st.connected ? st.client->unsent() : 0);
}

int publish(mqtt_publisher_state& st, const std::string& topic, std::string&& payload,
            bool retain) {
  int rc = st.client->publish(topic, std::move(payload), retain, st.settings.qos);
  if (rc != 0)
    ++st.publish_errors;
  update_backlog(st);
  return rc;
}

// The same with a copy of `payload` (the client queues its own).
int publish(mqtt_publisher_state& st, const std::string& topic,
            const std::string& payload, bool retain) {
  return publish(st, topic, std::string{payload}, retain);
}

void finish_interval(mqtt_publisher_state& st) {
  if (st.gauge)
    st.gauge->closed();
}

void drop_report(mqtt_publisher_state& st, const char* why) {
  ++st.reports_dropped;
  finish_interval(st);
  uint64_t held_back = 0;
  if (st.drop_log.allow(held_back))
    SPIN_WARN("mqtt: traffic report dropped (%s); %llu more dropped since the last "
              "message, %llu in all",
              why, static_cast<unsigned long long>(held_back),
              static_cast<unsigned long long>(st.reports_dropped));
}

// Drops the oldest held message (a report is counted as a dropped report).
void drop_oldest_held(mqtt_publisher_state& st) {
  auto item = std::move(st.held.front());
  st.held.pop_front();
  if (item.report) {
    --st.held_reports;
    drop_report(st, "broker not reachable");
  } else {
    ++st.messages_dropped;
  }
}

// Keeps a message for <root>/traffic until the first connection is ready.
void hold_message(mqtt_publisher_state& st, std::string payload) {
  st.held.push_back({nullptr, std::move(payload)});
  if (st.held.size() > publisher_max_held_messages)
    drop_oldest_held(st);
}

// The traffic message of `r`, with the node objects as they are now.
std::string encode_report(mqtt_publisher_state& st, const interval_report& r) {
  std::string out;
  // Reports of consecutive intervals are alike in size: one allocation, no
  // copies while it grows.
  out.reserve(st.last_report_size + st.last_report_size / 8 + 256);
  append_traffic_json(out, r, [&](node_id id) -> const std::string* {
    auto it = st.nodes.find(id);
    return it == st.nodes.end() ? nullptr : &it->second.tail;
  });
  st.last_report_size = out.size();
  return out;
}

// The `blocked` messages of `r`, one per node pair.
std::vector<std::string> encode_blocked(mqtt_publisher_state& st,
                                        const interval_report& r) {
  std::vector<std::string> out;
  for (auto& b : r.blocked) {
    std::string m;
    append_blocked_json(m, r.second, b.from, b.to, [&](node_id id) -> const std::string* {
      auto it = st.nodes.find(id);
      return it == st.nodes.end() ? nullptr : &it->second.tail;
    });
    out.push_back(std::move(m));
  }
  return out;
}

void publish_blocked(mqtt_publisher_state& st, const interval_report& r) {
  if (r.blocked.empty())
    return;
  if (!can_publish(st)) {
    st.blocked_dropped += r.blocked.size();
    return;
  }
  for (auto& m : encode_blocked(st, r)) {
    publish(st, st.topic_traffic, m, false);
    ++st.blocked_published;
  }
}

// Publishes an encoded report (or counts why not); `payload` empty means the
// interval had no IP traffic.
void publish_encoded_report(mqtt_publisher_state& st, std::string payload) {
  if (payload.empty()) {
    // An interval without IP traffic (only ARP, say): nothing to show.
    ++st.reports_empty;
    finish_interval(st);
    return;
  }
  if (!can_publish(st)) {
    drop_report(st, "broker not connected");
    return;
  }
  if (st.client->unsent() > publisher_max_unsent) {
    drop_report(st, "broker too slow: send queue full");
    return;
  }
  const size_t size = payload.size();
  if (publish(st, st.topic_traffic, std::move(payload), false) == 0) {
    ++st.reports_published;
    st.bytes_published += size;
    st.largest_report = std::max<uint64_t>(st.largest_report, size);
  } else {
    drop_report(st, "publish failed");
    return;
  }
  finish_interval(st);
}

void publish_report(mqtt_publisher_state& st, const interval_report& r) {
  if (r.total_count != 0 && !can_publish(st)) {
    drop_report(st, "broker not connected"); // no point encoding it
    return;
  }
  auto t0 = clock_type::now();
  publish_encoded_report(st, r.total_count == 0 ? std::string{} : encode_report(st, r));
  st.last_publish_us =
      std::chrono::duration_cast<std::chrono::microseconds>(clock_type::now() - t0)
          .count();
}

void publish_all_nodes(mqtt_publisher_state& st) {
  for (auto id : st.pending_clears)
    publish(st, node_topic(st, id), std::string{}, true);
  st.pending_clears.clear();
  // Ascending ids, so a late subscriber rebuilds the graph in creation order.
  std::vector<node_id> ids;
  ids.reserve(st.nodes.size());
  for (auto& [id, n] : st.nodes)
    ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  for (auto id : ids) {
    publish(st, node_topic(st, id), st.nodes[id].info, true);
    ++st.node_infos;
  }
}

void check_done(self_ptr self) {
  auto& st = self->state;
  if (!st.eos || st.done_sent || !st.held.empty())
    return;
  bool settled = st.ph == mqtt_publisher_state::phase::ready || st.connect_timed_out;
  if (!settled)
    return;
  if (st.connected && st.client->unsent() > 0)
    return; // the tick looks again
  st.done_sent = true;
  if (st.done_listener)
    caf::anon_send(st.done_listener, atom::done::value, st.reports_published,
                   st.reports_dropped);
}

void start_sync(mqtt_publisher_state& st) {
  // Retained node topics of an earlier run arrive right after SUBSCRIBE; the
  // probe, published after it on our own topic, comes back after all of them.
  st.ph = mqtt_publisher_state::phase::syncing;
  st.stale_topics.clear();
  st.client->subscribe(st.topic_node_prefix + "+");
  st.client->subscribe(st.topic_sync);
  publish(st, st.topic_sync, "sync", false);
}

void finish_sync(self_ptr self) {
  auto& st = self->state;
  for (auto& t : st.stale_topics)
    publish(st, t, std::string{}, true);
  st.stale_cleared += st.stale_topics.size();
  if (!st.stale_topics.empty())
    SPIN_INFO("mqtt: cleared %zu retained node topics left by an earlier run",
              st.stale_topics.size());
  st.stale_topics.clear();
  st.client->unsubscribe(st.topic_node_prefix + "+");
  st.client->unsubscribe(st.topic_sync);
  st.ph = mqtt_publisher_state::phase::ready;
  publish_all_nodes(st);
  while (!st.held.empty()) {
    auto item = std::move(st.held.front());
    st.held.pop_front();
    if (item.report)
      publish_encoded_report(st, std::move(item.payload));
    else
      publish(st, st.topic_traffic, std::move(item.payload), false);
  }
  st.held_reports = 0;
  check_done(self);
}

// A request on <root>/commands (legacy SPIN commands) or <root>/jsonrpc/q
// (JSON-RPC 2.0): the control actor (the block manager) parses, checks and
// carries it out; its reply goes to <root>/traffic or <root>/jsonrpc/a.
void handle_control(self_ptr self, bool jsonrpc, std::string payload) {
  auto& st = self->state;
  ++st.commands;
  const auto& reply_topic = jsonrpc ? st.topic_jsonrpc_a : st.topic_traffic;
  auto reject = [&](const std::string& why) {
    ++st.command_errors;
    uint64_t held_back = 0;
    if (st.command_log.allow(held_back))
      SPIN_NOTICE("mqtt: rejected a command: %s", why.c_str());
    if (!can_publish(st))
      return;
    if (jsonrpc) {
      json::object err{{"code", -32600}, {"message", why}};
      json::object o{{"jsonrpc", "2.0"}, {"id", nullptr}, {"error", std::move(err)}};
      publish(st, reply_topic, json::serialize(o), false);
    } else {
      publish(st, reply_topic, error_json(why), false);
    }
  };
  if (payload.size() > publisher_max_command_size) {
    reject("request longer than " + std::to_string(publisher_max_command_size) +
           " bytes");
    return;
  }
  if (!st.control) {
    reject("spind is not ready for commands yet");
    return;
  }
  auto handled = [self, reply_topic](std::string& reply) {
    auto& st = self->state;
    if (!reply.empty() && can_publish(st))
      publish(st, reply_topic, reply, false);
  };
  auto failed = [self, jsonrpc, reply_topic](caf::error&) {
    auto& st = self->state;
    ++st.command_errors;
    if (!can_publish(st))
      return;
    if (jsonrpc) {
      json::object err{{"code", -32603},
                       {"message", "no answer from spind's control actor"}};
      json::object o{{"jsonrpc", "2.0"}, {"id", nullptr}, {"error", std::move(err)}};
      publish(st, reply_topic, json::serialize(o), false);
    } else {
      publish(st, reply_topic, error_json("no answer from spind's control actor"), false);
    }
  };
  if (jsonrpc)
    self->request(st.control, std::chrono::seconds(10), atom::jsonrpc::value,
                  std::string{"mqtt"}, std::move(payload))
        .then(handled, failed);
  else
    self->request(st.control, std::chrono::seconds(10), atom::command::value,
                  std::string{"mqtt"}, std::move(payload))
        .then(handled, failed);
}

} // namespace

mqtt_publisher_actor::behavior_type
mqtt_publisher(mqtt_publisher_actor::stateful_pointer<mqtt_publisher_state> self,
               mqtt_settings settings, pipeline_gauge* gauge, caf::actor done_listener) {
  auto& st = self->state;
  st.settings = settings;
  st.gauge = gauge;
  st.done_listener = std::move(done_listener);
  const auto& root = settings.topic_root;
  st.topic_traffic = root + "/traffic";
  st.topic_node_prefix = root + "/traffic/node/";
  st.topic_admin = root + "/traffic/admin";
  st.topic_stat_prefix = root + "/stat/";
  st.topic_commands = root + "/commands";
  st.topic_jsonrpc_q = root + "/jsonrpc/q";
  st.topic_jsonrpc_a = root + "/jsonrpc/a";
  st.started = clock_type::now();

  // libmosquitto calls back from its network thread: forward to this actor
  // through a weak reference (the actor owns the client, not the reverse).
  caf::weak_actor_ptr weak{self->ctrl()};
  auto forward = [weak](auto&&... xs) {
    if (auto strong = weak.lock())
      caf::anon_send(caf::actor_cast<mqtt_publisher_actor>(strong),
                     std::forward<decltype(xs)>(xs)...);
  };
  mqtt_client::callbacks cbs;
  cbs.on_connect = [forward](int rc, const char*) {
    forward(atom::connected::value, rc);
  };
  cbs.on_disconnect = [forward](int rc, const char*) {
    forward(atom::disconnected::value, rc);
  };
  cbs.on_message = [forward](std::string topic, std::string payload, bool retained) {
    forward(atom::message::value, std::move(topic), std::move(payload), retained);
  };
  st.client = std::make_unique<mqtt_client>(settings, std::move(cbs));
  st.topic_sync = "spind-internal/sync/" + st.client->settings().client_id;
  std::string error;
  if (!st.client->start(error)) {
    SPIN_ERROR("mqtt: %s; nothing will be published", error.c_str());
    st.connect_timed_out = true;
  } else {
    SPIN_INFO("mqtt: connecting to %s:%u as %s, topic root %s", settings.host.c_str(),
              settings.port, st.client->settings().client_id.c_str(), root.c_str());
  }
  self->delayed_send(self, std::chrono::milliseconds(100), atom::tick::value);

  return {
      [=](atom::report, interval_report_ptr& r) {
        auto& st = self->state;
        if (st.ph != mqtt_publisher_state::phase::ready && !st.connect_timed_out) {
          // Encode now: later node changes must not show in this second.
          auto payload = r->total_count == 0 ? std::string{} : encode_report(st, *r);
          auto blocked = encode_blocked(st, *r);
          st.held.push_back({std::move(r), std::move(payload)});
          if (++st.held_reports > publisher_max_held)
            drop_oldest_held(st);
          for (auto& m : blocked)
            hold_message(st, std::move(m));
          return;
        }
        publish_report(st, *r);
        publish_blocked(st, *r);
      },
      [=](atom::node, node_info_ptr& n) {
        auto& st = self->state;
        auto& c = st.nodes[n->id];
        c.tail = node_tail_json(*n);
        c.info = message_json("nodeInfo", "", node_to_json(*n));
        st.pending_clears.erase(n->id);
        if (can_publish(st)) {
          publish(st, node_topic(st, n->id), c.info, true);
          ++st.node_infos;
        }
      },
      [=](atom::deleted, node_id id) {
        auto& st = self->state;
        st.nodes.erase(id);
        ++st.nodes_deleted;
        if (can_publish(st)) {
          json::object arg;
          arg["id"] = id;
          publish(st, st.topic_admin, message_json("nodeDeleted", "", arg), false);
          publish(st, node_topic(st, id), std::string{}, true);
        } else {
          st.pending_clears.insert(id);
        }
      },
      [=](atom::merged, node_id from, node_id into) {
        auto& st = self->state;
        st.nodes.erase(from);
        ++st.nodes_merged;
        if (can_publish(st)) {
          json::object arg;
          arg["id"] = from;
          arg["merged-to"] = into;
          publish(st, st.topic_admin, message_json("nodeMerged", "", arg), false);
          publish(st, node_topic(st, from), std::string{}, true);
        } else {
          st.pending_clears.insert(from);
        }
      },
      [=](atom::dnsquery, node_id from, node_id queried, const std::string& name,
          int64_t second) {
        auto& st = self->state;
        bool holding =
            st.ph != mqtt_publisher_state::phase::ready && !st.connect_timed_out;
        if (!holding && !can_publish(st)) {
          ++st.dnsqueries_dropped;
          return;
        }
        st.buffer.clear();
        append_dnsquery_json(st.buffer, from, queried, name, second,
                             [&](node_id id) -> const std::string* {
                               auto it = st.nodes.find(id);
                               return it == st.nodes.end() ? nullptr : &it->second.tail;
                             });
        ++st.dnsqueries;
        if (holding)
          hold_message(st, st.buffer);
        else
          publish(st, st.topic_traffic, st.buffer, false);
      },
      [=](atom::publish, std::string& payload) {
        auto& st = self->state;
        if (st.ph != mqtt_publisher_state::phase::ready && !st.connect_timed_out)
          hold_message(st, std::move(payload)); // e.g. the lists at start-up
        else if (can_publish(st))
          publish(st, st.topic_traffic, payload, false);
        else
          ++st.messages_dropped;
      },
      [=](atom::command, control_api& control) {
        self->state.control = std::move(control);
      },
      [=](atom::eos) {
        self->state.eos = true;
        check_done(self);
      },
      [=](atom::publish, const std::string& name, const std::string& doc) {
        auto& st = self->state;
        if (can_publish(st))
          publish(st, st.topic_stat_prefix + name, doc, true);
      },
      [=](atom::connected, int rc) {
        auto& st = self->state;
        if (rc != 0) {
          uint64_t n = 0;
          if (st.refuse_log.allow(n))
            SPIN_ERROR("mqtt: broker %s:%u refused the connection: %s",
                       st.settings.host.c_str(), st.settings.port,
                       mqtt_client::connack_text(rc));
          return;
        }
        st.connected = true;
        ++st.connects;
        // Subscriptions do not survive a new session (clean session).
        st.client->subscribe(st.topic_commands);
        st.client->subscribe(st.topic_jsonrpc_q);
        if (!st.restart_sent) {
          SPIN_INFO("mqtt: connected to %s:%u", st.settings.host.c_str(),
                    st.settings.port);
          publish(st, st.topic_traffic, message_json("serverRestart", "", json::string{}),
                  false);
          st.restart_sent = true;
          start_sync(st);
        } else if (st.ph != mqtt_publisher_state::phase::ready) {
          start_sync(st);
        } else {
          SPIN_NOTICE("mqtt: reconnected to %s:%u; republishing %zu nodes",
                      st.settings.host.c_str(), st.settings.port, st.nodes.size());
          publish_all_nodes(st);
        }
      },
      [=](atom::disconnected, int rc) {
        auto& st = self->state;
        if (st.connected) {
          ++st.disconnects;
          if (rc != 0)
            SPIN_WARN("mqtt: lost the connection to %s:%u (%s); reconnecting",
                      st.settings.host.c_str(), st.settings.port,
                      mqtt_client::error_text(rc));
        }
        st.connected = false;
        update_backlog(st);
        check_done(self);
      },
      [=](atom::message, std::string& topic, std::string& payload, bool retained) {
        auto& st = self->state;
        if (topic == st.topic_commands || topic == st.topic_jsonrpc_q) {
          if (!retained) // a retained command would be replayed on every connect
            handle_control(self, topic == st.topic_jsonrpc_q, std::move(payload));
          return;
        }
        if (st.ph == mqtt_publisher_state::phase::syncing) {
          if (topic == st.topic_sync) {
            finish_sync(self);
          } else if (retained && !payload.empty() &&
                     topic.compare(0, st.topic_node_prefix.size(),
                                   st.topic_node_prefix) == 0) {
            st.stale_topics.push_back(std::move(topic));
          }
        }
      },
      [=](atom::tick) {
        auto& st = self->state;
        if (st.ph != mqtt_publisher_state::phase::ready && !st.connect_timed_out &&
            clock_type::now() - st.started >=
                std::chrono::seconds(st.settings.connect_timeout)) {
          st.connect_timed_out = true;
          SPIN_ERROR("mqtt: cannot reach the broker at %s:%u after %d s; reports are "
                     "dropped until it is reachable (still trying)",
                     st.settings.host.c_str(), st.settings.port,
                     st.settings.connect_timeout);
          while (!st.held.empty())
            drop_oldest_held(st);
        }
        check_done(self);
        update_backlog(st);
        // While a fast replay waits for the broker, look often.
        bool waiting = st.gauge && st.gauge->backlog() > pipeline_gauge::backlog_limit;
        auto next = st.eos || waiting ? std::chrono::milliseconds(10)
                                      : std::chrono::milliseconds(200);
        if (!st.done_sent)
          self->delayed_send(self, next, atom::tick::value);
      },
      [=](atom::status) {
        auto& st = self->state;
        status_report r;
        r.component = "mqtt_publisher";
        r.counters = {
            {"connected", st.connected ? 1 : 0},
            {"ready", st.ph == mqtt_publisher_state::phase::ready ? 1 : 0},
            {"reports_published", static_cast<int64_t>(st.reports_published)},
            {"reports_empty", static_cast<int64_t>(st.reports_empty)},
            {"reports_dropped", static_cast<int64_t>(st.reports_dropped)},
            {"reports_held", static_cast<int64_t>(st.held_reports)},
            {"dnsqueries_dropped", static_cast<int64_t>(st.dnsqueries_dropped)},
            {"messages_dropped", static_cast<int64_t>(st.messages_dropped)},
            {"blocked_published", static_cast<int64_t>(st.blocked_published)},
            {"blocked_dropped", static_cast<int64_t>(st.blocked_dropped)},
            {"bytes_published", static_cast<int64_t>(st.bytes_published)},
            {"largest_report", static_cast<int64_t>(st.largest_report)},
            {"node_infos", static_cast<int64_t>(st.node_infos)},
            {"nodes_deleted", static_cast<int64_t>(st.nodes_deleted)},
            {"nodes_merged", static_cast<int64_t>(st.nodes_merged)},
            {"nodes_cached", static_cast<int64_t>(st.nodes.size())},
            {"connects", static_cast<int64_t>(st.connects)},
            {"disconnects", static_cast<int64_t>(st.disconnects)},
            {"stale_topics_cleared", static_cast<int64_t>(st.stale_cleared)},
            {"publish_errors", static_cast<int64_t>(st.publish_errors)},
            {"unsent_messages", st.client ? st.client->unsent() : 0},
            {"lost_messages", st.client ? st.client->lost() : 0},
            {"publish_latency_us", st.last_publish_us},
            {"dnsqueries", static_cast<int64_t>(st.dnsqueries)},
            {"commands", static_cast<int64_t>(st.commands)},
            {"command_errors", static_cast<int64_t>(st.command_errors)},
        };
        return r;
      },
  };
}

} // namespace spin
