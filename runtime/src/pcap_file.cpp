#include "spin/runtime/pcap_file.hpp"

#include <sys/mman.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace spin {

namespace {

constexpr uint32_t magic_us = 0xa1b2c3d4;
constexpr uint32_t magic_ns = 0xa1b23c4d;
constexpr size_t file_header_size = 24;
constexpr size_t record_header_size = 16;
// Give pages back to the kernel in steps of this many bytes.
constexpr size_t release_step = 16u << 20;

inline uint32_t load32(const uint8_t* p, bool swapped) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return swapped ? __builtin_bswap32(v) : v;
}

} // namespace

pcap_file_reader::~pcap_file_reader() {
  if (base_)
    munmap(const_cast<uint8_t*>(base_), size_);
  if (fd_ >= 0)
    close(fd_);
}

pcap_file_reader::open_status pcap_file_reader::open(const std::string& path) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) {
    error_ = path + ": " + std::strerror(errno);
    return open_status::failed;
  }
  struct stat st;
  if (fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    // Pipes and devices: libpcap reads them as streams.
    return open_status::not_classic;
  }
  size_ = static_cast<size_t>(st.st_size);
  if (size_ < file_header_size)
    return open_status::not_classic;
  uint8_t hdr[file_header_size];
  if (pread(fd_, hdr, sizeof(hdr), 0) != static_cast<ssize_t>(sizeof(hdr)))
    return open_status::not_classic;
  uint32_t magic;
  std::memcpy(&magic, hdr, 4);
  if (magic == magic_us || magic == magic_ns) {
    swapped_ = false;
  } else if (magic == __builtin_bswap32(magic_us) ||
             magic == __builtin_bswap32(magic_ns)) {
    swapped_ = true;
    magic = __builtin_bswap32(magic);
  } else {
    return open_status::not_classic;
  }
  nanos_ = magic == magic_ns;
  uint16_t major;
  std::memcpy(&major, hdr + 4, 2);
  if (swapped_)
    major = __builtin_bswap16(major);
  if (major != 2)
    return open_status::not_classic; // let libpcap explain
  // The low 16 bits are the link type; the upper ones carry FCS information.
  link_type_ = load32(hdr + 20, swapped_) & 0xffff;
  // Like libpcap: a missing or absurd snap length means the maximum.
  snaplen_ = load32(hdr + 16, swapped_);
  if (snaplen_ == 0 || snaplen_ > max_caplen)
    snaplen_ = max_caplen;
  void* m = mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd_, 0);
  if (m == MAP_FAILED) {
    // A 32-bit router cannot map a large file: libpcap streams it instead.
    size_ = 0;
    return open_status::not_classic;
  }
  base_ = static_cast<const uint8_t*>(m);
  madvise(m, size_, MADV_SEQUENTIAL);
  pos_ = file_header_size;
  return open_status::ok;
}

int pcap_file_reader::next(captured_frame& out) {
  if (pos_ == size_)
    return 0;
  if (size_ - pos_ < record_header_size) {
    error_ = "truncated dump file; tried to read 16 header bytes, only got " +
             std::to_string(size_ - pos_);
    pos_ = size_;
    return -1;
  }
  const uint8_t* rec = base_ + pos_;
  uint32_t sec = load32(rec, swapped_);
  uint32_t frac = load32(rec + 4, swapped_);
  uint32_t caplen = load32(rec + 8, swapped_);
  uint32_t len = load32(rec + 12, swapped_);
  if (caplen > max_caplen) {
    error_ = "invalid packet capture length " + std::to_string(caplen) +
             ", bigger than maximum of " + std::to_string(max_caplen);
    pos_ = size_;
    return -1;
  }
  if (size_ - pos_ - record_header_size < caplen) {
    error_ = "truncated dump file; tried to read " + std::to_string(caplen) +
             " captured bytes, only got " +
             std::to_string(size_ - pos_ - record_header_size);
    pos_ = size_;
    return -1;
  }
  // Both timestamp fields are signed 32-bit, as libpcap reads them (so odd
  // files give the same, odd, times with either reader).
  auto ssec = static_cast<int32_t>(sec);
  auto sfrac = static_cast<int32_t>(frac);
  out.ts_us = static_cast<int64_t>(ssec) * 1000000 + (nanos_ ? sfrac / 1000 : sfrac);
  // A record longer than the file's snap length is cut to it (as libpcap
  // does); the rest of the record is skipped.
  out.caplen = caplen > snaplen_ ? snaplen_ : caplen;
  out.wirelen = len;
  out.data = rec + record_header_size;
  pos_ += record_header_size + caplen;
  if (pos_ - released_ >= 2 * release_step)
    release_consumed();
  return 1;
}

void pcap_file_reader::release_consumed() {
  // Keep the current step mapped (the frame just handed out lives there).
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  size_t upto = (pos_ - release_step) / page * page;
  if (upto > released_) {
    madvise(const_cast<uint8_t*>(base_) + released_, upto - released_, MADV_DONTNEED);
    released_ = upto;
  }
}

} // namespace spin
