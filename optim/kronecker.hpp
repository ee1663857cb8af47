#pragma once
// Tensors seen axis by axis, for Kronecker-factored preconditioners
// (if_shampoo, shampoo): unfold_n(X) is the d_n x (D/d_n) matrix with axis n
// first and the other axes flattened in order; the mode-n product
// (X x_n A)[.., a, ..] = sum_b A[a][b] X[.., b, ..] multiplies it by A and
// folds it back.
#include <vector>

#include "metagrad/core/ops.hpp"
#include "metagrad/optim/optimizer.hpp"

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

// The relative cost of a tensor's Kronecker step (its factors' d^3 work and
// its elementwise passes), to hand the largest tensors out first.
inline double kronecker_cost(const Slot& slot) {
  double cost = static_cast<double>(slot.param.numel());
  for (std::int64_t d : slot.param.shape())
    cost += static_cast<double>(d) * static_cast<double>(d) * static_cast<double>(d);
  return cost;
}

inline bool is_last(const Tensor& x, std::int64_t n) { return n == x.dim() - 1 && n > 0; }

// X x_0 A_0 x_1 A_1 ... x_{N-1} A_{N-1} (an undefined A_n is the identity),
// with no transposed copies: each product leaves the result as
// (A_n X_(n))^T, whose memory is X with axis n moved to the end, so the
// next axis comes first; after N products the axes are back in order.
inline Tensor mode_products(const Tensor& x, const std::vector<Tensor>& factors) {
  Shape shape = x.shape();
  Tensor m = x;
  for (std::size_t n = 0; n < shape.size(); ++n) {
    const Tensor unfolded = m.reshape({shape[n], m.numel() / shape[n]});
    m = factors[n].defined() ? matmul(unfolded.t(), factors[n].t()) : unfolded.t().contiguous();
    shape[n] = m.size(1);
  }
  return m.reshape(shape);
}

// unfold_n(X) unfold_n(X)^T
inline Tensor axis_gram(const Tensor& x, std::int64_t n) {
  if (is_last(x, n)) {
    const Tensor m = x.reshape({x.numel() / x.size(n), x.size(n)});
    return matmul(m.t(), m);
  }
  const Tensor m = unfold(x, n);
  return matmul(m, m.t());
}

}  // namespace mg::optim
