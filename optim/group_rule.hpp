#pragma once
// Helpers for optimizers that step all parameters at once (Optimizer::step_all)
// with tensor ops, one formula for both modes: in step() the ops run under
// no-grad and the base writes the results into the parameters; in
// differentiable mode they build the graph.
#include <vector>

#include "metagrad/core/ops.hpp"
#include "metagrad/optim/optimizer.hpp"

namespace mg::optim {

// A hyperparameter of a slot as a 0-dim float64 tensor: the tensor given to
// differentiable_step, or the group's number. Coefficients are computed in
// float64 and rounded to the parameters' dtype once (as_dtype), as the
// fused rules do.
inline Tensor hyper_tensor(const Slot& slot, const std::string& key) {
  if (auto it = slot.overrides->find(key); it != slot.overrides->end()) return it->second.to(DType::Float64);
  return scalar_tensor(slot.group->number(key), DType::Float64);
}

// The n x n identity matrix.
inline Tensor identity_matrix(std::int64_t n, DType dtype = DType::Float64) {
  std::vector<double> values(static_cast<std::size_t>(n * n), 0.0);
  for (std::int64_t i = 0; i < n; ++i) values[static_cast<std::size_t>(i * n + i)] = 1;
  return Tensor::from_vector(values, {n, n}).to(dtype);
}

inline Tensor as_dtype(const Tensor& coefficient, const Tensor& like) { return coefficient.to(like.dtype()); }

// The value a slot's parameter has now, safe to keep while stage
// evaluations move the live parameter (step() mode copies it).
inline Tensor current_value(const StepContext& context, const Slot& slot) {
  return context.differentiable ? slot.param : slot.param.detach().clone();
}

}  // namespace mg::optim
