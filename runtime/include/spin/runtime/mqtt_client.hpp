#pragma once

#include "spin/runtime/config.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

struct mosquitto;
struct mosquitto_message;

namespace spin {

/// A thin RAII wrapper around one libmosquitto connection with its own network
/// thread. libmosquitto reconnects by itself with exponential backoff
/// (mqtt_reconnect_min .. mqtt_reconnect_max). The callbacks run in the
/// network thread and must only hand work on (e.g. send an actor message).
/// publish()/subscribe() are safe to call from any one thread.
class mqtt_client {
public:
  struct callbacks {
    /// The broker accepted (rc == 0) or refused (rc = CONNACK code) a connect.
    std::function<void(int rc, const char* reason)> on_connect;
    /// The connection went away (rc == 0: we asked for it).
    std::function<void(int rc, const char* reason)> on_disconnect;
    /// A message arrived on a subscribed topic.
    std::function<void(std::string topic, std::string payload, bool retained)> on_message;
    /// A published message left this process (QoS 0) or was acknowledged.
    std::function<void(int mid)> on_publish;
  };

  mqtt_client(mqtt_settings settings, callbacks cbs);
  ~mqtt_client();

  mqtt_client(const mqtt_client&) = delete;
  mqtt_client& operator=(const mqtt_client&) = delete;

  /// Starts connecting in the background. Returns false (with `error`) only
  /// for problems that retrying cannot fix (bad TLS files, bad settings).
  bool start(std::string& error);

  /// libmosquitto retries lost connections by itself, but not a first
  /// connect that failed at once (broker not started yet): the owner calls this
  /// periodically; it retries with the same backoff until that succeeds.
  void retry_first_connect();

  /// True once the network thread runs (a first connect got under way).
  bool started() const { return running_; }

  /// Queues a message. Returns a libmosquitto error code (0 = queued); `mid`
  /// receives the message id passed later to on_publish.
  int publish(const std::string& topic, const void* payload, size_t len, bool retain,
              int qos, int* mid = nullptr);

  int subscribe(const std::string& pattern, int qos = 0);
  int unsubscribe(const std::string& pattern);

  /// Disconnects cleanly (queued messages go out first) and stops the thread.
  void stop();

  /// Messages queued by publish() that have not left yet.
  int64_t unsent() const { return queued_.load() - sent_.load(); }

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

  mqtt_settings settings_;
  callbacks cbs_;
  struct mosquitto* mosq_ = nullptr;
  bool connect_async_and_loop();

  bool running_ = false;
  bool configured_ = false;
  int retry_delay_s_ = 1;
  std::chrono::steady_clock::time_point next_retry_{};
  std::atomic<int64_t> queued_{0};
  std::atomic<int64_t> sent_{0};
};

} // namespace spin
