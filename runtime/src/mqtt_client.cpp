#include "spin/runtime/mqtt_client.hpp"

#include "spin/runtime/log.hpp"

#include <mosquitto.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>
#include <unistd.h>

namespace spin {

namespace {

std::once_flag lib_init;

} // namespace

const char* mqtt_client::error_text(int rc) {
  return mosquitto_strerror(rc);
}

const char* mqtt_client::connack_text(int rc) {
  return mosquitto_connack_string(rc);
}

mqtt_client::mqtt_client(mqtt_settings settings, callbacks cbs)
    : settings_(std::move(settings)), cbs_(std::move(cbs)) {
  std::call_once(lib_init, [] { mosquitto_lib_init(); });
  if (settings_.client_id.empty()) {
    char host[64] = "spin";
    gethostname(host, sizeof(host) - 1);
    settings_.client_id = std::string{"spind-"} + host + "-" + std::to_string(getpid());
  }
  mosq_ = mosquitto_new(settings_.client_id.c_str(), true, this);
  if (mosq_) {
    mosquitto_connect_callback_set(mosq_, &mqtt_client::on_connect_cb);
    mosquitto_disconnect_callback_set(mosq_, &mqtt_client::on_disconnect_cb);
    mosquitto_message_callback_set(mosq_, &mqtt_client::on_message_cb);
    mosquitto_publish_callback_set(mosq_, &mqtt_client::on_publish_cb);
  }
}

mqtt_client::~mqtt_client() {
  stop();
  if (mosq_)
    mosquitto_destroy(mosq_);
}

bool mqtt_client::start(std::string& error) {
  if (!mosq_) {
    error = "cannot create an MQTT client (out of memory?)";
    return false;
  }
  int rc;
  mosquitto_int_option(mosq_, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
  mosquitto_int_option(mosq_, MOSQ_OPT_TCP_NODELAY, 1);
  if (!settings_.username.empty()) {
    rc = mosquitto_username_pw_set(
        mosq_, settings_.username.c_str(),
        settings_.password.empty() ? nullptr : settings_.password.c_str());
    if (rc != MOSQ_ERR_SUCCESS) {
      error = std::string{"MQTT user name: "} + mosquitto_strerror(rc);
      return false;
    }
  }
  if (!settings_.tls_ca_file.empty()) {
    rc = mosquitto_tls_set(
        mosq_, settings_.tls_ca_file.c_str(), nullptr,
        settings_.tls_cert_file.empty() ? nullptr : settings_.tls_cert_file.c_str(),
        settings_.tls_key_file.empty() ? nullptr : settings_.tls_key_file.c_str(),
        nullptr);
    if (rc != MOSQ_ERR_SUCCESS) {
      error = std::string{"MQTT TLS files (mqtt_tls_ca_file, mqtt_tls_cert_file, "
                          "mqtt_tls_key_file): "} +
              mosquitto_strerror(rc);
      return false;
    }
    mosquitto_tls_insecure_set(mosq_, settings_.tls_insecure);
  }
  mosquitto_reconnect_delay_set(mosq_, static_cast<unsigned>(settings_.reconnect_min),
                                static_cast<unsigned>(settings_.reconnect_max), true);
  configured_ = true;
  retry_delay_s_ = settings_.reconnect_min;
  if (!connect_async_and_loop()) {
    next_retry_ = std::chrono::steady_clock::now() + std::chrono::seconds(retry_delay_s_);
  }
  return true;
}

bool mqtt_client::connect_async_and_loop() {
  int rc = mosquitto_connect_async(mosq_, settings_.host.c_str(), settings_.port,
                                   settings_.keepalive);
  if (rc != MOSQ_ERR_SUCCESS) {
    SPIN_WARN("mqtt: cannot connect to %s:%u yet: %s; retrying in %d s",
              settings_.host.c_str(), settings_.port,
              rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc),
              retry_delay_s_);
    return false;
  }
  rc = mosquitto_loop_start(mosq_);
  if (rc != MOSQ_ERR_SUCCESS) {
    SPIN_ERROR("mqtt: cannot start the MQTT network thread: %s", mosquitto_strerror(rc));
    return false;
  }
  running_ = true;
  return true;
}

void mqtt_client::retry_first_connect() {
  if (running_ || !configured_)
    return;
  auto now = std::chrono::steady_clock::now();
  if (now < next_retry_)
    return;
  retry_delay_s_ = std::min(retry_delay_s_ * 2, settings_.reconnect_max);
  if (!connect_async_and_loop())
    next_retry_ = now + std::chrono::seconds(retry_delay_s_);
}

int mqtt_client::publish(const std::string& topic, const void* payload, size_t len,
                         bool retain, int qos, int* mid) {
  if (!mosq_)
    return MOSQ_ERR_INVAL;
  int rc = mosquitto_publish(mosq_, mid, topic.c_str(), static_cast<int>(len), payload,
                             qos, retain);
  if (rc == MOSQ_ERR_SUCCESS)
    queued_.fetch_add(1);
  return rc;
}

int mqtt_client::subscribe(const std::string& pattern, int qos) {
  return mosq_ ? mosquitto_subscribe(mosq_, nullptr, pattern.c_str(), qos)
               : MOSQ_ERR_INVAL;
}

int mqtt_client::unsubscribe(const std::string& pattern) {
  return mosq_ ? mosquitto_unsubscribe(mosq_, nullptr, pattern.c_str()) : MOSQ_ERR_INVAL;
}

void mqtt_client::stop() {
  configured_ = false;
  if (!running_)
    return;
  running_ = false;
  mosquitto_disconnect(mosq_);
  mosquitto_loop_stop(mosq_, false);
}

void mqtt_client::on_connect_cb(struct mosquitto*, void* self, int rc) {
  auto* c = static_cast<mqtt_client*>(self);
  if (c->cbs_.on_connect)
    c->cbs_.on_connect(rc, mosquitto_connack_string(rc));
}

void mqtt_client::on_disconnect_cb(struct mosquitto*, void* self, int rc) {
  auto* c = static_cast<mqtt_client*>(self);
  // Whatever was queued and not written is lost with the connection.
  c->sent_.store(c->queued_.load());
  if (c->cbs_.on_disconnect)
    c->cbs_.on_disconnect(rc, rc == 0 ? "requested" : mosquitto_strerror(rc));
}

void mqtt_client::on_message_cb(struct mosquitto*, void* self,
                                const struct mosquitto_message* m) {
  auto* c = static_cast<mqtt_client*>(self);
  if (!c->cbs_.on_message || !m || !m->topic)
    return;
  std::string payload;
  if (m->payload && m->payloadlen > 0)
    payload.assign(static_cast<const char*>(m->payload),
                   static_cast<size_t>(m->payloadlen));
  c->cbs_.on_message(m->topic, std::move(payload), m->retain);
}

void mqtt_client::on_publish_cb(struct mosquitto*, void* self, int mid) {
  auto* c = static_cast<mqtt_client*>(self);
  c->sent_.fetch_add(1);
  if (c->cbs_.on_publish)
    c->cbs_.on_publish(mid);
}

} // namespace spin
