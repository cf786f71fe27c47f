#include "spin/runtime/event_fd.hpp"

#include <cstdint>
#include <sys/eventfd.h>
#include <unistd.h>

namespace spin {

bool event_fd::open() {
  close();
  fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  return fd_ >= 0;
}

void event_fd::close() {
  if (fd_ >= 0)
    ::close(fd_);
  fd_ = -1;
}

void event_fd::signal() {
  if (fd_ < 0)
    return;
  uint64_t one = 1;
  // EAGAIN: the counter is full, so the descriptor is readable already.
  (void)!::write(fd_, &one, sizeof(one));
}

void event_fd::clear() {
  uint64_t count;
  // EAGAIN: nothing to read, it was cleared already.
  (void)!::read(fd_, &count, sizeof(count));
}

} // namespace spin
