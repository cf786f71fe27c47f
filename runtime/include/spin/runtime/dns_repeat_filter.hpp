#pragma once

#include "spin/runtime/ip_address.hpp"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace spin {

/// Recognises DNS messages that repeat one seen shortly before, without
/// parsing them, so that the source can skip them before the (much dearer)
/// full parse and everything downstream.
///
/// A message's fingerprint is a hash of its bytes with the ID and every TTL
/// masked: a structural walk skips names label by label (no decoding, no
/// pointer following) and records by RDLENGTH. Responses are keyed by content
/// alone (the same answer to another client changes nothing spind keeps);
/// queries by content and the asking client (who asked matters). A repeat
/// within `window` seconds of the last one that went through is skipped; so
/// every distinct answer still reaches the DNS cache at least once per
/// window, which must stay below the shortest TTL spind uses (dns_ttl_min)
/// for the cache to stay fresh. A response is not a repeat if another
/// answer gave one of its addresses since (the last answer must win). Anything
/// the walk does not understand is never skipped (the real parser judges it).
///
/// Fixed memory (a direct-mapped table); not thread-safe (one per reader).
class dns_repeat_filter {
public:
  /// Repeats of responses within `response_window_us` and of queries (same
  /// client) within `query_window_us` are skipped (0: never). `slots` is
  /// rounded up to a power of two.
  explicit dns_repeat_filter(int64_t response_window_us = 20'000'000,
                             int64_t query_window_us = 10'000'000,
                             size_t slots = 1u << 16);

  /// True if `msg` (a whole DNS message) repeats one let through less than
  /// `window` ago; otherwise remembers it and returns false. `client` is the
  /// querying client for queries (ignored for responses).
  bool repeated(const uint8_t* msg, size_t len, const ip_address& client, int64_t now_us);

  uint64_t skipped() const { return skipped_; }

private:
  struct slot {
    uint64_t hash = 0;
    int64_t when = 0;
  };
  /// Which message last gave an address (hashes of both).
  struct claim {
    uint64_t address = 0;
    uint64_t message = 0;
  };
  int64_t response_window_us_;
  int64_t query_window_us_;
  std::vector<slot> slots_;
  size_t mask_;
  std::vector<claim> claims_;
  size_t claim_mask_;
  uint64_t skipped_ = 0;
};

} // namespace spin
