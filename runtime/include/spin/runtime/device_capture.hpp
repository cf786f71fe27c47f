#pragma once

#include "spin/runtime/ip_address.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace spin {

/// A live capture of one device's traffic with libpcap, as a pcap byte
/// stream (global header, then records): what /spin_api/tcpdump streams.
/// The filter is built here from a validated MAC (or the device's validated
/// addresses on the `any` pseudo-interface, which has no Ethernet header);
/// nothing from a request reaches libpcap as text, and no shell is involved.
class device_capture {
public:
  struct options {
    /// Interface to capture on; "any" for all.
    std::string interface = "any";
    mac_address mac;
    /// The device's addresses (the filter on "any").
    std::vector<ip_address> addresses;
    uint32_t snaplen = 65535;
    /// Ends the capture after this long / this many bytes of output.
    int max_seconds = 600;
    uint64_t max_bytes = 64ull << 20;
  };

  device_capture();
  ~device_capture();
  device_capture(const device_capture&) = delete;
  device_capture& operator=(const device_capture&) = delete;

  /// Opens the interface and installs the filter. False with `error`
  /// (no such interface, no permission: CAP_NET_RAW, no address to filter on).
  bool open(const options& o, std::string& error);

  /// The next piece of the stream: the pcap file header first, then the
  /// packets captured since (waits up to about half a second for some).
  /// False when the capture is over (limits reached, stopped, error).
  bool next(std::string& chunk);

  /// Ends the capture (thread-safe; next() returns false soon after).
  void stop();

  uint64_t bytes() const { return bytes_.load(); }
  bool running() const { return !stopped_.load(); }
  const std::string& filter() const { return filter_; }

  /// The BPF filter text for `o` ("ether host ..." or "host ... or host ...").
  static std::string filter_for(const options& o);

private:
  struct impl;
  std::unique_ptr<impl> p_;
  options opts_;
  std::string filter_;
  bool header_sent_ = false;
  std::atomic<bool> stopped_{false};
  std::atomic<uint64_t> bytes_{0};
};

} // namespace spin
