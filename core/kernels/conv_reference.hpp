#pragma once
#include "conv.hpp"

namespace mg::kernels {

void reference_conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y, const ConvGeometry& g);
void reference_conv2d_backward_input(const Tensor& gy, const Tensor& w, Tensor& gx, const ConvGeometry& g);
void reference_conv2d_backward_weight(const Tensor& x, const Tensor& gy, Tensor& gw, const ConvGeometry& g);

}  // namespace mg::kernels
