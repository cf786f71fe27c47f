#pragma once

#include "spin/runtime/event_fd.hpp"
#include "spin/runtime/config.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

struct mosquitto;
struct mosquitto_message;

namespace spin {

/// One libmosquitto connection driven by its own network thread.
///
/// publish()/subscribe()/unsubscribe() may be called from any thread: they
/// append to a queue and wake the network thread only when the queue was
/// empty. The network thread hands everything queued to libmosquitto in one
/// go, with the TCP socket corked meanwhile, so a burst of messages (one
/// interval's reports, dnsquery events and node updates) leaves in a few
/// segments instead of one wake-up, one select() and one segment per message
/// as with mosquitto_loop_start(). All libmosquitto calls happen in that one
/// thread. Lost connections are retried with exponential backoff
/// (mqtt_reconnect_min .. mqtt_reconnect_max), a first connect that fails at
/// once too. The callbacks run in the network thread and must only hand work
/// on (e.g. send an actor message).
class mqtt_client {
public:
  struct callbacks {
    /// The broker accepted (rc == 0) or refused (rc = CONNACK code) a connect.
    std::function<void(int rc, const char* reason)> on_connect;
    /// The connection went away (rc == 0: we asked for it). Subscriptions
    /// do not outlive a session: subscribe again in on_connect.
    std::function<void(int rc, const char* reason)> on_disconnect;
    /// A message arrived on a subscribed topic.
    std::function<void(std::string topic, std::string payload, bool retained)> on_message;
  };

  mqtt_client(mqtt_settings settings, callbacks cbs);
  ~mqtt_client();

  mqtt_client(const mqtt_client&) = delete;
  mqtt_client& operator=(const mqtt_client&) = delete;

  /// Starts the network thread, which connects in the background. Returns
  /// false (with `error`) only for problems that retrying cannot fix (bad TLS
  /// files, bad settings).
  bool start(std::string& error);

  /// True once the network thread runs.
  bool started() const { return running_; }

  /// Queues a message for the network thread. Returns a libmosquitto error
  /// code: 0 = queued; MOSQ_ERR_NO_CONN while not connected (nothing queued).
  /// The payload is taken over (no copy).
  int publish(const std::string& topic, std::string&& payload, bool retain, int qos);

  int subscribe(const std::string& pattern, int qos = 0);
  int unsubscribe(const std::string& pattern);

  /// Disconnects cleanly (queued messages go out first, for at most a few
  /// seconds) and stops the thread.
  void stop();

  /// Messages queued by publish() that have not left yet.
  int64_t unsent() const { return queued_.load() - sent_.load(); }
  /// Queued messages that never left (the connection went away first, or
  /// libmosquitto refused them).
  int64_t lost() const { return lost_.load(); }

  /// Text of a libmosquitto error code.
  static const char* error_text(int rc);

  /// Text of a CONNACK return code (why the broker refused a connect).
  static const char* connack_text(int rc);

  const mqtt_settings& settings() const { return settings_; }

private:
  static void on_connect_cb(struct mosquitto*, void*, int);
  static void on_disconnect_cb(struct mosquitto*, void*, int);
  static void on_message_cb(struct mosquitto*, void*, const struct mosquitto_message*);
  static void on_publish_cb(struct mosquitto*, void*, int);

  struct op {
    enum class kind : uint8_t { publish, subscribe, unsubscribe } what;
    bool retain = false;
    int qos = 0;
    std::string topic;
    std::string payload;
  };

  /// Appends `o` for the network thread, waking it if the queue was empty;
  /// MOSQ_ERR_NO_CONN once stop() has begun.
  int enqueue(op o);
  /// The network thread.
  void run();
  /// Hands every queued op to libmosquitto (corked); false if none.
  bool drain();
  void schedule_reconnect();
  /// The connection ended: QoS 0 messages not written are lost, the owner
  /// is told (on_disconnect).
  void connection_gone(int rc);

  mqtt_settings settings_;
  callbacks cbs_;
  struct mosquitto* mosq_ = nullptr;

  std::thread thread_;
  event_fd wake_;
  std::atomic<bool> running_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> connected_{false};

  std::mutex mutex_;
  std::vector<op> ops_;  ///< guarded by mutex_
  std::vector<op> work_; ///< network thread only

  // Network thread only.
  bool have_socket_ = false;
  int retry_delay_s_ = 1;
  std::chrono::steady_clock::time_point next_connect_{};

  std::atomic<int64_t> queued_{0};
  std::atomic<int64_t> sent_{0};
  std::atomic<int64_t> lost_{0};
  /// Messages handed to libmosquitto and not yet written (QoS 0) or
  /// acknowledged (QoS 1, 2): message id -> QoS. Network thread only.
  std::unordered_map<int, uint8_t> pending_;
  /// The message mosquitto_publish is handing on right now (its publish
  /// callback may come before it returns).
  bool publishing_ = false;
  bool publishing_done_ = false;
  int publishing_mid_ = 0;
  /// The disconnect callback came for the current socket.
  bool disconnect_seen_ = false;
};

} // namespace spin
