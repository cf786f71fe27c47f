#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace spin {

/// A hash map for per-interval scratch work: open addressing with linear
/// probing, no erase, and an O(1) clear() (a generation counter marks which
/// slots are live), so one instance is reused for every interval without
/// freeing or zeroing memory. Keys need operator==; Hash returns size_t.
template <class Key, class Value, class Hash>
class scratch_map {
public:
  explicit scratch_map(size_t initial_capacity = 1024) { reset(initial_capacity); }

  /// Forgets every entry (keeps the memory).
  void clear() {
    size_ = 0;
    if (++gen_ == 0) { // wrapped: make every slot stale for real
      for (auto& s : slots_)
        s.gen = 0;
      gen_ = 1;
    }
  }

  /// The value for `k`, or nullptr.
  Value* find(const Key& k) {
    size_t i = Hash{}(k)&mask_;
    for (;;) {
      auto& s = slots_[i];
      if (s.gen != gen_)
        return nullptr;
      if (s.key == k)
        return &s.value;
      i = (i + 1) & mask_;
    }
  }

  /// Inserts `v` for `k` unless present; returns the entry and whether it is new.
  std::pair<Value*, bool> try_emplace(const Key& k, const Value& v) {
    if ((size_ + 1) * 2 > slots_.size())
      grow();
    size_t i = Hash{}(k)&mask_;
    for (;;) {
      auto& s = slots_[i];
      if (s.gen != gen_) {
        s.key = k;
        s.value = v;
        s.gen = gen_;
        ++size_;
        return {&s.value, true};
      }
      if (s.key == k)
        return {&s.value, false};
      i = (i + 1) & mask_;
    }
  }

  size_t size() const { return size_; }

private:
  struct slot {
    Key key{};
    Value value{};
    uint32_t gen = 0;
  };

  void reset(size_t capacity) {
    size_t cap = 16;
    while (cap < capacity)
      cap <<= 1;
    slots_.assign(cap, slot{});
    mask_ = cap - 1;
    gen_ = 1;
    size_ = 0;
  }

  void grow() {
    std::vector<slot> old;
    old.swap(slots_);
    uint32_t old_gen = gen_;
    reset(old.size() * 2);
    for (auto& s : old)
      if (s.gen == old_gen)
        try_emplace(s.key, s.value);
  }

  std::vector<slot> slots_;
  size_t mask_ = 0;
  uint32_t gen_ = 1;
  size_t size_ = 0;
};

} // namespace spin
