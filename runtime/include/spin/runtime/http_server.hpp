#pragma once

#include "spin/runtime/status.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace spin {

/// One HTTP request as the application sees it (Boost.Beast parses it; the
/// server has already checked size limits, authentication and origin).
struct http_request {
  std::string method; ///< "GET", "POST", ... (upper case)
  std::string path;   ///< percent-decoded path, without the query: "/spin_api/devices"
  std::string query;  ///< raw query string, without '?'
  /// Query parameters, percent-decoded (the last one wins for a repeated key).
  std::map<std::string, std::string> params;
  /// Header fields, names in lower case.
  std::map<std::string, std::string> headers;
  std::string body;
  std::string remote; ///< "192.0.2.7:53012" or "[2001:db8::7]:53012"
  std::string user;   ///< the authenticated user, empty without authentication

  /// The header value, or "" when absent.
  std::string header(const std::string& lower_name) const;
};

/// A streamed response body (for live captures): the server calls `next`
/// from a thread of its own, one chunk at a time, and writes each chunk with
/// chunked transfer encoding. `next` returns false when the stream ends
/// (then `chunk` is ignored); it may block for a while (waiting for packets)
/// but should return at least every second or so (an empty chunk is not
/// written, and lets the server notice a client that went away). `close` is
/// called exactly once when the stream ends for any reason (end, client
/// gone, server stopping).
struct http_stream {
  std::function<bool(std::string& chunk)> next;
  std::function<void()> close;
};

/// What the application answers.
struct http_response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  /// Extra header fields (name, value).
  std::vector<std::pair<std::string, std::string>> headers;
  /// Set for a streamed body (then `body` is ignored).
  std::shared_ptr<http_stream> stream;

  /// `{"status": <status>, "error": "<message>"}` with that status (the
  /// REST error shape of ../shared/reference/spin-protocols.md s.3).
  static http_response error(int status, const std::string& message);
  /// A JSON body (already serialised) with status 200.
  static http_response json(std::string body, int status = 200);
};

/// Splits `a=1&b=x%20y` (a query string or a form body) into percent-decoded
/// parameters, `+` as a space, the last one winning; false for a malformed
/// escape. The server parses every query string with it.
bool http_parse_form(std::string_view text, std::map<std::string, std::string>& params);

/// True when an `Origin` header value names `host` (the request's Host
/// header): what the server's cross-origin check compares.
bool http_origin_matches(std::string_view origin, std::string_view host);

/// spind's HTTP server on Boost.Beast: HTTP/1.1 with keep-alive, on one or
/// more addresses (IPv4 and IPv6), optionally TLS, optionally HTTP basic
/// authentication. It serves static files from `static_dir` (the built web
/// app) for GET/HEAD of paths outside `/spin_api/` and `/metrics`, and hands
/// every other request to the application's handler.
///
/// What the server decides itself, before the handler:
///  - malformed requests: 400; header block over 16 KiB: 431; body over
///    `max_body`: 413; unsupported methods: 405;
///  - authentication (when a password file is configured): a missing or
///    wrong `Authorization: Basic` gets 401 with `WWW-Authenticate`;
///  - cross-origin state changes: a POST/PUT/DELETE whose `Origin` header is
///    present and does not match the `Host` it was sent to gets 403;
///  - a Host header naming neither an IP literal nor one of `allowed_hosts`
///    gets 403 (when `allowed_hosts` is set); an address with more than
///    `max_auth_failures` failed logins in a minute gets 429;
///  - static files: never outside `static_dir` (no `..`, no symlinks out),
///    `index.html` for directories, a content type by extension, the
///    `<file>.gz` next to a file when the client accepts gzip (with
///    `Content-Encoding: gzip`), 404 for anything missing.
/// Error bodies use the `{"status": N, "error": "..."}` shape.
///
/// Handlers run on the server's I/O threads and may block briefly (they ask
/// actors for data); streamed bodies run in a thread each.
class http_server {
public:
  struct options {
    /// Addresses to listen on ("127.0.0.1", "::1", "0.0.0.0", "::").
    std::vector<std::string> addresses{"127.0.0.1"};
    uint16_t port = 13026;
    /// The built web app; empty: no static files (404).
    std::string static_dir;
    /// Users for HTTP basic authentication, one `user:hash` per line, the
    /// hash in crypt(3) form (`$y$` yescrypt, `$6$` SHA-512, `$2b$` bcrypt,
    /// as made by `mkpasswd` or `openssl passwd -6`); `#` comments and blank
    /// lines allowed. Plain-text passwords are refused when loading. Empty:
    /// no authentication.
    std::string password_file;
    /// PEM files for HTTPS; both empty: plain HTTP.
    std::string tls_certificate_file;
    std::string tls_key_file;
    /// Host names the server answers to (the Host header), besides IP
    /// literals; others get 403, so a DNS-rebinding page cannot use a
    /// browser to reach the API under its own name. Empty: any Host.
    std::vector<std::string> allowed_hosts;
    /// Failed basic-auth attempts per client address in a minute before the
    /// address gets 429 without a password check (crypt(3) is slow).
    int max_auth_failures = 10;
    size_t max_body = 1 << 20;
    size_t max_connections = 64;
    int idle_timeout_s = 30;
    /// I/O threads.
    int threads = 1;
  };

  using handler = std::function<http_response(const http_request&)>;

  http_server();
  ~http_server();
  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  /// Loads the password file and TLS files, binds every address and starts
  /// the threads. False with a clear `error` (which address could not be
  /// bound and why, which file is unreadable or malformed).
  bool start(const options& o, handler h, std::string& error);

  /// Stops accepting, closes every connection and stream, joins the threads.
  void stop();

  /// Counters: `requests`, `responses_2xx`, `_3xx`, `_4xx`, `_5xx`,
  /// `auth_failures`, `connections` (gauge), `streams` (gauge),
  /// `bytes_sent`.
  status_report status() const;

  /// The ports actually bound (useful with port 0 in tests), one per address.
  std::vector<uint16_t> bound_ports() const;

private:
  struct impl;
  std::unique_ptr<impl> p_;
};

} // namespace spin
