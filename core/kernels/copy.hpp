#pragma once
#include "core/tensor_impl.hpp"

namespace mg::kernels {

void fill(TensorImpl& dst, double value);
// dst = src, broadcasting src to dst's shape and converting its dtype.
void copy(TensorImpl& dst, const TensorImpl& src);
// dst += src, in place; src has dst's dtype and broadcasts to its shape.
void add_into(TensorImpl& dst, const TensorImpl& src);

}  // namespace mg::kernels
