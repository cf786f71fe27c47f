#pragma once

#include "spin/runtime/nft_table.hpp"

#include <string>

namespace spin {

/// Where the block manager's lists are enforced. Today that is spind's own
/// nftables table (nft_enforcer); with the kernel module loaded it will be
/// the module's configuration channel (netlink protocol 30), behind this same
/// interface, so the block manager does not change. Calls block (netlink
/// round trips): the block manager runs detached.
class enforcer {
public:
  virtual ~enforcer() = default;

  /// For logs, e.g. "nftables table inet spin".
  virtual std::string name() const = 0;

  /// Applies one change, all or nothing. The caller deletes only what it
  /// added (set_change explains why).
  virtual bool apply(const set_change& change, std::string& error) = 0;

  /// Starts over: afterwards the enforcement state holds exactly `all` (after
  /// a refused change, when the state can no longer be trusted).
  virtual bool rebuild(const set_change& all, std::string& error) = 0;
};

/// The nftables backend: set element changes in spind's table; a rebuild
/// replaces the whole table (one transaction) and adds every element again.
class nft_enforcer final : public enforcer {
public:
  explicit nft_enforcer(nft_table& table) : table_(table) {}

  std::string name() const override {
    return "nftables table inet " + table_.config().name;
  }

  bool apply(const set_change& change, std::string& error) override {
    return table_.apply(change, error);
  }

  bool rebuild(const set_change& all, std::string& error) override {
    return table_.install(error) && table_.apply(all, error);
  }

private:
  nft_table& table_;
};

} // namespace spin
