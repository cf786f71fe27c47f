#pragma once

#include "spin/actors/actors.hpp"
#include "spin/actors/status_reporter.hpp"
#include "spin/runtime/http_server.hpp"

#include <caf/actor_system.hpp>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace spin {

class device_capture;

/// How the API is wired.
struct api_config {
  http_server::options http;
  /// Carries out JSON-RPC (the block manager).
  control_api control;
  node_registry_actor registry;
  notifier_actor notifier;
  /// Everyone with counters (/spin_api/status, /metrics).
  std::vector<status_api> polled;
  std::vector<status_provider> providers;
  /// Live captures: the interface ("" = the first LAN interface, else
  /// "any") and the limits of one capture.
  std::string capture_interface;
  std::vector<std::string> lan_interfaces;
  int capture_max_seconds = 600;
  uint64_t capture_max_bytes = 64ull << 20;
};

/// The HTTP API of ../shared/reference/spin-protocols.md s.3 (doc/web_api.md)
/// on http_server: the web app's static files, the REST endpoints (devices,
/// profiles, notifications, configuration, per-device captures), JSON-RPC at
/// /spin_api/jsonrpc, /spin_api/status and /metrics. Not an actor: the
/// server's threads ask the actors with blocking requests (a scoped actor
/// per request, with a timeout), which never run on CAF's scheduler.
class api_server {
public:
  api_server(caf::actor_system& sys, api_config cfg);
  ~api_server();

  /// Starts the HTTP server; false with `error` (address in use, bad TLS or
  /// password file).
  bool start(std::string& error);
  void stop();

  status_report status() const;

private:
  http_response handle(const http_request& req);
  http_response devices(const http_request& req);
  http_response device_route(const http_request& req, const std::string& rest);
  http_response notifications(const http_request& req, const std::string& rest);
  http_response capture(const http_request& req, const std::string& what);
  http_response jsonrpc(const http_request& req);
  http_response status_doc();
  http_response metrics();

  caf::actor_system& sys_;
  api_config cfg_;
  http_server server_;

  struct capture_entry;
  mutable std::mutex captures_mutex_;
  std::map<std::string, std::shared_ptr<capture_entry>> captures_;
  uint64_t captures_started_ = 0;
};

} // namespace spin
