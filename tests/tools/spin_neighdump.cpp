// spin_neighdump: prints what spin's rtnetlink neighbour reader sees, one line
// per event ("+ ADDRESS MAC IFINDEX" or "- ADDRESS"), until its standard input
// closes. Used by tests/integration/test_neighbours.py inside a network
// namespace.
#include "spin/runtime/neighbour_reader.hpp"

#include <cstdio>
#include <mutex>
#include <string>
#include <unistd.h>

int main() {
  spin::neighbour_reader reader;
  std::mutex out;
  std::string error;
  bool ok = reader.start(
      [&](std::vector<spin::neighbour_event> events) {
        std::lock_guard<std::mutex> guard{out};
        for (auto& e : events) {
          if (e.local)
            std::printf("%s local %s %d\n", e.present ? "+" : "-",
                        e.address.to_string().c_str(), e.ifindex);
          else if (e.present)
            std::printf("+ %s %s %d\n", e.address.to_string().c_str(),
                        e.mac.to_string().c_str(), e.ifindex);
          else
            std::printf("- %s\n", e.address.to_string().c_str());
        }
        std::fflush(stdout);
      },
      error);
  if (!ok) {
    std::fprintf(stderr, "spin_neighdump: %s\n", error.c_str());
    return 1;
  }
  std::printf("ready\n");
  std::fflush(stdout);
  char c;
  while (read(0, &c, 1) > 0) {
  }
  reader.stop();
  auto s = reader.stats();
  std::fprintf(stderr, "events %llu dumps %llu overruns %llu errors %llu\n",
               static_cast<unsigned long long>(s.events),
               static_cast<unsigned long long>(s.dumps),
               static_cast<unsigned long long>(s.overruns),
               static_cast<unsigned long long>(s.errors));
  return 0;
}
