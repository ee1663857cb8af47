// Antithetic pairs of plain inner runs (optimizers.md section 10.2).
#include "metagrad/optim/learned/evolution.hpp"

#include <array>
#include <cmath>

#include "core/check.hpp"
#include "metagrad/core/autograd/grad_mode.hpp"
#include "metagrad/core/generator.hpp"
#include "metagrad/core/ops.hpp"

namespace mg::optim::learned {
namespace {

// `to` takes over `from`'s state (momenta, LSTM cells, step counts) but
// keeps its own hyperparameters: both are optimizers of one family over the
// same parameters, made from different meta-parameters.
void carry_state(const Optimizer& from, Optimizer& to) {
  nn::NamedTensors state;
  for (auto& entry : from.state_dict())
    if (entry.first.rfind("group.", 0) != 0) state.push_back(std::move(entry));
  to.load_state_dict(state);
}

// One inner run, stepped by plain step() (no graph through the step). Each
// truncation makes the optimizer anew from that truncation's
// meta-parameters; the new one continues the previous one's state.
class PlainRun {
 public:
  PlainRun(const Problem& problem, std::int64_t steps, const EvolutionStrategiesOptions& options)
      : problem_(&problem),
        steps_(steps),
        first_counted_(
            steps - std::max<std::int64_t>(1, std::llround(options.final_fraction * static_cast<double>(steps))) + 1),
        validation_(options.objective == MetaObjective::ValidationBatches),
        params_(problem.initial()) {
    for (auto& [name, t] : params_) theta_.push_back(t.requires_grad_());
  }

  // `steps` steps with the optimizer `learned` makes from `meta`; returns the
  // sum of the losses after each step that counts (the truncation's
  // meta-loss).
  double advance(const LearnedOptimizer& learned, const std::vector<Tensor>& meta, std::int64_t steps) {
    auto optimizer = learned.make(params_, meta, steps_);
    if (optimizer_) carry_state(*optimizer_, *optimizer);
    optimizer_ = std::move(optimizer);
    if (step_ == 0) forward_backward();  // g_0
    double meta_loss = 0;
    for (std::int64_t t = 0; t < steps; ++t) {
      if (optimizer_->requires_closure())  // it re-evaluates this step's gradient itself
        optimizer_->step([this] { return forward_backward(); });
      else
        optimizer_->step();
      ++step_;
      const double loss = forward_backward().item<double>();
      MG_CHECK(std::isfinite(loss), "meta-training diverged: the optimizee loss of a perturbed run is {} at step {}",
               loss, step_);
      if (step_ >= first_counted_) meta_loss += validation_ ? validation_loss() : loss;
    }
    return meta_loss;
  }

 private:
  double validation_loss() const {
    NoGradGuard no_grad;
    return problem_->validation_loss(theta_, step_).item<double>();
  }

  // The loss at this step's mini-batch, its gradient left in the parameters.
  Tensor forward_backward() {
    for (auto& t : theta_) t.set_grad(Tensor());
    Tensor loss = problem_->loss(theta_, step_);
    loss.backward();
    return loss;
  }

  const Problem* problem_;
  std::int64_t steps_;          // the run's length
  std::int64_t first_counted_;  // the first step whose loss counts
  bool validation_;
  NamedParameters params_;
  std::vector<Tensor> theta_;
  std::unique_ptr<Optimizer> optimizer_;
  std::int64_t step_ = 0;
};

}  // namespace

EvolutionStrategies::EvolutionStrategies(EvolutionStrategiesOptions options) : options_(options) {
  MG_CHECK(std::isfinite(options.sigma) && options.sigma > 0, "{}: sigma must be positive, got {}", name(),
           options.sigma);
  MG_CHECK(options.final_fraction > 0 && options.final_fraction <= 1,
           "{}: the final fraction of a run the meta-loss counts must be in (0, 1], got {}", name(),
           options.final_fraction);
}

std::string EvolutionStrategies::config() const {
  return fmt::format(
      "{}(sigma={:.17g}, seed={}{}{})", name(), options_.sigma, options_.seed, objective_suffix(options_.objective),
      options_.final_fraction == 1 ? "" : fmt::format(", final_fraction={:.17g}", options_.final_fraction));
}

class EvolutionStrategies::PairRun : public MetaGradientEstimator::Run {
 public:
  PairRun(const EvolutionStrategies& es, const Problem& problem, const Horizon& horizon, std::uint64_t index,
          const LearnedOptimizer& learned)
      : es_(&es),
        options_(es.options()),
        horizon_(horizon),
        learned_(&learned),
        index_(index),
        runs_{PlainRun(problem, horizon.steps, es.options()), PlainRun(problem, horizon.steps, es.options())} {}

  std::int64_t parts() const override { return 2; }

  // Part 0 runs phi + eps, part 1 phi - eps.
  void advance(std::int64_t part) override {
    MG_CHECK(!done(), "{}: the run has done all its {} steps", es_->name(), horizon_.steps);
    const auto at = static_cast<std::size_t>(part);
    losses_.at(at) = runs_.at(at).advance(*learned_, perturbed(part == 0 ? 1.0 : -1.0), horizon_.unroll);
  }

  TruncationEstimate estimate() override {
    NoGradGuard no_grad;
    const std::vector<Tensor> eps = perturbation();
    const double scale = (losses_[0] - losses_[1]) / (2 * options_.sigma * options_.sigma);
    TruncationEstimate result{(losses_[0] + losses_[1]) / 2, {}};
    for (std::size_t i = 0; i < eps.size(); ++i) {
      if (!options_.persistent) {
        result.meta_gradients.push_back(eps[i] * scale);
        continue;
      }
      if (xi_.size() <= i) xi_.push_back(zeros_like(eps[i]));
      xi_[i] = xi_[i] + eps[i];  // the pair's perturbations since its run began
      result.meta_gradients.push_back(xi_[i] * scale);
    }
    ++truncation_;
    return result;
  }

  bool done() const override { return truncation_ >= horizon_.truncations(); }

 private:
  // phi + sign * eps, as values without history.
  std::vector<Tensor> perturbed(double sign) const {
    NoGradGuard no_grad;
    const std::vector<Tensor> eps = perturbation();
    const NamedParameters& phi = learned_->meta_parameters();
    std::vector<Tensor> meta;
    for (std::size_t i = 0; i < phi.size(); ++i) meta.push_back(phi[i].second.detach() + eps[i] * sign);
    return meta;
  }

  // This truncation's eps, one tensor per meta-parameter: a function of the
  // seed, the problem's index and the truncation alone.
  std::vector<Tensor> perturbation() const {
    Generator generator(
        splitmix64(splitmix64(splitmix64(options_.seed) ^ index_) + static_cast<std::uint64_t>(truncation_)));
    std::vector<Tensor> eps;
    for (const auto& [name, phi] : learned_->meta_parameters())
      eps.push_back(randn(phi.shape(), generator, phi.dtype()) * options_.sigma);
    return eps;
  }

  const EvolutionStrategies* es_;
  EvolutionStrategiesOptions options_;
  Horizon horizon_;
  const LearnedOptimizer* learned_;
  std::uint64_t index_;
  std::array<PlainRun, 2> runs_;
  std::array<double, 2> losses_{};
  std::vector<Tensor> xi_;
  std::int64_t truncation_ = 0;
};

std::unique_ptr<MetaGradientEstimator::Run> EvolutionStrategies::start(const Problem& problem, const Horizon& horizon,
                                                                       std::uint64_t index,
                                                                       const LearnedOptimizer& learned) const {
  check_horizon(horizon, name());
  return std::make_unique<PairRun>(*this, problem, horizon, index, learned);
}

}  // namespace mg::optim::learned
