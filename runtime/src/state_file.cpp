#include "spin/runtime/state_file.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace spin {

namespace json = boost::json;

state_file::loaded state_file::load(const std::string& path) {
  loaded out;
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return out; // nothing saved yet
  std::ostringstream buf;
  buf << in.rdbuf();
  auto text = buf.str();
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (!ec && v.is_object()) {
    out.doc = std::move(v.as_object());
    return out;
  }
  // Keep the broken file for the user to look at; start from empty state.
  out.moved_to = path + ".corrupt-" + std::to_string(std::time(nullptr));
  if (std::rename(path.c_str(), out.moved_to.c_str()) != 0) {
    out.warning = "state file " + path + " is corrupt (" +
                  (ec ? ec.message() : std::string{"not a JSON object"}) +
                  ") and could not be moved aside: " + std::strerror(errno) +
                  "; starting without saved state";
    out.moved_to.clear();
  } else {
    out.warning = "state file " + path + " is corrupt (" +
                  (ec ? ec.message() : std::string{"not a JSON object"}) + "); kept as " +
                  out.moved_to + ", starting without saved state";
  }
  return out;
}

bool state_file::save(const std::string& path, const json::object& doc,
                      std::string& error) {
  auto text = json::serialize(doc);
  text += '\n';
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    error = tmp + ": " + std::strerror(errno);
    return false;
  }
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      error = tmp + ": " + std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      return false;
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    error = tmp + ": fsync: " + std::strerror(errno);
    ::close(fd);
    ::unlink(tmp.c_str());
    return false;
  }
  ::close(fd);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    error = path + ": " + std::strerror(errno);
    ::unlink(tmp.c_str());
    return false;
  }
  // Make the rename itself durable.
  auto slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  int dfd = ::open(dir.empty() ? "/" : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return true;
}

} // namespace spin
