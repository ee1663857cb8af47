#pragma once
// Convolution kernels. float32 runs on oneDNN (channels-last activations,
// weights reordered to oneDNN's preferred layout and cached); float64 runs on
// plain reference loops, which also serve as the oracle in tests.
#include <cstdint>

#include "core/tensor_impl.hpp"

namespace mg::kernels {

struct ConvGeometry {
  std::int64_t stride = 1, padding = 0, dilation = 1, groups = 1;
};

// What the forward convolution does to its result: add a residual (laid
// out as y), then ReLU.
struct ConvEpilogue {
  Tensor residual;  // none when undefined
  bool relu = false;
};

// y = conv(x, w) (+ b, when defined), then the epilogue; y is allocated by the caller.
void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y, const ConvGeometry& g,
                    const ConvEpilogue& then = {});
// gx = d<y, gy>/dx
void conv2d_backward_input(const Tensor& gy, const Tensor& w, Tensor& gx, const ConvGeometry& g);
// gw = d<y, gy>/dw
void conv2d_backward_weight(const Tensor& x, const Tensor& gy, Tensor& gw, const ConvGeometry& g);

}  // namespace mg::kernels
