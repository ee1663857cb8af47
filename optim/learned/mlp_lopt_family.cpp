// The MLP of optimizers.md section 10.1 as a learned family: one net for
// every parameter.
#include "metagrad/core/generator.hpp"
#include "metagrad/optim/learned/learned_optimizer.hpp"
#include "metagrad/optim/learned/mlp_lopt.hpp"

namespace mg::optim::learned {
namespace {

class LearnedMlpLopt : public LearnedOptimizer {
 public:
  LearnedMlpLopt(std::uint64_t seed, DType dtype) {
    Generator g(seed);
    meta_.emplace_back("default", mlp_lopt_initial_weights(g, dtype).requires_grad_());
  }
  std::string name() const override { return "mlp_lopt"; }
  using LearnedOptimizer::make;
  std::unique_ptr<Optimizer> make(const NamedParameters& params, const std::vector<Tensor>& meta,
                                  std::int64_t) const override {
    return make_mlp_lopt_optimizer(meta.at(0), MlpLoptConfig{}, params);
  }
  void save(const std::string& path) const override { save_weights(path, meta_.front().second.detach()); }
};

}  // namespace

std::unique_ptr<LearnedOptimizer> make_learned_mlp_lopt(std::uint64_t seed, DType dtype) {
  return std::make_unique<LearnedMlpLopt>(seed, dtype);
}

}  // namespace mg::optim::learned
