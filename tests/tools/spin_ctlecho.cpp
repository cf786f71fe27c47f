// spin_ctlecho: a small JSON-RPC server on spin's control_socket, for
// tests/integration/test_spinctl.py. Method "echo" returns its params,
// "fail" returns error -32602 "bad", anything else -32601; a request without
// an id is a notification and gets no response. Prints "ready" once
// listening; on SIGTERM or SIGINT it stops (removing the socket file), prints
// its counters on stderr and exits 0.
//
// usage: spin_ctlecho SOCKET_PATH [IDLE_TIMEOUT_MS]
#include "spin/runtime/control_socket.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <pthread.h>
#include <string>

namespace json = boost::json;

namespace {

std::string error_response(const json::value& id, int code, const std::string& message) {
  json::object o;
  o["jsonrpc"] = "2.0";
  o["id"] = id;
  o["error"] = json::object{{"code", code}, {"message", message}};
  return json::serialize(o);
}

std::string answer(const std::string& line) {
  json::error_code ec;
  json::value v = json::parse(line, ec);
  if (ec)
    return error_response(nullptr, -32700, "parse error: " + ec.message());
  const auto* o = v.if_object();
  const json::value* method = o ? o->if_contains("method") : nullptr;
  if (!method || !method->is_string())
    return error_response(nullptr, -32600, "not a request");
  const json::value* id = o->if_contains("id");
  if (!id)
    return ""; // a notification
  if (method->get_string() == "echo") {
    const json::value* params = o->if_contains("params");
    json::object r;
    r["jsonrpc"] = "2.0";
    r["id"] = *id;
    r["result"] = params ? *params : json::value(nullptr);
    return json::serialize(r);
  }
  if (method->get_string() == "fail")
    return error_response(*id, -32602, "bad");
  return error_response(*id, -32601,
                        "method not found: " + std::string(method->get_string()));
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: spin_ctlecho SOCKET_PATH [IDLE_TIMEOUT_MS]\n");
    return 64;
  }
  // Block the stop signals before the socket's thread exists, so it inherits
  // the mask and sigwait() below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  spin::control_socket::options o;
  o.path = argv[1];
  if (argc == 3)
    o.idle_timeout_ms = std::atoi(argv[2]);
  spin::control_socket sock;
  std::string error;
  if (!sock.open(o, error)) {
    std::fprintf(stderr, "spin_ctlecho: %s\n", error.c_str());
    return 1;
  }
  sock.start([](const std::string&, const std::string& line) { return answer(line); });
  std::printf("ready\n");
  std::fflush(stdout);

  int sig = 0;
  sigwait(&stop_signals, &sig);
  sock.stop();
  for (auto& [name, value] : sock.status().counters)
    std::fprintf(stderr, "%s %lld\n", name.c_str(), static_cast<long long>(value));
  return 0;
}
