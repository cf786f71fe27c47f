// spin_nftctl: installs, removes or looks up spind's nftables table through
// spin::nft_table (netlink, no `nft`). Used by tests/integration/test_nft_table.py.
//
//   spin_nftctl install|remove|exists [--name N] [--priority P] [--dns-group G]
//               [--per-packet] [--packet-group G] [--lan IFACE ...]
//
// Exit code: 0 on success, 1 on failure (the error is on stderr); for
// `exists`: 0 if the table exists, 1 if it does not, 2 if the question could
// not be answered. 2 is also the answer to a bad command line.
#include "spin/runtime/nft_table.hpp"

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

void usage() {
  std::fprintf(stderr,
               "usage: spin_nftctl install|remove|exists [--name N] [--priority P]\n"
               "                   [--dns-group G] [--per-packet] [--packet-group G]\n"
               "                   [--lan IFACE ...]\n");
}

bool parse_long(const char* text, long min, long max, long& out) {
  char* end = nullptr;
  errno = 0;
  long v = std::strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v < min || v > max)
    return false;
  out = v;
  return true;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    usage();
    return 2;
  }
  std::string command = argv[1];
  if (command != "install" && command != "remove" && command != "exists") {
    usage();
    return 2;
  }
  spin::nft_table_config cfg;
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    bool has_value = i + 1 < argc;
    long v = 0;
    if (arg == "--per-packet") {
      cfg.per_packet = true;
    } else if (arg == "--name" && has_value) {
      cfg.name = argv[++i];
    } else if (arg == "--priority" && has_value &&
               parse_long(argv[i + 1], INT_MIN, INT_MAX, v)) {
      cfg.priority = static_cast<int>(v);
      ++i;
    } else if (arg == "--dns-group" && has_value &&
               parse_long(argv[i + 1], 0, UINT16_MAX, v)) {
      cfg.dns_group = static_cast<uint16_t>(v);
      ++i;
    } else if (arg == "--packet-group" && has_value &&
               parse_long(argv[i + 1], 0, UINT16_MAX, v)) {
      cfg.packet_group = static_cast<uint16_t>(v);
      ++i;
    } else if (arg == "--lan" && has_value && std::strncmp(argv[i + 1], "--", 2) != 0) {
      // One or more interface names, up to the next option.
      while (i + 1 < argc && std::strncmp(argv[i + 1], "--", 2) != 0)
        cfg.lan_interfaces.push_back(argv[++i]);
    } else {
      std::fprintf(stderr, "spin_nftctl: bad argument '%s'\n", arg.c_str());
      usage();
      return 2;
    }
  }

  spin::nft_table table{cfg};
  std::string error;
  if (command == "install") {
    if (!table.install(error)) {
      std::fprintf(stderr, "spin_nftctl: %s\n", error.c_str());
      return 1;
    }
    return 0;
  }
  if (command == "remove") {
    if (!table.remove(error)) {
      std::fprintf(stderr, "spin_nftctl: %s\n", error.c_str());
      return 1;
    }
    return 0;
  }
  bool present = table.exists(error);
  if (!error.empty()) {
    std::fprintf(stderr, "spin_nftctl: %s\n", error.c_str());
    return 2;
  }
  return present ? 0 : 1;
}
