#include "spin/runtime/http_server.hpp"

#include "spin/runtime/ip_address.hpp"
#include "spin/runtime/log.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <crypt.h>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <list>
#include <map>
#include <mutex>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <optional>
#include <sstream>
#include <thread>
#include <unistd.h>
#include <unordered_map>

namespace spin {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;
using error_code = boost::system::error_code;
using steady = std::chrono::steady_clock;

// ---------------------------------------------------------------------------
// The application-facing value types.

std::string http_request::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

http_response http_response::error(int status, const std::string& message) {
  http_response r;
  r.status = status;
  r.content_type = "application/json";
  r.body = "{\"status\":" + std::to_string(status) +
           ",\"error\":" + boost::json::serialize(boost::json::string(message)) + "}";
  return r;
}

http_response http_response::json(std::string body, int status) {
  http_response r;
  r.status = status;
  r.content_type = "application/json";
  r.body = std::move(body);
  return r;
}

namespace {

/// Largest request header block (request line and fields); more gets 431.
constexpr uint32_t header_limit = 16 * 1024;

/// Connections over max_connections are still read and answered with 503 so
/// the client learns why; at most this many at once (beyond it they are
/// closed without an answer, so a flood cannot exhaust file descriptors).
constexpr int64_t reject_backlog = 256;

/// How long an over-limit connection may take to send its request.
constexpr auto reject_timeout = std::chrono::seconds(5);

/// After an error answer that closes the connection, the rest of the request
/// the client is still sending is read and dropped for this long (at most
/// linger_bytes), so its kernel does not see a reset before it read the
/// answer.
constexpr auto linger_time = std::chrono::seconds(2);
constexpr size_t linger_bytes = 1 << 20;

/// How long a successful basic-auth check is remembered: crypt(3) hashes are
/// deliberately slow (yescrypt takes long on a router's CPU), and a browser
/// sends the same credentials with every request.
constexpr auto auth_cache_time = std::chrono::minutes(10);
constexpr size_t auth_cache_entries = 32;

const char* const allowed_methods = "GET, HEAD, POST, PUT, DELETE, OPTIONS";

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/// Percent-decodes `in`; `plus_is_space` for form-encoded query strings.
/// False for a malformed escape.
bool percent_decode(std::string_view in, bool plus_is_space, std::string& out) {
  out.clear();
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size())
        return false;
      int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0)
        return false;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return true;
}

/// Splits `a=1&b=x%20y` into percent-decoded parameters (the last one wins).
bool parse_query(std::string_view query, std::map<std::string, std::string>& params) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (part.empty())
      continue;
    size_t eq = part.find('=');
    std::string key, value;
    if (!percent_decode(part.substr(0, eq), true, key))
      return false;
    if (eq != std::string_view::npos && !percent_decode(part.substr(eq + 1), true, value))
      return false;
    params[key] = value;
  }
  return true;
}

/// Standard base64 (RFC 4648), padding optional; false for anything else.
bool base64_decode(std::string_view in, std::string& out) {
  out.clear();
  uint32_t acc = 0;
  int bits = 0;
  size_t pad = 0;
  for (char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '+')
      v = 62;
    else if (c == '/')
      v = 63;
    else if (c == '=') {
      ++pad;
      continue;
    } else
      return false;
    if (pad > 0)
      return false; // data after padding
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return pad <= 2;
}

/// True when the client accepts gzip (`Accept-Encoding: gzip, br`; not
/// `gzip;q=0`).
bool accepts_gzip(std::string_view header) {
  while (!header.empty()) {
    size_t comma = header.find(',');
    std::string_view item = trim(header.substr(0, comma));
    header =
        comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    size_t semi = item.find(';');
    if (!iequals(trim(item.substr(0, semi)), "gzip"))
      continue;
    if (semi == std::string_view::npos)
      return true;
    std::string_view q = trim(item.substr(semi + 1));
    if (starts_with(q, "q=") || starts_with(q, "Q=")) {
      double v = std::strtod(std::string(q.substr(2)).c_str(), nullptr);
      return v > 0;
    }
    return true;
  }
  return false;
}

/// The host[:port] of an Origin ("https://router.lan:13026") compared with
/// the Host header the request was sent to; the scheme does not matter.
bool origin_matches(std::string_view origin, std::string_view host) {
  size_t sep = origin.find("://");
  if (sep == std::string_view::npos || host.empty())
    return false;
  std::string_view authority = origin.substr(sep + 3);
  while (!authority.empty() && authority.back() == '/')
    authority.remove_suffix(1);
  return iequals(authority, trim(host));
}

const char* content_type_for(const std::string& file) {
  static const std::pair<const char*, const char*> types[] = {
      {".html", "text/html; charset=utf-8"},
      {".htm", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".woff2", "font/woff2"},
      {".map", "application/json"},
      {".txt", "text/plain; charset=utf-8"},
  };
  size_t slash = file.rfind('/');
  size_t dot = file.rfind('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash))
    return "application/octet-stream";
  std::string ext = lower(file.substr(dot));
  for (auto& [e, type] : types)
    if (ext == e)
      return type;
  return "application/octet-stream";
}

/// realpath(3) as a string; empty when the path does not resolve.
std::string real_path(const std::string& path) {
  char buf[PATH_MAX];
  if (!::realpath(path.c_str(), buf))
    return {};
  return buf;
}

bool inside(const std::string& root, const std::string& real) {
  return real == root || (starts_with(real, root) && real.size() > root.size() &&
                          (root == "/" || real[root.size()] == '/'));
}

bool regular_file(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

/// A static file the request maps to.
struct static_file {
  std::string path;         ///< what to send (maybe the .gz variant)
  std::string content_type; ///< of the uncompressed file
  bool gzip = false;        ///< `path` is the .gz variant
  bool has_gzip = false;    ///< a .gz variant exists (Vary: Accept-Encoding)
  bool no_cache = false;    ///< index.html: always revalidate
};

/// Maps a decoded request path to a file under `root` (a realpath), never
/// outside it: `..`, percent-encoded dots and symlinks all resolve through
/// realpath(3) before the check.
std::optional<static_file> resolve_static(const std::string& root,
                                          const std::string& path, bool gzip_ok) {
  if (root.empty() || path.empty() || path[0] != '/' ||
      path.find('\0') != std::string::npos)
    return std::nullopt;
  std::string real = real_path(root + path);
  if (real.empty() || !inside(root, real))
    return std::nullopt;
  struct stat st;
  if (::stat(real.c_str(), &st) != 0)
    return std::nullopt;
  if (S_ISDIR(st.st_mode)) {
    real = real_path(real + "/index.html");
    if (real.empty() || !inside(root, real))
      return std::nullopt;
    if (::stat(real.c_str(), &st) != 0)
      return std::nullopt;
  }
  if (!S_ISREG(st.st_mode))
    return std::nullopt;
  static_file f;
  f.path = real;
  f.content_type = content_type_for(real);
  f.no_cache =
      real.size() >= 11 && real.compare(real.size() - 11, 11, "/index.html") == 0;
  std::string gz = real_path(real + ".gz");
  if (!gz.empty() && inside(root, gz) && regular_file(gz)) {
    f.has_gzip = true;
    if (gzip_ok) {
      f.path = gz;
      f.gzip = true;
    }
  }
  return f;
}

bool valid_header_name(std::string_view name) {
  if (name.empty())
    return false;
  for (char c : name) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 32 || u >= 127 || std::strchr("()<>@,;:\\\"/[]?={}", c))
      return false;
  }
  return true;
}

bool valid_header_value(std::string_view value) {
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

std::string endpoint_text(const tcp::endpoint& ep) {
  auto a = ep.address();
  if (a.is_v6())
    return "[" + a.to_string() + "]:" + std::to_string(ep.port());
  return a.to_string() + ":" + std::to_string(ep.port());
}

bool is_http_parse_error(const error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_target).category();
}

/// Synchronisation between a session and the thread that produces its
/// stream: one chunk write in flight at a time; `gone` when the client went
/// away (a failed write, a read that saw EOF), `stop` when the server (or the
/// session) is shutting down. `stop` is never reset.
struct stream_sync {
  std::mutex m;
  std::condition_variable cv;
  bool busy = false;
  bool gone = false;
  bool stop = false;
};

/// The application's stream, closed exactly once from wherever it ends.
struct stream_handle {
  std::shared_ptr<http_stream> s;
  std::atomic<bool> closed{false};
  void close() {
    if (closed.exchange(true))
      return;
    try {
      if (s->close)
        s->close();
    } catch (const std::exception& e) {
      SPIN_WARN("http: stream close failed: %s", e.what());
    } catch (...) {
      SPIN_WARN("http: stream close failed");
    }
  }
};

class session_base : public std::enable_shared_from_this<session_base> {
public:
  virtual ~session_base() = default;
  /// Closes the connection and ends its stream; callable from any thread.
  virtual void shutdown() = 0;
};

/// A user from the password file.
struct user_entry {
  std::string hash;
  int line = 0;
};

/// Everything the server shares between its threads (http_server::impl is
/// this; the sessions below need to name it).
struct server_state {
  http_server::options opts;
  http_server::handler app;
  std::string static_root; ///< realpath of static_dir; empty: none
  std::map<std::string, user_entry> users;

  std::unique_ptr<net::io_context> ioc;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::unique_ptr<ssl::context> tls;

  struct listener {
    explicit listener(net::io_context& io)
        : acceptor(net::make_strand(io)), retry(acceptor.get_executor()) {}
    tcp::acceptor acceptor;
    net::steady_timer retry;
    std::string url;
  };
  std::vector<std::unique_ptr<listener>> listeners;
  std::vector<uint16_t> ports;
  std::vector<std::thread> io_threads;
  bool running = false;
  std::atomic<bool> stopping{false};

  std::atomic<int64_t> requests{0}, r2xx{0}, r3xx{0}, r4xx{0}, r5xx{0}, auth_failures{0},
      bytes_sent{0}, connections{0}, rejecting{0}, streams{0};

  std::mutex sessions_m;
  std::condition_variable sessions_cv;
  std::unordered_map<uint64_t, std::weak_ptr<session_base>> sessions;
  uint64_t next_session = 0;

  struct stream_thread {
    std::thread t;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::mutex threads_m;
  std::list<stream_thread> stream_threads;

  mutable std::mutex log_m;
  log_limiter limiter;
  std::string last_error;

  std::mutex auth_m;
  struct cached_auth {
    std::string user;
    steady::time_point expires;
  };
  std::map<std::string, cached_auth> auth_cache; ///< by salted SHA-256 of the header
  unsigned char auth_salt[16] = {};
  struct auth_failures_of {
    int count = 0;
    steady::time_point since;
  };
  std::unordered_map<std::string, auth_failures_of> failed_logins; ///< by client address

  /// True when `peer` failed to log in too often in the last minute.
  bool login_blocked(const std::string& peer) {
    std::lock_guard<std::mutex> lock(auth_m);
    auto it = failed_logins.find(peer);
    if (it == failed_logins.end())
      return false;
    if (steady::now() - it->second.since > std::chrono::minutes(1)) {
      failed_logins.erase(it);
      return false;
    }
    return it->second.count >= opts.max_auth_failures;
  }

  void login_failed(const std::string& peer) {
    std::lock_guard<std::mutex> lock(auth_m);
    auto now = steady::now();
    if (failed_logins.size() >= 1024) {
      for (auto it = failed_logins.begin(); it != failed_logins.end();)
        it = now - it->second.since > std::chrono::minutes(1) ? failed_logins.erase(it)
                                                              : std::next(it);
      if (failed_logins.size() >= 1024)
        failed_logins.erase(failed_logins.begin());
    }
    auto& f = failed_logins[peer];
    if (f.count == 0 || now - f.since > std::chrono::minutes(1))
      f = auth_failures_of{0, now};
    ++f.count;
  }

  /// The Host header names this server: an IP literal, or an allowed name.
  bool host_allowed(std::string_view host) const {
    if (opts.allowed_hosts.empty())
      return true;
    host = trim(host);
    if (host.empty())
      return true; // HTTP/1.0 without Host
    std::string name;
    if (host.front() == '[') {
      auto close = host.find(']');
      if (close == std::string_view::npos)
        return false;
      name = std::string(host.substr(1, close - 1));
    } else {
      auto colon = host.rfind(':');
      name = std::string(colon == std::string_view::npos ? host : host.substr(0, colon));
    }
    if (ip_address::parse(name))
      return true;
    for (auto& h : opts.allowed_hosts)
      if (iequals(h, name))
        return true;
    return false;
  }

  void warn(const std::string& what) {
    std::lock_guard<std::mutex> lock(log_m);
    last_error = what;
    uint64_t suppressed = 0;
    if (!limiter.allow(suppressed))
      return;
    if (suppressed)
      SPIN_WARN("http: %s (%llu similar messages suppressed)", what.c_str(),
                static_cast<unsigned long long>(suppressed));
    else
      SPIN_WARN("http: %s", what.c_str());
  }

  void count_status(unsigned status) {
    if (status >= 500)
      ++r5xx;
    else if (status >= 400)
      ++r4xx;
    else if (status >= 300)
      ++r3xx;
    else if (status >= 200)
      ++r2xx;
  }

  bool load_users(std::string& error);
  bool load_tls(std::string& error);
  bool bind_all(std::string& error);
  void do_accept(listener& l);
  void on_accept(listener& l, const error_code& ec, tcp::socket socket);
  std::string authenticate(const std::string& authorization);

  /// Adds a session to the registry; false when the server is stopping.
  bool register_session(uint64_t& id, const std::shared_ptr<session_base>& s) {
    std::lock_guard<std::mutex> lock(sessions_m);
    if (stopping)
      return false;
    id = ++next_session;
    sessions.emplace(id, s);
    return true;
  }
  void unregister_session(uint64_t id) {
    std::lock_guard<std::mutex> lock(sessions_m);
    if (id)
      sessions.erase(id);
    sessions_cv.notify_all();
  }

  /// Runs `fn` in a thread of its own, joined at stop(); false when the
  /// server is stopping or no thread could be made.
  bool spawn(std::function<void()> fn) {
    std::lock_guard<std::mutex> lock(threads_m);
    if (stopping)
      return false;
    for (auto it = stream_threads.begin(); it != stream_threads.end();) {
      if (*it->done) {
        it->t.join();
        it = stream_threads.erase(it);
      } else {
        ++it;
      }
    }
    auto done = std::make_shared<std::atomic<bool>>(false);
    try {
      std::thread t([fn = std::move(fn), done] {
        fn();
        *done = true;
      });
      stream_threads.push_back({std::move(t), done});
    } catch (const std::system_error& e) {
      warn(std::string("cannot start a stream thread: ") + e.what());
      return false;
    }
    return true;
  }
};

using server_impl = server_state;

tcp::socket& lowest(tcp::socket& s) {
  return s;
}
tcp::socket& lowest(ssl::stream<tcp::socket>& s) {
  return s.next_layer();
}

/// One connection: reads requests one after another (keep-alive), decides
/// what the server answers itself, serves static files, calls the handler
/// and writes the answers. Every handler runs on the connection's strand.
template <class Stream>
class session final : public session_base {
public:
  static constexpr bool is_tls = std::is_same_v<Stream, ssl::stream<tcp::socket>>;

  session(server_impl& srv, Stream stream, std::string remote, bool reject)
      : srv_(srv), stream_(std::move(stream)), timer_(stream_.get_executor()),
        remote_(std::move(remote)), reject_(reject),
        sync_(std::make_shared<stream_sync>()) {
    if (reject_)
      ++srv_.rejecting;
    else
      ++srv_.connections;
  }

  ~session() override {
    if (reject_)
      --srv_.rejecting;
    else
      --srv_.connections;
    srv_.unregister_session(id_);
  }

  void start() {
    if (!srv_.register_session(id_, shared_from_this()))
      return; // stopping: the socket closes with this session
    net::dispatch(stream_.get_executor(), [self = self()] { self->begin(); });
  }

  void shutdown() override {
    {
      std::lock_guard<std::mutex> lock(sync_->m);
      sync_->stop = true;
      sync_->cv.notify_all();
    }
    net::post(stream_.get_executor(), [self = self()] { self->close_now(); });
  }

private:
  std::shared_ptr<session> self() {
    return std::static_pointer_cast<session>(shared_from_this());
  }

  std::chrono::steady_clock::duration idle() const {
    if (reject_)
      return reject_timeout;
    return std::chrono::seconds(srv_.opts.idle_timeout_s);
  }

  // -- deadline: one timer, re-armed per phase; a stale expiry is ignored.

  void arm(std::chrono::steady_clock::duration d) {
    uint64_t gen = ++timer_gen_;
    timer_.expires_after(d);
    timer_.async_wait([self = self(), gen](const error_code& ec) {
      if (!ec && gen == self->timer_gen_)
        self->close_now();
    });
  }

  void disarm() {
    ++timer_gen_;
    timer_.cancel();
  }

  void close_now() {
    if (closed_)
      return;
    closed_ = true;
    disarm();
    mark_gone();
    error_code ec;
    lowest(stream_).shutdown(tcp::socket::shutdown_both, ec);
    lowest(stream_).close(ec);
  }

  void mark_gone() {
    std::lock_guard<std::mutex> lock(sync_->m);
    sync_->gone = true;
    sync_->cv.notify_all();
  }

  // -- reading requests

  void begin() {
    if (closed_)
      return;
    if constexpr (is_tls) {
      arm(idle());
      stream_.async_handshake(ssl::stream_base::server,
                              [self = self()](const error_code& ec) {
                                if (ec) {
                                  SPIN_DEBUG("http: TLS handshake with %s failed: %s",
                                             self->remote_.c_str(), ec.message().c_str());
                                  self->close_now();
                                  return;
                                }
                                self->do_read();
                              });
    } else {
      do_read();
    }
  }

  void do_read() {
    if (closed_)
      return;
    version_ = 11;
    keep_alive_ = true;
    head_ = false;
    parser_.emplace();
    parser_->header_limit(header_limit);
    parser_->body_limit(reject_ ? uint64_t(header_limit) : uint64_t(srv_.opts.max_body));
    arm(idle());
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = self()](const error_code& ec, size_t) { self->on_header(ec); });
  }

  void on_header(const error_code& ec) {
    if (ec)
      return on_read_error(ec);
    auto& req = parser_->get();
    auto expect = req.find(http::field::expect);
    if (expect != req.end() && req.version() >= 11 &&
        iequals(expect->value(), "100-continue") && !parser_->is_done()) {
      static const char continue_line[] = "HTTP/1.1 100 Continue\r\n\r\n";
      net::async_write(stream_, net::buffer(continue_line, sizeof continue_line - 1),
                       [self = self()](const error_code& ec, size_t n) {
                         self->srv_.bytes_sent += static_cast<int64_t>(n);
                         if (ec)
                           return self->close_now();
                         self->read_body();
                       });
      return;
    }
    read_body();
  }

  void read_body() {
    if (parser_->is_done())
      return on_request(error_code());
    http::async_read(
        stream_, buffer_, *parser_,
        [self = self()](const error_code& ec, size_t) { self->on_request(ec); });
  }

  void on_read_error(const error_code& ec) {
    disarm();
    if (closed_)
      return;
    if (ec == http::error::header_limit)
      return send_error(431, "request header fields too large", true);
    if (ec == http::error::body_limit)
      return send_error(413,
                        "request body larger than " +
                            std::to_string(reject_ ? header_limit : srv_.opts.max_body) +
                            " bytes",
                        true);
    if (is_http_parse_error(ec) && ec != http::error::end_of_stream &&
        ec != http::error::partial_message)
      return send_error(400, "malformed request: " + ec.message(), true);
    close_now(); // EOF, reset, timeout, TLS error: nobody to answer
  }

  void on_request(const error_code& ec) {
    if (ec)
      return on_read_error(ec);
    disarm();
    ++srv_.requests;
    if (reject_)
      return send_error(503, "too many connections", true);
    try {
      handle_request();
    } catch (const std::exception& e) {
      srv_.warn(std::string("request from ") + remote_ + " failed: " + e.what());
      send_error(500, "internal server error", true);
    }
  }

  // -- deciding the answer

  void handle_request() {
    auto& req = parser_->get();
    version_ = req.version();
    keep_alive_ = req.keep_alive();
    head_ = req.method() == http::verb::head;

    if (req.version() >= 11 && req.find(http::field::host) == req.end())
      return send_error(400, "missing Host header", true);

    http::verb m = req.method();
    if (m != http::verb::get && m != http::verb::head && m != http::verb::post &&
        m != http::verb::put && m != http::verb::delete_ && m != http::verb::options) {
      http_response r = http_response::error(
          405, "method " + std::string(req.method_string()) + " not allowed");
      r.headers.emplace_back("Allow", allowed_methods);
      return send_app_response(std::move(r), !keep_alive_);
    }

    std::string_view target = req.target();
    size_t qmark = target.find('?');
    http_request r;
    r.method = std::string(req.method_string());
    if (!percent_decode(target.substr(0, qmark), false, r.path) || r.path.empty() ||
        r.path[0] != '/' || r.path.find('\0') != std::string::npos)
      return send_error(400, "malformed request target", !keep_alive_);
    if (qmark != std::string_view::npos) {
      r.query = std::string(target.substr(qmark + 1));
      if (!parse_query(r.query, r.params))
        return send_error(400, "malformed query string", !keep_alive_);
    }
    for (auto& field : req) {
      std::string name = lower(field.name_string());
      auto [it, fresh] = r.headers.emplace(name, std::string(field.value()));
      if (!fresh)
        it->second += ", " + std::string(field.value());
    }
    r.remote = remote_;

    if (!srv_.host_allowed(r.header("host")))
      return send_error(403,
                        "unknown host name in the Host header (spind answers to its "
                        "addresses and the names in http_hostnames)",
                        !keep_alive_);

    if (!srv_.users.empty()) {
      std::string peer = remote_.substr(0, remote_.rfind(':'));
      if (srv_.login_blocked(peer)) {
        ++srv_.auth_failures;
        return send_error(429, "too many failed logins from this address; wait a minute",
                          !keep_alive_);
      }
      r.user = srv_.authenticate(r.header("authorization"));
      if (r.user.empty()) {
        ++srv_.auth_failures;
        if (!r.header("authorization").empty()) {
          srv_.login_failed(peer);
          srv_.warn("authentication failed from " + remote_);
        }
        http_response e = http_response::error(401, "authentication required");
        e.headers.emplace_back("WWW-Authenticate", "Basic realm=\"spin\"");
        return send_app_response(std::move(e), !keep_alive_);
      }
    }

    if (m == http::verb::post || m == http::verb::put || m == http::verb::delete_) {
      auto origin = r.headers.find("origin");
      if (origin != r.headers.end() && !origin_matches(origin->second, r.header("host")))
        return send_error(403, "cross-origin request refused", !keep_alive_);
    }

    if ((m == http::verb::get || m == http::verb::head) &&
        !starts_with(r.path, "/spin_api/") && r.path != "/metrics")
      return serve_static(r);

    r.body = std::move(req.body());
    http_response out;
    try {
      out = srv_.app(r);
    } catch (const std::exception& e) {
      srv_.warn("handler failed for " + r.method + " " + r.path + ": " + e.what());
      out = http_response::error(500, "internal server error");
    } catch (...) {
      srv_.warn("handler failed for " + r.method + " " + r.path);
      out = http_response::error(500, "internal server error");
    }
    if (out.status < 200 || out.status > 599) {
      srv_.warn("handler answered " + r.method + " " + r.path + " with status " +
                std::to_string(out.status));
      if (out.stream)
        stream_handle{out.stream}.close();
      out = http_response::error(500, "internal server error");
    }
    for (auto& [name, value] : out.headers) {
      if (!valid_header_name(name) || !valid_header_value(value)) {
        srv_.warn("handler answered " + r.method + " " + r.path +
                  " with a malformed header field");
        if (out.stream)
          stream_handle{out.stream}.close();
        out = http_response::error(500, "internal server error");
        break;
      }
    }
    if (!valid_header_value(out.content_type)) {
      if (out.stream)
        stream_handle{out.stream}.close();
      out = http_response::error(500, "internal server error");
    }
    if (out.stream)
      return start_stream(std::move(out));
    send_app_response(std::move(out), !keep_alive_);
  }

  void send_error(int status, const std::string& message, bool close) {
    send_app_response(http_response::error(status, message), close);
  }

  /// The common header fields of every answer.
  template <class Body>
  void fill_header(http::response<Body>& res, const http_response& out, bool close) {
    res.version(version_);
    res.result(static_cast<unsigned>(out.status));
    res.set(http::field::server, "spin");
    if (!out.content_type.empty())
      res.set(http::field::content_type, out.content_type);
    for (auto& [name, value] : out.headers)
      res.insert(name, value);
    res.keep_alive(!close);
  }

  void send_app_response(http_response out, bool close) {
    http::response<http::string_body> res;
    fill_header(res, out, close);
    if (out.status == 204 || out.status == 304) {
      res.body().clear();
    } else {
      res.body() = std::move(out.body);
      res.prepare_payload();
    }
    if (head_) {
      http::response<http::empty_body> h{std::move(res.base())};
      return send(std::move(h), close);
    }
    send(std::move(res), close);
  }

  void serve_static(const http_request& r) {
    auto f = resolve_static(srv_.static_root, r.path,
                            accepts_gzip(r.header("accept-encoding")));
    if (!f)
      return send_error(404, "not found", !keep_alive_);
    http::file_body::value_type body;
    beast::error_code ec;
    body.open(f->path.c_str(), beast::file_mode::scan, ec);
    if (ec)
      return send_error(404, "not found", !keep_alive_);
    http_response meta;
    meta.content_type = f->content_type;
    if (f->no_cache)
      meta.headers.emplace_back("Cache-Control", "no-cache");
    if (f->gzip)
      meta.headers.emplace_back("Content-Encoding", "gzip");
    if (f->has_gzip)
      meta.headers.emplace_back("Vary", "Accept-Encoding");
    bool close = !keep_alive_;
    if (head_) {
      http::response<http::empty_body> h;
      fill_header(h, meta, close);
      h.content_length(body.size());
      return send(std::move(h), close);
    }
    http::response<http::file_body> res;
    fill_header(res, meta, close);
    res.body() = std::move(body);
    res.prepare_payload();
    send(std::move(res), close);
  }

  // -- writing answers

  template <class Body>
  void send(http::response<Body>&& res, bool close) {
    srv_.count_status(res.result_int());
    auto msg = std::make_shared<http::response<Body>>(std::move(res));
    auto sr = std::make_shared<http::response_serializer<Body>>(*msg);
    write_some(std::move(msg), std::move(sr), close);
  }

  /// Writes a message piece by piece, each piece within the idle timeout (a
  /// large file to a slow but live client is fine; a stalled one is not).
  template <class Msg, class Serializer>
  void write_some(std::shared_ptr<Msg> msg, std::shared_ptr<Serializer> sr, bool close) {
    if (closed_)
      return;
    arm(idle());
    http::async_write_some(
        stream_, *sr,
        [self = self(), msg, sr, close](const error_code& ec, size_t n) mutable {
          self->disarm();
          self->srv_.bytes_sent += static_cast<int64_t>(n);
          if (ec) {
            SPIN_DEBUG("http: write to %s failed: %s", self->remote_.c_str(),
                       ec.message().c_str());
            return self->close_now();
          }
          if (!sr->is_done())
            return self->write_some(std::move(msg), std::move(sr), close);
          if (close)
            return self->linger_close();
          self->do_read();
        });
  }

  /// Closes after an answer: for plain TCP the sending side is shut down
  /// first and whatever the client still sends is read and dropped for a
  /// moment, so its kernel does not reset the connection before it read
  /// the answer.
  void linger_close() {
    if (closed_)
      return;
    if constexpr (is_tls) {
      close_now();
    } else {
      error_code ec;
      stream_.shutdown(tcp::socket::shutdown_send, ec);
      if (ec)
        return close_now();
      arm(linger_time);
      linger_read(0);
    }
  }

  void linger_read(size_t total) {
    auto scratch = std::make_shared<std::array<char, 4096>>();
    stream_.async_read_some(net::buffer(*scratch), [self = self(), scratch, total](
                                                       const error_code& ec, size_t n) {
      if (ec || total + n > linger_bytes)
        return self->close_now();
      self->linger_read(total + n);
    });
  }

  // -- streamed answers

  void start_stream(http_response out) {
    auto handle = std::make_shared<stream_handle>();
    handle->s = std::move(out.stream);
    chunked_ = version_ >= 11;
    bool close = !keep_alive_ || !chunked_;
    auto head = std::make_shared<http::response<http::empty_body>>();
    fill_header(*head, out, close);
    if (chunked_)
      head->chunked(true);
    srv_.count_status(head->result_int());
    auto sr = std::make_shared<http::response_serializer<http::empty_body>>(*head);
    arm(idle());
    http::async_write_header(
        stream_, *sr,
        [self = self(), head, sr, handle, close](const error_code& ec, size_t n) {
          self->disarm();
          self->srv_.bytes_sent += static_cast<int64_t>(n);
          if (ec || self->closed_) {
            handle->close();
            return self->close_now();
          }
          if (self->head_) {
            handle->close();
            if (close)
              return self->linger_close();
            return self->do_read();
          }
          self->run_stream(handle, close);
        });
  }

  void run_stream(std::shared_ptr<stream_handle> handle, bool close) {
    {
      std::lock_guard<std::mutex> lock(sync_->m);
      sync_->gone = false;
      sync_->busy = false;
    }
    streaming_ = true;
    stream_close_ = close;
    ++srv_.streams;
    if (!monitor_pending_ && buffer_.size() == 0)
      monitor();
    auto self_ptr = self();
    bool started = srv_.spawn([self_ptr, handle] { self_ptr->produce(handle); });
    if (!started) {
      --srv_.streams;
      streaming_ = false;
      handle->close();
      close_now();
    }
  }

  /// Watches the client while a stream runs: EOF or an error means it is
  /// gone; bytes it sends (a pipelined request) are kept for later.
  void monitor() {
    monitor_pending_ = true;
    auto space = buffer_.prepare(4096);
    stream_.async_read_some(space, [self = self()](const error_code& ec, size_t n) {
      self->monitor_pending_ = false;
      if (ec)
        return self->close_now();
      self->buffer_.commit(n);
      if (self->resume_after_monitor_) {
        self->resume_after_monitor_ = false;
        self->disarm();
        return self->do_read();
      }
      // Once the client has sent bytes of its next request, stop watching:
      // it is there, and a read left pending here would hold that request
      // until more bytes arrive (stream_done starts the next read instead).
      if (self->streaming_ && self->buffer_.size() == 0)
        self->monitor();
    });
  }

  /// The stream's thread: asks the application for chunks and hands each to
  /// the connection's strand, waiting until it is written.
  void produce(const std::shared_ptr<stream_handle>& handle) {
    bool ended = false;
    for (;;) {
      {
        std::lock_guard<std::mutex> lock(sync_->m);
        if (sync_->gone || sync_->stop)
          break;
      }
      std::string chunk;
      bool more = false;
      try {
        more = handle->s->next(chunk);
      } catch (const std::exception& e) {
        srv_.warn("stream to " + remote_ + " failed: " + e.what());
        break;
      } catch (...) {
        srv_.warn("stream to " + remote_ + " failed");
        break;
      }
      if (!more) {
        ended = true;
        break;
      }
      if (chunk.empty())
        continue;
      if (chunked_) {
        char size[24];
        std::snprintf(size, sizeof size, "%zx\r\n", chunk.size());
        chunk.insert(0, size);
        chunk += "\r\n";
      }
      if (!write_from_thread(std::move(chunk)))
        break;
    }
    bool ok = ended && (!chunked_ || write_from_thread("0\r\n\r\n"));
    handle->close();
    --srv_.streams;
    net::post(stream_.get_executor(), [self = self(), ok] { self->stream_done(ok); });
  }

  bool write_from_thread(std::string bytes) {
    std::unique_lock<std::mutex> lock(sync_->m);
    if (sync_->gone || sync_->stop)
      return false;
    sync_->busy = true;
    lock.unlock();
    auto data = std::make_shared<std::string>(std::move(bytes));
    net::post(stream_.get_executor(),
              [self = self(), data] { self->write_chunk(std::move(data)); });
    lock.lock();
    sync_->cv.wait(lock, [&] { return !sync_->busy || sync_->gone || sync_->stop; });
    return !sync_->gone && !sync_->stop;
  }

  void write_chunk(std::shared_ptr<std::string> data) {
    if (closed_) {
      mark_gone();
      return;
    }
    arm(idle());
    net::async_write(stream_, net::buffer(*data),
                     [self = self(), data](const error_code& ec, size_t n) {
                       self->disarm();
                       self->srv_.bytes_sent += static_cast<int64_t>(n);
                       {
                         std::lock_guard<std::mutex> lock(self->sync_->m);
                         self->sync_->busy = false;
                         if (ec)
                           self->sync_->gone = true;
                         self->sync_->cv.notify_all();
                       }
                       if (ec)
                         self->close_now();
                     });
  }

  void stream_done(bool ok) {
    streaming_ = false;
    if (closed_)
      return;
    if (!ok)
      return close_now();
    if (stream_close_)
      return linger_close();
    if (monitor_pending_) {
      // The watching read is still out; the next request starts with it.
      resume_after_monitor_ = true;
      arm(idle());
      return;
    }
    do_read();
  }

  server_impl& srv_;
  Stream stream_;
  net::steady_timer timer_;
  uint64_t timer_gen_ = 0;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::string remote_;
  bool reject_;
  uint64_t id_ = 0;
  bool closed_ = false;

  // The request being answered.
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool head_ = false;

  // Streaming.
  std::shared_ptr<stream_sync> sync_;
  bool chunked_ = true;
  bool streaming_ = false;
  bool stream_close_ = false;
  bool monitor_pending_ = false;
  bool resume_after_monitor_ = false;
};

// ---------------------------------------------------------------------------
// Start-up: password file, TLS, listeners.

bool server_state::load_users(std::string& error) {
  users.clear();
  if (opts.password_file.empty())
    return true;
  const std::string& file = opts.password_file;
  std::ifstream in(file);
  if (!in) {
    error = "password file " + file + ": " + std::strerror(errno);
    return false;
  }
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    std::string_view l = trim(line);
    if (l.empty() || l[0] == '#')
      continue;
    std::string where = "password file " + file + " line " + std::to_string(number);
    size_t colon = l.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      error = where + ": expected user:hash";
      return false;
    }
    std::string user(trim(l.substr(0, colon)));
    std::string hash(trim(l.substr(colon + 1)));
    if (hash.empty() || hash[0] != '$') {
      error = where + ": the password of user '" + user +
              "' is not a crypt(3) hash (plain-text passwords are refused; make a hash "
              "with mkpasswd or openssl passwd -6)";
      return false;
    }
    if (crypt_checksalt(hash.c_str()) != CRYPT_SALT_OK) {
      error = where + ": the hash of user '" + user +
              "' is not a supported crypt(3) hash ($y$, $6$, $2b$, ...)";
      return false;
    }
    auto [it, fresh] = users.emplace(user, user_entry{hash, number});
    if (!fresh) {
      error = where + ": user '" + user + "' is already defined on line " +
              std::to_string(it->second.line);
      return false;
    }
  }
  if (in.bad()) {
    error = "password file " + file + ": read error";
    return false;
  }
  if (users.empty()) {
    error = "password file " + file + " has no users (nobody could log in)";
    return false;
  }
  struct stat st;
  if (::stat(file.c_str(), &st) == 0 && (st.st_mode & S_IROTH))
    SPIN_WARN("http: password file %s is world-readable", file.c_str());
  if (RAND_bytes(auth_salt, sizeof auth_salt) != 1) {
    error = "cannot get random bytes for the authentication cache";
    return false;
  }
  return true;
}

std::string server_state::authenticate(const std::string& authorization) {
  std::string_view a = trim(authorization);
  if (a.size() < 6 || !iequals(a.substr(0, 6), "basic "))
    return {};

  // A recently verified header is remembered under a salted digest.
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  std::string material(reinterpret_cast<const char*>(auth_salt), sizeof auth_salt);
  material.append(a.data(), a.size());
  std::string key;
  if (EVP_Digest(material.data(), material.size(), digest, &digest_len, EVP_sha256(),
                 nullptr) == 1)
    key.assign(reinterpret_cast<const char*>(digest), digest_len);
  OPENSSL_cleanse(material.data(), material.size());
  auto now = steady::now();
  if (!key.empty()) {
    std::lock_guard<std::mutex> lock(auth_m);
    auto it = auth_cache.find(key);
    if (it != auth_cache.end()) {
      if (it->second.expires > now)
        return it->second.user;
      auth_cache.erase(it);
    }
  }

  std::string decoded;
  if (!base64_decode(trim(a.substr(6)), decoded))
    return {};
  size_t colon = decoded.find(':');
  if (colon == std::string::npos)
    return {};
  std::string user = decoded.substr(0, colon);
  std::string password = decoded.substr(colon + 1);
  OPENSSL_cleanse(decoded.data(), decoded.size());

  auto it = users.find(user);
  // An unknown user still costs one hash, so timing does not tell which
  // users exist.
  const std::string& hash =
      it != users.end() ? it->second.hash : users.begin()->second.hash;
  auto data = std::make_unique<crypt_data>();
  std::memset(data.get(), 0, sizeof *data);
  const char* result = crypt_rn(password.c_str(), hash.c_str(), data.get(),
                                static_cast<int>(sizeof *data));
  OPENSSL_cleanse(password.data(), password.size());
  bool ok = result && it != users.end() && std::strlen(result) == hash.size() &&
            CRYPTO_memcmp(result, hash.data(), hash.size()) == 0;
  OPENSSL_cleanse(data.get(), sizeof *data);
  if (!ok)
    return {};
  if (!key.empty()) {
    std::lock_guard<std::mutex> lock(auth_m);
    if (auth_cache.size() >= auth_cache_entries) {
      auto oldest =
          std::min_element(auth_cache.begin(), auth_cache.end(), [](auto& x, auto& y) {
            return x.second.expires < y.second.expires;
          });
      auth_cache.erase(oldest);
    }
    auth_cache[key] = cached_auth{user, now + auth_cache_time};
  }
  return user;
}

bool server_state::load_tls(std::string& error) {
  tls.reset();
  const auto& cert = opts.tls_certificate_file;
  const auto& key = opts.tls_key_file;
  if (cert.empty() && key.empty())
    return true;
  if (cert.empty() || key.empty()) {
    error = "HTTPS needs both a certificate and a key file (got only the " +
            std::string(cert.empty() ? "key " + key : "certificate " + cert) + ")";
    return false;
  }
  if (::access(cert.c_str(), R_OK) != 0) {
    error = "TLS certificate file " + cert + ": " + std::strerror(errno);
    return false;
  }
  if (::access(key.c_str(), R_OK) != 0) {
    error = "TLS key file " + key + ": " + std::strerror(errno);
    return false;
  }
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                   ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  error_code ec;
  ctx->use_certificate_chain_file(cert, ec);
  if (ec) {
    error = "TLS certificate file " + cert + ": " + ec.message();
    return false;
  }
  ctx->use_private_key_file(key, ssl::context::pem, ec);
  if (ec) {
    error = "TLS key file " + key + ": " + ec.message();
    return false;
  }
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
    error = "TLS key file " + key + " does not match the certificate in " + cert;
    return false;
  }
  tls = std::move(ctx);
  return true;
}

bool server_state::bind_all(std::string& error) {
  listeners.clear();
  ports.clear();
  for (const auto& text : opts.addresses) {
    std::string a = text;
    if (a.size() > 2 && a.front() == '[' && a.back() == ']')
      a = a.substr(1, a.size() - 2);
    error_code ec;
    auto address = net::ip::make_address(a, ec);
    if (ec) {
      error = "http listen address '" + text + "' is not an IP address";
      return false;
    }
    auto l = std::make_unique<listener>(*ioc);
    tcp::endpoint ep(address, opts.port);
    std::string where = "http: cannot listen on " + endpoint_text(ep) + ": ";
    l->acceptor.open(ep.protocol(), ec);
    if (!ec && address.is_v6())
      l->acceptor.set_option(net::ip::v6_only(true), ec);
    if (!ec)
      l->acceptor.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec)
      l->acceptor.bind(ep, ec);
    if (!ec)
      l->acceptor.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      error = where + ec.message();
      return false;
    }
    uint16_t port = l->acceptor.local_endpoint(ec).port();
    if (ec) {
      error = where + ec.message();
      return false;
    }
    std::string host =
        address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
    l->url =
        std::string(tls ? "https://" : "http://") + host + ":" + std::to_string(port);
    ports.push_back(port);
    listeners.push_back(std::move(l));
  }
  return true;
}

void server_state::do_accept(listener& l) {
  l.acceptor.async_accept(net::make_strand(*ioc),
                          [this, &l](const error_code& ec, tcp::socket socket) {
                            on_accept(l, ec, std::move(socket));
                          });
}

void server_state::on_accept(listener& l, const error_code& ec, tcp::socket socket) {
  if (stopping || ec == net::error::operation_aborted)
    return;
  if (ec) {
    // Out of file descriptors and the like: wait a moment rather than spin.
    warn("accept on " + l.url + " failed: " + ec.message());
    l.retry.expires_after(std::chrono::milliseconds(100));
    l.retry.async_wait([this, &l](const error_code& e) {
      if (!e && !stopping)
        do_accept(l);
    });
    return;
  }
  error_code ignored;
  auto peer = socket.remote_endpoint(ignored);
  socket.set_option(tcp::no_delay(true), ignored);
  bool reject = connections >= static_cast<int64_t>(opts.max_connections);
  if (reject && rejecting >= std::max<int64_t>(reject_backlog, opts.max_connections)) {
    socket.close(ignored); // a flood: not even a 503
  } else {
    std::string remote = ignored ? std::string("unknown") : endpoint_text(peer);
    if (reject)
      warn("too many connections (" + std::to_string(opts.max_connections) +
           "), refusing " + remote);
    if (tls) {
      auto s = std::make_shared<session<ssl::stream<tcp::socket>>>(
          *this, ssl::stream<tcp::socket>(std::move(socket), *tls), remote, reject);
      s->start();
    } else {
      auto s = std::make_shared<session<tcp::socket>>(*this, std::move(socket), remote,
                                                      reject);
      s->start();
    }
  }
  do_accept(l);
}

} // namespace

bool http_parse_form(std::string_view text, std::map<std::string, std::string>& params) {
  return parse_query(text, params);
}

bool http_origin_matches(std::string_view origin, std::string_view host) {
  return origin_matches(origin, host);
}

struct http_server::impl : server_state {};

// ---------------------------------------------------------------------------

http_server::http_server() : p_(std::make_unique<impl>()) {}

http_server::~http_server() {
  stop();
}

bool http_server::start(const options& o, handler h, std::string& error) {
  if (p_->running) {
    error = "http server already running";
    return false;
  }
  if (!h) {
    error = "http server: no handler";
    return false;
  }
  if (o.addresses.empty() || o.threads < 1 || o.max_connections < 1 ||
      o.idle_timeout_s < 1 || o.max_body < 1) {
    error = "http server: addresses, threads, max_connections, idle_timeout_s and "
            "max_body must not be empty or zero";
    return false;
  }
  auto& s = *p_;
  s.opts = o;
  s.app = std::move(h);
  s.stopping = false;
  s.static_root.clear();
  if (!o.static_dir.empty()) {
    s.static_root = real_path(o.static_dir);
    struct stat st;
    if (s.static_root.empty() || ::stat(s.static_root.c_str(), &st) != 0 ||
        !S_ISDIR(st.st_mode)) {
      error = "static directory " + o.static_dir + ": " +
              (s.static_root.empty() ? std::strerror(errno) : "not a directory");
      s.static_root.clear();
      return false;
    }
  }
  if (!s.load_users(error) || !s.load_tls(error))
    return false;
  s.ioc = std::make_unique<net::io_context>(o.threads);
  if (!s.bind_all(error)) {
    s.listeners.clear();
    s.ioc.reset();
    s.tls.reset();
    return false;
  }
  s.work.emplace(s.ioc->get_executor());
  for (auto& l : s.listeners)
    net::dispatch(l->acceptor.get_executor(), [&s, lp = l.get()] { s.do_accept(*lp); });
  for (int i = 0; i < o.threads; ++i)
    s.io_threads.emplace_back([&s] {
      for (;;) {
        try {
          s.ioc->run();
          return;
        } catch (const std::exception& e) {
          s.warn(std::string("I/O thread: ") + e.what());
        }
      }
    });
  s.running = true;

  std::string urls;
  for (auto& l : s.listeners)
    urls += (urls.empty() ? "" : " ") + l->url;
  SPIN_INFO("http: listening on %s (static files: %s, authentication: %s)", urls.c_str(),
            s.static_root.empty() ? "none" : s.static_root.c_str(),
            s.users.empty() ? "off"
                            : (std::to_string(s.users.size()) + " users").c_str());
  return true;
}

void http_server::stop() {
  auto& s = *p_;
  if (!s.running)
    return;
  {
    std::lock_guard<std::mutex> lock(s.sessions_m);
    s.stopping = true;
  }
  for (auto& l : s.listeners)
    net::post(l->acceptor.get_executor(), [lp = l.get()] {
      error_code ec;
      lp->acceptor.close(ec);
      lp->retry.cancel();
    });

  std::vector<std::shared_ptr<session_base>> live;
  {
    std::lock_guard<std::mutex> lock(s.sessions_m);
    for (auto& [id, weak] : s.sessions)
      if (auto sp = weak.lock())
        live.push_back(std::move(sp));
  }
  for (auto& sp : live)
    sp->shutdown();
  live.clear();

  // Stream threads notice within a second (next() returns that often) and
  // close their streams.
  std::list<server_state::stream_thread> threads;
  {
    std::lock_guard<std::mutex> lock(s.threads_m);
    threads.swap(s.stream_threads);
  }
  for (auto& t : threads)
    t.t.join();

  // Let the closed connections finish their handlers, then stop the loop.
  {
    std::unique_lock<std::mutex> lock(s.sessions_m);
    s.sessions_cv.wait_for(lock, std::chrono::seconds(3),
                           [&] { return s.sessions.empty(); });
  }
  s.work.reset();
  s.ioc->stop();
  for (auto& t : s.io_threads)
    t.join();
  s.io_threads.clear();
  s.listeners.clear();
  s.ioc.reset(); // destroys what is left of the sessions
  s.tls.reset();
  {
    std::lock_guard<std::mutex> lock(s.auth_m);
    s.auth_cache.clear();
  }
  s.running = false;
  SPIN_INFO("http: stopped");
}

status_report http_server::status() const {
  status_report r;
  r.component = "http_server";
  auto& s = *p_;
  r.counters["requests"] = s.requests;
  r.counters["responses_2xx"] = s.r2xx;
  r.counters["responses_3xx"] = s.r3xx;
  r.counters["responses_4xx"] = s.r4xx;
  r.counters["responses_5xx"] = s.r5xx;
  r.counters["auth_failures"] = s.auth_failures;
  r.counters["connections"] = s.connections;
  r.counters["streams"] = s.streams;
  r.counters["bytes_sent"] = s.bytes_sent;
  std::lock_guard<std::mutex> lock(s.log_m);
  r.last_error = s.last_error;
  return r;
}

std::vector<uint16_t> http_server::bound_ports() const {
  return p_->ports;
}

} // namespace spin
