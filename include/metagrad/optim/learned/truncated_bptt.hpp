#pragma once
// Truncated back-propagation through time (optimizers.md section 5.3).
#include <cstdint>
#include <string>

#include "metagrad/optim/learned/estimator.hpp"

namespace mg::optim::learned {

enum class MetaMode { FirstOrder, SecondOrder };
MetaMode meta_mode(const std::string& name);  // first_order | second_order
std::string to_string(MetaMode mode);

struct TruncatedBpttOptions {
  // First order feeds the optimizee gradients as constants (the paper's
  // results); second order back-propagates through them too.
  MetaMode mode = MetaMode::FirstOrder;
  // Steps between the states kept for recomputation (0: none, the whole
  // truncation's graph is kept).
  std::int64_t recompute_every = 0;
  MetaObjective objective = MetaObjective::TrainingBatches;
};

// Each truncation runs through differentiable_step and its summed loss is
// back-propagated into the meta-parameters. With recompute_every S > 0
// (gradient checkpointing) a truncation keeps only its state every S steps
// and recomputes each segment's graph in backward: memory grows with
// unroll / S + S instead of unroll, for about one more forward pass; the
// meta-gradients are the plain unroll's (summed segment by segment).
class TruncatedBptt : public MetaGradientEstimator {
 public:
  explicit TruncatedBptt(TruncatedBpttOptions options = {});
  std::string name() const override { return "tbptt"; }
  std::string config() const override;
  std::unique_ptr<Run> start(const Problem& problem, const Horizon& horizon, std::uint64_t index,
                             const LearnedOptimizer& learned) const override;
  const TruncatedBpttOptions& options() const { return options_; }

 private:
  class BpttRun;
  TruncatedBpttOptions options_;
};

}  // namespace mg::optim::learned
