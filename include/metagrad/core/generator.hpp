#pragma once
// Deterministic random numbers: a counter-based Philox4x32-10 stream. Element
// i of a draw depends only on (seed, offset + i), so results are the same on
// every run and every thread count, and the state is two integers to save.
#include <cstdint>

namespace mg {

class Generator {
 public:
  explicit Generator(std::uint64_t seed = 0) : seed_(seed) {}
  void manual_seed(std::uint64_t seed) {
    seed_ = seed;
    offset_ = 0;
  }
  std::uint64_t seed() const { return seed_; }
  // Counter position: how many 128-bit blocks have been consumed.
  std::uint64_t offset() const { return offset_; }
  void set_state(std::uint64_t seed, std::uint64_t offset) {
    seed_ = seed;
    offset_ = offset;
  }
  // Reserves `blocks` 128-bit counter blocks and returns the first.
  std::uint64_t advance(std::uint64_t blocks) {
    std::uint64_t first = offset_;
    offset_ += blocks;
    return first;
  }

 private:
  std::uint64_t seed_;
  std::uint64_t offset_ = 0;
};

// splitmix64's output function of x + golden ratio: a well-mixed 64-bit
// value, for deriving independent seeds from integers (a problem's index,
// a step).
constexpr std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// The generator used when none is passed.
Generator& default_generator();
void manual_seed(std::uint64_t seed);

}  // namespace mg
