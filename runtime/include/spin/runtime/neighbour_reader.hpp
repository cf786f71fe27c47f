#pragma once

#include "spin/runtime/event_fd.hpp"
#include "spin/runtime/ip_address.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

struct mnl_socket;

namespace spin {

/// One change of the kernel's neighbour table (ARP for IPv4, NDP for IPv6).
struct neighbour_event {
  ip_address address;
  mac_address mac; ///< empty when the entry has no (valid) link-layer address
  int ifindex = 0;
  bool present = true; ///< false: the entry is gone or no longer usable
  /// True: `address` is one of this machine's own addresses (RTM_NEWADDR /
  /// RTM_DELADDR), not a neighbour; `mac` is then empty.
  bool local = false;
};

/// Reads IP -> MAC from the kernel over rtnetlink with libmnl: an initial
/// RTM_GETNEIGH dump, then RTM_NEWNEIGH / RTM_DELNEIGH notifications, in its
/// own thread; and the machine's own addresses the same way (RTM_GETADDR,
/// RTM_NEWADDR / RTM_DELADDR; events with `local` set). Never runs `ip`.
/// Neighbour entries in state FAILED or INCOMPLETE, and entries without a
/// link-layer address, are reported as not present. If the notifications
/// overflow the socket (ENOBUFS), the reader counts it and dumps again.
///
/// Own addresses come from dumps only: an address notification just makes
/// the reader dump the addresses again and report the difference. Address
/// notifications cannot be trusted on their own: a network namespace that
/// created veth pairs receives the IPv6 notifications of the peers in other
/// namespaces (duplicate address detection finishing there), with their
/// interface indexes; a dump lists exactly this namespace's addresses.
class neighbour_reader {
public:
  /// Receives batches of events (one batch per netlink read), in the reader
  /// thread; must only hand them on.
  using callback = std::function<void(std::vector<neighbour_event>)>;

  neighbour_reader() = default;
  ~neighbour_reader();

  neighbour_reader(const neighbour_reader&) = delete;
  neighbour_reader& operator=(const neighbour_reader&) = delete;

  /// Opens the socket, subscribes, dumps the table (delivered as the first
  /// batch) and starts the thread. Returns false with `error` (for example
  /// missing permissions) when that is impossible.
  bool start(callback cb, std::string& error);

  /// Stops and joins the thread.
  void stop();

  struct counters {
    uint64_t events = 0;
    uint64_t dumps = 0;
    uint64_t overruns = 0; ///< ENOBUFS: notifications lost, table re-dumped
    uint64_t errors = 0;
  };
  counters stats() const;

private:
  void run();
  bool request_dump(int type);
  /// Requests a dump now, or after the one in flight (0: only the next
  /// waiting one).
  void want_dump(int type);
  /// Turns a complete address dump into events (the difference).
  void address_dump_done(std::vector<neighbour_event>& events);

  ::mnl_socket* nl_ = nullptr;
  event_fd stop_event_;
  callback cb_;
  std::thread thread_;
  unsigned seq_ = 0;
  /// The dump in flight (sequence number, 0: none, and request type): one
  /// dump at a time per netlink socket; the others wait.
  unsigned dump_seq_ = 0;
  int dump_type_ = 0;
  bool neigh_dump_wanted_ = false;
  bool addr_dump_wanted_ = false;
  /// Own addresses (with their interface) as the last address dump listed
  /// them, and the dump being read.
  std::map<ip_address, int> local_;
  std::map<ip_address, int> reading_;
  std::atomic<uint64_t> events_{0};
  std::atomic<uint64_t> dumps_{0};
  std::atomic<uint64_t> overruns_{0};
  std::atomic<uint64_t> errors_{0};
};

} // namespace spin
