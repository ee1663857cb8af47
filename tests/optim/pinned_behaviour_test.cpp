// Meta-training and training give what they gave before the learned layer
// became objects (issue 30): a few epochs of each estimator and of `train`,
// compared with values the code printed before the change (as hexadecimal
// literals, from the Release build with -march=native). That build gives
// them bit for bit; other builds round float32 differently (the
// sanitizers' -O1 build moves tbptt's sum by 8e-6 relative), so the check
// allows 1e-4 relative, which no change of what is computed (another
// problem, seed, order or formula) stays within.
#include <filesystem>
#include <memory>

#include "../support/testing.hpp"
#include "apps/training.hpp"
#include "meta_training.hpp"

namespace {

namespace learned = mg::optim::learned;

struct Pinned {
  double parameter_sum, best_validation;
};

double sum_of(const learned::LearnedOptimizer& optimizer) {
  double total = 0;
  for (const auto& [name, phi] : optimizer.meta_parameters())
    total += mg::sum(phi.to(mg::DType::Float64)).item<double>();
  return total;
}

Pinned meta_train_briefly(const learned::MetaGradientEstimator& estimator, const std::string& family) {
  learned::TaskOptions task_options;
  task_options.seed = 5;
  auto task = learned::make_task(family == "mlp_lopt" ? "mlp-synthetic" : "quadratic", task_options);
  task->steps = 20;
  task->unroll = 10;
  auto optimizer = learned::make_learned(family, *task, 3);
  auto o = mg::testing::short_meta_training("metagrad-pinned-" + estimator.name(), 2, 1, 2, "adam(lr=1e-2)");
  o.meta_batch = 2;
  const std::atomic<bool> never{false};
  const auto result = learned::meta_train(*task, *optimizer, estimator, o, never);
  return {sum_of(*optimizer), result.best_validation};
}

}  // namespace

TEST_CASE("meta-training gives what it gave before the learned layer became objects") {
  using Estimator = std::shared_ptr<const learned::MetaGradientEstimator>;
  struct Case {
    Estimator estimator;
    std::string family;
    Pinned expected;
  };
  const auto tbptt = [](learned::MetaMode mode) {
    return std::make_shared<learned::TruncatedBptt>(learned::TruncatedBpttOptions{.mode = mode});
  };
  const auto evolution = [](bool persistent) {
    return std::make_shared<learned::EvolutionStrategies>(
        learned::EvolutionStrategiesOptions{.persistent = persistent, .seed = 9});
  };
  const std::vector<Case> cases = {
      {tbptt(learned::MetaMode::FirstOrder), "lstm", {-0x1.8a93cd82ap+1, 0x1.402d1ap+3}},
      {tbptt(learned::MetaMode::SecondOrder), "lstm", {-0x1.8a8da1bf4p+1, 0x1.402db6p+3}},
      {tbptt(learned::MetaMode::FirstOrder), "mlp_lopt", {-0x1.83c373bcfcp+3, 0x1.263cfp+1}},
      {evolution(false), "lstm", {-0x1.29164ef74p+1, 0x1.4fef87p+3}},
      {evolution(true), "hparams(adam(lr=1e-2))", {-0x1.243b97e069471p+2, 0x1.272ebp+2}},
  };
  for (const auto& c : cases) {
    CAPTURE(c.estimator->config());
    CAPTURE(c.family);
    const Pinned got = meta_train_briefly(*c.estimator, c.family);
    CHECK(got.parameter_sum == doctest::Approx(c.expected.parameter_sum).epsilon(1e-4));
    CHECK(got.best_validation == doctest::Approx(c.expected.best_validation).epsilon(1e-4));
  }
}

TEST_CASE("train gives what it gave before the training loop became one helper") {
  mg::apps::TrainConfig c;
  c.model = "mlp";
  c.dataset = "synthetic";
  c.optimizer = "adamw(lr=3e-3)";
  c.schedule = "cosine(t_max=2)";
  c.epochs = 2;
  c.batch_size = 64;
  c.seed = 4;
  c.progress = false;
  c.threads = 1;
  const std::atomic<bool> never{false};
  const auto result = mg::apps::train(c, never);
  REQUIRE(result.epochs.size() == 2);
  const auto& last = result.epochs.back();
  CHECK(last.train_loss == doctest::Approx(0x1.42e71f9cp-2).epsilon(1e-4));
  CHECK(last.test_loss == doctest::Approx(0x1.52f59f1ep+0).epsilon(1e-4));
  CHECK(last.test_accuracy == doctest::Approx(0x1.018p-1).epsilon(1e-4));
}
