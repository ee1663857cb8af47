// The LSTM of optimizers.md section 5.1 as a learned family: one weight
// tensor per net, meta-trained, saved as section 5.1's JSON lists.
#include <map>

#include "metagrad/core/generator.hpp"
#include "metagrad/optim/learned/learned_optimizer.hpp"

namespace mg::optim::learned {
namespace {

class LearnedLstm : public LearnedOptimizer {
 public:
  LearnedLstm(LstmTaskSettings settings, std::uint64_t seed, DType dtype, LstmInit init)
      : settings_(std::move(settings)) {
    Generator g(seed);
    for (const auto& net : settings_.nets)
      meta_.emplace_back(net, initial_weights(settings_.config, g, dtype, init).requires_grad_());
  }
  std::string name() const override { return "lstm"; }
  using LearnedOptimizer::make;
  std::unique_ptr<Optimizer> make(const NamedParameters& params, const std::vector<Tensor>& meta,
                                  std::int64_t) const override {
    std::map<std::string, Tensor> nets;
    for (std::size_t i = 0; i < meta_.size(); ++i) nets[meta_[i].first] = meta.at(i);
    return make_lstm_optimizer(nets, settings_.config, params, settings_.net_of);
  }
  void save(const std::string& path) const override {
    for (const auto& [net, phi] : meta_) save_weights(net_weights_file(path, net, meta_.size()), phi.detach());
  }

 private:
  LstmTaskSettings settings_;
};

}  // namespace

std::unique_ptr<LearnedOptimizer> make_learned_lstm(const LstmTaskSettings& settings, std::uint64_t seed, DType dtype,
                                                    LstmInit init) {
  return std::make_unique<LearnedLstm>(settings, seed, dtype, init);
}

}  // namespace mg::optim::learned
