#pragma once

#include "spin/runtime/ip_address.hpp"
#include "spin/runtime/log.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace spin {

/// The type of an option's value, used for validation and for --help.
enum class option_kind {
  text,    ///< any string
  integer, ///< a decimal integer within [min, max]
  boolean, ///< 1/0, true/false, yes/no, on/off
  list,    ///< words separated by spaces or commas (UCI `list` lines append)
};

/// One configuration option: the single table behind the config file,
/// the command line, --help and doc/configuration.md.
struct option_spec {
  std::string_view name;
  option_kind kind;
  std::string_view default_value;
  std::string_view help;
  /// SPIN 1.0 names that mean the same (accepted, with a notice).
  std::vector<std::string_view> aliases;
  int64_t min = 0;
  int64_t max = INT64_MAX;
};

/// Every option spind knows, in the order --help shows them.
const std::vector<option_spec>& option_specs();

/// Finds an option by name or SPIN 1.0 alias (dashes count as underscores).
const option_spec* find_option(std::string_view name);

/// SPIN 1.0 option names that spind recognises but does not use (yet); a
/// file that sets them is still accepted.
bool is_legacy_unused_option(std::string_view name);

/// An option value and where it came from ("FILE:LINE" or "command line").
struct option_value {
  std::string value;
  std::string origin;
};

/// Option values by canonical name; later sources override earlier ones.
class option_map {
public:
  /// Sets an option (for lists: replaces the list). `name` must be canonical.
  void set(std::string_view name, std::string value, std::string origin);
  /// Appends to a list option (UCI `list` lines).
  void append(std::string_view name, std::string value, std::string origin);
  /// The value set for `name`, if any.
  const option_value* get(std::string_view name) const;
  /// Copies every value of `other` over this map.
  void merge(const option_map& other);

  const std::map<std::string, option_value, std::less<>>& values() const { return v_; }

private:
  std::map<std::string, option_value, std::less<>> v_;
};

/// The outcome of reading a config file or command line.
struct parse_outcome {
  /// Empty on success, else one line naming the file, line and problem.
  std::string error;
  /// Things worth a log line that did not stop parsing (unknown options,
  /// SPIN 1.0 names).
  std::vector<std::string> notices;
  bool ok() const { return error.empty(); }
};

/// Parses a config file's text: UCI (`config spin 'spind'` / `option k 'v'` /
/// `list k 'v'`) or SPIN 1.0's `key = value` format. Options are read from
/// sections of type `spin` or `spind`.
parse_outcome parse_config_text(std::string_view text, std::string_view filename,
                                option_map& out);

/// Reads and parses a config file.
parse_outcome load_config_file(const std::string& path, option_map& out);

/// What the command line asked for.
struct command_line {
  std::optional<std::string> config_file; ///< -c FILE / --config FILE
  bool help = false;
  bool version = false;
  option_map options; ///< every --OPTION VALUE / --OPTION=VALUE
};

/// Parses spind's command line (argv[0] excluded from options).
parse_outcome parse_command_line(int argc, const char* const* argv, command_line& out);

/// How a capture file is replayed.
enum class replay_mode {
  realtime, ///< at the recorded pace, once; timestamps moved to now
  fast,     ///< as fast as possible, once, with the file's own timestamps
  loop,     ///< at the recorded pace, over and over
};

/// One configured traffic source.
struct source_spec {
  enum class kind { automatic, pcap, nflog, conntrack, kmod } type = kind::automatic;
  std::string file; ///< for pcap
};

/// MQTT connection settings.
struct mqtt_settings {
  std::string host = "127.0.0.1";
  uint16_t port = 1883;
  std::string topic_root = "SPIN";
  std::string username;
  std::string password;
  std::string client_id;
  int keepalive = 60;
  int qos = 0;
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
  bool tls_insecure = false;
  int connect_timeout = 5;
  int reconnect_min = 1;
  int reconnect_max = 30;
};

/// Everything spind needs, validated.
struct spind_config {
  std::vector<source_spec> sources;
  replay_mode replay = replay_mode::realtime;
  size_t shards = 0; ///< 0 = one per core
  std::vector<ip_prefix> lan_prefixes;
  mqtt_settings mqtt;
  int64_t node_cache_retain_time = 1800;
  size_t max_nodes = 50000;
  size_t max_ips_per_node = 32;
  size_t max_flows_per_interval = 262144;
  size_t max_flows_per_report = 2000;
  size_t queue_capacity = 262144;
  uint16_t nflog_dns_group = 1;
  uint16_t nflog_packet_group = 3;
  std::string nflog_per_packet = "auto"; ///< auto, on, off
  uint32_t nflog_dns_snaplen = 4096;
  uint32_t nflog_packet_snaplen = 128;
  size_t nflog_rcvbuf = 8u << 20;
  std::string nft_table = "spin";
  int nft_priority = -10;
  std::string firewall = "enforce"; ///< enforce, monitor, passive
  uint16_t nflog_block_group = 2;
  uint32_t block_log_rate = 20;
  uint32_t block_log_burst = 40;
  std::string control_socket = "/run/spin/spind.sock";
  double command_rate = 20;
  uint16_t http_port = 13026; ///< 0: no HTTP server
  std::vector<std::string> http_addresses{"127.0.0.1"};
  /// Host names the HTTP server answers to ("*": any); see http_server.
  std::vector<std::string> http_hostnames{"localhost"};
  std::string web_root;
  std::string http_password_file;
  std::string http_tls_certificate_file;
  std::string http_tls_key_file;
  std::string capture_interface;
  int capture_max_seconds = 600;
  size_t capture_max_bytes = 64u << 20;
  std::vector<std::string> lan_interfaces;
  size_t conntrack_max = 262144;
  size_t max_names_per_node = 16;
  uint32_t dns_ttl_min = 60;
  uint32_t dns_ttl_max = 86400;
  size_t dns_cache_size = 100000;
  int dnsquery_rate = 10;
  int64_t dnsquery_repeat_window = 10;
  std::vector<std::string> dhcp_lease_files;
  std::string dhcp_config_file;
  /// User device profiles (block_lists.hpp: load_profile_files).
  std::string profiles_dir;
  int lease_check_interval = 2;
  std::string neighbour_table = "auto"; ///< auto, on, off
  int state_write_interval = 2;
  std::string state_dir = "/var/lib/spin";
  int stat_interval = 10;
  log_settings log;
};

/// Turns option values (defaults filled in for anything unset) into a
/// validated config; errors name the option, the value and where it was set.
parse_outcome build_config(const option_map& options, spind_config& out);

/// The text of `spind --help`.
std::string help_text();

/// The path spind reads when no -c is given (and it exists).
inline constexpr const char* default_config_path = "/etc/spin/spin.conf";

/// On OpenWRT (where /etc/openwrt_release exists) UCI keeps it here instead.
inline constexpr const char* openwrt_config_path = "/etc/config/spin";

} // namespace spin
