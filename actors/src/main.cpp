// spind: the SPIN daemon. Reads options (config file, then command line),
// sets up logging and runs the actor graph until the work is done or a
// signal asks it to stop.
#include "spin/actors/daemon.hpp"
#include "spin/runtime/config.hpp"
#include "spin/runtime/log.hpp"

#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <unistd.h>

#ifndef SPIN_VERSION
#define SPIN_VERSION "unknown"
#endif

namespace {

std::atomic<bool> stop_requested{false};

extern "C" void on_signal(int) {
  stop_requested.store(true);
}

// mkdir -p with mode 0700 for the last component.
bool make_dirs(const std::string& path, std::string& error) {
  std::string partial;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    partial = path.substr(0, pos);
    if (partial.empty())
      continue;
    if (mkdir(partial.c_str(), pos == std::string::npos ? 0700 : 0755) != 0 &&
        errno != EEXIST) {
      error = partial + ": " + std::strerror(errno);
      return false;
    }
  }
  return true;
}

} // namespace

int main(int argc, char** argv) {
  spin::command_line cl;
  auto res = spin::parse_command_line(argc, argv, cl);
  if (!res.ok()) {
    std::fprintf(stderr, "spind: %s\n", res.error.c_str());
    return spin::exit_usage;
  }
  if (cl.help) {
    std::fputs(spin::help_text().c_str(), stdout);
    std::fputs(
        "\nExit codes: 0 done, 1 no source could be read, 2 bad options or config,\n"
        "3 a fast replay could not publish every report.\n",
        stdout);
    return spin::exit_ok;
  }
  if (cl.version) {
    std::printf("spind %s\n", SPIN_VERSION);
    return spin::exit_ok;
  }

  spin::option_map options;
  std::vector<std::string> notices;
  std::string config_path;
  if (cl.config_file) {
    config_path = *cl.config_file;
  } else if (access("/etc/openwrt_release", F_OK) == 0) {
    if (access(spin::openwrt_config_path, F_OK) == 0)
      config_path = spin::openwrt_config_path;
  } else if (access(spin::default_config_path, F_OK) == 0) {
    config_path = spin::default_config_path;
  }
  if (!config_path.empty()) {
    auto file_res = spin::load_config_file(config_path, options);
    if (!file_res.ok()) {
      std::fprintf(stderr, "spind: %s\n", file_res.error.c_str());
      return spin::exit_usage;
    }
    notices = std::move(file_res.notices);
  }
  notices.insert(notices.end(), res.notices.begin(), res.notices.end());
  options.merge(cl.options);

  spin::spind_config cfg;
  auto built = spin::build_config(options, cfg);
  if (!built.ok()) {
    std::fprintf(stderr, "spind: %s\n", built.error.c_str());
    return spin::exit_usage;
  }
  spin::log_configure(cfg.log);
  if (!config_path.empty())
    SPIN_INFO("configuration read from %s", config_path.c_str());
  for (auto& n : notices)
    SPIN_NOTICE("%s", n.c_str());

  std::string dir_error;
  if (!make_dirs(cfg.state_dir, dir_error))
    SPIN_WARN("state_dir: cannot create %s (%s); state will not be kept",
              cfg.state_dir.c_str(), dir_error.c_str());

  struct sigaction sa;
  std::memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  return spin::run_daemon(cfg, stop_requested);
}
