#pragma once
// Helpers shared by the test suites: golden fixtures and closeness checks.
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "metagrad/metagrad.hpp"

namespace mg::testing {

inline nlohmann::json load_fixture(const std::string& relative_path) {
  const std::string path = std::string(MG_TEST_SOURCE_DIR) + "/" + relative_path;
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), "missing fixture " << path);
  return nlohmann::json::parse(in);
}

// Index of the first element where |a - e| > atol + rtol |e|, or -1.
inline long first_mismatch(const std::vector<double>& actual, const std::vector<double>& expected, double rtol,
                           double atol) {
  if (actual.size() != expected.size()) return 0;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    const bool both_nan = std::isnan(actual[i]) && std::isnan(expected[i]);
    if (!both_nan && !(std::abs(actual[i] - expected[i]) <= atol + rtol * std::abs(expected[i])))
      return static_cast<long>(i);
  }
  return -1;
}

inline void check_close(const std::vector<double>& actual, const std::vector<double>& expected, double rtol,
                        double atol, const std::string& what) {
  REQUIRE_MESSAGE(actual.size() == expected.size(), what);
  const long i = first_mismatch(actual, expected, rtol, atol);
  if (i >= 0)
    FAIL_CHECK(what << ": element " << i << " is " << actual[static_cast<std::size_t>(i)] << ", expected "
                    << expected[static_cast<std::size_t>(i)]);
}

inline void check_close(const Tensor& actual, const Tensor& expected, double rtol, double atol,
                        const std::string& what) {
  REQUIRE(actual.shape() == expected.shape());
  check_close(actual.to_vector<double>(), expected.to_vector<double>(), rtol, atol, what);
}

// The same values as `t` in a non-contiguous layout (a transposed or strided
// view of a fresh buffer), with no history.
inline Tensor non_contiguous(const Tensor& t) {
  NoGradGuard no_grad;
  if (t.dim() >= 2) return t.transpose(0, -1).contiguous().transpose(0, -1);
  if (t.dim() == 1) return stack({t, zeros_like(t)}, 1).contiguous().select(1, 0);
  return t.detach();
}

}  // namespace mg::testing
