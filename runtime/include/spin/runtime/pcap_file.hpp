#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace spin {

/// One captured frame as a reader hands it out: the data points into the
/// reader's memory and stays valid until the next call.
struct captured_frame {
  int64_t ts_us = 0;    ///< capture time, microseconds since the epoch
  uint32_t caplen = 0;  ///< bytes present at `data`
  uint32_t wirelen = 0; ///< the frame's original length
  const uint8_t* data = nullptr;
};

/// A zero-copy reader of classic pcap files (the tcpdump format, both byte
/// orders, micro- and nanosecond timestamps) through a read-only memory map.
///
/// Why it exists next to libpcap: libpcap reads every record with two
/// fread() calls, i.e. a system call every few hundred packets and two
/// copies of every packet, which is ~40% of the reader thread's time at 10
/// million packets per second. This reader hands out pointers into the map
/// instead. It only takes files it fully understands; pcapng and anything
/// else is left to libpcap (see pcap_source). Pages already read are given
/// back to the kernel as the reader moves on, so resident memory stays small
/// however large the file is.
class pcap_file_reader {
public:
  enum class open_status {
    ok,          ///< a classic pcap file; frames follow
    not_classic, ///< not a classic pcap file (pcapng, or not a capture): use libpcap
    failed,      ///< the file cannot be opened or mapped (see error())
  };

  pcap_file_reader() = default;
  ~pcap_file_reader();

  pcap_file_reader(const pcap_file_reader&) = delete;
  pcap_file_reader& operator=(const pcap_file_reader&) = delete;

  open_status open(const std::string& path);

  /// The file's LINKTYPE_ value (https://www.tcpdump.org/linktypes.html).
  uint32_t link_type() const { return link_type_; }

  /// The next frame: 1 when `out` holds one, 0 at the end of the file, -1
  /// when the file is damaged at this point (error() says how; no further
  /// frames are read, like libpcap).
  int next(captured_frame& out);

  const std::string& error() const { return error_; }

  /// The largest capture length accepted for one record (libpcap's limit).
  static constexpr uint32_t max_caplen = 262144;

private:
  void release_consumed();

  int fd_ = -1;
  const uint8_t* base_ = nullptr;
  size_t size_ = 0;
  size_t pos_ = 0;
  size_t released_ = 0;
  bool swapped_ = false;
  bool nanos_ = false;
  uint32_t link_type_ = 0;
  uint32_t snaplen_ = max_caplen;
  std::string error_;
};

} // namespace spin
