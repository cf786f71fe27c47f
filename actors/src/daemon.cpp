#include "spin/actors/daemon.hpp"

#include "spin/actors/api_server.hpp"
#include "spin/actors/block_manager.hpp"
#include "spin/actors/dns_cache.hpp"
#include "spin/actors/flow_aggregator.hpp"
#include "spin/actors/lease_watcher.hpp"
#include "spin/actors/mqtt_publisher.hpp"
#include "spin/actors/node_registry.hpp"
#include "spin/actors/notifier.hpp"
#include "spin/actors/state_store.hpp"
#include "spin/actors/status_reporter.hpp"
#include "spin/runtime/block_lists.hpp"
#include "spin/runtime/conntrack_source.hpp"
#include "spin/runtime/control_socket.hpp"
#include "spin/runtime/kmod_config.hpp"
#include "spin/runtime/kmod_source.hpp"
#include "spin/runtime/log.hpp"
#include "spin/runtime/neighbour_reader.hpp"
#include "spin/runtime/nflog_source.hpp"
#include "spin/runtime/nft_table.hpp"
#include "spin/runtime/pcap_source.hpp"
#include "spin/runtime/spin_json.hpp"
#include "spin/runtime/state_file.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <thread>
#include <unistd.h>
#include <vector>

namespace spin {

namespace {

void log_status(const status_report& r) {
  std::string line;
  for (auto& [k, v] : r.counters) {
    if (!line.empty())
      line += ' ';
    line += k + "=" + std::to_string(v);
  }
  if (!r.last_error.empty())
    line += " last_error=\"" + r.last_error + "\"";
  SPIN_INFO("final %s: %s", r.component.c_str(), line.c_str());
}

} // namespace

int run_daemon(const spind_config& cfg, const std::atomic<bool>& stop) {
  size_t cores = std::max(1u, std::thread::hardware_concurrency());
  size_t shards = cfg.shards > 0 ? cfg.shards : cores;

  // Which sources run. Capture files replay on their own; live sources (NFLOG
  // through spind's nftables table, conntrack) run until spind is stopped.
  std::vector<const source_spec*> pcaps;
  bool want_nflog = false, want_conntrack = false, want_kmod = false, automatic = false;
  for (auto& s : cfg.sources) {
    switch (s.type) {
    case source_spec::kind::pcap:
      pcaps.push_back(&s);
      break;
    case source_spec::kind::nflog:
      want_nflog = true;
      break;
    case source_spec::kind::conntrack:
      want_conntrack = true;
      break;
    case source_spec::kind::kmod:
      want_kmod = true;
      break;
    case source_spec::kind::automatic:
      automatic = true;
      break;
    }
  }
  bool live = want_nflog || want_conntrack || want_kmod || automatic;
  if (live && !pcaps.empty()) {
    SPIN_ERROR("source: capture files and live sources cannot run together; give either "
               "pcap:FILE or kmod/nflog/conntrack/auto");
    return exit_usage;
  }
  if (want_kmod && (want_nflog || want_conntrack)) {
    SPIN_ERROR(
        "source: kmod counts, names and enforces by itself; it does not run together "
        "with nflog or conntrack");
    return exit_usage;
  }
  if (automatic && !want_nflog && !want_conntrack && kmod_source::available()) {
    SPIN_INFO("source auto: the spin kernel module is loaded; it counts, brings DNS and "
              "enforces the lists");
    want_kmod = true;
  } else if (automatic) {
    // Without the module: conntrack counts the volume, NFLOG brings the DNS
    // (stock Debian and OpenWRT kernels have both).
    want_conntrack = true;
    want_nflog = true;
  }
  // Every live plan reads DNS through NFLOG; conntrack alone would name nothing.
  if (want_conntrack && !want_nflog) {
    SPIN_NOTICE("source conntrack: adding nflog for DNS answers (nodes need names)");
    want_nflog = true;
  }

  // Declared before the actor system, so they outlive every actor: the system's
  // destructor waits for the actors, which use both until they are gone.
  pipeline_gauge gauge;
  queue_bridge bridge{shards, cfg.queue_capacity};

  caf::actor_system_config sys_cfg;
  sys_cfg.set("scheduler.max-threads", std::max<size_t>(cores, 2));
  // CAF's idle workers poll (100 busy attempts, then 500 naps of 50 us) before
  // they sleep on a condition variable. On a router that idles most of the
  // time this costs more CPU than the traffic: shorten both phases. Wake-ups
  // from the sources reach a sleeping worker through the condition variable.
  sys_cfg.set("work-stealing.aggressive-poll-attempts", size_t{10});
  sys_cfg.set("work-stealing.moderate-poll-attempts", size_t{20});
  sys_cfg.set("work-stealing.relaxed-sleep-duration", caf::timespan{50'000'000});
  caf::actor_system sys{sys_cfg};
  caf::scoped_actor self{sys};

  // Persistent state: read before anything is reported, so user names are
  // applied from the first report on.
  auto state_path = cfg.state_dir + "/state.json";
  auto loaded = state_file::load(state_path);
  if (!loaded.warning.empty())
    SPIN_ERROR("%s", loaded.warning.c_str());
  node_registry_config rcfg;
  if (auto* names = loaded.doc.if_contains("names")) {
    std::vector<std::string> problems;
    user_names_from_json(*names, rcfg.user_names_by_mac, rcfg.user_names_by_ip, problems);
    for (auto& p : problems)
      SPIN_WARN("state: %s", p.c_str());
  }
  // User profiles first: the saved lists may name them.
  {
    std::vector<std::string> problems;
    auto user = load_profile_files(cfg.profiles_dir, problems);
    for (auto& p : problems)
      SPIN_WARN("%s", p.c_str());
    if (!user.empty())
      SPIN_INFO("profiles: %zu user profile%s from %s", user.size(),
                user.size() == 1 ? "" : "s", cfg.profiles_dir.c_str());
    set_user_profiles(std::move(user));
  }
  std::shared_ptr<block_lists> lists;
  {
    std::vector<std::string> problems;
    auto* v = loaded.doc.if_contains("lists");
    lists = std::make_shared<block_lists>(block_lists::from_json(
        v ? *v : boost::json::value{}, block_lists::limits{}, problems));
    for (auto& p : problems)
      SPIN_WARN("state: %s", p.c_str());
  }
  SPIN_INFO("state: %zu user names, %zu blocked, %zu allowed, %zu ignored addresses, %zu "
            "node-pair blocks from %s",
            rcfg.user_names_by_mac.size() + rcfg.user_names_by_ip.size(),
            lists->list(list_kind::block).size(), lists->list(list_kind::allow).size(),
            lists->list(list_kind::ignore).size(), lists->pairs().size(),
            state_path.c_str());
  auto initial_state = loaded.doc;
  auto store = sys.spawn(state_store, state_path, std::move(loaded.doc),
                         std::chrono::seconds(cfg.state_write_interval));
  auto notes = sys.spawn(notifier, std::move(initial_state), store);

  auto publisher = sys.spawn(mqtt_publisher, cfg.mqtt, &gauge, caf::actor{self});
  rcfg.table.lan_prefixes = cfg.lan_prefixes;
  rcfg.table.retain_time = cfg.node_cache_retain_time;
  rcfg.table.max_nodes = cfg.max_nodes;
  rcfg.table.max_ips_per_node = cfg.max_ips_per_node;
  rcfg.table.max_names_per_node = cfg.max_names_per_node;
  rcfg.table.max_flows_per_report = cfg.max_flows_per_report;
  rcfg.shards = static_cast<uint32_t>(shards);
  // Every pcap and nflog source sends one side batch per interval.
  rcfg.expect_names = true;
  rcfg.dnsquery_rate = cfg.dnsquery_rate;
  rcfg.dnsquery_repeat_window = cfg.dnsquery_repeat_window;
  // The block manager owns the ignore list (with the router's own addresses).
  rcfg.ignore_from_lists = true;
  // The registry needs the cache (lookups) and the cache the registry (names
  // batches): the cache gets the registry's handle in a first message.
  dns_cache::options dopts;
  dopts.ttl_min = cfg.dns_ttl_min;
  dopts.ttl_max = cfg.dns_ttl_max;
  dopts.max_entries = cfg.dns_cache_size;
  dopts.max_names_per_address = cfg.max_names_per_node;
  auto dns = sys.spawn(dns_cache_actor_fn, dopts, node_registry_actor{});
  auto registry = sys.spawn(node_registry, rcfg, publisher, dns, store);
  caf::anon_send(dns, atom::command::value, registry);
  std::vector<flow_aggregator_actor> aggregators;
  size_t per_shard = std::max<size_t>(cfg.max_flows_per_interval / shards, 64);
  for (size_t i = 0; i < shards; ++i) {
    auto a = sys.spawn(flow_aggregator, &bridge, static_cast<uint32_t>(i), per_shard,
                       registry);
    bridge.set_waker(i, [a] { caf::anon_send(a, atom::wake::value); });
    aggregators.push_back(a);
  }

  std::vector<std::unique_ptr<pcap_source>> sources;
  for (auto* s : pcaps) {
    pcap_source::options o;
    o.file = s->file;
    o.mode = cfg.replay;
    // Repeated answers are skipped for a third of the shortest TTL (so the
    // cache is refreshed well before it expires), repeated questions for the
    // dnsquery repeat window.
    o.dns_response_repeat_us = static_cast<int64_t>(cfg.dns_ttl_min) * 1000000 / 3;
    o.dns_query_repeat_us = cfg.dnsquery_repeat_window * 1000000;
    o.on_side = [dns](side_batch_ptr b) {
      caf::anon_send(dns, atom::side::value, std::move(b));
    };
    sources.push_back(std::make_unique<pcap_source>(o, bridge, &gauge));
  }

  // Live sources. conntrack first: with `auto`, if it cannot run, NFLOG counts
  // every packet instead.
  std::unique_ptr<conntrack_source> conntrack;
  std::unique_ptr<nflog_source> nflog;
  std::unique_ptr<nft_table> table;
  bool nflog_counts = false;
  // A live source that cannot start ends spind (after a clean shutdown of the
  // actors below): running without it would report nothing, or no names.
  bool startup_failed = false;
  if (want_conntrack) {
    conntrack_source::options co;
    co.max_connections = cfg.conntrack_max;
    conntrack = std::make_unique<conntrack_source>(co, bridge);
    std::string error;
    if (!conntrack->start(error)) {
      if (!automatic) {
        SPIN_ERROR("source conntrack: %s", error.c_str());
        startup_failed = true;
      } else {
        SPIN_WARN("source auto: conntrack is not usable (%s); NFLOG counts every "
                  "packet instead",
                  error.c_str());
      }
      conntrack.reset();
    } else if (automatic) {
      SPIN_INFO("source auto: conntrack counts the traffic volume, NFLOG brings DNS "
                "(the spin kernel module is not loaded)");
    }
  }
  if (want_nflog && !startup_failed) {
    nflog_counts =
        cfg.nflog_per_packet == "on" || (cfg.nflog_per_packet == "auto" && !conntrack);
    nft_table_config tc;
    tc.name = cfg.nft_table;
    tc.priority = cfg.nft_priority;
    tc.dns_group = cfg.nflog_dns_group;
    tc.dns_snaplen = cfg.nflog_dns_snaplen;
    tc.per_packet = nflog_counts;
    tc.packet_group = cfg.nflog_packet_group;
    tc.packet_snaplen = cfg.nflog_packet_snaplen;
    tc.lan_interfaces = cfg.lan_interfaces;
    tc.enforce = cfg.firewall == "enforce";
    tc.block_group = cfg.nflog_block_group;
    tc.block_log_rate = cfg.block_log_rate;
    tc.block_log_burst = cfg.block_log_burst;
    std::string error;
    if (cfg.firewall == "passive") {
      SPIN_NOTICE(
          "firewall passive: spind changes no firewall state; your own rules must "
          "log DNS to NFLOG group %u (and dropped packets to group %u); the lists "
          "are kept but not enforced",
          cfg.nflog_dns_group, cfg.nflog_block_group);
    } else {
      table = std::make_unique<nft_table>(tc);
      if (!table->install(error)) {
        SPIN_ERROR("nftables: cannot set up table inet %s: %s", cfg.nft_table.c_str(),
                   error.c_str());
        table.reset();
        startup_failed = true;
      } else if (tc.enforce) {
        // Everything the user blocked or allowed is in force before the first
        // packet is counted.
        auto all = lists->full_firewall();
        if (!table->apply(all, error)) {
          SPIN_ERROR("nftables: cannot apply the saved lists to table inet %s: %s",
                     cfg.nft_table.c_str(), error.c_str());
          startup_failed = true;
        } else {
          SPIN_INFO("firewall: enforcing %zu blocked and %zu allowed addresses and %zu "
                    "node-pair elements",
                    all.block_add.size(), all.allow_add.size(), all.pair_add.size());
        }
      } else {
        SPIN_NOTICE("firewall monitor: nothing is dropped; the lists are kept but not "
                    "enforced");
      }
    }
  }

  // The block manager: lists, enforcement, every command.
  block_manager_config bcfg;
  bcfg.lists = lists;
  std::unique_ptr<enforcer> enforcement;
  if (table && cfg.firewall == "enforce")
    enforcement = std::make_unique<nft_enforcer>(*table);
  // The kernel module: it reads the traffic and DNS, and enforces the lists
  // pushed over its configuration channel (spind's lists replace whatever it
  // held, so both agree from the first packet on).
  std::unique_ptr<kmod_source> kmod;
  bool kmod_lists_changed = false; // cleared again at stop, also after a failed load
  if (want_kmod && !startup_failed) {
    kmod_source::options ko;
    ko.on_side = [dns](side_batch_ptr b) {
      caf::anon_send(dns, atom::side::value, std::move(b));
    };
    kmod = std::make_unique<kmod_source>(ko, bridge);
    std::string error;
    if (!kmod->start(error)) {
      SPIN_ERROR("source kmod: %s", error.c_str());
      kmod.reset();
      startup_failed = true;
    } else if (cfg.firewall == "enforce") {
      auto e = std::make_unique<kmod_enforcer>();
      auto all = lists->full_firewall();
      kmod_lists_changed = true;
      if (!e->rebuild(all, error)) {
        SPIN_ERROR("kmod: cannot load the lists into the spin kernel module: %s",
                   error.c_str());
        startup_failed = true;
      } else {
        SPIN_INFO("firewall: the spin kernel module enforces %zu blocked and %zu allowed "
                  "addresses",
                  all.block_add.size(), all.allow_add.size());
        enforcement = std::move(e);
      }
    } else {
      SPIN_NOTICE("firewall %s: spind does not change the spin kernel module's lists",
                  cfg.firewall.c_str());
    }
  }
  bcfg.firewall = enforcement.get();
  bcfg.command_rate = cfg.command_rate;
  bcfg.command_burst = 2 * cfg.command_rate;
  auto blocks = sys.spawn<caf::detached>(block_manager, bcfg, publisher, store);
  caf::anon_send(registry, atom::wire::value, node_listener_api{blocks});
  caf::anon_send(registry, atom::wire::value, node_listener_api{notes});
  caf::anon_send(blocks, atom::wire::value, registry);
  caf::anon_send(publisher, atom::command::value, control_api{blocks});

  // The local control socket for spinctl.
  control_socket ctl;
  if (!cfg.control_socket.empty() && !startup_failed) {
    auto dir = cfg.control_socket.substr(0, cfg.control_socket.rfind('/'));
    if (!dir.empty() && ::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
      SPIN_WARN("control socket: cannot create %s: %s", dir.c_str(),
                std::strerror(errno));
    control_socket::options co;
    co.path = cfg.control_socket;
    std::string error;
    if (ctl.open(co, error)) {
      ctl.start([&sys, blocks](const std::string& client, const std::string& line) {
        caf::scoped_actor s{sys};
        std::string reply;
        s->request(blocks, std::chrono::seconds(15), atom::jsonrpc::value, client, line)
            .receive([&](std::string& r) { reply = std::move(r); },
                     [&](caf::error&) {
                       reply = R"({"jsonrpc":"2.0","id":null,"error":{"code":-32603,)"
                               R"("message":"spind did not answer in time"}})";
                     });
        return reply;
      });
      SPIN_INFO("control socket: %s (spinctl)", cfg.control_socket.c_str());
    } else {
      SPIN_WARN("control socket: %s; spinctl will not work", error.c_str());
    }
  }
  if (want_nflog && !startup_failed) {
    SPIN_INFO("nftables: table inet %s installed (DNS to NFLOG group %u%s)",
              cfg.nft_table.c_str(), cfg.nflog_dns_group,
              nflog_counts ? (", every other packet to group " +
                              std::to_string(cfg.nflog_packet_group))
                                 .c_str()
                           : "");
    nflog_source::options no;
    no.groups.push_back(
        {cfg.nflog_dns_group, cfg.nflog_dns_snaplen, nflog_counts, false});
    if (nflog_counts)
      no.groups.push_back(
          {cfg.nflog_packet_group, cfg.nflog_packet_snaplen, true, false});
    // Dropped packets (spind's drop rules, or the admin's own in passive mode).
    if (cfg.firewall != "monitor")
      no.groups.push_back({cfg.nflog_block_group, 128, true, true});
    no.dns_response_repeat_us = static_cast<int64_t>(cfg.dns_ttl_min) * 1000000 / 3;
    no.dns_query_repeat_us = cfg.dnsquery_repeat_window * 1000000;
    no.rcvbuf = cfg.nflog_rcvbuf;
    no.on_side = [dns](side_batch_ptr b) {
      caf::anon_send(dns, atom::side::value, std::move(b));
    };
    nflog = std::make_unique<nflog_source>(no, bridge);
    std::string error;
    if (!nflog->start(error)) {
      SPIN_ERROR("source nflog: %s", error.c_str());
      nflog.reset();
      startup_failed = true;
    }
  }

  // Device names from the DHCP server's files.
  device_name_sources dsrc;
  dsrc.lease_files = cfg.dhcp_lease_files;
  dsrc.dhcp_config = cfg.dhcp_config_file;
  auto leases = sys.spawn<caf::detached>(
      lease_watcher, dsrc, std::chrono::seconds(cfg.lease_check_interval), registry);

  // The kernel's neighbour table, for sources without Ethernet headers.
  bool all_captures = !pcaps.empty() && pcaps.size() == cfg.sources.size();
  bool want_neighbours =
      cfg.neighbour_table == "on" || (cfg.neighbour_table == "auto" && !all_captures);
  neighbour_reader neighbours;
  if (want_neighbours) {
    std::string error;
    if (neighbours.start(
            [registry, blocks](std::vector<neighbour_event> ev) {
              auto p =
                  std::make_shared<const std::vector<neighbour_event>>(std::move(ev));
              caf::anon_send(registry, atom::neighbours::value, p);
              caf::anon_send(blocks, atom::neighbours::value, p);
            },
            error))
      SPIN_INFO("neighbour table: reading IP-to-MAC bindings over rtnetlink");
    else
      SPIN_WARN("neighbour table: %s; devices are known by MAC only where frames show it",
                error.c_str());
  }

  std::vector<status_api> polled;
  for (auto& a : aggregators)
    polled.push_back(caf::actor_cast<status_api>(a));
  polled.push_back(caf::actor_cast<status_api>(registry));
  polled.push_back(caf::actor_cast<status_api>(dns));
  polled.push_back(caf::actor_cast<status_api>(publisher));
  polled.push_back(caf::actor_cast<status_api>(store));
  polled.push_back(caf::actor_cast<status_api>(leases));
  polled.push_back(caf::actor_cast<status_api>(blocks));
  polled.push_back(caf::actor_cast<status_api>(notes));
  std::vector<status_provider> providers;
  for (size_t i = 0; i < sources.size(); ++i) {
    auto* src = sources[i].get();
    providers.push_back([src, i] {
      auto r = src->status();
      if (i > 0)
        r.component += "/" + std::to_string(i);
      return r;
    });
  }
  if (nflog)
    providers.push_back([src = nflog.get()] { return src->status(); });
  if (conntrack)
    providers.push_back([src = conntrack.get()] { return src->status(); });
  if (kmod)
    providers.push_back([src = kmod.get()] { return src->status(); });
  if (!ctl.path().empty())
    providers.push_back([c = &ctl] { return c->status(); });
  // The web app and the HTTP API.
  std::unique_ptr<api_server> api;
  if (cfg.http_port != 0 && !startup_failed) {
    api_config acfg;
    acfg.http.addresses = cfg.http_addresses;
    acfg.http.port = cfg.http_port;
    acfg.http.static_dir = cfg.web_root;
    // Without the built web app the API is still useful (spinctl-like
    // clients, Prometheus): serve it and say what is missing.
    if (struct stat st;
        !cfg.web_root.empty() &&
        (::stat(cfg.web_root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))) {
      SPIN_WARN("http: web_root %s is not a directory; serving the HTTP API without the "
                "web app (build it with the spin_web target, or set --web_root)",
                cfg.web_root.c_str());
      acfg.http.static_dir.clear();
    }
    acfg.http.password_file = cfg.http_password_file;
    acfg.http.tls_certificate_file = cfg.http_tls_certificate_file;
    acfg.http.tls_key_file = cfg.http_tls_key_file;
    // Names the server answers to: the configured ones and this machine's
    // (OpenWRT routers are reached as NAME.lan); "*" turns the check off.
    if (std::find(cfg.http_hostnames.begin(), cfg.http_hostnames.end(), "*") ==
        cfg.http_hostnames.end()) {
      acfg.http.allowed_hosts = cfg.http_hostnames;
      char host[256] = {};
      if (::gethostname(host, sizeof host - 1) == 0 && host[0]) {
        std::string h = host;
        for (auto& n : {h, h + ".lan", h + ".local"})
          acfg.http.allowed_hosts.push_back(n);
      }
    }
    acfg.control = control_api{blocks};
    acfg.registry = registry;
    acfg.notifier = notes;
    acfg.polled = polled;
    acfg.providers = providers;
    acfg.capture_interface = cfg.capture_interface;
    acfg.lan_interfaces = cfg.lan_interfaces;
    acfg.capture_max_seconds = cfg.capture_max_seconds;
    acfg.capture_max_bytes = cfg.capture_max_bytes;
    api = std::make_unique<api_server>(sys, std::move(acfg));
    std::string error;
    if (!api->start(error)) {
      SPIN_ERROR("http: %s; the web app and the HTTP API are not available",
                 error.c_str());
      api.reset();
    } else {
      providers.push_back([a = api.get()] { return a->status(); });
    }
  }
  auto reporter =
      sys.spawn(status_reporter, polled, providers, publisher, cfg.stat_interval);

  size_t n_sources =
      sources.size() + (nflog ? 1 : 0) + (conntrack ? 1 : 0) + (kmod ? 1 : 0);
  SPIN_INFO("spind started: %zu shard%s, %zu source%s, broker %s:%u", shards,
            shards == 1 ? "" : "s", n_sources, n_sources == 1 ? "" : "s",
            cfg.mqtt.host.c_str(), cfg.mqtt.port);

  // More than one source would end the stream more than once; the shards
  // forward only the first end-of-stream, so the pipeline finishes when the
  // first source does. (Several pcap sources are not a supported combination.)
  std::atomic<int> sources_failed{0};
  for (auto& s : sources)
    s->start([&sources_failed](bool ok) {
      if (!ok)
        sources_failed.fetch_add(1);
    });

  int code = startup_failed ? exit_source_failed : exit_ok;
  bool finished = false;
  uint64_t published = 0, dropped = 0;
  while (!startup_failed && !finished && !stop.load()) {
    self->receive(
        [&](atom::done, uint64_t p, uint64_t d) {
          finished = true;
          published = p;
          dropped = d;
        },
        caf::after(std::chrono::milliseconds(100)) >> [] {});
  }
  // Final counters of every component, for the log (info: one line each).
  for (auto& a : polled) {
    self->request(a, std::chrono::seconds(2), atom::status::value)
        .receive([&](status_report& r) { log_status(r); }, [](caf::error&) {});
  }
  for (auto& p : providers)
    log_status(p());
  if (finished) {
    SPIN_INFO("replay finished: %llu reports published, %llu dropped",
              static_cast<unsigned long long>(published),
              static_cast<unsigned long long>(dropped));
    if (sources_failed.load() == static_cast<int>(sources.size()))
      code = exit_source_failed;
    else if (dropped > 0 && cfg.replay == replay_mode::fast)
      code = exit_unpublished;
  } else if (!startup_failed) {
    SPIN_INFO("stopping on request");
  }

  // No new commands while the rest goes down, and the block manager is gone
  // before the table is removed (it would rebuild a table it cannot reach).
  ctl.stop();
  if (api)
    api->stop();
  self->send_exit(blocks, caf::exit_reason::user_shutdown);
  self->wait_for(blocks);
  for (auto& s : sources)
    s->stop();
  if (nflog)
    nflog->stop();
  if (conntrack)
    conntrack->stop();
  if (kmod) {
    kmod->stop();
    // Like spind's nftables table, nothing of spind's enforcement stays
    // behind: the module forwards everything again.
    if (kmod_lists_changed) {
      kmod_config c;
      kmod_config::reply r;
      std::string error;
      if (c.clear(kmod_config::list::block, r, error) &&
          c.clear(kmod_config::list::except, r, error))
        SPIN_INFO("kmod: the module's block and except lists cleared");
      else
        SPIN_ERROR("kmod: cannot clear the module's lists: %s", error.c_str());
    }
  }
  if (table) {
    std::string error;
    if (table->remove(error))
      SPIN_INFO("nftables: table inet %s removed", cfg.nft_table.c_str());
    else
      SPIN_ERROR("nftables: cannot remove table inet %s: %s", cfg.nft_table.c_str(),
                 error.c_str());
  }
  neighbours.stop();
  // Whatever the user changed last is on disk before we go.
  self->request(store, std::chrono::seconds(10), atom::flush::value)
      .receive([](bool) {}, [](caf::error&) {});
  // The reporter calls the providers (sources, the HTTP server): gone first.
  self->send_exit(reporter, caf::exit_reason::user_shutdown);
  self->wait_for(reporter);
  self->send_exit(notes, caf::exit_reason::user_shutdown);
  self->send_exit(leases, caf::exit_reason::user_shutdown);
  self->send_exit(dns, caf::exit_reason::user_shutdown);
  self->send_exit(store, caf::exit_reason::user_shutdown);
  for (auto& a : aggregators)
    self->send_exit(a, caf::exit_reason::user_shutdown);
  self->send_exit(registry, caf::exit_reason::user_shutdown);
  self->send_exit(publisher, caf::exit_reason::user_shutdown);
  for (size_t i = 0; i < bridge.shards(); ++i)
    bridge.set_waker(i, {});
  return code;
}

} // namespace spin
