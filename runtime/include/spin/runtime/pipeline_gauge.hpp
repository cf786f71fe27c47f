#pragma once

#include <atomic>
#include <cstdint>

namespace spin {

/// End-to-end flow control for replaying capture files as fast as possible:
/// counts intervals that a source has closed but the publisher has not yet
/// finished (published or dropped). A fast replay waits while too many are
/// open, so a slow broker slows the file down instead of piling reports up in
/// memory. Live sources only count; they never wait.
class pipeline_gauge {
public:
  /// A source closed an interval.
  void opened() { open_.fetch_add(1, std::memory_order_acq_rel); }
  /// The publisher is done with an interval's report.
  void closed() { open_.fetch_sub(1, std::memory_order_acq_rel); }
  /// Intervals in flight.
  int64_t open() const { return open_.load(std::memory_order_acquire); }

  /// Messages the publisher has queued that have not left for the broker yet
  /// (set by the publisher). A fast replay also waits while this is above
  /// `backlog_limit`: publishing is cheaper than the broker's reading, so
  /// without it a slow broker would make the publisher drop reports.
  void set_backlog(int64_t n) { backlog_.store(n, std::memory_order_release); }
  int64_t backlog() const { return backlog_.load(std::memory_order_acquire); }
  static constexpr int64_t backlog_limit = 4000;

private:
  std::atomic<int64_t> open_{0};
  std::atomic<int64_t> backlog_{0};
};

} // namespace spin
