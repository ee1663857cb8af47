#pragma once
// Training-mode batch norm whose statistics may span several processes
// (distributed::synchronized_batch_norm). Private to the library.
#include <functional>

#include "core/kernels/batch_norm.hpp"

namespace mg {

// How to sum over every process: per-channel sums in the fused kernels, and
// a differentiable sum of a tensor for the graph-building path.
struct ProcessSums {
  kernels::SumOverProcesses values;
  std::function<Tensor(const Tensor&)> tensor;
};

// batch_norm(training = true); with `over_processes`, the batch is the union
// of every process's x.
Tensor batch_norm_training(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                           const Tensor& bias, double momentum, double eps, const ProcessSums* over_processes,
                           const BatchNormEpilogue& then = {});

}  // namespace mg
