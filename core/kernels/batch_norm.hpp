#pragma once
// Fused batch-norm passes over data laid out as [M, C] rows (channels-last
// 4-D tensors, or contiguous 2-D ones), C the channel dim.
#include <functional>
#include <vector>

#include "core/tensor_impl.hpp"
#include "metagrad/core/nn_ops.hpp"

namespace mg::kernels {

// Synchronised batch norm: sums a vector of per-channel sums (and, last,
// the row count) over every process in place, so that the statistics are
// those of all processes' rows together. Null: this process's rows alone.
using SumOverProcesses = std::function<void(std::vector<double>&)>;

// Whether x's memory is [M, C] rows.
bool batch_norm_fusable(const Tensor& x);
// Per-channel mean and 1 / sqrt(biased variance + eps), as (C) tensors in x's dtype.
void batch_norm_statistics(const Tensor& x, double eps, Tensor& mean, Tensor& invstd,
                           const SumOverProcesses* over_processes = nullptr);
// y = then((x - mean) * invstd * weight + bias) (weight, bias may be undefined).
void batch_norm_normalize(const Tensor& x, const Tensor& mean, const Tensor& invstd, const Tensor& weight,
                          const Tensor& bias, Tensor& y, const BatchNormEpilogue& then = {});  // residual laid out as x
// Gradients of the training-mode batch norm; gx, grad_weight, grad_bias
// and grad_residual are filled when defined. With `relu_output` (the
// output y of a normalisation that ended in ReLU) the incoming gradient
// counts only where y > 0; grad_residual is that masked gradient.
// Synchronised, gx accounts for every process's rows and grad_weight,
// grad_bias are this process's part of the sum.
void batch_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& mean, const Tensor& invstd,
                         const Tensor& weight, Tensor& gx, Tensor& grad_weight, Tensor& grad_bias,
                         const SumOverProcesses* over_processes = nullptr, const Tensor& relu_output = {},
                         Tensor* grad_residual = nullptr);

}  // namespace mg::kernels
