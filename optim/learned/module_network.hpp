#pragma once
// A problem's network given as an nn::Module (ResNet-20, the
// character-level LSTM): theta_0 is a fresh module's parameters drawn from
// the problem's seed, and the loss calls one module of the problem's own
// with the parameters in place of its own (nn::functional_call), so that
// the graph runs through them.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "metagrad/core/generator.hpp"
#include "metagrad/nn/module.hpp"
#include "metagrad/optim/optimizer.hpp"

namespace mg::optim::learned {

class ModuleNetwork {
 public:
  using Factory = std::function<std::shared_ptr<nn::Module>(Generator& generator)>;

  explicit ModuleNetwork(Factory make) : make_(std::move(make)) {
    Generator unused(0);  // its parameters are only the shapes and names
    model_ = make_(unused);
    for (const auto& [name, p] : model_->named_parameters()) names_.push_back(name);
  }

  NamedParameters initial(std::uint64_t seed) const {
    Generator g(seed);
    NamedParameters params;
    for (const auto& [name, p] : make_(g)->named_parameters()) params.emplace_back(name, p.detach().clone());
    return params;
  }

  // The module's forward with `params` (in initial()'s order) as its parameters.
  Tensor operator()(const std::vector<Tensor>& params, const Tensor& input) const {
    std::map<std::string, Tensor> named;
    for (std::size_t i = 0; i < params.size(); ++i) named.emplace(names_[i], params[i]);
    return nn::functional_call(*model_, named, input);
  }

 private:
  Factory make_;
  std::shared_ptr<nn::Module> model_;
  std::vector<std::string> names_;
};

}  // namespace mg::optim::learned
