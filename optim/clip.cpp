#include "metagrad/optim/clip.hpp"

#include <cmath>

#include "core/check.hpp"
#include "metagrad/core/autograd/grad_mode.hpp"
#include "metagrad/core/ops.hpp"

namespace mg::optim {

double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm) {
  MG_CHECK(max_norm > 0, "clip_grad_norm_: max_norm must be positive, got {}", max_norm);
  NoGradGuard no_grad;
  double total = 0;
  for (const auto& p : params) {
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    const Tensor g64 = g.to(DType::Float64);
    total += sum(g64 * g64).item<double>();
  }
  const double norm = std::sqrt(total);
  if (norm > max_norm) {
    const double scale = max_norm / (norm + 1e-6);  // as torch.nn.utils.clip_grad_norm_
    for (const auto& p : params)
      if (p.grad().defined()) const_cast<Tensor&>(p).set_grad(p.grad() * scale);
  }
  return norm;
}

void clip_grad_value_(const std::vector<Tensor>& params, double max_value) {
  MG_CHECK(max_value > 0, "clip_grad_value_: max_value must be positive, got {}", max_value);
  NoGradGuard no_grad;
  for (const auto& p : params)
    if (p.grad().defined()) const_cast<Tensor&>(p).set_grad(clamp(p.grad(), -max_value, max_value));
}

}  // namespace mg::optim
