// Meta-gradients by evolution strategies (optimizers.md section 10.2),
// checked where the answer is exact: learned sgd learning rates on one fixed
// quadratic, T = 100 steps in float64. ES's mean estimate of a truncation's
// meta-gradient is the autograd gradient of that truncation's meta-loss;
// the sum of PES's truncation estimates over a whole run is the gradient of
// the whole run's meta-loss, which truncated backprop's sum is not. Then
// meta-training with them: the bits depend on no thread count, a stop
// resumes exactly, and optimizers with no differentiable mode meta-train.
#include <cmath>
#include <functional>

#include "../support/testing.hpp"
#include "meta_training.hpp"

namespace {

using mg::Tensor;
namespace learned = mg::optim::learned;
constexpr auto f64 = mg::DType::Float64;

// f(theta) = ||W theta - y||^2 for one W (10 x 10) and y, the same problem
// for every index: estimates of many pairs then average to its gradient.
class FixedQuadratic : public learned::Problem {
 public:
  FixedQuadratic() {
    mg::Generator g(42);
    w_ = mg::randn({10, 10}, g, f64);
    y_ = mg::randn({10, 1}, g, f64);
    theta0_ = mg::randn({10, 1}, g, f64) * 0.5;
  }
  mg::optim::NamedParameters initial() const override { return {{"theta", theta0_.clone()}}; }
  Tensor loss(const std::vector<Tensor>& params, std::int64_t) const override {
    const Tensor r = mg::matmul(w_, params[0]) - y_;
    return mg::sum(r * r);
  }

 private:
  Tensor w_, y_, theta0_;
};

class FixedQuadraticTask : public learned::Task {
 public:
  std::string name() const override { return "fixed-quadratic"; }
  std::unique_ptr<learned::Problem> problem(learned::Split, std::uint64_t) const override {
    return std::make_unique<FixedQuadratic>();
  }
};

constexpr double kLearningRate = 2e-3;  // stable: below 2 / the largest curvature (about 0.026 here)

std::unique_ptr<learned::LearnedOptimizer> learned_sgd(const learned::Task& task) {
  return learned::make_learned("hparams(sgd(lr=" + std::to_string(kLearningRate) + "))", task, 0);
}

double gradient_of(const learned::TruncationEstimate& estimate) { return estimate.meta_gradients.at(0).item<double>(); }

struct Sample {
  double mean, standard_error;
};
Sample sample(const std::vector<double>& values) {
  double mean = 0, squares = 0;
  for (double v : values) mean += v / static_cast<double>(values.size());
  for (double v : values) squares += (v - mean) * (v - mean);
  const auto n = static_cast<double>(values.size());
  return {mean, std::sqrt(squares / (n - 1) / n)};
}

// sigma on log lr: the smoothing bias, about sigma^2 / 6 of the third
// derivative, is below 1e-6 of the gradient here, far under the standard error.
constexpr double kSigma = 1e-3;
constexpr int kPairs = 2000;

// Over kPairs pairs, each a T = 100 run of 10 truncations: the sums of
// PES's truncation estimates; `each` sees every estimate with its index.
Sample pes_sums(const learned::EvolutionStrategiesOptions& options, const learned::Problem& problem,
                const learned::LearnedOptimizer& learned,
                const std::function<void(const learned::TruncationEstimate&, int)>& each = {}) {
  const learned::EvolutionStrategies pes(options);
  std::vector<double> sums;
  for (int i = 0; i < kPairs; ++i) {
    double sum = 0;
    int truncation = 0;
    pes.run(
        problem, {100, 10}, learned,
        [&](const learned::TruncationEstimate& e) {
          if (each) each(e, truncation);
          ++truncation;
          sum += gradient_of(e);
        },
        i);
    sums.push_back(sum);
  }
  return sample(sums);
}

}  // namespace

TEST_CASE("the mean of many ES estimates is the autograd gradient of the truncation's meta-loss") {
  FixedQuadraticTask task;
  auto sgd = learned_sgd(task);
  const FixedQuadratic problem;
  // The first truncation, K = 10 steps of a T = 100 run, second order: the
  // exact gradient of its meta-loss.
  const learned::TruncatedBptt exact_estimator({.mode = learned::MetaMode::SecondOrder});
  const double exact = gradient_of(exact_estimator.start(problem, {100, 10}, 0, *sgd)->next());
  const learned::EvolutionStrategies es({.persistent = false, .sigma = kSigma, .seed = 7});
  std::vector<double> estimates;
  for (int i = 0; i < kPairs; ++i) estimates.push_back(gradient_of(es.start(problem, {100, 10}, i, *sgd)->next()));
  const Sample s = sample(estimates);
  MESSAGE("ES: " << s.mean << " +- " << s.standard_error << ", autograd: " << exact);
  CHECK(std::abs(exact) > 10 * s.standard_error);  // a test with teeth: the gradient is well resolved
  CHECK(std::abs(s.mean - exact) < 3 * s.standard_error);
}

TEST_CASE("over a run of 10 truncations, PES's estimates sum to the whole-run gradient; truncated backprop's do not") {
  FixedQuadraticTask task;
  auto sgd = learned_sgd(task);
  const FixedQuadratic problem;
  // The whole run's meta-loss sum_{t=1..100} f(theta_t), differentiated
  // through all 100 steps (one untruncated second-order unroll).
  const learned::TruncatedBptt second_order({.mode = learned::MetaMode::SecondOrder});
  const double whole = gradient_of(second_order.start(problem, {100, 100}, 0, *sgd)->next());
  double truncated = 0;
  second_order.run(problem, {100, 10}, *sgd,
                   [&](const learned::TruncationEstimate& e) { truncated += gradient_of(e); });
  const Sample s = pes_sums({.persistent = true, .sigma = kSigma, .seed = 7}, problem, *sgd);
  MESSAGE("PES: " << s.mean << " +- " << s.standard_error << ", whole run: " << whole
                  << ", truncated backprop: " << truncated);
  CHECK(std::abs(whole) > 10 * s.standard_error);
  CHECK(std::abs(s.mean - whole) < 3 * s.standard_error);
  CHECK(std::abs(truncated - whole) > 3 * s.standard_error);
}

namespace {

// The final tenth's meta-loss, sum_{t=91..100} f(theta_t), of a T = 100 run
// of the learned optimizer at its meta-parameters + delta.
double final_tenth_loss(const learned::Problem& problem, const learned::LearnedOptimizer& learned, double delta) {
  auto params = problem.initial();
  std::vector<Tensor> theta;
  for (auto& [name, t] : params) theta.push_back(t.requires_grad_());
  std::vector<Tensor> meta;
  for (const auto& [name, m] : learned.meta_parameters()) meta.push_back(m.detach() + delta);
  const auto optimizer = learned.make(params, meta, 100);
  const auto forward_backward = [&] {
    for (auto& t : theta) t.set_grad(Tensor());
    Tensor loss = problem.loss(theta, 0);
    loss.backward();
    return loss.item<double>();
  };
  forward_backward();
  double total = 0;
  for (int t = 1; t <= 100; ++t) {
    optimizer->step();
    const double loss = forward_backward();
    if (t > 90) total += loss;
  }
  return total;
}

}  // namespace

TEST_CASE("PES with final_fraction 0.1: its estimates sum to the gradient of the last tenth's losses alone") {
  FixedQuadraticTask task;
  auto sgd = learned_sgd(task);
  const FixedQuadratic problem;
  const double h = 1e-3;
  const double final_tenth =
      (final_tenth_loss(problem, *sgd, h) - final_tenth_loss(problem, *sgd, -h)) / (2 * h);  // central difference
  const learned::TruncatedBptt second_order({.mode = learned::MetaMode::SecondOrder});
  const double whole = gradient_of(second_order.start(problem, {100, 100}, 0, *sgd)->next());
  const learned::EvolutionStrategies pes({.persistent = true, .sigma = kSigma, .seed = 7, .final_fraction = 0.1});
  CHECK(pes.config() == "pes(sigma=0.001, seed=7, final_fraction=0.10000000000000001)");
  const Sample s = pes_sums(pes.options(), problem, *sgd, [](const learned::TruncationEstimate& e, int truncation) {
    if (truncation < 9) CHECK(e.meta_loss == 0);  // steps 1-90 count for nothing
  });
  MESSAGE("PES, final tenth: " << s.mean << " +- " << s.standard_error << ", central difference: " << final_tenth
                               << ", whole run: " << whole);
  CHECK(std::abs(final_tenth) > 10 * s.standard_error);
  CHECK(std::abs(s.mean - final_tenth) < 3 * s.standard_error);
  CHECK(std::abs(whole - final_tenth) > 3 * s.standard_error);  // it is another objective
  for (double bad : {0.0, -0.5, 1.5})
    CHECK_THROWS_WITH_AS(learned::EvolutionStrategies({.final_fraction = bad}),
                         doctest::Contains("the final fraction of a run the meta-loss counts must be in (0, 1]"),
                         mg::Error);
}

namespace {

std::unique_ptr<learned::Task> small_quadratic() {
  auto task = learned::make_task("quadratic");
  task->steps = 10;
  task->unroll = 5;
  return task;
}

learned::MetaTrainOptions es_options(const std::string& name, std::int64_t epochs) {
  auto o = mg::testing::short_meta_training("metagrad-es-" + name, epochs, 2, 2, "adam(lr=1e-2)");
  o.meta_batch = 3;  // the population: three pairs
  return o;
}

learned::EvolutionStrategies evolution(const std::string& estimator) {
  return learned::EvolutionStrategies({.persistent = estimator == "pes"});
}

std::vector<double> meta_trained(const learned::Task& task, const std::string& family,
                                 const learned::MetaGradientEstimator& estimator, const learned::MetaTrainOptions& o) {
  auto l = learned::make_learned(family, task, 1);
  const std::atomic<bool> never{false};
  learned::meta_train(task, *l, estimator, o, never);
  std::vector<double> out;
  for (const auto& [name, t] : l->meta_parameters())
    for (double v : t.to_vector<double>()) out.push_back(v);
  return out;
}

}  // namespace

TEST_CASE("es and pes meta-train with the same bits on 1 and 2 threads, and resume bit for bit") {
  const auto task = small_quadratic();
  for (const std::string estimator : {"es", "pes"}) {
    CAPTURE(estimator);
    std::vector<double> on[2];
    for (int threads : {1, 2}) {
      const int before = mg::get_num_threads();
      mg::set_num_threads(threads);
      on[threads - 1] = meta_trained(*task, "lstm", evolution(estimator), es_options(estimator + "-threads", 4));
      mg::set_num_threads(before);
    }
    CHECK(on[0] == on[1]);
    auto initial = learned::make_learned("lstm", *task, 1);
    CHECK(on[0] != initial->meta_parameters()[0].second.to_vector<double>());  // it moved

    auto split = es_options(estimator + "-split", 2);
    meta_trained(*task, "lstm", evolution(estimator), split);
    split.epochs = 4;
    split.resume = true;
    CHECK(meta_trained(*task, "lstm", evolution(estimator), split) == on[0]);
    const std::string other = estimator == "es" ? "pes" : "es";
    const std::string mismatch =
        "meta-trained with " + estimator + "(sigma=0.01, seed=0), not " + other + "(sigma=0.01, seed=0)";
    CHECK_THROWS_WITH_AS(meta_trained(*task, "lstm", evolution(other), split), doctest::Contains(mismatch.c_str()),
                         mg::Error);
    // Another sigma is another estimator too.
    CHECK_THROWS_WITH_AS(
        meta_trained(*task, "lstm", learned::EvolutionStrategies({.persistent = estimator == "pes", .sigma = 0.02}),
                     split),
        doctest::Contains("sigma=0.02"), mg::Error);
  }
}

TEST_CASE("es meta-trains through an optimizer that has no differentiable mode") {
  const auto task = small_quadratic();
  const std::string family = "hparams(shampoo(lr=0.01, epsilon=1e-4))";
  CHECK_THROWS_WITH_AS(meta_trained(*task, family, learned::TruncatedBptt(), es_options("shampoo-tbptt", 1)),
                       doctest::Contains("differentiable mode is not supported"), mg::Error);
  const auto learned_log_lr = meta_trained(*task, family, evolution("pes"), es_options("shampoo-pes", 4));
  REQUIRE(learned_log_lr.size() == 1);
  CHECK(learned_log_lr[0] != std::log(0.01));
  CHECK(std::isfinite(learned_log_lr[0]));
}
