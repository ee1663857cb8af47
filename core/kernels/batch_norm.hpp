#pragma once
// Fused batch-norm passes over data laid out as [M, C] rows (channels-last
// 4-D tensors, or contiguous 2-D ones), C the channel dim.
#include "../tensor_impl.hpp"

namespace mg::kernels {

// Whether x's memory is [M, C] rows.
bool batch_norm_fusable(const Tensor& x);
// Per-channel mean and 1 / sqrt(biased variance + eps), as (C) tensors in x's dtype.
void batch_norm_statistics(const Tensor& x, double eps, Tensor& mean, Tensor& invstd);
// y = (x - mean) * invstd * weight + bias (weight, bias may be undefined).
void batch_norm_normalize(const Tensor& x, const Tensor& mean, const Tensor& invstd, const Tensor& weight,
                          const Tensor& bias, Tensor& y);
// Gradients of the training-mode batch norm; gx, grad_weight, grad_bias
// are filled when defined.
void batch_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& mean, const Tensor& invstd,
                         const Tensor& weight, Tensor& gx, Tensor& grad_weight, Tensor& grad_bias);

}  // namespace mg::kernels
