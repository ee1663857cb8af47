#pragma once
// Meta-gradients by evolution strategies (optimizers.md section 10.2):
// antithetic ES and Persistent ES (Vicol, Metz and Sohl-Dickstein 2021).
// A run is one pair of inner runs on one problem, started alike and fed the
// same mini-batches; each truncation drives one with phi + eps and the other
// with phi - eps, eps ~ N(0, sigma^2 I), and estimates
//   es:  eps * (L+ - L-) / (2 sigma^2)
//   pes: xi  * (L+ - L-) / (2 sigma^2),  xi the sum of the pair's eps so far,
// so that the mean over a meta-batch of N pairs is the section's estimate.
// The inner runs take plain step()s: no graph, no derivative of the step,
// so any registry optimizer (hparams(SPEC)) can be meta-trained this way.
#include <cstdint>

#include "metagrad/optim/learned/estimator.hpp"

namespace mg::optim::learned {

struct EvolutionStrategiesOptions {
  // Persistent (pes): unbiased over whole runs; antithetic (es): per truncation.
  bool persistent = true;
  double sigma = 0.01;
  // Keys the perturbations: truncation u of problem `index` draws them
  // from (seed, index, u) alone.
  std::uint64_t seed = 0;
  MetaObjective objective = MetaObjective::TrainingBatches;
  // The meta-loss counts only the losses after the last `final_fraction` of
  // a run's steps (at least the last step's): the final loss a user judges a
  // run by, where 1 (the whole run) is the area under the loss curve, which
  // rewards early progress. PES carries the credit of early perturbations to
  // the late losses, so early truncations need no loss of their own.
  double final_fraction = 1.0;
};

class EvolutionStrategies : public MetaGradientEstimator {
 public:
  explicit EvolutionStrategies(EvolutionStrategiesOptions options = {});
  std::string name() const override { return options_.persistent ? "pes" : "es"; }
  std::string config() const override;
  std::unique_ptr<Run> start(const Problem& problem, const Horizon& horizon, std::uint64_t index,
                             const LearnedOptimizer& learned) const override;
  const EvolutionStrategiesOptions& options() const { return options_; }

 private:
  class PairRun;
  EvolutionStrategiesOptions options_;
};

}  // namespace mg::optim::learned
