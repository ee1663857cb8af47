// The benchmark workloads of `metagrad bench` (bench/run_nn.sh times them).
#include <cmath>

#include "../support/testing.hpp"
#include "apps/workloads.hpp"

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

// The profiler's kinds account for the whole step: their sum is the step
// time measured around it, and the work of each workload lands in its kind.
TEST_CASE("bench --profile: the kinds add up to the step time") {
  for (const std::string name : {"cnn-train", "mlp-train", "l2l-mlp"}) {
    CAPTURE(name);
    const auto result = mg::apps::run_workload(name, 1, 32, 3, 1, true);
    double total = 0;
    for (double ms : result.profile_ms) total += ms;
    CHECK(std::abs(total - result.mean_ms_per_step) <= 0.05 * result.mean_ms_per_step);
    const auto ms = [&](mg::profiler::Kind kind) { return result.profile_ms[static_cast<std::size_t>(kind)]; };
    CHECK(ms(mg::profiler::Kind::Elementwise) > 0);
    CHECK(ms(mg::profiler::Kind::Autograd) > 0);
    if (name == "cnn-train") {
      CHECK(ms(mg::profiler::Kind::ConvForward) > 0);
      CHECK(ms(mg::profiler::Kind::ConvBackwardData) > 0);
      CHECK(ms(mg::profiler::Kind::ConvBackwardWeights) > 0);
      CHECK(ms(mg::profiler::Kind::BatchNorm) > 0);
      CHECK(ms(mg::profiler::Kind::Pooling) > 0);
    }
    if (name != "l2l-mlp") CHECK(ms(mg::profiler::Kind::OptimizerStep) > 0);
    if (name != "cnn-train") CHECK(ms(mg::profiler::Kind::Matmul) > 0);
    CHECK(result.profile_report.find("total") != std::string::npos);
  }
}

TEST_CASE("a profiler scope outside any region records nothing, and regions do not nest") {
  mg::profiler::Profiler profiler({1e9, 1e9});
  { const mg::profiler::Scope scope(mg::profiler::Kind::Matmul, 1e6, 0); }
  CHECK(profiler.totals().regions == 0);
  CHECK(profiler.totals().seconds[static_cast<std::size_t>(mg::profiler::Kind::Matmul)] == 0);
  {
    const auto region = profiler.region();
    { const mg::profiler::Scope scope(mg::profiler::Kind::Matmul, 2e6, 0); }
    CHECK_THROWS_AS(profiler.region(), mg::Error);
  }
  CHECK(profiler.totals().regions == 1);
  CHECK(profiler.totals().floor_seconds[static_cast<std::size_t>(mg::profiler::Kind::Matmul)] == doctest::Approx(2e-3));
  CHECK_THROWS_AS(mg::profiler::Profiler({1e9, 1e9}), mg::Error);  // one at a time
}
