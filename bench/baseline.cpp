// spin-baseline: the single-threaded reference loop the end-to-end benchmark
// compares spind against. Reads a capture with libpcap, parses every frame
// with spin's parser and counts flows per second in spin's flat flow table;
// prints the totals. No queues, no actors, no MQTT.
#include "spin/runtime/flow_table.hpp"
#include "spin/runtime/packet_parser.hpp"

#include <pcap/pcap.h>

#include <chrono>
#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: spin-baseline FILE.pcap\n");
    return 2;
  }
  char errbuf[PCAP_ERRBUF_SIZE];
  pcap_t* p = pcap_open_offline(argv[1], errbuf);
  if (!p) {
    std::fprintf(stderr, "spin-baseline: %s\n", errbuf);
    return 1;
  }
  auto lt = spin::link_type_from_dlt(pcap_datalink(p));
  if (!lt) {
    std::fprintf(stderr, "spin-baseline: unsupported link type\n");
    return 1;
  }
  auto t0 = std::chrono::steady_clock::now();
  spin::flow_table table{1 << 20};
  pcap_pkthdr* hdr;
  const u_char* data;
  int64_t second = -1;
  uint64_t packets = 0, bytes = 0, intervals = 0, flow_seconds = 0;
  while (pcap_next_ex(p, &hdr, &data) == 1) {
    if (hdr->ts.tv_sec != second) {
      if (second >= 0) {
        flow_seconds += table.take(second, 0)->flows.size();
        ++intervals;
      }
      second = hdr->ts.tv_sec;
    }
    spin::packet_record r;
    if (spin::parse_frame(*lt, data, hdr->caplen, hdr->len, r) ==
        spin::parse_status::ok) {
      table.add(r);
      ++packets;
      bytes += r.ip_bytes;
    }
  }
  if (second >= 0) {
    flow_seconds += table.take(second, 0)->flows.size();
    ++intervals;
  }
  pcap_close(p);
  double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("packets %llu bytes %llu intervals %llu flow-seconds %llu time %.3f s "
              "rate %.2f Mpps\n",
              static_cast<unsigned long long>(packets),
              static_cast<unsigned long long>(bytes),
              static_cast<unsigned long long>(intervals),
              static_cast<unsigned long long>(flow_seconds), secs, packets / secs / 1e6);
  return 0;
}
