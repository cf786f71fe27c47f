#include "spin/runtime/device_names.hpp"

#include "spin/runtime/uci.hpp"

#include <sys/stat.h>

#include <cctype>
#include <charconv>
#include <fstream>
#include <optional>
#include <sstream>

namespace spin {

namespace {

using sv = std::string_view;

std::vector<sv> fields(sv line) {
  std::vector<sv> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i])))
      ++i;
    size_t start = i;
    while (i < line.size() && !std::isspace(static_cast<unsigned char>(line[i])))
      ++i;
    if (i > start)
      out.push_back(line.substr(start, i - start));
  }
  return out;
}

bool is_number(sv s) {
  if (s.empty())
    return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c)))
      return false;
  return true;
}

// A usable host name: printable, no spaces, at most 253 characters.
bool good_name(sv s) {
  if (s.empty() || s.size() > 253)
    return false;
  for (unsigned char c : s)
    if (c < 0x21 || c > 0x7e)
      return false;
  return true;
}

bool no_name(sv s) {
  return s == "*" || s == "-";
}

int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

// Hex text (with or without ':' separators) to bytes.
bool hex_bytes(sv text, std::vector<uint8_t>& out) {
  out.clear();
  int hi = -1;
  for (char c : text) {
    if (c == ':' || c == '-')
      continue;
    int v = hexval(c);
    if (v < 0)
      return false;
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<uint8_t>(hi * 16 + v));
      hi = -1;
    }
  }
  return hi < 0 && !out.empty();
}

// The MAC inside a link-layer DUID (DUID-LLT type 1, DUID-LL type 3, with
// hardware type 1 = Ethernet), or an empty MAC.
mac_address mac_from_duid(sv text) {
  std::vector<uint8_t> b;
  mac_address m;
  if (!hex_bytes(text, b) || b.size() < 4)
    return m;
  uint16_t type = static_cast<uint16_t>(b[0] << 8 | b[1]);
  uint16_t hw = static_cast<uint16_t>(b[2] << 8 | b[3]);
  if (hw != 1)
    return m;
  if (type == 1 && b.size() == 14)
    std::copy(b.begin() + 8, b.end(), m.bytes.begin());
  else if (type == 3 && b.size() == 10)
    std::copy(b.begin() + 4, b.end(), m.bytes.begin());
  return m;
}

void problem(std::vector<std::string>& problems, sv file, int line,
             const std::string& why) {
  problems.push_back(std::string{file} + ":" + std::to_string(line) + ": " + why);
}

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return std::nullopt;
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

} // namespace

void parse_leases(std::string_view text, std::string_view filename, device_names& out,
                  std::vector<std::string>& problems) {
  std::istringstream in{std::string{text}};
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    auto f = fields(line);
    if (f.empty())
      continue;
    for (unsigned char c : line)
      if (c < 0x20 && c != '\t') {
        problem(problems, filename, lineno, "control character; line skipped");
        f.clear();
        break;
      }
    if (f.empty())
      continue;
    if (f[0] == "duid") // dnsmasq: the server's DUID, IPv6 leases follow
      continue;
    if (f[0] == "#") {
      // odhcpd: # IFACE DUID IAID HOSTNAME VALID ID LEN ADDR/LEN...
      if (f.size() < 9) {
        problem(problems, filename, lineno, "odhcpd lease line with too few fields");
        continue;
      }
      auto name = f[4];
      if (no_name(name))
        continue;
      if (!good_name(name)) {
        problem(problems, filename, lineno, "unusable host name");
        continue;
      }
      std::vector<uint8_t> raw;
      mac_address mac;
      if (hex_bytes(f[2], raw) && raw.size() == 6)
        std::copy(raw.begin(), raw.end(), mac.bytes.begin()); // DHCPv4: the MAC
      else
        mac = mac_from_duid(f[2]);
      if (!mac.empty())
        out.by_mac[mac] = std::string{name};
      for (size_t i = 8; i < f.size(); ++i) {
        auto addr = f[i].substr(0, f[i].find('/'));
        if (auto ip = ip_address::parse(addr))
          out.by_ip[*ip] = std::string{name};
      }
      continue;
    }
    if (is_number(f[0])) {
      // dnsmasq: EXPIRY MAC-OR-IAID IP HOSTNAME CLIENT-ID
      if (f.size() < 4) {
        problem(problems, filename, lineno, "dnsmasq lease line with too few fields");
        continue;
      }
      auto ip = ip_address::parse(f[2]);
      if (!ip) {
        problem(problems, filename, lineno, "not an address: " + std::string{f[2]});
        continue;
      }
      auto name = f[3];
      if (no_name(name))
        continue;
      if (!good_name(name)) {
        problem(problems, filename, lineno, "unusable host name");
        continue;
      }
      out.by_ip[*ip] = std::string{name};
      if (auto mac = mac_address::parse(f[1])) {
        out.by_mac[*mac] = std::string{name};
      } else if (f.size() >= 5) {
        auto m = mac_from_duid(f[4]);
        if (!m.empty())
          out.by_mac[m] = std::string{name};
      }
      continue;
    }
    if (auto ip = ip_address::parse(f[0])) {
      // hosts: ADDRESS NAME [ALIASES...]; the first, short name is the name.
      if (f.size() < 2 || !good_name(f[1])) {
        problem(problems, filename, lineno, "hosts line without a usable name");
        continue;
      }
      auto name = f[1];
      if (f.size() >= 3 && f[2].size() < name.size() && good_name(f[2]))
        name = f[2]; // "fd00::5 phone.lan phone": prefer "phone"
      out.by_ip[*ip] = std::string{name};
      continue;
    }
    problem(problems, filename, lineno, "not a lease line in any known format");
  }
}

void parse_dhcp_config(std::string_view text, std::string_view filename,
                       device_names& out, std::vector<std::string>& problems) {
  auto doc = parse_uci(text, filename);
  if (!doc.error.empty()) {
    problems.push_back(doc.error + " (file ignored)");
    return;
  }
  for (auto& sec : doc.sections) {
    if (sec.type != "host")
      continue;
    auto name = sec.value("name");
    if (name.empty())
      continue;
    if (!good_name(name)) {
      problem(problems, filename, sec.line, "host section with an unusable name");
      continue;
    }
    for (auto& macs : sec.values("mac")) {
      for (auto& word : fields(macs)) {
        if (auto m = mac_address::parse(word))
          out.by_mac[*m] = name;
        else
          problem(problems, filename, sec.line,
                  "host section: not a MAC: " + std::string{word});
      }
    }
    for (auto& ips : sec.values("ip"))
      if (auto ip = ip_address::parse(ips))
        out.by_ip[*ip] = name;
  }
}

device_names read_device_names(const device_name_sources& src,
                               std::vector<std::string>& problems) {
  device_names leases;
  for (auto& path : src.lease_files)
    if (auto text = read_file(path))
      parse_leases(*text, path, leases, problems);
  if (src.dhcp_config.empty())
    return leases;
  device_names statics;
  if (auto text = read_file(src.dhcp_config))
    parse_dhcp_config(*text, src.dhcp_config, statics, problems);
  // Static hosts are what the administrator chose: they win.
  for (auto& [mac, name] : statics.by_mac)
    leases.by_mac[mac] = name;
  for (auto& [ip, name] : statics.by_ip)
    leases.by_ip[ip] = name;
  return leases;
}

std::string device_name_files_signature(const device_name_sources& src) {
  std::string sig;
  auto add = [&](const std::string& path) {
    struct stat st;
    if (stat(path.c_str(), &st) == 0)
      sig += path + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
             std::to_string(st.st_mtim.tv_nsec) + ":" + std::to_string(st.st_size) + ";";
    else
      sig += path + ":-;";
  };
  for (auto& p : src.lease_files)
    add(p);
  if (!src.dhcp_config.empty())
    add(src.dhcp_config);
  return sig;
}

} // namespace spin
