#pragma once
// Shared by the meta-training tests: short, silent runs into fresh folders,
// and the score that validation judges them by.
#include <filesystem>
#include <string>

#include "metagrad/metagrad.hpp"

namespace mg::testing {

// A silent meta-training of `epochs` epochs with `meta_optimizer`,
// validating every `eval_every` on `validation_problems` problems, into the
// emptied folder `folder` of the temporary directory.
inline optim::learned::MetaTrainOptions short_meta_training(const std::string& folder, std::int64_t epochs,
                                                            std::int64_t eval_every, std::int64_t validation_problems,
                                                            const std::string& meta_optimizer) {
  optim::learned::MetaTrainOptions o;
  o.epochs = epochs;
  o.eval_every = eval_every;
  o.validation_problems = validation_problems;
  o.meta_optimizer = meta_optimizer;
  o.progress = false;
  o.out_dir = (std::filesystem::temp_directory_path() / folder).string();
  std::filesystem::remove_all(o.out_dir);
  return o;
}

// The mean loss at the last step over `problems` validation problems, as
// meta-training's validation measures it.
inline double mean_final_validation_loss(const optim::learned::Task& task, const optim::learned::OptimizerFactory& make,
                                         int problems) {
  double total = 0;
  for (const auto& curve :
       optim::learned::loss_curves(task, make, optim::learned::Split::Validation, problems, task.steps))
    total += curve.back();
  return total / problems;
}

}  // namespace mg::testing
