#pragma once

#include "spin/runtime/event_fd.hpp"
#include "spin/runtime/status.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace spin {

/// The local control socket that spinctl talks to: a UNIX stream socket,
/// owned by spind's user with mode 0600 (never group- or world-accessible),
/// carrying JSON-RPC 2.0: one request per line (a JSON text ending with
/// '\n'), one response line per request (none for a notification).
///
/// One thread serves every connection with poll(); requests are handed to
/// the handler one at a time, in arrival order. Only peers with the same
/// user id as spind, or root, are served (SO_PEERCRED); others are closed
/// at once and counted. A request line longer than `max_request` bytes gets
/// a JSON-RPC invalid-request error and the connection is closed.
class control_socket {
public:
  struct options {
    /// Where the socket lives, e.g. /run/spin/spind.sock. The directory must
    /// exist.
    std::string path;
    /// Longest request line.
    size_t max_request = 64 * 1024;
    /// Most connections at once; more are accepted and closed at once.
    size_t max_clients = 16;
    /// A connection that sends nothing for this long is closed.
    int idle_timeout_ms = 60'000;
  };

  /// Carries out one request line (without its '\n') from `client`, a name
  /// for logs and rate limits ("unix:uid=0,pid=123"), and returns the
  /// response text (without '\n'; empty: no response). Called in the
  /// socket's thread; may block (it waits for the actors).
  using handler =
      std::function<std::string(const std::string& client, const std::string& line)>;

  control_socket() = default;
  ~control_socket();
  control_socket(const control_socket&) = delete;
  control_socket& operator=(const control_socket&) = delete;

  /// Creates, binds (mode 0600 from the start: the umask is tightened around
  /// bind, then chmod) and listens. An existing file at `path`: a socket no
  /// one answers on is stale and replaced; a socket someone answers on means
  /// another spind is running (error); anything that is not a socket is left
  /// alone (error). Returns false with `error` on failure.
  bool open(const options& o, std::string& error);

  /// Starts the serving thread. Call once, after a successful open().
  void start(handler h);

  /// Stops the thread, closes every connection and removes the socket file
  /// (only if it is still the one open() created). Waits for a request the
  /// handler is carrying out, so the handler must not wait for whoever calls
  /// stop(). Safe to call more than once and without start().
  void stop();

  /// Counters: `connections` (accepted and served), `refused` (wrong user or
  /// too many clients), `requests`, `responses`, `oversized`, `idle_closed`,
  /// `overflowed` (dropped because they sent more requests while over 1 MiB
  /// of their responses were still unread), `clients` (gauge).
  status_report status() const;

  const std::string& path() const { return opts_.path; }

private:
  void run();

  options opts_;
  handler handler_;
  int listen_fd_ = -1;
  event_fd wake_; ///< stop() signals it
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  bool opened_ = false;

  /// Identity of the file bind() created: stop() removes the path only while
  /// it is still that file (another spind may have replaced it meanwhile).
  uint64_t socket_dev_ = 0, socket_ino_ = 0;

  mutable std::mutex mutex_;
  uint64_t connections_ = 0, refused_ = 0, requests_ = 0, responses_ = 0, oversized_ = 0,
           idle_closed_ = 0, overflowed_ = 0, clients_ = 0;
  std::string last_error_;
};

} // namespace spin
