#pragma once
// The per-parameter MLP learned optimizer of Metz et al. 2019, as
// google/learned_optimization ships it (MLPLOpt), optimizers.md section
// 10.1: six momenta and the parameter and gradient of every coordinate,
// normalised per tensor, with eleven features of the step count, go through
// a 19-32-32-2 ReLU network whose two outputs are a direction and a log
// magnitude. The registry's `mlp_lopt(weights=PATH|formula, exp_mult,
// step_mult)` loads its weights phi from a file; meta-training builds the
// optimizer from phi tensors that require grad (make_learned("mlp_lopt")).
#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "metagrad/optim/optimizer.hpp"

namespace mg::optim::learned {

struct MlpLoptConfig {
  double exp_mult = 1e-3, step_mult = 1e-3;

  static constexpr std::int64_t kInputs = 19, kHidden = 32, kOutputs = 2;
  static constexpr std::array<double, 6> kMomentumDecays = {0.1, 0.5, 0.9, 0.99, 0.999, 0.9999};
  static constexpr std::array<double, 11> kTimescales = {1, 3, 10, 30, 100, 300, 1000, 3000, 10000, 30000, 100000};
  // P = 19*32 + 32 + 32*32 + 32 + 32*2 + 2 = 1762.
  static constexpr std::int64_t parameter_count() {
    return kInputs * kHidden + kHidden + kHidden * kHidden + kHidden + kHidden * kOutputs + kOutputs;
  }
};

// One step of one tensor: `param` (any shape), its gradient and momenta
// (numel x 6; undefined at the first step, i.e. zeros), at step count t
// (0 before the first step). Returns the new parameter and momenta;
// differentiable in phi and in every input.
struct MlpLoptUpdate {
  Tensor param, momenta;
};
MlpLoptUpdate mlp_lopt_step(const Tensor& phi, const MlpLoptConfig& config, const Tensor& param, const Tensor& grad,
                            const Tensor& momenta, std::int64_t t);

// Weights: the test formula of section 9.1 (as lstm's, with P = 1762); the
// meta-training initialisation (each W entry normal with standard deviation
// 1/sqrt(inputs), truncated at 2 standard deviations; biases 0); and JSON
// files of P numbers (lstm.hpp's save_weights writes them).
Tensor mlp_lopt_formula_weights(DType dtype = DType::Float32);
Tensor mlp_lopt_initial_weights(Generator& generator, DType dtype = DType::Float32);
Tensor mlp_lopt_load_weights(const std::string& path_or_shipped, DType dtype = DType::Float32);

// An `mlp_lopt` optimizer over `params` driven by a live weight tensor
// (meta-training: phi requires grad).
std::unique_ptr<Optimizer> make_mlp_lopt_optimizer(const Tensor& phi, const MlpLoptConfig& config,
                                                   const NamedParameters& params);

}  // namespace mg::optim::learned
