#pragma once

// A stand-in for the MQTT publisher that implements its whole interface and
// records what it was sent, so registry tests can check order and content.

#include "spin/actors/actors.hpp"

#include <caf/typed_event_based_actor.hpp>

#include <memory>
#include <string>
#include <vector>

namespace spin::test {

struct recorded {
  /// Every message, in arrival order, as a short tag ("node 3", "report 100").
  std::vector<std::string> log;
  std::vector<interval_report_ptr> reports;
  std::vector<node_info_ptr> nodes;
  std::vector<node_id> deleted;
  std::vector<std::pair<node_id, node_id>> merged;
  std::vector<std::string> dnsqueries;
  std::vector<std::string> published;
  int eos = 0;
};

inline mqtt_publisher_actor::behavior_type
recording_publisher(mqtt_publisher_actor::pointer self, std::shared_ptr<recorded> rec) {
  return {
      [=](atom::report, interval_report_ptr& r) {
        rec->log.push_back("report " + std::to_string(r->second));
        rec->reports.push_back(r);
      },
      [=](atom::node, node_info_ptr& n) {
        rec->log.push_back("node " + std::to_string(n->id));
        rec->nodes.push_back(n);
      },
      [=](atom::deleted, node_id id) {
        rec->log.push_back("deleted " + std::to_string(id));
        rec->deleted.push_back(id);
      },
      [=](atom::merged, node_id a, node_id b) {
        rec->log.push_back("merged " + std::to_string(a));
        rec->merged.emplace_back(a, b);
      },
      [=](atom::dnsquery, node_id from, node_id queried, const std::string& name,
          int64_t) {
        rec->log.push_back("dnsquery " + name);
        rec->dnsqueries.push_back(std::to_string(from) + " " + std::to_string(queried) +
                                  " " + name);
      },
      [=](atom::publish, const std::string& payload) {
        rec->published.push_back(payload);
      },
      [=](atom::command, control_api&) {},
      [=](atom::eos) {
        rec->log.push_back("eos");
        ++rec->eos;
      },
      [=](atom::publish, const std::string&, const std::string&) {},
      [=](atom::connected, int) {},
      [=](atom::disconnected, int) {},
      [=](atom::message, const std::string&, const std::string&, bool) {},
      [=](atom::tick) {},
      [=](atom::status) {
        return status_report{"recording_publisher", {}, {}};
      },
  };
}

} // namespace spin::test
