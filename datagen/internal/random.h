// A small, portable pseudo-random generator for the data generator.
//
// std::mt19937 is portable but the std distributions are not (libstdc++ and
// libc++ draw differently), so the generator brings its own: SplitMix64
// (Steele, Lea and Flood, 2014) with uniform integers by multiply-high and
// normals by Box–Muller. Streams are keyed by (seed, country, customer,
// purpose), so any customer's data can be regenerated on its own, in any
// order, on any thread.
//
// Keep to one draw per full expression: C++ leaves the order of function
// arguments unspecified (GCC and Clang differ), so `f(rng.Next(), rng.Next())`
// would make the output depend on the compiler.
//
// Thread-safety: an Rng is a plain value; use one per thread.
#ifndef HARMONIA_DATAGEN_INTERNAL_RANDOM_H_
#define HARMONIA_DATAGEN_INTERNAL_RANDOM_H_

#include <cmath>
#include <cstdint>
#include <string_view>

namespace harmonia::datagen::internal {

// The SplitMix64 output function: a bijective 64-bit mix.
inline uint64_t Mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// A stable 64-bit hash of a name (FNV-1a, then mixed), for stream keys.
inline uint64_t HashName(std::string_view name) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : name) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return Mix64(h);
}

class Rng {
 public:
  explicit Rng(uint64_t state) : state_(state) {}

  // The generator for one stream: the same keys always give the same stream.
  static Rng Stream(uint64_t seed, uint64_t a, uint64_t b = 0, uint64_t c = 0, uint64_t d = 0) {
    uint64_t h = Mix64(seed);
    h = Mix64(h ^ a);
    h = Mix64(h ^ b);
    h = Mix64(h ^ c);
    h = Mix64(h ^ d);
    return Rng(h);
  }

  uint64_t Next() {
    state_ += 0x9e3779b97f4a7c15ULL;
    uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  // Uniform in [0, 1), 53 random bits.
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

  // True with probability p.
  bool Chance(double p) { return Uniform() < p; }

  // Uniform in [0, n); 0 when n is 0. Lemire's multiply-high (the tiny bias
  // for huge n does not matter here, and it is the same everywhere).
  uint64_t Below(uint64_t n) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(Next()) * n) >> 64);
  }

  // Uniform integer in [lo, hi].
  int64_t Between(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(Below(static_cast<uint64_t>(hi - lo) + 1));
  }

  // Standard normal by Box–Muller (one value per call; the second is dropped
  // so that the stream does not carry hidden state).
  double Normal() {
    const double u1 = 1.0 - Uniform();  // (0, 1]
    const double u2 = Uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  uint64_t state_;
};

}  // namespace harmonia::datagen::internal

#endif  // HARMONIA_DATAGEN_INTERNAL_RANDOM_H_
