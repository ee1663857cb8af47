#pragma once
// Activation layout of the nn ops: float32 activations live channels-last,
// the layout oneDNN's fast convolution kernels read and write.
#include "core/tensor_impl.hpp"
#include "metagrad/core/tensor.hpp"

namespace mg {

// t without history, channels-last when float32.
inline Tensor kernel_activation(const Tensor& t) {
  const Tensor d = t.detach();
  return d.dtype() == DType::Float32 ? d.channels_last() : d;
}

// A fresh (uninitialised) activation of `shape`, channels-last when float32.
inline Tensor new_activation(const Shape& shape, DType dtype) {
  Tensor t = Tensor::empty(shape, dtype);
  if (dtype == DType::Float32) t.impl()->strides = channels_last_strides(shape);
  return t;
}

}  // namespace mg
