#pragma once
// Steps the parameters of a whole-list optimizer on separate threads. A
// Kronecker-factored step is many small matrices per tensor (factors of a
// few dozen rows, their eigen-decompositions): too small to split across
// threads, but a network has dozens of tensors. Tensors go largest first to
// whichever thread is free; each tensor's arithmetic runs on one thread, so
// the results are the same for any thread count. In-place step() only: a
// differentiable step builds one graph, on the calling thread.
#include <omp.h>

#include <algorithm>
#include <exception>
#include <functional>
#include <numeric>
#include <vector>

#include "metagrad/core/autograd/grad_mode.hpp"
#include "metagrad/optim/optimizer.hpp"

namespace mg::optim {

// updated[i] = step_one(slots[i]); `cost` ranks the slots (e.g. the sum of
// their factors' sizes cubed).
inline std::vector<Tensor> step_slots(const std::vector<Slot>& slots, bool differentiable,
                                      const std::function<double(const Slot&)>& cost,
                                      const std::function<Tensor(const Slot&)>& step_one) {
  std::vector<Tensor> updated(slots.size());
  if (differentiable || slots.size() < 2 || omp_get_max_threads() == 1 || omp_in_parallel()) {
    for (std::size_t i = 0; i < slots.size(); ++i) updated[i] = step_one(slots[i]);
    return updated;
  }
  std::vector<std::size_t> order(slots.size());
  std::iota(order.begin(), order.end(), 0);
  std::vector<double> costs;
  for (const Slot& slot : slots) costs.push_back(cost(slot));
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return costs[a] > costs[b]; });
  std::exception_ptr failure;
  const auto n = static_cast<std::int64_t>(order.size());
  const int threads = static_cast<int>(std::min<std::int64_t>(n, omp_get_max_threads()));  // no idle wake-ups
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (std::int64_t k = 0; k < n; ++k) {
    NoGradGuard no_grad;  // grad mode is per thread
    try {
      const std::size_t i = order[static_cast<std::size_t>(k)];
      updated[i] = step_one(slots[i]);
    } catch (...) {
#pragma omp critical(mg_step_slots_failure)
      if (!failure) failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
  return updated;
}

}  // namespace mg::optim
