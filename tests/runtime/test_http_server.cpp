// spind's HTTP server as a browser or a script sees it: a real server on
// 127.0.0.1 (port 0), a small handler, a static directory in a fresh
// temporary directory, and a plain-socket client that reads answers byte by
// byte with deadlines (so the wire format itself is checked: Content-Length,
// chunked encoding, keep-alive).
#include "spin/runtime/http_server.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <poll.h>
#include <stdexcept>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

using steady = std::chrono::steady_clock;
constexpr auto patience = std::chrono::seconds(10);

/// "secret" hashed with SHA-512 crypt (`openssl passwd -6 -salt spintestsalt secret`).
const char* const alice_hash = "$6$spintestsalt$UEfaECZ5Q3Lb8RwCnGZSfcrM8Q66RbEs/"
                               "mEZzTE2pEJNYqcUWLOk5mVMYNNR5oPJf79.gxMYU6W4UAlzz3sOA0";
const char* const alice_basic = "Basic YWxpY2U6c2VjcmV0"; // alice:secret
const char* const alice_wrong = "Basic YWxpY2U6d3Jvbmc="; // alice:wrong

/// A fresh directory under /tmp, removed with everything in it.
struct temp_dir {
  std::string path;
  temp_dir() {
    char tmpl[] = "/tmp/spin-http-XXXXXX";
    if (!::mkdtemp(tmpl))
      throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return path + "/" + name; }
  void write(const std::string& name, const std::string& text) const {
    std::filesystem::create_directories(std::filesystem::path(file(name)).parent_path());
    std::ofstream(file(name), std::ios::binary) << text;
  }
};

/// Waits until `pred` holds or the deadline passes.
template <class Pred>
bool wait_until(Pred pred, std::chrono::steady_clock::duration limit = patience) {
  auto deadline = steady::now() + limit;
  while (steady::now() < deadline) {
    if (pred())
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}

struct reply {
  int status = 0;
  std::map<std::string, std::string> headers; ///< names in lower case
  std::string body;
  std::vector<std::string> chunks; ///< for a chunked body
  std::string header(const std::string& n) const {
    auto it = headers.find(n);
    return it == headers.end() ? "" : it->second;
  }
};

/// A test client on one TCP connection: blocking sends, reads with deadlines.
class client {
public:
  explicit client(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0)
      throw std::runtime_error(std::string("connect: ") + std::strerror(errno));
  }
  ~client() { close(); }
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  void close() {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = -1;
  }

  void send(const std::string& text) {
    size_t done = 0;
    while (done < text.size()) {
      ssize_t n = ::send(fd_, text.data() + done, text.size() - done, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        throw std::runtime_error(std::string("send: ") + std::strerror(errno));
      done += static_cast<size_t>(n);
    }
  }

  /// Reads more bytes into the buffer; false on EOF (or a reset).
  bool fill(steady::time_point deadline) {
    for (;;) {
      auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
      if (left.count() <= 0)
        throw std::runtime_error("timed out waiting for the server");
      pollfd p{fd_, POLLIN, 0};
      int rc = ::poll(&p, 1, static_cast<int>(left.count()));
      if (rc < 0 && errno == EINTR)
        continue;
      if (rc <= 0)
        continue;
      char buf[8192];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return false;
      in_.append(buf, static_cast<size_t>(n));
      return true;
    }
  }

  /// True once the server closed the connection (with nothing more to read).
  bool closed_by_server(std::chrono::steady_clock::duration limit = patience) {
    auto deadline = steady::now() + limit;
    try {
      while (fill(deadline))
        in_.clear();
      return true;
    } catch (const std::runtime_error&) {
      return false;
    }
  }

  std::string read_line(steady::time_point deadline) {
    for (;;) {
      size_t eol = in_.find("\r\n");
      if (eol != std::string::npos) {
        std::string line = in_.substr(0, eol);
        in_.erase(0, eol + 2);
        return line;
      }
      if (!fill(deadline))
        throw std::runtime_error("connection closed inside a line");
    }
  }

  std::string read_bytes(size_t n, steady::time_point deadline) {
    while (in_.size() < n)
      if (!fill(deadline))
        throw std::runtime_error("connection closed inside a body");
    std::string out = in_.substr(0, n);
    in_.erase(0, n);
    return out;
  }

  /// The status line and header fields of the next answer.
  reply read_head(steady::time_point deadline) {
    reply r;
    std::string status = read_line(deadline);
    if (status.compare(0, 5, "HTTP/") != 0 || status.size() < 12)
      throw std::runtime_error("not a status line: " + status);
    r.status = std::atoi(status.c_str() + 9);
    for (;;) {
      std::string line = read_line(deadline);
      if (line.empty())
        break;
      size_t colon = line.find(':');
      std::string name = line.substr(0, colon);
      for (auto& c : name)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      size_t v = line.find_first_not_of(' ', colon + 1);
      r.headers[name] = v == std::string::npos ? "" : line.substr(v);
    }
    return r;
  }

  /// One chunk of a chunked body; false for the last (empty) one.
  bool read_chunk(std::string& chunk, steady::time_point deadline) {
    size_t size = std::stoul(read_line(deadline), nullptr, 16);
    if (size == 0) {
      if (!read_line(deadline).empty())
        throw std::runtime_error("trailers after the last chunk");
      return false;
    }
    chunk = read_bytes(size, deadline);
    if (!read_line(deadline).empty())
      throw std::runtime_error("chunk not followed by CRLF");
    return true;
  }

  /// A whole answer; `head` for the answer to a HEAD request (no body).
  reply read_reply(bool head = false) {
    auto deadline = steady::now() + patience;
    reply r = read_head(deadline);
    if (head || r.status == 204 || r.status == 304)
      return r;
    if (r.header("transfer-encoding") == "chunked") {
      std::string chunk;
      while (read_chunk(chunk, deadline)) {
        r.chunks.push_back(chunk);
        r.body += chunk;
      }
    } else if (r.headers.count("content-length")) {
      r.body = read_bytes(std::stoul(r.header("content-length")), deadline);
    } else {
      while (fill(deadline)) {
      }
      r.body = in_;
      in_.clear();
    }
    return r;
  }

  reply request(const std::string& text, bool head = false) {
    send(text);
    return read_reply(head);
  }

  /// Bytes received but not yet consumed.
  const std::string& pending() const { return in_; }

private:
  int fd_ = -1;
  std::string in_;
};

/// A GET request line and headers for `path`.
std::string get(const std::string& path, const std::string& extra = "",
                const std::string& method = "GET") {
  return method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra + "\r\n";
}

std::string post(const std::string& path, const std::string& body,
                 const std::string& extra = "") {
  return "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n" + extra + "\r\n" + body;
}

/// A server with a small handler and a static directory:
///   /spin_api/hello      {"hello":"world"}
///   /spin_api/echo       the method, body and user as text
///   /spin_api/stream     chunks "a", "bb", "ccc"
///   /spin_api/endless    a chunk "tick" every 20 ms until the client goes
///   /spin_api/throw      the handler throws
///   anything else        404
/// Files: www/index.html, www/app.js(.gz), www/sub/index.html,
/// www/link -> ../secret.txt (outside), www/inlink -> app.js; secret.txt.
struct fixture {
  temp_dir dir;
  spin::http_server server;
  std::atomic<int> closes{0};
  std::atomic<int> opened{0};
  std::string last_user;
  std::mutex m;

  fixture() {
    dir.write("www/index.html", "<html>spin</html>");
    dir.write("www/app.js", "console.log('spin');");
    dir.write("www/app.js.gz", "GZIPPED-BYTES");
    dir.write("www/sub/index.html", "<html>sub</html>");
    dir.write("www/style.css", "body{}");
    dir.write("secret.txt", "top secret");
    std::filesystem::create_symlink("../secret.txt", dir.file("www/link"));
    std::filesystem::create_symlink("app.js", dir.file("www/inlink"));
  }

  spin::http_server::options options() const {
    spin::http_server::options o;
    o.addresses = {"127.0.0.1"};
    o.port = 0;
    o.static_dir = dir.file("www");
    o.max_body = 1024;
    o.max_connections = 8;
    o.idle_timeout_s = 30;
    return o;
  }

  std::shared_ptr<spin::http_stream> make_stream(std::vector<std::string> chunks,
                                                 bool endless) {
    auto s = std::make_shared<spin::http_stream>();
    auto index = std::make_shared<size_t>(0);
    ++opened;
    s->next = [chunks, endless, index](std::string& chunk) {
      if (endless) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        chunk = "tick\n";
        return true;
      }
      if (*index >= chunks.size())
        return false;
      chunk = chunks[(*index)++];
      return true;
    };
    s->close = [this] { ++closes; };
    return s;
  }

  spin::http_response handle(const spin::http_request& r) {
    {
      std::lock_guard<std::mutex> lock(m);
      last_user = r.user;
    }
    if (r.path == "/spin_api/hello")
      return spin::http_response::json("{\"hello\":\"world\"}");
    if (r.path == "/spin_api/echo") {
      spin::http_response out;
      out.content_type = "text/plain";
      out.body = r.method + " " + r.body + " user=" + r.user +
                 " p=" + (r.params.count("p") ? r.params.at("p") : "");
      out.headers.emplace_back("X-Spin", "yes");
      return out;
    }
    if (r.path == "/spin_api/stream") {
      spin::http_response out;
      out.content_type = "text/plain";
      out.stream = make_stream({"a", "", "bb", "ccc"}, false);
      return out;
    }
    if (r.path == "/spin_api/endless") {
      spin::http_response out;
      out.content_type = "text/plain";
      out.stream = make_stream({}, true);
      return out;
    }
    if (r.path == "/spin_api/throw")
      throw std::runtime_error("boom");
    return spin::http_response::error(404, "no such endpoint");
  }

  uint16_t start(spin::http_server::options o) {
    std::string error;
    bool ok = server.start(
        o, [this](const spin::http_request& r) { return handle(r); }, error);
    INFO(error);
    REQUIRE(ok);
    REQUIRE(server.bound_ports().size() == 1);
    return server.bound_ports()[0];
  }
  uint16_t start() { return start(options()); }

  int64_t counter(const std::string& name) const {
    auto s = server.status();
    auto it = s.counters.find(name);
    return it == s.counters.end() ? -1 : it->second;
  }
};

} // namespace

TEST_CASE("http_server answers the handler's routes", "[http_server]") {
  fixture f;
  uint16_t port = f.start();
  client c(port);

  SECTION("GET with a JSON answer and Content-Length") {
    auto r = c.request(get("/spin_api/hello"));
    CHECK(r.status == 200);
    CHECK(r.header("content-type") == "application/json");
    CHECK(r.header("content-length") == "17");
    CHECK(r.body == "{\"hello\":\"world\"}");
  }
  SECTION("POST with a body, query parameters and extra header fields") {
    auto r = c.request(post("/spin_api/echo?p=a%20b", "{\"x\":1}"));
    CHECK(r.status == 200);
    CHECK(r.body == "POST {\"x\":1} user= p=a b");
    CHECK(r.header("x-spin") == "yes");
  }
  SECTION("the handler's 404 keeps the error shape") {
    auto r = c.request(get("/spin_api/nothing"));
    CHECK(r.status == 404);
    CHECK(r.body == "{\"status\":404,\"error\":\"no such endpoint\"}");
  }
  SECTION("a handler that throws gives 500 in the error shape") {
    auto r = c.request(get("/spin_api/throw"));
    CHECK(r.status == 500);
    CHECK(r.body.find("\"status\":500") != std::string::npos);
    CHECK(f.counter("responses_5xx") == 1);
  }
  SECTION("keep-alive: several requests on one connection") {
    for (int i = 0; i < 3; ++i) {
      auto r = c.request(get("/spin_api/hello"));
      CHECK(r.status == 200);
    }
    auto r = c.request(post("/spin_api/echo", "again"));
    CHECK(r.body == "POST again user= p=");
    CHECK(f.counter("requests") == 4);
    CHECK(f.counter("responses_2xx") == 4);
    CHECK(f.counter("connections") == 1);
    CHECK(f.counter("bytes_sent") > 0);
  }
  SECTION("Connection: close is honoured") {
    auto r = c.request(get("/spin_api/hello", "Connection: close\r\n"));
    CHECK(r.status == 200);
    CHECK(c.closed_by_server());
  }
  SECTION("Expect: 100-continue gets an interim answer first") {
    c.send("POST /spin_api/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4\r\n"
           "Expect: 100-continue\r\n\r\n");
    auto interim = c.read_head(steady::now() + patience);
    CHECK(interim.status == 100);
    c.send("body");
    auto r = c.read_reply();
    CHECK(r.status == 200);
    CHECK(r.body == "POST body user= p=");
  }
}

TEST_CASE("http_server refuses bad requests itself", "[http_server]") {
  fixture f;
  uint16_t port = f.start();
  client c(port);

  SECTION("a body over max_body: 413 in the error shape") {
    c.send("POST /spin_api/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: "
           "5000\r\n\r\n");
    auto r = c.read_reply();
    CHECK(r.status == 413);
    CHECK(r.body.find("\"status\":413") != std::string::npos);
    CHECK(c.closed_by_server());
  }
  SECTION("a chunked body over max_body: 413") {
    std::string chunk(800, 'x');
    c.send("POST /spin_api/echo HTTP/1.1\r\nHost: 127.0.0.1\r\n"
           "Transfer-Encoding: chunked\r\n\r\n320\r\n" +
           chunk + "\r\n320\r\n" + chunk + "\r\n0\r\n\r\n");
    CHECK(c.read_reply().status == 413);
  }
  SECTION("a header block over 16 KiB: 431") {
    auto r =
        c.request(get("/spin_api/hello", "X-Big: " + std::string(20000, 'a') + "\r\n"));
    CHECK(r.status == 431);
    CHECK(r.body.find("\"status\":431") != std::string::npos);
  }
  SECTION("garbage: 400") {
    auto r = c.request("GARBAGE\r\n\r\n");
    CHECK(r.status == 400);
    CHECK(r.body.find("\"status\":400") != std::string::npos);
    CHECK(c.closed_by_server());
  }
  SECTION("HTTP/1.1 without Host: 400") {
    CHECK(c.request("GET /spin_api/hello HTTP/1.1\r\n\r\n").status == 400);
  }
  SECTION("a malformed percent escape: 400") {
    CHECK(c.request(get("/spin_api/he%zzllo")).status == 400);
  }
  SECTION("methods outside GET/HEAD/POST/PUT/DELETE/OPTIONS: 405") {
    auto r = c.request(get("/spin_api/hello", "", "PATCH"));
    CHECK(r.status == 405);
    CHECK(r.header("allow") == "GET, HEAD, POST, PUT, DELETE, OPTIONS");
    CHECK(c.request(get("/spin_api/hello", "", "BREW")).status == 405);
    // The connection is still usable afterwards.
    CHECK(c.request(get("/spin_api/hello")).status == 200);
    CHECK(c.request(get("/spin_api/echo", "", "OPTIONS")).body == "OPTIONS  user= p=");
  }
  SECTION("a state change from another origin: 403; from the same origin: handled") {
    std::string host = "127.0.0.1:" + std::to_string(port);
    auto evil = "POST /spin_api/echo HTTP/1.1\r\nHost: " + host +
                "\r\nOrigin: http://evil.example\r\nContent-Length: 2\r\n\r\nhi";
    auto r = c.request(evil);
    CHECK(r.status == 403);
    CHECK(r.body.find("\"status\":403") != std::string::npos);
    auto same = "DELETE /spin_api/echo HTTP/1.1\r\nHost: " + host +
                "\r\nOrigin: https://" + host + "\r\nContent-Length: 2\r\n\r\nhi";
    CHECK(c.request(same).status == 200);
    auto null_origin = "PUT /spin_api/echo HTTP/1.1\r\nHost: " + host +
                       "\r\nOrigin: null\r\nContent-Length: 0\r\n\r\n";
    CHECK(c.request(null_origin).status == 403);
    // A GET from anywhere is not a state change.
    CHECK(c.request(get("/spin_api/hello", "Origin: http://evil.example\r\n")).status ==
          200);
    // Without Origin (curl, scripts): handled.
    CHECK(c.request(post("/spin_api/echo", "x")).status == 200);
  }
}

TEST_CASE("http_server serves static files", "[http_server]") {
  fixture f;
  uint16_t port = f.start();
  client c(port);

  SECTION("a file with its content type") {
    auto r = c.request(get("/app.js"));
    CHECK(r.status == 200);
    CHECK(r.body == "console.log('spin');");
    CHECK(r.header("content-type") == "text/javascript; charset=utf-8");
    CHECK(r.header("content-encoding").empty());
    CHECK(r.header("vary") == "Accept-Encoding");
    auto css = c.request(get("/style.css"));
    CHECK(css.header("content-type") == "text/css; charset=utf-8");
  }
  SECTION("the .gz variant when the client accepts gzip") {
    auto r = c.request(get("/app.js", "Accept-Encoding: br, gzip, deflate\r\n"));
    CHECK(r.status == 200);
    CHECK(r.body == "GZIPPED-BYTES");
    CHECK(r.header("content-encoding") == "gzip");
    CHECK(r.header("vary") == "Accept-Encoding");
    CHECK(r.header("content-type") == "text/javascript; charset=utf-8");
    auto refused = c.request(get("/app.js", "Accept-Encoding: gzip;q=0\r\n"));
    CHECK(refused.body == "console.log('spin');");
  }
  SECTION("index.html for / and for directories, never cached blindly") {
    auto r = c.request(get("/"));
    CHECK(r.status == 200);
    CHECK(r.body == "<html>spin</html>");
    CHECK(r.header("cache-control") == "no-cache");
    CHECK(r.header("content-type") == "text/html; charset=utf-8");
    CHECK(c.request(get("/sub/")).body == "<html>sub</html>");
    CHECK(c.request(get("/sub")).body == "<html>sub</html>");
    CHECK(c.request(get("/app.js")).header("cache-control").empty());
  }
  SECTION("nothing outside the directory") {
    for (const char* path :
         {"/../secret.txt", "/%2e%2e/secret.txt", "/sub/../../secret.txt",
          "/%2E%2E%2Fsecret.txt", "/link", "/missing.js", "/app.js/"}) {
      auto r = c.request(get(path));
      INFO(path);
      CHECK(r.status == 404);
      CHECK(r.body.find("top secret") == std::string::npos);
    }
    // A symlink that stays inside is fine.
    CHECK(c.request(get("/inlink")).body == "console.log('spin');");
  }
  SECTION("HEAD: the header fields only") {
    auto r = c.request(get("/app.js", "", "HEAD"), true);
    CHECK(r.status == 200);
    CHECK(r.header("content-length") == "20");
    // The next answer on the connection starts right away: no body was sent.
    auto next = c.request(get("/spin_api/hello", "", "HEAD"), true);
    CHECK(next.status == 200);
    CHECK(next.header("content-length") == "17");
    CHECK(c.request(get("/spin_api/hello")).body == "{\"hello\":\"world\"}");
  }
  SECTION("/metrics and /spin_api/ go to the handler") {
    CHECK(c.request(get("/metrics")).body ==
          "{\"status\":404,\"error\":\"no such endpoint\"}");
  }
}

TEST_CASE("http_server without a static directory answers 404", "[http_server]") {
  fixture f;
  auto o = f.options();
  o.static_dir.clear();
  client c(f.start(o));
  CHECK(c.request(get("/index.html")).status == 404);
  CHECK(c.request(get("/")).status == 404);
}

TEST_CASE("http_server streams chunked bodies", "[http_server]") {
  fixture f;
  uint16_t port = f.start();

  SECTION("three chunks, then the end, then the connection goes on") {
    client c(port);
    auto r = c.request(get("/spin_api/stream"));
    CHECK(r.status == 200);
    CHECK(r.header("transfer-encoding") == "chunked");
    CHECK(r.header("content-type") == "text/plain");
    CHECK(r.headers.count("content-length") == 0);
    CHECK(r.chunks == std::vector<std::string>{"a", "bb", "ccc"});
    CHECK(wait_until([&] { return f.closes == 1; }));
    CHECK(c.request(get("/spin_api/hello")).status == 200);
    CHECK(wait_until([&] { return f.counter("streams") == 0; }));
    CHECK(f.closes == 1);
  }
  SECTION("HTTP/1.0: the raw body, ended by closing") {
    client c(port);
    auto r = c.request("GET /spin_api/stream HTTP/1.0\r\n\r\n");
    CHECK(r.status == 200);
    CHECK(r.header("transfer-encoding").empty());
    CHECK(r.body == "abbccc");
    CHECK(wait_until([&] { return f.closes == 1; }));
  }
  SECTION("a HEAD of a stream closes the stream at once") {
    client c(port);
    auto r = c.request(get("/spin_api/endless", "", "HEAD"), true);
    CHECK(r.status == 200);
    CHECK(wait_until([&] { return f.closes == 1; }));
    CHECK(c.request(get("/spin_api/hello")).status == 200);
  }
  SECTION("a client that goes away mid-stream: close() is called once") {
    {
      client c(port);
      c.send(get("/spin_api/endless"));
      auto deadline = steady::now() + patience;
      auto head = c.read_head(deadline);
      CHECK(head.status == 200);
      std::string chunk;
      REQUIRE(c.read_chunk(chunk, deadline));
      CHECK(chunk == "tick\n");
      CHECK(f.counter("streams") == 1);
    }
    CHECK(wait_until([&] { return f.closes == 1; }));
    CHECK(wait_until([&] { return f.counter("streams") == 0; }));
    CHECK(wait_until([&] { return f.counter("connections") == 0; }));
    CHECK(f.closes == 1);
  }
}

TEST_CASE("http_server stops promptly with open streams and idle connections",
          "[http_server]") {
  fixture f;
  uint16_t port = f.start();
  client streaming(port), idle(port);
  streaming.send(get("/spin_api/endless"));
  auto deadline = steady::now() + patience;
  CHECK(streaming.read_head(deadline).status == 200);
  std::string chunk;
  REQUIRE(streaming.read_chunk(chunk, deadline));
  CHECK(idle.request(get("/spin_api/hello")).status == 200);

  auto stopped = std::async(std::launch::async, [&] { f.server.stop(); });
  REQUIRE(stopped.wait_for(patience) == std::future_status::ready);
  CHECK(f.closes == 1);
  CHECK(idle.closed_by_server());
  CHECK(streaming.closed_by_server());
  f.server.stop(); // again: nothing happens
}

TEST_CASE("http_server refuses connections over max_connections with 503",
          "[http_server]") {
  fixture f;
  auto o = f.options();
  o.max_connections = 2;
  uint16_t port = f.start(o);
  client a(port), b(port);
  CHECK(a.request(get("/spin_api/hello")).status == 200);
  CHECK(b.request(get("/spin_api/hello")).status == 200);
  {
    client extra(port);
    auto r = extra.request(get("/spin_api/hello"));
    CHECK(r.status == 503);
    CHECK(r.body.find("\"status\":503") != std::string::npos);
    CHECK(extra.closed_by_server());
  }
  a.close();
  CHECK(wait_until([&] { return f.counter("connections") == 1; }));
  client again(port);
  CHECK(again.request(get("/spin_api/hello")).status == 200);
}

TEST_CASE("http_server closes idle connections", "[http_server]") {
  fixture f;
  auto o = f.options();
  o.idle_timeout_s = 1;
  client c(f.start(o));
  CHECK(c.request(get("/spin_api/hello")).status == 200);
  CHECK(c.closed_by_server());
  CHECK(wait_until([&] { return f.counter("connections") == 0; }));
}

TEST_CASE("http_server checks basic authentication", "[http_server]") {
  fixture f;
  f.dir.write("users", "# spin users\n\nalice:" + std::string(alice_hash) + "\n");
  auto o = f.options();
  o.password_file = f.dir.file("users");
  client c(f.start(o));

  auto none = c.request(get("/spin_api/echo"));
  CHECK(none.status == 401);
  CHECK(none.header("www-authenticate") == "Basic realm=\"spin\"");
  CHECK(none.body.find("\"status\":401") != std::string::npos);

  auto wrong = c.request(
      get("/spin_api/echo", std::string("Authorization: ") + alice_wrong + "\r\n"));
  CHECK(wrong.status == 401);
  CHECK(c.request(get("/spin_api/echo", "Authorization: Basic !!!\r\n")).status == 401);
  CHECK(c.request(get("/spin_api/echo", "Authorization: Bearer abc\r\n")).status == 401);
  // bob:secret, an unknown user with a password that is right for alice.
  CHECK(c.request(get("/spin_api/echo", "Authorization: Basic Ym9iOnNlY3JldA==\r\n"))
            .status == 401);

  std::string auth = std::string("Authorization: ") + alice_basic + "\r\n";
  auto right = c.request(get("/spin_api/echo", auth));
  CHECK(right.status == 200);
  CHECK(right.body == "GET  user=alice p=");
  // Again (from the cache of verified credentials).
  CHECK(c.request(get("/spin_api/echo", auth)).body == "GET  user=alice p=");

  // Static files too.
  CHECK(c.request(get("/app.js")).status == 401);
  CHECK(c.request(get("/app.js", auth)).status == 200);
  CHECK(f.counter("auth_failures") == 6);
}

TEST_CASE("http_server refuses bad password files and TLS files", "[http_server]") {
  fixture f;
  auto o = f.options();
  spin::http_server::handler h = [](const spin::http_request&) {
    return spin::http_response::json("{}");
  };
  std::string error;

  SECTION("a plain-text password names its line") {
    f.dir.write("users", "alice:" + std::string(alice_hash) + "\nbob:hunter2\n");
    o.password_file = f.dir.file("users");
    CHECK_FALSE(f.server.start(o, h, error));
    CHECK(error.find("line 2") != std::string::npos);
    CHECK(error.find("plain-text") != std::string::npos);
  }
  SECTION("a line without a colon") {
    f.dir.write("users", "# users\nalice\n");
    o.password_file = f.dir.file("users");
    CHECK_FALSE(f.server.start(o, h, error));
    CHECK(error.find("line 2") != std::string::npos);
  }
  SECTION("a missing password file") {
    o.password_file = f.dir.file("nope");
    CHECK_FALSE(f.server.start(o, h, error));
    CHECK(error.find(f.dir.file("nope")) != std::string::npos);
  }
  SECTION("a missing TLS key file") {
    f.dir.write("cert.pem", "not a certificate");
    o.tls_certificate_file = f.dir.file("cert.pem");
    o.tls_key_file = f.dir.file("key.pem");
    CHECK_FALSE(f.server.start(o, h, error));
    CHECK(error.find(f.dir.file("key.pem")) != std::string::npos);
  }
  SECTION("a malformed certificate") {
    f.dir.write("cert.pem", "not a certificate");
    f.dir.write("key.pem", "not a key");
    o.tls_certificate_file = f.dir.file("cert.pem");
    o.tls_key_file = f.dir.file("key.pem");
    CHECK_FALSE(f.server.start(o, h, error));
    CHECK(error.find(f.dir.file("cert.pem")) != std::string::npos);
  }
  SECTION("an address in use names the address") {
    spin::http_server first;
    REQUIRE(first.start(o, h, error));
    o.port = first.bound_ports()[0];
    CHECK_FALSE(f.server.start(o, h, error));
    CHECK(error.find("127.0.0.1:" + std::to_string(o.port)) != std::string::npos);
  }
  INFO(error);
  CHECK_FALSE(error.empty());
}

TEST_CASE("http_response helpers", "[http_server]") {
  auto e = spin::http_response::error(404, "no \"such\" device");
  CHECK(e.status == 404);
  CHECK(e.content_type == "application/json");
  CHECK(e.body == "{\"status\":404,\"error\":\"no \\\"such\\\" device\"}");
  auto j = spin::http_response::json("[]", 201);
  CHECK(j.status == 201);
  CHECK(j.body == "[]");
  spin::http_request r;
  r.headers["host"] = "x";
  CHECK(r.header("host") == "x");
  CHECK(r.header("origin").empty());
}
