#include "metagrad/core/linalg.hpp"

#include <cmath>
#include <vector>

#include "check.hpp"
#include "metagrad/core/autograd/grad_mode.hpp"

// LAPACK's Fortran interface, exported by Debian's OpenBLAS (which ships
// LAPACK); its C wrapper (LAPACKE) would be one more package for one call.
extern "C" void dsyevd_(const char* jobz, const char* uplo, const int* n, double* a, const int* lda, double* w,
                        double* work, const int* lwork, int* iwork, const int* liwork, int* info);

namespace mg {

SymmetricEigen eigh(const Tensor& a) {
  MG_CHECK(a.dim() == 2 && a.size(0) == a.size(1), "eigh: expected a square matrix, got shape {}",
           to_string(a.shape()));
  NoGradGuard no_grad;
  const int n = static_cast<int>(a.size(0));
  // Row-major in, column-major for LAPACK: the transpose of a symmetric
  // matrix is itself, so the lower triangle LAPACK reads is our upper one.
  Tensor vectors = a.detach().to(DType::Float64).contiguous().clone();
  const double* entries = vectors.data_ptr<double>();
  for (std::int64_t i = 0; i < vectors.numel(); ++i)
    MG_CHECK(std::isfinite(entries[i]), "eigh: the {}x{} matrix has non-finite entries", n, n);
  Tensor values = Tensor::empty({n}, DType::Float64);
  if (n == 0) return {values, vectors};
  // dsyevd's documented minimum workspaces for JOBZ = 'V' (no size query).
  const int lwork = 1 + 6 * n + 2 * n * n, liwork = 3 + 5 * n;
  std::vector<double> work(static_cast<std::size_t>(lwork));
  std::vector<int> iwork(static_cast<std::size_t>(liwork));
  int info = 0;
  dsyevd_("V", "U", &n, vectors.data_ptr<double>(), &n, values.data_ptr<double>(), work.data(), &lwork, iwork.data(),
          &liwork, &info);
  MG_CHECK(info == 0, "eigh: LAPACK dsyevd did not converge (info {}) on a {}x{} matrix", info, n, n);
  // LAPACK wrote eigenvectors as columns in column-major order, i.e. as
  // rows of our row-major buffer: the transposed view has them as columns.
  return {values, vectors.t()};
}

}  // namespace mg
