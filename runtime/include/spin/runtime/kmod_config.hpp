#pragma once

#include "spin/runtime/enforcer.hpp"
#include "spin/runtime/ip_address.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

struct mnl_socket;

namespace spin {

/// A client of spin.ko's configuration channel (netlink protocol 30,
/// ../shared/reference/spin-protocols.md s.1.2): one command, then the
/// module's responses up to END (which always comes last). Blocking, with a
/// timeout; the caller needs CAP_NET_ADMIN. What `spinctl kmod` and the
/// kmod enforcer use.
class kmod_config {
public:
  /// The three lists of the module.
  enum class list { ignore, block, except };

  /// What one command got back.
  struct reply {
    std::vector<ip_address> addresses; ///< IP responses (a GET's entries)
    std::vector<std::string> errors;   ///< ERR responses' texts
    bool ended = false;                ///< END arrived
  };

  kmod_config();
  ~kmod_config();
  kmod_config(const kmod_config&) = delete;
  kmod_config& operator=(const kmod_config&) = delete;

  /// Opens the socket. False with `error` (module not loaded: protocol 30
  /// unknown).
  bool open(std::string& error);

  /// GET: the list's entries.
  bool get(list l, reply& out, std::string& error);
  /// ADD / REMOVE one address.
  bool add(list l, const ip_address& a, reply& out, std::string& error);
  bool remove(list l, const ip_address& a, reply& out, std::string& error);
  /// CLEAR the list.
  bool clear(list l, reply& out, std::string& error);

  /// Sends a raw command payload (version byte and all) and collects the
  /// replies: for tests of the module's handling of bad input.
  bool raw(const std::vector<uint8_t>& payload, reply& out, std::string& error);

  static const char* name(list l);

  int timeout_ms = 3000;

private:
  bool command(uint8_t cmd, const ip_address* a, reply& out, std::string& error);
  ::mnl_socket* nl_ = nullptr;
  unsigned seq_ = 0;
};

/// The kernel module as the block manager's enforcer: allow -> the module's
/// except list, block -> its block list (the verdict of s.1.3 is the same
/// as spind's nftables rules: allow beats block). The module has no
/// node-pair lists: pair changes are not enforced (counted, and logged once).
class kmod_enforcer final : public enforcer {
public:
  std::string name() const override { return "spin kernel module (netlink 30)"; }
  bool apply(const set_change& change, std::string& error) override;
  bool rebuild(const set_change& all, std::string& error) override;
  /// Pair changes that could not be enforced.
  uint64_t unsupported_pairs() const { return unsupported_pairs_; }

private:
  bool ensure_open(std::string& error);
  bool run(kmod_config::list l, bool add, const ip_address& a, std::string& error);
  std::unique_ptr<kmod_config> cfg_;
  uint64_t unsupported_pairs_ = 0;
  bool pair_warned_ = false;
};

} // namespace spin
