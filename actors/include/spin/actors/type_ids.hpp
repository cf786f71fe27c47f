#pragma once

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

namespace spin {

/// Status reports are plain values and inspectable.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, status_report& x) {
  return f(caf::meta::type_name("status_report"), x.component, x.counters, x.last_error);
}

} // namespace spin
