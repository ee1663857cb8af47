#include "optim/learned/blocked_mlp.hpp"

#include <cblas.h>
#include <dnnl.h>

#include <algorithm>

#include "core/check.hpp"

namespace mg::optim::learned {
namespace {

// C (m x n) = A (m x k) B (k x n), row-major; A given transposed (k x m)
// when `a_transposed`. float32 on oneDNN, whose AVX-512 kernels OpenBLAS
// does not pick here (PERFORMANCE.md trap 1).
void gemm(bool a_transposed, std::int64_t m, std::int64_t n, std::int64_t k, const float* a, const float* b, float* c) {
  const dnnl_status_t status =
      dnnl_sgemm(a_transposed ? 'T' : 'N', 'N', m, n, k, 1.0f, a, a_transposed ? m : k, b, n, 0.0f, c, n);
  MG_CHECK(status == dnnl_success, "per-parameter MLP: oneDNN sgemm failed ({}x{}x{})", m, n, k);
}
void gemm(bool a_transposed, std::int64_t m, std::int64_t n, std::int64_t k, const double* a, const double* b,
          double* c) {
  cblas_dgemm(CblasRowMajor, a_transposed ? CblasTrans : CblasNoTrans, CblasNoTrans, static_cast<blasint>(m),
              static_cast<blasint>(n), static_cast<blasint>(k), 1.0, a, static_cast<blasint>(a_transposed ? m : k), b,
              static_cast<blasint>(n), 0.0, c, static_cast<blasint>(n));
}

// out (rows x width) += bias, then relu when asked: one vectorised pass over
// the block while it is in cache.
template <class E>
void add_bias(std::int64_t rows, std::int64_t width, const E* __restrict bias, E* __restrict out, bool relu) {
  for (std::int64_t i = 0; i < rows; ++i, out += width) {
    if (relu) {
#pragma omp simd
      for (std::int64_t j = 0; j < width; ++j) out[j] = std::max(out[j] + bias[j], E(0));
    } else {
#pragma omp simd
      for (std::int64_t j = 0; j < width; ++j) out[j] += bias[j];
    }
  }
}

}  // namespace

template <class E>
void mlp_in_blocks(const MlpWeights& w, std::int64_t n, std::int64_t own, const std::vector<double>& shared,
                   const BlockFeatures<E>& features, const BlockUpdate<E>& update) {
  const Tensor w1 = w.w1.contiguous(), w2 = w.w2.contiguous(), w3 = w.w3.contiguous();
  const std::int64_t inputs = w1.size(0), hidden = w1.size(1), outputs = w3.size(1);
  MG_CHECK(own + static_cast<std::int64_t>(shared.size()) == inputs, "mlp_in_blocks: {} + {} inputs, expected {}", own,
           shared.size(), inputs);
  // b1 + shared . W1[own:], in double: the first layer then multiplies only the own inputs.
  const Tensor w1_64 = w1.to(DType::Float64), b1_64 = w.b1.to(DType::Float64).contiguous();
  const double* w1d = w1_64.data_ptr<double>();
  std::vector<E> bias1(static_cast<std::size_t>(hidden));
  for (std::int64_t h = 0; h < hidden; ++h) {
    double sum = b1_64.data_ptr<double>()[h];
    for (std::size_t k = 0; k < shared.size(); ++k)
      sum += shared[k] * w1d[(own + static_cast<std::int64_t>(k)) * hidden + h];
    bias1[static_cast<std::size_t>(h)] = static_cast<E>(sum);
  }
  const Tensor b2 = w.b2.contiguous(), b3 = w.b3.contiguous();
  const E *first = w1.data_ptr<E>(), *second = w2.data_ptr<E>(), *third = w3.data_ptr<E>();
  const E *bias2 = b2.data_ptr<E>(), *bias3 = b3.data_ptr<E>();
  const std::int64_t blocks = (n + kMlpBlock - 1) / kMlpBlock;
  parallel_for(0, blocks, 1, [&](std::int64_t lo, std::int64_t hi) {
    std::vector<E> x(static_cast<std::size_t>(kMlpBlock * own)), h1(static_cast<std::size_t>(kMlpBlock * hidden)),
        h2(h1.size()), out(static_cast<std::size_t>(kMlpBlock * outputs));
    for (std::int64_t b = lo; b < hi; ++b) {
      const std::int64_t begin = b * kMlpBlock, count = std::min(kMlpBlock, n - begin);
      features(begin, count, x.data());  // feature-major: the first product takes it transposed
      gemm(true, count, hidden, own, x.data(), first, h1.data());
      add_bias(count, hidden, bias1.data(), h1.data(), true);
      gemm(false, count, hidden, hidden, h1.data(), second, h2.data());
      add_bias(count, hidden, bias2, h2.data(), true);
      gemm(false, count, outputs, hidden, h2.data(), third, out.data());
      add_bias(count, outputs, bias3, out.data(), false);
      update(begin, count, out.data());
    }
  });
}

template void mlp_in_blocks<float>(const MlpWeights&, std::int64_t, std::int64_t, const std::vector<double>&,
                                   const BlockFeatures<float>&, const BlockUpdate<float>&);
template void mlp_in_blocks<double>(const MlpWeights&, std::int64_t, std::int64_t, const std::vector<double>&,
                                    const BlockFeatures<double>&, const BlockUpdate<double>&);

}  // namespace mg::optim::learned
