// matmul on oneDNN (float32) and OpenBLAS (float64). A transposed operand is passed to BLAS as a transpose
// flag with its leading dimension, never copied; batch dims broadcast.
#include <cblas.h>
#include <dnnl.h>
#include <omp.h>

#include <array>
#include <cmath>
#include <dnnl.hpp>
#include <map>

#include "core/kernels/onednn.hpp"
#include "core/profiling.hpp"
#include "op.hpp"

namespace mg {
namespace {

// How BLAS can read a rows x cols matrix with the given element strides
// (row-major), if it can.
struct BlasOperand {
  CBLAS_TRANSPOSE trans;
  std::int64_t ld;
};
bool blas_layout(std::int64_t rows, std::int64_t cols, std::int64_t row_stride, std::int64_t col_stride,
                 BlasOperand& result) {
  if ((cols == 1 || col_stride == 1) && (rows == 1 || row_stride >= std::max<std::int64_t>(cols, 1))) {
    result = {CblasNoTrans, rows == 1 ? std::max<std::int64_t>(cols, 1) : row_stride};
    return true;
  }
  if ((rows == 1 || row_stride == 1) && (cols == 1 || col_stride >= std::max<std::int64_t>(rows, 1))) {
    result = {CblasTrans, cols == 1 ? std::max<std::int64_t>(rows, 1) : col_stride};
    return true;
  }
  return false;
}

// An operand whose matrix dims BLAS can read, copying only when it must.
Tensor blas_ready(const Tensor& t) {
  const std::int64_t n = t.dim();
  BlasOperand unused{};
  if (blas_layout(t.shape()[n - 2], t.shape()[n - 1], t.strides()[n - 2], t.strides()[n - 1], unused)) return t;
  return t.contiguous();
}

// Runs the enclosing scope's oneDNN calls on as many threads as the work
// pays for: one per kFlopsPerThread, at most the thread setting. Waking a
// second thread costs more than it saves on small products: alone, sgemm
// here takes 6.6 us for 1.3 MFLOP on one thread and 10.7 on two, 0.05 MFLOP
// 0.7 and 5.5 us, and two threads win from 4 MFLOP (40 vs 29 us for a
// 128x784 by 784x20 product); but inside a training step the ops after it
// then read a result half written by the other core, so products under
// 5 MFLOP stay on one thread: mlp-small-train (784-20-10) at 2 threads
// 0.125 -> 0.106 ms a step, the larger workloads unchanged. On many cores
// the same grain keeps a mid-sized product from waking every core.
class ThreadsForFlops {
 public:
  static constexpr double kFlopsPerThread = 2.5e6;
  explicit ThreadsForFlops(double flops) : previous_(omp_get_max_threads()) {
    const double paid = std::max(1.0, std::floor(flops / kFlopsPerThread));
    threads_ = static_cast<int>(std::min<double>(previous_, paid));
    if (threads_ != previous_) omp_set_num_threads(threads_);
  }
  ~ThreadsForFlops() {
    if (threads_ != previous_) omp_set_num_threads(previous_);
  }
  ThreadsForFlops(const ThreadsForFlops&) = delete;
  ThreadsForFlops& operator=(const ThreadsForFlops&) = delete;

 private:
  int previous_, threads_;
};

// A (m, k) times B^T with B stored (n, k), on oneDNN's matmul primitive,
// created once per geometry.
void gemm_nt_primitive(std::int64_t m, std::int64_t n, std::int64_t k, const float* a, std::int64_t lda, const float* b,
                       std::int64_t ldb, float* c, std::int64_t ldc) {
  using dnnl::memory;
  const auto f32 = memory::data_type::f32;
  const memory::desc a_desc({m, k}, f32, {lda, 1}), b_desc({k, n}, f32, {1, ldb}), c_desc({m, n}, f32, {ldc, 1});
  struct Primitive {
    dnnl::matmul primitive;
    memory::desc scratchpad;
  };
  static kernels::PrimitiveCache<std::array<std::int64_t, 6>, Primitive> primitives;
  auto& engine = kernels::onednn_engine();
  const Primitive& entry = kernels::cached(primitives, std::array<std::int64_t, 6>{m, n, k, lda, ldb, ldc}, [&] {
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_desc, b_desc, c_desc), kernels::caller_scratchpad(),
                                          engine);
    return Primitive{dnnl::matmul(pd), pd.scratchpad_desc()};
  });
  kernels::execute(entry.primitive, entry.scratchpad,
                   {{DNNL_ARG_SRC, memory(a_desc, engine, const_cast<float*>(a))},
                    {DNNL_ARG_WEIGHTS, memory(b_desc, engine, const_cast<float*>(b))},
                    {DNNL_ARG_DST, memory(c_desc, engine, c)}});
}

// float32 runs on oneDNN: it picks AVX-512 kernels itself, while OpenBLAS
// follows OPENBLAS_CORETYPE, which this machine presets to Haswell (AVX2,
// half the speed; PERFORMANCE.md trap 1). Its sgemm was 1.4-2.7x faster
// than OpenBLAS on every shape the zoo uses; A B^T of at least a MFLOP (a
// weight gradient: a long reduction into a small result) goes to its
// matmul primitive instead, 1.0-1.9x faster than its sgemm on such shapes
// (80x40 by 15,680: 1.37x; 32x32 by 100,000: 1.85x) and the same bits
// whatever the thread count. float64 stays on OpenBLAS (oneDNN has no dgemm).
void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, std::int64_t m, std::int64_t n, std::int64_t k, const float* a,
          std::int64_t lda, const float* b, std::int64_t ldb, float* c, std::int64_t ldc) {
  const double flops = 2.0 * static_cast<double>(m * n) * static_cast<double>(k);
  const ThreadsForFlops threads(flops);
  if (ta == CblasNoTrans && tb == CblasTrans && flops >= 1e6) {
    gemm_nt_primitive(m, n, k, a, lda, b, ldb, c, ldc);
    return;
  }
  const dnnl_status_t status = dnnl_sgemm(ta == CblasNoTrans ? 'N' : 'T', tb == CblasNoTrans ? 'N' : 'T', m, n, k, 1.0f,
                                          a, lda, b, ldb, 0.0f, c, ldc);
  MG_CHECK(status == dnnl_success, "matmul: oneDNN sgemm failed ({}x{}x{}, status {})", m, n, k,
           static_cast<int>(status));
}
void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, std::int64_t m, std::int64_t n, std::int64_t k, const double* a,
          std::int64_t lda, const double* b, std::int64_t ldb, double* c, std::int64_t ldc) {
  cblas_dgemm(CblasRowMajor, ta, tb, static_cast<blasint>(m), static_cast<blasint>(n), static_cast<blasint>(k), 1.0, a,
              static_cast<blasint>(lda), b, static_cast<blasint>(ldb), 0.0, c, static_cast<blasint>(ldc));
}
// Integer matmul has no BLAS; a plain loop is enough for index arithmetic.
void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, std::int64_t m, std::int64_t n, std::int64_t k, const std::int64_t* a,
          std::int64_t lda, const std::int64_t* b, std::int64_t ldb, std::int64_t* c, std::int64_t ldc) {
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      std::int64_t acc = 0;
      for (std::int64_t p = 0; p < k; ++p)
        acc += a[ta == CblasNoTrans ? i * lda + p : p * lda + i] * b[tb == CblasNoTrans ? p * ldb + j : j * ldb + p];
      c[i * ldc + j] = acc;
    }
}

template <class T>
void batched_gemm(const Tensor& a, const Tensor& b, Tensor& out) {
  const std::int64_t nd = out.dim();
  const std::int64_t m = out.shape()[nd - 2], n = out.shape()[nd - 1], k = a.shape()[nd - 1];
  if (out.numel() == 0) return;
  if (k == 0) {
    out.zero_();
    return;
  }
  const profiler::Scope scope(profiler::Kind::Matmul, 2.0 * static_cast<double>(out.numel()) * static_cast<double>(k),
                              profiler::bytes_of(a, b, out));
  BlasOperand la{}, lb{};
  blas_layout(m, k, a.strides()[nd - 2], a.strides()[nd - 1], la);
  blas_layout(k, n, b.strides()[nd - 2], b.strides()[nd - 1], lb);
  const std::int64_t batches = out.numel() / (m * n);
  const T* ap = a.data_ptr<T>();
  const T* bp = b.data_ptr<T>();
  T* cp = out.data_ptr<T>();
  for (std::int64_t batch = 0; batch < batches; ++batch) {
    std::int64_t rest = batch, a_offset = 0, b_offset = 0;
    for (std::int64_t d = nd - 3; d >= 0; --d) {
      const std::int64_t i = rest % out.shape()[d];
      rest /= out.shape()[d];
      a_offset += i * a.strides()[d];
      b_offset += i * b.strides()[d];
    }
    gemm(la.trans, lb.trans, m, n, k, ap + a_offset, la.ld, bp + b_offset, lb.ld, cp + batch * m * n, n);
  }
}

// Both operands have at least 2 dims.
Tensor matmul_nd(const Tensor& a, const Tensor& b) {
  const Shape& as = a.shape();
  const Shape& bs = b.shape();
  const std::int64_t m = as[as.size() - 2], k = as.back(), n = bs.back();
  MG_CHECK(bs[bs.size() - 2] == k, "matmul: shapes {} and {} cannot be multiplied ({} columns vs {} rows)",
           to_string(as), to_string(bs), k, bs[bs.size() - 2]);
  const Shape a_batch(as.begin(), as.end() - 2), b_batch(bs.begin(), bs.end() - 2);
  Shape shape = broadcast_shapes(a_batch, b_batch, "matmul (batch dims)");
  Shape a_full = shape, b_full = shape;
  a_full.insert(a_full.end(), {m, k});
  b_full.insert(b_full.end(), {k, n});
  shape.insert(shape.end(), {m, n});
  const DType dtype = promote(a.dtype(), b.dtype());
  Tensor out = Tensor::empty(shape, dtype);
  {
    NoGradGuard no_grad;
    const Tensor ea = blas_ready(a.to(dtype)).expand(a_full);
    const Tensor eb = blas_ready(b.to(dtype)).expand(b_full);
    switch (dtype) {
      case DType::Float32:
        batched_gemm<float>(ea, eb, out);
        break;
      case DType::Float64:
        batched_gemm<double>(ea, eb, out);
        break;
      case DType::Int64:
        batched_gemm<std::int64_t>(ea, eb, out);
        break;
    }
  }
  return record("matmul", {a, b}, out, [a, b](const BackwardArgs& in) {
    // A matrix stored transposed (a Linear layer's weight.t()) gets its
    // gradient computed transposed, so it arrives laid out like the
    // parameter and is not copied into .grad.
    const auto stored_transposed = [](const Tensor& matrix) {
      return matrix.dim() == 2 && matrix.strides()[0] == 1 && matrix.strides()[1] == matrix.size(0) &&
             matrix.size(0) > 1 && matrix.size(1) > 1;
    };
    Tensor grad_a, grad_b;
    if (in.needs(0))
      grad_a = stored_transposed(a) && in.grad.dim() == 2 ? matmul(b, in.grad.t()).t()
                                                          : matmul(in.grad, b.transpose(-1, -2));
    if (in.needs(1))
      grad_b = stored_transposed(b) && in.grad.dim() == 2 ? matmul(in.grad.t(), a).t()
                                                          : matmul(a.transpose(-1, -2), in.grad);
    return Grads{grad_a, grad_b};
  });
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  MG_CHECK(a.defined() && b.defined(), "matmul: an operand is undefined");
  MG_CHECK(a.dim() >= 1 && b.dim() >= 1, "matmul: both operands need at least one dim, got shapes {} and {}",
           to_string(a.shape()), to_string(b.shape()));
  if (a.dim() == 1 && b.dim() == 1) {
    MG_CHECK(a.shape()[0] == b.shape()[0], "matmul: vectors of shapes {} and {} differ in length", to_string(a.shape()),
             to_string(b.shape()));
    return matmul_nd(a.unsqueeze(0), b.unsqueeze(1)).reshape({});
  }
  if (a.dim() == 1) return matmul_nd(a.unsqueeze(0), b).squeeze(-2);
  if (b.dim() == 1) return matmul_nd(a, b.unsqueeze(1)).squeeze(-1);
  return matmul_nd(a, b);
}

}  // namespace mg
