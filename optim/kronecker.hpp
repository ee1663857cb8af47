#pragma once
// Tensors seen axis by axis, for Kronecker-factored preconditioners
// (if_shampoo, shampoo): unfold_n(X) is the d_n x (D/d_n) matrix with axis n
// first and the other axes flattened in order; X x_n A (the mode-n product)
// multiplies that matrix by A and folds it back.
#include <numeric>

#include "metagrad/core/ops.hpp"

namespace mg::optim {

// The permutation that moves axis n to the front.
inline Shape axis_first(std::int64_t n, std::int64_t dims) {
  Shape order{n};
  for (std::int64_t i = 0; i < dims; ++i)
    if (i != n) order.push_back(i);
  return order;
}

inline Tensor unfold(const Tensor& x, std::int64_t n) {
  return x.permute(axis_first(n, x.dim())).reshape({x.size(n), x.numel() / x.size(n)});
}

// (X x_n A)[.., a, ..] = sum_b A[a][b] X[.., b, ..]
inline Tensor mode_product(const Tensor& x, std::int64_t n, const Tensor& a) {
  const Shape order = axis_first(n, x.dim());
  Shape permuted;
  for (std::int64_t axis : order) permuted.push_back(x.size(axis));
  permuted[0] = a.size(0);
  Shape inverse(order.size());
  for (std::size_t i = 0; i < order.size(); ++i)
    inverse[static_cast<std::size_t>(order[i])] = static_cast<std::int64_t>(i);
  return matmul(a, unfold(x, n)).reshape(permuted).permute(inverse);
}

}  // namespace mg::optim
