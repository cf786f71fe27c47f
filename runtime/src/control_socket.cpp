#include "spin/runtime/control_socket.hpp"

#include "spin/runtime/log.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <poll.h>
#include <unistd.h>
#include <vector>

namespace spin {

namespace {

using steady = std::chrono::steady_clock;

/// Unread response bytes a client may leave behind. A client that sends
/// another request while more than this waits for it is not reading its
/// answers, and is dropped; a single large answer is always queued in full.
constexpr size_t max_pending_output = 1 << 20;

/// One recv() at most; lines are handed on after every chunk, so a partial
/// line never grows past max_request + read_chunk.
constexpr size_t read_chunk = 64 * 1024;

/// Pending connections the kernel holds before accept(); extra ones are
/// accepted and closed anyway when max_clients is reached.
constexpr int listen_backlog = 32;

std::string errno_text(int e) {
  return std::strerror(e);
}

bool make_address(const std::string& path, sockaddr_un& addr, socklen_t& len,
                  std::string& error) {
  std::memset(&addr, 0, sizeof addr);
  if (path.empty()) {
    error = "control socket: no path given";
    return false;
  }
  if (path.size() >= sizeof addr.sun_path) {
    error = "control socket path " + path + " is longer than " +
            std::to_string(sizeof addr.sun_path - 1) + " bytes";
    return false;
  }
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  return true;
}

enum class probe_result { stale, live, unknown };

/// Connects to an existing socket file to learn whether anyone listens on it.
probe_result probe_socket(const sockaddr_un& addr, socklen_t len, int& err) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    err = errno;
    return probe_result::unknown;
  }
  int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), len);
  int e = errno;
  ::close(fd);
  // EAGAIN on a UNIX socket: a listener whose backlog is full.
  if (rc == 0 || e == EAGAIN)
    return probe_result::live;
  // ENOENT: the file went away meanwhile, nothing to replace.
  if (e == ECONNREFUSED || e == ENOENT)
    return probe_result::stale;
  err = e;
  return probe_result::unknown;
}

/// One accepted connection.
struct connection {
  int fd = -1;
  std::string name;
  std::string in;
  std::string out;
  size_t out_sent = 0;
  steady::time_point last_active;
  bool eof = false;     ///< the peer shut down its writing side
  bool closing = false; ///< close once `out` is written (after an oversized line)
  size_t pending() const { return out.size() - out_sent; }
};

/// Writes as much of `c.out` as the socket takes. False when the connection
/// is broken (the peer went away).
bool flush(connection& c) {
  while (c.pending() > 0) {
    ssize_t n =
        ::send(c.fd, c.out.data() + c.out_sent, c.pending(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      c.out_sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      break;
    return false;
  }
  if (c.pending() == 0) {
    c.out.clear();
    c.out_sent = 0;
  } else if (c.out_sent > read_chunk && c.out_sent > c.out.size() / 2) {
    c.out.erase(0, c.out_sent);
    c.out_sent = 0;
  }
  return true;
}

bool blank(const std::string& s) {
  return std::all_of(s.begin(), s.end(),
                     [](char ch) { return ch == ' ' || ch == '\t' || ch == '\r'; });
}

} // namespace

control_socket::~control_socket() {
  stop();
}

bool control_socket::open(const options& o, std::string& error) {
  if (opened_) {
    error = "control socket " + opts_.path + " is already open";
    return false;
  }
  if (o.max_request == 0 || o.max_clients == 0 || o.idle_timeout_ms <= 0) {
    error = "control socket " + o.path +
            ": max_request, max_clients and idle_timeout_ms must be positive";
    return false;
  }
  sockaddr_un addr;
  socklen_t alen = 0;
  if (!make_address(o.path, addr, alen, error))
    return false;
  const char* path = o.path.c_str();

  struct stat st;
  if (::lstat(path, &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      error = o.path + " exists and is not a socket; left alone (remove it or set "
                       "control_socket to another path)";
      return false;
    }
    int err = 0;
    switch (probe_socket(addr, alen, err)) {
    case probe_result::live:
      error = o.path + ": another process answers on this socket (is another spind "
                       "running?)";
      return false;
    case probe_result::unknown:
      error = "cannot check the existing socket " + o.path + ": " + errno_text(err);
      return false;
    case probe_result::stale:
      if (::unlink(path) < 0 && errno != ENOENT) {
        error = "cannot remove the stale socket " + o.path + ": " + errno_text(errno);
        return false;
      }
      SPIN_INFO("control socket: replaced the stale socket %s", path);
      break;
    }
  } else if (errno != ENOENT) {
    error = "cannot check " + o.path + ": " + errno_text(errno);
    return false;
  }

  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    error = "cannot create the control socket: " + errno_text(errno);
    return false;
  }
  // bind() creates the file with mode 0777 & ~umask. The umask is tightened so
  // the socket is never reachable by others, not even between bind() and
  // chmod(). The umask is process-wide: a file another thread creates during
  // this one bind() call gets at most mode 0600. That window is a single
  // system call at start-up, before spind writes any other file.
  mode_t old_mask = ::umask(0177);
  int rc = ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), alen);
  int bind_errno = errno;
  ::umask(old_mask);
  if (rc < 0) {
    ::close(fd);
    error = "cannot bind the control socket " + o.path + ": " + errno_text(bind_errno);
    if (bind_errno == ENOENT)
      error += " (does the directory exist?)";
    return false;
  }
  // From here on the file is ours: remove it again on failure.
  auto fail = [&](std::string message) {
    ::close(fd);
    ::unlink(path);
    error = std::move(message);
    return false;
  };
  // fchmod() on a socket descriptor changes the socket's own inode, not the
  // file bind() created, so the path is used.
  if (::chmod(path, 0600) < 0)
    return fail("cannot chmod 0600 " + o.path + ": " + errno_text(errno));
  if (::lstat(path, &st) < 0)
    return fail("cannot stat " + o.path + " after bind: " + errno_text(errno));
  if (!S_ISSOCK(st.st_mode) || (st.st_mode & 07777) != 0600) {
    char mode[16];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return fail(o.path + " is not a socket with mode 0600 after bind (mode " +
                std::string(mode) + ")");
  }
  if (::listen(fd, listen_backlog) < 0)
    return fail("cannot listen on " + o.path + ": " + errno_text(errno));
  if (!wake_.open())
    return fail("control socket: eventfd: " + errno_text(errno));

  opts_ = o;
  listen_fd_ = fd;
  socket_dev_ = static_cast<uint64_t>(st.st_dev);
  socket_ino_ = static_cast<uint64_t>(st.st_ino);
  stopping_ = false;
  opened_ = true;
  SPIN_INFO("control socket: listening on %s", path);
  return true;
}

void control_socket::start(handler h) {
  if (!opened_ || thread_.joinable())
    return;
  handler_ = std::move(h);
  thread_ = std::thread([this] { run(); });
}

void control_socket::stop() {
  stopping_ = true;
  wake_.signal();
  if (thread_.joinable())
    thread_.join();
  if (opened_) {
    // Only our own file: another spind may have found it stale (after a
    // crash of this thread, say) and put its own socket there.
    struct stat st;
    if (::lstat(opts_.path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) &&
        static_cast<uint64_t>(st.st_dev) == socket_dev_ &&
        static_cast<uint64_t>(st.st_ino) == socket_ino_)
      ::unlink(opts_.path.c_str());
    else
      SPIN_NOTICE("control socket: %s is no longer our socket; left in place",
                  opts_.path.c_str());
    opened_ = false;
  }
  if (listen_fd_ >= 0) {
    ::close(listen_fd_);
    listen_fd_ = -1;
  }
  wake_.close();
}

status_report control_socket::status() const {
  status_report r;
  r.component = "control_socket";
  std::lock_guard<std::mutex> guard{mutex_};
  r.counters = {
      {"connections", static_cast<int64_t>(connections_)},
      {"refused", static_cast<int64_t>(refused_)},
      {"requests", static_cast<int64_t>(requests_)},
      {"responses", static_cast<int64_t>(responses_)},
      {"oversized", static_cast<int64_t>(oversized_)},
      {"idle_closed", static_cast<int64_t>(idle_closed_)},
      {"overflowed", static_cast<int64_t>(overflowed_)},
      {"clients", static_cast<int64_t>(clients_)},
  };
  r.last_error = last_error_;
  return r;
}

void control_socket::run() {
  const uid_t own_uid = ::geteuid();
  const auto idle = std::chrono::milliseconds(opts_.idle_timeout_ms);
  std::vector<connection> conns;
  std::vector<pollfd> fds;
  steady::time_point accept_resume{};
  log_limiter refuse_log, error_log;
  std::vector<char> buf(read_chunk);

  auto count = [&](uint64_t& counter) {
    std::lock_guard<std::mutex> guard{mutex_};
    ++counter;
  };
  auto note_error = [&](const std::string& what) {
    {
      std::lock_guard<std::mutex> guard{mutex_};
      last_error_ = what;
    }
    uint64_t held = 0;
    if (!error_log.allow(held))
      return;
    if (held > 0)
      SPIN_WARN("control socket: %s (%llu more since the last line)", what.c_str(),
                static_cast<unsigned long long>(held));
    else
      SPIN_WARN("control socket: %s", what.c_str());
  };
  auto close_conn = [&](connection& c) {
    if (c.fd < 0)
      return;
    ::close(c.fd);
    c.fd = -1;
    std::lock_guard<std::mutex> guard{mutex_};
    --clients_;
  };
  // A line longer than max_request: one error line, then the connection closes.
  auto reject_oversized = [&](connection& c) {
    count(oversized_);
    c.out +=
        R"({"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"request longer than )" +
        std::to_string(opts_.max_request) + R"( bytes"}})" + "\n";
    c.in.clear();
    c.closing = true;
  };
  // Hands one request line to the handler and queues its response.
  auto dispatch = [&](connection& c, const std::string& line) {
    if (c.pending() > max_pending_output && !flush(c)) {
      close_conn(c);
      return;
    }
    if (c.pending() > max_pending_output) {
      count(overflowed_);
      note_error(c.name + " does not read its responses; dropped");
      close_conn(c);
      return;
    }
    count(requests_);
    std::string response;
    try {
      response = handler_(c.name, line);
    } catch (const std::exception& e) {
      note_error(std::string("handler failed: ") + e.what());
      response =
          R"({"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"internal error"}})";
    } catch (...) {
      note_error("handler failed");
      response =
          R"({"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"internal error"}})";
    }
    // A slow handler must not make the client look idle.
    c.last_active = steady::now();
    if (!response.empty()) {
      c.out += response;
      c.out += '\n';
      count(responses_);
    }
  };
  // Hands on every complete line in c.in, in order; keeps a partial line.
  auto handle_input = [&](connection& c) {
    size_t start = 0;
    while (c.fd >= 0 && !c.closing) {
      size_t nl = c.in.find('\n', start);
      if (nl == std::string::npos)
        break;
      if (nl - start > opts_.max_request) {
        reject_oversized(c);
        return;
      }
      std::string line = c.in.substr(start, nl - start);
      start = nl + 1;
      if (!line.empty() && line.back() == '\r')
        line.pop_back();
      if (!blank(line))
        dispatch(c, line);
    }
    if (c.fd < 0 || c.closing)
      return;
    c.in.erase(0, start);
    if (c.in.size() > opts_.max_request) {
      reject_oversized(c);
    } else if (c.eof && !c.in.empty()) {
      // The peer shut down after a last line without '\n': still a request.
      std::string line;
      line.swap(c.in);
      if (!blank(line))
        dispatch(c, line);
    }
  };
  // Reads what the peer sent; a few chunks per round, so one busy client
  // cannot starve the others.
  auto read_from = [&](connection& c) {
    for (int round = 0; round < 16 && c.fd >= 0 && !c.eof && !c.closing; ++round) {
      ssize_t n = ::recv(c.fd, buf.data(), buf.size(), MSG_DONTWAIT);
      if (n > 0) {
        c.in.append(buf.data(), static_cast<size_t>(n));
        c.last_active = steady::now();
        handle_input(c);
        continue;
      }
      if (n == 0) {
        c.eof = true;
        handle_input(c);
        break;
      }
      if (errno == EINTR)
        continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK)
        close_conn(c); // ECONNRESET and the like: the peer is gone
      break;
    }
  };
  auto accept_new = [&]() {
    for (;;) {
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED)
          continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
          return;
        // Out of descriptors or memory: the listening socket stays readable,
        // so pause accepting for a moment instead of spinning.
        note_error("accept: " + errno_text(errno));
        accept_resume = steady::now() + std::chrono::milliseconds(100);
        return;
      }
      ucred cred{};
      socklen_t len = sizeof cred;
      bool known = ::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0;
      if (!known || (cred.uid != 0 && cred.uid != own_uid)) {
        ::close(fd);
        count(refused_);
        uint64_t held = 0;
        if (refuse_log.allow(held))
          SPIN_WARN("control socket: refused uid %ld pid %ld: only root and uid %ld are "
                    "served (%llu more refused since the last line)",
                    known ? static_cast<long>(cred.uid) : -1L,
                    known ? static_cast<long>(cred.pid) : -1L, static_cast<long>(own_uid),
                    static_cast<unsigned long long>(held));
        continue;
      }
      if (conns.size() >= opts_.max_clients) {
        ::close(fd);
        count(refused_);
        uint64_t held = 0;
        if (refuse_log.allow(held))
          SPIN_WARN("control socket: %zu clients connected, refused pid %ld (%llu more "
                    "refused since the last line)",
                    conns.size(), static_cast<long>(cred.pid),
                    static_cast<unsigned long long>(held));
        continue;
      }
      connection c;
      c.fd = fd;
      c.name =
          "unix:uid=" + std::to_string(cred.uid) + ",pid=" + std::to_string(cred.pid);
      c.last_active = steady::now();
      conns.push_back(std::move(c));
      std::lock_guard<std::mutex> guard{mutex_};
      ++connections_;
      ++clients_;
    }
  };

  while (!stopping_.load()) {
    auto now = steady::now();
    bool accepting = now >= accept_resume;
    fds.clear();
    fds.push_back({wake_.fd(), POLLIN, 0});
    // poll() ignores a negative descriptor: that pauses accepting.
    fds.push_back({accepting ? listen_fd_ : -1, POLLIN, 0});
    int timeout = -1;
    auto shorten = [&](steady::time_point when) {
      auto ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(when - now).count() + 1;
      ms = std::max<decltype(ms)>(ms, 0);
      if (timeout < 0 || ms < timeout)
        timeout = static_cast<int>(std::min<decltype(ms)>(ms, 60'000));
    };
    if (!accepting)
      shorten(accept_resume);
    for (auto& c : conns) {
      short events = 0;
      if (!c.eof && !c.closing)
        events |= POLLIN;
      if (c.pending() > 0)
        events |= POLLOUT;
      fds.push_back({c.fd, events, 0});
      shorten(c.last_active + idle);
    }

    int n = ::poll(fds.data(), fds.size(), timeout);
    if (n < 0) {
      if (errno != EINTR) {
        note_error("poll: " + errno_text(errno));
        ::poll(nullptr, 0, 100);
      }
      continue;
    }
    if (fds[0].revents != 0)
      break; // stop()

    for (size_t i = 0; i < conns.size(); ++i) {
      auto& c = conns[i];
      short re = fds[i + 2].revents;
      if (re == 0)
        continue;
      if (re & (POLLIN | POLLHUP | POLLERR))
        read_from(c);
      if (c.fd >= 0 && !flush(c))
        close_conn(c);
    }

    now = steady::now();
    for (auto& c : conns) {
      if (c.fd < 0)
        continue;
      if (c.pending() == 0 && (c.closing || c.eof)) {
        // Done: everything answered. After an oversized line, read what the
        // peer still sent: closing with unread data makes its reads fail with
        // ECONNRESET before it sees the error line.
        for (int k = 0; c.closing && k < 16; ++k)
          if (::recv(c.fd, buf.data(), buf.size(), MSG_DONTWAIT) <= 0)
            break;
        close_conn(c);
      } else if (now - c.last_active >= idle) {
        count(idle_closed_);
        close_conn(c);
      }
    }
    conns.erase(std::remove_if(conns.begin(), conns.end(),
                               [](const connection& c) { return c.fd < 0; }),
                conns.end());

    if (fds[1].fd >= 0 && (fds[1].revents & POLLIN))
      accept_new();
  }

  for (auto& c : conns)
    close_conn(c);
}

} // namespace spin
