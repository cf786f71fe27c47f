#pragma once

namespace spin {

/// An eventfd that wakes a thread blocked in poll(): a stop request or new
/// work. Non-blocking and close-on-exec; closed by the destructor. signal()
/// may be called from any thread; clear() from the woken one.
class event_fd {
public:
  event_fd() = default;
  ~event_fd() { close(); }
  event_fd(const event_fd&) = delete;
  event_fd& operator=(const event_fd&) = delete;

  /// Creates the descriptor; false (with errno set) when that fails.
  bool open();
  void close();

  /// The descriptor to poll for POLLIN (-1 when not open: poll() skips it).
  int fd() const { return fd_; }

  /// Makes fd() readable (nothing when not open). Never blocks: a full
  /// counter is readable anyway.
  void signal();
  /// Reads the counter back to zero (fd() no longer readable).
  void clear();

private:
  int fd_ = -1;
};

} // namespace spin
