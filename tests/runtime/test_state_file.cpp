#include "spin/runtime/spin_json.hpp"
#include "spin/runtime/state_file.hpp"

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

#include "../support/frames.hpp"
#include <filesystem>
#include <fstream>
#include <unistd.h>

using namespace spin;
using namespace spin::test;
namespace fs = std::filesystem;

namespace {

struct temp_dir {
  fs::path path;
  temp_dir() {
    path = fs::temp_directory_path() / ("spin-state-" + std::to_string(::getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~temp_dir() { fs::remove_all(path); }
};

} // namespace

TEST_CASE("the state file round-trips atomically", "[state]") {
  temp_dir d;
  auto file = (d.path / "state.json").string();
  auto missing = state_file::load(file);
  CHECK(missing.doc.empty());
  CHECK(missing.warning.empty());
  boost::json::object doc;
  doc["names"] = user_names_to_json({{mac("aa:bb:cc:00:00:01"), "thermostat"}},
                                    {{ip("198.51.100.1"), "cloud"}});
  std::string error;
  REQUIRE(state_file::save(file, doc, error));
  CHECK_FALSE(fs::exists(file + ".tmp"));
  auto back = state_file::load(file);
  REQUIRE(back.warning.empty());
  std::map<mac_address, std::string> by_mac;
  std::map<ip_address, std::string> by_ip;
  std::vector<std::string> problems;
  user_names_from_json(back.doc.at("names"), by_mac, by_ip, problems);
  CHECK(problems.empty());
  CHECK(by_mac.at(mac("aa:bb:cc:00:00:01")) == "thermostat");
  CHECK(by_ip.at(ip("198.51.100.1")) == "cloud");
}

TEST_CASE("a corrupt state file is kept aside, never silently lost", "[state]") {
  temp_dir d;
  auto file = (d.path / "state.json").string();
  {
    std::ofstream out{file};
    out << "{\"names\": {\"by_mac\": ";
  }
  auto r = state_file::load(file);
  CHECK(r.doc.empty());
  CHECK(r.warning.find("corrupt") != std::string::npos);
  REQUIRE_FALSE(r.moved_to.empty());
  CHECK(fs::exists(r.moved_to));
  CHECK_FALSE(fs::exists(file));
  // Entries that make no sense are skipped and reported.
  std::map<mac_address, std::string> by_mac;
  std::map<ip_address, std::string> by_ip;
  std::vector<std::string> problems;
  user_names_from_json(
      boost::json::parse(R"({"by_mac":{"zz":"x","aa:bb:cc:00:00:01":7}})"), by_mac, by_ip,
      problems);
  CHECK(by_mac.empty());
  CHECK(problems.size() == 2);
}

TEST_CASE("saving into a missing directory fails and says where", "[state]") {
  std::string error;
  CHECK_FALSE(state_file::save("/nonexistent-dir/state.json", {}, error));
  CHECK(error.find("/nonexistent-dir/state.json.tmp") == 0);
}
