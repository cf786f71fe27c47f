// spin_nftctl: installs, removes or looks up spind's nftables table and
// changes its enforcement sets through spin::nft_table (netlink, no `nft`).
// Used by tests/integration/test_nft_table.py and test_nft_enforce.py.
//
//   spin_nftctl install|remove|exists [options]
//   spin_nftctl block|unblock|allow|disallow ADDR... [options]
//   spin_nftctl pair|unpair A B [A B ...] [options]
//   spin_nftctl flush [options]
//
// block/unblock add to/delete from the block sets, allow/disallow the allow
// sets; pair/unpair add/delete both directions of each pair (A . B and
// B . A). After the addresses, further operations may follow in the same
// transaction: `spin_nftctl block 192.0.2.1 unblock 192.0.2.2 pair A B` is one
// set_change, applied all or nothing.
//
// Options (anywhere; --lan takes the interface names up to the next option):
//   --name N --priority P --dns-group G --per-packet --packet-group G
//   --lan IFACE... --passive (enforce = false) --block-group G
//   --block-rate R --block-burst B
//
// Exit code: 0 on success, 1 on failure (the error is on stderr); for
// `exists`: 0 if the table exists, 1 if it does not, 2 if the question could
// not be answered. 2 is also the answer to a bad command line.
#include "spin/runtime/ip_address.hpp"
#include "spin/runtime/nft_table.hpp"

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

void usage() {
  std::fprintf(stderr,
               "usage: spin_nftctl install|remove|exists [options]\n"
               "       spin_nftctl block|unblock|allow|disallow ADDR... [OP ARG...]\n"
               "       spin_nftctl pair|unpair A B [A B ...] [OP ARG...]\n"
               "       spin_nftctl flush\n"
               "options: [--name N] [--priority P] [--dns-group G] [--per-packet]\n"
               "         [--packet-group G] [--lan IFACE ...] [--passive]\n"
               "         [--block-group G] [--block-rate R] [--block-burst B]\n");
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

bool is_change_op(const std::string& word) {
  return word == "block" || word == "unblock" || word == "allow" || word == "disallow" ||
         word == "pair" || word == "unpair";
}

/// Turns "OP ARG... [OP ARG...]" into one set_change; false (with a message
/// on stderr) on a bad word.
bool parse_change(const std::vector<std::string>& words, spin::set_change& change) {
  std::string op;
  std::vector<spin::ip_address> pending; // the first address of a pair
  for (const std::string& word : words) {
    if (is_change_op(word)) {
      if (!pending.empty()) {
        std::fprintf(stderr, "spin_nftctl: %s needs addresses in pairs\n", op.c_str());
        return false;
      }
      op = word;
      continue;
    }
    auto addr = spin::ip_address::parse(word);
    if (!addr || op.empty()) {
      std::fprintf(stderr, "spin_nftctl: bad address '%s'\n", word.c_str());
      return false;
    }
    if (op == "block")
      change.block_add.push_back(*addr);
    else if (op == "unblock")
      change.block_del.push_back(*addr);
    else if (op == "allow")
      change.allow_add.push_back(*addr);
    else if (op == "disallow")
      change.allow_del.push_back(*addr);
    else if (pending.empty())
      pending.push_back(*addr);
    else {
      auto& to = op == "pair" ? change.pair_add : change.pair_del;
      to.emplace_back(pending.front(), *addr);
      to.emplace_back(*addr, pending.front());
      pending.clear();
    }
  }
  if (!pending.empty()) {
    std::fprintf(stderr, "spin_nftctl: %s needs addresses in pairs\n", op.c_str());
    return false;
  }
  return true;
}

int fail(const std::string& error) {
  std::fprintf(stderr, "spin_nftctl: %s\n", error.c_str());
  return 1;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    usage();
    return 2;
  }
  std::string command = argv[1];
  bool change_command = is_change_op(command);
  if (command != "install" && command != "remove" && command != "exists" &&
      command != "flush" && !change_command) {
    usage();
    return 2;
  }
  spin::nft_table_config cfg;
  std::vector<std::string> words{command}; // the operations of a change
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    bool has_value = i + 1 < argc;
    long v = 0;
    if (arg == "--per-packet") {
      cfg.per_packet = true;
    } else if (arg == "--passive") {
      cfg.enforce = false;
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
    } else if (arg == "--block-group" && has_value &&
               parse_long(argv[i + 1], 0, UINT16_MAX, v)) {
      cfg.block_group = static_cast<uint16_t>(v);
      ++i;
    } else if (arg == "--block-rate" && has_value &&
               parse_long(argv[i + 1], 0, UINT32_MAX, v)) {
      cfg.block_log_rate = static_cast<uint32_t>(v);
      ++i;
    } else if (arg == "--block-burst" && has_value &&
               parse_long(argv[i + 1], 0, UINT32_MAX, v)) {
      cfg.block_log_burst = static_cast<uint32_t>(v);
      ++i;
    } else if (arg == "--lan" && has_value && std::strncmp(argv[i + 1], "--", 2) != 0) {
      // One or more interface names, up to the next option.
      while (i + 1 < argc && std::strncmp(argv[i + 1], "--", 2) != 0)
        cfg.lan_interfaces.push_back(argv[++i]);
    } else if (change_command && arg.compare(0, 2, "--") != 0) {
      words.push_back(arg);
    } else {
      std::fprintf(stderr, "spin_nftctl: bad argument '%s'\n", arg.c_str());
      usage();
      return 2;
    }
  }

  spin::nft_table table{cfg};
  std::string error;
  if (change_command) {
    spin::set_change change;
    if (!parse_change(words, change) || change.empty()) {
      usage();
      return 2;
    }
    return table.apply(change, error) ? 0 : fail(error);
  }
  if (command == "flush")
    return table.flush_sets(error) ? 0 : fail(error);
  if (command == "install")
    return table.install(error) ? 0 : fail(error);
  if (command == "remove")
    return table.remove(error) ? 0 : fail(error);
  bool present = table.exists(error);
  if (!error.empty()) {
    std::fprintf(stderr, "spin_nftctl: %s\n", error.c_str());
    return 2;
  }
  return present ? 0 : 1;
}
