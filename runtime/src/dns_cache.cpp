#include "spin/runtime/dns_cache.hpp"

#include <algorithm>

namespace spin {

namespace {} // namespace

dns_cache::dns_cache(options opts) : opts_(std::move(opts)) {
  if (opts_.ttl_max < opts_.ttl_min)
    opts_.ttl_max = opts_.ttl_min;
  if (opts_.max_names_per_address == 0)
    opts_.max_names_per_address = 1;
}

void dns_cache::push(const ip_address& a, entry& e) {
  heap_.emplace(e.expiry, a);
  e.queued = e.expiry;
}

bool dns_cache::learn(const ip_address& a, const std::vector<std::string>& names,
                      const std::vector<uint32_t>& ttls, int64_t now) {
  auto [it, fresh] = entries_.try_emplace(a);
  entry& e = it->second;
  bool changed = fresh || e.owner != names.front();
  e.owner = names.front();
  for (size_t i = 0; i < names.size(); ++i) {
    uint32_t ttl = ttls[i];
    if (ttl < opts_.ttl_min || ttl > opts_.ttl_max) {
      ttl = std::clamp(ttl, opts_.ttl_min, opts_.ttl_max);
      ++stats_.ttl_clamped;
    }
    int64_t expiry = now + ttl;
    auto n = std::find_if(e.names.begin(), e.names.end(),
                          [&](auto& x) { return x.name == names[i]; });
    if (n != e.names.end()) {
      n->expiry = std::max(n->expiry, expiry);
    } else {
      changed = true;
      if (e.names.size() >= opts_.max_names_per_address) {
        auto soonest =
            std::min_element(e.names.begin(), e.names.end(),
                             [](auto& x, auto& y) { return x.expiry < y.expiry; });
        e.names.erase(soonest);
      }
      e.names.push_back(name_ttl{names[i], expiry});
    }
    e.expiry = std::max(e.expiry, expiry);
  }
  if (e.expiry > e.queued)
    push(a, e);
  return changed;
}

names_batch_ptr dns_cache::apply(const side_batch& in) {
  auto out = std::make_shared<names_batch>();
  out->second = in.second;
  int64_t now = in.second;
  // One answer group at a time: every name and address of one response.
  struct pair_ttl {
    ip_address address;
    std::string name;
    uint32_t ttl;
  };
  std::vector<pair_ttl> group;
  auto flush = [&] {
    if (group.empty())
      return;
    dns_answer_group g;
    for (auto& p : group) {
      if (std::find(g.names.begin(), g.names.end(), p.name) == g.names.end())
        g.names.push_back(p.name);
      if (std::find(g.addresses.begin(), g.addresses.end(), p.address) ==
          g.addresses.end())
        g.addresses.push_back(p.address);
    }
    bool changed = false;
    for (auto& a : g.addresses) {
      // The names of this address in this answer, the group's first name first.
      std::vector<std::string> names{g.names.front()};
      std::vector<uint32_t> ttls{0};
      bool have_first = false;
      for (auto& p : group) {
        if (p.address != a)
          continue;
        if (p.name == g.names.front()) {
          ttls[0] = p.ttl;
          have_first = true;
        } else {
          names.push_back(p.name);
          ttls.push_back(p.ttl);
        }
      }
      if (!have_first) {
        names.erase(names.begin());
        ttls.erase(ttls.begin());
      }
      changed |= learn(a, names, ttls, now);
    }
    if (changed) {
      ++stats_.answers_forwarded;
      out->answers.push_back(std::move(g));
    } else {
      ++stats_.refreshes;
    }
    group.clear();
  };
  for (auto& r : in.dns) {
    if (r.kind == dns_record_kind::query) {
      flush();
      ++stats_.query_records;
      if (r.name_len > 0)
        out->queries.push_back(
            dns_query_record{r.address, r.client_mac, std::string{r.name_view()}});
      continue;
    }
    ++stats_.answer_records;
    if (r.starts_message())
      flush(); // the records of one message follow each other
    if (r.name_len > 0)
      group.push_back(pair_ttl{r.address, std::string{r.name_view()}, r.ttl});
  }
  flush();
  out->bindings = in.bindings;
  expire(now);
  evict_to_bound();
  return out;
}

std::vector<dns_answer_group> dns_cache::lookup(const std::vector<ip_address>& addrs,
                                                int64_t now) {
  std::vector<dns_answer_group> out;
  for (auto& a : addrs) {
    ++stats_.lookups;
    auto it = entries_.find(a);
    if (it == entries_.end())
      continue;
    dns_answer_group g;
    // The name that claimed the address last comes first.
    for (auto& n : it->second.names)
      if (n.expiry > now && n.name == it->second.owner)
        g.names.push_back(n.name);
    for (auto& n : it->second.names)
      if (n.expiry > now && n.name != it->second.owner)
        g.names.push_back(n.name);
    if (g.names.empty())
      continue;
    ++stats_.lookup_hits;
    g.addresses.push_back(a);
    out.push_back(std::move(g));
  }
  return out;
}

void dns_cache::expire(int64_t now) {
  while (!heap_.empty() && heap_.top().first <= now) {
    auto [expiry, a] = heap_.top();
    heap_.pop();
    auto it = entries_.find(a);
    if (it == entries_.end() || it->second.expiry > now)
      continue; // gone already, or extended (a later heap item covers it)
    entries_.erase(it);
    ++stats_.expired;
  }
  if (heap_.size() > 4 * entries_.size() + 1024)
    rebuild_heap();
}

void dns_cache::evict_to_bound() {
  while (entries_.size() > opts_.max_entries && !heap_.empty()) {
    auto [expiry, a] = heap_.top();
    heap_.pop();
    auto it = entries_.find(a);
    if (it == entries_.end() || it->second.expiry != expiry)
      continue; // stale heap item
    entries_.erase(it);
    ++stats_.evicted;
  }
}

void dns_cache::rebuild_heap() {
  decltype(heap_) fresh;
  for (auto& [a, e] : entries_) {
    fresh.emplace(e.expiry, a);
    e.queued = e.expiry;
  }
  heap_.swap(fresh);
}

} // namespace spin
