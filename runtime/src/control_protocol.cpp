#include "spin/runtime/control_protocol.hpp"

#include "spin/runtime/spin_json.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace spin {

namespace json = boost::json;

const char* list_kind_name(list_kind k) {
  switch (k) {
  case list_kind::block:
    return "block";
  case list_kind::allow:
    return "allow";
  case list_kind::ignore:
    return "ignore";
  }
  return "block";
}

const char* list_message_name(list_kind k, list_vocabulary v) {
  switch (k) {
  case list_kind::block:
    return "blocks";
  case list_kind::allow:
    return v == list_vocabulary::web_client ? "alloweds" : "allows";
  case list_kind::ignore:
    return v == list_vocabulary::web_client ? "filters" : "ignores";
  }
  return "blocks";
}

bool control_op_changes_state(control_op op) {
  switch (op) {
  case control_op::add_list_node:
  case control_op::remove_list_node:
  case control_op::add_list_ip:
  case control_op::remove_list_ip:
  case control_op::reset_ignores:
  case control_op::set_name:
  case control_op::set_flow_block:
  case control_op::set_profile:
    return true;
  default:
    return false;
  }
}

control_result control_result::success(json::value v) {
  control_result r;
  r.value = std::move(v);
  return r;
}

control_result control_result::failure(int code, std::string message) {
  control_result r;
  r.ok = false;
  r.code = code;
  r.message = std::move(message);
  return r;
}

namespace {

// --- shared validation -------------------------------------------------------

constexpr size_t max_name_chars = 255;
constexpr size_t max_quoted = 64;

// At most `max_quoted` bytes of `s` for an error message, cut at a UTF-8
// character boundary (the parser has validated the UTF-8, and a cut inside a
// character would make the reply invalid JSON text).
std::string clip(std::string_view s) {
  if (s.size() <= max_quoted)
    return std::string{s};
  size_t n = max_quoted;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xc0) == 0x80)
    --n;
  return std::string{s.substr(0, n)} + "...";
}

std::string_view view(const json::string& s) {
  return {s.data(), s.size()};
}

// An IP address given as a JSON string. A NUL inside the string would end the
// text inet_pton sees, so "192.0.2.1\u0000junk" must not pass.
std::optional<ip_address> json_ip(const json::value& v) {
  auto* s = v.if_string();
  if (!s || std::memchr(s->data(), '\0', s->size()))
    return std::nullopt;
  return ip_address::parse(view(*s));
}

// A device's MAC address: a unicast, non-zero address.
std::optional<mac_address> json_unicast_mac(const json::value& v) {
  auto* s = v.if_string();
  if (!s)
    return std::nullopt;
  auto m = mac_address::parse(view(*s));
  if (!m || m->empty() || m->is_group())
    return std::nullopt;
  return m;
}

// A user name: at most 255 characters (code points; the parser has checked
// the UTF-8), none of them a control character (C0, DEL or C1). An empty name
// is valid: it clears the name (doc/nodes.md).
bool valid_name(std::string_view s) {
  size_t chars = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f)
      return false;
    // U+0080..U+009F are encoded as C2 80..C2 9F.
    if (c == 0xc2 && i + 1 < s.size()) {
      auto d = static_cast<unsigned char>(s[i + 1]);
      if (d >= 0x80 && d <= 0x9f)
        return false;
    }
    if ((c & 0xc0) != 0x80)
      ++chars;
  }
  return chars <= max_name_chars;
}

std::optional<std::string> json_name(const json::value& v) {
  auto* s = v.if_string();
  if (!s || !valid_name(view(*s)))
    return std::nullopt;
  return std::string{view(*s)};
}

// True if no number in `v` is infinite. Boost.JSON reads a number beyond the
// range of a double (1e400) as infinity and would write it back as
// `Infinity`, which is not JSON: an id or argument echoed in a reply must not
// be one. (Recursion is bounded: the parser refuses nesting deeper than 32.)
bool numbers_finite(const json::value& v) {
  switch (v.kind()) {
  case json::kind::double_:
    return std::isfinite(v.get_double());
  case json::kind::array:
    for (auto& e : v.get_array())
      if (!numbers_finite(e))
        return false;
    return true;
  case json::kind::object:
    for (auto& kv : v.get_object())
      if (!numbers_finite(kv.value()))
        return false;
    return true;
  default:
    return true;
  }
}

// Parses without exceptions; the default options reject invalid UTF-8 and
// nesting deeper than 32. Returns nullopt with the reason in `problem`.
std::optional<json::value> parse_json(std::string_view text, std::string& problem) {
  json::error_code ec;
  auto v = json::parse(json::string_view{text.data(), text.size()}, ec);
  if (ec) {
    problem = ec.message();
    return std::nullopt;
  }
  if (!numbers_finite(v)) {
    problem = "a number is out of range";
    return std::nullopt;
  }
  return v;
}

// --- legacy commands ---------------------------------------------------------

enum class legacy_arg : uint8_t { none, node, ip, name_object };

struct legacy_spec {
  const char* name;
  control_op op;
  list_kind list;
  list_vocabulary vocabulary;
  legacy_arg arg;
};

constexpr auto doc = list_vocabulary::documented;
constexpr auto web = list_vocabulary::web_client;

// Every command name and alias of ../shared/reference/spin-protocols.md s.2.2;
// web_client marks the names of SPIN's own web client, whose list replies
// use its vocabulary (filters, alloweds).
constexpr legacy_spec legacy_commands[] = {
    {"get_blocks", control_op::get_list, list_kind::block, doc, legacy_arg::none},
    {"get_ignores", control_op::get_list, list_kind::ignore, doc, legacy_arg::none},
    {"get_filters", control_op::get_list, list_kind::ignore, web, legacy_arg::none},
    {"get_alloweds", control_op::get_list, list_kind::allow, web, legacy_arg::none},
    {"get_allows", control_op::get_list, list_kind::allow, doc, legacy_arg::none},
    {"get_names", control_op::get_names, list_kind::block, doc, legacy_arg::none},
    {"add_block_node", control_op::add_list_node, list_kind::block, doc,
     legacy_arg::node},
    {"blockdata", control_op::add_list_node, list_kind::block, web, legacy_arg::node},
    {"remove_block_node", control_op::remove_list_node, list_kind::block, doc,
     legacy_arg::node},
    {"stopblockdata", control_op::remove_list_node, list_kind::block, web,
     legacy_arg::node},
    {"remove_block_ip", control_op::remove_list_ip, list_kind::block, doc,
     legacy_arg::ip},
    {"add_ignore_node", control_op::add_list_node, list_kind::ignore, doc,
     legacy_arg::node},
    {"add_filter", control_op::add_list_node, list_kind::ignore, web, legacy_arg::node},
    {"remove_ignore_ip", control_op::remove_list_ip, list_kind::ignore, doc,
     legacy_arg::ip},
    {"remove_filter", control_op::remove_list_ip, list_kind::ignore, web, legacy_arg::ip},
    {"remove_ignore_node", control_op::remove_list_node, list_kind::ignore, doc,
     legacy_arg::node},
    {"reset_ignores", control_op::reset_ignores, list_kind::ignore, doc,
     legacy_arg::none},
    {"reset_filters", control_op::reset_ignores, list_kind::ignore, web,
     legacy_arg::none},
    {"add_allow_node", control_op::add_list_node, list_kind::allow, doc,
     legacy_arg::node},
    {"allowdata", control_op::add_list_node, list_kind::allow, web, legacy_arg::node},
    {"remove_allow_node", control_op::remove_list_node, list_kind::allow, doc,
     legacy_arg::node},
    {"stopallowdata", control_op::remove_list_node, list_kind::allow, web,
     legacy_arg::node},
    {"remove_allow_ip", control_op::remove_list_ip, list_kind::allow, doc,
     legacy_arg::ip},
    {"add_name", control_op::set_name, list_kind::block, doc, legacy_arg::name_object},
    {"missingNodeInfo", control_op::republish_node, list_kind::block, doc,
     legacy_arg::node},
    {"ip2hostname", control_op::ip2hostname, list_kind::block, doc, legacy_arg::ip},
};

const legacy_spec* find_legacy(std::string_view name) {
  for (auto& c : legacy_commands)
    if (name == c.name)
      return &c;
  return nullptr;
}

constexpr const char* node_hint = "a node id (a number or a numeric string)";
constexpr const char* ip_hint =
    "an IP address (a string such as \"192.0.2.1\" or \"2001:db8::1\")";
constexpr const char* name_hint =
    "a string of at most 255 characters without control characters";

// Fills in the argument of `r`; returns the problem, or an empty string.
std::string legacy_argument(const legacy_spec& spec, const json::value* arg,
                            control_request& r) {
  bool missing = !arg || arg->is_null();
  switch (spec.arg) {
  case legacy_arg::none:
    return {};
  case legacy_arg::node: {
    if (missing)
      return std::string{"missing argument: it must be "} + node_hint;
    auto id = json_node_id(*arg);
    if (!id)
      return std::string{"the argument must be "} + node_hint;
    r.node = *id;
    return {};
  }
  case legacy_arg::ip: {
    if (missing)
      return std::string{"missing argument: it must be "} + ip_hint;
    auto ip = json_ip(*arg);
    if (!ip)
      return std::string{"the argument must be "} + ip_hint;
    r.ip = *ip;
    return {};
  }
  case legacy_arg::name_object: {
    auto* o = missing ? nullptr : arg->if_object();
    if (!o)
      return "the argument must be an object {\"node_id\": <node id>, \"name\": "
             "<string>}";
    auto* idv = o->if_contains("node_id");
    if (!idv)
      return "missing node_id in the argument";
    auto id = json_node_id(*idv);
    if (!id)
      return std::string{"node_id must be "} + node_hint;
    auto* namev = o->if_contains("name");
    if (!namev)
      return "missing name in the argument";
    auto name = json_name(*namev);
    if (!name)
      return std::string{"name must be "} + name_hint;
    r.node = *id;
    r.text = std::move(*name);
    return {};
  }
  }
  return {};
}

// --- JSON-RPC ----------------------------------------------------------------

enum class param_kind : uint8_t { node, node2, list, ip, mac, text, flag };

struct param_spec {
  const char* name = nullptr;
  param_kind kind = param_kind::node;
};

constexpr size_t max_params = 3;

struct method_spec {
  const char* name;
  control_op op;
  param_spec params[max_params];
  const char* description;
};

// The JSON-RPC methods (../shared/reference/spin-protocols.md s.2.3, plus
// get_names, ip2hostname and republish_node for spinctl). The parser and
// rpc_methods_description() both read this table, so the published
// description cannot drift from what is accepted.
const method_spec rpc_methods[] = {
    {"list_rpc_methods",
     control_op::list_methods,
     {},
     "The JSON-RPC methods with their parameters and types."},
    {"list_devices",
     control_op::list_devices,
     {},
     "The node objects of every device (every node with a MAC address)."},
    {"get_device_data",
     control_op::get_device,
     {{"node", param_kind::node}},
     "The node object of a node."},
    {"list_device_flows",
     control_op::list_device_flows,
     {{"device", param_kind::mac}},
     "Recent flows of a device, given by its MAC address: "
     "{to, dst_port, icmp_type, packets, bytes, lastseen, blocked}."},
    {"set_device_name",
     control_op::set_name,
     {{"node", param_kind::node}, {"name", param_kind::text}},
     "Names a node (at most 255 characters, no control characters; \"\" clears the "
     "name). Persisted."},
    {"add_iplist_node",
     control_op::add_list_node,
     {{"list", param_kind::list}, {"node", param_kind::node}},
     "Puts every address of a node, now and later, on a list (\"block\", \"allow\" or "
     "\"ignore\")."},
    {"remove_iplist_node",
     control_op::remove_list_node,
     {{"list", param_kind::list}, {"node", param_kind::node}},
     "Takes off a list (\"block\", \"allow\" or \"ignore\") what add_iplist_node put "
     "on it for a node."},
    {"add_iplist_ip",
     control_op::add_list_ip,
     {{"list", param_kind::list}, {"ip", param_kind::ip}},
     "Puts one IP address on a list (\"block\", \"allow\" or \"ignore\")."},
    {"remove_iplist_ip",
     control_op::remove_list_ip,
     {{"list", param_kind::list}, {"ip", param_kind::ip}},
     "Takes one IP address off a list (\"block\", \"allow\" or \"ignore\")."},
    {"list_iplist",
     control_op::get_list,
     {{"list", param_kind::list}},
     "The IP addresses on a list (\"block\", \"allow\" or \"ignore\")."},
    {"reset_iplist_ignore",
     control_op::reset_ignores,
     {},
     "Resets the ignore list to the router's own addresses."},
    {"set_flow_block",
     control_op::set_flow_block,
     {{"node1", param_kind::node},
      {"node2", param_kind::node2},
      {"block", param_kind::flag}},
     "Blocks (block 1 or true) or unblocks (0 or false) all traffic between two "
     "different nodes, both ways."},
    {"get_flow_block",
     control_op::get_flow_blocks,
     {},
     "The blocked node pairs: [{\"node1\", \"node2\"}]."},
    {"get_names", control_op::get_names, {}, "User-set names by IP address."},
    {"ip2hostname",
     control_op::ip2hostname,
     {{"ip", param_kind::ip}},
     "The DNS names seen for an IP address."},
    {"republish_node",
     control_op::republish_node,
     {{"node", param_kind::node}},
     "Publishes the nodeInfo message of a node again."},
    {"set_device_profile",
     control_op::set_profile,
     {{"device", param_kind::mac}, {"profile", param_kind::text}},
     "Applies a profile (allow_all, deny_all, ipv4_only, ipv6_only, blocked_by_ad, or a "
     "user profile from profiles_dir) to "
     "a device, given by its MAC address. Persisted."},
    {"list_profiles",
     control_op::get_profiles,
     {},
     "The profiles spind ships, and the devices that have one: "
     "{\"profiles\": [{id, name, description}], \"devices\": {mac: profile id}}."},
};

const method_spec* find_method(std::string_view name) {
  for (auto& m : rpc_methods)
    if (name == m.name)
      return &m;
  return nullptr;
}

const char* param_type(param_kind k) {
  switch (k) {
  case param_kind::node:
  case param_kind::node2:
    return "integer";
  case param_kind::flag:
    return "boolean";
  default:
    return "string";
  }
}

std::string rpc_error_json(const json::value& id, int code, std::string_view message) {
  json::object err;
  err["code"] = code;
  err["message"] = json::string{message};
  json::object o;
  o["jsonrpc"] = "2.0";
  o["id"] = id;
  o["error"] = std::move(err);
  return json::serialize(o);
}

// Reads one parameter into `r`; returns the problem, or an empty string.
std::string rpc_param(const param_spec& p, const json::value& v, control_request& r) {
  std::string name = p.name;
  switch (p.kind) {
  case param_kind::node:
  case param_kind::node2: {
    auto id = json_node_id(v);
    if (!id)
      return name + " must be a node id (a positive integer or a numeric string)";
    (p.kind == param_kind::node ? r.node : r.node2) = *id;
    return {};
  }
  case param_kind::list: {
    auto* s = v.if_string();
    if (s && *s == "block")
      r.list = list_kind::block;
    else if (s && *s == "allow")
      r.list = list_kind::allow;
    else if (s && *s == "ignore")
      r.list = list_kind::ignore;
    else
      return name + " must be \"block\", \"allow\" or \"ignore\"";
    return {};
  }
  case param_kind::ip: {
    auto ip = json_ip(v);
    if (!ip)
      return name + " must be " + ip_hint;
    r.ip = *ip;
    return {};
  }
  case param_kind::mac: {
    auto m = json_unicast_mac(v);
    if (!m)
      return name + " must be the unicast MAC address of a device, such as "
                    "\"aa:bb:cc:dd:ee:ff\"";
    r.mac = *m;
    return {};
  }
  case param_kind::text: {
    auto t = json_name(v);
    if (!t)
      return name + " must be " + name_hint;
    r.text = std::move(*t);
    return {};
  }
  case param_kind::flag: {
    if (v.is_bool())
      r.flag = v.get_bool();
    else if ((v.is_int64() && (v.get_int64() == 0 || v.get_int64() == 1)) ||
             (v.is_uint64() && v.get_uint64() <= 1))
      r.flag = v.is_int64() ? v.get_int64() == 1 : v.get_uint64() == 1;
    else
      return name + " must be 0, 1, true or false";
    return {};
  }
  }
  return {};
}

// Checks the params of a known method: no unknown names (a typo must not
// pass silently), every parameter present and valid. Returns the problem.
std::string rpc_params(const method_spec& m, const json::object* params,
                       control_request& r) {
  size_t count = 0;
  while (count < max_params && m.params[count].name)
    ++count;
  auto declared = [&](std::string_view key) {
    for (size_t i = 0; i < count; ++i)
      if (key == m.params[i].name)
        return true;
    return false;
  };
  if (params) {
    std::string unknown;
    size_t n_unknown = 0;
    for (auto& kv : *params) {
      auto key = std::string_view{kv.key().data(), kv.key().size()};
      if (declared(key))
        continue;
      if (++n_unknown <= 4)
        unknown += (unknown.empty() ? "" : ", ") + clip(key);
    }
    if (n_unknown > 4)
      unknown += ", ...";
    if (n_unknown > 0) {
      std::string msg = n_unknown == 1 ? "unknown parameter " : "unknown parameters ";
      msg += unknown;
      if (count == 0)
        msg += " (it takes none)";
      return msg;
    }
  }
  for (size_t i = 0; i < count; ++i) {
    auto* v = params ? params->if_contains(m.params[i].name) : nullptr;
    if (!v)
      return std::string{"missing parameter "} + m.params[i].name;
    auto problem = rpc_param(m.params[i], *v, r);
    if (!problem.empty())
      return problem;
  }
  if (m.op == control_op::set_flow_block && r.node == r.node2)
    return "node1 and node2 must be different nodes";
  return {};
}

} // namespace

std::variant<control_request, std::string>
parse_legacy_command(std::string_view payload) {
  std::string problem;
  auto v = parse_json(payload, problem);
  if (!v)
    return error_json("Invalid command: the payload is not JSON (" + problem + ")");
  auto* o = v->if_object();
  if (!o)
    return error_json("Invalid command: the payload is not a JSON object");
  auto* cmd = o->if_contains("command");
  if (!cmd || !cmd->is_string())
    return error_json("Invalid command: no \"command\" member with a string value");
  auto name = view(cmd->get_string());
  auto* spec = find_legacy(name);
  if (!spec)
    return error_json("Unknown command: " + clip(name));

  control_request r;
  r.from = control_request::dialect::legacy;
  r.op = spec->op;
  r.list = spec->list;
  r.vocabulary = spec->vocabulary;
  r.name = std::string{name};
  auto* arg = o->if_contains("argument");
  r.argument = arg ? *arg : json::value{};
  auto wrong = legacy_argument(*spec, arg, r);
  if (!wrong.empty())
    return error_json(r.name + ": " + wrong);
  return r;
}

std::variant<control_request, std::string>
parse_jsonrpc_request(std::string_view payload) {
  std::string problem;
  auto v = parse_json(payload, problem);
  if (!v)
    return rpc_error_json(nullptr, rpc_error::parse_error,
                          "Parse error: the request is not JSON (" + problem + ")");
  if (v->is_array())
    return rpc_error_json(nullptr, rpc_error::invalid_request,
                          "Invalid Request: batches are not supported");
  auto* o = v->if_object();
  if (!o)
    return rpc_error_json(nullptr, rpc_error::invalid_request,
                          "Invalid Request: the request must be a JSON object");

  control_request r;
  r.from = control_request::dialect::jsonrpc;
  auto* id = o->if_contains("id");
  if (id && !(id->is_string() || id->is_number() || id->is_null()))
    return rpc_error_json(nullptr, rpc_error::invalid_request,
                          "Invalid Request: id must be a string, a number or null");
  r.notification = id == nullptr;
  if (id)
    r.id = *id;

  auto* version = o->if_contains("jsonrpc");
  if (!version || !version->is_string() || version->get_string() != "2.0")
    return rpc_error_json(r.id, rpc_error::invalid_request,
                          "Invalid Request: jsonrpc must be \"2.0\"");
  auto* method = o->if_contains("method");
  if (!method || !method->is_string())
    return rpc_error_json(r.id, rpc_error::invalid_request,
                          "Invalid Request: method must be a string");
  auto name = view(method->get_string());
  auto* spec = find_method(name);
  if (!spec)
    return rpc_error_json(r.id, rpc_error::method_not_found,
                          "Method not found: " + clip(name));
  r.op = spec->op;
  r.name = std::string{name};

  // Absent and null params both mean "none"; anything but an object is
  // refused (positional params are not supported).
  auto* params = o->if_contains("params");
  const json::object* named = nullptr;
  if (params && !params->is_null()) {
    named = params->if_object();
    if (!named)
      return rpc_error_json(r.id, rpc_error::invalid_params,
                            r.name + ": params must be an object (named parameters)");
  }
  auto wrong = rpc_params(*spec, named, r);
  if (!wrong.empty())
    return rpc_error_json(r.id, rpc_error::invalid_params, r.name + ": " + wrong);
  return r;
}

std::string legacy_reply(const control_request& r, const control_result& res) {
  if (!res.ok)
    return error_json(res.message);
  switch (r.op) {
  case control_op::get_list:
    return message_json(list_message_name(r.list, r.vocabulary), "", res.value);
  case control_op::get_names:
  case control_op::set_name:
    return message_json("names", "", res.value);
  case control_op::ip2hostname:
    return message_json("ip2hostname", r.argument, res.value);
  default:
    return {};
  }
}

std::string jsonrpc_reply(const control_request& r, const control_result& res) {
  if (r.notification)
    return {};
  if (!res.ok)
    return rpc_error_json(r.id, res.code != 0 ? res.code : rpc_error::internal_error,
                          res.message);
  json::object o;
  o["jsonrpc"] = "2.0";
  o["id"] = r.id;
  o["result"] = res.value;
  return json::serialize(o);
}

std::string list_message(list_kind k, list_vocabulary v,
                         const std::vector<ip_address>& ips) {
  json::array a;
  a.reserve(ips.size());
  for (auto& ip : ips)
    a.emplace_back(ip.to_string());
  return message_json(list_message_name(k, v), "", a);
}

json::value rpc_methods_description() {
  json::array methods;
  for (auto& m : rpc_methods) {
    json::object params;
    for (auto& p : m.params)
      if (p.name)
        params[p.name] = param_type(p.kind);
    json::object o;
    o["name"] = m.name;
    o["params"] = std::move(params);
    o["description"] = m.description;
    methods.emplace_back(std::move(o));
  }
  return methods;
}

command_rate_limiter::command_rate_limiter(double rate, double burst, size_t max_clients)
    : rate_(rate > 0 ? rate : 0), burst_(burst > 1 ? burst : 1),
      max_clients_(max_clients > 0 ? max_clients : 1) {}

bool command_rate_limiter::allow(const std::string& client,
                                 std::chrono::steady_clock::time_point now) {
  auto it = buckets_.find(client);
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_clients_) {
      // Evict the least recently seen client: an O(n) scan, but only when a
      // new client arrives with the table full (n is small, 1024 by default).
      auto oldest =
          std::min_element(buckets_.begin(), buckets_.end(), [](auto& a, auto& b) {
            return a.second.last < b.second.last;
          });
      buckets_.erase(oldest);
    }
    it = buckets_.emplace(client, bucket{burst_, now}).first;
  } else {
    auto& b = it->second;
    if (now > b.last) {
      std::chrono::duration<double> dt = now - b.last;
      b.tokens = std::min(burst_, b.tokens + dt.count() * rate_);
      b.last = now;
    }
  }
  auto& b = it->second;
  if (b.tokens < 1)
    return false;
  b.tokens -= 1;
  return true;
}

} // namespace spin
