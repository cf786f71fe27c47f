// Deterministic pseudo random numbers for the traffic generator.
//
// xoshiro256** seeded through splitmix64. Every helper below is written out
// explicitly (no std::*_distribution), so the same seed gives the same
// sequence with every compiler and standard library.
#pragma once

#include <cmath>
#include <cstdint>

namespace tg {

inline std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

class Rng {
public:
  explicit Rng(std::uint64_t seed) {
    std::uint64_t sm = seed;
    for (auto& word : s_)
      word = splitmix64(sm);
  }

  std::uint64_t next() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  std::uint32_t u32() { return static_cast<std::uint32_t>(next() >> 32); }
  std::uint16_t u16() { return static_cast<std::uint16_t>(next() >> 48); }
  std::uint8_t u8() { return static_cast<std::uint8_t>(next() >> 56); }

  // Uniform in [0, 1).
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

  // Uniform integer in [0, n). Multiply-shift; the tiny bias is irrelevant here.
  std::uint64_t below(std::uint64_t n) {
    if (n <= 1)
      return 0;
    if (n <= 0xffffffffULL)
      return ((next() >> 32) * n) >> 32;
    return next() % n;
  }

  // Uniform integer in [lo, hi] (inclusive).
  std::int64_t range(std::int64_t lo, std::int64_t hi) {
    if (hi <= lo)
      return lo;
    return lo + static_cast<std::int64_t>(below(static_cast<std::uint64_t>(hi - lo) + 1));
  }

  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }

  bool chance(double p) { return uniform() < p; }

  // Exponential with the given mean.
  double exponential(double mean) { return -std::log1p(-uniform()) * mean; }

  // Standard normal (Box-Muller, one value per call).
  double normal() {
    double u1 = uniform();
    if (u1 < 1e-300)
      u1 = 1e-300;
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

  // Log-normal given its median and the sigma of the underlying normal.
  double lognormal(double median, double sigma) {
    return median * std::exp(sigma * normal());
  }

private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t s_[4];
};

} // namespace tg
