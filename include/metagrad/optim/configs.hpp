#pragma once
// Typed configurations of the torch.optim optimizers, beside their spec
// strings: each is a plain struct whose defaults are the registry's, and
// spec() writes the spec string that builds the same optimizer.
//   auto opt = mg::optim::make(mg::optim::Adam{.lr = 3e-4, .weight_decay = 1e-4}, model.named_parameters());
// is mg::optim::make("adam(lr=0.0003, ..., weight_decay=0.0001, ...)", ...).
// Every other optimizer (the papers', the learned ones) is reached by its
// spec string; a struct here is a convenience, never a second definition:
// tests/optim/configs_test.cpp checks each against its schema.
#include <concepts>
#include <memory>
#include <string>

#include "metagrad/optim/registry.hpp"

namespace mg::optim {

// The keys every optimizer accepts (see common_keys()).
struct CommonKeys {
  std::string wd_exclude = "none";
  double clip_norm = 0, clip_value = 0;
};

struct Sgd {
  double lr = 1e-3, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false, maximize = false;
  CommonKeys common{};
  std::string spec() const;
};

struct Adam {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
  bool amsgrad = false, maximize = false;
  CommonKeys common{};
  std::string spec() const;
};

struct AdamW {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 1e-2;
  bool amsgrad = false, maximize = false;
  CommonKeys common{};
  std::string spec() const;
};

struct NAdam {
  double lr = 2e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0, momentum_decay = 4e-3;
  bool decoupled_weight_decay = false, maximize = false;
  CommonKeys common{};
  std::string spec() const;
};

struct RmsProp {
  double lr = 1e-2, alpha = 0.99, eps = 1e-8, weight_decay = 0, momentum = 0;
  bool centered = false, maximize = false;
  CommonKeys common{};
  std::string spec() const;
};

struct Adagrad {
  double lr = 1e-2, lr_decay = 0, weight_decay = 0, initial_accumulator_value = 0, eps = 1e-10;
  bool maximize = false;
  CommonKeys common{};
  std::string spec() const;
};

template <class Config>
concept OptimizerConfig = requires(const Config& config) {
  { config.spec() } -> std::convertible_to<std::string>;
};

template <OptimizerConfig Config>
std::unique_ptr<Optimizer> make(const Config& config, const NamedParameters& params) {
  return make(config.spec(), params);
}

template <OptimizerConfig Config>
std::unique_ptr<Optimizer> make(const Config& config, const std::vector<GroupSpec>& groups) {
  return make(config.spec(), groups);
}

}  // namespace mg::optim
