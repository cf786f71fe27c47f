// spin_httpecho: spin's HTTP server with a tiny handler, for
// tests/integration/test_http_server.py.
//
//   GET (or any method) /spin_api/echo  the request as JSON: method, path,
//                                       query, params, body, user, headers
//   GET /spin_api/stream?n=N&interval_ms=M
//                                       N chunks "chunk i\n" (default 3), M ms
//                                       apart (default 0), chunked
//   anything else under /spin_api/      404 in the REST error shape
//   other GET/HEAD paths                static files from --static DIR
//
// Prints "ready PORT..." (one bound port per --address) once listening; on
// SIGTERM or SIGINT it stops, prints its counters and how many streams were
// closed on stderr, and exits 0. A start-up error is printed on stderr with
// exit code 1.
//
// usage: spin_httpecho [--port P] [--address A]... [--static DIR]
//          [--password-file F] [--tls-cert F] [--tls-key F] [--max-body N]
//          [--max-connections N] [--idle-timeout S] [--threads N]
#include "spin/runtime/http_server.hpp"
#include "spin/runtime/log.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <pthread.h>
#include <string>
#include <thread>

namespace json = boost::json;

namespace {

std::atomic<int64_t> streams_closed{0};

spin::http_response echo(const spin::http_request& r) {
  json::object o;
  o["method"] = r.method;
  o["path"] = r.path;
  o["query"] = r.query;
  json::object params;
  for (auto& [k, v] : r.params)
    params[k] = v;
  o["params"] = std::move(params);
  json::object headers;
  for (auto& [k, v] : r.headers)
    headers[k] = v;
  o["headers"] = std::move(headers);
  o["body"] = r.body;
  o["user"] = r.user;
  o["remote"] = r.remote;
  return spin::http_response::json(json::serialize(o));
}

long param(const spin::http_request& r, const char* name, long fallback) {
  auto it = r.params.find(name);
  if (it == r.params.end())
    return fallback;
  return std::strtol(it->second.c_str(), nullptr, 10);
}

spin::http_response stream(const spin::http_request& r) {
  long n = std::max(0L, param(r, "n", 3));
  long interval_ms = std::max(0L, param(r, "interval_ms", 0));
  auto next_index = std::make_shared<long>(0);
  auto due = std::make_shared<std::chrono::steady_clock::time_point>(
      std::chrono::steady_clock::now());
  spin::http_response out;
  out.content_type = "text/plain";
  out.stream = std::make_shared<spin::http_stream>();
  // Waits at most a second per call, as the server asks of next().
  out.stream->next = [=](std::string& chunk) {
    if (*next_index >= n)
      return false;
    auto now = std::chrono::steady_clock::now();
    if (now < *due) {
      std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
          *due - now, std::chrono::seconds(1)));
      if (std::chrono::steady_clock::now() < *due)
        return true; // nothing yet
    }
    chunk = "chunk " + std::to_string(*next_index) + "\n";
    ++*next_index;
    *due = std::chrono::steady_clock::now() + std::chrono::milliseconds(interval_ms);
    return true;
  };
  out.stream->close = [] { ++streams_closed; };
  return out;
}

spin::http_response handle(const spin::http_request& r) {
  if (r.path == "/spin_api/echo")
    return echo(r);
  if (r.path == "/spin_api/stream")
    return stream(r);
  return spin::http_response::error(404, "no such endpoint: " + r.path);
}

int usage() {
  std::fprintf(
      stderr, "usage: spin_httpecho [--port P] [--address A]... [--static DIR]\n"
              "         [--password-file F] [--tls-cert F] [--tls-key F] [--max-body N]\n"
              "         [--max-connections N] [--idle-timeout S] [--threads N]\n");
  return 64;
}

} // namespace

int main(int argc, char** argv) {
  spin::http_server::options o;
  o.port = 0;
  bool address_given = false;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (i + 1 >= argc)
      return usage();
    std::string value = argv[++i];
    if (flag == "--port")
      o.port = static_cast<uint16_t>(std::atoi(value.c_str()));
    else if (flag == "--address") {
      if (!address_given)
        o.addresses.clear();
      address_given = true;
      o.addresses.push_back(value);
    } else if (flag == "--static")
      o.static_dir = value;
    else if (flag == "--password-file")
      o.password_file = value;
    else if (flag == "--tls-cert")
      o.tls_certificate_file = value;
    else if (flag == "--tls-key")
      o.tls_key_file = value;
    else if (flag == "--max-body")
      o.max_body = std::strtoull(value.c_str(), nullptr, 10);
    else if (flag == "--max-connections")
      o.max_connections = std::strtoull(value.c_str(), nullptr, 10);
    else if (flag == "--idle-timeout")
      o.idle_timeout_s = std::atoi(value.c_str());
    else if (flag == "--threads")
      o.threads = std::atoi(value.c_str());
    else
      return usage();
  }

  // Block the stop signals before the server's threads exist, so they
  // inherit the mask and sigwait() below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  spin::log_settings ls;
  ls.ident = "spin_httpecho";
  spin::log_configure(ls);

  spin::http_server server;
  std::string error;
  if (!server.start(o, handle, error)) {
    std::fprintf(stderr, "spin_httpecho: %s\n", error.c_str());
    return 1;
  }
  std::string ready = "ready";
  for (auto port : server.bound_ports())
    ready += " " + std::to_string(port);
  std::printf("%s\n", ready.c_str());
  std::fflush(stdout);

  int sig = 0;
  sigwait(&stop_signals, &sig);
  server.stop();
  for (auto& [name, value] : server.status().counters)
    std::fprintf(stderr, "%s %lld\n", name.c_str(), static_cast<long long>(value));
  std::fprintf(stderr, "streams_closed %lld\n", static_cast<long long>(streams_closed));
  return 0;
}
