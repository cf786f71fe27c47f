#include "spin/runtime/device_names.hpp"

#include <catch2/catch.hpp>

#include "../support/frames.hpp"

using namespace spin;
using namespace spin::test;

TEST_CASE("dnsmasq leases give names by MAC and address", "[device_names]") {
  const char* text =
      "1767229200 aa:bb:cc:00:00:01 192.168.1.20 thermostat 01:aa:bb:cc:00:00:01\n"
      "1767229200 aa:bb:cc:00:00:02 192.168.1.21 * *\n"
      "duid 00:01:00:01:2a:2b:2c:2d:94:83:c4:fa:2e:b4\n"
      "1767229200 1234 fd00:1::20 laptop 00:03:00:01:aa:bb:cc:00:00:05\n"
      "garbage line here\n"
      "1767229200 aa:bb:cc:00:00:03 not-an-ip tv *\n";
  device_names n;
  std::vector<std::string> problems;
  parse_leases(text, "dhcp.leases", n, problems);
  CHECK(n.by_mac.at(mac("aa:bb:cc:00:00:01")) == "thermostat");
  CHECK(n.by_ip.at(ip("192.168.1.20")) == "thermostat");
  CHECK(n.by_mac.count(mac("aa:bb:cc:00:00:02")) == 0); // "*" = no name
  CHECK(n.by_ip.at(ip("fd00:1::20")) == "laptop");
  CHECK(n.by_mac.at(mac("aa:bb:cc:00:00:05")) == "laptop"); // from the DUID-LL
  REQUIRE(problems.size() == 2);
  CHECK(problems[0].find("dhcp.leases:5:") == 0);
  CHECK(problems[1].find("dhcp.leases:6:") == 0);
}

TEST_CASE("odhcpd lease and hosts lines", "[device_names]") {
  const char* text = "# br-lan 000100012a2b2c2d94b1c2d3e4f5 7f00aa01 phone 1767229200 3 "
                     "128 fd00:1::99/128\n"
                     "# br-lan aabbcc000009 ipv4 camera 1767229200 9 32 192.168.1.99/32\n"
                     "# br-lan 0002aa 1 - 1767229200 9 128 fd00:1::77/128\n"
                     "fd00:1::50 printer.lan printer\n"
                     "# short\n";
  device_names n;
  std::vector<std::string> problems;
  parse_leases(text, "odhcpd", n, problems);
  CHECK(n.by_mac.at(mac("94:b1:c2:d3:e4:f5")) == "phone"); // DUID-LLT
  CHECK(n.by_ip.at(ip("fd00:1::99")) == "phone");
  CHECK(n.by_mac.at(mac("aa:bb:cc:00:00:09")) == "camera");
  CHECK(n.by_ip.at(ip("192.168.1.99")) == "camera");
  CHECK(n.by_ip.count(ip("fd00:1::77")) == 0);
  CHECK(n.by_ip.at(ip("fd00:1::50")) == "printer");
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].find("odhcpd:5:") == 0);
}

TEST_CASE("OpenWRT static hosts win over leases", "[device_names]") {
  const char* config = R"(config dnsmasq
	option domain 'lan'

config host
	option name 'living-room-tv'
	option mac 'aa:bb:cc:00:00:01 aa:bb:cc:00:00:11'
	option ip '192.168.1.20'

config host
	option name 'kettle'
	list mac 'aa:bb:cc:00:00:22'
	list mac 'not-a-mac'
)";
  device_names n;
  std::vector<std::string> problems;
  parse_dhcp_config(config, "dhcp", n, problems);
  CHECK(n.by_mac.at(mac("aa:bb:cc:00:00:01")) == "living-room-tv");
  CHECK(n.by_mac.at(mac("aa:bb:cc:00:00:11")) == "living-room-tv");
  CHECK(n.by_mac.at(mac("aa:bb:cc:00:00:22")) == "kettle");
  CHECK(n.by_ip.at(ip("192.168.1.20")) == "living-room-tv");
  CHECK(problems.size() == 1);
  device_names broken;
  std::vector<std::string> p2;
  parse_dhcp_config("config host\n\toption name 'x\n", "dhcp", broken, p2);
  CHECK(broken.by_mac.empty());
  REQUIRE(p2.size() == 1);
  CHECK(p2[0].find("dhcp:2:") == 0);
}
