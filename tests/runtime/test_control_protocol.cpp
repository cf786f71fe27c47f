#include "spin/runtime/control_protocol.hpp"
#include "spin/runtime/spin_json.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>

#include "../support/frames.hpp"
#include <random>
#include <set>

using namespace spin;
using namespace spin::test;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

control_request legacy_ok(std::string_view payload) {
  auto res = parse_legacy_command(payload);
  INFO(payload);
  if (auto* err = std::get_if<std::string>(&res))
    FAIL("unexpected error: " << *err);
  return std::get<control_request>(res);
}

// The `argument` of the error reply (the message).
std::string legacy_error(std::string_view payload) {
  auto res = parse_legacy_command(payload);
  INFO(payload);
  REQUIRE(std::holds_alternative<std::string>(res));
  auto v = json::parse(std::get<std::string>(res));
  auto& o = v.as_object();
  CHECK(o.at("command") == "error");
  CHECK(o.at("result") == "");
  return std::string{o.at("argument").as_string()};
}

control_request rpc_ok(std::string_view payload) {
  auto res = parse_jsonrpc_request(payload);
  INFO(payload);
  if (auto* err = std::get_if<std::string>(&res))
    FAIL("unexpected error: " << *err);
  return std::get<control_request>(res);
}

struct rpc_err {
  json::value id;
  int64_t code = 0;
  std::string message;
};

rpc_err rpc_error_of(std::string_view payload) {
  auto res = parse_jsonrpc_request(payload);
  INFO(payload);
  REQUIRE(std::holds_alternative<std::string>(res));
  auto v = json::parse(std::get<std::string>(res));
  auto& o = v.as_object();
  CHECK(o.at("jsonrpc") == "2.0");
  CHECK(o.size() == 3);
  auto& e = o.at("error").as_object();
  return {o.at("id"), e.at("code").as_int64(), std::string{e.at("message").as_string()}};
}

std::string rpc(std::string_view method, std::string_view params) {
  std::string s = R"({"jsonrpc":"2.0","id":7,"method":")";
  s += method;
  s += '"';
  if (!params.empty()) {
    s += R"(,"params":)";
    s += params;
  }
  s += '}';
  return s;
}

} // namespace

TEST_CASE("every legacy name and alias maps to its operation", "[control]") {
  using op = control_op;
  using lk = list_kind;
  constexpr auto doc = list_vocabulary::documented;
  constexpr auto web = list_vocabulary::web_client;
  struct row {
    const char* name;
    const char* argument;
    op o;
    lk list;
    list_vocabulary vocabulary;
  };
  const row rows[] = {
      {"get_blocks", "", op::get_list, lk::block, doc},
      {"get_ignores", "", op::get_list, lk::ignore, doc},
      {"get_filters", "", op::get_list, lk::ignore, web},
      {"get_alloweds", "", op::get_list, lk::allow, web},
      {"get_allows", "", op::get_list, lk::allow, doc},
      {"get_names", "", op::get_names, lk::block, doc},
      {"add_block_node", "12", op::add_list_node, lk::block, doc},
      {"blockdata", "12", op::add_list_node, lk::block, web},
      {"remove_block_node", "12", op::remove_list_node, lk::block, doc},
      {"stopblockdata", "12", op::remove_list_node, lk::block, web},
      {"remove_block_ip", R"("192.0.2.1")", op::remove_list_ip, lk::block, doc},
      {"add_ignore_node", "12", op::add_list_node, lk::ignore, doc},
      {"add_filter", "12", op::add_list_node, lk::ignore, web},
      {"remove_ignore_ip", R"("192.0.2.1")", op::remove_list_ip, lk::ignore, doc},
      {"remove_filter", R"("192.0.2.1")", op::remove_list_ip, lk::ignore, web},
      {"remove_ignore_node", "12", op::remove_list_node, lk::ignore, doc},
      {"reset_ignores", "", op::reset_ignores, lk::ignore, doc},
      {"reset_filters", "", op::reset_ignores, lk::ignore, web},
      {"add_allow_node", "12", op::add_list_node, lk::allow, doc},
      {"allowdata", "12", op::add_list_node, lk::allow, web},
      {"remove_allow_node", "12", op::remove_list_node, lk::allow, doc},
      {"stopallowdata", "12", op::remove_list_node, lk::allow, web},
      {"remove_allow_ip", R"("192.0.2.1")", op::remove_list_ip, lk::allow, doc},
      {"missingNodeInfo", "12", op::republish_node, lk::block, doc},
      {"ip2hostname", R"("192.0.2.1")", op::ip2hostname, lk::block, doc},
  };
  for (auto& row : rows) {
    std::string payload = R"({"command":")" + std::string{row.name} + '"';
    if (*row.argument)
      payload += R"(,"argument":)" + std::string{row.argument};
    payload += '}';
    auto r = legacy_ok(payload);
    INFO(row.name);
    CHECK(r.from == control_request::dialect::legacy);
    CHECK(r.name == row.name);
    CHECK(r.op == row.o);
    if (row.o == op::get_list || row.o == op::add_list_node ||
        row.o == op::remove_list_node || row.o == op::remove_list_ip ||
        row.o == op::reset_ignores)
      CHECK(r.list == row.list);
    CHECK(r.vocabulary == row.vocabulary);
    if (std::string_view{row.argument} == "12")
      CHECK(r.node == 12);
    if (std::string_view{row.argument} == R"("192.0.2.1")")
      CHECK(r.ip == ip("192.0.2.1"));
    if (*row.argument)
      CHECK(json::serialize(r.argument) == row.argument);
    else
      CHECK(r.argument.is_null());
  }

  auto n =
      legacy_ok(R"({"command":"add_name","argument":{"node_id":"5","name":"hall"}})");
  CHECK(n.op == op::set_name);
  CHECK(n.node == 5);
  CHECK(n.text == "hall");
  CHECK(json::serialize(n.argument) == R"({"node_id":"5","name":"hall"})");
}

TEST_CASE("legacy node ids, addresses and names are validated", "[control]") {
  SECTION("node ids as numbers or numeric strings") {
    CHECK(legacy_ok(R"({"command":"blockdata","argument":"12"})").node == 12);
    CHECK(legacy_ok(R"({"command":"blockdata","argument":12})").node == 12);
    CHECK(legacy_ok(R"({"command":"blockdata","argument":9007199254740993})").node ==
          9007199254740993);
    const std::string bad_id =
        "add_block_node: the argument must be a node id (a number or a numeric string)";
    for (auto arg : {"-3", "0", "1.5", R"("12a")", "true", R"("")", R"("-1")", R"(" 12")",
                     "[12]", R"({"id":12})", "1e3", "18446744073709551615"}) {
      INFO(arg);
      CHECK(legacy_error(R"({"command":"add_block_node","argument":)" + std::string{arg} +
                         "}") == bad_id);
    }
    CHECK(legacy_error(R"({"command":"add_block_node"})") ==
          "add_block_node: missing argument: it must be a node id (a number or a "
          "numeric string)");
    CHECK(legacy_error(R"({"command":"missingNodeInfo","argument":null})") ==
          "missingNodeInfo: missing argument: it must be a node id (a number or a "
          "numeric string)");
  }
  SECTION("IP addresses") {
    CHECK(legacy_ok(R"({"command":"remove_filter","argument":"2001:db8::1"})").ip ==
          ip("2001:db8::1"));
    for (auto arg :
         {R"("192.0.2")", R"("192.0.2.256")", R"("host.example")", R"("")", "3221225985",
          R"(["192.0.2.1"])", R"("192.0.2.1\u0000x")", R"(" 192.0.2.1")"}) {
      INFO(arg);
      CHECK(legacy_error(R"({"command":"remove_block_ip","argument":)" +
                         std::string{arg} + "}") ==
            "remove_block_ip: the argument must be an IP address (a string such as "
            "\"192.0.2.1\" or \"2001:db8::1\")");
    }
    CHECK(legacy_error(R"({"command":"ip2hostname"})")
              .rfind("ip2hostname: missing argument", 0) == 0);
  }
  SECTION("names") {
    auto add = [](std::string_view arg) {
      return R"({"command":"add_name","argument":)" + std::string{arg} + "}";
    };
    CHECK(legacy_ok(add(R"({"node_id":3,"name":""})")).text.empty()); // clears
    CHECK(legacy_ok(add(R"({"node_id":3,"name":"Küche \"oben\""})")).text ==
          "Küche \"oben\"");
    std::string longest(255, 'x');
    CHECK(legacy_ok(add(R"({"node_id":3,"name":")" + longest + "\"}")).text == longest);
    // 255 characters, 510 bytes: characters count, not bytes.
    std::string wide;
    for (int i = 0; i < 255; ++i)
      wide += "\xc3\xa9";
    CHECK(legacy_ok(add(R"({"node_id":3,"name":")" + wide + "\"}")).text == wide);

    const std::string bad_name = "add_name: name must be a string of at most 255 "
                                 "characters without control characters";
    for (auto name : {"12", "null", "true", R"(["x"])", R"("tab\there")", R"("nl\n")",
                      R"("del\u007f")", R"("c1\u0085")", R"("\u0000")"}) {
      INFO(name);
      CHECK(legacy_error(add(R"({"node_id":3,"name":)" + std::string{name} + "}")) ==
            bad_name);
    }
    CHECK(legacy_error(add(R"({"node_id":3,"name":")" + longest + "y\"}")) == bad_name);
    CHECK(legacy_error(add(R"({"node_id":3,"name":")" + wide + "\xc3\xa9\"}")) ==
          bad_name);
    CHECK(legacy_error(add(R"({"node_id":0,"name":"x"})")) ==
          "add_name: node_id must be a node id (a number or a numeric string)");
    CHECK(legacy_error(add(R"({"node_id":"abc","name":"x"})")) ==
          "add_name: node_id must be a node id (a number or a numeric string)");
    CHECK(legacy_error(add(R"({"name":"x"})")) ==
          "add_name: missing node_id in the argument");
    CHECK(legacy_error(add(R"({"node_id":1})")) ==
          "add_name: missing name in the argument");
    for (auto arg : {"12", R"("x")", "[]", "null"}) {
      INFO(arg);
      CHECK(legacy_error(add(arg)) == "add_name: the argument must be an object "
                                      "{\"node_id\": <node id>, \"name\": <string>}");
    }
    CHECK(legacy_error(R"({"command":"add_name"})") ==
          "add_name: the argument must be an object {\"node_id\": <node id>, \"name\": "
          "<string>}");
  }
  SECTION("commands without an argument ignore one") {
    auto r = legacy_ok(R"({"command":"get_filters","argument":{"anything":[1,2]}})");
    CHECK(r.op == control_op::get_list);
    CHECK(json::serialize(r.argument) == R"({"anything":[1,2]})");
  }
}

TEST_CASE("malformed legacy payloads get error replies", "[control]") {
  CHECK(legacy_error("not json at all")
            .rfind("Invalid command: the payload is not JSON", 0) == 0);
  CHECK(legacy_error("").rfind("Invalid command: the payload is not JSON", 0) == 0);
  CHECK(legacy_error(R"({"command":"get_blocks")")
            .rfind("Invalid command: the payload is not JSON", 0) == 0);
  CHECK(legacy_error("\"\xff\"").rfind("Invalid command: the payload is not JSON", 0) ==
        0);
  CHECK(legacy_error("[1,2]") == "Invalid command: the payload is not a JSON object");
  CHECK(legacy_error("42") == "Invalid command: the payload is not a JSON object");
  CHECK(legacy_error(R"({"argument":12})") ==
        "Invalid command: no \"command\" member with a string value");
  CHECK(legacy_error(R"({"command":12})") ==
        "Invalid command: no \"command\" member with a string value");
  CHECK(legacy_error(R"({"command":"frobnicate"})") == "Unknown command: frobnicate");
  CHECK(legacy_error(R"({"command":"GET_BLOCKS"})") == "Unknown command: GET_BLOCKS");
  CHECK(legacy_error(R"({"command":""})") == "Unknown command: ");

  // Absurdly long names are cut to 64 bytes, at a character boundary.
  CHECK(legacy_error(R"({"command":")" + std::string(5000, 'a') + "\"}") ==
        "Unknown command: " + std::string(64, 'a') + "...");
  std::string accents;
  for (int i = 0; i < 100; ++i)
    accents += "\xc3\xa9";
  auto msg = legacy_error(R"({"command":"x)" + accents + "\"}");
  CHECK(msg == "Unknown command: x" + accents.substr(0, 62) + "...");

  // The exact reply text.
  auto res = parse_legacy_command(R"({"command":"frobnicate"})");
  CHECK(std::get<std::string>(res) ==
        R"({"command":"error","argument":"Unknown command: frobnicate","result":""})");
}

TEST_CASE("every JSON-RPC method parses with its parameters", "[control]") {
  using op = control_op;
  struct row {
    const char* method;
    const char* params;
    op o;
  };
  const row rows[] = {
      {"list_rpc_methods", "", op::list_methods},
      {"list_devices", "{}", op::list_devices},
      {"get_device_data", R"({"node":4})", op::get_device},
      {"list_device_flows", R"({"device":"AA:bb:cc:00:00:01"})", op::list_device_flows},
      {"set_device_name", R"({"node":"4","name":"tv"})", op::set_name},
      {"add_iplist_node", R"({"list":"block","node":4})", op::add_list_node},
      {"remove_iplist_node", R"({"list":"allow","node":4})", op::remove_list_node},
      {"add_iplist_ip", R"({"list":"ignore","ip":"192.0.2.9"})", op::add_list_ip},
      {"remove_iplist_ip", R"({"ip":"2001:db8::9","list":"block"})", op::remove_list_ip},
      {"list_iplist", R"({"list":"allow"})", op::get_list},
      {"reset_iplist_ignore", "", op::reset_ignores},
      {"set_flow_block", R"({"node1":4,"node2":"5","block":1})", op::set_flow_block},
      {"get_flow_block", "null", op::get_flow_blocks},
      {"get_names", "", op::get_names},
      {"ip2hostname", R"({"ip":"192.0.2.9"})", op::ip2hostname},
      {"republish_node", R"({"node":4})", op::republish_node},
      {"set_device_profile", R"({"device":"aa:bb:cc:00:00:01","profile":"deny_all"})",
       op::set_profile},
      {"list_profiles", "", op::get_profiles},
  };
  std::set<std::string> names;
  for (auto& row : rows) {
    INFO(row.method);
    auto r = rpc_ok(rpc(row.method, row.params));
    CHECK(r.from == control_request::dialect::jsonrpc);
    CHECK(r.op == row.o);
    CHECK(r.name == row.method);
    CHECK(r.id == 7);
    CHECK_FALSE(r.notification);
    names.insert(row.method);
  }
  // The description lists exactly these methods.
  std::set<std::string> described;
  auto description = rpc_methods_description();
  for (auto& m : description.as_array())
    described.insert(std::string{m.as_object().at("name").as_string()});
  CHECK(described == names);

  auto r = rpc_ok(rpc("get_device_data", R"({"node":4})"));
  CHECK(r.node == 4);
  r = rpc_ok(rpc("list_device_flows", R"({"device":"AA:bb:cc:00:00:01"})"));
  CHECK(r.mac == mac("aa:bb:cc:00:00:01"));
  r = rpc_ok(rpc("set_device_name", R"({"node":"4","name":"tv"})"));
  CHECK(r.node == 4);
  CHECK(r.text == "tv");
  r = rpc_ok(rpc("add_iplist_node", R"({"list":"block","node":4})"));
  CHECK(r.list == list_kind::block);
  r = rpc_ok(rpc("remove_iplist_node", R"({"list":"allow","node":4})"));
  CHECK(r.list == list_kind::allow);
  r = rpc_ok(rpc("add_iplist_ip", R"({"list":"ignore","ip":"192.0.2.9"})"));
  CHECK(r.list == list_kind::ignore);
  CHECK(r.ip == ip("192.0.2.9"));
  r = rpc_ok(rpc("set_flow_block", R"({"node1":4,"node2":"5","block":1})"));
  CHECK(r.node == 4);
  CHECK(r.node2 == 5);
  CHECK(r.flag);
  for (auto [block, flag] : {std::pair{"0", false}, {"true", true}, {"false", false}}) {
    INFO(block);
    auto p = std::string{R"({"node1":4,"node2":5,"block":)"} + block + "}";
    CHECK(rpc_ok(rpc("set_flow_block", p)).flag == flag);
  }

  // ids: string, number, null; absent = notification.
  CHECK(rpc_ok(R"({"jsonrpc":"2.0","id":"abc","method":"list_devices"})").id == "abc");
  CHECK(rpc_ok(R"({"jsonrpc":"2.0","id":2.5,"method":"list_devices"})").id == 2.5);
  auto null_id = rpc_ok(R"({"jsonrpc":"2.0","id":null,"method":"list_devices"})");
  CHECK(null_id.id.is_null());
  CHECK_FALSE(null_id.notification);
  auto note = rpc_ok(R"({"jsonrpc":"2.0","method":"reset_iplist_ignore"})");
  CHECK(note.notification);
  CHECK(note.op == op::reset_ignores);
}

TEST_CASE("JSON-RPC parameters are checked strictly", "[control]") {
  auto invalid = [](std::string_view method, std::string_view params) {
    auto e = rpc_error_of(rpc(method, params));
    CHECK(e.code == rpc_error::invalid_params);
    CHECK(e.id == 7);
    return e.message;
  };
  CHECK(invalid("set_flow_block", R"({"node1":1,"block":1})") ==
        "set_flow_block: missing parameter node2");
  CHECK(invalid("get_device_data", "") == "get_device_data: missing parameter node");
  CHECK(invalid("get_device_data", "{}") == "get_device_data: missing parameter node");
  CHECK(invalid("get_device_data", R"({"nod":1})") ==
        "get_device_data: unknown parameter nod");
  CHECK(invalid("get_device_data", R"({"node":1,"x":1,"y":2})") ==
        "get_device_data: unknown parameters x, y");
  CHECK(invalid("list_devices", R"({"verbose":true})") ==
        "list_devices: unknown parameter verbose (it takes none)");
  CHECK(invalid("get_device_data", "[1]") ==
        "get_device_data: params must be an object (named parameters)");
  CHECK(invalid("list_devices", "[]") ==
        "list_devices: params must be an object (named parameters)");
  CHECK(invalid("list_devices", R"("x")") ==
        "list_devices: params must be an object (named parameters)");
  for (auto node : {"0", "-1", "1.5", R"("12a")", "true", "null", R"("")"}) {
    INFO(node);
    CHECK(invalid("get_device_data", R"({"node":)" + std::string{node} + "}") ==
          "get_device_data: node must be a node id (a positive integer or a numeric "
          "string)");
  }
  for (auto list : {R"("b")", R"("blocks")", R"("Block")", R"("")", "1", "null"}) {
    INFO(list);
    CHECK(invalid("list_iplist", R"({"list":)" + std::string{list} + "}") ==
          "list_iplist: list must be \"block\", \"allow\" or \"ignore\"");
  }
  for (auto device :
       {R"("01:00:5e:00:00:01")", R"("ff:ff:ff:ff:ff:ff")", R"("00:00:00:00:00:00")",
        R"("aa:bb:cc:dd:ee")", R"("aabbccddeeff")", R"("zz:bb:cc:dd:ee:ff")", "12"}) {
    INFO(device);
    CHECK(invalid("list_device_flows", R"({"device":)" + std::string{device} + "}") ==
          "list_device_flows: device must be the unicast MAC address of a device, such "
          "as \"aa:bb:cc:dd:ee:ff\"");
  }
  CHECK(invalid("add_iplist_ip", R"({"list":"block","ip":"300.1.1.1"})") ==
        "add_iplist_ip: ip must be an IP address (a string such as \"192.0.2.1\" or "
        "\"2001:db8::1\")");
  CHECK(invalid("set_device_name", R"({"node":1,"name":"a\nb"})") ==
        "set_device_name: name must be a string of at most 255 characters without "
        "control characters");
  CHECK(invalid("set_device_name", R"({"node":1,"name":7})") ==
        "set_device_name: name must be a string of at most 255 characters without "
        "control characters");
  CHECK(invalid("set_flow_block", R"({"node1":3,"node2":"3","block":1})") ==
        "set_flow_block: node1 and node2 must be different nodes");
  for (auto block : {"2", "-1", R"("1")", "null", "0.0"}) {
    INFO(block);
    CHECK(invalid("set_flow_block",
                  R"({"node1":3,"node2":4,"block":)" + std::string{block} + "}") ==
          "set_flow_block: block must be 0, 1, true or false");
  }
}

TEST_CASE("JSON-RPC envelope errors echo the id when there is one", "[control]") {
  auto e = rpc_error_of("{not json");
  CHECK(e.code == rpc_error::parse_error);
  CHECK(e.id.is_null());
  CHECK(e.message.rfind("Parse error", 0) == 0);

  e = rpc_error_of(R"([{"jsonrpc":"2.0","id":1,"method":"list_devices"}])");
  CHECK(e.code == rpc_error::invalid_request);
  CHECK(e.id.is_null());
  CHECK(e.message == "Invalid Request: batches are not supported");

  e = rpc_error_of("17");
  CHECK(e.code == rpc_error::invalid_request);
  CHECK(e.id.is_null());

  e = rpc_error_of(R"({"jsonrpc":"1.0","id":"q1","method":"list_devices"})");
  CHECK(e.code == rpc_error::invalid_request);
  CHECK(e.id == "q1");
  CHECK(e.message == "Invalid Request: jsonrpc must be \"2.0\"");

  e = rpc_error_of(R"({"id":3,"method":"list_devices"})");
  CHECK(e.code == rpc_error::invalid_request);
  CHECK(e.id == 3);

  e = rpc_error_of(R"({"jsonrpc":"2.0","id":4,"method":12})");
  CHECK(e.code == rpc_error::invalid_request);
  CHECK(e.id == 4);
  CHECK(e.message == "Invalid Request: method must be a string");

  e = rpc_error_of(R"({"jsonrpc":"2.0","id":{"x":1},"method":"list_devices"})");
  CHECK(e.code == rpc_error::invalid_request);
  CHECK(e.id.is_null());
  CHECK(e.message == "Invalid Request: id must be a string, a number or null");

  e = rpc_error_of(R"({"jsonrpc":"2.0","id":"x","method":"frobnicate"})");
  CHECK(e.code == rpc_error::method_not_found);
  CHECK(e.id == "x");
  CHECK(e.message == "Method not found: frobnicate");

  // Errors for notifications are returned too (the caller may drop them).
  e = rpc_error_of(R"({"jsonrpc":"2.0","method":"frobnicate"})");
  CHECK(e.code == rpc_error::method_not_found);
  CHECK(e.id.is_null());

  // A number beyond a double's range cannot be echoed (it would be written
  // as Infinity, which is not JSON).
  e = rpc_error_of(R"({"jsonrpc":"2.0","id":1e400,"method":"list_devices"})");
  CHECK(e.code == rpc_error::parse_error);
  CHECK(e.id.is_null());
  CHECK(e.message == "Parse error: the request is not JSON (a number is out of range)");
  CHECK(legacy_error(R"({"command":"get_blocks","argument":[-1e999]})") ==
        "Invalid command: the payload is not JSON (a number is out of range)");

  // Exact text.
  auto res = parse_jsonrpc_request(R"({"jsonrpc":"2.0","id":9,"method":"nope"})");
  CHECK(
      std::get<std::string>(res) ==
      R"({"jsonrpc":"2.0","id":9,"error":{"code":-32601,"message":"Method not found: nope"}})");
}

TEST_CASE("replies have the exact reference format", "[control]") {
  SECTION("legacy") {
    auto r = legacy_ok(R"({"command":"get_filters"})");
    json::array ips{"192.0.2.1", "2001:db8::1"};
    CHECK(legacy_reply(r, control_result::success(ips)) ==
          R"({"command":"filters","argument":"","result":["192.0.2.1","2001:db8::1"]})");
    r = legacy_ok(R"({"command":"get_ignores","argument":"whatever"})");
    CHECK(legacy_reply(r, control_result::success(json::array{})) ==
          R"({"command":"ignores","argument":"","result":[]})");
    r = legacy_ok(R"({"command":"get_alloweds"})");
    CHECK(legacy_reply(r, control_result::success(json::array{})) ==
          R"({"command":"alloweds","argument":"","result":[]})");

    r = legacy_ok(R"({"command":"add_name","argument":{"node_id":2,"name":"tv"}})");
    CHECK(legacy_reply(r, control_result::success(json::object{{"192.0.2.7", "tv"}})) ==
          R"({"command":"names","argument":"","result":{"192.0.2.7":"tv"}})");
    r = legacy_ok(R"({"command":"get_names"})");
    CHECK(legacy_reply(r, control_result::success(json::object{})) ==
          R"({"command":"names","argument":"","result":{}})");

    r = legacy_ok(R"({"command":"ip2hostname","argument":"198.51.100.7"})");
    CHECK(
        legacy_reply(r, control_result::success(json::array{"www.shop.example"})) ==
        R"({"command":"ip2hostname","argument":"198.51.100.7","result":["www.shop.example"]})");

    r = legacy_ok(R"({"command":"blockdata","argument":"12"})");
    CHECK(legacy_reply(r, control_result::success()).empty());
    CHECK(legacy_reply(r, control_result::failure(rpc_error::invalid_params,
                                                  "blockdata: unknown node 12")) ==
          R"({"command":"error","argument":"blockdata: unknown node 12","result":""})");
    r = legacy_ok(R"({"command":"missingNodeInfo","argument":12})");
    CHECK(legacy_reply(r, control_result::success()).empty());
  }
  SECTION("JSON-RPC") {
    auto r = rpc_ok(
        R"({"jsonrpc":"2.0","id":"a","method":"list_iplist","params":{"list":"block"}})");
    CHECK(jsonrpc_reply(r, control_result::success(json::array{"192.0.2.1"})) ==
          R"({"jsonrpc":"2.0","id":"a","result":["192.0.2.1"]})");
    r = rpc_ok(R"({"jsonrpc":"2.0","id":3,"method":"reset_iplist_ignore"})");
    CHECK(jsonrpc_reply(r, control_result::success()) ==
          R"({"jsonrpc":"2.0","id":3,"result":null})");
    CHECK(
        jsonrpc_reply(r, control_result::failure(rpc_error::internal_error,
                                                 "the list could not be saved")) ==
        R"({"jsonrpc":"2.0","id":3,"error":{"code":-32603,"message":"the list could not be saved"}})");
    r = rpc_ok(R"({"jsonrpc":"2.0","method":"reset_iplist_ignore"})");
    CHECK(jsonrpc_reply(r, control_result::success()).empty());
    CHECK(jsonrpc_reply(r, control_result::failure(rpc_error::internal_error, "x"))
              .empty());
  }
  SECTION("list messages") {
    CHECK(list_message(list_kind::ignore, list_vocabulary::web_client,
                       {ip("192.0.2.1"), ip("2001:db8::5")}) ==
          R"({"command":"filters","argument":"","result":["192.0.2.1","2001:db8::5"]})");
    CHECK(list_message(list_kind::allow, list_vocabulary::documented, {}) ==
          R"({"command":"allows","argument":"","result":[]})");
    CHECK(list_message(list_kind::block, list_vocabulary::web_client, {ip("10.0.0.2")}) ==
          R"({"command":"blocks","argument":"","result":["10.0.0.2"]})");
    CHECK(std::string{list_message_name(list_kind::allow, list_vocabulary::web_client)} ==
          "alloweds");
    CHECK(std::string{list_message_name(list_kind::ignore,
                                        list_vocabulary::documented)} == "ignores");
    CHECK(std::string{list_kind_name(list_kind::ignore)} == "ignore");
  }
  SECTION("method descriptions") {
    auto d = rpc_methods_description();
    bool found = false;
    for (auto& m : d.as_array()) {
      auto& o = m.as_object();
      CHECK(o.at("description").as_string().size() > 10);
      if (o.at("name") == "set_flow_block") {
        found = true;
        CHECK(json::serialize(o.at("params")) ==
              R"({"node1":"integer","node2":"integer","block":"boolean"})");
      }
      if (o.at("name") == "list_devices")
        CHECK(o.at("params").as_object().empty());
    }
    CHECK(found);
  }
  CHECK(control_op_changes_state(control_op::add_list_ip));
  CHECK(control_op_changes_state(control_op::set_name));
  CHECK(control_op_changes_state(control_op::set_flow_block));
  CHECK_FALSE(control_op_changes_state(control_op::get_list));
  CHECK_FALSE(control_op_changes_state(control_op::republish_node));
}

TEST_CASE("the command rate limiter", "[control]") {
  using clock = std::chrono::steady_clock;
  auto t0 = clock::time_point{} + 1000s;

  SECTION("burst, refusal, refill") {
    command_rate_limiter lim(2.0, 5.0);
    for (int i = 0; i < 5; ++i)
      CHECK(lim.allow("a", t0));
    CHECK_FALSE(lim.allow("a", t0));
    CHECK_FALSE(lim.allow("a", t0 + 100ms)); // 0.2 tokens
    CHECK(lim.allow("b", t0));               // others are not affected
    CHECK(lim.allow("a", t0 + 500ms));       // 1 token
    CHECK_FALSE(lim.allow("a", t0 + 500ms));
    // Time going backwards gives nothing.
    CHECK_FALSE(lim.allow("a", t0));
    // A long pause refills to the burst, not beyond.
    for (int i = 0; i < 5; ++i)
      CHECK(lim.allow("a", t0 + 3600s));
    CHECK_FALSE(lim.allow("a", t0 + 3600s));
  }
  SECTION("the number of clients is bounded, least recently used first") {
    command_rate_limiter lim(1.0, 1.0, 3);
    CHECK(lim.allow("a", t0));
    CHECK(lim.allow("b", t0 + 1ms));
    CHECK(lim.allow("c", t0 + 2ms));
    CHECK_FALSE(lim.allow("a", t0 + 3ms)); // a is now the most recent
    CHECK(lim.clients() == 3);
    CHECK(lim.allow("d", t0 + 4ms)); // evicts b
    CHECK(lim.clients() == 3);
    CHECK_FALSE(lim.allow("a", t0 + 5ms)); // a kept its empty bucket
    CHECK_FALSE(lim.allow("c", t0 + 6ms)); // c too
    CHECK(lim.allow("b", t0 + 7ms));       // b came back with a fresh bucket
    for (int i = 0; i < 10000; ++i)
      lim.allow("flood" + std::to_string(i), t0 + 1s + std::chrono::microseconds(i));
    CHECK(lim.clients() == 3);
  }
}

TEST_CASE("random and mutated payloads never crash the parsers", "[control]") {
  const std::vector<std::string> seeds = {
      R"({"command":"add_block_node","argument":"12"})",
      R"({"command":"add_name","argument":{"node_id":3,"name":"hall"}})",
      R"({"command":"ip2hostname","argument":"2001:db8::1"})",
      R"({"command":"get_filters"})",
      R"({"jsonrpc":"2.0","id":1,"method":"set_flow_block","params":{"node1":1,"node2":2,"block":true}})",
      R"({"jsonrpc":"2.0","id":"x","method":"add_iplist_ip","params":{"list":"allow","ip":"192.0.2.1"}})",
      R"({"jsonrpc":"2.0","method":"list_device_flows","params":{"device":"aa:bb:cc:dd:ee:ff"}})",
      R"({"jsonrpc":"2.0","id":1e400,"method":"set_device_name","params":{"node":"7","name":"é"}})",
  };
  std::mt19937 rng(20240501);
  auto pick = [&](size_t n) {
    return std::uniform_int_distribution<size_t>(0, n - 1)(rng);
  };
  const std::string alphabet = "{}[]\":,0123456789.-+eE truefalsnul\\u\x01\xc3\xa9\xff";

  auto check_reply = [](const std::string& text) {
    if (text.empty())
      return;
    json::error_code ec;
    json::parse(text, ec);
    CHECK_FALSE(ec);
  };
  size_t requests = 0;
  for (int i = 0; i < 2400; ++i) {
    std::string s = seeds[pick(seeds.size())];
    switch (i % 4) {
    case 0: // truncation
      s.resize(pick(s.size() + 1));
      break;
    case 1: // byte flips
      for (size_t k = 0, n = 1 + pick(4); k < n; ++k)
        s[pick(s.size())] ^= static_cast<char>(1u << pick(8));
      break;
    case 2: // replaced bytes from a JSON-ish alphabet
      for (size_t k = 0, n = 1 + pick(6); k < n; ++k)
        s[pick(s.size())] = alphabet[pick(alphabet.size())];
      break;
    case 3: // random text
      s.clear();
      for (size_t k = 0, n = pick(80); k < n; ++k)
        s += alphabet[pick(alphabet.size())];
      break;
    }
    INFO(s);
    for (auto parse : {&parse_legacy_command, &parse_jsonrpc_request}) {
      auto res = parse(s);
      if (auto* err = std::get_if<std::string>(&res)) {
        REQUIRE_FALSE(err->empty());
        json::error_code ec;
        json::parse(*err, ec);
        REQUIRE_FALSE(ec);
      } else {
        ++requests;
        auto& r = std::get<control_request>(res);
        auto ok = control_result::success(json::array{"x"});
        auto bad = control_result::failure(rpc_error::invalid_params, "no");
        check_reply(legacy_reply(r, ok));
        check_reply(legacy_reply(r, bad));
        check_reply(jsonrpc_reply(r, ok));
        check_reply(jsonrpc_reply(r, bad));
      }
    }
  }
  CHECK(requests > 0); // some mutations stay valid requests
}
