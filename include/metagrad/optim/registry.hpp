#pragma once
// The registry of optimizers, by name, and spec strings:
//   auto opt = mg::optim::make("adam(lr=1e-3, beta1=0.9)", model.named_parameters());
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "metagrad/optim/optimizer.hpp"

namespace mg::optim {

struct OptimizerInfo {
  std::string name;
  std::string summary;
  Schema schema;  // its own hyperparameters; the common keys are added
  std::function<std::unique_ptr<Optimizer>(std::vector<ParamGroup>)> make;
};

// Keys every optimizer accepts: wd_exclude (weight decay is 0 for parameters
// whose name contains any of these ':'-separated fragments, e.g. bias:bn),
// clip_norm (rescale all gradients to at most this global L2 norm; 0 = off)
// and clip_value (clamp every gradient element to +-this; 0 = off).
const Schema& common_keys();

bool register_optimizer(OptimizerInfo info);
std::vector<std::string> available();
const OptimizerInfo& info(const std::string& name);

// One group of parameters with its own hyperparameters (spec-style
// "key=value" overrides of the optimizer-wide spec).
struct GroupSpec {
  NamedParameters params;
  std::vector<std::pair<std::string, std::string>> overrides;
};

std::unique_ptr<Optimizer> make(const std::string& spec, const NamedParameters& params);

// `spec` told the length of the run it will drive: an optimizer with a
// `horizon` key (general) that the spec leaves out gets horizon=steps;
// every other spec comes back unchanged. `train` passes its step count.
std::string with_horizon(const std::string& spec, std::int64_t steps);
std::unique_ptr<Optimizer> make(const std::string& spec, const std::vector<GroupSpec>& groups);

// Sets one numeric hyperparameter of one group, as a schedule written outside
// metagrad does (PyTorch's lr_scheduler, through the Python module): checked
// against the optimizer's schema, so an unknown or non-numeric key or a value
// out of range throws mg::Error and changes nothing.
void set_hyperparameter(Optimizer& optimizer, std::size_t group, const std::string& key, double value);

}  // namespace mg::optim
