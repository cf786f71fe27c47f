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

bool dns_cache::learn(const ip_address& a, std::string_view owner, std::string_view name,
                      uint32_t ttl, int64_t now) {
  auto [it, fresh] = entries_.try_emplace(a);
  entry& e = it->second;
  bool changed = fresh || e.owner != owner;
  if (changed)
    e.owner.assign(owner);
  if (ttl < opts_.ttl_min || ttl > opts_.ttl_max) {
    ttl = std::clamp(ttl, opts_.ttl_min, opts_.ttl_max);
    ++stats_.ttl_clamped;
  }
  int64_t expiry = now + ttl;
  auto n = std::find_if(e.names.begin(), e.names.end(),
                        [&](auto& x) { return x.name == name; });
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
    e.names.push_back(name_ttl{std::string{name}, expiry});
  }
  e.expiry = std::max(e.expiry, expiry);
  if (e.expiry > e.queued)
    push(a, e);
  return changed;
}

names_batch_ptr dns_cache::apply(const side_batch& in) {
  auto out = std::make_shared<names_batch>();
  out->second = in.second;
  int64_t now = in.second;
  // One answer group at a time: the records of one response, which follow
  // each other. Names are compared as views into the records; strings are
  // made only for what changes something.
  const dns_record* first = nullptr;
  const dns_record* last = nullptr;
  auto flush = [&] {
    if (!first)
      return;
    // The group's identity: its first record's name (the question, or the
    // owner of the first address).
    std::string_view owner = first->name_view();
    bool changed = false;
    for (auto* r = first; r != last; ++r)
      if (r->name_len > 0)
        changed |= learn(r->address, owner, r->name_view(), r->ttl, now);
    if (changed) {
      dns_answer_group g;
      for (auto* r = first; r != last; ++r) {
        if (r->name_len == 0)
          continue;
        auto name = r->name_view();
        if (std::find(g.names.begin(), g.names.end(), name) == g.names.end())
          g.names.emplace_back(name);
        if (std::find(g.addresses.begin(), g.addresses.end(), r->address) ==
            g.addresses.end())
          g.addresses.push_back(r->address);
      }
      ++stats_.answers_forwarded;
      out->answers.push_back(std::move(g));
    } else {
      ++stats_.refreshes;
    }
    first = last = nullptr;
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
    if (r.starts_message() || !first)
      flush(); // the records of one message follow each other
    if (!first)
      first = &r;
    last = &r + 1;
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
