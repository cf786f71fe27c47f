#pragma once

// Deterministic actor tests under Catch2: the actor system runs on CAF's
// test_coordinator, and the test decides when messages are delivered
// (sched.run()) and when time passes (sched.advance_time()). CAF's own test
// DSL macros crash inside Catch2 test cases, so only the scheduler is used.

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <vector>

namespace spin::test {

struct actor_fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::scheduler::test_coordinator& sched;
  std::vector<caf::actor> spawned;

  static caf::actor_system_config& init(caf::actor_system_config& c) {
    c.set("scheduler.policy", caf::atom("testing"));
    c.set("logger.file-verbosity", caf::atom("quiet"));
    c.set("logger.console", caf::atom("none"));
    return c;
  }

  actor_fixture()
      : sys(init(cfg)),
        sched(dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler())) {
    sched.clock().current_time += std::chrono::hours(1);
  }

  /// Remembers an actor so that it gets an exit message before the system
  /// goes away (actors with timers never finish by themselves).
  template <class Handle>
  Handle keep(Handle h) {
    spawned.push_back(caf::actor_cast<caf::actor>(h));
    return h;
  }

  /// Delivers messages until no actor has anything left to do.
  size_t run() { return sched.run(); }

  ~actor_fixture() {
    for (auto& a : spawned)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    sched.run();
  }
};

} // namespace spin::test
