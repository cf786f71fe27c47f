// Every capture of the shared corpus (tcpdump's test suite: real traffic,
// many deliberately malformed packets, many link types) goes through the pcap
// source without a crash, a hang or a sanitizer report. This binary is also
// built with ASan+UBSan (see tests/CMakeLists.txt).
#include "spin/runtime/log.hpp"
#include "spin/runtime/packet_parser.hpp"
#include "spin/runtime/pcap_file.hpp"
#include "spin/runtime/pcap_source.hpp"

#include <catch2/catch.hpp>
#include <pcap/pcap.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>

using namespace spin;
namespace fs = std::filesystem;

namespace {

struct drained {
  uint64_t packets = 0;
  uint64_t bytes = 0;
  uint64_t markers = 0;
  uint64_t ends = 0;
  uint64_t side_batches = 0;
  uint64_t dns_records = 0;
  bool ordered = true;
};

// Runs one file through a pcap source into a 2-shard bridge, with a consumer
// thread standing in for the shards.
drained run_file(const std::string& path, pcap_source_counters& counters, bool& opened) {
  queue_bridge bridge{2, 1 << 14};
  drained d;
  std::atomic<bool> done{false};
  std::thread consumer([&] {
    moodycamel::ConsumerToken toks[2] = {bridge.consumer_token(0),
                                         bridge.consumer_token(1)};
    std::vector<packet_record> buf(512);
    int64_t last_marker[2] = {INT64_MIN, INT64_MIN};
    for (;;) {
      bool any = false;
      for (size_t s = 0; s < 2; ++s) {
        size_t n = bridge.try_dequeue(s, toks[s], buf.data(), buf.size());
        if (n == 0)
          continue;
        any = true;
        for (size_t i = 0; i < n; ++i) {
          auto& r = buf[i];
          if (r.kind == record_kind::packet) {
            ++d.packets;
            d.bytes += r.ip_bytes;
          } else if (r.kind == record_kind::interval_end) {
            if (s == 0)
              ++d.markers;
            d.ordered = d.ordered && r.marker_second() > last_marker[s];
            last_marker[s] = r.marker_second();
          } else if (s == 0) {
            ++d.ends;
          }
        }
        bridge.consumed(s, n);
      }
      if (!any) {
        if (done.load() && bridge.depth(0) <= 0 && bridge.depth(1) <= 0)
          break;
        std::this_thread::sleep_for(std::chrono::microseconds(100));
      }
    }
  });
  pcap_source::options o;
  o.file = path;
  o.mode = replay_mode::fast;
  // Side batches (DNS, ARP/ND) too: every DNS packet of the corpus goes
  // through the DNS extractor.
  o.on_side = [&d](side_batch_ptr b) {
    ++d.side_batches;
    d.dns_records += b->dns.size();
  };
  {
    pcap_source src{o, bridge, nullptr};
    opened = src.run();
    counters = src.counters();
  }
  done.store(true);
  consumer.join();
  return d;
}

} // namespace

TEST_CASE("every corpus capture goes through the pcap source", "[pcap][corpus]") {
  log_settings quiet;
  quiet.level = log_level::error;
  log_configure(quiet);
  // The corpus sits beside the checkout (../shared/corpus/pcap); a clone
  // elsewhere can point SPIN_CORPUS_DIR at it.
  const char* env = std::getenv("SPIN_CORPUS_DIR");
  fs::path dir{env ? env : SPIN_CORPUS_DIR};
  INFO("corpus directory " << dir);
  REQUIRE(fs::is_directory(dir));
  std::vector<fs::path> files;
  for (auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file())
      files.push_back(e.path());
  std::sort(files.begin(), files.end());
  REQUIRE(files.size() > 400);
  uint64_t total_frames = 0, unsupported = 0, damaged = 0, read_ok = 0, dns = 0;
  for (auto& f : files) {
    INFO(f.string());
    pcap_source_counters c;
    bool opened = false;
    auto start = std::chrono::steady_clock::now();
    auto d = run_file(f.string(), c, opened);
    auto took = std::chrono::steady_clock::now() - start;
    CHECK(took < std::chrono::seconds(20)); // no hang
    // Every frame is accounted for exactly once.
    CHECK(c.frames == c.ip_packets + c.not_ip + c.malformed);
    // What the shards received is what the source counted.
    CHECK(d.packets == c.ip_packets);
    CHECK(d.bytes == c.ip_bytes);
    CHECK(d.markers == c.intervals);
    CHECK(d.side_batches == c.intervals); // one side batch per interval
    CHECK(d.dns_records == c.dns_records);
    CHECK(d.ordered);
    CHECK(d.ends == 1); // the stream always ends, whatever happened
    total_frames += c.frames;
    dns += c.dns_messages;
    unsupported += c.files_unsupported;
    damaged += c.files_damaged;
    if (opened && c.files_unsupported == 0)
      ++read_ok;
  }
  // The corpus has many link types spin does not read (802.11, PPP, ...):
  // they are skipped with a message, not errors.
  CHECK(unsupported > 0);
  CHECK(read_ok > 250);
  CHECK(total_frames > 3000);
  CHECK(dns > 10); // the corpus has a few DNS captures; they were parsed
  WARN("corpus: " << files.size() << " files, " << read_ok << " read, " << unsupported
                  << " of unsupported link types, " << damaged << " damaged, "
                  << total_frames << " frames, " << dns << " DNS messages");
}

TEST_CASE("a missing or non-capture file fails cleanly and ends the stream", "[pcap]") {
  log_settings quiet;
  quiet.level = log_level::error;
  log_configure(quiet);
  pcap_source_counters c;
  bool opened = true;
  auto d = run_file("/nonexistent/file.pcap", c, opened);
  CHECK_FALSE(opened);
  CHECK(c.files_failed == 1);
  CHECK(d.ends == 1);
  opened = true;
  d = run_file(SPIN_SOURCE_DIR "/CMakeLists.txt", c, opened);
  CHECK_FALSE(opened);
  CHECK(d.ends == 1);
}

TEST_CASE("the memory-mapped reader yields exactly libpcap's frames", "[pcap][corpus]") {
  const char* env = std::getenv("SPIN_CORPUS_DIR");
  fs::path dir{env ? env : SPIN_CORPUS_DIR};
  REQUIRE(fs::is_directory(dir));
  size_t classic = 0, frames = 0, damaged = 0;
  for (auto& e : fs::directory_iterator(dir)) {
    if (!e.is_regular_file())
      continue;
    auto path = e.path().string();
    INFO(path);
    pcap_file_reader fast;
    if (fast.open(path) != pcap_file_reader::open_status::ok)
      continue; // pcapng and others go through libpcap anyway
    ++classic;
    char errbuf[PCAP_ERRBUF_SIZE];
    pcap_t* p = pcap_open_offline_with_tstamp_precision(
        path.c_str(), PCAP_TSTAMP_PRECISION_MICRO, errbuf);
    REQUIRE(p != nullptr);
    // Same decision about the link type (LINKTYPE_ in the file, DLT_ from libpcap).
    CHECK(link_type_from_dlt(static_cast<int>(fast.link_type())) ==
          link_type_from_dlt(pcap_datalink(p)));
    pcap_pkthdr* hdr;
    const u_char* data;
    captured_frame f;
    for (;;) {
      int lib = pcap_next_ex(p, &hdr, &data);
      int ours = fast.next(f);
      if (lib == PCAP_ERROR_BREAK) {
        CHECK(ours == 0);
        break;
      }
      if (lib == PCAP_ERROR) {
        // Both stop at the same damaged record.
        CHECK(ours == -1);
        ++damaged;
        break;
      }
      REQUIRE(ours == 1);
      ++frames;
      CHECK(f.ts_us == static_cast<int64_t>(hdr->ts.tv_sec) * 1000000 + hdr->ts.tv_usec);
      CHECK(f.caplen == hdr->caplen);
      CHECK(f.wirelen == hdr->len);
      CHECK(std::memcmp(f.data, data, hdr->caplen) == 0);
    }
    pcap_close(p);
  }
  CHECK(classic > 300);
  WARN("mmap reader: " << classic << " classic pcap files, " << frames
                       << " frames equal to libpcap's, " << damaged << " damaged");
}

TEST_CASE("a capture cut inside a record keeps what was read", "[pcap]") {
  log_settings quiet;
  quiet.level = log_level::error;
  log_configure(quiet);
  // A classic pcap (Ethernet) with two 60-byte IPv4/UDP frames.
  std::vector<uint8_t> file = {0xd4, 0xc3, 0xb2, 0xa1, 2,    0,    4, 0, 0, 0, 0, 0,
                               0,    0,    0,    0,    0xff, 0xff, 0, 0, 1, 0, 0, 0};
  std::vector<uint8_t> frame(60, 0);
  frame[12] = 0x08;
  frame[14] = 0x45;
  frame[17] = 46; // IP total length
  frame[23] = 17;
  for (int i = 0; i < 2; ++i) {
    uint8_t rec[16] = {0x10, 0, 0, 0, 0, 0, 0, 0, 60, 0, 0, 0, 60, 0, 0, 0};
    file.insert(file.end(), rec, rec + 16);
    file.insert(file.end(), frame.begin(), frame.end());
  }
  file.resize(file.size() - 20); // cut the second frame short
  auto path = fs::temp_directory_path() / "spin-test-cut.pcap";
  {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    REQUIRE(f);
    std::fwrite(file.data(), 1, file.size(), f);
    std::fclose(f);
  }
  pcap_source_counters c;
  bool opened = false;
  auto d = run_file(path.string(), c, opened);
  fs::remove(path);
  CHECK(opened);
  CHECK(c.files_damaged == 1);
  CHECK(c.frames == 1);
  CHECK(d.packets == 1);
  CHECK(d.bytes == 46);
  CHECK(d.ends == 1);
}
