// A user's own meta-gradient estimator plugs into meta_train with no change
// to the library: central finite differences of a truncation's meta-loss,
// on learned sgd learning rates of a two-tensor problem (two
// meta-parameters). Its estimates match truncated backprop's exact
// (second-order) meta-gradient, and meta-training with it learns. On the
// same problem, the validation meta-objective of truncated backprop and of
// ES is the sum of the held-out losses along the run.
#include <cmath>

#include "../support/testing.hpp"
#include "meta_training.hpp"

namespace {

using mg::Tensor;
namespace learned = mg::optim::learned;
constexpr auto f64 = mg::DType::Float64;

// f(x, y) = ||A x - b||^2 + ||C y - d||^2 with A, C of different scales, so
// that the two tensors want different learning rates.
class TwoTensors : public learned::Problem {
 public:
  explicit TwoTensors(std::uint64_t seed) {
    mg::Generator g(seed);
    a_ = mg::randn({6, 6}, g, f64);
    b_ = mg::randn({6, 1}, g, f64);
    c_ = mg::randn({4, 4}, g, f64) * 0.2;
    d_ = mg::randn({4, 1}, g, f64);
  }
  mg::optim::NamedParameters initial() const override {
    return {{"x", mg::zeros({6, 1}, f64)}, {"y", mg::zeros({4, 1}, f64)}};
  }
  Tensor loss(const std::vector<Tensor>& p, std::int64_t) const override {
    const Tensor r = mg::matmul(a_, p[0]) - b_, s = mg::matmul(c_, p[1]) - d_;
    return mg::sum(r * r) + mg::sum(s * s);
  }
  // Held-out data: the same matrices, other targets.
  Tensor validation_loss(const std::vector<Tensor>& p, std::int64_t) const override {
    const Tensor r = mg::matmul(a_, p[0]) - b_ * 0.5, s = mg::matmul(c_, p[1]) - d_ + 1.0;
    return mg::sum(r * r) + mg::sum(s * s);
  }

 private:
  Tensor a_, b_, c_, d_;
};

class TwoTensorTask : public learned::Task {
 public:
  TwoTensorTask() { steps = unroll = 10; }
  std::string name() const override { return "two-tensors"; }
  std::unique_ptr<learned::Problem> problem(learned::Split split, std::uint64_t index) const override {
    return std::make_unique<TwoTensors>(3 * index + static_cast<std::uint64_t>(split));
  }
};

// The sum of the losses after each of `steps` plain steps of the optimizer
// made from `phi`: training losses, or held-out ones at the same parameters.
double objective(const learned::Problem& problem, const learned::LearnedOptimizer& learned,
                 const std::vector<Tensor>& phi, std::int64_t steps, bool validation = false) {
  std::vector<Tensor> theta;
  mg::optim::NamedParameters params = problem.initial();
  for (auto& [name, t] : params) theta.push_back(t.requires_grad_());
  auto optimizer = learned.make(params, phi, steps);
  double total = 0;
  for (std::int64_t t = 0; t < steps; ++t) {
    optimizer->zero_grad();
    problem.loss(theta, t).backward();
    optimizer->step();
    const mg::NoGradGuard no_grad;
    total += (validation ? problem.validation_loss(theta, t + 1) : problem.loss(theta, t + 1)).item<double>();
  }
  return total;
}

// The user's estimator: one truncation per run (steps = unroll), each
// meta-parameter's derivative from two plain runs at phi +- h.
class FiniteDifferences : public learned::MetaGradientEstimator {
 public:
  std::string name() const override { return "finite-differences"; }
  std::unique_ptr<Run> start(const learned::Problem& problem, const learned::Horizon& horizon, std::uint64_t,
                             const learned::LearnedOptimizer& learned) const override {
    return std::make_unique<OneTruncation>(problem, horizon.steps, learned);
  }

 private:
  class OneTruncation : public Run {
   public:
    OneTruncation(const learned::Problem& problem, std::int64_t steps, const learned::LearnedOptimizer& learned)
        : problem_(problem), steps_(steps), learned_(learned) {}
    void advance(std::int64_t) override {
      std::vector<Tensor> phi;
      for (const auto& [name, t] : learned_.meta_parameters()) phi.push_back(t.detach().clone());
      estimate_.meta_loss = meta_loss(phi);
      for (std::size_t i = 0; i < phi.size(); ++i) {
        const double h = 1e-5, at = phi[i].item<double>();
        phi[i] = mg::scalar_tensor(at + h, f64);
        const double plus = meta_loss(phi);
        phi[i] = mg::scalar_tensor(at - h, f64);
        const double minus = meta_loss(phi);
        phi[i] = mg::scalar_tensor(at, f64);
        estimate_.meta_gradients.push_back(mg::scalar_tensor((plus - minus) / (2 * h), f64));
      }
      done_ = true;
    }
    learned::TruncationEstimate estimate() override { return estimate_; }
    bool done() const override { return done_; }

   private:
    double meta_loss(const std::vector<Tensor>& phi) const { return objective(problem_, learned_, phi, steps_); }

    const learned::Problem& problem_;
    std::int64_t steps_;
    const learned::LearnedOptimizer& learned_;
    learned::TruncationEstimate estimate_;
    bool done_ = false;
  };
};

}  // namespace

TEST_CASE("a user's finite-difference estimator gives truncated backprop's exact meta-gradient") {
  const TwoTensorTask task;
  auto sgd = learned::make_learned("hparams(sgd(lr=0.01))", task, 0);
  REQUIRE(sgd->meta_parameters().size() == 2);
  const auto problem = task.problem(learned::Split::Train, 0);
  const auto finite = FiniteDifferences().start(*problem, {10, 10}, 0, *sgd)->next();
  const auto exact =
      learned::TruncatedBptt({.mode = learned::MetaMode::SecondOrder}).start(*problem, {10, 10}, 0, *sgd)->next();
  CHECK(finite.meta_loss == doctest::Approx(exact.meta_loss).epsilon(1e-12));
  for (std::size_t i = 0; i < 2; ++i) {
    const double g = exact.meta_gradients[i].item<double>();
    CAPTURE(i);
    CHECK(std::abs(g) > 1e-2);  // a real gradient
    CHECK(finite.meta_gradients[i].item<double>() == doctest::Approx(g).epsilon(1e-6));
  }
}

TEST_CASE("meta_train runs a user's estimator: the learned learning rates beat their start") {
  const TwoTensorTask task;
  auto sgd = learned::make_learned("hparams(sgd(lr=0.01))", task, 0);
  const auto o = mg::testing::short_meta_training("metagrad-custom-estimator", 40, 10, 4, "adam(lr=0.1)");
  const std::atomic<bool> never{false};
  const auto result = learned::meta_train(task, *sgd, FiniteDifferences(), o, never);
  const double start = mg::testing::mean_final_validation_loss(task, learned::spec_factory("sgd(lr={})", 0.01), 4);
  MESSAGE("validation loss: " << start << " with lr 0.01, " << result.best_validation << " learned");
  CHECK(result.best_validation < 0.8 * start);
  // The two tensors learned different rates.
  const double x = sgd->meta_parameters()[0].second.item<double>(), y = sgd->meta_parameters()[1].second.item<double>();
  CHECK(std::abs(x - y) > 0.1);
  // Its checkpoint records it by name: resuming with another estimator is refused in one line.
  auto resumed = o;
  resumed.resume = true;
  resumed.epochs = 50;
  CHECK_THROWS_WITH_AS(learned::meta_train(task, *sgd, learned::TruncatedBptt(), resumed, never),
                       doctest::Contains("meta-trained with finite-differences, not tbptt(mode=first_order"),
                       mg::Error);
}

namespace {

// An estimator whose meta-gradients are given: one truncation per run.
class GivenGradients : public learned::MetaGradientEstimator {
 public:
  explicit GivenGradients(std::vector<double> gradients) : gradients_(std::move(gradients)) {}
  std::string name() const override { return "given"; }
  std::unique_ptr<Run> start(const learned::Problem&, const learned::Horizon&, std::uint64_t,
                             const learned::LearnedOptimizer&) const override {
    return std::make_unique<Given>(gradients_);
  }

 private:
  class Given : public Run {
   public:
    explicit Given(std::vector<double> gradients) : gradients_(std::move(gradients)) {}
    void advance(std::int64_t) override { done_ = true; }
    learned::TruncationEstimate estimate() override {
      learned::TruncationEstimate e;
      for (double g : gradients_) e.meta_gradients.push_back(mg::scalar_tensor(g, f64));
      return e;
    }
    bool done() const override { return done_; }

   private:
    std::vector<double> gradients_;
    bool done_ = false;
  };
  std::vector<double> gradients_;
};

}  // namespace

TEST_CASE("meta-gradients are clipped entry by entry, and a non-finite one is skipped and counted, or stops") {
  const TwoTensorTask task;
  const std::atomic<bool> never{false};
  const auto log_lrs = [&](const learned::MetaGradientEstimator& estimator, learned::MetaUpdateOptions update,
                           const std::string& folder) {
    auto sgd = learned::make_learned("hparams(sgd(lr=0.01))", task, 0);
    auto o = mg::testing::short_meta_training(folder, 2, 2, 1, "sgd(lr=1)");  // phi moves by minus the gradient
    o.update = update;
    const auto result = learned::meta_train(task, *sgd, estimator, o, never);
    return std::pair{result, std::vector<double>{sgd->meta_parameters()[0].second.item<double>(),
                                                 sgd->meta_parameters()[1].second.item<double>()}};
  };
  const double start = std::log(0.01);
  const auto [clipped, clipped_lrs] = log_lrs(GivenGradients({0.3, -5}), {.clip = 1}, "metagrad-clip");
  CHECK(clipped_lrs[0] == doctest::Approx(start - 2 * 0.3));
  CHECK(clipped_lrs[1] == doctest::Approx(start + 2 * 1.0));  // -5 clipped to -1, twice
  const GivenGradients nan({0.3, NAN});
  const auto [skipped, skipped_lrs] = log_lrs(nan, {.skip_non_finite = true}, "metagrad-skip");
  CHECK(skipped.skipped_updates == 2);
  CHECK(skipped_lrs[0] == start);  // nothing moved
  CHECK_THROWS_WITH_AS(log_lrs(nan, {}, "metagrad-nan"), doctest::Contains("meta-gradient of 'y' is not finite"),
                       mg::Error);
  // A checkpoint records the options: resuming with others is one clear line.
  auto sgd = learned::make_learned("hparams(sgd(lr=0.01))", task, 0);
  auto o = mg::testing::short_meta_training("metagrad-clip-resume", 2, 2, 1, "sgd(lr=1)");
  o.update.clip = 1;
  learned::meta_train(task, *sgd, GivenGradients({0.3, -5}), o, never);
  o.update.clip = 2;
  o.resume = true;
  o.epochs = 3;
  CHECK_THROWS_WITH_AS(learned::meta_train(task, *sgd, GivenGradients({0.3, -5}), o, never),
                       doctest::Contains("meta-trained with clip=1, skip_non_finite=0, not clip=2"), mg::Error);
}

TEST_CASE("the validation meta-objective sums the held-out losses, for truncated backprop and for ES") {
  const TwoTensorTask task;
  auto sgd = learned::make_learned("hparams(sgd(lr=0.01))", task, 0);
  const auto problem = task.problem(learned::Split::Train, 0);
  std::vector<Tensor> phi;
  for (const auto& [name, t] : sgd->meta_parameters()) phi.push_back(t.detach().clone());
  const double train = objective(*problem, *sgd, phi, 10), held_out = objective(*problem, *sgd, phi, 10, true);
  REQUIRE(std::abs(train - held_out) > 1.0);  // the objectives differ
  const auto exact = learned::TruncatedBptt({.mode = learned::MetaMode::SecondOrder,
                                             .objective = learned::MetaObjective::ValidationBatches})
                         .start(*problem, {10, 10}, 0, *sgd)
                         ->next();
  CHECK(exact.meta_loss == doctest::Approx(held_out).epsilon(1e-12));
  // Its meta-gradient is that of the held-out sum (central differences).
  for (std::size_t i = 0; i < phi.size(); ++i) {
    const double h = 1e-5, at = phi[i].item<double>();
    auto shifted = phi;
    shifted[i] = mg::scalar_tensor(at + h, f64);
    const double plus = objective(*problem, *sgd, shifted, 10, true);
    shifted[i] = mg::scalar_tensor(at - h, f64);
    const double minus = objective(*problem, *sgd, shifted, 10, true);
    CAPTURE(i);
    CHECK(exact.meta_gradients[i].item<double>() == doctest::Approx((plus - minus) / (2 * h)).epsilon(1e-6));
  }
  // ES: the pair's mean meta-loss is the held-out sum at phi, to O(sigma^2).
  const auto es = learned::EvolutionStrategies(
                      {.persistent = false, .sigma = 1e-6, .objective = learned::MetaObjective::ValidationBatches})
                      .start(*problem, {10, 10}, 0, *sgd)
                      ->next();
  CHECK(es.meta_loss == doctest::Approx(held_out).epsilon(1e-6));
  CHECK(learned::EvolutionStrategies({.objective = learned::MetaObjective::ValidationBatches}).config() ==
        "pes(sigma=0.01, seed=0, objective=validation)");
}
