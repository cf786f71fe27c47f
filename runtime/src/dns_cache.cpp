#include "spin/runtime/dns_cache.hpp"

#include <algorithm>
#include <cstring>
#include <tuple>

namespace spin {

std::vector<std::string> names_batch::answer_names(size_t i) const {
  std::vector<std::string> out;
  auto& a = answers[i];
  for (uint32_t k = 0; k < a.name_count; ++k)
    out.emplace_back(name(a.first_name + k).text);
  return out;
}

dns_cache::dns_cache(options opts) : opts_(std::move(opts)) {
  if (opts_.ttl_max < opts_.ttl_min)
    opts_.ttl_max = opts_.ttl_min;
  if (opts_.max_names_per_address == 0)
    opts_.max_names_per_address = 1;
  pool_index_.assign(1024, 0);
}

// ---------------------------------------------------------------- name pool

uint32_t dns_cache::intern(std::string_view text, uint64_t hash) {
  size_t mask = pool_index_.size() - 1;
  size_t i = hash & mask;
  for (; pool_index_[i] != 0; i = (i + 1) & mask) {
    auto& p = pool_[pool_index_[i] - 1];
    if (p.hash == hash && p.text == text)
      return pool_index_[i] - 1;
  }
  uint32_t id;
  if (!pool_free_.empty()) {
    id = pool_free_.back();
    pool_free_.pop_back();
  } else {
    id = static_cast<uint32_t>(pool_.size());
    pool_.emplace_back();
  }
  auto& p = pool_[id];
  p.text.assign(text);
  p.hash = hash;
  p.refs = 0;
  pool_index_[i] = id + 1;
  if (++pool_size_ * 2 > pool_index_.size())
    pool_grow();
  return id;
}

void dns_cache::pool_grow() {
  std::vector<uint32_t> fresh(pool_index_.size() * 2, 0);
  size_t mask = fresh.size() - 1;
  for (auto slot : pool_index_) {
    if (slot == 0)
      continue;
    size_t i = pool_[slot - 1].hash & mask;
    while (fresh[i] != 0)
      i = (i + 1) & mask;
    fresh[i] = slot;
  }
  pool_index_.swap(fresh);
}

void dns_cache::unref(uint32_t id) {
  if (--pool_[id].refs != 0)
    return;
  // Unused: out of the index (backward-shift deletion), id to the free list.
  size_t mask = pool_index_.size() - 1;
  size_t i = pool_[id].hash & mask;
  while (pool_index_[i] != id + 1)
    i = (i + 1) & mask;
  for (size_t j = i;;) {
    j = (j + 1) & mask;
    if (pool_index_[j] == 0)
      break;
    size_t home = pool_[pool_index_[j] - 1].hash & mask;
    bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
    if (stays)
      continue;
    pool_index_[i] = pool_index_[j];
    i = j;
  }
  pool_index_[i] = 0;
  --pool_size_;
  pool_[id].text.clear();
  pool_free_.push_back(id);
}

void dns_cache::release(entry& e) {
  for (auto& n : e.names)
    unref(n.name);
  e.names.clear();
  if (e.owner != no_name)
    unref(e.owner);
  e.owner = no_name;
}

// ---------------------------------------------------------------- cache

void dns_cache::push(const ip_address& a, entry& e) {
  heap_.emplace(e.expiry, a);
  e.queued = e.expiry;
}

bool dns_cache::learn(const ip_address& a, uint32_t owner, uint32_t name, uint32_t ttl,
                      int64_t now) {
  // The records of one address follow each other (one per name): the entry
  // of the last one is looked up once. Only learn() inserts, and it always
  // moves the memo along, so the pointer is valid.
  entry* e;
  bool fresh = false;
  if (last_entry_ && last_address_ == a) {
    e = last_entry_;
  } else {
    std::tie(e, fresh) = entries_.try_emplace(a);
    last_entry_ = e;
    last_address_ = a;
  }
  bool changed = fresh || e->owner != owner;
  if (changed) {
    ref(owner);
    if (e->owner != no_name)
      unref(e->owner);
    e->owner = owner;
  }
  if (ttl < opts_.ttl_min || ttl > opts_.ttl_max) {
    ttl = std::clamp(ttl, opts_.ttl_min, opts_.ttl_max);
    ++stats_.ttl_clamped;
  }
  int64_t expiry = now + ttl;
  auto n = std::find_if(e->names.begin(), e->names.end(),
                        [&](const name_ttl& x) { return x.name == name; });
  if (n != e->names.end()) {
    n->expiry = std::max(n->expiry, expiry);
  } else {
    changed = true;
    if (e->names.size() >= opts_.max_names_per_address) {
      auto soonest =
          std::min_element(e->names.begin(), e->names.end(),
                           [](auto& x, auto& y) { return x.expiry < y.expiry; });
      unref(soonest->name); // never `name` (not in the list) nor `owner` (held)
      e->names.erase(soonest);
    }
    ref(name);
    e->names.push_back(name_ttl{name, expiry});
  }
  e->expiry = std::max(e->expiry, expiry);
  if (e->expiry > e->queued)
    push(a, *e);
  return changed;
}

names_batch_ptr dns_cache::apply(const side_batch& in) {
  auto out = std::make_shared<names_batch>();
  out->second = in.second;
  out->text.reserve(last_text_);
  out->names.reserve(last_names_);
  out->addresses.reserve(last_addresses_);
  out->answers.reserve(last_answers_);
  out->queries.reserve(last_queries_);
  int64_t now = in.second;
  last_entry_ = nullptr;
  // One answer group at a time: the records of one response, which follow
  // each other. Each name is hashed once; the cache compares pool ids, and
  // the batch gets the characters only of what changes something.
  const dns_fact* first = nullptr;
  const dns_fact* last = nullptr;
  bool extra_owner = false;
  auto flush = [&] {
    if (!first)
      return;
    // The distinct names of the group in the order of their first record,
    // each hashed and interned once (a name recurs for every address it
    // leads to) and held in the pool until the group is done.
    auto& memo = group_names_;
    memo.clear();
    auto name_of = [&](const dns_fact& r) -> const group_name& {
      // The facts of one message share each name's characters, so the same
      // offset is the same name without comparing them (equal text at
      // another offset is the same name too).
      auto v = in.dns.name(r);
      for (auto& g : memo)
        if (g.text.size() == v.size() &&
            (g.offset == r.name_offset ||
             std::memcmp(g.text.data(), v.data(), v.size()) == 0))
          return g;
      group_name g{v, dns_name_hash(v), 0, r.name_offset};
      g.id = intern(g.text, g.hash);
      ref(g.id);
      memo.push_back(g);
      return memo.back();
    };
    // The group's identity: its first record's name (the question, or the
    // owner of the first address).
    uint32_t owner = no_name;
    bool changed = false;
    for (auto* r = first; r != last; ++r) {
      if (r->name_len == 0)
        continue;
      if (owner == no_name) {
        if (first->name_len > 0) {
          owner = name_of(*first).id;
        } else {
          owner = intern({}, dns_name_hash({}));
          ref(owner);
          extra_owner = true;
        }
      }
      changed |= learn(r->address, owner, name_of(*r).id, r->ttl, now);
    }
    if (changed) {
      // Every name once, in order (the memo's order), and every address once.
      names_batch::answer_ref g;
      g.first_name = static_cast<uint32_t>(out->names.size());
      g.first_address = static_cast<uint32_t>(out->addresses.size());
      for (auto& n : memo)
        out->add_name(n.text, n.hash);
      for (auto* r = first; r != last; ++r)
        if (r->name_len > 0 &&
            std::find(out->addresses.begin() + g.first_address, out->addresses.end(),
                      r->address) == out->addresses.end())
          out->addresses.push_back(r->address);
      g.name_count = static_cast<uint32_t>(out->names.size()) - g.first_name;
      g.address_count = static_cast<uint32_t>(out->addresses.size()) - g.first_address;
      ++stats_.answers_forwarded;
      out->answers.push_back(g);
    } else {
      ++stats_.refreshes;
    }
    for (auto& n : memo)
      unref(n.id);
    if (extra_owner)
      unref(owner);
    extra_owner = false;
    first = last = nullptr;
  };
  for (auto& r : in.dns.facts) {
    if (r.kind == dns_record_kind::query) {
      flush();
      ++stats_.query_records;
      if (r.name_len > 0) {
        auto v = in.dns.name(r);
        out->queries.push_back(names_batch::query_ref{
            r.address, r.client_mac, out->add_name(v, dns_name_hash(v))});
      }
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
  last_text_ = out->text.size();
  last_names_ = out->names.size();
  last_addresses_ = out->addresses.size();
  last_answers_ = out->answers.size();
  last_queries_ = out->queries.size();
  last_entry_ = nullptr; // expire() and evict_to_bound() erase
  expire(now);
  evict_to_bound();
  return out;
}

std::vector<dns_answer_group> dns_cache::lookup(const std::vector<ip_address>& addrs,
                                                int64_t now) {
  std::vector<dns_answer_group> out;
  for (auto& a : addrs) {
    ++stats_.lookups;
    auto* e = entries_.find(a);
    if (!e)
      continue;
    dns_answer_group g;
    // The name that claimed the address last comes first.
    for (auto& n : e->names)
      if (n.expiry > now && n.name == e->owner)
        g.names.push_back(pool_[n.name].text);
    for (auto& n : e->names)
      if (n.expiry > now && n.name != e->owner)
        g.names.push_back(pool_[n.name].text);
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
    auto* e = entries_.find(a);
    if (!e || e->expiry > now)
      continue; // gone already, or extended (a later heap item covers it)
    release(*e);
    entries_.erase(a);
    ++stats_.expired;
  }
  if (heap_.size() > 4 * entries_.size() + 1024)
    rebuild_heap();
}

void dns_cache::evict_to_bound() {
  while (entries_.size() > opts_.max_entries && !heap_.empty()) {
    auto [expiry, a] = heap_.top();
    heap_.pop();
    auto* e = entries_.find(a);
    if (!e || e->expiry != expiry)
      continue; // stale heap item
    release(*e);
    entries_.erase(a);
    ++stats_.evicted;
  }
}

void dns_cache::rebuild_heap() {
  decltype(heap_) fresh;
  entries_.for_each([&](const ip_address& a, entry& e) {
    fresh.emplace(e.expiry, a);
    e.queued = e.expiry;
  });
  heap_.swap(fresh);
}

} // namespace spin
