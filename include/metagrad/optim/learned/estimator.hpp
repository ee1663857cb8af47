#pragma once
// How meta-gradients are estimated (optimizers.md sections 5.3 and 10.2),
// a truncation at a time, on one problem at a time. Each estimator is an
// object built from its own options (truncated_bptt.hpp, evolution.hpp); a
// user's own subclass plugs into meta_train unchanged.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "metagrad/optim/learned/learned_optimizer.hpp"

namespace mg::optim::learned {

// One truncation's result: the meta-loss (the sum of its optimizee losses)
// and an estimate of its gradient with respect to each meta-parameter.
struct TruncationEstimate {
  double meta_loss = 0;
  std::vector<Tensor> meta_gradients;
};

// What a truncation's meta-loss sums: the losses of the training
// mini-batches the optimizer steps on, or those of held-out batches at the
// same parameters (Problem::validation_loss; learned_optimization's
// "outer" batches): a meta-objective that rewards generalization, not
// only fitting.
enum class MetaObjective { TrainingBatches, ValidationBatches };
MetaObjective parse_meta_objective(const std::string& name);  // train | validation
std::string to_string(MetaObjective objective);
// ", objective=validation", or nothing for the default (configs stay those of older checkpoints).
std::string objective_suffix(MetaObjective objective);

// Throws unless steps is a positive multiple of a positive unroll.
void check_horizon(const Horizon& horizon, const std::string& estimator);

// Runs of different problems share nothing but the meta-parameters, which
// they only read: a meta-batch advances its runs concurrently.
class MetaGradientEstimator {
 public:
  virtual ~MetaGradientEstimator() = default;
  virtual std::string name() const = 0;
  // The name with every option that changes the estimates, as checkpoints
  // record it ("tbptt(mode=first_order, recompute_every=0)"): a run resumes
  // only with the same.
  virtual std::string config() const { return name(); }

  // One problem's run: its parameters and optimizer state carry over from
  // one truncation to the next, each truncation driven by the
  // meta-parameters of the moment.
  class Run {
   public:
    virtual ~Run() = default;
    // A truncation is worked on in parts() independent pieces (evolution
    // strategies: the plus and the minus run), which may run concurrently,
    // then combined by estimate().
    virtual std::int64_t parts() const { return 1; }
    virtual void advance(std::int64_t part) = 0;
    virtual TruncationEstimate estimate() = 0;
    virtual bool done() const = 0;
    // The next truncation, its parts one after the other.
    TruncationEstimate next();
  };
  // A run of `problem` at step 0 over `horizon`. `index` numbers the
  // problem among all of a meta-training's problems: estimators that draw
  // noise derive it from the index, so that it depends on nothing else (not
  // threads, not ranks).
  virtual std::unique_ptr<Run> start(const Problem& problem, const Horizon& horizon, std::uint64_t index,
                                     const LearnedOptimizer& learned) const = 0;

  // Runs `problem` to its end, calling `on_truncation` after each truncation
  // (typically a meta-optimizer step, which the next truncation then sees).
  void run(const Problem& problem, const Horizon& horizon, const LearnedOptimizer& learned,
           const std::function<void(const TruncationEstimate&)>& on_truncation, std::uint64_t index = 0) const;
};

}  // namespace mg::optim::learned
