// The per-parameter MLP learned optimizer (optimizers.md section 10.1).
#include "metagrad/optim/learned/mlp_lopt.hpp"

#include <cmath>
#include <map>
#include <vector>

#include "core/check.hpp"
#include "json_file.hpp"
#include "metagrad/nn/init.hpp"
#include "metagrad/optim/learned/lstm.hpp"
#include "metagrad/optim/registry.hpp"
#include "optim/learned/blocked_mlp.hpp"
#include "optim/learned/per_parameter_mlp.hpp"
#include "optim/rule.hpp"

namespace mg::optim::learned {
namespace {

using Config = MlpLoptConfig;

using Weights = MlpWeights;

Weights unpack(const Tensor& phi) {
  MG_CHECK(phi.dim() == 1 && phi.numel() == Config::parameter_count(),
           "mlp_lopt: the weights have {} numbers, expected {}", phi.numel(), Config::parameter_count());
  std::int64_t offset = 0;
  return unpack_mlp(phi, Config::kInputs, Config::kHidden, Config::kOutputs, offset);
}

// tanh(t / s - 1) for each time scale s: the same for every coordinate.
Tensor time_features(std::int64_t t, DType dtype) {
  std::array<double, Config::kTimescales.size()> values{};
  for (std::size_t i = 0; i < values.size(); ++i)
    values[i] = std::tanh(static_cast<double>(t) / Config::kTimescales[i] - 1);
  return constant_row(values, dtype);
}

}  // namespace

MlpLoptUpdate mlp_lopt_step(const Tensor& phi, const MlpLoptConfig& config, const Tensor& param, const Tensor& grad,
                            const Tensor& momenta, std::int64_t t) {
  const DType dtype = param.dtype();
  const std::int64_t n = param.numel(), m_count = static_cast<std::int64_t>(Config::kMomentumDecays.size());
  const Weights w = unpack(phi.to(dtype));
  const Tensor g = grad.reshape({n, 1}), p = param.reshape({n, 1});
  const Tensor decays = constant_row(Config::kMomentumDecays, dtype);
  const Tensor m = (momenta.defined() ? momenta : zeros({n, m_count}, dtype)) * decays + g * (1.0 - decays);
  // Each feature scaled by its root mean square over this tensor.
  const Tensor features = cat({g, p, m}, 1);
  const Tensor normalized = features / sqrt(mean(features * features, 0, true) + 1e-5);
  const Tensor x = cat({normalized, expand(time_features(t, dtype), {n, std::ssize(Config::kTimescales)})}, 1);
  const Tensor out = mlp_forward(w, x);
  const Tensor direction = out.narrow(1, 0, 1), log_magnitude = out.narrow(1, 1, 1);
  const Tensor step = direction * exp(log_magnitude * config.exp_mult) * config.step_mult;
  return {param - step.reshape(param.shape()), m};
}

Tensor mlp_lopt_formula_weights(DType dtype) { return formula_weights(Config::parameter_count(), dtype); }

Tensor mlp_lopt_initial_weights(Generator& generator, DType dtype) {
  Tensor phi = zeros({Config::parameter_count()}, DType::Float64);
  std::int64_t offset = 0;
  const auto layer = [&](std::int64_t inputs, std::int64_t outputs) {
    Tensor w = phi.narrow(0, offset, inputs * outputs);
    nn::init::truncated_normal_(w, 1 / std::sqrt(static_cast<double>(inputs)), generator);
    offset += inputs * outputs + outputs;  // the bias stays 0
  };
  layer(Config::kInputs, Config::kHidden);
  layer(Config::kHidden, Config::kHidden);
  layer(Config::kHidden, Config::kOutputs);
  return phi.to(dtype);
}

Tensor mlp_lopt_load_weights(const std::string& path_or_shipped, DType dtype) {
  const auto values =
      weight_values(path_or_shipped, "mlp_lopt", static_cast<std::size_t>(Config::parameter_count()), "");
  return Tensor::from_vector(values, {Config::parameter_count()}).to(dtype);
}

namespace {

// The plain step of one dense tensor: the momenta and the features' sums of
// squares in one parallel pass, then the network in blocks
// (blocked_mlp.hpp), each block's inputs written and its update applied
// while they are in cache. The numbers are mlp_lopt_step's up to the order
// of the sums of squares (summed here in double) and of the network's
// products.
template <class E>
void fused_step(const Weights& w, const MlpLoptConfig& config, Tensor& param, const Tensor& grad, Tensor& momenta,
                std::int64_t t) {
  constexpr std::size_t kMomenta = Config::kMomentumDecays.size(), kFeatures = 2 + kMomenta;
  const std::int64_t n = param.numel();
  E* p = param.data_ptr<E>();
  const E* g = grad.data_ptr<E>();
  E* m = momenta.data_ptr<E>();
  std::array<E, kMomenta> decay{}, keep{};
  for (std::size_t j = 0; j < kMomenta; ++j) {
    decay[j] = static_cast<E>(Config::kMomentumDecays[j]);
    keep[j] = E(1) - decay[j];
  }
  const auto squares =
      chunked_sums<kFeatures>(n, [&](std::int64_t lo, std::int64_t hi, std::array<double, kFeatures>& sums) {
        for (std::int64_t i = lo; i < hi; ++i) {
          sums[0] += static_cast<double>(g[i]) * g[i];
          sums[1] += static_cast<double>(p[i]) * p[i];
          E* mi = m + i * static_cast<std::int64_t>(kMomenta);
          for (std::size_t j = 0; j < kMomenta; ++j) {
            mi[j] = mi[j] * decay[j] + g[i] * keep[j];
            sums[2 + j] += static_cast<double>(mi[j]) * mi[j];
          }
        }
      });
  std::array<E, kFeatures> scale{};
  for (std::size_t k = 0; k < kFeatures; ++k)
    scale[k] = static_cast<E>(1 / std::sqrt(squares[k] / static_cast<double>(n) + 1e-5));
  const auto features = [&](std::int64_t begin, std::int64_t count, E* x) {
#pragma omp simd
    for (std::int64_t k = 0; k < count; ++k) {
      const std::int64_t i = begin + k;
      x[k] = g[i] * scale[0];
      x[count + k] = p[i] * scale[1];
      for (std::size_t j = 0; j < kMomenta; ++j)
        x[static_cast<std::int64_t>(2 + j) * count + k] = m[i * static_cast<std::int64_t>(kMomenta) + j] * scale[2 + j];
    }
  };
  const auto exp_mult = static_cast<E>(config.exp_mult), step_mult = static_cast<E>(config.step_mult);
  const auto update = [&](std::int64_t begin, std::int64_t count, const E* o) {
#pragma omp simd
    for (std::int64_t k = 0; k < count; ++k) p[begin + k] -= o[2 * k] * simd_exp(o[2 * k + 1] * exp_mult) * step_mult;
  };
  mlp_in_blocks<E>(w, n, kFeatures, time_features(t, DType::Float64).to_vector<double>(), features, update);
}

bool fusable(const Tensor& param, const Tensor& grad, const Tensor& momenta) {
  const bool supported = param.dtype() == DType::Float32 || param.dtype() == DType::Float64;
  return supported && param.is_contiguous() && grad.is_contiguous() && grad.dtype() == param.dtype() &&
         (!momenta.defined() || (momenta.is_contiguous() && momenta.dtype() == param.dtype()));
}

class MlpLoptOptimizer : public PerTensorOptimizer {
 public:
  MlpLoptOptimizer(std::vector<ParamGroup> groups, Tensor phi)
      : PerTensorOptimizer("mlp_lopt", std::move(groups), std::move(phi)) {
    unpack(phi_);  // checks the length
  }

 protected:
  // Each tensor is normalised on its own.
  Tensor step_tensor(const Slot& slot, bool differentiable, std::int64_t t) override {
    auto& tensors = slot.state->tensors;
    const MlpLoptConfig config{slot.group->number("exp_mult"), slot.group->number("step_mult")};
    const Tensor momenta = tensors.count("momenta") ? tensors.at("momenta") : Tensor();
    if (!differentiable && fusable(slot.param, slot.grad, momenta)) {
      const DType dtype = slot.param.dtype();
      const Weights w = unpack(weights(false, dtype));
      Tensor& m = tensors["momenta"];
      if (!m.defined()) m = zeros({slot.param.numel(), std::ssize(Config::kMomentumDecays)}, dtype);
      Tensor param = slot.param;
      if (dtype == DType::Float64)
        fused_step<double>(w, config, param, slot.grad, m, t);
      else
        fused_step<float>(w, config, param, slot.grad, m, t);
      return param;
    }
    auto [param, next] =
        mlp_lopt_step(weights(differentiable, slot.param.dtype()), config, slot.param, slot.grad, momenta, t);
    tensors["momenta"] = next;
    return param;
  }

  std::optional<Layout> state_layout(const std::string& field, const Tensor& param) const override {
    if (field == "momenta") return Layout{{param.numel(), std::ssize(Config::kMomentumDecays)}, param.dtype()};
    return std::nullopt;
  }
};

Schema mlp_lopt_schema() {
  return {{"weights", Key::Kind::Word, Value(std::string("shipped")), {}},
          {"exp_mult", Key::Kind::Number, Value(1e-3), {}},
          {"step_mult", Key::Kind::Number, Value(1e-3), {}}};
}

const bool registered = register_optimizer(
    {"mlp_lopt",
     "learned per-parameter MLP optimizer (Metz et al. 2019); weights=shipped (optim/learned/pretrained/mlp_lopt.json, "
     "compiled in), PATH of a JSON list of 1762 numbers, or formula (tests)",
     mlp_lopt_schema(), [](std::vector<ParamGroup> groups) -> std::unique_ptr<Optimizer> {
       const std::string& weights = groups.front().word("weights");
       for (const auto& group : groups)
         MG_CHECK(group.word("weights") == weights, "mlp_lopt: all groups must use one weight file, not '{}' and '{}'",
                  weights, group.word("weights"));
       Tensor phi = weights == "formula" ? mlp_lopt_formula_weights(DType::Float64)
                                         : mlp_lopt_load_weights(weights, DType::Float64);
       return std::make_unique<MlpLoptOptimizer>(std::move(groups), std::move(phi));
     }});

}  // namespace

std::unique_ptr<Optimizer> make_mlp_lopt_optimizer(const Tensor& phi, const MlpLoptConfig& config,
                                                   const NamedParameters& params) {
  const std::vector<std::pair<std::string, std::string>> arguments = {
      {"weights", "given"},
      {"exp_mult", fmt::format("{:.17g}", config.exp_mult)},
      {"step_mult", fmt::format("{:.17g}", config.step_mult)}};
  Values hyper = resolve(info("mlp_lopt").schema, arguments, "optimizer mlp_lopt");
  std::vector<ParamGroup> groups;
  groups.push_back({params, std::move(hyper)});
  return std::make_unique<MlpLoptOptimizer>(std::move(groups), phi);
}

}  // namespace mg::optim::learned
