// spinctl: the command-line client of spind's control socket. Builds one
// JSON-RPC 2.0 request from its arguments (or takes it verbatim with --raw),
// sends it as one line over the UNIX socket, and prints the result as
// indented JSON. Exit codes: 0 result, 1 JSON-RPC error, 2 no usable answer
// (no socket, refused, timeout, malformed response), 64 usage error.
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <optional>
#include <poll.h>
#include <string>
#include <unistd.h>

#ifndef SPIN_VERSION
#define SPIN_VERSION "unknown"
#endif

namespace json = boost::json;

namespace {

constexpr int exit_ok = 0;
constexpr int exit_rpc_error = 1;
constexpr int exit_no_answer = 2;
constexpr int exit_usage = 64; // EX_USAGE

constexpr const char* default_socket = "/run/spin/spind.sock";
constexpr const char* hint = "is spind running? is control_socket set?";

/// A response line longer than this is not from spind.
constexpr size_t max_response = 256u << 20;

const char* usage_text =
    "usage: spinctl [--socket PATH] [--timeout SECONDS] METHOD [KEY=VALUE | KEY:=JSON "
    "...]\n"
    "       spinctl [--socket PATH] [--timeout SECONDS] --raw 'JSON-RPC request'\n"
    "       spinctl --help | --version\n";

void print_help() {
  std::printf(
      "%s\n"
      "Sends one JSON-RPC 2.0 request to spind's control socket and prints the\n"
      "result as indented JSON.\n"
      "\n"
      "Options:\n"
      "  --socket PATH      the control socket (default %s;\n"
      "                     the environment variable SPINCTL_SOCKET overrides it)\n"
      "  --timeout SECONDS  give up after this long (default 10)\n"
      "  --raw TEXT         send TEXT as the request (line breaks become spaces)\n"
      "  -h, --help         show this help\n"
      "  -V, --version      show the version\n"
      "\n"
      "Parameters:\n"
      "  KEY=VALUE          VALUE is a JSON number if it is a decimal integer\n"
      "                     (12, -3; not 012), else a string\n"
      "  KEY:=JSON          VALUE is raw JSON: block:=true, node:=12, name:='\"42\"'\n"
      "\n"
      "Methods (named parameters; LIST is block, allow or ignore):\n"
      "  list_rpc_methods                          the methods with their parameters\n"
      "  list_devices                              node objects of every device\n"
      "  get_device_data node=ID                   the node object of one node\n"
      "  list_device_flows device=MAC              recent flows of a device\n"
      "  set_device_name node=ID name=TEXT         name a node (persisted)\n"
      "  add_iplist_node list=LIST node=ID         put every address of a node on a "
      "list\n"
      "  remove_iplist_node list=LIST node=ID      take them off again\n"
      "  add_iplist_ip list=LIST ip=ADDRESS        put one address on a list\n"
      "  remove_iplist_ip list=LIST ip=ADDRESS     take one address off a list\n"
      "  list_iplist list=LIST                     the addresses on a list\n"
      "  reset_iplist_ignore                       the ignore list becomes the router's\n"
      "                                            own addresses\n"
      "  set_flow_block node1=ID node2=ID block=1  block (1) or unblock (0) all traffic\n"
      "                                            between two nodes, both ways\n"
      "  get_flow_block                            the blocked node pairs\n"
      "\n"
      "Examples:\n"
      "  spinctl add_iplist_node list=block node=12\n"
      "  spinctl --raw '{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"list_iplist\","
      "\"params\":{\"list\":\"allow\"}}'\n"
      "\n"
      "Exit status: 0 result printed, 1 the request failed (JSON-RPC error),\n"
      "2 no answer (no socket, not allowed, timeout, malformed response), 64 usage.\n",
      usage_text, default_socket);
}

int usage_error(const std::string& message) {
  std::fprintf(stderr, "spinctl: %s\n%s", message.c_str(), usage_text);
  return exit_usage;
}

/// A canonical decimal integer: optional '-', no leading zeros, fits int64.
std::optional<int64_t> decimal_integer(const std::string& s) {
  size_t i = s.size() > 0 && s[0] == '-' ? 1 : 0;
  if (i == s.size())
    return std::nullopt;
  for (size_t k = i; k < s.size(); ++k)
    if (s[k] < '0' || s[k] > '9')
      return std::nullopt;
  if (s[i] == '0' && s.size() > i + 1)
    return std::nullopt;
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno == ERANGE || *end != '\0')
    return std::nullopt;
  return static_cast<int64_t>(v);
}

void pretty(const json::value& v, std::string& out, size_t indent) {
  switch (v.kind()) {
  case json::kind::object: {
    const auto& o = v.get_object();
    if (o.empty()) {
      out += "{}";
      return;
    }
    out += "{\n";
    bool first = true;
    for (const auto& kv : o) {
      if (!first)
        out += ",\n";
      first = false;
      out.append(indent + 2, ' ');
      out += json::serialize(json::string(kv.key()));
      out += ": ";
      pretty(kv.value(), out, indent + 2);
    }
    out += '\n';
    out.append(indent, ' ');
    out += '}';
    return;
  }
  case json::kind::array: {
    const auto& a = v.get_array();
    if (a.empty()) {
      out += "[]";
      return;
    }
    out += "[\n";
    bool first = true;
    for (const auto& e : a) {
      if (!first)
        out += ",\n";
      first = false;
      out.append(indent + 2, ' ');
      pretty(e, out, indent + 2);
    }
    out += '\n';
    out.append(indent, ' ');
    out += ']';
    return;
  }
  default:
    out += json::serialize(v);
  }
}

using steady = std::chrono::steady_clock;

int ms_left(steady::time_point deadline) {
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now())
          .count();
  return ms <= 0 ? 0 : static_cast<int>(std::min<long long>(ms, 1'000'000));
}

struct exchange {
  bool ok = false;
  std::string response; ///< without '\n'; empty when the server sent nothing
  std::string error;    ///< when !ok: what went wrong, naming the socket
};

/// Connects, sends `request` + '\n', shuts down the writing side (so the
/// server knows no more requests follow) and reads one response line or EOF.
exchange talk(const std::string& path, const std::string& request, double timeout_s) {
  exchange r;
  auto deadline = steady::now() + std::chrono::duration_cast<steady::duration>(
                                      std::chrono::duration<double>(timeout_s));
  std::string where = path + " (" + hint + ")";

  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) {
    r.error = "socket path " + path + " is empty or too long";
    return r;
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    r.error = std::string("socket: ") + std::strerror(errno);
    return r;
  }
  // A connect to a UNIX socket only blocks while the listener's backlog is
  // full; SO_SNDTIMEO bounds that wait.
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout_s);
  tv.tv_usec = static_cast<suseconds_t>((timeout_s - std::floor(timeout_s)) * 1e6);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) < 0) {
    int e = errno;
    ::close(fd);
    if (e == EAGAIN || e == EINPROGRESS)
      r.error = "timed out connecting to " + where;
    else if (e == EACCES || e == EPERM)
      r.error = "cannot connect to " + path + ": " + std::strerror(e) +
                " (only root and spind's user may use it; " + hint + ")";
    else
      r.error = "cannot connect to " + path + ": " + std::strerror(e) + " (" + hint + ")";
    return r;
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);

  std::string out = request + "\n";
  size_t sent = 0;
  while (sent < out.size()) {
    ssize_t n = ::send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && errno == EAGAIN) {
      pollfd p{fd, POLLOUT, 0};
      int left = ms_left(deadline);
      if (left == 0 || ::poll(&p, 1, left) == 0) {
        ::close(fd);
        r.error = "timed out sending the request to " + where;
        return r;
      }
      continue;
    }
    // The server closed the connection early (it refuses this user, say):
    // read what it sent before it closed, if anything.
    if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
      break;
    int e = errno;
    ::close(fd);
    r.error = "cannot send to " + path + ": " + std::strerror(e) + " (" + hint + ")";
    return r;
  }
  ::shutdown(fd, SHUT_WR);

  std::string in;
  char buf[65536];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      in.append(buf, static_cast<size_t>(n));
      auto nl = in.find('\n');
      if (nl != std::string::npos) {
        in.resize(nl);
        break;
      }
      if (in.size() > max_response) {
        ::close(fd);
        r.error = "response from " + path + " is longer than " +
                  std::to_string(max_response) + " bytes";
        return r;
      }
      continue;
    }
    // ECONNRESET: the server closed without reading the request (it refuses
    // this user, say); like EOF, what arrived before it counts.
    if (n == 0 || errno == ECONNRESET)
      break;
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN) {
      pollfd p{fd, POLLIN, 0};
      int left = ms_left(deadline);
      if (left == 0 || ::poll(&p, 1, left) == 0) {
        ::close(fd);
        char t[32];
        std::snprintf(t, sizeof t, "%g", timeout_s);
        r.error = "no response from " + path + " within " + t + " s (" + hint + ")";
        return r;
      }
      continue;
    }
    int e = errno;
    ::close(fd);
    r.error = "cannot read from " + path + ": " + std::strerror(e) + " (" + hint + ")";
    return r;
  }
  ::close(fd);
  r.ok = true;
  r.response = std::move(in);
  return r;
}

/// Turns the response into output and an exit code.
int report(const std::string& path, const std::string& method, const std::string& text) {
  auto malformed = [&](const std::string& why) {
    std::fprintf(stderr, "spinctl: malformed response from %s: %s (%s)\n", path.c_str(),
                 why.c_str(), hint);
    return exit_no_answer;
  };
  json::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec)
    return malformed("not JSON: " + ec.message());
  const auto* o = v.if_object();
  if (!o)
    return malformed("not a JSON object");
  if (const auto* err = o->if_contains("error")) {
    const auto* eo = err->if_object();
    const json::value* code = eo ? eo->if_contains("code") : nullptr;
    const json::value* message = eo ? eo->if_contains("message") : nullptr;
    if (!code || !code->is_int64() || !message || !message->is_string())
      return malformed("an error without an integer code and a message");
    std::fprintf(stderr, "spinctl: %s: %s (code %lld)\n", method.c_str(),
                 std::string(message->get_string()).c_str(),
                 static_cast<long long>(code->get_int64()));
    return exit_rpc_error;
  }
  if (const auto* result = o->if_contains("result")) {
    std::string out;
    pretty(*result, out, 0);
    out += '\n';
    std::fwrite(out.data(), 1, out.size(), stdout);
    return std::fflush(stdout) == 0 ? exit_ok : exit_no_answer;
  }
  return malformed("neither result nor error");
}

/// Takes the value of an option given as "--name VALUE" or "--name=VALUE".
bool option_value(const std::string& arg, const char* name, int& i, int argc, char** argv,
                  std::optional<std::string>& value, std::string& error) {
  std::string n = name;
  if (arg == n) {
    if (i + 1 >= argc) {
      error = n + " needs a value";
      return true;
    }
    value = argv[++i];
    return true;
  }
  if (arg.compare(0, n.size() + 1, n + "=") == 0) {
    value = arg.substr(n.size() + 1);
    return true;
  }
  return false;
}

} // namespace

int main(int argc, char** argv) {
  std::optional<std::string> socket_opt, timeout_opt, raw;
  std::optional<std::string> method;
  json::object params;
  bool options_done = false;

  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (!options_done && arg.size() > 1 && arg[0] == '-') {
      std::string error;
      if (arg == "--") {
        options_done = true;
        continue;
      }
      if (arg == "-h" || arg == "--help") {
        print_help();
        return exit_ok;
      }
      if (arg == "-V" || arg == "--version") {
        std::printf("spinctl %s\n", SPIN_VERSION);
        return exit_ok;
      }
      if (option_value(arg, "--socket", i, argc, argv, socket_opt, error) ||
          option_value(arg, "--timeout", i, argc, argv, timeout_opt, error) ||
          option_value(arg, "--raw", i, argc, argv, raw, error)) {
        if (!error.empty())
          return usage_error(error);
        continue;
      }
      return usage_error("unknown option " + arg);
    }
    if (!method) {
      method = arg;
      continue;
    }
    auto eq = arg.find('=');
    if (eq == std::string::npos)
      return usage_error("parameter " + arg + " is not KEY=VALUE or KEY:=JSON");
    bool raw_json = eq > 0 && arg[eq - 1] == ':';
    std::string key = arg.substr(0, raw_json ? eq - 1 : eq);
    std::string text = arg.substr(eq + 1);
    if (key.empty())
      return usage_error("parameter " + arg + " has no name");
    if (params.contains(key))
      return usage_error("parameter " + key + " given twice");
    if (raw_json) {
      json::error_code ec;
      json::value v = json::parse(text, ec);
      if (ec)
        return usage_error("parameter " + key + ":= is not JSON: " + ec.message());
      params[key] = std::move(v);
    } else if (auto number = decimal_integer(text)) {
      params[key] = *number;
    } else {
      params[key] = text;
    }
  }

  std::string path = default_socket;
  if (const char* env = std::getenv("SPINCTL_SOCKET"); env && *env)
    path = env;
  if (socket_opt) {
    if (socket_opt->empty())
      return usage_error("--socket needs a path");
    path = *socket_opt;
  }
  double timeout = 10;
  if (timeout_opt) {
    char* end = nullptr;
    errno = 0;
    timeout = std::strtod(timeout_opt->c_str(), &end);
    if (timeout_opt->empty() || *end != '\0' || errno != 0 || !(timeout > 0) ||
        timeout > 86400)
      return usage_error("--timeout needs a number of seconds (0 < SECONDS <= 86400)");
  }

  std::string request, name;
  bool notification = false;
  if (raw) {
    if (method)
      return usage_error("--raw takes the whole request; no METHOD or parameters");
    request = *raw;
    // One request is one line: JSON treats a line break like a space.
    for (auto& ch : request)
      if (ch == '\n' || ch == '\r')
        ch = ' ';
    while (!request.empty() && request.back() == ' ')
      request.pop_back();
    if (request.empty())
      return usage_error("--raw needs a request");
    name = "request";
    json::error_code ec;
    json::value v = json::parse(request, ec);
    if (!ec && v.is_object()) {
      const auto& o = v.get_object();
      if (const auto* m = o.if_contains("method"); m && m->is_string())
        name = std::string(m->get_string());
      notification = !o.contains("id");
    }
  } else {
    if (!method)
      return usage_error("no METHOD given");
    json::object o;
    o["jsonrpc"] = "2.0";
    o["id"] = 1;
    o["method"] = *method;
    if (!params.empty())
      o["params"] = std::move(params);
    request = json::serialize(o);
    name = *method;
  }

  exchange ex = talk(path, request, timeout);
  if (!ex.ok) {
    std::fprintf(stderr, "spinctl: %s\n", ex.error.c_str());
    return exit_no_answer;
  }
  if (ex.response.empty()) {
    if (notification)
      return exit_ok; // a notification gets no response
    std::fprintf(stderr,
                 "spinctl: %s closed the connection without a response (spind serves "
                 "only root and its own user; %s)\n",
                 path.c_str(), hint);
    return exit_no_answer;
  }
  return report(path, name, ex.response);
}
