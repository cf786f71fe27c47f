#include "spin/actors/notifier.hpp"

#include "spin/runtime/log.hpp"

#include <caf/typed_event_based_actor.hpp>

#include <boost/json.hpp>

#include <algorithm>
#include <chrono>

namespace spin {

namespace json = boost::json;

namespace {

using self_ptr = notifier_actor::stateful_pointer<notifier_state>;

int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// The English text of a message key (the web app may translate by key).
std::string message_text(const std::string& key, const std::vector<std::string>& args) {
  if (key == "new_device")
    return "New device on network! Please set a profile";
  if (key == "profile_set_to")
    return "Profile set to " + (args.empty() ? std::string{} : args[0]);
  if (key == "profile_error")
    return "Error setting profile: " + (args.empty() ? std::string{} : args[0]);
  return {};
}

json::object note_json(const notifier_state::notification& n) {
  json::object o;
  o["id"] = n.id;
  o["message"] = n.message;
  o["messageKey"] = n.key;
  json::array args;
  for (auto& a : n.args)
    args.emplace_back(a);
  o["messageArgs"] = std::move(args);
  o["timestamp"] = n.timestamp;
  if (!n.mac.empty())
    o["deviceMac"] = n.mac;
  if (!n.device_name.empty())
    o["deviceName"] = n.device_name;
  return o;
}

json::object devices_json(const notifier_state& st) {
  json::object known;
  for (auto& [mac, first] : st.known)
    known[mac.to_string()] = first;
  json::array fresh;
  for (auto& mac : st.fresh)
    fresh.emplace_back(mac.to_string());
  return json::object{{"known", std::move(known)}, {"new", std::move(fresh)}};
}

json::object notes_doc(const notifier_state& st) {
  json::array a;
  for (auto& n : st.notes)
    a.emplace_back(note_json(n));
  return json::object{{"next_id", st.next_id}, {"list", std::move(a)}};
}

/// Saves what changed; `done(ok)` runs once it is on disk.
void save(self_ptr self, std::function<void(bool)> done) {
  auto& st = self->state;
  if (!st.store) {
    st.dirty_devices = st.dirty_notes = false;
    done(true);
    return;
  }
  std::vector<std::pair<std::string, std::string>> sections;
  if (st.dirty_devices)
    sections.emplace_back("devices", json::serialize(devices_json(st)));
  if (st.dirty_notes)
    sections.emplace_back("notifications", json::serialize(notes_doc(st)));
  st.dirty_devices = st.dirty_notes = false;
  if (sections.empty()) {
    done(true);
    return;
  }
  // Several sections: the store writes them in one coalesced write; the last
  // answer says when all of them are on disk.
  auto remaining = std::make_shared<size_t>(sections.size());
  auto all_ok = std::make_shared<bool>(true);
  for (auto& [name, text] : sections) {
    self->request(st.store, caf::infinite, atom::put::value, name, text)
        .then(
            [remaining, all_ok, done](bool ok) {
              *all_ok = *all_ok && ok;
              if (--*remaining == 0)
                done(*all_ok);
            },
            [remaining, all_ok, done](caf::error&) {
              *all_ok = false;
              if (--*remaining == 0)
                done(false);
            });
  }
}

int64_t add_note(notifier_state& st, std::string message, std::string key,
                 std::vector<std::string> args, std::string mac,
                 std::string device_name) {
  notifier_state::notification n;
  n.id = st.next_id++;
  n.key = std::move(key);
  n.message = message.empty() ? message_text(n.key, args) : std::move(message);
  n.args = std::move(args);
  n.timestamp = now_seconds();
  n.mac = std::move(mac);
  n.device_name = std::move(device_name);
  st.notes.push_back(std::move(n));
  while (st.notes.size() > notifier_max_notifications) {
    st.notes.pop_front();
    ++st.dropped;
  }
  st.dirty_notes = true;
  ++st.created;
  return st.next_id - 1;
}

void load(notifier_state& st, const json::object& doc) {
  std::vector<std::string> problems;
  if (auto* d = doc.if_contains("devices"); d && d->is_object()) {
    if (auto* k = d->as_object().if_contains("known"); k && k->is_object())
      for (auto& kv : k->as_object()) {
        auto mac = mac_address::parse(std::string_view{kv.key().data(), kv.key().size()});
        if (mac && kv.value().is_int64())
          st.known[*mac] = kv.value().as_int64();
        else
          problems.push_back("devices.known: skipped a malformed entry");
      }
    if (auto* f = d->as_object().if_contains("new"); f && f->is_array())
      for (auto& v : f->as_array()) {
        std::optional<mac_address> mac;
        if (v.is_string())
          mac = mac_address::parse(std::string_view{v.as_string()});
        if (mac && st.known.count(*mac))
          st.fresh.insert(*mac);
      }
  }
  if (auto* n = doc.if_contains("notifications"); n && n->is_object()) {
    auto& o = n->as_object();
    if (auto* id = o.if_contains("next_id"); id && id->is_int64() && id->as_int64() > 0)
      st.next_id = id->as_int64();
    if (auto* l = o.if_contains("list"); l && l->is_array())
      for (auto& v : l->as_array()) {
        if (!v.is_object())
          continue;
        auto& e = v.as_object();
        auto str = [&](const char* k) {
          auto* x = e.if_contains(k);
          return x && x->is_string() ? std::string{x->as_string()} : std::string{};
        };
        notifier_state::notification note;
        auto* id = e.if_contains("id");
        if (!id || !id->is_int64())
          continue;
        note.id = id->as_int64();
        note.message = str("message");
        note.key = str("messageKey");
        note.mac = str("deviceMac");
        note.device_name = str("deviceName");
        if (auto* t = e.if_contains("timestamp"); t && t->is_int64())
          note.timestamp = t->as_int64();
        if (auto* a = e.if_contains("messageArgs"); a && a->is_array())
          for (auto& x : a->as_array())
            if (x.is_string())
              note.args.emplace_back(x.as_string());
        st.next_id = std::max(st.next_id, note.id + 1);
        if (st.notes.size() < notifier_max_notifications)
          st.notes.push_back(std::move(note));
      }
  }
  if (auto* c = doc.if_contains("configuration"))
    st.configuration = *c;
  for (auto& p : problems)
    SPIN_WARN("state: %s", p.c_str());
}

} // namespace

notifier_actor::behavior_type
notifier(notifier_actor::stateful_pointer<notifier_state> self, json::object initial,
         state_store_actor store) {
  auto& st = self->state;
  st.store = std::move(store);
  load(st, initial);
  return {
      [=](atom::node, node_batch_ptr& batch) {
        auto& st = self->state;
        bool changed = false;
        for (auto& n : *batch) {
          if (!n->mac || st.known.count(*n->mac))
            continue;
          auto now = now_seconds();
          if (st.known.size() >= notifier_max_known) {
            auto oldest =
                std::min_element(st.known.begin(), st.known.end(),
                                 [](auto& a, auto& b) { return a.second < b.second; });
            st.fresh.erase(oldest->first);
            st.known.erase(oldest);
            ++st.forgotten;
          }
          st.known[*n->mac] = now;
          st.fresh.insert(*n->mac);
          st.dirty_devices = true;
          ++st.new_devices;
          changed = true;
          constexpr double burst = static_cast<double>(notifier_max_notifications);
          if (st.tokens < 0)
            st.tokens = burst;
          else
            st.tokens =
                std::min(burst, st.tokens + static_cast<double>(now - st.tokens_at) *
                                                notifier_new_device_rate / 60.0);
          st.tokens_at = now;
          if (st.tokens < 1) {
            if (st.suppressed++ % 100 == 0)
              SPIN_WARN("devices: many new devices (%s); not every one is announced "
                        "(%llu so far)",
                        n->mac->to_string().c_str(),
                        static_cast<unsigned long long>(st.suppressed));
            continue;
          }
          st.tokens -= 1;
          add_note(st, {}, "new_device", {}, n->mac->to_string(), n->name);
          SPIN_INFO("devices: new device %s%s%s", n->mac->to_string().c_str(),
                    n->name.empty() ? "" : " ", n->name.c_str());
        }
        if (changed)
          save(self, [](bool) {});
      },
      [=](atom::notes) {
        auto& st = self->state;
        json::array a;
        for (auto& n : st.notes)
          a.emplace_back(note_json(n));
        return json::serialize(a);
      },
      [=](atom::notes, std::string& message, std::string& key,
          std::vector<std::string>& args,
          std::string& mac) -> caf::typed_response_promise<int64_t> {
        auto rp = self->make_response_promise<int64_t>();
        auto& st = self->state;
        std::string device_name;
        auto id = add_note(st, std::move(message), std::move(key), std::move(args),
                           std::move(mac), device_name);
        save(self, [rp, id](bool ok) mutable { rp.deliver(ok ? id : int64_t{-1}); });
        return rp;
      },
      [=](atom::deleted, int64_t id) -> caf::typed_response_promise<bool> {
        auto rp = self->make_response_promise<bool>();
        auto& st = self->state;
        auto it = std::find_if(st.notes.begin(), st.notes.end(),
                               [&](auto& n) { return n.id == id; });
        if (it == st.notes.end()) {
          rp.deliver(false);
          return rp;
        }
        st.notes.erase(it);
        ++st.deleted;
        st.dirty_notes = true;
        save(self, [rp](bool ok) mutable { rp.deliver(ok); });
        return rp;
      },
      [=](atom::toggle, const mac_address& mac) -> caf::typed_response_promise<int> {
        auto rp = self->make_response_promise<int>();
        auto& st = self->state;
        if (!st.known.count(mac)) {
          rp.deliver(-1);
          return rp;
        }
        bool now_new = !st.fresh.count(mac);
        if (now_new)
          st.fresh.insert(mac);
        else
          st.fresh.erase(mac);
        st.dirty_devices = true;
        save(self, [rp, now_new](bool) mutable { rp.deliver(now_new ? 1 : 0); });
        return rp;
      },
      [=](atom::lookup) {
        json::array a;
        for (auto& mac : self->state.fresh)
          a.emplace_back(mac.to_string());
        return json::serialize(a);
      },
      [=](atom::config) { return json::serialize(self->state.configuration); },
      [=](atom::config, std::string& text) -> caf::typed_response_promise<bool> {
        auto rp = self->make_response_promise<bool>();
        auto& st = self->state;
        boost::system::error_code ec;
        auto v = json::parse(text, ec);
        if (ec || text.size() > notifier_max_configuration) {
          rp.deliver(false);
          return rp;
        }
        st.configuration = v;
        if (!st.store) {
          rp.deliver(true);
          return rp;
        }
        self->request(st.store, caf::infinite, atom::put::value,
                      std::string{"configuration"}, text)
            .then([rp](bool ok) mutable { rp.deliver(ok); },
                  [rp](caf::error&) mutable { rp.deliver(false); });
        return rp;
      },
      [=](atom::status) {
        auto& st = self->state;
        status_report r;
        r.component = "notifier";
        r.counters = {
            {"known_devices", static_cast<int64_t>(st.known.size())},
            {"new_devices", static_cast<int64_t>(st.fresh.size())},
            {"devices_announced", static_cast<int64_t>(st.new_devices - st.suppressed)},
            {"devices_not_announced", static_cast<int64_t>(st.suppressed)},
            {"devices_forgotten", static_cast<int64_t>(st.forgotten)},
            {"notifications", static_cast<int64_t>(st.notes.size())},
            {"created", static_cast<int64_t>(st.created)},
            {"deleted", static_cast<int64_t>(st.deleted)},
            {"dropped", static_cast<int64_t>(st.dropped)},
        };
        return r;
      },
  };
}

} // namespace spin
