#pragma once
// `general` (docs/general.md): a per-parameter MLP learned optimizer built
// around Adam's step. Its inputs are momenta at three timescales and
// Adafactor-style factored second moments as ratios to the second moment's
// root, the tensor's scale, fan-in and kind, the step count, and (with a
// known horizon) the fraction of the run done; its two outputs set a
// learning rate per coordinate and a bounded correction to Adam's
// direction. With a zero output layer it is adam(lr = exp(log_lr)).
#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "metagrad/core/generator.hpp"
#include "metagrad/optim/optimizer.hpp"

namespace mg::optim::learned {

struct GeneralConfig {
  std::int64_t horizon = 0;  // the run's length in steps; 0: unknown

  static constexpr std::int64_t kInputs = 19, kHidden = 32, kOutputs = 2;
  static constexpr std::array<double, 3> kMomentumDecays = {0.5, 0.9, 0.99};
  static constexpr double kSecondMomentDecay = 0.999, kFactoredDecay = 0.99, kEps = 1e-8, kClip = 10;
  static constexpr std::array<double, 4> kTimescales = {10, 100, 1000, 10000};
  static constexpr std::array<double, 4> kProgressPoints = {0.25, 0.5, 0.75, 0.9};
  // The learning rate's reach around exp(log_lr): a factor e^3 either way.
  static constexpr double kLrReach = 3;
  // P = 19*32 + 32 + 32*32 + 32 + 32*2 + 2 + 1 (log_lr) = 1763.
  static constexpr std::int64_t parameter_count() {
    return kInputs * kHidden + kHidden + kHidden * kHidden + kHidden + kHidden * kOutputs + kOutputs + 1;
  }
};

// One tensor's state: momenta (numel x 3), the second moment (numel x 1),
// and for a tensor of two or more dimensions (R = shape[0] rows of C) the
// row (R) and column (C) means of the squared gradient; undefined at the
// first step (zeros).
struct GeneralState {
  Tensor momenta, second, rows, columns;
};
struct GeneralUpdate {
  Tensor param;
  GeneralState state;
};

// One step of one tensor at step count t (0 before the first step):
// differentiable in phi, the parameter, the gradient and the state.
GeneralUpdate general_step(const Tensor& phi, const GeneralConfig& config, const Tensor& param, const Tensor& grad,
                           const GeneralState& state, std::int64_t t);

// Weights: the test formula (optimizers.md 9.1's, log_lr = ln 0.01); the
// meta-training start (W1, W2 truncated normals of deviation
// 1/sqrt(inputs), the rest zero, log_lr = ln 1e-3: adam(lr=1e-3)); JSON
// files of P numbers (lstm.hpp's save_weights writes them), or "shipped":
// optim/learned/pretrained/general.json, compiled in, which `general` with no
// weights= uses.
Tensor general_formula_weights(DType dtype = DType::Float32);
Tensor general_initial_weights(Generator& generator, DType dtype = DType::Float32);
Tensor general_load_weights(const std::string& path_or_shipped, DType dtype = DType::Float32);

// A `general` optimizer over `params` driven by a live weight tensor
// (meta-training: phi requires grad).
std::unique_ptr<Optimizer> make_general_optimizer(const Tensor& phi, const GeneralConfig& config,
                                                  const NamedParameters& params);

}  // namespace mg::optim::learned
