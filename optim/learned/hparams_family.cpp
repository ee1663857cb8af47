// Learned hyperparameters of any registry optimizer: one log learning rate
// per parameter tensor. Each parameter gets its own group, so that plain
// step() sees its own lr as a number.
#include <cmath>

#include "core/check.hpp"
#include "json_file.hpp"
#include "metagrad/core/ops.hpp"
#include "metagrad/optim/learned/learned_optimizer.hpp"
#include "metagrad/optim/registry.hpp"
#include "metagrad/optim/spec.hpp"

namespace mg::optim::learned {
namespace {

class LearnedHyperparameters : public LearnedOptimizer {
 public:
  LearnedHyperparameters(const Task& task, std::string spec) : spec_(std::move(spec)) {
    const ParsedSpec parsed = parse_spec(spec_);
    const Values defaults = resolve(info(parsed.name).schema, parsed.arguments, "optimizer " + parsed.name);
    MG_CHECK(defaults.count("lr"), "hparams: optimizer '{}' has no lr to learn", parsed.name);
    const double lr = std::get<double>(defaults.at("lr"));
    MG_CHECK(lr > 0, "hparams: the starting lr must be positive, got {}", lr);
    for (const auto& [name, t] : task.problem(Split::Train, 0)->initial())
      meta_.emplace_back(name, scalar_tensor(std::log(lr), DType::Float64).requires_grad_());
  }
  std::string name() const override { return "hparams(" + spec_ + ")"; }
  using LearnedOptimizer::make;
  std::unique_ptr<Optimizer> make(const NamedParameters& params, const std::vector<Tensor>& meta,
                                  std::int64_t) const override {
    std::vector<GroupSpec> groups;
    for (const auto& [name, p] : params)
      groups.push_back({{{name, p}}, {{"lr", fmt::format("{:.17g}", std::exp(log_lr(name, meta)))}}});
    return optim::make(spec_, groups);
  }
  std::map<std::string, Tensor> overrides() const override {
    std::map<std::string, Tensor> out;
    for (const auto& [name, log_lr] : meta_) out["lr@" + name] = exp(log_lr);
    return out;
  }
  // {"spec": ..., "lr": {name: value}}: the learned learning rates.
  void save(const std::string& path) const override {
    nlohmann::json lrs = nlohmann::json::object();
    for (const auto& [name, log_lr] : meta_) lrs[name] = std::exp(log_lr.item<double>());
    write_json(path, {{"spec", spec_}, {"lr", lrs}});
  }

 private:
  double log_lr(const std::string& name, const std::vector<Tensor>& meta) const {
    for (std::size_t i = 0; i < meta_.size(); ++i)
      if (meta_[i].first == name) return meta.at(i).item<double>();
    throw Error("hparams: no learned lr for parameter '" + name + "' (another task's parameters?)");
  }

  std::string spec_;
};

}  // namespace

std::unique_ptr<LearnedOptimizer> make_learned_hyperparameters(const Task& task, const std::string& spec) {
  return std::make_unique<LearnedHyperparameters>(task, spec);
}

}  // namespace mg::optim::learned
