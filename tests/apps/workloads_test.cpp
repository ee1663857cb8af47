// The benchmark workloads of `metagrad bench` (bench/run_nn.sh times them).
#include <cmath>

#include "../../apps/workloads.hpp"
#include "../support/testing.hpp"

TEST_CASE("every benchmark workload runs a step") {
  for (const auto& name : mg::apps::workload_names()) {
    CAPTURE(name);
    const auto result = mg::apps::run_workload(name, 1, 2, 1, 0);
    CHECK(result.workload == name);
    CHECK(result.batch == (name.rfind("l2l", 0) == 0 ? 128 : 2));  // a meta-iteration's optimizee batch is fixed
    CHECK(std::isfinite(result.ms_per_step));
    CHECK(result.ms_per_step > 0);
  }
  CHECK_THROWS_WITH_AS(mg::apps::run_workload("cnn-fly", 1, 2, 1, 0), doctest::Contains("cnn-hvp"), mg::Error);
}
