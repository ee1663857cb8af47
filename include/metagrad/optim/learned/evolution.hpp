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
#include "metagrad/optim/learned/meta.hpp"

namespace mg::optim::learned {

class EvolutionStrategies : public MetaGradientEstimator {
 public:
  // `seed` keys the perturbations: truncation u of problem `index` draws
  // them from (seed, index, u) alone.
  EvolutionStrategies(bool persistent, std::int64_t steps, std::int64_t unroll, double sigma, std::uint64_t seed);
  std::string name() const override { return persistent_ ? "pes" : "es"; }
  std::unique_ptr<Run> start(const Problem& problem, std::uint64_t index,
                             const LearnedOptimizer& learned) const override;
  std::int64_t truncations() const override { return steps_ / unroll_; }

 private:
  class PairRun;
  bool persistent_;
  std::int64_t steps_, unroll_;
  double sigma_;
  std::uint64_t seed_;
};

}  // namespace mg::optim::learned
