#include "metagrad/core/threading.hpp"

#include <cblas.h>
#include <omp.h>

#include "check.hpp"

namespace mg {

void set_num_threads(int n) {
  MG_CHECK(n >= 1, "set_num_threads: expected a thread count >= 1, got {}", n);
  omp_set_num_threads(n);       // our loops and oneDNN (OpenMP build)
  openblas_set_num_threads(n);  // OpenBLAS (OpenMP build) keeps its own count
}

int get_num_threads() { return omp_get_max_threads(); }

}  // namespace mg
