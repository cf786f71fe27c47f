// spin_dnsdump: runs every frame of a capture file through parse_frame and
// the dns_extractor and prints what spin learns from its DNS, one line per
// answer record:
//
//   address<TAB>name<TAB>ttl
//
// (with --queries also `query<TAB>client<TAB>name<TAB>qtype` per question;
// with --frames every line starts with the 1-based frame number and a TAB,
// as tshark numbers frames), then a summary of the extractor's counters on stderr. A
// capture whose link type spin does not read is skipped with a message (exit 0). For
// tests.

#include "spin/runtime/dns.hpp"
#include "spin/runtime/packet_parser.hpp"

#include <pcap/pcap.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

void usage(FILE* to) {
  std::fputs("usage: spin_dnsdump [--queries] [--frames] FILE.pcap\n"
             "Prints address<TAB>name<TAB>ttl for every DNS answer spin extracts\n"
             "(--queries: also query<TAB>client<TAB>name<TAB>qtype; --frames: each\n"
             "line starts with the frame number and a TAB), counters on stderr.\n",
             to);
}

void print_summary(const char* file, uint64_t frames, uint64_t not_ip,
                   const spin::dns_counters& c) {
  std::fprintf(stderr,
               "spin_dnsdump: %s: frames %" PRIu64 " (not IP or malformed %" PRIu64
               "), dns packets %" PRIu64 ", messages %" PRIu64 " (responses %" PRIu64
               ", queries %" PRIu64 "), answer records %" PRIu64
               ", query records %" PRIu64 "\n",
               file, frames, not_ip, c.packets, c.messages, c.responses, c.queries,
               c.answer_records, c.query_records);
  std::fprintf(stderr, "spin_dnsdump: errors %" PRIu64, c.errors_total());
  for (size_t i = 1; i < spin::dns_error_count; ++i)
    if (c.errors[i] != 0)
      std::fprintf(stderr, " %s=%" PRIu64,
                   spin::to_string(static_cast<spin::dns_error>(i)), c.errors[i]);
  std::fprintf(stderr,
               "; answers_overflow %" PRIu64 ", questions_overflow %" PRIu64
               ", long_names %" PRIu64 ", chains_cut %" PRIu64 "\n",
               c.answers_overflow, c.questions_overflow, c.long_names, c.chains_cut);
  std::fprintf(
      stderr,
      "spin_dnsdump: tcp segments %" PRIu64 ", flows started %" PRIu64 ", ended %" PRIu64
      ", evicted %" PRIu64 ", expired %" PRIu64 ", resets %" PRIu64
      ", retransmits %" PRIu64 ", no_flow %" PRIu64 ", open %" PRIu64 "\n",
      c.tcp_segments, c.tcp_flows_started, c.tcp_flows_ended, c.tcp_flows_evicted,
      c.tcp_flows_expired, c.tcp_resets, c.tcp_retransmits, c.tcp_no_flow, c.tcp_flows);
}

} // namespace

int main(int argc, char** argv) {
  bool queries = false;
  bool frame_numbers = false;
  const char* file = nullptr;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--queries") == 0) {
      queries = true;
    } else if (std::strcmp(argv[i], "--frames") == 0) {
      frame_numbers = true;
    } else if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
      usage(stdout);
      return 0;
    } else if (file == nullptr && argv[i][0] != '-') {
      file = argv[i];
    } else {
      usage(stderr);
      return 2;
    }
  }
  if (file == nullptr) {
    usage(stderr);
    return 2;
  }

  char err[PCAP_ERRBUF_SIZE] = {};
  pcap_t* p =
      pcap_open_offline_with_tstamp_precision(file, PCAP_TSTAMP_PRECISION_MICRO, err);
  if (p == nullptr) {
    std::fprintf(stderr, "spin_dnsdump: %s: %s\n", file, err);
    return 1;
  }
  const int dlt = pcap_datalink(p);
  const auto lt = spin::link_type_from_dlt(dlt);
  if (!lt) {
    const char* name = pcap_datalink_val_to_name(dlt);
    std::fprintf(stderr,
                 "spin_dnsdump: %s: link type %d (%s) is not supported, skipped\n", file,
                 dlt, name ? name : "unknown");
    pcap_close(p);
    return 0;
  }

  spin::dns_extractor extractor;
  std::vector<spin::dns_record> records;
  records.reserve(1024);
  uint64_t frames = 0, not_ip = 0;
  int status = 0;
  for (;;) {
    pcap_pkthdr* hdr = nullptr;
    const u_char* data = nullptr;
    const int rc = pcap_next_ex(p, &hdr, &data);
    if (rc == PCAP_ERROR_BREAK)
      break;
    if (rc != 1) {
      // A damaged file: report it, keep what was read (the corpus has some).
      std::fprintf(stderr, "spin_dnsdump: %s: %s\n", file, pcap_geterr(p));
      break;
    }
    ++frames;
    spin::packet_record rec;
    spin::parse_extras extras;
    if (spin::parse_frame(*lt, data, hdr->caplen, hdr->len, rec, &extras) !=
        spin::parse_status::ok) {
      ++not_ip;
      continue;
    }
    const int64_t ts = static_cast<int64_t>(hdr->ts.tv_sec) * 1000000 +
                       static_cast<int64_t>(hdr->ts.tv_usec);
    records.clear();
    extractor.process(rec, extras, ts, records, hdr->caplen < hdr->len);
    for (const spin::dns_record& r : records) {
      const std::string addr = r.address.to_string();
      if (frame_numbers && (queries || r.kind == spin::dns_record_kind::answer))
        std::printf("%" PRIu64 "\t", frames);
      if (r.kind == spin::dns_record_kind::answer)
        std::printf("%s\t%.*s\t%" PRIu32 "\n", addr.c_str(), static_cast<int>(r.name_len),
                    r.name, r.ttl);
      else if (queries)
        std::printf("query\t%s\t%.*s\t%u\n", addr.c_str(), static_cast<int>(r.name_len),
                    r.name, static_cast<unsigned>(r.qtype));
    }
  }
  pcap_close(p);
  if (std::fflush(stdout) != 0)
    status = 1;
  print_summary(file, frames, not_ip, extractor.counters());
  return status;
}
