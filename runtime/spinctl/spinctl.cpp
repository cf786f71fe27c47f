// spinctl: the command-line client of spind's control socket. Builds one
// JSON-RPC 2.0 request from its arguments (or takes it verbatim with --raw),
// sends it as one line over the UNIX socket, and prints the result as
// indented JSON. Exit codes: 0 result, 1 JSON-RPC error, 2 no usable answer
// (no socket, refused, timeout, malformed response), 64 usage error.
#include "spin/runtime/kmod_config.hpp"
#include "spin/runtime/kmod_source.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <linux/netlink.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include "spin_netlink.h"
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
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

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
    "       spinctl kmod show|add|remove|clear|print ...   (spin.ko directly; see "
    "--help)\n"
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
      "The kernel module (speaks netlink protocol v1 to spin.ko directly, without\n"
      "spind, like SPIN's spin_config and spin_print; needs CAP_NET_ADMIN):\n"
      "  kmod show block|except|ignore             the module's list (GET)\n"
      "  kmod add|remove block|except|ignore IP    ADD / REMOVE one address\n"
      "  kmod clear block|except|ignore            CLEAR the list\n"
      "  kmod print [SECONDS]                      register on the traffic channel and\n"
      "                                            print every record (default: until\n"
      "                                            interrupted)\n"
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

// ------------------------------------------------------------- spinctl kmod

struct print_sink final : spin::kmod_sink {
  uint64_t records = 0;
  void flow(const spin::packet_record& r, bool blocked) override {
    ++records;
    std::printf("%s %s %u %s %u -> %s %u packets=%u bytes=%u\n",
                blocked ? "BLOCKED" : "TRAFFIC", r.key.family == 4 ? "ipv4" : "ipv6",
                unsigned(r.key.proto), r.key.src.to_string().c_str(),
                unsigned(r.key.sport), r.key.dst.to_string().c_str(),
                unsigned(r.key.dport), r.packets(), r.ip_bytes);
  }
  void dns(const spin::dns_record& r) override {
    ++records;
    if (r.kind == spin::dns_record_kind::answer)
      std::printf("DNS_ANSWER %s %.*s ttl=%u\n", r.address.to_string().c_str(),
                  int(r.name_len), r.name, r.ttl);
    else
      std::printf("DNS_QUERY %s %.*s\n", r.address.to_string().c_str(), int(r.name_len),
                  r.name);
  }
};

int kmod_print(double seconds) {
  int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, SPIN_NETLINK_TRAFFIC);
  if (fd < 0) {
    std::fprintf(stderr, "spinctl: %s\n",
                 errno == EPROTONOSUPPORT ? "the spin kernel module is not loaded"
                                          : std::strerror(errno));
    return exit_no_answer;
  }
  struct sockaddr_nl local {};
  local.nl_family = AF_NETLINK;
  struct sockaddr_nl kernel {};
  kernel.nl_family = AF_NETLINK;
  auto ping = [&] {
    alignas(struct nlmsghdr) uint8_t msg[NLMSG_SPACE(8)] = {};
    auto* h = reinterpret_cast<struct nlmsghdr*>(msg);
    h->nlmsg_len = NLMSG_LENGTH(7);
    h->nlmsg_type = SPIN_NLMSG_TYPE;
    h->nlmsg_flags = NLM_F_REQUEST;
    std::memcpy(NLMSG_DATA(h), "Hello!", 7);
    return ::sendto(fd, msg, h->nlmsg_len, 0, reinterpret_cast<struct sockaddr*>(&kernel),
                    sizeof kernel) >= 0;
  };
  if (::bind(fd, reinterpret_cast<struct sockaddr*>(&local), sizeof local) != 0 ||
      !ping()) {
    std::fprintf(stderr, "spinctl: cannot register with the module: %s\n",
                 std::strerror(errno));
    ::close(fd);
    return exit_no_answer;
  }
  print_sink sink;
  spin::kmod_decode_counts counts;
  std::vector<uint8_t> buf(1u << 17);
  auto start = std::chrono::steady_clock::now();
  uint64_t since_ping = 0;
  for (;;) {
    double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (seconds > 0 && elapsed >= seconds)
      break;
    struct pollfd pfd = {fd, POLLIN, 0};
    if (::poll(&pfd, 1, 1000) <= 0) {
      ping(); // a keepalive at least once a second
      continue;
    }
    ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n < 0) {
      if (errno == ENOBUFS) {
        std::fprintf(stderr, "spinctl: records lost (ENOBUFS)\n");
        continue;
      }
      if (errno == EINTR)
        continue;
      std::fprintf(stderr, "spinctl: receive failed: %s\n", std::strerror(errno));
      break;
    }
    uint64_t before = counts.messages;
    kmod_decode(buf.data(), static_cast<size_t>(n), sink, counts);
    std::fflush(stdout);
    if (counts.error != 0) {
      std::fprintf(stderr, "spinctl: the module refused the registration: %s%s\n",
                   std::strerror(counts.error),
                   counts.error == EPERM ? " (CAP_NET_ADMIN is needed)" : "");
      ::close(fd);
      return exit_no_answer;
    }
    since_ping += counts.messages - before;
    if (since_ping >= 50) {
      ping();
      since_ping = 0;
    }
  }
  ::close(fd);
  std::fprintf(stderr, "spinctl: %llu records, %llu malformed\n",
               static_cast<unsigned long long>(sink.records),
               static_cast<unsigned long long>(counts.malformed));
  return exit_ok;
}

int kmod_main(int argc, char** argv) {
  using spin::kmod_config;
  std::vector<std::string> a(argv, argv + argc);
  if (a.empty())
    return usage_error("kmod needs a command: show, add, remove, clear or print");
  if (a[0] == "print") {
    double seconds = 0;
    if (a.size() > 2 || (a.size() == 2 && !(std::istringstream(a[1]) >> seconds)))
      return usage_error("kmod print [SECONDS]");
    return kmod_print(seconds);
  }
  auto parse_list = [](const std::string& w, kmod_config::list& l) {
    if (w == "block")
      l = kmod_config::list::block;
    else if (w == "except" || w == "allow")
      l = kmod_config::list::except;
    else if (w == "ignore")
      l = kmod_config::list::ignore;
    else
      return false;
    return true;
  };
  kmod_config::list l{};
  bool with_ip = a[0] == "add" || a[0] == "remove";
  if ((a[0] != "show" && a[0] != "clear" && !with_ip) ||
      a.size() != (with_ip ? 3u : 2u) || !parse_list(a[1], l))
    return usage_error(
        "kmod show|clear LIST, kmod add|remove LIST IP (LIST: block, except, "
        "ignore)");
  std::optional<spin::ip_address> ip;
  if (with_ip && !(ip = spin::ip_address::parse(a[2])))
    return usage_error("not an IP address: " + a[2]);
  kmod_config cfg;
  kmod_config::reply r;
  std::string error;
  bool ok = a[0] == "show"    ? cfg.get(l, r, error)
            : a[0] == "clear" ? cfg.clear(l, r, error)
            : a[0] == "add"   ? cfg.add(l, *ip, r, error)
                              : cfg.remove(l, *ip, r, error);
  if (!ok) {
    std::fprintf(stderr, "spinctl: %s\n", error.c_str());
    return exit_no_answer;
  }
  for (auto& addr : r.addresses)
    std::printf("%s\n", addr.to_string().c_str());
  for (auto& e : r.errors)
    std::fprintf(stderr, "spinctl: the module says: %s\n", e.c_str());
  return r.errors.empty() ? exit_ok : exit_rpc_error;
}

} // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::string(argv[1]) == "kmod")
    return kmod_main(argc - 2, argv + 2);
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
