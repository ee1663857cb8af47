#pragma once
// Dense linear algebra that LAPACK does well, for optimizers' small matrices
// (rllc's Gram matrix, Shampoo's preconditioners).
#include "metagrad/core/tensor.hpp"

namespace mg {

// Eigen-decomposition a = vectors @ diag(values) @ vectors^T of a symmetric
// (n, n) matrix (its lower triangle is read), in float64 through LAPACK's
// dsyevd: values ascending (n), vectors as columns (n, n; a transposed view,
// which matmul reads in place). Computed without a graph: the result carries
// no gradient.
struct SymmetricEigen {
  Tensor values, vectors;
};
SymmetricEigen eigh(const Tensor& a);

}  // namespace mg
