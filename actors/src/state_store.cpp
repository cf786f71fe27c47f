#include "spin/actors/state_store.hpp"

#include "spin/runtime/log.hpp"
#include "spin/runtime/state_file.hpp"

#include <caf/typed_event_based_actor.hpp>

#include <boost/json/parse.hpp>

namespace spin {

namespace {

using self_ptr = state_store_actor::stateful_pointer<state_store_state>;

bool write_now(self_ptr self) {
  auto& st = self->state;
  bool ok = true;
  if (st.dirty) {
    std::string error;
    ok = state_file::save(st.path, st.doc, error);
    st.last_write = std::chrono::steady_clock::now();
    if (ok) {
      ++st.writes;
      st.dirty = false;
    } else {
      ++st.failures;
      st.last_error = error;
      SPIN_ERROR("state: cannot save %s: %s", st.path.c_str(), error.c_str());
    }
  }
  for (auto& rp : st.waiting)
    rp.deliver(ok);
  st.waiting.clear();
  return ok;
}

} // namespace

state_store_actor::behavior_type
state_store(state_store_actor::stateful_pointer<state_store_state> self, std::string path,
            boost::json::object initial, std::chrono::seconds interval) {
  self->state.path = std::move(path);
  self->state.doc = std::move(initial);
  self->state.interval = interval;
  return {
      [=](atom::put, const std::string& section,
          const std::string& text) -> caf::typed_response_promise<bool> {
        auto& st = self->state;
        ++st.puts;
        auto rp = self->make_response_promise<bool>();
        boost::system::error_code ec;
        auto v = boost::json::parse(text, ec);
        if (ec) {
          rp.deliver(false);
          return rp;
        }
        st.doc[section] = std::move(v);
        st.dirty = true;
        st.waiting.push_back(rp);
        auto now = std::chrono::steady_clock::now();
        auto due = st.last_write + st.interval;
        if (now >= due) {
          write_now(self);
        } else if (!st.timer_armed) {
          st.timer_armed = true;
          self->delayed_send(self, due - now, atom::tick::value);
        }
        return rp;
      },
      [=](atom::tick) {
        self->state.timer_armed = false;
        write_now(self);
      },
      [=](atom::flush) { return write_now(self); },
      [=](atom::status) {
        auto& st = self->state;
        status_report r;
        r.component = "state_store";
        r.counters = {{"writes", static_cast<int64_t>(st.writes)},
                      {"failures", static_cast<int64_t>(st.failures)},
                      {"puts", static_cast<int64_t>(st.puts)},
                      {"pending", st.dirty ? 1 : 0}};
        r.last_error = st.last_error;
        return r;
      },
  };
}

} // namespace spin
