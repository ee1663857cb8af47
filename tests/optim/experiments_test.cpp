// The pieces every reproduction shares: statistics and the verdict rule,
// random search, the store of finished runs, and plain training with
// budgets in steps or gradient evaluations.
#include <doctest/doctest.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "metagrad/metagrad.hpp"
#include "metagrad/optim/experiments/reproduce.hpp"
#include "metagrad/optim/experiments/statistics.hpp"
#include "optim/experiments/run_store.hpp"

namespace ex = mg::optim::experiments;
namespace learned = mg::optim::learned;

TEST_CASE("summaries use the sample standard deviation; a difference counts only beyond the summed spread") {
  const ex::Stats s = ex::summarize({1, 2, 3, 4});
  CHECK(s.mean == doctest::Approx(2.5));
  CHECK(s.std == doctest::Approx(std::sqrt(5.0 / 3.0)));
  CHECK(ex::summarize({7}).std == 0);
  const ex::Stats a{1.0, 0.1, 3}, b{1.5, 0.1, 3}, c{1.15, 0.1, 3};
  CHECK(ex::compare(a, b) == ex::Difference::Better);  // lower is better by default
  CHECK(ex::compare(b, a) == ex::Difference::Worse);
  CHECK(ex::compare(a, c) == ex::Difference::WithinSpread);  // 0.15 <= 0.2
  CHECK(ex::compare(b, a, true) == ex::Difference::Better);
  CHECK(ex::compare(a, ex::Stats{NAN, 0, 3}) == ex::Difference::Better);  // a diverged run loses
  CHECK(ex::plus_minus(a, 3) == "1 ± 0.1");
}

TEST_CASE("grid search scores its grid concurrently, reports it in grid order and keeps the first best") {
  const std::vector<double> grid = {3, 1, 2, 1.5, 0.5, 2.5};
  const std::map<double, double> scores = {{3, 5}, {1, 2}, {2, 1}, {1.5, 1}, {0.5, 7}, {2.5, NAN}};
  const auto score = [&](double x) { return scores.at(x); };
  const int threads = mg::get_num_threads();
  for (int t : {1, 2}) {
    mg::set_num_threads(t);
    const auto search = mg::optim::grid_search(grid, score);
    REQUIRE(search.scores.size() == grid.size());
    for (std::size_t i = 0; i < grid.size(); ++i) CHECK(search.scores[i].first == grid[i]);
    CHECK(search.scores[5].second == INFINITY);  // a diverged run
    CHECK(search.best == 2);                     // tied with 1.5, and first in the grid
    CHECK(search.best_score == 1);
  }
  mg::set_num_threads(threads);
}

TEST_CASE("random search draws the same points for the same seed, inside its ranges") {
  const std::vector<mg::optim::SearchRange> ranges = {{1e-4, 1e-1}, {0, 0.99, false}};
  const auto first = mg::optim::random_points(ranges, 50, 7);
  CHECK(first == mg::optim::random_points(ranges, 50, 7));
  CHECK(first != mg::optim::random_points(ranges, 50, 8));
  // Scored concurrently: the score is a pure function of the point.
  const auto a = mg::optim::random_search(ranges, 50, 7, [](const std::vector<double>& p) {
    return std::abs(std::log10(p[0]) + 2);  // best near lr = 1e-2
  });
  REQUIRE(a.trials.size() == first.size());
  for (std::size_t i = 0; i < first.size(); ++i) {
    CHECK(a.trials[i].first == first[i]);  // in draw order
    CHECK(a.trials[i].second == std::abs(std::log10(first[i][0]) + 2));
  }
  bool below = false, above = false;
  for (const auto& p : first) {
    CHECK(p[0] >= 1e-4);
    CHECK(p[0] <= 1e-1);
    CHECK(p[1] >= 0);
    CHECK(p[1] <= 0.99);
    below = below || p[0] < 1e-3;  // log-uniform: a third of the draws, not 1%
    above = above || p[0] > 1e-2;
  }
  CHECK(below);
  CHECK(above);
  CHECK(std::abs(std::log10(a.best[0]) + 2) == doctest::Approx(a.best_score));
  CHECK(a.trials.size() == 50);
  CHECK_THROWS_WITH_AS(mg::optim::random_search(ranges, 0, 1, [](const std::vector<double>&) { return 0.0; }),
                       doctest::Contains("trials must be at least 1"), mg::Error);
}

TEST_CASE("the run store computes a run once and reads it back; a stop request interrupts") {
  const std::string dir = (std::filesystem::temp_directory_path() / "mg-run-store-test").string();
  std::filesystem::remove_all(dir);
  std::atomic<bool> stop{false};
  int computed = 0;
  {
    ex::RunStore store(dir, "test", false, stop);
    CHECK(store.run("adam(lr=1e-3) seed 0", [&] { return nlohmann::json{{"loss", ++computed}}; })["loss"] == 1);
    CHECK(store.run("adam(lr=1e-3) seed 0", [&] { return nlohmann::json{{"loss", ++computed}}; })["loss"] == 1);
    CHECK(store.computed() == 1);
  }
  ex::RunStore again(dir, "test", false, stop);
  CHECK(again.run("adam(lr=1e-3) seed 0", [&] { return nlohmann::json{{"loss", ++computed}}; })["loss"] == 1);
  CHECK(computed == 1);
  stop = true;
  CHECK(again.run("adam(lr=1e-3) seed 0", [&] { return nlohmann::json{}; })["loss"] == 1);  // done runs still read
  CHECK_THROWS_AS(again.run("sgd seed 1", [&] { return nlohmann::json{}; }), mg::Interrupted);
  // a stored run whose key does not match (a corrupt or foreign file) is an error, not a silent reuse
  stop = false;
  for (const auto& entry : std::filesystem::directory_iterator(dir + "/runs"))
    std::ofstream(entry.path()) << R"({"key": "something else", "result": {}})";
  CHECK_THROWS_WITH_AS(again.run("adam(lr=1e-3) seed 0", [&] { return nlohmann::json{}; }),
                       doctest::Contains("does not belong to run"), mg::Error);
  std::filesystem::remove_all(dir);
}

TEST_CASE("the run store times a run that resumed earlier work by the wall clock it reports") {
  const std::string dir = (std::filesystem::temp_directory_path() / "mg-run-store-wall-test").string();
  std::filesystem::remove_all(dir);
  std::atomic<bool> stop{false};
  {
    ex::RunStore store(dir, "test", false, stop);
    store.run("meta-training resumed", [] { return nlohmann::json{{"wall_s", 5400.0}}; });
    store.run("plain run", [] { return nlohmann::json{{"loss", 1}}; });
    CHECK(store.run_seconds() >= 5400.0);
    CHECK(store.run_seconds() < 5460.0);
  }
  ex::RunStore again(dir, "test", false, stop);  // read back: the same time
  again.run("meta-training resumed", [] { return nlohmann::json{}; });
  CHECK(again.run_seconds() == 5400.0);
  std::filesystem::remove_all(dir);
}

TEST_CASE("plain training spends its budget in steps or in gradient evaluations") {
  const auto task = learned::make_task("mlp-synthetic");
  const auto problem = task->problem(learned::Split::Test, 0);
  const auto factory = [](const std::string& spec) {
    return [spec](const mg::optim::NamedParameters& p) { return mg::optim::make(spec, p); };
  };
  learned::TrainingOptions options;
  options.budget = 12;
  const auto sgd = learned::train_problem(*problem, factory("sgd(lr=0.5)"), options);
  CHECK(sgd.losses.size() == 13);
  CHECK(sgd.evaluations.back() == 12);
  for (double loss : sgd.losses) CHECK(std::isfinite(loss));
  REQUIRE(sgd.test.has_value());  // the synthetic task's held-out images
  CHECK(sgd.test->accuracy >= 0);
  CHECK(sgd.test->accuracy <= 1);
  options.budget_in_evaluations = true;
  const auto heun = learned::train_problem(*problem, factory("heun(lr=0.5)"), options);
  CHECK(heun.losses.size() == 7);  // 2 evaluations a step
  CHECK(heun.evaluations == std::vector<std::int64_t>{0, 2, 4, 6, 8, 10, 12});
  const auto rk4 = learned::train_problem(*problem, factory("rk4(lr=0.5)"), options);
  CHECK(rk4.losses.size() == 4);
  // equal steps: the same first loss (same problem), different trajectories
  CHECK(heun.losses.front() == sgd.losses.front());
  // the gradient hook sees every backward pass
  int hooks = 0;
  options.after_backward = [&](const std::vector<mg::Tensor>& params) {
    for (const auto& p : params) CHECK(p.grad().defined());
    ++hooks;
  };
  learned::train_problem(*problem, factory("rk4(lr=0.5)"), options);
  CHECK(hooks == 12);
  // a stop request interrupts between steps
  std::atomic<bool> stop{true};
  options.stop = &stop;
  CHECK_THROWS_AS(learned::train_problem(*problem, factory("sgd(lr=0.5)"), options), mg::Interrupted);
}

TEST_CASE("a run that learns lowers the loss; a diverging run is marked and has no test evaluation") {
  const auto task = learned::make_task("quadratic");
  const auto run_with = [&](const std::string& spec) {
    learned::TrainingOptions options;
    options.budget = 60;
    return learned::train_problem(
        *task->problem(learned::Split::Test, 0),
        [spec](const mg::optim::NamedParameters& p) { return mg::optim::make(spec, p); }, options);
  };
  const auto learns = run_with("sgd(lr=0.005)");
  CHECK(!learns.diverged);
  CHECK(learns.losses.back() < 0.95 * learns.losses.front());
  const auto diverges = run_with("sgd(lr=10)");
  CHECK(diverges.diverged);
  CHECK(!diverges.test.has_value());
  CHECK(!std::isfinite(diverges.losses.back()));
  CHECK(diverges.losses.size() < 61);  // it stopped at the first non-finite loss
}
