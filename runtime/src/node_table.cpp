#include "spin/runtime/node_table.hpp"

#include "spin/runtime/scratch_map.hpp"

#include <algorithm>
#include <cstring>

namespace spin {

namespace {

struct flow_group {
  node_id from;
  node_id to;
  uint16_t port;
  uint8_t proto;

  friend bool operator==(const flow_group& a, const flow_group& b) {
    return a.from == b.from && a.to == b.to && a.port == b.port && a.proto == b.proto;
  }
};

struct flow_group_hash {
  size_t operator()(const flow_group& g) const noexcept {
    uint64_t h = static_cast<uint64_t>(g.from) * 0x9e3779b97f4a7c15ull +
                 static_cast<uint64_t>(g.to) * 0xc2b2ae3d27d4eb4full +
                 ((static_cast<uint64_t>(g.port) << 8) | g.proto) * 0x165667b19e3779f9ull;
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ull;
    return h ^ (h >> 29);
  }
};

using ip_hash = ip_address_hash;

} // namespace

/// Per-interval scratch tables of build_report (kept across intervals so that
/// a report costs no allocation once they have grown to the traffic's size).
struct node_table::scratch {
  /// Address -> node it resolved to in this interval, and the MAC it was seen
  /// with (a different MAC in the same interval is resolved again).
  struct resolved {
    node_id id = 0;
    mac_address mac;
  };
  scratch_map<ip_address, resolved, ip_hash> ips{1024};
  scratch_map<flow_group, size_t, flow_group_hash> groups{4096};
};

node_table::node_table(options opts)
    : opts_(std::move(opts)), scratch_(std::make_unique<scratch>()) {
  if (opts_.max_ips_per_node == 0)
    opts_.max_ips_per_node = 1;
}

node_table::~node_table() = default;
node_table::node_table(node_table&&) noexcept = default;
node_table& node_table::operator=(node_table&&) noexcept = default;

bool node_table::is_lan(const ip_address& ip) const {
  for (auto& p : opts_.lan_prefixes)
    if (p.contains(ip))
      return true;
  return false;
}

node_table::node& node_table::create(int64_t now) {
  node_id id = next_id_++;
  auto& n = nodes_[id];
  n.id = id;
  n.lastseen = now;
  n.dirty = true;
  dirty_.push_back(id);
  ++stats_.nodes_created;
  return n;
}

void node_table::mark(node& n) {
  if (!n.dirty) {
    n.dirty = true;
    dirty_.push_back(n.id);
  }
}

std::string node_table::display_name(const node& n) const {
  // The user's name wins over the DHCP server's; a MAC wins over an address.
  if (n.mac) {
    if (auto it = user_by_mac_.find(*n.mac); it != user_by_mac_.end())
      return it->second;
  }
  for (auto& [ip, seen] : n.ips)
    if (auto it = user_by_ip_.find(ip); it != user_by_ip_.end())
      return it->second;
  if (n.mac) {
    if (auto it = dhcp_by_mac_.find(*n.mac); it != dhcp_by_mac_.end())
      return it->second;
  }
  for (auto& [ip, seen] : n.ips)
    if (auto it = dhcp_by_ip_.find(ip); it != dhcp_by_ip_.end())
      return it->second;
  return {};
}

void node_table::refresh_name(node& n) {
  auto name = display_name(n);
  if (name != n.name) {
    n.name = std::move(name);
    mark(n);
  }
}

node_id* node_table::name_owner(dns_name_view name) {
  return by_name_.find_hashed(name.hash, [&](const name_key& k) {
    return k.hash == name.hash && k.text == name.text;
  });
}

void node_table::set_name_owner(dns_name_view name, node_id id) {
  *by_name_
       .emplace_hashed(
           name.hash,
           [&](const name_key& k) { return k.hash == name.hash && k.text == name.text; },
           [&] {
             return name_key{std::string{name.text}, name.hash};
           })
       .first = id;
}

void node_table::erase_name_owner(dns_name_view name) {
  by_name_.erase_hashed(name.hash, [&](const name_key& k) {
    return k.hash == name.hash && k.text == name.text;
  });
}

void node_table::add_name(node& n, dns_name_view name, int64_t now) {
  for (auto& d : n.domains) {
    if (d.hash == name.hash && d.name == name.text) {
      d.seen = now;
      set_name_owner(name, n.id);
      return;
    }
  }
  if (n.domains.size() >= opts_.max_names_per_node) {
    // Drop the name this node has not been answered for the longest time.
    auto oldest = std::min_element(n.domains.begin(), n.domains.end(),
                                   [](auto& a, auto& b) { return a.seen < b.seen; });
    if (auto* b = name_owner(oldest->view()); b && *b == n.id)
      erase_name_owner(oldest->view());
    n.domains.erase(oldest);
    ++stats_.names_dropped;
  }
  n.domains.push_back(domain{std::string{name.text}, name.hash, now});
  set_name_owner(name, n.id);
  mark(n);
}

void node_table::drop_name(node& n, dns_name_view name) {
  auto it = std::find_if(n.domains.begin(), n.domains.end(), [&](auto& d) {
    return d.hash == name.hash && d.name == name.text;
  });
  if (it != n.domains.end()) {
    n.domains.erase(it);
    mark(n);
  }
}

void node_table::merge_if_empty(node& n, node& into) {
  if (n.id == into.id || n.mac || !n.ips.empty() || !n.domains.empty())
    return;
  // Everything it had went to `into`: clients should redraw it as `into`.
  pending_merges_.emplace_back(n.id, into.id);
  ++stats_.nodes_merged;
  into.lastseen = std::max(into.lastseen, n.lastseen);
  erase(n.id);
}

void node_table::attach(node& n, const ip_address& ip, int64_t now) {
  if (n.ips.size() >= opts_.max_ips_per_node) {
    // Drop the address this node has not used for the longest time.
    auto oldest = std::min_element(n.ips.begin(), n.ips.end(),
                                   [](auto& a, auto& b) { return a.second < b.second; });
    by_ip_.erase(oldest->first);
    n.ips.erase(oldest);
    ++stats_.ips_dropped;
  }
  n.ips.emplace_back(ip, now);
  by_ip_[ip] = n.id;
  mark(n);
  if (!dhcp_by_ip_.empty() || !user_by_ip_.empty())
    refresh_name(n);
}

void node_table::detach(node& n, const ip_address& ip) {
  auto it =
      std::find_if(n.ips.begin(), n.ips.end(), [&](auto& e) { return e.first == ip; });
  if (it != n.ips.end())
    n.ips.erase(it);
  mark(n);
}

void node_table::merge_into(node& from, node& into) {
  for (auto& [ip, seen] : from.ips) {
    by_ip_.erase(ip);
    attach(into, ip, seen);
  }
  for (auto& d : from.domains)
    add_name(into, d.view(), d.seen);
  from.domains.clear();
  into.lastseen = std::max(into.lastseen, from.lastseen);
  pending_merges_.emplace_back(from.id, into.id);
  ++stats_.nodes_merged;
  from.ips.clear();
  erase(from.id);
}

void node_table::erase(node_id id) {
  auto it = nodes_.find(id);
  if (it == nodes_.end())
    return;
  for (auto& [ip, seen] : it->second.ips) {
    auto* b = by_ip_.find(ip);
    if (b && *b == id)
      by_ip_.erase(ip);
  }
  if (it->second.mac) {
    auto m = by_mac_.find(*it->second.mac);
    if (m != by_mac_.end() && m->second == id)
      by_mac_.erase(m);
  }
  for (auto& d : it->second.domains) {
    auto* b = name_owner(d.view());
    if (b && *b == id)
      erase_name_owner(d.view());
  }
  nodes_.erase(it);
}

node_id node_table::resolve(const ip_address& ip, const mac_address& given_mac,
                            int64_t now) {
  const node_id* kp = by_ip_.find(ip);
  bool has_known = kp != nullptr;
  node_id known = has_known ? *kp : 0;
  const mac_address* macp = &given_mac;
  if (given_mac.empty() && !neighbours_.empty()) {
    // No Ethernet header (NFLOG, conntrack): the neighbour table knows.
    if (auto nb = neighbours_.find(ip); nb != neighbours_.end())
      macp = &nb->second;
  }
  const mac_address& mac = *macp;
  if (!mac.empty() && !mac.is_group() && is_lan(ip)) {
    // A local device: the MAC decides.
    node* dev;
    auto m = by_mac_.find(mac);
    if (m == by_mac_.end()) {
      dev = &create(now);
      dev->mac = mac;
      by_mac_[mac] = dev->id;
      refresh_name(*dev);
    } else {
      dev = &nodes_[m->second];
    }
    dev->lastseen = std::max(dev->lastseen, now);
    if (!has_known) {
      attach(*dev, ip, now);
    } else if (known != dev->id) {
      node& other = nodes_[known];
      if (!other.mac) {
        // A plain node for this address existed before its MAC was known.
        merge_into(other, *dev);
      } else {
        // The address moved to another device (DHCP gave it away).
        by_ip_.erase(ip);
        detach(other, ip);
        attach(*dev, ip, now);
        ++stats_.ips_moved;
      }
    } else {
      for (auto& e : dev->ips)
        if (e.first == ip)
          e.second = now;
    }
    return dev->id;
  }
  if (has_known) {
    auto& n = nodes_[known];
    n.lastseen = std::max(n.lastseen, now);
    for (auto& e : n.ips)
      if (e.first == ip)
        e.second = now;
    return n.id;
  }
  auto& n = create(now);
  attach(n, ip, now);
  return n.id;
}

interval_report_ptr node_table::build_report(int64_t second,
                                             const std::vector<flow_batch_ptr>& batches,
                                             node_events& ev) {
  auto report = std::make_shared<interval_report>();
  report->second = second;
  std::vector<report_flow> flows;
  auto& memo = scratch_->ips;
  auto& groups = scratch_->groups;
  memo.clear();
  groups.clear();
  // Each distinct (address, MAC) is resolved once per interval; the memo
  // answers every further flow of the same address.
  auto node_of = [&](const ip_address& ip, const mac_address& mac) {
    if (auto* r = memo.find(ip); r && r->mac == mac)
      return r->id;
    node_id id = resolve(ip, mac, second);
    auto [r, fresh] = memo.try_emplace(ip, scratch::resolved{id, mac});
    if (!fresh)
      *r = scratch::resolved{id, mac};
    return id;
  };
  // Pass 1: learn every address seen with a MAC first, so that merges of
  // plain nodes into devices happen before any flow is attributed (a flow
  // must never point at a node merged away in the same interval).
  for (auto& b : batches) {
    if (!b)
      continue;
    for (auto& f : b->flows) {
      if (!ignored_.empty() && (ignored_.count(f.key.src) || ignored_.count(f.key.dst)))
        continue;
      if (!f.src_mac.empty())
        node_of(f.key.src, f.src_mac);
      if (!f.dst_mac.empty())
        node_of(f.key.dst, f.dst_mac);
    }
  }
  // The memo may hold ids of nodes merged away during pass 1: start afresh.
  memo.clear();
  // Pass 2: attribute and group.
  for (auto& b : batches) {
    if (!b)
      continue;
    report->total_count += b->overflow_packets;
    report->total_size += b->overflow_bytes;
    report->overflow_packets += b->overflow_packets;
    for (auto& f : b->flows) {
      ++stats_.flows_in;
      if (!ignored_.empty() && (ignored_.count(f.key.src) || ignored_.count(f.key.dst))) {
        stats_.ignored_packets += f.packets; // the ignore list (the router's own traffic)
        continue;
      }
      if (f.key.flags & flow_flag::blocked) {
        add_blocked(*report, node_of(f.key.src, f.src_mac), node_of(f.key.dst, f.dst_mac),
                    f.packets);
        continue;
      }
      report->total_count += f.packets;
      report->total_size += f.bytes;
      flow_group g;
      g.from = node_of(f.key.src, f.src_mac);
      g.to = node_of(f.key.dst, f.dst_mac);
      g.proto = f.key.proto;
      g.port = service_port(f.key);
      auto [pos, fresh] = groups.try_emplace(g, flows.size());
      if (fresh) {
        report_flow rf;
        rf.from = g.from;
        rf.to = g.to;
        rf.proto = g.proto;
        rf.port = g.port;
        flows.push_back(rf);
      }
      auto& rf = flows[*pos];
      rf.size += f.bytes;
      rf.count += f.packets;
    }
  }
  // Largest first; ties broken by the remaining fields so reports are stable.
  std::sort(flows.begin(), flows.end(), [](const report_flow& a, const report_flow& b) {
    if (a.size != b.size)
      return a.size > b.size;
    if (a.count != b.count)
      return a.count > b.count;
    if (a.from != b.from)
      return a.from < b.from;
    if (a.to != b.to)
      return a.to < b.to;
    if (a.proto != b.proto)
      return a.proto < b.proto;
    return a.port < b.port;
  });
  report->flows_before_cap = flows.size();
  if (flows.size() > opts_.max_flows_per_report) {
    report->flows_folded = flows.size() - opts_.max_flows_per_report;
    stats_.flows_folded += report->flows_folded;
    flows.resize(opts_.max_flows_per_report);
  }
  report->flows = std::move(flows);
  // Merges first (the merged-away node is gone), then the changed nodes.
  for (auto& m : pending_merges_)
    ev.merged.push_back(m);
  pending_merges_.clear();
  for (auto id : dirty_) {
    auto it = nodes_.find(id);
    if (it == nodes_.end())
      continue;
    it->second.dirty = false;
    ev.updated.push_back(make_snapshot(it->second));
  }
  dirty_.clear();
  ++stats_.reports;
  return report;
}

void node_table::expire(int64_t now, node_events& ev) {
  std::vector<node_id> doomed;
  int64_t limit = now - opts_.retain_time;
  for (auto& [id, n] : nodes_)
    if (n.lastseen < limit)
      doomed.push_back(id);
  stats_.nodes_expired += doomed.size();
  if (nodes_.size() - doomed.size() > opts_.max_nodes) {
    // Still too many: the longest-idle nodes go, but never one seen just now.
    std::vector<std::pair<int64_t, node_id>> idle;
    for (auto& [id, n] : nodes_)
      if (n.lastseen >= limit && n.lastseen < now)
        idle.emplace_back(n.lastseen, id);
    size_t excess = nodes_.size() - doomed.size() - opts_.max_nodes;
    excess = std::min(excess, idle.size());
    std::partial_sort(idle.begin(), idle.begin() + static_cast<ptrdiff_t>(excess),
                      idle.end());
    for (size_t i = 0; i < excess; ++i)
      doomed.push_back(idle[i].second);
    stats_.nodes_evicted += excess;
  }
  std::sort(doomed.begin(), doomed.end());
  for (auto id : doomed) {
    erase(id);
    ev.deleted.push_back(id);
  }
  last_expiry_ = now;
}

std::optional<node_id> node_table::find_ip(const ip_address& ip) const {
  auto* it = by_ip_.find(ip);
  if (!it)
    return std::nullopt;
  return *it;
}

node_info_ptr node_table::make_snapshot(const node& n) const {
  auto s = std::make_shared<node_info>();
  s->id = n.id;
  s->lastseen = n.lastseen;
  s->ips.reserve(n.ips.size());
  for (auto& e : n.ips)
    s->ips.push_back(e.first);
  s->domains.reserve(n.domains.size());
  for (auto& d : n.domains)
    s->domains.push_back(d.name);
  s->mac = n.mac;
  s->name = n.name;
  if (!block_set_.empty() || !allow_set_.empty()) {
    for (auto& e : n.ips) {
      s->is_blocked = s->is_blocked || block_set_.count(e.first) != 0;
      s->is_excepted = s->is_excepted || allow_set_.count(e.first) != 0;
    }
  }
  n.blocked = s->is_blocked;
  n.excepted = s->is_excepted;
  return s;
}

std::optional<node_id> node_table::find_mac(const mac_address& mac) const {
  auto it = by_mac_.find(mac);
  return it == by_mac_.end() ? std::nullopt : std::optional<node_id>{it->second};
}

bool node_table::is_device(node_id id) const {
  auto it = nodes_.find(id);
  return it != nodes_.end() && it->second.mac.has_value();
}

node_info_ptr node_table::snapshot(node_id id) const {
  auto it = nodes_.find(id);
  return it == nodes_.end() ? nullptr : make_snapshot(it->second);
}

std::vector<node_info_ptr> node_table::all() const {
  std::vector<node_info_ptr> out;
  out.reserve(nodes_.size());
  for (auto& [id, n] : nodes_)
    out.push_back(make_snapshot(n));
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a->id < b->id; });
  return out;
}

void node_table::apply_answer(const dns_answer_group& answer, int64_t now) {
  std::vector<dns_name_view> names;
  names.reserve(answer.names.size());
  for (auto& n : answer.names)
    names.push_back(dns_name_view{n, dns_name_hash(n)});
  apply_answer(names.data(), names.size(), answer.addresses.data(),
               answer.addresses.size(), now);
}

void node_table::apply_answer(const dns_name_view* names, size_t name_count,
                              const ip_address* addresses, size_t address_count,
                              int64_t now) {
  if (name_count == 0)
    return;
  const dns_name_view* names_end = names + name_count;
  const ip_address* addresses_end = addresses + address_count;
  ++stats_.dns_answers;
  node* target = nullptr;
  // A device's address answered by DNS (a local name): the names become the
  // device's; its addresses never move.
  for (auto* a = addresses; a != addresses_end; ++a) {
    auto* it = by_ip_.find(*a);
    if (it && nodes_[*it].mac) {
      target = &nodes_[*it];
      break;
    }
  }
  // Otherwise the node that already carries one of the names...
  if (!target) {
    for (auto* name = names; name != names_end; ++name) {
      if (auto* it = name_owner(*name)) {
        target = &nodes_[*it];
        break;
      }
    }
  }
  // ...or a plain node of one of the addresses (traffic came before the
  // answer was seen: keep its id)...
  if (!target) {
    for (auto* a = addresses; a != addresses_end; ++a) {
      auto* it = by_ip_.find(*a);
      if (!it)
        continue;
      auto& n = nodes_[*it];
      if (!n.mac && n.domains.empty()) {
        target = &n;
        break;
      }
    }
  }
  // ...or a new one.
  if (!target)
    target = &create(now);
  node& x = *target;
  x.lastseen = std::max(x.lastseen, now);
  auto& losers = losers_;
  losers.clear();
  for (auto* name = names; name != names_end; ++name) {
    auto* it = name_owner(*name);
    if (it && *it != x.id) {
      auto& z = nodes_[*it];
      drop_name(z, *name);
      losers.push_back(z.id);
      ++stats_.names_moved;
    }
    add_name(x, *name, now);
  }
  for (auto* ap = addresses; ap != addresses_end; ++ap) {
    const ip_address& a = *ap;
    auto* it = by_ip_.find(a);
    if (!it) {
      if (!x.mac || is_lan(a))
        attach(x, a, now);
      continue;
    }
    if (*it == x.id) {
      for (auto& e : x.ips)
        if (e.first == a)
          e.second = now;
      continue;
    }
    auto& m = nodes_[*it];
    if (m.mac)
      continue; // a device keeps its addresses
    // Last answer wins per address.
    by_ip_.erase(a);
    detach(m, a);
    attach(x, a, now);
    losers.push_back(m.id);
    ++stats_.ips_moved;
  }
  for (auto id : losers)
    if (auto it = nodes_.find(id); it != nodes_.end())
      merge_if_empty(it->second, x);
}

dns_query_seen node_table::apply_query(const ip_address& client,
                                       const mac_address& client_mac,
                                       const std::string& name, int64_t now) {
  auto nodes =
      apply_query(client, client_mac, dns_name_view{name, dns_name_hash(name)}, now);
  dns_query_seen q;
  q.name = name;
  q.from = nodes.from;
  q.queried = nodes.queried;
  return q;
}

dns_query_nodes node_table::apply_query(const ip_address& client,
                                        const mac_address& client_mac, dns_name_view name,
                                        int64_t now) {
  ++stats_.dns_queries;
  dns_query_nodes q;
  q.from = resolve(client, client_mac, now);
  if (auto* it = name_owner(name)) {
    q.queried = *it;
  } else {
    // The answer has not been seen (yet): a node for the name alone.
    auto& n = create(now);
    add_name(n, name, now);
    q.queried = n.id;
  }
  return q;
}

void node_table::apply_binding(const ip_address& ip, const mac_address& mac, bool present,
                               int64_t now) {
  if (!is_lan(ip))
    return;
  ++stats_.bindings;
  if (!present || mac.empty() || mac.is_group()) {
    neighbours_.erase(ip);
    return;
  }
  neighbours_[ip] = mac;
  resolve(ip, mac, now);
}

void node_table::set_local_address(const ip_address& ip, bool present) {
  if (present)
    ignored_.insert(ip);
  else
    ignored_.erase(ip);
}

void node_table::set_ignored(std::unordered_set<ip_address> ignored) {
  ignored_ = std::move(ignored);
}

void node_table::set_verdict_sets(std::unordered_set<ip_address> block,
                                  std::unordered_set<ip_address> allow, node_events& ev) {
  block_set_ = std::move(block);
  allow_set_ = std::move(allow);
  for (auto& [id, n] : nodes_) {
    bool b = false, e = false;
    for (auto& [ip, seen] : n.ips) {
      b = b || block_set_.count(ip) != 0;
      e = e || allow_set_.count(ip) != 0;
    }
    if (b != n.blocked || e != n.excepted)
      ev.updated.push_back(make_snapshot(n)); // updates the node's flags
  }
}

void node_table::add_blocked(interval_report& r, node_id from, node_id to,
                             uint64_t packets) {
  // The device goes in `from`.
  if (!is_device(from) && is_device(to))
    std::swap(from, to);
  for (auto& b : r.blocked) {
    if (b.from == from && b.to == to) {
      b.count += packets;
      return;
    }
  }
  if (r.blocked.size() < opts_.max_flows_per_report)
    r.blocked.push_back(blocked_flow{from, to, packets});
}

void node_table::set_dhcp_names(const std::map<mac_address, std::string>& by_mac,
                                const std::map<ip_address, std::string>& by_ip) {
  dhcp_by_mac_ = by_mac;
  dhcp_by_ip_ = by_ip;
  for (auto& [id, n] : nodes_)
    refresh_name(n);
}

void node_table::set_user_names(const std::map<mac_address, std::string>& by_mac,
                                const std::map<ip_address, std::string>& by_ip) {
  user_by_mac_ = by_mac;
  user_by_ip_ = by_ip;
  for (auto& [id, n] : nodes_)
    refresh_name(n);
}

bool node_table::set_user_name(node_id id, const std::string& name) {
  auto it = nodes_.find(id);
  if (it == nodes_.end())
    return false;
  auto& n = it->second;
  // Devices are named by MAC (their addresses change); others by address.
  if (n.mac) {
    if (name.empty())
      user_by_mac_.erase(*n.mac);
    else
      user_by_mac_[*n.mac] = name;
  } else {
    for (auto& [ip, seen] : n.ips) {
      if (name.empty())
        user_by_ip_.erase(ip);
      else
        user_by_ip_[ip] = name;
    }
  }
  refresh_name(n);
  return true;
}

std::map<ip_address, std::string> node_table::names_by_address() const {
  std::map<ip_address, std::string> out;
  for (auto& [id, n] : nodes_)
    if (!n.name.empty())
      for (auto& [ip, seen] : n.ips)
        out[ip] = n.name;
  return out;
}

std::vector<std::string> node_table::domains_of(const ip_address& ip) const {
  std::vector<std::string> out;
  auto* it = by_ip_.find(ip);
  if (!it)
    return out;
  for (auto& d : nodes_.at(*it).domains)
    out.push_back(d.name);
  return out;
}

std::vector<ip_address>
node_table::unknown_addresses(const std::vector<flow_batch_ptr>& batches) const {
  auto& seen = scratch_->ips;
  seen.clear();
  std::vector<ip_address> out;
  auto check = [&](const ip_address& ip) {
    auto [r, fresh] = seen.try_emplace(ip, scratch::resolved{});
    if (fresh && !by_ip_.find(ip) && !is_lan(ip))
      out.push_back(ip);
  };
  for (auto& b : batches)
    if (b)
      for (auto& f : b->flows) {
        check(f.key.src);
        check(f.key.dst);
      }
  return out;
}

std::optional<node_id> node_table::find_name(const std::string& name) const {
  auto* it = const_cast<node_table*>(this)->name_owner({name, dns_name_hash(name)});
  if (!it)
    return std::nullopt;
  return *it;
}

} // namespace spin
