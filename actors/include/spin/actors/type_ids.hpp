#pragma once

#include "spin/runtime/device_names.hpp"
#include "spin/runtime/dns_cache.hpp"
#include "spin/runtime/flow_table.hpp"
#include "spin/runtime/report.hpp"
#include "spin/runtime/status.hpp"

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/meta/type_name.hpp>

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

namespace spin {

using device_names_ptr = std::shared_ptr<const device_names>;
using neighbour_events_ptr = std::shared_ptr<const std::vector<neighbour_event>>;

/// Status reports are plain values and inspectable.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, status_report& x) {
  return f(caf::meta::type_name("status_report"), x.component, x.counters, x.last_error);
}

} // namespace spin
