// The control socket as spinctl sees it: real UNIX sockets in a fresh
// temporary directory, an uppercasing handler, and clients that wait for
// their answers with deadlines.
#include "spin/runtime/control_socket.hpp"

#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <poll.h>
#include <stdexcept>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

using steady = std::chrono::steady_clock;
constexpr auto patience = std::chrono::seconds(10);

/// A fresh directory under /tmp, removed with everything in it.
struct temp_dir {
  std::string path;
  temp_dir() {
    char tmpl[] = "/tmp/spin-ctlsock-XXXXXX";
    if (!::mkdtemp(tmpl))
      throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return path + "/" + name; }
};

sockaddr_un address_of(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, path.data(), std::min(path.size(), sizeof a.sun_path - 1));
  return a;
}

/// A test client: blocking writes, reads with deadlines.
class client {
public:
  explicit client(const std::string& path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    auto a = address_of(path);
    if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0)
      throw std::runtime_error(std::string("connect: ") + std::strerror(errno));
  }
  ~client() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  client(const client&) = delete;
  client& operator=(const client&) = delete;

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

  void shut_write() { ::shutdown(fd_, SHUT_WR); }

  /// The next line, or nothing when the connection ends or the deadline passes.
  std::optional<std::string> line() {
    auto deadline = steady::now() + patience;
    for (;;) {
      auto nl = buf_.find('\n');
      if (nl != std::string::npos) {
        std::string l = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return l;
      }
      if (!fill(deadline))
        return std::nullopt;
    }
  }

  /// True when the server closed the connection before the deadline (data
  /// still unread is kept for line()).
  bool closed() {
    auto deadline = steady::now() + patience;
    while (fill(deadline)) {
    }
    return eof_;
  }

  /// Whatever arrived before the connection ended.
  const std::string& rest() const { return buf_; }

private:
  // Reads once; false on EOF, error or deadline.
  bool fill(steady::time_point deadline) {
    if (eof_)
      return false;
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
    pollfd p{fd_, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0)
      return false;
    char b[65536];
    ssize_t n = ::recv(fd_, b, sizeof b, 0);
    if (n > 0) {
      buf_.append(b, static_cast<size_t>(n));
      return true;
    }
    if (n < 0 && errno == EINTR)
      return true;
    eof_ = true; // EOF or ECONNRESET: the server closed
    return false;
  }

  int fd_ = -1;
  std::string buf_;
  bool eof_ = false;
};

/// Uppercases the line; "note..." is a notification (no response),
/// "throw" makes the handler fail.
std::string upper(const std::string&, const std::string& line) {
  if (line.rfind("note", 0) == 0)
    return "";
  if (line == "throw")
    throw std::runtime_error("handler exploded");
  std::string r = line;
  std::transform(r.begin(), r.end(), r.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return r;
}

spin::control_socket::options options_for(const std::string& path) {
  spin::control_socket::options o;
  o.path = path;
  return o;
}

int64_t counter(const spin::control_socket& s, const std::string& name) {
  auto r = s.status();
  auto it = r.counters.find(name);
  return it == r.counters.end() ? -1 : it->second;
}

/// Waits until a counter reaches `want` (they are updated by the socket's
/// thread after the client sees the effect).
bool counter_reaches(const spin::control_socket& s, const std::string& name,
                     int64_t want) {
  auto deadline = steady::now() + patience;
  while (steady::now() < deadline) {
    if (counter(s, name) == want)
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

bool is_socket(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

} // namespace

TEST_CASE("control socket: the file is a socket with mode 0600, removed by stop()",
          "[control_socket]") {
  temp_dir dir;
  auto path = dir.file("spind.sock");
  spin::control_socket s;
  std::string error;
  REQUIRE(s.open(options_for(path), error));
  struct stat st;
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  CHECK(S_ISSOCK(st.st_mode));
  CHECK((st.st_mode & 07777) == 0600);
  CHECK(st.st_uid == ::geteuid());
  s.start(upper);
  {
    client c(path);
    c.send("hello\n");
    CHECK(c.line() == "HELLO");
  }
  s.stop();
  CHECK(::access(path.c_str(), F_OK) != 0);
  s.stop(); // twice is fine
}

TEST_CASE("control socket: several lines in one write, a line split across writes",
          "[control_socket]") {
  temp_dir dir;
  auto path = dir.file("s");
  spin::control_socket s;
  std::string error;
  REQUIRE(s.open(options_for(path), error));
  s.start(upper);
  client c(path);

  c.send("one\ntwo\r\nthree\n");
  CHECK(c.line() == "ONE");
  CHECK(c.line() == "TWO"); // CRLF: the '\r' is not part of the request
  CHECK(c.line() == "THREE");

  c.send("sp");
  c.send("li");
  c.send("t\nand");
  CHECK(c.line() == "SPLIT");
  c.send(" more\n");
  CHECK(c.line() == "AND MORE");

  // Blank lines are skipped, not answered.
  c.send("\n\nlast\n");
  CHECK(c.line() == "LAST");
}

TEST_CASE("control socket: a last line without newline before shutdown is answered",
          "[control_socket]") {
  temp_dir dir;
  auto path = dir.file("s");
  spin::control_socket s;
  std::string error;
  REQUIRE(s.open(options_for(path), error));
  s.start(upper);
  client c(path);
  c.send("first\nsecond");
  c.shut_write();
  CHECK(c.line() == "FIRST");
  CHECK(c.line() == "SECOND");
  CHECK(c.closed());
}

TEST_CASE("control socket: several clients at once, each gets its own answers",
          "[control_socket]") {
  temp_dir dir;
  auto path = dir.file("s");
  spin::control_socket s;
  std::string error;
  REQUIRE(s.open(options_for(path), error));
  s.start(upper);
  std::vector<std::unique_ptr<client>> clients;
  for (int i = 0; i < 5; ++i)
    clients.push_back(std::make_unique<client>(path));
  // Interleave partial lines of every client.
  for (int i = 0; i < 5; ++i)
    clients[i]->send("client" + std::to_string(i));
  for (int i = 4; i >= 0; --i)
    clients[i]->send("-a\nclient" + std::to_string(i) + "-b\n");
  for (int i = 0; i < 5; ++i) {
    CHECK(clients[i]->line() == "CLIENT" + std::to_string(i) + "-A");
    CHECK(clients[i]->line() == "CLIENT" + std::to_string(i) + "-B");
  }
  CHECK(counter_reaches(s, "clients", 5));
  clients.clear();
  CHECK(counter_reaches(s, "clients", 0));
  CHECK(counter(s, "connections") == 5);
}

TEST_CASE("control socket: notifications get no line", "[control_socket]") {
  temp_dir dir;
  auto path = dir.file("s");
  spin::control_socket s;
  std::string error;
  REQUIRE(s.open(options_for(path), error));
  s.start(upper);
  client c(path);
  c.send("note 1\nnote 2\nasked\n");
  // The first line back answers the third request: the notifications gave none.
  CHECK(c.line() == "ASKED");
  CHECK(counter_reaches(s, "requests", 3));
  CHECK(counter(s, "responses") == 1);
}

TEST_CASE("control socket: an oversized line gets an error, then the connection closes",
          "[control_socket]") {
  temp_dir dir;
  auto path = dir.file("s");
  auto o = options_for(path);
  o.max_request = 100;
  spin::control_socket s;
  std::string error;
  REQUIRE(s.open(o, error));
  s.start(upper);

  SECTION("a complete line") {
    client c(path);
    c.send("ok\n" + std::string(101, 'x') + "\nnever\n");
    CHECK(c.line() == "OK");
    CHECK(c.line() == R"({"jsonrpc":"2.0","id":null,"error":{"code":-32600,)"
                      R"("message":"request longer than 100 bytes"}})");
    CHECK(c.closed());
    CHECK(c.rest().empty()); // "never" was not answered
  }
  SECTION("a line that keeps coming without a newline") {
    client c(path);
    c.send(std::string(5000, 'y'));
    auto l = c.line();
    REQUIRE(l);
    CHECK(l->find("-32600") != std::string::npos);
    CHECK(c.closed());
  }
  SECTION("exactly max_request bytes is fine") {
    client c(path);
    c.send(std::string(100, 'z') + "\n");
    CHECK(c.line() == std::string(100, 'Z'));
  }
  CHECK(counter_reaches(s, "clients", 0));
}

TEST_CASE("control socket: a handler that throws gives an internal error, the socket "
          "carries on",
          "[control_socket]") {
  temp_dir dir;
  auto path = dir.file("s");
  spin::control_socket s;
  std::string error;
  REQUIRE(s.open(options_for(path), error));
  s.start(upper);
  client c(path);
  c.send("throw\nafter\n");
  auto l = c.line();
  REQUIRE(l);
  CHECK(l->find("-32603") != std::string::npos);
  CHECK(c.line() == "AFTER");
  CHECK(s.status().last_error.find("handler exploded") != std::string::npos);
}

TEST_CASE("control socket: a stale socket file is replaced", "[control_socket]") {
  temp_dir dir;
  auto path = dir.file("s");
  {
    // A socket bound and closed without unlink: what a crashed spind leaves.
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    auto a = address_of(path);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    ::close(fd);
  }
  REQUIRE(is_socket(path));
  spin::control_socket s;
  std::string error;
  REQUIRE(s.open(options_for(path), error));
  s.start(upper);
  client c(path);
  c.send("fresh\n");
  CHECK(c.line() == "FRESH");
}

TEST_CASE("control socket: a socket someone answers on is refused", "[control_socket]") {
  temp_dir dir;
  auto path = dir.file("s");
  spin::control_socket first;
  std::string error;
  REQUIRE(first.open(options_for(path), error));
  first.start(upper);

  spin::control_socket second;
  CHECK_FALSE(second.open(options_for(path), error));
  CHECK(error.find(path) != std::string::npos);
  CHECK(error.find("another") != std::string::npos);
  second.stop(); // must not remove the first one's socket

  REQUIRE(is_socket(path));
  client c(path);
  c.send("still here\n");
  CHECK(c.line() == "STILL HERE");
}

TEST_CASE("control socket: a file that is not a socket is left intact",
          "[control_socket]") {
  temp_dir dir;
  auto path = dir.file("s");
  {
    std::ofstream f(path);
    f << "precious\n";
  }
  spin::control_socket s;
  std::string error;
  CHECK_FALSE(s.open(options_for(path), error));
  CHECK(error.find("not a socket") != std::string::npos);
  s.stop();
  std::ifstream f(path);
  std::string content;
  std::getline(f, content);
  CHECK(content == "precious");
}

TEST_CASE("control socket: open() errors name the problem", "[control_socket]") {
  temp_dir dir;
  spin::control_socket s;
  std::string error;
  CHECK_FALSE(s.open(options_for(dir.file("missing/s")), error));
  CHECK(error.find("does the directory exist") != std::string::npos);
  CHECK_FALSE(s.open(options_for(dir.file(std::string(200, 'n'))), error));
  CHECK(error.find("longer than") != std::string::npos);
}

TEST_CASE("control socket: stop() leaves a file that replaced ours", "[control_socket]") {
  temp_dir dir;
  auto path = dir.file("s");
  spin::control_socket s;
  std::string error;
  REQUIRE(s.open(options_for(path), error));
  s.start(upper);
  REQUIRE(::unlink(path.c_str()) == 0);
  {
    std::ofstream f(path);
    f << "someone else's\n";
  }
  s.stop();
  CHECK(::access(path.c_str(), F_OK) == 0);
}

TEST_CASE("control socket: an idle connection is closed", "[control_socket]") {
  temp_dir dir;
  auto path = dir.file("s");
  auto o = options_for(path);
  o.idle_timeout_ms = 100;
  spin::control_socket s;
  std::string error;
  REQUIRE(s.open(o, error));
  s.start(upper);
  client c(path);
  c.send("hi\n");
  CHECK(c.line() == "HI");
  CHECK(c.closed());
  CHECK(counter_reaches(s, "idle_closed", 1));
  CHECK(counter_reaches(s, "clients", 0));
}

TEST_CASE("control socket: clients beyond max_clients are refused", "[control_socket]") {
  temp_dir dir;
  auto path = dir.file("s");
  auto o = options_for(path);
  o.max_clients = 2;
  spin::control_socket s;
  std::string error;
  REQUIRE(s.open(o, error));
  s.start(upper);
  client a(path), b(path);
  a.send("a\n");
  b.send("b\n");
  CHECK(a.line() == "A");
  CHECK(b.line() == "B");
  client c(path);
  CHECK(c.closed());
  CHECK(counter_reaches(s, "refused", 1));
  a.send("a again\n");
  CHECK(a.line() == "A AGAIN");
}

TEST_CASE("control socket: a client that does not read its answers is dropped",
          "[control_socket]") {
  temp_dir dir;
  auto path = dir.file("s");
  spin::control_socket s;
  std::string error;
  REQUIRE(s.open(options_for(path), error));
  // 64 KiB per answer: the socket buffers fill, then 1 MiB of pending output.
  s.start([](const std::string&, const std::string&) { return std::string(65536, 'r'); });
  client c(path);
  std::string requests;
  for (int i = 0; i < 100; ++i)
    requests += "q\n";
  c.send(requests); // 6.4 MiB of answers, none of them read
  CHECK(counter_reaches(s, "overflowed", 1));
  CHECK(counter_reaches(s, "clients", 0));
}

TEST_CASE("control socket: status counters", "[control_socket]") {
  temp_dir dir;
  auto path = dir.file("s");
  auto o = options_for(path);
  o.max_request = 10;
  spin::control_socket s;
  std::string error;
  REQUIRE(s.open(o, error));
  CHECK(s.status().component == "control_socket");
  s.start(upper);
  {
    client c(path);
    c.send("a\nnote\nb\n");
    CHECK(c.line() == "A");
    CHECK(c.line() == "B");
  }
  {
    client c(path);
    c.send(std::string(11, 'x') + "\n");
    CHECK(c.line());
    CHECK(c.closed());
  }
  CHECK(counter_reaches(s, "clients", 0));
  auto r = s.status();
  CHECK(r.counters["connections"] == 2);
  CHECK(r.counters["requests"] == 3);
  CHECK(r.counters["responses"] == 2);
  CHECK(r.counters["oversized"] == 1);
  CHECK(r.counters["refused"] == 0);
  CHECK(r.counters["idle_closed"] == 0);
  CHECK(r.counters["overflowed"] == 0);
}
