// Task families: a user's own family (the tutorial's, a few lines) meta-trains
// with every estimator, its meta-batches mixing tasks of different horizons,
// and resumes bit for bit; the library's "mixed" family draws the tasks its
// documentation promises.
#include <cmath>
#include <map>
#include <set>

#include "../support/testing.hpp"
#include "meta_training.hpp"

namespace {

using mg::Tensor;
namespace learned = mg::optim::learned;

// ||W x - y||^2 / d for a random W (d x d) and y: the problem of one seed.
class LeastSquares : public learned::Problem {
 public:
  LeastSquares(std::int64_t dimension, std::uint64_t seed) {
    mg::Generator g(seed);
    w_ = mg::randn({dimension, dimension}, g) / std::sqrt(static_cast<double>(dimension));
    y_ = mg::randn({dimension, 1}, g);
  }
  mg::optim::NamedParameters initial() const override { return {{"x", mg::zeros({w_.size(0), 1})}}; }
  Tensor loss(const std::vector<Tensor>& p, std::int64_t) const override {
    const Tensor r = mg::matmul(w_, p[0]) - y_;
    return mg::mean(r * r);
  }

 private:
  Tensor w_, y_;
};

// The family: task i has 4 + i % 5 dimensions and runs of 10, 20 or 30 steps.
class LeastSquaresFamily : public learned::TaskFamily {
 public:
  std::string name() const override { return "least-squares"; }
  std::unique_ptr<learned::Task> task(std::uint64_t index) const override {
    const auto dimension = static_cast<std::int64_t>(4 + index % 5);
    const learned::Horizon horizon{10 * static_cast<std::int64_t>(1 + index % 3), 5};
    return learned::make_task(
        "least-squares " + std::to_string(dimension), horizon, [=](learned::Split split, std::uint64_t i) {
          return std::make_unique<LeastSquares>(dimension, 1000 * index + 3 * i + static_cast<std::uint64_t>(split));
        });
  }
};

std::vector<double> weights(const learned::LearnedOptimizer& l) {
  std::vector<double> out;
  for (const auto& [name, t] : l.meta_parameters())
    for (double v : t.to_vector<double>()) out.push_back(v);
  return out;
}

}  // namespace

TEST_CASE("a user's task family meta-trains with every estimator and resumes bit for bit") {
  const LeastSquaresFamily family;
  const learned::TruncatedBptt first_order, second_order({.mode = learned::MetaMode::SecondOrder});
  const learned::EvolutionStrategies es({.persistent = false}), pes({.persistent = true});
  for (const learned::MetaGradientEstimator* estimator :
       std::initializer_list<const learned::MetaGradientEstimator*>{&first_order, &second_order, &es, &pes}) {
    CAPTURE(estimator->config());
    const std::atomic<bool> never{false};
    const auto run = [&](const std::string& folder, std::int64_t epochs, bool resume) {
      // (short_meta_training empties its folder: a resumed run names a spare one, then the split run's.)
      const std::string name = "metagrad-family-" + estimator->name() + "-";
      auto o = mg::testing::short_meta_training(name + (resume ? "spare" : folder), epochs, 2, 3, "adam(lr=1e-2)");
      if (resume) {
        o.out_dir = (std::filesystem::temp_directory_path() / (name + folder)).string();
        o.resume = true;
      }
      o.meta_batch = 3;  // three tasks of three horizons
      auto general = learned::make_learned("general", *family.task(0), 0);
      const auto result = learned::meta_train(family, *general, *estimator, o, never);
      CHECK(std::isfinite(result.best_validation));
      return weights(*general);
    };
    const auto straight = run("straight", 4, false);
    mg::Generator g(0);
    CHECK(straight != learned::general_initial_weights(g).to_vector<double>());  // it learned something
    run("split", 2, false);
    CHECK(run("split", 4, true) == straight);
  }
}

TEST_CASE("meta-training on a family beats the learned optimizer's start on the family's validation tasks") {
  const LeastSquaresFamily family;
  auto o = mg::testing::short_meta_training("metagrad-family-learns", 30, 30, 6, "adam(lr=3e-2)");
  o.meta_batch = 2;
  auto general = learned::make_learned("general", *family.task(0), 0);
  const std::atomic<bool> never{false};
  // Epoch 0's validation would be adam(lr=1e-3)'s: measure it directly.
  double start = 0;
  for (std::uint64_t i = 0; i < 6; ++i) {
    const auto task = family.task((std::uint64_t{1} << 40) + i);
    start += mg::testing::mean_final_validation_loss(*task, learned::spec_factory("adam(lr={})", 1e-3), 1) / 6;
  }
  const auto result = learned::meta_train(family, *general, learned::TruncatedBptt(), o, never);
  MESSAGE("validation: " << start << " at the start (adam, lr 1e-3), " << result.best_validation << " meta-trained");
  CHECK(result.best_validation < 0.8 * start);
}

TEST_CASE("the mixed family draws MLPs, logistic regressions, CNNs and quadratics over log-uniform horizons") {
  learned::TaskFamilyOptions options;
  options.cifar_dir = MG_CIFAR_SLICE;
  const auto family = learned::make_task_family("mixed", options);
  std::map<std::string, int> kinds;
  std::set<std::int64_t> horizons;
  for (std::uint64_t i = 0; i < 300; ++i) {
    const auto task = family->task(i);
    CAPTURE(task->name());
    CHECK(task->name() == family->task(i)->name());  // a pure function of the index
    CHECK(task->steps >= 100);
    CHECK(task->steps <= 2000);
    CHECK(task->steps % task->unroll == 0);
    horizons.insert(task->steps);
    kinds[task->name().substr(0, task->name().find(' '))]++;
  }
  MESSAGE("kinds in 300 draws: mlp " << kinds["mlp"] << ", logistic " << kinds["logistic"] << ", cnn " << kinds["cnn"]
                                     << ", quadratic " << kinds["quadratic"]);
  for (const char* kind : {"mlp", "logistic", "cnn", "quadratic"}) CHECK(kinds[kind] > 10);
  CHECK(horizons.size() > 30);
  // A quadratic's loss starts at 1; a CNN on the CIFAR-10 slice trains.
  for (std::uint64_t i = 0;; ++i) {
    const auto task = family->task(i);
    if (task->name().rfind("quadratic", 0) != 0) continue;
    const auto problem = task->problem(learned::Split::Train, 0);
    std::vector<Tensor> x;
    for (const auto& [name, t] : problem->initial()) x.push_back(t);
    CHECK(problem->loss(x, 0).item<double>() == doctest::Approx(1.0).epsilon(1e-5));
    break;
  }
  for (std::uint64_t i = 0;; ++i) {
    const auto task = family->task(i);
    if (task->name().rfind("cnn", 0) != 0) continue;
    const auto problem = task->problem(learned::Split::Train, 0);
    const auto losses = learned::run_optimizer(*problem, learned::spec_factory("adam(lr={})", 1e-3), 3);
    CHECK(std::isfinite(losses.back()));
    break;
  }
  CHECK_THROWS_WITH_AS(learned::make_task_family("everything"), doctest::Contains("unknown task family 'everything'"),
                       mg::Error);
}
