#pragma once
// What the per-parameter MLP optimizers (mlp_lopt, general) share: their
// weights' layout, W1[inputs x hidden] | b1 | W2[hidden x hidden] | b2 |
// W3[hidden x outputs] | b3 (`x @ W` convention), the ReLU network applied
// to every row of x, and constant feature rows.
#include <array>
#include <cstdint>
#include <vector>

#include "metagrad/core/ops.hpp"

namespace mg::optim::learned {

struct MlpWeights {
  Tensor w1, b1, w2, b2, w3, b3;
};

// The network's views of phi from `offset` on (advanced past them).
inline MlpWeights unpack_mlp(const Tensor& phi, std::int64_t inputs, std::int64_t hidden, std::int64_t outputs,
                             std::int64_t& offset) {
  const auto take = [&](Shape shape) {
    std::int64_t size = 1;
    for (std::int64_t d : shape) size *= d;
    Tensor t = phi.narrow(0, offset, size).reshape(shape);
    offset += size;
    return t;
  };
  MlpWeights w;
  w.w1 = take({inputs, hidden});
  w.b1 = take({1, hidden});
  w.w2 = take({hidden, hidden});
  w.b2 = take({1, hidden});
  w.w3 = take({hidden, outputs});
  w.b3 = take({1, outputs});
  return w;
}

// relu(relu(x W1 + b1) W2 + b2) W3 + b3 on every row of x.
inline Tensor mlp_forward(const MlpWeights& w, const Tensor& x) {
  const Tensor h1 = relu(matmul(x, w.w1) + w.b1);
  const Tensor h2 = relu(matmul(h1, w.w2) + w.b2);
  return matmul(h2, w.w3) + w.b3;
}

template <std::size_t N>
Tensor constant_row(const std::array<double, N>& values, DType dtype) {
  return Tensor::from_vector(std::vector<double>(values.begin(), values.end()), {1, static_cast<std::int64_t>(N)})
      .to(dtype);
}

}  // namespace mg::optim::learned
