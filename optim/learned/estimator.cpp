// What every meta-gradient estimator shares.
#include "metagrad/optim/learned/estimator.hpp"

#include "core/check.hpp"

namespace mg::optim::learned {

MetaObjective parse_meta_objective(const std::string& name) {
  if (name == "train") return MetaObjective::TrainingBatches;
  MG_CHECK(name == "validation", "unknown meta-objective '{}' (expected train or validation)", name);
  return MetaObjective::ValidationBatches;
}

std::string to_string(MetaObjective objective) {
  return objective == MetaObjective::TrainingBatches ? "train" : "validation";
}

// Old checkpoints' configs (and the default's) name no objective.
std::string objective_suffix(MetaObjective objective) {
  return objective == MetaObjective::TrainingBatches ? "" : ", objective=validation";
}

void check_horizon(const Horizon& h, const std::string& estimator) {
  MG_CHECK(h.steps >= 1 && h.unroll >= 1 && h.steps % h.unroll == 0,
           "{}: steps ({}) must be a positive multiple of the unroll ({})", estimator, h.steps, h.unroll);
}

TruncationEstimate MetaGradientEstimator::Run::next() {
  for (std::int64_t part = 0; part < parts(); ++part) advance(part);
  return estimate();
}

void MetaGradientEstimator::run(const Problem& problem, const Horizon& horizon, const LearnedOptimizer& learned,
                                const std::function<void(const TruncationEstimate&)>& on_truncation,
                                std::uint64_t index) const {
  const auto run = start(problem, horizon, index, learned);
  while (!run->done()) on_truncation(run->next());
}

}  // namespace mg::optim::learned
