#include "spin/runtime/mqtt_client.hpp"

#include "spin/runtime/log.hpp"

#include <mosquitto.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
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
  if (running_)
    return true;
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
  if (!wake_.open()) {
    error = std::string{"cannot create an eventfd for the MQTT thread: "} + strerror(errno);
    return false;
  }
  retry_delay_s_ = std::max(settings_.reconnect_min, 1);
  next_connect_ = std::chrono::steady_clock::now();
  running_ = true;
  thread_ = std::thread([this] { run(); });
  return true;
}

int mqtt_client::publish(const std::string& topic, std::string&& payload, bool retain,
                         int qos) {
  if (!mosq_ || !running_)
    return MOSQ_ERR_INVAL;
  if (!connected_.load(std::memory_order_relaxed))
    return MOSQ_ERR_NO_CONN;
  return enqueue(op{op::kind::publish, retain, qos, topic, std::move(payload)});
}

int mqtt_client::subscribe(const std::string& pattern, int qos) {
  if (!mosq_ || !running_)
    return MOSQ_ERR_INVAL;
  return enqueue(op{op::kind::subscribe, false, qos, pattern, {}});
}

int mqtt_client::unsubscribe(const std::string& pattern) {
  if (!mosq_ || !running_)
    return MOSQ_ERR_INVAL;
  return enqueue(op{op::kind::unsubscribe, false, 0, pattern, {}});
}

int mqtt_client::enqueue(op o) {
  bool was_empty;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    // Checked under the lock: the thread's last drain takes it after
    // stopping_ is set, so nothing queued after that is left behind.
    if (stopping_.load())
      return MOSQ_ERR_NO_CONN;
    if (o.what == op::kind::publish)
      queued_.fetch_add(1);
    was_empty = ops_.empty();
    ops_.push_back(std::move(o));
  }
  if (was_empty)
    wake_.signal();
  return MOSQ_ERR_SUCCESS;
}

bool mqtt_client::drain() {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    if (ops_.empty())
      return false;
    work_.swap(ops_);
  }
  // Corked, the messages of a burst share segments (and the broker's reads);
  // uncorking sends what is left at once. Harmless where it does not apply.
  int fd = mosquitto_socket(mosq_);
  int on = 1;
  bool corked = fd >= 0 && work_.size() > 1 &&
                setsockopt(fd, IPPROTO_TCP, TCP_CORK, &on, sizeof(on)) == 0;
  for (auto& o : work_) {
    int rc;
    switch (o.what) {
    case op::kind::publish: {
      // A message written at once is reported written (its publish
      // callback) before mosquitto_publish returns: the callback knows it by
      // publishing_mid_, which libmosquitto sets before it writes.
      publishing_ = true;
      publishing_done_ = false;
      publishing_mid_ = 0;
      rc = mosquitto_publish(mosq_, &publishing_mid_, o.topic.c_str(),
                             static_cast<int>(o.payload.size()), o.payload.data(), o.qos,
                             o.retain);
      publishing_ = false;
      // QoS 1 and 2 messages stay with libmosquitto without a connection
      // too (they are sent after the next CONNACK).
      bool kept = rc == MOSQ_ERR_SUCCESS || (rc == MOSQ_ERR_NO_CONN && o.qos > 0);
      if (kept && publishing_done_) {
        sent_.fetch_add(1);
      } else if (kept) {
        pending_[publishing_mid_] = static_cast<uint8_t>(o.qos);
      } else {
        sent_.fetch_add(1);
        lost_.fetch_add(1);
      }
      break;
    }
    case op::kind::subscribe:
      rc = mosquitto_subscribe(mosq_, nullptr, o.topic.c_str(), o.qos);
      if (rc != MOSQ_ERR_SUCCESS)
        SPIN_DEBUG("mqtt: subscribe %s: %s", o.topic.c_str(), mosquitto_strerror(rc));
      break;
    case op::kind::unsubscribe:
      rc = mosquitto_unsubscribe(mosq_, nullptr, o.topic.c_str());
      if (rc != MOSQ_ERR_SUCCESS)
        SPIN_DEBUG("mqtt: unsubscribe %s: %s", o.topic.c_str(), mosquitto_strerror(rc));
      break;
    }
  }
  if (corked) {
    int off = 0;
    setsockopt(fd, IPPROTO_TCP, TCP_CORK, &off, sizeof(off));
  }
  work_.clear();
  if (work_.capacity() > 4096)
    work_.shrink_to_fit(); // a burst's worth, not a flood's
  return true;
}

void mqtt_client::schedule_reconnect() {
  next_connect_ = std::chrono::steady_clock::now() + std::chrono::seconds(retry_delay_s_);
  retry_delay_s_ = std::min(retry_delay_s_ * 2, std::max(settings_.reconnect_max, 1));
}

void mqtt_client::run() {
  bool first = true;
  while (!stopping_.load()) {
    auto now = std::chrono::steady_clock::now();
    if (!have_socket_ && now >= next_connect_) {
      int rc = first ? mosquitto_connect_async(mosq_, settings_.host.c_str(), settings_.port,
                                               settings_.keepalive)
                     : mosquitto_reconnect_async(mosq_);
      if (rc == MOSQ_ERR_SUCCESS && mosquitto_socket(mosq_) >= 0) {
        first = false;
        have_socket_ = true;
        disconnect_seen_ = false;
      } else {
        if (first)
          SPIN_WARN("mqtt: cannot connect to %s:%u yet: %s; retrying in %d s",
                    settings_.host.c_str(), settings_.port,
                    rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc),
                    retry_delay_s_);
        schedule_reconnect();
      }
    }
    drain();
    int fd = have_socket_ ? mosquitto_socket(mosq_) : -1;
    pollfd fds[2] = {{wake_.fd(), POLLIN, 0}, {fd, POLLIN, 0}};
    if (fd >= 0 && mosquitto_want_write(mosq_))
      fds[1].events |= POLLOUT;
    int timeout_ms = 1000; // keepalive pings are due in whole seconds
    if (!have_socket_) {
      auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
                      next_connect_ - std::chrono::steady_clock::now())
                      .count();
      timeout_ms = static_cast<int>(std::clamp<int64_t>(wait, 0, 1000));
    }
    int n = poll(fds, fd >= 0 ? 2 : 1, timeout_ms);
    if (n < 0 && errno != EINTR) {
      SPIN_ERROR("mqtt: poll: %s", strerror(errno));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (n > 0 && (fds[0].revents & POLLIN)) {
      wake_.clear();
    }
    if (have_socket_) {
      // Whatever is ready (connect completion, TLS, reads, writes, keepalive),
      // without waiting: poll() did the waiting.
      int rc = mosquitto_loop(mosq_, 0, 1);
      if (rc != MOSQ_ERR_SUCCESS || mosquitto_socket(mosq_) < 0) {
        // Some ends (a failed TLS handshake, a select() error) close or
        // give up the socket without the disconnect callback.
        if (!disconnect_seen_)
          connection_gone(rc == MOSQ_ERR_SUCCESS ? MOSQ_ERR_CONN_LOST : rc);
        have_socket_ = false;
        schedule_reconnect();
      }
    }
  }
  // Stopping: what was queued goes out first, then a clean DISCONNECT, for at
  // most a few seconds (a broker that does not read cannot hold spind up).
  // publish() refuses new messages from here on (stopping_, under the lock).
  drain();
  if (have_socket_ && connected_) {
    mosquitto_disconnect(mosq_);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while (mosquitto_socket(mosq_) >= 0 && std::chrono::steady_clock::now() < deadline) {
      int fd = mosquitto_socket(mosq_);
      pollfd p{fd, static_cast<short>(POLLIN | (mosquitto_want_write(mosq_) ? POLLOUT : 0)),
               0};
      poll(&p, 1, 100);
      if (mosquitto_loop(mosq_, 0, 1) != MOSQ_ERR_SUCCESS)
        break;
    }
  }
  connected_ = false;
  // What did not leave by now never will.
  sent_.fetch_add(static_cast<int64_t>(pending_.size()));
  lost_.fetch_add(static_cast<int64_t>(pending_.size()));
  pending_.clear();
}

void mqtt_client::connection_gone(int rc) {
  disconnect_seen_ = true;
  connected_ = false;
  // QoS 0 messages not written yet are gone with the connection; QoS 1 and 2
  // ones are sent again after the next CONNACK.
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (it->second == 0) {
      sent_.fetch_add(1);
      lost_.fetch_add(1);
      it = pending_.erase(it);
    } else {
      ++it;
    }
  }
  if (cbs_.on_disconnect)
    cbs_.on_disconnect(rc, rc == 0 ? "requested" : mosquitto_strerror(rc));
}

void mqtt_client::stop() {
  if (!running_)
    return;
  stopping_ = true;
  wake_.signal();
  if (thread_.joinable())
    thread_.join();
  running_ = false;
}

void mqtt_client::on_connect_cb(struct mosquitto*, void* self, int rc) {
  auto* c = static_cast<mqtt_client*>(self);
  if (rc == 0) {
    c->connected_ = true;
    c->retry_delay_s_ = std::max(c->settings_.reconnect_min, 1);
  }
  if (c->cbs_.on_connect)
    c->cbs_.on_connect(rc, mosquitto_connack_string(rc));
}

void mqtt_client::on_disconnect_cb(struct mosquitto*, void* self, int rc) {
  static_cast<mqtt_client*>(self)->connection_gone(rc);
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
  if (c->pending_.erase(mid) > 0)
    c->sent_.fetch_add(1);
  else if (c->publishing_ && mid == c->publishing_mid_)
    c->publishing_done_ = true; // written inside mosquitto_publish
}

} // namespace spin
