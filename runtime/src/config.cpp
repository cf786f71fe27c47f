#include "spin/runtime/config.hpp"

#include "spin/runtime/uci.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <sstream>

namespace spin {

namespace {

using sv = std::string_view;

std::string canonical(sv name) {
  std::string s{name};
  std::replace(s.begin(), s.end(), '-', '_');
  return s;
}

std::vector<std::string> split_words(sv text) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : text) {
    if (c == ',' || std::isspace(static_cast<unsigned char>(c))) {
      if (!cur.empty())
        out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!cur.empty())
    out.push_back(std::move(cur));
  return out;
}

// Splits a list whose entries may contain spaces (file names): entries are
// separated by commas or by newlines (UCI `list` lines), and trimmed.
std::vector<std::string> split_list(sv text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    auto end = text.find_first_of(",\n", start);
    if (end == sv::npos)
      end = text.size();
    auto item = text.substr(start, end - start);
    auto b = item.find_first_not_of(" \t\r");
    auto e = item.find_last_not_of(" \t\r");
    if (b != sv::npos)
      out.emplace_back(item.substr(b, e - b + 1));
    start = end + 1;
  }
  return out;
}

std::optional<int64_t> to_int(sv s) {
  int64_t v = 0;
  if (s.empty())
    return std::nullopt;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || ptr != s.data() + s.size())
    return std::nullopt;
  return v;
}

std::optional<bool> to_bool(sv s) {
  std::string l;
  for (char c : s)
    l.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  if (l == "1" || l == "true" || l == "yes" || l == "on")
    return true;
  if (l == "0" || l == "false" || l == "no" || l == "off")
    return false;
  return std::nullopt;
}

const char* kind_name(option_kind k) {
  switch (k) {
  case option_kind::text:
    return "TEXT";
  case option_kind::integer:
    return "NUMBER";
  case option_kind::boolean:
    return "0|1";
  case option_kind::list:
    return "LIST";
  }
  return "";
}

// SPIN 1.0 names that have no spind meaning (yet). Files that set them keep
// working; spind says once that they are not used.
constexpr sv legacy_unused[] = {
    "pubsub_websocket_host",
    "pubsub_websocket_port",
    "pubsub_run_mosquitto",
    "pubsub_run_password_file",
};

} // namespace

const std::vector<option_spec>& option_specs() {
  static const std::vector<option_spec> specs = {
      {"source",
       option_kind::list,
       "auto",
       "Where traffic comes from: kmod (the spin kernel module, spin.ko: per-flow "
       "records, DNS and verdicts in the kernel), nflog (packets through NFLOG groups of "
       "spind's own nftables table), conntrack (per-connection counters, for volume; "
       "with nflog for DNS), pcap:FILE (a capture file, pcap or pcapng), or auto (kmod "
       "when spin.ko is loaded, else conntrack for volume plus nflog for DNS when "
       "conntrack is available, else nflog per packet). Several sources are separated "
       "by commas (or given as UCI list entries).",
       {}},
      {"replay",
       option_kind::text,
       "realtime",
       "How a pcap source is replayed: realtime (recorded pace, once, timestamps moved "
       "to "
       "now), fast (as fast as possible with the file's own timestamps; spind exits 0 "
       "once "
       "every interval is published), loop (recorded pace, forever).",
       {}},
      {"shards",
       option_kind::integer,
       "0",
       "Number of flow aggregator shards; 0 means one per CPU core.",
       {},
       0,
       256},
      {"lan_prefixes",
       option_kind::list,
       "10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 fc00::/7 fe80::/10",
       "Address prefixes of the local network. An address in them seen behind an "
       "Ethernet "
       "address becomes part of that device's node.",
       {}},
      {"mqtt_host",
       option_kind::text,
       "127.0.0.1",
       "MQTT broker host name or address.",
       {"pubsub_host"}},
      {"mqtt_port",
       option_kind::integer,
       "1883",
       "MQTT broker port.",
       {"pubsub_port"},
       1,
       65535},
      {"mqtt_topic_root",
       option_kind::text,
       "SPIN",
       "First part of every topic spind publishes or subscribes to (e.g. house2/SPIN). "
       "SPIN 1.0's pubsub_channel_traffic (e.g. SPIN/traffic) is accepted: its trailing "
       "/traffic is dropped.",
       {"pubsub_channel_traffic"}},
      {"mqtt_username",
       option_kind::text,
       "",
       "User name for the broker (empty: none).",
       {}},
      {"mqtt_password", option_kind::text, "", "Password for the broker.", {}},
      {"mqtt_client_id",
       option_kind::text,
       "",
       "MQTT client id; empty means spind-<host name>-<process id>.",
       {}},
      {"mqtt_keepalive",
       option_kind::integer,
       "60",
       "MQTT keepalive interval in seconds.",
       {"pubsub_timeout"},
       5,
       65535},
      {"mqtt_qos",
       option_kind::integer,
       "0",
       "QoS of published messages (0 or 1). Retained node topics use the same QoS.",
       {},
       0,
       1},
      {"mqtt_tls_ca_file",
       option_kind::text,
       "",
       "CA certificate file (PEM); setting it turns TLS on for the broker connection.",
       {}},
      {"mqtt_tls_cert_file",
       option_kind::text,
       "",
       "Client certificate file (PEM) for TLS client authentication.",
       {}},
      {"mqtt_tls_key_file", option_kind::text, "", "Client key file (PEM) for TLS.", {}},
      {"mqtt_tls_insecure",
       option_kind::boolean,
       "0",
       "Do not check the broker's host name against its certificate (testing only).",
       {}},
      {"mqtt_connect_timeout",
       option_kind::integer,
       "5",
       "Seconds spind holds reports at start-up while the broker is not yet reachable; "
       "after that reports are dropped (and counted) until it is.",
       {},
       0,
       3600},
      {"mqtt_reconnect_min",
       option_kind::integer,
       "1",
       "First delay in seconds before reconnecting to a lost broker.",
       {},
       1,
       3600},
      {"mqtt_reconnect_max",
       option_kind::integer,
       "30",
       "Longest delay in seconds between reconnect attempts (exponential backoff).",
       {},
       1,
       3600},
      {"node_cache_retain_time",
       option_kind::integer,
       "1800",
       "Seconds after which a node without traffic is deleted (event time).",
       {},
       1,
       INT64_MAX},
      {"max_nodes",
       option_kind::integer,
       "50000",
       "Most nodes kept; beyond it the longest-idle nodes are deleted first.",
       {},
       16,
       10000000},
      {"max_ips_per_node",
       option_kind::integer,
       "32",
       "Most addresses one node carries; the least recently seen is dropped first.",
       {},
       1,
       4096},
      {"max_flows_per_interval",
       option_kind::integer,
       "262144",
       "Most distinct flows (5-tuples) counted per one-second interval, over all shards; "
       "packets of further flows still count in the interval's totals.",
       {},
       64,
       100000000},
      {"max_flows_per_report",
       option_kind::integer,
       "2000",
       "Most flows listed in one traffic message (largest first); the rest only count in "
       "total_size and total_count.",
       {},
       1,
       1000000},
      {"queue_capacity",
       option_kind::integer,
       "262144",
       "Records (64 bytes each) a shard's queue holds before a capture file waits or a "
       "live source drops.",
       {},
       1024,
       100000000},
      {"nflog_dns_group",
       option_kind::integer,
       "1",
       "NFLOG group spind's nftables table sends DNS packets to (UDP and TCP port 53, "
       "both directions).",
       {"iptable_queue_dns"},
       0,
       65535},
      {"nflog_packet_group",
       option_kind::integer,
       "3",
       "NFLOG group for every other packet, when nflog counts traffic per packet.",
       {},
       0,
       65535},
      {"nflog_per_packet",
       option_kind::text,
       "auto",
       "Whether nflog counts traffic packet by packet: on, off (DNS only), or auto (on "
       "unless conntrack counts the volume).",
       {}},
      {"nflog_dns_snaplen",
       option_kind::integer,
       "4096",
       "Bytes of each DNS packet copied to spind (enough for answers with EDNS).",
       {},
       64,
       65535},
      {"nflog_packet_snaplen",
       option_kind::integer,
       "128",
       "Bytes of every other packet copied to spind (IP and transport headers).",
       {},
       64,
       65535},
      {"nflog_rcvbuf",
       option_kind::integer,
       "8388608",
       "Receive buffer of the NFLOG socket in bytes (set with SO_RCVBUFFORCE; a small "
       "one "
       "loses packets under load, which spind counts).",
       {},
       65536,
       1073741824},
      {"nft_table",
       option_kind::text,
       "spin",
       "Name of spind's own nftables table (family inet); spind creates it at start and "
       "deletes it at stop, and touches nothing else.",
       {}},
      {"nft_priority",
       option_kind::integer,
       "-10",
       "Priority of the base chains (forward, input, output) of spind's table.",
       {},
       -1000,
       1000},
      {"firewall",
       option_kind::text,
       "enforce",
       "What spind's nftables table does: enforce (the block, allow and node-pair lists "
       "drop packets, and dropped packets are reported), monitor (the table only logs "
       "DNS "
       "and traffic; nothing is dropped), or passive (spind changes no firewall state at "
       "all: no table; the NFLOG groups must be fed by your own rules). Lists are kept "
       "and published in every mode.",
       {}},
      {"nflog_block_group",
       option_kind::integer,
       "2",
       "NFLOG group that dropped (blocked) packets are reported to, for `blocked` "
       "messages.",
       {"iptable_queue_block"},
       0,
       65535},
      {"block_log_rate",
       option_kind::integer,
       "20",
       "Dropped packets reported per second and rule (an nftables limit in the kernel), "
       "so a blocked flood cannot flood spind; every matching packet is dropped anyway.",
       {},
       1,
       100000},
      {"block_log_burst",
       option_kind::integer,
       "40",
       "Dropped packets reported in a burst above block_log_rate.",
       {},
       1,
       100000},
      {"control_socket",
       option_kind::text,
       "/run/spin/spind.sock",
       "UNIX socket for spinctl (JSON-RPC 2.0, mode 0600, root or spind's user only); "
       "its directory is created (mode 0700) if missing. Empty: no socket.",
       {}},
      {"command_rate",
       option_kind::integer,
       "20",
       "Commands and JSON-RPC requests per second accepted from one client (MQTT counts "
       "as one client, since MQTT does not say who published); twice as many in a burst.",
       {},
       1,
       100000},
      {"http_port",
       option_kind::integer,
       "13026",
       "Port of the web app and HTTP API (REST, JSON-RPC, /metrics). 0: no HTTP server.",
       {"spinweb_port"},
       0,
       65535},
      {"http_addresses",
       option_kind::list,
       "127.0.0.1",
       "Addresses the HTTP server listens on (IPv4 and IPv6, e.g. '127.0.0.1 ::1' or "
       "'0.0.0.0'); commas or spaces between them.",
       {"spinweb_interfaces"}},
      {"http_hostnames",
       option_kind::list,
       "localhost",
       "Host names the HTTP server answers to besides IP addresses and the machine's own "
       "name (NAME, NAME.lan, NAME.local); requests naming another host get 403, so a "
       "web "
       "page cannot reach the API through DNS rebinding. '*': any name.",
       {}},
      {"web_root",
       option_kind::text,
       SPIN_DEFAULT_WEB_ROOT,
       "Directory of the built web app that the HTTP server serves.",
       {}},
      {"http_password_file",
       option_kind::text,
       "",
       "Users for HTTP basic authentication, one 'user:hash' per line with a crypt(3) "
       "hash (mkpasswd, openssl passwd -6); plain-text passwords are refused. Empty: no "
       "authentication.",
       {"spinweb_password_file"}},
      {"http_tls_certificate_file",
       option_kind::text,
       "",
       "PEM certificate (chain) for HTTPS; with http_tls_key_file, the server speaks "
       "only HTTPS.",
       {"spinweb_tls_certificate_file"}},
      {"http_tls_key_file",
       option_kind::text,
       "",
       "PEM private key for HTTPS.",
       {"spinweb_tls_key_file"}},
      {"capture_interface",
       option_kind::text,
       "",
       "Interface for per-device captures (/spin_api/tcpdump); empty: the first of "
       "lan_interfaces, else 'any' (then filtered by the device's addresses).",
       {}},
      {"capture_max_seconds",
       option_kind::integer,
       "600",
       "Longest per-device capture, in seconds.",
       {},
       1,
       86400},
      {"capture_max_bytes",
       option_kind::integer,
       "67108864",
       "Largest per-device capture, in bytes.",
       {},
       1024,
       4294967296},
      {"lan_interfaces",
       option_kind::list,
       "",
       "Interfaces on the LAN side (e.g. br-lan); per-packet logging is limited to "
       "packets entering or leaving them. Empty: all interfaces.",
       {}},
      {"conntrack_max",
       option_kind::integer,
       "262144",
       "Most connections whose counters the conntrack source follows.",
       {},
       1024,
       100000000},
      {"max_names_per_node",
       option_kind::integer,
       "16",
       "Most DNS names one node carries; the name answered least recently is dropped "
       "first.",
       {},
       1,
       4096},
      {"dns_ttl_min",
       option_kind::integer,
       "60",
       "Shortest time in seconds a DNS answer names its addresses (shorter TTLs are "
       "raised to it: clients keep using addresses after the TTL).",
       {},
       0,
       604800},
      {"dns_ttl_max",
       option_kind::integer,
       "86400",
       "Longest time in seconds a DNS answer names its addresses (longer TTLs are cut).",
       {},
       1,
       31536000},
      {"dns_cache_size",
       option_kind::integer,
       "100000",
       "Most addresses the DNS cache keeps; beyond it the soonest-expiring go first.",
       {},
       16,
       100000000},
      {"dnsquery_rate",
       option_kind::integer,
       "10",
       "Most dnsquery messages per second per device (bursts of twice that); 0 turns "
       "them off.",
       {},
       0,
       100000},
      {"dnsquery_repeat_window",
       option_kind::integer,
       "10",
       "Seconds within which a device asking for the same name again is not published "
       "again as a dnsquery (A and AAAA lookups come in pairs); 0 publishes every query.",
       {},
       0,
       86400},
      {"dhcp_lease_files",
       option_kind::list,
       "/var/dhcp.leases /var/lib/misc/dnsmasq.leases /tmp/hosts/odhcpd "
       "/tmp/odhcpd.leases",
       "DHCP lease files to take device names from (dnsmasq, odhcpd, hosts format; "
       "missing files are skipped). Re-read when they change.",
       {}},
      {"dhcp_config_file",
       option_kind::text,
       "/etc/config/dhcp",
       "OpenWRT DHCP config whose 'config host' sections name devices (they win over "
       "leases); empty: none.",
       {}},
      {"profiles_dir",
       option_kind::text,
       "/etc/spin/profiles",
       "Directory of user device profiles, one JSON file each ({\"id\", \"name\", "
       "\"description\", \"block\": none|all|ipv4|ipv6}; see doc/web_api.md); empty: "
       "none.",
       {}},
      {"lease_check_interval",
       option_kind::integer,
       "2",
       "Seconds between checks whether the lease files or the DHCP config changed.",
       {},
       1,
       3600},
      {"neighbour_table",
       option_kind::text,
       "auto",
       "Read IP-to-MAC bindings from the kernel's neighbour table over rtnetlink: on, "
       "off, or auto (on unless every source is a capture file, whose frames carry the "
       "MACs).",
       {}},
      {"state_write_interval",
       option_kind::integer,
       "2",
       "Least seconds between two writes of the state file (user names, lists, pairs, "
       "profiles): "
       "changes in between are written together, to spare a router's flash.",
       {},
       0,
       3600},
      {"state_dir",
       option_kind::text,
       "/var/lib/spin",
       "Directory for spind's persistent state; created (mode 0700) if missing.",
       {}},
      {"stat_interval",
       option_kind::integer,
       "10",
       "Seconds between status summaries (a log line and the retained SPIN/stat/spind "
       "message); 0 turns them off.",
       {},
       0,
       86400},
      {"log_level",
       option_kind::integer,
       "6",
       "Log verbosity as a syslog level: 3 errors, 4 warnings, 5 notices, 6 info, 7 "
       "debug.",
       {"log_loglevel"},
       0,
       7},
      {"log_syslog",
       option_kind::boolean,
       "0",
       "Also log to syslog (daemon facility).",
       {"log_usesyslog"}},
      {"log_file", option_kind::text, "", "Also append log lines to this file.", {}},
  };
  return specs;
}

const option_spec* find_option(std::string_view name) {
  auto n = canonical(name);
  for (auto& spec : option_specs()) {
    if (spec.name == n)
      return &spec;
    for (auto alias : spec.aliases)
      if (alias == n)
        return &spec;
  }
  return nullptr;
}

bool is_legacy_unused_option(std::string_view name) {
  auto n = canonical(name);
  return std::find(std::begin(legacy_unused), std::end(legacy_unused), sv{n}) !=
         std::end(legacy_unused);
}

void option_map::set(std::string_view name, std::string value, std::string origin) {
  v_[std::string{name}] = option_value{std::move(value), std::move(origin)};
}

void option_map::append(std::string_view name, std::string value, std::string origin) {
  auto it = v_.find(name);
  if (it == v_.end()) {
    set(name, std::move(value), std::move(origin));
    return;
  }
  it->second.value += '\n'; // list entries; see split_list()
  it->second.value += value;
  it->second.origin = std::move(origin);
}

const option_value* option_map::get(std::string_view name) const {
  auto it = v_.find(name);
  return it == v_.end() ? nullptr : &it->second;
}

void option_map::merge(const option_map& other) {
  for (auto& [k, v] : other.v_)
    v_[k] = v;
}

namespace {

bool looks_like_key_value(sv text) {
  std::istringstream in{std::string{text}};
  std::string line;
  while (std::getline(in, line)) {
    auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#')
      continue;
    auto word_end = line.find_first_of(" \t=", first);
    auto word = line.substr(first, word_end - first);
    if (word == "config" || word == "option" || word == "list" || word == "package")
      return false;
    return line.find('=') != std::string::npos;
  }
  return false;
}

void note_option(const option_spec& spec, sv given, std::string_view where,
                 parse_outcome& res) {
  if (canonical(given) != spec.name)
    res.notices.push_back(std::string{where} + ": option " + std::string{given} +
                          " is SPIN 1.0's name for " + std::string{spec.name} +
                          "; the new name is preferred");
}

// Applies a value given under `given` (canonical name or alias) to the map.
void store(const option_spec& spec, sv given, std::string value, bool append,
           std::string origin, option_map& out) {
  if (spec.name == "mqtt_topic_root" && canonical(given) == "pubsub_channel_traffic") {
    // SPIN 1.0 named the traffic topic; its root is everything before /traffic.
    sv v{value};
    if (v.size() > 8 && v.substr(v.size() - 8) == "/traffic")
      value = std::string{v.substr(0, v.size() - 8)};
  }
  if (append)
    out.append(spec.name, std::move(value), std::move(origin));
  else
    out.set(spec.name, std::move(value), std::move(origin));
}

parse_outcome parse_key_value(sv text, sv filename, option_map& out) {
  parse_outcome res;
  std::istringstream in{std::string{text}};
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    std::string where = std::string{filename} + ":" + std::to_string(lineno);
    auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#')
      continue;
    auto eq = line.find('=');
    if (eq == std::string::npos) {
      res.error = where + ": expected 'key = value'";
      return res;
    }
    auto trim = [](std::string s) {
      auto b = s.find_first_not_of(" \t\r");
      auto e = s.find_last_not_of(" \t\r");
      return b == std::string::npos ? std::string{} : s.substr(b, e - b + 1);
    };
    auto key = trim(line.substr(0, eq));
    auto value = trim(line.substr(eq + 1));
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
        value.back() == value.front())
      value = value.substr(1, value.size() - 2);
    if (key.empty()) {
      res.error = where + ": missing option name before '='";
      return res;
    }
    if (auto spec = find_option(key)) {
      note_option(*spec, key, where, res);
      store(*spec, key, value, false, where, out);
    } else if (is_legacy_unused_option(key)) {
      res.notices.push_back(where + ": SPIN 1.0 option " + key + " is not used by spind");
    } else {
      res.notices.push_back(where + ": unknown option " + key + " ignored");
    }
  }
  return res;
}

} // namespace

parse_outcome parse_config_text(std::string_view text, std::string_view filename,
                                option_map& out) {
  if (looks_like_key_value(text))
    return parse_key_value(text, filename, out);
  parse_outcome res;
  auto doc = parse_uci(text, filename);
  if (!doc.error.empty()) {
    res.error = std::move(doc.error);
    return res;
  }
  for (auto& sec : doc.sections) {
    if (sec.type != "spin" && sec.type != "spind")
      continue;
    for (auto& o : sec.options) {
      std::string where = std::string{filename} + ":" + std::to_string(o.line);
      if (auto spec = find_option(o.name)) {
        if (o.is_list && spec->kind != option_kind::list) {
          res.error =
              where + ": option " + o.name + " takes one value; use 'option', not 'list'";
          return res;
        }
        note_option(*spec, o.name, where, res);
        store(*spec, o.name, o.value, o.is_list, where, out);
      } else if (is_legacy_unused_option(o.name)) {
        res.notices.push_back(where + ": SPIN 1.0 option " + o.name +
                              " is not used by spind");
      } else {
        res.notices.push_back(where + ": unknown option " + o.name + " ignored");
      }
    }
  }
  return res;
}

parse_outcome load_config_file(const std::string& path, option_map& out) {
  parse_outcome res;
  std::ifstream in{path, std::ios::binary};
  if (!in) {
    res.error = path + ": cannot open config file";
    return res;
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) {
    res.error = path + ": cannot read config file";
    return res;
  }
  auto text = buf.str();
  if (text.find('\0') != std::string::npos) {
    res.error = path + ": not a text file";
    return res;
  }
  return parse_config_text(text, path, out);
}

parse_outcome parse_command_line(int argc, const char* const* argv, command_line& out) {
  parse_outcome res;
  for (int i = 1; i < argc; ++i) {
    sv arg{argv[i]};
    if (arg == "-h" || arg == "--help") {
      out.help = true;
      continue;
    }
    if (arg == "-V" || arg == "--version") {
      out.version = true;
      continue;
    }
    auto need_value = [&](sv name) -> std::optional<std::string> {
      if (i + 1 >= argc) {
        res.error = "option " + std::string{name} + " needs a value";
        return std::nullopt;
      }
      return std::string{argv[++i]};
    };
    if (arg == "-c" || arg == "--config") {
      auto v = need_value(arg);
      if (!v)
        return res;
      out.config_file = *v;
      continue;
    }
    if (arg.size() < 3 || arg.substr(0, 2) != "--") {
      res.error = "unexpected argument '" + std::string{arg} + "' (see --help)";
      return res;
    }
    auto body = arg.substr(2);
    std::optional<std::string> value;
    auto eq = body.find('=');
    if (eq != sv::npos) {
      value = std::string{body.substr(eq + 1)};
      body = body.substr(0, eq);
    }
    if (body == "config") {
      if (!value && !(value = need_value(arg)))
        return res;
      out.config_file = *value;
      continue;
    }
    auto spec = find_option(body);
    if (!spec) {
      res.error = "unknown option --" + std::string{body} + " (see --help)";
      return res;
    }
    if (!value && !(value = need_value(arg)))
      return res;
    note_option(*spec, body, "command line", res);
    store(*spec, body, *value, false, "command line (--" + std::string{body} + ")",
          out.options);
  }
  return res;
}

namespace {

struct builder {
  const option_map& opts;
  parse_outcome& res;

  const option_spec& spec(sv name) { return *find_option(name); }

  std::string raw(sv name) {
    if (auto v = opts.get(name))
      return v->value;
    return std::string{spec(name).default_value};
  }

  std::string origin(sv name) {
    if (auto v = opts.get(name))
      return v->origin;
    return "default";
  }

  void fail(sv name, const std::string& why) {
    if (res.error.empty())
      res.error = origin(name) + ": option " + std::string{name} + ": " + why;
  }

  int64_t integer(sv name) {
    auto text = raw(name);
    auto v = to_int(text);
    const auto& s = spec(name);
    if (!v) {
      fail(name, "'" + text + "' is not a whole number");
      return 0;
    }
    if (*v < s.min || *v > s.max) {
      fail(name, std::to_string(*v) + " is out of range [" + std::to_string(s.min) +
                     ", " + std::to_string(s.max) + "]");
      return 0;
    }
    return *v;
  }

  bool boolean(sv name) {
    auto text = raw(name);
    auto v = to_bool(text);
    if (!v) {
      fail(name, "'" + text + "' is not a boolean (use 0 or 1)");
      return false;
    }
    return *v;
  }
};

} // namespace

parse_outcome build_config(const option_map& options, spind_config& out) {
  parse_outcome res;
  builder b{options, res};
  out = spind_config{};

  for (auto& word : split_list(b.raw("source"))) {
    source_spec s;
    if (word == "auto") {
      s.type = source_spec::kind::automatic;
    } else if (word.rfind("pcap:", 0) == 0 && word.size() > 5) {
      s.type = source_spec::kind::pcap;
      s.file = word.substr(5);
    } else if (word == "nflog") {
      s.type = source_spec::kind::nflog;
    } else if (word == "conntrack") {
      s.type = source_spec::kind::conntrack;
    } else if (word == "kmod") {
      s.type = source_spec::kind::kmod;
    } else {
      b.fail(
          "source",
          "'" + word +
              "' is not a source (expected auto, kmod, nflog, conntrack or pcap:FILE)");
      return res;
    }
    out.sources.push_back(std::move(s));
  }
  if (out.sources.empty())
    b.fail("source", "no source given");

  auto replay = b.raw("replay");
  if (replay == "realtime")
    out.replay = replay_mode::realtime;
  else if (replay == "fast")
    out.replay = replay_mode::fast;
  else if (replay == "loop")
    out.replay = replay_mode::loop;
  else
    b.fail("replay", "'" + replay + "' is not one of realtime, fast, loop");

  out.shards = static_cast<size_t>(b.integer("shards"));
  for (auto& word : split_words(b.raw("lan_prefixes"))) {
    auto p = ip_prefix::parse(word);
    if (!p) {
      b.fail("lan_prefixes",
             "'" + word + "' is not an address prefix such as 10.0.0.0/8");
      break;
    }
    out.lan_prefixes.push_back(*p);
  }

  auto& m = out.mqtt;
  m.host = b.raw("mqtt_host");
  if (m.host.empty())
    b.fail("mqtt_host", "must not be empty");
  m.port = static_cast<uint16_t>(b.integer("mqtt_port"));
  m.topic_root = b.raw("mqtt_topic_root");
  while (!m.topic_root.empty() && m.topic_root.back() == '/')
    m.topic_root.pop_back();
  if (m.topic_root.empty())
    b.fail("mqtt_topic_root", "must not be empty");
  if (m.topic_root.find_first_of("#+") != std::string::npos)
    b.fail("mqtt_topic_root", "must not contain the MQTT wildcards + or #");
  m.username = b.raw("mqtt_username");
  m.password = b.raw("mqtt_password");
  m.client_id = b.raw("mqtt_client_id");
  m.keepalive = static_cast<int>(b.integer("mqtt_keepalive"));
  m.qos = static_cast<int>(b.integer("mqtt_qos"));
  m.tls_ca_file = b.raw("mqtt_tls_ca_file");
  m.tls_cert_file = b.raw("mqtt_tls_cert_file");
  m.tls_key_file = b.raw("mqtt_tls_key_file");
  m.tls_insecure = b.boolean("mqtt_tls_insecure");
  if (m.tls_cert_file.empty() != m.tls_key_file.empty())
    b.fail("mqtt_tls_cert_file", "a client certificate needs both mqtt_tls_cert_file and "
                                 "mqtt_tls_key_file");
  m.connect_timeout = static_cast<int>(b.integer("mqtt_connect_timeout"));
  m.reconnect_min = static_cast<int>(b.integer("mqtt_reconnect_min"));
  m.reconnect_max = static_cast<int>(b.integer("mqtt_reconnect_max"));
  if (m.reconnect_max < m.reconnect_min)
    b.fail("mqtt_reconnect_max", "must not be less than mqtt_reconnect_min");

  out.node_cache_retain_time = b.integer("node_cache_retain_time");
  out.max_nodes = static_cast<size_t>(b.integer("max_nodes"));
  out.max_ips_per_node = static_cast<size_t>(b.integer("max_ips_per_node"));
  out.max_flows_per_interval = static_cast<size_t>(b.integer("max_flows_per_interval"));
  out.max_flows_per_report = static_cast<size_t>(b.integer("max_flows_per_report"));
  out.queue_capacity = static_cast<size_t>(b.integer("queue_capacity"));
  out.nflog_dns_group = static_cast<uint16_t>(b.integer("nflog_dns_group"));
  out.nflog_packet_group = static_cast<uint16_t>(b.integer("nflog_packet_group"));
  auto pp = b.raw("nflog_per_packet");
  if (pp == "auto" || pp == "on" || pp == "off")
    out.nflog_per_packet = pp;
  else
    b.fail("nflog_per_packet", "'" + pp + "' is not one of auto, on, off");
  if (out.nflog_dns_group == out.nflog_packet_group)
    b.fail("nflog_packet_group", "must differ from nflog_dns_group");
  out.nflog_dns_snaplen = static_cast<uint32_t>(b.integer("nflog_dns_snaplen"));
  out.nflog_packet_snaplen = static_cast<uint32_t>(b.integer("nflog_packet_snaplen"));
  out.nflog_rcvbuf = static_cast<size_t>(b.integer("nflog_rcvbuf"));
  out.nft_table = b.raw("nft_table");
  if (out.nft_table.empty() || out.nft_table.size() > 64)
    b.fail("nft_table", "must be 1 to 64 characters");
  out.nft_priority = static_cast<int>(b.integer("nft_priority"));
  auto fw = b.raw("firewall");
  if (fw == "enforce" || fw == "monitor" || fw == "passive")
    out.firewall = fw;
  else
    b.fail("firewall", "'" + fw + "' is not one of enforce, monitor, passive");
  out.nflog_block_group = static_cast<uint16_t>(b.integer("nflog_block_group"));
  if (out.nflog_block_group == out.nflog_dns_group ||
      out.nflog_block_group == out.nflog_packet_group)
    b.fail("nflog_block_group",
           "must differ from nflog_dns_group and nflog_packet_group");
  out.block_log_rate = static_cast<uint32_t>(b.integer("block_log_rate"));
  out.block_log_burst = static_cast<uint32_t>(b.integer("block_log_burst"));
  out.control_socket = b.raw("control_socket");
  if (!out.control_socket.empty() &&
      (out.control_socket[0] != '/' || out.control_socket.size() > 100))
    b.fail("control_socket", "must be an absolute path of at most 100 characters");
  out.command_rate = static_cast<double>(b.integer("command_rate"));
  out.http_port = static_cast<uint16_t>(b.integer("http_port"));
  out.http_addresses.clear();
  for (auto& w : split_words(b.raw("http_addresses"))) {
    if (!ip_address::parse(w))
      b.fail("http_addresses", "'" + w + "' is not an IP address");
    out.http_addresses.push_back(w);
  }
  out.http_hostnames = split_words(b.raw("http_hostnames"));
  if (out.http_port != 0 && out.http_addresses.empty())
    b.fail("http_addresses", "must name at least one address (or set http_port to 0)");
  out.web_root = b.raw("web_root");
  out.http_password_file = b.raw("http_password_file");
  out.http_tls_certificate_file = b.raw("http_tls_certificate_file");
  out.http_tls_key_file = b.raw("http_tls_key_file");
  if (out.http_tls_certificate_file.empty() != out.http_tls_key_file.empty())
    b.fail("http_tls_key_file",
           "give both http_tls_certificate_file and http_tls_key_file");
  out.capture_interface = b.raw("capture_interface");
  if (out.capture_interface.size() > 15)
    b.fail("capture_interface", "is longer than an interface name can be");
  out.capture_max_seconds = static_cast<int>(b.integer("capture_max_seconds"));
  out.capture_max_bytes = static_cast<size_t>(b.integer("capture_max_bytes"));
  for (auto& w : split_words(b.raw("lan_interfaces"))) {
    if (w.size() > 15)
      b.fail("lan_interfaces", "'" + w + "' is longer than an interface name can be");
    out.lan_interfaces.push_back(w);
  }
  out.conntrack_max = static_cast<size_t>(b.integer("conntrack_max"));
  out.max_names_per_node = static_cast<size_t>(b.integer("max_names_per_node"));
  out.dns_ttl_min = static_cast<uint32_t>(b.integer("dns_ttl_min"));
  out.dns_ttl_max = static_cast<uint32_t>(b.integer("dns_ttl_max"));
  if (out.dns_ttl_max < out.dns_ttl_min)
    b.fail("dns_ttl_max", "must not be less than dns_ttl_min");
  out.dns_cache_size = static_cast<size_t>(b.integer("dns_cache_size"));
  out.dnsquery_rate = static_cast<int>(b.integer("dnsquery_rate"));
  out.dnsquery_repeat_window = b.integer("dnsquery_repeat_window");
  out.dhcp_lease_files = split_words(b.raw("dhcp_lease_files"));
  out.dhcp_config_file = b.raw("dhcp_config_file");
  out.profiles_dir = b.raw("profiles_dir");
  out.lease_check_interval = static_cast<int>(b.integer("lease_check_interval"));
  auto nt = b.raw("neighbour_table");
  if (nt == "auto" || nt == "on" || nt == "off")
    out.neighbour_table = nt;
  else
    b.fail("neighbour_table", "'" + nt + "' is not one of auto, on, off");
  out.state_write_interval = static_cast<int>(b.integer("state_write_interval"));
  out.state_dir = b.raw("state_dir");
  if (out.state_dir.empty())
    b.fail("state_dir", "must not be empty");
  out.stat_interval = static_cast<int>(b.integer("stat_interval"));

  auto level = b.integer("log_level");
  out.log.level = static_cast<log_level>(level < 3 ? 3 : level);
  out.log.to_syslog = b.boolean("log_syslog");
  out.log.file = b.raw("log_file");
  return res;
}

std::string help_text() {
  std::ostringstream os;
  os << "Usage: spind [-c FILE] [--OPTION VALUE ...]\n"
        "\n"
        "spind watches the traffic that crosses a home router, groups it per second "
        "into\n"
        "flows between nodes (devices and the services they talk to) and publishes that\n"
        "picture over MQTT (SPIN/traffic).\n"
        "\n"
        "  -c, --config FILE   read options from FILE (UCI syntax; default "
     << default_config_path
     << "\n"
        "                      when it exists, "
     << openwrt_config_path
     << " on OpenWRT)\n"
        "  -h, --help          show this text and exit\n"
        "  -V, --version       show the version and exit\n"
        "\n"
        "Every option below can be set in the config file (option NAME 'VALUE') or on\n"
        "the command line (--NAME VALUE or --NAME=VALUE), which wins over the file.\n"
        "\n";
  for (auto& s : option_specs()) {
    os << "  --" << s.name << " " << kind_name(s.kind);
    if (s.default_value.empty())
      os << "  (default: empty)";
    else
      os << "  (default: " << s.default_value << ")";
    os << "\n";
    // Wrap the help text at ~76 columns, indented.
    std::istringstream words{std::string{s.help}};
    std::string word, line;
    while (words >> word) {
      if (line.size() + word.size() + 1 > 72) {
        os << "      " << line << "\n";
        line.clear();
      }
      if (!line.empty())
        line += ' ';
      line += word;
    }
    if (!line.empty())
      os << "      " << line << "\n";
    if (!s.aliases.empty()) {
      os << "      SPIN 1.0 name:";
      for (auto a : s.aliases)
        os << " " << a;
      os << "\n";
    }
  }
  return os.str();
}

} // namespace spin
