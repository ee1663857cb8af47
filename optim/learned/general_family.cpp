// The `general` optimizer of docs/general.md as a learned family: one net
// for every parameter, told the task's horizon.
#include "metagrad/core/generator.hpp"
#include "metagrad/optim/learned/general.hpp"
#include "metagrad/optim/learned/learned_optimizer.hpp"

namespace mg::optim::learned {
namespace {

class LearnedGeneral : public LearnedOptimizer {
 public:
  LearnedGeneral(std::uint64_t seed, DType dtype) {
    Generator g(seed);
    meta_.emplace_back("default", general_initial_weights(g, dtype).requires_grad_());
  }
  std::string name() const override { return "general"; }
  using LearnedOptimizer::make;
  std::unique_ptr<Optimizer> make(const NamedParameters& params, const std::vector<Tensor>& meta,
                                  std::int64_t steps) const override {
    return make_general_optimizer(meta.at(0), {.horizon = steps}, params);
  }
  void save(const std::string& path) const override { save_weights(path, meta_.front().second.detach()); }
};

}  // namespace

std::unique_ptr<LearnedOptimizer> make_learned_general(std::uint64_t seed, DType dtype) {
  return std::make_unique<LearnedGeneral>(seed, dtype);
}

}  // namespace mg::optim::learned
