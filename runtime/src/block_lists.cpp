#include "spin/runtime/block_lists.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace json = boost::json;

namespace spin {

namespace {

std::vector<device_profile>& profile_table() {
  static std::vector<device_profile> all = {
      {"allow_all", "Allow all", "No restrictions", false, false, false},
      {"deny_all", "Deny all", "Block all traffic of the device", true, true, false},
      {"ipv4_only", "IPv4 only", "Block the device's IPv6 traffic", false, true, false},
      {"ipv6_only", "IPv6 only", "Block the device's IPv4 traffic", true, false, false},
      {"blocked_by_ad", "Blocked by anomaly detection",
       "Set by anomaly detection: all traffic of the device is blocked", true, true,
       false},
  };
  return all;
}

bool valid_profile_id(const std::string& id) {
  if (id.empty() || id.size() > 64)
    return false;
  for (char c : id)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
      return false;
  return true;
}

} // namespace

const std::vector<device_profile>& device_profiles() {
  return profile_table();
}

const device_profile* find_device_profile(const std::string& id) {
  for (auto& p : device_profiles())
    if (id == p.id)
      return &p;
  return nullptr;
}

void set_user_profiles(std::vector<device_profile> user) {
  auto& all = profile_table();
  all.erase(std::remove_if(all.begin(), all.end(), [](auto& p) { return p.user; }),
            all.end());
  for (auto& p : user) {
    p.user = true;
    all.push_back(std::move(p));
  }
}

std::vector<device_profile> load_profile_files(const std::string& dir,
                                               std::vector<std::string>& problems) {
  std::vector<device_profile> out;
  std::error_code ec;
  if (dir.empty() || !std::filesystem::is_directory(dir, ec))
    return out;
  std::vector<std::filesystem::path> files;
  for (auto it = std::filesystem::directory_iterator(dir, ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
    if (it->path().extension() == ".json")
      files.push_back(it->path());
  if (ec)
    problems.push_back("profiles: cannot list " + dir + ": " + ec.message());
  std::sort(files.begin(), files.end());
  for (auto& f : files) {
    auto fail = [&](const std::string& why) {
      problems.push_back("profiles: " + f.string() + ": " + why + "; skipped");
    };
    std::ifstream in(f);
    if (!in) {
      fail("cannot read it");
      continue;
    }
    std::string text((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
    if (text.size() > 64 * 1024) {
      fail("larger than 64 KiB");
      continue;
    }
    boost::system::error_code jec;
    auto v = json::parse(text, jec);
    if (jec || !v.is_object()) {
      fail(jec ? "not JSON (" + jec.message() + ")" : "not a JSON object");
      continue;
    }
    auto& o = v.as_object();
    auto str = [&](const char* key) -> const json::string* {
      auto* x = o.if_contains(key);
      return x && x->is_string() ? &x->as_string() : nullptr;
    };
    device_profile p;
    if (!str("id") || !valid_profile_id(std::string{*str("id")})) {
      fail("\"id\" must be 1-64 characters of a-z, 0-9, _ and -");
      continue;
    }
    p.id = std::string{*str("id")};
    if (find_device_profile(p.id) ||
        std::any_of(out.begin(), out.end(), [&](auto& q) { return q.id == p.id; })) {
      fail("the id " + p.id + " is taken");
      continue;
    }
    if (!str("name") || str("name")->empty() || str("name")->size() > 128) {
      fail("\"name\" must be a string of 1-128 characters");
      continue;
    }
    p.name = std::string{*str("name")};
    if (o.if_contains("description") &&
        (!str("description") || str("description")->size() > 1024)) {
      fail("\"description\" must be a string of at most 1024 characters");
      continue;
    }
    if (str("description"))
      p.description = std::string{*str("description")};
    std::string block = str("block") ? std::string{*str("block")} : "";
    if (block == "all")
      p.block_v4 = p.block_v6 = true;
    else if (block == "ipv4")
      p.block_v4 = true;
    else if (block == "ipv6")
      p.block_v6 = true;
    else if (block != "none") {
      fail("\"block\" must be none, all, ipv4 or ipv6");
      continue;
    }
    p.user = true;
    out.push_back(std::move(p));
  }
  return out;
}

namespace {

using ip_pair = std::pair<ip_address, ip_address>;

struct ip_pair_hash {
  size_t operator()(const ip_pair& p) const noexcept {
    std::hash<ip_address> h;
    return h(p.first) * 0x9e3779b97f4a7c15ull ^ h(p.second);
  }
};

/// A reference-counted set that journals the membership each touched
/// element had before the current change, so the change's net effect can be
/// computed at the end (an element removed and added again is no change).
template <class T, class Hash = std::hash<T>>
class ref_set {
public:
  void inc(const T& x) {
    auto& c = refs_[x];
    journal_.emplace(x, c > 0);
    ++c;
  }
  void dec(const T& x) {
    auto it = refs_.find(x);
    if (it == refs_.end())
      return;
    journal_.emplace(x, true);
    if (--it->second == 0)
      refs_.erase(it);
  }
  bool contains(const T& x) const { return refs_.count(x) != 0; }
  size_t size() const { return refs_.size(); }
  const std::unordered_map<T, uint32_t, Hash>& all() const { return refs_; }

  /// Hands the net additions and removals of the change to `add` / `del`
  /// and starts a new change. Returns true if anything changed.
  template <class Add, class Del>
  bool finish(Add add, Del del) {
    bool any = false;
    for (auto& [x, before] : journal_) {
      bool after = contains(x);
      if (after && !before) {
        add(x);
        any = true;
      } else if (!after && before) {
        del(x);
        any = true;
      }
    }
    journal_.clear();
    return any;
  }

private:
  std::unordered_map<T, uint32_t, Hash> refs_;
  std::unordered_map<T, bool, Hash> journal_;
};

enum class role : uint8_t { list, profile, pair_side };

struct entry {
  role r = role::list;
  list_kind list = list_kind::block; // role::list
  bool v4 = true;                    // families the entry contributes
  bool v6 = true;
  std::string profile; // role::profile
  uint64_t pair = 0;   // role::pair_side
  std::optional<mac_address> mac;
  std::vector<std::string> domains;
  std::set<ip_address> ips;
  std::set<ip_address> excluded;
  node_id current = 0;

  bool contributes(const ip_address& ip) const { return ip.is_v4() ? v4 : v6; }
  bool ip_keyed() const { return !mac && domains.empty(); }
};

struct pair_block {
  uint64_t a = 0, b = 0; // entry ids
  std::set<ip_pair> elements;
};

size_t idx(list_kind k) {
  return static_cast<size_t>(k);
}

json::array ips_json(const std::set<ip_address>& s) {
  json::array a;
  for (auto& ip : s)
    a.emplace_back(ip.to_string());
  return a;
}

} // namespace

struct block_lists::impl {
  limits lim;
  std::map<uint64_t, entry> entries;
  uint64_t next_entry = 1;
  std::map<uint64_t, pair_block> pairs;
  uint64_t next_pair = 1;
  std::set<ip_address> explicit_ips[3];
  std::set<ip_address> local;
  std::set<ip_address> local_excluded;
  ref_set<ip_address> refs[3];
  ref_set<ip_pair, ip_pair_hash> pair_refs;
  uint64_t dropped = 0;
  bool pairs_touched = false;
  bool profiles_touched = false;
  bool persist = false;

  // Match index, rebuilt when entries change.
  bool index_dirty = true;
  std::unordered_map<mac_address, std::vector<uint64_t>> by_mac;
  std::unordered_map<std::string, std::vector<uint64_t>> by_domain;
  std::unordered_map<node_id, std::vector<uint64_t>> by_node;
  std::unordered_map<ip_address, std::vector<uint64_t>> by_ip; // ip-keyed entries

  void reindex() {
    if (!index_dirty)
      return;
    by_mac.clear();
    by_domain.clear();
    by_node.clear();
    by_ip.clear();
    for (auto& [id, e] : entries) {
      if (e.current)
        by_node[e.current].push_back(id);
      if (e.mac) {
        by_mac[*e.mac].push_back(id);
        continue;
      }
      for (auto& d : e.domains)
        by_domain[d].push_back(id);
      if (e.domains.empty())
        for (auto& ip : e.ips)
          by_ip[ip].push_back(id);
    }
    index_dirty = false;
  }

  /// Entries that follow node `n`, in id order.
  std::vector<uint64_t> matches(const node_info& n) {
    reindex();
    std::vector<uint64_t> out;
    auto take = [&](const std::vector<uint64_t>& ids) {
      out.insert(out.end(), ids.begin(), ids.end());
    };
    if (auto it = by_node.find(n.id); it != by_node.end())
      take(it->second);
    if (n.mac) {
      if (auto it = by_mac.find(*n.mac); it != by_mac.end())
        take(it->second);
    } else {
      for (auto& d : n.domains)
        if (auto it = by_domain.find(d); it != by_domain.end())
          take(it->second);
      for (auto& ip : n.ips)
        if (auto it = by_ip.find(ip); it != by_ip.end())
          take(it->second);
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    // An entry keyed by a MAC follows only that device; a device entry never
    // follows a service node that happens to share an id slot.
    out.erase(std::remove_if(out.begin(), out.end(),
                             [&](uint64_t id) {
                               auto& e = entries.at(id);
                               return e.mac && (!n.mac || *n.mac != *e.mac);
                             }),
              out.end());
    return out;
  }

  void contribute(uint64_t id, entry& e, const ip_address& ip) {
    switch (e.r) {
    case role::list:
      refs[idx(e.list)].inc(ip);
      break;
    case role::profile:
      if (e.contributes(ip))
        refs[idx(list_kind::block)].inc(ip);
      break;
    case role::pair_side: {
      auto& p = pairs.at(e.pair);
      auto& other = entries.at(p.a == id ? p.b : p.a);
      bool first = p.a == id;
      for (auto& y : other.ips) {
        if (y.is_v4() != ip.is_v4())
          continue;
        ip_pair fwd = first ? ip_pair{ip, y} : ip_pair{y, ip};
        ip_pair rev{fwd.second, fwd.first};
        for (auto& el : {fwd, rev}) {
          if (p.elements.count(el))
            continue;
          if (p.elements.size() >= lim.max_pair_elements) {
            ++dropped;
            continue;
          }
          p.elements.insert(el);
          pair_refs.inc(el);
        }
      }
      pairs_touched = true;
      break;
    }
    }
  }

  void withdraw(entry& e, const ip_address& ip) {
    switch (e.r) {
    case role::list:
      refs[idx(e.list)].dec(ip);
      break;
    case role::profile:
      if (e.contributes(ip))
        refs[idx(list_kind::block)].dec(ip);
      break;
    case role::pair_side: {
      // Pair sides lose addresses only when the whole pair goes.
      break;
    }
    }
  }

  /// Adds an address to an entry (unless excluded or over the limit).
  bool entry_add_ip(uint64_t id, entry& e, const ip_address& ip) {
    if (e.ips.count(ip) || e.excluded.count(ip))
      return false;
    if (e.ips.size() >= lim.max_ips_per_entry) {
      ++dropped;
      return false;
    }
    e.ips.insert(ip);
    if (e.domains.empty() && !e.mac)
      index_dirty = true;
    contribute(id, e, ip);
    persist = true;
    return true;
  }

  /// The entry takes what `n` has now.
  void follow(uint64_t id, entry& e, const node_info& n) {
    if (e.current != n.id) {
      e.current = n.id;
      index_dirty = true;
    }
    if (!e.mac) {
      for (auto& d : n.domains) {
        if (std::find(e.domains.begin(), e.domains.end(), d) != e.domains.end())
          continue;
        if (e.domains.size() >= lim.max_domains_per_entry)
          break;
        e.domains.push_back(d);
        index_dirty = true;
        persist = true;
      }
    }
    for (auto& ip : n.ips)
      entry_add_ip(id, e, ip);
  }

  uint64_t create_entry(entry e) {
    auto id = next_entry++;
    entries.emplace(id, std::move(e));
    index_dirty = true;
    persist = true;
    return id;
  }

  void erase_entry(uint64_t id) {
    auto it = entries.find(id);
    if (it == entries.end())
      return;
    for (auto& ip : it->second.ips)
      withdraw(it->second, ip);
    entries.erase(it);
    index_dirty = true;
    persist = true;
  }

  void erase_pair(uint64_t pid) {
    auto it = pairs.find(pid);
    if (it == pairs.end())
      return;
    for (auto& el : it->second.elements)
      pair_refs.dec(el);
    auto a = it->second.a, b = it->second.b;
    pairs.erase(it);
    entries.erase(a);
    entries.erase(b);
    index_dirty = true;
    pairs_touched = true;
    persist = true;
  }

  bool entry_matches_node(uint64_t id, const node_info& n) {
    auto m = matches(n);
    return std::binary_search(m.begin(), m.end(), id);
  }

  entry entry_for(const node_info& n) const {
    entry e;
    e.current = n.id;
    if (n.mac) {
      e.mac = n.mac;
    } else {
      for (auto& d : n.domains) {
        if (e.domains.size() >= lim.max_domains_per_entry)
          break;
        e.domains.push_back(d);
      }
    }
    return e;
  }

  bool on_list(list_kind k, const ip_address& ip) const {
    return refs[idx(k)].contains(ip);
  }

  void local_inc(const ip_address& ip) { refs[idx(list_kind::ignore)].inc(ip); }
  void local_dec(const ip_address& ip) { refs[idx(list_kind::ignore)].dec(ip); }

  /// Ends a change: the journals become the delta.
  void finish(delta& d) {
    auto& fw = d.firewall;
    d.list_changed[idx(list_kind::block)] |= refs[idx(list_kind::block)].finish(
        [&](const ip_address& ip) { fw.block_add.push_back(ip); },
        [&](const ip_address& ip) { fw.block_del.push_back(ip); });
    d.list_changed[idx(list_kind::allow)] |= refs[idx(list_kind::allow)].finish(
        [&](const ip_address& ip) { fw.allow_add.push_back(ip); },
        [&](const ip_address& ip) { fw.allow_del.push_back(ip); });
    bool ign = refs[idx(list_kind::ignore)].finish([](const ip_address&) {},
                                                   [](const ip_address&) {});
    d.list_changed[idx(list_kind::ignore)] |= ign;
    d.ignore_changed |= ign;
    pair_refs.finish([&](const ip_pair& p) { fw.pair_add.push_back(p); },
                     [&](const ip_pair& p) { fw.pair_del.push_back(p); });
    d.pairs_changed |= pairs_touched;
    d.profiles_changed |= profiles_touched;
    d.persist |= persist;
    d.dropped += dropped;
    pairs_touched = profiles_touched = persist = false;
    dropped = 0;
  }

  json::object entry_json(const entry& e) const {
    json::object o;
    if (e.mac)
      o["mac"] = e.mac->to_string();
    json::array ds;
    for (auto& d : e.domains)
      ds.emplace_back(d);
    o["domains"] = std::move(ds);
    o["ips"] = ips_json(e.ips);
    if (!e.excluded.empty())
      o["excluded"] = ips_json(e.excluded);
    return o;
  }
};

block_lists::block_lists() : block_lists(limits{}) {}
block_lists::block_lists(limits l) : p_(std::make_unique<impl>()) {
  p_->lim = l;
}
block_lists::~block_lists() = default;
block_lists::block_lists(block_lists&&) noexcept = default;
block_lists& block_lists::operator=(block_lists&&) noexcept = default;

namespace {

std::string node_text(const node_info& n) {
  return "node " + std::to_string(n.id);
}

std::string list_text(list_kind k) {
  return std::string{list_kind_name(k)} + " list";
}

} // namespace

bool block_lists::add_node(list_kind k, const node_info& n, delta& d,
                           std::string& error) {
  auto& p = *p_;
  for (auto id : p.matches(n)) {
    auto& e = p.entries.at(id);
    if (e.r == role::list && e.list == k) {
      // Already on the list: take everything it has now, also addresses
      // the user took off one by one before (asking again undoes that).
      e.excluded.clear();
      p.follow(id, e, n);
      p.finish(d);
      return true;
    }
  }
  if (p.entries.size() >= p.lim.max_entries) {
    error = "too many node entries (" + std::to_string(p.lim.max_entries) + ")";
    return false;
  }
  auto e = p.entry_for(n);
  e.r = role::list;
  e.list = k;
  auto id = p.create_entry(std::move(e));
  p.follow(id, p.entries.at(id), n);
  p.finish(d);
  return true;
}

bool block_lists::remove_node(list_kind k, const node_info& n, delta& d,
                              std::string& error) {
  auto& p = *p_;
  std::vector<uint64_t> mine;
  for (auto id : p.matches(n)) {
    auto& e = p.entries.at(id);
    if (e.r == role::list && e.list == k)
      mine.push_back(id);
  }
  std::vector<ip_address> explicit_hits, local_hits;
  for (auto& ip : n.ips) {
    if (p.explicit_ips[idx(k)].count(ip))
      explicit_hits.push_back(ip);
    if (k == list_kind::ignore && p.local.count(ip) && !p.local_excluded.count(ip))
      local_hits.push_back(ip);
  }
  if (mine.empty() && explicit_hits.empty() && local_hits.empty()) {
    error = node_text(n) + " is not on the " + list_text(k);
    return false;
  }
  for (auto id : mine)
    p.erase_entry(id);
  for (auto& ip : explicit_hits) {
    p.explicit_ips[idx(k)].erase(ip);
    p.refs[idx(k)].dec(ip);
  }
  for (auto& ip : local_hits) {
    p.local_excluded.insert(ip);
    p.local_dec(ip);
  }
  p.persist = true;
  p.finish(d);
  return true;
}

bool block_lists::add_ip(list_kind k, const ip_address& ip, delta& d,
                         std::string& error) {
  auto& p = *p_;
  auto& ex = p.explicit_ips[idx(k)];
  if (ex.count(ip))
    return true;
  if (ex.size() >= p.lim.max_ips_per_list) {
    error = "the " + list_text(k) + " is full (" +
            std::to_string(p.lim.max_ips_per_list) + " addresses)";
    return false;
  }
  ex.insert(ip);
  p.refs[idx(k)].inc(ip);
  p.persist = true;
  p.finish(d);
  return true;
}

bool block_lists::remove_ip(list_kind k, const ip_address& ip, delta& d,
                            std::string& error) {
  auto& p = *p_;
  bool found = false;
  if (p.explicit_ips[idx(k)].erase(ip)) {
    p.refs[idx(k)].dec(ip);
    found = true;
  }
  for (auto& [id, e] : p.entries) {
    if (e.r != role::list || e.list != k || !e.ips.count(ip))
      continue;
    e.ips.erase(ip);
    p.withdraw(e, ip);
    if (e.excluded.size() < p.lim.max_ips_per_entry)
      e.excluded.insert(ip);
    p.index_dirty = true;
    found = true;
  }
  if (k == list_kind::ignore && p.local.count(ip) && !p.local_excluded.count(ip)) {
    p.local_excluded.insert(ip);
    p.local_dec(ip);
    found = true;
  }
  if (!found) {
    p.finish(d);
    error = ip.to_string() + " is not on the " + list_text(k);
    return false;
  }
  p.persist = true;
  p.finish(d);
  return true;
}

void block_lists::reset_ignores(delta& d) {
  auto& p = *p_;
  std::vector<uint64_t> ids;
  for (auto& [id, e] : p.entries)
    if (e.r == role::list && e.list == list_kind::ignore)
      ids.push_back(id);
  for (auto id : ids)
    p.erase_entry(id);
  auto& ex = p.explicit_ips[idx(list_kind::ignore)];
  for (auto& ip : ex)
    p.refs[idx(list_kind::ignore)].dec(ip);
  ex.clear();
  for (auto& ip : p.local_excluded)
    if (p.local.count(ip))
      p.local_inc(ip);
  p.local_excluded.clear();
  p.persist = true;
  p.finish(d);
}

bool block_lists::set_pair(const node_info& a, const node_info& b, bool block, delta& d,
                           std::string& error) {
  auto& p = *p_;
  if (a.id == b.id) {
    error = "a node-pair block needs two different nodes";
    return false;
  }
  // An existing pair of these two nodes (either order).
  uint64_t found = 0;
  for (auto& [pid, pb] : p.pairs) {
    bool ab = p.entry_matches_node(pb.a, a) && p.entry_matches_node(pb.b, b);
    bool ba = p.entry_matches_node(pb.a, b) && p.entry_matches_node(pb.b, a);
    if (ab || ba) {
      found = pid;
      break;
    }
  }
  if (!block) {
    if (!found) {
      error = "there is no block between " + node_text(a) + " and " + node_text(b);
      return false;
    }
    p.erase_pair(found);
    p.finish(d);
    return true;
  }
  if (found) { // already blocked: take what both have now
    auto& pb = p.pairs.at(found);
    bool ab = p.entry_matches_node(pb.a, a);
    auto ida = ab ? pb.a : pb.b, idb = ab ? pb.b : pb.a;
    p.follow(ida, p.entries.at(ida), a);
    p.follow(idb, p.entries.at(idb), b);
    p.finish(d);
    return true;
  }
  if (p.entries.size() + 2 > p.lim.max_entries) {
    error = "too many node entries (" + std::to_string(p.lim.max_entries) + ")";
    return false;
  }
  auto pid = p.next_pair++;
  auto ea = p.entry_for(a), eb = p.entry_for(b);
  ea.r = eb.r = role::pair_side;
  ea.pair = eb.pair = pid;
  auto ida = p.create_entry(std::move(ea));
  auto idb = p.create_entry(std::move(eb));
  p.pairs[pid] = pair_block{ida, idb, {}};
  p.pairs_touched = true;
  p.follow(ida, p.entries.at(ida), a);
  p.follow(idb, p.entries.at(idb), b);
  p.finish(d);
  return true;
}

bool block_lists::set_profile(const mac_address& mac, const std::string& profile,
                              const node_info* device, delta& d, std::string& error) {
  auto& p = *p_;
  auto* def = find_device_profile(profile);
  if (!def) {
    error = "unknown profile: " + profile;
    return false;
  }
  if (mac.empty() || mac.is_group()) {
    error = "not a device MAC: " + mac.to_string();
    return false;
  }
  uint64_t old = 0;
  for (auto& [id, e] : p.entries)
    if (e.r == role::profile && e.mac && *e.mac == mac)
      old = id;
  if (old && p.entries.at(old).profile == profile)
    return true;
  if (!old && !def->block_v4 && !def->block_v6)
    return true; // allow_all on a device without a profile
  if (!old && p.entries.size() >= p.lim.max_entries) {
    error = "too many node entries (" + std::to_string(p.lim.max_entries) + ")";
    return false;
  }
  if (old)
    p.erase_entry(old);
  if (def->block_v4 || def->block_v6) {
    entry e;
    e.r = role::profile;
    e.profile = def->id;
    e.mac = mac;
    e.v4 = def->block_v4;
    e.v6 = def->block_v6;
    auto id = p.create_entry(std::move(e));
    if (device && device->mac && *device->mac == mac)
      p.follow(id, p.entries.at(id), *device);
  }
  p.profiles_touched = true;
  p.persist = true;
  p.finish(d);
  return true;
}

void block_lists::node_changed(const node_info& n, delta& d) {
  auto& p = *p_;
  if (p.entries.empty())
    return;
  auto m = p.matches(n);
  if (m.empty())
    return;
  for (auto id : m)
    p.follow(id, p.entries.at(id), n);
  p.finish(d);
}

void block_lists::set_local_address(const ip_address& ip, bool present, delta& d) {
  auto& p = *p_;
  if (present) {
    if (!p.local.insert(ip).second)
      return;
    if (!p.local_excluded.count(ip))
      p.local_inc(ip);
  } else {
    if (!p.local.erase(ip))
      return;
    if (!p.local_excluded.count(ip))
      p.local_dec(ip);
  }
  p.finish(d);
}

std::vector<ip_address> block_lists::list(list_kind k) const {
  std::vector<ip_address> out;
  for (auto& [ip, n] : p_->refs[idx(k)].all())
    out.push_back(ip);
  std::sort(out.begin(), out.end());
  return out;
}

bool block_lists::contains(list_kind k, const ip_address& ip) const {
  return p_->on_list(k, ip);
}

namespace {
std::unordered_set<ip_address> as_set(const std::unordered_map<ip_address, uint32_t>& m) {
  std::unordered_set<ip_address> s;
  s.reserve(m.size());
  for (auto& [ip, n] : m)
    s.insert(ip);
  return s;
}
} // namespace

std::unordered_set<ip_address> block_lists::ignore_set() const {
  return as_set(p_->refs[idx(list_kind::ignore)].all());
}
std::unordered_set<ip_address> block_lists::block_set() const {
  return as_set(p_->refs[idx(list_kind::block)].all());
}
std::unordered_set<ip_address> block_lists::allow_set() const {
  return as_set(p_->refs[idx(list_kind::allow)].all());
}

std::vector<block_lists::pair_view> block_lists::pairs() const {
  std::vector<pair_view> out;
  for (auto& [pid, pb] : p_->pairs)
    out.push_back(
        {p_->entries.at(pb.a).current, p_->entries.at(pb.b).current, pb.elements.size()});
  return out;
}

std::string block_lists::profile_of(const mac_address& mac) const {
  for (auto& [id, e] : p_->entries)
    if (e.r == role::profile && e.mac && *e.mac == mac)
      return e.profile;
  return "allow_all";
}

std::map<mac_address, std::string> block_lists::profiles() const {
  std::map<mac_address, std::string> out;
  for (auto& [id, e] : p_->entries)
    if (e.r == role::profile && e.mac)
      out[*e.mac] = e.profile;
  return out;
}

set_change block_lists::full_firewall() const {
  set_change c;
  for (auto& [ip, n] : p_->refs[idx(list_kind::block)].all())
    c.block_add.push_back(ip);
  for (auto& [ip, n] : p_->refs[idx(list_kind::allow)].all())
    c.allow_add.push_back(ip);
  for (auto& [el, n] : p_->pair_refs.all())
    c.pair_add.push_back(el);
  std::sort(c.block_add.begin(), c.block_add.end());
  std::sort(c.allow_add.begin(), c.allow_add.end());
  std::sort(c.pair_add.begin(), c.pair_add.end());
  return c;
}

size_t block_lists::entries() const {
  return p_->entries.size();
}

json::object block_lists::to_json() const {
  auto& p = *p_;
  json::object o;
  o["version"] = 1;
  for (auto k : {list_kind::block, list_kind::allow, list_kind::ignore}) {
    json::object l;
    l["ips"] = ips_json(p.explicit_ips[idx(k)]);
    json::array nodes;
    for (auto& [id, e] : p.entries)
      if (e.r == role::list && e.list == k)
        nodes.emplace_back(p.entry_json(e));
    l["nodes"] = std::move(nodes);
    if (k == list_kind::ignore)
      l["local_excluded"] = ips_json(p.local_excluded);
    o[list_kind_name(k)] = std::move(l);
  }
  json::array pairs;
  for (auto& [pid, pb] : p.pairs) {
    json::object po;
    po["a"] = p.entry_json(p.entries.at(pb.a));
    po["b"] = p.entry_json(p.entries.at(pb.b));
    pairs.emplace_back(std::move(po));
  }
  o["pairs"] = std::move(pairs);
  json::array profiles;
  for (auto& [id, e] : p.entries) {
    if (e.r != role::profile)
      continue;
    auto eo = p.entry_json(e);
    eo["profile"] = e.profile;
    profiles.emplace_back(std::move(eo));
  }
  o["profiles"] = std::move(profiles);
  return o;
}

namespace {

/// Reads an array of address strings; bad ones go to `problems`.
std::vector<ip_address> read_ips(const json::value* v, const std::string& where,
                                 std::vector<std::string>& problems) {
  std::vector<ip_address> out;
  if (!v)
    return out;
  if (!v->is_array()) {
    problems.push_back(where + ": not a list of addresses");
    return out;
  }
  for (auto& x : v->as_array()) {
    std::optional<ip_address> ip;
    if (x.is_string())
      ip = ip_address::parse(std::string_view{x.as_string()});
    if (!ip) {
      problems.push_back(where + ": skipped a value that is not an IP address: " +
                         json::serialize(x).substr(0, 80));
      continue;
    }
    out.push_back(*ip);
  }
  return out;
}

} // namespace

block_lists block_lists::from_json(const json::value& v, limits l,
                                   std::vector<std::string>& problems) {
  block_lists bl{l};
  auto& p = *bl.p_;
  if (!v.is_object()) {
    if (!v.is_null())
      problems.push_back("lists: not a JSON object; starting with empty lists");
    return bl;
  }
  auto& o = v.as_object();

  // Reads one persisted node entry into `e`; false if it is unusable.
  auto read_entry = [&](const json::value& ev, const std::string& where, entry& e) {
    if (!ev.is_object()) {
      problems.push_back(where + ": skipped an entry that is not an object");
      return false;
    }
    auto& eo = ev.as_object();
    if (auto* m = eo.if_contains("mac")) {
      std::optional<mac_address> mac;
      if (m->is_string())
        mac = mac_address::parse(std::string_view{m->as_string()});
      if (!mac || mac->empty() || mac->is_group()) {
        problems.push_back(where + ": skipped an entry with a bad MAC");
        return false;
      }
      e.mac = mac;
    }
    if (auto* ds = eo.if_contains("domains")) {
      if (ds->is_array())
        for (auto& d : ds->as_array())
          if (d.is_string() && !d.as_string().empty() && d.as_string().size() <= 255 &&
              e.domains.size() < l.max_domains_per_entry)
            e.domains.emplace_back(d.as_string());
    }
    for (auto& ip : read_ips(eo.if_contains("ips"), where, problems))
      if (e.ips.size() < l.max_ips_per_entry)
        e.ips.insert(ip);
    for (auto& ip : read_ips(eo.if_contains("excluded"), where, problems))
      if (e.excluded.size() < l.max_ips_per_entry)
        e.excluded.insert(ip);
    if (!e.mac && e.domains.empty() && e.ips.empty()) {
      problems.push_back(where + ": skipped an entry with no MAC, name or address");
      return false;
    }
    return true;
  };
  // Adds a read entry and its contributions.
  auto add_entry = [&](entry e) {
    auto ips = std::move(e.ips);
    e.ips.clear();
    auto id = p.create_entry(std::move(e));
    auto& ref = p.entries.at(id);
    for (auto& ip : ips)
      p.entry_add_ip(id, ref, ip);
    return id;
  };

  for (auto k : {list_kind::block, list_kind::allow, list_kind::ignore}) {
    auto* lv = o.if_contains(list_kind_name(k));
    if (!lv)
      continue;
    std::string where = std::string{"lists."} + list_kind_name(k);
    if (!lv->is_object()) {
      problems.push_back(where + ": not an object; skipped");
      continue;
    }
    auto& lo = lv->as_object();
    for (auto& ip : read_ips(lo.if_contains("ips"), where + ".ips", problems)) {
      if (p.explicit_ips[idx(k)].size() >= l.max_ips_per_list)
        break;
      if (p.explicit_ips[idx(k)].insert(ip).second)
        p.refs[idx(k)].inc(ip);
    }
    if (auto* nv = lo.if_contains("nodes")) {
      if (!nv->is_array()) {
        problems.push_back(where + ".nodes: not a list; skipped");
      } else {
        for (auto& ev : nv->as_array()) {
          if (p.entries.size() >= l.max_entries)
            break;
          entry e;
          e.r = role::list;
          e.list = k;
          if (read_entry(ev, where + ".nodes", e))
            add_entry(std::move(e));
        }
      }
    }
    if (k == list_kind::ignore)
      for (auto& ip : read_ips(lo.if_contains("local_excluded"),
                               where + ".local_excluded", problems))
        p.local_excluded.insert(ip);
  }
  if (auto* pv = o.if_contains("pairs"); pv && pv->is_array()) {
    for (auto& pe : pv->as_array()) {
      if (p.entries.size() + 2 > l.max_entries)
        break;
      if (!pe.is_object() || !pe.as_object().if_contains("a") ||
          !pe.as_object().if_contains("b")) {
        problems.push_back("lists.pairs: skipped an entry without both sides");
        continue;
      }
      entry a, b;
      if (!read_entry(pe.as_object().at("a"), "lists.pairs", a) ||
          !read_entry(pe.as_object().at("b"), "lists.pairs", b))
        continue;
      auto pid = p.next_pair++;
      a.r = b.r = role::pair_side;
      a.pair = b.pair = pid;
      auto ips_a = std::move(a.ips), ips_b = std::move(b.ips);
      a.ips.clear();
      b.ips.clear();
      auto ida = p.create_entry(std::move(a));
      auto idb = p.create_entry(std::move(b));
      p.pairs[pid] = pair_block{ida, idb, {}};
      for (auto& ip : ips_a)
        p.entry_add_ip(ida, p.entries.at(ida), ip);
      for (auto& ip : ips_b)
        p.entry_add_ip(idb, p.entries.at(idb), ip);
    }
  } else if (pv) {
    problems.push_back("lists.pairs: not a list; skipped");
  }
  if (auto* fv = o.if_contains("profiles"); fv && fv->is_array()) {
    for (auto& pe : fv->as_array()) {
      if (p.entries.size() >= l.max_entries)
        break;
      entry e;
      if (!read_entry(pe, "lists.profiles", e))
        continue;
      auto* idv = pe.as_object().if_contains("profile");
      const device_profile* def = nullptr;
      if (idv && idv->is_string())
        def = find_device_profile(std::string{idv->as_string()});
      if (!e.mac || !def) {
        problems.push_back(
            "lists.profiles: skipped an entry without a MAC or a known profile");
        continue;
      }
      if (!def->block_v4 && !def->block_v6)
        continue;
      e.r = role::profile;
      e.profile = def->id;
      e.v4 = def->block_v4;
      e.v6 = def->block_v6;
      add_entry(std::move(e));
    }
  } else if (fv) {
    problems.push_back("lists.profiles: not a list; skipped");
  }
  delta d;
  p.finish(d); // start with a clean journal
  p.persist = false;
  return bl;
}

} // namespace spin
