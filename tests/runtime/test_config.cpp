#include "spin/runtime/config.hpp"

#include <catch2/catch.hpp>

#include <fstream>

using namespace spin;

namespace {

spind_config build(const option_map& m) {
  spind_config cfg;
  auto res = build_config(m, cfg);
  INFO(res.error);
  REQUIRE(res.ok());
  return cfg;
}

} // namespace

TEST_CASE("defaults are valid and match the documented values", "[config]") {
  option_map none;
  auto cfg = build(none);
  REQUIRE(cfg.sources.size() == 1);
  CHECK(cfg.sources[0].type == source_spec::kind::automatic);
  CHECK(cfg.replay == replay_mode::realtime);
  CHECK(cfg.mqtt.host == "127.0.0.1");
  CHECK(cfg.mqtt.port == 1883);
  CHECK(cfg.mqtt.topic_root == "SPIN");
  CHECK(cfg.node_cache_retain_time == 1800);
  CHECK(cfg.lan_prefixes.size() == 5);
  CHECK(cfg.log.level == log_level::info);
}

TEST_CASE("a UCI file sets options, lists append, comments are skipped", "[config]") {
  const char* text = R"(
# spin configuration
config spin 'spind'
	option mqtt_host 'broker.lan'   # trailing comment
	option mqtt_port "1884"
	option replay fast
	list lan_prefixes '10.1.0.0/16'
	list lan_prefixes 'fd12::/48'
	option source 'pcap:/tmp/a b.pcap'

config other 'x'
	option mqtt_host 'ignored'
)";
  option_map m;
  auto res = parse_config_text(text, "spin.conf", m);
  REQUIRE(res.ok());
  auto cfg = build(m);
  CHECK(cfg.mqtt.host == "broker.lan");
  CHECK(cfg.mqtt.port == 1884);
  CHECK(cfg.replay == replay_mode::fast);
  REQUIRE(cfg.lan_prefixes.size() == 2);
  CHECK(cfg.lan_prefixes[1].to_string() == "fd12::/48");
  // A quoted file name keeps its space: sources are separated by commas.
  REQUIRE(cfg.sources.size() == 1);
  CHECK(cfg.sources[0].file == "/tmp/a b.pcap");
}

TEST_CASE("malformed config files name the line", "[config]") {
  option_map m;
  auto r1 = parse_config_text("config spin 'spind'\n\toption mqtt_host 'open\n", "f", m);
  CHECK(r1.error == "f:2: unterminated single quote");
  auto r2 = parse_config_text("option mqtt_host x\n", "f", m);
  CHECK(r2.error.find("f:1:") == 0);
  auto r3 = parse_config_text("config spin\n  frobnicate x\n", "f", m);
  CHECK(r3.error.find("f:2: unknown keyword") == 0);
  auto r4 = parse_config_text("config spin\n  option a b c\n", "f", m);
  CHECK(r4.error.find("f:2:") == 0);
}

TEST_CASE("bad values are reported with where they were set", "[config]") {
  option_map m;
  REQUIRE(
      parse_config_text("config spin\n\n  option mqtt_port 'http'\n", "s.conf", m).ok());
  spind_config cfg;
  auto res = build_config(m, cfg);
  CHECK(res.error == "s.conf:3: option mqtt_port: 'http' is not a whole number");
  option_map m2;
  m2.set("shards", "999", "command line (--shards)");
  CHECK(build_config(m2, cfg).error.find("out of range") != std::string::npos);
  option_map m3;
  m3.set("lan_prefixes", "10.0.0.0/33", "x");
  CHECK_FALSE(build_config(m3, cfg).ok());
  option_map m4;
  m4.set("source", "carrier-pigeon", "x");
  CHECK_FALSE(build_config(m4, cfg).ok());
  option_map m5;
  m5.set("mqtt_topic_root", "SPIN/#", "x");
  CHECK_FALSE(build_config(m5, cfg).ok());
}

TEST_CASE("SPIN 1.0 names are accepted as aliases", "[config]") {
  const char* uci = R"(config spind 'spind'
	option pubsub_host '192.0.2.1'
	option pubsub_port '1999'
	option pubsub_channel_traffic 'house2/SPIN/traffic'
	option node_cache_retain_time '600'
	option log_loglevel '7'
	option pubsub_run_mosquitto '1'
	option some_future_option 'x'
)";
  option_map m;
  auto res = parse_config_text(uci, "spin", m);
  REQUIRE(res.ok());
  CHECK(res.notices.size() >= 5); // preferred names, unused and unknown options
  auto cfg = build(m);
  CHECK(cfg.mqtt.host == "192.0.2.1");
  CHECK(cfg.mqtt.port == 1999);
  CHECK(cfg.mqtt.topic_root == "house2/SPIN");
  CHECK(cfg.node_cache_retain_time == 600);
  CHECK(cfg.log.level == log_level::debug);
}

TEST_CASE("SPIN 1.0's key = value spind.conf is read too", "[config]") {
  option_map m;
  auto res = parse_config_text("# old\npubsub_host = 10.0.0.9\nlog_usesyslog=0\n",
                               "spind.conf", m);
  REQUIRE(res.ok());
  CHECK(build(m).mqtt.host == "10.0.0.9");
}

TEST_CASE("the command line overrides and validates", "[config]") {
  const char* argv[] = {"spind",    "-c",           "/x.conf",  "--mqtt-port=2000",
                        "--source", "pcap:/a.pcap", "--replay", "loop"};
  command_line cl;
  REQUIRE(parse_command_line(8, argv, cl).ok());
  CHECK(cl.config_file == std::string{"/x.conf"});
  auto cfg = build(cl.options);
  CHECK(cfg.mqtt.port == 2000);
  CHECK(cfg.replay == replay_mode::loop);
  REQUIRE(cfg.sources.size() == 1);
  CHECK(cfg.sources[0].file == "/a.pcap");
  const char* bad[] = {"spind", "--no-such-option", "1"};
  command_line cl2;
  CHECK(parse_command_line(3, bad, cl2).error.find("unknown option") == 0);
  const char* missing[] = {"spind", "--mqtt_host"};
  command_line cl3;
  CHECK(parse_command_line(2, missing, cl3).error.find("needs a value") !=
        std::string::npos);
}

TEST_CASE("--help lists every option with its default", "[config]") {
  auto help = help_text();
  for (auto& spec : option_specs()) {
    INFO(spec.name);
    CHECK(help.find("--" + std::string{spec.name} + " ") != std::string::npos);
  }
}

TEST_CASE("doc/configuration.md documents every option and its default",
          "[config][doc]") {
  std::ifstream in{SPIN_SOURCE_DIR "/doc/configuration.md"};
  REQUIRE(in.good());
  std::string doc{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  for (auto& spec : option_specs()) {
    INFO(spec.name);
    auto row = "| `" + std::string{spec.name} + "` |";
    auto pos = doc.find(row);
    REQUIRE(pos != std::string::npos);
    auto line = doc.substr(pos, doc.find('\n', pos) - pos);
    auto shown = spec.default_value.empty() ? std::string{"(empty)"}
                                            : "`" + std::string{spec.default_value} + "`";
    CHECK(line.find(shown) != std::string::npos);
  }
}

TEST_CASE("addresses and prefixes parse and print", "[config]") {
  auto p = ip_prefix::parse("192.168.1.77/16");
  REQUIRE(p);
  CHECK(p->to_string() == "192.168.0.0/16");
  CHECK(p->contains(*ip_address::parse("192.168.200.1")));
  CHECK_FALSE(p->contains(*ip_address::parse("192.169.0.1")));
  CHECK_FALSE(p->contains(*ip_address::parse("::ffff:c0a9:1")));
  auto p6 = ip_prefix::parse("fc00::/7");
  REQUIRE(p6);
  CHECK(p6->contains(*ip_address::parse("fd00:1::17")));
  CHECK_FALSE(p6->contains(*ip_address::parse("2001:db8::1")));
  CHECK_FALSE(ip_address::parse("300.1.1.1"));
  CHECK_FALSE(mac_address::parse("aa:bb:cc:dd:ee"));
  CHECK(mac_address::parse("AA-BB-CC-DD-EE-FF")->to_string() == "aa:bb:cc:dd:ee:ff");
}
