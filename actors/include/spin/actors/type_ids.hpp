#pragma once

#include "spin/runtime/control_protocol.hpp"
#include "spin/runtime/device_names.hpp"
#include "spin/runtime/dns_cache.hpp"
#include "spin/runtime/flow_table.hpp"
#include "spin/runtime/report.hpp"
#include "spin/runtime/status.hpp"

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/meta/type_name.hpp>

#include <unordered_set>

namespace spin {
/// The lists the registry needs from the block manager: the effective
/// ignore list (left out of reports) and the block and allow lists (node
/// flags is_blocked / is_excepted).
struct verdict_sets {
  std::unordered_set<ip_address> ignore;
  std::unordered_set<ip_address> block;
  std::unordered_set<ip_address> allow;
};
} // namespace spin

/// How spin's value types travel in CAF messages.
///
/// Batches, reports and node snapshots are immutable shared pointers handed
/// between actors of one process; they are never serialised, so they are
/// whitelisted instead of being made inspectable.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(spin::flow_batch_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(spin::interval_report_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(spin::node_info_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(spin::side_batch_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(spin::names_batch_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::shared_ptr<const spin::device_names>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::shared_ptr<const std::vector<spin::neighbour_event>>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<spin::dns_answer_group>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<spin::ip_address>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(spin::mac_address)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::shared_ptr<const std::vector<spin::node_info_ptr>>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::shared_ptr<const spin::control_request>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::shared_ptr<const spin::control_result>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::shared_ptr<const spin::verdict_sets>)

namespace spin {

/// Node snapshots that changed (one interval's, or one command's).
using node_batch_ptr = std::shared_ptr<const std::vector<node_info_ptr>>;
using control_request_ptr = std::shared_ptr<const control_request>;
using control_result_ptr = std::shared_ptr<const control_result>;
using verdict_sets_ptr = std::shared_ptr<const verdict_sets>;

using device_names_ptr = std::shared_ptr<const device_names>;
using neighbour_events_ptr = std::shared_ptr<const std::vector<neighbour_event>>;

/// Status reports are plain values and inspectable.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, status_report& x) {
  return f(caf::meta::type_name("status_report"), x.component, x.counters, x.last_error);
}

} // namespace spin
