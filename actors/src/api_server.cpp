#include "spin/actors/api_server.hpp"

#include "spin/runtime/device_capture.hpp"
#include "spin/runtime/log.hpp"
#include "spin/runtime/spin_json.hpp"

#include <caf/scoped_actor.hpp>

#include <boost/json.hpp>

#include <cctype>
#include <charconv>
#include <chrono>
#include <map>
#include <optional>
#include <set>

namespace spin {

namespace json = boost::json;

namespace {

constexpr auto ask_timeout = std::chrono::seconds(10);
/// Live captures at once (each holds a thread, a socket and a ring buffer).
constexpr size_t max_captures = 4;

/// "http:<address>": the client name for rate limits and logs.
std::string client_of(const http_request& r) {
  auto colon = r.remote.rfind(':');
  return "http:" + (colon == std::string::npos ? r.remote : r.remote.substr(0, colon));
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

/// The request body as a JSON object: JSON, or a form (every value a string).
std::optional<json::object> body_object(const http_request& r, std::string& error) {
  auto type = r.header("content-type");
  // curl -d sends JSON as a form: a body that starts like a JSON object is
  // read as JSON whatever the content type says.
  auto first = r.body.find_first_not_of(" \t\r\n");
  bool looks_json = first != std::string::npos && r.body[first] == '{';
  if (!looks_json &&
      type.find("application/x-www-form-urlencoded") != std::string::npos) {
    std::map<std::string, std::string> form;
    if (!http_parse_form(r.body, form)) {
      error = "the form body has a malformed %-escape";
      return std::nullopt;
    }
    json::object o;
    for (auto& [key, value] : form)
      o[key] = value;
    return o;
  }
  boost::system::error_code ec;
  auto v = json::parse(r.body, ec);
  if (ec) {
    error = "the body is not JSON (nor a form): " + ec.message();
    return std::nullopt;
  }
  if (!v.is_object()) {
    error = "the body must be a JSON object";
    return std::nullopt;
  }
  return std::move(v.as_object());
}

/// HTTP status for a JSON-RPC error code.
int http_status_of(int code, const std::string& message) {
  switch (code) {
  case rpc_error::invalid_params:
    return message.rfind("unknown ", 0) == 0 ? 404 : 400;
  case rpc_error::method_not_found:
    return 404;
  case -32000:
    return 429;
  case rpc_error::parse_error:
  case rpc_error::invalid_request:
    return 400;
  default:
    return 500;
  }
}

std::string metric_name(const std::string& component, const std::string& counter) {
  std::string out = "spin_" + component + "_" + counter;
  for (auto& c : out)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '_'))
      c = '_';
  return out;
}

/// A JSON-RPC call to the block manager from an HTTP handler thread.
struct rpc_outcome {
  bool ok = false;
  json::value result;
  int code = 0;
  std::string message;
};

rpc_outcome call(caf::actor_system& sys, const control_api& control,
                 const std::string& client, const std::string& method,
                 json::object params = {}) {
  rpc_outcome out;
  json::object req{{"jsonrpc", "2.0"}, {"id", 1}, {"method", method}};
  if (!params.empty())
    req["params"] = std::move(params);
  caf::scoped_actor self{sys};
  std::string reply;
  bool answered = false;
  self->request(control, ask_timeout, atom::jsonrpc::value, client, json::serialize(req))
      .receive(
          [&](std::string& r) {
            reply = std::move(r);
            answered = true;
          },
          [&](caf::error&) {});
  if (!answered) {
    out.code = rpc_error::internal_error;
    out.message = "spind did not answer in time";
    return out;
  }
  boost::system::error_code ec;
  auto v = json::parse(reply, ec);
  if (ec || !v.is_object()) {
    out.code = rpc_error::internal_error;
    out.message = "malformed answer";
    return out;
  }
  auto& o = v.as_object();
  if (auto* e = o.if_contains("error"); e && e->is_object()) {
    auto& eo = e->as_object();
    if (auto* c = eo.if_contains("code"); c && c->is_int64())
      out.code = static_cast<int>(c->as_int64());
    if (auto* m = eo.if_contains("message"); m && m->is_string())
      out.message = std::string{m->as_string()};
    return out;
  }
  out.ok = true;
  if (auto* r = o.if_contains("result"))
    out.result = *r;
  return out;
}

http_response rpc_failure(const rpc_outcome& o) {
  return http_response::error(http_status_of(o.code, o.message), o.message);
}

std::optional<mac_address> device_mac(const std::string& text) {
  auto mac = mac_address::parse(text);
  if (!mac || mac->empty() || mac->is_group())
    return std::nullopt;
  return mac;
}

} // namespace

struct api_server::capture_entry {
  std::shared_ptr<device_capture> cap;
  bool finished = false;
};

api_server::api_server(caf::actor_system& sys, api_config cfg)
    : sys_(sys), cfg_(std::move(cfg)) {}

api_server::~api_server() {
  stop();
}

bool api_server::start(std::string& error) {
  return server_.start(
      cfg_.http, [this](const http_request& r) { return handle(r); }, error);
}

void api_server::stop() {
  {
    std::lock_guard<std::mutex> guard{captures_mutex_};
    for (auto& [mac, e] : captures_)
      if (e->cap)
        e->cap->stop();
  }
  server_.stop();
}

status_report api_server::status() const {
  auto r = server_.status();
  r.component = "api_server";
  std::lock_guard<std::mutex> guard{captures_mutex_};
  int64_t running = 0;
  for (auto& [mac, e] : captures_)
    running += e->finished ? 0 : 1;
  r.counters["captures_running"] = running;
  r.counters["captures_started"] = static_cast<int64_t>(captures_started_);
  return r;
}

http_response api_server::handle(const http_request& req) {
  const auto& path = req.path;
  bool get = req.method == "GET" || req.method == "HEAD";
  bool post = req.method == "POST";
  if (path == "/metrics")
    return get ? metrics() : http_response::error(405, "use GET");
  const std::string base = "/spin_api/";
  if (!starts_with(path, base))
    return http_response::error(404, "not found: " + path);
  auto rest = path.substr(base.size());
  while (!rest.empty() && rest.back() == '/')
    rest.pop_back();
  if (rest == "devices")
    return get ? devices(req) : http_response::error(405, "use GET");
  if (starts_with(rest, "devices/"))
    return device_route(req, rest.substr(8));
  if (rest == "profiles") {
    if (!get)
      return http_response::error(405, "use GET");
    auto o = call(sys_, cfg_.control, client_of(req), "list_profiles");
    if (!o.ok)
      return rpc_failure(o);
    return http_response::json(json::serialize(o.result.as_object()["profiles"]));
  }
  if (rest == "notifications" || starts_with(rest, "notifications/"))
    return notifications(req, rest == "notifications" ? std::string{} : rest.substr(14));
  if (rest == "configuration") {
    caf::scoped_actor self{sys_};
    if (get) {
      std::string doc = "null";
      self->request(cfg_.notifier, ask_timeout, atom::config::value)
          .receive([&](std::string& d) { doc = std::move(d); }, [](caf::error&) {});
      return http_response::json("{\"config\":" + doc + "}");
    }
    if (!post)
      return http_response::error(405, "use GET or POST");
    std::string error;
    auto body = body_object(req, error);
    if (!body)
      return http_response::error(400, error);
    auto* c = body->if_contains("config");
    if (!c)
      return http_response::error(400, "the body must be {\"config\": <any JSON>}");
    auto text = json::serialize(*c);
    if (text.size() > 64 * 1024)
      return http_response::error(413, "the configuration is larger than 64 KiB");
    bool ok = false;
    self->request(cfg_.notifier, ask_timeout, atom::config::value, text)
        .receive([&](bool r) { ok = r; }, [](caf::error&) {});
    if (!ok)
      return http_response::error(500, "the configuration could not be saved");
    return http_response::json("{\"config\":" + text + "}");
  }
  if (rest == "jsonrpc")
    return post ? jsonrpc(req) : http_response::error(405, "use POST");
  if (rest == "status")
    return get ? status_doc() : http_response::error(405, "use GET");
  if (rest == "tcpdump" || rest == "tcpdump_start" || rest == "tcpdump_stop" ||
      rest == "tcpdump_status")
    return get ? capture(req, rest) : http_response::error(405, "use GET");
  return http_response::error(404, "unknown endpoint: " + path);
}

http_response api_server::devices(const http_request& req) {
  auto client = client_of(req);
  auto list = call(sys_, cfg_.control, client, "list_devices");
  if (!list.ok)
    return rpc_failure(list);
  auto profiles = call(sys_, cfg_.control, client, "list_profiles");
  if (!profiles.ok)
    return rpc_failure(profiles);
  std::string fresh_text = "[]";
  {
    caf::scoped_actor self{sys_};
    self->request(cfg_.notifier, ask_timeout, atom::lookup::value)
        .receive([&](std::string& t) { fresh_text = std::move(t); }, [](caf::error&) {});
  }
  std::set<std::string> fresh;
  boost::system::error_code ec;
  auto fv = json::parse(fresh_text, ec);
  if (!ec && fv.is_array())
    for (auto& m : fv.as_array())
      if (m.is_string())
        fresh.insert(std::string{m.as_string()});
  auto& assigned = profiles.result.as_object()["devices"].as_object();
  json::object out;
  if (!list.result.is_array())
    return http_response::json("{}");
  for (auto& d : list.result.as_array()) {
    auto& node = d.as_object();
    auto* macv = node.if_contains("mac");
    if (!macv || !macv->is_string())
      continue;
    std::string mac{macv->as_string()};
    std::string name;
    if (auto* n = node.if_contains("name"); n && n->is_string())
      name = std::string{n->as_string()};
    if (name.empty())
      if (auto* ips = node.if_contains("ips");
          ips && ips->is_array() && !ips->as_array().empty())
        name = std::string{ips->as_array()[0].as_string()};
    std::string profile = "allow_all";
    if (auto* p = assigned.if_contains(mac); p && p->is_string())
      profile = std::string{p->as_string()};
    json::object e;
    e["mac"] = mac;
    e["name"] = name;
    e["lastSeen"] = node.contains("lastseen") ? node.at("lastseen") : json::value(0);
    e["appliedProfiles"] = json::array{json::value(profile)};
    e["new"] = fresh.count(mac) != 0;
    e["enforcement"] = profile;
    e["logging"] = "full";
    e["node"] = node.contains("id") ? node.at("id") : json::value(nullptr);
    e["ips"] = node.contains("ips") ? node.at("ips") : json::value(json::array{});
    out[mac] = std::move(e);
  }
  return http_response::json(json::serialize(out));
}

http_response api_server::device_route(const http_request& req, const std::string& rest) {
  auto slash = rest.find('/');
  auto mac_text = rest.substr(0, slash);
  auto what = slash == std::string::npos ? std::string{} : rest.substr(slash + 1);
  auto mac = device_mac(mac_text);
  if (!mac)
    return http_response::error(400, "not a device MAC address: " + mac_text);
  auto client = client_of(req);
  if (what == "appliedProfiles") {
    if (req.method == "GET" || req.method == "HEAD") {
      auto p = call(sys_, cfg_.control, client, "list_profiles");
      if (!p.ok)
        return rpc_failure(p);
      auto& assigned = p.result.as_object()["devices"].as_object();
      std::string profile = "allow_all";
      if (auto* v = assigned.if_contains(mac->to_string()); v && v->is_string())
        profile = std::string{v->as_string()};
      return http_response::json(json::serialize(json::array{json::value(profile)}));
    }
    if (req.method != "POST")
      return http_response::error(405, "use GET or POST");
    std::string error;
    auto body = body_object(req, error);
    if (!body)
      return http_response::error(400, error);
    auto* id = body->if_contains("profile_id");
    if (!id || !id->is_string())
      return http_response::error(400,
                                  "the body must be {\"profile_id\": \"<profile>\"}");
    std::string profile{id->as_string()};
    auto o = call(sys_, cfg_.control, client, "set_device_profile",
                  json::object{{"device", mac->to_string()}, {"profile", profile}});
    caf::scoped_actor self{sys_};
    if (!o.ok) {
      self->request(cfg_.notifier, ask_timeout, atom::notes::value, std::string{},
                    std::string{"profile_error"}, std::vector<std::string>{o.message},
                    mac->to_string())
          .receive([](int64_t) {}, [](caf::error&) {});
      // The device is in the URL and exists; a bad profile_id is a bad body.
      if (o.code == rpc_error::invalid_params)
        return http_response::error(400, o.message);
      return rpc_failure(o);
    }
    self->request(cfg_.notifier, ask_timeout, atom::notes::value, std::string{},
                  std::string{"profile_set_to"}, std::vector<std::string>{profile},
                  mac->to_string())
        .receive([](int64_t) {}, [](caf::error&) {});
    return http_response::json(json::serialize(json::array{json::value(profile)}));
  }
  if (what == "toggleNew") {
    if (req.method != "POST")
      return http_response::error(405, "use POST");
    caf::scoped_actor self{sys_};
    int now = -2;
    self->request(cfg_.notifier, ask_timeout, atom::toggle::value, *mac)
        .receive([&](int v) { now = v; }, [](caf::error&) {});
    if (now == -2)
      return http_response::error(500, "spind did not answer in time");
    if (now < 0)
      return http_response::error(404, "unknown device " + mac->to_string());
    return http_response::json(
        json::serialize(json::object{{"mac", mac->to_string()}, {"new", now == 1}}));
  }
  return http_response::error(404, "unknown endpoint: " + req.path);
}

http_response api_server::notifications(const http_request& req,
                                        const std::string& rest) {
  caf::scoped_actor self{sys_};
  if (rest.empty()) {
    if (req.method != "GET" && req.method != "HEAD")
      return http_response::error(405, "use GET");
    std::string text = "[]";
    self->request(cfg_.notifier, ask_timeout, atom::notes::value)
        .receive([&](std::string& t) { text = std::move(t); }, [](caf::error&) {});
    return http_response::json(text);
  }
  if (req.method != "POST")
    return http_response::error(405, "use POST");
  if (rest == "create") {
    std::string error;
    auto body = body_object(req, error);
    if (!body)
      return http_response::error(400, error);
    auto* m = body->if_contains("message");
    if (!m || !m->is_string() || m->as_string().empty() || m->as_string().size() > 1024)
      return http_response::error(
          400, "the body must be {\"message\": \"<1 to 1024 characters>\"}");
    int64_t id = -1;
    self->request(cfg_.notifier, ask_timeout, atom::notes::value,
                  std::string{m->as_string()}, std::string{}, std::vector<std::string>{},
                  std::string{})
        .receive([&](int64_t v) { id = v; }, [](caf::error&) {});
    if (id < 0)
      return http_response::error(500, "the notification could not be saved");
    return http_response::json(json::serialize(json::object{{"id", id}}));
  }
  // <id>/delete
  auto slash = rest.find('/');
  auto id_text = rest.substr(0, slash);
  if (slash == std::string::npos || rest.substr(slash + 1) != "delete")
    return http_response::error(404, "unknown endpoint: " + req.path);
  int64_t id = 0;
  auto [ptr, ec] = std::from_chars(id_text.data(), id_text.data() + id_text.size(), id);
  if (ec != std::errc{} || ptr != id_text.data() + id_text.size() || id <= 0)
    return http_response::error(400, "not a notification id: " + id_text);
  int found = -1;
  self->request(cfg_.notifier, ask_timeout, atom::deleted::value, id)
      .receive([&](bool ok) { found = ok ? 1 : 0; }, [](caf::error&) {});
  if (found < 0)
    return http_response::error(500, "spind did not answer in time");
  if (found == 0)
    return http_response::error(404, "no notification " + id_text);
  return http_response::json(json::serialize(json::object{{"deleted", id}}));
}

http_response api_server::jsonrpc(const http_request& req) {
  caf::scoped_actor self{sys_};
  std::string reply;
  bool answered = false;
  self->request(cfg_.control, ask_timeout, atom::jsonrpc::value, client_of(req), req.body)
      .receive(
          [&](std::string& r) {
            reply = std::move(r);
            answered = true;
          },
          [](caf::error&) {});
  if (!answered)
    return http_response::error(503, "spind did not answer in time");
  if (reply.empty()) { // a notification
    http_response r;
    r.status = 204;
    r.content_type.clear();
    return r;
  }
  return http_response::json(std::move(reply));
}

http_response api_server::status_doc() {
  json::object components;
  caf::scoped_actor self{sys_};
  for (auto& a : cfg_.polled)
    self->request(a, std::chrono::seconds(2), atom::status::value)
        .receive([&](status_report& r) { components[r.component] = status_to_json(r); },
                 [](caf::error&) {});
  for (auto& p : cfg_.providers) {
    auto r = p();
    components[r.component] = status_to_json(r);
  }
  auto own = status();
  components[own.component] = status_to_json(own);
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  return http_response::json(json::serialize(
      json::object{{"timestamp", now}, {"components", std::move(components)}}));
}

http_response api_server::metrics() {
  std::vector<status_report> reports;
  caf::scoped_actor self{sys_};
  for (auto& a : cfg_.polled)
    self->request(a, std::chrono::seconds(2), atom::status::value)
        .receive([&](status_report& r) { reports.push_back(std::move(r)); },
                 [](caf::error&) {});
  for (auto& p : cfg_.providers)
    reports.push_back(p());
  reports.push_back(status());
  // One family per metric name; sharded components ("flow_aggregator/3")
  // become one family with a shard label, as Prometheus expects.
  std::map<std::string, std::vector<std::string>> families;
  std::set<std::string> seen;
  for (auto& r : reports) {
    std::string component = r.component, label;
    auto cut = component.find_last_not_of("0123456789");
    if (cut != std::string::npos && cut + 1 < component.size() && component[cut] == '/') {
      label = "{shard=\"" + component.substr(cut + 1) + "\"}";
      component.resize(cut);
    }
    for (auto& [counter, value] : r.counters) {
      auto name = metric_name(component, counter);
      if (!seen.insert(name + label).second)
        continue;
      families[name].push_back(name + label + " " + std::to_string(value) + "\n");
    }
  }
  std::string out;
  for (auto& [name, lines] : families) {
    out += "# TYPE " + name + " untyped\n";
    for (auto& l : lines)
      out += l;
  }
  http_response resp;
  resp.content_type = "text/plain; version=0.0.4";
  resp.body = std::move(out);
  return resp;
}

http_response api_server::capture(const http_request& req, const std::string& what) {
  auto it = req.params.find("device");
  if (it == req.params.end())
    return http_response::error(400, "the device parameter (a MAC address) is missing");
  auto mac = device_mac(it->second);
  if (!mac)
    return http_response::error(
        400, "device must be a MAC address, such as aa:bb:cc:dd:ee:ff");
  auto key = mac->to_string();
  // These GETs change state (the reference defines them as GET): refuse
  // them from other sites (an <img> on a web page), and let HEAD only ask.
  auto site = req.header("sec-fetch-site");
  if (what != "tcpdump_status" &&
      ((!site.empty() && site != "same-origin" && site != "none") ||
       (!req.header("origin").empty() &&
        !http_origin_matches(req.header("origin"), req.header("host")))))
    return http_response::error(
        403, "a capture cannot be started or stopped from another site");
  if (req.method == "HEAD" && what != "tcpdump_status")
    return http_response::error(405, "use GET to start or stop a capture");
  if (what == "tcpdump_status" || what == "tcpdump_stop") {
    std::lock_guard<std::mutex> guard{captures_mutex_};
    auto c = captures_.find(key);
    bool running = c != captures_.end() && !c->second->finished;
    if (what == "tcpdump_stop") {
      if (!running)
        return http_response::error(404, "no capture of " + key + " is running");
      c->second->cap->stop();
      return http_response::json(
          json::serialize(json::object{{"device", key}, {"stopped", true}}));
    }
    uint64_t bytes = c == captures_.end() ? 0 : c->second->cap->bytes();
    return http_response::json(json::serialize(
        json::object{{"device", key}, {"running", running}, {"bytes_sent", bytes}}));
  }
  // tcpdump, tcpdump_start: stream a new capture.
  device_capture::options o;
  o.mac = *mac;
  o.max_seconds = cfg_.capture_max_seconds;
  o.max_bytes = cfg_.capture_max_bytes;
  o.interface = !cfg_.capture_interface.empty() ? cfg_.capture_interface
                : !cfg_.lan_interfaces.empty()  ? cfg_.lan_interfaces.front()
                                                : std::string{"any"};
  if (o.interface == "any") {
    caf::scoped_actor self{sys_};
    node_info_ptr node;
    self->request(cfg_.registry, ask_timeout, atom::get::value, *mac)
        .receive([&](node_info_ptr& n) { node = std::move(n); }, [](caf::error&) {});
    if (!node)
      return http_response::error(404, "unknown device " + key);
    o.addresses = node->ips;
  }
  auto entry = std::make_shared<capture_entry>();
  {
    std::lock_guard<std::mutex> guard{captures_mutex_};
    auto c = captures_.find(key);
    if (c != captures_.end() && !c->second->finished)
      return http_response::error(409, "a capture of " + key + " is already running");
    size_t running = 0;
    for (auto& [k, e] : captures_)
      running += e->finished ? 0 : 1;
    if (running >= max_captures)
      return http_response::error(
          429, "already " + std::to_string(running) +
                   " captures are running; stop one (tcpdump_stop) and try again");
    entry->cap = std::make_shared<device_capture>();
    std::string error;
    if (!entry->cap->open(o, error)) {
      SPIN_WARN("capture of %s: %s", key.c_str(), error.c_str());
      return http_response::error(503, error);
    }
    captures_[key] = entry;
    ++captures_started_;
  }
  SPIN_INFO("capture of %s started on %s (filter \"%s\", %s)", key.c_str(),
            o.interface.c_str(), entry->cap->filter().c_str(), req.remote.c_str());
  auto stream = std::make_shared<http_stream>();
  auto cap = entry->cap;
  stream->next = [cap](std::string& chunk) { return cap->next(chunk); };
  stream->close = [this, entry, key] {
    entry->cap->stop();
    std::lock_guard<std::mutex> guard{captures_mutex_};
    entry->finished = true;
    SPIN_INFO("capture of %s ended after %llu bytes", key.c_str(),
              static_cast<unsigned long long>(entry->cap->bytes()));
  };
  http_response r;
  r.content_type = "application/vnd.tcpdump.pcap";
  r.headers.emplace_back("Content-Disposition",
                         "attachment; filename=\"spin-" + mac->to_string() + ".pcap\"");
  r.stream = std::move(stream);
  return r;
}

} // namespace spin
