#pragma once

#include "spin/actors/actors.hpp"
#include "spin/runtime/config.hpp"
#include "spin/runtime/log.hpp"
#include "spin/runtime/mqtt_client.hpp"
#include "spin/runtime/pipeline_gauge.hpp"

#include <caf/actor.hpp>

#include <chrono>
#include <deque>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace spin {

/// State of the MQTT publisher.
struct mqtt_publisher_state {
  static inline const char* name = "mqtt_publisher";

  /// Where the publisher is in its start-up sequence.
  enum class phase {
    connecting, ///< no connection yet
    syncing,    ///< collecting retained node topics of an earlier run
    ready,      ///< publishing
  };

  ~mqtt_publisher_state();

  std::unique_ptr<mqtt_client> client;
  mqtt_settings settings;
  pipeline_gauge* gauge = nullptr;
  caf::actor done_listener;

  std::string topic_traffic;
  std::string topic_node_prefix;
  std::string topic_admin;
  std::string topic_stat_prefix;
  std::string topic_sync;
  std::string topic_commands;
  std::string topic_jsonrpc_q;
  std::string topic_jsonrpc_a;
  /// Carries out commands (the block manager; set once it exists).
  control_api control;

  /// Per live node: the cached NODE tail (for traffic flows) and the whole
  /// nodeInfo payload (republished after a reconnect).
  struct cached_node {
    std::string tail;
    std::string info;
  };
  std::unordered_map<node_id, cached_node> nodes;
  /// Node topics to empty once the broker is reachable again.
  std::set<node_id> pending_clears;
  /// Reports (and dnsquery messages, already encoded) held while the first
  /// connection is being set up, in order.
  struct held_item {
    interval_report_ptr report; ///< a report, or null for `payload`
    std::string payload;        ///< a message for <root>/traffic
  };
  std::deque<held_item> held;
  size_t held_reports = 0;
  std::vector<std::string> stale_topics;
  std::string buffer;

  phase ph = phase::connecting;
  bool connected = false;
  bool restart_sent = false;
  bool connect_timed_out = false;
  bool eos = false;
  bool done_sent = false;
  std::chrono::steady_clock::time_point started;
  log_limiter drop_log;
  log_limiter refuse_log;
  log_limiter command_log;

  // Counters.
  uint64_t reports_published = 0;
  uint64_t reports_empty = 0;
  uint64_t reports_dropped = 0;
  uint64_t bytes_published = 0;
  uint64_t node_infos = 0;
  uint64_t nodes_deleted = 0;
  uint64_t nodes_merged = 0;
  uint64_t connects = 0;
  uint64_t disconnects = 0;
  uint64_t stale_cleared = 0;
  uint64_t publish_errors = 0;
  uint64_t dnsqueries = 0;
  uint64_t dnsqueries_dropped = 0;
  uint64_t messages_dropped = 0; ///< other messages lost while the broker was away
  uint64_t blocked_published = 0;
  uint64_t blocked_dropped = 0;
  uint64_t commands = 0;
  uint64_t command_errors = 0;
  uint64_t largest_report = 0;
  /// Size of the last encoded report (to reserve the next one).
  size_t last_report_size = 0;
  int64_t last_publish_us = 0; ///< time to encode and queue the last report
};

/// Most reports held while the first broker connection is being set up (live
/// sources; a fast replay is bounded by the pipeline gauge instead).
inline constexpr size_t publisher_max_held = 64;
/// Most messages of any kind held meanwhile (dnsquery messages included).
inline constexpr size_t publisher_max_held_messages = 20000;
/// Longest command or JSON-RPC request accepted from the broker.
inline constexpr size_t publisher_max_command_size = 64 * 1024;
/// Most messages waiting in libmosquitto before reports are dropped.
inline constexpr int64_t publisher_max_unsent = 10000;

/// The MQTT publisher: connects (and keeps reconnecting) to the broker,
/// publishes serverRestart once, clears retained node topics left by an
/// earlier run, then publishes traffic reports and retained nodeInfo topics.
/// Reports it cannot publish (broker away) are dropped and counted, never
/// queued without bound. After `eos`, once everything is written, it sends
/// `(done, published, dropped)` to `done_listener`.
mqtt_publisher_actor::behavior_type
mqtt_publisher(mqtt_publisher_actor::stateful_pointer<mqtt_publisher_state> self,
               mqtt_settings settings, pipeline_gauge* gauge, caf::actor done_listener);

} // namespace spin
