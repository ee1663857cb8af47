// What every learned optimizer shares, the LSTM's per-task settings, and
// the choice of family by name.
#include "metagrad/optim/learned/learned_optimizer.hpp"

#include "core/check.hpp"
#include "json_file.hpp"
#include "metagrad/core/autograd/grad_mode.hpp"

namespace mg::optim::learned {

std::unique_ptr<Optimizer> LearnedOptimizer::make(const NamedParameters& params, std::int64_t steps) const {
  std::vector<Tensor> meta;
  for (const auto& [name, t] : meta_) meta.push_back(t);
  return make(params, meta, steps);
}

void load_initial_weights(LearnedOptimizer& learned, const std::string& path) {
  auto& meta = learned.meta_parameters();
  MG_CHECK(meta.size() == 1, "{}: its meta-parameters are {} tensors; initial weights from a file need one",
           learned.name(), meta.size());
  Tensor& phi = meta.front().second;
  const auto values = read_weight_list(path, learned.name(), static_cast<std::size_t>(phi.numel()), "");
  const NoGradGuard no_grad;
  phi.copy_(Tensor::from_vector(values, phi.shape()).to(phi.dtype()));
}

LstmTaskSettings lstm_settings(const std::string& task_name) {
  LstmTaskSettings settings;
  if (task_name == "quadratic") {
    settings.config = {.preprocess = Preprocess::None, .p = 10, .scale = 1.0, .hidden = 20};
    return settings;
  }
  settings.config = {.preprocess = Preprocess::LogSign, .p = 10, .scale = 0.1, .hidden = 20};
  if (task_name == "cnn" || task_name.rfind("cnn-", 0) == 0) {
    // "conv" for the three convolution kernels, "fc" for everything else.
    settings.nets = {"conv", "fc"};
    settings.net_of = [](const std::string& name) {
      return name.rfind("conv", 0) == 0 && name.find(".weight") != std::string::npos ? "conv" : "fc";
    };
  }
  return settings;
}

std::unique_ptr<LearnedOptimizer> make_learned(const std::string& family, const Task& task, std::uint64_t seed) {
  const LstmTaskSettings settings = lstm_settings(task.name());
  if (family == "lstm" || family == "lstm(init=zero_output)") return make_learned_lstm(settings, seed);
  if (family == "lstm(init=uniform)") return make_learned_lstm(settings, seed, DType::Float32, LstmInit::Uniform);
  if (family == "lstm(init=code)") return make_learned_lstm(settings, seed, DType::Float32, LstmInit::Code);
  if (family == "mlp_lopt") return make_learned_mlp_lopt(seed);
  if (family == "general") return make_learned_general(seed);
  if (family.rfind("hparams(", 0) == 0 && family.back() == ')')
    return make_learned_hyperparameters(task, family.substr(8, family.size() - 9));
  throw Error("unknown learned optimizer '" + family +
              "' (expected lstm, lstm(init=uniform), lstm(init=code), mlp_lopt, general or hparams(SPEC), e.g. "
              "hparams(adam(lr=1e-3)))");
}

}  // namespace mg::optim::learned
