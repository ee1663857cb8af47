// Truncated back-propagation through time (optimizers.md section 5.3),
// first or second order, with optional gradient checkpointing.
#include "metagrad/optim/learned/truncated_bptt.hpp"

#include <cmath>

#include "core/check.hpp"
#include "metagrad/core/autograd/engine.hpp"
#include "metagrad/core/ops.hpp"

namespace mg::optim::learned {

MetaMode meta_mode(const std::string& name) {
  if (name == "first_order") return MetaMode::FirstOrder;
  if (name == "second_order") return MetaMode::SecondOrder;
  throw Error("unknown meta-gradient mode '" + name + "' (expected first_order or second_order)");
}

std::string to_string(MetaMode mode) { return mode == MetaMode::FirstOrder ? "first_order" : "second_order"; }

TruncatedBptt::TruncatedBptt(TruncatedBpttOptions options) : options_(options) {
  MG_CHECK(options.recompute_every >= 0, "truncated BPTT: recompute_every must be 0 (off) or positive, not {}",
           options.recompute_every);
}

std::string TruncatedBptt::config() const {
  return fmt::format("tbptt(mode={}, recompute_every={}{})", to_string(options_.mode), options_.recompute_every,
                     objective_suffix(options_.objective));
}

class TruncatedBptt::BpttRun : public MetaGradientEstimator::Run {
 public:
  BpttRun(const TruncatedBpttOptions& options, const Problem& problem, const Horizon& horizon,
          const LearnedOptimizer& learned)
      : problem_(&problem),
        learned_(&learned),
        steps_(horizon.steps),
        unroll_(horizon.unroll),
        recompute_every_(options.recompute_every),
        second_order_(options.mode == MetaMode::SecondOrder),
        validation_(options.objective == MetaObjective::ValidationBatches) {
    const NamedParameters initial = problem.initial();
    optimizer_ = learned.make(initial, steps_);
    for (const auto& [name, t] : initial) theta_.push_back(t.detach().requires_grad_());
    g_ = autograd::grad({problem.loss(theta_, 0)}, theta_);  // g_0 at theta_0, a constant
  }

  void advance(std::int64_t) override {
    MG_CHECK(!done(), "truncated BPTT: the run has done all its {} steps", steps_);
    std::vector<Tensor> meta;
    for (const auto& [name, phi] : learned_->meta_parameters()) meta.push_back(phi);
    const std::map<std::string, Tensor> hyper = learned_->overrides();  // this unroll's meta-parameters
    if (recompute_every_ > 0 && recompute_every_ < unroll_) {
      estimate_ = recomputed_unroll(meta, hyper);
    } else {
      const Tensor meta_loss = steps(unroll_, hyper);
      estimate_ = {meta_loss.item<double>(), autograd::grad({meta_loss}, meta)};
    }
    cut_graph();  // truncation: the next unroll starts from these values, without history
  }
  TruncationEstimate estimate() override { return std::move(estimate_); }
  bool done() const override { return step_ >= steps_; }

 private:
  // `count` steps from the current state, building the graph; returns
  // `sum_before` plus the sum of their losses (added one by one, so that a
  // recomputed unroll's segments add up with the plain unroll's bits).
  Tensor steps(std::int64_t count, const std::map<std::string, Tensor>& hyper, Tensor sum_before = {}) {
    Tensor meta_loss = std::move(sum_before);
    for (std::int64_t t = 0; t < count; ++t) {
      std::vector<Tensor> input = g_;
      if (!second_order_)
        for (auto& x : input) x = x.detach();
      theta_ = optimizer_->differentiable_step(theta_, input, hyper);
      const Tensor loss = problem_->loss(theta_, ++step_);
      const auto value = loss.item<double>();
      MG_CHECK(std::isfinite(value), "meta-training diverged: the optimizee loss is {} at step {}", value, step_);
      g_ = autograd::grad({loss}, theta_, autograd::GradOptions{.retain_graph = true, .create_graph = second_order_});
      const Tensor objective = validation_ ? problem_->validation_loss(theta_, step_) : loss;
      meta_loss = meta_loss.defined() ? meta_loss + objective : objective;
    }
    return meta_loss;
  }

  void cut_graph() {
    for (auto& t : theta_) t = t.detach().requires_grad_();
    for (auto& x : g_) x = x.detach();
    optimizer_->detach_differentiable_state();
  }

  // Everything a segment of the unroll starts from.
  struct Checkpoint {
    std::vector<Tensor> theta, g;
    Optimizer::DifferentiableState state;
    std::int64_t step;
  };
  Checkpoint checkpoint() const { return {theta_, g_, optimizer_->differentiable_state(), step_}; }

  // The state's tensors by name, so that a segment's outputs meet the next
  // segment's inputs: "theta.i", "g.i", "state.<parameter>.<field>",
  // "global.<field>".
  std::map<std::string, Tensor*> named_state(Checkpoint& c) {
    std::map<std::string, Tensor*> named;
    for (std::size_t i = 0; i < c.theta.size(); ++i) named["theta." + std::to_string(i)] = &c.theta[i];
    if (second_order_)  // first order feeds g as a constant: nothing flows back through it
      for (std::size_t i = 0; i < c.g.size(); ++i) named["g." + std::to_string(i)] = &c.g[i];
    for (auto& [param, state] : c.state.params)
      for (auto& [field, t] : state.tensors)
        if (is_floating(t.dtype())) named["state." + param + "." + field] = &t;
    for (auto& [field, t] : c.state.global)
      if (is_floating(t.dtype())) named["global." + field] = &t;
    return named;
  }

  // Gradient checkpointing: a forward pass keeps only the state at the start
  // of every segment of recompute_every_ steps; then, last segment first,
  // each segment is run again with its graph from that state (as leaves)
  // and back-propagated with the cotangents its outputs received from the
  // segment after it. Memory: unroll / recompute_every checkpoints and one
  // segment's graph. The values are the plain unroll's; the meta-gradient
  // is summed segment by segment.
  TruncationEstimate recomputed_unroll(const std::vector<Tensor>& meta, const std::map<std::string, Tensor>& hyper) {
    std::vector<Checkpoint> starts;
    Tensor meta_loss;
    for (std::int64_t done = 0; done < unroll_; done += recompute_every_) {
      starts.push_back(checkpoint());
      meta_loss = steps(std::min(recompute_every_, unroll_ - done), hyper, meta_loss).detach();
      cut_graph();
    }
    const Checkpoint end = checkpoint();
    std::vector<Tensor> meta_gradients(meta.size());
    std::map<std::string, Tensor> cotangents;  // of the next segment's inputs
    for (std::size_t j = starts.size(); j-- > 0;) {
      Checkpoint start = starts[j];
      std::vector<Tensor> inputs = meta;
      std::vector<std::string> names;
      for (auto& [name, t] : named_state(start)) {
        *t = t->detach().requires_grad_();
        inputs.push_back(*t);
        names.push_back(name);
      }
      theta_ = start.theta;
      g_ = start.g;
      optimizer_->set_differentiable_state(start.state);
      step_ = start.step;
      const std::int64_t count = std::min(recompute_every_, unroll_ - static_cast<std::int64_t>(j) * recompute_every_);
      std::vector<Tensor> outputs = {steps(count, hyper)}, weights = {scalar_tensor(1.0, outputs[0].dtype())};
      Checkpoint reached = checkpoint();
      for (const auto& [name, t] : named_state(reached))
        if (auto it = cotangents.find(name); it != cotangents.end() && t->requires_grad()) {
          outputs.push_back(*t);
          weights.push_back(it->second);
        }
      const auto gradients = autograd::grad(
          outputs, inputs, autograd::GradOptions{.grad_outputs = weights, .retain_graph = true, .allow_unused = true});
      for (std::size_t i = 0; i < meta.size(); ++i)
        if (gradients[i].defined())
          meta_gradients[i] = meta_gradients[i].defined() ? meta_gradients[i] + gradients[i] : gradients[i];
      cotangents.clear();
      for (std::size_t i = 0; i < names.size(); ++i)
        if (gradients[meta.size() + i].defined()) cotangents[names[i]] = gradients[meta.size() + i];
    }
    for (std::size_t i = 0; i < meta.size(); ++i)
      if (!meta_gradients[i].defined()) meta_gradients[i] = zeros_like(meta[i]);
    theta_ = end.theta;
    g_ = end.g;
    optimizer_->set_differentiable_state(end.state);
    step_ = end.step;
    return {meta_loss.item<double>(), meta_gradients};
  }

  const Problem* problem_;
  const LearnedOptimizer* learned_;
  std::unique_ptr<Optimizer> optimizer_;
  std::vector<Tensor> theta_, g_;
  std::int64_t step_ = 0, steps_, unroll_, recompute_every_;
  bool second_order_, validation_;
  TruncationEstimate estimate_;
};

std::unique_ptr<MetaGradientEstimator::Run> TruncatedBptt::start(const Problem& problem, const Horizon& horizon,
                                                                 std::uint64_t, const LearnedOptimizer& learned) const {
  check_horizon(horizon, "truncated BPTT");
  return std::make_unique<BpttRun>(options_, problem, horizon, learned);
}

}  // namespace mg::optim::learned
