// The simulated home network: the DNS zone data of the invented internet
// services, the service catalogue, and the LAN device templates.
#pragma once

#include "rng.hpp"
#include "wire.hpp"
#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace tg {

// How a service is talked to (see README.md, "Model").
enum class Profile : std::uint8_t {
  Web,          // HTTPS page loads: TLS handshake + a few request/response pairs
  Api,          // HTTPS API calls: small requests and responses
  Beacon,       // tracker / ad / telemetry beacon: handshake + one tiny exchange
  Media,        // HTTPS images / short clips: medium responses
  Video,        // HTTPS video segments every few seconds (TVs)
  Audio,        // HTTPS audio chunks (speakers)
  Download,     // HTTPS large download (updates, game store)
  Upload,       // HTTPS large upload (photo backup, camera clips)
  Mqtt,         // MQTT over TLS, port 8883
  Push,         // long-lived push channel, port 5228
  Http,         // plain HTTP connectivity check (204)
  HttpDownload, // plain HTTP firmware download
  Ntp,          // NTP, UDP 123
  IotUdp,       // small custom UDP request/response
  Call,         // UDP media both ways (voice/video call)
  Game,         // UDP game traffic both ways
};

enum class Kind : std::uint8_t { Phone, Laptop, Tv, Console, Speaker, Iot };

// One owner name in the simulated DNS: either a CNAME or address records.
struct DnsName {
  std::string name;
  int cname = -1; // index of the target name, or -1
  std::uint32_t ttl = 300;
  std::vector<Addr> a;
  std::vector<Addr> aaaa;
  // which records were seen in an answer written to the capture
  bool cname_seen = false;
  std::vector<char> a_seen;
  std::vector<char> aaaa_seen;
};

struct Service {
  int name = -1;       // queried name (index into Model::names)
  int final_name = -1; // end of the CNAME chain (owns the addresses)
  Profile profile = Profile::Web;
  std::uint16_t port = 443;
  bool quic = false;           // also reachable over QUIC (UDP 443)
  std::uint32_t min_ttl = 300; // smallest TTL along the chain
  int rtt_us = 20000;          // round trip router <-> service
  std::uint8_t hops_ttl4 = 52; // IPv4 TTL / IPv6 hop limit seen on the LAN
  std::uint8_t hops_ttl6 = 52;
  // Sub-resources: a session of this service (a page load, an app screen)
  // also opens sub_min..sub_max connections of their own to these services.
  std::vector<int> sub;
  std::vector<double> sub_cum;
  int sub_min = 0, sub_max = 0;
};

struct Affinity {
  const char* service;
  double weight;
};

struct DeviceTemplate {
  const char* host;
  Kind kind;
  bool v6;
  const char* persistent;         // long-lived connection started after DHCP, or nullptr
  std::vector<Affinity> services; // empty: the kind's default list
};

struct Device {
  Mac mac;
  Addr ip4;
  Addr ula; // family 0 when the device has no IPv6
  Addr ll;
  bool v6 = false;
  std::string host;
  Kind kind = Kind::Iot;
  std::string dhcp_vendor;
  std::uint8_t ip_ttl = 64;
  bool edns = false;           // adds an EDNS OPT record to its queries
  bool dhcp_broadcast = false; // sets the BOOTP broadcast flag
  double activity = 1.0;       // relative weight when picking a device for a new session
  int persistent = -1;         // service index of the long-lived connection
  std::vector<int> services;   // service indices
  std::vector<double> cum;     // cumulative weights for services
  std::vector<std::int64_t> dns_expiry; // per service: cached until (us)
  // mDNS / SSDP role
  const char* mdns_type =
      nullptr; // service type announced, e.g. "_googlecast._tcp.local"
  std::uint16_t mdns_port = 0;
  bool mdns_browser = false; // sends mDNS queries
  bool ssdp_responder = false;
  bool ssdp_searcher = false;
  bool igmp = false; // joins multicast groups
  // state
  bool online = false;
  std::int64_t online_at = 0;
  std::int64_t v6_ready = 0; // global IPv6 usable (after RA + DAD) from then on

  bool v6_at(std::int64_t t) const { return v6 && online && t >= v6_ready; }
  std::vector<std::int64_t> dns_ready; // per service: cached answer written by then (us)
  std::vector<char> dns_aaaa;          // per service: the cached lookup asked for AAAA
  std::uint32_t xid = 0;
  std::uint16_t ipid = 0;
};

inline bool is_multicast_capable(Kind k) {
  return k != Kind::Iot;
}

// ------------------------------------------------------------------ tables

struct ZoneDef {
  const char* name;
  const char* cname; // nullptr: address records
  int n4;
  int n6;
  std::uint32_t ttl;
};

// Base catalogue zone data. Address records are filled in at start-up from
// plausible public ranges; every base name gets its own addresses.
inline const std::vector<ZoneDef>& base_zone() {
  static const std::vector<ZoneDef> z = {
      {"api.thermo-cloud.example", nullptr, 2, 0, 300},
      {"time.ntp-pool.example", nullptr, 4, 2, 150},
      {"video.streamco.example", "video.streamco.edge-cdn.example", 0, 0, 3600},
      {"video.streamco.edge-cdn.example", nullptr, 4, 2, 60},
      {"www.streamco.example", nullptr, 2, 2, 300},
      {"api.streamco.example", nullptr, 2, 1, 300},
      {"www.shop.example", "shop.edge-cdn.example", 0, 0, 3600},
      {"shop.edge-cdn.example", "e123.cdn.example", 0, 0, 600},
      {"e123.cdn.example", nullptr, 2, 2, 60},
      {"img.shop.example", "shop-img.edge-cdn.example", 0, 0, 3600},
      {"shop-img.edge-cdn.example", "e456.cdn.example", 0, 0, 600},
      {"e456.cdn.example", nullptr, 3, 2, 60},
      {"push.mobile-os.example", nullptr, 3, 2, 300},
      {"connectivity-check.mobile-os.example", nullptr, 2, 2, 30},
      {"updates.mobile-os.example", "updates.mobile-os.bigcdn.example", 0, 0, 1800},
      {"updates.mobile-os.bigcdn.example", nullptr, 4, 2, 120},
      {"mail.webmail.example", nullptr, 2, 2, 600},
      {"www.news-daily.example", "news-daily.edge-cdn.example", 0, 0, 3600},
      {"news-daily.edge-cdn.example", "e789.cdn.example", 0, 0, 600},
      {"e789.cdn.example", nullptr, 2, 1, 60},
      {"api.social-feed.example", nullptr, 3, 2, 60},
      {"media.social-feed.example", "media.social-feed.fastcdn.example", 0, 0, 300},
      {"media.social-feed.fastcdn.example", nullptr, 4, 2, 30},
      {"chat.messenger.example", nullptr, 2, 2, 300},
      {"voice.messenger.example", nullptr, 2, 1, 120},
      {"search.find-engine.example", nullptr, 4, 2, 300},
      {"music.tunes-stream.example", "tunes-stream.audio-cdn.example", 0, 0, 3600},
      {"tunes-stream.audio-cdn.example", nullptr, 3, 2, 60},
      {"ads.tracker-net.example", nullptr, 4, 0, 30},
      {"metrics.tracker-net.example", nullptr, 2, 0, 30},
      {"upload.cam-cloud.example", nullptr, 2, 0, 600},
      {"events.cam-cloud.example", nullptr, 1, 0, 600},
      {"plugs.smarthome-hub.example", nullptr, 2, 0, 3600},
      {"firmware.smarthome-hub.example", nullptr, 1, 0, 86400},
      {"api.voice-assistant.example", nullptr, 3, 2, 300},
      {"games.play-net.example", nullptr, 3, 0, 300},
      {"store.play-net.example", "store.play-net.bigcdn.example", 0, 0, 1800},
      {"store.play-net.bigcdn.example", nullptr, 3, 1, 120},
      {"cloud.photo-backup.example", nullptr, 2, 2, 300},
      {"docs.office-suite.example", nullptr, 3, 2, 300},
      {"meet.office-suite.example", nullptr, 2, 2, 60},
      {"weather.forecast-api.example", nullptr, 2, 0, 1800},
      {"tv-guide.broadcaster.example", nullptr, 1, 0, 3600},
      {"licence.drm-service.example", nullptr, 2, 0, 600},
      {"telemetry.tv-maker.example", nullptr, 1, 0, 86400},
      {"wiki.encyclo.example", nullptr, 3, 2, 3600},
      {"maps.geo-nav.example", nullptr, 3, 2, 300},
      {"bank.secure-pay.example", nullptr, 2, 0, 60},
      {"vacuum.robo-cloud.example", nullptr, 2, 0, 600},
      {"printer.ink-cloud.example", nullptr, 1, 0, 3600},
      {"hub.light-bridge.example", nullptr, 2, 0, 3600},
      {"appliance.home-appliance.example", nullptr, 1, 0, 1800},
      {"energy.solar-monitor.example", nullptr, 1, 0, 3600},
      {"fonts.typeface-cdn.example", nullptr, 2, 2, 86400},
      {"pixel.ad-exchange.example", nullptr, 3, 2, 60},
      {"images.news-daily.example", "news-daily-img.fastcdn.example", 0, 0, 3600},
      {"news-daily-img.fastcdn.example", nullptr, 3, 2, 30},
      {"telemetry.mobile-os.example", nullptr, 2, 2, 300},
  };
  return z;
}

struct ServiceDef {
  const char* name;
  Profile profile;
  std::uint16_t port;
  bool quic;
};

inline const std::vector<ServiceDef>& base_services() {
  static const std::vector<ServiceDef> s = {
      {"api.thermo-cloud.example", Profile::Mqtt, 8883, false},
      {"time.ntp-pool.example", Profile::Ntp, 123, false},
      {"video.streamco.example", Profile::Video, 443, true},
      {"www.streamco.example", Profile::Web, 443, true},
      {"api.streamco.example", Profile::Api, 443, false},
      {"www.shop.example", Profile::Web, 443, true},
      {"img.shop.example", Profile::Media, 443, true},
      {"push.mobile-os.example", Profile::Push, 5228, false},
      {"connectivity-check.mobile-os.example", Profile::Http, 80, false},
      {"updates.mobile-os.example", Profile::Download, 443, false},
      {"mail.webmail.example", Profile::Web, 443, false},
      {"www.news-daily.example", Profile::Web, 443, false},
      {"api.social-feed.example", Profile::Api, 443, true},
      {"media.social-feed.example", Profile::Media, 443, true},
      {"chat.messenger.example", Profile::Api, 443, false},
      {"voice.messenger.example", Profile::Call, 50000, false},
      {"search.find-engine.example", Profile::Web, 443, true},
      {"music.tunes-stream.example", Profile::Audio, 443, false},
      {"ads.tracker-net.example", Profile::Beacon, 443, false},
      {"metrics.tracker-net.example", Profile::Beacon, 443, true},
      {"upload.cam-cloud.example", Profile::Upload, 443, false},
      {"events.cam-cloud.example", Profile::IotUdp, 10443, false},
      {"plugs.smarthome-hub.example", Profile::IotUdp, 6668, false},
      {"firmware.smarthome-hub.example", Profile::HttpDownload, 80, false},
      {"api.voice-assistant.example", Profile::Api, 443, false},
      {"games.play-net.example", Profile::Game, 3074, false},
      {"store.play-net.example", Profile::Download, 443, false},
      {"cloud.photo-backup.example", Profile::Upload, 443, false},
      {"docs.office-suite.example", Profile::Web, 443, true},
      {"meet.office-suite.example", Profile::Call, 50100, false},
      {"weather.forecast-api.example", Profile::Api, 443, false},
      {"tv-guide.broadcaster.example", Profile::Api, 443, false},
      {"licence.drm-service.example", Profile::Api, 443, false},
      {"telemetry.tv-maker.example", Profile::Api, 443, false},
      {"wiki.encyclo.example", Profile::Web, 443, false},
      {"maps.geo-nav.example", Profile::Web, 443, true},
      {"bank.secure-pay.example", Profile::Web, 443, false},
      {"vacuum.robo-cloud.example", Profile::Mqtt, 8883, false},
      {"printer.ink-cloud.example", Profile::Api, 443, false},
      {"hub.light-bridge.example", Profile::Api, 443, false},
      {"appliance.home-appliance.example", Profile::Mqtt, 8883, false},
      {"energy.solar-monitor.example", Profile::Api, 443, false},
      {"fonts.typeface-cdn.example", Profile::Api, 443, true},
      {"pixel.ad-exchange.example", Profile::Beacon, 443, true},
      {"images.news-daily.example", Profile::Media, 443, true},
      {"telemetry.mobile-os.example", Profile::Beacon, 443, false},
  };
  return s;
}

// The main activities of a device kind, by weight. Pages and app screens
// bring their sub-resource connections along (page_subresources below), so
// most sessions are short; video, audio, downloads, uploads, calls and
// games are few but carry most of the bytes.
inline const std::vector<Affinity>& default_affinities(Kind k) {
  static const std::vector<Affinity> phone = {
      // pages
      {"www.shop.example", 1.5},
      {"www.news-daily.example", 1.5},
      {"search.find-engine.example", 3},
      {"maps.geo-nav.example", 1},
      {"mail.webmail.example", 1.5},
      {"wiki.encyclo.example", 0.8},
      {"bank.secure-pay.example", 0.3},
      // apps, beacons, background
      {"api.social-feed.example", 5},
      {"chat.messenger.example", 5},
      {"telemetry.mobile-os.example", 3},
      {"ads.tracker-net.example", 2},
      {"metrics.tracker-net.example", 3},
      {"pixel.ad-exchange.example", 1.5},
      {"weather.forecast-api.example", 0.6},
      {"connectivity-check.mobile-os.example", 0.5},
      {"img.shop.example", 0.5},
      {"media.social-feed.example", 1},
      {"time.ntp-pool.example", 0.3},
      // few, but most of the bytes
      {"video.streamco.example", 0.07},
      {"music.tunes-stream.example", 0.15},
      {"updates.mobile-os.example", 0.02},
      {"cloud.photo-backup.example", 0.05},
      {"voice.messenger.example", 0.02},
  };
  static const std::vector<Affinity> laptop = {
      {"docs.office-suite.example", 4},    {"mail.webmail.example", 2.5},
      {"search.find-engine.example", 4},   {"wiki.encyclo.example", 1.5},
      {"www.news-daily.example", 2},       {"www.shop.example", 1.5},
      {"bank.secure-pay.example", 0.5},    {"chat.messenger.example", 4},
      {"api.social-feed.example", 2},      {"telemetry.mobile-os.example", 2},
      {"ads.tracker-net.example", 2},      {"metrics.tracker-net.example", 3},
      {"pixel.ad-exchange.example", 1.5},  {"connectivity-check.mobile-os.example", 0.3},
      {"img.shop.example", 0.5},           {"media.social-feed.example", 0.5},
      {"time.ntp-pool.example", 0.3},      {"video.streamco.example", 0.1},
      {"updates.mobile-os.example", 0.03}, {"cloud.photo-backup.example", 0.05},
      {"meet.office-suite.example", 0.02},
  };
  static const std::vector<Affinity> tv = {
      {"video.streamco.example", 0.3},    {"www.streamco.example", 1},
      {"api.streamco.example", 4},        {"tv-guide.broadcaster.example", 2},
      {"licence.drm-service.example", 1}, {"telemetry.tv-maker.example", 5},
      {"ads.tracker-net.example", 2},     {"metrics.tracker-net.example", 2},
      {"time.ntp-pool.example", 0.3},
  };
  static const std::vector<Affinity> console = {
      {"games.play-net.example", 0.3},    {"store.play-net.example", 0.05},
      {"video.streamco.example", 0.2},    {"api.streamco.example", 2},
      {"metrics.tracker-net.example", 3}, {"telemetry.tv-maker.example", 1},
      {"time.ntp-pool.example", 0.3},
  };
  static const std::vector<Affinity> speaker = {
      {"music.tunes-stream.example", 0.6}, {"api.voice-assistant.example", 6},
      {"weather.forecast-api.example", 2}, {"metrics.tracker-net.example", 2},
      {"time.ntp-pool.example", 0.5},
  };
  static const std::vector<Affinity> iot = {{"time.ntp-pool.example", 1}};
  switch (k) {
  case Kind::Phone:
    return phone;
  case Kind::Laptop:
    return laptop;
  case Kind::Tv:
    return tv;
  case Kind::Console:
    return console;
  case Kind::Speaker:
    return speaker;
  case Kind::Iot:
    break;
  }
  return iot;
}

struct SubresourceDef {
  const char* service;
  int min, max; // connections of their own per session
  std::vector<Affinity> to;
};

// Connections a page load or app screen opens besides its own (images and
// fonts from CDNs, ads, trackers). --cdn-overlap adds its sites separately.
inline const std::vector<SubresourceDef>& page_subresources() {
  static const std::vector<SubresourceDef> s = {
      {"www.shop.example",
       3,
       10,
       {{"img.shop.example", 6},
        {"fonts.typeface-cdn.example", 1},
        {"ads.tracker-net.example", 2},
        {"metrics.tracker-net.example", 2},
        {"pixel.ad-exchange.example", 2}}},
      {"www.news-daily.example",
       4,
       12,
       {{"images.news-daily.example", 6},
        {"fonts.typeface-cdn.example", 1},
        {"ads.tracker-net.example", 3},
        {"metrics.tracker-net.example", 2},
        {"pixel.ad-exchange.example", 3}}},
      {"search.find-engine.example",
       1,
       4,
       {{"metrics.tracker-net.example", 2},
        {"ads.tracker-net.example", 1},
        {"fonts.typeface-cdn.example", 1}}},
      {"maps.geo-nav.example",
       2,
       6,
       {{"maps.geo-nav.example", 4}, {"metrics.tracker-net.example", 1}}},
      {"mail.webmail.example",
       1,
       3,
       {{"fonts.typeface-cdn.example", 1}, {"metrics.tracker-net.example", 1}}},
      {"docs.office-suite.example",
       1,
       4,
       {{"fonts.typeface-cdn.example", 1}, {"metrics.tracker-net.example", 1}}},
      {"wiki.encyclo.example", 0, 3, {{"fonts.typeface-cdn.example", 1}}},
      {"bank.secure-pay.example", 1, 3, {{"metrics.tracker-net.example", 1}}},
      {"www.streamco.example",
       2,
       5,
       {{"api.streamco.example", 3}, {"metrics.tracker-net.example", 1}}},
      {"api.social-feed.example",
       1,
       6,
       {{"media.social-feed.example", 6},
        {"pixel.ad-exchange.example", 1},
        {"ads.tracker-net.example", 1}}},
      {"api.streamco.example", 0, 2, {{"metrics.tracker-net.example", 1}}},
  };
  return s;
}

// Interleaved so that a small --devices still gets a mix of kinds.
inline const std::vector<DeviceTemplate>& device_templates() {
  static const std::vector<DeviceTemplate> t = {
      {"alices-phone", Kind::Phone, true, "push.mobile-os.example", {}},
      {"living-room-tv", Kind::Tv, true, nullptr, {}},
      {"thermostat",
       Kind::Iot,
       false,
       "api.thermo-cloud.example",
       {{"api.thermo-cloud.example", 3},
        {"weather.forecast-api.example", 2},
        {"time.ntp-pool.example", 1}}},
      {"work-laptop", Kind::Laptop, true, "chat.messenger.example", {}},
      {"kitchen-speaker", Kind::Speaker, true, "api.voice-assistant.example", {}},
      {"doorbell-cam",
       Kind::Iot,
       false,
       "upload.cam-cloud.example",
       {{"events.cam-cloud.example", 3},
        {"upload.cam-cloud.example", 1},
        {"time.ntp-pool.example", 1}}},
      {"bobs-phone", Kind::Phone, true, "push.mobile-os.example", {}},
      {"smart-plug-1",
       Kind::Iot,
       false,
       "plugs.smarthome-hub.example",
       {{"plugs.smarthome-hub.example", 4},
        {"firmware.smarthome-hub.example", 0.05},
        {"time.ntp-pool.example", 1}}},
      {"family-laptop", Kind::Laptop, true, nullptr, {}},
      {"bedroom-tv", Kind::Tv, true, nullptr, {}},
      {"robot-vacuum",
       Kind::Iot,
       true,
       "vacuum.robo-cloud.example",
       {{"vacuum.robo-cloud.example", 3}, {"time.ntp-pool.example", 1}}},
      {"kids-tablet", Kind::Phone, true, "push.mobile-os.example", {}},
      {"light-bridge",
       Kind::Iot,
       true,
       "hub.light-bridge.example",
       {{"hub.light-bridge.example", 3}, {"time.ntp-pool.example", 1}}},
      {"game-console", Kind::Console, true, nullptr, {}},
      {"smart-plug-2",
       Kind::Iot,
       false,
       "plugs.smarthome-hub.example",
       {{"plugs.smarthome-hub.example", 4},
        {"firmware.smarthome-hub.example", 0.05},
        {"time.ntp-pool.example", 1}}},
      {"carols-phone", Kind::Phone, true, "push.mobile-os.example", {}},
      {"printer",
       Kind::Iot,
       true,
       nullptr,
       {{"printer.ink-cloud.example", 2}, {"time.ntp-pool.example", 1}}},
      {"living-room-speaker", Kind::Speaker, true, "api.voice-assistant.example", {}},
      {"garden-cam",
       Kind::Iot,
       false,
       "upload.cam-cloud.example",
       {{"events.cam-cloud.example", 3},
        {"upload.cam-cloud.example", 1},
        {"time.ntp-pool.example", 1}}},
      {"desktop-pc", Kind::Laptop, true, nullptr, {}},
      {"smoke-detector",
       Kind::Iot,
       true,
       "api.thermo-cloud.example",
       {{"api.thermo-cloud.example", 2}, {"time.ntp-pool.example", 1}}},
      {"streaming-stick", Kind::Tv, true, nullptr, {}},
      {"smart-plug-3",
       Kind::Iot,
       false,
       "plugs.smarthome-hub.example",
       {{"plugs.smarthome-hub.example", 4},
        {"firmware.smarthome-hub.example", 0.05},
        {"time.ntp-pool.example", 1}}},
      {"daves-phone", Kind::Phone, false, "push.mobile-os.example", {}},
      {"washing-machine",
       Kind::Iot,
       false,
       "appliance.home-appliance.example",
       {{"appliance.home-appliance.example", 2}, {"time.ntp-pool.example", 1}}},
      {"alices-macbook", Kind::Laptop, true, "chat.messenger.example", {}},
      {"baby-monitor",
       Kind::Iot,
       false,
       "events.cam-cloud.example",
       {{"events.cam-cloud.example", 3},
        {"upload.cam-cloud.example", 0.5},
        {"time.ntp-pool.example", 1}}},
      {"fridge",
       Kind::Iot,
       true,
       "appliance.home-appliance.example",
       {{"appliance.home-appliance.example", 2}, {"time.ntp-pool.example", 1}}},
      {"bathroom-speaker", Kind::Speaker, false, "api.voice-assistant.example", {}},
      {"solar-inverter",
       Kind::Iot,
       false,
       "energy.solar-monitor.example",
       {{"energy.solar-monitor.example", 3}, {"time.ntp-pool.example", 1}}},
      {"smart-plug-4",
       Kind::Iot,
       false,
       "plugs.smarthome-hub.example",
       {{"plugs.smarthome-hub.example", 4},
        {"firmware.smarthome-hub.example", 0.05},
        {"time.ntp-pool.example", 1}}},
      {"grandmas-tablet", Kind::Phone, true, "push.mobile-os.example", {}},
      {"air-purifier",
       Kind::Iot,
       false,
       "appliance.home-appliance.example",
       {{"appliance.home-appliance.example", 2}, {"time.ntp-pool.example", 1}}},
      {"ev-charger",
       Kind::Iot,
       true,
       "energy.solar-monitor.example",
       {{"energy.solar-monitor.example", 2}, {"time.ntp-pool.example", 1}}},
      {"bobs-laptop", Kind::Laptop, true, nullptr, {}},
      {"weather-station",
       Kind::Iot,
       false,
       "weather.forecast-api.example",
       {{"weather.forecast-api.example", 3}, {"time.ntp-pool.example", 1}}},
  };
  return t;
}

// Sites behind the shared CDNs of --cdn-overlap.
inline const std::vector<const char*>& cdn_sites() {
  static const std::vector<const char*> s = {
      "blog-hub",      "recipes-daily", "sports-live", "kids-games",   "travel-deals",
      "fashion-store", "tech-reviews",  "local-news",  "movie-db",     "garden-tips",
      "car-forum",     "pet-care",      "diy-home",    "music-charts", "health-info",
      "job-board",     "real-estate",   "photo-share",
  };
  return s;
}

// ------------------------------------------------------------------ --dns-share

// Families of generated names for the DNS-heavy mode: CDN shards, tracker,
// ad and telemetry hosts, API and site subdomains. Every name is a variant
// of a catalogue service (same profile, port and QUIC support), so a
// session can use it in place of that service.
struct DnsFamilyDef {
  const char* base;    // catalogue service whose profile the names inherit
  const char* stems;   // first labels, '|'-separated
  const char* domains; // parent domains, '|'-separated
  int count;
  // 0 STEMn.DOMAIN, 1 STEM-POPn.DOMAIN, 2 rrN---sn-XXXXXXXX.DOMAIN,
  // 3 STEM.DOMAIN (then STEMn.DOMAIN)
  int style;
  // How the names resolve (weights): address records of their own; a CNAME
  // to one of the family's load balancers; to a cloud distribution; into
  // the edge CDN (2 aliases); through a traffic manager into the edge CDN
  // (3 aliases); through a per-domain map name into the fastlane CDN (2).
  float how[6];
  float dual;       // share of owners of their own with AAAA records
  int a_min, a_max; // their A records
  // TTL class of the queried names: 0 short, 1 medium, 2 long, 3 wide, 4 video
  int ttl;
  float kind_w[5]; // popularity for phones, laptops, TVs, consoles, speakers
};

// clang-format off
inline const std::vector<DnsFamilyDef>& dns_families() {
  static const std::vector<DnsFamilyDef> f = {
    //  how: direct   lb  cloud edge   tm  fast   dual  A     ttl  phone laptop tv console speaker
    {"img.shop.example", "img", "cdn-images.example", 160, 0,
        {.2f, 0, .3f, .35f, .15f, 0},      .9f,  1, 4, 2, {3, 3, 0, 0, 0}},
    {"images.news-daily.example", "thumbs|photos|i", "news-daily.example|news-media.example", 120, 0,
        {.3f, 0, .3f, 0, 0, .4f},          .85f, 2, 4, 2, {2, 2, 0, 0, 0}},
    {"media.social-feed.example", "scontent|video", "social-cdn.example", 200, 1,
        {1, 0, 0, 0, 0, 0},                .9f,  1, 2, 1, {4, 1.5f, 0, 0, 0}},
    {"video.streamco.example", "rr", "video-cache.streamco.example", 120, 2,
        {1, 0, 0, 0, 0, 0},                .9f,  1, 1, 4, {.3f, .3f, 3, 2, 0}},
    {"ads.tracker-net.example", "ads|adserver|bid|sync|match|cm|ib",
        "adnet-sync.example|rtb-bidder.example|cookie-match.example|adserve-cdn.example|"
        "ad-exchange.example", 400, 0,
        {.6f, .25f, .15f, 0, 0, 0},        .85f, 1, 4, 0, {4, 4, 2, 1, .5f}},
    {"metrics.tracker-net.example", "collect|events|t|stats|log|beacon",
        "metrics-collector.example|app-analytics.example|tag-manager.example|"
        "session-replay.example|heatmap-stats.example", 300, 0,
        {.5f, .3f, 0, .2f, 0, 0},          .85f, 1, 3, 0, {4, 4, 2, 2, 1}},
    {"pixel.ad-exchange.example", "px|pixel|p", "ad-exchange.example|retarget-px.example", 100, 0,
        {.7f, 0, .3f, 0, 0, 0},            .8f,  1, 2, 0, {2, 2, .5f, 0, 0}},
    {"telemetry.mobile-os.example", "telemetry|crash|diag|events|config|settings",
        "mobile-os.example|os-telemetry.example", 150, 1,
        {.6f, 0, 0, .4f, 0, 0},            .9f,  2, 4, 1, {3, 2, 0, 0, 0}},
    {"api.social-feed.example", "graph|edge-chat|api|rupload|b-graph", "social-feed.example", 120, 0,
        {.5f, .5f, 0, 0, 0, 0},            .9f,  1, 3, 1, {4, 1.5f, 0, 0, 0}},
    {"chat.messenger.example", "chat|gateway|mmg|media|presence", "messenger.example", 80, 0,
        {1, 0, 0, 0, 0, 0},                .9f,  1, 2, 1, {3, 3, 0, 0, 0}},
    {"api.streamco.example", "api|ichnaea|occ|nrdp|customerevents|secure",
        "streamco.example|streamco-api.example", 120, 0,
        {.7f, 0, 0, .3f, 0, 0},            .85f, 2, 4, 1, {.5f, .5f, 4, 3, 0}},
    {"telemetry.tv-maker.example", "log|acr|api|ads|config|time",
        "tv-maker.example|tv-maker-cloud.example", 100, 0,
        {1, 0, 0, 0, 0, 0},                .4f,  1, 3, 3, {0, 0, 4, 1, 0}},
    {"fonts.typeface-cdn.example", "static|assets|fonts|js|css",
        "typeface-cdn.example|static-assets.example|libs-cdn.example", 140, 0,
        {.5f, 0, 0, 0, 0, .5f},            .9f,  2, 4, 2, {2, 3, 0, 0, 0}},
    {"api.voice-assistant.example", "avs|api|dcape|device-metrics|unagi",
        "voice-assistant.example|va-cloud.example", 60, 0,
        {.6f, .4f, 0, 0, 0, 0},            .7f,  1, 3, 1, {0, 0, 0, 0, 4}},
    {"search.find-engine.example", "m|login|accounts|static|help|support|blog|status|auth|cdn",
        "shop.example|news-daily.example|encyclo.example|secure-pay.example|webmail.example|"
        "office-suite.example|find-engine.example|geo-nav.example|streamco.example|"
        "tunes-stream.example|play-net.example|photo-backup.example", 300, 3,
        {.4f, 0, .2f, .25f, .15f, 0},      .8f,  1, 3, 1, {3, 3, .5f, .5f, 0}},
  };
  return f;
}
// clang-format on

// ------------------------------------------------------------------ addresses

class AddressAllocator {
public:
  explicit AddressAllocator(Rng& rng) : rng_(rng) {}

  // A public-looking IPv4 address (never private, shared, loopback,
  // link-local, documentation, benchmarking, multicast or reserved space).
  Addr v4() {
    static const int first[] = {23,  31,  34,  37,  45,  52,  54,  62,  77,  80,  81,
                                85,  87,  91,  93,  104, 108, 142, 146, 151, 157, 176,
                                178, 185, 188, 193, 195, 199, 212, 213, 217};
    for (;;) {
      const std::uint32_t a =
          static_cast<std::uint32_t>(first[rng_.below(sizeof first / sizeof first[0])]);
      const std::uint32_t v = (a << 24) |
                              (static_cast<std::uint32_t>(rng_.below(256)) << 16) |
                              (static_cast<std::uint32_t>(rng_.below(256)) << 8) |
                              static_cast<std::uint32_t>(rng_.range(1, 254));
      if (used4_.insert(v).second)
        return Addr::v4(v);
    }
  }

  // A global-unicast-looking IPv6 address (2000::/3 outside 2001:db8::/32).
  Addr v6() {
    static const std::uint16_t pfx[][2] = {
        {0x2a00, 0x1450}, {0x2a03, 0x2880}, {0x2600, 0x9000},
        {0x2606, 0x4700}, {0x2a02, 0x26f0}, {0x2620, 0x1ec},
        {0x2a04, 0x4e42}, {0x2001, 0x67c},  {0x2604, 0xa880}};
    for (;;) {
      const auto& p = pfx[rng_.below(sizeof pfx / sizeof pfx[0])];
      Addr a = Addr::v6({p[0], p[1], static_cast<std::uint16_t>(rng_.range(1, 0xfff)),
                         static_cast<std::uint16_t>(rng_.below(0x100)), 0, 0, 0,
                         static_cast<std::uint16_t>(rng_.range(1, 0xffff))});
      const std::string key(reinterpret_cast<const char*>(a.b.data()), 16);
      if (used6_.insert(key).second)
        return a;
    }
  }

  // Marks an address as taken (so that a second allocator never hands out
  // an address of the first one).
  void reserve(const Addr& a) {
    if (a.family == 4)
      used4_.insert((std::uint32_t(a.b[0]) << 24) | (std::uint32_t(a.b[1]) << 16) |
                    (std::uint32_t(a.b[2]) << 8) | std::uint32_t(a.b[3]));
    else
      used6_.insert(std::string(reinterpret_cast<const char*>(a.b.data()), 16));
  }

private:
  Rng& rng_;
  std::set<std::uint32_t> used4_;
  std::set<std::string> used6_;
};

} // namespace tg
