// Flushing denormals to zero: every thread that computes follows the switch,
// both ways, and normal numbers are untouched.
#include <algorithm>
#include <thread>

#include "../support/testing.hpp"

namespace {

constexpr float kDenormal = 1e-39f;  // below the smallest normal float, 1.18e-38

float times_one(float x) {
  volatile float one = 1.0f;  // not folded at compile time
  return x * one;
}

struct Threads {
  explicit Threads(int n) : before(mg::get_num_threads()) { mg::set_num_threads(n); }
  ~Threads() { mg::set_num_threads(before); }
  int before;
};

// How many elements of x * 1 are zero: x's 2^20 elements split over the
// threads of an elementwise op, and the same in each of 2 concurrent runs.
std::int64_t zeros_of_op(const mg::Tensor& x) {
  std::int64_t zeros = 0;
  for (const float v : (x * 1.0).to_vector<float>()) zeros += v == 0.0f;
  return zeros;
}
std::int64_t zeros_in_concurrent_runs(const mg::Tensor& x) {
  const auto zeros = mg::map_concurrently<std::int64_t>(2, [&](std::int64_t) { return zeros_of_op(x); });
  return zeros[0] + zeros[1];
}

}  // namespace

TEST_CASE("set_flush_denormal: on, every computing thread flushes, and off, denormals come back") {
  const Threads scope(2);
  const mg::Tensor x = mg::full({1 << 20}, kDenormal);
  const std::int64_t n = x.numel();
  REQUIRE(times_one(kDenormal) == kDenormal);  // the platform's default
  REQUIRE(zeros_of_op(x) == 0);
  REQUIRE(zeros_in_concurrent_runs(x) == 0);  // the pool's threads exist before the switch

  REQUIRE(mg::set_flush_denormal(true));
  CHECK(mg::flush_denormal());
  CHECK(times_one(kDenormal) == 0.0f);
  CHECK(times_one(1e-30f) == 1e-30f);
  CHECK(zeros_of_op(x) == n);
  CHECK(zeros_in_concurrent_runs(x) == 2 * n);
  float in_new_thread = kDenormal;
  std::thread([&] { in_new_thread = times_one(kDenormal); }).join();
  CHECK(in_new_thread == 0.0f);

  REQUIRE(mg::set_flush_denormal(false));
  CHECK_FALSE(mg::flush_denormal());
  CHECK(times_one(kDenormal) == kDenormal);
  CHECK(zeros_of_op(x) == 0);
  CHECK(zeros_in_concurrent_runs(x) == 0);
}
