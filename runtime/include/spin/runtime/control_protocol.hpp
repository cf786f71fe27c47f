#pragma once

#include "spin/runtime/ip_address.hpp"
#include "spin/runtime/report.hpp"

#include <boost/json/value.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

/// The control vocabulary of SPIN (doc/control.md): the legacy commands of
/// `<root>/commands` with all their aliases, and the JSON-RPC 2.0 methods of
/// `<root>/jsonrpc/q`, the UNIX socket of spinctl and (later) HTTP. Both are
/// parsed into one control_request, carried out by the actors, and the
/// control_result is turned back into a reply in the dialect of the request.
/// Pure: no I/O, no actors.
namespace spin {

/// The address lists of the verdict (../shared/reference/spin-protocols.md
/// s.1.3): allow beats block; ignore hides from reports, never changes a
/// verdict.
enum class list_kind : uint8_t { block, allow, ignore };

/// The JSON-RPC list name: "block", "allow" or "ignore".
const char* list_kind_name(list_kind k);

/// The two vocabularies of legacy list messages: the documented one
/// (`blocks`, `ignores`, `allows`) and the one SPIN's own web client used
/// (`blocks`, `filters`, `alloweds`). A reply uses the vocabulary of its
/// request; broadcasts go out in both.
enum class list_vocabulary : uint8_t { documented, web_client };

/// The legacy message name of a list in a vocabulary ("blocks", "ignores",
/// "filters", "allows", "alloweds").
const char* list_message_name(list_kind k, list_vocabulary v);

/// What a request asks for, whichever protocol it came in.
enum class control_op : uint8_t {
  get_list,          ///< list
  add_list_node,     ///< list, node: every address of the node, now and later
  remove_list_node,  ///< list, node: exactly what add_list_node added
  add_list_ip,       ///< list, ip
  remove_list_ip,    ///< list, ip
  reset_ignores,     ///< the ignore list becomes the router's own addresses
  get_names,         ///< user names by address
  set_name,          ///< node, text (persisted)
  republish_node,    ///< node: publish its nodeInfo again (missingNodeInfo)
  ip2hostname,       ///< ip: the DNS names of an address
  list_methods,      ///< the JSON-RPC methods with their parameters
  list_devices,      ///< node objects of every device
  get_device,        ///< node: the node object
  list_device_flows, ///< mac: recent flows of a device
  set_flow_block,    ///< node, node2, flag: block (true) or unblock a pair
  get_flow_blocks,   ///< the node-pair blocks
  set_profile,       ///< mac, text (a profile id): the device's profile
  get_profiles,      ///< the profiles and which device has which
};

/// One request, validated: every field the op needs is present and well
/// formed (node ids > 0, a real IP address, a unicast MAC, a name of at
/// most 255 printable characters). Whether a node exists is for the actor
/// that carries it out to say.
struct control_request {
  enum class dialect : uint8_t { legacy, jsonrpc };

  control_op op = control_op::get_list;
  list_kind list = list_kind::block;
  node_id node = 0;
  node_id node2 = 0;
  ip_address ip;
  mac_address mac;
  std::string text;
  bool flag = false;

  dialect from = dialect::legacy;
  /// legacy: the command name as received (an alias, e.g. "blockdata");
  /// jsonrpc: the method name.
  std::string name;
  /// legacy: the argument as received (echoed by ip2hostname replies).
  boost::json::value argument;
  /// legacy: the vocabulary of list replies.
  list_vocabulary vocabulary = list_vocabulary::documented;
  /// jsonrpc: the request id (string, number or null).
  boost::json::value id;
  /// jsonrpc: a request without "id" gets no response.
  bool notification = false;
};

/// True for the ops that change state (and are followed by broadcasts).
bool control_op_changes_state(control_op op);

/// JSON-RPC 2.0 error codes.
namespace rpc_error {
constexpr int parse_error = -32700;
constexpr int invalid_request = -32600;
constexpr int method_not_found = -32601;
constexpr int invalid_params = -32602;
constexpr int internal_error = -32603;
} // namespace rpc_error

/// What carrying out a request gave.
struct control_result {
  bool ok = true;
  /// On failure: a JSON-RPC error code (invalid_params for an unknown node
  /// or a bad value, internal_error when the change could not be saved or
  /// enforced) and a readable message.
  int code = 0;
  std::string message;
  /// On success: the result. For legacy replies this is the `result` member
  /// (a list of address strings, a names object, a list of domains); null
  /// for ops that have no result.
  boost::json::value value;

  static control_result success(boost::json::value v = nullptr);
  static control_result failure(int code, std::string message);
};

/// Parses a `<root>/commands` payload, `{"command": NAME, "argument": ARG}`,
/// accepting every name and alias of doc/control.md (node ids as numbers or
/// numeric strings). Returns the request, or the complete error reply to
/// publish (`{"command":"error","argument":"<message>","result":""}`):
/// "Unknown command: <name>" for an unknown name, a message naming the
/// command and the problem otherwise.
std::variant<control_request, std::string> parse_legacy_command(std::string_view payload);

/// Parses one JSON-RPC 2.0 request (named parameters). Returns the request,
/// or the complete error response to send (with the request's id when it
/// could be read, else null): -32700 for text that is not JSON, -32600 for
/// anything that is not a request object (batches included: not supported),
/// -32601 for an unknown method, -32602 for missing, extra-typed or invalid
/// params. An error for a notification is still returned (the caller may
/// drop it).
std::variant<control_request, std::string>
parse_jsonrpc_request(std::string_view payload);

/// The legacy reply to a carried-out request, or an empty string when the
/// request has no reply of its own (changes: their list broadcasts are the
/// acknowledgement; republish_node). Errors become `error` messages.
std::string legacy_reply(const control_request& r, const control_result& res);

/// The JSON-RPC response (`{"jsonrpc":"2.0","id":..,"result":..}` or
/// `..."error":{"code":..,"message":..}}`); empty for a notification.
std::string jsonrpc_reply(const control_request& r, const control_result& res);

/// A list message: {"command": <list name in v>, "argument": "", "result": [ips]}.
std::string list_message(list_kind k, list_vocabulary v,
                         const std::vector<ip_address>& ips);

/// The list_rpc_methods result: [{"name": .., "params": {name: type}, "description":
/// ..}].
boost::json::value rpc_methods_description();

/// Per-client token buckets for commands: `rate` requests per second with a
/// burst of `burst`. At most `max_clients` buckets are kept (the least
/// recently used goes first), so a flood of client names cannot grow memory.
class command_rate_limiter {
public:
  command_rate_limiter(double rate, double burst, size_t max_clients = 1024);

  /// True if `client` may send a request at `now`; takes a token.
  bool allow(const std::string& client, std::chrono::steady_clock::time_point now);

  size_t clients() const { return buckets_.size(); }
  double rate() const { return rate_; }

private:
  struct bucket {
    double tokens;
    std::chrono::steady_clock::time_point last;
  };
  double rate_;
  double burst_;
  size_t max_clients_;
  std::unordered_map<std::string, bucket> buckets_;
};

} // namespace spin
