// The per-parameter MLP optimizers as learned families: mlp_lopt
// (optimizers.md section 10.1) and general (docs/general.md), each one net
// for every parameter; general is also told the run's horizon.
#include <functional>

#include "metagrad/core/generator.hpp"
#include "metagrad/optim/learned/general.hpp"
#include "metagrad/optim/learned/learned_optimizer.hpp"
#include "metagrad/optim/learned/mlp_lopt.hpp"

namespace mg::optim::learned {
namespace {

class OneNet : public LearnedOptimizer {
 public:
  using Maker = std::function<std::unique_ptr<Optimizer>(const Tensor& weights, const NamedParameters& params,
                                                         std::int64_t steps)>;
  OneNet(std::string name, Tensor initial, Maker maker) : name_(std::move(name)), maker_(std::move(maker)) {
    meta_.emplace_back("default", initial.requires_grad_());
  }
  std::string name() const override { return name_; }
  using LearnedOptimizer::make;
  std::unique_ptr<Optimizer> make(const NamedParameters& params, const std::vector<Tensor>& meta,
                                  std::int64_t steps) const override {
    return maker_(meta.at(0), params, steps);
  }
  void save(const std::string& path) const override { save_weights(path, meta_.front().second.detach()); }

 private:
  std::string name_;
  Maker maker_;
};

}  // namespace

std::unique_ptr<LearnedOptimizer> make_learned_mlp_lopt(std::uint64_t seed, DType dtype) {
  Generator g(seed);
  return std::make_unique<OneNet>("mlp_lopt", mlp_lopt_initial_weights(g, dtype),
                                  [](const Tensor& weights, const NamedParameters& params, std::int64_t) {
                                    return make_mlp_lopt_optimizer(weights, MlpLoptConfig{}, params);
                                  });
}

std::unique_ptr<LearnedOptimizer> make_learned_general(std::uint64_t seed, DType dtype) {
  Generator g(seed);
  return std::make_unique<OneNet>("general", general_initial_weights(g, dtype),
                                  [](const Tensor& weights, const NamedParameters& params, std::int64_t steps) {
                                    return make_general_optimizer(weights, {.horizon = steps}, params);
                                  });
}

}  // namespace mg::optim::learned
