#include "spin/runtime/spin_json.hpp"

#include <boost/json/serialize.hpp>

#include <charconv>

namespace spin {

namespace json = boost::json;

namespace {

// Adds the NODE fields after id and lastseen, in the reference's order.
void add_node_fields(json::object& o, const node_info& n) {
  json::array ips;
  for (auto& ip : n.ips)
    ips.emplace_back(ip.to_string());
  o["ips"] = std::move(ips);
  json::array domains;
  for (auto& d : n.domains)
    domains.emplace_back(d);
  o["domains"] = std::move(domains);
  if (n.mac)
    o["mac"] = n.mac->to_string();
  if (!n.name.empty())
    o["name"] = n.name;
  if (n.is_blocked)
    o["is_blocked"] = true;
  if (n.is_excepted)
    o["is_excepted"] = true;
}

} // namespace

json::object node_to_json(const node_info& n) {
  json::object o;
  o["id"] = n.id;
  o["lastseen"] = n.lastseen;
  add_node_fields(o, n);
  return o;
}

std::string node_tail_json(const node_info& n) {
  json::object o;
  add_node_fields(o, n);
  auto text = json::serialize(o); // {"ips":...}
  return text.substr(1);
}

std::string message_json(std::string_view command, const json::value& argument,
                         const json::value& result) {
  json::object o;
  o["command"] = command;
  o["argument"] = argument;
  o["result"] = result;
  return json::serialize(o);
}

namespace {

void append_int(std::string& out, int64_t v) {
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, res.ptr);
}

void append_uint(std::string& out, uint64_t v) {
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, res.ptr);
}

void append_node(std::string& out, node_id id, int64_t lastseen,
                 const std::string* tail) {
  out += "{\"id\":";
  append_int(out, id);
  out += ",\"lastseen\":";
  append_int(out, lastseen);
  if (tail) {
    out += ',';
    out += *tail;
  } else {
    out += ",\"ips\":[],\"domains\":[]}";
  }
}

} // namespace

void append_traffic_json(std::string& out, const interval_report& r,
                         const std::function<const std::string*(node_id)>& tail_of) {
  out += R"({"command":"traffic","argument":"","result":{"timestamp":)";
  append_int(out, r.second);
  out += ",\"total_size\":";
  append_uint(out, r.total_size);
  out += ",\"total_count\":";
  append_uint(out, r.total_count);
  out += ",\"flows\":[";
  bool first = true;
  for (auto& f : r.flows) {
    if (!first)
      out += ',';
    first = false;
    out += "{\"from\":";
    append_node(out, f.from, r.second, tail_of(f.from));
    out += ",\"to\":";
    append_node(out, f.to, r.second, tail_of(f.to));
    out += ",\"size\":";
    append_uint(out, f.size);
    out += ",\"count\":";
    append_uint(out, f.count);
    out += ",\"protocol\":";
    append_uint(out, f.proto);
    out += ",\"port\":";
    append_uint(out, f.port);
    out += '}';
  }
  out += "]}}";
}

void append_dnsquery_json(std::string& out, node_id from, node_id queried,
                          std::string_view name, int64_t lastseen,
                          const std::function<const std::string*(node_id)>& tail_of) {
  out += R"({"command":"dnsquery","argument":"","result":{"from":)";
  append_node(out, from, lastseen, tail_of(from));
  out += ",\"queriednode\":";
  append_node(out, queried, lastseen, tail_of(queried));
  out += ",\"query\":";
  out += json::serialize(json::value(json::string{name}));
  out += "}}";
}

void append_blocked_json(std::string& out, int64_t timestamp, node_id from, node_id to,
                         const std::function<const std::string*(node_id)>& tail_of) {
  out += R"({"command":"blocked","argument":"","result":{"timestamp":)";
  out += std::to_string(timestamp);
  out += ",\"from\":";
  append_node(out, from, timestamp, tail_of(from));
  out += ",\"to\":";
  append_node(out, to, timestamp, tail_of(to));
  out += "}}";
}

json::object status_to_json(const status_report& s) {
  json::object counters;
  for (auto& [k, v] : s.counters)
    counters[k] = v;
  json::object o;
  o["counters"] = std::move(counters);
  if (!s.last_error.empty())
    o["last_error"] = s.last_error;
  return o;
}

std::string error_json(std::string_view message) {
  return message_json("error", json::string{message}, "");
}

std::optional<node_id> json_node_id(const json::value& v) {
  if (v.is_int64())
    return v.as_int64() > 0 ? std::optional<node_id>{v.as_int64()} : std::nullopt;
  if (v.is_uint64())
    return v.as_uint64() > 0 && v.as_uint64() < static_cast<uint64_t>(INT64_MAX)
               ? std::optional<node_id>{static_cast<node_id>(v.as_uint64())}
               : std::nullopt;
  if (v.is_string()) {
    auto s = std::string_view{v.as_string()};
    node_id id = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), id);
    if (ec == std::errc{} && ptr == s.data() + s.size() && !s.empty() && id > 0)
      return id;
  }
  return std::nullopt;
}

std::string names_json(const std::map<ip_address, std::string>& names) {
  json::object o;
  for (auto& [ip, name] : names)
    o[ip.to_string()] = name;
  return message_json("names", "", o);
}

json::object user_names_to_json(const std::map<mac_address, std::string>& by_mac,
                                const std::map<ip_address, std::string>& by_ip) {
  json::object macs, ips;
  for (auto& [m, name] : by_mac)
    macs[m.to_string()] = name;
  for (auto& [ip, name] : by_ip)
    ips[ip.to_string()] = name;
  json::object o;
  o["by_mac"] = std::move(macs);
  o["by_ip"] = std::move(ips);
  return o;
}

void user_names_from_json(const json::value& v,
                          std::map<mac_address, std::string>& by_mac,
                          std::map<ip_address, std::string>& by_ip,
                          std::vector<std::string>& problems) {
  if (!v.is_object()) {
    problems.push_back("names: not an object");
    return;
  }
  auto& o = v.as_object();
  if (auto* m = o.if_contains("by_mac"); m && m->is_object())
    for (auto& [k, name] : m->as_object()) {
      auto mac = mac_address::parse(std::string_view{k.data(), k.size()});
      if (mac && name.is_string())
        by_mac[*mac] = std::string{name.as_string()};
      else
        problems.push_back("names: skipped entry " + std::string{k});
    }
  if (auto* m = o.if_contains("by_ip"); m && m->is_object())
    for (auto& [k, name] : m->as_object()) {
      auto ip = ip_address::parse(std::string_view{k.data(), k.size()});
      if (ip && name.is_string())
        by_ip[*ip] = std::string{name.as_string()};
      else
        problems.push_back("names: skipped entry " + std::string{k});
    }
}

} // namespace spin
